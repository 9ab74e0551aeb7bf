"""Debugging aids: `detect_anomaly` (where a NaN or infinity came from) and the in-place check.

Inside `with cr.detect_anomaly():`

- every primitive application remembers the user's source line that created it;
- the forward pass raises `AnomalyError` at the first op that turns finite inputs into a NaN or
  an infinity;
- the backward pass raises at the first node whose downstream gradient is not finite although
  its upstream gradient was, and names the factors: "sqrt backward: upstream 1.0 × local inf =
  inf at x = 0.0";
- the arrays a backward rule reads are copied at creation and compared at backward time, so any
  in-place write to them (also `t.data[...] = v`, which no version counter sees) is reported.

Outside the context manager the engine pays one attribute test per op. The always-on in-place
check (a leaf tensor whose `.data` was written in place after an op saved it) also lives here:
the engine calls `check_inplace` only when a leaf's version is newer than the node.
"""

from __future__ import annotations

import inspect
import linecache
import os
import sys
import weakref

import numpy as np

from .errors import AnomalyError
from .graph import Node, mode

_opts = {"check_nan": True}

_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CORE = tuple(_PKG + f for f in ("tensor.py", "graph.py", "primitive.py", "anomaly.py", "ops" + os.sep))
_GRAPH = _PKG + "graph.py"
_info: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Node -> (where, snapshots)


class detect_anomaly:
    """Context manager (and decorator): find the op that first produced a NaN or an infinity.

    `check_nan=False` keeps the source lines and the in-place snapshots but skips value checks.
    """

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = (mode.anomaly, _opts["check_nan"])
        mode.anomaly, _opts["check_nan"] = True, bool(self.check_nan)
        return self

    def __exit__(self, *exc):
        mode.anomaly, _opts["check_nan"] = self._prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with detect_anomaly(self.check_nan):
                return fn(*a, **k)

        return wrapper


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly detection on or off; as a context manager, restore the old setting on exit."""

    def __init__(self, mode_on, check_nan=True):
        super().__init__(check_nan)
        self._prev = (mode.anomaly, _opts["check_nan"])
        mode.anomaly, _opts["check_nan"] = bool(mode_on), bool(check_nan)

    def __enter__(self):
        return self


def is_anomaly_enabled():
    return mode.anomaly


# -- where a node was created -------------------------------------------------------------------

def _caller():
    """(user frame, library frame) of the code that applied the op: the first frame outside
    chainrule, and the first outside the core (e.g. inside nn) when that differs."""
    f = sys._getframe(2)
    lib = None
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG):
            return _frame_info(f), lib
        if lib is None and not fn.startswith(_CORE):
            lib = _frame_info(f)
        f = f.f_back
    return lib, None


def _frame_info(f):
    return (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def _fmt_where(info):
    if info is None:
        return "unknown"
    fn, line, func = info
    src = linecache.getline(fn, line).strip()
    return f'File "{fn}", line {line}, in {func}' + (f": {src}" if src else "")


def created_at(node):
    """The source line that created `node` (recorded only under detect_anomaly), or None."""
    rec = _info.get(node)
    return None if rec is None else _fmt_where(rec[0][0])


def _where_lines(node):
    rec = _info.get(node)
    if rec is None:
        return "\n  created at: unknown (the node was recorded outside detect_anomaly)"
    user, lib = rec[0]
    out = f"\n  created at: {_fmt_where(user)}"
    if lib is not None:
        out += f"\n  inside: {_fmt_where(lib)}"
    return out


# -- the forward pass -------------------------------------------------------------------------------

def _reads(node):
    """(input positions, output?) that the rules of this node's needed gradients read."""
    spec = node.prim.save_for
    if spec is None:
        keep = ""
    elif len(spec) == 1:
        keep = spec[0]
    else:
        keep = "".join(s for s, p in zip(spec, node.parents) if p is not None)
    return {int(c) for c in keep if c.isdigit()}, "a" in keep


