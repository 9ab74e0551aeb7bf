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
import operator
import sys
import types
from heapq import heappop, heappush

import numpy as np

from .errors import ShapeError

_seq = itertools.count()

# The array namespaces backward rules are written against (filled by chainrule.ops): NumPy's
# names for NumPy arrays, and the same names for Tensors (used under create_graph).
ARRAY_NS = types.SimpleNamespace()
TENSOR_NS = types.SimpleNamespace()
FREED = object()
#: gradients at least this large use a primitive's fused rule + broadcast reduction, when it has one
FUSE_REDUCTION_FROM = 4096  # marks a node whose saved arrays were released by backward(retain_graph=False)


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

    __slots__ = ("prim", "p0", "p1", "pn", "saved", "ans", "params", "shapes", "seq", "__weakref__")

    def __init__(self, prim, parents, saved, ans, params, shapes):
        # Parents of unary and binary ops sit in two slots rather than a tuple: one object per
        # node for the cycle collector to track instead of two, which halves its cost on big graphs.
        self.prim = prim
        n = len(parents)
        if n == 2:
            self.p0, self.p1 = parents
            self.pn = None
        elif n == 1:
            self.p0 = parents[0]
            self.p1 = self.pn = None
        else:
            self.p0 = self.p1 = None
            self.pn = tuple(parents)
        self.saved = saved
        self.ans = ans
        self.params = params
        self.shapes = shapes
        self.seq = next(_seq)

    @property
    def parents(self):
        """Per input: the parent Node, the leaf Tensor that wants a gradient, or None."""
        pn = self.pn
        if pn is not None:
            return pn
        return (self.p0, self.p1) if len(self.shapes) == 2 else (self.p0,)

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
    return sorted(seen, key=_by_seq, reverse=True)


_by_seq = operator.attrgetter("seq")


def unbroadcast(xp, g, shape, opname="op"):
    """Sum `g` over the axes NumPy broadcasting added, so that it has `shape`."""
    if g.shape == shape:
        return g
    axes = broadcast_axes(g.shape, shape, opname)
    if axes:
        g = xp.sum(g, axis=axes)
    return g if g.shape == shape else xp.reshape(g, shape)


def broadcast_axes(gshape, shape, opname="op"):
    """The axes of a gradient of `gshape` that are summed to bring it back to `shape` (the input's)."""
    lead = len(gshape) - len(shape)
    axes = list(range(lead))
    for i, s in enumerate(shape):
        gs = gshape[lead + i] if lead >= 0 else None
        if s != gs:
            if s != 1 or lead < 0:
                raise ShapeError(f"{opname} backward: gradient of shape {gshape} cannot be reduced to "
                                 f"the input's shape {shape}")
            axes.append(lead + i)
    return tuple(axes)


def _freed_error(node):
    return RuntimeError(
        f"backward through the graph a second time: the arrays saved by '{node.prim.name}' were freed "
        "by the first backward(). Pass retain_graph=True to the first backward() to keep them.")


def run_backward(root, g, retain_graph=False, create_graph=False, hook=None):
    """Propagate upstream gradient `g` from node `root` to every leaf below it, and accumulate
    what arrives into each leaf's `.grad` (what `Tensor.backward` does).

    `hook(node, upstream, raw_grads, grads)` is called per node when given (trace, anomaly).
    """
    arrived, shared = backprop([(root, g)], retain_graph, create_graph, hook)
    seen = set()
    for leaf, gi in arrived.items():
        _accumulate_leaf(leaf, gi, leaf in shared or id(gi) in seen, create_graph)
        seen.add(id(gi))


