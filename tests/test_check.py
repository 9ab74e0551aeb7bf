"""Numerical gradients, rel_error, gradcheck, gradgradcheck and check_graph."""

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import state

RNG = np.random.default_rng(99)


class Square(cr.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2.0 * g * x


class WrongSquare(Square):
    """Deliberately wrong: forgets the factor 2."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


# -- numerical_gradient, numerical_vjp, rel_error ------------------------------------------------

def test_rel_error_is_the_cs231n_definition():
    assert cr.rel_error(1.0, 1.1) == pytest.approx(0.1 / 2.1)
    assert cr.rel_error(np.array([1.0, 0.0]), np.array([1.0, 1e-9])) == pytest.approx(1e-9 / 1e-8)
    assert cr.rel_error(cr.tensor([2.0]), np.array([2.0])) == 0.0


def test_numerical_gradient_of_known_function():
    x = RNG.standard_normal((2, 3))
    num = cr.numerical_gradient(lambda v: np.sum(np.sin(v) * v), x)
    assert cr.rel_error(num, np.cos(x) * x + np.sin(x)) < 1e-8


def test_numerical_vjp_is_upstream_times_local():
    # CS231n affine layer: out = x @ w; dx = dout @ wᵀ, dw = xᵀ @ dout
    x, w = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    dout = RNG.standard_normal((4, 2))
    dx = cr.numerical_vjp(lambda v: v @ w, x, dout)
    dw = cr.numerical_vjp(lambda v: x @ v, w, dout)
    assert cr.rel_error(dx, dout @ w.T) < 1e-8
    assert cr.rel_error(dw, x.T @ dout) < 1e-8
    # and the engine agrees
    xt, wt = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    (xt @ wt).backward(dout)
    assert cr.rel_error(xt.grad, dx) < 1e-8 and cr.rel_error(wt.grad, dw) < 1e-8
    with pytest.raises(ValueError, match="upstream has shape"):
        cr.numerical_vjp(lambda v: v @ w, x, np.ones(3))


# -- gradcheck --------------------------------------------------------------------------------

@pytest.mark.parametrize("f, shapes", [
    (lambda a, b: cr.tanh(a @ b), [(2, 3), (3, 2)]),
    (lambda a: cr.softmax(a, axis=-1), [(2, 4)]),
    (lambda a: (cr.logsumexp(a, axis=0), a.max(axis=1)), [(3, 4)]),
    (lambda a, b: a / (1.0 + b * b), [(3, 1), (4,)]),
])
def test_gradcheck_passes_on_correct_ops(f, shapes):
    assert cr.gradcheck(f, tuple(RNG.standard_normal(s) for s in shapes)) is True


def test_gradcheck_constants_pass_through():
    x = RNG.standard_normal(4)
    idx = np.array([0, 2, 2])
    const = cr.tensor(RNG.standard_normal(3))  # no requires_grad: a constant
    assert cr.gradcheck(lambda v, i, c: v[i] * c, (x, idx, const))


def test_gradcheck_report_names_input_output_and_worst_elements():
    x = RNG.uniform(0.5, 1.0, 3)
    y = RNG.standard_normal(2)
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda a, b: (a.sum(), WrongSquare.apply(b)), (y, x))
    msg = str(info.value)
    assert "output 1 (shape (3,)) with respect to input 1 (shape (3,))" in msg
    assert "output 0" not in msg  # the correct pair is not reported
    assert "d out[0] / d in[0]: analytic" in msg and "rel. error" in msg
    assert "3 of 9 elements differ" in msg
    assert "WrongSquare" in msg


def test_gradcheck_fast_mode():
    A = RNG.standard_normal((40, 30))
    x = RNG.standard_normal((30, 20))
    assert cr.gradcheck(lambda a, b: cr.tanh(a @ b), (A, x), fast_mode=True)
    with pytest.raises(cr.GradcheckError, match="fast mode: uᵀJv"):
        cr.gradcheck(lambda a: WrongSquare.apply(a), RNG.uniform(0.5, 1, (30, 30)), fast_mode=True)


def test_gradcheck_warns_on_float32_and_checks_in_float64():
    x = RNG.standard_normal(3).astype(np.float32)
    with pytest.warns(UserWarning, match="input 0 has dtype float32.*float64"):
        assert cr.gradcheck(cr.tanh, x)
    with pytest.warns(UserWarning, match="float32"):
        assert cr.gradcheck(cr.tanh, cr.tensor(x, requires_grad=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cr.gradcheck(cr.tanh, x.astype(np.float64))


def test_gradcheck_needs_a_differentiable_input():
    with pytest.raises(ValueError, match="no differentiable input"):
        cr.gradcheck(cr.tanh, cr.tensor([1.0]))


def test_gradcheck_torch_agrees_on_verdicts():
    torch = pytest.importorskip("torch")
    x = RNG.uniform(0.5, 1.0, 3)
    assert torch.autograd.gradcheck(lambda v: v * v, torch.tensor(x, requires_grad=True))
    assert cr.gradcheck(Square.apply, x)
    assert not cr.gradcheck(WrongSquare.apply, x, raise_exception=False)


# -- gradgradcheck --------------------------------------------------------------------------------

def test_gradgradcheck_passes_on_builtin_ops():
    assert cr.gradgradcheck(lambda a, b: cr.tanh(a @ b) * cr.sigmoid(a).sum(),
                            (RNG.standard_normal((2, 3)), RNG.standard_normal((3, 2))))
    assert cr.gradgradcheck(lambda a: cr.log_softmax(a, axis=-1), RNG.standard_normal((2, 3)))


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class FirstOrderOnly(cr.Function):
        """Right gradient of x³, but the backward treats x as a constant (3 x² from raw data)."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (3.0 * x.data ** 2)

    x = RNG.standard_normal(3)
    assert cr.gradcheck(FirstOrderOnly.apply, x)
    with pytest.raises(cr.GradcheckError, match="input 0"):
        cr.gradgradcheck(FirstOrderOnly.apply, x)
    assert cr.gradgradcheck(Square.apply, x)


# -- check_graph ---------------------------------------------------------------------------------

def test_check_graph_of_a_recorded_small_graph_passes():
    W = cr.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(3), requires_grad=True)
    x = cr.tensor(RNG.standard_normal((5, 4)))
    h = cr.tanh(x @ W.T + b)
    loss = (cr.log_softmax(h, axis=1)[np.arange(5), [0, 1, 2, 0, 1]]).mean()
    report = cr.check_graph(loss)
    ops = [r.op for r in report]
    assert ops == ["transpose", "matmul", "add", "tanh", "log_softmax", "getitem", "mean"]
    assert report.ok, str(report)
    assert all(r.error is not None and r.error < 1e-5 for r in report)
    text = str(report)
    assert text.splitlines()[0].startswith("check_graph: 7 nodes, 7 passed, 0 failed, 0 not checkable")
    assert "rel. error" in text.splitlines()[1] and "first failure" not in text
    loss.backward()  # the graph is still usable: check_graph changes nothing
    assert W.grad.shape == (3, 4)


