"""Fused primitives for neural networks, each for speed or numerical stability.

Every one has a composite twin built from the core primitives (see `chainrule.nn.functional`
and the tests): `linear` (x @ W.T + b in one node), `cross_entropy` (log-softmax and gather,
backward softmax - onehot), `binary_cross_entropy` (PyTorch's clamped logs),
`binary_cross_entropy_with_logits` (finite for any logit), `im2col` / `col2im` (the sliding
windows of a convolution and their adjoint) and `max_pool2d`.

Backward rules are written for both namespaces: with plain arrays they take the fast path; under
create_graph (`xp` is the Tensor namespace) they build the same result from differentiable ops.
"""

from __future__ import annotations

import numpy as np

from ..primitive import ARRAY_NS, Primitive
from ..tensor import Tensor


def _raw(v):
    return v._data if isinstance(v, Tensor) else v


def _ops():
    from .. import ops
    return ops


# -- linear ------------------------------------------------------------------------------------

def _linear_fwd(x, W, b):
    out = np.matmul(x, W.T)
    out += b
    return out


def _linear_vjp(xp, need, g, ans, x, W, b):
    n_out, n_in = W.shape
    gx = gW = gb = None
    if need[0] is not None:
        gx = g @ W
    if need[1] is not None or need[2] is not None:
        g2 = g if g.ndim == 2 else xp.reshape(g, (-1, n_out))
        if need[1] is not None:
            x2 = x if x.ndim == 2 else xp.reshape(x, (-1, n_in))
            gW = xp.transpose(g2) @ x2
        if need[2] is not None:
            gb = xp.sum(g2, axis=0)
    return gx, gW, gb


linear = Primitive("linear", _linear_fwd, _linear_vjp, save="01",
                   formula="dL/dx = upstream @ W,  dL/dW = upstreamᵀ @ x,  dL/db = sum of upstream over rows",
                   doc="affine layer x @ W.T + b as one node (W has shape (out, in), as PyTorch)")


# -- cross-entropy with class-index targets ------------------------------------------------------

def _pick(a, t):
    """a[n, t[n, ...], ...]: the target class's entry of each sample, shape t.shape."""
    if a.ndim == 2:
        return a[np.arange(len(t)), t]
    return np.take_along_axis(a, t[:, None], axis=1)[:, 0]


def _ce_fwd(x, t, sample_weight, reduction, cache=None):
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1)
    if cache is not None:  # the backward rule reuses e and s if it sees this very x
        cache.update(x=x, e=e, s=s)
    loss = np.log(s) - _pick(z, t)     # -log softmax(x)[target]
    if sample_weight is not None:
        loss *= sample_weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (t.size if sample_weight is None else sample_weight.sum())


def _ce_scale(g, t, w, reduction):
    """The upstream gradient of each sample's loss, with its class axis: (N, 1, ...) or a scalar."""
    if reduction == "mean":
        s = g / t.size if w is None else g * (w / w.sum())
    else:
        s = g if w is None else g * w
    return s if np.ndim(_raw(s)) == 0 else s[:, None]


