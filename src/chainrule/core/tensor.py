"""TensorBase: an array, the node that produced it (if any), and the gradient of a leaf.

This is what the engine needs of a tensor. Its operators and methods (`+`, `@`, `.sum()`, ...)
call operations, which live in the layer above: `chainrule.ops.Tensor` subclasses this class
and hands itself to the core (`engine.provide`), so every tensor the core makes is one. The core
never imports that layer, and nothing is added to any class from outside.
"""

from __future__ import annotations

import sys
import weakref

import numpy as np

from .engine import accumulate, layer, mark_written, owner, run_backward, shared
from .errors import ShapeError
from .node import clock


def unwrap(x):
    """The array inside a Tensor; anything else as it is."""
    return x._data if isinstance(x, TensorBase) else x


class TensorBase:
    """An n-dimensional array that records the operations applied to it (the core of `Tensor`)."""

    # _held: None while no one outside chainrule can reach the array; once it is handed out (.data,
    # .numpy()), True, or a weak reference to the array it moved from (see `_expose`); the clock stamp of
    # the assignment when the user gave it (`t.data = a`).
    __slots__ = ("_data", "_node", "requires_grad", "_grad", "name", "_ver", "_held", "_arrived", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: ndarray * Tensor -> Tensor

    def __init__(self, arr, requires_grad=False, name=None):
        """`arr`: an ndarray, or a NumPy scalar for 0-d values (the layer above converts what users give)."""
        if requires_grad and arr.dtype.kind not in "fc":
            raise TypeError(f"tensor: requires_grad=True needs floating-point data, got dtype {arr.dtype} "
                            f"(use dtype=float or a float literal)")
        self._data = arr
        self._node = None
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self.name = name
        self._ver = 0
        self._held = None

    # -- data and metadata -------------------------------------------------------------------
    @property
    def data(self):
        """The values, as an ndarray. (0-d values are held internally as NumPy scalars, whose
        arithmetic is ten times cheaper than a 0-d array's; here they come back as 0-d arrays.)"""
        return self._expose()

    def _expose(self):
        """The array, to hand out: writes into it reach this tensor, never a graph. From now on nodes
        keep copies of it (`emit`); a node that kept it before holds a reference besides this tensor's,
        and then this tensor first moves to a copy of its own, leaving that array to the node."""
        d = self._data
        if self._held is None:
            self._held = True
            if isinstance(d, np.generic):
                d = self._data = np.asarray(d)  # from now on this tensor holds the array, so writes into it stick
            elif type(d) is np.ndarray and (sys.getrefcount(d) > 3 or d.base is not None  # (3: d, _data, the call)
                                            and sys.getrefcount(d.base) > 3):
                self._held, self._data = weakref.ref(owner(d)), d.copy(order="K")
                d = self._data
        return d

    @data.setter
    def data(self, value):
        value, from_tensor = (unwrap(value), True) if isinstance(value, TensorBase) else (np.asarray(value), False)
        if value.dtype.kind not in "biufc" or (self.requires_grad and value.dtype.kind not in "fc"):
            what = "a tensor that requires grad" if self.requires_grad else "a tensor"
            raise TypeError(f"data: cannot set the data of {what} to an array of dtype {value.dtype}")
        # a new array that no one else refers to (p.data = p.data - lr * p.grad) stays private; refs: value, the
        # caller's, the call
        alone = not from_tensor and value.base is None and sys.getrefcount(value) <= 3
        old = self._data
        self._data = value[()] if not value.shape else value
        if type(old) is np.ndarray and type(value) is np.ndarray and owner(value) is owner(old):
            self.bump_version()  # the same memory, written in place (t.data -= v)
        else:  # a new array, which the caller may keep: nodes keep copies of it (_held: when it came)
            self._ver = shared.last_write = self._arrived = stamp = next(clock)  # (when this array came)
            self._held = None if alone else stamp

    def _replace(self, arr):
        """Give this tensor a new array that nothing else refers to (parameter initialisation, loading)."""
        self._data, self._held, self._ver = arr[()] if not arr.shape else arr, None, next(clock)
        shared.last_write = self._arrived = self._ver

    @property
    def grad(self):
        """The accumulated gradient: None, or an array of this tensor's shape, of the type the layer
        above provides (`engine.provide`); a Tensor under create_graph. (The engine stores a plain
        array, which becomes that type when first read here: the optimizers read `_grad`.)"""
        g = self._grad
        if type(g) is np.ndarray:
            g = self._grad = g.view(layer.grad_type)
        return g

    @grad.setter
    def grad(self, g):
        if g is not None:
            if not isinstance(g, TensorBase):
                g = np.asarray(g)
            if g.shape != self._data.shape:
                raise ShapeError(f"grad: cannot assign a gradient of shape {g.shape} to a tensor of shape "
                                 f"{self._data.shape}")
        self._grad = g

    def bump_version(self):
        """Mark the data as changed in place: nodes that saved it (or a view of it) before now refuse to
        use it."""
        self._ver = shared.last_write = stamp = next(clock)
        moved_from = self._held() if type(self._held) is weakref.ref else None  # (see _expose)
        for a in (self._data, moved_from):
            if type(a) is np.ndarray:
                mark_written(a, stamp)

    _version = property(lambda self: self._ver)
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    is_leaf = property(lambda self: self._node is None)

    def detach(self):
        """The same data, cut from the graph. (Both share one array, so it counts as handed out.)"""
        t = wrap(self._expose(), None)
        t._held = self._held
        return t

    def zero_grad(self):
        self._grad = None

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Fill `.grad` of every leaf this tensor depends on (d self / d leaf, times `grad`)."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input had requires_grad=True, "
                               "or it was computed under no_grad)")
        data = self._data
        if grad is None:
            if data.size != 1:
                raise RuntimeError(f"backward: the output has shape {data.shape}; backward() without an explicit "
                                   "grad works only for a single-element output. Pass grad= with that shape "
                                   "(e.g. grad=np.ones(shape)), or reduce the output first (e.g. .sum()).")
            g = np.ones(data.shape, data.dtype) if type(data) is np.ndarray else data.dtype.type(1)
        elif isinstance(grad, TensorBase) and create_graph:
            g = grad
        else:
            try:
                g = np.asarray(unwrap(grad), dtype=data.dtype)
            except (TypeError, ValueError) as e:
                raise TypeError(f"backward: grad must be numbers of shape {data.shape}: {e}") from None
        if g.shape != data.shape:
            raise ShapeError(f"backward: grad has shape {g.shape} but the output has shape {data.shape}")
        if create_graph and not isinstance(g, TensorBase):
            g = wrap(g, None)
        if self._node is None:
            accumulate(self, g, True, create_graph)
        else:  # the gradient graph built by create_graph reads the saved arrays again: keep them (as PyTorch)
            run_backward(self._node, g, retain_graph or create_graph, create_graph)

    __hash__ = object.__hash__


def wrap(arr, node):
    """A Tensor around `arr` (no copy), the output of `node` (or a constant when node is None)."""
    t = object.__new__(layer.tensor_type)
    t._data = arr
    t._node = node
    t.requires_grad = node is not None
    t._grad = None
    t.name = None
    t._ver = 0
    t._held = None
    return t


layer.tensor_type = TensorBase  # until the layer above provides the full Tensor
