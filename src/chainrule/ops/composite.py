"""Composite twins of fused primitives: the same functions built from smaller primitives.

A trace of a composite shows every step the fused node hides (explain / compare); tests use
them as oracles for the fused rules. `sigmoid_composite` lives with the elementwise ops.
"""

from __future__ import annotations

from . import exp, log, max, sum
from .elementwise import sigmoid_composite

__all__ = ["sigmoid_composite", "softmax_composite", "log_softmax_composite"]


def softmax_composite(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) from max, sub, exp, sum and div (shifting by the max keeps
    exp finite; its gradient cancels, as softmax does not change under a shift)."""
    e = exp(x - max(x, axis=axis, keepdims=True))
    return e / sum(e, axis=axis, keepdims=True)


def log_softmax_composite(x, axis=-1):
    """(x - max) - log(sum(exp(x - max))) from primitives."""
    z = x - max(x, axis=axis, keepdims=True)
    return z - log(sum(exp(z), axis=axis, keepdims=True))
