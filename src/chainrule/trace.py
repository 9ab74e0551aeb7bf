"""The backward pass, recorded node by node: `explain(output) -> Trace`.

Every node of the lecture's computational graph receives an *upstream* gradient, multiplies it
by its *local* gradient and passes the *downstream* gradients to its inputs. `explain` runs the
ordinary backward pass (the same engine, through `graph.run_backward`'s hook) and keeps, for each
node it visits:

    op, gate pattern, inputs (name, shape, value), value, upstream, local, downstream,
    the broadcast axes summed per input, the Jacobian it did not build, and, for a value used
    more than once, the gradients that were summed (the copy gate).

    import chainrule as cr
    x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
    tr = cr.explain((x + y) * z)
    print(tr)             # the table; tr.to_dot(), tr.to_html(path), tr.to_svg() draw it

The trace holds every upstream and downstream gradient of the pass: it is meant for graphs a
person reads, not for training runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import graph as _graph
from .graph import Node, broadcast_axes
from .tensor import Tensor, tensor

__all__ = ["explain", "Trace", "Step", "InputInfo", "LeafInfo", "Jacobian", "compare", "fmt_value",
           "fmt_bytes"]

GATE_TEXT = {
    "distributes": "distributes the upstream gradient unchanged to its inputs",
    "swaps": "swaps: each input receives upstream × the other input",
    "routes": "routes the upstream gradient to the selected input(s); the others get 0",
    "accumulates": "a value used more than once: its incoming gradients are summed (copy gate)",
}

OP_SYMBOL = {
    "add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−x", "power": "xʸ", "matmul": "@",
    "sigmoid": "σ", "maximum": "max", "minimum": "min", "exp": "exp", "log": "log", "sqrt": "√",
    "tanh": "tanh", "relu": "relu", "abs": "|x|", "sum": "Σ", "mean": "mean", "softmax": "softmax",
    "transpose": "ᵀ", "getitem": "[ ]",
}


@dataclass
class InputInfo:
    """One input of a step: its name, shape, kind ('leaf', 'node' or 'const') and value."""
    name: str
    shape: tuple
    kind: str
    value: np.ndarray | None  # None where the forward value was not kept (large intermediate)


@dataclass
class Jacobian:
    """The Jacobian d(output)/d(input) of one step: how big it would be, how it is structured, and
    what the rule spent instead of building it."""
    rows: int           # output elements
    cols: int           # input elements
    itemsize: int
    structure: str      # "diagonal", "diagonal, then summed over axes (0,)", or the rule's formula
    spent_bytes: int    # bytes of the gradient array the rule produced for this input

    @property
    def dense_bytes(self):
        return self.rows * self.cols * self.itemsize

    @property
    def saved_bytes(self):
        """Memory not spent, compared with building the dense Jacobian."""
        return max(self.dense_bytes - self.spent_bytes, 0)

    def describe(self):
        if self.structure.startswith("diagonal"):
            how = f"is {self.structure}: only its diagonal was computed"
        else:
            how = "is never formed: the rule's formula gives its product with upstream directly"
        return (f"Jacobian {self.rows:,}×{self.cols:,} ({fmt_bytes(self.dense_bytes)} dense) {how}; "
                f"spent {fmt_bytes(self.spent_bytes)}, not spent {fmt_bytes(self.saved_bytes)}")


@dataclass
class Step:
    """One node of the backward pass (see the module docstring for the fields)."""
    index: int                       # 1-based position in backward order
    name: str                        # the name of the node's output
    op: str                          # the primitive's registered name
    gate: str | None                 # the primitive's gate pattern (distributes, swaps, routes) or None
    inputs: list[InputInfo]
    value: np.ndarray | None         # forward output (None where not kept)
    shape: tuple
    upstream: np.ndarray             # dL/d(output): the sum of `sources` when the value was used twice
    local: list                      # per input: array/number (elementwise), formula text, or None
    downstream: list                 # per input: dL/d(input) after broadcast reduction, or None
    broadcast: list                  # per input: the axes summed to reach the input's shape, or None
    jacobian: list                   # per input: Jacobian or None
    sources: list = field(default_factory=list)  # [(consumer name, gradient)] that were summed
    params: dict = field(default_factory=dict)

    @property
    def accumulates(self):
        """True when this value was used more than once (a copy gate summed its gradients)."""
        return len(self.sources) > 1

    @property
    def gates(self):
        """Every pattern at this node: the primitive's gate, and 'accumulates' for a copy gate."""
        return [g for g in (self.gate, "accumulates" if self.accumulates else None) if g]

    def explain_gate(self):
        return "; ".join(GATE_TEXT[g] for g in self.gates if g in GATE_TEXT)

    def formula_for(self, i):
        """The chain-rule line for input i: 'dL/dx = upstream × local = downstream' in text."""
        inp, loc, down = self.inputs[i], self.local[i], self.downstream[i]
        if down is None:
            return f"{inp.name}: no gradient needed"
        if isinstance(loc, str):
            return f"{loc} = {fmt_value(down)}"
        s = f"dL/d{d(inp.name)} = upstream × local = {fmt_value(self.upstream)} × {fmt_value(loc)}"
        if self.broadcast[i]:
            s += f", summed over axes {self.broadcast[i]}"
        return s + f" = {fmt_value(down)}"


