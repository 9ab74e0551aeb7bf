"""Activations, layers as functions, and losses (PyTorch's `torch.nn.functional` names).

Losses take `reduction="mean" | "sum" | "none"`; targets may be arrays, lists or Tensors.
Activations that act along one axis accept PyTorch's `dim` as well as NumPy's `axis`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend, ops
from ..core import ShapeError, TensorBase, unwrap, wrap
from ..ops import conv, losses, special
from ..ops.watch import report
from ..transforms.compile import replayed
from .init import _default_rng

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "elu", "silu",
    "linear", "dropout", "batch_norm", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "flatten",
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
    "l1_loss", "gaussian_nll_loss", "multi_margin_loss", "gaussian_mixture_nll", "gaussian_kl",
    "l1_penalty", "l2_penalty", "layer_norm", "embedding", "one_hot", "kl_div", "pad",
    "gelu", "scaled_dot_product_attention", "group_norm", "conv_transpose2d", "interpolate",
]

_REDUCTIONS = ("mean", "sum", "none")


def _data(x):
    """x's array as NumPy sees it; another backend's array as its shape and dtype (`_Meta`)."""
    d = unwrap(x)
    return np.asarray(d) if backend.backend_of(d) is None else _Meta(d)


class _Meta:
    """The shape and dtype of another backend's array, read without copying it to the host
    (`np.asarray(meta)` makes the host copy, where the values are needed)."""

    def __init__(self, a):
        self.a, self.shape, self.ndim = a, tuple(a.shape), a.ndim
        self.dtype, self.size = backend.backend_of(a).np_dtype(a.dtype), int(np.prod(self.shape))

    def __array__(self, dtype=None, copy=None):
        h = backend.to_host(self.a)
        return h if dtype is None else h.astype(dtype)


def _const(a, like=None):
    """A constant Tensor around an array (0-d values as NumPy scalars, as the core keeps them), on the
    device of the tensor `like` when given."""
    if like is not None and backend.backend_of(unwrap(like)) is not None:
        return wrap(backend.to_device(np.asarray(a), backend.device_of(unwrap(like))), None)
    return wrap(a[()] if type(a) is np.ndarray and not a.shape else a, None)


def _tensor(x):
    return x if isinstance(x, TensorBase) else _const(np.asarray(x))


def _pick_axis(dim, axis, default, opname):
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{opname}: give dim or axis, not both (got dim={dim}, axis={axis})")
    a = dim if dim is not None else axis
    return default if a is None else a


def _check_reduction(reduction, opname):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{opname}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction, opname):
    _check_reduction(reduction, opname)
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _float_like(target, x, opname):
    """A target as a Tensor in x's float dtype (a target that requires grad is kept as it is)."""
    if isinstance(target, TensorBase) and target.requires_grad:
        return target
    t = np.asarray(_data(target))
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{opname}: target must be numeric, got dtype {t.dtype}")
    dtype = _data(x).dtype
    return _const(t if t.dtype == dtype else t.astype(dtype), like=x)


def _same_shape(x, t, opname):
    if _data(x).shape != _data(t).shape:
        raise ShapeError(f"{opname}: input of shape {_data(x).shape} and target of shape {_data(t).shape} "
                         "must have the same shape")


# -- activations --------------------------------------------------------------------------------

def relu(x):
    return ops.relu(x)


def leaky_relu(x, negative_slope=0.01):
    x = _tensor(x)
    return ops.where(x._data > 0, x, x * negative_slope)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, dim=None, axis=None):
    return ops.softmax(x, axis=_pick_axis(dim, axis, -1, "softmax"))


def log_softmax(x, dim=None, axis=None):
    return ops.log_softmax(x, axis=_pick_axis(dim, axis, -1, "log_softmax"))


def softplus(x, beta=1.0):
    x = _tensor(x)
    bx = x * beta if beta != 1 else x
    # log(1 + e^bx) = max(bx, 0) + log(1 + e^-|bx|): finite for any x
    out = ops.maximum(bx, 0.0) + ops.log(1.0 + ops.exp(-ops.abs(bx)))
    return out / beta if beta != 1 else out


def elu(x, alpha=1.0):
    x = _tensor(x)
    pos = x._data > 0
    neg = alpha * (ops.exp(ops.where(pos, 0.0, x)) - 1.0)
    return ops.where(pos, x, neg)


def silu(x):
    return x * ops.sigmoid(x)


# -- layers as functions ------------------------------------------------------------------------

def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight of shape (out_features, in_features)."""
    xs, ws = _data(x).shape, _data(weight).shape
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ShapeError(f"linear: input of shape {xs} does not match weight of shape {ws} "
                         f"(expected (..., {ws[1] if len(ws) == 2 else '?'}) for weight (out, in))")
    if bias is None:
        return ops.matmul(x, ops.transpose(weight))
    if _data(bias).shape != ws[:1]:
        raise ShapeError(f"linear: bias of shape {_data(bias).shape} does not match weight of shape {ws}")
    return ops.linear(x, weight, bias)


def flatten(x, start_dim=1, end_dim=-1):
    s = _data(x).shape
    nd = len(s)
    a, b = start_dim % max(nd, 1), end_dim % max(nd, 1)
    if a > b:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {s}")
    return ops.reshape(x, s[:a] + (int(np.prod(s[a:b + 1])),) + s[b + 1:])


def dropout(x, p=0.5, training=True, inplace=False, rng=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training).
    The mask is drawn from `rng`, else from the generator `cr.manual_seed` seeds. (`inplace` is
    accepted for PyTorch's signature; the result is a new tensor either way.)"""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    xd = _data(x)
    if p == 1:
        return x * np.zeros((), dtype=xd.dtype)
    return x * replayed(_dropout_mask, rng, xd.shape, xd.dtype, p)  # cr.compile: a fresh mask every replay


