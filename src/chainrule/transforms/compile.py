"""Record once, replay: `cr.compile(fn)`.

The first call for a signature runs `fn` eagerly while an observer writes every primitive
application down as a tape of array operations. Later calls with that signature run the tape on
the new arrays, with no nodes, and wrap the result as ONE node whose backward runs the recorded
rules in reverse: the same operations in the same order as eager, so the results are bitwise equal.

What a recording reads, and when:
- the Tensor arguments (their shape, dtype and requires_grad are the signature, with grad mode);
- Tensors `fn` reaches from outside: through its closure, the globals it names, a bound method's
  object, attributes of objects (a Module's parameters and submodules) and lists, tuples and
  dicts, a few levels deep. They are read afresh at every call, from the same place (an optimizer
  step or `p.data = ...` between calls is seen), their gradients arrive in `.grad`, and their shape,
  dtype and requires_grad are part of the signature, as are the `training` flags of the Modules
  reached. A Module's buffers (running statistics) are read afresh the same way;
- Python numbers and NumPy arrays `fn` captures are constants of the recording.

Work done in Python rather than by primitives is not on the tape unless it says so with
`replayed(f, *args)`: dropout draws its mask that way (a fresh mask on every replay) and batch norm
updates its running statistics that way (on every replay). If `fn` reads a Tensor's value as a
Python value while recording (`.item()`, `float()`, `bool()` (an `if` on a comparison), `.data`,
`.numpy()`, `.tolist()`, `.grad`), calls `.backward()`, or writes a Tensor in place, the recording
would not be faithful: that signature falls back to eager (every later call runs `fn` as it is),
with a `CompileWarning` naming the reason. `compiled.recordings` counts recordings,
`compiled.fallbacks` the reasons of the signatures that run eagerly.

A Tensor that needs a gradient and is not reachable as above (made inside `fn`, or hidden) makes
recording raise; so does `create_graph=True` through a replayed output. Recording state is per
thread: a recording sees only its own thread's operations.
"""

from __future__ import annotations

import functools
import threading
import types
import warnings

import numpy as np

from .. import backend as be
from ..core import Node, Observer, Primitive, TensorBase, install, state
from ..core.engine import layer, shared, unbroadcast
from ..core.errors import CompileError
from ..core.node import clock
from ..core.primitive import _NP_SCALARS
from ..ops.watch import value_reads

__all__ = ["compile", "replayed", "CompileWarning"]


class CompileWarning(UserWarning):
    """`cr.compile` runs a signature eagerly: recording it would not be faithful (the message says why)."""


class _Local(threading.local):
    stack = ()  # the recordings under way in this thread, innermost last


_local = _Local()
_install_lock = threading.Lock()


def replayed(f, *args):
    """`f(*args)`, written on the tape of every recording under way in this thread, so that each
    replay calls `f` again, on that replay's arrays (NumPy arrays among `args` that are values of the
    recorded function are replaced by the replay's; other arguments are constants). For Python work
    a replay must repeat: a random draw, an in-place update of running statistics."""
    out = f(*args)
    for rec in _local.stack:
        rec.step(f, args, out)
    return out


# -- finding what a function reads from outside ------------------------------------------------------
_ATOMS = (type, types.ModuleType, types.BuiltinFunctionType, str, bytes, int, float, complex, bool,
          np.ndarray, np.generic, type(None))
_DEPTH = 4


