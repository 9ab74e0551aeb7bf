"""`chainrule explain` on inputs that used to crash it, print NumPy warnings or allocate without
bound (issue 12, item 5): every failure is one line and exit status 2; inf / nan results are a
table plus one note line, never a NumPy warning with library source lines."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from chainrule import cli
from chainrule.cli import exprparse


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(out), redirect_stderr(err):
        warnings.simplefilter("always")
        rc = cli.main(["explain", *argv])
    return rc, out.getvalue(), err.getvalue(), [w for w in caught if issubclass(w.category, Warning)]


def _lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.mark.parametrize("expr", ["x", "+x", "((x))", "+(+x)"])
def test_an_expression_that_is_just_a_given_name_is_one_line(expr):
    rc, out, err, _ = _run([expr, "x=1"])
    assert rc == 2 and out == "", (rc, out, err)
    assert _lines(err) == [f"explain: {expr!r} is just the value of x: there is no backward pass to trace "
                           "(try e.g. 2*x)"]


NOT_FINITE = [
    (["x/0", "x=1"], "f = inf, the gradient of x (a division by zero"),
    (["log(x)", "x=0"], "f = -inf, the gradient of x (a division by zero"),
    (["mean(x)", "x=[]"], "f = nan (a division by zero"),
    (["x ** 1000", "x=10"], "f = inf, the gradient of x ("),
    (["x * 1e308 * 10", "x=1"], "f = inf, the gradient of x ("),
    (["sum(sqrt(x))", "x=[-1, 0, 4]"], "f = nan, the gradient of x ("),
    (["x * y", "x=1e999", "y=0"], "f = nan, the gradient of y (the value of x is not finite)"),
]


@pytest.mark.parametrize("argv, note", NOT_FINITE, ids=[a[0] for a, _ in NOT_FINITE])
def test_non_finite_results_are_a_note_not_a_numpy_warning(argv, note):
    rc, out, err, caught = _run(argv)
    assert rc == 0, (rc, err)
    assert caught == [], [str(w.message) for w in caught]
    assert "leaves:" in out  # the table is printed, with its inf / nan
    assert _lines(err) == [_lines(err)[0]] and _lines(err)[0].startswith("explain: note: not finite: "), err
    assert note in err, err


def test_no_note_when_everything_is_finite():
    rc, out, err, caught = _run(["sum(log(x))", "x=[1, 2]"])
    assert (rc, err, caught) == (0, "", [])


def test_the_command_prints_no_numpy_warning_lines():
    """End to end (a child process, whose warnings are not caught by pytest)."""
    env = dict(os.environ, PYTHONWARNINGS="default")
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", "x/0 + log(y)", "x=1", "y=0"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert _lines(r.stderr) == ["explain: note: not finite: f = nan, the gradients of x, y (a division by "
                                "zero, log of 0, or an overflow in float64)"], r.stderr


def _vec(n):
    return json.dumps([0.5] * n)


def test_a_value_with_too_many_elements_is_refused_before_anything_runs():
    n = exprparse.MAX_ELEMENTS
    rc, out, err, _ = _run(["sum(x)", f"x={_vec(n)}"])
    assert rc == 0, err
    rc, out, err, _ = _run(["sum(x)", f"x={_vec(n + 1)}"])
    assert rc == 2 and _lines(err) == [f"explain: x has {n + 1:,} elements; at most {n:,}"]


@pytest.mark.parametrize("expr", ["sum(c * r)", "sum(maximum(c, r))", "sum(c + r)", "sum(c ** r)",
                                  "sum((c * 2) @ (r * 2))", "sum(matmul(c, r))"])
def test_results_that_would_grow_past_the_bound_are_refused_before_they_are_computed(expr, monkeypatch):
    """A column against a row is an outer product (N**2 elements; a chain of them grows as N**3):
    refused from the operand shapes, before the op allocates."""
    c, r = json.dumps([[0.5]] * 101), json.dumps([[0.5] * 100])
    computed = []
    real = exprparse._Evaluator._eval
    monkeypatch.setattr(exprparse._Evaluator, "_eval",
                        lambda self, node: computed.append(np.size(out := real(self, node))) or out)
    rc, out, err, _ = _run([expr, f"c={c}", f"r={r}"])
    assert rc == 2, (rc, err)
    assert _lines(err) == [_lines(err)[0]] and "is too large: its result would have 10,100 elements (at most " \
        "10,000)" in err, err
    assert max(computed) <= exprparse.MAX_ELEMENTS


def test_results_at_the_bound_are_computed():
    c, r = json.dumps([[0.5]] * 100), json.dumps([[0.5] * 100])
    rc, out, err, _ = _run(["sum((c * r) @ (c * r))", f"c={c}", f"r={r}"])
    assert rc == 0, err
    assert "leaves:" in out
