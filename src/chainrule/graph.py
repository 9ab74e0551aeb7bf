"""The recorded graph and the backward pass.

A `Node` is one application of a primitive. It holds its parents (a parent `Node`, a leaf
`Tensor` that wants a gradient, or None for an input that needs none), the arrays its backward
rule reads (nothing else: intermediate values die with their tensors), the op's parameters and
the input shapes. Tensors point at nodes, nodes point at their parents, never back: a graph is
freed by reference counting alone.

Backward visits nodes in reverse creation order (a node is always created after its parents, so
decreasing `seq` is a topological order), applies each rule once with the summed upstream
gradient, and drops that gradient as soon as it is used.
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import ShapeError

_seq = itertools.count()
FREED = object()  # marks a node whose saved arrays were released by backward(retain_graph=False)


class _Mode:
    grad_enabled = True
    anomaly = False  # set by anomaly.detect_anomaly


mode = _Mode()


class no_grad:
    """Context manager (and decorator) under which no op is recorded."""

    _enabled = False

    def __enter__(self):
        self._prev = mode.grad_enabled
        mode.grad_enabled = self._enabled

    def __exit__(self, *exc):
        mode.grad_enabled = self._prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with type(self)():
                return fn(*a, **k)

        return wrapper


class enable_grad(no_grad):
    """Context manager that turns recording back on inside `no_grad`."""

    _enabled = True


def is_grad_enabled():
    return mode.grad_enabled


class Node:
    """One recorded primitive application."""

    __slots__ = ("prim", "parents", "saved", "ans", "params", "shapes", "seq", "__weakref__")

    def __init__(self, prim, parents, saved, ans, params, shapes):
        self.prim = prim
        self.parents = parents
        self.saved = saved
        self.ans = ans
        self.params = params
        self.shapes = shapes
        self.seq = next(_seq)

    def __repr__(self):
        return f"<Node {self.prim.name} #{self.seq} in={list(self.shapes)}>"


def reachable(root):
    """All nodes upstream of `root` (inclusive), in backward order (newest first)."""
    seen = {root}
    stack = [root]
    push, add = stack.append, seen.add
    while stack:
        for p in stack.pop().parents:
            if type(p) is Node and p not in seen:
                add(p)
                push(p)
    return sorted(seen, key=lambda n: n.seq, reverse=True)


def unbroadcast(xp, g, shape, opname="op"):
    """Sum `g` over the axes NumPy broadcasting added, so that it has `shape`."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, gshape[lead:])):
        raise ShapeError(f"{opname} backward: gradient of shape {gshape} cannot be reduced to "
                         f"the input's shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
    if axes:
        g = xp.sum(g, axis=axes)
    return xp.reshape(g, shape)


def broadcast_axes(gshape, shape):
    """The axes of a gradient of `gshape` summed to reach `shape` (for explanations)."""
    lead = len(gshape) - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)


def _freed_error(node):
    return RuntimeError(
        f"backward through the graph a second time: the arrays saved by '{node.prim.name}' were freed "
        "by the first backward(). Pass retain_graph=True to the first backward() to keep them.")


