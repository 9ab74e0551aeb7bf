"""PyTorch's `torch.autograd`, in its place: `Function`, `grad`, `backward`, `Variable`, and the
grad-mode switches. A thin module over `chainrule.transforms` and the core.

    import chainrule as torch
    (dx,) = torch.autograd.grad(y, x)      # dy/dx, leaving x.grad alone
"""

from __future__ import annotations

import numpy as np

from .core import Node, TensorBase, enable_grad, is_grad_enabled, no_grad, walk
from .ops import tensor
from .transforms import Function, FunctionCtx, grads_of

__all__ = ["Function", "FunctionCtx", "grad", "backward", "Variable", "no_grad", "enable_grad", "is_grad_enabled"]


def _seq(x, what):
    if isinstance(x, TensorBase):
        return [x]
    xs = list(x)
    for i, t in enumerate(xs):
        if not isinstance(t, TensorBase):
            raise TypeError(f"autograd.grad: {what}[{i}] is a {type(t).__name__}, not a Tensor")
    return xs


def _cotangents(outputs, grad_outputs, opname):
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (TensorBase, np.ndarray)):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{opname}: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    out = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if o.data.size != 1:
                raise RuntimeError(f"{opname}: output {i} has shape {o.shape}; a gradient can be implied only "
                                   "for a single-element output. Pass grad_outputs with that shape.")
            g = np.ones(o.shape, dtype=o.dtype)
        elif tuple(getattr(g, "shape", np.shape(g))) != o.shape:
            raise ValueError(f"{opname}: grad_outputs[{i}] has shape {np.shape(g)}, output {i} has shape {o.shape}")
        out.append(g)
    return out


def _used(outputs, inputs):
    """For each input, whether some output depends on it."""
    roots = [o._node for o in outputs if o._node is not None]
    nodes = set(walk(roots)) if roots else set()
    leaves = {id(p) for n in nodes for p in n.parents if p is not None and type(p) is not Node}
    outs = {id(o) for o in outputs}
    return [id(t) in outs or (t._node in nodes if t._node is not None else id(t) in leaves) for t in inputs]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` (weighted by `grad_outputs`) with respect to `inputs`, as a tuple of
    Tensors, without touching any `.grad` (torch.autograd.grad). An input the outputs do not depend
    on is an error, unless `allow_unused=True` (its gradient is then None, or zeros with
    `materialize_grads=True`). With `create_graph=True` the gradients have graphs of their own."""
    outputs, inputs = _seq(outputs, "outputs"), _seq(inputs, "inputs")
    if is_grads_batched:
        raise NotImplementedError("autograd.grad: is_grads_batched is not supported")
    for i, o in enumerate(outputs):
        if not o.requires_grad:
            raise RuntimeError(f"autograd.grad: element {i} of outputs does not require grad and has no graph")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"autograd.grad: inputs[{i}] (shape {t.shape}) does not require grad")
    used = _used(outputs, inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    if not allow_unused and not all(used):
        i = used.index(False)
        raise RuntimeError(f"autograd.grad: inputs[{i}] (shape {inputs[i].shape}) is not used by the outputs; "
                           "pass allow_unused=True to get None for it")
    grads = grads_of(outputs, _cotangents(outputs, grad_outputs, "autograd.grad"), inputs,
                     create_graph=bool(create_graph))
    return tuple(g if u or materialize_grads else None for g, u in zip(grads, used))


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradients of `tensors` into the `.grad` of the leaves (torch.autograd.backward)."""
    tensors = _seq(tensors, "tensors")
    if inputs is not None:
        inputs = _seq(inputs, "inputs")
        for t, g in zip(inputs, grad(tensors, inputs, grad_tensors, create_graph=create_graph, allow_unused=True,
                                     materialize_grads=True)):
            t.grad = g.data if t.grad is None else t.grad + g.data
        return
    for t, g in zip(tensors, _cotangents(tensors, grad_tensors, "autograd.backward")):
        t.backward(g, retain_graph=bool(retain_graph) or len(tensors) > 1, create_graph=create_graph)


def Variable(data, requires_grad=False, volatile=False):
    """The old PyTorch wrapper: a Tensor (requiring grad if asked)."""
    if isinstance(data, TensorBase):
        return data.requires_grad_(True) if requires_grad else data
    return tensor(data, requires_grad=requires_grad)
