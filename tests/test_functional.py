"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

RNG = np.random.default_rng(1234)


def arr(t):
    return np.asarray(t.data if isinstance(t, cr.Tensor) else t)


def num_jacobian(f, x, h=1e-6):
    """Central-difference Jacobian of an array function, shape out.shape + x.shape."""
    x = np.array(x, dtype=float)
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        jac[(...,) + i] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return jac


# -- grad and value_and_grad -----------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda v: v, np.asarray, cr.tensor,
                                  lambda v: cr.tensor(v, requires_grad=True)],
                         ids=["float", "array", "tensor", "tensor-requires-grad"])
def test_grad_accepts_floats_arrays_and_tensors(make):
    g = cr.grad(lambda x: x ** 3 - 2.0 * x)(make(1.5))
    assert isinstance(g, cr.Tensor)
    np.testing.assert_allclose(arr(g), 3 * 1.5 ** 2 - 2.0)


def test_grad_of_vector_function_matches_numerical():
    f = lambda x: (cr.tanh(x) * x ** 2).sum()
    x = RNG.standard_normal(5)
    g = cr.grad(f)(x)
    assert g.shape == (5,)
    assert cr.rel_error(g, cr.numerical_gradient(f, x)) < 1e-7


def test_grad_argnums_int_tuple_and_negative():
    f = lambda x, y, z: (x * y + z ** 2).sum()
    x, y, z = RNG.standard_normal((3, 4))
    gy = cr.grad(f, argnums=1)(x, y, z)
    np.testing.assert_allclose(arr(gy), x)
    gx, gz = cr.grad(f, argnums=(0, -1))(x, y, z)
    np.testing.assert_allclose(arr(gx), y)
    np.testing.assert_allclose(arr(gz), 2 * z)


def test_value_and_grad_and_has_aux():
    f = lambda x: (x ** 2).sum()
    v, g = cr.value_and_grad(f)(np.array([1.0, 2.0]))
    assert float(arr(v)) == 5.0 and not v.requires_grad
    np.testing.assert_allclose(arr(g), [2.0, 4.0])
    (v, aux), g = cr.value_and_grad(lambda x: ((x ** 2).sum(), "aux"), has_aux=True)(np.array([3.0]))
    assert aux == "aux" and float(arr(v)) == 9.0
    np.testing.assert_allclose(arr(g), [6.0])
    g, aux = cr.grad(lambda x: (x * 2.0, x.shape), has_aux=True)(1.0)
    assert float(arr(g)) == 2.0 and aux == ()


def test_grad_needs_a_scalar_output_with_a_clear_error():
    with pytest.raises(ValueError, match=r"must return a scalar.*\(3,\).*jacobian"):
        cr.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(ValueError, match="argnums 2 is out of range"):
        cr.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(TypeError, match="argument 0 must be a number"):
        cr.grad(lambda x: x)("abc")


def test_grad_of_constant_and_identity():
    assert float(arr(cr.grad(lambda x: 3.0)(2.0))) == 0.0
    np.testing.assert_allclose(arr(cr.grad(lambda x: x.sum())(np.ones((2, 2)))), np.ones((2, 2)))
    assert float(arr(cr.grad(lambda x: x)(5.0))) == 1.0


def test_grad_leaves_dot_grad_alone():
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    x = cr.tensor([0.5, 0.25], requires_grad=True)
    g = cr.grad(lambda x: (x * w).sum())(x)
    np.testing.assert_allclose(arr(g), w.data)
    assert w.grad is None and x.grad is None


def test_partials_treat_each_argument_as_independent():
    # the same tensor twice: two separate partial derivatives, not their sum
    t = cr.tensor(3.0, requires_grad=True)
    gx, gy = cr.grad(lambda x, y: x * x * y, argnums=(0, 1))(t, t)
    assert float(arr(gx)) == 18.0 and float(arr(gy)) == 9.0


def test_int_inputs_are_promoted_to_float():
    g = cr.grad(lambda x: (x * x).sum())(np.array([1, 2, 3]))
    assert g.dtype == np.float64
    np.testing.assert_allclose(arr(g), [2.0, 4.0, 6.0])


