"""Run by tests/test_distributed.py under `mpirun -np 2` (and once alone): a few data-parallel SGD steps
of a small float64 MLP; writes each rank's parameters after every step to OUTDIR/params_rank{r}.npz.

usage: python tests/mpi_worker.py OUTDIR MODE   (MODE: train | fail | mismatch)"""

import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist

outdir, mode = sys.argv[1], sys.argv[2]
comm = dist.init()
GLOBAL_BATCH, STEPS = 8, 4

cr.manual_seed(0)
width = 7 if (mode == "mismatch" and comm.rank == 1) else 6
model = cr.nn.Sequential(cr.nn.Linear(5, width, dtype=cr.float64), cr.nn.Tanh(),
                         cr.nn.Linear(width, 3, dtype=cr.float64))
if comm.rank == 1:  # start the ranks from different weights: broadcast_parameters must fix that
    for p in model.parameters():
        p._data[...] += 1.0
dist.broadcast_parameters(model)
opt = dist.DistributedOptimizer(cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
loss_fn = cr.nn.CrossEntropyLoss()

rng = np.random.default_rng(1)
X = rng.normal(size=(32, 5))
y = rng.integers(0, 3, size=32)
sampler = dist.DistributedSampler(range(len(X)), shuffle=True, seed=3)
per_rank = GLOBAL_BATCH // comm.size
snapshots = {}
for step in range(STEPS):
    sampler.set_epoch(step)
    idx = list(sampler)[:per_rank]
    if mode == "fail" and comm.rank == 1 and step == 1:
        raise RuntimeError("deliberate failure on rank 1")
    opt.zero_grad()
    loss = loss_fn(model(cr.tensor(X[idx])), cr.tensor(y[idx]))
    loss.backward()
    opt.step()
    for name, p in model.named_parameters():
        snapshots[f"{step}/{name}"] = p._data.copy()
    snapshots[f"{step}/loss"] = np.array(dist.allreduce_mean(float(loss.item())))
np.savez(f"{outdir}/params_rank{comm.rank}_size{comm.size}.npz", **snapshots)
