"""Primitives that move elements without arithmetic: reshape, transpose, broadcast_to,
indexing (and its adjoint, scatter_add), indexed assignment (setitem), concatenate, stack."""

from __future__ import annotations

import numpy as np

from ..core import Primitive

reshape = Primitive("reshape", lambda x, shape, src: np.reshape(x, shape),
                    lambda xp, need, g, ans, x, shape, src: (xp.reshape(g, src),),
                    local=("upstream reshaped to the shape of {x}",), doc="reshape (no data moves)",
                    xfwd=lambda xp, x, shape, src: xp.reshape(x, shape))


def _transpose_vjp(xp, need, g, ans, x, axes):
    return (xp.transpose(g, None if axes is None else tuple(np.argsort(axes))),)


transpose = Primitive("transpose", lambda x, axes: np.transpose(x, axes), _transpose_vjp, symbol="ᵀ",
                      local=("upstream transposed back (inverse permutation)",), doc="permute axes",
                      xfwd=lambda xp, x, axes: xp.transpose(x, axes))

broadcast_to = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                         lambda xp, need, g, ans, x, shape: (g,), broadcasts=True, gate="distributes",
                         local=("upstream summed over the broadcast axes",),
                         doc="broadcast to a shape; the engine sums the gradient back",
                         xfwd=lambda xp, x, shape: xp.broadcast_to(x, shape))

def scatter_add_array(g, idx, shape):
    """zeros(shape) with g added at idx (repeated indices add up): the adjoint of indexing."""
    out = np.zeros(shape, dtype=np.result_type(g))
    if is_basic_index(idx):
        out[idx] = g
    else:
        np.add.at(out, idx, g)
    return out


def is_basic_index(idx):
    """True when indexing with `idx` selects each element at most once (slices, ints, a mask)."""
    n_adv = 0
    for it in idx if isinstance(idx, tuple) else (idx,):
        if it is None or it is Ellipsis or isinstance(it, (slice, int, np.integer)):
            continue
        if np.asarray(it).dtype != bool:
            return False
        n_adv += 1
    return n_adv <= 1


getitem = Primitive("getitem", lambda x, idx, shape: np.asarray(x)[idx],
                    lambda xp, need, g, ans, x, idx, shape: (xp.scatter_add(g, idx, shape),), gate="routes",
                    symbol="[ ]", local=("zeros with upstream added at the indexed positions",),
                    doc="indexing: slices, integer arrays (repeated indices add), boolean masks",
                    xfwd=lambda xp, x, idx, shape: xp.getitem(x, idx))

scatter_add = Primitive("scatter_add", scatter_add_array, lambda xp, need, g, ans, u, idx, shape: (xp.getitem(g, idx),),
                        inputs="u", local=("upstream[idx]",),
                        doc="zeros(shape) with u added at idx: the adjoint of indexing",
                        xfwd=lambda xp, u, idx, shape: xp.scatter_add(u, idx, shape))


def setitem_array(x, idx, v):
    """A copy of x with x[idx] = v."""
    out = np.array(x, copy=True)
    out[idx] = v
    return out


def _setitem_vjp(xp, need, g, ans, x, v, idx):
    return (xp.setitem(g, idx, 0) if need[0] is not None else None,
            xp.getitem(g, idx) if need[1] is not None else None)


setitem = Primitive("setitem", lambda x, v, idx: setitem_array(x, idx, v), _setitem_vjp, inputs="x v",
                    broadcasts=True, gate="routes", symbol="[ ]=",
                    local=("upstream with zeros where v was written", "upstream[idx]"),
                    doc="x with x[idx] replaced by v (what `x[idx] = v` records on a tensor that needs a gradient)",
                    xfwd=lambda xp, x, v, idx: xp.setitem(x, idx, v))


def _concat_vjp(xp, need, g, ans, *xs, axis, sizes):
    ends = [int(e) for e in np.cumsum(sizes)]
    pre = (slice(None),) * axis
    return tuple(g[pre + (slice(e - n, e), ...)] if p is not None else None for e, n, p in zip(ends, sizes, need))


concatenate = Primitive("concatenate", lambda *xs, axis, sizes: np.concatenate(xs, axis=axis), _concat_vjp,
                        inputs="*xs", gate="routes", local=("the slice of upstream that this input filled",),
                        doc="join tensors along an existing axis",
                        xfwd=lambda xp, *xs, axis, sizes: xp.concatenate(xs, axis=axis))


def _stack_vjp(xp, need, g, ans, *xs, axis):
    pre = (slice(None),) * axis
    return tuple(g[pre + (i, ...)] if p is not None else None for i, p in enumerate(need))


stack = Primitive("stack", lambda *xs, axis: np.stack(xs, axis=axis), _stack_vjp, inputs="*xs", gate="routes",
                  local=("upstream[..., i, ...] along the new axis",), doc="join tensors along a new axis",
                  xfwd=lambda xp, *xs, axis: xp.stack(xs, axis=axis))