def test_float32_stays_float32():
    g = cr.grad(lambda x: (x * x).sum())(np.array([1.0, 2.0], dtype=np.float32))
    assert g.dtype == np.float32


def test_grad_under_no_grad_still_works_and_records_nothing():
    x = cr.tensor(2.0, requires_grad=True)
    with cr.no_grad():
        g = cr.grad(lambda v: v ** 3)(x)
    assert float(arr(g)) == 12.0 and not g.requires_grad


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_grad_matches_numerical_gradient_hypothesis(xs):
    f = lambda x: (cr.sin(x) * cr.exp(0.3 * x) + x ** 2).sum()
    x = np.array(xs)
    np.testing.assert_allclose(arr(cr.grad(f)(x)), cr.numerical_gradient(f, x), atol=1e-7, rtol=1e-6)


# -- higher order -----------------------------------------------------------------------------

def test_grad_grad_grad():
    f = lambda x: x ** 4
    assert float(arr(cr.grad(f)(2.0))) == pytest.approx(32.0)
    assert float(arr(cr.grad(cr.grad(f))(2.0))) == pytest.approx(48.0)
    assert float(arr(cr.grad(cr.grad(cr.grad(f)))(2.0))) == pytest.approx(48.0)
    assert float(arr(cr.grad(cr.grad(cr.grad(cr.grad(f))))(2.0))) == pytest.approx(24.0)
    d3 = cr.grad(cr.grad(cr.grad(cr.sin)))(0.7)
    assert float(arr(d3)) == pytest.approx(-np.cos(0.7))
    assert not d3.requires_grad  # the top level hands back plain values


def test_grad_of_grad_with_closure_over_outer_variable():
    # d/dw [ d/dx (x² w) at x=3 ] = d/dw (6 w) = 6
    inner = lambda w: cr.grad(lambda x: x * x * w)(3.0)
    assert float(arr(cr.grad(inner)(2.0))) == pytest.approx(6.0)
    # and with a tensor closure: the inner gradient carries a graph to w, as torch.autograd.grad
    w = cr.tensor(2.0, requires_grad=True)
    g = cr.grad(lambda x: x * x * w)(3.0)
    assert g.requires_grad
    g.backward()
    assert float(w.grad) == pytest.approx(6.0)


def test_grad_of_grad_against_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal(4)

    def f(v):
        return (cr.tanh(v) * cr.exp(0.5 * v)).sum() + (v ** 3).sum() * 0.1

    g2 = cr.grad(lambda v: (cr.grad(f)(v) ** 2).sum())(x)
    xt = torch.tensor(x, requires_grad=True)
    ft = (torch.tanh(xt) * torch.exp(0.5 * xt)).sum() + (xt ** 3).sum() * 0.1
    (gt,) = torch.autograd.grad(ft, xt, create_graph=True)
    (g2t,) = torch.autograd.grad((gt ** 2).sum(), xt)
    np.testing.assert_allclose(arr(g2), g2t.numpy(), rtol=1e-10, atol=1e-12)


def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    A = RNG.standard_normal((4, 4))  # not symmetric
    x = RNG.standard_normal(4)
    H = cr.hessian(lambda v: v @ (A @ v))(x)
    assert H.shape == (4, 4)
    np.testing.assert_allclose(arr(H), A + A.T, atol=1e-12)


def test_hessian_against_torch():
    torch = pytest.importorskip("torch")
    W = RNG.standard_normal((3, 4))
    x = RNG.standard_normal(4)

    def f(v):
        return cr.logsumexp(W @ cr.tanh(v)) + (cr.sigmoid(v) * v).sum()

    def ft(v):
        Wt = torch.tensor(W)
        return torch.logsumexp(Wt @ torch.tanh(v), 0) + (torch.sigmoid(v) * v).sum()

    H = cr.hessian(f)(x)
    Ht = torch.autograd.functional.hessian(ft, torch.tensor(x))
    np.testing.assert_allclose(arr(H), Ht.numpy(), rtol=1e-9, atol=1e-12)


