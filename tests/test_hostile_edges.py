"""Issue 12, point 3, re-tried: a cast to an integer or boolean dtype rounds, so it is not differentiable:
it records no node and no gradient flows through it (PyTorch's `.long()` gives a tensor without grad)."""

import numpy as np
import pytest

import chainrule as cr


@pytest.mark.parametrize("cast", [lambda t: t.astype(np.int64), lambda t: t.long(), lambda t: t.int(),
                                  lambda t: t.astype(bool), lambda t: t.to(cr.int64)])
def test_a_cast_to_integers_records_nothing_and_passes_no_gradient(cast):
    x = cr.tensor([1.5, -2.5, 3.25], requires_grad=True)
    y = cast(x)
    assert not y.requires_grad and y._node is None
    out = (x * 2).sum() + y.sum()
    out.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])   # only the differentiable path


def test_a_float_cast_stays_differentiable():
    x = cr.tensor([1.5, -2.5], requires_grad=True)
    y = x.astype(np.float32)
    assert y.requires_grad
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, -5.0])
