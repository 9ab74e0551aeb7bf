"""Tensor factories with PyTorch's names and signatures: zeros, ones, full, empty, eye, arange,
linspace, rand, randn, randint, randperm, normal, the `*_like` forms, from_numpy and as_tensor.

Sizes are given as PyTorch takes them (`zeros(2, 3)`, `zeros((2, 3))`, `zeros(size=(2, 3))`). Float
results have the default dtype (float64 unless `cr.set_default_dtype` changed it); random ones
are drawn from `cr.manual_seed`'s generator, or from `generator=`.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from .. import backend as be
from ..core import TensorBase, unwrap, wrap
from .dtypes import check_device, defaults, float_dtype, rng, to_dtype
from .tensor import Tensor


def _size(size, opname, given=None):
    if given is not None:
        if size:
            raise TypeError(f"{opname}: give the size once (as arguments or as size=)")
        size = (given,)
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = size[0]
    if isinstance(size, numbers.Integral):
        size = (size,)
    try:
        size = tuple(size)
    except TypeError:
        raise TypeError(f"{opname}: size must be ints or a tuple of ints, got {size!r}") from None
    if not builtins.all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in size):
        raise TypeError(f"{opname}: size must be ints or a tuple of ints, got {size!r}")
    if builtins.any(n < 0 for n in size):
        raise ValueError(f"{opname}: sizes must be non-negative, got {size}")
    return tuple(int(n) for n in size)


def _make(arr, requires_grad, device, opname):
    """A leaf around the NumPy array `arr`, copied to `device` if that is not the CPU (so random
    factories give the same numbers on every device)."""
    dev = check_device(device, opname)
    if requires_grad and arr.dtype.kind not in "fc":
        raise TypeError(f"{opname}: requires_grad=True needs a floating-point dtype, got {arr.dtype}")
    t = wrap(arr[()] if arr.ndim == 0 and dev.type == "cpu" else be.to_device(arr, dev), None)
    t.requires_grad = bool(requires_grad)
    return t


def _allocated(opname, size, make):
    """make() (an array of `size`), with NumPy's errors for too large a size said in the op's name."""
    try:
        return make()
    except (MemoryError, ValueError) as e:
        if "too big" not in str(e) and not isinstance(e, MemoryError):
            raise
        raise MemoryError(f"{opname}: cannot allocate an array of size {size} ({e})") from None


def _filled(opname, value, size, dtype, requires_grad, device):
    arr = _allocated(opname, size, lambda: np.full(size, value, dtype=float_dtype(dtype, opname)))
    return _make(arr, requires_grad, device, opname)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled("zeros", 0, _size(sizes, "zeros", size), dtype, requires_grad, device)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled("ones", 1, _size(sizes, "ones", size), dtype, requires_grad, device)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    size = _size(sizes, "empty", size)
    arr = _allocated("empty", size, lambda: np.empty(size, dtype=float_dtype(dtype, "empty")))
    return _make(arr, requires_grad, device, "empty")


def _fill_dtype(value):
    """PyTorch's dtype for a fill value: bool, int64, or the default float."""
    v = unwrap(value)
    if isinstance(v, (np.ndarray, np.generic)):
        return v.dtype
    if isinstance(v, bool):
        return np.dtype(bool)
    if isinstance(v, numbers.Integral):
        return np.dtype(np.int64)
    return defaults.dtype


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    v = unwrap(fill_value)
    if not isinstance(v, (numbers.Number, np.generic)) and not (isinstance(v, np.ndarray) and v.ndim == 0):
        raise TypeError(f"full: fill_value must be a number, got {fill_value!r:.60}")
    dtype = _fill_dtype(fill_value) if dtype is None else to_dtype(dtype, "full")
    size = _size((size,), "full")
    arr = _allocated("full", size, lambda: np.full(size, v, dtype=dtype))
    return _make(arr, requires_grad, device, "full")


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=float_dtype(dtype, "eye")), requires_grad, device, "eye")


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """arange(end), arange(start, end), arange(start, end, step): int64 when all are integers,
    otherwise the default float dtype (as PyTorch)."""
    if end is None:
        start, end = 0, start
    vals = [unwrap(v) for v in (start, end, step)]
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        dtype = np.int64 if builtins.all(isinstance(v, numbers.Integral) for v in vals) else defaults.dtype
    return _make(np.arange(*vals, dtype=to_dtype(dtype, "arange")), requires_grad, device, "arange")


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    arr = np.linspace(unwrap(start), unwrap(end), int(steps), dtype=np.float64).astype(float_dtype(dtype, "linspace"))
    return _make(arr, requires_grad, device, "linspace")


