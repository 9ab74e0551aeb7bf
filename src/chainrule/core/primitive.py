"""Primitives: a forward on arrays and its backward rules, declared together; the registry; and
`emit`, the one path by which a node enters a graph (primitives and `cr.Function` both use it).

A primitive's differentiable rule is

    vjp(xp, need, g, ans, *inputs, *residuals, **params) -> one gradient per input (None: none)

written against the namespace `xp`: NumPy's functions for a plain backward, the Tensor
operations under create_graph, where the same rule builds a differentiable graph (the layer
above provides both, `engine.provide`). `need[i]` is None when input i needs no gradient (a rule
may skip that work). A primitive may add `fast(need, g, ans, *inputs, *residuals, **params)`, an
array-only rule the engine runs instead outside create_graph; the test sweep checks it against
the differentiable one.

What the rules read is declared, by name: `reads="out"` (every gradient reads the output), or
`reads={"x": "y", "y": "x"}` (the gradient of x reads y, ...). A node keeps only what the rules
of its needed gradients read, so `x * c` keeps c and not x. Residuals are extra arrays the
forward returns after its output, for a fast rule to reuse (they are constants: a differentiable
rule must not differentiate through them). Broadcast reduction is the engine's business.
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np

from .engine import layer, mode, shared, switch
from .errors import ShapeError
from .node import Node, clock
from .tensor import TensorBase, wrap

REGISTRY: dict[str, Primitive] = {}


_OUT = -1


class Primitive:
    """One differentiable operation: forward, rules and what they read, and how traces show it.

    inputs    the inputs' names ("x y"; "*xs" for any number)
    xfwd      the forward on any other backend's arrays, xfwd(xp, *inputs, **params) with xp the backend
              (chainrule/backend); None: the op runs on NumPy only, and refuses other arrays by name
    reads     what the differentiable rule reads (see the module docstring); fast_reads: the fast rule
    residuals names of the extra arrays the forward returns after its output
    broadcasts  inputs broadcast against each other: the engine sums gradients back to their shapes
    elementwise the Jacobian is diagonal: traces show the local derivative as an array
    gate, symbol, local  for traces and drawings: the backward-flow pattern ("distributes", "swaps",
              "routes"), the drawing's symbol, and per input the local derivative (elementwise ops)
              or the gradient's formula in terms of `upstream` and the inputs' names in braces
    """

    __slots__ = ("name", "fwd", "vjp", "fast", "xfwd", "inputs", "residuals", "broadcasts", "elementwise",
                 "gate", "symbol", "local", "doc", "_reads", "_plans", "_rmask", "__weakref__")

    def __init__(self, name, fwd, vjp, *, inputs="x", reads="", fast=None, fast_reads=None, residuals="", xfwd=None,
                 broadcasts=False, elementwise=False, gate=None, symbol=None, local=None, doc="", register=True):
        self.name, self.fwd, self.vjp, self.fast, self.xfwd, self.doc = name, fwd, vjp, fast, xfwd, doc
        self.inputs = tuple(inputs.split())
        self.residuals = tuple(residuals.split())
        self.broadcasts, self.elementwise, self.gate = broadcasts, elementwise, gate
        self.symbol = symbol or name
        local = local or {}
        self.local = tuple(local.get(n) for n in self.inputs) if isinstance(local, dict) else tuple(local)
        self._reads = (self._slots(reads), self._slots(reads if fast_reads is None else fast_reads))
        self._plans = {}
        every = frozenset().union(*(r if isinstance(r, frozenset) else frozenset().union(*r) for r in self._reads))
        self._rmask = sum(1 << s for s in every if s >= 0)  # a bit per input that some rule reads
        if register:
            if name in REGISTRY:
                raise ValueError(f"primitive '{name}' is registered twice")
            REGISTRY[name] = self

    def _slots(self, reads):
        """A declaration as slot numbers (input positions; _OUT; residual k as _OUT - 1 - k): one
        frozenset for every gradient, or a tuple of them, one per input."""
        names = {n: i for i, n in enumerate(self.inputs) if not n.startswith("*")}
        names.update({n: _OUT - 1 - k for k, n in enumerate(self.residuals)}, out=_OUT)

        def slots(text):
            unknown = [w for w in text.split() if w not in names]
            if unknown:
                raise ValueError(f"primitive '{self.name}': cannot read {unknown}; it reads its inputs "
                                 f"{self.inputs} (not variadic ones), 'out' or its residuals {self.residuals}")
            return frozenset(names[w] for w in text.split())

        if isinstance(reads, dict):
            bad = set(reads) - set(self.inputs)
            if bad:
                raise ValueError(f"primitive '{self.name}': reads names unknown inputs {sorted(bad)}")
            return tuple(slots(reads.get(n, "")) for n in self.inputs)
        return slots(reads)

    def __repr__(self):
        return f"<primitive {self.name}>"

    def __get__(self, t, owner=None):
        """As a class attribute, a method: `Tensor.exp = exp` makes `t.exp()` mean `exp(t)`."""
        return self if t is None else types.MethodType(self, t)

    def input_name(self, i):
        last = self.inputs[-1] if self.inputs else "*input"
        if last.startswith("*") and i >= len(self.inputs) - 1:
            return f"{last[1:]}[{i - len(self.inputs) + 1}]"
        return self.inputs[i] if i < len(self.inputs) else f"input{i}"

    def local_of(self, i):
        """The `local` formula of input i (the last one stands for every variadic input)."""
        return self.local[min(i, len(self.local) - 1)] if self.local else None

    def reads(self, need):
        """(input positions, output?, residual positions) that the rules of the gradients flagged in
        `need` (a tuple of bools) read: what a node keeps."""
        plan = self._plans.get(need)
        if plan is None:
            slots = set()
            for spec in self._reads:
                if isinstance(spec, frozenset):
                    slots |= spec if any(need) else set()
                else:
                    slots.update(*(s for s, n in zip(spec, need) if n))
            plan = self._plans[need] = (frozenset(s for s in slots if s >= 0), _OUT in slots,
                                        frozenset(_OUT - 1 - s for s in slots if s < _OUT))
        return plan

    # -- forward ----------------------------------------------------------------------------------
    def __call__(self, *args, **params):
        """Apply to Tensors, arrays or Python numbers; record a node when a gradient is needed."""
        datas, parents, shapes = [], [], []
        needs = large = False
        guard = 0  # bit i: input i's array can be reached from outside chainrule (memory guarding, see emit)
        m = mode()  # the calling thread's (grad mode, keep limit), read once per op
        limit = m[1]
        for a in args:
            if isinstance(a, TensorBase):
                d = a._data
                if a.requires_grad:
                    n = a._node
                    parents.append(a if n is None else n)
                    needs = True
                else:
                    parents.append(None)
                if a._held is True and type(d) is np.ndarray and d.base is None and sys.getrefcount(d) == 3:
                    a._held = None  # handed out, but no one refers to the array any more: private again
                elif a._held is not None:
                    guard |= 1 << len(datas)
            else:
                t = type(a)
                d = a if (a.dtype.kind not in "OUSV" if t is np.ndarray else t in _SCALARS) else operand(a, self.name)
                if t is np.ndarray or t not in _SCALARS and isinstance(a, np.ndarray):  # (.grad: a subclass)
                    guard |= 1 << len(datas)
                parents.append(None)
            datas.append(d)
            if type(d) is np.ndarray:
                shapes.append(d.shape)
                if d.size > limit:
                    large = True
            elif type(d) in _SCALARS:
                shapes.append(())
            else:  # another backend's array (or an ndarray subclass): the layer above takes over
                return layer.foreign.apply(self, args, params)
        try:  # (no `**params` when there are none: that would build a dict per op)
            out = self.fwd(*datas, **params) if params else self.fwd(*datas)
        except ValueError as e:
            raise self._shape_error(datas, e) from None
        if self.residuals:
            return emit(self, datas, parents, tuple(shapes), large, out[0], params, out[1:], needs, m, guard)
        return emit(self, datas, parents, tuple(shapes), large, out, params, (), needs, m, guard)

    def forward(self, *datas, **params):
        """(output, residuals) on arrays."""
        try:
            out = self.fwd(*datas, **params)
        except ValueError as e:
            raise self._shape_error(datas, e) from None
        return (out[0], out[1:]) if self.residuals else (out, ())

    def _shape_error(self, datas, e):
        """A ValueError from NumPy as a ShapeError naming the op and the shapes."""
        if isinstance(e, ShapeError):
            return e
        shapes = " and ".join(str(np.shape(d)) for d in datas)
        return ShapeError(f"{self.name}: cannot combine inputs of shapes {shapes} ({e})")

    # -- backward ---------------------------------------------------------------------------------
    def array_rule(self, need, g, ans, *saved, **params):
        """The rule the engine runs on arrays: the fast one, or the differentiable one on NumPy."""
        if self.fast is not None:
            return self.fast(need, g, ans, *saved, **params)
        return self.vjp(layer.array_ns, need, g, ans, *saved, **params)

    def tensor_rule(self, node, need, g):
        """The differentiable rule on Tensors (create_graph): saved inputs become Tensors attached to
        their parents, so the gradient's graph reaches back to them."""
        n = len(node.shapes)
        saved = node.saved
        ins = [s if s is None or p is None else (p if type(p) is not Node else wrap(s, p))
               for s, p in zip(saved[:n], node.parents)]
        ans = None if node.ans is None else wrap(node.ans, node)
        return self.vjp(layer.tensor_ns, need, g, ans, *ins, *saved[n:], **node.params)


