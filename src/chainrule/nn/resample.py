"""Layers that change an image's size: ConvTranspose2d (a learned upsampling, the adjoint of
Conv2d) and Upsample (nearest or (bi)linear interpolation, no parameters), as PyTorch's."""

from __future__ import annotations

import math

from . import functional as F
from . import init
from .layers import _dtype, _empty, _size
from .module import Module


class ConvTranspose2d(Module):
    """The transpose of Conv2d over (N, C, H, W): weight (in_channels, out_channels / groups, kh, kw),
    bias (out_channels,); output (H - 1) stride - 2 padding + kh + output_padding per axis."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros' is supported, got {padding_mode!r}")
        in_channels = _size(in_channels, "in_channels", "ConvTranspose2d")
        out_channels = _size(out_channels, "out_channels", "ConvTranspose2d")
        groups = _size(groups, "groups", "ConvTranspose2d", 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: groups {groups} must divide in_channels {in_channels} and "
                             f"out_channels {out_channels}")
        dtype = _dtype(dtype, device, "ConvTranspose2d")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = F._pair(kernel_size, "kernel_size", "ConvTranspose2d", least=1)
        self.stride = F._pair(stride, "stride", "ConvTranspose2d", least=1)
        self.padding = F._pair(padding, "padding", "ConvTranspose2d")
        self.output_padding = F._pair(output_padding, "output_padding", "ConvTranspose2d")
        self.dilation = F._pair(dilation, "dilation", "ConvTranspose2d")
        if self.dilation != (1, 1):
            raise NotImplementedError(f"ConvTranspose2d: only dilation=1 is supported, got {dilation}")
        self.weight = _empty((self.in_channels, self.out_channels // self.groups) + self.kernel_size, dtype)
        self.bias = _empty((self.out_channels,), dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight's axis 1 and kernel
        fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
        bound = 1 / math.sqrt(fan_in) if fan_in else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x, output_size=None):
        if output_size is not None:
            raise NotImplementedError("ConvTranspose2d: output_size is not supported; give output_padding")
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, groups={self.groups}")


class Upsample(Module):
    """Resizes (N, C, L) or (N, C, H, W) to `size` or by `scale_factor` (see F.interpolate)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
