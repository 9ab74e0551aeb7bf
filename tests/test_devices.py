"""Issue 17, the part that holds on a machine without a GPU: asking for a device chainrule cannot use
says exactly why (no CuPy, or no backend for it), from the factories, `.to`, `Module.to` and
`chainrule train --device`, the last with one line on stderr and exit status 2."""

import importlib.util
import os
import subprocess
import sys

import pytest

import chainrule as cr
from chainrule import backend

NO_CUPY = importlib.util.find_spec("cupy") is None


@pytest.mark.skipif(not NO_CUPY, reason="the message checked here is the one for a machine without CuPy")
@pytest.mark.parametrize("make", [
    lambda: cr.tensor([1.0, 2.0], device="cuda"),
    lambda: cr.zeros(3, device="cuda:0"),
    lambda: cr.tensor([1.0]).to("cuda"),
    lambda: cr.nn.Linear(2, 3).to("cuda"),
], ids=["tensor", "zeros", "Tensor.to", "Module.to"])
def test_cuda_without_cupy_says_cupy_is_missing(make):
    with pytest.raises(RuntimeError, match=r"device 'cuda(:0)?' is not available: CuPy is not installed"):
        make()


def test_a_device_with_no_backend_is_named():
    with pytest.raises(RuntimeError, match=r"zeros: device 'mps' is not available: chainrule has no 'mps' backend"):
        cr.zeros(2, device="mps")


def test_cpu_is_accepted_everywhere():
    t = cr.tensor([1.0, 2.0], device="cpu").to("cpu").cpu()
    assert t.device == cr.device("cpu")
    assert cr.nn.Linear(2, 3).to("cpu").weight.device == cr.device("cpu")


def _train(tmp_path, *extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--epochs", "1",
                           "--no-progress", "--out", str(tmp_path / "run"), *extra],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(not NO_CUPY, reason="the message checked here is the one for a machine without CuPy")
def test_train_device_cuda_fails_with_one_line_and_status_2(tmp_path):
    r = _train(tmp_path, "--device", "cuda")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("chainrule train: error: chainrule train --device: device 'cuda' is not available")
    assert "CuPy is not installed" in lines[0]
    assert not (tmp_path / "run").exists()


def test_train_device_garbage_fails_with_one_line(tmp_path):
    r = _train(tmp_path, "--device", "cuda:x")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["chainrule train: error: device: invalid device string 'cuda:x'"]


def test_train_device_cpu_trains(tmp_path):
    r = _train(tmp_path, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert any((tmp_path / "run").iterdir())


def _fake_cupy(monkeypatch, count):
    """CuPy "installed" (a stand-in module) on a machine whose CUDA runtime finds `count` GPUs (None: no
    driver at all, which CuPy reports by raising)."""
    import importlib
    import types

    class CUDARuntimeError(RuntimeError):
        pass

    def get_count():
        if count is None:
            raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
        return count

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_count))
    real_find, real_import = importlib.util.find_spec, importlib.import_module
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "cupy" else real_find(n, *a))
    monkeypatch.setattr(importlib, "import_module", lambda n, *a: fake if n == "cupy" else real_import(n, *a))
    monkeypatch.setattr(backend, "_BY_DEVICE", {k: v for k, v in backend._BY_DEVICE.items() if k != "cuda"})


@pytest.mark.parametrize("count,why", [(None, "CuPy is installed but finds no CUDA GPU (CUDARuntimeError: "
                                              "cudaErrorInsufficientDriver"),
                                       (0, "CuPy is installed but finds no CUDA GPU")])
def test_cuda_with_cupy_but_without_a_gpu_says_so(monkeypatch, count, why):
    _fake_cupy(monkeypatch, count)
    for make in (lambda: cr.tensor([1.0], device="cuda"), lambda: cr.tensor([1.0]).to("cuda"),
                 lambda: cr.nn.Linear(2, 3).to("cuda")):
        with pytest.raises(RuntimeError, match=r"device 'cuda' is not available: ") as ei:
            make()
        assert why in str(ei.value)
    assert not backend.available("cuda")