def emit(prim, datas, parents, shapes, large, out, params, residuals=(), needs=True, m=None, guard=0):
    """Wrap a forward result as a Tensor, recording its node when an input needs a gradient (and
    grad mode, `m` or the calling thread's, is on).

    `guard`: a bit per input whose array someone outside chainrule can reach (NumPy operands, arrays
    handed out by `.data`); the node keeps copies of those its rules read, and an output that may be a
    view of one is marked as handed out too, so that nodes keep copies of it in turn. (A forward
    returns a new array or a view, never an input itself.)"""
    grad, keep = m or mode()
    t = type(out)
    if t is np.ndarray:
        if not out.shape:
            out = out[()]  # 0-d results are kept as NumPy scalars: same dtype, 10x cheaper arithmetic
        elif out.size > keep:
            large = True
    elif t not in _NP_SCALARS and not hasattr(out, "__array_namespace__"):
        out = np.asarray(out)
        out = out[()] if not out.shape else out
    observed = shared.observers  # process-wide
    if observed:
        for f in shared.on_apply:
            f(prim, datas, out, params)
    t = new_tensor(layer.tensor_type)  # (tensor.wrap, inlined: this runs once per op)
    t._data, t._grad, t.name, t._ver = out, None, None, 0
    t._held = None if not guard or type(out) is not np.ndarray or out.base is None else True
    if not needs or not grad:
        t._node, t.requires_grad = None, False
        return t
    node = new_node(Node)
    node.prim, node.params, node.shapes, node.seq = prim, params, shapes, next(clock)
    n = len(parents)
    if n == 2:
        node.p0, node.p1, node.pn = parents[0], parents[1], None
    elif n == 1:
        node.p0, node.p1, node.pn = parents[0], None, None
    else:
        node.p0, node.p1, node.pn = None, None, tuple(parents)
    if large or residuals:
        node.saved, node.ans = _keep(prim, datas, out, residuals, parents, keep)
    else:
        node.saved, node.ans = tuple(datas), out  # small: keep every value, for traces and drawings
    if guard and (guard & prim._rmask or residuals or t._held):
        node.saved, node.ans = _private(node.saved, node.ans, guard & prim._rmask, len(datas), t._held)
    if observed:
        for f in shared.on_record:
            f(node)
    t._node, t.requires_grad = node, True
    return t


