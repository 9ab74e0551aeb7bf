"""The backward pass, recorded node by node: the data behind `cr.explain`.

Every node of the lecture's computational graph receives an *upstream* gradient, multiplies it
by its *local* gradient and passes the *downstream* gradients to its inputs. `record` runs the
ordinary backward pass (the same engine, with a `Recorder` attached as an observer) and keeps,
for each node it visits:

    op, gate pattern, inputs (name, shape, value), value, upstream, local, downstream,
    the broadcast axes summed per input, the Jacobian it did not build, and, for a value used
    more than once, the gradients that were summed (the copy gate).

The record holds every upstream and downstream gradient of the pass: it is meant for graphs a
person reads, not for training runs. `chainrule.viz` turns it into a table, a drawing, a page.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import backend as be
from ..core import FREED, Node, Observer, TensorBase, install, no_grad, wrap
from ..core.engine import broadcast_axes, run_backward
from ..ops.namespaces import TENSOR_NS
from .check import _check_node, host, node_devices, placed
from .naming import Naming, format_expr

__all__ = ["record", "Recorder", "Step", "InputInfo", "LeafInfo", "Saved", "expression", "saved_arrays",
           "Jacobian", "GATE_TEXT", "fmt_value", "fmt_bytes", "d", "rule_on_arrays"]

GATE_TEXT = {
    "distributes": "distributes the upstream gradient unchanged to its inputs",
    "swaps": "swaps: each input receives upstream × the other input",
    "routes": "routes the upstream gradient to the selected input(s); the others get 0",
    "accumulates": "a value used more than once: its incoming gradients are summed (copy gate)",
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
    symbol: str = ""                 # the primitive's symbol in drawings
    doc: str = ""                    # the primitive's one-line description
    expr: str = ""                   # the node as an expression of its inputs' names: "x + y"
    saved: list = field(default_factory=list)  # [Saved]: the arrays the node kept for backward
    check: object = None             # check_graph's NodeCheck for this node (None: not checked)
    group: str = ""                  # the module (named_modules() path) that computed it, or ""

    @property
    def saved_bytes(self):
        """Bytes of the arrays the backward rule reads (what backward had to keep)."""
        return sum(a.nbytes for a in self.saved if a.read)

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
class Saved:
    """One array a node kept: which (an input's name, 'out' or a residual), its shape, dtype and
    bytes; `read` is False for a small value kept only so that traces can show it."""
    what: str
    shape: tuple
    dtype: str
    nbytes: int
    read: bool


@dataclass
class LeafInfo:
    """A leaf tensor the pass reached, its gradient from this pass and where that came from."""
    name: str
    shape: tuple
    value: np.ndarray
    grad: np.ndarray
    sources: list = field(default_factory=list)  # [(consumer name, gradient)]
    group: str = ""                                # the module owning it (a parameter), or ""

    @property
    def accumulates(self):
        """True when the leaf is used more than once (a copy gate summed its gradients)."""
        return len(self.sources) > 1



# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------

def record(output, grad=None, retain_graph=False, names=None, what="explain", check=True):
    """Run `output.backward(grad, retain_graph)` with a Recorder attached; return it, finished.

    The leaves' `.grad` are filled exactly as by backward(). `names` ({name: Tensor}) labels
    intermediate values; leaves are labelled by `cr.tensor(..., name=)`, everything else gets a
    generated name (`debug/naming.py`: module path + op, a short expression, or op + step number).
    With `check`, each node's rule is also checked numerically, as `check_graph` does, before
    backward frees its values.
    """
    if not isinstance(output, TensorBase):
        raise TypeError(f"{what}: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(f"{what}: this tensor does not require grad (no input had requires_grad=True, "
                           "or it was computed under no_grad)")
    root = output._node
    if root is None:
        raise RuntimeError(f"{what}: the output is a leaf ({output.name or 'unnamed'}); there is no "
                           "backward pass to explain")
    if root.saved is FREED:
        raise RuntimeError(f"{what}: backward() has already run on this graph and freed it, so there is no "
                           f"backward pass left to record. {what}() runs the backward pass itself: compute the "
                           f"output again and call {what}(output) instead of output.backward() (or pass "
                           "retain_graph=True to that backward())")
    data = host(output._data)
    if grad is None:
        if data.size != 1:
            raise RuntimeError(f"{what}: the output has shape {data.shape}; {what}() without grad= needs a "
                               "single-element output (reduce it first, e.g. .sum())")
        g = np.ones_like(data)
    else:
        g = np.asarray(host(grad), dtype=data.dtype)
        if g.shape != data.shape:
            raise ValueError(f"{what}: grad has shape {g.shape} but the output has shape {data.shape}")
    g = placed(g, be.device_of(output._data))  # the seed on the output's device
    rec = Recorder(output, root, names or {}, what, check)
    run_backward(root, g, retain_graph=retain_graph, observers=(rec,))
    rec.finish()
    return rec


class Recorder(Observer):
    """Watches one backward pass and keeps a `Step` per node (`steps`, backward order) and a
    `LeafInfo` per leaf reached (`leaves`, forward order)."""

    def __init__(self, output, root, names, what="explain", check=True):
        self.check = check
        self.rng = np.random.default_rng(0)
        labels = {}
        for n, t in dict(names).items():
            if not isinstance(t, TensorBase):
                raise TypeError(f"{what}: names must map a name to a Tensor; {n!r} maps to "
                                f"{type(t).__name__}")
            labels[t._node if t._node is not None else t] = str(n)
        naming = Naming([root], labels, {root: labels.get(root) or output.name or "out"})
        self.naming = naming
        self.names, self.step_of = naming.names, naming.step
        self.group, self.groups = naming.group, naming.groups
        self.leaf_tensors, self._users = naming.leaves, {}
        self.values = {}
        for node in naming.nodes:
            for p in node.parents:
                if isinstance(p, TensorBase):
                    self._users.setdefault(p, []).append(node)
            v = output._data if node is root else node.ans
            self.values[node] = v if v is None else host(v)  # what is shown: host copies on any backend
        self.sources, self.steps, self.leaves = {}, [], []
        self.output_name = self.names[root]
        self.output_value = host(output._data)

    def _input_infos(self, node):
        infos = []
        for i, (p, shape) in enumerate(zip(node.parents, node.shapes)):
            if type(p) is Node:
                infos.append(InputInfo(self.names[p], shape, "node", self.values.get(p)))
            elif isinstance(p, TensorBase):
                infos.append(InputInfo(self.names[p], shape, "leaf", host(p._data)))
            else:
                v = node.saved[i] if node.saved is not FREED else None
                v = None if v is None else host(v)
                infos.append(InputInfo(_const_name(v, shape), shape, "const", v))
        return infos

    def visited(self, node, upstream, raw, grads):
        prim = node.prim
        name = self.names[node]
        inputs = self._input_infos(node)
        upstream = host(upstream)
        formulas = [formula_text(node, i, inputs, name) for i in range(len(inputs))]
        if prim.elementwise and node.saved is not FREED:
            local = rule_on_arrays(node, np.ones_like(upstream))
            local = [None if p is None else loc for p, loc in zip(node.parents, local)]
        else:
            local = [None if p is None else f for p, f in zip(node.parents, formulas)]
        bcast, jac = [], []
        for i, (p, r, gi, shape) in enumerate(zip(node.parents, raw, grads, node.shapes)):
            if p is None or r is None:
                bcast.append(None)
                jac.append(None)
                continue
            r = host(r)
            full = upstream.shape if prim.elementwise else r.shape
            axes = broadcast_axes(full, shape) if prim.broadcasts and full != shape else ()
            bcast.append(axes or None)
            if prim.elementwise:
                structure = "diagonal" + (f", then summed over axes {axes}" if axes else "")
            else:
                structure = formulas[i]
            jac.append(Jacobian(int(upstream.size), int(np.prod(shape, dtype=np.int64)),
                                upstream.dtype.itemsize, structure, int(r.nbytes)))
            self.sources.setdefault(p, []).append((name, host(gi)))
        downstream = [None if gi is None else host(gi) for gi in grads]
        sources = self.sources.pop(node, [])
        index = self.step_of.get(node, len(self.steps) + 1)
        checked = None
        if self.check:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                checked = _check_node(index, node, self.rng, 1e-6, 1e-5, 1e-3, None, index, name)
        expr = expression(prim, inputs, node.params, self.naming.precedence)
        self.steps.append(Step(index, name, prim.name, prim.gate, inputs, self.values.get(node),
                               tuple(upstream.shape), upstream, local, downstream, bcast, jac, sources,
                               dict(node.params), prim.symbol, prim.doc, expr,
                               saved_arrays(node, inputs), checked, self.group.get(node, "")))

    def finish(self):
        for t in self.leaf_tensors:
            src = self.sources.get(t, [])
            g = None
            for _, gi in src:
                g = gi if g is None else g + gi
            if g is not None:
                self.leaves.append(LeafInfo(self.names[t], tuple(t._data.shape), host(t._data), host(g), src,
                                            self._leaf_group(t)))

    def _leaf_group(self, t):
        """A parameter belongs to the module of the nodes that use it, when they agree."""
        users = {self.group.get(n, "") for n in self._users.get(t, ())}
        return users.pop() if len(users) == 1 else ""


def rule_on_arrays(node, g):
    """The node's differentiable rule applied to upstream `g`, as the primitive computes it (before
    any broadcast reduction): with g = 1, the local derivative of an elementwise op. On another backend `g`
    (a host array) is placed on the node's device, and the results are host copies."""
    n = len(node.shapes)
    saved = node.saved
    g = placed(np.asarray(host(g)), node_devices(node)[1])
    observers = install()  # no observer sees these ops (anomaly mode would report its own NaNs)
    try:
        with no_grad(), np.errstate(all="ignore"):  # on constant Tensors: every reference rule accepts them
            ins = [s if s is None or p is None else wrap(s, None) for s, p in zip(saved[:n], node.parents)]
            ans = None if node.ans is None else wrap(node.ans, None)
            raw = node.prim.vjp(TENSOR_NS, node.parents, wrap(g, None), ans, *ins, *saved[n:], **node.params)
    finally:
        install(*observers)
    raw = raw if type(raw) is tuple else (raw,)
    return [None if r is None else host(r) for r in raw]


