"""Record once, replay: `cr.compile(fn)`.

The first call for a signature runs `fn` eagerly while an observer writes every primitive
application down as a tape of array operations, and the tape is written out as two straight-line
Python functions (`_Source`). Later calls with that signature run them on the new arrays, with no
nodes, and wrap the result as ONE node whose backward runs the recorded rules in reverse: the same
operations in the same order as eager, so the results are bitwise equal.

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

import builtins
import functools
import math
import operator
import threading
import types
import warnings

import numpy as np

from .. import backend as be
from ..core import Node, Observer, Primitive, TensorBase, install, state
from ..core.engine import broadcast_axes, layer, shared, unbroadcast
from ..core.errors import CompileError, ShapeError
from ..core.node import clock
from ..core.primitive import _NP_SCALARS, emit
from ..ops import elementwise as _E
from ..ops import linalg as _L
from ..ops import reduce as _R
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
        self.kind = []        # per slot: (type, ndim) of the recorded value
        self.why = None
        self.read = [*args, *(t for _, _, t in found.values() if t is not None)]  # written in place: unfaithful
        for t in args:
            self._input(t)

    def _new(self, value, grad):
        n = len(self.grad)
        self.grad.append(grad)
        self.shape.append(np.shape(value))
        self.slot[id(value)] = n
        self.keep.append(value)  # keeps ids unique while recording (let go when it ends)
        self.kind.append((type(value), np.ndim(value)))
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
    """A tape made ready to run: constants in slots of their own, every input a slot number, then
    written out as two straight-line Python functions (`_Source`): a replay runs no loop of its own."""

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
                fwd.append((params, idx, o, None, _PY, None))
                continue
            kind = _GENERIC if params or prim.residuals or len(idx) > 2 else len(idx)
            fwd.append((prim.fwd, idx, o, params, _RES if prim.residuals else kind, prim))
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
        self.base, self.fwd, self.bwd = base, fwd, bwd
        self.shapes = tuple(rec.shape[s] for s in rec.inputs)
        forward, backward = _Source(rec, self, name).build()
        # a replay is one node of this primitive: inputs the Tensors, residual the forward's values
        def rule(xp, need, g, ans, *saved):  # on another backend (whose nodes have no fast rule): the same code
            if xp is layer.tensor_ns:
                _no_create_graph()
            return backward(need, g, ans, *saved)

        self.prim = Primitive(f"compiled {name}", forward, rule, fast=backward,
                              xfwd=lambda xp, *datas: forward(*datas),  # (the steps are the backend's own)
                              inputs="*inputs", residuals="saved", reads="saved", register=False,
                              doc=f"a replay of cr.compile({name})")

    def run(self, ins):
        """`self.prim(*ins)` without the general cases of `Primitive.__call__` (another backend's
        arrays still go there): the shapes are the recording's."""
        datas, parents, needs = [], [], False
        for t in ins:
            d = t._data
            if type(d) is not np.ndarray and type(d) not in _NP_SCALARS:
                return self.prim(*ins)
            if t._held is not None and type(d) is np.ndarray:  # memory guarding, as `emit` does for eager nodes:
                d = d.copy(order="K")  # the user can write into this array before backward
            datas.append(d)
            if t.requires_grad:
                n = t._node
                parents.append(t if n is None else n)
                needs = True
            else:
                parents.append(None)
        out, saved = self.prim.fwd(*datas)
        return emit(self.prim, datas, parents, self.shapes, True, out, {}, (saved,), needs)

    def check(self, args):
        """The replay's inputs (the arguments, then the outside Tensors read afresh), or None when the
        outside state no longer matches this recording."""
        if not (self.outside or self.modules or self.buffers):
            return args
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


_GENERIC, _PY, _RES = 0, 3, 4
_OPS = {operator.add: "{} + {}", operator.sub: "{} - {}", operator.mul: "{} * {}", operator.truediv: "{} / {}",
        operator.neg: "-{}", _L._matmul_fwd: "{} @ {}"}


