"""chainrule: backpropagation on computational graphs, node by node.

    import chainrule as cr
    x = cr.tensor(-2.0, requires_grad=True)
    f = (x + 5.0) * -4.0
    f.backward()
    x.grad   # array(-4.)
"""

from . import data as data  # cr.data
from .check import numerical_gradient, rel_error
from .errors import AnomalyError, GradcheckError, ShapeError
from .graph import enable_grad, is_grad_enabled, no_grad
from .ops import (
                  abs,
                  broadcast_to,
                  clip,
                  concatenate,
                  cos,
                  exp,
                  getitem,
                  log,
                  log_softmax,
                  logsumexp,
                  matmul,
                  max,
                  maximum,
                  mean,
                  min,
                  minimum,
                  power,
                  relu,
                  reshape,
                  sigmoid,
                  sin,
                  softmax,
                  sqrt,
                  stack,
                  sum,
                  swapaxes,
                  tanh,
                  transpose,
                  where,
)
from .primitive import REGISTRY, Primitive
from .tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "ShapeError", "GradcheckError",
    "AnomalyError", "Primitive", "REGISTRY",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "matmul", "reshape", "transpose", "swapaxes", "broadcast_to", "getitem",
    "concatenate", "stack", "softmax", "log_softmax", "logsumexp", "clip", "power",
    "numerical_gradient", "rel_error",
]

from . import nn, optim  # noqa: E402  (nn builds on the core above)
from .io import load, save  # noqa: E402

__all__ += ["nn", "optim", "save", "load"]
