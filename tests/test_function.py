"""Custom differentiable functions: cr.Function with ctx."""

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(7)


class Exp(cr.Function):
    """e^x, saving its output (a known-good function whose backward uses chainrule ops)."""

    @staticmethod
    def forward(ctx, x):
        y = cr.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class BadExp(cr.Function):
    """Deliberately wrong: the local gradient should be e^x, the rule uses x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return cr.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


class NumpyExp(cr.Function):
    """Right first derivative, but its backward works on raw arrays: not differentiable."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.data * np.exp(x.data)


class ScaledMulSub(cr.Function):
    """(alpha * x * y, x - y) with a float and a string passed through."""

    seen = []

    @staticmethod
    def forward(ctx, x, y, alpha, label):
        assert isinstance(label, str) and isinstance(alpha, float)
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return alpha * x * y, x - y

    @staticmethod
    def backward(ctx, g_prod, g_diff):
        ScaledMulSub.seen.append(ctx.needs_input_grad)
        x, y = ctx.saved_tensors
        gx = ctx.alpha * g_prod * y + g_diff if ctx.needs_input_grad[0] else None
        gy = ctx.alpha * g_prod * x - g_diff if ctx.needs_input_grad[1] else None
        return gx, gy, None, None


def test_known_good_function_forward_backward_and_gradcheck():
    x = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = Exp.apply(x)
    np.testing.assert_allclose(y.data, np.exp(x.data))
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.exp(x.data))
    assert cr.gradcheck(Exp.apply, RNG.standard_normal(4))
    report = cr.check_graph(lambda v: Exp.apply(v).sum(), RNG.standard_normal(3))
    assert report.ok and [r.op for r in report] == ["Exp", "sum"]


def test_backward_written_with_chainrule_ops_is_differentiable():
    # grad of grad through the Function: d²/dx² e^x = e^x, also through a saved *output*
    assert float(cr.grad(cr.grad(lambda v: Exp.apply(v)))(0.7)) == pytest.approx(np.exp(0.7))
    assert cr.gradgradcheck(Exp.apply, RNG.standard_normal(3))
    x = cr.tensor(0.3, requires_grad=True)
    (Exp.apply(x) * x).backward(create_graph=True)   # d/dx x e^x = (1 + x) e^x
    g = x.grad
    assert isinstance(g, cr.Tensor) and g.requires_grad
    x.grad = None
    g.backward()                                    # d²/dx² = (2 + x) e^x
    assert float(x.grad) == pytest.approx((2 + 0.3) * np.exp(0.3))


def test_numpy_backward_gives_first_order_only():
    x = RNG.standard_normal(3)
    assert cr.gradcheck(NumpyExp.apply, x)
    with pytest.raises(cr.GradcheckError):
        cr.gradgradcheck(NumpyExp.apply, x)


def test_deliberately_wrong_function_fails_gradcheck_naming_it():
    x = RNG.uniform(0.5, 1.5, 3)
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda v: BadExp.apply(cr.tanh(v)) * 2.0, x)
    msg = str(info.value)
    assert "output 0" in msg and "input 0" in msg and "analytic" in msg and "numerical" in msg
    assert "First failing node of the graph (check_graph): step 2 BadExp2 (BadExp)" in msg
    assert cr.gradcheck(lambda v: BadExp.apply(cr.tanh(v)) * 2.0, x, raise_exception=False) is False


def test_deliberately_wrong_function_fails_check_graph_naming_it():
    x = RNG.uniform(0.5, 1.5, 3)
    report = cr.check_graph(lambda v: (BadExp.apply(cr.tanh(v)) * 2.0).sum(), x)
    assert [r.op for r in report] == ["tanh", "BadExp", "mul", "sum"]
    assert [r.status for r in report] == ["pass", "FAIL", "pass", "pass"]
    assert report.first_failure.op == "BadExp" and not report.ok
    text = str(report)
    assert "BadExp" in text.splitlines()[[i for i, line in enumerate(text.splitlines())
                                          if "<-- first failure" in line][0]]
    assert "first failing node: step 3 BadExp3 (BadExp)" in text and "BadExp" in text.splitlines()[-2]
    # the same on an already recorded graph (small values are kept by the nodes)
    v = cr.tensor(x, requires_grad=True)
    out = (BadExp.apply(cr.tanh(v)) * 2.0).sum()
    assert cr.check_graph(out).first_failure.op == "BadExp"