def created(node):
    """Called by Primitive.__call__ for each node recorded under detect_anomaly."""
    inputs, out = _reads(node)
    snaps = {}
    for i in inputs:
        s = node.saved[i] if i < len(node.saved) else None
        if type(s) is np.ndarray:
            snaps[i] = s.copy()
    if out and type(node.ans) is np.ndarray:
        snaps["ans"] = node.ans.copy()
    _info[node] = (_caller(), snaps)


def check_forward(prim, datas, out, params):
    """Raise AnomalyError when `prim` made a NaN or infinity out of finite inputs."""
    if not _opts["check_nan"] or out.dtype.kind not in "fc":
        return
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(out)
        if not bad.any():
            return
        arrays = [np.asarray(d) for d in datas]
        floats = [a for a in arrays if a.dtype.kind in "fc"]
        if prim.elementwise:
            for a in floats:
                try:
                    bad &= np.broadcast_to(np.isfinite(a), out.shape)
                except ValueError:
                    pass
            if not bad.any():
                return  # every non-finite output comes from a non-finite input
        elif not all(np.isfinite(a).all() for a in floats):
            return
    names = _input_names(prim, len(arrays))
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if out.ndim else ()
    what = _fmt(out[idx])
    shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays))
    if prim.elementwise:
        vals = ", ".join(f"{n} = {_fmt(_at(a, idx, out.shape))}" for n, a in zip(names, arrays)
                         if a.dtype.kind in "fcib")
        head = f"{prim.name} forward: {prim.name}({', '.join(names)}) = {what} at {vals}"
    else:
        head = (f"{prim.name} forward produced {what} from finite inputs "
                f"(inputs' largest magnitude {_maxabs(floats)})")
    user, lib = _caller()
    where = _fmt_where(user) + ("" if lib is None else f"\n  inside: {_fmt_where(lib)}")
    ctx = _backward_context()
    msg = (f"{head}\n  at output index {idx} of shape {out.shape}; inputs: {shapes}"
           f"{_fmt_params(params)}\n  created at: {where}{ctx}")
    raise AnomalyError(msg)


