"""Tensor: the core's TensorBase with Python's operators, NumPy's protocols and PyTorch's methods,
each a call of an operation of this layer. Importing this module hands the class, the namespaces
rules are written against and the type of `.grad` to the core (`engine.provide`).

In-place operations (`+=`, `-=`, `*=`, `/=`, `x[i] = v`, the `*_` methods) follow PyTorch: with grad
mode on and a gradient involved, a leaf that requires grad refuses them, and anything else is
computed out of place as a recorded op whose result the tensor takes (its array and its node), so
the name points at the new value and earlier consumers keep their graph. Otherwise (under
`no_grad`, or when nothing requires grad) the tensor's array is updated in place; a read-only or
0-d array is replaced by an updated copy instead. Either way the version is bumped, so a graph that
saved the old array refuses to use it at backward.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import backend as be
from ..core import ShapeError, TensorBase, provide, state, unwrap, wrap
from ..core.engine import accumulate, run_backward
from ..core.engine import layer as _layer
from ..core.errors import GraphDroppedWarning
from . import functions as f
from . import interop
from .dispatch import FOREIGN
from .dtypes import CPU, check_device, defaults, device, float64, rng, to_dtype, type_name
from .elementwise import abs, add, div, exp, log, mul, neg, power, relu, sigmoid, sqrt, sub, tanh
from .gradarray import GradArray
from .linalg import matmul
from .namespaces import ARRAY_NS, TENSOR_NS
from .transfer import move
from .watch import report as _read
from .watch import value_reads as _value_reads


def _shape_args(args, opname):
    """view(2, 3), view((2, 3)) and view([2, 3]) alike."""
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        return tuple(args[0])
    return args


_DEVICE_TYPES = be.DEVICE_TYPES
_ufunc_op = interop.UFUNC_OPS.get


def _exponent(x, o):
    """An integer exponent array in x's float dtype: PyTorch keeps float32 ** int64 in float32, where
    NumPy would widen it to float64."""
    e = unwrap(o)
    if isinstance(e, (np.ndarray, np.generic)) and e.dtype.kind in "iub":
        dt = x._data.dtype
        if dt.kind == "f":
            return e.astype(dt)
    return o


def _to_array(data, dtype):
    data = unwrap(data)
    if isinstance(data, (str, bytes)):
        raise TypeError(f"tensor: cannot make a tensor from a string ({data!r:.40})")
    try:
        arr = np.array(data, dtype=dtype)
    except ValueError as e:
        msg = str(e)
        if "inhomogeneous" in msg or "sequence" in msg:
            raise ValueError(f"tensor: ragged nested lists (rows of different lengths) cannot form a "
                             f"tensor: {msg.splitlines()[0]}") from None
        raise ValueError(f"tensor: cannot convert {type(data).__name__} to a {dtype or 'numeric'} "
                         f"array: {msg}") from None
    except TypeError as e:
        raise TypeError(f"tensor: cannot convert {type(data).__name__} to an array: {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise TypeError(f"tensor: tensors hold numbers; got data of dtype {arr.dtype} "
                        f"(from {type(data).__name__})")
    return arr[()] if not arr.shape else arr  # 0-d data is held as a NumPy scalar (see .data)


def _repr(self):
    body = np.array2string(np.asarray(self._data), separator=", ", prefix="tensor(")
    extra = ""
    if self.requires_grad:
        extra += ", requires_grad=True" if self._node is None else f", grad_fn={self._node.prim.name}"
    if self._data.dtype != np.float64:
        extra += f", dtype={self._data.dtype}"
    if self.name:
        extra += f", name={self.name!r}"
    return f"tensor({body}{extra})"


class Size(tuple):
    """The shape, as PyTorch's `size()` gives it: a tuple, with `numel()`."""

    def numel(self):
        return int(np.prod(self, dtype=np.int64))


def _dropped(t, how):
    """float(t) / int(t) keep the value and drop the graph (as PyTorch, which warns on float()): say so,
    since NumPy calls them silently when a Tensor is stored into an ndarray element (`a[0] = t`)."""
    warnings.warn(f"{how}() of a Tensor that requires grad (shape {t.shape}) gives a number without its graph: "
                  f"no gradient flows through it (NumPy calls {how}() when a Tensor is stored into an element "
                  f"of an ndarray, a[i] = t). Use t.item() to read the value on purpose, or keep to chainrule's "
                  f"operations (cr.stack, t[i] = v on a Tensor) for the gradient.", GraphDroppedWarning, stacklevel=3)


