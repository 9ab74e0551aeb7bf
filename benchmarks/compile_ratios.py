"""cr.compile against hand-written NumPy, timed alternately in one process (shared-bench workloads).

    PYTHONPATH=src python benchmarks/compile_ratios.py scalar_mlp,op_overhead --bench /work/shared/bench

Builds the `numpy_handwritten` and `chainrule_compile` cases of the shared bench (its peers.py and
workloads.py) and times their steps in turns: 5 rounds, each case stepping for at least 0.15 s per
round; prints the medians and their ratio. On a loaded machine the ratio holds far better than two
separate runs do (the load falls on both alike), for workloads bound by Python work; BLAS-bound ones
still swing with the threads competing.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", help="comma-separated shared-bench workload names")
    ap.add_argument("--bench", default="/work/shared/bench", help="the shared bench folder (peers.py, workloads.py)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    sys.path.insert(0, args.bench)
    from peers import ADAPTERS
    from workloads import WORKLOADS

    libs = ("numpy_handwritten", "chainrule_compile")
    for w in args.workloads.split(","):
        wl = WORKLOADS[w]
        d = wl.make_data(wl)
        cases = {}
        for lib in libs:
            a = ADAPTERS[lib]()
            a.setup(2)
            cases[lib] = getattr(a, w)(wl, d)
            for _ in range(3):  # recorded, then replayed
                cases[lib].step()
        times = {lib: [] for lib in libs}
        for _ in range(args.rounds):
            for lib, c in cases.items():
                n, t0 = 0, time.perf_counter()
                while True:
                    c.step()
                    n += 1
                    t = time.perf_counter() - t0
                    if t > 0.15:
                        break
                times[lib].append(t / n)
        med = {lib: sorted(v)[len(v) // 2] for lib, v in times.items()}
        per = f", {med[libs[1]] / wl.n_ops * 1e6:.2f} µs per node/op" if wl.n_ops else ""
        print(f"{w}: numpy_handwritten {med[libs[0]] * 1e3:.3f} ms, chainrule_compile {med[libs[1]] * 1e3:.3f} ms, "
              f"ratio {med[libs[1]] / med[libs[0]]:.3f}{per}")


if __name__ == "__main__":
    main()
