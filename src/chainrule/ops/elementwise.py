"""Elementwise primitives: arithmetic, unary functions, activations, gates.

Their Jacobians are diagonal, so each rule multiplies the upstream gradient by a local derivative
array and never builds a matrix. `local` gives that derivative in words, for traces.
"""

from __future__ import annotations

import operator

import numpy as np

from ..core import Primitive, unwrap


def _grads(need, gx, gy):
    """The two gradients of a binary op, each computed only when needed."""
    return (gx() if need[0] is not None else None, gy() if need[1] is not None else None)


add = Primitive("add", operator.add, lambda xp, need, g, ans, x, y: (g, g), inputs="x y", broadcasts=True,
                elementwise=True, gate="distributes", symbol="+", local=("1", "1"), doc="x + y",
                xfwd=lambda xp, x, y: x + y)

sub = Primitive("sub", operator.sub, lambda xp, need, g, ans, x, y: (g, -g), inputs="x y", broadcasts=True,
                elementwise=True, gate="distributes", symbol="−", local=("1", "−1"), doc="x - y",
                xfwd=lambda xp, x, y: x - y)


def _mul_vjp(xp, need, g, ans, x, y):
    return _grads(need, lambda: g * y, lambda: g * x)


def _mul_fast(need, g, ans, x, y):
    if g.size < 4096:
        return (g * y if need[0] is not None else None, g * x if need[1] is not None else None)
    return _grads(need, lambda: _times(g, y, x), lambda: _times(g, x, y))


def _times(g, other, this):
    """g * other summed to the shape of `this` (the input whose gradient it is) in one einsum when
    that shape was broadcast: the broadcast product of a large gradient is never materialized."""
    if this is None or np.shape(this) == g.shape:
        return g * other
    n, shape, osh = g.ndim, np.shape(this), np.shape(other)
    letters = "abcdefghijklmnopqrstuvwxyz"
    sub_o = "".join(letters[n - len(osh) + i] if d != 1 or g.shape[n - len(osh) + i] == 1 else letters[n + i]
                    for i, d in enumerate(osh))
    lead = n - len(shape)
    sub_out = "".join(letters[lead + i] for i, d in enumerate(shape) if d == g.shape[lead + i])
    r = np.einsum(f"{letters[:n]},{sub_o}->{sub_out}", g, other, optimize=g.size >= 1 << 16)
    return r.reshape(shape)


mul = Primitive("mul", operator.mul, _mul_vjp, fast=_mul_fast, inputs="x y", reads={"x": "y", "y": "x"},
                broadcasts=True, elementwise=True, gate="swaps", symbol="×", local=("{y}", "{x}"), doc="x * y",
                xfwd=lambda xp, x, y: x * y)


def _div_vjp(xp, need, g, ans, x, y):
    return _grads(need, lambda: g / y, lambda: -g * x / (y * y))


div = Primitive("div", operator.truediv, _div_vjp, inputs="x y", reads={"x": "y", "y": "x y"}, broadcasts=True,
                elementwise=True, symbol="÷", local=("1/{y}", "−{x}/{y}²"), doc="x / y",
                xfwd=lambda xp, x, y: x / y)

neg = Primitive("neg", operator.neg, lambda xp, need, g, ans, x: (-g,), elementwise=True, symbol="−x",
                local=("−1",), doc="-x",
                xfwd=lambda xp, x: -x)


def _pow_vjp(xp, need, g, ans, x, y):
    def dy():
        # d/dy x**y = x**y log x; 0 where x == 0 and y >= 0 (as PyTorch), NaN for x < 0
        safe = (unwrap(x) == 0) & (unwrap(y) >= 0)
        if not hasattr(x, "shape"):  # a Python number (another backend's rules get them as such)
            return g * ans * float(np.log(x))
        logx = xp.log(xp.where(safe, 1.0, x)) if xp.any(safe) else xp.log(x)
        return g * ans * logx

    def dx():
        # y x**(y-1), and 0 where y == 0 (as PyTorch): at x = 0 that would be 0 * inf. This is also
        # what makes every higher derivative of x**n at 0 right, as each is again a power.
        zero = unwrap(y) == 0
        if not xp.any(zero):
            return g * y * x ** (y - 1)
        return g * y * x ** (1 if zero is True else xp.where(zero, 1, y - 1))

    return _grads(need, dx, dy)


