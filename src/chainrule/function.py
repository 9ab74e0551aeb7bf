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

Each Function class becomes one node kind named after the class (not registered in the
primitive registry: it is user code). Its node keeps the forward's inputs and outputs like any
primitive, so traces, drawings and `cr.check_graph` see it; `check_graph` re-runs `forward` on
perturbed inputs. Several outputs are packed into one flat node output and taken back out by
`getitem` + `reshape` nodes.

Under `backward(create_graph=True)` (and in nested `cr.grad`), `backward` runs with recording on,
on Tensors that carry the graph: if it is written with chainrule operations it is itself
differentiable. One written with NumPy on `.data` gives correct first derivatives only.
"""

from __future__ import annotations

import numpy as np

from . import anomaly as _anomaly
from .graph import Node, mode, no_grad
from .ops import getitem, reshape
from .primitive import ARRAY_NS, Primitive
from .tensor import Tensor

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """What `forward` leaves for `backward`: saved tensors, flags and any attribute you set."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._outputs = None   # set by apply: lets saved outputs resolve to the node's outputs
        self._resolve = None

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, (Tensor, np.ndarray, np.generic, int, float)):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}; save Tensors, "
                                "arrays or None (keep other values as attributes of ctx)")
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self._resolve is not None:
            return self._resolve(self._saved)
        return tuple(self._saved)

    def __repr__(self):
        return f"<FunctionCtx needs_input_grad={self.needs_input_grad} saved={len(self._saved)}>"


class _FunctionPrimitive(Primitive):
    """The node kind of one Function class. Deliberately not registered."""

    def __init__(self, cls):
        super().__init__(cls.__name__, self._fwd, self._vjp, save="a", register=False,
                         formula=f"dL/dx = {cls.__name__}.backward(ctx, upstream)",
                         doc=(cls.__doc__ or "").strip().split("\n")[0] or f"custom Function {cls.__name__}")
        self.cls = cls

    def __repr__(self):
        return f"<Function {self.name}>"

    def _fwd(self, *datas, args, tensor_pos, layout, ctx=None):
        """Re-run forward on new input values (check_graph does); returns the packed output.
        The node's own ctx is not touched: a fresh one is made."""
        args = list(args)
        for i, d in zip(tensor_pos, datas):
            args[i] = Tensor._wrap(np.asarray(d), None)
        ctx = FunctionCtx(tuple(i in tensor_pos for i in range(len(args))))
        with no_grad():
            out = self.cls.forward(ctx, *args)
        outs, _ = _outputs(out, self.name)
        return _pack([_array(o) for o in outs], layout)

    def _vjp(self, xp, need, g, ans, *inputs, args, tensor_pos, layout, ctx):
        create_graph = xp is not ARRAY_NS
        nouts = len(layout)
        if nouts == 1:
            gs = [g]
            outs = [ans]
        else:
            gs, outs = [], []
            for start, stop, shape, diff in layout:
                gs.append(xp.reshape(g[start:stop], shape) if diff else None)
                outs.append(None if ans is None or not diff else xp.reshape(ans[start:stop], shape))
        if not create_graph:
            gs = [None if gi is None else Tensor._wrap(np.asarray(gi), None) for gi in gs]
            outs = [None if o is None else Tensor._wrap(np.asarray(o), None) for o in outs]
        ctx._resolve = lambda saved: tuple(outs[s[1]] if isinstance(s, _OutputRef) else s for s in saved)
        try:
            raw = self.cls.backward(ctx, *gs)
        finally:
            ctx._resolve = None
        nargs = len(args)
        if not isinstance(raw, (tuple, list)):
            raw = (raw,)
        raw = tuple(raw)
        if len(raw) == nargs:
            raw = tuple(raw[i] for i in tensor_pos)
        elif len(raw) != len(tensor_pos):
            raise TypeError(f"{self.name}.backward returned {len(raw)} gradient(s); expected one per "
                            f"argument of apply ({nargs}) or one per Tensor argument ({len(tensor_pos)})")
        grads = []
        for gi, n in zip(raw, need):
            if n is None or gi is None:
                grads.append(None)
                continue
            if create_graph:
                if not isinstance(gi, Tensor):
                    gi = Tensor._wrap(np.asarray(gi), None)
            else:
                gi = gi._data if isinstance(gi, Tensor) else np.asarray(gi)
            grads.append(gi)
        return tuple(grads)


class _OutputRef(tuple):
    """Stands in ctx for a saved output, so the node does not refer to itself."""


def _array(o):
    return o._data if isinstance(o, Tensor) else np.asarray(o)


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
    def _primitive(cls):
        prim = cls.__dict__.get("_prim")
        if prim is None:
            prim = _FunctionPrimitive(cls)
            cls._prim = prim
        return prim

    @classmethod
    def apply(cls, *args):
        if cls.forward is Function.forward:
            raise NotImplementedError(f"{cls.__name__} must define forward(ctx, *args)")
        tensor_pos = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        record = mode.grad_enabled and any(args[i].requires_grad for i in tensor_pos)
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad and record for a in args))
        with no_grad():
            out = cls.forward(ctx, *args)
        outs, is_tuple = _outputs(out, cls.__name__)
        arrays = [_array(o) for o in outs]
        for j, a in enumerate(arrays):
            if a.dtype == object:
                raise TypeError(f"{cls.__name__}.forward: output {j} is a {type(outs[j]).__name__}, not a "
                                "Tensor, array or number")
        if not record:
            res = [Tensor._wrap(a, None) for a in arrays]
            return tuple(res) if is_tuple else res[0]
        return _record(cls, ctx, args, tensor_pos, outs, arrays, is_tuple)


def _record(cls, ctx, args, tensor_pos, outs, arrays, is_tuple):
    from . import primitive as _primitive  # read at call time: check_graph may raise the limit

    prim = cls._primitive()
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
    ctx._saved = tuple(_OutputRef(("out", ids[id(s)])) if s is not None and id(s) in ids else s
                       for s in ctx._saved)
    packed = _pack(arrays, layout)
    datas = [args[i]._data for i in tensor_pos]
    parents = tuple((a if a._node is None else a._node) if a.requires_grad else None
                    for a in (args[i] for i in tensor_pos))
    keep = _primitive.KEEP_VALUES_UP_TO
    saved = tuple(d if d.size <= keep else None for d in datas)
    saves_output = any(isinstance(s, _OutputRef) for s in ctx._saved)
    ans = packed if saves_output or packed.size <= keep else None
    # positional args with the Tensors taken out (they come back through the node's inputs)
    consts = tuple(None if i in tensor_pos else a for i, a in enumerate(args))
    params = dict(args=consts, tensor_pos=tensor_pos, layout=layout, ctx=ctx)
    if mode.anomaly:
        _anomaly.check_forward(prim, datas, packed, params)
    node = Node(prim, parents, saved, ans, params, tuple(d.shape for d in datas))
    if mode.anomaly:
        _anomaly.created(node)
    packed_t = Tensor._wrap(packed, node)
    if len(layout) == 1:
        return (packed_t,) if is_tuple else packed_t
    res = []
    for (s, e, shape, diff), a in zip(layout, arrays):
        res.append(reshape(getitem(packed_t, slice(s, e)), shape) if diff else Tensor._wrap(a, None))
    return tuple(res)

