"""NumPy's protocols on Tensors: a NumPy function or ufunc applied to a Tensor records, or refuses.

- `__array_ufunc__`: the ufuncs chainrule has as primitives (`np.add`, `np.exp`, `np.maximum`,
  `np.matmul`, ...) call them, so `np.exp(t)` and `ndarray * t` record; comparisons, rounding and
  the other piecewise-constant ufuncs give boolean or constant tensors (their gradient is zero).
  Any other ufunc, and any `out=` or `where=`, on a tensor that requires grad (in grad mode) raises a
  TypeError naming the ufunc and what to use instead.
- `__array_function__`: `FUNCS` maps NumPy functions to chainrule operations, with NumPy's
  signatures and semantics (`np.var` divides by N, `np.max(x, axis=1)` gives the values). Functions
  that only select, repeat or rearrange elements (`np.pad`, `np.flip`, `np.tile`, `np.take`,
  `np.sort`, `sliding_window_view`, ...) are recorded as one indexing op: the function is applied
  to an array of element positions, and the tensor is indexed with the result.
  Functions whose results carry no gradient (`np.argmax`, `np.shape`, `np.allclose`, ...) run on
  the arrays. Any other function on a tensor that requires grad raises a TypeError naming it.
- `__array__` (np.asarray, np.array, storing a tensor into an ndarray) refuses a tensor that
  requires grad in grad mode: use `t.detach().numpy()` or `t.data` to take the values.

Where no tensor requires grad (or under `no_grad`), anything else runs on the arrays and returns
what NumPy returns.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import backend as be
from ..core import TensorBase, state, unwrap, wrap
from . import elementwise as ew
from . import functions as f
from .linalg import matmul
from .watch import report


class _Unsupported(Exception):
    """An argument this function records no version of (out=, where=, mode=...)."""


def needs_grad(obj):
    """Whether `obj` (a tensor, or lists, tuples and dicts of them) holds a tensor that requires grad,
    in grad mode."""
    if not state.grad_enabled:
        return False
    if isinstance(obj, TensorBase):
        return obj.requires_grad
    if isinstance(obj, (list, tuple)):
        return builtins.any(needs_grad(o) for o in obj)
    if isinstance(obj, dict):
        return builtins.any(needs_grad(o) for o in obj.values())
    return False


def _plain(obj):
    """Tensors replaced by their arrays, in lists, tuples and dicts too (another backend's as host copies:
    NumPy's functions compute on NumPy arrays)."""
    if isinstance(obj, TensorBase):
        d = obj.data
        return d if type(d) is np.ndarray else be.to_host(d)
    if isinstance(obj, list):
        return [_plain(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _name(func):
    mod = getattr(func, "__module__", "") or ""
    for sub in ("linalg", "fft", "stride_tricks", "random"):
        if sub in mod:
            return f"numpy.{'lib.' if sub == 'stride_tricks' else ''}{sub}.{func.__name__}"
    return f"numpy.{getattr(func, '__name__', func)}"


HINTS = {
    "prod": "for positive x, cr.exp(cr.log(x).sum(dim)) has the same value and gradient",
    "cumprod": "there is no recorded cumulative product",
    "einsum": "write it with matmul (@), transpose and sum",
    "log1p": "use cr.log(1 + x)", "expm1": "use cr.exp(x) - 1", "tan": "use cr.sin(x) / cr.cos(x)",
    "log2": "use cr.log(x) / math.log(2)", "log10": "use cr.log(x) / math.log(10)",
    "reciprocal": "use 1 / x", "average": "use (x * w).sum(dim) / w.sum()",
    "median": "np.sort (which records) and indexing give it", "percentile": "np.sort and indexing give it",
    "quantile": "np.sort and indexing give it",
    "nansum": "use cr.where(np.isnan(x.data), 0, x).sum()", "nanmean": "use cr.where on np.isnan(x.data)",
    "convolve": "use cr.nn.functional.conv2d", "correlate": "use cr.nn.functional.conv2d",
    "fmax": "use cr.maximum", "fmin": "use cr.minimum", "hypot": "use cr.sqrt(x * x + y * y)",
}


def refusal(name, detail=""):
    hint = HINTS.get(name.rpartition(".")[2])
    return (f"{name}{detail} on a Tensor that requires grad: chainrule does not record it, and computing it on "
            f"the array would silently drop the gradient. "
            + (f"Instead, {hint}. " if hint else "Write it with chainrule's operations (cr.*, or the NumPy "
               "functions chainrule records; see docs/from-pytorch.md). ")
            + "Apply it to t.detach() if no gradient should flow through it.")


def conversion_error(t):
    return (f"numpy: converting a Tensor that requires grad (shape {t.shape}) to an array would drop its graph, "
            "and its gradient would silently be lost (NumPy converts when it is given a Tensor it cannot "
            "dispatch, or when a Tensor is stored into an ndarray). Use t.detach().numpy() or t.data for the "
            "values, or keep to chainrule's operations (and the NumPy functions it records) for the gradient.")


# -- ufuncs ------------------------------------------------------------------------------------------

def _constant(ufunc):
    def op(*inputs):
        return _wrap_out(ufunc(*_plain(inputs)), _device(inputs))

    return op


def _tensors(obj):
    """The tensors in `obj` (lists, tuples and dicts of them too)."""
    if isinstance(obj, TensorBase):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _dtype_of(a):
    """The NumPy dtype of a tensor's or an array's values (another backend's dtype as its NumPy name)."""
    d = unwrap(a)
    b = be.backend_of(d)
    return np.result_type(d) if b is None else b.np_dtype(d.dtype)


def _device(inputs):
    """The device of the first tensor among `inputs` on another backend than NumPy (None: none is)."""
    for t in inputs:
        if isinstance(t, TensorBase) and be.backend_of(t._data) is not None:
            return be.device_of(t._data)
    return None


def _wrap_out(r, dev=None):
    """NumPy's results as constant tensors, on the device of the inputs (computed on host copies)."""
    if isinstance(r, tuple):
        return tuple(_wrap_out(x, dev) for x in r)
    if not isinstance(r, (np.ndarray, np.generic)):
        return r
    return wrap(r if dev is None else be.to_device(np.asarray(r), dev), None)


UFUNC_OPS = {
    np.add: ew.add, np.subtract: ew.sub, np.multiply: ew.mul, np.true_divide: ew.div, np.power: ew.power,
    np.negative: ew.neg, np.positive: lambda x: f.astype(x, _dtype_of(x)), np.exp: ew.exp,
    np.log: ew.log, np.sqrt: ew.sqrt, np.absolute: ew.abs, np.sin: ew.sin, np.cos: ew.cos, np.tanh: ew.tanh,
    np.maximum: ew.maximum, np.minimum: ew.minimum, np.matmul: matmul, np.square: lambda x: ew.mul(x, x),
}
# piecewise constant or boolean: their gradient is zero, so a constant result loses nothing
CONSTANT_UFUNCS = (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal, np.logical_and,
                   np.logical_or, np.logical_xor, np.logical_not, np.isnan, np.isinf, np.isfinite, np.signbit,
                   np.sign, np.floor, np.ceil, np.trunc, np.rint, np.floor_divide, np.bitwise_and, np.bitwise_or,
                   np.bitwise_xor, np.invert, np.left_shift, np.right_shift)
UFUNC_OPS.update({u: _constant(u) for u in CONSTANT_UFUNCS})

REDUCE_OPS = {np.add: f.sum, np.maximum: f.max, np.minimum: f.min}


def ufunc(uf, method, inputs, kwargs):
    """What `np.<ufunc>(...)` (and `.reduce`, `.at`, ...) does when a Tensor takes part."""
    out = kwargs.get("out")
    name = f"numpy.{uf.__name__}" + ("" if method == "__call__" else f".{method}")
    rest = {k: v for k, v in kwargs.items() if k not in ("out", "dtype")}
    dtype = kwargs.get("dtype")
    if out is None and not rest and method == "__call__" and uf in UFUNC_OPS:
        r = UFUNC_OPS[uf](*inputs)
        return r if dtype is None else f.astype(r, dtype)
    if out is None and method == "reduce" and uf in REDUCE_OPS and set(rest) <= {"axis", "keepdims"}:
        x = inputs[0] if dtype is None else f.astype(inputs[0], dtype)
        return REDUCE_OPS[uf](x, axis=rest.get("axis", 0), keepdims=rest.get("keepdims", False))
    if needs_grad(inputs) or needs_grad(out):
        detail = ""
        if out is not None:
            detail = " with out= (writing into an array)"
        elif rest:
            detail = f" with {', '.join(f'{k}=' for k in rest)}"
        raise TypeError(refusal(name, detail))
    if out is None:
        return _wrap_out(getattr(uf, method)(*_plain(inputs), **kwargs), _device(inputs))
    targets = out if isinstance(out, tuple) else (out,)
    report(f"writes a Tensor in place with {name}(..., out=)")
    arrays = []
    for t in targets:
        if isinstance(t, TensorBase):
            a = t._data
            if type(a) is not np.ndarray or not a.flags.writeable:
                a = np.array(a)
            arrays.append(a)
        else:
            arrays.append(t)
    getattr(uf, method)(*_plain(inputs), **{**kwargs, "out": tuple(arrays)})
    for t, a in zip(targets, arrays):
        if isinstance(t, TensorBase):
            dev = _device((t,))  # a target on another backend: the result goes back there
            t._data = be.to_device(a, dev) if dev is not None else a[()] if not a.shape else a
            t.bump_version()
    return targets[0] if len(targets) == 1 else targets


# -- array functions ----------------------------------------------------------------------------------

def _no(cond, what):
    if cond:
        raise _Unsupported(what)


def _reduction(fn, name):
    def impl(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        _no(out is not None, " with out=")
        _no(initial is not None, " with initial=")
        _no(where is not None and where is not True, " with where=")
        x = a if dtype is None else f.astype(a, dtype)
        return fn(x, axis=axis, keepdims=bool(keepdims))

    impl.__name__ = name
    return impl


def _spread(fn):
    def impl(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
             correction=None):
        _no(out is not None, " with out=")
        _no(where is not None and where is not True, " with where=")
        _no(mean is not None, " with mean=")
        x = a if dtype is None else f.astype(a, dtype)
        return fn(x, axis=axis, correction=ddof if correction is None else correction, keepdims=bool(keepdims))

    return impl


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    _no(order != "C", f" with order={order!r}")
    return f.reshape(a, newshape if shape is None else shape)


def _ravel(a, order="C"):
    _no(order not in ("C", "K", "A"), f" with order={order!r}")
    return f.reshape(a, (-1,))


def _probe(shape):
    """A boolean array of `shape` that takes no memory, for NumPy to check and transform shapes on."""
    return np.broadcast_to(np.False_, shape)


def _moveaxis(a, source, destination):
    nd = len(np.shape(unwrap(a)))
    ids = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=bool), shape=tuple(range(1, nd + 1)), strides=(0,) * nd)
    return f.transpose(a, tuple(n - 1 for n in np.moveaxis(ids, source, destination).shape))


def _expand_dims(a, axis):
    return f.reshape(a, np.expand_dims(_probe(np.shape(unwrap(a))), axis).shape)


def _squeeze(a, axis=None):
    return f.reshape(a, np.squeeze(_probe(np.shape(unwrap(a))), axis).shape)


def _join(arrays, axis, out, dtype, how):
    _no(out is not None, " with out=")
    arrays = list(arrays)
    if dtype is not None:
        arrays = [f.astype(x, dtype) for x in arrays]
    if how == "concatenate" and axis is None:
        return f.concatenate([f.reshape(x, (-1,)) for x in arrays], 0)
    return (f.concatenate if how == "concatenate" else f.stack)(arrays, axis)


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return _join(arrays, axis, out, dtype, "concatenate")


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return _join(arrays, axis, out, dtype, "stack")


def _atleast(x, n):
    s = np.shape(unwrap(x))
    if len(s) >= n:
        return x
    new = {1: (1,), 2: (1,) + s if len(s) == 1 else (1, 1)}.get(n)
    if n == 3:
        new = (1, 1, 1) if not s else (1,) + s + (1,) if len(s) == 1 else s + (1,)
    return f.reshape(x, new)


def _vstack(tup, *, dtype=None, casting="same_kind"):
    return _join([_atleast(x, 2) for x in tup], 0, None, dtype, "concatenate")


def _hstack(tup, *, dtype=None, casting="same_kind"):
    xs = [_atleast(x, 1) for x in tup]
    return _join(xs, 0 if len(np.shape(unwrap(xs[0]))) == 1 else 1, None, dtype, "concatenate")


def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.where(_plain(condition))
    return f.where(condition, x, y)


def dot(a, b, out=None):
    _no(out is not None, " with out=")
    na, nb = len(np.shape(unwrap(a))), len(np.shape(unwrap(b)))
    if na == 0 or nb == 0:
        return ew.mul(a, b)
    if na == 1 and nb == 1:
        return f.sum(ew.mul(a, b))
    if nb <= 2:
        return matmul(a, b)
    return _tensordot(a, b, ([na - 1], [nb - 2]))


def _inner(a, b):
    return _tensordot(a, b, ([-1], [-1])) if np.ndim(unwrap(a)) and np.ndim(unwrap(b)) else ew.mul(a, b)


def _outer(a, b, out=None):
    _no(out is not None, " with out=")
    return ew.mul(f.reshape(a, (-1, 1)), f.reshape(b, (1, -1)))


def _tensordot(a, b, axes=2):
    dev = _device((a, b))
    if dev is not None:  # a NumPy array beside a tensor of another backend: a constant on that device
        a, b = (be.to_device(v, dev) if isinstance(v, np.ndarray) else v for v in (a, b))
    sa, sb = np.shape(unwrap(a)), np.shape(unwrap(b))
    if isinstance(axes, numbers.Integral):
        ax_a, ax_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        ax_a, ax_b = ([axes[0]] if isinstance(axes[0], numbers.Integral) else list(axes[0]),
                      [axes[1]] if isinstance(axes[1], numbers.Integral) else list(axes[1]))
    ax_a, ax_b = [x % len(sa) for x in ax_a], [x % len(sb) for x in ax_b]
    np.tensordot(_probe(sa), _probe(sb), (ax_a, ax_b))  # NumPy's shape checks
    free_a = [i for i in range(len(sa)) if i not in ax_a]
    free_b = [i for i in range(len(sb)) if i not in ax_b]
    k = int(np.prod([sa[i] for i in ax_a]))
    ma = f.reshape(f.transpose(a, tuple(free_a + ax_a)), (-1, k))
    mb = f.reshape(f.transpose(b, tuple(ax_b + free_b)), (k, -1))
    return f.reshape(matmul(ma, mb), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def _clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    _no(out is not None or kwargs, " with out=" if out is not None else f" with {', '.join(kwargs)}")
    lo = a_min if min is None else min
    hi = a_max if max is None else max
    return f.clip(a, lo, hi)


def _copy(a, order="K", subok=False):
    return f.astype(a, _dtype_of(a))


def _norm(x, ord=None, axis=None, keepdims=False):
    nd = len(np.shape(unwrap(x)))
    vector = axis is not None and isinstance(axis, numbers.Integral) or (axis is None and nd == 1)
    if ord is None or (ord == 2 and vector) or (ord == "fro" and not vector):
        return ew.sqrt(f.sum(ew.mul(x, x), axis=axis, keepdims=keepdims))
    if ord == 1 and vector:
        return f.sum(ew.abs(x), axis=axis, keepdims=keepdims)
    raise _Unsupported(f" with ord={ord!r}")


def _round(a, decimals=0, out=None):
    _no(out is not None, " with out=")
    return _wrap_out(np.round(_plain(a), decimals), _device((a,)))  # piecewise constant: no gradient


def _diff(a, n=1, axis=-1, prepend=None, append=None):
    _no(prepend is not None or append is not None, " with prepend= or append=")
    nd = len(np.shape(unwrap(a)))
    ax = f._one_axis(axis, nd, "diff")
    pre = (slice(None),) * ax
    for _ in range(n):
        a = ew.sub(f.getitem(a, pre + (slice(1, None),)), f.getitem(a, pre + (slice(None, -1),)))
    return a


def _cumsum(a, axis=None, dtype=None, out=None):
    """Running sums as a matmul with an upper-triangular matrix of ones (n² memory for an axis of n)."""
    _no(out is not None, " with out=")
    if dtype is not None:
        a = f.astype(a, dtype)
    _no(_dtype_of(a).kind not in "fc", " of integers")  # (NumPy's own, on the array)
    if axis is None:
        a, axis = f.reshape(a, (-1,)), 0
    nd = len(np.shape(unwrap(a)))
    ax = f._one_axis(axis, nd, "cumsum")
    n = np.shape(unwrap(a))[ax]
    last = _moveaxis(a, ax, -1)
    summed = matmul(last, np.triu(np.ones((n, n), dtype=np.result_type(_dtype_of(a), np.float32))))
    return _moveaxis(summed, -1, ax)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no(out is not None, " with out=")
    d = _select(np.diagonal, a, offset, axis1, axis2)
    return f.sum(d if dtype is None else f.astype(d, dtype), axis=-1)


def _select(fn, a, *args, fill=0, **kwargs):
    """fn (a NumPy function that selects, repeats or rearranges elements, or pads with zeros) applied
    to a tensor, recorded as one indexing op: fn is applied to the element positions (counted from 1,
    so that the zeros it pads with mark fill), and the flattened tensor is indexed with the result."""
    _no(needs_grad(args) or needs_grad(kwargs), " with a Tensor that requires grad as a further argument")
    args, kwargs = _plain(args), _plain(kwargs)
    shape = np.shape(unwrap(a))
    pos = np.arange(1, int(np.prod(shape)) + 1, dtype=np.intp).reshape(shape)
    idx = fn(pos, *args, **kwargs)
    if isinstance(idx, (list, tuple)):
        return [_pick(a, np.asarray(i), fill) for i in idx]
    return _pick(a, np.asarray(idx), fill)


def _pick(a, idx, fill):
    if idx.dtype.kind not in "iu":
        raise _Unsupported(" (it does not only select elements)")
    flat = f.reshape(a, (-1,))
    if idx.size and idx.min() == 0:  # padded: position 0 is the fill value
        fill = np.full(1, fill, dtype=_dtype_of(a))
        dev = _device((a,))
        flat = f.concatenate([f.astype(wrap(fill if dev is None else be.to_device(fill, dev), None),
                                       _dtype_of(a)), flat])
        return f.getitem(flat, idx)
    return f.getitem(flat, idx - 1)


def _pad(array, pad_width, mode="constant", **kwargs):
    fill = 0
    if mode == "constant":
        c = np.asarray(_plain(kwargs.pop("constant_values", 0)))
        _no(c.size > 1 and not (c == c.flat[0]).all(), " with differing constant_values")
        fill = c.flat[0].item() if c.size else 0
        _no(kwargs, f" with {', '.join(kwargs)}")
        return _select(np.pad, array, pad_width, mode="constant", constant_values=0, fill=fill)
    _no(mode not in ("edge", "reflect", "symmetric", "wrap", "empty"), f" with mode={mode!r}")
    return _select(np.pad, array, pad_width, mode=mode, **kwargs)


def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    _no(order is not None, " with order=")
    data = _plain(a)
    if axis is None:
        a, data, axis = f.reshape(a, (-1,)), np.ravel(data), 0
    perm = np.argsort(data, axis=axis, kind=kind)
    return _select(np.take_along_axis, a, perm, axis)


def _selector(fn):
    def impl(a, *args, **kwargs):
        return _select(fn, a, *args, **kwargs)

    return impl


def _atleast_nd(n):
    def impl(*arys):
        out = [_atleast(x, n) for x in arys]
        return out[0] if len(out) == 1 else tuple(out)

    return impl


FUNCS = {
    np.sum: _reduction(f.sum, "sum"), np.mean: _reduction(lambda x, axis, keepdims: f.mean(x, axis=axis,
                                                                                            keepdims=keepdims), "mean"),
    np.max: _reduction(lambda x, axis, keepdims: f.max(x, axis=axis, keepdims=keepdims), "max"),
    np.min: _reduction(lambda x, axis, keepdims: f.min(x, axis=axis, keepdims=keepdims), "min"),
    np.var: _spread(f.var), np.std: _spread(f.std),
    np.reshape: _reshape, np.ravel: _ravel, np.transpose: lambda a, axes=None: f.transpose(a, axes),
    np.swapaxes: f.swapaxes, np.moveaxis: _moveaxis, np.expand_dims: _expand_dims, np.squeeze: _squeeze,
    np.broadcast_to: lambda array, shape, subok=False: f.broadcast_to(array, shape),
    np.concatenate: _concatenate, np.stack: _stack, np.vstack: _vstack, np.hstack: _hstack,
    np.atleast_1d: _atleast_nd(1), np.atleast_2d: _atleast_nd(2), np.atleast_3d: _atleast_nd(3),
    np.where: _where, np.dot: dot, np.inner: _inner, np.outer: _outer, np.tensordot: _tensordot,
    np.clip: _clip, np.copy: _copy, np.linalg.norm: _norm, np.round: _round, np.around: _round,
    np.diff: _diff, np.trace: _trace, np.pad: _pad, np.sort: _sort, np.cumsum: _cumsum,
}
if hasattr(np, "amax"):
    FUNCS.update({np.amax: FUNCS[np.max], np.amin: FUNCS[np.min]})
if hasattr(np, "concat"):
    FUNCS[np.concat] = _concatenate
FUNCS.update({fn: _selector(fn) for fn in (
    np.flip, np.fliplr, np.flipud, np.roll, np.tile, np.repeat, np.rot90, np.take, np.take_along_axis,
    np.diagonal, np.diag, np.diagflat, np.triu, np.tril, sliding_window_view, np.delete, np.resize, np.split,
    np.array_split, np.hsplit, np.vsplit, np.dsplit)})

# their results carry no gradient (integers, booleans, shapes, or values that do not depend on the input's)
CONSTANT_FUNCS = frozenset({
    np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.argmax, np.argmin,
    np.argsort, np.argwhere, np.nonzero, np.flatnonzero, np.count_nonzero, np.searchsorted, np.digitize,
    np.bincount, np.histogram, np.histogram_bin_edges, np.isclose, np.allclose, np.array_equal, np.array_equiv,
    np.all, np.any, np.iscomplexobj, np.isrealobj, np.result_type, np.can_cast, np.min_scalar_type,
    np.may_share_memory, np.shares_memory, np.unravel_index, np.ravel_multi_index, np.isin, np.lexsort,
    np.array_repr, np.array_str, np.array2string, np.save, np.savez, np.savetxt, np.ix_})


def function(func, args, kwargs):
    """What a NumPy function does when a Tensor takes part (see the module docstring)."""
    impl = FUNCS.get(func)
    detail = ""
    if impl is not None:
        try:
            return impl(*args, **kwargs)
        except _Unsupported as e:
            detail = str(e)
        except (TypeError, ValueError) as e:
            dev = _device(_tensors((args, kwargs)))
            if dev is None:
                raise
            raise TypeError(f"{_name(func)} on a Tensor on device '{dev}': {e}") from None
    if func in CONSTANT_FUNCS or not needs_grad((args, kwargs)):
        return func(*_plain(args), **_plain(kwargs))
    raise TypeError(refusal(_name(func), detail))