class Tensor(TensorBase):
    """An n-dimensional array that records the operations applied to it."""

    __slots__ = ()

    def __init__(self, data, requires_grad=False, dtype=None, name=None, device=None):
        dev = None if device is None else check_device(device, "tensor")
        src = be.backend_of(unwrap(data))
        if src is not None:  # another backend's array: a copy on its device (or on `device`)
            arr = src.ns.asarray(unwrap(data), copy=True)
            arr = arr if dtype is None else src.astype(arr, to_dtype(dtype, "tensor"))
            super().__init__(np.float64(0.0), name=name)
            self._data = arr if dev is None else be.to_device(arr, dev)
            self.requires_grad_(requires_grad)
            return
        super().__init__(_to_array(data, dtype), requires_grad=requires_grad, name=name)
        if dtype is None and defaults.dtype is not float64 and self._data.dtype == np.float64 and \
                not isinstance(data, (np.ndarray, np.generic, TensorBase)):
            self._data = self._data.astype(defaults.dtype)  # Python floats: the default dtype
        if dev is not None and dev.type != "cpu":
            self._data = be.to_device(self._data, dev)

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
        if type(o) is not int and type(o) is not float:
            o = _exponent(self, o)
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

    # comparisons give boolean tensors: they have no gradient
    def __lt__(self, o):
        return f.lt(self, o)

    def __le__(self, o):
        return f.le(self, o)

    def __gt__(self, o):
        return f.gt(self, o)

    def __ge__(self, o):
        return f.ge(self, o)

    def __eq__(self, o):
        return f.eq(self, o)

    def __ne__(self, o):
        return f.ne(self, o)

    __hash__ = TensorBase.__hash__  # (defining __eq__ would otherwise make tensors unhashable)
    eq, ne, lt, le, gt, ge = f.eq, f.ne, f.lt, f.le, f.gt, f.ge

    # -- NumPy's protocols: functions and ufuncs record, or refuse (ops/interop.py) ----------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        op = _ufunc_op(ufunc)  # (ndarray * Tensor comes here: kept short)
        if op is not None and not kwargs and method == "__call__":
            return op(*inputs)
        return interop.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return interop.function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad and state.grad_enabled:
            raise TypeError(interop.conversion_error(self))
        _read("converts a Tensor to a NumPy array")
        a = self.numpy()
        if dtype is not None:
            return a.astype(dtype)
        return a.copy() if copy else a  # (np.array(t) copies, np.asarray(t) does not)

    def __format__(self, spec):
        if spec and self._data.ndim == 0:
            return format(self._data.item(), spec)
        return format(str(self), spec)

    # -- in place ---------------------------------------------------------------------------------
    def _update(self, opname, recorded, write, other=None):
        """The one in-place path (see the module docstring): `recorded()` computes the new value as
        recorded ops; `write(a)` updates a writable array `a` in place."""
        if state.grad_enabled and (self.requires_grad or (isinstance(other, TensorBase) and other.requires_grad)):
            if self.requires_grad and self._node is None:
                name = f" ('{self.name}')" if self.name else ""
                raise RuntimeError(
                    f"{opname}: a leaf tensor that requires grad{name} is used in an in-place operation; its "
                    "gradient would have nothing to refer to. Update parameters under `with cr.no_grad():` (the "
                    "training-loop idiom), or compute a new tensor (y = x + 1).")
            if self.dtype.kind not in "fc":
                raise TypeError(f"{opname}: a tensor of dtype {self.dtype} cannot take a value that requires grad "
                                "(cast it first: x = x.float())")
            out = recorded()
            if out.shape != self.shape:
                raise ShapeError(f"{opname}: the result has shape {out.shape}, the tensor updated in place "
                                 f"{self.shape}")
            if out.dtype != self.dtype:
                if self.dtype.kind not in "fc" or not np.can_cast(out.dtype, self.dtype, "same_kind"):
                    raise TypeError(f"{opname}: a result of dtype {out.dtype} cannot be written into a tensor of "
                                    f"dtype {self.dtype}")
                out = f.astype(out, self.dtype)
            self._data, self._node, self.requires_grad = out._data, out._node, True
        elif be.backend_of(self._data) is not None:  # another backend: the tensor takes the computed result
            out = recorded()
            if out.shape != self.shape:
                raise ShapeError(f"{opname}: the result has shape {out.shape}, the tensor updated in place "
                                 f"{self.shape}")
            self._data = (out if out.dtype == self.dtype else f.astype(out, self.dtype))._data
        else:
            _read("writes a Tensor in place outside the graph (x += ..., x[i] = ..., x.add_(...))")
            a = self._data
            if type(a) is not np.ndarray or not a.flags.writeable:
                a = np.array(a)  # never write into a read-only array: the tensor takes an updated copy
            try:
                write(a)
            except ValueError as e:
                raise ShapeError(f"{opname}: cannot update a tensor of shape {self.shape} in place with a value "
                                 f"of shape {np.shape(unwrap(other))}: {e}") from None
            except TypeError as e:
                raise TypeError(f"{opname}: {e} (the tensor has dtype {self.dtype})") from None
            except IndexError as e:
                raise IndexError(f"{opname}: {e} (the tensor has shape {self.shape})") from None
            self._data = a[()] if not a.shape else a
        self.bump_version()
        return self

    def _inplace(self, ufunc, prim, other, opname):
        o = unwrap(other)
        if isinstance(o, np.ndarray) and type(o) is not np.ndarray:
            o = o.view(np.ndarray)
        return self._update(opname, lambda: prim(self, other),
                            lambda a: ufunc(a, o, out=a, casting="same_kind"), other)

    def __iadd__(self, o):
        return self._inplace(np.add, add, o, "+=")

    def __isub__(self, o):
        return self._inplace(np.subtract, sub, o, "-=")

    def __imul__(self, o):
        return self._inplace(np.multiply, mul, o, "*=")

    def __itruediv__(self, o):
        return self._inplace(np.true_divide, div, o, "/=")

    def __ipow__(self, o):
        return self._inplace(np.power, power, o, "**=")

    def __setitem__(self, idx, value):
        v = unwrap(value)

        def write(a):
            a[f._index(idx)] = v

        self._update("setitem", lambda: f.setitem(self, idx, value), write, value)

    def add_(self, other, alpha=1):
        return self._inplace(np.add, add, other if alpha == 1 else other * alpha, "add_")

    def sub_(self, other, alpha=1):
        return self._inplace(np.subtract, sub, other if alpha == 1 else other * alpha, "sub_")

    def mul_(self, other):
        return self._inplace(np.multiply, mul, other, "mul_")

    def div_(self, other):
        return self._inplace(np.true_divide, div, other, "div_")

    def pow_(self, exponent):
        return self._inplace(np.power, power, exponent, "pow_")

    def neg_(self):
        return self._update("neg_", lambda: neg(self), lambda a: np.negative(a, out=a))

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        v = unwrap(value)

        def write(a):
            a[...] = v

        return self._update("fill_", lambda: f.setitem(self, Ellipsis, value), write, value)

    def copy_(self, src):
        """Copy src's values into this tensor (broadcast, cast to this tensor's dtype)."""
        v = unwrap(src)

        def write(a):
            np.copyto(a, np.broadcast_to(v, a.shape), casting="unsafe")

        return self._update("copy_", lambda: f.setitem(self, Ellipsis, f.astype(src, self.dtype)), write, src)

    def clamp_(self, min=None, max=None):
        lo, hi = unwrap(min), unwrap(max)
        return self._update("clamp_", lambda: f.clip(self, min, max), lambda a: np.clip(a, lo, hi, out=a))

    def uniform_(self, a=0.0, b=1.0, generator=None):
        vals = rng(generator).uniform(a, b, size=self.shape)
        return self._update("uniform_", lambda: f.setitem(self, Ellipsis, vals), lambda d: d.__setitem__(..., vals))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        vals = rng(generator).normal(mean, std, size=self.shape)
        return self._update("normal_", lambda: f.setitem(self, Ellipsis, vals), lambda d: d.__setitem__(..., vals))

    def detach_(self):
        self._node, self.requires_grad = None, False
        return self

    # -- metadata ---------------------------------------------------------------------------------
    def size(self, dim=None):
        """The shape (a tuple), or the size of axis `dim` (PyTorch's size(); NumPy's size is numel())."""
        s = self._data.shape
        if dim is None:
            return Size(s)
        return s[f._one_axis(dim, len(s), "size")]

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def dim(self):
        return self._data.ndim

    device = property(lambda self: be.device_of(self._data))
    is_cuda = property(lambda self: self.device.type == "cuda")

    def __len__(self):
        s = self._data.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    def requires_grad_(self, flag=True):
        if flag and self.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: needs floating-point data, got dtype {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    @property
    def dtype(self):
        """The dtype, as chainrule's (NumPy's) dtype names on every backend."""
        d = self._data.dtype
        return d if isinstance(d, np.dtype) else be.backend_of(self._data).np_dtype(d)
    grad_fn = property(lambda self: self._node)

    def element_size(self):
        return self.dtype.itemsize

    # -- dtypes and devices -------------------------------------------------------------------------
    def type(self, dtype=None):
        """No argument: the type's name ('chainrule.FloatTensor', as PyTorch's); otherwise cast."""
        if dtype is None:
            return type_name(self.dtype)
        return self._cast(to_dtype(dtype, "type"))

    def _cast(self, dtype):
        return self if dtype == self.dtype else f.astype(self, dtype)

    def to(self, *args, dtype=None, non_blocking=False, copy=False, memory_format=None, **kw):
        """to(dtype), to(device), to(device, dtype), to(other tensor), with dtype= and device=."""
        device_ = kw.pop("device", None)
        if kw:
            raise TypeError(f"to: unexpected arguments {sorted(kw)}")
        for a in args:
            if isinstance(a, TensorBase):
                dtype = a.dtype
            elif isinstance(a, device) or isinstance(a, str) and a.partition(":")[0] in _DEVICE_TYPES:
                device_ = a
            else:
                dtype = a
        out = self if device_ is None else self._moved(check_device(device_, "to"), "to")
        out = out if dtype is None else out._cast(to_dtype(dtype, "to"))
        return f.astype(out, out.dtype) if copy and out is self else out

    def _moved(self, dev, opname):
        """This tensor's values on device `dev` (itself when they are there)."""
        if be.device_of(self._data) == dev or dev.index is None and be.device_of(self._data).type == dev.type:
            return self
        return move(self, dev)  # recorded when it requires grad: the gradient goes back to this device

    def cpu(self):
        return self._moved(CPU, "cpu")

    def cuda(self, device=None):
        return self._moved(check_device("cuda" if device is None else device, "cuda"), "cuda")

    # -- the host's views of the values (a copy from another backend) --------------------------------
    def numpy(self, force=False):
        """The values as a NumPy array: the array itself on the CPU, a host copy from another device."""
        d = self._data
        return self.data if isinstance(d, (np.ndarray, np.generic)) else be.to_host(d)

    def item(self):
        _read("reads a Tensor's value with .item()")
        return _host(self._data).item()

    def tolist(self):
        _read("reads a Tensor's value with .tolist()")
        return _host(self._data).tolist()

    def __float__(self):
        _read("reads a Tensor's value with float()")
        if self.requires_grad:
            _dropped(self, "float")
        return float(_host(self._data))

    def __int__(self):
        _read("reads a Tensor's value with int()")
        if self.requires_grad:
            _dropped(self, "int")
        return int(_host(self._data))

    def __bool__(self):
        _read("reads a Tensor's value with bool() (an `if` or `while` on a Tensor)")
        return bool(_host(self._data))

    def __repr__(self):
        d = self._data
        if isinstance(d, (np.ndarray, np.generic)):
            return _repr(self)
        host = wrap(be.to_host(d), self._node)
        host.requires_grad, host.name = self.requires_grad, self.name
        return _repr(host)[:-1] + f", device='{self.device}')"

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        _read("calls backward()")
        d = self._data
        if isinstance(d, (np.ndarray, np.generic)) or not self.requires_grad:
            return TensorBase.backward(self, grad, retain_graph, create_graph)
        b = be.backend_of(d)  # another backend: the same steps, with its arrays
        if grad is None:
            if d.size != 1:
                return TensorBase.backward(self, None)  # (its error message)
            g = b.ns.ones(d.shape, dtype=d.dtype)
        elif isinstance(grad, TensorBase) and create_graph:
            g = grad
        else:
            g = b.ns.astype(be.to_device(unwrap(grad), be.device_of(d)) if hasattr(unwrap(grad), "shape") else
                            b.ns.asarray(unwrap(grad)), d.dtype)
        if tuple(g.shape) != tuple(d.shape):
            raise ShapeError(f"backward: grad has shape {tuple(g.shape)} but the output has shape {tuple(d.shape)}")
        if create_graph and not isinstance(g, TensorBase):
            g = wrap(g, None)
        if self._node is None:
            accumulate(self, g, True, create_graph)
        else:
            run_backward(self._node, g, retain_graph or create_graph, create_graph)

    def float(self):
        return self._cast(np.dtype(np.float32))

    def double(self):
        return self._cast(np.dtype(np.float64))

    def half(self):
        return self._cast(np.dtype(np.float16))

    def long(self):
        return self._cast(np.dtype(np.int64))

    def int(self):
        return self._cast(np.dtype(np.int32))

    def bool(self):
        return self._cast(np.dtype(bool))

    def astype(self, dtype):
        return f.astype(self, dtype)

    def clone(self):
        """A copy (recorded: the gradient flows back to this tensor)."""
        return f.astype(self, self.dtype)

    def contiguous(self):
        return self

    # -- values as Python values (each tells cr.compile's recording, which cannot replay them) ----------
    def __index__(self):
        _read("reads a Tensor's value as an index")
        return self._data.__index__()

    def _watched_data(self):  # (watch.report, inlined: the SGD idiom reads it every step)
        if _value_reads.hook is not None:
            _read("reads a Tensor's array with .data or .numpy()")
        return self._expose()

    def _watched_grad(self):
        if _value_reads.hook is not None:
            _read("reads .grad")
        g = self._grad
        if type(g) is np.ndarray:
            g = self._grad = g.view(_layer.grad_type)
        return g

    data = property(_watched_data, TensorBase.data.fset, doc=TensorBase.data.__doc__)
    grad = property(_watched_grad, TensorBase.grad.fset, doc=TensorBase.grad.__doc__)

    # -- shapes -------------------------------------------------------------------------------------
    T = property(lambda self: f.transpose(self))
    mT = property(lambda self: f.swapaxes(self, -2, -1))

    def reshape(self, *shape):
        return f.reshape(self, _shape_args(shape, "reshape"))

    view = reshape

    def view_as(self, other):
        return f.reshape(self, other.shape)

    reshape_as = view_as

    def transpose(self, *axes):
        """transpose(dim0, dim1) swaps two axes (PyTorch); transpose() and transpose(axes) permute them
        (NumPy)."""
        return f.transpose(self, *axes)

    def t(self):
        if self._data.ndim > 2:
            raise ShapeError(f"t: expects a tensor of at most 2 dimensions, got shape {self.shape}")
        return f.transpose(self)

    def permute(self, *dims):
        return f.permute(self, *dims)

    def swapaxes(self, a, b):
        return f.swapaxes(self, a, b)

    def flatten(self, start_dim=0, end_dim=-1):
        return f.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return f.squeeze(self, dim)

    def unsqueeze(self, dim):
        return f.unsqueeze(self, dim)

    def expand(self, *sizes):
        return f.expand(self, *sizes)

    def expand_as(self, other):
        return f.broadcast_to(self, other.shape)

    # -- reductions (dim/keepdim as PyTorch, axis/keepdims as NumPy) --------------------------------
    def sum(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
        return f.sum(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
        return f.mean(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return f.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return f.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
        return f.var(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
        return f.std(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def logsumexp(self, dim=None, keepdim=False):
        return f.logsumexp(self, dim, keepdim)

    def softmax(self, dim=None):
        return f.softmax(self, dim)

    def log_softmax(self, dim=None):
        return f.log_softmax(self, dim)

    argmax, argmin = f.argmax, f.argmin

    def all(self, dim=None, keepdim=False):
        return wrap(np.asarray(np.all(self._data, axis=dim, keepdims=keepdim))[()], None)

    def any(self, dim=None, keepdim=False):
        return wrap(np.asarray(np.any(self._data, axis=dim, keepdims=keepdim))[()], None)

    def norm(self, p=2, dim=None, keepdim=False):
        """The p-norm (p=2: Euclidean, over all elements when dim is None)."""
        if p == 2 or p == "fro":
            return sqrt(f.sum(self * self, dim, keepdim))
        if p == 1:
            return f.sum(abs(self), dim, keepdim)
        return f.sum(abs(self) ** p, dim, keepdim) ** (1.0 / p)

    # -- elementwise --------------------------------------------------------------------------------
    def clip(self, min=None, max=None):
        return f.clip(self, min, max)

    clamp = clip

    def pow(self, exponent):
        return self ** exponent

    def matmul(self, other):
        return matmul(self, other)

    mm = matmul

    def dot(self, other):
        """NumPy's dot (for 1-D tensors PyTorch's: the inner product)."""
        return interop.dot(self, other)

    exp, log, sqrt, tanh, sigmoid, relu, abs = exp, log, sqrt, tanh, sigmoid, relu, abs  # t.exp() is exp(t)
    mul, div, neg = mul, div, neg

    def add(self, other, alpha=1):
        return add(self, other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        return sub(self, other if alpha == 1 else other * alpha)


def _host(d):
    """A NumPy array or scalar with the values of `d` (itself on the CPU)."""
    return d if isinstance(d, (np.ndarray, np.generic)) else be.to_host(d)


def tensor(data, requires_grad=False, dtype=None, name=None, device=None):
    """Make a Tensor from a Python number, nested list, array or Tensor (the data is copied).

    Python floats become the default dtype (float64, unless `cr.set_default_dtype` changed it); an
    array keeps its dtype.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name, device=device)


def is_tensor(x):
    return isinstance(x, TensorBase)


provide(Tensor, TENSOR_NS, ARRAY_NS, GradArray, FOREIGN)
