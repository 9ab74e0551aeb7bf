"""cr.save / cr.load of a 100 MB checkpoint (24 float32 matrices 1024x1024): best and median of 5,
and the process's peak RSS. `python benchmarks/io_checkpoint.py save|load [PATH]`."""

import os
import resource
import sys
import tempfile
import time

import numpy as np

import chainrule as cr

what = sys.argv[1]
path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.gettempdir(), "io_checkpoint.safetensors")
state = {f"{i}.weight": np.random.default_rng(i).standard_normal((1024, 1024), dtype=np.float32) for i in range(24)}


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if what == "save":
    ts = [timed(lambda: cr.save(state, path)) for _ in range(5)]
else:
    cr.save(state, path)
    del state
    ts = [timed(lambda: cr.load(path)) for _ in range(5)]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{what} {os.path.getsize(path) / 1e6:.0f} MB: best of 5 {min(ts):.3f} s, median {sorted(ts)[2]:.3f} s, "
      f"peak RSS {rss:.0f} MB")
