"""Bandwidth of one 40 MB Allreduce (float64) through chainrule.distributed.allreduce_gradients.

    mpirun --allow-run-as-root --oversubscribe -np 2 python benchmarks/allreduce_bandwidth.py"""

import time

import numpy as np

import chainrule.distributed as dist
from chainrule.nn.module import Parameter

comm = dist.init()
params = [Parameter(np.zeros(5_000_000 // 8)) for _ in range(8)]   # 8 x 5 MB = 40 MB of gradients
for p in params:
    p.grad = np.ones_like(p._data)
dist.allreduce_gradients(params)   # warm-up
times = []
for _ in range(5):
    t = time.perf_counter()
    calls = dist.allreduce_gradients(params, bucket_bytes=8 << 20)
    times.append(time.perf_counter() - t)
if dist.is_primary():
    best = min(times)
    print(f"ranks={comm.size} bytes=40e6 allreduce calls={calls} best={best * 1e3:.1f} ms "
          f"bandwidth={40e6 / best / 1e9:.2f} GB/s (algorithm bytes / time)")