class _Source:
    """The replay as Python source: `forward(*datas) -> (out, saved)` with one local per value, and
    `backward(need, g, ans, *saved)` with one local per gradient, the sum of each gradient's parts
    resolved while writing (a `None` check is written only where a rule may return None).

    The forward writes the common operators as operators and calls every other forward; it drops
    each value the backward does not read after its last use, as eager keeps only what the rules
    read. The backward writes a few rules out (`_inline`: the same operations as their fast rules,
    so results stay bitwise equal) and calls every other rule. Values a rule does not declare
    reading reach it as None, as they reach an eager rule."""

    def __init__(self, rec, r, name):
        self.rec, self.r, self.name = rec, r, name
        self.n = len(rec.grad)     # slots below n are values (inputs, buffers, step outputs); above, constants
        self.made = {o for _, _, o, _, _, _ in r.fwd if o is not None}
        # another backend's arrays (no NumPy methods): every rule called, reductions in the array's namespace
        self.foreign = any(t is not np.ndarray and not issubclass(t, np.generic) and hasattr(t, "__array_namespace__")
                           for t, _ in rec.kind)
        self.ns = {"_norm": _norm, "unbroadcast": _unbroadcast, "_sub": np.subtract, "_mul": np.multiply,
                   "_replay_error": _replay_error, "_nd": np.ndarray,
                   "_where": np.where, "_bcast": np.broadcast_to}
        self.names = {}
        self.state, self.pre = {}, set()  # gradient slot -> "set" / "maybe" (may be None); those set to None first
        # steps whose values nothing reads (work inside a `cr.Function`'s forward, say) are left out
        live, self.dead = {r.out}, set()
        for j in range(len(r.fwd) - 1, -1, -1):
            _, idx, o, _, kind, _ = r.fwd[j]
            if kind != _PY and o not in live:
                self.dead.add(j)
            else:
                live.update(idx)
        self.bwd = [b for b in r.bwd if b[2] in live]

    def glob(self, obj, prefix):
        name = self.names.get(id(obj))
        if name is None:
            name = self.names[id(obj)] = f"{prefix}{len(self.names)}"
            self.ns[name] = obj
        return name

    def val(self, s):
        if s < self.n:
            return f"v{s}"
        c = self.r.base[s]
        if type(c) in (int, bool) or type(c) is float and math.isfinite(c):
            return f"({c!r})"
        return self.glob(c, "c")

    def build(self):
        kept = self.kept()
        fwd = self.forward(kept)
        bwd = self.backward(kept)
        self.r.source = f"{fwd}\n\n{bwd}\n"  # (for reading: `compiled._cache[key][0].source`)
        for text in (fwd, bwd):  # one at a time: the compiler's own memory (per line) is freed in between
            exec(builtins.compile(text, f"<cr.compile {self.name}>", "exec"), self.ns)
        return self.ns["forward"], self.ns["backward"]

    def kept(self):
        """The values the backward reads: what the rules declare (as eager's `_keep` keeps them)."""
        r = self.r
        kept = {r.out, *r.inputs}
        for _, idx, o, _, need, _, _, _, _, prim in self.bwd:
            ins, want_out, _ = prim.reads(tuple(n is not None for n in need))
            kept.update(idx[i] for i in ins if i < len(idx))
            variadic = prim.inputs[-1:] and prim.inputs[-1].startswith("*")
            if want_out or variadic:
                kept.add(o)
                if variadic:
                    kept.update(idx)  # (variadic inputs cannot be named in `reads`: keep them all)
        return {s for s in kept if s < self.n}

    def forward(self, kept):
        r, rec = self.r, self.rec
        last = {}
        for j, (_, idx, o, _, _, _) in enumerate(r.fwd):
            if j in self.dead:
                continue
            for i in idx:
                last[i] = j
            if o is not None:
                last.setdefault(o, j)
        free = [[] for _ in r.fwd]
        for s, j in last.items():
            if s in self.made and s not in kept:
                free[j].append(s)
        lines = [f"v{s} = {self.glob(get, 'b')}()" for s, get, _, _ in r.buffers]
        saved = sorted(kept)
        resids = {b[7] for b in self.bwd if b[7] is not None}
        for j, (f, idx, o, params, kind, _prim) in enumerate(r.fwd):
            if j in self.dead:
                continue
            args = ", ".join(self.val(i) for i in idx)
            if kind == _PY:
                call = f"{self.glob(f, 'f')}({args})"
                lines.append(call if o is None else f"v{o} = {call}")
            else:
                op = None if params else _OPS.get(f)
                if op is not None and op.count("{}") == len(idx):
                    expr = op.format(*(self.val(i) for i in idx))
                else:
                    expr = f"{self.glob(f, 'f')}({args}{', **' + self.glob(params, 'p') if params else ''})"
                if kind == _RES:
                    lines += [f"t = {expr}", f"v{o} = _norm(t[0])"]
                    if j in resids:
                        lines.append(f"q{j} = t[1:]")
                        saved.append(f"q{j}")
                else:
                    t, ndim = rec.kind[o]
                    steady = (op is not None or isinstance(f, np.ufunc)) and any(i < self.n for i in idx) and (
                        t in _NP_SCALARS or t is np.ndarray and ndim)
                    if steady:
                        lines.append(f"v{o} = {expr}")
                    elif t is np.ndarray and ndim:  # (then `_norm` keeps it as it is)
                        lines += [f"v{o} = {expr}", f"if type(v{o}) is not _nd:", f"    v{o} = _norm(v{o})"]
                    else:
                        lines.append(f"v{o} = _norm({expr})")
            if free[j]:
                lines.append("del " + ", ".join(f"v{s}" for s in free[j]))
        names = [s if isinstance(s, str) else f"v{s}" for s in saved]
        lines.append(f"return v{r.out}, ({''.join(n + ', ' for n in names)})")
        params = ", ".join(f"v{s}" for s in r.inputs)
        body = "\n".join("        " + ln for ln in lines)
        self.saved = names
        return (f"def forward({params}):\n    try:\n{body}\n    except ValueError as e:\n"
                "        raise _replay_error(e) from None")

    def backward(self, kept):
        r = self.r
        lines = []
        self.state[r.out] = "set"
        for rule, idx, o, params, need, targets, shapes, res, _kind, prim in self.bwd:
            st = self.state.get(o)
            if st is None:
                continue  # no gradient reaches this step
            guarded = st == "maybe"
            body = []
            inline = None if self.foreign else _inline(self, prim, o, idx, targets, params)
            if inline is not None:
                pre, exprs = inline
                body += pre
                for i, v in targets:
                    e = exprs[i]
                    ts = _shape(self.rec, r.base, v)
                    if prim.elementwise and ts != self.rec.shape[o]:  # (the part has the output's shape)
                        e = _reduced(e, self.rec.shape[o], ts, prim.name)
                    self.acc(body, v, e, guarded)
            else:
                ans = f"v{o}" if o in kept else "None"
                args = "".join(", " + (self.val(i) if i >= self.n or i not in self.made or i in kept else "None")
                               for i in idx)
                if res is not None:
                    args += f", *q{res}"
                if params:
                    args += f", **{self.glob(params, 'p')}"
                body += [f"r = {self.glob(rule, 'r')}({self.glob(need, 'n')}, g{o}, {ans}{args})",
                         "if type(r) is not tuple:", "    r = (r,)"]
                for i, v in targets:
                    body += [f"u = r[{i}]", "if u is not None:"]
                    if shapes is not None:
                        body += [f"    if u.shape != {shapes[i]!r}:",
                                 f"        u = unbroadcast(u, {shapes[i]!r}, {prim.name!r})"]
                    inner = []
                    self.acc(inner, v, "u", True)
                    body += ["    " + ln for ln in inner]
            lines += [f"if g{o} is not None:", *("    " + ln for ln in body)] if guarded else body
        head = [f"g{s} = None" for s in sorted(self.pre)]
        if self.saved:
            head.append(f"{''.join(n + ', ' for n in self.saved)}= saved[-1]")
        head.append(f"g{r.out} = g")
        ret = "".join((f"g{s}" if s in self.state else "None") + ", " for s in r.inputs)
        body = "\n".join("    " + ln for ln in [*head, *lines, f"return ({ret})"])
        return f"def backward(need, g, ans, *saved):\n{body}"

    def acc(self, body, v, e, guarded):
        """Add the gradient part `e` to slot v's gradient, in the order eager adds them."""
        st = self.state.get(v)
        if st == "set":
            body.append(f"g{v} = g{v} + {e}")
        elif st is None:
            body.append(f"g{v} = {e}")
            self.state[v] = "maybe" if guarded else "set"
            if guarded:
                self.pre.add(v)
        else:
            body.append(f"g{v} = {e} if g{v} is None else g{v} + {e}")
            if not guarded:
                self.state[v] = "set"
