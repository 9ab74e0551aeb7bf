"""A safe parser for the expressions of `chainrule explain "EXPR" NAME=VALUE ...`.

    evaluate("sigmoid(w0*x0 + w1*x1 + w2)", {"w0": w0, ...}) -> Tensor

The expression is parsed by Python's `ast` and walked against a whitelist: numbers, the given
names, `+ - * / ** @`, unary minus and plus, and calls of the chainrule functions in FUNCTIONS
(with the keyword arguments `axis` and `keepdims` only). Every other construct (attributes,
other calls, lambdas, comprehensions, strings, comparisons, slices, ...) is refused with a
one-line `ExprError` before anything is evaluated. `max(a, b)` / `min(a, b)` with two arguments
are the lecture's max / min gates (`maximum` / `minimum`); with one they reduce. A given name may
be indexed by integer constants (`w[0]`, `W[1, 2]`, `x[-1]`). With `strict=True` (what
`chainrule explain` uses) a given name that the expression never uses is an error.
Nothing is ever passed to eval/exec; the evaluation is our own walk of the tree, on Tensors,
in float64. The length, the size and depth of the tree and constant exponents are bounded, and so
is the work: before an operator or function that can grow its operands (broadcasting, `@`) runs,
the size of its result is checked against MAX_ELEMENTS (which also bounds a matmul of such
operands to MAX_ELEMENTS**1.5 multiply-adds), so that no input can hang or allocate without bound.
"""

from __future__ import annotations

import ast
import math
import warnings

import numpy as np

from .. import ops
from ..core import ExprError
from ..ops import Tensor, tensor
from ..ops.composite import log_softmax_composite, softmax_composite

__all__ = ["ExprError", "evaluate", "evaluate_labelled", "parse", "FUNCTIONS", "MAX_LENGTH", "MAX_NODES",
           "MAX_DEPTH", "MAX_EXPONENT", "MAX_ELEMENTS"]

MAX_LENGTH = 1000    # characters
MAX_NODES = 400      # AST nodes
MAX_DEPTH = 32       # nesting of operators and calls
MAX_EXPONENT = 1000  # |c| for a constant exponent in x ** c
MAX_ELEMENTS = 10_000  # elements of a given value or of any intermediate result


# name -> (function, number of positional arguments, keyword arguments it accepts)
_UNARY = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu")
FUNCTIONS = {name: (getattr(ops, name), 1, ()) for name in _UNARY}
FUNCTIONS.update({
    "sigmoid_composite": (ops.sigmoid_composite, 1, ()),
    "maximum": (ops.maximum, 2, ()),
    "minimum": (ops.minimum, 2, ()),
    "matmul": (ops.matmul, 2, ()),
    "sum": (ops.sum, 1, ("axis", "keepdims")),
    "mean": (ops.mean, 1, ("axis", "keepdims")),
    "max": (ops.max, 1, ("axis", "keepdims")),
    "min": (ops.min, 1, ("axis", "keepdims")),
    "logsumexp": (ops.logsumexp, 1, ("axis", "keepdims")),
    "softmax": (ops.softmax, 1, ("axis",)),
    "log_softmax": (ops.log_softmax, 1, ("axis",)),
    "softmax_composite": (softmax_composite, 1, ("axis",)),
    "log_softmax_composite": (log_softmax_composite, 1, ("axis",)),
})

#: fused function -> its composite twin, for `evaluate(..., expand=True)`
EXPANDED = {"sigmoid": "sigmoid_composite", "softmax": "softmax_composite",
            "log_softmax": "log_softmax_composite"}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}

_REFUSED = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "and/or",
    ast.IfExp: "conditional expressions", ast.Dict: "dicts", ast.Set: "sets", ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment (:=)", ast.Starred: "starred arguments", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices", ast.FormattedValue: "f-strings",
}


def parse(expr):
    """Parse and check `expr`; return its `ast.Expression` or raise ExprError."""
    if not isinstance(expr, str):
        raise ExprError(f"expression must be a string, got {type(expr).__name__}")
    if len(expr) > MAX_LENGTH:
        raise ExprError(f"expression too long ({len(expr)} characters; at most {MAX_LENGTH})")
    if not expr.strip():
        raise ExprError("empty expression")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"invalid syntax: {e.msg}" + (f" (column {e.offset})" if e.offset else "")) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise ExprError(f"cannot parse the expression: {type(e).__name__}: {e}") from None
    _check(tree)
    return tree


