"""Data-parallel training over MPI (mpi4py + Open MPI), in the style of Horovod and torch.distributed.

    import chainrule.distributed as dist
    comm = dist.init()                      # MPI world under mpirun, a size-1 local communicator otherwise
    dist.broadcast_parameters(model)        # every rank starts from rank 0's weights
    opt = dist.DistributedOptimizer(opt)    # step() first averages gradients across ranks

Gradients are averaged in a few large buffers (buckets of `bucket_bytes`), one Allreduce per bucket.
"""

import math
import os
import sys
import traceback

import numpy as np

from ..core.tensor import TensorBase
from ..nn.module import Module

MPI = None  # the mpi4py.MPI module, imported by init() only under mpirun (importing it initializes MPI)

INSTALL_HINT = ("install Open MPI and mpi4py: `apt-get install openmpi-bin libopenmpi-dev` then "
                "`pip install mpi4py`, and start the job with `mpirun -np N ...`")

__all__ = ["init", "rank", "size", "is_primary", "broadcast_parameters", "broadcast_optimizer_state",
           "allreduce_gradients", "allreduce_mean", "DistributedOptimizer", "DistributedSampler",
           "LocalComm", "INSTALL_HINT", "under_mpirun", "in_job", "end_rank", "agree_step", "barrier"]


class LocalComm:
    """The one-rank communicator used when not under MPI: collectives are identities."""

    rank = 0
    size = 1

    def Allreduce(self, sendbuf, recvbuf, op=None):
        recv = recvbuf if not isinstance(recvbuf, (list, tuple)) else recvbuf[0]
        send = sendbuf if not isinstance(sendbuf, (list, tuple)) else sendbuf[0]
        if send is not getattr(MPI, "IN_PLACE", object()) and send is not recv:
            recv[...] = send

    def bcast(self, obj, root=0):
        return obj

    def allgather(self, obj):
        return [obj]

    def Bcast(self, buf, root=0):
        pass

    def Abort(self, code=1):
        os._exit(code)


_comm = None


def under_mpirun():
    """True when Open MPI / MPICH / PMIx launched this process with more than one rank."""
    for k in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if int(os.environ.get(k, "1") or 1) > 1:
            return True
    return False


def init(require=False):
    """The world communicator: MPI.COMM_WORLD under mpirun with size > 1, else a LocalComm.

    require=True raises a RuntimeError (with how to install MPI) when no multi-rank MPI world is available."""
    global _comm, MPI
    if _comm is not None:
        return _comm
    if not under_mpirun():
        if require:
            raise RuntimeError("chainrule.distributed: not started by mpirun with several ranks (world size is "
                               f"1); {INSTALL_HINT}")
        _comm = LocalComm()
        return _comm
    try:
        from mpi4py import MPI as mpi_module
    except ModuleNotFoundError as e:
        if e.name != "mpi4py":
            raise
        raise RuntimeError(f"chainrule.distributed: mpi4py is not installed; {INSTALL_HINT}") from None
    except (ImportError, RuntimeError, OSError) as e:  # a source build's libmpi.so, or a wheel's dlopen, failed
        why = "; ".join(str(e).splitlines())
        raise RuntimeError(f"chainrule.distributed: mpi4py cannot load the MPI library ({why}); "
                           f"{INSTALL_HINT}") from None
    MPI = mpi_module
    _comm = MPI.COMM_WORLD
    _abort_on_uncaught(_comm)
    return _comm


def _abort_on_uncaught(comm):
    """An uncaught exception on one rank would leave the others blocked in a collective forever:
    print it, tagged with the rank, and abort the whole MPI job."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        sys.stderr.write(f"[rank {comm.rank}] " + "".join(traceback.format_exception(kind, value, tb)))
        sys.stderr.flush()
        if previous is not sys.__excepthook__:
            previous(kind, value, tb)
        comm.Abort(1)

    sys.excepthook = hook


def in_job():
    """True once init() joined an MPI world of more than one rank."""
    return _comm is not None and _comm.size > 1


def end_rank(code):
    """This rank's exit status. A rank that ends with a failure (any non-zero status, an interrupt of
    this process alone too) aborts the whole MPI job, as an uncaught exception does: leaving normally
    would have it wait in MPI's finalize and the others in their next collective, forever."""
    if code and in_job():
        sys.stdout.flush()
        sys.stderr.flush()
        _comm.Abort(code)
    return code


def rank():
    return init().rank


def size():
    return init().size


def is_primary():
    """Rank 0 alone prints progress and writes files."""
    return init().rank == 0


def _params(module_or_params):
    if isinstance(module_or_params, Module):
        return list(module_or_params.named_parameters())
    if isinstance(module_or_params, dict):
        return list(module_or_params.items())
    return [(str(i), p) for i, p in enumerate(module_or_params)]


def broadcast_parameters(module_or_params, root=0, comm=None):
    """Copy root's parameter values into every rank's, in place, and a Module's buffers too (BatchNorm's
    running statistics: after a resume only root has them). First check that all ranks hold the same
    names and shapes, raising a ValueError naming the first difference."""
    comm = comm or init()
    named = [(n, p, p._data) for n, p in _params(module_or_params)]
    if isinstance(module_or_params, Module):
        named += [(f"buffer {n}", None, b) for n, b in module_or_params.named_buffers()]
    layout = [(n, tuple(a.shape), str(a.dtype)) for n, _, a in named]
    layouts = comm.allgather(layout)
    for r, other in enumerate(layouts):
        if other == layouts[root]:
            continue
        for i in range(max(len(other), len(layouts[root]))):
            a = layouts[root][i] if i < len(layouts[root]) else None
            b = other[i] if i < len(other) else None
            if a != b:
                raise ValueError(f"broadcast_parameters: rank {r}'s model differs from rank {root}'s at parameter "
                                 f"#{i}: rank {root} has {a}, rank {r} has {b}")
    for _, p, arr in named:
        buf = np.ascontiguousarray(arr)
        comm.Bcast(buf, root=root)
        if buf is not arr:
            arr[...] = buf
        if p is not None:
            p.bump_version()


