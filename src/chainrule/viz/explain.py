"""`cr.explain(output) -> Trace`: the backward pass recorded node by node, ready to be read.

    import chainrule as cr
    x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
    tr = cr.explain((x + y) * z)
    print(tr)             # the table; tr.to_dot(), tr.to_html(path), tr.to_svg() draw it

The recording itself is `chainrule.debug.trace` (an observer of the ordinary backward pass);
this module shows it.
"""

from __future__ import annotations

from ..debug.naming import Naming, format_expr
from ..debug.trace import fmt_value, record
from . import dot, html
from .table import table, terminal_width

__all__ = ["explain", "Trace"]


class Trace:
    """The recorded backward pass. `steps` in backward order, `leaves` in forward order."""

    def __init__(self, output_name, output_value, steps, leaves, groups=None, expression=""):
        self.output_name = output_name
        self.output_value = output_value
        self.steps = steps
        self.leaves = leaves
        self.groups = dict(groups or {})  # {module path: class name} of the modules that computed nodes
        self.expression = expression or composed_expression(steps)

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
        return table(self, width=terminal_width())

    def to_dot(self, rankdir="LR"):
        return dot.to_dot(self, rankdir=rankdir)

    def to_svg(self):
        return dot.to_svg(self)

    def render(self, path, format=None):
        return dot.render(self, path, format=format)

    def to_html(self, path=None, title=None):
        """The interactive page as a string; also written to `path` when given."""
        return html.to_html(self, path, title=title)

    def to_json(self, path=None, title=None):
        """The trace in its versioned JSON format (docs/trace-format.md) as text; also written to `path`.
        `chainrule.viz.load_json` reads it back, and the page opens it."""
        return html.to_json(self, path, title=title)

    def _repr_html_(self):
        """Jupyter shows the interactive page inline (in a sandboxed frame), the table below it."""
        return html.notebook_html(self)


def composed_expression(steps, limit=160):
    """The output as one expression of the leaves, '(x + y)*z', when it is at most `limit`
    characters; else the root node's own expression."""
    by_name = {s.name: s for s in steps}
    memo = {}

    def text(name):
        """(text, precedence), or None once longer than `limit` (each node is composed once)."""
        if name in memo:
            return memo[name]
        s = by_name.get(name)
        if s is None:
            out = (name, Naming.precedence_of(name))
        else:
            memo[name] = None  # a cycle cannot happen; this only guards the recursion
            parts = [text(inp.name) for inp in s.inputs]
            out = None if None in parts else format_expr(s.op, parts, s.params)
            if out is None and None not in parts:
                out = (s.expr, Naming.precedence_of(s.expr))
            if out is not None and len(out[0]) > limit:
                out = None
        memo[name] = out
        return out

    if not steps:
        return ""
    for s in reversed(steps):  # oldest first: the recursion stays shallow
        text(s.name)
    full = text(steps[0].name)
    return full[0] if full is not None else steps[0].expr


def explain(output, grad=None, retain_graph=False, names=None, check=True):
    """Run `output.backward(grad, retain_graph)` while recording every node; return a `Trace`.

    The leaves' `.grad` are filled exactly as by backward(). `names` ({name: Tensor}) labels
    intermediate values (e.g. `names={"q": q}`); leaves are labelled by `cr.tensor(..., name=)`,
    everything else gets a generated name: `fc1.matmul` (module path + op) for a node a Module
    computed, else a short expression of named inputs (`x*y`, `max(z, w)`), else the op and its step
    number (`add5`); check_graph, anomaly messages, the drawings and the page use the same names. Nodes a
    Module computed are grouped under its `named_modules()` path. With `check` (the default) each
    node's backward rule is also checked numerically, as by `check_graph`, at that node's inputs.
    """
    rec = record(output, grad, retain_graph, names, check=check)
    return Trace(rec.output_name, rec.output_value, rec.steps, rec.leaves, rec.groups)