power = Primitive("power", np.power, _pow_vjp, inputs="x y", reads={"x": "x y", "y": "x y out"}, broadcasts=True,
                  elementwise=True, symbol="xʸ", local=("{y}·{x}^({y}−1)", "{x}^{y}·log {x}"),
                  doc="x ** y (y may be a tensor)",
                  xfwd=lambda xp, x, y: x ** y)

exp = Primitive("exp", np.exp, lambda xp, need, g, ans, x: (g * ans,), reads="out", elementwise=True,
                local=("{out}",), doc="e ** x; local gradient is the output itself",
                xfwd=lambda xp, x: xp.exp(x))
log = Primitive("log", np.log, lambda xp, need, g, ans, x: (g / x,), reads="x", elementwise=True,
                local=("1/{x}",), doc="natural logarithm",
                xfwd=lambda xp, x: xp.log(x))
sqrt = Primitive("sqrt", np.sqrt, lambda xp, need, g, ans, x: (g / (2 * ans),), reads="out", elementwise=True,
                 symbol="√", local=("1/(2·{out})",), doc="square root; infinite gradient at 0",
                 xfwd=lambda xp, x: xp.sqrt(x))
abs = Primitive("abs", np.abs, lambda xp, need, g, ans, x: (g * xp.sign(x),), reads="x", elementwise=True,
                symbol="|x|", local=("sign({x})",), doc="|x|; gradient sign(x), 0 at 0",
                xfwd=lambda xp, x: xp.abs(x))
sin = Primitive("sin", np.sin, lambda xp, need, g, ans, x: (g * xp.cos(x),), reads="x", elementwise=True,
                local=("cos({x})",), doc="sine",
                xfwd=lambda xp, x: xp.sin(x))
cos = Primitive("cos", np.cos, lambda xp, need, g, ans, x: (-g * xp.sin(x),), reads="x", elementwise=True,
                local=("−sin({x})",), doc="cosine",
                xfwd=lambda xp, x: xp.cos(x))


def _tanh_fast(need, g, ans, x):
    if type(ans) is not np.ndarray or not ans.ndim:  # (a 0-d array's arithmetic gives scalars: no out=)
        return (g * (1 - ans * ans),)
    d = ans * ans  # one temporary instead of three
    np.subtract(1, d, out=d)
    return (np.multiply(d, g, out=d),)


tanh = Primitive("tanh", np.tanh, lambda xp, need, g, ans, x: (g * (1 - ans * ans),), fast=_tanh_fast,
                 reads="out", elementwise=True, local=("1 − {out}²",),
                 doc="hyperbolic tangent; local gradient 1 - tanh²",
                 xfwd=lambda xp, x: xp.tanh(x))


def _sigmoid_fwd(x):
    # stable on both sides: exp only ever sees -|x|
    e = np.exp(-np.abs(x))
    return np.where(np.asarray(x) >= 0, 1 / (1 + e), e / (1 + e))


