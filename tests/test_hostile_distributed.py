"""Data-parallel runs that end badly on some ranks (issue 12's known bugs): a non-finite loss on one rank
only, and Ctrl-C under mpirun (which sends SIGTERM to every rank and SIGKILL a second later). Every rank
must agree to stop at the same step, and rank 0 must write a final status (summary.json said "running")."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import chainrule as cr

HERE = os.path.dirname(__file__)
WORKER = os.path.join(HERE, "hostile_mpi_worker.py")
MPIRUN = shutil.which("mpirun")
needs_mpirun = pytest.mark.skipif(MPIRUN is None, reason="mpirun (Open MPI) is not installed")
TIMEOUT = 300  # only there to turn a hang into a failure
MPI = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2"]


@needs_mpirun
def test_a_non_finite_loss_on_one_rank_stops_every_rank_and_rank_0_writes_diverged(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([*MPI, sys.executable, WORKER, str(out)], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged", summary["status"]
    assert (summary["stopped"]["epoch"], summary["stopped"]["step"]) == (2, 1)
    assert [e["epoch"] for e in summary["epochs"]] == [1]
    # both ranks stopped at the same step, each saying so (rank 0's own loss was finite)
    for rank in (0, 1):
        assert (f"[rank {rank}] chainrule train: stopped: the training loss is nan (on 1 of 2 ranks) at epoch 2, "
                "step 1; kept epoch 1") in r.stderr, r.stderr
    assert cr.load(str(out / "model.safetensors"))  # the epoch-1 checkpoint is whole


def _wait_for_an_epoch(out, proc):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads((out / "summary.json").read_text())["epochs"]:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    pytest.fail("no epoch completed")


@needs_mpirun
def test_ctrl_c_under_mpirun_stops_every_rank_and_rank_0_writes_interrupted(tmp_path):
    out = tmp_path / "run"
    cmd = [*MPI, sys.executable, "-m", "chainrule", "train", "--distributed", "--dataset", "digits", "--hidden",
           "16", "--epochs", "100000", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_an_epoch(out, proc)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal does: only mpirun is in its group
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted", (summary["status"], err)
    assert summary["stopped"]["reason"].startswith("interrupted")
    assert summary["epochs"] and len(summary["epochs"]) < 100000
    assert cr.load(str(out / "model.safetensors"))


def test_sigterm_stops_a_single_process_run_like_ctrl_c(tmp_path):
    """A scheduler's or `timeout`'s SIGTERM: the run saves what it has and says "interrupted" (exit 130)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--hidden", "16", "--epochs",
           "100000", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_an_epoch(out, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [err.strip().splitlines()[0]] and "interrupted; kept epoch" in err, err
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