def test_check_graph_large_inputs_not_kept_vs_rerun_with_fn():
    A = RNG.standard_normal((30, 20))
    B = RNG.standard_normal((20, 30))

    def fn(a, b):
        return cr.sigmoid(a @ b).sum()

    a, b = cr.tensor(A, requires_grad=True), cr.tensor(B, requires_grad=True)
    report = cr.check_graph(fn(a, b))
    status = {r.op: r.status for r in report}
    assert status["sigmoid"] == "not checkable (inputs not kept)"  # its rule reads only the output
    assert status["matmul"] == "pass"                              # matmul's rule keeps its inputs
    assert not report.ok and not report.failures and len(report.unchecked) == 2
    assert "not checkable" in str(report)
    # re-running with every value kept: all checkable, and the module's limit is restored
    full = cr.check_graph(fn, A, B)
    assert full.ok, str(full)
    assert state.keep_up_to == 256


def test_check_graph_after_backward_reports_freed_values():
    x = cr.tensor([0.5, 1.0], requires_grad=True)
    y = (cr.exp(x) * x).sum()
    y.backward()
    report = cr.check_graph(y)
    assert all(r.status.startswith("not checkable (values freed") for r in report)
    x2 = cr.tensor([0.5, 1.0], requires_grad=True)
    y2 = (cr.exp(x2) * x2).sum()
    y2.backward(retain_graph=True)
    assert cr.check_graph(y2).ok


