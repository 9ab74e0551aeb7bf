"""The Tensor API of DESIGN.md: construction, dtypes, properties, methods, operators."""

import numpy as np
import pytest

import chainrule as cr


def test_construction_and_dtypes():
    assert cr.tensor(1.5).dtype == np.float64
    assert cr.tensor([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
    assert cr.tensor(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert cr.tensor([1, 2]).dtype.kind == "i"
    assert cr.tensor([1, 2], dtype=np.float32).dtype == np.float32
    t = cr.tensor(2.0, requires_grad=True, name="w")
    assert t.name == "w" and t.requires_grad and t.is_leaf and t.grad is None
    a = np.ones(3)
    b = cr.tensor(a)
    a[0] = 7.0
    assert b.data[0] == 1.0, "tensor() copies its data"


@pytest.mark.parametrize("bad, exc, words", [
    ("abc", TypeError, "string"),
    ([[1.0, 2.0], [3.0]], ValueError, "ragged"),
    (np.array([object(), 1], dtype=object), TypeError, "object"),
])
def test_bad_data_is_refused_clearly(bad, exc, words):
    with pytest.raises(exc, match=words):
        cr.tensor(bad)


def test_requires_grad_on_integers_is_refused():
    with pytest.raises(TypeError, match="floating-point"):
        cr.tensor([1, 2, 3], requires_grad=True)


def test_properties_and_methods():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (x.shape, x.ndim, x.size(), x.numel(), len(x)) == ((2, 3), 2, (2, 3), 6, 2)
    assert x.T.shape == (3, 2) and x.transpose().shape == (3, 2) and x.transpose(1, 0).shape == (3, 2)
    assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,) and x.reshape(-1, 2).shape == (3, 2)
    assert x.sum().item() == 15.0 and x.sum(axis=0).shape == (3,) and x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert x.mean().item() == 2.5 and x.max().item() == 5.0 and x.min(axis=1).tolist() == [0.0, 3.0]
    assert isinstance(x.numpy(), np.ndarray) and x[1, 2].item() == 5.0
    d = x.detach()
    assert not d.requires_grad and d.data is x.data
    x.grad = np.ones((2, 3))
    x.zero_grad()
    assert x.grad is None
    assert "requires_grad=True" in repr(x)


def test_operators_with_scalars_and_reflections():
    x = cr.tensor(np.array([1.0, 2.0, 4.0]), requires_grad=True)
    ys = [x + 1, 1 + x, x - 1, 1 - x, x * 2, 2 * x, x / 2, 2 / x, x ** 2, 2 ** x, -x, abs(-x)]
    expect = [[2, 3, 5], [2, 3, 5], [0, 1, 3], [0, -1, -3], [2, 4, 8], [2, 4, 8], [0.5, 1, 2],
              [2, 1, 0.5], [1, 4, 16], [2, 4, 16], [-1, -2, -4], [1, 2, 4]]
    for y, e in zip(ys, expect):
        np.testing.assert_allclose(y.data, e)
        assert isinstance(y, cr.Tensor) and y.requires_grad
    m = np.ones((3, 3)) @ x
    assert isinstance(m, cr.Tensor) and m.shape == (3,)
    assert isinstance(np.ones(3) * x, cr.Tensor), "ndarray on the left defers to the Tensor"


def test_comparisons_return_boolean_tensors_without_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, np.ones(3) > x, np.ones(3) == x):
        assert isinstance(c, cr.Tensor) and c.dtype == bool and not c.requires_grad
    assert (x > cr.tensor([0.0, 5.0, 1.0])).tolist() == [True, False, True]
    assert (x == 2).tolist() == [False, True, False] and (np.ones(3) == x).tolist() == [True, False, False]


def test_data_and_grad_are_assignable():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data = np.array([3.0, 4.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 8.0])
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_functions_take_numpy_argument_names():
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert cr.sum(x, axis=1, keepdims=True).shape == (2, 1)
    assert cr.mean(x, axis=0).shape == (3,)
    assert cr.max(x, axis=(0, 1)).shape == ()
    assert cr.logsumexp(x, axis=1).shape == (2,)
    assert cr.softmax(x, axis=0).shape == (2, 3)
    assert cr.concatenate([x, x], axis=0).shape == (4, 3) and cr.stack([x, x], axis=1).shape == (2, 2, 3)
    assert cr.matmul(x, x.T).shape == (2, 2) and cr.transpose(x, (1, 0)).shape == (3, 2)
    assert cr.clip(x, 1, 3).max().item() == 3 and cr.where(x > 2, x, 0.0).sum().item() == 12
    with pytest.raises(cr.ShapeError, match="axis 2"):
        cr.sum(x, axis=2)
    with pytest.raises(cr.ShapeError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        x.reshape(4)


def test_stable_softmax_family_for_large_logits():
    x = cr.tensor(np.array([[1000.0, -1000.0, 0.0]]), requires_grad=True)
    ls = cr.log_softmax(x, axis=1)
    assert np.all(np.isfinite(ls.data))
    ls.sum().backward()
    assert np.all(np.isfinite(x.grad))
    assert np.isfinite(cr.logsumexp(x).item()) and cr.softmax(x).data[0, 0] == 1.0
    s = cr.sigmoid(cr.tensor([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s.data, [0.0, 0.5, 1.0])
