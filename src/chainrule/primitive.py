"""The Primitive record, the registry, and recording an application of a primitive.

A primitive is a forward function on arrays plus a vector-Jacobian rule

    vjp(xp, need, g, ans, *inputs, **params) -> one gradient per input (None = no gradient)

`xp` is the array namespace the rule must use for anything beyond operators (NumPy for a plain
backward, the Tensor namespace under create_graph, so the same rule builds a differentiable
graph). `need[i]` is None when input i needs no gradient (a rule may skip that work). `ans` and
the inputs are None unless listed in `save`: a node keeps only what its rule reads.

Broadcast reduction is not the rule's business: for a primitive declared `broadcasts=True` the
engine sums each gradient back to its input's shape; for any other, a gradient of the wrong
shape is an error naming the op.
"""

from __future__ import annotations

import numpy as np

from . import anomaly as _anomaly
from .errors import ShapeError
from .graph import ARRAY_NS, TENSOR_NS, Node, mode
from .tensor import Tensor

REGISTRY: dict[str, Primitive] = {}

#: Forward values of nodes with at most this many elements are kept for traces and drawings,
#: even when the backward rule does not need them. Larger ones are kept only when needed.
KEEP_VALUES_UP_TO = 256

_SCALARS = (float, int, bool, np.generic, np.ndarray)


class Primitive:
    """One differentiable operation: forward, backward rule and metadata, registered by name."""

    __slots__ = ("name", "fwd", "vjp", "save_for", "broadcasts", "gate", "elementwise", "formula", "doc",
                 "vjp_reduced", "_plans", "__weakref__")

    def __init__(self, name, fwd, vjp, save="", broadcasts=False, gate=None, elementwise=False,
                 formula=None, doc="", register=True, vjp_reduced=None):
        self.name = name
        self.fwd = fwd
        self.vjp = vjp
        # `save` says what the rule reads: "0", "1", ... for inputs and "a" for the output, either one
        # string for every gradient, or a tuple with one string per input (what *its* gradient reads),
        # so that a node keeps only what the gradients actually needed will read.
        self.save_for = save if isinstance(save, tuple) else None if not save else (save,)
        self.vjp_reduced = vjp_reduced  # optional: rule + broadcast reduction fused (large arrays only)
        self._plans = {}  # which inputs need a gradient -> what to keep (see _keep)
        self.broadcasts = broadcasts
        self.gate = gate              # backward-flow pattern: "distributes", "swaps", "routes", ...
        self.elementwise = elementwise  # Jacobian is diagonal (local gradient is an array like the input)
        self.formula = formula        # the rule in words, for traces of non-elementwise ops
        self.doc = doc
        if register:
            if name in REGISTRY:
                raise ValueError(f"primitive '{name}' is registered twice")
            REGISTRY[name] = self

    def __repr__(self):
        return f"<primitive {self.name}>"

    def __call__(self, *args, **params):
        """Apply to Tensors, arrays or Python numbers; record a node when a gradient is needed."""
        datas = []
        parents = []
        shapes = []
        needs = large = False
        for a in args:
            if isinstance(a, Tensor):
                d = a._data
                if a.requires_grad:
                    n = a._node
                    parents.append(a if n is None else n)
                    needs = True
                else:
                    parents.append(None)
            else:
                d = a if isinstance(a, _SCALARS) else _as_array(a, self.name)
                if type(d) is np.ndarray and d.dtype.kind in "OUSV":
                    d = _as_array(d, self.name)  # refuses object and string arrays
                parents.append(None)
            datas.append(d)
            if type(d) is np.ndarray:
                shapes.append(d.shape)
                if d.size > KEEP_VALUES_UP_TO:
                    large = True
            else:
                shapes.append(())
        try:
            out = self.fwd(*datas, **params)
        except ShapeError:
            raise
        except ValueError as e:
            raise _shape_error(self.name, datas, e) from None
        t = type(out)
        if t is np.ndarray:
            if not out.shape:
                out = out[()]  # 0-d results are kept as NumPy scalars: same dtype, 10x cheaper arithmetic
            elif out.size > KEEP_VALUES_UP_TO:
                large = True
        elif t not in _NP_SCALARS:
            out = _normalize(out)
        if mode.anomaly:
            _anomaly.check_forward(self, datas, out, params)
        if not needs or not mode.grad_enabled:
            return _wrap(out, None)
        if large:
            saved, ans = self._keep(datas, out, parents)
        else:
            saved, ans = tuple(datas), out  # small: keep every value, for traces and drawings
        node = Node(self, parents, saved, ans, params, tuple(shapes))
        if mode.anomaly:
            _anomaly.created(node)
        return _wrap(out, node)

    def _keep(self, datas, out, parents):
        """What a node keeps: what the rules of the needed gradients read; for a small output, the
        small values too."""
        key = tuple([p is not None for p in parents])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(key)
        inputs, want_ans = plan
        if out.size <= KEEP_VALUES_UP_TO:
            return tuple([d if i in inputs or not _large(d) else None for i, d in enumerate(datas)]), out
        return tuple([d if i in inputs else None for i, d in enumerate(datas)]), (out if want_ans else None)

    def _plan(self, needed):
        """(inputs to keep, keep the output?) when the inputs flagged in `needed` want gradients."""
        spec = self.save_for
        if spec is None:
            return frozenset(), False
        reads = "".join(spec) if len(spec) == 1 else "".join(s for s, n in zip(spec, needed) if n)
        return frozenset(int(c) for c in reads if c.isdigit()), "a" in reads


def _large(d):
    return type(d) is np.ndarray and d.size > KEEP_VALUES_UP_TO


_wrap = Tensor._wrap
_PY = {float, int, bool}
_NP_SCALARS = {np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_, np.complex128}


def _normalize(out):
    out = np.asarray(out)
    return out[()] if not out.shape else out


def _as_array(a, opname):
    try:
        arr = np.asarray(a)
    except ValueError as e:
        raise ValueError(f"{opname}: cannot make an array of the input {a!r:.80}: {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"{opname}: inputs must be numbers, arrays or Tensors, got {type(a).__name__} "
                        f"(dtype {arr.dtype})")
    return arr


def _shape_error(name, datas, err):
    shapes = " and ".join(str(np.shape(d)) for d in datas)
    return ShapeError(f"{name}: cannot combine inputs of shapes {shapes} ({err})")


__all__ = ["Primitive", "REGISTRY", "ARRAY_NS", "TENSOR_NS", "KEEP_VALUES_UP_TO"]
