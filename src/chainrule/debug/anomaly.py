"""Anomaly mode: `detect_anomaly` finds where a NaN or an infinity came from.

Inside `with cr.detect_anomaly():`

- every primitive application remembers the user's source line that created it;
- the forward pass raises `AnomalyError` at the first op that turns finite inputs into a NaN or
  an infinity;
- the backward pass raises at the first node whose downstream gradient is not finite although
  its upstream gradient was, and names the factors: "sqrt backward: upstream 1.0 × local inf =
  inf at x = 0.0";
- the arrays a backward rule reads are copied at creation and compared at backward time, so any
  in-place write to them (also `t.data[...] = v`, which no version counter sees) is reported.

It is one observer of the engine, installed for the whole process while the block runs (as
PyTorch's anomaly mode, it is not per thread). Outside it the engine pays nothing.
"""

from __future__ import annotations

import linecache
import os
import sys
import weakref

import numpy as np

from .. import backend as be
from ..core import AnomalyError, Node, Observer, install, state, unwrap
from .check import host
from .naming import Naming
from .trace import rule_on_arrays

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_CORE = tuple(_PKG + f + os.sep for f in ("core", "ops", "transforms", "debug"))
_info: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Node -> (where, snapshots)


class _Anomaly(Observer):
    def __init__(self, check_nan):
        self.check_nan = check_nan
        self.running = None            # the node whose backward rule is running (create_graph records ops)
        self.fed = weakref.WeakSet()   # nodes that received a gradient from a consumer
        self.root = None               # weak reference to the node the current backward pass started at

    def applied(self, prim, inputs, out, params):
        if self.check_nan:
            check_forward(prim, inputs, out, params, self.running)

    def recorded(self, node):
        inputs, out, _ = _reads(node)
        snaps = {}
        for i in inputs:
            s = node.saved[i]
            if type(s) is np.ndarray or be.backend_of(s) is not None:
                snaps[i] = np.array(host(s))  # (another backend's array: a host copy)
        if out and (type(node.ans) is np.ndarray or be.backend_of(node.ans) is not None):
            snaps["ans"] = np.array(host(node.ans))
        _info[node] = (_caller(), snaps)

    def visit(self, node, need):
        if node not in self.fed:
            self.root = weakref.ref(node)
        _check_snapshots(node)
        self.running = node
        return need

    def visited(self, node, upstream, raw, grads):
        self.running = None
        if self.check_nan:
            _check_node(node, upstream, raw, grads, node not in self.fed, self.root)
        for p in node.parents:
            if type(p) is Node:
                self.fed.add(p)


def _current():
    return next((o for o in state.observers if isinstance(o, _Anomaly)), None)


def _switch(on, check_nan):
    """Turn anomaly mode on (with check_nan) or off; returns the observers installed before."""
    others = tuple(o for o in state.observers if not isinstance(o, _Anomaly))
    return install(*others, _Anomaly(bool(check_nan))) if on else install(*others)


