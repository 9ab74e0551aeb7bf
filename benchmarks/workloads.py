"""The eight benchmark workloads: shapes, seeded data, and the computations shared by every library.

Shapes and semantics follow the issue's table (and the shared peer harness), so numbers from the
two can be read side by side. Nothing here imports an autodiff library: `scalar_mlp_loss` and
`elementwise_chain` only use `+`, `*` and the `tanh` they are given, so every library records the
same graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Workload:
    name: str
    what: str
    dtype: str
    params: dict
    rtol: float                  # gradient check: max|g - g_ref| <= rtol * max|g_ref|
    n_ops: int | None = None     # graph nodes (scalar_mlp) or ops in the chain (per-op figures)
    target: tuple | None = None  # (metric, limit, text) from the issue
    extra: dict = field(default_factory=dict)

    def data(self):
        return _DATA[self.name](self)


# -- scalar_mlp ------------------------------------------------------------------------------------

LAYERS = (2, 16, 16, 1)
POINTS = 50


def n_scalar_params(layers=LAYERS):
    return sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:]))


def scalar_mlp_loss(p, X, Y, tanh, layers=LAYERS):
    """Mean squared error of a micrograd-style MLP over scalars (tanh hidden layers, linear output).

    `p` is a flat list of the library's scalars: for each neuron, its weights then its bias.
    """
    total = None
    last = len(layers) - 2
    for x, y in zip(X, Y):
        act = x
        k = 0
        for li, (nin, nout) in enumerate(zip(layers[:-1], layers[1:])):
            nxt = []
            for _ in range(nout):
                s = p[k + nin]
                for i in range(nin):
                    s = s + p[k + i] * act[i]
                k += nin + 1
                nxt.append(s if li == last else tanh(s))
            act = nxt
        err = act[0] + (-y)
        total = err * err if total is None else total + err * err
    return total * (1.0 / len(X))


class _Counter:
    """A scalar that counts the op nodes `scalar_mlp_loss` creates (leaves and constants excluded)."""

    made = 0

    def _new(self, other=None):
        _Counter.made += 1
        return _Counter()

    __add__ = __radd__ = __mul__ = __rmul__ = _new


def count_scalar_nodes():
    _Counter.made = 0
    d = _scalar_data(None)
    scalar_mlp_loss([_Counter() for _ in d["params"]], d["X_list"], d["Y_list"], lambda s: s._new())
    return _Counter.made


def _scalar_data(wl):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, size=(POINTS, LAYERS[0]))
    Y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    params = rng.uniform(-1.0, 1.0, size=n_scalar_params())
    return {"X": X, "Y": Y, "params": params, "X_list": X.tolist(), "Y_list": Y.tolist()}


# -- elementwise chains (op_overhead, deep_chain_memory) --------------------------------------------

def elementwise_chain(x, n_ops, consts, tanh):
    """`n_ops` ops cycling add, mul, tanh. Every other cycle negates the added constant and inverts
    the multiplier, so values stay near 0 and the gradient stays O(1) over 10,000 ops."""
    add, sub, mul, div = consts
    for i in range(n_ops):
        odd = (i // 3) & 1
        kind = i % 3
        if kind == 0:
            x = x + (sub if odd else add)
        elif kind == 1:
            x = x * (div if odd else mul)
        else:
            x = tanh(x)
    return x


def chain_consts(d):
    return d["add"], d["sub"], d["mul"], d["div"]


def _chain_data(wl):
    rng = np.random.default_rng(1)
    n = wl.params["size"]
    a = rng.uniform(0.0, 0.05, size=n)
    m = rng.uniform(0.9, 1.1, size=n)
    return {"x": rng.normal(0.0, 0.5, size=n), "add": a, "sub": -a, "mul": m, "div": 1.0 / m}


# -- MLP train steps ---------------------------------------------------------------------------------

def mlp_names(wl):
    return [f"{k}{i}" for i in range(1, len(wl.params["dims"])) for k in ("W", "b")]


def _mlp_data(wl):
    dims, batch, dt = wl.params["dims"], wl.params["batch"], np.dtype(wl.dtype)
    rng = np.random.default_rng(2)
    d = {"X": rng.normal(size=(batch, dims[0])).astype(dt),
         "y": rng.integers(0, dims[-1], size=batch).astype(np.int64)}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]), 1):
        d[f"W{i}"] = (rng.normal(size=(a, b)) * math.sqrt(2.0 / a)).astype(dt)
        d[f"b{i}"] = rng.normal(0.0, 0.01, size=b).astype(dt)
    return d


# -- matmul_chain ------------------------------------------------------------------------------------

def _matmul_data(wl):
    n, k = wl.params["n"], wl.params["n_mats"]
    rng = np.random.default_rng(3)
    d = {"x": rng.normal(size=(n, n)).astype(np.float32)}
    for i in range(k):
        d[f"W{i}"] = (rng.normal(size=(n, n)) / math.sqrt(n)).astype(np.float32)
    return d


# -- broadcast_reduce --------------------------------------------------------------------------------

def _bcast_data(wl):
    rng = np.random.default_rng(4)
    return {"a": rng.normal(size=wl.params["a"]).astype(np.float32),
            "b": rng.normal(size=wl.params["b"]).astype(np.float32)}


# -- conv_small --------------------------------------------------------------------------------------

def _conv_data(wl):
    p = wl.params
    rng = np.random.default_rng(5)
    fan_in = p["C"] * p["k"] * p["k"]
    return {"x": rng.normal(size=(p["N"], p["C"], p["H"], p["W"])).astype(np.float32),
            "W": (rng.normal(size=(p["F"], p["C"], p["k"], p["k"])) * math.sqrt(2.0 / fan_in)).astype(np.float32),
            "b": rng.normal(0.0, 0.1, size=p["F"]).astype(np.float32)}


_DATA = {"scalar_mlp": _scalar_data, "op_overhead": _chain_data, "deep_chain_memory": _chain_data,
         "mlp_train_step": _mlp_data, "mlp_train_step_small": _mlp_data, "matmul_chain": _matmul_data,
         "broadcast_reduce": _bcast_data, "conv_small": _conv_data}


def _build():
    ws = [
        Workload("scalar_mlp", "micrograd-style MLP 2-16-16-1 on scalars (0-d tensors), tanh, 50 points, MSE; "
                 "forward + backward", "float64", {"layers": LAYERS, "points": POINTS}, 1e-9,
                 n_ops=count_scalar_nodes(), target=("us_per_node", 3.5, "<= 3.5 µs/node")),
        Workload("op_overhead", "1000 elementwise ops (add, mul, tanh cycling) on (16,) float64, sum, backward",
                 "float64", {"n_ops": 1000, "size": 16}, 1e-9, n_ops=1000,
                 target=("us_per_op", 3.0, "<= 3.0 µs/op")),
        Workload("mlp_train_step", "MLP 784-512-256-10, ReLU, softmax cross-entropy, batch 128, float32, "
                 "one SGD step (lr 0.01)", "float32", {"dims": (784, 512, 256, 10), "batch": 128, "lr": 0.01},
                 1e-4, target=("ratio", 1.03, "<= 1.03x")),
        Workload("mlp_train_step_small", "MLP 64-64-10, ReLU, softmax cross-entropy, batch 32, float64, "
                 "one SGD step (lr 0.01)", "float64", {"dims": (64, 64, 10), "batch": 32, "lr": 0.01},
                 1e-9, target=("ratio", 2.0, "<= 2.0x")),
        Workload("matmul_chain", "8 matmuls of 1024x1024 float32 with tanh between, sum, backward wrt the 8 weights",
                 "float32", {"n": 1024, "n_mats": 8}, 1e-3, target=("ratio", 1.03, "<= 1.03x")),
        Workload("deep_chain_memory", "10,000 elementwise ops (add, mul, tanh cycling) on (1000,) float64, sum, "
                 "backward; added memory", "float64", {"n_ops": 10000, "size": 1000}, 1e-8, n_ops=10000,
                 target=("ratio", 2.5, "<= 2.5x, <= 35 MB"), extra={"mb_limit": 35.0}),
        Workload("broadcast_reduce", "a(256,1,64) * b(1,128,64), sum over the last axis, sum of squares; "
                 "grads wrt a and b, float32", "float32", {"a": (256, 1, 64), "b": (1, 128, 64)}, 1e-4,
                 target=("ratio", 1.0, "<= 1.0x")),
        Workload("conv_small", "conv2d x(32,3,32,32) * W(16,3,3,3) + b, stride 1, pad 1, float32; "
                 "loss 0.5*sum(y^2); grads wrt x, W, b", "float32",
                 {"N": 32, "C": 3, "H": 32, "W": 32, "F": 16, "k": 3, "pad": 1}, 1e-4,
                 target=("ratio", 1.2, "<= 1.2x")),
    ]
    return {w.name: w for w in ws}


WORKLOADS = _build()
ORDER = list(WORKLOADS)
