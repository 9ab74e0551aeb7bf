"""Tensor: the core's TensorBase with Python's operators and NumPy-style methods, each a call of
an operation of this layer. Importing this module hands the class, and the namespaces rules are
written against, to the core (`engine.provide`)."""

from __future__ import annotations

import numbers

from ..core import TensorBase, provide, unwrap
from . import functions as f
from .elementwise import abs, add, div, exp, log, mul, neg, power, relu, sigmoid, sqrt, sub, tanh
from .linalg import matmul
from .namespaces import ARRAY_NS, TENSOR_NS


class Tensor(TensorBase):
    """An n-dimensional array that records the operations applied to it."""

    __slots__ = ()

    def __add__(self, o):
        return add(self, o)

    def __radd__(self, o):
        return add(o, self)

    def __sub__(self, o):
        return sub(self, o)

    def __rsub__(self, o):
        return sub(o, self)

    def __mul__(self, o):
        return mul(self, o)

    def __rmul__(self, o):
        return mul(o, self)

    def __truediv__(self, o):
        return div(self, o)

    def __rtruediv__(self, o):
        return div(o, self)

    def __pow__(self, o):
        return power(self, o)

    def __rpow__(self, o):
        return power(o, self)

    def __matmul__(self, o):
        return matmul(self, o)

    def __rmatmul__(self, o):
        return matmul(o, self)

    def __neg__(self):
        return neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return abs(self)

    def __getitem__(self, idx):
        return f.getitem(self, idx)

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, o):
        return self._data < unwrap(o)

    def __le__(self, o):
        return self._data <= unwrap(o)

    def __gt__(self, o):
        return self._data > unwrap(o)

    def __ge__(self, o):
        return self._data >= unwrap(o)

    def __eq__(self, o):
        return self._data == unwrap(o)

    def __ne__(self, o):
        return self._data != unwrap(o)

    __hash__ = TensorBase.__hash__  # (defining __eq__ would otherwise make tensors unhashable)

    # -- methods that mirror the functions -------------------------------------------------------
    T = property(lambda self: f.transpose(self))

    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]
        return f.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], numbers.Integral):
            axes = axes[0]
        return f.transpose(self, axes or None)

    def flatten(self):
        return f.reshape(self, (-1,))

    def sum(self, axis=None, keepdims=False):
        return f.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return f.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return f.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return f.min(self, axis=axis, keepdims=keepdims)

    def clip(self, min=None, max=None):
        return f.clip(self, min, max)

    def astype(self, dtype):
        return f.astype(self, dtype)

    exp, log, sqrt, tanh, sigmoid, relu, abs = exp, log, sqrt, tanh, sigmoid, relu, abs  # t.exp() is exp(t)


def tensor(data, requires_grad=False, dtype=None, name=None):
    """Make a Tensor from a Python number, nested list, array or Tensor (the data is copied).

    Python floats become float64; an array keeps its dtype.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


provide(Tensor, TENSOR_NS, ARRAY_NS)
