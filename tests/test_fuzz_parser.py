"""Fuzzing the CLI's expression parser (`chainrule.cli.exprparse`, behind `chainrule explain`).

Random text, random token soup and a corpus of hostile strings: `evaluate` never executes code,
never hangs, and always answers with a Tensor or a one-line `ExprError`. Random valid
expressions evaluate to what Python's own precedence rules and NumPy give for the same text.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import cli
from chainrule.cli import exprparse

ExprError = exprparse.ExprError
evaluate = exprparse.evaluate

EXAMPLES_TEXT = 300    # random unicode / printable strings
EXAMPLES_TOKENS = 300  # random sequences of Python-like tokens (parse more often, hit the checks)
EXAMPLES_VALID = 200   # random valid expressions compared with NumPy
SECONDS = 5.0          # no single evaluation may take longer

FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

NAMES = {"x": 0.5, "y": -1.25, "z": 2.0, "w0": 2.0, "x0": -1.0}
VECTORS = {"x": np.array([0.5, -1.0, 2.0]), "y": np.array([1.5, 0.25, -0.75]), "z": 2.0}


# -- guards ---------------------------------------------------------------------------------------

class _Hung(Exception):
    pass


FORBIDDEN_MODULES = {"os", "subprocess", "shutil", "socket", "ctypes", "pathlib", "importlib", "pty",
                     "posix", "builtins", "sys", "io", "pickle", "marshal", "code", "codeop"}


@contextmanager
def _watch():
    """Record any attempt, while evaluating, to run code or reach the system: eval/exec, compiling to
    code (compiling to an AST is fine), imports of system modules, open(), os.system."""
    seen = []
    real = {n: getattr(builtins, n) for n in ("eval", "exec", "compile", "__import__", "open")}
    real_system = os.system

    def compile_(src, filename, mode, flags=0, *a, **k):
        import ast

        if not flags & ast.PyCF_ONLY_AST:
            seen.append(f"compile({str(src)[:40]!r})")
        return real["compile"](src, filename, mode, flags, *a, **k)

    def import_(name, *a, **k):
        if name.split(".")[0] in FORBIDDEN_MODULES:
            seen.append(f"import {name}")
        return real["__import__"](name, *a, **k)

    def deny(what):
        def f(*a, **k):
            seen.append(f"{what}{a[:1]!r:.60}")
            raise PermissionError(f"{what} called while evaluating an expression")
        return f

    builtins.eval, builtins.exec, builtins.open = deny("eval"), deny("exec"), deny("open")
    builtins.compile, builtins.__import__ = compile_, import_
    os.system = deny("os.system")
    try:
        yield seen
    finally:
        for n, f in real.items():
            setattr(builtins, n, f)
        os.system = real_system


@contextmanager
def _time_limit(seconds):
    def handler(signum, frame):
        raise _Hung(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _answer(expr, names=None):
    """evaluate(), guarded: returns the Tensor, or the ExprError; anything else fails the test."""
    names = NAMES if names is None else names
    t0 = time.perf_counter()
    with _watch() as seen, _time_limit(SECONDS):
        try:
            out = evaluate(expr, dict(names))
        except ExprError as e:
            out = e
    took = time.perf_counter() - t0
    assert not seen, f"{expr!r} tried to run code or reach the system: {seen}"
    assert took < SECONDS, f"{expr!r} took {took:.1f} s"
    if isinstance(out, ExprError):
        msg = str(out)
        assert msg.strip() and "\n" not in msg and "\r" not in msg, f"{expr!r}: not one line: {msg!r}"
        assert "Traceback" not in msg
    else:
        assert isinstance(out, cr.Tensor), f"{expr!r} gave {type(out).__name__}"
    return out


# -- random text ------------------------------------------------------------------------------------

@settings(max_examples=EXAMPLES_TEXT, **FUZZ)
@given(st.text(max_size=60) | st.text(alphabet=st.characters(codec="ascii"), max_size=80))
def test_random_text_gives_a_tensor_or_a_one_line_error(s):
    _answer(s)


TOKENS = (
    ["x", "y", "z", "w0", "x0", "q", "_", "__class__", "__import__", "__builtins__", "os", "sys", "open",
     "eval", "exec", "lambda", "import", "for", "in", "if", "else", "not", "and", "or", "is", "None", "True",
     "print", "getattr", "globals", "type", "object", "exp", "log", "sqrt", "tanh", "sigmoid", "relu",
     "sum", "max", "softmax", "matmul", "maximum", "axis", "keepdims"]
    + ["0", "1", "2.5", "1e308", "1e-320", "9" * 30, "0x1f", "1_0", "1j", ".5", "nan", "inf"]
    + ["+", "-", "*", "/", "**", "@", "//", "%", "<<", ">>", "&", "|", "^", "~", "<", "==", "!=", ":=",
       "=", ".", ",", ":", ";", "(", ")", "[", "]", "{", "}", "'a'", '"os"', "f'{x}'", "\\", "\n", " ",
       "...", "`", "$", "#", "\x00", "ｘ", "é"]
)


@settings(max_examples=EXAMPLES_TOKENS, **FUZZ)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join))
def test_token_soup_gives_a_tensor_or_a_one_line_error(s):
    _answer(s)


@settings(max_examples=50, **FUZZ)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join))
def test_token_soup_on_vectors(s):
    _answer(s, VECTORS)


# -- random valid expressions against Python's precedence and NumPy ----------------------------------

def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


ORACLE = {"exp": np.exp, "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "abs": np.abs,
          "sigmoid": _sigmoid, "relu": lambda v: np.maximum(v, 0.0),
          "log": np.log, "sqrt": np.sqrt, "maximum": np.maximum, "minimum": np.minimum}


def _supported(fname, arity):
    """The functions this parser accepts (probed, so the test follows its whitelist)."""
    try:
        evaluate(f"{fname}({', '.join(['x'] * arity)})", dict(NAMES))
        return True
    except ExprError:
        return False


def _functions():
    return {f: (2 if f in ("maximum", "minimum") else 1) for f in ORACLE
            if _supported(f, 2 if f in ("maximum", "minimum") else 1)}


@st.composite
def valid_exprs(draw, depth=4):
    """Text of a random valid expression; minimal parentheses half the time, so that the parser's
    precedence (unary minus vs **, right-associative **, * before +) is exercised."""
    funcs = _FUNCS
    minimal = draw(st.booleans())

    def node(d):
        choice = draw(st.integers(0, 5 if d > 0 else 1))
        if choice == 0:
            return draw(st.sampled_from(["x", "y", "z"]))
        if choice == 1:
            return draw(st.sampled_from(["0.5", "2", "3.0", "1e-3", "10"]))
        if choice == 2:
            inner = node(d - 1)
            return f"-{inner}" if minimal else f"(-{inner})"
        if choice == 3 and funcs:
            f = draw(st.sampled_from(sorted(funcs)))
            args = ", ".join(node(d - 1) for _ in range(funcs[f]))
            return f"{f}({args})"
        if choice == 5:  # powers: small constant exponents, or a bounded base
            base = node(d - 1)
            e = draw(st.sampled_from(["2", "3", "0.5", "-1", "2 ** 0.5"]))
            return f"{base} ** {e}" if minimal else f"(({base}) ** ({e}))"
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        a, b = node(d - 1), node(d - 1)
        return f"{a} {op} {b}" if minimal else f"(({a}) {op} ({b}))"

    return node(depth)


_FUNCS: dict = {}


class _Float64Constants(ast.NodeTransformer):
    """Python's own parse of the text, with every number made a NumPy float64 (IEEE semantics:
    1 / 0 is inf and (-0.5) ** 0.5 is nan, as in chainrule, not an exception or a complex)."""

    def visit_Constant(self, node):
        return ast.copy_location(ast.Call(ast.Name("F", ast.Load()), [node], []), node)


def _oracle(expr, names):
    env = dict(ORACLE, F=np.float64)
    env.update({k: np.float64(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64)
                for k, v in names.items()})
    tree = ast.fix_missing_locations(_Float64Constants().visit(ast.parse(expr.strip(), mode="eval")))
    code = builtins.compile(tree, "<oracle>", "eval")
    with np.errstate(all="ignore"):
        return np.asarray(builtins.eval(code, {"__builtins__": {}}, env), dtype=np.float64)


def _agree(expr, names):
    got = _answer(expr, names)
    want = _oracle(expr, names)  # our own generated text, on NumPy: the reference
    assert isinstance(got, cr.Tensor), f"{expr!r} was refused: {got}"
    g = np.asarray(got.data, dtype=np.float64)
    assert g.shape == want.shape, (expr, g.shape, want.shape)
    finite = np.isfinite(want) & (np.abs(want) < 1e12)
    np.testing.assert_allclose(g[finite], want[finite], rtol=1e-9, atol=1e-12, err_msg=expr)


@settings(max_examples=EXAMPLES_VALID, **FUZZ)
@given(valid_exprs())
def test_valid_expressions_match_numpy(expr):
    _agree(expr, NAMES)


@settings(max_examples=50, **FUZZ)
@given(valid_exprs(depth=3))
def test_valid_expressions_on_vectors_match_numpy(expr):
    _agree(expr, VECTORS)


def setup_module(module):
    _FUNCS.update(_functions())


def test_precedence_cases():
    for expr in ["-x ** 2", "2 ** -1", "2 ** 3 ** 2", "x - y - z", "x / y / z", "-x * -y", "x + y * z",
                 "(x + y) * z", "--x", "+-x", "x ** -y ** 2", "1 / 2 * 3"]:
        _agree(expr, NAMES)


def test_gradients_flow_through_parsed_expressions():
    x = cr.tensor(-2.0, requires_grad=True)
    y = cr.tensor(5.0, requires_grad=True)
    z = cr.tensor(-4.0, requires_grad=True)
    f = evaluate("(x + y) * z", {"x": x, "y": y, "z": z})
    f.backward()
    assert (f.item(), x.grad, y.grad, z.grad) == (-12.0, -4.0, -4.0, 3.0)


# -- the hostile corpus, in a separate process with a hard timeout ---------------------------------

HOSTILE = [
    "__import__('os').system('touch PWNED')",
    "__import__('pathlib').Path('PWNED').touch()",
    "open('PWNED', 'w').write('x')",
    "exec(\"open('PWNED','w')\")",
    "eval('1+1')",
    "compile('1', '', 'eval')",
    "x.__class__.__bases__[0].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "x.__class__",
    "x.data",
    "x._data.tofile('PWNED')",
    "getattr(x, '__class__')",
    "globals()", "locals()", "vars()", "dir()", "__builtins__", "__builtins__['open']",
    "lambda: 1", "(lambda: 1)()", "[i for i in range(10)]", "{i: i for i in x}", "(i for i in x)",
    "[x, y]", "{x}", "{'a': x}", "'a' * 10", "b'abc'", "f'{x}'", "x if y else z", "x and y", "not x", "x < y",
    "x[0]", "x[0:1]", "x; y", "x\nimport os", "import os", "x := 1", "(y := 1)", "*x", "await x", "yield x",
    "print(x)", "type(x)", "sum([1, 2])", "exp(x, y)", "exp()", "exp(x=1)", "sum(x, axis='a')",
    "sum(x, axis=10**100)", "sum(x, keepdims=1)", "exp(*x)", "exp(**x)",
    "9 ** 9 ** 9 ** 9", "10 ** 10 ** 10", "2 ** 1000000", "(2 ** 2) ** 1e9", "9" * 5000,
    "1" + "0" * 4000 + ".0", "1e999999", "-" * 5000 + "x", "(" * 1000 + "x" + ")" * 1000,
    "(" * 100 + "x" + ")" * 100, "exp(" * 200 + "x" + ")" * 200, "+".join(["x"] * 2000),
    "x" + "+x" * 300, "x" * 5000, "\x00", "x\x00", "\ufeffx", "ｘ + ｙ", "x \\\n + y", "#", "",
    "   ", "\t", "x # comment", "x @ y", "matmul(x, y)", "x / 0", "log(0 * x)", "sqrt(-1 + 0 * x)",
    "softmax(x, axis=5)", "max(x, axis=(0, 0))", "unknown_name + 1", "exp", "exp + 1",
    "x.__getattribute__('__class__')", "[].__class__", "''.join", "0 .real", "1 .__class__",
]

_RUNNER = textwrap.dedent("""
    import json, sys, time
    events = []
    BAD = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "exec", "socket.",
           "ctypes.", "os.remove", "os.rename", "shutil.")
    watching = [False]

    def hook(event, args):
        if not watching[0]:
            return
        if event.startswith(BAD) or (event == "open" and args and args[1] not in (None, "r", "rb")):
            events.append(event)
        if event == "import" and args[0].split(".")[0] in ("os", "subprocess", "socket", "ctypes", "shutil"):
            events.append("import " + args[0])

    sys.addaudithook(hook)
    import numpy as np
    from chainrule.cli.exprparse import ExprError, evaluate
    names = {"x": np.array([0.5, -1.0]), "y": np.array([2.0, 3.0]), "z": 1.5}
    for expr in json.loads(sys.stdin.read()):
        print(json.dumps({"start": expr}), flush=True)
        events.clear()
        t0 = time.perf_counter()
        watching[0] = True
        try:
            out = evaluate(expr, dict(names))
            res = {"ok": True, "shape": list(out.shape)}
        except ExprError as e:
            res = {"ok": False, "type": "ExprError", "msg": str(e)}
        except BaseException as e:
            res = {"ok": False, "type": type(e).__name__, "msg": str(e)}
        watching[0] = False
        res.update(expr=expr, seconds=time.perf_counter() - t0, events=list(events))
        print(json.dumps(res), flush=True)