def test_hessian_tuple_argnums_against_torch():
    torch = pytest.importorskip("torch")
    x, y = RNG.standard_normal(2), RNG.standard_normal(3)
    M = RNG.standard_normal((2, 3))

    def f(a, b):
        return (cr.tanh(a) @ (M * b)).sum() + (a * a).sum() * (b ** 3).sum()

    def ft(a, b):
        return (torch.tanh(a) @ (torch.tensor(M) * b)).sum() + (a * a).sum() * (b ** 3).sum()

    H = cr.hessian(f, argnums=(0, 1))(x, y)
    Ht = torch.autograd.functional.hessian(ft, (torch.tensor(x), torch.tensor(y)))
    for i in range(2):
        for j in range(2):
            assert H[i][j].shape == Ht[i][j].shape
            np.testing.assert_allclose(arr(H[i][j]), Ht[i][j].numpy(), rtol=1e-9, atol=1e-12)


def test_hvp_equals_hessian_times_vector():
    f = lambda v: (cr.sin(v) * v).sum() * (v ** 2).sum()
    x, v = RNG.standard_normal(5), RNG.standard_normal(5)
    val, hv = cr.hvp(f, x, v)
    H = arr(cr.hessian(f)(x))
    np.testing.assert_allclose(arr(hv), H @ v, rtol=1e-10, atol=1e-12)
    assert float(arr(val)) == pytest.approx(float(arr(f(cr.tensor(x)))))
    # tuples in, tuples out
    _, (hv2,) = cr.hvp(f, (x,), (v,))
    np.testing.assert_allclose(arr(hv2), arr(hv))


def test_hvp_on_a_large_input():
    # n = 3000: the Hessian would have 9 million entries; the HVP needs two backward passes
    n = 3000
    x, v = RNG.standard_normal(n), RNG.standard_normal(n)
    _, hv = cr.hvp(lambda z: (z ** 4).sum() * 0.25, x, v)  # Hessian = diag(3 x²)
    np.testing.assert_allclose(arr(hv), 3 * x ** 2 * v, rtol=1e-12)


# -- jacobian --------------------------------------------------------------------------------

@pytest.mark.parametrize("op, deriv", [(cr.tanh, lambda x: 1 - np.tanh(x) ** 2), (cr.exp, np.exp),
                                       (cr.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2)])
def test_jacobian_of_elementwise_op_is_diagonal(op, deriv):
    x = RNG.standard_normal((2, 3))
    J = arr(cr.jacobian(op)(x))
    assert J.shape == (2, 3, 2, 3)
    flat = J.reshape(6, 6)
    np.testing.assert_array_equal(flat - np.diag(np.diag(flat)), 0.0)
    np.testing.assert_allclose(np.diag(flat), deriv(x).reshape(-1), rtol=1e-12)


def test_jacobian_matches_numerical_and_torch():
    W = RNG.standard_normal((3, 4))
    f = lambda v: cr.softmax(W @ v)
    x = RNG.standard_normal(4)
    J = arr(cr.jacobian(f)(x))
    assert J.shape == (3, 4)
    np.testing.assert_allclose(J, num_jacobian(lambda v: arr(f(cr.tensor(v))), x), atol=1e-8)
    torch = pytest.importorskip("torch")
    Jt = torch.autograd.functional.jacobian(lambda v: torch.softmax(torch.tensor(W) @ v, 0), torch.tensor(x))
    np.testing.assert_allclose(J, Jt.numpy(), rtol=1e-10, atol=1e-14)


def test_jacobian_tuple_outputs_and_argnums():
    f = lambda a, b: (a * b, a.sum() + 0.0 * b.sum())
    a, b = RNG.standard_normal(2), RNG.standard_normal(2)
    (Ja, Jb), (Ka, Kb) = cr.jacobian(f, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(arr(Ja), np.diag(b))
    np.testing.assert_allclose(arr(Jb), np.diag(a))
    assert Ka.shape == (2,) and Kb.shape == (2,)
    np.testing.assert_allclose(arr(Ka), [1.0, 1.0])
    np.testing.assert_allclose(arr(Kb), [0.0, 0.0])


def test_jacobian_of_scalar_function_is_its_gradient():
    f = lambda v: (v ** 3).sum()
    x = RNG.standard_normal(3)
    np.testing.assert_allclose(arr(cr.jacobian(f)(x)), arr(cr.grad(f)(x)))


# -- vjp and jvp ----------------------------------------------------------------------------

def test_vjp_returns_a_tuple_per_primal_and_can_be_called_again():
    W = RNG.standard_normal((3, 2))
    x = RNG.standard_normal(2)
    out, fn = cr.vjp(lambda W, x: cr.tanh(W @ x), W, x)
    np.testing.assert_allclose(arr(out), np.tanh(W @ x))
    for _ in range(2):
        u = RNG.standard_normal(3)
        gW, gx = fn(u)
        local = u * (1 - np.tanh(W @ x) ** 2)
        np.testing.assert_allclose(arr(gW), np.outer(local, x))
        np.testing.assert_allclose(arr(gx), W.T @ local)
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\) but must have shape \(3,\)"):
        fn(np.ones(2))


