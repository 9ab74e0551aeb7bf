"""A Trace as Graphviz DOT text, drawn as the lecture draws it: forward values in green above each
edge, gradients in red below. The text needs nothing; `to_svg` and `render` run Graphviz's `dot`."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np

from ..core import GraphvizNotFound
from ..debug.trace import fmt_value, shape_text

FORWARD = "#2e7d32"   # green: values (the lecture's forward pass)
BACKWARD = "#c62828"  # red: gradients

_INSTALL = ("Graphviz's `dot` program is not installed, and {what} needs it: install the Graphviz "
            "package (Debian/Ubuntu: apt install graphviz; Fedora: dnf install graphviz; macOS: brew install "
            "graphviz; conda: conda install graphviz). tr.to_dot() and tr.to_html(path) need nothing.")


def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _short(v, shape=None, grad=False):
    """An edge label: the numbers of a value of up to 4 elements; of a larger one its shape (a value)
    or its norm (a gradient), so that labels stay short on real models."""
    if v is None:
        return "shape " + str(tuple(shape)) if shape is not None else "—"
    a = np.asarray(v)
    if a.size <= 4:
        return fmt_value(a, max_items=4)
    if grad:
        return f"norm {float(np.sqrt(np.sum(np.abs(a.astype(np.float64)) ** 2))):.4g}"
    return shape_text(a.shape)


def graph_parts(tr):
    """Nodes and edges of the drawing, shared by DOT and the HTML page.

    nodes: dicts with id, kind ('leaf', 'const', 'op', 'output'), label, name, and for ops the
    step index; edges: dicts with src, dst, value text, grad text, the consumer step and the input
    position (None for the edge into the output).
    """
    nodes, edges, ids = [], [], {}
    for k, lf in enumerate(tr.leaves):
        ids[lf.name] = f"leaf{k}"
        nodes.append({"id": f"leaf{k}", "kind": "leaf", "name": lf.name, "label": lf.name,
                      "value": _short(lf.value), "grad": _short(lf.grad, grad=True)})
    for s in reversed(tr.steps):  # forward order
        ids[s.name] = f"op{s.index}"
        nodes.append({"id": f"op{s.index}", "kind": "op", "name": s.name, "label": s.symbol,
                      "op": s.op, "step": s.index, "gate": "+".join(s.gates)})
    for s in reversed(tr.steps):
        for i, inp in enumerate(s.inputs):
            src = ids.get(inp.name)
            if src is None or inp.kind == "const":  # a constant, or a value no gradient reached
                src = f"const{s.index}_{i}"
                nodes.append({"id": src, "kind": "const", "name": inp.name, "label": inp.name,
                              "value": _short(inp.value, inp.shape)})
            edges.append({"src": src, "dst": f"op{s.index}", "value": _short(inp.value, inp.shape),
                          "grad": _short(s.downstream[i], grad=True) if s.downstream[i] is not None else "",
                          "step": s.index, "input": i})
    root = tr.steps[0]
    nodes.append({"id": "output", "kind": "output", "name": tr.output_name, "label": tr.output_name})
    edges.append({"src": f"op{root.index}", "dst": "output", "value": _short(tr.output_value),
                  "grad": _short(root.upstream, grad=True), "step": 0, "input": None})
    return nodes, edges


def to_dot(tr, rankdir="LR"):
    """Graphviz DOT text: leaves as boxes, ops as circles, values (green) and gradients (red) on edges."""
    nodes, edges = graph_parts(tr)
    out = ["digraph trace {",
           f'  graph [rankdir={rankdir}, fontname="Helvetica", nodesep=0.4, ranksep=0.7, '
           f'label="backward pass of {_esc(tr.output_name)}: values in green, gradients in red", '
           'labelloc=t, fontsize=12];',
           '  node [fontname="Helvetica", fontsize=11];',
           '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];']
    for n in nodes:
        if n["kind"] == "leaf":
            out.append(f'  {n["id"]} [shape=box, style="rounded", label=<<b>{_esc(n["label"])}</b>>];')
        elif n["kind"] == "const":
            out.append(f'  {n["id"]} [shape=plaintext, label=<{_esc(n["label"])}>];')
        elif n["kind"] == "op":
            gate = f'<br/><font point-size="8" color="#555555">{_esc(n["gate"])}</font>' if n["gate"] else ""
            out.append(f'  {n["id"]} [shape=circle, style=filled, fillcolor="#fff8e1", '
                       f'label=<<b>{_esc(n["label"])}</b>>, xlabel=<<font point-size="9">{_esc(n["name"])}'
                       f'</font>{gate}>, tooltip="{_esc(n["op"])}"];')
        else:
            out.append(f'  {n["id"]} [shape=plaintext, label=<<b>{_esc(n["label"])}</b>>];')
    for e in edges:
        grad = f'<br/><font color="{BACKWARD}">{_esc(e["grad"])}</font>' if e["grad"] else ""
        out.append(f'  {e["src"]} -> {e["dst"]} [label=<<font color="{FORWARD}">{_esc(e["value"])}</font>'
                   f'{grad}>];')
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_exe(what):
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(_INSTALL.format(what=what))
    return exe


def to_svg(tr):
    """The drawing as SVG text (runs Graphviz's `dot`)."""
    exe = _dot_exe("to_svg()")
    r = subprocess.run([exe, "-Tsvg"], input=to_dot(tr).encode(), capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"to_svg: dot failed: {r.stderr.decode(errors='replace').strip()[:300]}")
    return r.stdout.decode()


def render(tr, path, format=None):
    """Write the drawing to `path`; the format comes from the extension (svg, png, pdf, ...; .dot/.gv
    write the DOT text without Graphviz). Returns the path."""
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(to_dot(tr))
        return path
    exe = _dot_exe(f"render() to .{fmt}")
    r = subprocess.run([exe, f"-T{fmt}", "-o", path], input=to_dot(tr).encode(), capture_output=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"render: dot failed for format {fmt!r}: "
                           f"{r.stderr.decode(errors='replace').strip()[:300]}")
    return path