def _dropout_mask(rng, shape, dtype, p):
    r = (rng or _default_rng()).random(shape, dtype=np.float32 if dtype == np.float32 else np.float64)
    return (r >= p).astype(dtype) * dtype.type(1 / (1 - p))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Batch normalization of each channel (axis 1) over the batch and every spatial axis: input
    (N, C), (N, C, L) or (N, C, H, W) (and (N, C, D, H, W)), as PyTorch.

    In training the batch statistics are used and `running_mean` / `running_var` (arrays, updated in
    place) move toward them; otherwise the running statistics are used.
    """
    xd = _data(x)
    if xd.ndim not in (2, 3, 4, 5):
        raise ShapeError(f"batch_norm: expected input of shape (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W), "
                         f"got {xd.shape}")
    axes = (0,) + tuple(range(2, xd.ndim))
    shape = (1, xd.shape[1]) + (1,) * (xd.ndim - 2)
    if training:
        n = xd.size // xd.shape[1]
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"of shape {xd.shape}")
        mu = ops.mean(x, axis=axes, keepdims=True)
        xc = x - mu
        var = ops.mean(xc * xc, axis=axes, keepdims=True)
        if running_mean is not None:
            replayed(_move_toward, running_mean, mu._data, momentum, 1)  # cr.compile: on every replay
        if running_var is not None:
            replayed(_move_toward, running_var, var._data, momentum, n / (n - 1))
        out = xc / ops.sqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation needs running statistics (running_mean, running_var)")
        rm = _stat(running_mean, xd.dtype, shape)
        rs = 1 / backend.namespace(running_var).sqrt(_stat(running_var, xd.dtype, shape) + eps)
        out = (x - rm) * rs
    if weight is not None:
        out = out * ops.reshape(weight, shape)
    if bias is not None:
        out = out + ops.reshape(bias, shape)
    return out


def _stat(a, dtype, shape):
    """A statistic's array (of any backend) in `dtype`, reshaped to `shape`."""
    b = backend.backend_of(a)
    if b is None:
        return np.asarray(a, dtype=dtype).reshape(shape)
    return b.reshape(b.astype(a, dtype), shape)


def _move_toward(running, stat, momentum, scale):
    """running <- (1 - momentum) running + momentum scale stat, in place (batch norm's running statistics)."""
    stat = _stat(stat, running.dtype, (-1,))
    running *= 1 - momentum
    running += momentum * stat * scale if scale != 1 else momentum * stat


def _pair(v, name, opname, least=0):
    """An int or a pair of ints (not floats, bools or strings), each at least `least`, as a pair."""
    pair = (v, v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else \
        tuple(v) if hasattr(v, "__iter__") and not isinstance(v, (str, bytes)) else None
    if pair is None or len(pair) != 2 or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in pair):
        raise ValueError(f"{opname}: {name} must be an int or a pair of ints, got {v!r}")
    if min(pair) < least:
        raise ValueError(f"{opname}: {name} must be at least {least}, got {v!r}")
    return (int(pair[0]), int(pair[1]))


def _window_args(xs, kernel, stride, padding, opname):
    if len(xs) != 4:
        raise ShapeError(f"{opname}: expected input of shape (N, C, H, W), got {xs}")
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"{opname}: kernel {kernel} and stride {stride} must be positive, padding {padding} "
                         "non-negative")
    if xs[2] + 2 * ph < kh or xs[3] + 2 * pw < kw:
        raise ShapeError(f"{opname}: kernel {kernel} is larger than the padded input {xs[2] + 2 * ph}x"
                         f"{xs[3] + 2 * pw} (input shape {xs}, padding {padding})")


