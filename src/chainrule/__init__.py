"""chainrule: backpropagation on computational graphs, node by node.

    import chainrule as cr
    x = cr.tensor(-2.0, requires_grad=True)
    f = (x + 5.0) * -4.0
    f.backward()
    x.grad   # array(-4.)
"""

# the core: tensors, primitives, the backward pass
from .tensor import Tensor, tensor  # noqa: I001  (tensor first: it loads ops and primitive in order)
from .errors import AnomalyError, GradcheckError, ShapeError
from .graph import enable_grad, is_grad_enabled, no_grad
from .ops import (abs, broadcast_to, clip, concatenate, cos, exp, getitem, log, log_softmax, logsumexp, matmul,
                  max, maximum, mean, min, minimum, power, relu, reshape, sigmoid, sin, softmax, sqrt, stack, sum,
                  swapaxes, tanh, transpose, where)
from .primitive import REGISTRY, Primitive
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly

# transforms, custom functions, checking
from .check import (GraphCheckReport, check_graph, gradcheck, gradgradcheck, numerical_gradient, numerical_vjp,
                    rel_error)
from .function import Function, FunctionCtx
from .functional import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp

# seeing the backward flow
from .trace import Trace, explain

# neural networks, optimizers, checkpoints
from . import nn, optim
from . import data as data  # cr.data: Dataset, DataLoader, bundled data sets
from .io import load, save

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "ShapeError", "GradcheckError",
    "AnomalyError", "Primitive", "REGISTRY", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "matmul", "reshape", "transpose", "swapaxes", "broadcast_to", "getitem",
    "concatenate", "stack", "softmax", "log_softmax", "logsumexp", "clip", "power",
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "Function", "FunctionCtx",
    "gradcheck", "gradgradcheck", "numerical_gradient", "numerical_vjp", "rel_error", "check_graph",
    "GraphCheckReport", "explain", "Trace",
    "nn", "optim", "save", "load",
]
