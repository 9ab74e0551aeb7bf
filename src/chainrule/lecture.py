"""The worked examples of the lecture notes (CS231n lecture 4, ``shared/seed``), as code.

Each function builds the example's graph, runs backward, and returns the output and the
gradients by name, so that the CLI, the README, the tutorial and the tests use one source.
"""

from __future__ import annotations

import sys

import numpy as np

from . import ops
from .debug import numerical_gradient, rel_error
from .ops import tensor


def chain_rule(x=-2.0, y=5.0):
    """z = t², t = x + y: dz/dx = dz/dt · dt/dx = 2t · 1."""
    xs = tensor(x, requires_grad=True, name="x"), tensor(y, requires_grad=True, name="y")
    t = xs[0] + xs[1]
    z = t * t
    z.backward()
    return z, {"x": xs[0].grad, "y": xs[1].grad}


def example1(x=-2.0, y=5.0, z=-4.0):
    """f(x, y, z) = (x + y) z: the add gate distributes, the mul gate swaps."""
    xt, yt, zt = (tensor(v, requires_grad=True, name=n) for v, n in ((x, "x"), (y, "y"), (z, "z")))
    q = xt + yt
    f = q * zt
    f.backward()
    return f, {"x": xt.grad, "y": yt.grad, "z": zt.grad}


def _neuron_inputs(w, x):
    ws = [tensor(v, requires_grad=True, name=f"w{i}") for i, v in enumerate(w)]
    xs = [tensor(v, requires_grad=True, name=f"x{i}") for i, v in enumerate(x)]
    return ws, xs


def example2(w=(2.0, -3.0, -3.0), x=(-1.0, -2.0), fused=True):
    """f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))): the sigmoid as one node (fused) or composed
    of exp, add and div. Both give the lecture's gradients."""
    ws, xs = _neuron_inputs(w, x)
    s = ws[0] * xs[0] + ws[1] * xs[1] + ws[2]
    f = ops.sigmoid(s) if fused else ops.sigmoid_composite(s)
    f.backward()
    grads = {t.name: t.grad for t in ws + xs}
    return f, grads


def max_gate(x=3.0, y=-4.0, z=2.0, w=-1.0):
    """f = 2 (x y + max(z, w)): the max gate routes, the mul gate swaps."""
    xt, yt, zt, wt = (tensor(v, requires_grad=True, name=n) for v, n in zip((x, y, z, w), "xyzw"))
    f = 2.0 * (xt * yt + ops.maximum(zt, wt))
    f.backward()
    return f, {"x": xt.grad, "y": yt.grad, "z": zt.grad, "w": wt.grad}


AFFINE_W = [[0.1, 0.5], [-0.3, 0.8]]
AFFINE_X = [0.2, 0.4]


def affine(W=AFFINE_W, x=AFFINE_X):
    """q = W x, f = ‖q‖²: df/dW = 2 q xᵀ and df/dx = 2 Wᵀ q, no Jacobian built."""
    Wt = tensor(np.array(W, dtype=float), requires_grad=True, name="W")
    xt = tensor(np.array(x, dtype=float), requires_grad=True, name="x")
    q = Wt @ xt
    f = (q * q).sum()
    f.backward()
    return f, {"W": Wt.grad, "x": xt.grad, "q": q.data}


EXAMPLES = {
    "chain rule: z = t², t = x + y at x=-2, y=5": chain_rule,
    "example 1: f = (x + y) z at x=-2, y=5, z=-4": example1,
    "example 2: sigmoid neuron, w=[2,-3,-3], x=[-1,-2] (fused sigmoid node)": lambda: example2(fused=True),
    "example 2: the same neuron composed of exp, add, div": lambda: example2(fused=False),
    "max gate: f = 2(xy + max(z, w)) at (3, -4, 2, -1)": max_gate,
    "affine: q = W x, f = ‖q‖², W=[[0.1,0.5],[-0.3,0.8]], x=[0.2,0.4]": affine,
}


def print_examples(out=None):
    out = out or sys.stdout
    for title, fn in EXAMPLES.items():
        f, grads = fn()
        print(title, file=out)
        print(f"  f = {np.round(f.item(), 6)}", file=out)
        for k, g in grads.items():
            label = "q (forward)" if k == "q" else f"df/d{k}"
            print(f"  {label} = {np.array2string(np.round(np.asarray(g), 4), separator=', ')}", file=out)
        print(file=out)
    # the numerical check of example 1, as in the README
    num = numerical_gradient(lambda v: (v[0] + v[1]) * v[2], np.array([-2.0, 5.0, -4.0]))
    _, an = example1()
    err = rel_error(np.array([float(g) for g in an.values()]), num)
    print(f"numerical check of example 1: {[round(float(v), 6) for v in num]}, rel_error {err:.1e}", file=out)
