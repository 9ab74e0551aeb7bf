"""The public functions that call the primitives (`cr.sum`, `cr.reshape`, ...): here arguments are
normalized (axes, shapes, indices) and checked, so that a primitive sees only what it expects and
a bad call fails naming the op."""

from __future__ import annotations

import builtins
import collections
import numbers
import operator

import numpy as np

from .. import backend
from ..core import ShapeError, TensorBase, unwrap, wrap
from . import elementwise as _ew
from . import reduce as _rd
from . import shape as _sh
from .dtypes import to_dtype


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
# PyTorch's `dim=` / `keepdim=` and NumPy's `axis=` / `keepdims=` are both accepted (not together).

def _dim(dim, axis, opname):
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{opname}: give dim (PyTorch) or axis (NumPy), not both")
    return axis


def _keep(keepdim, keepdims):
    return bool(keepdim if keepdims is None else keepdims)


def _cast_in(x, dtype):
    return x if dtype is None else astype(x, dtype)


def sum(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    x = _cast_in(x, dtype)
    s = _shape(x)
    return _rd.sum(x, axis=_norm_axis(_dim(dim, axis, "sum"), len(s), "sum"), keepdims=_keep(keepdim, keepdims),
                   shape=s)


def mean(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    x = _cast_in(x, dtype)
    s = _shape(x)
    return _rd.mean(x, axis=_norm_axis(_dim(dim, axis, "mean"), len(s), "mean"), keepdims=_keep(keepdim, keepdims),
                    shape=s)


MinMax = collections.namedtuple("MinMax", "values indices")


def _extreme(x, dim, keepdim, axis, keepdims, opname, prim, arg, binary):
    if isinstance(dim, (TensorBase, np.ndarray)):  # PyTorch's max(input, other): the elementwise maximum
        return binary(x, dim)
    s = _shape(x)
    _nonempty(s, axis, opname)
    if dim is not None and axis is None and keepdims is None:  # PyTorch's max(input, dim): (values,
        d = _one_axis(dim, len(s), opname)  # indices); the gradient goes to the index picked, as PyTorch's
        idx = arg(x, d, keepdim=True)
        values = getitem(x, _along(s, d, idx._data))
        if not keepdim:
            values, idx = squeeze(values, d), squeeze(idx, d)
        return MinMax(values, idx)
    return prim(x, axis=_norm_axis(_dim(dim, axis, opname), len(s), opname), keepdims=_keep(keepdim, keepdims),
                shape=s)


def _along(shape, d, idx):
    """The index that picks idx (of shape `shape` with axis d of size 1) along axis d."""
    grids = list(np.ogrid[tuple(slice(n) for n in shape[:d] + (1,) + shape[d + 1:])])
    grids[d] = idx
    return tuple(grids)


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Max over all elements or over axes (NumPy's axis= and keepdims=: the values; tied maxima share
    the gradient equally); `max(x, dim)` is PyTorch's: (values, indices), the gradient going to the
    index; `max(x, other)` is the elementwise maximum."""
    return _extreme(x, dim, keepdim, axis, keepdims, "max", _rd.max, argmax, _ew.maximum)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Min: as `max`."""
    return _extreme(x, dim, keepdim, axis, keepdims, "min", _rd.min, argmin, _ew.minimum)


def _nonempty(s, axis, opname):
    if 0 in s:
        raise ShapeError(f"{opname}: cannot reduce an empty tensor of shape {s}")


def _arg(np_fn, opname):
    def arg(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        d = _dim(dim, axis, opname)
        a = unwrap(x)
        s = np.shape(a)
        _nonempty(s, d, opname)
        if d is None:
            out = np.asarray(np_fn(a))
            if _keep(keepdim, keepdims):
                out = out.reshape((1,) * len(s))
        else:
            out = np.asarray(np_fn(a, axis=_one_axis(d, len(s), opname), keepdims=_keep(keepdim, keepdims)))
        return wrap(out.astype(np.int64)[()] if not out.shape else out.astype(np.int64), None)

    arg.__name__ = arg.__qualname__ = opname
    arg.__doc__ = f"The index of the {opname[3:]} (flattened when dim is None): an int64 tensor, no gradient."
    return arg


argmax = _arg(np.argmax, "argmax")
argmin = _arg(np.argmin, "argmin")


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    """Variance over axes, divided by N - correction (correction=1, the unbiased estimate, unless
    `unbiased=False` or `correction=0`: PyTorch's default; NumPy's np.var divides by N)."""
    if isinstance(dim, bool):  # the old var(input, unbiased) form
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    elif unbiased is not None:
        raise TypeError("var: give unbiased or correction, not both")
    s = _shape(x)
    axes = _norm_axis(_dim(dim, axis, "var"), len(s), "var")
    n = int(np.prod(s)) if axes is None else int(np.prod([s[a] for a in axes]))
    d = x - mean(x, axes, True)
    return sum(d * d, axes, _keep(keepdim, keepdims)) / builtins.max(n - correction, 0)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    """Standard deviation: sqrt(var) with var's arguments."""
    return _ew.sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims))


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    s = _shape(x)
    return _rd.logsumexp(x, axis=_norm_axis(_dim(dim, axis, "logsumexp"), len(s), "logsumexp"),
                         keepdims=_keep(keepdim, keepdims), shape=s)


def softmax(x, dim=None, *, axis=None, dtype=None):
    d = _dim(dim, axis, "softmax")
    return _rd.softmax(_cast_in(x, dtype), axis=_one_axis(-1 if d is None else d, len(_shape(x)), "softmax"))


def log_softmax(x, dim=None, *, axis=None, dtype=None):
    d = _dim(dim, axis, "log_softmax")
    return _rd.log_softmax(_cast_in(x, dtype),
                           axis=_one_axis(-1 if d is None else d, len(_shape(x)), "log_softmax"))


def numel(x):
    return int(np.prod(_shape(x), dtype=np.int64))


# -- elementwise with arguments ----------------------------------------------------------------

def where(cond, x, y):
    """Elementwise `x if cond else y`; `cond` is a constant (boolean array or comparison)."""
    c = unwrap(cond)
    b = backend.backend_of(c)
    if b is not None:  # another backend's condition stays there
        if b.np_dtype(c.dtype).kind not in "biuf":
            raise TypeError(f"where: the condition must be boolean, got dtype {b.np_dtype(c.dtype)}")
        return _ew.where(b.as_bool(c), x, y)
    c = np.asarray(c)
    if c.dtype.kind not in "biuf":
        raise TypeError(f"where: the condition must be boolean, got dtype {c.dtype}")
    return _ew.where(c.astype(bool, copy=False), x, y)


def clip(x, min=None, max=None):
    """Clamp to [min, max] (PyTorch's clamp); the gradient passes where min <= x <= max."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    for v in (min, max):
        if v is not None and np.asarray(unwrap(v)).dtype.kind not in "biuf":
            raise TypeError(f"clip: min and max must be numbers or arrays, got {v!r:.40}")
    return _ew.clip(x, lo=unwrap(min), hi=unwrap(max))


clamp = clip


def astype(x, dtype):
    """Cast to `dtype`. A cast to a float dtype is differentiable (the gradient is cast back); a cast
    to an integer or boolean dtype has no gradient (as PyTorch: integer tensors do not require grad)."""
    dtype = to_dtype(dtype, "astype")
    b = backend.backend_of(unwrap(x))
    if b is not None:  # another backend's array: its dtype under chainrule's name
        src = b.np_dtype(unwrap(x).dtype)
        if dtype.kind not in "fc":
            return wrap(b.astype(unwrap(x), dtype), None)
        return _ew.astype(x, dtype=dtype, src=src)
    src = np.result_type(unwrap(x))
    if dtype.kind not in "fc":
        return wrap(np.asarray(unwrap(x)).astype(dtype)[()] if not _shape(x) else
                    np.asarray(unwrap(x)).astype(dtype), None)
    return _ew.astype(x, dtype=dtype, src=src)


def compare(x, y, op, opname):
    """A comparison: a boolean tensor, which has no gradient."""
    a, b = unwrap(x), unwrap(y)
    try:
        if type(a) is np.ndarray or backend.backend_of(a) is None and backend.backend_of(b) is None:
            return wrap(op(a, b), None)
        dev = backend.device_of(a if backend.backend_of(a) is not None else b)  # another backend's: its own operator
        a, b = (backend.to_device(v, dev) if isinstance(v, np.ndarray) else v for v in (a, b))
        return wrap(_OPERATORS[op](a, b), None)
    except ValueError as e:
        raise ShapeError(f"{opname}: cannot compare shapes {_shape(x)} and {_shape(y)} ({e})") from None


_OPERATORS = {np.equal: operator.eq, np.not_equal: operator.ne, np.less: operator.lt, np.less_equal: operator.le,
              np.greater: operator.gt, np.greater_equal: operator.ge}


def eq(x, y):
    return compare(x, y, np.equal, "eq")


def ne(x, y):
    return compare(x, y, np.not_equal, "ne")


def lt(x, y):
    return compare(x, y, np.less, "lt")


def le(x, y):
    return compare(x, y, np.less_equal, "le")


def gt(x, y):
    return compare(x, y, np.greater, "gt")


def ge(x, y):
    return compare(x, y, np.greater_equal, "ge")


def allclose(x, y, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(np.allclose(unwrap(x), unwrap(y), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(x, y):
    """True when both have the same shape and elements (PyTorch's torch.equal)."""
    return _shape(x) == _shape(y) and builtins.bool(np.array_equal(unwrap(x), unwrap(y)))


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


def transpose(x, *dims, axes=None):
    """`transpose(x)` reverses the axes, `transpose(x, axes)` and `transpose(x, 2, 0, 1)` permute them
    (NumPy); `transpose(x, dim0, dim1)` swaps two (PyTorch; for a 2-D tensor the same as NumPy's, except
    that NumPy reads transpose(0, 1) as the identity)."""
    nd = len(_shape(x))
    if len(dims) == 2:
        return swapaxes(x, *dims)
    if len(dims) > 2:  # NumPy's x.transpose(1, 2, 0)
        dims = (dims,)
    if dims:
        if axes is not None:
            raise TypeError("transpose: axes given twice")
        axes = dims[0]
    if axes is not None:
        if isinstance(axes, numbers.Integral) or not all(isinstance(a, numbers.Integral) for a in axes):
            raise TypeError(f"transpose: axes must be a permutation of ints, got {axes!r}")
        axes = tuple(int(a) % builtins.max(nd, 1) for a in axes)
        if sorted(axes) != list(range(nd)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of the {nd} axes of the input")
    return _sh.transpose(x, axes=axes)


def permute(x, *dims):
    """PyTorch's permute: the axes in the order `dims`."""
    if len(dims) == 1 and not isinstance(dims[0], numbers.Integral):
        dims = tuple(dims[0])
    if len(dims) != len(_shape(x)):
        raise ShapeError(f"permute: {len(dims)} dims given for a tensor of shape {_shape(x)}")
    return transpose(x, dims)


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


def concatenate(tensors, axis=0, *, dim=None):
    if isinstance(tensors, TensorBase):
        raise TypeError("concatenate: expected a sequence of tensors, got a single Tensor")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    axis = axis if dim is None else dim
    shapes = [_shape(t) for t in tensors]
    nd = len(shapes[0])
    if nd == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated (use stack)")
    ax = _one_axis(axis, nd, "concatenate")
    for s in shapes:
        if len(s) != nd or s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:]:
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {ax}")
    return _sh.concatenate(*tensors, axis=ax, sizes=tuple(s[ax] for s in shapes))


def cat(tensors, dim=0, *, axis=None):
    """PyTorch's name for concatenate."""
    return concatenate(tensors, _dim(dim, axis, "cat"))


def stack(tensors, axis=0, *, dim=None):
    if isinstance(tensors, TensorBase):
        raise TypeError("stack: expected a sequence of tensors, got a single Tensor")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    axis = axis if dim is None else dim
    shapes = [_shape(t) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError(f"stack: all tensors must have the same shape, got {shapes}")
    ax = _one_axis(axis, len(shapes[0]) + 1, "stack")
    return _sh.stack(*tensors, axis=ax)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the axes start_dim..end_dim into one (PyTorch's torch.flatten)."""
    s = _shape(x)
    if not s:
        return reshape(x, (1,))
    a, b = _one_axis(start_dim, len(s), "flatten"), _one_axis(end_dim, len(s), "flatten")
    if a > b:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {s}")
    return reshape(x, s[:a] + (int(np.prod(s[a:b + 1])),) + s[b + 1:])


def squeeze(x, dim=None, *, axis=None):
    """Drop axes of size 1: all of them, or those of `dim` (an int or a tuple) that have size 1."""
    s = _shape(x)
    d = _dim(dim, axis, "squeeze")
    axes = range(len(s)) if d is None else _norm_axis(d, len(s), "squeeze")
    drop = {a for a in axes if s[a] == 1}
    return reshape(x, tuple(n for i, n in enumerate(s) if i not in drop))


def unsqueeze(x, dim):
    """Insert an axis of size 1 at position `dim` (-1: last)."""
    s = _shape(x)
    d = _one_axis(dim, len(s) + 1, "unsqueeze")
    return reshape(x, s[:d] + (1,) + s[d:])


def expand(x, *sizes):
    """Broadcast to `sizes` (-1 keeps an axis), PyTorch's expand."""
    if len(sizes) == 1 and not isinstance(sizes[0], numbers.Integral):
        sizes = tuple(sizes[0])
    s = _shape(x)
    lead = len(sizes) - len(s)
    if lead < 0:
        raise ShapeError(f"expand: cannot expand shape {s} to fewer dimensions {sizes}")
    shape = tuple(s[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    return broadcast_to(x, shape)


def setitem(x, idx, v):
    """x with x[idx] replaced by v, as a new tensor (what `x[idx] = v` records): the gradient of x is
    zero at the replaced positions, v's is the upstream gradient there."""
    idx = _index(idx)
    s = _shape(x)
    try:
        probe = np.arange(int(np.prod(s)), dtype=np.intp).reshape(s)[idx]
    except IndexError as e:
        raise IndexError(f"setitem: index {idx!r:.60} is invalid for a tensor of shape {s}: {e}") from None
    if not _sh.is_basic_index(idx) and np.unique(probe).size != np.size(probe):
        raise IndexError(f"setitem: index {idx!r:.60} selects an element more than once; which value would "
                         "be kept is undefined")
    try:
        np.broadcast_to(np.broadcast_to(np.False_, _shape(v)), np.shape(probe))
    except ValueError:
        raise ShapeError(f"setitem: cannot assign a value of shape {_shape(v)} to the selection of shape "
                         f"{np.shape(probe)} (of a tensor of shape {s})") from None
    return _sh.setitem(x, v, idx=idx)
