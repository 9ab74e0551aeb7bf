"""Normalization layers beyond LayerNorm and BatchNorm1d (layers.py): BatchNorm2d (per channel over
the batch and the image) and GroupNorm (per sample over groups of channels), with PyTorch's
arguments, parameters and buffers."""

from __future__ import annotations

import numpy as np

from . import functional as F
from .layers import BatchNorm1d, _dtype, _eps_momentum, _size
from .module import Module, Parameter


class BatchNorm2d(BatchNorm1d):
    """Normalizes each channel of (N, C, H, W) over the batch and every pixel; in training the running
    mean and (unbiased) variance move toward the batch's by `momentum`, and eval uses them."""

    _inputs = ((4,), "(N, {C}, H, W)")


class GroupNorm(Module):
    """Splits the C channels into `num_groups` groups and normalizes each sample's group over its
    channels and positions; weight and bias (C,) scale and shift each channel."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        _eps_momentum("GroupNorm", eps)
        num_groups = _size(num_groups, "num_groups", "GroupNorm", 1)
        num_channels = _size(num_channels, "num_channels", "GroupNorm")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} must be divisible by num_groups {num_groups}")
        dtype = _dtype(dtype, device, "GroupNorm")
        self.num_groups, self.num_channels, self.eps, self.affine = int(num_groups), int(num_channels), eps, affine
        self.weight = Parameter(np.ones(self.num_channels, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(self.num_channels, dtype=dtype)) if affine else None

    def forward(self, x):
        shape = x.shape
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input "
                             f"(N, {self.num_channels}, ...), got {shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
