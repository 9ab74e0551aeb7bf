"""The self-contained interactive page of a Trace, and the table Jupyter shows.

`to_html(tr, path)` writes one HTML file: the graph drawn as inline SVG (laid out here, no
Graphviz), the trace as JSON, and a small script (explorer.js) that steps through the backward
pass node by node showing upstream × local = downstream. A Content-Security-Policy forbids every
network request; nothing is loaded from anywhere.
"""

from __future__ import annotations

import html
import json
import os
import re
from importlib import resources

import numpy as np

from ..debug.trace import GATE_TEXT, fmt_value
from .dot import graph_parts
from .table import step_notes

ROW_H, MARGIN = 84, 60
FULL_UP_TO = 64  # arrays up to this many elements travel whole; larger ones as shape + first values


def _enc(x):
    x = float(x)
    if np.isfinite(x):
        return x
    return "NaN" if np.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _arr(v):
    if v is None:
        return None
    if isinstance(v, str):
        return {"text": v}
    a = np.asarray(v)
    if a.dtype.kind == "c":
        a = a.real
    a = a.astype(np.float64, copy=False)
    flat = a.reshape(-1)
    out = {"shape": list(a.shape), "size": int(a.size)}
    if a.size <= FULL_UP_TO:
        out["data"] = [_enc(x) for x in flat]
    else:
        out["head"] = [_enc(x) for x in flat[:4]]
    return out


def layout(nodes, edges):
    """Columns by depth (leaves next to their first use), rows ordered by the mean row of neighbours."""
    by_id = {n["id"]: n for n in nodes}
    ins, outs = {n["id"]: [] for n in nodes}, {n["id"]: [] for n in nodes}
    for e in edges:
        ins[e["dst"]].append(e["src"])
        outs[e["src"]].append(e["dst"])
    rank = {}
    for n in nodes:  # ops come in forward order, after every leaf
        if n["kind"] in ("leaf", "const"):
            rank[n["id"]] = 0
    for n in nodes:
        if n["kind"] in ("op", "output"):
            rank[n["id"]] = 1 + max((rank.get(s, 0) for s in ins[n["id"]]), default=0)
    for n in nodes:
        if n["kind"] in ("leaf", "const") and outs[n["id"]]:
            rank[n["id"]] = max(0, min(rank[d] for d in outs[n["id"]]) - 1)
    ncols = max(rank.values()) + 1
    cols = [[n["id"] for n in nodes if rank[n["id"]] == c] for c in range(ncols)]
    row = {}
    for c in cols:
        for k, i in enumerate(c):
            row[i] = k
    for _ in range(4):  # barycentre sweeps, forwards then backwards
        for order, nbrs in ((range(ncols), ins), (range(ncols - 1, -1, -1), outs)):
            for c in order:
                col = cols[c]
                key = {i: (np.mean([row[j] for j in nbrs[i]]) if nbrs[i] else row[i]) for i in col}
                col.sort(key=lambda i: key[i])
                for k, i in enumerate(col):
                    row[i] = k
    height = max(len(c) for c in cols)
    longest = max([len(e["value"]) for e in edges] + [len(e["grad"]) for e in edges] + [0])
    col_w = int(min(max(60 + 6.5 * longest, 150), 320))  # room for the edge labels
    for c, col in enumerate(cols):
        off = (height - len(col)) / 2
        for k, i in enumerate(col):
            by_id[i]["x"] = MARGIN + c * col_w
            by_id[i]["y"] = MARGIN + (k + off) * ROW_H
    return ncols * col_w + MARGIN, height * ROW_H + MARGIN


def trace_json(tr, title=None):
    nodes, edges = graph_parts(tr)
    width, height = layout(nodes, edges)
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
            "index": s.index, "name": s.name, "op": s.op, "symbol": s.symbol,
            "gates": s.gates, "gateText": s.explain_gate(), "doc": s.doc, "value": _arr(s.value),
            "shape": list(s.shape),
            "upstream": _arr(s.upstream), "inputs": inputs,
            "sources": [{"from": c, "grad": _arr(g)} for c, g in s.sources] if s.accumulates else [],
        })
    leaves = [{"name": lf.name, "value": _arr(lf.value), "grad": _arr(lf.grad)} for lf in tr.leaves]
    return {
        "title": title or f"backward pass of {tr.output_name}",
        "output": {"name": tr.output_name, "value": _arr(tr.output_value)},
        "steps": steps, "leaves": leaves, "nodes": nodes, "edges": edges,
        "width": width, "height": height, "gateHelp": GATE_TEXT,
    }


def _asset(name):
    return resources.files("chainrule.viz").joinpath(name).read_text(encoding="utf-8")


def _script_json(obj):
    # inside <script>, "</script>" or "<!--" in a name must not end the element
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def to_html(tr, path=None, title=None):
    """The interactive page as one string; written to `path` too when given."""
    data = trace_json(tr, title)
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
    head = "".join(f"<th>{h}</th>" for h in ("#", "node", "op", "gate", "value", "upstream", "input", "shape",
                                             "input value", "local", "downstream"))
    return (f'<div class="chainrule-trace"><p><b>backward pass of {e(tr.output_name)} = '
            f'{e(fmt_value(tr.output_value))}</b>: {len(tr.steps)} nodes in backward order '
            f'(<code>tr.to_html(path)</code> gives the interactive page)</p>'
            f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"<p>leaves: {leaves}</p></div>")
