"""Weight initialization (PyTorch's `torch.nn.init` names), in place on a Tensor's data.

The random generator is chainrule's one generator (`cr.manual_seed(n)`, also `nn.manual_seed`):
seeding it makes layer construction, dropout and shuffling repeatable.
"""

from __future__ import annotations

import math

import numpy as np

from ..core import TensorBase
from ..ops.dtypes import manual_seed, rng

__all__ = ["manual_seed", "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]

def _default_rng():
    return rng()


def _set(t, values):
    if not isinstance(t, TensorBase):
        raise TypeError(f"init: expected a Tensor or Parameter, got {type(t).__name__}")
    t._replace(np.array(values, dtype=t.dtype).reshape(t.shape))  # (a fresh array, not handed out)
    return t


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for an activation (PyTorch's table)."""
    if nonlinearity in ("linear", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(t):
    s = t.shape
    if len(s) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dimensions, got shape {s}")
    receptive = int(np.prod(s[2:])) if len(s) > 2 else 1
    return s[1] * receptive, s[0] * receptive


def uniform_(t, a=0.0, b=1.0, rng=None):
    return _set(t, (rng or _default_rng()).uniform(a, b, size=t.shape))


def normal_(t, mean=0.0, std=1.0, rng=None):
    return _set(t, (rng or _default_rng()).normal(mean, std, size=t.shape))


def constant_(t, value):
    return _set(t, np.full(t.shape, value))


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain=1.0, rng=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, rng)


def xavier_normal_(t, gain=1.0, rng=None):
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def _kaiming_std(t, a, mode, nonlinearity):
    fan_in, fan_out = _fans(t)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al.)."""
    b = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -b, b, rng)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity), rng)
