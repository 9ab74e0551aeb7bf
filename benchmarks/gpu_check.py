"""The one short check a machine with an NVIDIA GPU runs for issue 17 (never in CI: it needs CuPy and a GPU).

    python benchmarks/gpu_check.py --out "$OUT"          # about 2-4 minutes on one GPU

1. The CuPy part of the test suite: `tests/test_backends.py` and `tests/test_devices.py` on "cuda" (the
   OpSpec sweep, grad-of-grad, the digits MLP/CNN steps equal to NumPy's, float32 gradients, the device
   API, save/load, compile, check_graph/explain/anomaly on the device). Output in sweep.txt.
2. A CNN training step (Fashion-MNIST's shape: 1x28x28, batch 128; chainrule's `train.build_model("cnn")`:
   (Conv3x3-ReLU-MaxPool2) x 2, Linear-ReLU, Linear; SGD with momentum) on CuPy, eager and under
   cr.compile, against the same model in PyTorch CUDA eager, with the same initial weights and batches,
   in the same process. The first step's losses are compared (they must agree to float32 rounding), then
   each variant's median step time over --steps timed steps (after --warmup), the GPU synchronized
   around each step. The goal is chainrule within 1.5x of PyTorch eager.

Everything is written under --out: gpu_check.json (the figures, the versions, the GPU's name) and
sweep.txt. Without CuPy or without a GPU it says which, writes that to gpu_check.json, and exits 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "src"))

import chainrule as cr  # noqa: E402
from chainrule import backend  # noqa: E402
from chainrule import train as tr  # noqa: E402


def _write(out, doc):
    with open(os.path.join(out, "gpu_check.json"), "w") as fh:
        json.dump(doc, fh, indent=2)
    print(json.dumps(doc, indent=2))


def sweep(out, timeout):
    """The CuPy tests of the suite (the NumPy/array_api_strict ones are deselected: CI runs them)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "src"), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda",
           "tests/test_backends.py", "tests/test_devices.py"]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        text, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        text, rc = f"{e.stdout or ''}{e.stderr or ''}\nTIMEOUT after {timeout} s", 124
    with open(os.path.join(out, "sweep.txt"), "w") as fh:
        fh.write(" ".join(cmd) + "\n" + text)
    last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or [""]
    return {"command": " ".join(cmd), "returncode": rc, "summary": last[0],
            "seconds": round(time.perf_counter() - t0, 1)}


def _batches(n, batch, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, batch))
            for _ in range(n)]


def _time(step, batches, warmup, steps, sync):
    times = []
    for k in range(warmup + steps):
        x, y = batches[k % len(batches)]
        sync()
        t0 = time.perf_counter()
        step(x, y)
        sync()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def cnn_benchmark(batch, warmup, steps, device="cuda"):
    """(figures, first-step losses). `device` other than cuda (array_api_strict) is a dry run of this
    script on a machine without a GPU: PyTorch then runs on the CPU."""
    if device == "cuda":
        import cupy

        sync_cp = cupy.cuda.Device().synchronize
    else:
        def sync_cp():
            pass
    batches = _batches(8, batch)
    cr.manual_seed(0)
    ref = tr.build_model("cnn", (1, 28, 28), 10, (128,), (1, 28, 28), (16, 32)).to(cr.float32)
    state = {k: np.asarray(v) for k, v in ref.state_dict().items()}
    res = {}

    def chainrule_step(compiled):
        net = tr.build_model("cnn", (1, 28, 28), 10, (128,), (1, 28, 28), (16, 32)).to(cr.float32)
        net.load_state_dict(state)
        net.to(device)
        fwd = cr.compile(net) if compiled else net
        opt = cr.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step(x, y):
            loss = cr.nn.functional.cross_entropy(fwd(cr.tensor(x, device=device)), cr.tensor(y, device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    first = {}
    for name, compiled in (("chainrule_cupy_eager", False), ("chainrule_cupy_compile", True)):
        step = chainrule_step(compiled)
        first[name] = float(step(*batches[0]).item())
        res[name + "_ms"] = round(_time(step, batches, warmup, steps, sync_cp), 3)
    try:
        import torch
    except ImportError:
        res["torch"] = "PyTorch is not installed: no comparison"
        return res, first
    tdev = "cuda" if device == "cuda" else "cpu"
    if tdev == "cuda" and not torch.cuda.is_available():
        res["torch"] = "PyTorch sees no CUDA device: no comparison"
        return res, first
    tsync = torch.cuda.synchronize if tdev == "cuda" else sync_cp
    tn = torch.nn
    net = tn.Sequential(tn.Conv2d(1, 16, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(16, 32, 3, padding=1),
                        tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(), tn.Linear(32 * 7 * 7, 128), tn.ReLU(),
                        tn.Linear(128, 10))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    net.to(tdev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def torch_step(x, y):
        loss = tn.functional.cross_entropy(net(torch.from_numpy(x).to(tdev)), torch.from_numpy(y).to(tdev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    first["torch_cuda_eager"] = float(torch_step(*batches[0]).item())
    res["torch_cuda_eager_ms"] = round(_time(torch_step, batches, warmup, steps, tsync), 3)
    res["torch_version"] = torch.__version__
    for name in ("chainrule_cupy_eager", "chainrule_cupy_compile"):
        res[name.replace("_cupy", "") + "_over_torch"] = round(res[name + "_ms"] / res["torch_cuda_eager_ms"], 3)
    return res, first


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_check_out"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--sweep-timeout", type=int, default=420)
    ap.add_argument("--no-sweep", action="store_true", help="only the CNN benchmark")
    ap.add_argument("--dry-run", action="store_true", help="the CNN part on array_api_strict and PyTorch's CPU "
                    "(checks this script on a machine without a GPU; its times mean nothing)")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    doc = {"python": platform.python_version(), "numpy": np.__version__}
    if a.dry_run:
        bench, first = cnn_benchmark(a.batch, a.warmup, a.steps, "array_api_strict")
        losses = list(first.values())
        doc.update(status="dry run (array_api_strict, PyTorch on the CPU)", cnn_step=dict(
            bench, first_losses=first, first_losses_agree=bool(np.allclose(losses, losses[0], rtol=1e-4))))
        _write(a.out, doc)
        return 0 if doc["cnn_step"]["first_losses_agree"] else 1
    try:
        cr.device("cuda")
        b = backend.get(cr.device("cuda"))
    except RuntimeError as e:
        doc["status"] = f"no GPU check: {e}"
        _write(a.out, doc)
        return 3
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    doc.update(status="ran", gpu=props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
               cupy=cupy.__version__, backend=repr(b))
    if not a.no_sweep:
        doc["sweep"] = sweep(a.out, a.sweep_timeout)
    bench, first = cnn_benchmark(a.batch, a.warmup, a.steps)
    doc["cnn_step"] = dict(bench, batch=a.batch, warmup=a.warmup, steps=a.steps, first_losses=first)
    losses = list(first.values())
    doc["cnn_step"]["first_losses_agree"] = bool(np.allclose(losses, losses[0], rtol=1e-4))
    _write(a.out, doc)
    ok = doc.get("sweep", {}).get("returncode", 0) == 0 and doc["cnn_step"]["first_losses_agree"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
