"""chainrule: backpropagation on computational graphs, node by node.

    import chainrule as cr
    x = cr.tensor(-2.0, requires_grad=True)
    f = (x + 5.0) * -4.0
    f.backward()
    x.grad   # array(-4.)

The package is layered (docs/architecture.md): core, ops, transforms, debug, viz, nn, optim,
data, io, then the training loop and the `chainrule` command. This module only gathers the public
names; it adds nothing to any of them.
"""
# ruff: noqa: I001  (grouped by layer, bottom to top, not alphabetically)

# the core: tensors, primitives, the backward pass
from .core import (REGISTRY, AnomalyError, CheckpointError, GradcheckError, Primitive, ShapeError, enable_grad,
                   is_grad_enabled, keep_values, no_grad)
from .core.errors import GraphDroppedWarning
from .ops import GradArray, Size, Tensor, is_tensor, tensor
from .ops import (abs, allclose, argmax, argmin, broadcast_to, cat, clamp, clip, concatenate, cos, eq, equal, exp,
                  expand, flatten, ge, getitem, gt, le, log, log_softmax, logsumexp, lt, matmul, max, maximum, mean,
                  min, minimum, mm, ne, numel, permute, pow, power, relu, reshape, sigmoid, sin, softmax, sqrt,
                  squeeze, stack, std, sum, swapaxes, tanh, transpose, unsqueeze, var, where)

# factories, dtypes, devices, the random generator (PyTorch's names)
from .ops import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, normal, ones,
                  ones_like, rand, rand_like, randint, randn, randn_like, randperm, zeros, zeros_like)
from .ops import (Generator, accelerator, backends, cdouble, cfloat, complex64, complex128, cuda, default_generator,
                  device, double, float16, float32, float64, get_default_dtype, half, initial_seed, int8, int16,
                  int32, int64, long, manual_seed, seed, set_default_dtype, uint8)
from .ops import bool as bool, float as float, int as int  # PyTorch's dtype names (not in __all__)

# transforms, custom functions, PyTorch's torch.autograd
from .transforms import Function, FunctionCtx, grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .transforms.compile import compile as compile  # record-and-replay (not in __all__: shadows a builtin)
from . import autograd

# checking and debugging
from .debug import (GraphCheckReport, check_graph, detect_anomaly, gradcheck, gradgradcheck, is_anomaly_enabled,
                    numerical_gradient, numerical_vjp, rel_error, set_detect_anomaly)

# seeing the backward flow
from .viz import Trace, explain

# neural networks, optimizers, data, checkpoints
from . import nn, optim
from . import data as data  # cr.data: Dataset, DataLoader, bundled data sets
from . import utils  # cr.utils.data: PyTorch's place for Dataset and DataLoader
from .io import load, save

__version__ = "0.1.0"

__all__ = ["GraphDroppedWarning",
    "Tensor", "tensor", "is_tensor", "Size", "GradArray", "no_grad", "enable_grad", "is_grad_enabled", "keep_values",
    "ShapeError", "GradcheckError", "AnomalyError", "CheckpointError", "Primitive", "REGISTRY", "detect_anomaly",
    "set_detect_anomaly", "is_anomaly_enabled",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "var", "std", "argmax", "argmin", "numel", "matmul", "mm", "reshape", "transpose",
    "permute", "swapaxes", "broadcast_to", "expand", "flatten", "squeeze", "unsqueeze", "getitem", "concatenate",
    "cat", "stack", "softmax", "log_softmax", "logsumexp", "clip", "clamp", "power", "pow", "eq", "ne", "lt", "le",
    "gt", "ge", "allclose", "equal",
    "zeros", "ones", "full", "empty", "eye", "arange", "linspace", "rand", "randn", "randint", "randperm", "normal",
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "from_numpy", "as_tensor",
    "float16", "half", "float32", "float64", "double", "complex64", "complex128", "cfloat", "cdouble", "int8",
    "int16", "uint8", "int32", "int64", "long", "device", "accelerator", "cuda", "backends", "set_default_dtype",
    "get_default_dtype", "Generator", "default_generator", "manual_seed", "initial_seed", "seed",
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "Function", "FunctionCtx", "autograd",
    "gradcheck", "gradgradcheck", "numerical_gradient", "numerical_vjp", "rel_error", "check_graph",
    "GraphCheckReport", "explain", "Trace",
    "nn", "optim", "data", "utils", "save", "load",
]
# (cr.float, cr.int and cr.bool, PyTorch's dtype names, are left out of __all__: a star import would
# shadow the builtins)
