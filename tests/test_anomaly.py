"""cr.detect_anomaly: the first op that makes a NaN or an infinity, in the forward and the backward
pass, named with its shapes, the user's source line and the factors that produced it."""

import inspect
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.debug import anomaly
from chainrule.nn import functional as F

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _line_of(marker):
    """The source text of the line in this file that contains `marker`."""
    for line in inspect.getsource(inspect.getmodule(_line_of)).splitlines():
        if marker in line and "_line_of" not in line:
            return line.strip()
    raise AssertionError(marker)


def test_sqrt_backward_names_the_factors_and_the_source_line():
    x = cr.tensor([1.0, 0.0, 4.0], requires_grad=True)
    with cr.detect_anomaly():
        y = cr.sqrt(x)  # <-- sqrt-at-zero
        loss = y.sum()
        with pytest.raises(cr.AnomalyError) as ei:
            loss.backward()
    msg = str(ei.value)
    assert msg.startswith("sqrt backward: upstream 1.0 × local inf = inf at x = 0.0")
    assert "index (1,)" in msg and "(3,)" in msg
    assert __file__ in msg and _line_of("<-- sqrt-at-zero") in msg


def test_zero_upstream_times_infinite_local_is_nan():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.detect_anomaly():
        y = cr.sqrt(x) * 0.0
        with pytest.raises(cr.AnomalyError, match=r"sqrt backward: upstream 0\.0 × local inf = nan at x = 0"):
            y.sum().backward()


def test_binary_op_names_which_input_and_all_values():
    x = cr.tensor([3.0, 2.0], requires_grad=True)
    y = cr.tensor([1.0, 0.0], requires_grad=True)
    with cr.detect_anomaly(check_nan=False):
        q = x / y  # the forward inf is allowed here (check_nan=False) ...
    with cr.detect_anomaly():
        loss = cr.where(np.array([True, False]), q, 0.0).sum()
        with pytest.raises(cr.AnomalyError) as ei:
            loss.backward()
    msg = str(ei.value)
    # ... but the backward finds where(…) routes 0 to q[1], and div's rule makes 0 × inf
    expect = r"div backward \(gradient for x\): upstream 0\.0 × local inf = nan at x = 2\.0, y = 0\.0"
    assert re.search(expect, msg), msg


def test_forward_names_op_values_shapes_and_line():
    x = cr.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError) as ei:
            cr.log(x - 1.0)  # <-- log-of-zero
    msg = str(ei.value)
    assert msg.startswith("log forward: log(x) = -inf at x = 0.0")
    assert "(2, 2)" in msg and "(0, 1)" in msg
    assert _line_of("<-- log-of-zero") in msg


@pytest.mark.parametrize("make, op", [
    (lambda x: cr.exp(x * 1000.0), "exp"),
    (lambda x: 1.0 / (x - x), "div"),
    (lambda x: cr.sqrt(x - 5.0), "sqrt"),
    (lambda x: x ** 5000.0, "power"),
])
def test_forward_raises_at_the_op_that_made_it(make, op):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError, match=rf"^{op} forward"):
            make(x)
    make(x)  # outside the context: no check, the value just flows


def test_forward_checks_also_without_grad():
    with cr.detect_anomaly(), cr.no_grad():
        with pytest.raises(cr.AnomalyError, match="^log forward"):
            cr.log(cr.tensor([0.0]))


def test_non_elementwise_forward_overflow():
    a = cr.tensor(np.full((4, 2), 1e200))
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError) as ei:
            a @ cr.tensor(np.full((2, 3), 1e200), requires_grad=True)
    msg = str(ei.value)
    assert msg.startswith("matmul forward produced inf from finite inputs")
    assert "a (4, 2)" in msg and "b (2, 3)" in msg and "1e+200" in msg