def _conv_padding(padding, kernel, stride):
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        if stride != (1, 1) or kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise ValueError(f"conv2d: padding='same' needs stride 1 and odd kernel sizes, got kernel {kernel} "
                             f"and stride {stride}")
        return (kernel[0] // 2, kernel[1] // 2)
    if isinstance(padding, str):
        raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return _pair(padding, "padding", "conv2d")


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), weight (F, C, kh, kw), bias (F,).

    `padding` is an int, a pair, "valid" (0) or "same" (stride 1, odd kernel sizes).
    im2col windows (one copy, no loop over pixels), then a single batched matmul.
    """
    xs, ws = _data(x).shape, _data(weight).shape
    if len(ws) != 4:
        raise ShapeError(f"conv2d: weight must have shape (F, C, kh, kw), got {ws}")
    kernel, stride = ws[2:], _pair(stride, "stride", "conv2d")
    padding = _conv_padding(padding, kernel, stride)
    _window_args(xs, kernel, stride, padding, "conv2d")
    if xs[1] != ws[1]:
        raise ShapeError(f"conv2d: input of shape {xs} has {xs[1]} channels but weight of shape {ws} "
                         f"expects {ws[1]}")
    F = ws[0]
    if bias is not None and _data(bias).shape != (F,):
        raise ShapeError(f"conv2d: bias of shape {_data(bias).shape} does not match {F} filters")
    cols = conv.im2col(x, shape=xs, kernel=kernel, stride=stride, padding=padding)
    return conv.conv2d(cols, weight, 0.0 if bias is None else bias)


def _ceil_extra(xs, kernel, stride, padding):
    """ceil_mode's extra rows and columns past the bottom and right padding (PyTorch's output size:
    ceil((n + 2p - k) / s) + 1 windows, less one if the last would start past the input and its left
    padding)."""
    extra = []
    for n, k, s, p in zip(xs[2:], kernel, stride, padding):
        out = -(-(n + 2 * p - k) // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        extra.append(max((out - 1) * s + k - (n + 2 * p), 0))
    return tuple(extra)


def _pool_args(x, kernel_size, stride, padding, ceil_mode, opname):
    kernel = _pair(kernel_size, "kernel_size", opname)
    stride = kernel if stride is None else _pair(stride, "stride", opname)
    padding = _pair(padding, "padding", opname)
    xs = _data(x).shape
    _window_args(xs, kernel, stride, padding, opname)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{opname}: padding {padding} should be at most half of kernel_size {kernel}")
    return xs, kernel, stride, padding, _ceil_extra(xs, kernel, stride, padding) if ceil_mode else (0, 0)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over windows of (N, C, H, W). With ceil_mode the last windows may run past the padded input:
    the input is padded by -inf there (and on every side by `padding`), so they take the max of what
    they cover."""
    xs, kernel, stride, padding, (eh, ew) = _pool_args(x, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    if eh or ew:
        (ph, pw) = padding
        x = pad(x, (pw, pw + ew, ph, ph + eh), value=-np.inf)
        padding = (0, 0)
    return conv.max_pool2d(x, kernel=kernel, stride=stride, padding=padding)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average over windows of (N, C, H, W): im2col windows, then their mean (PyTorch's semantics:
    zero padding counts towards the average unless count_include_pad=False; with ceil_mode, the part
    of a window past the padded input never counts)."""
    xs, kernel, stride, padding, (eh, ew) = _pool_args(input, kernel_size, stride, padding, ceil_mode,
                                                       "avg_pool2d")
    (ph, pw) = padding
    if eh or ew:
        input = pad(input, (pw, pw + ew, ph, ph + eh))
        window = dict(kernel=kernel, stride=stride, padding=(0, 0))
    else:
        window = dict(kernel=kernel, stride=stride, padding=padding)
    total = ops.sum(conv.im2col(input, shape=_data(input).shape, **window), axis=(2, 3))
    if divisor_override is not None:
        return total / divisor_override
    if (count_include_pad or padding == (0, 0)) and not (eh or ew):
        return total / (kernel[0] * kernel[1])
    # the divisor per window: the positions it covers that count (the input, and its padding if included)
    counted = np.zeros((1, 1, xs[2] + 2 * ph + eh, xs[3] + 2 * pw + ew), dtype=_data(input).dtype)
    if count_include_pad:
        counted[..., :xs[2] + 2 * ph, :xs[3] + 2 * pw] = 1
    else:
        counted[..., ph:ph + xs[2], pw:pw + xs[3]] = 1
    if not (eh or ew):
        counted = counted[..., ph:ph + xs[2], pw:pw + xs[3]]
    counts = conv.im2col(counted, shape=counted.shape, **window)._data.sum(axis=(2, 3))
    return total / counts


def adaptive_avg_pool2d(input, output_size):
    """Average over the adaptive bins of (N, C, H, W): bin i of an axis of n covers
    [floor(i n / out), ceil((i + 1) n / out)), as PyTorch's."""
    xs = _data(input).shape
    if len(xs) != 4:
        raise ShapeError(f"adaptive_avg_pool2d: expected input of shape (N, C, H, W), got {xs}")
    oh, ow = (output_size, output_size) if isinstance(output_size, numbers.Integral) else tuple(output_size)
    oh, ow = xs[2] if oh is None else int(oh), xs[3] if ow is None else int(ow)
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    if (oh, ow) == (1, 1):
        return ops.mean(input, axis=(2, 3), keepdims=True)

    def bins(n, out):
        return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]

    rows = [ops.stack([ops.mean(input[:, :, a:b, c:d], axis=(2, 3)) for c, d in bins(xs[3], ow)], axis=-1)
            for a, b in bins(xs[2], oh)]
    return ops.stack(rows, axis=-2)


# -- attention, normalization and resampling (issue 15: transformers, GroupNorm, ConvTranspose2d) ------