def _check(tree):
    count = 0
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExprError(f"expression too large (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise ExprError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
        kind = type(node)
        if kind is ast.Constant:
            _number(node)
        elif kind is ast.Name:
            pass
        elif kind is ast.BinOp:
            if type(node.op) not in _BINOPS:
                raise ExprError(f"operator {type(node.op).__name__} is not allowed (use + - * / ** @)")
            if type(node.op) is ast.Pow:
                c = _constant_value(node.right)
                if c is not None and abs(c) > MAX_EXPONENT:
                    raise ExprError(f"exponent {c:g} is too large (at most {MAX_EXPONENT} in size)")
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif kind is ast.UnaryOp:
            if type(node.op) not in (ast.USub, ast.UAdd):
                raise ExprError(f"operator {type(node.op).__name__} is not allowed (only unary - and +)")
            stack.append((node.operand, depth + 1))
        elif kind is ast.Subscript:
            _index(node)
        elif kind is ast.Call:
            fname = _call_name(node)
            _, nargs, kws = FUNCTIONS[fname]
            if fname in _GATES and len(node.args) == 2:
                fname, nargs, kws = _GATES[fname], 2, ()
            if len(node.args) != nargs:
                plural = "s" if nargs > 1 else ""
                also = " (or 2, the max/min gate)" if fname in _GATES else ""
                raise ExprError(f"{fname}() takes {nargs} argument{plural}{also}, got {len(node.args)}")
            for kw in node.keywords:
                if kw.arg not in kws:
                    allowed = ", ".join(kws) or "none"
                    raise ExprError(f"{fname}(): keyword {kw.arg or '**'} is not allowed "
                                    f"(allowed: {allowed})")
                _keyword_value(fname, kw)
            stack += [(a, depth + 1) for a in node.args]
        else:
            what = _REFUSED.get(kind, f"'{kind.__name__}'")
            raise ExprError(f"{what} not allowed in an expression (only numbers, the given names, "
                            "+ - * / ** @ and calls of chainrule functions such as sigmoid(...))")


#: two-argument max / min: the lecture's max gate, as in `python -m chainrule`'s labels
_GATES = {"max": "maximum", "min": "minimum"}


def _index(node):
    """The integer index tuple of `name[i]` / `name[i, j]`; anything else is refused."""
    if type(node.value) is not ast.Name:
        raise ExprError("only a given name can be indexed, e.g. w[0]")
    items = node.slice.elts if type(node.slice) is ast.Tuple else [node.slice]
    out = []
    for it in items:
        c = _constant_value(it)
        if c is None or type(_strip_sign(it).value) is not int:
            raise ExprError(f"index of {node.value.id} must be integer constants, e.g. {node.value.id}[0]")
        out.append(int(c))
    return tuple(out)


def _strip_sign(node):
    while type(node) is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
        node = node.operand
    return node


def _number(node):
    v = node.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ExprError(f"only numbers are allowed as constants, got {type(v).__name__} {str(v)[:20]!r}")
    try:
        return float(v)
    except OverflowError:
        raise ExprError("number too large") from None


def _constant_value(node):
    sign = 1.0
    while type(node) is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
        sign = -sign if type(node.op) is ast.USub else sign
        node = node.operand
    if type(node) is ast.Constant:
        return sign * _number(node)
    return None


def _call_name(node):
    if type(node.func) is not ast.Name:
        what = "method calls" if type(node.func) is ast.Attribute else "this kind of call"
        raise ExprError(f"{what} not allowed; call one of: {', '.join(sorted(FUNCTIONS))}")
    name = node.func.id
    if name not in FUNCTIONS:
        raise ExprError(f"function {name!r} is not allowed; allowed: {', '.join(sorted(FUNCTIONS))}")
    return name


def _keyword_value(fname, kw):
    v = kw.value
    if kw.arg == "keepdims":
        if type(v) is ast.Constant and isinstance(v.value, bool):
            return v.value
        raise ExprError(f"{fname}(): keepdims must be True or False")
    items = v.elts if type(v) is ast.Tuple else [v]
    axes = []
    for it in items:
        sign = 1
        while type(it) is ast.UnaryOp and type(it.op) in (ast.USub, ast.UAdd):
            sign = -sign if type(it.op) is ast.USub else sign
            it = it.operand
        if (type(it) is not ast.Constant or isinstance(it.value, bool) or not isinstance(it.value, int)
                or abs(it.value) > 64):
            raise ExprError(f"{fname}(): axis must be a small integer or a tuple of them")
        axes.append(sign * it.value)
    return tuple(axes) if type(v) is ast.Tuple else axes[0]


def evaluate(expr, names, expand=False):
    """Evaluate `expr` on `names` ({name: Tensor, array or number}); return a Tensor.

    `expand=True` replaces the fused sigmoid / softmax / log_softmax with their composite twins.
    Raises ExprError (a ValueError, one-line message) for anything refused or failing.
    """
    return evaluate_labelled(expr, names, expand)[0]


def evaluate_labelled(expr, names, expand=False, max_label=16, strict=False):
    """As `evaluate`, and also {source text: Tensor} for the subexpressions whose source text
    has at most `max_label` characters: labels for a trace (the node of `x + y` is 'x + y').
    `strict=True` refuses names given but not used (a typo in the CLI would go unnoticed)."""
    tree = parse(expr)
    if not isinstance(names, dict):
        raise ExprError(f"names must be a dict of name -> value, got {type(names).__name__}")
    env = {}
    for k, v in names.items():
        try:
            env[k] = v if isinstance(v, Tensor) else tensor(np.asarray(v, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise ExprError(f"value of {k!s:.40}: {e}") from None
    used = {n.id for n in ast.walk(tree) if type(n) is ast.Name and n.id in env}
    unused = [k for k in env if k not in used]
    if strict and unused:
        raise ExprError(f"name{'s' if len(unused) > 1 else ''} given but not used in the expression: "
                        f"{', '.join(map(str, unused))}")
    labels = {}
    ev = _Evaluator(env, expand, labels, expr.strip(), max_label)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ev(tree.body)
    except ExprError:
        raise
    except (ValueError, TypeError, ArithmeticError, IndexError, RuntimeError, MemoryError) as e:
        raise ExprError(f"cannot evaluate {expr.strip()!r:.80}: {e}") from None
    return (out if isinstance(out, Tensor) else tensor(out)), labels


class _Evaluator:
    def __init__(self, env, expand, labels, source, max_label):
        self.env, self.expand, self.labels = env, expand, labels
        self.source, self.max_label = source, max_label

    def __call__(self, node):
        out = self._eval(node)
        if type(node) in (ast.BinOp, ast.UnaryOp, ast.Call, ast.Subscript) and out._node is not None:
            text = ast.get_source_segment(self.source, node)
            if text and len(text) <= self.max_label and text not in self.labels:
                self.labels[text] = out
        return out

    def _eval(self, node):
        kind = type(node)
        if kind is ast.Constant:
            return tensor(_number(node))
        if kind is ast.Name:
            if node.id in self.env:
                return self.env[node.id]
            if node.id in FUNCTIONS:
                raise ExprError(f"{node.id} is a function: call it, e.g. {node.id}(x)")
            given = ", ".join(sorted(self.env)) or "none"
            raise ExprError(f"unknown name {node.id!r} (names given: {given})")
        if kind is ast.UnaryOp:
            v = self(node.operand)
            return -v if type(node.op) is ast.USub else v
        if kind is ast.BinOp:
            a, b = self(node.left), self(node.right)
            op = type(node.op)
            _check_work(_BINOPS[op], a, b, matmul=op is ast.MatMult)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            if op is ast.Pow:
                return a ** b
            return a @ b
        if kind is ast.Subscript:
            base, idx = self(node.value), _index(node)
            if len(idx) > base.ndim:
                raise ExprError(f"{node.value.id}[{', '.join(map(str, idx))}]: too many indices for "
                                f"shape {tuple(base.shape)}")
            for i, (k, n) in enumerate(zip(idx, base.shape)):
                if not -n <= k < n:
                    raise ExprError(f"{node.value.id}[{', '.join(map(str, idx))}]: index {k} is out of "
                                    f"range for axis {i} of size {n} (shape {tuple(base.shape)})")
            return base[idx if len(idx) > 1 else idx[0]]
        if kind is ast.Call:
            name = node.func.id
            if name in _GATES and len(node.args) == 2:
                name = _GATES[name]
            if self.expand and name in EXPANDED:
                name = EXPANDED[name]
            fn = FUNCTIONS[name][0]
            args = [self(a) for a in node.args]
            if len(args) == 2:
                _check_work(f"{name}()", *args, matmul=name == "matmul")
            kwargs = {kw.arg: _keyword_value(name, kw) for kw in node.keywords}
            return fn(*args, **kwargs)
        raise ExprError(f"'{kind.__name__}' not allowed")  # unreachable after parse()


def _check_work(what, a, b, matmul=False):
    """Refuse, before it runs, an operation whose result would have more than MAX_ELEMENTS elements:
    broadcasting a column against a row squares the size, and a chain of such products grows as N**3."""
    try:
        if not matmul:
            shape = np.broadcast_shapes(a.shape, b.shape)
        elif a.ndim and b.ndim:
            sa = a.shape if a.ndim > 1 else (1,) + a.shape
            sb = b.shape if b.ndim > 1 else b.shape + (1,)
            shape = np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1])
        else:
            return
    except ValueError:
        return  # shapes that do not combine: the op's own error names them
    if math.prod(shape) > MAX_ELEMENTS:
        raise ExprError(f"{what} of shapes {tuple(a.shape)} and {tuple(b.shape)} is too large: its result "
                        f"would have {math.prod(shape):,} elements (at most {MAX_ELEMENTS:,})")
