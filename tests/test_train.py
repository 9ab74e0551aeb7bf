"""`chainrule train` / `chainrule evaluate`: files written, metrics, determinism, bad options."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("safetensors")
pytest.importorskip("tqdm")

import chainrule as cr  # noqa: E402
from chainrule import cli  # noqa: E402
from chainrule import train as tr  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _train(tmp_path, *opts, name="run"):
    out = tmp_path / name
    rc = cli.main(["train", "--out", str(out), "--no-progress", *opts])
    assert rc == 0
    with open(out / "summary.json") as f:
        return out, json.load(f)


def test_train_writes_checkpoint_plot_and_summary(tmp_path, capsys):
    out, s = _train(tmp_path, "--epochs", "2")
    assert (out / "history.png").read_bytes()[:8] == PNG
    assert s["options"]["dataset"] == "digits" and s["options"]["model"] == "mlp"
    assert s["options"]["optimizer"] == "adam" and s["options"]["epochs"] == 2
    assert [r["epoch"] for r in s["epochs"]] == [1, 2]
    e1, e2 = s["epochs"]
    assert e2["train_loss"] < e1["train_loss"]  # learning
    assert e2["test_accuracy"] > 0.5  # ten classes: chance is 0.1
    assert s["final"]["test_accuracy"] == e2["test_accuracy"]
    assert s["time_seconds"] > 0 and s["parameters"] > 0
    state = cr.load(out / "model.safetensors")
    assert state["0.weight"].shape == (256, 64) and state["2.weight"].shape == (10, 256)
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "model.safetensors" in printed


def test_default_run_reaches_95_percent(tmp_path):
    """The README's first command: `chainrule train` with the default options."""
    _, s = _train(tmp_path)
    assert s["options"]["epochs"] == tr.DEFAULTS["epochs"]
    assert s["final"]["test_accuracy"] >= 0.95


def test_same_seed_same_numbers(tmp_path):
    _, a = _train(tmp_path, "--epochs", "2", "--seed", "3", name="a")
    _, b = _train(tmp_path, "--epochs", "2", "--seed", "3", name="b")
    _, c = _train(tmp_path, "--epochs", "2", "--seed", "4", name="c")
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a["epochs"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b["epochs"]]
    assert strip != [{k: v for k, v in r.items() if k != "seconds"} for r in c["epochs"]]
    wa = cr.load(tmp_path / "a" / "model.safetensors")["0.weight"]
    wb = cr.load(tmp_path / "b" / "model.safetensors")["0.weight"]
    np.testing.assert_array_equal(wa, wb)


def test_evaluate_reports_the_saved_models_metrics(tmp_path, capsys):
    out, s = _train(tmp_path, "--epochs", "2", "--hidden", "64,32", "--optimizer", "sgd", "--lr", "0.05")
    capsys.readouterr()
    assert cli.main(["evaluate", str(out / "model.safetensors"), "--dataset", "digits", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["accuracy"] == pytest.approx(s["final"]["test_accuracy"])
    assert m["loss"] == pytest.approx(s["final"]["test_loss"], rel=1e-5)
    assert cli.main(["evaluate", str(out / "model.safetensors")]) == 0
    line = capsys.readouterr().out
    assert line.startswith("test: loss") and f"{s['final']['test_accuracy']:.2%}" in line


def test_cnn_on_digit_images(tmp_path, capsys):
    out, s = _train(tmp_path, "--model", "cnn", "--epochs", "1", "--hidden", "32")
    assert s["architecture"]["image_shape"] == [1, 8, 8]
    assert s["final"]["test_accuracy"] > 0.3
    capsys.readouterr()
    assert cli.main(["evaluate", str(out / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(s["final"]["test_accuracy"])


def test_regression_reports_r2(tmp_path, capsys):
    out, s = _train(tmp_path, "--dataset", "diabetes", "--epochs", "5", "--hidden", "16", "--lr", "0.01",
                    "--weight-decay", "0.001")
    r2 = [r["test_r2"] for r in s["epochs"]]
    assert r2[-1] > r2[0] and r2[-1] > 0.2
    capsys.readouterr()
    assert cli.main(["evaluate", str(out / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["r2"] == pytest.approx(r2[-1], rel=1e-4)


def test_progress_bar_shows_loss_and_accuracy(tmp_path, capsys):
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err


@pytest.mark.parametrize("argv, words", [
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--batch-size", "x"], "--batch-size"),
    (["train", "--model", "rnn"], "--model"),
    (["train", "--dataset", "mnist"], "--dataset"),
    (["train", "--optimizer", "lbfgs"], "--optimizer"),
    (["train", "--hidden", "64,a"], "--hidden"),
    (["train", "--weight-decay", "-0.1"], "--weight-decay"),
    (["train", "--model", "cnn", "--dataset", "iris"], "image data set"),
    (["evaluate", "no/such/model.safetensors"], "no such checkpoint"),
    (["evaluate"], "checkpoint"),
])
def test_bad_options_exit_2_with_one_line(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and err.startswith("chainrule")


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["train", "--out", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_evaluate_rejects_a_foreign_file(tmp_path, capsys):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"\x80\x04not a checkpoint")
    assert cli.main(["evaluate", str(f)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_evaluate_rejects_a_mismatched_dataset(tmp_path, capsys):
    out, _ = _train(tmp_path, "--epochs", "1", "--hidden", "8")
    capsys.readouterr()
    assert cli.main(["evaluate", str(out / "model.safetensors"), "--dataset", "iris"]) == 2
    assert "expects inputs of shape (64,)" in capsys.readouterr().err


def test_command_line_exit_status():
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"), OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "0"], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "--epochs" in p.stderr
    p = subprocess.run([sys.executable, "-m", "chainrule"], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "chain rule" in p.stdout  # no arguments: still the lecture's examples


def test_checkpoints_round_trip_for_many_shapes(tmp_path):
    """Whatever the header length, a checkpoint loads back into the same model (a safetensors file
    starts with its header length, little-endian: for some of these shapes its first byte is 0x80,
    a pickle's first byte too)."""
    x = cr.tensor(np.random.default_rng(0).random((3, 64)).astype(np.float32))
    first_bytes = set()
    for h in (8, 40, 64, 100):
        arch = dict(model="mlp", input_shape=[64], num_outputs=10, hidden=[h, 32], image_shape=None,
                    task="classification", dataset="digits", target_stats=None)
        model = tr.build_model("mlp", (64,), 10, (h, 32))
        tr.save_checkpoint(tmp_path / "m.safetensors", model, arch)
        first_bytes.add((tmp_path / "m.safetensors").read_bytes()[:1])
        again, arch2 = tr.load_checkpoint(tmp_path / "m.safetensors")
        assert arch2 == arch
        np.testing.assert_array_equal(again(x).data, model(x).data)
    assert b"\x80" in first_bytes


def test_missing_fashion_mnist_names_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST", str(tmp_path / "nowhere"))
    assert cli.main(["train", "--dataset", "fashion_mnist", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install dataset-fashion-mnist" in err