def broadcast_optimizer_state(optimizer, root=0, comm=None):
    """Make every rank's optimizer state (moments, step counts, hyper-parameters) equal root's."""
    comm = comm or init()
    sd = comm.bcast(optimizer.state_dict() if comm.rank == root else None, root=root)
    optimizer.load_state_dict(sd)


def _grad_array(p):
    g = p._grad
    if g is None:
        return None
    return g._data if isinstance(g, TensorBase) else np.asarray(g)


def allreduce_gradients(params, comm=None, bucket_bytes=4 << 20):
    """Average the gradients of `params` across ranks in place. Gradients are packed, by dtype, into
    buckets of about `bucket_bytes`; each bucket is one Allreduce. Returns the number of Allreduce calls.
    Every rank must pass the same parameters (broadcast_parameters checks that). A parameter without a
    gradient on some rank counts as a zero gradient there; one without a gradient on every rank keeps
    None, so the optimizer skips it as it would in one process (each bucket carries a has-gradient flag
    per parameter for that, summed in the same Allreduce)."""
    comm = comm or init()
    if comm.size == 1:
        return 0
    params = [p for _, p in _params(params)]
    calls = 0
    bucket, nbytes = [], 0

    def flush(bucket):
        dtype = bucket[0]._data.dtype
        grads = [_grad_array(p) for p in bucket]
        parts = [(g if g is not None else np.zeros(p.shape, dtype)).astype(dtype, copy=False).ravel()
                 for p, g in zip(bucket, grads)]
        flat = np.concatenate(parts + [np.array([g is not None for g in grads], dtype)])
        out = np.empty_like(flat)
        comm.Allreduce(flat, out)  # (op defaults to SUM)
        had_grad = out[-len(bucket):] > 0   # on some rank
        out /= comm.size
        off = 0
        for p, anywhere in zip(bucket, had_grad):
            n = p._data.size
            p._grad = out[off:off + n].reshape(p._data.shape) if anywhere else None
            off += n

    for p in params:
        if bucket and (p._data.dtype != bucket[0]._data.dtype or nbytes + p._data.nbytes > bucket_bytes):
            flush(bucket)
            calls += 1
            bucket, nbytes = [], 0
        bucket.append(p)
        nbytes += p._data.nbytes
    if bucket:
        flush(bucket)
        calls += 1
    return calls


def allreduce_mean(value, comm=None, weight=1.0):
    """The weighted mean of a number (loss, accuracy) across ranks, for reporting."""
    comm = comm or init()
    if comm.size == 1:
        return float(value)
    buf = np.array([float(value) * weight, float(weight)])
    out = np.empty_like(buf)
    comm.Allreduce(buf, out)
    return float(out[0] / out[1])


def agree_step(loss, stop, comm=None):
    """One training step's agreement across ranks, before its update: (how many ranks have a non-finite
    loss, their losses summed (nan or inf), has any rank been asked to stop). All ranks then stop at the
    same step, or none: a rank that stopped alone would leave the others waiting in their next collective
    and rank 0's summary unwritten."""
    comm = comm or init()
    bad = not math.isfinite(loss)
    if comm.size == 1:
        return int(bad), (loss if bad else 0.0), bool(stop)
    buf = np.array([float(bad), loss if bad else 0.0, float(bool(stop))])
    out = np.empty_like(buf)
    comm.Allreduce(buf, out)
    return int(out[0]), float(out[1]), out[2] > 0


def barrier(comm=None):
    comm = comm or init()
    if comm.size > 1:
        comm.Barrier()


class DistributedOptimizer:
    """Wraps an optimizer: step() averages gradients across ranks, then steps. Everything else delegates."""

    def __init__(self, optimizer, comm=None, bucket_bytes=4 << 20):
        self.optimizer, self.comm, self.bucket_bytes = optimizer, comm or init(), bucket_bytes

    def step(self):
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        allreduce_gradients(params, self.comm, self.bucket_bytes)
        return self.optimizer.step()

    def __getattr__(self, name):
        return getattr(self.optimizer, name)


class DistributedSampler:
    """This rank's share of a dataset's indices: every index once per epoch across ranks (the index list
    is padded by wrapping so ranks get equal counts). set_epoch(e) reshuffles with seed + e."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.n = len(dataset)
        self.num_replicas = init().size if num_replicas is None else int(num_replicas)
        self.rank = init().rank if rank is None else int(rank)
        if self.num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be at least 1, not {self.num_replicas}")
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} not in [0, {self.num_replicas})")
        self.shuffle, self.seed, self.drop_last, self.epoch = bool(shuffle), int(seed), bool(drop_last), 0
        if drop_last:
            self.per_rank = self.n // self.num_replicas
        else:
            self.per_rank = -(-self.n // self.num_replicas)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.per_rank

    def __iter__(self):
        order = (np.random.default_rng(self.seed + self.epoch).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        total = self.per_rank * self.num_replicas
        order = np.resize(order, total)  # drops the tail (drop_last) or pads by wrapping, as often as needed
        return iter(order[self.rank:total:self.num_replicas].tolist())
