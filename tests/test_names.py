"""One number and one name per node (issue 14): the same in explain's table, DOT, the page's JSON,
check_graph and anomaly messages; names read as expressions, module paths or op + step."""

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.debug.naming import MAX_NAME, Naming
from chainrule.viz.html import trace_json


def _leaves(**values):
    return {k: cr.tensor(v, requires_grad=True, name=k) for k, v in values.items()}


def _tutorial_f(x, y, z, w):
    return 2.0 * (x * y + cr.maximum(z, w))


def _lecture_values():
    return _leaves(x=3.0, y=-4.0, z=2.0, w=-1.0)


# -- one number, one name, everywhere -----------------------------------------------------------------

def test_explain_and_check_graph_number_and_name_every_node_alike():
    v = _lecture_values()
    report = cr.check_graph(_tutorial_f, *v.values())
    tr = cr.explain(_tutorial_f(*v.values()))
    assert [(s.index, s.name) for s in tr.steps] == [(1, "out"), (2, "x*y + max(z, w)"), (3, "max(z, w)"),
                                                     (4, "x*y")]
    # check_graph lists oldest first, under explain's numbers and names
    assert [(r.step, r.name) for r in report] == [(s.index, s.name) for s in reversed(tr.steps)]
    rows = str(report).splitlines()[2:]
    for s in tr.steps:
        row = next(r for r in rows if r.split()[0] == str(s.index))
        assert row.split()[1] == s.name.split()[0] and s.name in row and s.op in row
    # the check explain attaches to each step carries the same number and name
    assert [(s.check.step, s.check.name) for s in tr.steps] == [(s.index, s.name) for s in tr.steps]
    # what the page and the drawing get
    data = trace_json(tr)
    assert [(s["index"], s["name"]) for s in data["steps"]] == [(s.index, s.name) for s in tr.steps]
    ops = {n["step"]: n["name"] for n in data["nodes"] if n["kind"] == "op"}
    assert ops == {s.index: s.name for s in tr.steps}
    dot = tr.to_dot()
    for s in tr.steps:
        assert f'xlabel=<<font point-size="9">{s.name}</font>' in dot
    table = str(tr)
    for s in tr.steps:
        assert any(line.split()[:2] == [str(s.index), s.name.split()[0]] and s.name in line
                   for line in table.splitlines())


def test_check_graph_failure_names_the_node_as_explain_does():
    class WrongSquare(cr.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # should be 2 a

    x = cr.tensor(1.5, requires_grad=True, name="x")
    report = cr.check_graph(lambda x: cr.exp(WrongSquare.apply(x)) * 2.0, x)
    first = report.first_failure
    tr = cr.explain(cr.exp(WrongSquare.apply(x)) * 2.0, check=False)
    step = tr.step("WrongSquare")
    assert (first.step, first.name) == (step.index, step.name) == (3, "WrongSquare(x)")
    assert "\nfirst failing node: step 3 WrongSquare(x) (WrongSquare), inputs ()" in str(report)
    with pytest.raises(cr.GradcheckError, match=r"check_graph\): step 3 WrongSquare3 \(WrongSquare\)"):
        cr.gradcheck(lambda x: cr.exp(WrongSquare.apply(x)) * 2.0, (np.array(1.5),))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_anomaly_message_names_the_node_as_explain_does():
    x, y = _leaves(x=0.0, y=2.0).values()
    with cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError) as ei:
            (cr.sqrt(x) * y + y).backward()
    tr = cr.explain(cr.sqrt(x) * y + y, check=False)
    s = tr.step("sqrt")
    assert (s.index, s.name) == (3, "sqrt(x)")
    assert f"node: step {s.index} ({s.name}) of the backward pass" in str(ei.value)


# -- what the names are -------------------------------------------------------------------------------

