"""Array backends: the array library that holds a tensor's values, and the device it lives on.

NumPy is the default and the fast path: a NumPy array is recognized by `type(x) is np.ndarray` and
never reaches this layer. Any other array (CuPy on an NVIDIA GPU; `array_api_strict`, the Array API
standard's reference namespace, used by the tests to catch NumPy-isms on the CPU) belongs to a
`Backend`: its namespace (through array-api-compat), its device type, host copies, and the shim for
what the standard lacks (see `shim.py`). The namespace is found once per array type (a dict keyed by
type), so one op costs one lookup, not one per element function.

Devices have PyTorch's names: "cpu" is NumPy, "cuda" / "cuda:1" is CuPy, "array_api_strict" is the
test stand-in. Asking for a device chainrule cannot use says exactly why: CuPy is not installed, or
CuPy finds no GPU, or chainrule has no backend of that name.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util

import numpy as np

from . import shim


class device:
    """PyTorch's `torch.device`: a type ("cpu", "cuda", ...) and an optional index."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, idx = type.partition(":")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = builtins.int(idx)
        self.type, self.index = name, index

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "array_api_strict")


class Backend(shim.Shim):
    """One array library other than NumPy. As the `xp` of forwards and backward rules it offers the
    library's Array API namespace (any name not defined here is looked up there) plus the names the
    rules use (`sum`, `transpose`, `astype` with NumPy dtypes, `scatter_add`, `setitem`, ...)."""

    def __init__(self, device_type, module, ns, array_type):
        self.name, self.module, self.ns, self.array_type = device_type, module, ns, array_type
        names = ("bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                 "complex64", "complex128")
        self.dtypes = {np.dtype(n): getattr(ns, n) for n in names if hasattr(ns, n)}
        self.np_dtypes = {d: n for n, d in self.dtypes.items()}

    def __getattr__(self, name):  # the namespace's own functions (cached on first use)
        f = getattr(self.ns, name)
        setattr(self, name, f)
        return f

    def __repr__(self):
        return f"<chainrule backend '{self.name}' ({self.module.__name__})>"

    # -- devices and host copies ------------------------------------------------------------------
    def device_of(self, arr):
        if self.name == "cuda":
            return device("cuda", builtins.int(arr.device.id))
        return device(self.name)

    def to_host(self, arr):
        """A NumPy copy of `arr`."""
        get = getattr(arr, "get", None)  # CuPy
        return get() if get is not None else np.array(np.from_dlpack(arr), copy=True)

    def from_host(self, arr, dev=None):
        """`arr` (NumPy) copied to this backend, on device `dev` (an index for CUDA)."""
        if self.name == "cuda" and dev is not None and dev.index is not None:
            with self.module.cuda.Device(dev.index):
                return self.module.asarray(arr)
        arr = np.asarray(arr)
        return self.ns.asarray(arr if arr.flags.c_contiguous else np.ascontiguousarray(arr))

    def to_device(self, arr, dev):
        return to_device(arr, dev)

    def dtype(self, d):
        """The backend's dtype for a NumPy dtype."""
        try:
            return self.dtypes[np.dtype(d)]
        except KeyError:
            raise TypeError(f"the {self.name} backend has no dtype {d}") from None

    def np_dtype(self, d):
        """The NumPy dtype (chainrule's dtype names) for one of the backend's dtypes."""
        return self.np_dtypes.get(d) or np.dtype(d)


_BY_TYPE: dict = {}     # array type -> Backend (the once-per-type namespace lookup)
_BY_DEVICE: dict = {}   # device type -> Backend
_MODULES = {"cuda": "cupy", "array_api_strict": "array_api_strict"}


def backend_of(arr):
    """The Backend of a non-NumPy array, or None for NumPy arrays, NumPy scalars and Python numbers."""
    t = type(arr)
    b = _BY_TYPE.get(t, False)
    if b is False:
        b = _BY_TYPE[t] = _find(arr)
    return b


def _find(arr):
    if isinstance(arr, (np.ndarray, np.generic, builtins.int, builtins.float, builtins.complex, builtins.bool)) \
            or not hasattr(arr, "__array_namespace__"):
        return None
    import_name = type(arr).__module__.partition(".")[0]
    for dev, mod in _MODULES.items():
        if mod == import_name:
            return get(device(dev))
    raise TypeError(f"chainrule has no backend for arrays of type {type(arr).__module__}.{type(arr).__name__} "
                    "(NumPy, CuPy and array_api_strict are supported)")


def get(dev):
    """The Backend of device `dev` (None for the CPU); raises RuntimeError saying why it is unavailable."""
    if dev.type == "cpu":
        return None
    b = _BY_DEVICE.get(dev.type)
    if b is None:
        b = _BY_DEVICE[dev.type] = _load(dev)
    return b


def _load(dev):
    mod_name = _MODULES.get(dev.type)
    if mod_name is None:
        raise RuntimeError(f"chainrule has no '{dev.type}' backend")
    if importlib.util.find_spec(mod_name) is None:
        if dev.type == "cuda":
            raise RuntimeError("CuPy is not installed (pip install chainrule[cuda], or the CuPy package for "
                               "your CUDA version)")
        raise RuntimeError(f"{mod_name} is not installed (pip install {mod_name.replace('_', '-')})")
    module = importlib.import_module(mod_name)
    if dev.type == "cuda":
        try:
            n = module.cuda.runtime.getDeviceCount()
        except Exception as e:  # CuPy raises its own CUDARuntimeError when there is no driver
            raise RuntimeError(f"CuPy is installed but finds no CUDA GPU ({type(e).__name__}: {e})") from None
        if n == 0:
            raise RuntimeError("CuPy is installed but finds no CUDA GPU")
        ns = importlib.import_module("array_api_compat.cupy")  # CuPy's namespace, completed to the standard
    else:
        ns = module
    b = Backend(dev.type, module, ns, type(ns.asarray(0.0)))
    _BY_TYPE[b.array_type] = b
    return b


def available(device_type):
    """True when tensors can be put on devices of this type."""
    try:
        get(device(device_type))
    except RuntimeError:
        return False
    return True


def check_device(d, opname):
    """`d` (None, a string or a device) as a device chainrule can use; anything else is refused, naming
    the op and the reason."""
    if d is None:
        return CPU
    dev = d if isinstance(d, device) else device(d)
    try:
        get(dev)
    except RuntimeError as e:
        raise RuntimeError(f"{opname}: device '{dev}' is not available: {e}") from None
    if dev.type == "cuda" and dev.index is not None:
        n = get(dev).module.cuda.runtime.getDeviceCount()
        if dev.index >= n:
            raise RuntimeError(f"{opname}: device '{dev}' is not available: CuPy sees {n} GPU(s)")
    return dev


def device_of(arr):
    """The device of an array (the CPU for NumPy arrays and numbers)."""
    b = backend_of(arr)
    return CPU if b is None else b.device_of(arr)


def to_device(arr, dev):
    """`arr` (any backend's) on device `dev`; the same object when it is there already."""
    src, dst = backend_of(arr), get(dev)
    if src is dst and (dst is None or dst.device_of(arr) == dev or dev.index is None):
        return arr
    host = arr if src is None else src.to_host(arr)
    return host if dst is None else dst.from_host(np.asarray(host), dev)


def to_host(arr):
    """A NumPy array (or the NumPy scalar itself) with the values of `arr`."""
    b = backend_of(arr)
    return arr if b is None else b.to_host(arr)


def namespace(arr):
    """The namespace to compute with on `arr`: NumPy itself for NumPy arrays and numbers, else the
    backend's Array API namespace."""
    b = backend_of(arr)
    return np if b is None else b.ns
