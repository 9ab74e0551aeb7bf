"""chainrule.distributed: 2-rank runs under mpirun from pytest, plus the size-1 fallback."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.distributed as dist

WORKER = os.path.join(os.path.dirname(__file__), "mpi_worker.py")
MPIRUN = shutil.which("mpirun")
# The only skip: no mpirun. Where mpirun is but mpi4py is not, these tests fail with init's message
# saying how to install it (CI installs both).
needs_mpirun = pytest.mark.skipif(MPIRUN is None, reason="mpirun (Open MPI) is not installed")
TIMEOUT = 300   # seconds: only there to turn a hang into a failure; a 2-core machine under load is slow


def _mpirun(tmp_path, mode, np_=2):
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(np_), sys.executable, WORKER,
           str(tmp_path), mode]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)


@needs_mpirun
def test_two_ranks_identical_every_step_and_equal_single_process(tmp_path):
    r = _mpirun(tmp_path, "train")
    assert r.returncode == 0, r.stderr
    single = subprocess.run([sys.executable, WORKER, str(tmp_path), "train"], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert single.returncode == 0, single.stderr
    a = np.load(tmp_path / "params_rank0_size2.npz")
    b = np.load(tmp_path / "params_rank1_size2.npz")
    s = np.load(tmp_path / "params_rank0_size1.npz")
    assert sorted(a.files) == sorted(b.files) == sorted(s.files) and len(a.files) > 4
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)          # (a) ranks identical after every step
        np.testing.assert_allclose(a[k], s[k], rtol=1e-10, atol=1e-12, err_msg=k)  # (b) == single process
    # the run moved the weights (so equality above is not trivially of the initial values)
    assert not np.allclose(a["0/0.weight"], a["3/0.weight"])


def _worker_alone(tmp_path, mode):
    r = subprocess.run([sys.executable, WORKER, str(tmp_path), mode], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


@needs_mpirun
def test_resume_under_mpi_broadcasts_adam_and_batchnorm_state_and_matches_single_process(tmp_path):
    _worker_alone(tmp_path, "save")            # a checkpoint: weights and Adam moments after 2 steps
    r = _mpirun(tmp_path, "resume")            # only rank 0 reads it; rank 1 starts fresh, other weights
    assert r.returncode == 0, r.stderr
    a = np.load(tmp_path / "params_rank0_size2.npz")
    b = np.load(tmp_path / "params_rank1_size2.npz")
    _worker_alone(tmp_path, "resume")
    s = np.load(tmp_path / "params_rank0_size1.npz")
    moments = [k for k in a.files if k.startswith("start/") and k.endswith(("/exp_avg", "/exp_avg_sq", "/step"))]
    assert len(moments) == 3 * 6                 # 6 parameters, each with Adam's 2 moments and step count
    assert all(int(a[k]) == 2 for k in moments if k.endswith("/step"))
    assert int(a["start/1.num_batches_tracked"]) == 2 and not np.allclose(a["start/1.running_mean"], 0)
    assert sorted(a.files) == sorted(b.files) == sorted(s.files)
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)           # equal on both ranks, every step
        np.testing.assert_allclose(a[k], s[k], rtol=1e-10, atol=1e-12, err_msg=k)   # == one process
    assert not np.allclose(a["start/0.weight/exp_avg"], a["4/0.weight/exp_avg"])


@needs_mpirun
def test_exception_on_one_rank_ends_job_with_its_error(tmp_path):
    r = _mpirun(tmp_path, "fail")
    assert r.returncode != 0
    assert "[rank 1]" in r.stderr + r.stdout and "deliberate failure on rank 1" in r.stderr + r.stdout


@needs_mpirun
def test_model_mismatch_detected_at_broadcast(tmp_path):
    r = _mpirun(tmp_path, "mismatch")
    assert r.returncode != 0
    assert "rank 1's model differs from rank 0's at parameter #0" in r.stderr + r.stdout
    assert "(6, 5)" in r.stderr and "(7, 5)" in r.stderr


def test_single_process_fallback():
    comm = dist.init()
    assert comm.size == 1 and comm.rank == 0 and dist.is_primary()
    m = cr.nn.Linear(3, 2, dtype=cr.float64)
    before = m.weight._data.copy()
    dist.broadcast_parameters(m)
    np.testing.assert_array_equal(m.weight._data, before)
    assert dist.allreduce_mean(2.5) == 2.5


def test_sampler_covers_every_index_once_per_epoch():
    data = range(10)
    for shuffle in (False, True):
        parts = [dist.DistributedSampler(data, num_replicas=3, rank=r, shuffle=shuffle, seed=1) for r in range(3)]
        for s in parts:
            s.set_epoch(2)
        idx = [i for s in parts for i in s]
        assert all(len(s) == 4 for s in parts) and len(idx) == 12
        assert set(idx) == set(range(10))      # every sample seen; 2 padded repeats to equalize ranks
    a = dist.DistributedSampler(data, num_replicas=2, rank=0, seed=1)
    a.set_epoch(0)
    e0 = list(a)
    a.set_epoch(1)
    assert list(a) != e0
    loader = cr.data.DataLoader(cr.data.TensorDataset(cr.arange(10)), batch_size=2, sampler=a)
    assert sum(len(b[0]) for b in loader) == 5
    with pytest.raises(ValueError, match="rank 2 not in"):
        dist.DistributedSampler(data, num_replicas=2, rank=2)


def _shares(n, replicas, epoch=0, **kw):
    parts = [dist.DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw) for r in range(replicas)]
    for s in parts:
        s.set_epoch(epoch)
    return [list(s) for s in parts], parts


@pytest.mark.parametrize("n,replicas", [(10, 4), (3, 4), (1, 5), (7, 7), (13, 2)])
def test_sampler_uneven_sizes_give_equal_shares_covering_every_index(n, replicas):
    for shuffle in (False, True):
        shares, parts = _shares(n, replicas, epoch=3, shuffle=shuffle, seed=5)
        per = -(-n // replicas)
        assert [len(s) for s in shares] == [len(p) for p in parts] == [per] * replicas
        flat = [i for s in shares for i in s]
        assert set(flat) == set(range(n))                    # every sample seen in the epoch
        counts = np.bincount(flat, minlength=n)
        assert counts.max() - counts.min() <= 1              # padding repeats samples evenly (wrap-around)
        if shuffle is False:
            assert shares[0][0] == 0 and (replicas == 1 or shares[1][0] == 1 % n)


@pytest.mark.parametrize("n,replicas", [(10, 4), (13, 2), (3, 4), (8, 4)])
def test_sampler_drop_last_drops_the_tail_and_never_repeats(n, replicas):
    shares, parts = _shares(n, replicas, epoch=1, drop_last=True, seed=2)
    per = n // replicas
    assert [len(s) for s in shares] == [len(p) for p in parts] == [per] * replicas
    flat = [i for s in shares for i in s]
    assert len(flat) == len(set(flat)) == per * replicas     # disjoint shares, n % replicas samples dropped
    shares2, _ = _shares(n, replicas, epoch=2, drop_last=True, seed=2)
    if per > 1:
        assert shares2 != shares                             # a different epoch drops different samples


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 40), replicas=st.integers(1, 9), epoch=st.integers(0, 5), shuffle=st.booleans(),
       drop_last=st.booleans())
def test_sampler_shares_property(n, replicas, epoch, shuffle, drop_last):
    """Equal shares; with padding every index at least once and repeats spread evenly; with drop_last
    disjoint shares and fewer than `replicas` indices left out."""
    shares, _ = _shares(n, replicas, epoch=epoch, shuffle=shuffle, drop_last=drop_last, seed=1)
    sizes = {len(s) for s in shares}
    flat = [i for s in shares for i in s]
    assert len(sizes) == 1 and all(0 <= i < n for i in flat)
    if drop_last:
        assert len(flat) == len(set(flat)) and n - len(flat) < replicas
    else:
        counts = np.bincount(flat, minlength=n)
        assert (n == 0 and not flat) or (counts.min() >= 1 and counts.max() - counts.min() <= 1)


def test_sampler_set_epoch_reshuffles_the_same_way_on_every_rank():
    a, _ = _shares(20, 2, epoch=4, seed=9)
    b, _ = _shares(20, 2, epoch=4, seed=9)
    c, _ = _shares(20, 2, epoch=5, seed=9)
    d, _ = _shares(20, 2, epoch=4, seed=10)
    assert a == b                                            # ranks computing on their own agree
    assert sorted(a[0] + a[1]) == list(range(20))
    assert c != a and d != a and sorted(c[0] + c[1]) == list(range(20))
    with pytest.raises(ValueError, match="num_replicas must be at least 1, not 0"):
        dist.DistributedSampler(range(4), num_replicas=0, rank=0)
    assert _shares(0, 3)[0] == [[], [], []]


def test_require_without_mpi_world_says_how_to_install():
    saved = dist._comm
    dist._comm = None
    try:
        with pytest.raises(RuntimeError, match="not started by mpirun.*pip install mpi4py"):
            dist.init(require=True)
    finally:
        dist._comm = saved


def test_under_mpirun_without_mpi4py_says_how_to_install():
    code = ("import sys; sys.modules['mpi4py'] = None\n"   # as if mpi4py were not installed
            "import chainrule.distributed as d\n"
            "try:\n    d.init()\nexcept RuntimeError as e:\n    print(e)\n")
    env = {**os.environ, "OMPI_COMM_WORLD_SIZE": "2"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert "mpi4py is not installed" in r.stdout and "apt-get install openmpi-bin" in r.stdout, r.stderr


NO_MPI = {  # what importing mpi4py.MPI does where mpi4py, or the MPI library, is missing
    "no mpi4py": ({"__init__.py": "raise ModuleNotFoundError(\"No module named 'mpi4py'\", name='mpi4py')\n"}, {},
                  "mpi4py is not installed"),
    "no libmpi (source build)": ({"__init__.py": "", "MPI.py": "raise ImportError('libmpi.so.40: cannot open')\n"},
                                 {}, "mpi4py cannot load the MPI library (libmpi.so.40: cannot open)"),
    # the real mpi4py wheel, told to load a libmpi that is not there
    "no libmpi (wheel)": ({}, {"MPI4PY_LIBMPI": "/nonexistent/libmpi.so.40"},
                          "mpi4py cannot load the MPI library (cannot load MPI library; /nonexistent/libmpi.so.40"),
}


@pytest.mark.parametrize("case", sorted(NO_MPI))
def test_cli_train_distributed_without_mpi_says_how_to_install(tmp_path, case):
    files, extra_env, message = NO_MPI[case]
    if not files:
        pytest.importorskip("mpi4py")   # (the real one: no mpirun test, the others fail without it)
    for name, code in files.items():
        (tmp_path / "mpi4py").mkdir(exist_ok=True)
        (tmp_path / "mpi4py" / name).write_text(code)
    env = {**os.environ, **extra_env, "OMPI_COMM_WORLD_SIZE": "2",   # as if started by mpirun
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(_train_cmd(tmp_path / "run", "--epochs", "1"), capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr and "apt-get install openmpi-bin libopenmpi-dev" in r.stderr, r.stderr
    assert "pip install mpi4py" in r.stderr and not (tmp_path / "run").exists()


class _CountingComm(dist.LocalComm):
    """Two 'ranks' whose other rank holds the same gradients: counts Allreduce calls and buffer sizes."""

    size = 2

    def __init__(self):
        self.sizes = []

    def Allreduce(self, sendbuf, recvbuf, op=None):
        self.sizes.append(sendbuf.nbytes)
        recvbuf[...] = 2 * sendbuf


def test_allreduce_gradients_packs_tensors_into_few_buckets():
    params = [cr.nn.Parameter(np.ones((64, 64))) for _ in range(20)]   # 32 KiB each
    for i, p in enumerate(params):
        p.grad = np.full((64, 64), float(i))
    comm = _CountingComm()
    calls = dist.allreduce_gradients(params, comm=comm, bucket_bytes=256 << 10)
    flags = 8   # one float64 has-gradient flag per parameter in the bucket
    assert calls == len(comm.sizes) == 3
    assert comm.sizes == [(256 << 10) + 8 * flags, (256 << 10) + 8 * flags, (4 * 32 << 10) + 4 * flags]
    for i, p in enumerate(params):
        np.testing.assert_array_equal(np.asarray(p.grad), np.full((64, 64), float(i)))   # (2 * g) / 2


def test_allreduce_gradients_keeps_none_where_no_rank_has_a_gradient():
    params = [cr.nn.Parameter(np.ones(3)) for _ in range(3)]
    params[0].grad, params[2].grad = np.full(3, 4.0), np.full(3, 6.0)
    comm = _CountingComm()
    assert dist.allreduce_gradients(params, comm=comm) == 1
    assert params[1].grad is None          # the optimizer skips it, as it would in one process
    np.testing.assert_array_equal(np.asarray(params[0].grad), np.full(3, 4.0))
    np.testing.assert_array_equal(np.asarray(params[2].grad), np.full(3, 6.0))


def test_distributed_optimizer_is_a_drop_in_for_the_optimizer_it_wraps():
    """Two changed lines of a PyTorch-style loop: schedulers, zero_grad and state_dict see the wrapped one."""
    m = cr.nn.Linear(3, 2, dtype=cr.float64)
    inner = cr.optim.SGD(m.parameters(), lr=0.5, momentum=0.9)
    opt = dist.DistributedOptimizer(inner, comm=_CountingComm())
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    before = m.weight._data.copy()
    m(cr.tensor(np.ones((4, 3)))).sum().backward()
    g = np.asarray(m.weight.grad).copy()
    opt.step()                                            # averages (2 g / 2 here), then SGD
    np.testing.assert_allclose(m.weight._data, before - 0.5 * g)
    assert len(opt.comm.sizes) == 1                       # one bucket for weight and bias
    sched.step()
    assert inner.param_groups[0]["lr"] == pytest.approx(0.05) and opt.param_groups is inner.param_groups
    assert opt.state_dict()["state"].keys() == inner.state_dict()["state"].keys() == {0, 1}
    opt.zero_grad()
    assert m.weight.grad is None


def _train_cmd(out, *extra):
    return [sys.executable, "-m", "chainrule", "train", "--distributed", "--dataset", "digits", "--hidden", "64",
            "--epochs", "3", "--no-progress", "--out", str(out), *extra]


@needs_mpirun
def test_cli_train_distributed_two_ranks(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", *_train_cmd(out)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    # only rank 0 prints and writes
    assert r.stdout.count("chainrule train:") == 1 and r.stdout.count("final:") == 1, r.stdout
    assert r.stdout.count("wrote ") == 1 and "world size 2 (batch 32 a rank)" in r.stdout, r.stdout
    assert sorted(os.listdir(out)) == ["history.png", "model.safetensors", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["options"]["distributed"] is True
    assert len(summary["epochs"]) == 3
    assert summary["final"]["test_accuracy"] > 0.8, summary["final"]
    assert 0.0 <= summary["final"]["train_accuracy"] <= 1.0
    # the checkpoint rank 0 wrote evaluates to the test accuracy the summary reports
    ev = subprocess.run([sys.executable, "-m", "chainrule", "evaluate", str(out / "model.safetensors"), "--json"],
                        capture_output=True, text=True, timeout=TIMEOUT)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["accuracy"] == pytest.approx(summary["final"]["test_accuracy"])


FASHION = "/usr/share/datasets/fashion-mnist"


@needs_mpirun
@pytest.mark.parametrize("dataset,model,extra,atol", [
    ("digits", "cnn", ("--lr", "0.2"), 1e-6),
    pytest.param("fashion_mnist", "mlp", ("--lr", "0.01", "--hidden", "32", "--batch-size", "512"), 1e-4,
                 marks=pytest.mark.skipif(not os.path.isdir(FASHION), reason="dataset-fashion-mnist not installed")),
])
def test_cli_train_distributed_two_ranks_equal_one_rank(tmp_path, dataset, model, extra, atol):
    """The global batch of a 2-rank step is the batch of a 1-rank step (same samples, same order), so after
    an epoch the two runs' checkpoints agree to float32 rounding: the two sum a batch's gradient in another
    order, a difference of 1e-7 that 118 Fashion-MNIST steps grow to about 1e-5 (1e-8 in digits' 23). SGD:
    Adam's g / sqrt(v) would magnify those differences where a gradient is near 0."""
    args = ("--epochs", "1", "--dataset", dataset, "--model", model, "--optimizer", "sgd", *extra)
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2",
                        *_train_cmd(tmp_path / "two", *args)], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    one = subprocess.run(_train_cmd(tmp_path / "one", *args), capture_output=True, text=True, timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr
    two_sum = json.loads((tmp_path / "two" / "summary.json").read_text())
    one_sum = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert (two_sum["world_size"], one_sum["world_size"]) == (2, 1)
    for k, v in one_sum["final"].items():
        assert two_sum["final"][k] == pytest.approx(v, rel=1e-3), k
    a, b = cr.load(str(tmp_path / "two" / "model.safetensors")), cr.load(str(tmp_path / "one" / "model.safetensors"))
    weights = [k for k in b if not k.startswith("_chainrule")]
    assert sorted(a) == sorted(b) and len(weights) >= 4
    for k in weights:
        np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=1e-4, atol=atol, err_msg=k)
    assert two_sum["final"]["test_accuracy"] > 0.3, two_sum["final"]      # it learned (chance: 0.1)


