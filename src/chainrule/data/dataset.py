"""Datasets and the loader that batches them (PyTorch's names: Dataset, TensorDataset, DataLoader).

A loader asks its dataset for a whole batch at once through `__getitems__(indices)` when the
dataset has it (TensorDataset and Subset do: one fancy-index per array), and otherwise fetches
items one by one and stacks them.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..core import unwrap, wrap
from ..ops.dtypes import rng


class Dataset:
    """A map from an index in `range(len(ds))` to one example (usually a tuple `(x, y)`)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def _as_array(t):
    return np.asarray(unwrap(t))


class TensorDataset(Dataset):
    """Examples are rows of the given arrays (or Tensors): `ds[i] == (a[i], b[i], ...)`.

    Every array must have the same first dimension. Items come back as Tensors.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one array")
        arrays = tuple(_as_array(t) for t in tensors)
        for a in arrays:
            if a.ndim == 0:
                raise ValueError("TensorDataset: arrays must have a first (example) dimension, got a scalar")
        sizes = [len(a) for a in arrays]
        if len(set(sizes)) != 1:
            shapes = [a.shape for a in arrays]
            raise ValueError(f"TensorDataset: arrays differ in their first dimension: shapes {shapes}")
        self.arrays = arrays

    @property
    def tensors(self):
        return tuple(wrap(a, None) for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        if isinstance(index, numbers.Integral):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"TensorDataset: index {index} is out of range for {n} examples")
        return tuple(wrap(a[index], None) for a in self.arrays)

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.intp)
        n = len(self)
        if indices.size and (indices.max() >= n or indices.min() < -n):  # (a sampler's, say)
            bad = indices[(indices >= n) | (indices < -n)][0]
            raise IndexError(f"TensorDataset: index {bad} is out of range for {n} examples")
        return tuple(wrap(a[indices], None) for a in self.arrays)

    def __repr__(self):
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({len(self)} examples: {shapes})"


class Subset(Dataset):
    """The examples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        n = len(dataset)
        if len(self.indices) and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in range({n}), got values from "
                             f"{self.indices.min()} to {self.indices.max()}")

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        inner = self.indices[np.asarray(indices, dtype=np.intp)]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(inner)
        return default_collate([self.dataset[int(i)] for i in inner])

    @property
    def arrays(self):
        """The subset's rows of the underlying arrays (TensorDataset underneath only)."""
        return tuple(a[self.indices] for a in self.dataset.arrays)


def random_split(dataset, lengths, seed=0):
    """Split `dataset` into non-overlapping Subsets of the given lengths (or fractions summing to 1).

    The same seed gives the same split.
    """
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) for x in lengths):
        if abs(sum(lengths) - 1.0) > 1e-6 or min(lengths) < 0:
            raise ValueError(f"random_split: fractions must be >= 0 and sum to 1, got {lengths}")
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):  # hand the remainder out round-robin, like PyTorch
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n or min(lengths) < 0:
        raise ValueError(f"random_split: lengths {lengths} must be >= 0 and sum to the dataset's length {n}")
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out


def default_collate(items):
    """Stack a list of examples into a batch: tuples field by field, numbers and arrays along axis 0."""
    first = items[0]
    if isinstance(first, (tuple, list)):
        return tuple(default_collate([it[k] for it in items]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([it[k] for it in items]) for k in first}
    return wrap(np.stack([_as_array(it) for it in items]), None)


class Sampler:
    """An iterable of dataset indices (PyTorch's Sampler); subclasses define __iter__ and __len__."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new permutation of the indices at every iteration, drawn from `generator` (a chainrule or
    NumPy generator), else from the one `cr.manual_seed` seeds (so runs repeat)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement, self.generator = data_source, bool(replacement), generator
        self._num = num_samples
        if num_samples is not None and (not isinstance(num_samples, numbers.Integral) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive integer, got {num_samples!r}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num is None else int(self._num)

    def __iter__(self):
        r = rng(self.generator)
        n = len(self.data_source)
        if self.replacement:
            return iter(r.integers(0, n, size=self.num_samples).tolist())
        k, out = self.num_samples, []
        while len(out) < k:
            out += r.permutation(n).tolist()
        return iter(out[:k])

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size`."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), bool(drop_last)

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class _SeededOrder(Sampler):
    """A permutation per epoch from a generator seeded once with `seed` (chainrule's `seed=`)."""

    def __init__(self, data_source, seed):
        self.data_source, self.rng = data_source, np.random.default_rng(seed)

    def __iter__(self):
        return iter(self.rng.permutation(len(self.data_source)).tolist())

    def __len__(self):
        return len(self.data_source)


class DataLoader:
    """Iterate over a dataset in batches (PyTorch's DataLoader and arguments).

    shuffle: a new order every epoch (every `iter(loader)`), drawn from `generator`, or from the
    generator `cr.manual_seed` seeds, or (chainrule's `seed=`) from one seeded once with `seed`: a run
    with the same seed sees the same batches in the same order.
    sampler / batch_sampler: any iterable of indices / of lists of indices.
    drop_last: skip the last batch when it is smaller than `batch_size`.
    Batches are loaded in the calling process: num_workers, pin_memory and the worker options are
    accepted and have no effect.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, seed=None):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, sampler "
                                 "and drop_last")
            batch_size = None
        elif batch_size is not None and (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                                         or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle")
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got {num_workers!r}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed, self.generator, self.num_workers = seed, generator, int(num_workers)
        self.collate_fn = collate_fn
        if sampler is None:
            if not self.shuffle:
                sampler = SequentialSampler(dataset)
            elif seed is not None:
                sampler = _SeededOrder(dataset, seed)
            else:
                sampler = RandomSampler(dataset, generator=generator)
        self.sampler = sampler
        if batch_sampler is None and self.batch_size is not None:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.batch_sampler = batch_sampler

    def __len__(self):
        return len(self.sampler) if self.batch_sampler is None else len(self.batch_sampler)

    def _fetch(self, idx):
        if self.collate_fn is None and hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(idx)
        items = [self.dataset[int(i)] for i in idx]
        return (self.collate_fn or default_collate)(items)

    def __iter__(self):
        if self.batch_sampler is None:  # batch_size=None: one example at a time, not collated (as PyTorch)
            for i in self.sampler:
                yield self.dataset[int(i)] if self.collate_fn is None else self.collate_fn(self.dataset[int(i)])
            return
        for batch in self.batch_sampler:
            yield self._fetch(np.asarray(batch, dtype=np.intp))

    def __repr__(self):
        return (f"DataLoader({len(self.dataset)} examples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")