def gelu(input, approximate="none"):
    """x Φ(x), Φ the Gaussian CDF (one fused node, ops/special.py; its composite twin is
    0.5 x (1 + erf(x / √2))); approximate="tanh" is PyTorch's tanh form
    0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), a composite."""
    x = _tensor(input)
    if _data(x).dtype.kind != "f":
        raise TypeError(f"gelu: expected a floating-point input, got dtype {_data(x).dtype}")
    if approximate == "none":
        return special.gelu(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + ops.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _mask_bias(mask, shape, dtype, opname, keep_true):
    """An attention mask as an additive bias broadcastable to the scores' shape: a boolean mask gives
    0 where attention is allowed and -inf elsewhere (`keep_true`: True marks allowed, as
    scaled_dot_product_attention's; else True marks masked, as MultiheadAttention's); a float mask is
    added as it is (and may require grad)."""
    m = mask if isinstance(mask, TensorBase) else np.asarray(mask)
    md = _data(m)
    try:
        np.broadcast_shapes(md.shape, shape)
    except ValueError:
        raise ShapeError(f"{opname}: mask of shape {md.shape} does not broadcast to the attention scores' "
                         f"shape {shape}") from None
    if md.dtype == bool:
        if isinstance(m, TensorBase):  # its values become a constant of the graph: cr.compile cannot replay that
            report("uses a boolean mask Tensor's values (attention masks)")
        allowed = md if keep_true else ~md
        return _const(np.where(allowed, 0, -np.inf).astype(dtype))
    if md.dtype.kind != "f":
        raise TypeError(f"{opname}: mask must be boolean or floating point, got dtype {md.dtype}")
    return m if isinstance(m, TensorBase) else _const(md.astype(dtype, copy=False))


def _causal_bias(L, S, dtype):
    """-inf above the diagonal: position i attends to positions <= i (top-left aligned, as PyTorch)."""
    return np.where(np.tri(L, S, dtype=bool), 0, -np.inf).astype(dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, rng=None):
    """softmax(q kᵀ · scale + mask) v over the last two axes, as PyTorch's: query (..., L, E), key
    (..., S, E), value (..., S, Ev); scale defaults to 1/√E. A boolean attn_mask marks with True the
    pairs that may attend; a float one is added to the scores. is_causal masks every key after its
    query. Built from matmul and softmax (composite), so the lecture's gates show in a trace."""
    qs, ks, vs = _data(query).shape, _data(key).shape, _data(value).shape
    if len(qs) < 2 or len(ks) < 2 or len(vs) < 2 or qs[-1] != ks[-1] or ks[-2] != vs[-2]:
        raise ShapeError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and value "
                         f"(..., S, Ev), got {qs}, {ks}, {vs}")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    dtype = _data(query).dtype
    shape = np.broadcast_shapes(qs[:-2], ks[:-2]) + (qs[-2], ks[-2])
    bias = None
    if is_causal:
        bias = _const(_causal_bias(qs[-2], ks[-2], dtype))
    elif attn_mask is not None:
        bias = _mask_bias(attn_mask, shape, dtype, "scaled_dot_product_attention", keep_true=True)
    return _attention(query, key, value, bias, dropout_p, scale, rng)[0]


