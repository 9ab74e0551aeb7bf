"""One number and one name per node, the same in explain's table, the drawings, the page, check_graph
and anomaly messages.

- **The number** of a node is its step in the backward pass: the output's node is step 1, and the
  backward pass visits nodes newest first, so in a graph of N nodes (oldest first, as `walk` gives
  them) node i is step N - i. `check_graph` lists nodes oldest first, under the same numbers.
- **The name**, first that applies:
  1. a label: `names=` of explain, the CLI's subexpressions, the output tensor's name ("out" if none);
  2. for a node a Module computed: its `named_modules()` path and the op, `fc1.matmul` (with the step
     number, `cell.mul12`, when the module applied that op more than once);
  3. the node as a short expression of named inputs: `x*y`, `max(z, w)`, `w0*x0 + w1*x1`, `w[0]`;
  4. the op and the step number: `add5`.
  Leaves are named by `cr.tensor(..., name=)` (a Parameter by its path), else `leaf1`, `leaf2`, ...
"""

from __future__ import annotations

import numpy as np

from ..core import TensorBase, walk
from .scopes import module_of

__all__ = ["Naming", "MAX_NAME", "format_expr"]

MAX_NAME = 20   # characters of a generated expression name; a longer expression falls back to op + step

# How tightly an expression binds as an operand. Python gives @ the precedence of * and /; a mix of
# them is always parenthesized here (`(W @ x)*y`), so @ gets a level of its own.
_ATOM, _POWER, _UNARY, _MATMUL, _PRODUCT, _SUM, _OPAQUE = 6, 5, 4, 3.5, 3, 2, 0
#: op -> (text, precedence, spaced)
_INFIX = {"add": ("+", _SUM, True), "sub": ("-", _SUM, True), "mul": ("*", _PRODUCT, False),
          "div": ("/", _PRODUCT, False), "matmul": ("@", _MATMUL, True), "power": ("**", _POWER, False)}
_CALL = {"maximum": "max", "minimum": "min"}


class Naming:
    """The numbers and names of a graph: `step[node]`, `names[node or leaf tensor]`, `leaves` (the
    leaf tensors, forward order), `nodes` (oldest first), `group[node]` and `groups` (module paths).

    `labels` maps a Node or a leaf Tensor to a given name; `root_names` maps root nodes to names
    (default "out")."""

    def __init__(self, roots, labels=None, root_names=None):
        roots = list(roots)
        self.nodes = nodes = walk(roots)
        n = len(nodes)
        self.step = {node: n - i for i, node in enumerate(nodes)}
        self.group, self.groups = module_of(nodes)
        labels = dict(labels or {})
        root_names = {**{r: "out" for r in roots}, **dict(root_names or {})}
        per_module = {}
        for node in nodes:
            g = self.group.get(node)
            if g:
                key = (g, node.prim.name)
                per_module[key] = per_module.get(key, 0) + 1
        self.names, self.leaves = {}, []
        self._text = {}  # node or leaf -> (expression text, precedence) when readable
        self.prec = {}   # name -> precedence, for the names that are expressions
        used = set()
        leaf_k = 0
        for node in nodes:
            for p in node.parents:
                if isinstance(p, TensorBase) and p not in self.names:
                    nm = labels.get(p) or p.name
                    if nm:
                        self._text[p] = (str(nm), Naming.precedence_of(str(nm)))
                    else:
                        leaf_k += 1
                        nm = f"leaf{leaf_k}"
                    self.names[p] = _unique(str(nm), used)
                    self.leaves.append(p)
            step = self.step[node]
            op = node.prim.name
            nm = labels.get(node)
            if nm is None and node in root_names:
                nm = root_names[node]
            if nm is not None:
                nm = str(nm)
                self._text[node] = (nm, Naming.precedence_of(nm))
                self.names[node] = _unique(nm, used)
                continue
            g = self.group.get(node)
            if g:
                nm = f"{g}.{op}" if per_module[(g, op)] == 1 else f"{g}.{op}{step}"
            else:
                expr = self._expression(node)
                if expr is not None and len(expr[0]) <= MAX_NAME and expr[0] not in used:
                    self._text[node] = expr
                    nm = expr[0]
                    self.prec[nm] = expr[1]
                else:
                    nm = f"{op}{step}"
            self.names[node] = _unique(nm, used)

    def name(self, x):
        return self.names.get(x)

    def describe(self, node):
        """'step 3 (w0*x0)': how a message names a node."""
        return f"step {self.step[node]} ({self.names[node]})"

    def _operand(self, node, i):
        """(text, precedence) of input i, or None when it has no readable name."""
        p = node.parents[i]
        if p is not None:
            return self._text.get(p)
        saved = node.saved
        v = saved[i] if isinstance(saved, tuple) else None
        if v is None or np.size(v) != 1:
            return None
        x = float(np.asarray(v).reshape(-1)[0].real)
        text = "0" if x == 0 else f"{x:.4g}"
        return text, (_UNARY if text.startswith("-") else _ATOM)

    def _expression(self, node):
        ops = [self._operand(node, i) for i in range(len(node.shapes))]
        if any(o is None for o in ops):
            return None
        return format_expr(node.prim.name, ops, node.params)

    def precedence(self, name):
        """How tightly a name binds as an operand (for writing a node as an expression of its inputs)."""
        return self.prec.get(name) or Naming.precedence_of(name)

    @staticmethod
    def precedence_of(name):
        if _is_number(name) or _atomic(name):
            return _ATOM
        return _UNARY if name.startswith("-") and _is_number(name[1:]) else _OPAQUE