def _inline(src, prim, o, idx, targets, params):
    """A rule written out: (lines, {input: its gradient}), the same operations as the primitive's
    array rule; None: call the rule."""
    g, rec = f"g{o}", src.rec
    if prim is _E.add:
        return [], {0: g, 1: g}
    if prim is _E.sub:
        return [], {0: g, 1: f"-{g}"}
    if prim is _E.neg:
        return [], {0: f"-{g}"}
    if prim is _E.mul:
        if math.prod(rec.shape[o]) >= 4096 and any(_shape(rec, src.r.base, v) != rec.shape[o] for _, v in targets):
            return None  # (its fast rule sums a large broadcast product in one einsum)
        return [], {0: f"{g} * {src.val(idx[1])}", 1: f"{g} * {src.val(idx[0])}"}
    if prim is _E.exp:
        return [], {0: f"{g} * v{o}"}
    if prim is _R.sum or prim is _R.mean:  # (the upstream gradient broadcast back: a view)
        axis, shape = params["axis"], tuple(int(d) for d in params["shape"])
        e = g if params["keepdims"] else f"{g}.reshape({tuple(int(d) for d in _R.keepdims_shape(shape, axis))!r})"
        if prim is _R.mean:
            e = f"{e} / {_R._count(shape, axis)!r}"
        return [], {0: f"_bcast({e}, {shape!r})"}
    if prim is _E.relu:
        return [], {0: f"_where(v{o} > 0, {g}, 0)"}
    if prim is _L.matmul and len(rec.shape[o]) == 2 and all(len(_shape(rec, src.r.base, v)) == 2 for v in idx):
        return [], {0: f"{g} @ {src.val(idx[1])}.T", 1: f"{src.val(idx[0])}.T @ {g}"}
    if prim is _E.tanh:
        t, ndim = rec.kind[o]
        if t is not np.ndarray or not ndim:
            return [], {0: f"{g} * (1 - v{o} * v{o})"}
        return [f"t = v{o} * v{o}", "_sub(1, t, out=t)", f"_mul(t, {g}, out=t)"], {0: "t"}
    return None


