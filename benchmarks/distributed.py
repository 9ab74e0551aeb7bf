"""Data-parallel scaling of `chainrule train`'s CNN over MPI, measured at 1 and 2 ranks, estimated beyond.

    python benchmarks/distributed.py                       # ~1 min: 1 rank, then mpirun -np 2; prints a report
    python benchmarks/distributed.py --json out.json --md out.md
    python benchmarks/distributed.py --dataset fashion_mnist --steps 20

It runs itself once as a single process (world size 1, no MPI) and once under `mpirun -np 2`, each with
one BLAS thread a rank. Each run trains the CNN of `chainrule train --model cnn` (float32, Adam, global
batch 64 split across the ranks, `DistributedSampler` shares) and times every step in three parts:

    compute    forward + backward + optimizer update on this rank's share of the batch
    wait       a Barrier before the gradient Allreduce: time this rank waits for the slowest one
    allreduce  `dist.allreduce_gradients` (bucketed Allreduce of every gradient, then the division)

The single-process run also times the compute at the per-rank batches 64/p that p ranks would get (64,
32, 16, 8, 4), in CPU time (the work a dedicated core would do; wall time on a shared machine also
counts other processes): chainrule's cost per op does not shrink with the batch, so a smaller share
does not take 1/p of the time. The 2-rank run also times one 40 MB float64 `Allreduce` (bandwidth = bytes / time).

From these, the expected speed-up across machines on a 10 Gb/s network, for ring Allreduce (each rank
sends and receives 2 (p - 1) / p of the gradient bytes, in 2 (p - 1) messages):

    t_comm(p)      = 2 (p - 1) / p * gradient_bytes / bandwidth + 2 (p - 1) * latency
    same global batch B (as `train --distributed`):  t_step(p) = t_compute(B / p) + t_comm(p)
    same batch per rank (global batch p * B):        t_step(p) = t_compute(B) + t_comm(p)
    speed-up(p)    = (samples per second at p ranks) / (samples per second at 1 rank)
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GLOBAL_BATCH = 64
NETWORK_BYTES_PER_S = 10e9 / 8          # 10 Gb/s
LATENCY_S = 50e-6                       # per message on 10 Gb Ethernet with TCP (an assumption, stated)
BANDWIDTH_BYTES = 40_000_000


def _median(xs):
    return float(np.median(xs)) if xs else 0.0


def worker(args):
    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule import train as T

    comm = dist.init()
    p, rank = comm.size, comm.rank
    split = T.load_data(args.dataset, "cnn", seed=0)
    T.seed_everything(0)
    net = T.build_model("cnn", split.input_shape, split.num_classes, (256,), split.image_shape)
    opt = T.make_optimizer("adam", net.parameters(), 3e-3)
    params = list(net.parameters())
    dist.broadcast_parameters(net, comm=comm)
    X, y = split.train.arrays[0], split.train.arrays[1]
    sampler = dist.DistributedSampler(split.train, num_replicas=p, rank=rank, seed=0)
    order = list(sampler)
    grad_bytes = int(sum(q.data.nbytes for q in params))

    def step(idx, sync):
        c0, t0 = time.process_time(), time.perf_counter()
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(net(cr.tensor(X[idx])), cr.tensor(y[idx]))
        loss.backward()
        c1, t1 = time.process_time(), time.perf_counter()
        if sync and p > 1:
            comm.Barrier()
        t2 = time.perf_counter()
        if sync:
            dist.allreduce_gradients(params, comm=comm)
        c3, t3 = time.process_time(), time.perf_counter()
        opt.step()
        c4, t4 = time.process_time(), time.perf_counter()
        return {"compute": (t1 - t0) + (t4 - t3), "compute_cpu": (c1 - c0) + (c4 - c3), "wait": t2 - t1,
                "allreduce": t3 - t2, "step": t4 - t0}

    def run(per_rank, steps, sync=True):
        rows = []
        for s in range(args.warmup + steps):
            start = (s * per_rank) % max(1, len(order) - per_rank)
            r = step(order[start:start + per_rank], sync)
            if s >= args.warmup:
                rows.append(r)
        return {k: _median([r[k] for r in rows]) for k in rows[0]}

    result = {"ranks": p, "dataset": split.name, "per_rank_batch": GLOBAL_BATCH // p, "gradient_bytes": grad_bytes,
              "parameters": int(sum(q.data.size for q in params)), "steps": args.steps,
              "median": run(GLOBAL_BATCH // p, args.steps)}
    if p == 1:  # the compute (CPU time) a rank of a p-rank job would do (same global batch); rounds interleave
        sizes, rounds = (64, 32, 16, 8, 4), 3
        runs = {b: [] for b in sizes}
        for _ in range(rounds):
            for b in sizes:
                runs[b].append(run(b, max(5, args.steps // rounds), sync=False)["compute_cpu"])
        result["compute_by_batch"] = {str(b): _median(runs[b]) for b in sizes}
    else:
        buf = np.ones(BANDWIDTH_BYTES // 8)
        out = np.empty_like(buf)
        comm.Allreduce(buf, out)   # warm-up
        times = []
        for _ in range(5):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(buf, out)
            times.append(time.perf_counter() - t)
        result["allreduce_40MB_s"] = {"median": _median(times), "best": min(times)}
    if rank == 0:
        with open(args.worker, "w") as f:
            json.dump(result, f)


def _load():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def _run(cmd, out, timeout):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    src = os.path.join(os.path.dirname(HERE), "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        sys.exit(f"benchmarks/distributed.py: {' '.join(cmd[:6])} ... failed:\n{r.stderr[-2000:]}")
    with open(out) as f:
        return json.load(f)


def estimate(one, two, ranks=(2, 4, 8, 16)):
    """Speed-ups on paper at 10 Gb/s (see the module docstring for the formulas)."""
    g = one["gradient_bytes"]
    by_batch = one["compute_by_batch"]
    rows = []
    for p in ranks:
        comm = 2 * (p - 1) / p * g / NETWORK_BYTES_PER_S + 2 * (p - 1) * LATENCY_S
        strong = by_batch[str(GLOBAL_BATCH // p)] + comm
        weak = by_batch[str(GLOBAL_BATCH)] + comm
        rows.append({"ranks": p, "t_comm_s": comm, "strong_step_s": strong,
                     "strong_speedup": by_batch[str(GLOBAL_BATCH)] / strong,
                     "weak_step_s": weak, "weak_speedup": p * by_batch[str(GLOBAL_BATCH)] / weak})
    return rows


def report(one, two, est, machine):
    ms = 1e3
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, load average {machine['load_before']} "
             f"before / {machine['load_after']} after; Python {machine['python']}, Open MPI {machine['mpi']}.",
             f"Model: `chainrule train --model cnn` on {one['dataset']}, {one['parameters']:,} parameters "
             f"({one['gradient_bytes'] / 1e3:.1f} kB of float32 gradients), Adam, global batch {GLOBAL_BATCH}, "
             f"median of {one['steps']} steps after warm-up, one BLAS thread a rank.", "",
             "| ranks | batch a rank | step (ms) | steps/s | samples/s | compute (ms) | compute, CPU (ms) | "
             "wait (ms) | Allreduce (ms) | Allreduce share |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in (one, two):
        m = r["median"]
        lines.append(f"| {r['ranks']} | {r['per_rank_batch']} | {m['step'] * ms:.2f} | {1 / m['step']:.1f} | "
                     f"{GLOBAL_BATCH / m['step']:.0f} | {m['compute'] * ms:.2f} | {m['compute_cpu'] * ms:.2f} | "
                     f"{m['wait'] * ms:.2f} | "
                     f"{m['allreduce'] * ms:.3f} | {m['allreduce'] / m['step']:.1%} |")
    bw = two["allreduce_40MB_s"]
    lines += ["", f"40 MB float64 Allreduce, 2 ranks: median {bw['median'] * ms:.1f} ms, best {bw['best'] * ms:.1f} ms "
              f"= {BANDWIDTH_BYTES / bw['median'] / 1e9:.2f} GB/s algorithm bandwidth (bytes / time; bus bandwidth "
              f"2(p-1)/p x that = the same at p = 2).", "",
              "Compute of one step (CPU time, 1 process) at the batch a rank gets: " + ", ".join(
                  f"batch {b}: {t * ms:.2f} ms" for b, t in one["compute_by_batch"].items()), "",
              f"On paper, {NETWORK_BYTES_PER_S * 8 / 1e9:.0f} Gb/s between machines, ring Allreduce, "
              f"{LATENCY_S * 1e6:.0f} µs a message: t_comm = 2(p-1)/p x {one['gradient_bytes']:,} B / "
              f"{NETWORK_BYTES_PER_S / 1e9:.2f} GB/s + 2(p-1) x {LATENCY_S * 1e6:.0f} µs.", "",
              "| ranks | t_comm (ms) | same global batch 64: step (ms) | speed-up | 64 a rank: step (ms) | "
              "speed-up |", "|---|---|---|---|---|---|"]
    for e in est:
        lines.append(f"| {e['ranks']} | {e['t_comm_s'] * ms:.3f} | {e['strong_step_s'] * ms:.2f} | "
                     f"{e['strong_speedup']:.2f} | {e['weak_step_s'] * ms:.2f} | {e['weak_speedup']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits", choices=("digits", "fashion_mnist"))
    ap.add_argument("--steps", type=int, default=30, help="timed steps a run (default 30)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", help="write the measurements and the estimate here")
    ap.add_argument("--md", help="write the report (Markdown) here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("benchmarks/distributed.py: mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
    me = [sys.executable, os.path.abspath(__file__), "--dataset", args.dataset, "--steps", str(args.steps),
          "--warmup", str(args.warmup), "--worker"]
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(me + [f"{tmp}/1.json"], f"{tmp}/1.json", 600)
        two = _run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", *me, f"{tmp}/2.json"],
                   f"{tmp}/2.json", 600)
    mpi = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python":
               platform.python_version(), "mpi": mpi.split()[-1] if mpi else "?", "load_before": load_before,
               "load_after": _load(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    est = estimate(one, two)
    text = report(one, two, est, machine)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "one_rank": one, "two_ranks": two, "estimate": est}, f, indent=2)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