def _backward_context():
    """Under backward(create_graph=True) the rules record ops: say whose rule was running."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename == _GRAPH:  # the backward loop: its local `node` is the one running
            node = f.f_locals.get("node")
            if isinstance(node, Node):
                where = created_at(node) or "unknown"
                return (f"\n  while running the backward rule of {node.prim.name}, whose node was created "
                        f"at: {where}")
        f = f.f_back
    return ""


# -- the backward pass --------------------------------------------------------------------------------

def backward_hook(inner=None, roots=()):
    """The hook the backward pass calls per node under detect_anomaly (wrapping another hook, if
    any); `roots` are the (node, gradient) pairs it starts from."""
    seeds = {id(n) for n, _ in roots}

    def hook(node, upstream, raw, grads):
        _check_snapshots(node)
        if _opts["check_nan"]:
            _check_node(node, upstream, raw, grads, id(node) in seeds)
        if inner is not None:
            inner(node, upstream, raw, grads)

    return hook


def _arr(v):
    v = getattr(v, "_data", v)
    return None if v is None else np.asarray(v)


def _check_node(node, upstream, raw, grads, is_root):
    prim = node.prim
    up = _arr(upstream)
    with np.errstate(all="ignore"):
        up_ok = up.dtype.kind not in "fc" or bool(np.isfinite(up).all())
        bad = [i for i, gi in enumerate(grads)
               if gi is not None and _arr(gi).dtype.kind in "fc" and not np.isfinite(_arr(gi)).all()]
    if up_ok and not bad:
        return
    if not up_ok:
        idx = _first_bad(up)
        if is_root:
            msg = (f"{prim.name} backward: the gradient passed to backward() is {_fmt(up[idx])} at index "
                   f"{idx}")
        else:
            msg = (f"{prim.name} backward: its upstream gradient is {_fmt(up[idx])} at index {idx}, although "
                   "every gradient flowing into it was finite: summing the contributions of the node's "
                   "consumers overflowed")
        raise AnomalyError(msg + _where_lines(node))
    i = bad[0]
    names = _input_names(prim, len(node.shapes))
    msg = (_explain_elementwise(node, up, raw, i, names) if prim.elementwise
           else _explain_general(node, up, grads, i, names))
    raise AnomalyError(msg + _where_lines(node))


def _explain_elementwise(node, up, raw, i, names):
    from .primitive import ARRAY_NS

    prim = node.prim
    oshape = up.shape
    inputs, out = _reads(node)
    general = _explain_general(node, up, [raw[k] if k == i else None for k in range(len(raw))], i, names)
    if not isinstance(node.saved, tuple) or any(node.saved[k] is None for k in inputs) or (
            out and node.ans is None):
        return general
    # the rule again, elementwise (the engine may have run a fused, already reduced version):
    # with the real upstream for the downstream, with ones for the local derivative
    with np.errstate(all="ignore"):
        try:
            down, local = (prim.vjp(ARRAY_NS, node.parents, u, node.ans, *node.saved, **node.params)
                           for u in (up, np.ones(oshape, dtype=up.dtype)))
            down, local = (v if type(v) is tuple else (v,) for v in (down, local))
            gi_b = np.broadcast_to(np.asarray(down[i]), oshape)
            loc = np.broadcast_to(np.asarray(local[i]), oshape)
        except (ValueError, TypeError, IndexError):
            return general
    if np.isfinite(gi_b).all():
        return general  # finite elementwise: the reduction over broadcast axes overflowed
    idx = _first_bad(gi_b)
    vals = []
    for n, s in zip(names, node.saved):
        if s is not None and np.asarray(s).dtype.kind in "fcib":
            vals.append(f"{n} = {_fmt(_at(np.asarray(s), idx, oshape))}")
    if not vals and node.ans is not None:  # a large node keeps only what its rule reads: show the output
        vals.append(f"{prim.name}({', '.join(names)}) = {_fmt(_at(np.asarray(node.ans), idx, oshape))}")
    at = " at " + ", ".join(vals) if vals else ""
    lead = "" if len(names) == 1 else f" (gradient for {names[i]})"
    return (f"{prim.name} backward{lead}: upstream {_fmt(up[idx])} × local {_fmt(loc[idx])} = "
            f"{_fmt(gi_b[idx])}{at}\n  at index {idx}; inputs: "
            + ", ".join(f"{n} {s}" for n, s in zip(names, node.shapes)) + f"; output {oshape}")


def _explain_general(node, up, grads, i, names):
    prim = node.prim
    gi = _arr(grads[i])
    idx = _first_bad(gi)
    inputs = []
    for n, shape, s in zip(names, node.shapes, node.saved or ()):
        a = None if s is None else np.asarray(s)
        if a is not None and a.dtype.kind in "fc":
            inputs.append(f"{n} {shape} (largest magnitude {_maxabs([a])})")
        else:
            inputs.append(f"{n} {shape}")
    rule = f"\n  rule: {prim.formula}" if prim.formula else ""
    return (f"{prim.name} backward: the gradient for input {names[i]} is {_fmt(gi[idx])} at index {idx} "
            f"although the upstream gradient (shape {up.shape}, largest magnitude {_maxabs([up])}) is finite"
            f"\n  inputs: {', '.join(inputs)}{_fmt_params(node.params)}{rule}")


# -- in-place writes to saved arrays -------------------------------------------------------------------

def _check_snapshots(node):
    rec = _info.get(node)
    if rec is None or not rec[1] or not isinstance(node.saved, tuple):
        return
    for key, snap in rec[1].items():
        cur = node.ans if key == "ans" else node.saved[key]
        if cur is None or (cur.shape == snap.shape and np.array_equal(cur, snap, equal_nan=True)):
            continue
        names = _input_names(node.prim, len(node.shapes))
        if key == "ans":
            what = f"the output of {node.prim.name}"
        else:
            parent = node.parents[key]
            what = _describe_input(names[key], parent)
        raise RuntimeError(
            f"{node.prim.name} backward: {what} was modified in place after {node.prim.name} saved it for "
            "the backward pass, so its gradient would be wrong. Do not write into a tensor's array "
            "(t.data[...] = v, t.data -= v, t.numpy()[...] = v) between forward and backward; assign a new "
            "array (t.data = t.data - v) or update after backward()." + _where_lines(node))


def _describe_input(name, parent):
    if parent is None:
        return f"input {name} (a constant)"
    if isinstance(parent, Node):
        where = created_at(parent) or "unknown"
        return f"input {name} (the output of {parent.prim.name}, created at {where})"
    label = f"tensor '{parent.name}'" if parent.name else "a leaf tensor"
    return f"input {name}, {label} of shape {parent.shape}"


def check_inplace(node):
    """Raise if a leaf input of `node` was written in place (through the `.data` setter) after
    `node` saved its array. Called by run_backward only when a leaf's version is newer than `node`."""
    saved = node.saved
    if not isinstance(saved, tuple):
        return
    names = None
    reads = _reads(node)[0]
    for i, parent in enumerate(node.parents):
        if i not in reads or parent is None or isinstance(parent, Node):
            continue
        if parent._version > node.seq and saved[i] is parent._data:
            names = names or _input_names(node.prim, len(node.shapes))
            label = f"tensor '{parent.name}'" if parent.name else "a leaf tensor"
            raise RuntimeError(
                f"{node.prim.name} backward: {label} of shape {parent.shape} (input {names[i]} of "
                f"{node.prim.name}) was modified in place after {node.prim.name} saved it for the backward "
                "pass (its .data was updated in place, e.g. `p.data -= lr * p.grad`), so the gradient would "
                "be wrong. Call backward() before updating parameters, or assign a new array "
                "(p.data = p.data - lr * p.grad). `with cr.detect_anomaly():` also catches writes "
                "such as p.data[...] = v and shows where the op was created."
                + (_where_lines(node) if node in _info else ""))


