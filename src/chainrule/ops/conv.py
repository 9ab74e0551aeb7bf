"""Convolution and pooling as fused primitives: `im2col` / `col2im` (the sliding windows of an image
and their adjoint), `conv2d` (one batched matmul of the filters with the windows) and `max_pool2d`.
Their composite twins (loops over kernel positions built from indexing) are in the tests."""

from __future__ import annotations

import numpy as np

from ..core import Primitive, TensorBase, unwrap

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


def _pad_x(xp, x, ph, pw, fill=0.0):
    """x (N, C, H, W) padded by ph rows and pw columns of `fill` on each side, on any backend."""
    if not (ph or pw):
        return x
    N, C, H, W = x.shape
    out = xp.full((N, C, H + 2 * ph, W + 2 * pw), fill, dtype=x.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = x
    return out


def _im2col_xfwd(xp, x, shape, kernel, stride, padding):
    """im2col on any backend: one strided slice per kernel position, stacked (the standard has no
    sliding_window_view)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    x = _pad_x(xp, x, ph, pw)
    Ho, Wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    rows = [xp.stack([x[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] for j in range(kw)], axis=2)
            for i in range(kh)]
    return xp.stack(rows, axis=2)


def _col2im_xfwd(xp, cols, shape, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = shape
    Ho, Wo = cols.shape[-2:]
    out = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            win = (slice(None), slice(None), slice(i, i + sh * (Ho - 1) + 1, sh), slice(j, j + sw * (Wo - 1) + 1, sw))
            out[win] = out[win] + cols[:, :, i, j, ...]
    return out[:, :, ph:ph + H, pw:pw + W] if ph or pw else out


def _same_kind(g, t):
    """The adjoint primitive's result `t` as the kind of thing the rule got: a Tensor under create_graph,
    an array otherwise (another backend's arrays run these rules, not the NumPy fast rules)."""
    return t if isinstance(g, TensorBase) else t._data


# Each is the other's adjoint: the differentiable rules apply the other primitive (on Tensors), the
# fast rules its forward (on arrays).
im2col = Primitive("im2col", lambda x, shape, kernel, stride, padding: _im2col_fwd(x, kernel, stride, padding),
                   lambda xp, need, g, ans, x, **window: (_same_kind(g, col2im(g, **window)),),
                   fast=lambda need, g, ans, x, shape, kernel, stride, padding: (
                       _col2im_fwd(g, shape, kernel, stride, padding),),
                   gate="routes", local=("col2im(upstream): each window element's gradient added back to its pixel",),
                   doc="the sliding windows of a (padded) image as (N, C, kh, kw, Ho, Wo): convolution as matmul",
                   xfwd=_im2col_xfwd)
col2im = Primitive("col2im", _col2im_fwd,
                   lambda xp, need, g, ans, cols, **window: (_same_kind(g, im2col(g, **window)),),
                   fast=lambda need, g, ans, cols, shape, kernel, stride, padding: (
                       _im2col_fwd(g, kernel, stride, padding),),
                   inputs="cols", gate="distributes", local=("im2col(upstream)",),
                   doc="the adjoint of im2col (window sums back to pixels)",
                   xfwd=_col2im_xfwd)


def _conv_fwd(cols, W, b):
    N, C, kh, kw, Ho, Wo = cols.shape
    F = W.shape[0]
    out = np.matmul(W.reshape(F, C * kh * kw), cols.reshape(N, C * kh * kw, Ho * Wo))
    if np.ndim(b):
        out += b.reshape(F, 1)
    return out.reshape(N, F, Ho, Wo)


def _conv_xfwd(xp, cols, W, b):
    N, C, kh, kw, Ho, Wo = cols.shape
    F = W.shape[0]
    out = xp.matmul(xp.reshape(W, (F, C * kh * kw)), xp.reshape(cols, (N, C * kh * kw, Ho * Wo)))
    if hasattr(b, "shape") and b.ndim:
        out = out + xp.reshape(b, (F, 1))
    return xp.reshape(out, (N, F, Ho, Wo))


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


conv2d = Primitive("conv2d", _conv_fwd, _conv_vjp, inputs="cols W b", reads="cols W",
                   local=("{W}ᵀ @ upstream", "Σ over images of upstream @ {cols}ᵀ", "upstream summed"),
                   doc="convolution as one batched matmul of the filters with the im2col windows (+ bias)",
                   xfwd=_conv_xfwd)


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


def _maxpool_fast(need, g, ans, x, kernel, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    Ho, Wo = ans.shape[-2:]
    dx = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=g.dtype)
    for i, j, m in _maxpool_masks(x, ans, kernel, stride, padding):
        dx[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += g * m
    return (dx[:, :, ph:ph + H, pw:pw + W] if ph or pw else dx,)


def _maxpool_xfwd(xp, x, kernel, stride, padding):
    cols = _im2col_xfwd(xp, _pad_x(xp, x, *padding, fill=-xp.inf), None, kernel, stride, (0, 0))
    N, C, kh, kw, Ho, Wo = cols.shape
    return xp.max(xp.reshape(cols, (N, C, kh * kw, Ho, Wo)), axis=2)


def _maxpool_mask_x(c, xr, ar, kernel, stride, padding):
    """The masks of _maxpool_masks, as one (N, C, kh, kw, Ho, Wo) array, on any backend: the first
    maximum of each window (a cumulative count of the maxima before each position)."""
    cols = _im2col_xfwd(c, _pad_x(c, xr, *padding, fill=-c.inf), None, kernel, stride, (0, 0))
    N, C, kh, kw, Ho, Wo = cols.shape
    hit = c.astype(c.reshape(cols, (N, C, kh * kw, Ho, Wo)) == c.expand_dims(ar, axis=2), c.int32)
    first = (hit == 1) & (c.cumulative_sum(hit, axis=2) == 1)
    return c.reshape(first, cols.shape)


def _maxpool_vjp(xp, need, g, ans, x, kernel, stride, padding):
    xr, ar = unwrap(x), unwrap(ans)
    shape = xr.shape
    if isinstance(xr, np.ndarray):  # NumPy: the fast rule's masks, one kernel position at a time
        mask = np.zeros(ar.shape[:2] + kernel + ar.shape[2:], dtype=ar.dtype)
        for i, j, m in _maxpool_masks(xr, ar, kernel, stride, padding):
            mask[:, :, i, j] = m
    else:
        c = xp.raw(xr)
        mask = c.astype(_maxpool_mask_x(c, xr, ar, kernel, stride, padding), ar.dtype)
    cols = xp.reshape(g, ar.shape[:2] + (1, 1) + ar.shape[2:]) * mask
    return (_same_kind(g, col2im(cols, shape=shape, kernel=kernel, stride=stride, padding=padding)),)


max_pool2d = Primitive("max_pool2d", _maxpool_fwd, _maxpool_vjp, fast=_maxpool_fast, reads="x out", gate="routes",
                       local=("upstream routed to the (first) maximum of each window",),
                       doc="2-D max pooling over (N, C, H, W), vectorized over pixels (a loop over kernel positions)",
                       xfwd=_maxpool_xfwd)
