"""LSTM forward + backward, chainrule against PyTorch CPU eager, in one run (issue 15's speed item).

    python benchmarks/lstm_layer.py                 # hidden 256, sequence 64, batch 32, input 256, float32
    python benchmarks/lstm_layer.py --threads 1 --repeat 15

One step: y, (h, c) = lstm(x); loss = sum(y * u); loss.backward() (gradients of x and of every
parameter), from the same parameters and inputs in both libraries. chainrule runs its fused
`lstm_scan` node and, for comparison, the composite it is tested against (`fused = False`: one
`lstm_step` of sixteen primitives per time step). The libraries alternate within each round; the
median over rounds of wall-clock time and of process CPU time is reported (CPU time is the steadier
figure on a shared machine). Before timing, outputs and gradients are checked against PyTorch's.
Goal (issue 15): chainrule <= 1.5x PyTorch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # they slow a current OpenBLAS (benchmarks/README.md)
    os.environ.pop(_k, None)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import numpy as np  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--input", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=9, help="timed rounds (default %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default %(default)s)")
    args = ap.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    import chainrule as cr

    threadpool_limits(args.threads, "blas")
    torch.set_num_threads(args.threads)
    H, L, N, I = args.hidden, args.seq, args.batch, args.input
    rng = np.random.default_rng(0)
    ref = torch.nn.LSTM(I, H)
    ours = cr.nn.LSTM(I, H)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    twin = cr.nn.LSTM(I, H)
    twin.load_state_dict(ours.state_dict())
    twin.fused = False
    x = rng.standard_normal((L, N, I)).astype(np.float32)
    u = rng.standard_normal((L, N, H)).astype(np.float32)

    def step_cr(model):
        def step():
            model.zero_grad()
            xt = cr.tensor(x, requires_grad=True)
            y, _ = model(xt)
            (y * u).sum().backward()
            return y, xt
        return step

    def step_torch():
        ref.zero_grad()
        xt = torch.tensor(x, requires_grad=True)
        y, _ = ref(xt)
        (y * torch.tensor(u)).sum().backward()
        return y, xt

    # correctness first: the same outputs and gradients as PyTorch (float32 tolerances)
    ty, tx = step_torch()
    tgrads = {n: p.grad.numpy() for n, p in ref.named_parameters()}
    for name, model in (("fused", ours), ("composite", twin)):
        y, xt = step_cr(model)()
        err = max(np.abs(y.data - ty.detach().numpy()).max(), np.abs(xt.grad - tx.grad.numpy()).max(),
                  *(np.abs(p.grad - tgrads[n]).max() / max(np.abs(tgrads[n]).max(), 1e-30)
                    for n, p in model.named_parameters()))
        print(f"check {name}: max deviation from PyTorch {err:.2e}")
        if not err < 1e-3:
            raise SystemExit(f"{name}: outputs or gradients differ from PyTorch ({err:.2e})")

    cases = {"torch": step_torch, "chainrule": step_cr(ours), "chainrule composite": step_cr(twin)}
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    for f in cases.values():  # warm-up
        f()
    for r in range(args.repeat):
        order = list(cases) if r % 2 == 0 else list(reversed(cases))
        for k in order:
            t0, c0 = time.perf_counter(), time.process_time()
            cases[k]()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in cases}
    print(f"LSTM input {I}, hidden {H}, sequence {L}, batch {N}, float32, forward + backward; "
          f"{args.threads} thread(s), median of {args.repeat} rounds; numpy {np.__version__}, "
          f"torch {torch.__version__}")
    print(f"{'':22s}{'wall ms':>10s}{'cpu ms':>10s}{'wall x':>9s}{'cpu x':>8s}")
    tw, tc = med["torch"]
    for k, (w, c) in med.items():
        print(f"{k:22s}{w * 1e3:10.1f}{c * 1e3:10.1f}{w / tw:9.2f}{c / tc:8.2f}")
    return med


if __name__ == "__main__":
    main()
