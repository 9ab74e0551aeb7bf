"""`chainrule explain` and the safe expression parser behind it."""

import contextlib
import difflib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.cli import main
from chainrule.cli.exprparse import MAX_LENGTH, ExprError, evaluate, evaluate_labelled, parse
from chainrule.viz.table import table

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- the command -----------------------------------------------------------------------------

def test_example1_table(capsys):
    code, out, err = run(capsys, "explain", "(x + y) * z", "x=-2", "y=5", "z=-4")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("backward pass of f = -12: 2 nodes")
    mul = next(ln for ln in lines if " mul " in ln)
    assert "swaps" in mul and "-4 (= z)" in mul
    add = next(ln for ln in lines if " add " in ln)
    assert "distributes" in add and add.split()[1:3] == ["+", "y"] or "x + y" in add
    assert "dL/dx = -4" in out and "dL/dy = -4" in out and "dL/dz = 3" in out


def test_sigmoid_neuron_and_compare(capsys):
    args = ["explain", "sigmoid(w0*x0 + w1*x1 + w2)", "w0=2", "x0=-1", "w1=-3", "x1=-2", "w2=-3"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "sigmoid" in out and "dL/dw0 = -0.1966" in out and "dL/dx1 = -0.5898" in out
    code, out, _ = run(capsys, *args, "--expand")
    assert code == 0 and "8 nodes" in out and " sigmoid " not in out and " exp " in out
    assert "dL/dw0 = -0.1966" in out
    code, out, _ = run(capsys, *args, "--compare")
    assert code == 0 and "fused (5 nodes)" in out and "expanded (8 nodes)" in out
    diff = float(out.strip().splitlines()[-1].split(":")[1])
    assert diff < 1e-12


def test_vector_values(capsys):
    code, out, _ = run(capsys, "explain", "sum(x * w)", "x=[1,2,3]", "w=[0.5, -1, 2]")
    assert code == 0
    assert "dL/dx = [0.5, -1, 2]" in out and "dL/dw = [1, 2, 3]" in out


def test_dot_and_html_options(capsys, tmp_path):
    code, out, _ = run(capsys, "explain", "(x + y) * z", "x=-2", "y=5", "z=-4", "--dot")
    assert code == 0 and out.lstrip().startswith("digraph") and out.rstrip().endswith("}")
    page = tmp_path / "f.html"
    code, out, err = run(capsys, "explain", "(x + y) * z", "x=-2", "y=5", "z=-4", "--html", str(page))
    assert code == 0 and "backward pass" in out and str(page) in err
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "swaps" in html


@pytest.mark.parametrize("argv, needle", [
    (["explain", "__import__('os').system('echo hacked')", "x=1"], "not allowed"),
    (["explain", "x.__class__", "x=1"], "attribute access"),
    (["explain", "(lambda: 1)()", "x=1"], "call"),
    (["explain", "[v for v in x]", "x=[1,2]"], "comprehensions"),
    (["explain", "open('/etc/passwd')", "x=1"], "'open' is not allowed"),
    (["explain", "x +", "x=1"], "invalid syntax"),
    (["explain", "x * q", "x=1"], "unknown name 'q'"),
    (["explain", "x * 2", "x=abc"], "cannot read the value of x"),
    (["explain", "x * 2", "x"], "NAME=VALUE"),
    (["explain", "x * 2", "1x=2"], "NAME=VALUE"),
    (["explain", "x * 2", "x=[1,2]"], "single number"),
    (["explain", "2 * 3"], "does not depend"),
    (["explain", "x @ y", "x=[1,2]", "y=[1,2,3]"], "matmul"),
    (["explain", "x", "x=1", "--bogus"], "unrecognized"),
    (["explain", "x ** 100000", "x=1"], "exponent"),
    (["explain", "x" + " + x" * 400, "x=1"], "too"),
])
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and needle in err, err


def test_refused_expression_is_never_executed(tmp_path, capsys):
    marker = tmp_path / "pwned"
    for expr in (f"__import__('pathlib').Path('{marker}').touch()", f"open('{marker}', 'w')",
                 f"exec(\"open('{marker}','w')\")", f"eval(\"open('{marker}','w')\")"):
        code, _, err = run(capsys, "explain", expr, "x=1")
        assert code == 2 and "not allowed" in err
    assert not marker.exists()


def test_entry_point_subprocess(tmp_path):
    env = dict(os.environ, PYTHONPATH=SRC)
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", "(x + y) * z", "x=-2", "y=5", "z=-4"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "swaps" in r.stdout
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", "x.real", "x=1"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1


# ---- the parser ----------------------------------------------------------------------------------

def leaves(**kw):
    return {k: cr.tensor(v, requires_grad=True, name=k) for k, v in kw.items()}


def test_evaluate_matches_python_arithmetic():
    env = leaves(x=1.5, y=-2.0, z=0.25)
    cases = {"x + y * z": 1.5 + -2.0 * 0.25, "-(x - y) / z": -(1.5 + 2.0) / 0.25, "x ** 2 - +y": 1.5 ** 2 + 2,
             "2 ** -x": 2 ** -1.5, "exp(x) * log(z)": np.exp(1.5) * np.log(0.25),
             "maximum(x, y) + minimum(x, y)": -0.5, "sigmoid(x)": 1 / (1 + np.exp(-1.5)),
             "sigmoid_composite(x)": 1 / (1 + np.exp(-1.5)), "tanh(y) + sqrt(z) + abs(y)": np.tanh(-2) + 2.5}
    for expr, want in cases.items():
        out = evaluate(expr, env)
        assert isinstance(out, cr.Tensor) and out.item() == pytest.approx(want), expr


def test_evaluate_functions_with_axes_and_matmul():
    W = np.array([[0.1, 0.5], [-0.3, 0.8]])
    x = np.array([0.2, 0.4])
    env = leaves(W=W, x=x)
    np.testing.assert_allclose(evaluate("W @ x", env).data, W @ x)
    np.testing.assert_allclose(evaluate("matmul(W, x)", env).data, W @ x)
    np.testing.assert_allclose(evaluate("sum(W, axis=0)", env).data, W.sum(0))
    np.testing.assert_allclose(evaluate("mean(W, axis=-1, keepdims=True)", env).data,
                               W.mean(-1, keepdims=True))
    np.testing.assert_allclose(evaluate("max(W, axis=(0, 1))", env).data, W.max())
    sm = evaluate("softmax(W, axis=1)", env).data
    np.testing.assert_allclose(sm, np.exp(W) / np.exp(W).sum(1, keepdims=True))
    np.testing.assert_allclose(evaluate("softmax(W, axis=1)", env, expand=True).data, sm)
    np.testing.assert_allclose(evaluate("log_softmax_composite(W)", env).data, np.log(sm))
    out = evaluate("sum((W @ x) * (W @ x))", env)
    out.backward()
    np.testing.assert_allclose(env["W"].grad, 2 * np.outer(W @ x, x))


def test_expand_replaces_fused_nodes():
    env = leaves(x=0.3)
    assert evaluate("sigmoid(x)", env)._node.prim.name == "sigmoid"
    assert evaluate("sigmoid(x)", env, expand=True)._node.prim.name == "div"


def test_labels_are_source_text():
    out, labels = evaluate_labelled("(x + y) * z", leaves(x=-2.0, y=5.0, z=-4.0))
    assert set(labels) == {"x + y", "(x + y) * z"} and labels["(x + y) * z"] is out


@pytest.mark.parametrize("expr", [
    "x.shape", "x[0]", "x[0:1]", "lambda: 1", "[1, 2]", "(1, 2)", "{1: 2}", "{1}", "x if x else 1",
    "x < 1", "x and 1", "not x", "~x", "x // 2", "x % 2", "x << 1", "x | 1", "'s'", "b'b'", "f'{x}'",
    "True", "None", "1j", "...", "print(x)", "getattr(x, 'a')", "sum(x, axis=x)", "sum(x, axis=1.0)",
    "sum(x, keepdims=1)", "sum(x, where=1)", "sum(*x)", "sum(**x)", "exp(x, x)", "maximum(x)", "(y := 2)",
    "x.__class__.__mro__", "exp", "import os", "x = 1", "", "   ", "\x00", "x ** 1e999", "sum(x, axis=1e999)",
    "sum(x, axis=99999999999999999999)", "9" * 400 + " ** 2 ** x",
])
def test_refused(expr):
    with pytest.raises(ExprError) as e:
        evaluate(expr, leaves(x=1.0))
    assert "\n" not in str(e.value) and str(e.value)
    assert isinstance(e.value, ValueError)


def test_limits_bound_the_work():
    with pytest.raises(ExprError, match="too long"):
        parse("x" + "+x" * MAX_LENGTH)
    with pytest.raises(ExprError, match="deep|too"):
        parse("(" * 150 + "x" + ")" * 150 + "+" + "-" * 300 + "x")
    with pytest.raises(ExprError, match="exponent"):
        parse("x ** -5000")
    with pytest.raises(ExprError):
        parse("2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 99999")
    # non-constant exponents are float arithmetic: huge but instant
    assert np.isinf(evaluate("9 ** 9 ** 9 ** 9", {}).item())
    with pytest.raises(ExprError):
        evaluate(123, {})
    with pytest.raises(ExprError, match="names"):
        evaluate("x", [("x", 1)])


def test_evaluation_errors_are_expr_errors():
    with pytest.raises(ExprError, match="matmul"):
        evaluate("x @ y", leaves(x=np.ones(2), y=np.ones(3)))
    with pytest.raises(ExprError, match="axis"):
        evaluate("sum(x, axis=3)", leaves(x=np.ones(2)))
    assert np.isinf(evaluate("1 / x", leaves(x=0.0)).item())  # IEEE: no exception, no warning


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="xyz0123456789.+-*/@()[]{},:=!<>'\"_ eajklmnopsw\\", max_size=40))
def test_fuzz_only_expr_errors(text):
    try:
        out = evaluate(text, leaves(x=1.5, y=np.array([1.0, 2.0])))
    except ExprError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(out, cr.Tensor)


