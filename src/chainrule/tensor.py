"""Tensor: an array, the node that produced it (if any), and the gradient of a leaf.

Operators and methods only call primitives from `chainrule.ops`; nothing is added to the
class from outside.
"""

from __future__ import annotations

import numbers

import numpy as np

from .graph import _seq


def _to_array(data, dtype, opname="tensor"):
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, (str, bytes)):
        raise TypeError(f"{opname}: cannot make a tensor from a string ({data!r:.40})")
    try:
        arr = np.array(data, dtype=dtype)
    except ValueError as e:
        msg = str(e)
        if "inhomogeneous" in msg or "sequence" in msg:
            raise ValueError(f"{opname}: ragged nested lists (rows of different lengths) cannot form a "
                             f"tensor: {msg.splitlines()[0]}") from None
        raise ValueError(f"{opname}: cannot convert {type(data).__name__} to a {dtype or 'numeric'} "
                         f"array: {msg}") from None
    except TypeError as e:
        raise TypeError(f"{opname}: cannot convert {type(data).__name__} to an array: {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise TypeError(f"{opname}: tensors hold numbers; got data of dtype {arr.dtype} "
                        f"(from {type(data).__name__})")
    return arr[()] if not arr.shape else arr  # 0-d data is held as a NumPy scalar (see .data)


class Tensor:
    """An n-dimensional array that records the operations applied to it."""

    __slots__ = ("_data", "_node", "requires_grad", "grad", "name", "_ver", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: ndarray * Tensor -> Tensor

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        arr = _to_array(data, dtype)
        if requires_grad and arr.dtype.kind not in "fc":
            raise TypeError(f"tensor: requires_grad=True needs floating-point data, got dtype {arr.dtype} "
                            f"(use dtype=float or a float literal)")
        self._data = arr
        self._node = None
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.name = name
        self._ver = 0

    @classmethod
    def _wrap(cls, arr, node):
        t = object.__new__(Tensor)
        t._data = arr
        t._node = node
        t.requires_grad = node is not None
        t.grad = None
        t.name = None
        t._ver = 0
        return t

    # -- data and metadata -------------------------------------------------------------------
    @property
    def data(self):
        """The values, as an ndarray. (0-d values are held internally as NumPy scalars, whose
        arithmetic is ten times cheaper than a 0-d array's; here they come back as 0-d arrays.)"""
        d = self._data
        if type(d) is not np.ndarray:
            d = self._data = np.asarray(d)  # from now on this tensor holds the array, so writes into it stick
        return d

    @data.setter
    def data(self, value):
        value = value._data if isinstance(value, Tensor) else np.asarray(value)
        if value.dtype.kind not in "biufc" or (self.requires_grad and value.dtype.kind not in "fc"):
            what = "a tensor that requires grad" if self.requires_grad else "a tensor"
            raise TypeError(f"data: cannot set the data of {what} to an array of dtype {value.dtype}")
        self._data = value[()] if not value.shape else value
        self._ver = next(_seq)

    def _stamp(self, _value=None):
        self._ver = next(_seq)

    # Bumped by every change of the data (the setter above; optimizers, init and load_state_dict do
    # `t._version += 1`). Any assignment stores a fresh stamp of the engine's clock (shared with
    # Node.seq), so backward can tell that a leaf changed after a node saved it.
    _version = property(lambda self: self._ver, _stamp)

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    is_leaf = property(lambda self: self._node is None)
    T = property(lambda self: _ops.transpose(self))

    def __len__(self):
        return len(self._data)

    def item(self):
        return self._data.item()

    def numpy(self):
        return self.data

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        a = self.data
        return a if dtype is None else a.astype(dtype)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._wrap(self._data, None)

    def requires_grad_(self, flag=True):
        if flag and self._data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: needs floating-point data, got dtype {self._data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self):
        self.grad = None

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        from .graph import backward

        backward(self, grad, retain_graph, create_graph)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.requires_grad:
            extra += ", requires_grad=True" if self._node is None else f", grad_fn={self._node.prim.name}"
        if self._data.dtype != np.float64:
            extra += f", dtype={self._data.dtype}"
        if self.name:
            extra += f", name={self.name!r}"
        return f"tensor({body}{extra})"

    def __bool__(self):
        return bool(self._data)

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __index__(self):
        return self._data.__index__()

    __hash__ = object.__hash__

    # -- operators ----------------------------------------------------------------------------
    def __add__(self, o):
        return _ops.add(self, o)

    def __radd__(self, o):
        return _ops.add(o, self)

    def __sub__(self, o):
        return _ops.sub(self, o)

    def __rsub__(self, o):
        return _ops.sub(o, self)

    def __mul__(self, o):
        return _ops.mul(self, o)

    def __rmul__(self, o):
        return _ops.mul(o, self)

    def __truediv__(self, o):
        return _ops.div(self, o)

    def __rtruediv__(self, o):
        return _ops.div(o, self)

    def __pow__(self, o):
        return _ops.power(self, o)

    def __rpow__(self, o):
        return _ops.power(o, self)

    def __matmul__(self, o):
        return _ops.matmul(self, o)

    def __rmatmul__(self, o):
        return _ops.matmul(o, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, idx):
        return _ops.getitem(self, idx)

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, o):
        return self._data < _raw(o)

    def __le__(self, o):
        return self._data <= _raw(o)

    def __gt__(self, o):
        return self._data > _raw(o)

    def __ge__(self, o):
        return self._data >= _raw(o)

    def __eq__(self, o):
        return self._data == _raw(o)

    def __ne__(self, o):
        return self._data != _raw(o)

    # -- methods that mirror the functions -------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]
        return _ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], numbers.Integral):
            axes = axes[0]
        return _ops.transpose(self, axes or None)

    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def abs(self):
        return _ops.abs(self)

    def clip(self, min=None, max=None):
        return _ops.clip(self, min, max)

    def astype(self, dtype):
        return _ops.astype(self, dtype)

    def flatten(self):
        return _ops.reshape(self, (-1,))


def _raw(o):
    return o._data if isinstance(o, Tensor) else o


def tensor(data, requires_grad=False, dtype=None, name=None):
    """Make a Tensor from a Python number, nested list, array or Tensor (the data is copied).

    Python floats become float64; an array keeps its dtype.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


from . import ops as _ops  # noqa: E402  (ops need Tensor defined first)