@needs_mpirun
def test_cli_train_distributed_batch_not_divisible_is_a_usage_error(tmp_path):
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2",
                        *_train_cmd(tmp_path / "run", "--batch-size", "63")], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode != 0
    assert "--batch-size 63 is not divisible by the world size 2" in r.stderr
    assert not (tmp_path / "run").exists()


@needs_mpirun
def test_cli_train_failing_on_rank_0_only_ends_the_job(tmp_path):
    """Only rank 0 writes, so only it fails when the checkpoint cannot be written; exiting normally (status
    2) would leave it waiting in MPI's finalize and rank 1 in its next Allreduce, forever."""
    out = tmp_path / "run"
    (out / "model.safetensors").mkdir(parents=True)     # the checkpoint's path is taken by a folder
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2",
                        *_train_cmd(out, "--hidden", "16", "--epochs", "3")], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    assert "[rank 0] chainrule train: error: cannot write into" in r.stderr


def test_cli_train_distributed_without_mpirun_is_world_size_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                                             "MPI_LOCALNRANKS")}
    out = tmp_path / "run"
    r = subprocess.run(_train_cmd(out, "--epochs", "1"), capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 1 and summary["options"]["distributed"] is True
    assert "world size 1 (batch 64 a rank)" in r.stdout


EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "distributed_digits.py")


