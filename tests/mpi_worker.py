"""Run by tests/test_distributed.py under `mpirun -np 2` (and once alone): a few data-parallel steps of a
small float64 MLP; writes each rank's parameters after every step to OUTDIR/params_rank{r}_size{n}.npz.

usage: python tests/mpi_worker.py OUTDIR MODE

MODE: train     SGD with momentum from rank 0's weights
      fail      rank 1 raises in step 1 (the job must end, showing its error)
      mismatch  rank 1's model has another width (broadcast_parameters must name the difference)
      save      (one process) 2 Adam steps of the MLP with a BatchNorm1d, then OUTDIR/resume.safetensors:
                model (with BatchNorm's running statistics) and optimizer state
      resume    rank 0 loads resume.safetensors, the other ranks start fresh; broadcast_parameters and
                broadcast_optimizer_state must make every rank equal before 3 more Adam steps (in eval
                mode: BatchNorm uses the running statistics); the Adam moments and the BatchNorm buffers
                are written with the parameters"""

import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist

outdir, mode = sys.argv[1], sys.argv[2]
comm = dist.init()
GLOBAL_BATCH = 8

cr.manual_seed(0)
width = 7 if (mode == "mismatch" and comm.rank == 1) else 6
norm = [cr.nn.BatchNorm1d(width, dtype=cr.float64)] if mode in ("save", "resume") else []
model = cr.nn.Sequential(cr.nn.Linear(5, width, dtype=cr.float64), *norm, cr.nn.Tanh(),
                         cr.nn.Linear(width, 3, dtype=cr.float64))
unused = cr.nn.Linear(5, 2, dtype=cr.float64)  # optimized, never in the forward: no rank has its gradient
params = {**dict(model.named_parameters()), **{f"unused.{k}": p for k, p in unused.named_parameters()}}
if comm.rank == 1:  # start the ranks from different weights: broadcast_parameters must fix that
    for p in params.values():
        p._data[...] += 1.0
if mode in ("save", "resume"):
    opt = cr.optim.Adam(model.parameters(), lr=0.05)
else:  # (weight decay would move `unused` if it got a zero gradient instead of none)
    opt = cr.optim.SGD(list(params.values()), lr=0.1, momentum=0.9, weight_decay=0.01)
first_step, steps = {"save": (0, 2), "resume": (2, 3)}.get(mode, (0, 4))
if mode == "resume" and comm.rank == 0:
    saved = cr.load(f"{outdir}/resume.safetensors")
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optim"])
if mode == "resume":  # BatchNorm normalizes with its running statistics, which only rank 0 read
    model.eval()
dist.broadcast_parameters(model)   # (and its buffers)
dist.broadcast_parameters(unused)
if mode == "resume":
    dist.broadcast_optimizer_state(opt)
opt = dist.DistributedOptimizer(opt)
loss_fn = cr.nn.CrossEntropyLoss()

rng = np.random.default_rng(1)
X = rng.normal(size=(32, 5))
y = rng.integers(0, 3, size=32)
sampler = dist.DistributedSampler(range(len(X)), shuffle=True, seed=3)
per_rank = GLOBAL_BATCH // comm.size
snapshots = {}


def snapshot(tag):
    for name, p in params.items():
        snapshots[f"{tag}/{name}"] = p._data.copy()
        for k, v in opt.state.get(p, {}).items():
            snapshots[f"{tag}/{name}/{k}"] = np.array(v)
    for name, b in model.named_buffers():
        snapshots[f"{tag}/{name}"] = b.copy()


if mode == "resume":
    snapshot("start")
for step in range(first_step, first_step + steps):
    sampler.set_epoch(step)
    idx = list(sampler)[:per_rank]
    if mode == "fail" and comm.rank == 1 and step == 1:
        raise RuntimeError("deliberate failure on rank 1")
    opt.zero_grad()
    loss = loss_fn(model(cr.tensor(X[idx])), cr.tensor(y[idx]))
    loss.backward()
    opt.step()
    snapshot(step)
    snapshots[f"{step}/loss"] = np.array(dist.allreduce_mean(float(loss.item())))
if mode == "save":
    cr.save({"model": model.state_dict(), "optim": opt.state_dict()}, f"{outdir}/resume.safetensors")
np.savez(f"{outdir}/params_rank{comm.rank}_size{comm.size}.npz", **snapshots)
