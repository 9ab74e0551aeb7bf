"""Run by tests/test_hostile_distributed.py under `mpirun -np 2`: `chainrule train --distributed` on digits,
where rank 1's copy of the training set (only rank 1's) has NaN pixels in rows it first meets in its first
batch of epoch 2. So epoch 1 completes everywhere, then rank 1's loss is NaN at epoch 2, step 1 while
rank 0's is finite: the ranks must agree to stop there, and rank 0 must write the final summary.

usage: python tests/hostile_mpi_worker.py OUTDIR [chainrule train options]"""

import sys

import numpy as np

import chainrule.cli.train as cli_train
import chainrule.distributed as dist
from chainrule.cli import main

comm = dist.init()
load_data = cli_train.load_data
BATCH = 64


def poisoned(*args, **kwargs):
    split = load_data(*args, **kwargs)
    if comm.rank == 1:
        sampler = dist.DistributedSampler(split.train, num_replicas=comm.size, rank=1, seed=0)
        sampler.set_epoch(1)
        first_epoch = set(sampler)
        sampler.set_epoch(2)
        rows = [i for i in list(sampler)[:BATCH // comm.size] if i not in first_epoch]
        assert rows, "no row of rank 1's first batch in epoch 2 is new to it"
        x = split.train.arrays[0]
        x = x if isinstance(x, np.ndarray) else x._data
        x[rows] = np.nan
    return split


cli_train.load_data = poisoned
sys.exit(main(["train", "--distributed", "--dataset", "digits", "--hidden", "16", "--epochs", "3",
               "--batch-size", str(BATCH), "--no-progress", "--out", sys.argv[1], *sys.argv[2:]]))
