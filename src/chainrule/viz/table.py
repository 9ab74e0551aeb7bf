"""The trace as text: the table `print(tr)` shows, and two traces side by side (`compare`)."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

import numpy as np

from ..debug.trace import d, fmt_value, shape_text

__all__ = ["table", "step_notes", "Comparison", "compare", "terminal_width"]

MIN_COLUMN = 4   # an abbreviated column keeps this many characters (the table fits 66 columns or more)


def terminal_width():
    """The width `print(tr)` fits: $COLUMNS if set, else the terminal's; None (no limit) when
    writing to a file or pipe, so that saved output is complete."""
    try:
        cols = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        cols = 0
    if cols >= 20:
        return cols
    if sys.stdout is not None and sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _fit(widths, width, sep=2):
    """Shrink the widest columns, one character at a time, until the row fits `width`."""
    widths = list(widths)
    while sum(widths) + sep * (len(widths) - 1) > width:
        j = max(range(len(widths)), key=lambda k: widths[k])
        if widths[j] <= MIN_COLUMN:
            break
        widths[j] -= 1
    return widths


def _cut(text, w):
    return text if len(text) <= w else text[:max(w - 1, 0)] + "…"


def _value_text(v, shape):
    if v is None:
        return f"{shape_text(tuple(shape))} not kept"
    return fmt_value(v)


def table(tr, width=None):
    """The trace as a text table: one row per input of each step, then the leaves' gradients.

    With `width` (characters), the widest columns are abbreviated (ending in …) and the notes
    wrapped so that every line fits; `print(tr)` passes the terminal's width."""
    head = ["step", "node", "op", "gate", "value", "upstream", "│", "input", "shape", "input value", "local",
            "downstream"]
    rows = []
    notes = {}
    for s in tr.steps:
        gate = "+".join(s.gates) or "—"
        first = True
        for i, inp in enumerate(s.inputs):
            loc = s.local[i]
            if isinstance(loc, str):
                loc_text = "formula ⁽ᵃ⁾"
            elif loc is None:
                loc_text = "—"
            else:
                loc_text = fmt_value(loc)
                if s.gate == "swaps" and len(s.inputs) == 2 and np.asarray(loc).size == 1:
                    loc_text += f" (= {s.inputs[1 - i].name})"
            left = ([str(s.index), s.name, s.op, gate, _value_text(s.value, s.shape), fmt_value(s.upstream)]
                    if first else [""] * 6)
            rows.append(left + ["│", inp.name, shape_text(inp.shape), _value_text(inp.value, inp.shape),
                                loc_text, fmt_value(s.downstream[i])])
            first = False
        notes[len(rows)] = step_notes(s)
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
    if width is not None:
        widths = _fit(widths, width)
    right = {0, 4, 5, 9, 10, 11}

    def line(r):
        cells = [_cut(c, w).rjust(w) if j in right else _cut(c, w).ljust(w)
                 for j, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()

    def wrap(text, indent=""):
        if width is None:
            return [text]
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "    ",
                             break_on_hyphens=False) or [text]

    leaves = "1 leaf" if len(tr.leaves) == 1 else f"{len(tr.leaves)} leaves"
    out = wrap(f"backward pass of {tr.output_name} = {fmt_value(tr.output_value)}: {len(tr.steps)} nodes in "
               f"backward order, {leaves}") + [line(head)]
    for k, r in enumerate(rows, 1):
        out.append(line(r))
        for n in notes.get(k, []):
            if width is None:
                out.append(" " * (widths[0] + 2) + "  · " + n)
            else:
                out += wrap("· " + n, " " * min(widths[0] + 4, 8))
    out += wrap("leaves: " + ";  ".join(
        f"{lf.name} = {fmt_value(lf.value)}  dL/d{d(lf.name)} = {fmt_value(lf.grad)}"
        + (f" (sum of {len(lf.sources)}: {' + '.join(fmt_value(g) for _, g in lf.sources)})"
           if lf.accumulates else "")
        for lf in tr.leaves))
    return "\n".join(out)


def step_notes(s):
    notes = []
    if s.accumulates:
        parts = " + ".join(f"{fmt_value(g)} (from {c})" for c, g in s.sources)
        notes.append(f"copy gate: {s.name} is used {len(s.sources)} times; upstream = {parts} "
                     f"= {fmt_value(s.upstream)}")
    for i, inp in enumerate(s.inputs):
        if isinstance(s.local[i], str):
            notes.append(f"⁽ᵃ⁾ {s.local[i]}")
        if s.broadcast[i]:
            notes.append(f"broadcast: the gradient for {inp.name} was summed over axes {s.broadcast[i]} "
                         f"to shape {shape_text(inp.shape)}")
        j = s.jacobian[i]
        if j is not None and j.saved_bytes > 0:
            notes.append(f"∂{d(s.name)}/∂{d(inp.name)}: {j.describe()}")
    return list(dict.fromkeys(notes))



class Comparison:
    """Two traces of the same function side by side (e.g. a fused sigmoid and its composite)."""

    def __init__(self, a, b, labels=("fused", "composite")):
        self.a, self.b, self.labels = a, b, tuple(labels)

    def max_grad_difference(self):
        ga, gb = self.a.grads, self.b.grads
        common = set(ga) & set(gb)
        if not common:
            raise ValueError("compare: the traces share no leaf names")
        return max(float(np.max(np.abs(ga[k] - gb[k]), initial=0.0)) for k in common)

    def same_gradients(self, rtol=1e-7, atol=1e-12):
        ga, gb = self.a.grads, self.b.grads
        return set(ga) == set(gb) and all(np.allclose(ga[k], gb[k], rtol=rtol, atol=atol) for k in ga)

    def __str__(self):
        la, lb = self.labels
        row = lambda s: f"{s.index:>2} {s.op:<8} {fmt_value(s.value):>10}  up {fmt_value(s.upstream)}"
        ca, cb = [row(s) for s in self.a.steps], [row(s) for s in self.b.steps]
        w = max([len(c) for c in ca] + [len(la) + 12])
        out = [f"{(la + f' ({len(self.a.steps)} nodes)'):<{w}}   {lb} ({len(self.b.steps)} nodes)"]
        for k in range(max(len(ca), len(cb))):
            out.append(f"{(ca[k] if k < len(ca) else ''):<{w}}   {cb[k] if k < len(cb) else ''}".rstrip())
        out.append(f"output: {fmt_value(self.a.output_value)} vs {fmt_value(self.b.output_value)}")
        ga, gb = self.a.grads, self.b.grads
        for k in ga:
            if k in gb:
                out.append(f"dL/d{d(k)}: {fmt_value(ga[k])} vs {fmt_value(gb[k])}")
        out.append(f"largest gradient difference: {self.max_grad_difference():.2g}")
        return "\n".join(out)

    __repr__ = __str__


def compare(a, b, labels=("fused", "composite")):
    """Put two traces side by side: node counts, values, upstream gradients and leaf gradients."""
    return Comparison(a, b, labels)