def test_vjp_with_tuple_output():
    out, fn = cr.vjp(lambda x: (x * 2.0, x.sum()), np.array([1.0, 2.0]))
    (g,) = fn((np.array([1.0, 10.0]), 3.0))
    np.testing.assert_allclose(arr(g), [5.0, 23.0])


def test_jvp_against_finite_differences():
    W = RNG.standard_normal((3, 4))
    f = lambda x, y: cr.tanh(W @ x) * cr.sum(y ** 2)
    x, y = RNG.standard_normal(4), RNG.standard_normal(2)
    tx, ty = RNG.standard_normal(4), RNG.standard_normal(2)
    out, tout = cr.jvp(f, (x, y), (tx, ty))
    fa = lambda x, y: arr(f(cr.tensor(x), cr.tensor(y)))
    h = 1e-6
    fd = (fa(x + h * tx, y + h * ty) - fa(x - h * tx, y - h * ty)) / (2 * h)
    np.testing.assert_allclose(arr(out), fa(x, y))
    np.testing.assert_allclose(arr(tout), fd, rtol=1e-6, atol=1e-9)


def test_jvp_single_values_and_tuple_outputs():
    out, t = cr.jvp(cr.sin, 0.3, 2.0)
    assert float(arr(t)) == pytest.approx(2.0 * np.cos(0.3))
    outs, touts = cr.jvp(lambda x: (x * x, x.sum()), (np.array([1.0, 2.0]),), (np.array([1.0, 1.0]),))
    np.testing.assert_allclose(arr(touts[0]), [2.0, 4.0])
    assert float(arr(touts[1])) == 2.0
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        cr.jvp(cr.sin, (np.ones(2),), (np.ones(3),))


def test_jvp_nested_in_grad():
    # d/dx [ J_f(x) · 1 ] for f = x³ (elementwise): d/dx (3x²) = 6x
    g = cr.grad(lambda x: cr.jvp(lambda v: v ** 3, (x,), (np.ones(3),))[1].sum())(np.array([1.0, 2.0, -1.0]))
    np.testing.assert_allclose(arr(g), [6.0, 12.0, -6.0])


@pytest.mark.parametrize("make", [float, lambda v: cr.tensor(v, requires_grad=True)], ids=["float", "tensor"])
def test_vjp_when_an_output_is_the_input_itself(make):
    # the input is reached both as an output and through x * 3: the two parts add up
    _, fn = cr.vjp(lambda x: (x, x * 3.0), make(2.0))
    (g,) = fn((1.0, 1.0))
    assert float(arr(g)) == 4.0


@pytest.mark.parametrize("make", [float, np.asarray, cr.tensor, lambda v: cr.tensor(v, requires_grad=True)],
                         ids=["float", "array", "tensor", "tensor-requires-grad"])
def test_every_transform_accepts_floats_arrays_and_tensors(make):
    f = lambda x: x ** 3
    x = make(2.0)
    assert float(arr(cr.jacobian(f)(x))) == pytest.approx(12.0)
    assert float(arr(cr.hessian(f)(x))) == pytest.approx(12.0)
    assert float(arr(cr.jvp(f, x, make(0.5))[1])) == pytest.approx(6.0)
    assert float(arr(cr.hvp(f, x, make(0.5))[1])) == pytest.approx(6.0)
    assert float(arr(cr.vjp(f, x)[1](make(0.5))[0])) == pytest.approx(6.0)
    assert float(arr(cr.value_and_grad(f)(x)[0])) == pytest.approx(8.0)