def _sigmoid_xfwd(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _sigmoid_fast(need, g, ans, x):
    if type(ans) is not np.ndarray or not ans.ndim:
        return (g * ans * (1 - ans),)
    d = 1 - ans  # one temporary instead of three
    d *= ans
    return (np.multiply(d, g, out=d),)


sigmoid = Primitive("sigmoid", _sigmoid_fwd, lambda xp, need, g, ans, x: (g * ans * (1 - ans),), fast=_sigmoid_fast,
                    reads="out", elementwise=True, symbol="σ", local=("{out}(1 − {out})",),
                    doc="1 / (1 + e^-x) as one fused node; local gradient σ(1-σ)",
                    xfwd=_sigmoid_xfwd)


def sigmoid_composite(x):
    """The sigmoid built from exp, add and div: the fused node's twin and test oracle."""
    return 1.0 / (1.0 + exp(-x))


relu = Primitive("relu", lambda x: np.maximum(x, 0), lambda xp, need, g, ans, x: (xp.where(unwrap(ans) > 0, g, 0),),
                 reads="out", elementwise=True, gate="routes", local=("1 where {x} > 0, else 0",),
                 doc="max(x, 0): routes the gradient where x > 0",
                 xfwd=lambda xp, x: xp.maximum(x, 0))


def _minmax_vjp(greater):
    def vjp(xp, need, g, ans, x, y):
        xr, yr = unwrap(x), unwrap(y)
        c = xp.raw(xr if hasattr(xr, "shape") else yr)  # the namespace of the (constant) masks
        m = c.astype((xr > yr) if greater else (xr < yr), g.dtype)
        m = m + 0.5 * c.astype(xr == yr, g.dtype)  # ties split the gradient, as PyTorch does
        return _grads(need, lambda: g * m, lambda: g * (1 - m))
    return vjp


maximum = Primitive("maximum", np.maximum, _minmax_vjp(True), inputs="x y", reads="x y", broadcasts=True,
                    elementwise=True, gate="routes", symbol="max",
                    local=("1 where {x} > {y} (½ where equal), else 0", "1 where {y} > {x} (½ where equal), else 0"),
                    doc="elementwise max: routes the gradient to the larger input (ties share it)",
                    xfwd=lambda xp, x, y: xp.maximum(x, y))
minimum = Primitive("minimum", np.minimum, _minmax_vjp(False), inputs="x y", reads="x y", broadcasts=True,
                    elementwise=True, gate="routes", symbol="min",
                    local=("1 where {x} < {y} (½ where equal), else 0", "1 where {y} < {x} (½ where equal), else 0"),
                    doc="elementwise min: routes the gradient to the smaller input (ties share it)",
                    xfwd=lambda xp, x, y: xp.minimum(x, y))


def _where_vjp(xp, need, g, ans, c, x, y):
    c = xp.raw(unwrap(c)).as_bool(unwrap(c))
    return (None, xp.where(c, g, 0) if need[1] is not None else None,
            xp.where(c, 0, g) if need[2] is not None else None)


where = Primitive("where", np.where, _where_vjp, inputs="cond x y", reads="cond", broadcasts=True, elementwise=True,
                  gate="routes", local=(None, "1 where {cond}, else 0", "0 where {cond}, else 1"),
                  doc="where(cond, x, y): routes the gradient by the (constant) condition",
                  xfwd=lambda xp, c, x, y: xp.where(c if hasattr(c, "shape") else xp.asarray(c), x, y))


def _clip_vjp(xp, need, g, ans, x, lo, hi):
    xr = unwrap(x)
    m = None if lo is None else xr >= lo
    if hi is not None:
        m = xr <= hi if m is None else m & (xr <= hi)
    return (g if m is None else xp.where(m, g, 0),)


clip = Primitive("clip", lambda x, lo, hi: np.clip(x, lo, hi), _clip_vjp, reads="x", broadcasts=True,
                 elementwise=True, gate="routes", local=("1 where min ≤ {x} ≤ max, else 0",),
                 doc="clip(x, min, max): gradient passes where min <= x <= max",
                 xfwd=lambda xp, x, lo, hi: xp.clip(x, lo, hi))

astype = Primitive("astype", lambda x, dtype, src: np.asarray(x).astype(dtype),
                   lambda xp, need, g, ans, x, dtype, src: (xp.astype(g, src),), elementwise=True, local=("1",),
                   doc="cast to another float dtype; the gradient is cast back",
                   xfwd=lambda xp, x, dtype, src: xp.astype(x, dtype))