def _discover(fn):
    """The Tensors and Module buffers `fn` can reach, keyed by the id of their array, each with a
    getter that reads the place afresh; and the Modules reached (objects with `_buffers` and
    `training`), whose modes are part of the signature."""
    found, modules, seen = {}, [], set()

    def visit(obj, get, depth):
        if isinstance(obj, TensorBase):
            found.setdefault(id(obj._data), (get, obj._data, obj))
            return
        if depth == 0 or isinstance(obj, _ATOMS) or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj[:1000]):
                visit(v, _item(get, i), depth - 1)
        elif isinstance(obj, dict):
            for k, v in list(obj.items())[:1000]:
                visit(v, _item(get, k), depth - 1)
        elif isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                try:
                    visit(cell.cell_contents, _cell(cell), depth - 1)
                except ValueError:  # an empty cell
                    pass
            g = obj.__globals__
            for name in _names(obj.__code__):
                if name in g:
                    visit(g[name], _item(lambda g=g: g, name), depth - 1)
        elif isinstance(obj, types.MethodType):
            visit(obj.__self__, _attr(get, "__self__"), depth)
            visit(obj.__func__, _attr(get, "__func__"), depth)
        else:
            d = getattr(obj, "__dict__", None)
            if not isinstance(d, dict):
                return
            bufs = d.get("_buffers")
            module = isinstance(bufs, dict) and "training" in d
            if module:
                modules.append(obj)
                for name, b in bufs.items():
                    if _is_array(b):
                        found.setdefault(id(b), (_attr(get, name), b, None))
            if not isinstance(obj, compile):
                for k, v in list(d.items()):
                    if k != "_buffers":  # (a Module's submodules, however deep, cost no depth)
                        visit(v, _attr(get, k), depth if module else depth - 1)

    visit(fn, lambda: fn, _DEPTH + 1)
    return found, modules


def _names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _item(get, k):
    return lambda: get()[k]


def _attr(get, name):
    return lambda: getattr(get(), name)


def _cell(cell):
    return lambda: cell.cell_contents


def _sig(t):
    d = t._data
    if type(d) is np.ndarray:
        return d.shape, d.dtype, t.requires_grad
    b = be.backend_of(d)  # another backend's array: its device is part of the signature
    return ((), d.dtype, t.requires_grad) if b is None else (tuple(d.shape), d.dtype, t.requires_grad, b.device_of(d))


def _is_array(a):
    """A NumPy array or scalar, or another backend's array."""
    return isinstance(a, (np.ndarray, np.generic)) or be.backend_of(a) is not None


# -- recording -----------------------------------------------------------------------------------------
class _Recorder(Observer):
    """Writes this thread's primitive applications down while `fn` runs eagerly."""

    def __init__(self, args, found):
        self.thread = threading.get_ident()
        self.found = found
        self.slot = {}        # id(array) -> slot
        self.leaf = {}        # id(leaf Tensor) -> slot
        self.grad = []        # per slot: does a gradient flow (a recorded node's output, or a leaf that wants one)
        self.shape = []       # per slot
        self.inputs = []      # slots of the Tensor inputs: the arguments, then the outside Tensors
        self.outside = []     # (getter, signature) of the outside Tensors
        self.buffers = []     # (slot, getter, shape, dtype) of the Module buffers read
        self.tape, self.keep, self.nodes = [], [], {}
        self.why = None
        self.read = [*args, *(t for _, _, t in found.values() if t is not None)]  # written in place: unfaithful
        for t in args:
            self._input(t)

    def _new(self, value, grad):
        n = len(self.grad)
        self.grad.append(grad)
        self.shape.append(np.shape(value))
        self.slot[id(value)] = n
        self.keep.append(value)  # keeps ids unique while recording
        return n

    def _input(self, t):
        n = self._new(t._data, t.requires_grad)
        self.leaf[id(t)] = n
        if t._node is not None:  # an input computed with a graph: its gradient goes on down that graph
            self.nodes[t._node] = n
        self.inputs.append(n)
        return n

    def _lookup(self, d):
        s = self.slot.get(id(d))
        if s is None and id(d) in self.found:
            get, _, t = self.found[id(d)]
            obj = get()
            if t is not None:
                s = self._input(obj)
                self.outside.append((get, _sig(obj)))
            else:
                s = self._new(d, False)
                self.buffers.append((s, get, tuple(np.shape(d)), d.dtype))
        return s

    def applied(self, prim, inputs, out, params):
        if threading.get_ident() != self.thread:
            return
        ins = []
        for d in inputs:
            s = self._lookup(d)
            ins.append(("c", d) if s is None else ("s", s))
        n = self._new(out, False)  # a gradient flows only if the application is recorded (`recorded`)
        self.tape.append([prim, ins, n, params, (None,) * len(ins)])

    def recorded(self, node):
        """Route the gradient inputs by the graph itself, not by array identity (an op may return
        its input array unchanged: a scalar's transpose; `detach()` shares its array)."""
        if threading.get_ident() != self.thread:
            return
        step = self.tape[-1]
        ins, need = step[1], []
        for i, p in enumerate(node.parents):
            if p is None:
                need.append(None)
                continue
            s = self.nodes.get(p) if type(p) is Node else self.leaf.get(id(p))
            if s is None:
                raise CompileError(f"cr.compile: '{node.prim.name}' reads a Tensor that needs a gradient and is "
                                   "neither an argument of the compiled function nor reachable from it (its "
                                   "closure, the globals it names, attributes of its object); pass it as an argument")
            ins[i] = ("s", s)
            need.append(True)
        self.nodes[node] = step[2]
        self.grad[step[2]] = True
        step[4] = tuple(need)

    def step(self, f, args, out):
        if self.why is not None:
            return
        ins = []
        for a in args:
            s = self._lookup(a) if _is_array(a) else None
            ins.append(("c", a) if s is None else ("s", s))
        n = self._new(out, False) if _is_array(out) else None
        self.tape.append([None, ins, n, f, ()])

    def refuse(self, what):
        if self.why is None:
            self.why = what


