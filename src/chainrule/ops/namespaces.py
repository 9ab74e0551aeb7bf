"""The two namespaces backward rules are written against, with the same names in both:
`ARRAY_NS` (NumPy, for a plain backward) and `TENSOR_NS` (the operations on Tensors, under
create_graph, where the same rule builds a differentiable graph). On another backend's arrays the
rules get that backend (chainrule/backend: its Array API namespace and the shim) with the same names.
A rule computes its constants (masks, tie shares) with `xp.raw(array)`: the array's own namespace."""

from __future__ import annotations

import operator
import types

import numpy as np

from .. import backend
from ..core import unwrap
from . import functions as f
from .elementwise import abs, add, cos, div, exp, log, maximum, mul, neg, power, relu, sigmoid, sin, sqrt, sub, tanh
from .linalg import matmul
from .shape import scatter_add_array, setitem_array
from .transfer import move

ARRAY_NS = types.SimpleNamespace(
    sum=lambda x, axis=None, keepdims=False: x.sum(axis=axis, keepdims=keepdims),
    reshape=lambda x, shape: x.reshape(shape), broadcast_to=np.broadcast_to, transpose=np.transpose,
    swapaxes=lambda x, a, b: x.swapaxes(a, b), exp=np.exp, tanh=np.tanh, log=np.log, sin=np.sin, cos=np.cos,
    sign=np.sign, where=np.where, maximum=np.maximum, astype=lambda x, dtype: x.astype(dtype),
    scatter_add=scatter_add_array, setitem=setitem_array, getitem=operator.getitem,
    concatenate=np.concatenate, stack=np.stack, to_device=backend.to_device,
    # for the constants a rule computes (masks, shares): on arrays, this namespace itself
    any=np.any, isnan=np.isnan, max=np.max, arange=np.arange, asarray=np.asarray,
    as_bool=lambda c: np.asarray(c, dtype=bool))
ARRAY_NS.raw = lambda d: ARRAY_NS


def _raw(d):
    """The namespace for a rule's constants computed from the array `d` (of any backend)."""
    b = backend.backend_of(d)
    return ARRAY_NS if b is None else b


TENSOR_NS = types.SimpleNamespace(
    add=add, sub=sub, mul=mul, div=div, neg=neg, power=power, matmul=matmul, abs=abs, exp=exp, log=log,
    sqrt=sqrt, sin=sin, cos=cos, tanh=tanh, sigmoid=sigmoid, relu=relu, maximum=maximum,
    sum=f.sum, mean=f.mean, max=f.max, min=f.min, clip=f.clip, astype=f.astype, where=f.where,
    reshape=f.reshape, transpose=f.transpose, swapaxes=f.swapaxes, broadcast_to=f.broadcast_to,
    getitem=f.getitem, scatter_add=f.scatter_add, setitem=f.setitem, concatenate=f.concatenate, stack=f.stack,
    to_device=move,
    sign=lambda x: _raw(unwrap(x)).sign(unwrap(x)),  # piecewise constant: no gradient
    any=lambda m: _raw(m).any(m), raw=_raw,
)