def format_expr(op, operands, params=None):
    """(text, precedence) of `op` applied to operands [(text, precedence)]: 'x*y + b', 'max(z, w)',
    'W @ x', '-s', 'w[0]', 'exp(-s)'; None where the op cannot be written so (an array index)."""
    params = params or {}
    k = len(operands)
    if op in _INFIX and k == 2:
        sym, prec, spaced = _INFIX[op]
        (a, pa), (b, pb) = operands
        if op == "power":
            left, right = pa <= _POWER, pb < _POWER
        elif op == "matmul":
            left, right = pa < _MATMUL, pb <= _MATMUL
        else:
            mixed = (pa == _MATMUL, pb == _MATMUL) if prec == _PRODUCT else (False, False)
            left = pa < prec or mixed[0] or (pa == _UNARY and a[1:2].isdigit())
            right = pb < prec or mixed[1] or pb == _UNARY or (pb == prec and op in ("sub", "div"))
        a = f"({a})" if left else a
        b = f"({b})" if right else b
        return (f"{a} {sym} {b}" if spaced else f"{a}{sym}{b}"), prec
    if op == "neg" and k == 1:
        a, pa = operands[0]
        return (f"-({a})" if pa <= _UNARY else f"-{a}"), _UNARY
    if op == "getitem" and k == 1:
        idx = _index_text(params.get("idx"))
        if idx is None:
            return None
        a, pa = operands[0]
        return (f"{a}[{idx}]" if pa == _ATOM else f"({a})[{idx}]"), _ATOM
    args = [t for t, _ in operands]
    axis = params.get("axis")
    if axis is not None and isinstance(axis, (int, tuple)):
        args.append(f"axis={axis}")
    return f"{_CALL.get(op, op)}({', '.join(args)})", _ATOM


def _atomic(text):
    return text.replace(".", "").replace("_", "").isalnum() or _is_number(text)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return not text.startswith("-")


def _index_text(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    out = []
    for it in items:
        if isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            out.append(str(int(it)))
        elif isinstance(it, slice) and all(v is None or isinstance(v, (int, np.integer))
                                           for v in (it.start, it.stop, it.step)):
            s = ":".join("" if v is None else str(int(v)) for v in (it.start, it.stop))
            out.append(s if it.step is None else f"{s}:{int(it.step)}")
        elif it is Ellipsis:
            out.append("...")
        elif it is None:
            out.append("None")
        else:
            return None
    return ", ".join(out) if out else None


def _unique(name, used):
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name

