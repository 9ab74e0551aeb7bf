"""`chainrule explain EXPR NAME=VALUE ... [--html FILE] [--json] [--dot] [--expand] [--compare]`: the
backward pass of an expression, node by node (the expression parser is `exprparse`)."""

from __future__ import annotations

import json
import keyword
import sys
import warnings

import numpy as np

from ..core import ExprError, UsageError
from ..debug.naming import MAX_NAME
from ..ops import tensor
from ..viz import compare, explain
from .exprparse import MAX_ELEMENTS, evaluate_labelled


def add_explain_command(sub):
    p = sub.add_parser("explain", help="trace the backward pass of an expression, node by node",
                       description="Trace the backward pass of EXPR at the given values, e.g. "
                                   "chainrule explain \"(x + y) * z\" x=-2 y=5 z=-4")
    p.add_argument("expr", metavar="EXPR", help="numbers, names, + - * / ** @ and chainrule functions "
                                                 "such as sigmoid, exp, log, maximum, sum, softmax")
    p.add_argument("values", metavar="NAME=VALUE", nargs="*",
                   help="a value for each name: a number or a list such as [1,2,3]")
    p.add_argument("--html", metavar="FILE", help="also write the interactive page to FILE")
    p.add_argument("--dot", action="store_true", help="print Graphviz DOT text instead of the table")
    p.add_argument("--json", action="store_true",
                   help="print the trace in its versioned JSON format (docs/trace-format.md) instead of the table")
    p.add_argument("--expand", action="store_true",
                   help="trace sigmoid / softmax / log_softmax as their composite primitives")
    p.add_argument("--compare", action="store_true",
                   help="show the fused and the expanded trace side by side")
    p.set_defaults(run=_run_explain)


def _parse_value(name, text):
    try:
        v = json.loads(text) if text.lstrip().startswith("[") else float(text)
        a = np.asarray(v, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise _usage(f"explain: cannot read the value of {name}: {text!r:.60} (a number or a list like "
                     "[1,2,3])") from None
    if a.size > MAX_ELEMENTS:
        raise _usage(f"explain: {name} has {a.size:,} elements; at most {MAX_ELEMENTS:,}")
    return a


def _usage(msg):
    return UsageError(msg)


def _numpy_quiet(run):
    """`run` without NumPy's warnings (x/0, log(0), overflow), which would show library source lines:
    the table shows the inf / nan they produce, and one note line on stderr says which results."""
    def quiet(args):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return run(args)
    return quiet


def _not_finite(tr, values):
    """One line naming the output and leaf gradients that are inf or nan, or None."""
    bad = [f"{tr.output_name} = {float(np.asarray(tr.output_value).reshape(-1)[0])}"] if not np.all(
        np.isfinite(tr.output_value)) else []
    grads = [k for k, g in tr.grads.items() if g is not None and not np.all(np.isfinite(g))]
    bad += [f"the gradient{'s' if len(grads) > 1 else ''} of {', '.join(grads)}"] if grads else []
    if not bad:
        return None
    given = [k for k, v in values.items() if not np.all(np.isfinite(v))]
    why = (f"the value of {', '.join(given)} is not finite" if given else
           "a division by zero, log of 0, or an overflow in float64")
    return f"explain: note: not finite: {', '.join(bad)} ({why})"


@_numpy_quiet
def _run_explain(args):
    shown = [flag for flag, on in (("--compare", args.compare), ("--dot", args.dot), ("--json", args.json)) if on]
    if len(shown) > 1:
        raise _usage(f"explain: {' and '.join(shown)} each print the trace in their own form; give one")
    values = {}
    for item in args.values:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier() or keyword.iskeyword(name):
            raise _usage(f"explain: expected NAME=VALUE, got {item!r:.60}")
        values[name] = _parse_value(name, text)

    def run(expand):
        leaves = {k: tensor(v, requires_grad=True, name=k) for k, v in values.items()}
        try:
            out, labels = evaluate_labelled(args.expr, leaves, expand=expand, strict=True, max_label=MAX_NAME)
        except ExprError as e:
            raise _usage(f"explain: {e}") from None
        if not out.requires_grad:
            raise _usage("explain: the expression does not depend on any NAME=VALUE given")
        if out.is_leaf:
            raise _usage(f"explain: {args.expr.strip()!r:.40} is just the value of {out.name}: there is no "
                         f"backward pass to trace (try e.g. 2*{out.name})")
        if out.numel() != 1:
            raise _usage(f"explain: the expression has shape {out.shape}; the backward pass starts from a "
                         "single number: reduce it, e.g. sum(...)")
        labels = {k: t for k, t in labels.items() if t is not out and k not in leaves}
        tr = explain(out, names={"f": out, **labels})
        tr.expression = args.expr
        return tr

    tr = run(args.expand)
    note = _not_finite(tr, values)
    if args.compare:
        print(compare(run(False), run(True), labels=("fused", "expanded")))
    elif args.dot:
        print(tr.to_dot(), end="")
    elif args.json:
        print(tr.to_json())
    else:
        print(tr)
    if args.html:
        try:
            tr.to_html(args.html)
        except OSError as e:
            raise _usage(f"explain: cannot write {args.html}: {e.strerror or e}") from None
        print(f"interactive page written to {args.html}", file=sys.stderr)
    if note:
        print(note, file=sys.stderr)
    return 0