def test_check_graph_points_at_first_failing_node():
    def fn(x):
        h = WrongSquare.apply(cr.tanh(x))
        return (WrongSquare.apply(h) * 3.0).sum()

    report = cr.check_graph(fn, RNG.uniform(0.5, 1.0, 4))
    assert [r.op for r in report] == ["tanh", "WrongSquare", "WrongSquare", "mul", "sum"]
    assert [r.failed for r in report] == [False, True, True, False, False]
    first = report.first_failure
    assert first is report[1] and first.error > 0.1
    lines = str(report).splitlines()
    marked = [line for line in lines if "<-- first failure" in line]
    assert len(marked) == 1 and marked[0].split()[:3] == ["4", "WrongSquare4", "WrongSquare"]
    assert lines[-2].startswith("first failing node: step 4 WrongSquare4 (WrongSquare)")
    assert "analytic" in lines[-1] and "numerical" in lines[-1]
    with pytest.raises(cr.GradcheckError, match="WrongSquare"):
        report.raise_if_failed()


def test_check_graph_fast_mode_on_large_inputs():
    A = RNG.standard_normal((80, 60))
    report = cr.check_graph(lambda a: cr.tanh(a @ a.T).sum(), A)  # 4800 elements: fast by default
    assert report.ok, str(report)
    bad = cr.check_graph(lambda a: WrongSquare.apply(a).sum(), RNG.uniform(0.5, 1, (80, 60)))
    assert bad.first_failure.op == "WrongSquare" and "uᵀJv" in bad.first_failure.detail


def test_check_graph_with_closure_parameters_and_broadcasting():
    W = cr.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(3), requires_grad=True)
    report = cr.check_graph(lambda: cr.relu(cr.tensor(RNG.standard_normal((2, 4))) @ W + b).sum())
    assert report.ok and [r.op for r in report] == ["matmul", "add", "relu", "sum"]


def test_check_graph_takes_inputs_only_with_a_function():
    with pytest.raises(TypeError, match="only accepted with a function"):
        cr.check_graph(cr.tensor(1.0, requires_grad=True) * 2.0, 3.0)


def test_gradcheck_hint_when_no_node_is_wrong():
    # x * x.data: the second factor is not recorded, so every node is right and the whole is wrong
    with pytest.raises(cr.GradcheckError, match="Every node passes check_graph on its own"):
        cr.gradcheck(lambda v: v * cr.tensor(v.data), RNG.uniform(0.5, 1.0, 2))


def test_check_graph_reports_kinks_instead_of_failing():
    # the outer relu sees exact zeros (relu of negatives): not differentiable there
    report = cr.check_graph(lambda x: cr.relu(cr.relu(x) * 2.0).sum(), np.array([-1.0, 0.5, -0.2]))
    assert [r.status for r in report] == ["pass", "pass", "not checkable (kink: not differentiable at these "
                                                          "inputs)", "pass"]
    assert report.first_failure is None and not report.ok
    # a wrong rule at smooth inputs is still a failure, even next to a kink
    bad = cr.check_graph(lambda x: WrongSquare.apply(cr.relu(x)).sum(), np.array([-1.0, 0.5]))
    assert bad.first_failure.op == "WrongSquare"
