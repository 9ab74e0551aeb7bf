"""Every primitive, grouped by family, and the public functions that call them (`cr.exp`,
`cr.sum`, ...); the Tensor class, whose operators and methods are these operations.

    elementwise  add sub mul div neg power exp log sqrt abs sin cos tanh sigmoid relu maximum
                 minimum where clip astype (+ sigmoid_composite, the fused sigmoid's twin)
    reduce       sum mean max min logsumexp softmax log_softmax
    shape        reshape transpose broadcast_to getitem scatter_add concatenate stack
    linalg       matmul linear
    conv         im2col col2im conv2d max_pool2d
    losses       cross_entropy binary_cross_entropy binary_cross_entropy_with_logits
    functions    the public functions: arguments normalized and checked, then the primitive
    namespaces   ARRAY_NS and TENSOR_NS, the `xp` of backward rules
    tensor       Tensor, tensor()
"""

from ..core import REGISTRY
from . import conv, losses
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
from .functions import (
                          astype,
                          broadcast_to,
                          clip,
                          concatenate,
                          getitem,
                          log_softmax,
                          logsumexp,
                          max,
                          mean,
                          min,
                          reshape,
                          scatter_add,
                          softmax,
                          stack,
                          sum,
                          swapaxes,
                          transpose,
                          where,
)
from .linalg import linear, matmul
from .tensor import Tensor, tensor

__all__ = ["add", "sub", "mul", "div", "neg", "power", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh",
           "sigmoid", "sigmoid_composite", "relu", "maximum", "minimum", "where", "clip", "sum", "mean",
           "max", "min", "reshape", "transpose", "swapaxes", "broadcast_to", "getitem", "scatter_add",
           "concatenate", "stack", "matmul", "linear", "logsumexp", "softmax", "log_softmax", "astype", "conv",
           "losses", "Tensor", "tensor", "REGISTRY"]