""")

# hostile strings that are nonetheless valid, harmless arithmetic: a result is the right answer
MAY_EVALUATE = {"9 ** 9 ** 9 ** 9", "10 ** 10 ** 10", "(2 ** 2) ** 1e9", "1e999999", "x @ y", "matmul(x, y)",
                "x / 0", "log(0 * x)", "sqrt(-1 + 0 * x)", "ｘ + ｙ", "x \\\n + y", "x # comment", "\ufeffx",
                "(" * 100 + "x" + ")" * 100, "x" + "+x" * 300, "+".join(["x"] * 2000), "-" * 5000 + "x",
                "0 .real", "2 ** 1000000",
                "x[0]"}  # integer indexing of a given name is part of the language (issue 14)


def test_hostile_corpus_is_refused_without_running_anything(tmp_path):
    src = str(Path(exprparse.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=src)
    try:
        proc = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(HOSTILE), capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=120)
    except subprocess.TimeoutExpired as e:
        lines = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        starts = [json.loads(ln)["start"] for ln in lines.splitlines() if ln.startswith('{"start"')]
        pytest.fail(f"the parser hung on {starts[-1][:80]!r}" if starts else "the parser hung")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(ln) for ln in proc.stdout.splitlines() if not ln.startswith('{"start"')]
    assert len(results) == len(HOSTILE)
    assert not (tmp_path / "PWNED").exists() and os.listdir(tmp_path) == []
    problems = []
    for r in results:
        e = r["expr"]
        if r["events"]:
            problems.append(f"{e[:60]!r} ran code / reached the system: {r['events']}")
        if r["seconds"] > SECONDS:
            problems.append(f"{e[:60]!r} took {r['seconds']:.1f} s")
        if r["ok"]:
            if e not in MAY_EVALUATE:
                problems.append(f"{e[:60]!r} was evaluated instead of refused")
        elif r["type"] != "ExprError":
            problems.append(f"{e[:60]!r} raised {r['type']}: {r['msg'][:80]}")
        elif "\n" in r["msg"] or not r["msg"].strip():
            problems.append(f"{e[:60]!r}: message is not one line: {r['msg']!r}")
    assert not problems, "\n".join(problems)


def test_cli_explain_refuses_hostile_expressions(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for expr in ["__import__('os').system('touch PWNED')", "x.__class__", "(lambda: 1)()", "x +"]:
        rc = cli.main(["explain", expr, "x=1"])
        err = capsys.readouterr().err
        assert rc == 2, (expr, rc, err)
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    assert os.listdir(tmp_path) == []