class detect_anomaly:
    """Context manager (and decorator): find the op that first produced a NaN or an infinity.

    `check_nan=False` keeps the source lines and the in-place snapshots but skips value checks.
    """

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = _switch(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        install(*self._prev)

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
        self._prev = _switch(mode_on, check_nan)

    def __enter__(self):
        return self


def is_anomaly_enabled():
    return _current() is not None


# -- where a node was created -------------------------------------------------------------------

def _caller():
    """(user frame, library frame) of the code that applied the op: the first frame outside
    chainrule, and the first outside the core (e.g. inside nn) when that differs."""
    f = sys._getframe(1)
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
    """(input positions, output?, residual positions) that the rules of this node's needed gradients read."""
    return node.prim.reads(tuple(p is not None for p in node.parents))


def check_forward(prim, datas, out, params, running=None):
    """Raise AnomalyError when `prim` made a NaN or infinity out of finite inputs (on another backend: the
    values checked on the host)."""
    b = be.backend_of(out)
    if b is not None:
        if not b.isdtype(out.dtype, ("real floating", "complex floating")) or bool(b.all(b.isfinite(out))):
            return
        out = host(out)
    if out.dtype.kind not in "fc":
        return
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(out)
        if not bad.any():
            return
        arrays = [host(d) for d in datas]
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
    names = [prim.input_name(i) for i in range(len(arrays))]
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
    ctx = "" if running is None else (f"\n  while running the backward rule of {running.prim.name}, whose node "
                                      f"was created at: {created_at(running) or 'unknown'}")
    msg = (f"{head}\n  at output index {idx} of shape {out.shape}; inputs: {shapes}"
           f"{_fmt_params(params)}\n  created at: {where}{ctx}")
    raise AnomalyError(msg)


# -- the backward pass --------------------------------------------------------------------------------

def _arr(v):
    v = unwrap(v)
    return None if v is None else host(v)


def _check_node(node, upstream, raw, grads, is_root, root=None):
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
        raise AnomalyError(msg + _node_line(node, root) + _where_lines(node))
    i = bad[0]
    names = [prim.input_name(k) for k in range(len(node.shapes))]
    msg = (_explain_elementwise(node, up, raw, i, names) if prim.elementwise
           else _explain_general(node, up, grads, i, names))
    raise AnomalyError(msg + _node_line(node, root) + _where_lines(node))


def _node_line(node, root):
    """'node: step 3 (w0*x0) ...': the number and name cr.explain and check_graph give the node."""
    root = root() if root is not None else None
    naming = Naming([root if root is not None else node])
    if node not in naming.step:
        naming = Naming([node])
    return f"\n  node: {naming.describe(node)} of the backward pass (as cr.explain and check_graph name it)"


def _explain_elementwise(node, up, raw, i, names):
    prim = node.prim
    oshape = up.shape
    inputs, out, _ = _reads(node)
    general = _explain_general(node, up, [raw[k] if k == i else None for k in range(len(raw))], i, names)
    if not isinstance(node.saved, tuple) or any(node.saved[k] is None for k in inputs) or (
            out and node.ans is None):
        return general
    # the rule again, elementwise (the engine may have run a fused, already reduced version):
    # with the real upstream for the downstream, with ones for the local derivative
    with np.errstate(all="ignore"):
        try:
            down, local = (rule_on_arrays(node, u) for u in (up, np.ones(oshape, dtype=up.dtype)))
            gi_b = np.broadcast_to(np.asarray(down[i]), oshape)
            loc = np.broadcast_to(np.asarray(local[i]), oshape)
        except (ValueError, TypeError, IndexError):
            return general
    if np.isfinite(gi_b).all():
        return general  # finite elementwise: the reduction over broadcast axes overflowed
    idx = _first_bad(gi_b)
    vals = []
    for n, s in zip(names, node.saved):
        if s is not None and host(s).dtype.kind in "fcib":
            vals.append(f"{n} = {_fmt(_at(host(s), idx, oshape))}")
    if not vals and node.ans is not None:  # a large node keeps only what its rule reads: show the output
        vals.append(f"{prim.name}({', '.join(names)}) = {_fmt(_at(host(node.ans), idx, oshape))}")
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
        a = None if s is None else host(s)
        if a is not None and a.dtype.kind in "fc":
            inputs.append(f"{n} {shape} (largest magnitude {_maxabs([a])})")
        else:
            inputs.append(f"{n} {shape}")
    local = prim.local_of(i)
    rule = f"\n  rule: dL/d{names[i]} = {local.format_map(_Braces())}" if local else ""
    return (f"{prim.name} backward: the gradient for input {names[i]} is {_fmt(gi[idx])} at index {idx} "
            f"although the upstream gradient (shape {up.shape}, largest magnitude {_maxabs([up])}) is finite"
            f"\n  inputs: {', '.join(inputs)}{_fmt_params(node.params)}{rule}")


class _Braces(dict):
    def __missing__(self, key):
        return key


# -- in-place writes to saved arrays -------------------------------------------------------------------

def _check_snapshots(node):
    rec = _info.get(node)
    if rec is None or not rec[1] or not isinstance(node.saved, tuple):
        return
    for key, snap in rec[1].items():
        cur = node.ans if key == "ans" else node.saved[key]
        cur = cur if cur is None or type(cur) is np.ndarray else host(cur)
        if cur is None or (cur.shape == snap.shape and np.array_equal(cur, snap, equal_nan=True)):
            continue
        if key == "ans":
            what = f"the output of {node.prim.name}"
        else:
            what = _describe_input(node.prim.input_name(key), node.parents[key])
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


# -- formatting ---------------------------------------------------------------------------------------

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
