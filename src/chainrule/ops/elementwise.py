"""Elementwise primitives: arithmetic, unary functions, activations, gates.

Each entry: name, forward on arrays, backward rule `(xp, need, g, ans, *inputs)`, what the rule
reads (`save`: input positions, `a` for the output). Their Jacobians are diagonal, so the rules
multiply by a local derivative array and never build a matrix.
"""

from __future__ import annotations

import operator

import numpy as np

from ..graph import ARRAY_NS
from ..primitive import Primitive


def _pair(need, gx, gy):
    return (gx() if need[0] is not None else None, gy() if need[1] is not None else None)


add = Primitive("add", operator.add, lambda xp, need, g, ans, x, y: (g, g),
                broadcasts=True, gate="distributes", elementwise=True, doc="x + y")

sub = Primitive("sub", operator.sub, lambda xp, need, g, ans, x, y: (g, -g),
                broadcasts=True, gate="distributes", elementwise=True, doc="x - y")

def _mul_vjp(xp, need, g, ans, x, y):
    return (g * y if need[0] is not None else None, g * x if need[1] is not None else None)


def _reduce_product(g, other, shape):
    """sum(g * other) down to `shape` without materializing the broadcast product (einsum)."""
    n = g.ndim
    letters = "abcdefghijklmnopqrstuvwxyz"
    sub_g = letters[:n]
    osh = np.shape(other)
    sub_o = "".join(letters[n - len(osh) + i] if d != 1 or g.shape[n - len(osh) + i] == 1 else letters[n + i]
                    for i, d in enumerate(osh))
    lead = n - len(shape)
    sub_out = "".join(letters[lead + i] for i, d in enumerate(shape) if d == g.shape[lead + i])
    r = np.einsum(f"{sub_g},{sub_o}->{sub_out}", g, other, optimize=g.size >= 1 << 16)
    return r.reshape(shape)


def _mul_vjp_reduced(need, g, ans, x, y, shapes):
    sx, sy = shapes
    gx = gy = None
    if need[0] is not None:
        gx = _reduce_product(g, y, sx) if sx != g.shape else g * y
    if need[1] is not None:
        gy = _reduce_product(g, x, sy) if sy != g.shape else g * x
    return gx, gy


mul = Primitive("mul", operator.mul, _mul_vjp, save=("1", "0"), vjp_reduced=_mul_vjp_reduced, broadcasts=True,
                gate="swaps", elementwise=True, doc="x * y")

def _div_vjp(xp, need, g, ans, x, y):
    return (g / y if need[0] is not None else None, -g * x / (y * y) if need[1] is not None else None)


div = Primitive("div", operator.truediv, _div_vjp, save=("1", "01"), broadcasts=True, elementwise=True, doc="x / y")

neg = Primitive("neg", operator.neg, lambda xp, need, g, ans, x: (-g,), elementwise=True, doc="-x")


def _pow_fwd(x, y):
    return np.power(x, y)


def _pow_vjp(xp, need, g, ans, x, y):
    def dy():
        # d/dy x**y = x**y log x; 0 where x == 0 and y >= 0 (as PyTorch), NaN for x < 0
        safe = (np.asarray(_raw(x)) == 0) & (np.asarray(_raw(y)) >= 0)
        logx = xp.log(xp.where(safe, 1.0, x)) if np.any(safe) else xp.log(x)
        return g * ans * logx

    return _pair(need, lambda: g * y * x ** (y - 1), dy)


def _raw(v):
    return getattr(v, "_data", v)


power = Primitive("power", _pow_fwd, _pow_vjp, save=("01", "01a"), broadcasts=True, elementwise=True,
                  doc="x ** y (y may be a tensor)")

exp = Primitive("exp", np.exp, lambda xp, need, g, ans, x: (g * ans,), save="a", elementwise=True,
                doc="e ** x; local gradient is the output itself")
log = Primitive("log", np.log, lambda xp, need, g, ans, x: (g / x,), save="0", elementwise=True,
                doc="natural logarithm")
sqrt = Primitive("sqrt", np.sqrt, lambda xp, need, g, ans, x: (g / (2 * ans),), save="a",
                 elementwise=True, doc="square root; infinite gradient at 0")
