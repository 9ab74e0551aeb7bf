#!/usr/bin/env python
"""One TransformerEncoderLayer, forward + backward, chainrule against PyTorch CPU eager (issue 15).

    python benchmarks/transformer_layer.py                 # d_model 128, 4 heads, seq 64, batch 32
    python benchmarks/transformer_layer.py --threads 2 --repeat 30 --norm-first

Both libraries get the same parameters (PyTorch's state_dict loaded into chainrule), the same
float32 input and the same upstream gradient; the outputs and the input and parameter gradients
are checked to agree before anything is timed. dropout is 0 (so both compute the same thing);
dim_feedforward is 4 × d_model. BLAS and PyTorch use `--threads` threads (set before NumPy loads).
The two libraries take turns step by step; reports the median and interquartile range of forward +
backward (wall clock and CPU time), and the ratios chainrule / torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--nhead", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--activation", default="relu", choices=["relu", "gelu"])
    p.add_argument("--norm-first", action="store_true")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def timed(steps, repeat):
    """Median and IQR of wall-clock and CPU time per step, the steps taking turns (so a change in
    the machine's load falls on both libraries alike)."""
    for step in steps.values():
        step()   # warm-up
    wall, cpu = {k: [] for k in steps}, {k: [] for k in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)

    def stats(ts):
        q = statistics.quantiles(ts, n=4)
        return statistics.median(ts), q[2] - q[0]
    return {k: (stats(wall[k]), stats(cpu[k])) for k in steps}


def main():
    a = parse()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    import numpy as np
    import torch

    import chainrule as cr
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    kw = dict(dim_feedforward=4 * a.d_model, dropout=0.0, activation=a.activation, batch_first=True,
              norm_first=a.norm_first)
    tlayer = torch.nn.TransformerEncoderLayer(a.d_model, a.nhead, **kw)
    layer = cr.nn.TransformerEncoderLayer(a.d_model, a.nhead, **kw)
    layer.load_state_dict({k: v.detach().numpy().copy() for k, v in tlayer.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.batch, a.seq, a.d_model)).astype(np.float32)
    u = rng.standard_normal(x.shape).astype(np.float32)
    xt, tx, tu = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True), torch.tensor(u)

    def cr_step():
        layer.zero_grad()
        xt.grad = None
        layer(xt).backward(u)

    def torch_step():
        tlayer.zero_grad()
        tx.grad = None
        tlayer(tx).backward(tu)

    cr_step()
    torch_step()
    np.testing.assert_allclose(layer(xt).data, tlayer(tx).detach().numpy(), atol=2e-4)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=2e-3)
    tparams = dict(tlayer.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=5e-3, rtol=1e-3, err_msg=name)
    print(f"TransformerEncoderLayer d_model={a.d_model} nhead={a.nhead} seq={a.seq} batch={a.batch} "
          f"ff={4 * a.d_model} activation={a.activation} norm_first={a.norm_first} float32 threads={a.threads}; "
          f"outputs and gradients agree")
    res = timed({"torch": torch_step, "chainrule": cr_step}, a.repeat)
    for name, ((wm, wi), (cm, ci)) in res.items():
        print(f"  {name:9s} forward+backward: wall median {wm * 1e3:8.2f} ms (IQR {wi * 1e3:.2f}), "
              f"CPU median {cm * 1e3:8.2f} ms (IQR {ci * 1e3:.2f}), {a.repeat} runs")
    print(f"  chainrule / torch: wall {res['chainrule'][0][0] / res['torch'][0][0]:.2f}, "
          f"CPU {res['chainrule'][1][0] / res['torch'][1][0]:.2f}")

if __name__ == "__main__":
    main()
