"""`cr.explain(output) -> Trace`: the backward pass recorded node by node, ready to be read.

    import chainrule as cr
    x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
    tr = cr.explain((x + y) * z)
    print(tr)             # the table; tr.to_dot(), tr.to_html(path), tr.to_svg() draw it

The recording itself is `chainrule.debug.trace` (an observer of the ordinary backward pass);
this module shows it.
"""

from __future__ import annotations

from ..debug.trace import fmt_value, record
from . import dot, html
from .table import table, terminal_width

__all__ = ["explain", "Trace"]


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

    def _repr_html_(self):
        return html.table_html(self)


def explain(output, grad=None, retain_graph=False, names=None):
    """Run `output.backward(grad, retain_graph)` while recording every node; return a `Trace`.

    The leaves' `.grad` are filled exactly as by backward(). `names` ({name: Tensor}) labels
    intermediate values (e.g. `names={"q": q}`); leaves are labelled by `cr.tensor(..., name=)`,
    everything else gets a generated name (the op and its position in the forward pass).
    """
    rec = record(output, grad, retain_graph, names)
    return Trace(rec.output_name, rec.output_value, rec.steps, rec.leaves)
