"""Layers (PyTorch's names, arguments and parameter shapes). Parameters default to float32, as
PyTorch's (or to the dtype `cr.set_default_dtype` set); pass dtype=np.float64 (or call .double())
for gradient checking. `device=` is accepted ("cpu" is the only device)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..ops.dtypes import check_device, defaults, to_dtype
from ..ops.watch import report
from ..transforms.compile import replayed
from . import functional as F
from . import init
from .module import Module, Parameter


def _dtype(dtype, device, opname):
    check_device(device, opname)
    return defaults.param if dtype is None else to_dtype(dtype, opname)


def _size(v, name, opname, least=0):
    """A size argument: an integer (not a bool, a float or a string) of at least `least`, named when not."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{opname}: {name} must be an integer, got {v!r}")
    if v < least:
        raise ValueError(f"{opname}: {name} must be at least {least}, got {v}")
    return int(v)


def _eps_momentum(opname, eps, momentum=0.0):
    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"{opname}: eps must be a finite number >= 0, got {eps!r}")
    if momentum is not None and not (isinstance(momentum, numbers.Real) and 0 <= momentum <= 1):
        raise ValueError(f"{opname}: momentum must be in [0, 1] (or None), got {momentum!r}")


def _empty(shape, dtype, opname="a layer"):
    """A parameter of zeros; one too large to allocate is a MemoryError naming the layer and the size."""
    try:
        return Parameter(np.zeros(shape, dtype=dtype))
    except (MemoryError, ValueError) as e:
        n = math.prod(shape)
        raise MemoryError(f"{opname}: a parameter of shape {tuple(shape)} ({n:,} elements, "
                          f"{n * np.dtype(dtype).itemsize / 2 ** 30:,.1f} GiB) cannot be allocated ({e})") from None


class Linear(Module):
    """The affine layer y = x @ weight.T + bias, weight of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = _dtype(dtype, device, "Linear")
        self.in_features = _size(in_features, "in_features", "Linear")
        self.out_features = _size(out_features, "out_features", "Linear")
        self.weight = _empty((self.out_features, self.in_features), dtype, "Linear")
        self.bias = _empty((self.out_features,), dtype, "Linear") if bias else None
        self.reset_parameters()
        if device is not None:  # (built on the CPU, then moved)
            self.to(device)

    def reset_parameters(self):
        # PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
        bound = 1 / math.sqrt(self.in_features) if self.in_features else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def __init__(self, inplace=False):  # (inplace: PyTorch's argument; the result is a new tensor either way)
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, dim=self.dim)


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)


class Dropout(Module):
    """Zeroes elements with probability p in training mode (scaling the rest by 1/(1-p))."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm1d(Module):
    """Normalizes each feature over the batch (input (N, C) or (N, C, L)); running stats for eval
    (momentum=None: their cumulative average). BatchNorm2d (nn/norm.py) is the same on (N, C, H, W)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        _eps_momentum(type(self).__name__, eps, momentum)
        num_features = _size(num_features, "num_features", type(self).__name__)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = _dtype(dtype, device, "BatchNorm1d")
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        if device is not None:  # (built on the CPU, then moved)
            self.to(device)

    _inputs = ((2, 3), "(N, {C}) or (N, {C}, L)")   # the input ranks a subclass accepts, in words

    def forward(self, x):
        shape = x.shape
        ranks, words = self._inputs
        if len(shape) not in ranks or shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input "
                             f"{words.format(C=self.num_features)}, got {shape}")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            replayed(_count, self.num_batches_tracked)  # in place, and on every cr.compile replay
            if momentum is None:  # a cumulative average of every batch so far, as PyTorch
                report("BatchNorm(momentum=None) reads its batch count")  # (cr.compile cannot replay that)
                momentum = 1.0 / float(self.num_batches_tracked)
        rm = self.running_mean if self.track_running_stats else None
        rv = self.running_var if self.track_running_stats else None
        return F.batch_norm(x, rm, rv, self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def _count(a):
    a += 1


class Conv2d(Module):
    """2-D convolution (cross-correlation) over (N, C, H, W); weight (out, in, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 device=None, dtype=None):
        super().__init__()
        dtype = _dtype(dtype, device, "Conv2d")
        self.in_channels = _size(in_channels, "in_channels", "Conv2d")
        self.out_channels = _size(out_channels, "out_channels", "Conv2d")
        self.kernel_size = F._pair(kernel_size, "kernel_size", "Conv2d", least=1)
        self.stride = F._pair(stride, "stride", "Conv2d", least=1)
        self.padding = padding if isinstance(padding, str) else F._pair(padding, "padding", "Conv2d")
        self.weight = _empty((self.out_channels, self.in_channels) + self.kernel_size, dtype, "Conv2d")
        self.bias = _empty((self.out_channels,), dtype, "Conv2d") if bias else None
        self.reset_parameters()
        if device is not None:  # (built on the CPU, then moved)
            self.to(device)

    def reset_parameters(self):
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1 / math.sqrt(fan_in) if fan_in else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class LayerNorm(Module):
    """Normalizes each sample over its trailing `normalized_shape` axes; weight and bias of that shape."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = _dtype(dtype, device, "LayerNorm")
        _eps_momentum("LayerNorm", eps)
        ns = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
        self.normalized_shape, self.eps = tuple(_size(n, "normalized_shape", "LayerNorm") for n in ns), eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias \
            else None
        if device is not None:  # (built on the CPU, then moved)
            self.to(device)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Embedding(Module):
    """A lookup table: row i of weight (num_embeddings, embedding_dim) is token i's vector, N(0, 1) at
    start as PyTorch; `padding_idx`'s row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None):
        super().__init__()
        dtype = _dtype(dtype, device, "Embedding")
        self.num_embeddings = _size(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _size(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None and not -self.num_embeddings <= padding_idx < self.num_embeddings:
            raise ValueError(f"Embedding: padding_idx must lie in [-{num_embeddings}, {num_embeddings}), "
                             f"got {padding_idx}")
        self.padding_idx = None if padding_idx is None else int(padding_idx) % self.num_embeddings
        self.weight = _empty((self.num_embeddings, self.embedding_dim), dtype, "Embedding")
        self.reset_parameters()
        if device is not None:  # (built on the CPU, then moved)
            self.to(device)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, x):
        return F.embedding(x, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + \
            (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class GELU(Module):
    """x Φ(x) (approximate="tanh": PyTorch's tanh form)."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"
