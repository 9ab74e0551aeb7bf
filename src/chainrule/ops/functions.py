"""The public functions that call the primitives (`cr.sum`, `cr.reshape`, ...): here arguments are
normalized (axes, shapes, indices) and checked, so that a primitive sees only what it expects and
a bad call fails naming the op."""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from ..core import ShapeError, TensorBase, unwrap
from . import elementwise as _ew
from . import reduce as _rd
from . import shape as _sh


def _shape(x):
    return np.shape(unwrap(x))


def _norm_axis(axis, ndim, opname):
    """None, or a sorted tuple of non-negative axes; a clear error for an axis out of range."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else axis
    if not isinstance(axes, (tuple, list)) or not all(isinstance(a, numbers.Integral) for a in axes):
        raise TypeError(f"{opname}: axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ShapeError(f"{opname}: axis {a} is out of range for an input with {ndim} dimensions")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{opname}: repeated axis in {axis}")
    return tuple(sorted(out))


def _one_axis(axis, ndim, opname):
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{opname}: axis must be an int, got {axis!r}")
    return _norm_axis(axis, ndim, opname)[0]


# -- reductions -----------------------------------------------------------------------------

def sum(x, axis=None, keepdims=False):
    s = _shape(x)
    return _rd.sum(x, axis=_norm_axis(axis, len(s), "sum"), keepdims=keepdims, shape=s)


def mean(x, axis=None, keepdims=False):
    s = _shape(x)
    return _rd.mean(x, axis=_norm_axis(axis, len(s), "mean"), keepdims=keepdims, shape=s)


def max(x, axis=None, keepdims=False):
    """Max over axes. Where several elements tie for the maximum they share the gradient equally."""
    s = _shape(x)
    _nonempty(s, axis, "max")
    return _rd.max(x, axis=_norm_axis(axis, len(s), "max"), keepdims=keepdims, shape=s)


def min(x, axis=None, keepdims=False):
    """Min over axes. Where several elements tie for the minimum they share the gradient equally."""
    s = _shape(x)
    _nonempty(s, axis, "min")
    return _rd.min(x, axis=_norm_axis(axis, len(s), "min"), keepdims=keepdims, shape=s)


def _nonempty(s, axis, opname):
    if 0 in s:
        raise ShapeError(f"{opname}: cannot reduce an empty tensor of shape {s}")


def logsumexp(x, axis=None, keepdims=False):
    s = _shape(x)
    return _rd.logsumexp(x, axis=_norm_axis(axis, len(s), "logsumexp"), keepdims=keepdims, shape=s)


def softmax(x, axis=-1):
    return _rd.softmax(x, axis=_one_axis(axis, len(_shape(x)), "softmax"))


def log_softmax(x, axis=-1):
    return _rd.log_softmax(x, axis=_one_axis(axis, len(_shape(x)), "log_softmax"))


# -- elementwise with arguments ----------------------------------------------------------------

def where(cond, x, y):
    """Elementwise `x if cond else y`; `cond` is a constant (boolean array or comparison)."""
    c = np.asarray(unwrap(cond))
    if c.dtype.kind not in "biuf":
        raise TypeError(f"where: the condition must be boolean, got dtype {c.dtype}")
    return _ew.where(c.astype(bool, copy=False), x, y)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    for v in (min, max):
        if v is not None and np.asarray(unwrap(v)).dtype.kind not in "biuf":
            raise TypeError(f"clip: min and max must be numbers or arrays, got {v!r:.40}")
    return _ew.clip(x, lo=unwrap(min), hi=unwrap(max))


def astype(x, dtype):
    return _ew.astype(x, dtype=np.dtype(dtype), src=np.result_type(unwrap(x)))


# -- shapes ---------------------------------------------------------------------------------------

def reshape(x, shape):
    s = _shape(x)
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    if not all(isinstance(n, numbers.Integral) for n in shape):
        raise TypeError(f"reshape: the shape must be ints, got {shape!r} for a tensor of shape {s}")
    shape = tuple(int(n) for n in shape)
    try:
        new = np.empty(s, dtype=bool).reshape(shape).shape if 0 not in s else np.empty(s).reshape(shape).shape
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {s} ({int(np.prod(s))} elements) "
                         f"into shape {shape}") from None
    return _sh.reshape(x, shape=new, src=s)


def transpose(x, axes=None):
    nd = len(_shape(x))
    if axes is not None:
        if not all(isinstance(a, numbers.Integral) for a in axes):
            raise TypeError(f"transpose: axes must be ints, got {axes!r}")
        axes = tuple(int(a) % builtins.max(nd, 1) for a in axes)
        if sorted(axes) != list(range(nd)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of the {nd} axes of the input")
    return _sh.transpose(x, axes=axes)


def swapaxes(x, a, b):
    nd = len(_shape(x))
    axes = list(range(nd))
    a, b = _one_axis(a, nd, "swapaxes"), _one_axis(b, nd, "swapaxes")
    axes[a], axes[b] = axes[b], axes[a]
    return _sh.transpose(x, axes=tuple(axes))


def broadcast_to(x, shape):
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    try:
        np.broadcast_shapes(_shape(x), shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {_shape(x)} to {shape}") from None
    return _sh.broadcast_to(x, shape=shape)


def _index(idx):
    if isinstance(idx, tuple):
        return tuple(_index(i) for i in idx)
    if isinstance(idx, TensorBase):
        return idx._data
    if isinstance(idx, list):
        return np.asarray(idx)
    return idx


def getitem(x, idx):
    idx = _index(idx)
    s = _shape(x)
    try:
        np.empty(s, dtype=bool)[idx]
    except IndexError as e:
        raise IndexError(f"getitem: index {idx!r:.60} is invalid for a tensor of shape {s}: {e}") from None
    return _sh.getitem(x, idx=idx, shape=s)


def scatter_add(u, idx, shape):
    return _sh.scatter_add(u, idx=_index(idx), shape=tuple(shape))


def concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    shapes = [_shape(t) for t in tensors]
    nd = len(shapes[0])
    if nd == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated (use stack)")
    ax = _one_axis(axis, nd, "concatenate")
    for s in shapes:
        if len(s) != nd or s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:]:
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {ax}")
    return _sh.concatenate(*tensors, axis=ax, sizes=tuple(s[ax] for s in shapes))


def stack(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    shapes = [_shape(t) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError(f"stack: all tensors must have the same shape, got {shapes}")
    ax = _one_axis(axis, len(shapes[0]) + 1, "stack")
    return _sh.stack(*tensors, axis=ax)