abs = Primitive("abs", np.abs, lambda xp, need, g, ans, x: (g * xp.sign(x),), save="0",
                elementwise=True, doc="|x|; gradient sign(x), 0 at 0")
sin = Primitive("sin", np.sin, lambda xp, need, g, ans, x: (g * xp.cos(x),), save="0", elementwise=True)
cos = Primitive("cos", np.cos, lambda xp, need, g, ans, x: (-g * xp.sin(x),), save="0", elementwise=True)
def _tanh_vjp(xp, need, g, ans, x):
    if xp is ARRAY_NS and type(ans) is np.ndarray:  # one temporary instead of three
        d = ans * ans
        np.subtract(1, d, out=d)
        return (np.multiply(d, g, out=d),)
    return (g * (1 - ans * ans),)


tanh = Primitive("tanh", np.tanh, _tanh_vjp, save="a",
                 elementwise=True, doc="hyperbolic tangent; local gradient 1 - tanh²")


def _sigmoid_fwd(x):
    # stable on both sides: exp only ever sees -|x|
    e = np.exp(-np.abs(x))
    return np.where(np.asarray(x) >= 0, 1 / (1 + e), e / (1 + e))


def _sigmoid_vjp(xp, need, g, ans, x):
    if xp is ARRAY_NS and type(ans) is np.ndarray:  # one temporary instead of three
        d = 1 - ans
        d *= ans
        return (np.multiply(d, g, out=d),)
    return (g * ans * (1 - ans),)


sigmoid = Primitive("sigmoid", _sigmoid_fwd, _sigmoid_vjp, save="a",
                    elementwise=True, doc="1 / (1 + e^-x) as one fused node; local gradient σ(1-σ)")


def sigmoid_composite(x):
    """The sigmoid built from exp, add and div: the fused node's twin and test oracle."""
    return 1.0 / (1.0 + exp(-x))


def _relu_vjp(xp, need, g, ans, x):
    return (g * (_raw(ans) > 0),)


relu = Primitive("relu", lambda x: np.maximum(x, 0), _relu_vjp, save="a", elementwise=True, gate="routes",
                 doc="max(x, 0): routes the gradient where x > 0")


def _minmax_vjp(greater):
    def vjp(xp, need, g, ans, x, y):
        xr, yr = _raw(x), _raw(y)
        m = (xr > yr) if greater else (xr < yr)
        m = m + 0.5 * (xr == yr)  # ties split the gradient, as PyTorch does
        m = np.asarray(m, dtype=g.dtype)
        return _pair(need, lambda: g * m, lambda: g * (1 - m))
    return vjp


maximum = Primitive("maximum", np.maximum, _minmax_vjp(True), save="01", broadcasts=True,
                    elementwise=True, gate="routes",
                    doc="elementwise max: routes the gradient to the larger input (ties share it)")
minimum = Primitive("minimum", np.minimum, _minmax_vjp(False), save="01", broadcasts=True,
                    elementwise=True, gate="routes",
                    doc="elementwise min: routes the gradient to the smaller input (ties share it)")


def _where_vjp(xp, need, g, ans, c, x, y):
    c = np.asarray(_raw(c), dtype=bool)
    return (None, xp.where(c, g, 0) if need[1] is not None else None,
            xp.where(c, 0, g) if need[2] is not None else None)


where = Primitive("where", np.where, _where_vjp, save="0", broadcasts=True, elementwise=True, gate="routes",
                  doc="where(cond, x, y): routes the gradient by the (constant) condition")


def _clip_vjp(xp, need, g, ans, x, lo, hi):
    xr = _raw(x)
    m = np.ones(np.shape(xr), dtype=bool)
    if lo is not None:
        m &= xr >= lo
    if hi is not None:
        m &= xr <= hi
    return (g * m,)


clip = Primitive("clip", lambda x, lo, hi: np.clip(x, lo, hi), _clip_vjp, save="0", broadcasts=True,
                 elementwise=True, gate="routes",
                 doc="clip(x, min, max): gradient passes where min <= x <= max")


def _astype_vjp(xp, need, g, ans, x, dtype, src):
    return (xp.astype(g, src),)


astype = Primitive("astype", lambda x, dtype, src: np.asarray(x).astype(dtype), _astype_vjp,
                   elementwise=True, doc="cast to another float dtype; the gradient is cast back")
