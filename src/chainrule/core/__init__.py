"""The core: tensors, nodes, the backward pass with its observer interface, primitives.

Bottom to top: errors, node (Node, the clock, the graph walker), engine (grad mode, observers,
the chain-rule loop, what the layer above provides), tensor (TensorBase: data, grad, version,
backward), primitive (declarations, the registry, recording). Nothing here imports a module
outside `chainrule.core`.
"""

from .engine import Observer, backprop, enable_grad, install, is_grad_enabled, layer, no_grad, provide, state
from .errors import AnomalyError, CheckpointError, ExprError, GradcheckError, GraphvizNotFound, ShapeError, UsageError
from .node import FREED, Node, walk
from .primitive import REGISTRY, Primitive, emit, keep_values
from .tensor import TensorBase, unwrap, wrap

__all__ = ["Observer", "backprop", "enable_grad", "install", "is_grad_enabled", "layer", "no_grad", "provide", "state",
           "AnomalyError", "CheckpointError", "ExprError", "GradcheckError", "GraphvizNotFound", "ShapeError",
           "UsageError", "FREED", "Node", "walk", "REGISTRY", "Primitive", "emit", "keep_values",
           "TensorBase", "unwrap", "wrap"]
