"""Fused loss primitives, each for numerical stability (and speed), each with a composite twin in
the tests: `cross_entropy` (log-softmax and the target's entry; backward softmax - onehot),
`binary_cross_entropy` (PyTorch's clamped logs), `binary_cross_entropy_with_logits` (finite for
any logit)."""

from __future__ import annotations

import numpy as np

from ..backend import backend_of
from ..core import Primitive, unwrap

# -- cross-entropy with class-index targets ------------------------------------------------------


def _pick(a, t):
    """a[n, t[n, ...], ...]: the target class's entry of each sample, shape t.shape."""
    if a.ndim == 2:
        return a[np.arange(len(t)), t]
    return np.take_along_axis(a, t[:, None], axis=1)[:, 0]


def _ce_fwd(x, t, sample_weight, reduction):
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1)
    loss = np.log(s) - _pick(z, t)     # -log softmax(x)[target]
    if sample_weight is not None:
        loss *= sample_weight
    if reduction != "none":
        loss = loss.sum()
        if reduction == "mean":
            loss = loss / (t.size if sample_weight is None else sample_weight.sum())
    return loss, e, s  # the exponentials and their sums: residuals for the fast rule


def _ce_xfwd(xp, x, t, sample_weight, reduction):
    z = x - xp.max(x, axis=1, keepdims=True)
    loss = xp.log(xp.sum(xp.exp(z), axis=1)) - xp.take_along_axis(z, t[:, None, ...], axis=1)[:, 0, ...]
    w = None if sample_weight is None else xp.asarray(sample_weight)
    if w is not None:
        loss = loss * w
    if reduction != "none":
        loss = xp.sum(loss)
        if reduction == "mean":
            loss = loss / (t.size if w is None else xp.sum(w))
    return loss, None, None  # (the residuals are the NumPy fast rule's)


def _ce_scale(g, t, w, reduction):
    """The upstream gradient of each sample's loss, with its class axis: (N, 1, ...) or a scalar."""
    if reduction == "mean":
        s = g / t.size if w is None else g * (w / (w.sum() if isinstance(w, np.ndarray) else backend_of(w).sum(w)))
    else:
        s = g if w is None else g * w
    return s if len(getattr(unwrap(s), "shape", ())) == 0 else s[:, None]


def _ce_vjp(xp, need, g, ans, x, t, e, s, sample_weight, reduction):
    c = xp.raw(t)  # the namespace of the constants (the shift, the one-hot targets, the weights)
    ex = xp.exp(x - c.max(unwrap(x), axis=1, keepdims=True))
    p = ex / xp.sum(ex, axis=1, keepdims=True)
    classes = c.reshape(c.arange(x.shape[1]), (1, x.shape[1]) + (1,) * (x.ndim - 2))
    onehot = c.astype(t[:, None, ...] == classes, x.dtype)
    w = None if sample_weight is None else c.asarray(sample_weight)
    return (p - onehot) * _ce_scale(g, t, w, reduction), None


def _ce_fast(need, g, ans, x, t, e, s, sample_weight, reduction):
    p = e / s[:, None]
    if p.ndim == 2:
        p[np.arange(len(t)), t] -= 1
    else:
        np.put_along_axis(p, t[:, None], np.take_along_axis(p, t[:, None], axis=1) - 1, axis=1)
    p *= _ce_scale(g, t, sample_weight, reduction)
    return p, None


cross_entropy = Primitive("cross_entropy", _ce_fwd, _ce_vjp, fast=_ce_fast, inputs="x target", residuals="e s",
                          reads="x target", fast_reads="target e s",
                          local=("upstream × (softmax({x}) − onehot({target})) / N", None),
                          doc="log-softmax over axis 1 and the target's entry, fused (finite for large logits)",
                          xfwd=_ce_xfwd)


# -- binary cross-entropy on probabilities (PyTorch clamps each log at -100) ---------------------------

def _bce_fwd(p, t):
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


def _bce_xfwd(xp, p, t):
    return -(t * xp.maximum(xp.log(p), -100.0) + (1 - t) * xp.maximum(xp.log1p(-p), -100.0))


def _bce_vjp(xp, need, g, ans, p, t):
    gp = gt = None
    if need[0] is not None:
        gp = g * (p - t) / xp.maximum(p * (1 - p), 1e-12)
    if need[1] is not None:
        with np.errstate(divide="ignore"):
            gt = g * (xp.maximum(xp.log(1 - p), -100) - xp.maximum(xp.log(p), -100))
    return gp, gt


binary_cross_entropy = Primitive(
    "binary_cross_entropy", _bce_fwd, _bce_vjp, inputs="p t", reads="p t", broadcasts=True, elementwise=True,
    local=("({p} − {t}) / ({p}(1 − {p}))", "log(1 − {p}) − log {p}"),
    doc="-(t log p + (1-t) log(1-p)) with each log clamped at -100, as PyTorch",
    xfwd=_bce_xfwd)


# -- binary cross-entropy on logits --------------------------------------------------------------

def _softplus_neg(x):
    """log(1 + exp(-x)) for any x without overflow."""
    return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))


def _bcel_fwd(x, t, pw):
    sp = _softplus_neg(x)
    if np.ndim(pw) == 0 and pw == 1:
        return (1 - t) * x + sp
    return (1 - t) * x + (1 + (pw - 1) * t) * sp


def _bcel_xfwd(xp, x, t, pw):
    sp = xp.maximum(-x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))
    return (1 - t) * x + (1 + (pw - 1) * t) * sp


def _bcel_grads(need, g, x, t, pw, sig_neg, sp):
    lw = 1 + t * (pw - 1)  # (a Tensor on the left: another backend's arrays do not defer to Tensors)
    gx = g * ((1 - t) - lw * sig_neg) if need[0] is not None else None
    gt = g * (sp * (pw - 1) - x) if need[1] is not None else None
    gpw = g * t * sp if need[2] is not None else None
    return gx, gt, gpw


def _bcel_vjp(xp, need, g, ans, x, t, pw):
    e = xp.exp(-xp.abs(x))
    sig_neg = xp.where(unwrap(x) >= 0, e / (1 + e), 1 / (1 + e))   # sigmoid(-x), stable
    sp = xp.maximum(-x, 0) + xp.log(1 + e)
    return _bcel_grads(need, g, x, t, pw, sig_neg, sp)


def _bcel_fast(need, g, ans, x, t, pw):
    return _bcel_grads(need, g, x, t, pw, np.exp(-np.logaddexp(0, x)), _softplus_neg(x))


binary_cross_entropy_with_logits = Primitive(
    "binary_cross_entropy_with_logits", _bcel_fwd, _bcel_vjp, fast=_bcel_fast, inputs="x t pos_weight",
    reads="x t pos_weight", broadcasts=True, elementwise=True,
    local=("(1 − {t}) − (1 + ({pos_weight} − 1){t}) σ(−{x})", "({pos_weight} − 1) log(1 + e^−{x}) − {x}",
           "{t} log(1 + e^−{x})"),
    doc="(1-t) x + (1+(pw-1)t) log(1+e^-x), stable for any logit",
    xfwd=_bcel_xfwd)
