"""Custom differentiable functions, as `torch.autograd.Function`.

    class Exp(cr.Function):
        @staticmethod
        def forward(ctx, x):
            y = cr.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    Exp.apply(x)

`forward` runs with recording off and receives the Tensor arguments as they are (other
arguments, numbers, arrays, strings, pass through untouched); it returns a Tensor, array or
number, or a tuple of them. `backward` receives one upstream gradient per output (a Tensor;
None for a non-float output) and returns one gradient per argument of `apply` (None for
arguments without one), or one per Tensor argument; for a single input the gradient alone.

Each Function class becomes a node kind named after the class (not registered in the primitive
registry: it is user code), recorded through the same path as every primitive: its `ctx` is the
node's residual, the packed outputs its output. Traces, drawings and `cr.check_graph` see it like
any other node; `check_graph` re-runs `forward` on perturbed inputs. Several outputs are packed
into one flat node output and taken back out by `getitem` + `reshape` nodes.

Under `backward(create_graph=True)` (and in nested `cr.grad`), `backward` runs with recording on,
on Tensors that carry the graph: if it is written with chainrule operations it is itself
differentiable. One written with NumPy on `.data` gives correct first derivatives only.
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, TensorBase, emit, no_grad, state, unwrap, wrap
from ..core.engine import written_since
from ..core.node import clock
from ..ops import getitem, reshape

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """What `forward` leaves for `backward`: saved tensors, flags and any attribute you set."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = self._kept = ()
        self._outputs = ()  # while backward runs: the outputs, for saved outputs to resolve to
        self._stamp, self._create_graph = -1, False

    def save_for_backward(self, *tensors):
        """Keep tensors (and arrays) for backward. What is kept is guarded as a node's saved arrays are:
        the array of each tensor (a copy where the user can reach it, as every NumPy array given here),
        checked at backward for in-place writes made after this call."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, (TensorBase, np.ndarray, np.generic, int, float)):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}; save Tensors, "
                                "arrays or None (keep other values as attributes of ctx)")
        self._saved = tensors
        self._kept = tuple(_kept(t) for t in tensors)
        self._stamp = next(clock)

    @property
    def saved_tensors(self):
        out = []
        for i, (s, a) in enumerate(zip(self._saved, self._kept)):
            if isinstance(s, _OutputRef):
                out.append(self._outputs[s.index])
            elif not isinstance(s, TensorBase):
                out.append(a)
            elif type(a) is np.ndarray and written_since(a, self._stamp):
                raise RuntimeError(f"saved_tensors: the tensor saved as argument {i} of save_for_backward (shape "
                                   f"{a.shape}) was modified in place after it was saved, so the gradient would be "
                                   "wrong. Call backward() before updating it.")
            elif s._data is a:
                out.append(s)
            elif s._node is not None or not (self._create_graph and s.requires_grad):
                out.append(wrap(a, s._node))  # the values it had when saved
            else:
                raise RuntimeError(f"saved_tensors: the leaf tensor saved as argument {i} of save_for_backward was "
                                   "written after it was saved; under create_graph its gradient cannot be traced "
                                   "through the saved values. Call backward() before updating it.")
        return tuple(out)

    def __repr__(self):
        return f"<FunctionCtx needs_input_grad={self.needs_input_grad} saved={len(self._saved)}>"


class _OutputRef:
    """Stands in ctx for a saved output, so that the node does not refer to itself."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class _FunctionPrimitive(Primitive):
    """The node kind of one Function class (two, in fact: with and without its output kept for a
    backward that reads saved outputs). Deliberately not registered."""

    def __init__(self, cls, reads):
        super().__init__(cls.__name__, self._fwd, self._vjp, fast=self._fast, inputs="*inputs", residuals="ctx",
                         reads=reads, register=False, local=(f"{cls.__name__}.backward(ctx, upstream)",),
                         doc=(cls.__doc__ or "").strip().split("\n")[0] or f"custom Function {cls.__name__}")
        self.cls = cls

    def __repr__(self):
        return f"<Function {self.name}>"

    def _fwd(self, *datas, args, tensor_pos, layout):
        """Re-run forward on new input values (check_graph does): the packed output and a fresh ctx."""
        args = list(args)
        for i, d in zip(tensor_pos, datas):
            args[i] = wrap(np.asarray(d), None)
        ctx = FunctionCtx(tuple(i in tensor_pos for i in range(len(args))))
        with no_grad():
            out = self.cls.forward(ctx, *args)
        outs, _ = _outputs(out, self.name)
        return _pack([_array(o) for o in outs], layout), ctx

    def _vjp(self, xp, need, g, ans, *inputs_ctx, args, tensor_pos, layout):
        """Under create_graph: `backward` runs on Tensors that carry the graph."""
        gs, outs = _unpack(xp, g, ans, layout)
        return self._backward(inputs_ctx[-1], gs, outs, need, args, tensor_pos, True)

    def _fast(self, need, g, ans, *inputs_ctx, args, tensor_pos, layout):
        gs, outs = _unpack(None, g, ans, layout)
        gs = [None if gi is None else wrap(np.asarray(gi), None) for gi in gs]
        outs = [None if o is None else wrap(np.asarray(o), None) for o in outs]
        return self._backward(inputs_ctx[-1], gs, outs, need, args, tensor_pos, False)

    def _backward(self, ctx, gs, outs, need, args, tensor_pos, create_graph):
        ctx._outputs, ctx._create_graph = outs, create_graph
        try:
            raw = self.cls.backward(ctx, *gs)
        finally:
            ctx._outputs = ()
        nargs = len(args)
        raw = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        if len(raw) == nargs:
            raw = tuple(raw[i] for i in tensor_pos)
        elif len(raw) != len(tensor_pos):
            raise TypeError(f"{self.name}.backward returned {len(raw)} gradient(s); expected one per "
                            f"argument of apply ({nargs}) or one per Tensor argument ({len(tensor_pos)})")
        grads = []
        for gi, n in zip(raw, need):
            if n is None or gi is None:
                grads.append(None)
            elif create_graph:
                grads.append(gi if isinstance(gi, TensorBase) else wrap(np.asarray(gi), None))
            else:
                grads.append(np.asarray(unwrap(gi)))
        return tuple(grads)


