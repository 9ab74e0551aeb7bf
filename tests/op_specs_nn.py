"""Specs for the fused neural-network primitives (chainrule.ops.conv, .losses, .linalg), swept by
test_primitives.py."""

import numpy as np

from chainrule.nn import functional as F
from chainrule.ops import conv, losses
from chainrule.ops import linear as _linear
from chainrule.ops.recurrent import lstm_scan
from opspec import OpSpec


def unit(lo=0.05, hi=0.95):
    return lambda rng, shape: rng.uniform(lo, hi, size=shape)


def distinct(rng, shape):
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.25 + rng.uniform(-0.05, 0.05, size=n) - n * 0.125).reshape(shape)


T4 = np.array([0, 2, 1, 2])          # class targets for (4, 3) logits
T22 = np.array([[0, 2], [1, 1]])     # for (2, 3, 2) logits
T_IGN = np.array([0, -100, 1, 2])
CW = np.array([0.5, 2.0, 1.5])


def _tt(t, a):
    return t.tensor(a)


def _im2col(x, k, s, p):
    return conv.im2col(x, shape=x.shape, kernel=k, stride=s, padding=p)


def _unfold(t, x, k, s, p):
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    return t.nn.functional.unfold(x, k, padding=p, stride=s).reshape(N, C, k[0], k[1], Ho, Wo)


def _fold(t, c, shape, k, s, p):
    N, C = shape[:2]
    return t.nn.functional.fold(c.reshape(N, C * k[0] * k[1], -1), shape[2:], k, padding=p, stride=s)


SPECS = [
    OpSpec("linear", lambda x, W, b: _linear(x, W, b),
           [((2, 3), (4, 3), (4,)), ((3,), (2, 3), (2,)), ((2, 2, 3), (4, 3), (4,))],
           torch=lambda t, x, W, b: t.nn.functional.linear(x, W, b)),
    OpSpec("cross_entropy", lambda x: F.cross_entropy(x, T4), [((4, 3),)],
           torch=lambda t, x: t.nn.functional.cross_entropy(x, _tt(t, T4))),
    OpSpec("cross_entropy", lambda x: F.cross_entropy(x, T4, reduction="none"), [((4, 3),)], domain=(-30, 30),
           torch=lambda t, x: t.nn.functional.cross_entropy(x, _tt(t, T4), reduction="none")),
    OpSpec("cross_entropy", lambda x: F.cross_entropy(x, T4, weight=CW, reduction="sum"), [((4, 3),)],
           torch=lambda t, x: t.nn.functional.cross_entropy(x, _tt(t, T4), weight=_tt(t, CW), reduction="sum")),
    OpSpec("cross_entropy", lambda x: F.cross_entropy(x, T_IGN, weight=CW), [((4, 3),)],
           torch=lambda t, x: t.nn.functional.cross_entropy(x, _tt(t, T_IGN), weight=_tt(t, CW))),
    OpSpec("cross_entropy", lambda x: F.cross_entropy(x, T22), [((2, 3, 2),)],
           torch=lambda t, x: t.nn.functional.cross_entropy(x, _tt(t, T22))),
    OpSpec("binary_cross_entropy", lambda p, y: losses.binary_cross_entropy(p, y), [((3,), (3,)), ((2, 3), (2, 3))],
           domain=unit(), torch=lambda t, p, y: t.nn.functional.binary_cross_entropy(p, y, reduction="none")),
    OpSpec("binary_cross_entropy_with_logits", lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
           [((3,), (3,)), ((2, 3), (2, 3))], domain=(-4.0, 4.0),
           torch=lambda t, x, y: t.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")),
    OpSpec("binary_cross_entropy_with_logits",
           lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, pos_weight=w, reduction="sum"),
           [((2, 3), (2, 3), (3,))], domain=unit(0.1, 2.0), wrt=(0, 1),  # torch: no gradient for pos_weight
           torch=lambda t, x, y, w: t.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=w,
                                                                                     reduction="sum")),
    OpSpec("binary_cross_entropy_with_logits",
           lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, pos_weight=w, reduction="none"),
           [((2, 3), (2, 3), (3,)), ((3,), (3,), ())], domain=unit(0.1, 2.0)),
    OpSpec("im2col", lambda x: _im2col(x, (2, 2), (1, 1), (0, 0)), [((1, 2, 3, 3),)],
           torch=lambda t, x: _unfold(t, x, (2, 2), (1, 1), (0, 0))),
    OpSpec("im2col", lambda x: _im2col(x, (3, 2), (2, 1), (1, 1)), [((2, 1, 4, 3),)],
           torch=lambda t, x: _unfold(t, x, (3, 2), (2, 1), (1, 1))),
    OpSpec("col2im", lambda c: conv.col2im(c, shape=(1, 2, 3, 3), kernel=(2, 2), stride=(1, 1), padding=(0, 0)),
           [((1, 2, 2, 2, 2, 2),)], torch=lambda t, c: _fold(t, c, (1, 2, 3, 3), (2, 2), (1, 1), (0, 0))),
    OpSpec("col2im", lambda c: conv.col2im(c, shape=(1, 1, 4, 3), kernel=(3, 2), stride=(2, 1), padding=(1, 1)),
           [((1, 1, 3, 2, 2, 4),)], torch=lambda t, c: _fold(t, c, (1, 1, 4, 3), (3, 2), (2, 1), (1, 1))),
    OpSpec("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1), [((2, 2, 3, 3), (3, 2, 2, 2), (3,))],
           torch=lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, padding=1)),
    OpSpec("conv2d", lambda x, w: F.conv2d(x, w, stride=(2, 1)), [((1, 2, 5, 4), (2, 2, 3, 2))],
           torch=lambda t, x, w: t.nn.functional.conv2d(x, w, stride=(2, 1))),
    OpSpec("max_pool2d", lambda x: F.max_pool2d(x, 2), [((1, 2, 4, 4),), ((2, 1, 5, 4),)], domain=distinct,
           torch=lambda t, x: t.nn.functional.max_pool2d(x, 2)),
    OpSpec("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [((1, 2, 5, 4),)], domain=distinct,
           torch=lambda t, x: t.nn.functional.max_pool2d(x, 3, stride=2, padding=1)),
    # issue 15: the fused LSTM recurrence (its composite twin and PyTorch's nn.LSTM: tests/test_nn_recurrent.py)
    OpSpec("lstm_scan", lambda xw, h0, c0, w: lstm_scan(xw, h0, c0, w),
           [((3, 2, 8), (2, 2), (2, 2), (8, 2)), ((1, 1, 4), (1, 1), (1, 1), (4, 1))],
           torch=lambda t, xw, h0, c0, w: _torch_lstm_scan(t, xw, h0, c0, w)),
]


def _torch_lstm_scan(t, xw, h0, c0, w):
    """The recurrence in PyTorch's operations (gates i, f, g, o), every step's h and c: (L, 2, N, H)."""
    H, h, c, out = h0.shape[-1], h0, c0, []
    for k in range(xw.shape[0]):
        i, f, g, o = (xw[k] + h @ w.T).split(H, dim=-1)
        c = t.sigmoid(f) * c + t.sigmoid(i) * t.tanh(g)
        h = t.sigmoid(o) * t.tanh(c)
        out.append(t.stack([h, c]))
    return t.stack(out)