def test_non_finite_inputs_from_outside_are_not_blamed_on_the_op():
    # an attention-style mask: -inf is data, and softmax makes it finite again
    logits = cr.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    mask = np.array([[0.0, -np.inf, 0.0]])
    with cr.detect_anomaly():
        p = cr.softmax(logits + mask)
        (p * cr.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    np.testing.assert_allclose(p.data[0, 1], 0.0)
    assert np.isfinite(logits.grad).all()
    # but an op that makes a new NaN next to a propagated inf is still found
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError, match=r"^log forward: log\(x\) = nan at x = -1\.0"):
            cr.log(cr.tensor([np.inf, -1.0], requires_grad=True))


def test_backward_raises_at_the_first_node_in_backward_order():
    x = cr.tensor([0.0], requires_grad=True)
    with cr.detect_anomaly():
        inner = cr.sqrt(x)
        outer = cr.sqrt(inner)  # <-- outer-sqrt
        with pytest.raises(cr.AnomalyError) as ei:
            outer.sum().backward()
    assert _line_of("<-- outer-sqrt") in str(ei.value)
    assert x.grad is None  # nothing non-finite reached the leaf


def test_non_elementwise_backward_overflow_names_input_and_rule():
    a = cr.tensor(np.full((2, 3), 1e-3), requires_grad=True)
    b = cr.tensor(np.full((3, 2), 100.0), requires_grad=True)
    with cr.detect_anomaly():
        loss = (a @ b).sum() * 1e307
        with pytest.raises(cr.AnomalyError) as ei:
            loss.backward()
    msg = str(ei.value)
    assert msg.startswith("matmul backward: the gradient for input a is inf")
    assert "upstream gradient (shape (2, 2), largest magnitude 1e+307) is finite" in msg
    assert "upstream @ bᵀ" in msg and "a (2, 3)" in msg and "b (3, 2)" in msg


def test_non_finite_seed_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.detect_anomaly():
        y = x * 2.0
        with pytest.raises(cr.AnomalyError, match=r"gradient passed to backward\(\) is nan at index \(1,\)"):
            y.backward(grad=np.array([1.0, np.nan]))


def test_create_graph_reports_whose_backward_was_running():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.detect_anomaly():
        y = cr.sqrt(x).sum()  # <-- sqrt-create-graph
        with pytest.raises(cr.AnomalyError) as ei:
            y.backward(create_graph=True)
    msg = str(ei.value)
    assert "sqrt" in msg and _line_of("<-- sqrt-create-graph") in msg


def test_source_line_through_user_functions_and_decorator():
    def layer(t):
        return cr.log(t)  # <-- inside-user-function

    @cr.detect_anomaly()
    def run():
        return layer(cr.tensor([0.0], requires_grad=True))

    with pytest.raises(cr.AnomalyError) as ei:
        run()
    assert _line_of("<-- inside-user-function") in str(ei.value)
    assert "in layer" in str(ei.value)
    assert not cr.is_anomaly_enabled()


def test_created_at_is_recorded_only_inside():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.detect_anomaly():
        y = x * 3.0  # <-- recorded
    z = x * 3.0
    assert _line_of("<-- recorded") in anomaly.created_at(y._node)
    assert anomaly.created_at(z._node) is None


def test_state_is_restored_after_errors_and_nesting():
    assert not cr.is_anomaly_enabled()
    with pytest.raises(cr.AnomalyError):
        with cr.detect_anomaly():
            with cr.detect_anomaly(check_nan=False):
                cr.log(cr.tensor([0.0]))  # not checked inside the inner block
                assert cr.is_anomaly_enabled()
            cr.log(cr.tensor([0.0]))
    assert not cr.is_anomaly_enabled()
    with cr.set_detect_anomaly(True):
        assert cr.is_anomaly_enabled()
    assert not cr.is_anomaly_enabled()
    cr.set_detect_anomaly(True)
    try:
        assert cr.is_anomaly_enabled()
    finally:
        cr.set_detect_anomaly(False)
    assert not cr.is_anomaly_enabled()