# ---- the tutorial's outputs are the actual outputs ------------------------------------------------

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
_FENCE = re.compile(r"```(python|console)\n(.*?)```", flags=re.S)


def _run_python(block, globs):
    out = []
    for ex in doctest.DocTestParser().get_examples(block):
        lines = ex.source.rstrip("\n").split("\n")
        out.append(">>> " + lines[0] + "\n" + "".join("... " + ln + "\n" for ln in lines[1:]))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(ex.source, "<tutorial>", "single"), globs)
        out.append(buf.getvalue())
    return "".join(out)


def _run_console(block):
    out = []
    for line in block.splitlines():
        if not line.startswith("$ "):
            continue
        out.append(line + "\n")
        argv = shlex.split(line[2:])
        assert argv[0] == "chainrule", line
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            main(argv[1:])
        out.append(buf.getvalue())
    return "".join(out)


def render_tutorial(text):
    """The tutorial with every snippet's output replaced by what running it prints now."""
    globs = {"__name__": "tutorial"}

    def block(m):
        body = _run_python(m.group(2), globs) if m.group(1) == "python" else _run_console(m.group(2))
        return f"```{m.group(1)}\n{body}```"

    with np.printoptions(legacy=False):
        return _FENCE.sub(block, text)


def test_tutorial_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial writes example1.html
    text = TUTORIAL.read_text(encoding="utf-8")
    assert len(_FENCE.findall(text)) >= 12
    rendered = render_tutorial(text)
    if rendered != text:
        diff = "".join(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True),
                                            "shown", "actual"))
        pytest.fail("docs/tutorial.md shows outputs that its snippets no longer print "
                    "(regenerate: python tests/test_cli_explain.py):\n" + diff[:4000])
    assert (tmp_path / "example1.html").exists()