def _reduced(e, shape, to, name):
    """Source for `unbroadcast(e, to)` with its axes found while writing (e has `shape`)."""
    try:
        axes = broadcast_axes(shape, to, name)
    except ShapeError:
        return f"unbroadcast({e}, {to!r}, {name!r})"
    kept = tuple(d for i, d in enumerate(shape) if i not in axes)
    return f"({e}).sum(axis={axes!r})" + ("" if kept == to else f".reshape({to!r})")


def _norm(out):
    """A forward's output as `emit` stores it: 0-d results as NumPy scalars (another backend's: as is)."""
    t = type(out)
    if t is np.ndarray:
        return out[()] if not out.shape else out
    if t in _NP_SCALARS or hasattr(out, "__array_namespace__"):
        return out
    out = np.asarray(out)
    return out[()] if not out.shape else out


def _unbroadcast(g, shape, name):
    return unbroadcast(g, shape, name, None if type(g) is np.ndarray else layer.foreign.namespace_of(g))


def _replay_error(e):
    return CompileError(f"cr.compile: replaying a recorded step failed ({e}); call the function uncompiled")


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
        key = [state.grad_enabled]
        for i, a in enumerate(args):
            if not isinstance(a, TensorBase):
                raise TypeError(f"cr.compile: argument {i} is a {type(a).__name__}; pass Tensors only")
            d = a._data
            key.append((d.shape, d.dtype, a.requires_grad) if type(d) is np.ndarray else _sig(a))  # (_sig, inlined)
        key = tuple(key)
        for rec in self._cache.get(key, ()):
            ins = rec.check(args)
            if ins is not None:
                return rec.run(ins)
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
        slot = recorder.slot[id(out._data)]
        recorder.keep = recorder.slot = None  # (the recorded values: freed before the source is compiled)
        self._cache.setdefault(key, []).append(_Recording(recorder, slot, modules, _fn_name(self.fn)))
        return out


def _fn_name(fn):
    return getattr(fn, "__qualname__", None) or type(fn).__name__
