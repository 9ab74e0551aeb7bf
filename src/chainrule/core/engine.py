"""The backward pass: the chain-rule loop, grad mode, and the observer interface.

Backward visits nodes newest first (a node is created after its inputs, so when it is popped
every consumer has already added its gradient), runs each rule once on the summed upstream
gradient, reduces broadcast gradients to the inputs' shapes (the one place that does), and drops
that upstream gradient as soon as it is used. Only nodes that receive a gradient are visited.

Everything else attaches through `Observer`: the trace behind `explain`, anomaly mode, the
in-place check, the pruning of `cr.grad` and friends. The engine imports none of them.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import weakref
from heapq import heappop, heappush

import numpy as np

from .errors import ShapeError
from .node import FREED, Node


class _Layer:
    """What the layer above provides (see `provide`)."""

    tensor_type = None    # the Tensor class: TensorBase with operators and methods
    grad_type = np.ndarray  # the type of `.grad`: an ndarray subclass
    tensor_ns = None      # the operations on Tensors: `xp` of backward rules under create_graph
    array_ns = None       # the same names on arrays: `xp` of backward rules otherwise
    foreign = None        # other array libraries than NumPy: apply(prim, args, params), namespace_of(g), grad(g, dtype)


layer = _Layer()


def provide(tensor_type, tensor_ns, array_ns, grad_type=np.ndarray, foreign=None):
    """Set what the core needs from the layer above and does not import: the Tensor class it makes
    tensors of, the two namespaces backward rules are written against, the array type of `.grad`, and
    the handler of arrays of other libraries than NumPy (`ops/dispatch.py`)."""
    layer.tensor_type, layer.tensor_ns, layer.array_ns = tensor_type, tensor_ns, array_ns
    layer.grad_type, layer.foreign = grad_type, foreign


# Per thread (as in PyTorch): (grad mode, keep_values limit), in a ContextVar. A new thread starts from the
# default (grad mode on; each asyncio task has its own too), and `mode()` is one C call, where an attribute
# of a `threading.local` costs about four times as much: it is read on every op (benchmarks/RESULTS.md, s4-speed).
_mode = contextvars.ContextVar("chainrule_mode", default=(True, 256))
mode = _mode.get


def switch(grad=None, keep=None):
    """Set grad mode or the keep limit in the calling thread; returns the previous value of that one."""
    g, k = mode()
    _mode.set((g if grad is None else grad, k if keep is None else keep))
    return g if keep is None else k


class _State:
    """`grad_enabled` and `keep_up_to` read and set the calling thread's `mode()`; the rest is
    process-wide: the observers installed (anomaly mode) and the latest in-place write."""

    __slots__ = ("observers", "on_apply", "on_record", "last_write")

    grad_enabled = property(lambda self: mode()[0], lambda self, v: switch(grad=bool(v)))
    keep_up_to = property(lambda self: mode()[1], lambda self, v: switch(keep=v))

    def __init__(self):  # the observers installed for the process (`install`); the clock stamp of the latest write
        self.observers, self.on_apply, self.on_record, self.last_write = (), (), (), -1


state = shared = _State()


class no_grad:
    """Context manager (and decorator) under which no op is recorded."""

    _enabled = False

    def __enter__(self):
        self._prev = switch(grad=self._enabled)

    def __exit__(self, *exc):
        switch(grad=self._prev)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with type(self)():
                return fn(*a, **k)

        return wrapper


class enable_grad(no_grad):
    """Context manager that turns recording back on inside `no_grad`."""

    _enabled = True


def is_grad_enabled():
    return mode()[0]


class Observer:
    """Something that watches the engine. Override the hooks you need; the engine calls only those.

    Forward (for observers installed with `observe`):
      applied(prim, inputs, out, params)  every application of a primitive, recorded or not
      recorded(node)                      a node was added to a graph
    Backward (installed, or passed to one pass):
      visit(node, need) -> need or None   before the node's rule runs: return the inputs that want a
                                          gradient (narrowed, to prune), or None to stop at this node
      visited(node, upstream, raw, grads) after it: the rule's results, and the same reduced to the
                                          inputs' shapes (None where no gradient is needed)
    """

    def applied(self, prim, inputs, out, params):
        pass

    def recorded(self, node):
        pass

    def visit(self, node, need):
        return need

    def visited(self, node, upstream, raw, grads):
        pass


def _hooks(observers, name):
    base = getattr(Observer, name)
    return tuple(getattr(o, name) for o in observers if getattr(type(o), name) is not base)


def install(*observers):
    """Set the observers installed for the whole process (anomaly mode uses this); returns the old
    ones, to put back."""
    prev = shared.observers
    shared.observers = observers
    shared.on_apply, shared.on_record = _hooks(observers, "applied"), _hooks(observers, "recorded")
    return prev


#: Memory written in place through a Tensor (in-place ops, optimizer steps, `t.data -= v`): id of the array
#: owning the memory -> [clock stamp of the latest write, weak reference to it]. Views share their owner's
#: entry, so a write through any view or alias of a saved array is seen.
WRITTEN: dict = {}


def owner(a):
    return a if a.base is None else a.base


def mark_written(a, stamp):
    root = owner(a)
    entry = WRITTEN.get(key := id(root))
    if entry is not None and entry[1]() is root:
        entry[0] = stamp
    else:  # (memory owned by an object without weak references, a bytes buffer, is not tracked)
        with contextlib.suppress(TypeError):
            WRITTEN[key] = [stamp, weakref.ref(root, lambda _, key=key: WRITTEN.pop(key, None))]


def written_since(a, seq):
    root = owner(a)
    entry = WRITTEN.get(id(root))
    return entry is not None and entry[0] > seq and entry[1]() is root


class _VersionCheck(Observer):
    """The in-place check: memory a node kept for its rules (an input, its output, a residual) was written
    in place after the node was recorded; or, for a leaf whose array the node kept a copy of, the leaf's
    array was (unless the leaf was given a new array since: `_held` is then the stamp of that). The
    engine consults it only for nodes recorded before the latest in-place write (the clock)."""

    def visit(self, node, need):
        saved, prim, seq, parents = node.saved, node.prim, node.seq, node.parents
        if saved is FREED:
            return need
        n = len(parents)
        ins, out, res = prim.reads(tuple(p is not None for p in parents))
        for i in (*ins, *(n + k for k in res), *((-1,) if out else ())):
            s, p = (node.ans, None) if i < 0 else (saved[i], parents[i] if i < n else None)
            leaf = p is not None and type(p) is not Node and s is not p._data and type(p._data) is np.ndarray
            if type(s) is np.ndarray and (written_since(s, seq) or leaf and not (
                    getattr(p, "_arrived", -1) > seq) and written_since(p._data, seq)):
                what = (f"the output of {prim.name}, of shape {s.shape}," if i < 0 else
                        f"the array {prim.residuals[i - n]!r} that {prim.name} kept" if i >= n else
                        ("a constant" if p is None else f"the output of {p.prim.name}" if type(p) is Node else
                         f"tensor '{p.name}'" if p.name else "a leaf tensor")
                        + f" of shape {s.shape} (input {prim.input_name(i)} of {prim.name})")
                raise RuntimeError(
                    f"{prim.name} backward: {what} was modified in place after {prim.name} saved it for the "
                    "backward pass, so its gradient would be wrong. Call backward() before updating it (e.g. "
                    "optimizer.step() after loss.backward()), or assign a new array (p.data = p.data - v).")
        return need


VERSIONS = _VersionCheck()


def backprop(roots, retain_graph=False, create_graph=False, observers=()):
    """Push the upstream gradients of `roots` ((node, gradient) pairs) down the graph, and return
    what arrives at leaves and at nodes an observer stopped at: ({leaf or node: gradient}, {leaves
    whose gradient may be aliased by another}).

    Without create_graph every rule runs on raw arrays; with it, the same rules run on Tensors, so
    the gradients have graphs of their own.
    """
    observers = (*observers, *state.observers)
    visit, visited = _hooks(observers, "visit"), _hooks(observers, "visited")
    last_write, array_ns = state.last_write, layer.array_ns
    pending, shared, heap = {}, set(), []
    for node, g in roots:
        if node in pending:
            pending[node] = pending[node] + g
        else:
            pending[node] = g
            heappush(heap, (-node.seq, node))
    pop, get = pending.pop, pending.get
    prev_mode = switch(grad=bool(create_graph))
    try:
        while heap:
            node = heappop(heap)[1]
            prim, saved, shapes, need = node.prim, node.saved, node.shapes, node.pn
            if need is None:  # (the `parents` property, inlined: this loop is hot)
                need = (node.p0, node.p1) if len(shapes) == 2 else (node.p0,)
            if node.seq < last_write:  # a tensor was written in place since this node was recorded
                need = VERSIONS.visit(node, need)
            if visit:
                for f in visit:
                    need = f(node, need)
                    if need is None:
                        break
                if need is None:
                    continue  # stopped here: the gradient stays in `pending` and is returned
            if saved is FREED:
                raise RuntimeError(f"backward through the graph a second time: the arrays saved by "
                                   f"'{prim.name}' were freed by the first backward(). Pass retain_graph=True "
                                   "to the first backward() to keep them.")
            g, params = pop(node), node.params
            if create_graph:
                raw = prim.tensor_rule(node, need, g)
            elif prim.fast is not None:  # (Primitive.array_rule, inlined; another backend's nodes have none)
                raw = prim.fast(need, g, node.ans, *saved, **params) if params else prim.fast(need, g, node.ans, *saved)
            else:  # (no `**params` when there are none: that would build a dict per node)
                raw = prim.vjp(array_ns, need, g, node.ans, *saved, **params) if params else \
                    prim.vjp(array_ns, need, g, node.ans, *saved)
            if type(raw) is not tuple:
                raw = (raw,)
            grads = [] if visited else None
            for parent, gi, shape in zip(need, raw, shapes):
                if parent is None or gi is None:
                    if grads is not None:
                        grads.append(None)
                    continue
                if gi.shape != shape:
                    gi = _reduce(prim, gi, shape)
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
            if grads is not None:
                for f in visited:
                    f(node, g, raw, grads)
            if not retain_graph:
                node.saved, node.ans = FREED, None  # free what the rules read
    finally:
        switch(grad=prev_mode)
    return pending, shared


def _reduce(prim, gi, shape):
    if not prim.broadcasts:
        raise ShapeError(f"{prim.name} backward: the rule returned a gradient of shape {tuple(gi.shape)} for an "
                         f"input of shape {shape}")
    return unbroadcast(gi, shape, prim.name, None if type(gi) is np.ndarray else layer.foreign.namespace_of(gi))


def unbroadcast(g, shape, opname="op", xp=None):
    """Sum `g` (an array or a Tensor) over the axes NumPy broadcasting added, so that it has `shape`
    (with `xp`'s functions for another backend's arrays, which may lack NumPy's methods)."""
    if g.shape == shape:
        return g
    axes = broadcast_axes(g.shape, shape, opname)
    if axes:
        g = g.sum(axis=axes) if xp is None else xp.sum(g, axis=axes)
    return g if g.shape == shape else (g.reshape(shape) if xp is None else xp.reshape(g, shape))


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


def run_backward(root, g, retain_graph=False, create_graph=False, observers=()):
    """Propagate `g` from node `root` to every leaf below it and accumulate what arrives into each
    leaf's `.grad` (what `Tensor.backward` does)."""
    arrived, shared = backprop([(root, g)], retain_graph, create_graph, observers)
    seen = set()
    for leaf, gi in arrived.items():
        accumulate(leaf, gi, leaf in shared or id(gi) in seen, create_graph)
        seen.add(id(gi))


def accumulate(leaf, gi, maybe_shared, create_graph):
    """Add gradient `gi` to `leaf.grad`, in the leaf's dtype, never handing out shared memory."""
    dtype = leaf._data.dtype
    if not create_graph:
        if type(gi) is not np.ndarray:  # NumPy scalars from 0-d arithmetic (.grad is an array), or another backend's
            gi = np.array(gi) if isinstance(gi, (np.generic, float, int)) else layer.foreign.grad(gi, dtype)
        elif maybe_shared or (gi.base is not None and (sys.getrefcount(gi.base) > 2 or not gi.flags.writeable)):
            gi = gi.copy()  # never hand out memory another gradient (or a saved array) can see
    if gi.dtype != dtype:
        gi = gi.astype(dtype)
    old = leaf._grad
    new = gi if old is None else old + gi
    leaf._grad = np.asarray(new) if isinstance(new, np.generic) else new
