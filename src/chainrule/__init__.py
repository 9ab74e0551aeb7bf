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
from .ops import Tensor, tensor
from .ops import (abs, broadcast_to, clip, concatenate, cos, exp, getitem, log, log_softmax, logsumexp, matmul,
                  max, maximum, mean, min, minimum, power, relu, reshape, sigmoid, sin, softmax, sqrt, stack, sum,
                  swapaxes, tanh, transpose, where)

# transforms, custom functions
from .transforms import Function, FunctionCtx, grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp

# checking and debugging
from .debug import (GraphCheckReport, check_graph, detect_anomaly, gradcheck, gradgradcheck, is_anomaly_enabled,
                    numerical_gradient, numerical_vjp, rel_error, set_detect_anomaly)

# seeing the backward flow
from .viz import Trace, explain

# neural networks, optimizers, data, checkpoints
from . import nn, optim
from . import data as data  # cr.data: Dataset, DataLoader, bundled data sets
from .io import load, save

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "keep_values", "ShapeError", "GradcheckError",
    "AnomalyError", "CheckpointError", "Primitive", "REGISTRY", "detect_anomaly", "set_detect_anomaly",
    "is_anomaly_enabled",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "matmul", "reshape", "transpose", "swapaxes", "broadcast_to", "getitem",
    "concatenate", "stack", "softmax", "log_softmax", "logsumexp", "clip", "power",
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "Function", "FunctionCtx",
    "gradcheck", "gradgradcheck", "numerical_gradient", "numerical_vjp", "rel_error", "check_graph",
    "GraphCheckReport", "explain", "Trace",
    "nn", "optim", "data", "save", "load",
]
