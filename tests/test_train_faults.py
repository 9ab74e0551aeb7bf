"""`chainrule train` under faults: a diverging loss, bad options, Ctrl-C (issue 12, items 4 and 7)."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("safetensors")
pytest.importorskip("tqdm")

import chainrule as cr  # noqa: E402
from chainrule import cli  # noqa: E402
from chainrule.cli import train as cli_train  # noqa: E402


def _strict(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_a_diverging_run_stops_at_the_first_non_finite_loss(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "--lr", "1e30", "--optimizer", "sgd", "--epochs", "3", "--out", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("chainrule train")
    assert "epoch 1" in err and "step" in err and "nan" in err
    s = _strict((out / "summary.json").read_text())
    assert s["status"] == "diverged" and s["stopped"]["epoch"] == 1 and s["stopped"]["loss"] == "nan"
    assert s["epochs"] == []  # no epoch completed
    assert not (out / "model.safetensors").exists()  # no NaN checkpoint


def test_summary_json_is_strict_even_with_a_non_finite_test_loss(tmp_path, monkeypatch, capsys):
    real = cli_train.train.__globals__["evaluate"]

    def evaluate(*a, **k):
        return {**real(*a, **k), "loss": math.inf}
    monkeypatch.setitem(cli_train.train.__globals__, "evaluate", evaluate)
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--hidden", "8", "--out", str(out), "--no-progress"]) == 0
    s = _strict((out / "summary.json").read_text())
    assert s["status"] == "completed" and s["epochs"][0]["test_loss"] is None


@pytest.fixture
def no_data(monkeypatch):
    """Options are checked before any data is loaded (or anything allocated or written)."""
    def load_data(*a, **k):
        raise AssertionError("loaded data before checking the options")
    monkeypatch.setattr(cli_train, "load_data", load_data)


# (--seed 1.5 and --lr nan / inf / 0 were refused before issue 12: test_train.py covers those)
@pytest.mark.parametrize("opts, words", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**70)], "--seed"),
    (["--hidden", "100000000"], "--hidden"),
    (["--hidden", ",".join(["4096"] * 4)], "--hidden"),
    (["--hidden", ",".join(["8"] * 40)], "--hidden"),
    (["--epochs", "10000000000"], "--epochs"),
    (["--batch-size", "10000000000"], "--batch-size"),
])
def test_bad_options_fail_before_loading_data(opts, words, tmp_path, no_data, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), *opts]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and err.startswith("chainrule")
    assert not out.exists()


def test_out_below_a_regular_file_is_refused_before_loading_data(tmp_path, no_data, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["train", "--out", str(f / "sub" / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "is a file" in err
    assert f.read_text() == "x"


def test_unwritable_out_is_refused(tmp_path, no_data, monkeypatch, capsys):
    # the tests may run as root, for whom every folder is writable: ask access() the way a read-only
    # file system answers it
    real = os.access
    monkeypatch.setattr(cli_train.os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    assert cli.main(["train", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not writable" in err


def test_ctrl_c_keeps_the_last_completed_epoch(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"),
               OPENBLAS_NUM_THREADS="1")
    # a terminal's Ctrl-C reaches a process whose SIGINT handler is Python's default; a child of a
    # non-interactive shell may inherit SIGINT ignored, so set the default explicitly
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from chainrule.cli import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-c", code, "train", "--epochs", "100000", "--hidden", "8",
                          "--out", str(out), "--no-progress"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "summary.json").exists():
            assert p.poll() is None and time.monotonic() < deadline, "no epoch was saved while training"
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert err.strip().count("\n") == 0 and "interrupted" in err and "kept epoch" in err
    assert "Traceback" not in err
    s = _strict((out / "summary.json").read_text())
    assert s["status"] == "interrupted" and len(s["epochs"]) >= 1
    assert s["final"]["train_loss"] == s["epochs"][-1]["train_loss"]
    assert f"kept epoch {s['epochs'][-1]['epoch']}" in err
    state = cr.load(out / "model.safetensors")
    assert state["0.weight"].shape == (8, 64) and np.isfinite(state["0.weight"]).all()
