"""A PyTorch-style training loop made data parallel with chainrule.distributed (the lines marked `dist`).

    python examples/distributed_digits.py                                   # one process
    mpirun -np 2 python examples/distributed_digits.py                       # two ranks, same global batch
    mpirun --allow-run-as-root --oversubscribe -np 2 python examples/distributed_digits.py   # as root / 1 core

Only rank 0 prints. Every rank ends with the same weights; rank 0 prints their checksum, which equals
the single-process run's up to float32 rounding (the ranks see the same global batches).
"""

import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist

GLOBAL_BATCH = 64


def main(epochs=3):
    comm = dist.init()                                          # dist: MPI world, or size 1 without mpirun
    split = cr.data.load("digits", seed=0)
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(64, 128), cr.nn.ReLU(), cr.nn.Linear(128, 10))
    dist.broadcast_parameters(model)                            # dist: every rank starts from rank 0's weights
    opt = dist.DistributedOptimizer(cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))   # dist
    sampler = dist.DistributedSampler(split.train, seed=0)      # dist: this rank's share of every epoch
    loader = cr.data.DataLoader(split.train, batch_size=GLOBAL_BATCH // comm.size, sampler=sampler)
    x_test, y_test = split.test.arrays
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        total, n = 0.0, 0
        for x, y in loader:
            opt.zero_grad()
            loss = cr.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(y), n + len(y)
        train_loss = dist.allreduce_mean(total / n, weight=n)   # dist: the mean over every rank's samples
        with cr.no_grad():
            accuracy = float((model(cr.tensor(x_test)).data.argmax(1) == np.asarray(y_test)).mean())
        if dist.is_primary():
            print(f"epoch {epoch + 1}: train loss {train_loss:.4f}, test accuracy {accuracy:.3f}")
    checksum = sum(float(np.abs(p.data).sum()) for p in model.parameters())
    if dist.is_primary():
        print(f"world size {comm.size}, weights checksum {checksum:.6f}")
    return {"world_size": comm.size, "train_loss": train_loss, "test_accuracy": accuracy, "checksum": checksum}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
