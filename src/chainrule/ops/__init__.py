"""Every primitive, grouped by family, and the public functions that call them (`cr.exp`,
`cr.sum`, ...); the Tensor class, whose operators and methods are these operations.

    elementwise  add sub mul div neg power exp log sqrt abs sin cos tanh sigmoid relu maximum
                 minimum where clip astype (+ sigmoid_composite, the fused sigmoid's twin)
    reduce       sum mean max min logsumexp softmax log_softmax
    shape        reshape transpose broadcast_to getitem scatter_add setitem concatenate stack
    linalg       matmul linear
    conv         im2col col2im conv2d max_pool2d
    losses       cross_entropy binary_cross_entropy binary_cross_entropy_with_logits
    recurrent    lstm_scan (the LSTM recurrence over a sequence, fused)
    special      erf gelu (+ gelu_composite, the fused gelu's twin)
    transfer     to_device (t.to(device) as a node: the gradient goes back to the input's device)
    functions    the public functions: arguments normalized and checked, then the primitive
    namespaces   ARRAY_NS and TENSOR_NS, the `xp` of backward rules
    dispatch     ops on another backend's arrays (CuPy, array_api_strict): one device, the primitive's xfwd
    dtypes       PyTorch's dtype and device names, the default dtype, the random generator
    gradarray    GradArray, the type of `.grad`
    interop      NumPy's protocols: ufuncs and array functions on Tensors record or refuse
    tensor       Tensor, tensor()
    factories    zeros, ones, full, arange, linspace, randn, ..., the *_like forms, from_numpy
"""

from ..core import REGISTRY
from . import conv, losses, recurrent, special
from .dtypes import (
                          CPU,
                          Generator,
                          accelerator,
                          backends,
                          cdouble,
                          cfloat,
                          complex64,
                          complex128,
                          cuda,
                          default_generator,
                          device,
                          double,
                          float16,
                          float32,
                          float64,
                          get_default_dtype,
                          half,
                          initial_seed,
                          int8,
                          int16,
                          int32,
                          int64,
                          long,
                          manual_seed,
                          seed,
                          set_default_dtype,
                          uint8,
)
from .dtypes import bool as bool  # (PyTorch's names: cr.float is float32, cr.int int32, cr.bool bool)
from .dtypes import float as float
from .dtypes import int as int
from .elementwise import (
                          abs,
                          add,
                          cos,
                          div,
                          exp,
                          log,
                          maximum,
                          minimum,
                          mul,
                          neg,
                          power,
                          relu,
                          sigmoid,
                          sigmoid_composite,
                          sin,
                          sqrt,
                          sub,
                          tanh,
)
from .factories import (
                          arange,
                          as_tensor,
                          empty,
                          empty_like,
                          eye,
                          from_numpy,
                          full,
                          full_like,
                          linspace,
                          normal,
                          ones,
                          ones_like,
                          rand,
                          rand_like,
                          randint,
                          randn,
                          randn_like,
                          randperm,
                          zeros,
                          zeros_like,
)
from .functions import (
                          allclose,
                          argmax,
                          argmin,
                          astype,
                          broadcast_to,
                          cat,
                          clamp,
                          clip,
                          concatenate,
                          eq,
                          equal,
                          expand,
                          flatten,
                          ge,
                          getitem,
                          gt,
                          le,
                          log_softmax,
                          logsumexp,
                          lt,
                          max,
                          mean,
                          min,
                          ne,
                          numel,
                          permute,
                          reshape,
                          scatter_add,
                          setitem,
                          softmax,
                          squeeze,
                          stack,
                          std,
                          sum,
                          swapaxes,
                          transpose,
                          unsqueeze,
                          var,
                          where,
)
from .gradarray import GradArray
from .linalg import linear, matmul
from .tensor import Size, Tensor, is_tensor, tensor

pow = power
mm = matmul

__all__ = ["add", "sub", "mul", "div", "neg", "power", "pow", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh",
           "sigmoid", "sigmoid_composite", "relu", "maximum", "minimum", "where", "clip", "clamp", "sum", "mean",
           "max", "min", "var", "std", "argmax", "argmin", "numel", "reshape", "transpose", "permute", "swapaxes",
           "broadcast_to", "expand", "flatten", "squeeze", "unsqueeze", "getitem", "scatter_add", "setitem",
           "concatenate", "cat", "stack", "matmul", "mm", "linear", "logsumexp", "softmax", "log_softmax", "astype",
           "eq", "ne", "lt", "le", "gt", "ge", "allclose", "equal", "conv", "losses", "recurrent", "special",
           "Tensor", "tensor", "is_tensor",
           "Size", "GradArray", "REGISTRY",
           "zeros", "ones", "full", "empty", "eye", "arange", "linspace", "rand", "randn", "randint", "randperm",
           "normal", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "from_numpy",
           "as_tensor",
           "float16", "half", "float32", "float64", "double", "complex64", "complex128", "cfloat", "cdouble",
           "int8", "int16", "uint8", "int32", "int64", "long", "device", "CPU", "accelerator", "cuda", "backends",
           "set_default_dtype", "get_default_dtype", "Generator", "default_generator", "manual_seed",
           "initial_seed", "seed"]