def test_several_inputs_outputs_and_non_tensor_arguments():
    ScaledMulSub.seen.clear()
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, -4.0], requires_grad=True)
    p, d = ScaledMulSub.apply(x, y, 0.5, "label")
    np.testing.assert_allclose(p.data, 0.5 * x.data * y.data)
    np.testing.assert_allclose(d.data, x.data - y.data)
    (p.sum() + 3.0 * d.sum()).backward()
    np.testing.assert_allclose(x.grad, 0.5 * y.data + 3.0)
    np.testing.assert_allclose(y.grad, 0.5 * x.data - 3.0)
    assert ScaledMulSub.seen == [(True, True, False, False)]
    f = lambda a, b: ScaledMulSub.apply(a, b, 0.5, "label")
    assert cr.gradcheck(f, (RNG.standard_normal(2), RNG.standard_normal(2)))
    assert cr.gradgradcheck(f, (RNG.standard_normal(2), RNG.standard_normal(2)))
    assert cr.check_graph(lambda a, b: sum(o.sum() for o in f(a, b)), RNG.standard_normal(2),
                          RNG.standard_normal(2)).ok


def test_needs_input_grad_and_only_used_output():
    ScaledMulSub.seen.clear()
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, -4.0])  # a constant
    p, d = ScaledMulSub.apply(x, y, 2.0, "c")
    p.sum().backward()  # the second output is unused: its upstream gradient is zero
    assert ScaledMulSub.seen == [(True, False, False, False)]
    np.testing.assert_allclose(x.grad, 2.0 * y.data)
    assert y.grad is None


def test_backward_may_return_one_gradient_per_tensor_argument():
    class Scale(cr.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k
            return x * k

        @staticmethod
        def backward(ctx, g):
            return (g * ctx.k,)  # one per Tensor argument (k is a number)

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x, 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_non_float_output_is_a_constant():
    class MaxWithIndex(cr.Function):
        @staticmethod
        def forward(ctx, x):
            i = int(np.argmax(x.data))
            ctx.i, ctx.shape = i, x.shape
            return x.data[i], np.array(i)

        @staticmethod
        def backward(ctx, g, g_index):
            assert g_index is None
            out = np.zeros(ctx.shape)
            out[ctx.i] = g.data
            return out

    x = cr.tensor([1.0, 5.0, 2.0], requires_grad=True)
    m, i = MaxWithIndex.apply(x)
    assert int(i) == 1 and not i.requires_grad
    (m * 2.0).backward()
    np.testing.assert_allclose(x.grad, [0.0, 2.0, 0.0])


def test_errors_name_the_function():
    class WrongShape(cr.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    class WrongCount(cr.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g, g, g

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ShapeError, match=r"WrongShape backward.*shape \(\) for an input of shape \(2,\)"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(TypeError, match=r"WrongCount.backward returned 3 gradient"):
        WrongCount.apply(x, x).sum().backward()
    report = cr.check_graph(lambda v: WrongShape.apply(v).sum(), np.ones(2))
    assert report.first_failure.op == "WrongShape"


def test_second_backward_needs_retain_graph():
    x = cr.tensor([0.1, 0.2], requires_grad=True)
    y = Exp.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_no_recording_without_grad():
    x = cr.tensor([0.1, 0.2], requires_grad=True)
    with cr.no_grad():
        y = Exp.apply(x)
    assert y._node is None and not y.requires_grad
    z = Exp.apply(cr.tensor([0.1]))  # nothing requires grad
    assert z._node is None


def test_function_in_transforms_and_against_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal(3)
    H = cr.hessian(lambda v: (Exp.apply(v) * cr.tanh(v)).sum())(x)
    Ht = torch.autograd.functional.hessian(lambda v: (torch.exp(v) * torch.tanh(v)).sum(), torch.tensor(x))
    np.testing.assert_allclose(np.asarray(H), Ht.numpy(), rtol=1e-10, atol=1e-12)


def test_forward_must_be_defined():
    class Empty(cr.Function):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        Empty.apply(cr.tensor(1.0, requires_grad=True))
