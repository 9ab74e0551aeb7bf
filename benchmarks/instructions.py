"""Python overhead of chainrule, counted in CPU instructions (callgrind): deterministic, unlike the
wall clock on a shared machine.

    python benchmarks/instructions.py --base /path/to/other/checkout     # this checkout vs another
    python benchmarks/instructions.py                                     # this checkout alone

Each workload runs in a fresh process under `valgrind --tool=callgrind` twice, once with 0 and
once with N repetitions after a warm-up call; the difference over N is the instruction count of
one repetition (imports, compilation and set-up cancel out). Needs Debian's `valgrind`. The
workloads are the overhead-bound ones of `run.py` (small arrays, many nodes), where per-node
Python work decides the time; BLAS threads are pinned to 1.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKLOADS = {
    "scalar_graph": "4000 scalar nodes (mul, add, tanh), forward + backward",
    "op_chain": "1000 ops (add, mul, tanh) on a (16,) array, forward + backward",
    "deep_chain": "2000 ops on a (1000,) array, forward + backward",
    "mlp_small": "10 SGD steps of a 64-64-10 MLP, batch 32, softmax cross-entropy",
    "no_grad_ops": "1000 additions of a constant (16,) array and a float, nothing recorded",
    "mlp_optim": "10 steps of nn.Linear 64-64-10 (float32), batch 32, cross-entropy, optim.SGD(momentum=0.9)",
    "ndarray_left": "1000 ops with an ndarray on the left ((16,) arrays: a * x, a + x), forward + backward",
}

_RUNNER = r'''
import sys
import numpy as np
import chainrule as cr


def build(name):
    rng = np.random.default_rng(0)
    if name == "scalar_graph":
        ws = [cr.tensor(float(v), requires_grad=True) for v in rng.standard_normal(64)]
        def f():
            s = ws[0]
            for i in range(1, 4000):
                w = ws[i % 64]
                s = cr.tanh(s * w + w) if i % 7 == 0 else s * w + 0.1
            s.backward()
        return f
    if name in ("op_chain", "deep_chain"):
        n, ops = (16, 1000) if name == "op_chain" else (1000, 2000)
        a, m = rng.uniform(0.0, 0.05, size=n), rng.uniform(0.9, 1.1, size=n)
        x = cr.tensor(rng.normal(0.0, 0.5, size=n), requires_grad=True)
        def f():
            x.grad = None
            h = x
            for i in range(ops):
                odd, kind = (i // 3) & 1, i % 3
                h = h + (-a if odd else a) if kind == 0 else (h * (1 / m if odd else m) if kind == 1 else cr.tanh(h))
            h.sum().backward()
        return f
    if name == "mlp_small":
        W1 = cr.tensor(rng.standard_normal((64, 64)) * 0.1, requires_grad=True)
        b1 = cr.tensor(np.zeros(64), requires_grad=True)
        W2 = cr.tensor(rng.standard_normal((10, 64)) * 0.1, requires_grad=True)
        b2 = cr.tensor(np.zeros(10), requires_grad=True)
        X, Y = rng.standard_normal((32, 64)), rng.integers(0, 10, 32)
        F = cr.nn.functional
        def f():
            for _ in range(10):
                for p in (W1, b1, W2, b2):
                    p.grad = None
                loss = F.cross_entropy(cr.relu(X @ W1.T + b1) @ W2.T + b2, Y)
                loss.backward()
                with cr.no_grad():
                    for p in (W1, b1, W2, b2):
                        p.data = p.data - 0.01 * p.grad
        return f
    if name == "mlp_optim":
        model = cr.nn.Sequential(cr.nn.Linear(64, 64), cr.nn.ReLU(), cr.nn.Linear(64, 10))
        opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        X, Y = rng.standard_normal((32, 64)).astype(np.float32), rng.integers(0, 10, 32)
        F = cr.nn.functional
        def f():
            for _ in range(10):
                opt.zero_grad()
                F.cross_entropy(model(X), Y).backward()
                opt.step()
        return f
    if name == "ndarray_left":
        a, m = rng.uniform(0.0, 0.05, size=16), rng.uniform(0.9, 1.1, size=16)
        x = cr.tensor(rng.normal(0.0, 0.5, size=16), requires_grad=True)
        def f():
            x.grad = None
            h = x
            for i in range(1000):
                h = m * h if i % 2 else a + h
            h.sum().backward()
        return f
    if name == "no_grad_ops":
        c = cr.tensor(np.ones(16))
        def f():
            for _ in range(1000):
                c + 0.5
        return f
    raise SystemExit(f"unknown workload {name}")


f = build(sys.argv[1])
f()
for _ in range(int(sys.argv[2])):
    f()
'''


def count(src, workload, reps):
    env = dict(os.environ, PYTHONPATH=str(src), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONHASHSEED="0")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                        _RUNNER, workload, str(reps)], capture_output=True, text=True, env=env, timeout=1800)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise SystemExit(f"{workload} failed under valgrind for {src}:\n{r.stderr[-2000:]}")
    return int(m.group(1))


def per_run(src, workload, reps=2):
    return (count(src, workload, reps) - count(src, workload, 0)) / reps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="another checkout (its src/ is imported) to compare with")
    ap.add_argument("--only", help="comma-separated workloads", default=",".join(WORKLOADS))
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    here_src = HERE.parent / "src"
    base_src = Path(args.base).resolve() / "src" if args.base else None
    print("| workload | what | this checkout (instructions per run) |"
          + (" base | this / base |" if base_src else ""))
    print("|---|---|---|" + ("---|---|" if base_src else ""))
    for w in args.only.split(","):
        mine = per_run(here_src, w, args.reps)
        row = f"| {w} | {WORKLOADS[w]} | {mine / 1e6:.2f} M |"
        if base_src:
            base = per_run(base_src, w, args.reps)
            row += f" {base / 1e6:.2f} M | {mine / base:.3f} |"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
