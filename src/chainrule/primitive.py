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

import types

import numpy as np

from . import anomaly as _anomaly
from .errors import ShapeError
from .graph import Node, mode
from .tensor import Tensor

REGISTRY: dict[str, Primitive] = {}

#: Forward values of nodes with at most this many elements are kept for traces and drawings,
#: even when the backward rule does not need them. Larger ones are kept only when needed.
KEEP_VALUES_UP_TO = 256

_SCALARS = (float, int, bool, np.generic, np.ndarray)


class Primitive:
    """One differentiable operation: forward, backward rule and metadata, registered by name."""

    __slots__ = ("name", "fwd", "vjp", "save_inputs", "save_ans", "broadcasts", "gate", "elementwise",
                 "formula", "doc", "__weakref__")

    def __init__(self, name, fwd, vjp, save="", broadcasts=False, gate=None, elementwise=False,
                 formula=None, doc=""):
        self.name = name
        self.fwd = fwd
        self.vjp = vjp
        self.save_inputs = tuple(int(c) for c in save if c.isdigit())
        self.save_ans = "a" in save
        self.broadcasts = broadcasts
        self.gate = gate              # backward-flow pattern: "distributes", "swaps", "routes", ...
        self.elementwise = elementwise  # Jacobian is diagonal (local gradient is an array like the input)
        self.formula = formula        # the rule in words, for traces of non-elementwise ops
        self.doc = doc
        if name in REGISTRY:
            raise ValueError(f"primitive '{name}' is registered twice")
        REGISTRY[name] = self

    def __repr__(self):
        return f"<primitive {self.name}>"

    def __call__(self, *args, **params):
        """Apply to Tensors, arrays or Python numbers; record a node when a gradient is needed."""
        datas = []
        parents = []
        needs = False
        for a in args:
            if isinstance(a, Tensor):
                datas.append(a._data)
                if a.requires_grad:
                    needs = True
                    n = a._node
                    parents.append(a if n is None else n)
                else:
                    parents.append(None)
            else:
                if not isinstance(a, _SCALARS) or (type(a) is np.ndarray and a.dtype.kind in "OUSV"):
                    a = _as_array(a, self.name)
                datas.append(a)
                parents.append(None)
        try:
            out = self.fwd(*datas, **params)
        except ShapeError:
            raise
        except ValueError as e:
            raise _shape_error(self.name, datas, e) from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if mode.anomaly:
            _anomaly.check_forward(self, datas, out, params)
        if not (needs and mode.grad_enabled):
            return Tensor._wrap(out, None)
        keep = self.save_inputs
        if out.size <= KEEP_VALUES_UP_TO:  # small: keep values for traces (large inputs only if needed)
            saved = tuple(d if i in keep or getattr(d, "size", 1) <= KEEP_VALUES_UP_TO else None
                          for i, d in enumerate(datas))
            ans = out
        else:
            saved = tuple(d if i in keep else None for i, d in enumerate(datas))
            ans = out if self.save_ans else None
        shapes = tuple(d.shape if type(d) is np.ndarray else np.shape(d) for d in datas)
        node = Node(self, tuple(parents), saved, ans, params, shapes)
        if mode.anomaly:
            _anomaly.created(node)
        return Tensor._wrap(out, node)


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


def defprim(name, fwd, vjp, **kw):
    return Primitive(name, fwd, vjp, **kw)


# ---------------------------------------------------------------------------------------------
# Array namespaces the rules are written against. Both expose NumPy's names for what rules use.
# ---------------------------------------------------------------------------------------------

ARRAY_NS = types.SimpleNamespace()
TENSOR_NS = types.SimpleNamespace()