def backprop(roots, retain_graph=False, create_graph=False, hook=None, stop=None, relevant=None):
    """The backward pass proper: push upstream gradients from `roots` ((node, gradient) pairs)
    down the graph, each node once, newest first, and return what arrives at the leaves
    (or at the nodes in `stop`, which are not gone past): ({leaf or stop node: gradient},
    {those whose gradient may share memory with another}).

    Without create_graph every rule runs on raw arrays. With it, rules run on Tensors (the same
    rules, through the Tensor namespace), so the gradients have graphs of their own.
    `relevant` (a set of nodes) limits the work to the nodes in it: a rule is told that no
    gradient is needed for an input outside it (or outside `stop`).
    """
    if mode.anomaly:
        from .anomaly import backward_hook
        roots = list(roots)
        hook = backward_hook(hook, roots)
    pending = {}          # node or leaf tensor -> summed gradient so far
    shared = set()        # leaves whose pending gradient may be aliased elsewhere
    # Visit nodes newest first: a node is created after its inputs, so when it is popped every
    # consumer has already added its gradient. Only nodes that receive a gradient are visited.
    heap = []
    for node, g in roots:
        if node in pending:
            pending[node] = pending[node] + g
        else:
            pending[node] = g
            heappush(heap, (-node.seq, node))
    xp = TENSOR_NS if create_graph else ARRAY_NS
    prev_mode = mode.grad_enabled
    mode.grad_enabled = create_graph
    pop, get = pending.pop, pending.get
    try:
        while heap:
            node = heappop(heap)[1]
            if stop is not None and node in stop:
                continue
            g = pop(node)
            saved = node.saved
            if saved is FREED:
                raise _freed_error(node)
            prim, ans, shapes, parents = node.prim, node.ans, node.shapes, node.pn
            if parents is None:  # (the `parents` property, inlined: this loop is hot)
                parents = (node.p0, node.p1) if len(shapes) == 2 else (node.p0,)
            need = parents
            if relevant is not None:
                need = tuple(p if p is not None and (p in stop or p in relevant) else None for p in parents)
            if create_graph:
                Tensor = sys.modules["chainrule.tensor"].Tensor
                saved = tuple(_wrap(s, p, Tensor) for s, p in zip(saved, parents))
                ans = None if ans is None else Tensor._wrap(ans, node)
            if prim.vjp_reduced is not None and not create_graph and g.size >= FUSE_REDUCTION_FROM:
                raw = prim.vjp_reduced(need, g, ans, *saved, shapes=shapes, **node.params)
            else:
                raw = prim.vjp(xp, need, g, ans, *saved, **node.params)
            if type(raw) is not tuple:
                raw = (raw,)
            grads = [] if hook is not None else None
            for parent, gi, shape in zip(need, raw, shapes):
                if parent is None or gi is None:
                    if grads is not None:
                        grads.append(None)
                    continue
                if type(parent) is not Node and parent._ver > node.seq:
                    _check_inplace(node)  # a leaf written in place after this node saved it?
                if gi.shape != shape:
                    if not prim.broadcasts:
                        raise ShapeError(f"{prim.name} backward: the rule returned a gradient of shape "
                                         f"{gi.shape} for an input of shape {shape}")
                    gi = unbroadcast(xp, gi, shape, prim.name)
                if grads is not None:
                    grads.append(gi)
                prev = get(parent)
                if prev is None:
                    pending[parent] = gi
                    if type(parent) is Node:
                        heappush(heap, (-parent.seq, parent))
                    elif gi is g:
                        shared.add(parent)
                else:
                    pending[parent] = prev + gi
                    shared.discard(parent)
            if hook is not None:
                hook(node, g, raw, grads)
            if not retain_graph:
                node.saved = FREED
                node.ans = None
    finally:
        mode.grad_enabled = prev_mode
    return pending, shared


def _check_inplace(node):
    from .anomaly import check_inplace

    check_inplace(node)


def _wrap(saved, parent, Tensor):
    if saved is None or parent is None:
        return saved
    if type(parent) is Node:
        return Tensor._wrap(saved, parent)
    return parent  # a leaf tensor: the second-order graph must reach it


def _accumulate_leaf(leaf, gi, maybe_shared, create_graph):
    dtype = leaf._data.dtype
    if not create_graph:
        if type(gi) is not np.ndarray:
            gi = np.array(gi)  # NumPy scalars from 0-d arithmetic: .grad is always an array
        elif maybe_shared or (gi.base is not None and (sys.getrefcount(gi.base) > 2 or not gi.flags.writeable)):
            gi = gi.copy()  # never hand out memory that another gradient can see (or a read-only view)
        if gi.dtype != dtype:
            gi = gi.astype(dtype)
    elif gi.dtype != dtype:
        gi = gi.astype(dtype)
    old = leaf.grad
    leaf.grad = gi if old is None else old + gi


def backward(tensor, grad=None, retain_graph=False, create_graph=False):
    """Tensor.backward: fill `.grad` of every leaf that `tensor` depends on."""
    Tensor = sys.modules["chainrule.tensor"].Tensor  # (tensor.py imports this module: no import cycle)

    if not tensor.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad (no input had requires_grad=True, "
                           "or it was computed under no_grad)")
    data = tensor._data
    if grad is None:
        if data.size != 1:
            raise RuntimeError(f"backward: the output has shape {data.shape}; backward() without an explicit "
                               "grad works only for a single-element output. Pass grad= with that shape "
                               "(e.g. grad=np.ones(shape)), or reduce the output first (e.g. .sum()).")
        g = np.ones(data.shape, data.dtype) if type(data) is np.ndarray else data.dtype.type(1)
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
        _accumulate_leaf(tensor, g, True, create_graph)
        return
    # the gradient graph built by create_graph reads the saved arrays again, so keep them (as PyTorch)
    run_backward(node, g, retain_graph or create_graph, create_graph)

