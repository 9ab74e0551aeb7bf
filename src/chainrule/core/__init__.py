"""The core: tensors, nodes, the backward pass with its observer interface, primitives.

Bottom to top: errors, node (Node, the clock, the graph walker), engine (grad mode, observers,
the chain-rule loop), tensor (Tensor, whose operators call the ops namespace the layer above
provides), primitive (declarations, the registry, recording). Nothing here imports a module
outside `chainrule.core`.
"""

from .engine import ARRAY_NS, Observer, backprop, enable_grad, install, is_grad_enabled, no_grad, state
from .errors import AnomalyError, CheckpointError, ExprError, GradcheckError, GraphvizNotFound, ShapeError, UsageError
from .node import FREED, Node, walk
from .primitive import REGISTRY, Primitive, emit, keep_values
from .tensor import Tensor, ops, tensor, unwrap, wrap

__all__ = ["Observer", "backprop", "enable_grad", "install", "is_grad_enabled", "no_grad", "state",
           "AnomalyError", "CheckpointError", "ExprError", "GradcheckError", "GraphvizNotFound", "ShapeError",
           "UsageError", "FREED", "Node", "walk", "ARRAY_NS", "REGISTRY", "Primitive", "emit", "keep_values",
           "Tensor", "ops", "tensor", "unwrap", "wrap"]