def _start(recorder):
    with _install_lock:
        install(*shared.observers, recorder)
    _local.stack = (*_local.stack, recorder)
    prev, value_reads.hook = value_reads.hook, _refuse_all
    return prev, next(clock)


def _stop(recorder, prev):
    _local.stack = tuple(r for r in _local.stack if r is not recorder)
    value_reads.hook = prev[0]
    with _install_lock:
        install(*(o for o in shared.observers if o is not recorder))
    written = [t for t in recorder.read if t._ver > prev[1]]
    if written:  # (in-place writes outside the graph report themselves; these went through it, or .data =)
        recorder.refuse("writes a Tensor it reads from outside or an argument in place (x += ..., x.data = ..., "
                        "an optimizer step)")


def _refuse_all(what):
    for rec in _local.stack:
        rec.refuse(what)


# -- replaying -------------------------------------------------------------------------------------------
class _Recording:
    """A tape made ready to run: constants in slots of their own, every input a slot number, and each
    step in the shape its loop runs fastest (unary and binary steps without parameters are common)."""

    def __init__(self, rec, out_slot, modules, name):
        self.out = out_slot
        self.inputs, self.outside, self.buffers = rec.inputs, rec.outside, rec.buffers
        self.modules = tuple((m, m.training) for m in modules)
        base = [None] * len(rec.grad)
        fwd, bwd = [], []
        for prim, ins, o, params, need in rec.tape:
            idx = []
            for k, v in ins:
                if k == "c":
                    idx.append(len(base))
                    base.append(v)
                else:
                    idx.append(v)
            idx = tuple(idx)
            if prim is None:  # a `replayed` Python step
                fwd.append((params, idx, o, None, _PY))
                continue
            kind = _GENERIC if params or prim.residuals or len(idx) > 2 else len(idx)
            fwd.append((prim.fwd, idx, o, params, _RES if prim.residuals else kind))
            targets = tuple((i, v) for i, (n, v) in enumerate(zip(need, idx)) if n is not None and rec.grad[v])
            if not targets:
                continue
            need = tuple(True if any(i == t for t, _ in targets) else None for i in range(len(idx)))
            rule = prim.fast or functools.partial(prim.vjp, layer.array_ns)
            out_shape = rec.shape[o]
            shapes = None  # the input shapes, where a gradient may need reducing to them (broadcasting)
            if prim.broadcasts and any(_shape(rec, base, v) != out_shape for v in idx):
                shapes = tuple(_shape(rec, base, v) for v in idx)
            bwd.append((rule, idx, o, params, need, targets, shapes, len(fwd) - 1 if prim.residuals else None,
                        kind, prim))
        bwd.reverse()
        self.base, self.fwd, self.bwd = base, _frees(fwd, bwd, rec, out_slot), bwd
        # a replay is one node of this primitive: inputs the Tensors, residual the forward's values
        self.prim = Primitive(f"compiled {name}", self.forward, self.rule, fast=self.backward,
                              xfwd=lambda xp, *datas: self.forward(*datas),  # (the steps are the backend's own)
                              inputs="*inputs", residuals="saved", reads="saved", register=False,
                              doc=f"a replay of cr.compile({name})")

    def check(self, args):
        """The replay's inputs (the arguments, then the outside Tensors read afresh), or None when the
        outside state no longer matches this recording."""
        ins = list(args)
        try:
            for get, sig in self.outside:
                t = get()
                if not isinstance(t, TensorBase) or _sig(t) != sig:
                    return None
                ins.append(t)
            for m, mode in self.modules:
                if m.training != mode:
                    return None
            for _, get, shape, dtype in self.buffers:
                b = get()
                if not _is_array(b) or tuple(np.shape(b)) != shape or b.dtype != dtype:
                    return None
        except Exception:  # noqa: BLE001 (the place is gone or changed kind: record again)
            return None
        return ins

    def forward(self, *datas):
        """The output, and what backward reads: every value, and the residuals by step."""
        vals = self.base.copy()
        for s, d in zip(self.inputs, datas):
            vals[s] = d
        for s, get, _, _ in self.buffers:
            vals[s] = get()
        resid = {}
        j = -1
        try:
            for f, idx, o, params, kind, free in self.fwd:
                j += 1
                if kind == 2:
                    out = f(vals[idx[0]], vals[idx[1]])
                elif kind == 1:
                    out = f(vals[idx[0]])
                elif kind == _PY:
                    out = f(*[vals[i] for i in idx])
                    if o is not None:
                        vals[o] = out
                    for i in free:
                        vals[i] = None
                    continue
                else:
                    out = f(*[vals[i] for i in idx], **params)
                    if kind == _RES:
                        out, resid[j] = out[0], out[1:]
                t = type(out)  # as `emit` stores an output: 0-d results as NumPy scalars
                if t is np.ndarray:
                    if not out.shape:
                        out = out[()]
                elif t not in _NP_SCALARS and not hasattr(out, "__array_namespace__"):  # (another backend's: as is)
                    out = np.asarray(out)
                    out = out[()] if not out.shape else out
                vals[o] = out
                if free:
                    for i in free:
                        vals[i] = None
        except ValueError as e:
            raise CompileError(f"cr.compile: replaying a recorded step failed ({e}); call the function "
                               "uncompiled") from None
        return vals[self.out], (vals, resid)

    def rule(self, xp, need, g, ans, *inputs_saved):
        """The replay's differentiable rule: on another backend (whose nodes have no fast rule) the same
        recorded rules; on Tensors (create_graph) none."""
        if xp is layer.tensor_ns:
            _no_create_graph()
        return self.backward(need, g, ans, *inputs_saved)

    def backward(self, need, g, ans, *inputs_saved):
        """The recorded rules in reverse: one gradient per input (the node's fast rule)."""
        vals, resid = inputs_saved[-1]
        grads = [None] * len(vals)
        grads[self.out] = g
        for rule, idx, o, params, need, targets, shapes, j, kind, prim in self.bwd:
            go = grads[o]
            if go is None:
                continue
            grads[o] = None
            if kind == 2:
                raw = rule(need, go, vals[o], vals[idx[0]], vals[idx[1]])
            elif kind == 1:
                raw = rule(need, go, vals[o], vals[idx[0]])
            elif j is None:
                raw = rule(need, go, vals[o], *[vals[i] for i in idx], **params)
            else:
                raw = rule(need, go, vals[o], *[vals[i] for i in idx], *resid[j], **params)
            if type(raw) is not tuple:
                raw = (raw,)
            for i, v in targets:
                gi = raw[i]
                if gi is None:
                    continue
                if shapes is not None and gi.shape != shapes[i]:
                    gi = unbroadcast(gi, shapes[i], prim.name,
                                     None if type(gi) is np.ndarray else layer.foreign.namespace_of(gi))
                prev = grads[v]
                grads[v] = gi if prev is None else prev + gi
        return tuple(grads[s] for s in self.inputs)