def _keep(prim, datas, out, residuals, parents, limit):
    """What a node keeps: what the rules of the needed gradients read, and values up to `limit`
    elements, small enough to keep for traces."""
    need = tuple([p is not None for p in parents])
    ins, want_out, res = prim._plans.get(need) or prim.reads(need)
    if type(out) in _SCALARS or out.size <= limit:  # a small output: keep the small inputs too (any backend's)
        saved = [d if i in ins or type(d) in _SCALARS or d.size <= limit else None for i, d in enumerate(datas)]
        want_out = True
    else:
        saved = [d if i in ins else None for i, d in enumerate(datas)]
    if residuals:
        saved += [r if k in res else None for k, r in enumerate(residuals)]
    return tuple(saved), (out if want_out else None)


def _private(saved, ans, copy, n, held):
    """Memory guarding: what a node keeps, with copies in place of the inputs whose bit is set in `copy`
    (arrays a user can write into that a rule reads; values kept only for traces stay as they are), of
    residuals that are views, and of the output when it may be a view of such an input."""
    saved = [s.copy(order="K") if type(s) is np.ndarray and (copy >> i & 1 if i < n else s.base is not None)
             else s for i, s in enumerate(saved)]
    return tuple(saved), (ans.copy(order="K") if held and type(ans) is np.ndarray else ans)


new_tensor = new_node = object.__new__
_NP_SCALARS = {np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_, np.complex128}
_SCALARS = frozenset({float, int, bool, *(t for t in np.sctypeDict.values() if issubclass(t, (np.number, np.bool_)))})


def operand(a, opname):
    """A non-Tensor input as a plain array or number (an ndarray subclass, such as `.grad`, is viewed as
    an ndarray); object and string data are refused, naming the op."""
    if isinstance(a, (float, int, bool, np.generic)) or (type(a) is np.ndarray and a.dtype.kind not in "OUSV") \
            or not isinstance(a, np.ndarray) and hasattr(a, "__array_namespace__"):  # another backend's array
        return a
    try:
        arr = np.asarray(a)
    except ValueError as e:
        raise ValueError(f"{opname}: cannot make an array of the input {a!r:.80}: {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"{opname}: inputs must be numbers, arrays or Tensors, got {type(a).__name__} "
                        f"(dtype {arr.dtype})")
    return arr


class keep_values:
    """Within the block, nodes keep forward values of up to `up_to` elements even where no rule reads
    them (default: all of them), for traces, drawings and `check_graph`. Outside, the limit is 256;
    `keep_values(0)` keeps only what the rules read."""

    def __init__(self, up_to=math.inf):
        self.up_to = up_to

    def __enter__(self):
        self._prev = switch(keep=self.up_to)
        return self

    def __exit__(self, *exc):
        switch(keep=self._prev)
