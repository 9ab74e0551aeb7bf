"""Primitives that move elements without arithmetic: reshape, transpose, broadcast_to,
indexing (and its adjoint, scatter_add), concatenate, stack."""

from __future__ import annotations

import numpy as np

from ..primitive import Primitive

reshape = Primitive("reshape", lambda x, shape, src: np.reshape(x, shape),
                    lambda xp, need, g, ans, x, shape, src: (xp.reshape(g, src),),
                    formula="dL/dx = reshape(upstream, x.shape)", doc="reshape (no data moves)")


def _transpose_vjp(xp, need, g, ans, x, axes):
    return (xp.transpose(g, None if axes is None else tuple(np.argsort(axes))),)


transpose = Primitive("transpose", lambda x, axes: np.transpose(x, axes), _transpose_vjp,
                      formula="dL/dx = transpose(upstream, inverse permutation)", doc="permute axes")

broadcast_to = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                         lambda xp, need, g, ans, x, shape: (g,), broadcasts=True, gate="distributes",
                         formula="dL/dx = upstream summed over the broadcast axes",
                         doc="broadcast to a shape; the engine sums the gradient back")


def is_basic_index(idx):
    """True when indexing with `idx` selects each element at most once (slices, ints, a mask)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    n_adv = 0
    for it in items:
        if it is None or it is Ellipsis or isinstance(it, (slice, int, np.integer)):
            continue
        arr = np.asarray(it)
        if arr.dtype == bool:
            n_adv += 1
            continue
        return False
    return n_adv <= 1


def _scatter_add_fwd(g, idx, shape):
    out = np.zeros(shape, dtype=np.result_type(g))
    if is_basic_index(idx):
        out[idx] = g
    else:
        np.add.at(out, idx, g)  # repeated indices add up
    return out


def _getitem_vjp(xp, need, g, ans, x, idx, shape):
    return (xp.scatter_add(g, idx, shape),)


getitem = Primitive("getitem", lambda x, idx, shape: np.asarray(x)[idx], _getitem_vjp, gate="routes",
                    formula="dL/dx = zeros with upstream added at the indexed positions",
                    doc="indexing: slices, integer arrays (repeated indices add), boolean masks")

scatter_add = Primitive("scatter_add", _scatter_add_fwd,
                        lambda xp, need, g, ans, u, idx, shape: (g[idx],),
                        formula="dL/du = upstream[idx]",
                        doc="zeros(shape) with u added at idx: the adjoint of indexing")


def _axis_slices(axis, bounds):
    pre = (slice(None),) * axis
    return [pre + (slice(a, b),) for a, b in bounds]


def _concat_vjp(xp, need, g, ans, *xs, axis, sizes):
    ends = np.cumsum(sizes)
    return tuple(g[s] if n is not None else None
                 for s, n in zip(_axis_slices(axis, zip(ends - sizes, ends)), need))


concatenate = Primitive("concatenate", lambda *xs, axis, sizes: np.concatenate(xs, axis=axis), _concat_vjp,
                        gate="routes", formula="dL/dx_i = the slice of upstream that x_i filled",
                        doc="join tensors along an existing axis")


def _stack_vjp(xp, need, g, ans, *xs, axis):
    pre = (slice(None),) * axis
    return tuple(g[pre + (i,)] if n is not None else None for i, n in enumerate(need))


stack = Primitive("stack", lambda *xs, axis: np.stack(xs, axis=axis), _stack_vjp, gate="routes",
                  formula="dL/dx_i = upstream[..., i, ...] along the new axis",
                  doc="join tensors along a new axis")