def _attention(q, k, v, bias=None, dropout_p=0.0, scale=None, rng=None):
    """(softmax(q kᵀ · scale + bias) v, the attention weights), dropout applied to the weights."""
    scale = 1 / math.sqrt(_data(q).shape[-1]) if scale is None else scale
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    weights = ops.softmax(scores, axis=-1)
    if dropout_p:
        weights = dropout(weights, dropout_p, rng=rng)
    return ops.matmul(weights, v), weights


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalizes each sample's channels in `num_groups` groups (over the group's channels and every
    spatial position; biased variance), then scales and shifts each channel, as PyTorch."""
    xs = _data(input).shape
    if len(xs) < 2 or num_groups < 1 or xs[1] % num_groups:
        raise ShapeError(f"group_norm: input of shape {xs} needs (N, C, ...) with C divisible by num_groups "
                         f"{num_groups}")
    x = ops.reshape(_tensor(input), (xs[0], num_groups, -1))
    xc = x - ops.mean(x, axis=-1, keepdims=True)
    out = ops.reshape(xc / ops.sqrt(ops.mean(xc * xc, axis=-1, keepdims=True) + eps), xs)
    shape = (1, xs[1]) + (1,) * (len(xs) - 2)
    for p, name in ((weight, "weight"), (bias, "bias")):
        if p is not None and _data(p).shape != (xs[1],):
            raise ShapeError(f"group_norm: {name} of shape {_data(p).shape} does not match {xs[1]} channels")
    if weight is not None:
        out = out * ops.reshape(weight, shape)
    if bias is not None:
        out = out + ops.reshape(bias, shape)
    return out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The adjoint of conv2d (PyTorch's conv_transpose2d): x (N, Cin, H, W), weight (Cin, Cout/groups,
    kh, kw). Each input pixel scatters weight × value into a kh × kw window of the output: one batched
    matmul makes those windows, then col2im (im2col's adjoint) adds them up, as conv2d's backward does.
    Output size (H - 1) stride - 2 padding + kh + output_padding."""
    xs, ws = _data(input).shape, _data(weight).shape
    if len(xs) != 4 or len(ws) != 4:
        raise ShapeError(f"conv_transpose2d: expected input (N, C, H, W) and weight (Cin, Cout/groups, kh, kw), "
                         f"got {xs} and {ws}")
    if _pair(dilation, "dilation", "conv_transpose2d") != (1, 1):
        raise NotImplementedError("conv_transpose2d: only dilation=1 is supported")
    stride, padding = _pair(stride, "stride", "conv_transpose2d"), _pair(padding, "padding", "conv_transpose2d")
    opad = _pair(output_padding, "output_padding", "conv_transpose2d")
    (N, C, H, W), (kh, kw) = xs, ws[2:]
    G = int(groups)
    if G < 1 or C % G or ws[0] != C:
        raise ShapeError(f"conv_transpose2d: input of shape {xs} has {C} channels; weight of shape {ws} expects "
                         f"{ws[0]}, and groups={groups} must divide them")
    if min(stride) < 1 or min(padding) < 0 or min(opad) < 0 or opad[0] >= stride[0] or opad[1] >= stride[1]:
        raise ValueError(f"conv_transpose2d: stride {stride} must be positive, padding {padding} non-negative, "
                         f"output_padding {opad} smaller than the stride")
    Ho, Wo = (H - 1) * stride[0] - 2 * padding[0] + kh + opad[0], (W - 1) * stride[1] - 2 * padding[1] + kw + opad[1]
    if Ho < 1 or Wo < 1:
        raise ShapeError(f"conv_transpose2d: padding {padding} leaves no output for input {xs} and kernel "
                         f"{(kh, kw)}")
    F_out = ws[1] * G
    if bias is not None and _data(bias).shape != (F_out,):
        raise ShapeError(f"conv_transpose2d: bias of shape {_data(bias).shape} does not match {F_out} "
                         "output channels")
    # windows[n, g, (co, i, j), h*w] = sum over the group's ci of weight[ci, co, i, j] x[n, ci, h, w]
    wg = ops.swapaxes(ops.reshape(weight, (G, C // G, ws[1] * kh * kw)), 1, 2)
    cols = ops.matmul(wg, ops.reshape(input, (N, G, C // G, H * W)))
    cols = ops.reshape(cols, (N, F_out, kh, kw, H, W))
    out = conv.col2im(cols, shape=(N, F_out, Ho, Wo), kernel=(kh, kw), stride=stride, padding=padding)
    return out if bias is None else out + ops.reshape(bias, (1, F_out, 1, 1))


def _resize_sizes(xs, size, scale_factor, opname):
    """The output sizes of the spatial axes, and 1/scale_factor per axis (None where a size was given:
    the scale is then in/out)."""
    n = len(xs) - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{opname}: give exactly one of size and scale_factor")
    if size is not None:
        out = (int(size),) * n if isinstance(size, numbers.Integral) else tuple(int(s) for s in size)
        if len(out) != n:
            raise ValueError(f"{opname}: size {size} does not fit the {n} spatial axes of input {xs}")
        scales = [None] * n
    else:
        sf = (float(scale_factor),) * n if isinstance(scale_factor, numbers.Real) else \
            tuple(float(s) for s in scale_factor)
        if len(sf) != n or min(sf) <= 0:
            raise ValueError(f"{opname}: scale_factor {scale_factor} must be positive, one per spatial axis of "
                             f"input {xs}")
        out = tuple(int(math.floor(a * s)) for a, s in zip(xs[2:], sf))
        scales = [1 / s for s in sf]
    if min(out) < 1:
        raise ValueError(f"{opname}: output size {out} must be positive (input {xs})")
    return out, scales


def _linear_weights(n_in, n_out, scale, align_corners, dtype):
    """The (n_out, n_in) matrix of 1-D linear interpolation, with PyTorch's source coordinates."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = np.maximum(scale * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    A = np.zeros((n_out, n_in), dtype=dtype)
    np.add.at(A, (np.arange(n_out), i0), 1 - lam)
    np.add.at(A, (np.arange(n_out), i1), lam)
    return A


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L) or (N, C, H, W) as PyTorch: mode "nearest" (the source index is floor(dst ×
    scale), a gather whose gradient adds back), "linear" / "bilinear" (each axis a constant
    interpolation matrix applied by matmul, with align_corners False or True)."""
    xs = _data(input).shape
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode must be 'nearest', 'linear' or 'bilinear', got {mode!r}")
    want = {"linear": 3, "bilinear": 4}.get(mode)
    if len(xs) not in (3, 4) or (want and len(xs) != want):
        raise ShapeError(f"interpolate: mode {mode!r} expects input of shape "
                         f"{'(N, C, L)' if want == 3 else '(N, C, H, W)' if want else '(N, C, L) or (N, C, H, W)'}"
                         f", got {xs}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners applies only to the linear modes")
    if recompute_scale_factor or antialias:
        raise NotImplementedError("interpolate: recompute_scale_factor and antialias are not supported")
    out, scales = _resize_sizes(xs, size, scale_factor, "interpolate")
    x = _tensor(input)
    if mode == "nearest":
        idx = []
        for n_in, n_out, s in zip(xs[2:], out, scales):
            s = np.float32(n_in) / np.float32(n_out) if s is None else np.float32(s)  # float32, as PyTorch
            idx.append(np.minimum(np.floor(np.arange(n_out, dtype=np.float32) * s).astype(np.int64), n_in - 1))
        grid = np.ix_(*idx)
        return x[(slice(None), slice(None)) + grid]
    dtype = _data(x).dtype
    A = [_linear_weights(n_in, n_out, n_in / n_out if s is None else s, bool(align_corners), dtype)
         for n_in, n_out, s in zip(xs[2:], out, scales)]
    if len(A) == 2:
        x = ops.matmul(_const(A[0]), x)
    return ops.matmul(x, _const(np.ascontiguousarray(A[-1].T)))


# -- classification losses --------------------------------------------------------------------------

def _class_targets(target, x_shape, opname, ignore_index=None):
    """Integer class targets checked against the input's class axis; returns (targets, ignored mask).

    Ignored entries (== ignore_index) are replaced by class 0 so they can index safely; the mask
    (None when nothing is ignored) says which they were.
    """
    t = np.asarray(_data(target))  # (checked on the host: a device's targets are copied here)
    if t.dtype.kind == "f" and np.all(np.mod(t, 1) == 0):
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{opname}: class targets must be integers, got dtype {t.dtype}")
    want = x_shape[:1] + x_shape[2:]
    if t.shape != want:
        raise ShapeError(f"{opname}: input of shape {x_shape} needs class targets of shape {want}, "
                         f"got {t.shape}")
    C = x_shape[1]
    if t.size == 0 or (t.min() >= 0 and t.max() < C and not (ignore_index is not None and 0 <= ignore_index < C
                                                              and (t == ignore_index).any())):
        return t, None
    ignored = (t == ignore_index) if ignore_index is not None else np.zeros(t.shape, dtype=bool)
    bad = ((t < 0) | (t >= C)) & ~ignored
    if bad.any():
        vals = np.unique(t[bad])
        raise IndexError(f"{opname}: target values {vals[:10].tolist()} are out of range for {C} classes "
                         f"(valid: 0..{C - 1})")
    return np.where(ignored, 0, t), (ignored if ignored.any() else None)


def _sample_weight(t, ignored, weight, dtype):
    """weight[t] per sample (None when there are no class weights and nothing is ignored), 0 if ignored."""
    if weight is None and ignored is None:
        return None
    w = np.ones(t.shape, dtype=dtype) if weight is None else weight[t]
    if ignored is not None:
        w = np.where(ignored, 0, w).astype(dtype, copy=False)
    return w


def _class_weight(weight, C, dtype, opname):
    if weight is None:
        return None
    w = np.asarray(_data(weight), dtype=dtype)
    if w.shape != (C,):
        raise ShapeError(f"{opname}: weight must have one entry per class ({C}), got shape {w.shape}")
    return w


def _single_sample_target(target, xshape, opname):
    """The class target of a single sample (input of shape (C,)): it must be 0-d."""
    t = np.asarray(_data(target))
    if t.ndim != 0:
        raise ShapeError(f"{opname}: a single sample of shape {xshape} needs one class target (0-d), "
                         f"got targets of shape {t.shape}; for a batch, give the input as (N, C)")
    return t.reshape(1)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C) or (N, C, d...) and class indices (N,) or (N, d...).

    A target with the input's shape and a float dtype is read as class probabilities.
    Class-index targets use one fused node (finite for any logit size).
    `label_smoothing` ε mixes the target with the uniform distribution over the C classes, as
    PyTorch: (1 - ε) × the loss at the target + ε × the mean over classes of -log p (weighted,
    ignored samples left out, and normalized as the main term).
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    xd = _data(input)
    if xd.ndim == 1:   # a single sample
        return cross_entropy(ops.reshape(input, (1,) + xd.shape), _single_sample_target(target, xd.shape,
                                                                                         "cross_entropy"),
                             weight, ignore_index, "sum" if reduction == "none" else reduction, label_smoothing)
    if xd.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class axis, got a scalar")
    td = _data(target)
    if td.shape == xd.shape and td.dtype.kind == "f":
        logp = ops.log_softmax(input, axis=1)
        t = _float_like(target, input, "cross_entropy")
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + label_smoothing / xd.shape[1]
        if weight is not None:
            w = _class_weight(weight, xd.shape[1], xd.dtype, "cross_entropy")
            t = t * w.reshape((1, -1) + (1,) * (xd.ndim - 2))
        return _reduce(-ops.sum(logp * t, axis=1), reduction, "cross_entropy")
    t, ignored = _class_targets(target, xd.shape, "cross_entropy", ignore_index)
    cw = _class_weight(weight, xd.shape[1], xd.dtype, "cross_entropy")
    w = _sample_weight(t, ignored, cw, xd.dtype)
    loss = losses.cross_entropy(input, t, sample_weight=w, reduction=reduction)
    if not label_smoothing:
        return loss
    logp = ops.log_softmax(input, axis=1)
    if cw is not None:
        logp = logp * cw.reshape((1, -1) + (1,) * (xd.ndim - 2))
    smooth = -ops.sum(logp, axis=1)
    if ignored is not None:
        smooth = smooth * (~ignored).astype(xd.dtype)
    if reduction == "mean":  # normalized as the main term: by the summed weights of the kept samples
        smooth = ops.sum(smooth) / (t.size if w is None else w.sum())
    elif reduction == "sum":
        smooth = ops.sum(smooth)
    return loss * (1.0 - label_smoothing) + smooth * (label_smoothing / xd.shape[1])


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d...) at class indices."""
    _check_reduction(reduction, "nll_loss")
    xd = _data(input)
    if xd.ndim == 1:   # a single sample
        return nll_loss(ops.reshape(input, (1,) + xd.shape), _single_sample_target(target, xd.shape, "nll_loss"),
                        weight,
                        ignore_index, "sum" if reduction == "none" else reduction)
    if xd.ndim < 2:
        raise ShapeError(f"nll_loss: input must have shape (N, C, ...) or (C,), got {xd.shape}")
    t, ignored = _class_targets(target, xd.shape, "nll_loss", ignore_index)
    grids = np.indices(t.shape, sparse=True)
    picked = ops.getitem(input, (grids[0], t) + tuple(grids[1:]))
    w = _class_weight(weight, xd.shape[1], xd.dtype, "nll_loss")
    sw = _sample_weight(t, ignored, w, xd.dtype)
    if sw is None:
        sw = np.ones(t.shape, dtype=xd.dtype)
    loss = -picked * sw
    if reduction == "mean":
        return ops.sum(loss) / sw.sum()
    return _reduce(loss, reduction, "nll_loss")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-(t log p + (1-t) log(1-p)) on probabilities p, each log clamped at -100 (as PyTorch)."""
    _check_reduction(reduction, "binary_cross_entropy")
    t = _float_like(target, input, "binary_cross_entropy")
    _same_shape(input, t, "binary_cross_entropy")
    p = _data(input)
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1 or np.isnan(p).any()):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got values in "
                         f"[{np.min(p)}, {np.max(p)}] (use binary_cross_entropy_with_logits for logits)")
    loss = losses.binary_cross_entropy(input, t)
    if weight is not None:
        loss = loss * _weight_like(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy")


def _weight_like(weight, x):
    return weight if isinstance(weight, TensorBase) else np.asarray(weight, dtype=_data(x).dtype)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable node: finite for logits of any size."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    t = _float_like(target, input, "binary_cross_entropy_with_logits")
    _same_shape(input, t, "binary_cross_entropy_with_logits")
    pw = np.asarray(1, dtype=_data(input).dtype) if pos_weight is None else _weight_like(pos_weight, input)
    loss = losses.binary_cross_entropy_with_logits(input, t, pw)
    if weight is not None:
        loss = loss * _weight_like(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """The multiclass SVM loss (PyTorch's semantics): sum over j != y of max(0, margin - x_y + x_j)^p / C."""
    _check_reduction(reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    xd = _data(input)
    if xd.ndim == 1:
        return multi_margin_loss(ops.reshape(input, (1,) + xd.shape),
                                 _single_sample_target(target, xd.shape, "multi_margin_loss"),
                                 p, margin, weight, "sum" if reduction == "none" else reduction)
    if xd.ndim != 2:
        raise ShapeError(f"multi_margin_loss: input must have shape (N, C), got {xd.shape}")
    t, _ = _class_targets(target, xd.shape, "multi_margin_loss")
    N, C = xd.shape
    rows = np.arange(N)
    correct = ops.getitem(input, (rows, t))
    h = ops.relu(margin - ops.reshape(correct, (N, 1)) + input)
    if p == 2:
        h = h * h
    others = np.ones((N, C), dtype=xd.dtype)
    others[rows, t] = 0
    if weight is not None:
        others = others * _class_weight(weight, C, xd.dtype, "multi_margin_loss")[t][:, None]
    loss = ops.sum(h * others, axis=1) / C
    return _reduce(loss, reduction, "multi_margin_loss")


# -- regression losses -------------------------------------------------------------------------------

def mse_loss(input, target, reduction="mean"):
    """(input - target)^2: the Gaussian cross-entropy up to constants (linear output layer)."""
    t = _float_like(target, input, "mse_loss")
    _same_shape(input, t, "mse_loss")
    d = input - t
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    t = _float_like(target, input, "l1_loss")
    _same_shape(input, t, "l1_loss")
    return _reduce(ops.abs(input - t), reduction, "l1_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood, PyTorch's semantics.

    0.5 (log var + (input - target)^2 / var) [+ 0.5 log 2π if full]; `var` has the input's shape,
    or lacks its last axis, or has 1 there. var is clamped at eps for the value, not for the gradient.
    """
    _check_reduction(reduction, "gaussian_nll_loss")
    xs = _data(input).shape
    t = _float_like(target, input, "gaussian_nll_loss")
    v = _float_like(var, input, "gaussian_nll_loss")
    vs = v.shape
    if vs != xs:
        if xs[:-1] == vs:
            v = ops.reshape(v, vs + (1,))
        elif not (xs[:-1] == vs[:-1] and vs[-1:] == (1,)):
            raise ShapeError(f"gaussian_nll_loss: var of shape {vs} does not fit input of shape {xs} "
                             "(same shape, the last axis missing, or 1 there)")
    if np.any(v._data < 0):
        raise ValueError("gaussian_nll_loss: var has negative entries")
    vd = v._data
    v = v + (np.maximum(vd, eps) - vd)   # clamp the value; the gradient passes straight through
    d = input - t
    loss = 0.5 * (ops.log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def gaussian_mixture_nll(logits, means, log_stds, target, reduction="mean"):
    """Mixture-density-network loss: -log sum_k pi_k N(target | mean_k, exp(log_std_k)^2).

    logits (N, K) give the mixture weights (softmax); means and log_stds are (N, K, D) with target
    (N, D), or (N, K) with target (N,). Computed with log_softmax and logsumexp (stable).
    """
    _check_reduction(reduction, "gaussian_mixture_nll")
    ls, ms, ss = _data(logits).shape, _data(means).shape, _data(log_stds).shape
    t = _float_like(target, means, "gaussian_mixture_nll")
    ts = t.shape
    if len(ls) != 2 or ms != ss or ms[:2] != ls or len(ms) not in (2, 3) or ts != ms[:1] + ms[2:]:
        raise ShapeError(f"gaussian_mixture_nll: expected logits (N, K), means and log_stds (N, K, D) with "
                         f"target (N, D) or (N, K) with (N,); got logits {ls}, means {ms}, log_stds {ss}, "
                         f"target {ts}")
    y = ops.reshape(t, (ts[0], 1) + ts[1:])
    z = (y - means) * ops.exp(-log_stds)
    comp = -0.5 * z * z - log_stds - 0.5 * math.log(2 * math.pi)
    if len(ms) == 3:
        comp = ops.sum(comp, axis=2)
    logp = ops.logsumexp(ops.log_softmax(logits, axis=1) + comp, axis=1)
    return _reduce(-logp, reduction, "gaussian_mixture_nll")


def gaussian_kl(mean, log_var, reduction="mean"):
    """KL(N(mean, exp(log_var)) || N(0, I)) of a diagonal Gaussian, summed over the last axis (VAEs).

    -0.5 * sum(1 + log_var - mean^2 - exp(log_var)); `reduction` then acts over the samples.
    """
    ms, vs = _data(mean).shape, _data(log_var).shape
    if ms != vs or not ms:
        raise ShapeError(f"gaussian_kl: mean {ms} and log_var {vs} must have the same (non-scalar) shape")
    kl = -0.5 * ops.sum(1.0 + log_var - mean * mean - ops.exp(log_var), axis=-1)
    return _reduce(kl, reduction, "gaussian_kl")


# -- regularization --------------------------------------------------------------------------------------

def _param_list(params):
    if isinstance(params, TensorBase):
        return [params]
    if hasattr(params, "parameters") and callable(params.parameters):
        return list(params.parameters())
    out = list(params)
    if not all(isinstance(p, TensorBase) for p in out):
        raise TypeError("penalty: expected a Tensor, a Module or an iterable of Tensors")
    return out


def l1_penalty(params):
    """sum |w| over every given tensor (a Tensor, a Module's parameters, or an iterable)."""
    ps = _param_list(params)
    if not ps:
        raise ValueError("l1_penalty: no parameters given")
    total = ops.sum(ops.abs(ps[0]))
    for p in ps[1:]:
        total = total + ops.sum(ops.abs(p))
    return total


def l2_penalty(params):
    """sum w^2 over every given tensor (multiply by reg, or reg/2, yourself)."""
    ps = _param_list(params)
    if not ps:
        raise ValueError("l2_penalty: no parameters given")
    total = ops.sum(ps[0] * ps[0])
    for p in ps[1:]:
        total = total + ops.sum(p * p)
    return total



# -- sequence-model building blocks (composites of existing primitives) ---------------------------------

def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalizes over the trailing `normalized_shape` axes of each sample (biased variance), then
    scales by `weight` and shifts by `bias` (both of shape `normalized_shape`), as PyTorch."""
    ns = (int(normalized_shape),) if isinstance(normalized_shape, numbers.Integral) else \
        tuple(int(n) for n in normalized_shape)
    xs = tuple(_data(input).shape)
    if not ns or len(ns) > len(xs) or xs[len(xs) - len(ns):] != ns:
        raise ShapeError(f"layer_norm: normalized_shape {ns} must match the trailing axes of the input, "
                         f"got input of shape {xs}")
    x = _tensor(input)
    axes = tuple(range(len(xs) - len(ns), len(xs)))
    xc = x - ops.mean(x, axis=axes, keepdims=True)
    out = xc / ops.sqrt(ops.mean(xc * xc, axis=axes, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _indices(input, n, opname):
    idx = _data(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{opname}: expected integer indices, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"{opname}: indices must lie in [0, {n}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    return idx


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` (num_embeddings, embedding_dim) picked by the integer `input`; the gradient
    adds into the rows that were picked (a scatter-add), except into `padding_idx`'s row."""
    wshape = _data(weight).shape
    if len(wshape) != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {wshape}")
    idx = _indices(input, wshape[0], "embedding")
    out = _tensor(weight)[idx]
    if padding_idx is not None:
        pad = int(padding_idx) % wshape[0]
        keep = (idx != pad)[..., None].astype(out.dtype)
        out = out * keep + _const(_data(out) * (1 - keep))  # same values; no gradient into the pad row
    return out


def one_hot(tensor, num_classes=-1):
    """Integer classes to one-hot rows (int64, a constant: nothing flows back through classes)."""
    idx = _data(tensor)
    n = int(idx.max()) + 1 if num_classes == -1 and idx.size else int(num_classes)
    if n < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or >= 0, got {num_classes}")
    idx = _indices(idx, n, "one_hot")
    return _const((idx[..., None] == np.arange(n)).astype(np.int64))


def kl_div(input, target, reduction="mean", log_target=False):
    """KL(target || q) with `input` = log q, pointwise target * (log target - input) (0 where
    target is 0), as PyTorch; reduction "batchmean" divides the sum by the batch size."""
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be one of {_REDUCTIONS + ('batchmean',)}, got {reduction!r}")
    xd = _data(input)
    _same_shape(input, target, "kl_div")
    t = _float_like(target, input, "kl_div")
    if log_target:
        pointwise = ops.exp(t) * (t - input)
    else:
        td = _data(t)
        if (td < 0).any():
            raise ValueError("kl_div: target probabilities must be >= 0 (pass log_target=True for log-probabilities)")
        pointwise = t * (ops.log(t + _const((td == 0).astype(td.dtype))) - input)  # log 1 = 0 where t = 0
    if reduction == "batchmean":
        return ops.sum(pointwise) / (xd.shape[0] if xd.ndim else 1)
    return _reduce(pointwise, reduction, "kl_div")


def pad(input, pad, mode="constant", value=0.0):
    """Constant padding as PyTorch: `pad` = (left, right) for the last axis, then for the one before,
    ...; a negative amount crops. Built from slicing and concatenation, so the gradient is the
    unpadded part of the upstream gradient."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    amounts = [int(a) for a in pad]
    x = _tensor(input)
    shape = list(_data(x).shape)
    if len(amounts) % 2 or len(amounts) // 2 > len(shape):
        raise ShapeError(f"pad: expected an even number of amounts, at most 2 per axis of the input of shape "
                         f"{tuple(shape)}, got pad={tuple(amounts)}")
    for i in range(len(amounts) // 2):
        axis, (lo, hi) = len(shape) - 1 - i, amounts[2 * i:2 * i + 2]
        if shape[axis] + min(lo, 0) + min(hi, 0) < 0:
            raise ShapeError(f"pad: cropping {-min(lo, 0)} + {-min(hi, 0)} exceeds size {shape[axis]} of axis {axis}")
        crop = [slice(None)] * len(shape)
        crop[axis] = slice(max(-lo, 0), shape[axis] - max(-hi, 0))
        x = x[tuple(crop)]
        parts = []
        for n in (max(lo, 0), max(hi, 0)):
            block = list(_data(x).shape)
            block[axis] = n
            parts.append(_const(np.full(block, value, dtype=_data(x).dtype)) if n else None)
        if parts[0] is not None or parts[1] is not None:
            x = ops.concatenate([b for b in (parts[0], x, parts[1]) if b is not None], axis=axis)
        shape = list(_data(x).shape)
    return x
