"""Special functions: `erf`, the Gaussian error function, and `gelu` (x Φ(x)) fused into one node.

NumPy has no erf ufunc. `erf` applies the standard library's `math.erf` (exact to double precision)
element by element: the reference, and slow (~0.2 µs an element). `gelu` is fused for speed: on
float32 its Φ comes from Abramowitz & Stegun's formula 7.1.26 (|error| < 1.5e-7 in erf, the size of
float32's rounding), vectorized; on float64 from `math.erf`. Φ is kept from the forward pass, so
the backward, Φ(x) + x φ(x), is one vectorized expression. Its twin, `gelu_composite`, is
0.5 x (1 + erf(x / √2)) built from primitives (the tests' oracle).
"""

from __future__ import annotations

import math

import numpy as np

from ..core import Primitive

_erf = np.frompyfunc(math.erf, 1, 1)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _erf_fwd(x):
    x = np.asarray(x)
    out = np.asarray(_erf(x), dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    return out[()] if out.ndim == 0 else out


erf = Primitive("erf", _erf_fwd, lambda xp, need, g, ans, x: (g * (_TWO_OVER_SQRT_PI * xp.exp(-(x * x))),),
                reads="x", elementwise=True, local=("2/√π · e^(−{x}²)",),
                doc="the Gaussian error function (math.erf per element); local gradient 2/√π e^(−x²)")


def _cdf_as(z):
    """Φ(√2 z) = (1 + erf z) / 2 by Abramowitz & Stegun 7.1.26: erfc|z| ≈ (a1 t + ... + a5 t⁵) e^(−z²),
    t = 1 / (1 + p|z|), |error| < 1.5e-7 (float32's rounding); in place, one temporary at a time."""
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    q = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        q += np.float32(c)
        q *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    q *= a
    q *= -0.5
    q += 0.5                       # 1/2 - erfc|z| / 2 = erf|z| / 2
    np.copysign(q, z, out=q)
    q += 0.5
    return q


def _gelu_fwd(x):
    x = np.asarray(x)
    z = x.reshape(-1) * x.dtype.type(_SQRT_HALF)   # (1-D: the in-place steps need arrays, not scalars)
    cdf = (_cdf_as(z) if x.dtype == np.float32 else 0.5 * (1 + _erf_fwd(z))).reshape(x.shape)
    return x * cdf, cdf


def _gelu_vjp(xp, need, g, ans, x, cdf):
    cdf = 0.5 * (1 + erf(x * _SQRT_HALF))   # recomputed on Tensors: its own derivative is needed above first order
    return (g * (cdf + x * (_INV_SQRT_2PI * xp.exp(-0.5 * (x * x)))),)


def _gelu_fast(need, g, ans, x, cdf):
    if type(x) is not np.ndarray:
        return (g * (cdf + x * (_INV_SQRT_2PI * np.exp(-0.5 * (x * x)))),)
    d = x * x
    d *= -0.5
    np.exp(d, out=d)
    d *= x.dtype.type(_INV_SQRT_2PI) * x
    d += cdf
    d *= g
    return (d,)


gelu = Primitive("gelu", _gelu_fwd, _gelu_vjp, fast=_gelu_fast, residuals="cdf", reads="x", fast_reads="x cdf",
                 elementwise=True, symbol="GELU", local=("Φ({x}) + {x} φ({x})",),
                 doc="x Φ(x), Φ the Gaussian CDF, fused (float32: A&S 7.1.26 erf); local gradient Φ + x φ")


def gelu_composite(x):
    """0.5 x (1 + erf(x / √2)) from mul, add and erf: the fused gelu's twin."""
    return 0.5 * x * (1.0 + erf(x * _SQRT_HALF))