@dataclass
class LeafInfo:
    """A leaf tensor the pass reached, its gradient from this pass and where that came from."""
    name: str
    shape: tuple
    value: np.ndarray
    grad: np.ndarray
    sources: list = field(default_factory=list)  # [(consumer name, gradient)]

    @property
    def accumulates(self):
        return len(self.sources) > 1


class Trace:
    """The recorded backward pass. `steps` in backward order, `leaves` in forward order."""

    def __init__(self, output_name, output_value, steps, leaves):
        self.output_name = output_name
        self.output_value = output_value
        self.steps = steps
        self.leaves = leaves

    @property
    def grads(self):
        """{leaf name: gradient of this pass}."""
        return {lf.name: lf.grad for lf in self.leaves}

    def step(self, name_or_op):
        """The first step whose node name or op is `name_or_op`."""
        for s in self.steps:
            if name_or_op in (s.name, s.op):
                return s
        raise KeyError(f"trace: no step named or of op {name_or_op!r}; steps: {[s.name for s in self.steps]}")

    def __len__(self):
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __repr__(self):
        return (f"<Trace of {self.output_name} = {fmt_value(self.output_value)}: {len(self.steps)} nodes, "
                f"{len(self.leaves)} leaves>")

    def __str__(self):
        return table(self)

    # the drawings live in viz/; imported lazily so the core never needs them
    def to_dot(self, rankdir="LR"):
        from .viz.dot import to_dot

        return to_dot(self, rankdir=rankdir)

    def to_svg(self):
        from .viz.dot import to_svg

        return to_svg(self)

    def render(self, path, format=None):
        from .viz.dot import render

        return render(self, path, format=format)

    def to_html(self, path=None, title=None):
        """The interactive page as a string; also written to `path` when given."""
        from .viz.html import to_html

        return to_html(self, path, title=title)

    def _repr_html_(self):
        from .viz.html import table_html

        return table_html(self)


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------