def test_expression_names_of_named_inputs_with_parentheses_only_where_needed():
    v = _leaves(x=-2.0, y=5.0, z=-4.0, s=0.5)
    x, y, z, s = v.values()
    cases = [
        ((x + y) * z, ["out", "x + y"]),
        (x * y + z, ["out", "x*y"]),
        (x - (y - z), ["out", "y - z"]),
        (cr.exp(-s) / x, ["out", "exp(-s)", "-s"]),
        (x ** 2 + cr.minimum(y, z), ["out", "min(y, z)", "x**2"]),
        ((x * -4.0) * z, ["out", "x*(-4)"]),
    ]
    a, b = _leaves(a=np.array([1.0, 2.0]), b=np.array([0.5, -1.0])).values()
    cases.append((cr.tanh(a @ b) * 2.0, ["out", "tanh(a @ b)", "a @ b"]))
    for out, names in cases:
        assert [st.name for st in cr.explain(out, check=False).steps] == names
    w, xv = _leaves(w=np.array([2.0, -3.0, -3.0]), xv=np.array([-1.0, -2.0])).values()
    tr = cr.explain(cr.sigmoid(w[0] * xv[0] + w[1] * xv[1] + w[2]), check=False)
    names = {st.name for st in tr.steps}
    assert {"w[0]", "xv[0]", "w[0]*xv[0]", "w[1]*xv[1]", "w[2]"} <= names
    assert tr.expression == "sigmoid(w[0]*xv[0] + w[1]*xv[1] + w[2])"


def test_long_expressions_and_unnamed_leaves_fall_back_to_op_and_step():
    a, b = cr.tensor(1.0, requires_grad=True), cr.tensor(2.0, requires_grad=True)  # no names
    tr = cr.explain(cr.tanh(a * b) + a, check=False)
    assert [st.name for st in tr.steps] == ["out", "tanh2", "mul3"]
    assert [lf.name for lf in tr.leaves] == ["leaf1", "leaf2"]
    w0, x0, w1, x1, w2 = _leaves(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0).values()
    tr = cr.explain(1.0 / (1.0 + cr.exp(-(w0 * x0 + w1 * x1 + w2))), check=False)
    assert [st.name for st in tr.steps] == ["out", "add2", "exp3", "neg4", "w0*x0 + w1*x1 + w2",
                                            "w0*x0 + w1*x1", "w1*x1", "w0*x0"]
    assert all(len(st.name) <= MAX_NAME for st in tr.steps)
    # the same expression computed twice: one keeps it, the other is named by op and step
    x, y = _leaves(x=1.0, y=3.0).values()
    tr = cr.explain(x * y + x * y, check=False)
    assert [st.name for st in tr.steps] == ["out", "mul2", "x*y"]


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.array([0.5, -1.0, 2.0]))

    def forward(self, x):
        return x * self.w * self.w


def test_model_nodes_are_named_by_module_path_and_op():
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.ReLU(), nn.Linear(4, 3, dtype=np.float64), _Twice())
    x = cr.tensor(rng.normal(size=(2, 3)))
    out = net(x).sum()
    report = cr.check_graph(out)
    tr = cr.explain(out)
    names = [st.name for st in tr.steps]
    assert names == ["out", "3.mul2", "3.mul3", "2.linear", "1.relu", "0.linear"]
    assert [(r.step, r.name) for r in report] == [(st.index, st.name) for st in reversed(tr.steps)]
    assert [lf.name for lf in tr.leaves] == ["0.weight", "0.bias", "2.weight", "2.bias", "3.w"]
    data = json.loads(tr.to_json())
    assert [st["name"] for st in data["steps"]] == names


def test_labels_win_and_names_stay_unique():
    x = cr.tensor(2.0, requires_grad=True, name="x")
    q = x * x
    tr = cr.explain(q * 3.0 + x, names={"q": q})
    assert [st.name for st in tr.steps] == ["out", "q*3", "q"]
    # a leaf that happens to be called like a generated name does not collide with it
    a = cr.tensor(1.0, requires_grad=True, name="mul2")
    b = cr.tensor(2.0, requires_grad=True)
    tr = cr.explain(cr.exp(a * b) * 2.0, check=False)
    names = [st.name for st in tr.steps] + [lf.name for lf in tr.leaves]
    assert len(set(names)) == len(names) and "mul2" in names
    root = (x * 2.0)._node
    assert Naming([root]).names[root] == "out"


# -- explain on one training step of every model kind -------------------------------------------------

def _model_batch(kind, rng):
    from chainrule import train
    if kind in train.TEXT_MODELS:
        vocab, length = 7, 5
        model = train.build_model(kind, (length,), vocab, hidden=(8,))
        x = cr.tensor(rng.integers(0, vocab, (3, length)))
        y = cr.tensor(rng.integers(0, vocab, (3, length)))
        return model, x, y, "language_model"
    if kind == "cnn":
        model = train.build_model(kind, (64,), 3, hidden=(8,), image_shape=(1, 8, 8), channels=(2, 3))
        x = cr.tensor(rng.normal(size=(4, 1, 8, 8)).astype(np.float32))
    else:
        model = train.build_model(kind, (6,), 3, hidden=(5, 4))
        x = cr.tensor(rng.normal(size=(4, 6)).astype(np.float32))
    return model, x, cr.tensor(rng.integers(0, 3, 4)), "classification"


