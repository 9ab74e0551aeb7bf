"""Derivatives at the edges of their formulas (issue 12), each against PyTorch."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _nth_derivative(f, x0, n):
    g = f
    for _ in range(n):
        g = cr.grad(g)
    return float(g(cr.tensor(x0, requires_grad=True)).item())


def _torch_nth_derivative(f, x0, n):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    y = f(x)
    for _ in range(n):
        (y,) = torch.autograd.grad(y, x, create_graph=True)
    return float(y)


@pytest.mark.parametrize(("power", "order"), [(0, 1), (1, 2), (2, 3), (3, 4)])
def test_power_rule_at_zero_matches_pytorch(power, order):
    got = _nth_derivative(lambda t: t ** power, 0.0, order)
    want = _torch_nth_derivative(lambda t: t ** power, 0.0, order)
    assert got == want == 0.0


def test_power_with_a_tensor_exponent_that_is_zero_where_the_base_is_zero():
    x = cr.tensor([0.0, 2.0, 0.0], requires_grad=True)
    y = cr.tensor([0.0, 0.0, 2.0], requires_grad=True)
    (x ** y).sum().backward()
    tx = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    ty = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (tx ** ty).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    np.testing.assert_array_equal(y.grad, ty.grad.numpy())


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("values", [[1.0, float("nan"), 3.0], [[float("nan"), 1.0], [2.0, 5.0]]])
def test_max_and_min_route_the_gradient_to_a_nan_as_pytorch(op, values):
    x = cr.tensor(values, requires_grad=True)
    getattr(x, op)().backward()
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    getattr(tx, op)().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