def explain(output, grad=None, retain_graph=False, names=None):
    """Run `output.backward(grad, retain_graph)` while recording every node; return a `Trace`.

    The leaves' `.grad` are filled exactly as by backward(). `names` ({name: Tensor}) labels
    intermediate values (e.g. `names={"q": q}`); leaves are labelled by `cr.tensor(..., name=)`,
    everything else gets a generated name (the op and its position in the forward pass).
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError("explain: this tensor does not require grad (no input had requires_grad=True, "
                           "or it was computed under no_grad)")
    root = output._node
    if root is None:
        raise RuntimeError(f"explain: the output is a leaf ({output.name or 'unnamed'}); there is no "
                           "backward pass to explain")
    data = output._data
    if grad is None:
        if data.size != 1:
            raise RuntimeError(f"explain: the output has shape {data.shape}; explain() without grad= needs a "
                               "single-element output (reduce it first, e.g. .sum())")
        g = np.ones_like(data)
    else:
        g = np.asarray(getattr(grad, "_data", grad), dtype=data.dtype)
        if g.shape != data.shape:
            raise ValueError(f"explain: grad has shape {g.shape} but the output has shape {data.shape}")

    rec = _Recorder(output, root, names or {})
    _graph.run_backward(root, g, retain_graph=retain_graph, create_graph=False, hook=rec.hook)
    return rec.finish()


class _Recorder:
    def __init__(self, output, root, names):
        self.named = {}
        for n, t in dict(names).items():
            if not isinstance(t, Tensor):
                raise TypeError(f"explain: names must map a name to a Tensor; {n!r} maps to "
                                f"{type(t).__name__}")
            self.named[t._node if t._node is not None else t] = str(n)
        nodes = sorted(_graph.reachable(root), key=lambda n: n.seq)  # forward order
        self.names = {}
        self.values = {}
        self.leaves = []
        used = set()
        leaf_k = 0
        for k, node in enumerate(nodes, 1):
            for p in node.parents:
                if isinstance(p, Tensor) and p not in self.names:
                    nm = self.named.get(p) or p.name
                    if not nm:
                        leaf_k += 1
                        nm = f"leaf{leaf_k}"
                    self.names[p] = _unique(nm, used)
                    self.leaves.append(p)
            nm = self.named.get(node)
            if node is root:
                nm = nm or output.name or "out"
            self.names[node] = _unique(nm or f"{node.prim.name}{k}", used)
            self.values[node] = output._data if node is root else node.ans
        self.used = used
        self.sources = {}
        self.steps = []
        self.output_name = self.names[root]
        self.output_value = output._data

    def _input_infos(self, node):
        infos = []
        for i, (p, shape) in enumerate(zip(node.parents, node.shapes)):
            if type(p) is Node:
                infos.append(InputInfo(self.names[p], shape, "node", self.values.get(p)))
            elif isinstance(p, Tensor):
                infos.append(InputInfo(self.names[p], shape, "leaf", p._data))
            else:
                v = node.saved[i] if node.saved is not _graph.FREED else None
                v = None if v is None else np.asarray(v)
                infos.append(InputInfo(_const_name(v, shape), shape, "const", v))
        return infos

    def hook(self, node, upstream, raw, grads):
        prim = node.prim
        name = self.names[node]
        index = len(self.steps) + 1
        inputs = self._input_infos(node)
        upstream = np.asarray(upstream)
        locals_ = _local_gradients(node, upstream, inputs)
        bcast, jac = [], []
        for i, (p, r, gi, shape) in enumerate(zip(node.parents, raw, grads, node.shapes)):
            if p is None or r is None:
                bcast.append(None)
                jac.append(None)
                continue
            r = np.asarray(r)
            axes = broadcast_axes(r.shape, shape) if r.shape != shape else ()
            bcast.append(axes or None)
            if prim.elementwise:
                structure = "diagonal" + (f", then summed over axes {axes}" if axes else "")
            else:
                structure = formula_text(prim, i, inputs)
            jac.append(Jacobian(int(upstream.size), int(np.prod(shape, dtype=np.int64)),
                                upstream.dtype.itemsize, structure, int(r.nbytes)))
            src = (name, np.asarray(gi))
            self.sources.setdefault(p, []).append(src)
        downstream = [None if gi is None else np.asarray(gi) for gi in grads]
        sources = self.sources.pop(node, [])
        value = self.values.get(node)
        self.steps.append(Step(index, name, prim.name, prim.gate, inputs, value,
                               tuple(upstream.shape), upstream, locals_, downstream, bcast, jac,
                               sources, dict(node.params)))

    def finish(self):
        leaves = []
        for t in self.leaves:
            src = self.sources.get(t, [])
            g = None
            for _, gi in src:
                g = gi if g is None else g + gi
            if g is None:
                continue
            leaves.append(LeafInfo(self.names[t], t._data.shape, t._data, np.asarray(g), src))
        return Trace(self.output_name, self.output_value, self.steps, leaves)


def d(name):
    """'dL/d' + name, with parentheses around a label such as 'x + y'."""
    return name if name.isidentifier() else f"({name})"


def _unique(name, used):
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def _const_name(v, shape):
    if v is not None and v.size == 1:
        return fmt_value(v)
    return f"const{tuple(shape)}"


def _local_gradients(node, upstream, inputs):
    """Per input: the local derivative array (elementwise primitives: the rule run with g = 1),
    or the rule as a formula (everything else), or None (no gradient needed)."""
    prim = node.prim
    need = node.parents
    if prim.elementwise and node.saved is not _graph.FREED:
        from .primitive import ARRAY_NS

        ones = np.ones_like(upstream)
        with np.errstate(all="ignore"):
            raw = prim.vjp(ARRAY_NS, need, ones, node.ans, *node.saved, **node.params)
        raw = raw if type(raw) is tuple else (raw,)
        return [None if (p is None or r is None) else np.asarray(r) for p, r in zip(need, raw)]
    return [None if p is None else formula_text(prim, i, inputs) for i, p in enumerate(need)]


def formula_text(prim, i, inputs):
    """'dL/d<name> = ...' for input i of a non-elementwise primitive."""
    name = inputs[i].name
    if prim.name == "matmul":
        a, b = inputs[0].name, inputs[1].name
        return (f"dL/d{d(name)} = upstream @ {d(b)}ᵀ" if i == 0 else f"dL/d{d(name)} = {d(a)}ᵀ @ upstream")
    text = prim.formula or f"dL/d{d(name)} = {prim.name} backward rule applied to upstream"
    parts = [p.strip() for p in text.split(",  ")]
    if len(parts) == len(inputs):
        text = parts[i]
    return re.sub(r"^dL/d\S+ =", lambda m: f"dL/d{d(name)} =", text)


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

def _num(v):
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.4g}"


def fmt_value(v, max_items=6):
    """A number as '-0.1966'; a small array as '[0.2, 0.4]'; a large one as 'shape [a, b, c, …]'."""
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    a = np.asarray(v)
    if a.dtype.kind == "c":
        a = a.real
    if a.ndim == 0:
        return _num(a)
    if a.size <= max_items:
        return _nested(a)
    head = ", ".join(_num(x) for x in a.reshape(-1)[:3])
    return f"{_shape_text(a.shape)} [{head}, …]"


def _nested(a):
    if a.ndim == 1:
        return "[" + ", ".join(_num(x) for x in a) + "]"
    return "[" + ", ".join(_nested(r) for r in a) + "]"


def _shape_text(shape):
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def fmt_bytes(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000


def _value_text(v, shape):
    if v is None:
        return f"{_shape_text(tuple(shape))} not kept"
    return fmt_value(v)


def table(tr):
    """The trace as a text table: one row per input of each step, then the leaves' gradients."""
    head = ["#", "node", "op", "gate", "value", "upstream", "│", "input", "shape", "input value", "local",
            "downstream"]
    rows = []
    notes = {}
    for s in tr.steps:
        gate = "+".join(s.gates) or "—"
        first = True
        for i, inp in enumerate(s.inputs):
            loc = s.local[i]
            if isinstance(loc, str):
                loc_text = "formula ⁽ᵃ⁾"
            elif loc is None:
                loc_text = "—"
            else:
                loc_text = fmt_value(loc)
                if s.gate == "swaps" and len(s.inputs) == 2 and np.asarray(loc).size == 1:
                    loc_text += f" (= {s.inputs[1 - i].name})"
            left = ([str(s.index), s.name, s.op, gate, _value_text(s.value, s.shape), fmt_value(s.upstream)]
                    if first else [""] * 6)
            rows.append(left + ["│", inp.name, _shape_text(inp.shape), _value_text(inp.value, inp.shape),
                                loc_text, fmt_value(s.downstream[i])])
            first = False
        notes[len(rows)] = _step_notes(s)
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
    right = {0, 4, 5, 9, 10, 11}

    def line(r):
        cells = [c.rjust(w) if j in right else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()

    leaves = "1 leaf" if len(tr.leaves) == 1 else f"{len(tr.leaves)} leaves"
    out = [f"backward pass of {tr.output_name} = {fmt_value(tr.output_value)}: {len(tr.steps)} nodes in "
           f"backward order, {leaves}", line(head)]
    for k, r in enumerate(rows, 1):
        out.append(line(r))
        for n in notes.get(k, []):
            out.append(" " * (widths[0] + 2) + "  · " + n)
    out.append("leaves: " + ";  ".join(
        f"{lf.name} = {fmt_value(lf.value)}  dL/d{d(lf.name)} = {fmt_value(lf.grad)}"
        + (f" (sum of {len(lf.sources)}: {' + '.join(fmt_value(g) for _, g in lf.sources)})"
           if lf.accumulates else "")
        for lf in tr.leaves))
    return "\n".join(out)


def _step_notes(s):
    notes = []
    if s.accumulates:
        parts = " + ".join(f"{fmt_value(g)} (from {c})" for c, g in s.sources)
        notes.append(f"copy gate: {s.name} is used {len(s.sources)} times; upstream = {parts} "
                     f"= {fmt_value(s.upstream)}")
    for i, inp in enumerate(s.inputs):
        if isinstance(s.local[i], str):
            notes.append(f"⁽ᵃ⁾ {s.local[i]}")
        if s.broadcast[i]:
            notes.append(f"broadcast: the gradient for {inp.name} was summed over axes {s.broadcast[i]} "
                         f"to shape {_shape_text(inp.shape)}")
        j = s.jacobian[i]
        if j is not None and j.saved_bytes > 0:
            notes.append(f"d{d(s.name)}/d{d(inp.name)}: {j.describe()}")
    return list(dict.fromkeys(notes))


# ---------------------------------------------------------------------------------------------
# Fused vs composite
# ---------------------------------------------------------------------------------------------

class Comparison:
    """Two traces of the same function side by side (e.g. a fused sigmoid and its composite)."""

    def __init__(self, a, b, labels=("fused", "composite")):
        self.a, self.b, self.labels = a, b, tuple(labels)

    def max_grad_difference(self):
        ga, gb = self.a.grads, self.b.grads
        common = set(ga) & set(gb)
        if not common:
            raise ValueError("compare: the traces share no leaf names")
        return max(float(np.max(np.abs(ga[k] - gb[k]), initial=0.0)) for k in common)

    def same_gradients(self, rtol=1e-7, atol=1e-12):
        ga, gb = self.a.grads, self.b.grads
        return set(ga) == set(gb) and all(np.allclose(ga[k], gb[k], rtol=rtol, atol=atol) for k in ga)

    def __str__(self):
        la, lb = self.labels
        row = lambda s: f"{s.index:>2} {s.op:<8} {fmt_value(s.value):>10}  up {fmt_value(s.upstream)}"
        ca, cb = [row(s) for s in self.a.steps], [row(s) for s in self.b.steps]
        w = max([len(c) for c in ca] + [len(la) + 12])
        out = [f"{(la + f' ({len(self.a.steps)} nodes)'):<{w}}   {lb} ({len(self.b.steps)} nodes)"]
        for k in range(max(len(ca), len(cb))):
            out.append(f"{(ca[k] if k < len(ca) else ''):<{w}}   {cb[k] if k < len(cb) else ''}".rstrip())
        out.append(f"output: {fmt_value(self.a.output_value)} vs {fmt_value(self.b.output_value)}")
        ga, gb = self.a.grads, self.b.grads
        for k in ga:
            if k in gb:
                out.append(f"dL/d{d(k)}: {fmt_value(ga[k])} vs {fmt_value(gb[k])}")
        out.append(f"largest gradient difference: {self.max_grad_difference():.2g}")
        return "\n".join(out)

    __repr__ = __str__


def compare(a, b, labels=("fused", "composite")):
    """Put two traces side by side: node counts, values, upstream gradients and leaf gradients."""
    return Comparison(a, b, labels)


# ---------------------------------------------------------------------------------------------
# The command: chainrule explain EXPR NAME=VALUE ... [--html FILE] [--dot] [--expand] [--compare]
# ---------------------------------------------------------------------------------------------

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
    p.add_argument("--expand", action="store_true",
                   help="trace sigmoid / softmax / log_softmax as their composite primitives")
    p.add_argument("--compare", action="store_true",
                   help="show the fused and the expanded trace side by side")
    p.set_defaults(run=_run_explain)


def _parse_value(name, text):
    import json

    try:
        v = json.loads(text) if text.lstrip().startswith("[") else float(text)
        a = np.asarray(v, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise _usage(f"explain: cannot read the value of {name}: {text!r:.60} (a number or a list like "
                     "[1,2,3])") from None
    return a


def _usage(msg):
    from .cli import UsageError

    return UsageError(msg)


def _run_explain(args):
    import keyword
    import sys

    from .exprparse import ExprError, evaluate_labelled

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
            out, labels = evaluate_labelled(args.expr, leaves, expand=expand)
        except ExprError as e:
            raise _usage(f"explain: {e}") from None
        if not out.requires_grad:
            raise _usage("explain: the expression does not depend on any NAME=VALUE given")
        if out.size != 1:
            raise _usage(f"explain: the expression has shape {out.shape}; the backward pass starts from a "
                         "single number: reduce it, e.g. sum(...)")
        labels = {k: t for k, t in labels.items() if t is not out and k not in leaves}
        return explain(out, names={"f": out, **labels})

    tr = run(args.expand)
    if args.compare:
        print(compare(run(False), run(True), labels=("fused", "expanded")))
    elif args.dot:
        print(tr.to_dot(), end="")
    else:
        print(tr)
    if args.html:
        try:
            tr.to_html(args.html)
        except OSError as e:
            raise _usage(f"explain: cannot write {args.html}: {e.strerror or e}") from None
        print(f"interactive page written to {args.html}", file=sys.stderr)
    return 0