_GENERIC, _PY, _RES = 0, 3, 4


def _frees(fwd, bwd, rec, out_slot):
    """Each forward step with the values it lets go: step outputs that the backward rules do not
    read (as an eager node keeps only what its rules read), dropped after their last use, so a
    replay holds no more memory than eager does."""
    kept = {out_slot, *rec.inputs}
    for _, idx, o, _, need, _, _, _, _, prim in bwd:
        ins, want_out, _ = prim.reads(tuple(n is not None for n in need))
        kept.update(idx[i] for i in ins if i < len(idx))
        if want_out or prim.inputs[-1:] and prim.inputs[-1].startswith("*"):
            kept.add(o)
            if prim.inputs[-1:] and prim.inputs[-1].startswith("*"):
                kept.update(idx)  # (variadic inputs cannot be named in `reads`: keep them all)
    made = {o for _, _, o, _, _ in fwd if o is not None and o < len(rec.grad)}
    last = {}
    for j, (_, idx, o, _, _) in enumerate(fwd):
        for i in idx:
            last[i] = j
        if o is not None:
            last.setdefault(o, j)
    free = [[] for _ in fwd]
    for s, j in last.items():
        if s in made and s not in kept:
            free[j].append(s)
    return [(*step, tuple(f)) for step, f in zip(fwd, free)]


