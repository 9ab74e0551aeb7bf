"""cr.compile: record once per signature, replay forward and backward; equal to eager."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.transforms.compile import CompileError


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return (cr.tensor(rng.normal(size=(5, 4))), cr.tensor(rng.normal(size=(4, 3)), requires_grad=True),
            cr.tensor(rng.normal(size=3), requires_grad=True))


def _loss(x, W, b):
    h = cr.tanh(x @ W + b)
    return (h * h).sum() / 3.0 + cr.exp(-h).mean()


def _run(f, x, W, b):
    W.grad = b.grad = None
    out = f(x, W, b)
    out.backward()
    return out.data.copy(), W.grad.copy(), b.grad.copy()


def test_replay_equals_eager_bitwise_and_counts_recordings():
    x, W, b = _params()
    eager = _run(_loss, x, W, b)
    calls = []

    def traced(*a):
        calls.append(1)
        return _loss(*a)

    cf = cr.compile(traced)
    for _ in range(3):
        got = _run(cf, x, W, b)
        for e, g in zip(eager, got):
            assert np.array_equal(e, g)
    assert cf.recordings == 1 and len(calls) == 1  # replays do not run the Python function


def test_replay_reads_new_argument_values():
    x, W, b = _params()
    cf = cr.compile(_loss)
    _run(cf, x, W, b)
    x2, W2, b2 = _params(seed=1)
    assert all(np.array_equal(e, g) for e, g in zip(_run(_loss, x2, W2, b2), _run(cf, x2, W2, b2)))


def test_new_signature_records_again():
    x, W, b = _params()
    cf = cr.compile(_loss)
    _run(cf, x, W, b)
    x7 = cr.tensor(np.ones((7, 4)))
    assert np.array_equal(_run(cf, x7, W, b)[1], _run(_loss, x7, W, b)[1])
    assert cf.recordings == 2
    W.requires_grad = False  # requires_grad is part of the signature
    cf(x, W, b)
    assert cf.recordings == 3


def test_outputs_of_earlier_calls_are_not_overwritten():
    x, W, b = _params()
    cf = cr.compile(lambda x, W, b: cr.tanh(x @ W + b))
    cf(x, W, b)
    first = cf(x, W, b)
    keep = first.data.copy()
    cf(cr.tensor(np.zeros((5, 4))), W, b)
    assert np.array_equal(first.data, keep)


def test_broadcast_gradients_are_reduced_like_eager():
    x, W, b = _params()
    f = lambda x, W, b: ((x @ W) * b + b).sum()  # noqa: E731
    cf = cr.compile(f)
    _run(cf, x, W, b)
    assert np.array_equal(_run(cf, x, W, b)[2], _run(f, x, W, b)[2])


def test_outside_tensor_needing_grad_raises():
    x, W, b = _params()
    cf = cr.compile(lambda x: (x @ W).sum())
    with pytest.raises(CompileError, match="not an argument"):
        cf(x)


def test_create_graph_through_replay_raises_clearly():
    x, W, b = _params()
    cf = cr.compile(_loss)
    cf(x, W, b)
    out = cf(x, W, b)
    with pytest.raises(CompileError, match="create_graph"):
        out.backward(create_graph=True)


def test_non_tensor_argument_is_refused():
    with pytest.raises(TypeError, match="Tensors only"):
        cr.compile(lambda a: a)(3.0)


def test_dropout_while_recording_raises_instead_of_baking_the_mask():
    x, W, b = _params()
    cf = cr.compile(lambda x, W, b: cr.nn.functional.dropout(x @ W + b, p=0.5).sum())
    with pytest.raises(CompileError, match="dropout"):
        cf(x, W, b)
    assert cf.recordings == 0
    cr.nn.functional.dropout(x, p=0.5)  # eager dropout still works after the failed recording

