"""explain / Trace: the recorded backward pass, checked against the lecture's examples, against
backward() itself, numerically and (where the op exists) against PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import Tensor, lecture
from chainrule.core.engine import unbroadcast
from chainrule.debug import numerical_gradient
from chainrule.ops import sigmoid_composite
from chainrule.ops.composite import log_softmax_composite, softmax_composite
from chainrule.viz import Trace, compare, explain


def traced(example, monkeypatch, **kw):
    """Run a lecture example with backward() replaced by explain(); return (trace, result)."""
    traces = []
    monkeypatch.setattr(Tensor, "backward", lambda self, *a, **k: traces.append(explain(self)))
    out = example(**kw)
    monkeypatch.undo()
    assert len(traces) == 1
    return traces[0], out


def leaf_grads(example, **kw):
    return example(**kw)[1]


# ---- the lecture's examples -------------------------------------------------------------------

def test_example1_add_distributes_mul_swaps(monkeypatch):
    tr, (f, grads) = traced(lecture.example1, monkeypatch)
    assert isinstance(tr, Trace) and f.item() == -12.0
    assert [s.op for s in tr.steps] == ["mul", "add"]  # backward order
    mul, add = tr.steps
    assert mul.gate == "swaps" and add.gate == "distributes"
    assert [i.name for i in mul.inputs] == [add.name, "z"]
    assert mul.upstream == 1.0 and mul.value == -12.0
    # the mul gate swaps: dq = z = -4, dz = q = 3
    assert mul.local[0] == -4.0 and mul.local[1] == 3.0
    assert mul.downstream[0] == -4.0 and mul.downstream[1] == 3.0
    # the add gate distributes the upstream -4 unchanged to x and y
    assert add.upstream == -4.0 and add.value == 3.0
    assert [i.name for i in add.inputs] == ["x", "y"]
    assert list(map(float, add.local)) == [1.0, 1.0]
    assert list(map(float, add.downstream)) == [-4.0, -4.0]
    # the leaves' .grad were filled as backward() fills them
    assert {k: float(v) for k, v in grads.items()} == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert {k: float(v) for k, v in tr.grads.items()} == {"x": -4.0, "y": -4.0, "z": 3.0}
    text = str(tr)
    assert "swaps" in text and "distributes" in text and "(= z)" in text


def test_example2_fused_and_composite_sigmoid(monkeypatch):
    fused, _ = traced(lecture.example2, monkeypatch, fused=True)
    comp, _ = traced(lecture.example2, monkeypatch, fused=False)
    assert len(fused) == 5 and len(comp) == 8
    assert fused.steps[0].op == "sigmoid"
    s = fused.steps[0]
    sig = float(s.value)
    assert sig == pytest.approx(0.7310585786300049)
    assert float(s.local[0]) == pytest.approx(sig * (1 - sig))  # (1 - σ) σ, one node
    assert [st_.op for st_ in comp.steps[:4]] == ["div", "add", "exp", "neg"]
    c = compare(fused, comp)
    assert c.same_gradients() and c.max_grad_difference() < 1e-15
    expected = {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}  # the lecture's numbers
    for k, v in expected.items():
        assert round(float(fused.grads[k]), 2) == v and round(float(comp.grads[k]), 2) == v
    text = str(c)
    assert "fused (5 nodes)" in text and "composite (8 nodes)" in text and "sigmoid" in text
    # the same upstream reaches the affine part in both traces: 0.1966 at the last add
    assert float(fused.step("add").upstream) == pytest.approx(float(comp.steps[4].upstream))


def test_max_gate_routes(monkeypatch):
    tr, (f, grads) = traced(lecture.max_gate, monkeypatch)
    m = tr.step("maximum")
    assert m.gate == "routes"
    assert [float(v) for v in m.local] == [1.0, 0.0]  # z = 2 > w = -1
    assert [float(v) for v in m.downstream] == [2.0, 0.0]
    assert {k: float(v) for k, v in tr.grads.items()} == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}


def test_chain_rule_copy_gate(monkeypatch):
    """z = t², t = x + y: t is used twice (t * t), so its upstream is the sum 3 + 3 = 2t."""
    tr, (z, grads) = traced(lecture.chain_rule, monkeypatch)
    mul, add = tr.steps
    assert mul.inputs[0].name == mul.inputs[1].name == add.name
    assert add.accumulates and "accumulates" in add.gates
    assert [float(g) for _, g in add.sources] == [3.0, 3.0]
    assert float(add.upstream) == 6.0 == sum(float(g) for _, g in add.sources)
    assert float(grads["x"]) == 6.0 and float(tr.grads["x"]) == 6.0
    assert "copy gate" in str(tr)


def test_leaf_used_twice_accumulates():
    x = cr.tensor(3.0, requires_grad=True, name="x")
    tr = explain(x * x + x)
    lf = tr.leaves[0]
    assert lf.accumulates and sorted(float(g) for _, g in lf.sources) == [1.0, 3.0, 3.0]
    assert float(x.grad) == 7.0 == float(lf.grad)
    assert "sum of 3" in str(tr)


def test_affine_matmul_formulas_and_jacobian(monkeypatch):
    tr, (f, grads) = traced(lecture.affine, monkeypatch)
    W, x = np.array(lecture.AFFINE_W), np.array(lecture.AFFINE_X)
    q = W @ x
    mm = tr.step("matmul")
    assert mm.local == ["dL/dW = upstream @ xᵀ", "dL/dx = Wᵀ @ upstream"]
    assert mm.accumulates  # q * q uses q twice
    np.testing.assert_allclose(mm.upstream, 2 * q)
    np.testing.assert_allclose(mm.downstream[0], 2 * np.outer(q, x))  # 2 q xᵀ
    np.testing.assert_allclose(mm.downstream[1], 2 * W.T @ q)          # 2 Wᵀ q
    np.testing.assert_allclose(grads["W"], 2 * np.outer(q, x))
    jw, jx = mm.jacobian
    assert (jw.rows, jw.cols, jx.rows, jx.cols) == (2, 4, 2, 2)
    assert jw.dense_bytes == 2 * 4 * 8 and jw.spent_bytes == 4 * 8
    assert "upstream @ xᵀ" in jw.structure


def test_lecture_jacobian_4096_by_100_is_never_built():
    """The lecture: a 4096-wide elementwise layer on a batch of 100 has a 409,600 × 409,600 Jacobian."""
    x = cr.tensor(np.linspace(-1, 1, 100 * 4096).reshape(100, 4096), requires_grad=True, name="x")
    tr = explain((cr.relu(x) * 2.0).sum())
    r, m = tr.step("relu"), tr.step("mul")
    j = r.jacobian[0]
    assert (j.rows, j.cols) == (409_600, 409_600)
    assert j.structure == "diagonal" and j.dense_bytes == 409_600 ** 2 * 8
    assert j.spent_bytes == 409_600 * 8 and j.saved_bytes == j.dense_bytes - j.spent_bytes
    assert m.value is None and r.value is not None  # too big to keep unless the rule reads it (relu)
    assert m.inputs[0].value is r.value and r.inputs[0].value is x._data  # (no copy; .data would hand out its own)
    text = str(tr)
    assert "(100, 4096) not kept" in text and "1.34 TB" in text and "(100, 4096) [" in text
    np.testing.assert_array_equal(x.grad, 2.0 * (x.data > 0))


def test_broadcasting_is_explained():
    X = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="X")
    b = cr.tensor([1.0, 2.0, 3.0], requires_grad=True, name="b")
    c = cr.tensor([[2.0], [3.0]], requires_grad=True, name="c")
    tr = explain(((X + b) * c).sum())
    add, mul = tr.step("add"), tr.step("mul")
    assert add.broadcast == [None, (0,)]
    assert mul.broadcast == [None, (1,)]
    assert add.downstream[1].shape == (3,) and mul.downstream[1].shape == (2, 1)
    np.testing.assert_allclose(b.grad, [5.0, 5.0, 5.0])
    assert "summed over axes (0,) to shape (3,)" in str(tr)
    assert add.jacobian[1].structure == "diagonal, then summed over axes (0,)"


def test_explain_fills_grads_like_backward_and_retain_graph():
    def build():
        a = cr.tensor([0.5, -1.0, 2.0], requires_grad=True, name="a")
        b = cr.tensor([[1.0, 2.0, 0.5]], requires_grad=True, name="b")
        y = cr.tanh(a * b) + cr.exp(a) / (1.0 + b * b)
        return a, b, (cr.sigmoid(y) * y).mean()

    a1, b1, out1 = build()
    out1.backward()
    a2, b2, out2 = build()
    tr = explain(out2, retain_graph=True)
    np.testing.assert_allclose(a2.grad, a1.grad, rtol=0, atol=0)
    np.testing.assert_allclose(b2.grad, b1.grad, rtol=0, atol=0)
    explain(out2)  # the graph was retained: a second pass accumulates
    np.testing.assert_allclose(a2.grad, 2 * a1.grad)
    with pytest.raises(RuntimeError, match=r"backward\(\) has already run on this graph"):
        explain(out2)
    assert tr.grads["a"].shape == (3,)


def test_elementwise_local_times_upstream_is_downstream():
    """For every elementwise step: downstream = upstream × local, summed over the broadcast axes."""
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.uniform(0.5, 2, (2, 3)), requires_grad=True, name="x")
    y = cr.tensor(rng.uniform(0.5, 2, (3,)), requires_grad=True, name="y")
    out = (cr.log(x) * y - cr.sqrt(x) / y + cr.maximum(x, y) ** 2.0 + cr.sin(x) * cr.abs(y)).sum()
    tr = explain(out)
    n = 0
    for s in tr.steps:
        assert s.upstream.shape == s.shape
        if s.index > 1:  # the root's upstream is the seed; every other is the sum of what it received
            np.testing.assert_allclose(sum(g for _, g in s.sources), s.upstream, rtol=1e-14)
        for i, loc in enumerate(s.local):
            if loc is None or isinstance(loc, str):
                continue
            want = unbroadcast(s.upstream * loc, s.inputs[i].shape)
            np.testing.assert_allclose(s.downstream[i], want, rtol=1e-12)
            n += 1
    assert n >= 10


def test_trace_grads_match_numerical_gradient():
    x0 = np.array([0.3, -0.7, 1.1])

    def f(x):
        return (cr.sigmoid(x * 2.0) * cr.exp(-x) + softmax_composite(x)).sum()

    x = cr.tensor(x0, requires_grad=True, name="x")
    tr = explain(f(x))
    np.testing.assert_allclose(tr.grads["x"], numerical_gradient(f, x0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("fused, composite", [(cr.softmax, softmax_composite),
                                              (cr.log_softmax, log_softmax_composite),
                                              (cr.sigmoid, sigmoid_composite)])
def test_fused_vs_composite_same_gradients(fused, composite):
    rng = np.random.default_rng(1)
    x0, w = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))

    def run(fn):
        x = cr.tensor(x0, requires_grad=True, name="x")
        return explain((fn(x) * w).sum())

    a, b = run(fused), run(composite)
    assert len(b) > len(a)
    c = compare(a, b)
    assert c.same_gradients(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.output_value, b.output_value, rtol=1e-12)
    num = numerical_gradient(lambda v: (composite(cr.tensor(v)) * w).sum(), x0)
    np.testing.assert_allclose(b.grads["x"], num, rtol=1e-6, atol=1e-9)


def test_composites_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x0, w = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    for ours, theirs in ((softmax_composite, torch.softmax), (log_softmax_composite, torch.log_softmax)):
        x = cr.tensor(x0, requires_grad=True)
        (ours(x, axis=1) * w).sum().backward()
        xt = torch.tensor(x0, requires_grad=True)
        (theirs(xt, dim=1) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_names_generated_unique_and_given():
    a = cr.tensor(1.0, requires_grad=True)
    b = cr.tensor(2.0, requires_grad=True)
    q = a * b
    tr = explain(q * q + 3.0, names={"q": q})
    names = [lf.name for lf in tr.leaves]
    assert names == ["leaf1", "leaf2"]
    assert tr.step("q").op == "mul" and tr.steps[1].name == "q*q" and tr.steps[1].inputs[0].name == "q"
    assert tr.steps[0].inputs[1].kind == "const" and tr.steps[0].inputs[1].name == "3"
    assert len({s.name for s in tr.steps}) == len(tr.steps)


def test_large_values_summarized_in_table():
    x = cr.tensor(np.arange(20.0), requires_grad=True, name="x")
    text = str(explain((x * 2.0).sum()))
    assert "(20,) [0, 1, 2, …]" in text and "[0, 1, 2, 3, 4, 5, 6" not in text


def test_explain_errors():
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*sum"):
        explain(x * 2.0)
    with pytest.raises(RuntimeError, match="leaf"):
        explain(x)
    with pytest.raises(RuntimeError, match="does not require grad"):
        explain(cr.tensor(1.0) * 2.0)
    with pytest.raises(TypeError, match="Tensor"):
        explain(np.ones(2))
    with pytest.raises(ValueError, match="grad has shape"):
        explain(x * 2.0, grad=np.ones(3))
    with pytest.raises(TypeError, match="names"):
        explain((x * 2.0).sum(), names={"q": 3.0})
    tr = explain(x * 2.0, grad=np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, -2.0])
    assert tr.steps[0].upstream.tolist() == [1.0, -1.0]


_OPS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "sub": lambda a, b: a - b,
        "div": lambda a, b: a / (b + 1.0), "tanh": lambda a, b: cr.tanh(a),
        "sigmoid": lambda a, b: cr.sigmoid(a), "max": lambda a, b: cr.maximum(a, b)}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(sorted(_OPS)), min_size=1, max_size=6),
       st.lists(st.floats(0.2, 2.0), min_size=3, max_size=3))
def test_random_graphs_explain_equals_backward(ops_, vals):
    def build():
        leaves = [cr.tensor(v, requires_grad=True, name=f"v{i}") for i, v in enumerate(vals)]
        acc = leaves[0]
        for k, op in enumerate(ops_):
            acc = _OPS[op](acc, leaves[(k + 1) % 3])
        return leaves, acc * leaves[0]

    l1, o1 = build()
    o1.backward()
    l2, o2 = build()
    tr = explain(o2)
    for a, b in zip(l1, l2):
        if a.grad is None:
            assert b.grad is None and b.name not in tr.grads
            continue
        np.testing.assert_allclose(b.grad, a.grad, rtol=1e-13)
        assert tr.grads[b.name] == pytest.approx(float(b.grad))
    assert tr.steps[0].upstream == 1.0


def test_parameters_are_leaves_in_a_trace():
    lin = cr.nn.Linear(3, 2, dtype=np.float64)
    x = cr.tensor(np.ones((4, 3)))
    tr = cr.explain((lin(x) ** 2).sum())
    assert len(tr.leaves) == 2, tr.leaves
    assert lin.weight.grad is not None and lin.weight.grad.shape == (2, 3)


def test_each_step_carries_its_check_saved_arrays_module_and_expression():
    w = cr.tensor(0.5, requires_grad=True, name="w")
    tr = explain(cr.tanh(cr.sigmoid(w * 2.0)) + w)
    assert [s.check.status for s in tr.steps] == ["pass"] * 4  # sigmoid / tanh of a 0-d value included
    assert all(s.check.error < 1e-6 for s in tr.steps)
    assert [s.name for s in tr.steps] == ["out", "tanh(sigmoid(w*2))", "sigmoid(w*2)", "w*2"]
    assert [s.expr for s in tr.steps] == ["tanh(sigmoid(w*2)) + w", "tanh(sigmoid(w*2))", "sigmoid(w*2)", "w*2"]
    mul = tr.step("mul")
    assert [(a.what, a.read) for a in mul.saved] == [("w", False), ("2", True), ("out", False)]
    assert mul.saved_bytes == 8  # w * c reads c only
    assert tr.step("tanh").saved_bytes == 8 and [a.what for a in tr.step("tanh").saved if a.read] == ["out"]
    assert tr.expression == "tanh(sigmoid(w*2)) + w"
    # at a kink there is no derivative to check: said so, not passed; check=False skips the checks
    x = cr.tensor([0.0, 1.0], requires_grad=True, name="x")
    tr = explain(cr.relu(x).sum())
    assert tr.step("relu").check.status.startswith("not checkable (kink")
    assert explain(cr.relu(x).sum(), check=False).step("relu").check is None
