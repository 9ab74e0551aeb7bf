"""Reductions: sum, mean, max, min, logsumexp, and the fused softmax / log_softmax.

`axis` is normalized by the public functions (ops/__init__.py) to None or a tuple of
non-negative ints; `shape` is the input's shape, passed so the rule need not keep the input.
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, unwrap


def keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def _expand(xp, g, axis, keepdims, shape):
    """Give a reduced gradient back its reduced axes (as size 1), ready to broadcast."""
    return g if keepdims else xp.reshape(g, keepdims_shape(shape, axis))


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    return int(np.prod([shape[i] for i in axis]))


def _sum_vjp(xp, need, g, ans, x, axis, keepdims, shape):
    return (xp.broadcast_to(_expand(xp, g, axis, keepdims, shape), shape),)


sum = Primitive("sum", lambda x, axis, keepdims, shape: np.sum(x, axis=axis, keepdims=keepdims), _sum_vjp,
                gate="distributes", symbol="Σ", local=("broadcast(upstream) over the summed axes",),
                doc="sum over axes; the gradient is copied to every summed element",
                xfwd=lambda xp, x, axis, keepdims, shape: xp.sum(x, axis=axis, keepdims=keepdims))


def _mean_vjp(xp, need, g, ans, x, axis, keepdims, shape):
    n = _count(shape, axis)
    return (xp.broadcast_to(_expand(xp, g, axis, keepdims, shape) / n, shape),)


mean = Primitive("mean", lambda x, axis, keepdims, shape: np.mean(x, axis=axis, keepdims=keepdims),
                 _mean_vjp, gate="distributes", local=("broadcast(upstream) / n",),
                 doc="mean over axes; each element receives upstream / n",
                 xfwd=lambda xp, x, axis, keepdims, shape: xp.mean(x, axis=axis, keepdims=keepdims))


def _extreme_vjp(xp, need, g, ans, x, axis, keepdims, shape):
    gk = _expand(xp, g, axis, keepdims, shape)
    xr = unwrap(x)
    c = xp.raw(xr)  # the namespace of the (constant) share
    ak = c.reshape(unwrap(ans), keepdims_shape(shape, axis))
    mask = xr == ak
    if c.any(c.isnan(ak)):  # a NaN is the extreme (NumPy propagates it): it gets the gradient, as in PyTorch
        mask = mask | (c.isnan(xr) & c.isnan(ak))
    m = c.astype(mask, g.dtype)
    return (gk * (m / c.sum(m, axis=axis, keepdims=True)),)


max = Primitive("max", lambda x, axis, keepdims, shape: np.max(x, axis=axis, keepdims=keepdims), _extreme_vjp,
                reads="x out", gate="routes",
                local=("upstream at the maximum (tied maxima share it equally), 0 elsewhere",),
                doc="max over axes; routes the gradient to the maximum, ties share it equally",
                xfwd=lambda xp, x, axis, keepdims, shape: xp.max(x, axis=axis, keepdims=keepdims))
min = Primitive("min", lambda x, axis, keepdims, shape: np.min(x, axis=axis, keepdims=keepdims), _extreme_vjp,
                reads="x out", gate="routes",
                local=("upstream at the minimum (tied minima share it equally), 0 elsewhere",),
                doc="min over axes; routes the gradient to the minimum, ties share it equally",
                xfwd=lambda xp, x, axis, keepdims, shape: xp.min(x, axis=axis, keepdims=keepdims))


def _lse_fwd(x, axis, keepdims, shape):
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.reshape(out, [n for i, n in enumerate(out.shape)
                                                 if not (axis is None or i in axis)])


def _lse_xfwd(xp, x, axis, keepdims, shape):
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.reshape(out, tuple(n for i, n in enumerate(out.shape)
                                                      if not (axis is None or i in axis)))


def _lse_vjp(xp, need, g, ans, x, axis, keepdims, shape):
    gk = _expand(xp, g, axis, keepdims, shape)
    ak = _expand(xp, ans, axis, keepdims, shape)
    return (gk * xp.exp(x - ak),)


logsumexp = Primitive("logsumexp", _lse_fwd, _lse_vjp, reads="x out",
                      local=("upstream × softmax({x})",),
                      doc="log(sum(exp(x))) computed stably (shifted by the max)",
                      xfwd=_lse_xfwd)


def _softmax_fwd(x, axis):
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _softmax_xfwd(xp, x, axis):
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _softmax_vjp(xp, need, g, ans, x, axis):
    return (ans * (g - xp.sum(g * ans, axis=axis, keepdims=True)),)


softmax = Primitive("softmax", _softmax_fwd, _softmax_vjp, reads="out",
                    local=("{out} × (upstream − Σ(upstream × {out}))",),
                    doc="softmax along one axis, fused (stable for large logits)",
                    xfwd=_softmax_xfwd)


def _log_softmax_fwd(x, axis):
    x = np.asarray(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _log_softmax_xfwd(xp, x, axis):
    z = x - xp.max(x, axis=axis, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def _log_softmax_vjp(xp, need, g, ans, x, axis):
    return (g - xp.exp(ans) * xp.sum(g, axis=axis, keepdims=True),)


log_softmax = Primitive("log_softmax", _log_softmax_fwd, _log_softmax_vjp, reads="out",
                        local=("upstream − exp({out}) × Σ upstream",),
                        doc="log of softmax along one axis, fused (finite for logits of ±1000)",
                        xfwd=_log_softmax_xfwd)