def _shape(rec, base, v):
    return rec.shape[v] if v < len(rec.shape) else np.shape(base[v])


def _no_create_graph(*args, **params):
    raise CompileError("cr.compile: create_graph=True through a replayed output is not supported; call the "
                       "function uncompiled for higher derivatives")


class compile:
    """`compile(fn)`: fn recorded once per signature, replayed after (see the module docstring).
    As a decorator on a method, each instance gets recordings of its own."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"cr.compile: expected a function or a Module, got {type(fn).__name__}")
        self.fn = fn
        self._cache = {}   # signature of the arguments -> recordings (each checks the outside state)
        self._eager = {}   # signature -> why it runs eagerly
        self._lock = threading.RLock()
        self._name = None

    def __set_name__(self, owner, name):
        self._name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        bound = compile(types.MethodType(self.fn, obj))
        if self._name is not None:
            obj.__dict__[self._name] = bound  # later lookups find the instance's own compiled method
        return bound

    @property
    def recordings(self):
        return sum(len(v) for v in self._cache.values())

    @property
    def fallbacks(self):
        return list(self._eager.values())

    def __call__(self, *args):
        for i, a in enumerate(args):
            if not isinstance(a, TensorBase):
                raise TypeError(f"cr.compile: argument {i} is a {type(a).__name__}; pass Tensors only")
        key = (state.grad_enabled, *(_sig(a) for a in args))
        for rec in self._cache.get(key, ()):
            ins = rec.check(args)
            if ins is not None:
                return rec.prim(*ins)
        if key in self._eager:
            return self.fn(*args)
        with self._lock:
            return self._record(key, args)

    def _record(self, key, args):
        found, modules = _discover(self.fn)
        recorder = _Recorder(args, found)
        prev = _start(recorder)
        try:
            out = self.fn(*args)
        finally:
            _stop(recorder, prev)
        if recorder.why is not None:
            self._eager[key] = recorder.why
            warnings.warn(f"cr.compile: {_fn_name(self.fn)} {recorder.why} while recording, so a replay would not "
                          "repeat it: this signature runs eagerly", CompileWarning, stacklevel=3)
            return out
        if not isinstance(out, TensorBase) or id(out._data) not in recorder.slot:
            raise CompileError("cr.compile: the function must return one Tensor computed from its arguments")
        self._cache.setdefault(key, []).append(_Recording(recorder, recorder.slot[id(out._data)], modules,
                                                                  _fn_name(self.fn)))
        return out


def _fn_name(fn):
    return getattr(fn, "__qualname__", None) or type(fn).__name__