# -- formatting ---------------------------------------------------------------------------------------

_NAMES: dict = {}


def _input_names(prim, n):
    """The rule's parameter names for its inputs (x, y, a, b, ...), from its signature."""
    names = _NAMES.get(prim.name)
    if names is None:
        names = []
        try:
            ps = list(inspect.signature(prim.vjp).parameters.values())[4:]
            for p in ps:
                if p.kind == p.VAR_POSITIONAL:
                    names.append("*" + p.name)
                    break
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    names.append(p.name)
        except (TypeError, ValueError):
            pass
        _NAMES[prim.name] = names
    out = []
    for k in range(n):
        if k < len(names) and not names[k].startswith("*"):
            out.append(names[k])
        elif names and names[-1].startswith("*"):
            out.append(f"{names[-1][1:]}[{k - len(names) + 1}]")
        else:
            out.append(f"input{k}")
    return out


def _fmt(v):
    v = np.asarray(v)
    if v.dtype.kind == "c":
        return str(complex(v))
    if v.dtype.kind == "b":
        return str(bool(v))
    x = float(v)
    s = f"{x:.6g}"
    if s.lstrip("-").isdigit():
        s += ".0"
    return s


def _at(a, idx, shape):
    try:
        return np.broadcast_to(a, shape)[idx]
    except ValueError:
        return np.nan


def _first_bad(a):
    a = np.asarray(a)
    if a.ndim == 0:
        return ()
    with np.errstate(all="ignore"):
        return tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])


def _maxabs(arrays):
    with np.errstate(all="ignore"):
        m = max((float(np.max(np.abs(a))) for a in arrays if np.asarray(a).size), default=0.0)
    return _fmt(m)


def _fmt_params(params):
    shown = {k: v for k, v in (params or {}).items() if not isinstance(v, np.ndarray) or v.size <= 8}
    return f"; params {shown}" if shown else ""