@pytest.mark.parametrize("kind", ["mlp", "cnn", "rnn", "lstm", "gru", "transformer"])
def test_explain_works_on_one_training_step_of_every_model_kind(kind):
    from chainrule import train
    assert set(train.MODELS) <= {"mlp", "cnn", "rnn", "lstm", "gru", "transformer"}  # a new kind: add it here
    rng = np.random.default_rng(1)
    cr.manual_seed(0)
    model, x, y, task = _model_batch(kind, rng)
    model.train()
    opt = train.make_optimizer("sgd", model.parameters(), 0.1)
    cr.manual_seed(0)  # the same dropout masks in both forward passes
    plain = train._loss(task, model(x), y)
    plain.backward()
    expected = {n: np.array(p.grad) for n, p in model.named_parameters()}
    opt.zero_grad()
    cr.manual_seed(0)
    loss = train._loss(task, model(x), y)
    report = cr.check_graph(loss)
    tr = cr.explain(loss)
    model_names = dict(model.named_parameters())
    for n, g in expected.items():
        np.testing.assert_allclose(model_names[n].grad, g, rtol=1e-5, atol=1e-6)
    names = [st.name for st in tr.steps]
    assert len(set(names)) == len(names) and [st.index for st in tr.steps] == list(range(1, len(names) + 1))
    assert [(r.step, r.name) for r in report] == [(st.index, st.name) for st in reversed(tr.steps)]
    assert {lf.name for lf in tr.leaves} <= set(model_names)
    grouped = [st for st in tr.steps if st.group]
    assert grouped and all(st.name.startswith(st.group + ".") for st in grouped)
    assert not [st.name for st in tr.steps if st.check is not None and st.check.status == "FAIL"]
    data = json.loads(tr.to_json())
    assert [st["name"] for st in data["steps"]] == names and data["groups"]
    assert str(tr).count("\n") > len(tr.steps)
    before = {n: np.array(p.data) for n, p in model.named_parameters()}
    opt.step()
    assert any(not np.array_equal(before[n], p.data) for n, p in model.named_parameters())


def test_the_composed_expression_of_a_graph_with_reuse_is_built_once_per_node():
    # h*h + h doubles the paths from the output to x at every step: 2**60 of them, one node each step
    x = cr.tensor(0.5, requires_grad=True, name="x")
    h = x
    for _ in range(30):
        h = cr.tanh(h * h + h)
    tr = cr.explain(h, check=False)
    assert tr.expression == tr.steps[0].expr == "tanh(add2)"
    small = cr.explain(cr.tanh(x * x + x), check=False)
    assert small.expression == "tanh(x*x + x)"


def test_expression_names_parse_back_to_the_same_value():
    """format_expr's parentheses: Python reads every generated text as the tree it came from."""
    from chainrule.debug.naming import Naming, format_expr
    rng = np.random.default_rng(3)
    env = {k: rng.uniform(1.0, 2.0, (2, 2)) for k in "abc"}
    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "matmul": np.matmul}

    def tree(depth):
        r = rng.integers(0, 10)
        if depth == 0 or r < 2:
            k = "abc"[rng.integers(0, 3)]
            return env[k], (k, Naming.precedence_of(k))
        if r == 2:
            v, t = tree(depth - 1)
            return -v, format_expr("neg", [t])
        if r == 3:
            v, t = tree(depth - 1)
            c = float(rng.choice([-2.0, 2.0, 0.5]))
            cs = f"{c:.4g}"
            return v ** c, format_expr("power", [t, (cs, Naming.precedence_of(cs))])
        op = list(binary)[rng.integers(0, 5)]
        (va, ta), (vb, tb) = tree(depth - 1), tree(depth - 1)
        return binary[op](va, vb), format_expr(op, [ta, tb])

    with np.errstate(all="ignore"):  # a difference of equal leaves to a negative power is inf both ways
        for _ in range(300):
            value, (text, _) = tree(4)
            np.testing.assert_allclose(eval(text, {}, dict(env)), value, rtol=1e-9, err_msg=text)