if __name__ == "__main__":  # regenerate the tutorial's outputs
    import tempfile

    os.chdir(tempfile.mkdtemp())
    TUTORIAL.write_text(render_tutorial(TUTORIAL.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"rewrote {TUTORIAL}")


# ---- issue 14: max/min gates, indexing, unused names -------------------------------------------

def test_two_argument_max_min_are_the_gates():
    torch = pytest.importorskip("torch")
    z, w = cr.tensor(3.0, requires_grad=True), cr.tensor(-1.0, requires_grad=True)
    out = evaluate("max(z, w) * 2 + min(z, w)", {"z": z, "w": w})
    out.backward()
    tz, tw = torch.tensor(3.0, dtype=torch.float64, requires_grad=True), torch.tensor(
        -1.0, dtype=torch.float64, requires_grad=True)
    (torch.maximum(tz, tw) * 2 + torch.minimum(tz, tw)).backward()
    assert out.item() == pytest.approx(5.0)
    assert (z.grad.item(), w.grad.item()) == (tz.grad.item(), tw.grad.item()) == (2.0, 1.0)
    with pytest.raises(ExprError, match=r"max\(\) takes 1 argument \(or 2"):
        evaluate("max(z, w, z)", {"z": z, "w": w})


def test_indexing_the_lecture_sigmoid_neuron():
    w = cr.tensor(np.array([2.0, -3.0, -3.0]), requires_grad=True)
    x = cr.tensor(np.array([-1.0, -2.0]), requires_grad=True)
    out = evaluate("sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", {"w": w, "x": x})
    out.backward()
    assert out.item() == pytest.approx(0.7310585786)
    s = 0.7310585786 * (1 - 0.7310585786)   # the lecture's 0.2 at the sigmoid
    np.testing.assert_allclose(w.grad, [-s, -2 * s, s], rtol=1e-8)
    np.testing.assert_allclose(x.grad, [2 * s, -3 * s], rtol=1e-8)
    W = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert evaluate("W[1, -1]", {"W": W}).item() == 5.0


@pytest.mark.parametrize("expr, message", [
    ("w[5]", r"w\[5\]: index 5 is out of range for axis 0 of size 3"),
    ("w[0, 1]", r"too many indices for shape \(3,\)"),
    ("w[0.5]", "must be integer constants"),
    ("w[True]", "only numbers"),
    ("w[1:]", "must be integer constants"),
    ("(w + w)[0]", "only a given name can be indexed"),
])
def test_bad_indexing_is_a_clear_error(expr, message):
    with pytest.raises(ExprError, match=message):
        evaluate(expr, {"w": np.array([1.0, 2.0, 3.0])})


def test_cli_sigmoid_neuron_with_indexing_and_unused_name(capsys):
    code, out, _ = run(capsys, "explain", "sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", "w=[2,-3,-3]", "x=[-1,-2]")
    assert code == 0 and "0.73" in out and "w[0]" in out
    code, out, err = run(capsys, "explain", "max(z, w)", "z=2", "w=-1")
    assert code == 0 and "max" in out
    code, out, err = run(capsys, "explain", "x * y", "x=2", "y=3", "zz=4")
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert "not used in the expression: zz" in err
    with pytest.raises(ExprError, match="not used"):
        evaluate_labelled("x", {"x": 1.0, "y": 2.0}, strict=True)


@pytest.mark.parametrize("columns", [70, 80, 100])
def test_table_fits_columns(monkeypatch, columns):
    expr = "sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])"
    monkeypatch.delenv("COLUMNS", raising=False)
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", expr, "w=[2,-3,-3]", "x=[-1,-2]"],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC})
    wide = r.stdout.splitlines()
    assert r.returncode == 0 and max(map(len, wide)) > columns   # unlimited when piped and no $COLUMNS
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", expr, "w=[2,-3,-3]", "x=[-1,-2]"],
                       capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": SRC, "COLUMNS": str(columns)})
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines and max(map(len, lines)) <= columns, r.stdout
    assert "0.73" in r.stdout and "downstream"[:4] in lines[1]
    assert len(lines) >= len(wide)


def test_table_width_on_a_vector_mlp():
    rng = np.random.default_rng(0)
    W1 = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W1")
    W2 = cr.tensor(rng.normal(size=(2, 3)), requires_grad=True, name="W2")
    x = cr.tensor(rng.normal(size=4), name="x")
    loss = cr.ops.sum(cr.ops.relu(W2 @ cr.ops.relu(W1 @ x)) ** 2)
    tr = cr.explain(loss)
    full = table(tr)
    assert max(map(len, full.splitlines())) > 120
    fitted = table(tr, width=100)
    assert max(map(len, fitted.splitlines())) <= 100 and "…" in fitted


# ---- --json: the versioned trace format ------------------------------------------------------

def test_json_output_is_the_versioned_trace(capsys, tmp_path):
    from chainrule.viz.html import load_json, page_html
    code, out, err = run(capsys, "explain", "sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", "w=[2,-3,-3]", "x=[-1,-2]",
                         "--json")
    assert code == 0 and err == ""
    data = load_json(out)
    assert data["schema"] == "chainrule.trace" and data["version"] == 1
    assert data["expression"] == "sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])"
    assert [s["name"] for s in data["steps"]][:1] == ["f"] and data["steps"][0]["op"] == "sigmoid"
    grads = {lf["name"]: lf["grad"]["data"] for lf in data["leaves"]}
    np.testing.assert_allclose(grads["w"], [-0.19661193, -0.39322387, 0.19661193], rtol=1e-6)
    assert all(s["check"]["status"] == "pass" for s in data["steps"])
    # the page written from the file is the page --html writes
    page = tmp_path / "p.html"
    code, _, _ = run(capsys, "explain", "sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", "w=[2,-3,-3]", "x=[-1,-2]",
                     "--html", str(page))
    assert code == 0 and page_html(data) == page.read_text(encoding="utf-8")


def test_json_format_errors_name_the_problem(tmp_path):
    from chainrule.viz.html import load_json
    with pytest.raises(ValueError, match="not a chainrule trace"):
        load_json('{"steps": []}')
    with pytest.raises(ValueError, match="version 2; this chainrule reads version 1"):
        load_json('{"schema": "chainrule.trace", "version": 2}')
    with pytest.raises(ValueError, match="no 'edges' list"):
        load_json('{"schema": "chainrule.trace", "version": 1, "steps": [], "leaves": [], "nodes": [], '
                  '"output": {}}')
    with pytest.raises(ValueError, match="not JSON"):
        load_json("{nope")


def test_print_forms_are_exclusive(capsys):
    code, out, err = run(capsys, "explain", "x * 2", "x=1", "--json", "--dot")
    assert code == 2 and out == ""
    err = err.strip().splitlines()
    assert len(err) == 1 and "--dot and --json" in err[0]