def expression(prim, inputs, params=None, precedence=None):
    """The node as an expression of its inputs' names: 'x + y', 'W @ x', 'exp(x)', 'max(a, b)', 'w[0]'.
    `precedence(name)` says how tightly a name binds (Naming.precedence), so that 'x*y' needs no
    parentheses as an operand of '+'."""
    prec = precedence or Naming.precedence_of
    ops = [(inp.name, prec(inp.name)) for inp in inputs]
    out = format_expr(prim.name, ops, params)
    if out is None:
        return f"{prim.name}({', '.join(inp.name for inp in inputs)})"
    return out[0]


def saved_arrays(node, inputs):
    """[Saved] for what the node holds now (call before backward frees it)."""
    if node.saved is FREED:
        return []
    prim, n = node.prim, len(node.shapes)
    ins, want_out, res = prim.reads(tuple(p is not None for p in node.parents))
    out = []
    for i, v in enumerate(node.saved[:n]):
        if isinstance(v, np.ndarray) or np.isscalar(v) or be.backend_of(v) is not None:
            a = host(v)
            out.append(Saved(inputs[i].name, a.shape, str(a.dtype), int(a.nbytes), i in ins))
    if node.ans is not None:
        a = host(node.ans)
        out.append(Saved("out", a.shape, str(a.dtype), int(a.nbytes), bool(want_out)))
    for k, v in enumerate(node.saved[n:]):
        if v is not None:
            a = host(v)
            name = prim.residuals[k] if k < len(prim.residuals) else f"residual{k}"
            out.append(Saved(name, a.shape, str(a.dtype), int(a.nbytes), k in res))
    return out


def d(name):
    """'dL/d' + name, with parentheses around a label such as 'x + y'."""
    return name if name.isidentifier() else f"({name})"


def _const_name(v, shape):
    if v is not None and v.size == 1:
        return fmt_value(v)
    return f"const{tuple(shape)}"


class _Names(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def formula_text(node, i, inputs, out_name):
    """'dL/d<name> = ...' for input i: the primitive's `local` formula with the inputs' names."""
    prim = node.prim
    names = _Names({n: d(inp.name) for n, inp in zip(prim.inputs, inputs)}, out=d(out_name))
    name = d(inputs[i].name)
    text = prim.local_of(i)
    if text is None:
        return f"dL/d{name} = {prim.name} backward rule applied to upstream"
    text = text.format_map(names)
    return f"dL/d{name} = upstream × {text}" if prim.elementwise else f"dL/d{name} = {text}"


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
    return f"{shape_text(a.shape)} [{head}, …]"


def _nested(a):
    if a.ndim == 1:
        return "[" + ", ".join(_num(x) for x in a) + "]"
    return "[" + ", ".join(_nested(r) for r in a) + "]"


def shape_text(shape):
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def fmt_bytes(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000