def _ce_vjp(xp, need, g, ans, x, t, sample_weight, reduction, cache=None):
    scale = _ce_scale(g, t, sample_weight, reduction)
    if xp is ARRAY_NS:
        if cache and cache.get("x") is x:
            p = cache["e"] / cache["s"][:, None]
        else:
            p = np.exp(x - x.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        if x.ndim == 2:
            p[np.arange(len(t)), t] -= 1
        else:
            np.put_along_axis(p, t[:, None], np.take_along_axis(p, t[:, None], axis=1) - 1, axis=1)
        p *= scale
        return p, None
    e = xp.exp(x - _raw(x).max(axis=1, keepdims=True))
    p = e / xp.sum(e, axis=1, keepdims=True)
    onehot = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(onehot, t[:, None], 1, axis=1)
    return (p - onehot) * scale, None


cross_entropy = Primitive("cross_entropy", _ce_fwd, _ce_vjp, save="01",
                          formula="dL/dx = upstream * (softmax(x) - onehot(target)) / N",
                          doc="log-softmax over axis 1 and the target's entry, fused (finite for large logits)")


# -- binary cross-entropy on probabilities (PyTorch clamps each log at -100) ---------------------------

def _bce_fwd(p, t):
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


def _bce_vjp(xp, need, g, ans, p, t):
    if xp is ARRAY_NS:
        clamp, log = np.maximum, np.log
    else:
        ops = _ops()
        clamp, log = ops.maximum, ops.log
    gp = gt = None
    if need[0] is not None:
        gp = g * (p - t) / clamp(p * (1 - p), 1e-12)
    if need[1] is not None:
        with np.errstate(divide="ignore"):
            gt = g * (clamp(log(1 - p), -100) - clamp(log(p), -100))
    return gp, gt


binary_cross_entropy = Primitive(
    "binary_cross_entropy", _bce_fwd, _bce_vjp, save="01", broadcasts=True, elementwise=True,
    doc="-(t log p + (1-t) log(1-p)) with each log clamped at -100, as PyTorch")


# -- binary cross-entropy on logits --------------------------------------------------------------

def _softplus_neg(x):
    """log(1 + exp(-x)) for any x without overflow."""
    return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))


def _bcel_fwd(x, t, pw):
    sp = _softplus_neg(x)
    if np.ndim(pw) == 0 and pw == 1:
        return (1 - t) * x + sp
    return (1 - t) * x + (1 + (pw - 1) * t) * sp


def _bcel_vjp(xp, need, g, ans, x, t, pw):
    xr = _raw(x)
    if xp is ARRAY_NS:
        sig_neg = np.exp(-np.logaddexp(0, xr))             # sigmoid(-x), stable
        sp = _softplus_neg(xr)
    else:
        ops = _ops()
        sig_neg = ops.sigmoid(-x)
        sp = ops.maximum(-x, 0) + ops.log(1 + ops.exp(-ops.abs(x)))
    lw = 1 + (pw - 1) * t
    gx = g * ((1 - t) - lw * sig_neg) if need[0] is not None else None
    gt = g * ((pw - 1) * sp - x) if need[1] is not None else None
    gpw = g * t * sp if need[2] is not None else None
    return gx, gt, gpw


binary_cross_entropy_with_logits = Primitive(
    "binary_cross_entropy_with_logits", _bcel_fwd, _bcel_vjp, save="012", broadcasts=True, elementwise=True,
    formula="dL/dx = upstream * (sigmoid(x) - t) (with pos_weight: (1-t) - (1+(pw-1)t) sigmoid(-x))",
    doc="(1-t) x + (1+(pw-1)t) log(1+e^-x), stable for any logit")


# -- convolution windows -----------------------------------------------------------------------------

def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _im2col_fwd(x, kernel, stride, padding):
    """(N, C, H, W) -> (N, C, kh, kw, Ho, Wo): element [.., i, j, r, c] is x_padded[.., r*sh+i, c*sw+j]."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3))   # the one copy


def _col2im_fwd(cols, shape, kernel, stride, padding):
    """The adjoint of im2col: add every window element back where it came from."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = shape
    Ho, Wo = cols.shape[-2:]
    out = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += cols[:, :, i, j]
    return out[:, :, ph:ph + H, pw:pw + W] if ph or pw else out


def _im2col_vjp(xp, need, g, ans, x, shape, kernel, stride, padding):
    if xp is ARRAY_NS:
        return (_col2im_fwd(g, shape, kernel, stride, padding),)
    return (col2im(g, shape=shape, kernel=kernel, stride=stride, padding=padding),)


def _col2im_vjp(xp, need, g, ans, cols, shape, kernel, stride, padding):
    if xp is ARRAY_NS:
        return (_im2col_fwd(g, kernel, stride, padding),)
    return (im2col(g, shape=shape, kernel=kernel, stride=stride, padding=padding),)


