"""Record once, replay: `cr.compile(fn)`.

The first call for a signature (per Tensor argument: shape, dtype, requires_grad) runs `fn`
eagerly while an observer writes every primitive application down as a tape of array operations.
Later calls with that signature run the tape on the new arguments' arrays, with no nodes, and
wrap the result as ONE node whose backward runs the recorded rules in reverse.

Limits of this first version (checked, not silent): a Tensor that needs a gradient and is read
from outside the arguments makes recording raise; pass it as an argument. Arrays and Python
numbers that `fn` captures, and Tensors without gradient read from outside, are constants of the
recording. `fn` must return one Tensor. Random masks drawn in Python (dropout) raise while
recording rather than being replayed as the same numbers.
"""

from __future__ import annotations

import numpy as np

from ..core import Node, Observer, TensorBase, install, state
from ..core.engine import unbroadcast
from ..core.errors import CompileError
from .function import Function

__all__ = ["compile", "refuse_while_recording"]

_recording = []  # the recorders at work (a recording inside a recording is refused by the first)


def refuse_while_recording(what):
    """Raise if a recording is under way: for work a replay could not repeat (a random draw made
    in Python would be replayed as the same numbers)."""
    if _recording:
        raise CompileError(f"cr.compile: {what} while recording: a replay would repeat the same values; "
                           "call this function uncompiled")


class _Recorder(Observer):
    def __init__(self, args):
        self.slot = {id(t._data): i for i, t in enumerate(args)}
        self.grad = [t.requires_grad for t in args]
        self.args = {id(t): i for i, t in enumerate(args)}
        self.nodes = {}
        self.tape, self.keep = [], []

    def applied(self, prim, inputs, out, params):
        ins = []
        for d in inputs:
            s = self.slot.get(id(d))
            ins.append(("s", s) if s is not None else ("c", d))
        n = len(self.grad)
        self.grad.append(any(k == "s" and self.grad[v] for k, v in ins))
        self.slot[id(out)] = n
        self.keep.append(out)  # keeps ids unique while recording
        self.tape.append((prim, tuple(ins), n, params))

    def recorded(self, node):
        """Route the gradient inputs by the graph itself, not by array identity (an op may return
        its input array unchanged: a scalar's transpose)."""
        prim, ins, n, params = self.tape[-1]
        ins = list(ins)
        for i, p in enumerate(node.parents):
            if p is None:
                continue
            s = self.nodes.get(p) if type(p) is Node else self.args.get(id(p))
            if s is None:
                raise CompileError(f"cr.compile: '{node.prim.name}' reads a Tensor that needs a gradient and "
                                   "is not an argument of the compiled function; pass it as an argument")
            ins[i] = ("s", s)
        self.nodes[node] = n
        self.grad[n] = True
        self.tape[-1] = (prim, tuple(ins), n, params)


class _Recording:
    def __init__(self, rec, out_slot, n_args):
        self.tape, self.grad, self.out, self.n = rec.tape, rec.grad, out_slot, n_args

    def forward(self, datas):
        vals = list(datas) + [None] * len(self.tape)
        saved = []
        for prim, ins, o, params in self.tape:
            xs = [vals[v] if k == "s" else v for k, v in ins]
            out, res = prim.forward(*xs, **params)
            if type(out) is np.ndarray and not out.shape:
                out = out[()]
            vals[o] = out
            saved.append((xs, out, res))
        return vals[self.out], saved

    def backward(self, saved, g):
        grads = {self.out: g}
        grad = self.grad
        for (prim, ins, o, params), (xs, out, res) in zip(reversed(self.tape), reversed(saved)):
            go = grads.pop(o, None)
            if go is None:
                continue
            need = tuple(k == "s" and grad[v] for k, v in ins)
            raw = prim.array_rule(need, go, out, *xs, *res, **params)
            if type(raw) is not tuple:
                raw = (raw,)
            for (_, v), gi, x, nd in zip(ins, raw, xs, need):
                if not nd or gi is None:
                    continue
                gi = unbroadcast(np.asarray(gi), np.shape(x), prim.name) if np.shape(gi) != np.shape(x) else gi
                grads[v] = gi if v not in grads else grads[v] + gi
        return tuple(grads.get(i) for i in range(self.n))


class _Replay(Function):
    @staticmethod
    def forward(ctx, recording, *args):
        out, ctx.tape_saved = recording.forward([a._data for a in args])
        ctx.recording = recording
        return out

    @staticmethod
    def backward(ctx, g):
        if state.grad_enabled:
            raise CompileError("cr.compile: create_graph=True through a replayed output is not supported; "
                               "call the function uncompiled for higher derivatives")
        gs = ctx.recording.backward(ctx.tape_saved, np.asarray(g._data))
        return (None, *gs)


class compile:
    """`compile(fn)`: fn recorded once per signature of its Tensor arguments, replayed after."""

    def __init__(self, fn):
        self.fn = fn
        self._cache = {}

    @property
    def recordings(self):
        return len(self._cache)

    def __call__(self, *args):
        for i, a in enumerate(args):
            if not isinstance(a, TensorBase):
                raise TypeError(f"cr.compile: argument {i} is a {type(a).__name__}; pass Tensors only")
        key = tuple((a._data.shape if type(a._data) is np.ndarray else (), np.asarray(a._data).dtype.str,
                     a.requires_grad) for a in args)
        rec = self._cache.get(key)
        if rec is not None:
            return _Replay.apply(rec, *args)
        recorder = _Recorder(args)
        prev = install(*state.observers, recorder)
        _recording.append(recorder)
        try:
            out = self.fn(*args)
        finally:
            _recording.pop()
            install(*prev)
        if not isinstance(out, TensorBase) or id(out._data) not in recorder.slot:
            raise CompileError("cr.compile: the function must return one Tensor computed from its arguments")
        self._cache[key] = _Recording(recorder, recorder.slot[id(out._data)], len(args))
        return out
