"""Numerical gradients and comparisons (CS231n's eval_numerical_gradient and rel_error)."""

from __future__ import annotations

import numpy as np

from .graph import no_grad


def _value(out):
    return np.asarray(getattr(out, "_data", out), dtype=np.float64)


def rel_error(a, b):
    """max |a - b| / max(1e-8, |a| + |b|), elementwise then the worst element (CS231n)."""
    a = np.asarray(getattr(a, "_data", a), dtype=np.float64)
    b = np.asarray(getattr(b, "_data", b), dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function `f` at `x` (one input, any shape).

    `f` receives a float64 array and may return a Tensor, an array or a number.
    """
    x = np.array(getattr(x, "_data", x), dtype=np.float64)
    grad = np.zeros_like(x)
    with no_grad():
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = x[i]
            x[i] = old + h
            fp = float(np.sum(_value(f(x.copy()))))
            x[i] = old - h
            fm = float(np.sum(_value(f(x.copy()))))
            x[i] = old
            grad[i] = (fp - fm) / (2 * h)
    return grad
