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
                 formula=None, doc="", register=True):
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
        needs = False
        for a in args:
            if isinstance(a, Tensor):
                datas.append(a._data)
                if a.requires_grad:
                    n = a._node
                    parents.append(a if n is None else n)
                    needs = True
                    continue
            elif isinstance(a, _SCALARS):
                datas.append(a)
            else:
                datas.append(_as_array(a, self.name))
            parents.append(None)
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
        elif t not in _NP_SCALARS:
            out = _normalize(out)
        if not needs or not mode.grad_enabled:
            return Tensor._wrap(out, None)
        shapes = tuple([() if type(d) in _PY else d.shape for d in datas])
        if out.size <= KEEP_VALUES_UP_TO and not any(map(_large, datas)):
            saved, ans = tuple(datas), out  # small: keep every value, for traces and drawings
        else:
            saved, ans = self._keep(datas, out)
        return Tensor._wrap(out, Node(self, tuple(parents), saved, ans, params, shapes))

    def _keep(self, datas, out):
        """What a node keeps: the inputs its rule reads, the output if the rule reads it; for a
        small output, the small inputs too."""
        keep = self.save_inputs
        if out.size <= KEEP_VALUES_UP_TO:
            return tuple([d if i in keep or not _large(d) else None for i, d in enumerate(datas)]), out
        return tuple([d if i in keep else None for i, d in enumerate(datas)]), (out if self.save_ans else None)


def _large(d):
    return type(d) is np.ndarray and d.size > KEEP_VALUES_UP_TO


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


def defprim(name, fwd, vjp, **kw):
    return Primitive(name, fwd, vjp, **kw)


# ---------------------------------------------------------------------------------------------
# Array namespaces the rules are written against. Both expose NumPy's names for what rules use.
# ---------------------------------------------------------------------------------------------

ARRAY_NS = types.SimpleNamespace()
TENSOR_NS = types.SimpleNamespace()