def run_backward(root, g, retain_graph=False, create_graph=False, hook=None):
    """Propagate upstream gradient `g` from node `root` to every leaf below it.

    Without create_graph every rule runs on raw arrays. With it, rules run on Tensors (the same
    rules, through the Tensor namespace), so the gradients have graphs of their own.
    `hook(node, upstream, raw_grads, grads)` is called per node when given (trace, anomaly).
    """
    from .primitive import ARRAY_NS, TENSOR_NS
    from .tensor import Tensor

    if mode.anomaly:
        from .anomaly import backward_hook
        hook = backward_hook(hook)
    order = reachable(root)
    pending = {root: g}
    xp = TENSOR_NS if create_graph else ARRAY_NS
    prev_mode = mode.grad_enabled
    mode.grad_enabled = create_graph
    try:
        for node in order:
            g = pending.pop(node, None)
            if g is None:
                continue
            saved = node.saved
            if saved is FREED:
                raise _freed_error(node)
            prim, parents, ans = node.prim, node.parents, node.ans
            if create_graph:
                saved = tuple(_wrap(s, p, Tensor) for s, p in zip(saved, parents))
                ans = None if ans is None else Tensor._wrap(ans, node)
            raw = prim.vjp(xp, parents, g, ans, *saved, **node.params)
            if type(raw) is not tuple:
                raw = (raw,)
            grads = []
            for parent, gi, shape in zip(parents, raw, node.shapes):
                if parent is None or gi is None:
                    grads.append(None)
                    continue
                if gi.shape != shape:
                    if not prim.broadcasts:
                        raise ShapeError(f"{prim.name} backward: the rule returned a gradient of shape "
                                         f"{gi.shape} for an input of shape {shape}")
                    gi = unbroadcast(xp, gi, shape, prim.name)
                grads.append(gi)
                if type(parent) is Node:
                    prev = pending.get(parent)
                    pending[parent] = gi if prev is None else prev + gi
                else:
                    if parent._version > node.seq:  # written in place since this node saved it?
                        _check_inplace(node)
                    _accumulate_leaf(parent, gi, g, create_graph)
            if hook is not None:
                hook(node, g, raw, grads)
            if not retain_graph:
                node.saved = FREED
                node.ans = None
    finally:
        mode.grad_enabled = prev_mode


def _check_inplace(node):
    from .anomaly import check_inplace

    check_inplace(node)


def _wrap(saved, parent, Tensor):
    if saved is None or parent is None:
        return saved
    if type(parent) is Node:
        return Tensor._wrap(saved, parent)
    return parent  # a leaf tensor: the second-order graph must reach it


def _accumulate_leaf(leaf, gi, upstream, create_graph):
    if not create_graph:
        if type(gi) is not np.ndarray:
            gi = np.asarray(gi)  # NumPy returns scalars for 0-d arithmetic; .grad is always an array
        if gi.dtype != leaf._data.dtype:
            gi = gi.astype(leaf._data.dtype)
        elif gi is upstream or gi.base is not None:
            gi = gi.copy()  # never hand out an array that another gradient shares
    elif gi.dtype != leaf._data.dtype:
        gi = gi.astype(leaf._data.dtype)
    if leaf.grad is None:
        leaf.grad = gi
    else:
        leaf.grad = leaf.grad + gi


def backward(tensor, grad=None, retain_graph=False, create_graph=False):
    """Tensor.backward: fill `.grad` of every leaf that `tensor` depends on."""
    from .tensor import Tensor

    if not tensor.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad (no input had requires_grad=True, "
                           "or it was computed under no_grad)")
    data = tensor._data
    if grad is None:
        if data.size != 1:
            raise RuntimeError(f"backward: the output has shape {data.shape}; backward() without an explicit "
                               "grad works only for a single-element output. Pass grad= with that shape "
                               "(e.g. grad=np.ones(shape)), or reduce the output first (e.g. .sum()).")
        g = np.ones_like(data)
    else:
        g = grad._data if isinstance(grad, Tensor) and not create_graph else grad
        if not isinstance(g, Tensor):
            try:
                g = np.asarray(g, dtype=data.dtype)
            except (TypeError, ValueError) as e:
                raise TypeError(f"backward: grad must be numbers of shape {data.shape}: {e}") from None
        if g.shape != data.shape:
            raise ShapeError(f"backward: grad has shape {g.shape} but the output has shape {data.shape}")
    if create_graph and not isinstance(g, Tensor):
        g = Tensor._wrap(g, None)
    node = tensor._node
    if node is None:
        _accumulate_leaf(tensor, g, None, create_graph)
        return
    # the gradient graph built by create_graph reads the saved arrays again, so keep them (as PyTorch)
    run_backward(node, g, retain_graph or create_graph, create_graph)