@needs_mpirun
def test_example_training_loop_runs_alone_and_under_mpirun_alike(tmp_path):
    """examples/distributed_digits.py: a PyTorch-style loop with the `dist` lines; only rank 0 prints.
    The ranks are placed by a hostfile, as the README's command across machines does (here: one host)."""
    (tmp_path / "hosts").write_text("localhost slots=2\n")
    alone = subprocess.run([sys.executable, EXAMPLE, "2"], capture_output=True, text=True, timeout=TIMEOUT)
    two = subprocess.run([MPIRUN, "--allow-run-as-root", "--hostfile", str(tmp_path / "hosts"), "-np", "2",
                          "-x", "PATH", sys.executable, EXAMPLE, "2"], capture_output=True, text=True, timeout=TIMEOUT)
    assert alone.returncode == 0 and two.returncode == 0, alone.stderr + two.stderr
    a, b = alone.stdout.splitlines(), two.stdout.splitlines()
    assert len(a) == len(b) == 3 and a[-1].startswith("world size 1,") and b[-1].startswith("world size 2,")
    assert a[:2] == b[:2] and a[0].startswith("epoch 1: train loss")     # same metrics, printed once
    assert float(a[-1].split()[-1]) == pytest.approx(float(b[-1].split()[-1]), rel=1e-6)