def _float_for_random(dtype, opname):
    d = float_dtype(dtype, opname)
    if d.kind != "f":
        raise TypeError(f"{opname}: needs a floating-point dtype, got {d}")
    return d


def rand(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    d = _float_for_random(dtype, "rand")
    arr = rng(generator).random(_size(sizes, "rand", size)).astype(d, copy=False)
    return _make(np.asarray(arr), requires_grad, device, "rand")


def randn(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    d = _float_for_random(dtype, "randn")
    arr = rng(generator).standard_normal(_size(sizes, "randn", size)).astype(d, copy=False)
    return _make(np.asarray(arr), requires_grad, device, "randn")


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers in [low, high): randint(high, size) or randint(low, high, size)."""
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint: give randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    arr = rng(generator).integers(low, high, size=_size((size,), "randint"))
    return _make(np.asarray(arr, dtype=np.int64 if dtype is None else to_dtype(dtype, "randint")), requires_grad,
                 device, "randint")


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    arr = rng(generator).permutation(int(n))
    return _make(arr.astype(np.int64 if dtype is None else to_dtype(dtype, "randperm")), requires_grad, device,
                 "randperm")


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Normal samples: normal(mean, std, size) with numbers, or mean and std as tensors (the result
    has their broadcast shape). The samples are constants: no gradient flows to mean or std."""
    m, s = np.asarray(unwrap(mean)), np.asarray(unwrap(std))
    if (s < 0).any():
        raise ValueError(f"normal: std must be non-negative, got {unwrap(std)!r:.40}")
    shape = np.broadcast_shapes(m.shape, s.shape) if size is None else _size((size,), "normal")
    d = _float_for_random(dtype if dtype is not None or m.dtype.kind != "f" else m.dtype if m.ndim else None,
                          "normal")
    arr = (m + s * rng(generator).standard_normal(shape)).astype(d)
    return _make(np.asarray(arr), requires_grad, device, "normal")


# -- *_like ---------------------------------------------------------------------------------------------

def _like(x, dtype, device=None):
    """The shape and dtype of `x` (or `dtype`), and the device: `device`, else x's own."""
    a = unwrap(x)
    if be.backend_of(a) is not None:
        d = be.backend_of(a).np_dtype(a.dtype) if dtype is None else to_dtype(dtype, "like")
        return tuple(a.shape), d, be.device_of(a) if device is None else device
    a = np.asarray(a)
    return a.shape, (a.dtype if dtype is None else to_dtype(dtype, "like")), device


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, d, device = _like(input, dtype, device)
    return _make(np.zeros(shape, d), requires_grad, device, "zeros_like")


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, d, device = _like(input, dtype, device)
    return _make(np.ones(shape, d), requires_grad, device, "ones_like")


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, d, device = _like(input, dtype, device)
    return _make(np.empty(shape, d), requires_grad, device, "empty_like")


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    shape, d, device = _like(input, dtype, device)
    return _make(np.full(shape, unwrap(fill_value), d), requires_grad, device, "full_like")


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    shape, d, device = _like(input, dtype, device)
    return rand(shape, generator=generator, dtype=d, device=device, requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    shape, d, device = _like(input, dtype, device)
    return randn(shape, generator=generator, dtype=d, device=device, requires_grad=requires_grad)


# -- from arrays ---------------------------------------------------------------------------------------

def from_numpy(ndarray):
    """A Tensor that shares the array's memory (writes to either show in both, as PyTorch's)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    if ndarray.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: arrays of dtype {ndarray.dtype} cannot be tensors (numbers only)")
    t = wrap(ndarray.view(np.ndarray), None)
    t._held = True  # the caller holds the array: nodes keep copies of it (memory guarding)
    return t


def as_tensor(data, dtype=None, device=None):
    """A Tensor of `data`, sharing memory with an array (or Tensor) of the same dtype, else a copy."""
    check_device(device, "as_tensor")
    if isinstance(data, TensorBase) and (dtype is None or to_dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or to_dtype(dtype) == data.dtype):
        return from_numpy(data)
    return Tensor(data, dtype=None if dtype is None else to_dtype(dtype, "as_tensor"))
