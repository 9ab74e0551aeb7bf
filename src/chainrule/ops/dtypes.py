"""PyTorch's names for dtypes and devices, the default dtype, and the random generator.

dtypes are NumPy dtypes under PyTorch's names (`cr.float32 is np.dtype("float32")`, `cr.float` is
float32 and `cr.long` int64, as in PyTorch). NumPy on the CPU is the
default device; "cuda" is CuPy, where CuPy and a GPU are present (`cr.cuda.is_available()`), and
"array_api_strict" is the Array API reference namespace the tests run on (see chainrule/backend).

The default dtype: Python floats (and the float factories, `cr.randn`, `cr.zeros`, ...) give float64,
so that gradients check to many digits; layers' parameters are float32, as PyTorch's.
`cr.set_default_dtype(d)` makes both `d` (`cr.set_default_dtype(cr.float32)` behaves as PyTorch).

`cr.manual_seed(n)` seeds the one generator behind the random factories, the layers' initializers,
dropout and the shuffling DataLoader, so a run repeats. It is NumPy's PCG64: the numbers are not
PyTorch's.
"""

from __future__ import annotations

import builtins
import types

import numpy as np

from .. import backend
from ..backend import CPU, check_device, device  # noqa: F401 (re-exported: cr.device)

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
complex64 = cfloat = np.dtype("complex64")
complex128 = cdouble = np.dtype("complex128")
int8, int16, uint8 = np.dtype("int8"), np.dtype("int16"), np.dtype("uint8")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool = np.dtype("bool")

DTYPE_NAMES = {"float16": float16, "half": half, "float32": float32, "float": float32, "float64": float64,
               "double": float64, "complex64": complex64, "complex128": complex128, "int8": int8,
               "int16": int16, "uint8": uint8, "int32": int32, "int": int32, "int64": int64, "long": int64,
               "bool": bool}
_TENSOR_TYPES = {"HalfTensor": float16, "FloatTensor": float32, "DoubleTensor": float64, "CharTensor": int8,
                 "ShortTensor": int16, "ByteTensor": uint8, "IntTensor": int32, "LongTensor": int64,
                 "BoolTensor": bool}


def to_dtype(d, opname="dtype"):
    """A NumPy dtype from a dtype, a NumPy or Python type, or a name ("float32", "torch.float32",
    "torch.FloatTensor")."""
    if isinstance(d, np.dtype):
        return d
    if isinstance(d, str):
        name = d.rpartition(".")[2]
        if name in _TENSOR_TYPES:
            return _TENSOR_TYPES[name]
        if name in DTYPE_NAMES:
            return DTYPE_NAMES[name]
    try:
        return np.dtype(d)
    except TypeError:
        raise TypeError(f"{opname}: {d!r} is not a dtype (use cr.float32, cr.float64, cr.long, ...)") from None


def type_name(dtype):
    """PyTorch's name of a tensor type: 'chainrule.FloatTensor' for float32, ..."""
    for name, d in _TENSOR_TYPES.items():
        if d == dtype:
            return f"chainrule.{name}"
    return f"chainrule.{dtype}Tensor"


class _Defaults:
    dtype = float64     # Python floats and the float factories
    param = float32     # the parameters of layers


defaults = _Defaults()


def set_default_dtype(d):
    """From now on Python floats, the float factories and new layers' parameters are `d` (a float
    dtype). chainrule's default is float64 for tensors and float32 for layers; PyTorch's is float32."""
    d = to_dtype(d, "set_default_dtype")
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes can be the default, got {d}")
    defaults.dtype = defaults.param = d


def get_default_dtype():
    return defaults.dtype


def float_dtype(dtype, opname):
    """`dtype` as a NumPy dtype, or the default dtype when None."""
    return defaults.dtype if dtype is None else to_dtype(dtype, opname)


# -- devices ----------------------------------------------------------------------------------------
# `device`, `CPU` and `check_device` live in the backend layer (chainrule/backend), which knows which
# array library serves which device; these are PyTorch's availability queries over it.

def _false():
    return False


def _cuda_count():
    return backend.get(device("cuda")).module.cuda.runtime.getDeviceCount() if backend.available("cuda") else 0


accelerator = types.SimpleNamespace(is_available=lambda: backend.available("cuda"), device_count=_cuda_count,
                                    current_accelerator=lambda: device("cuda") if backend.available("cuda") else None)
cuda = types.SimpleNamespace(is_available=lambda: backend.available("cuda"), device_count=_cuda_count)
backends = types.SimpleNamespace(mps=types.SimpleNamespace(is_available=_false, is_built=_false),
                                 cuda=types.SimpleNamespace(is_built=lambda: backend.available("cuda")))


# -- the random generator -----------------------------------------------------------------------------

class Generator:
    """A random generator with PyTorch's interface (`manual_seed`, `initial_seed`, `get_state`,
    `set_state`); NumPy's PCG64 underneath. Pass one as `generator=` to the random factories or a
    DataLoader."""

    def __init__(self, device="cpu"):
        check_device(device, "Generator")
        self._seed = builtins.int(np.random.SeedSequence().entropy % (1 << 63))
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        seed = builtins.int(seed)
        if seed < 0:
            raise ValueError(f"manual_seed: the seed must be a non-negative integer, got {seed}")
        self._seed = seed
        self.rng = np.random.default_rng(seed)
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        """Reseed from fresh entropy and return the new seed."""
        return self.manual_seed(builtins.int(np.random.SeedSequence().entropy % (1 << 63))).initial_seed()

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state
        return self

    def __repr__(self):
        return f"<chainrule.Generator seed={self._seed}>"


default_generator = Generator()


def manual_seed(seed):
    """Seed the generator behind the random factories, initializers, dropout and DataLoader shuffling."""
    return default_generator.manual_seed(seed)


def initial_seed():
    return default_generator.initial_seed()


def seed():
    return default_generator.seed()


def rng(generator=None):
    """The NumPy generator to draw from: `generator`'s (a Generator or a NumPy Generator), else the default."""
    if generator is None:
        return default_generator.rng
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator: expected a chainrule.Generator or a numpy Generator, got {type(generator).__name__}")
