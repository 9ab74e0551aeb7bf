"""Gradient clipping, as `torch.nn.utils`: run after backward(), before the optimizer step."""

from __future__ import annotations

import numpy as np

from ..core import TensorBase

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grad(parameters):
    params = [parameters] if isinstance(parameters, TensorBase) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales every gradient by max_norm / (total norm + 1e-6) when that is below 1, the total norm
    taken over all gradients together as one vector; returns the total norm (before clipping)."""
    params = _with_grad(parameters)
    if not params:
        return np.float64(0.0)
    norm_type = float(norm_type)
    norms = [np.linalg.norm(np.ravel(p.grad), ord=norm_type) for p in params]
    total = np.linalg.norm(np.array(norms), ord=norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{total}; pass error_if_nonfinite=False to clip anyway")
    coef = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    for p in params:
        p.grad = p.grad * np.asarray(coef, dtype=np.asarray(p.grad).dtype)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamps every gradient element into [-clip_value, clip_value]."""
    c = float(clip_value)
    for p in _with_grad(parameters):
        p.grad = np.clip(p.grad, -c, c)
