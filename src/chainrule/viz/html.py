"""The self-contained interactive page of a Trace, and the table Jupyter shows.

`to_html(tr, path)` writes one HTML file: the trace as JSON (the versioned format of `to_json`)
and a script (explorer.js) that lays the graph out itself (layered, no Graphviz), draws it as
SVG and steps through the backward pass node by node showing upstream × local = downstream. A
Content-Security-Policy forbids every network request; nothing is loaded from anywhere.
"""

from __future__ import annotations

import html
import json
import os
import re
import stat
from importlib import resources

import numpy as np

from ..debug.trace import GATE_TEXT, fmt_value
from .dot import graph_parts
from .table import step_notes

SCHEMA, VERSION = "chainrule.trace", 1
FULL_UP_TO = 64  # arrays up to this many elements travel whole; larger ones as a summary + first values
HEAD = 16        # values of a large array that travel (shown when its summary is expanded)
BINS = 10        # histogram bins of an array summary


def _enc(x):
    x = float(x)
    if np.isfinite(x):
        return x
    return "NaN" if np.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


_DTYPE_NAMES = {}


def _arr(v):
    """An array as JSON: shape, dtype, size; the values when small, else the first HEAD of them;
    always a summary (min, mean, max, norm, NaN and infinity counts, a histogram of the finite values)."""
    if v is None:
        return None
    if isinstance(v, str):
        return {"text": v}
    a = np.asarray(v)
    dtype = _DTYPE_NAMES.get(a.dtype) or _DTYPE_NAMES.setdefault(a.dtype, str(a.dtype))
    if a.ndim == 0 and a.dtype.kind == "f":  # most values of a lecture graph: the fast path
        return {"shape": [], "dtype": dtype, "size": 1, "data": [_enc(a)]}
    if a.dtype.kind == "c":
        a = a.real
    a = a.astype(np.float64, copy=False)
    flat = a.reshape(-1)
    out = {"shape": list(a.shape), "dtype": dtype, "size": int(a.size)}
    if a.size <= FULL_UP_TO:
        out["data"] = [_enc(x) for x in flat]
    else:
        out["head"] = [_enc(x) for x in flat[:HEAD]]
    if a.size > 1:
        fin = flat[np.isfinite(flat)]
        summary = {"nan": int(np.isnan(flat).sum()), "inf": int(np.isinf(flat).sum())}
        if fin.size:
            lo, hi = float(fin.min()), float(fin.max())
            counts, _ = np.histogram(fin, bins=BINS, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
            summary.update(min=_enc(lo), mean=_enc(fin.mean()), max=_enc(hi),
                           norm=_enc(np.sqrt(np.sum(fin * fin))), hist=[int(c) for c in counts])
        out["summary"] = summary
    return out


def _check(c):
    if c is None:
        return None
    return {"status": c.status, "error": None if c.error is None else _enc(c.error)}


def _repeats(groups):
    """{path: (k, N)} for repeated blocks: sibling groups of one class computing the same ops, or the
    calls of one module (`cell#1`, `cell#2`)."""
    by_sig = {}
    for path, g in groups.items():
        parent, _, last = path.rpartition(".")
        base, call, _ = last.partition("#")
        sig = (parent, g["type"], ("#", base) if call else tuple(g["ops"]))
        by_sig.setdefault(sig, []).append(path)
    out = {}
    for paths in by_sig.values():
        if len(paths) > 1:
            for k, p in enumerate(paths, 1):
                out[p] = (k, len(paths))
    return out


def trace_json(tr, title=None, expression=None):
    """The trace as a JSON-ready dict: the versioned format that `to_json` writes, `load_json`
    reads and the page draws (documented in docs/trace-format.md)."""
    nodes, edges = graph_parts(tr)
    step_of = {f"op{s.index}": s for s in tr.steps}
    leaf_of = {f"leaf{k}": lf for k, lf in enumerate(tr.leaves)}
    for n in nodes:
        owner = step_of.get(n["id"]) or leaf_of.get(n["id"])
        n["group"] = getattr(owner, "group", "") or ""
        if n["kind"] == "leaf":
            lf = leaf_of[n["id"]]
            n["uses"] = len(lf.sources)
        elif n["kind"] == "op":
            n["uses"] = len(step_of[n["id"]].sources)
    steps = []
    for s in tr.steps:
        inputs = []
        for i, inp in enumerate(s.inputs):
            j = s.jacobian[i]
            inputs.append({
                "name": inp.name, "shape": list(inp.shape), "kind": inp.kind, "value": _arr(inp.value),
                "local": _arr(s.local[i]), "downstream": _arr(s.downstream[i]),
                "broadcast": list(s.broadcast[i]) if s.broadcast[i] else None,
                "jacobian": j.describe() if j is not None and j.saved_bytes > 0 else None,
            })
        steps.append({
            "index": s.index, "name": s.name, "op": s.op, "symbol": s.symbol, "expr": s.expr,
            "gates": s.gates, "gateText": s.explain_gate(), "doc": s.doc, "value": _arr(s.value),
            "shape": list(s.shape), "group": s.group,
            "upstream": _arr(s.upstream), "inputs": inputs,
            "sources": [{"from": c, "grad": _arr(g)} for c, g in s.sources] if s.accumulates else [],
            "saved": [{"what": a.what, "shape": list(a.shape), "dtype": a.dtype, "bytes": a.nbytes, "read": a.read}
                      for a in s.saved],
            "savedBytes": s.saved_bytes, "check": _check(s.check),
        })
    leaves = [{"name": lf.name, "shape": list(lf.shape), "value": _arr(lf.value), "grad": _arr(lf.grad),
               "group": lf.group,
               "sources": [{"from": c, "grad": _arr(g)} for c, g in lf.sources] if lf.accumulates else []}
              for lf in tr.leaves]
    groups = {}
    kinds = getattr(tr, "groups", {}) or {}
    for s in reversed(tr.steps):
        p = s.group
        while p:
            g = groups.setdefault(p, {"path": p, "type": kinds.get(p, ""), "ops": []})
            if p == s.group:
                g["ops"].append(s.op)
            p = p.rpartition(".")[0]
    for p, (k, n) in _repeats(groups).items():
        groups[p]["repeat"] = [k, n]
    group_list = [{"path": g["path"], "type": g["type"], "parent": g["path"].rpartition(".")[0],
                   "nodes": sum(1 for s in tr.steps if s.group == g["path"] or s.group.startswith(g["path"] + ".")),
                   "repeat": g.get("repeat")} for g in groups.values()]
    return {
        "schema": SCHEMA, "version": VERSION,
        "title": title or f"backward pass of {tr.output_name}",
        "expression": expression or getattr(tr, "expression", "") or "",
        "output": {"name": tr.output_name, "value": _arr(tr.output_value)},
        "steps": steps, "leaves": leaves, "groups": group_list, "nodes": nodes, "edges": edges,
        "gateHelp": GATE_TEXT,
    }


def to_json(tr, path=None, title=None, expression=None):
    """The trace in the versioned JSON format, as text; written to `path` too when given."""
    text = json.dumps(trace_json(tr, title, expression), ensure_ascii=False, allow_nan=False, indent=None)
    if path is not None:
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(text)
    return text


MAX_JSON_BYTES = 256 * 2**20


def load_json(source):
    """A trace JSON document (a path, or the text itself) checked against the format: a dict ready for
    `page_html`. Raises ValueError naming what is wrong."""
    if isinstance(source, os.PathLike) or isinstance(source, str) and not source.lstrip().startswith(("{", "[")):
        source = _read_regular(os.fspath(source))
    try:
        data = json.loads(source)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"load_json: not JSON: {str(e)[:120]}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"load_json: not a chainrule trace (expected \"schema\": \"{SCHEMA}\")")
    if data.get("version") != VERSION:
        raise ValueError(f"load_json: trace format version {data.get('version')!r}; this chainrule reads version "
                         f"{VERSION}")
    for key, kind in (("steps", list), ("leaves", list), ("nodes", list), ("edges", list), ("output", dict)):
        if not isinstance(data.get(key), kind):
            raise ValueError(f"load_json: the trace has no {key!r} {kind.__name__}")
        if kind is list and not all(isinstance(item, dict) for item in data[key]):
            raise ValueError(f"load_json: every item of {key!r} must be an object")
    if not isinstance(data.get("title", ""), str):
        raise ValueError("load_json: 'title' must be a string")
    data.setdefault("title", "")
    return data


def _read_regular(path):
    """The text of a regular file of at most MAX_JSON_BYTES: a FIFO would block, /dev/zero never ends."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"load_json: {path} is not a regular file")
        if st.st_size > MAX_JSON_BYTES:
            raise ValueError(f"load_json: {path} is larger than {MAX_JSON_BYTES // 2**20} MB")
        data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"load_json: {path} is larger than {MAX_JSON_BYTES // 2**20} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"load_json: {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def _asset(name):
    return resources.files("chainrule.viz").joinpath(name).read_text(encoding="utf-8")


def _script_json(obj):
    # inside <script>, "</script>" or "<!--" in a name must not end the element; no spaces after
    # separators (a tenth of a big page, read and parsed at every open)
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def to_html(tr, path=None, title=None, expression=None):
    """The interactive page as one string; written to `path` too when given."""
    return page_html(trace_json(tr, title, expression), path)


def page_html(data, path=None):
    """The page for a trace already in JSON form (from trace_json or load_json)."""
    parts = {
        "title": html.escape(data["title"]),
        "style": _asset("explorer.css"),
        "script": _asset("explorer.js"),
        "data": _script_json(data),
    }
    page = re.sub(r"<!--cr:(\w+)-->", lambda m: parts[m.group(1)], _asset("explorer.html"))
    if path is not None:
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(page)
    return page


def table_html(tr):
    """The trace as an HTML table (what Jupyter displays for a Trace)."""
    e = html.escape
    rows = []
    for s in tr.steps:
        n = len(s.inputs)
        for i, inp in enumerate(s.inputs):
            loc = s.local[i]
            loc_text = e(loc) if isinstance(loc, str) else e(fmt_value(loc))
            head = ""
            if i == 0:
                sval = fmt_value(s.value) if s.value is not None else f"{s.shape} not kept"
                gates = "+".join(s.gates) or "—"
                head = (f'<td rowspan="{n}">{s.index}</td><td rowspan="{n}"><b>{e(s.name)}</b></td>'
                        f'<td rowspan="{n}">{e(s.op)}</td><td rowspan="{n}">{e(gates)}</td>'
                        f'<td rowspan="{n}" style="color:#2e7d32">{e(sval)}</td>'
                        f'<td rowspan="{n}" style="color:#c62828">{e(fmt_value(s.upstream))}</td>')
            value = fmt_value(inp.value) if inp.value is not None else f"{inp.shape} not kept"
            rows.append(f"<tr>{head}<td>{e(inp.name)}</td><td>{e(str(inp.shape))}</td>"
                        f'<td style="color:#2e7d32">{e(value)}</td><td>{loc_text}</td>'
                        f'<td style="color:#c62828">{e(fmt_value(s.downstream[i]))}</td></tr>')
        notes = step_notes(s)
        if notes:
            rows.append(f'<tr><td></td><td colspan="10" style="font-size:85%;color:#555">'
                        f'{"<br>".join(e(t) for t in notes)}</td></tr>')
    leaves = ", ".join(f"dL/d{e(lf.name)} = {e(fmt_value(lf.grad))}" for lf in tr.leaves)
    head = "".join(f"<th>{h}</th>" for h in ("step", "node", "op", "gate", "value", "upstream", "input", "shape",
                                             "input value", "local", "downstream"))
    return (f'<div class="chainrule-trace"><p><b>backward pass of {e(tr.output_name)} = '
            f'{e(fmt_value(tr.output_value))}</b>: {len(tr.steps)} nodes in backward order '
            f'(<code>tr.to_html(path)</code> gives the interactive page)</p>'
            f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"<p>leaves: {leaves}</p></div>")


def notebook_html(tr, height=640):
    """What Jupyter shows for a Trace: the interactive page in a sandboxed frame (scripts only: no
    network, no access to the notebook), then the table for a notebook saved without its scripts."""
    page = to_html(tr)
    return (f'<iframe class="chainrule-page" sandbox="allow-scripts" style="width:100%;height:{height}px;'
            f'border:1px solid #ddd" srcdoc="{html.escape(page, quote=True)}"></iframe>' + table_html(tr))