im2col = Primitive("im2col", lambda x, shape, kernel, stride, padding: _im2col_fwd(x, kernel, stride, padding),
                   _im2col_vjp, gate="routes",
                   formula="dL/dx = col2im(upstream): each window element's gradient added back to its pixel",
                   doc="the sliding windows of a (padded) image as (N, C, kh, kw, Ho, Wo): convolution as matmul")
col2im = Primitive("col2im", _col2im_fwd, _col2im_vjp, gate="distributes",
                   formula="dL/dcols = im2col(upstream)", doc="the adjoint of im2col (window sums back to pixels)")


def _conv_fwd(cols, W, b):
    N, C, kh, kw, Ho, Wo = cols.shape
    F = W.shape[0]
    out = np.matmul(W.reshape(F, C * kh * kw), cols.reshape(N, C * kh * kw, Ho * Wo))
    if np.ndim(b):
        out += b.reshape(F, 1)
    return out.reshape(N, F, Ho, Wo)


def _conv_vjp(xp, need, g, ans, cols, W, b):
    N, C, kh, kw, Ho, Wo = cols.shape
    F, k = W.shape[0], C * kh * kw
    g3 = xp.reshape(g, (N, F, Ho * Wo))
    gc = gW = gb = None
    if need[0] is not None:
        gc = xp.reshape(xp.swapaxes(xp.reshape(W, (F, k)), 0, 1) @ g3, cols.shape)
    if need[1] is not None:
        gW = xp.reshape(xp.sum(g3 @ xp.swapaxes(xp.reshape(cols, (N, k, Ho * Wo)), 1, 2), axis=0), W.shape)
    if need[2] is not None:
        gb = xp.sum(g3, axis=(0, 2))
    return gc, gW, gb


conv2d = Primitive("conv2d", _conv_fwd, _conv_vjp, save="01",
                   formula="dL/dcols = Wᵀ @ upstream,  dL/dW = sum over images of upstream @ colsᵀ,  "
                           "dL/db = sum of upstream",
                   doc="convolution as one batched matmul of the filters with the im2col windows (+ bias)")


# -- max pooling ---------------------------------------------------------------------------------------

def _windows(x, kernel, stride, padding, fill):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    Ho, Wo = _out_size(H, kh, sh, ph), _out_size(W, kw, sw, pw)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]


def _maxpool_fwd(x, kernel, stride, padding):
    out = None
    for _, _, win in _windows(x, kernel, stride, padding, -np.inf):
        out = win.copy() if out is None else np.maximum(out, win, out=out)
    return out


def _maxpool_masks(x, ans, kernel, stride, padding):
    """One boolean mask per kernel position: where that position holds the window's first maximum."""
    taken = np.zeros(ans.shape, dtype=bool)
    for i, j, win in _windows(x, kernel, stride, padding, -np.inf):
        m = (win == ans) & ~taken
        taken |= m
        yield i, j, m


def _maxpool_vjp(xp, need, g, ans, x, kernel, stride, padding):
    xr, ar = _raw(x), _raw(ans)
    shape = xr.shape
    if xp is ARRAY_NS:
        (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
        N, C, H, W = shape
        Ho, Wo = ar.shape[-2:]
        dx = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=g.dtype)
        for i, j, m in _maxpool_masks(xr, ar, kernel, stride, padding):
            dx[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += g * m
        return (dx[:, :, ph:ph + H, pw:pw + W] if ph or pw else dx,)
    kh, kw = kernel
    mask = np.zeros(ar.shape[:2] + (kh, kw) + ar.shape[2:], dtype=ar.dtype)
    for i, j, m in _maxpool_masks(xr, ar, kernel, stride, padding):
        mask[:, :, i, j] = m
    cols = xp.reshape(g, ar.shape[:2] + (1, 1) + ar.shape[2:]) * mask
    return (col2im(cols, shape=shape, kernel=kernel, stride=stride, padding=padding),)


max_pool2d = Primitive("max_pool2d", _maxpool_fwd, _maxpool_vjp, save="0a", gate="routes",
                       formula="dL/dx = upstream routed to the (first) maximum of each window",
                       doc="2-D max pooling over (N, C, H, W), vectorized over pixels (a loop over kernel positions)")