def test_outside_the_context_nothing_runs(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("anomaly code ran outside detect_anomaly")

    for name in ("check_forward", "_check_node", "_check_snapshots", "_caller"):
        monkeypatch.setattr(anomaly, name, boom)
    for name in ("applied", "recorded", "visit", "visited"):
        monkeypatch.setattr(anomaly._Anomaly, name, boom)
    before = len(anomaly._info)
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    y = cr.sqrt(cr.log(x) + 1.0).sum()
    y.backward()  # NaN and inf flow silently, as in NumPy
    assert not np.isfinite(x.grad).all()
    assert len(anomaly._info) <= before  # nothing recorded (older records may be collected meanwhile)


def test_anomaly_mode_does_not_change_results():
    rng = np.random.default_rng(0)
    W1, b1, W2 = rng.normal(size=(4, 8)), rng.normal(size=8), rng.normal(size=(8, 3))
    X = rng.normal(size=(5, 4))

    def run():
        ps = [cr.tensor(a, requires_grad=True) for a in (W1, b1, W2)]
        h = cr.relu(cr.tensor(X) @ ps[0] + ps[1])
        loss = cr.logsumexp(h @ ps[2], axis=1).mean()
        loss.backward()
        return loss.item(), [p.grad for p in ps]

    plain = run()
    with cr.detect_anomaly():
        checked = run()
    assert plain[0] == checked[0]
    for g1, g2 in zip(plain[1], checked[1]):
        np.testing.assert_array_equal(g1, g2)


def test_anomaly_node_records_are_freed_with_the_graph():
    import weakref

    x = cr.tensor(np.ones(3), requires_grad=True)
    with cr.detect_anomaly():
        for _ in range(3):
            y = (x * 2.0).sum()
            node = y._node
            assert node in anomaly._info
            ref = weakref.ref(node)
            y.backward()
            del y, node
            assert ref() is None  # no cycle through the record keeps the node alive


def test_ops_inside_nn_name_the_user_line_and_the_library_line():
    mean = cr.tensor([[0.5, 1.0]], requires_grad=True)
    var = cr.tensor([[0.0, 1.0]], requires_grad=True)
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError) as ei:
            F.gaussian_nll_loss(mean, np.zeros((1, 2)), var, eps=0.0)  # <-- nll-with-zero-variance
    msg = str(ei.value)
    assert _line_of("<-- nll-with-zero-variance") in msg
    assert "inside: " in msg and "functional.py" in msg


def test_custom_function_backward_is_checked():
    class Recip(cr.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return 1.0 / a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return -g / (a * a)

    a = cr.tensor([1.0, 0.0], requires_grad=True)
    with cr.detect_anomaly(check_nan=False):
        y = Recip.apply(a)  # inf in the forward is allowed here ...
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError, match="Recip|div"):
            (y * 0.0).sum().backward()  # ... but its backward makes 0 / 0


def test_large_nodes_still_name_the_factors():
    # a large node keeps only what its rule reads (sqrt: its output), and the engine may run a fused
    # rule that has already summed over broadcast axes: the report recomputes the elementwise factors
    x = cr.tensor(np.linspace(0.0, 1.0, 5000).reshape(50, 100), requires_grad=True)
    b = cr.tensor(np.ones(100), requires_grad=True)
    with cr.detect_anomaly():
        y = cr.sqrt(x * b)
        with pytest.raises(cr.AnomalyError) as ei:
            y.sum().backward()
    msg = str(ei.value)
    assert msg.startswith("sqrt backward: upstream 1.0 × local inf = inf at sqrt(x) = 0.0")
    assert "index (0, 0)" in msg and "(50, 100)" in msg


def test_custom_function_forward_is_checked_and_located():
    class BadLog(cr.Function):
        @staticmethod
        def forward(ctx, x):
            return cr.tensor(np.log(x.data))

        @staticmethod
        def backward(ctx, g):
            return g

    x = cr.tensor(np.array([1.0, 0.0]), requires_grad=True)
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError, match="BadLog") as ei:
            BadLog.apply(x)
    assert "test_anomaly.py" in str(ei.value)
