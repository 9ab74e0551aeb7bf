"""One spec per core primitive (several where an op has distinct modes): input domain, shapes
(broadcasting pairs included), the same op in PyTorch. Swept by test_primitives.py."""

import numpy as np

import chainrule as cr
from chainrule import ops
from opspec import OpSpec


def away_from_zero(lo=0.2, hi=2.0):
    def draw(rng, shape):
        return rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return draw


def positive(lo=0.2, hi=3.0):
    return lambda rng, shape: rng.uniform(lo, hi, size=shape)


def distinct(rng, shape):
    """Values with gaps far larger than the finite-difference step (no ties for max/min)."""
    n = int(np.prod(shape))
    vals = rng.permutation(n) * 0.25 + rng.uniform(-0.05, 0.05, size=n) - n * 0.125
    return vals.reshape(shape)


def pair_gap(rng, shape):
    return rng.uniform(0.3, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


BIN = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((2, 3), ())]
UN = [((),), ((4,),), ((2, 3),)]

ROWS = np.array([0, 2, 0, 1])  # repeated index: its gradients add
MASK = np.array([[True, False, True], [False, True, True]])


def parity_mask(shape):
    return (np.arange(int(np.prod(shape))).reshape(shape) % 2) == 0


SPECS = [
    OpSpec("add", lambda x, y: x + y, BIN, torch=lambda t, x, y: x + y),
    OpSpec("sub", lambda x, y: x - y, BIN, torch=lambda t, x, y: x - y),
    OpSpec("mul", lambda x, y: x * y, BIN, torch=lambda t, x, y: x * y),
    OpSpec("div", lambda x, y: x / y, BIN, domain=away_from_zero(0.5, 2.0), torch=lambda t, x, y: x / y),
    OpSpec("neg", lambda x: -x, UN, torch=lambda t, x: -x),
    OpSpec("power", lambda x, y: x ** y, BIN, domain=positive(0.3, 2.0), torch=lambda t, x, y: x ** y),
    OpSpec("power", lambda x: x ** 3, UN, torch=lambda t, x: x ** 3),
    OpSpec("power", lambda x: 2.0 ** x, UN, torch=lambda t, x: 2.0 ** x),
    OpSpec("exp", cr.exp, UN, torch=lambda t, x: t.exp(x)),
    OpSpec("log", cr.log, UN, domain=positive(), torch=lambda t, x: t.log(x)),
    OpSpec("sqrt", cr.sqrt, UN, domain=positive(), torch=lambda t, x: t.sqrt(x)),
    OpSpec("abs", cr.abs, UN, domain=away_from_zero(), torch=lambda t, x: t.abs(x)),
    OpSpec("sin", cr.sin, UN, torch=lambda t, x: t.sin(x)),
    OpSpec("cos", cr.cos, UN, torch=lambda t, x: t.cos(x)),
    OpSpec("tanh", cr.tanh, UN, torch=lambda t, x: t.tanh(x)),
    OpSpec("sigmoid", cr.sigmoid, UN, domain=(-6.0, 6.0), torch=lambda t, x: t.sigmoid(x)),
    OpSpec("relu", cr.relu, UN, domain=away_from_zero(0.1, 2.0), torch=lambda t, x: t.relu(x)),
    OpSpec("maximum", cr.maximum, BIN, domain=distinct, torch=lambda t, x, y: t.maximum(x, y)),
    OpSpec("minimum", cr.minimum, BIN, domain=distinct, torch=lambda t, x, y: t.minimum(x, y)),
    OpSpec("where", lambda x, y: cr.where(parity_mask(np.broadcast_shapes(x.shape, y.shape)), x, y), BIN,
           torch=lambda t, x, y: t.where(t.tensor(parity_mask(np.broadcast_shapes(x.shape, y.shape))), x, y)),
    OpSpec("clip", lambda x: cr.clip(x, -0.5, 0.5), UN, domain=lambda rng, s: pair_gap(rng, s) * 0.7,
           torch=lambda t, x: t.clamp(x, -0.5, 0.5)),
    OpSpec("clip", lambda x: cr.clip(x, min=0.0), UN, domain=away_from_zero(),
           torch=lambda t, x: t.clamp(x, min=0.0)),
    OpSpec("astype", lambda x: x.astype(np.float64), UN, torch=lambda t, x: x.to(t.float64)),
    OpSpec("sum", lambda x: x.sum(), UN, torch=lambda t, x: x.sum()),
    OpSpec("sum", lambda x: x.sum(axis=1), [((2, 3),), ((2, 3, 2),)], torch=lambda t, x: x.sum(dim=1)),
    OpSpec("sum", lambda x: x.sum(axis=(0, -1), keepdims=True), [((2, 3),), ((2, 3, 2),)],
           torch=lambda t, x: x.sum(dim=(0, -1), keepdim=True)),
    OpSpec("mean", lambda x: x.mean(), UN, torch=lambda t, x: x.mean()),
    OpSpec("mean", lambda x: x.mean(axis=0, keepdims=True), [((2, 3),), ((4,),)],
           torch=lambda t, x: x.mean(dim=0, keepdim=True)),
    OpSpec("max", lambda x: x.max(), [((4,),), ((2, 3),)], domain=distinct, torch=lambda t, x: x.amax()),
    OpSpec("max", lambda x: x.max(axis=1), [((2, 3),), ((3, 4, 2),)], domain=distinct,
           torch=lambda t, x: x.amax(dim=1)),
    OpSpec("min", lambda x: x.min(axis=0, keepdims=True), [((2, 3),), ((4,),)], domain=distinct,
           torch=lambda t, x: x.amin(dim=0, keepdim=True)),
    OpSpec("min", lambda x: x.min(), [((5,),)], domain=distinct, torch=lambda t, x: x.amin()),
    OpSpec("reshape", lambda x: x.reshape(-1), [((2, 3),), ((2, 2, 2),)], torch=lambda t, x: x.reshape(-1)),
    OpSpec("reshape", lambda x: x.reshape(3, 2), [((2, 3),), ((6,),)], torch=lambda t, x: x.reshape(3, 2)),
    OpSpec("transpose", lambda x: x.T, [((2, 3),), ((2, 3, 4),)],
           torch=lambda t, x: x.permute(*reversed(range(x.ndim)))),
    OpSpec("transpose", lambda x: x.transpose(1, 2, 0), [((2, 3, 4),)], torch=lambda t, x: x.permute(1, 2, 0)),
    OpSpec("broadcast_to", lambda x: cr.broadcast_to(x, (2, 3, 4)), [((4,),), ((3, 1),), ((),)],
           torch=lambda t, x: x.broadcast_to((2, 3, 4))),
    OpSpec("getitem", lambda x: x[1:, ::2], [((3, 4),)], torch=lambda t, x: x[1:, ::2]),
    OpSpec("getitem", lambda x: x[ROWS], [((3, 2),), ((3,),)], torch=lambda t, x: x[t.tensor(ROWS)]),
    OpSpec("getitem", lambda x: x[MASK], [((2, 3),)], torch=lambda t, x: x[t.tensor(MASK)]),
    OpSpec("getitem", lambda x: x[..., 1, None], [((2, 3),), ((2, 2, 3),)], torch=lambda t, x: x[..., 1, None]),
    OpSpec("scatter_add", lambda u: ops.scatter_add(u, ROWS, (3,)), [((4,),)],
           torch=lambda t, u: t.zeros(3, dtype=u.dtype).index_add(0, t.tensor(ROWS), u)),
    OpSpec("scatter_add", lambda u: ops.scatter_add(u, (slice(1, 3),), (4, 2)), [((2, 2),)],
           torch=lambda t, u: t.nn.functional.pad(u, (0, 0, 1, 1))),
    OpSpec("setitem", lambda x, v: ops.setitem(x, (slice(None), 1), v), [((2, 3), (2,)), ((2, 3), ())],
           torch=lambda t, x, v: x.index_put((t.arange(2), t.tensor([1, 1])), v)),
    OpSpec("setitem", lambda x, v: ops.setitem(x, ROWS[1:], v), [((3, 2), (3, 2)), ((3, 2), (2,))],
           torch=lambda t, x, v: x.index_put((t.tensor(ROWS[1:]),), v)),
    OpSpec("setitem", lambda x, v: ops.setitem(x, MASK, v), [((2, 3), (4,))],
           torch=lambda t, x, v: x.index_put((t.tensor(MASK),), v)),
    OpSpec("concatenate", lambda x, y: cr.concatenate([x, y], axis=1), [((2, 3), (2, 1)), ((1, 2, 2), (1, 3, 2))],
           torch=lambda t, x, y: t.cat([x, y], dim=1)),
    OpSpec("stack", lambda x, y: cr.stack([x, y], axis=-1), [((3,), (3,)), ((2, 2), (2, 2))],
           torch=lambda t, x, y: t.stack([x, y], dim=-1)),
    OpSpec("matmul", lambda a, b: a @ b,
           [((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3, 2)),
            ((3,), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2))],
           torch=lambda t, a, b: a @ b),
    OpSpec("logsumexp", lambda x: cr.logsumexp(x, axis=-1), [((3,),), ((2, 4),)],
           torch=lambda t, x: t.logsumexp(x, dim=-1)),
    OpSpec("logsumexp", lambda x: cr.logsumexp(x), [((2, 3),)], torch=lambda t, x: t.logsumexp(x.reshape(-1), 0)),
    OpSpec("softmax", lambda x: cr.softmax(x, axis=-1), [((4,),), ((2, 3),)],
           torch=lambda t, x: t.softmax(x, dim=-1)),
    OpSpec("softmax", lambda x: cr.softmax(x, axis=0), [((3, 2),)], torch=lambda t, x: t.softmax(x, dim=0)),
    OpSpec("log_softmax", lambda x: cr.log_softmax(x, axis=-1), [((4,),), ((2, 3),)],
           torch=lambda t, x: t.log_softmax(x, dim=-1)),
]