def _kept(t):
    """What ctx keeps of one saved value: a tensor's array (a copy once it was handed out), a copy of an array."""
    if isinstance(t, TensorBase):
        d = t._data
        return d.copy() if t._held is not None and type(d) is np.ndarray else d
    return np.array(t) if isinstance(t, np.ndarray) else t


def _unpack(xp, g, ans, layout):
    """The upstream gradient and output of each output, out of the packed ones."""
    if len(layout) == 1:
        return [g], [ans]
    gs, outs = [], []
    for start, stop, shape, diff in layout:
        gs.append((g[start:stop].reshape(shape) if xp is None else xp.reshape(g[start:stop], shape)) if diff else None)
        if ans is None or not diff:
            outs.append(None)
        else:
            outs.append(ans[start:stop].reshape(shape) if xp is None else xp.reshape(ans[start:stop], shape))
    return gs, outs


def _array(o):
    return np.asarray(unwrap(o))


def _outputs(out, name):
    if isinstance(out, (tuple, list)):
        if not out:
            raise TypeError(f"{name}.forward returned an empty tuple")
        return list(out), True
    if out is None:
        raise TypeError(f"{name}.forward returned None; it must return its output(s)")
    return [out], False


def _pack(arrays, layout):
    if len(layout) == 1:
        return arrays[0]
    parts = [a.reshape(-1) for a, (_, _, _, diff) in zip(arrays, layout) if diff]
    return np.concatenate(parts) if parts else np.zeros(0)


class Function:
    """Base class of custom differentiable functions (see the module docstring).

    Subclass with static `forward(ctx, *args)` and `backward(ctx, *grads)`, call `.apply(*args)`.
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("Function subclasses must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("Function subclasses must define backward(ctx, *grads)")

    @classmethod
    def _primitive(cls, saves_output):
        prims = cls.__dict__.get("_prims")
        if prims is None:
            prims = cls._prims = (_FunctionPrimitive(cls, "ctx"), _FunctionPrimitive(cls, "ctx out"))
        return prims[saves_output]

    @classmethod
    def apply(cls, *args):
        if cls.forward is Function.forward:
            raise NotImplementedError(f"{cls.__name__} must define forward(ctx, *args)")
        tensor_pos = tuple(i for i, a in enumerate(args) if isinstance(a, TensorBase))
        record = state.grad_enabled and any(args[i].requires_grad for i in tensor_pos)
        ctx = FunctionCtx(tuple(isinstance(a, TensorBase) and a.requires_grad and record for a in args))
        with no_grad():
            out = cls.forward(ctx, *args)
        outs, is_tuple = _outputs(out, cls.__name__)
        arrays = [_array(o) for o in outs]
        for j, a in enumerate(arrays):
            if a.dtype == object:
                raise TypeError(f"{cls.__name__}.forward: output {j} is a {type(outs[j]).__name__}, not a "
                                "Tensor, array or number")
        if not record:
            res = [wrap(a, None) for a in arrays]
            return tuple(res) if is_tuple else res[0]
        return _record(cls, ctx, args, tensor_pos, outs, arrays, is_tuple)


def _record(cls, ctx, args, tensor_pos, outs, arrays, is_tuple):
    layout = []
    start = 0
    for a in arrays:
        diff = a.dtype.kind in "fc"
        stop = start + a.size if diff else start
        layout.append((start, stop, a.shape, diff))
        start = stop
    layout = tuple(layout)
    if len(layout) == 1 and not layout[0][3]:
        raise TypeError(f"{cls.__name__}.forward returned dtype {arrays[0].dtype}; a differentiable output "
                        "must be floating-point")
    # saved outputs become references resolved at backward time (no cycle node -> ctx -> output -> node)
    ids = {id(o): j for j, o in enumerate(outs)}
    ctx._saved = tuple(_OutputRef(ids[id(s)]) if s is not None and id(s) in ids else s for s in ctx._saved)
    ctx._kept = tuple(None if isinstance(s, _OutputRef) else a for s, a in zip(ctx._saved, ctx._kept))
    saves_output = any(isinstance(s, _OutputRef) for s in ctx._saved)
    tensors = [args[i] for i in tensor_pos]
    datas = [t._data for t in tensors]
    parents = [(t if t._node is None else t._node) if t.requires_grad else None for t in tensors]
    # positional args with the Tensors taken out (they come back through the node's inputs)
    consts = tuple(None if i in tensor_pos else a for i, a in enumerate(args))
    params = {"args": consts, "tensor_pos": tensor_pos, "layout": layout}
    packed_t = emit(cls._primitive(saves_output), datas, parents, tuple(np.shape(d) for d in datas), True,
                    _pack(arrays, layout), params, (ctx,))
    if len(layout) == 1:
        return (packed_t,) if is_tuple else packed_t
    res = []
    for (s, e, shape, diff), a in zip(layout, arrays):
        res.append(reshape(getitem(packed_t, slice(s, e)), shape) if diff else wrap(a, None))
    return tuple(res)
