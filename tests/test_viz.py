"""Drawings of a trace: DOT text, SVG / files through Graphviz, the HTML page (static checks; the
browser test is test_browser.py) and the table Jupyter shows."""

import html as htmllib
import json
import re
import shutil
from importlib import resources

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import dot as vdot
from chainrule.viz import explain
from chainrule.viz.html import FULL_UP_TO, HEAD, trace_json

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def example1():
    x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
    q = x + y
    return explain(q * z, names={"q": q})


def edges_of(dot_text):
    return re.findall(r"^\s*(\w+) -> (\w+) \[label=<(.*)>\];$", dot_text, flags=re.M)


def test_dot_text_example1():
    tr = example1()
    text = tr.to_dot()
    assert text.startswith("digraph trace {") and text.rstrip().endswith("}")
    edges = {(a, b): lab for a, b, lab in edges_of(text)}
    assert len(edges) == 5  # x, y -> add; q, z -> mul; mul -> output
    # values in green above, gradients in red below, as on the lecture's slides
    def parts(lab):
        return re.findall(r'<font color="(#\w+)">([^<]*)</font>', lab)
    assert parts(edges[("leaf0", "op2")]) == [(vdot.FORWARD, "-2"), (vdot.BACKWARD, "-4")]
    assert parts(edges[("leaf1", "op2")]) == [(vdot.FORWARD, "5"), (vdot.BACKWARD, "-4")]
    assert parts(edges[("op2", "op1")]) == [(vdot.FORWARD, "3"), (vdot.BACKWARD, "-4")]
    assert parts(edges[("leaf2", "op1")]) == [(vdot.FORWARD, "-4"), (vdot.BACKWARD, "3")]
    assert parts(edges[("op1", "output")]) == [(vdot.FORWARD, "-12"), (vdot.BACKWARD, "1")]
    assert "swaps" in text and "distributes" in text


def test_dot_constants_and_copy_edges():
    t = cr.tensor(3.0, requires_grad=True, name="t")
    tr = explain(t * t + t + 1.0)
    edges = edges_of(tr.to_dot())
    assert sum(1 for a, b, _ in edges if a == "leaf0") == 3  # t feeds mul twice and add once
    const = [lab for a, b, lab in edges if a.startswith("const")]
    assert len(const) == 1 and vdot.BACKWARD not in const[0]  # a constant receives no gradient


def test_dot_escapes_names():
    x = cr.tensor(1.0, requires_grad=True, name='a<b>&"c"')
    text = explain(x * 2.0).to_dot()
    assert 'a&lt;b&gt;&amp;&quot;c&quot;' in text and "a<b>" not in text


@needs_dot
def test_to_svg_and_render(tmp_path):
    tr = example1()
    svg = tr.to_svg()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for v in ("-12", "-4", "swaps"):
        assert f">{v}<" in svg or v in svg
    for ext in ("svg", "png"):
        out = tr.render(tmp_path / f"g.{ext}")
        assert (tmp_path / f"g.{ext}").stat().st_size > 500 and str(out).endswith(ext)
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RuntimeError, match="dot failed"):
        tr.render(tmp_path / "g.nosuchformat")


def test_missing_graphviz_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(vdot.shutil, "which", lambda name: None)
    tr = example1()
    for call in (tr.to_svg, lambda: tr.render(tmp_path / "g.png")):
        with pytest.raises(vdot.GraphvizNotFound) as e:
            call()
        msg = str(e.value)
        assert "Graphviz" in msg and "apt install graphviz" in msg and "to_html" in msg
    assert isinstance(e.value, RuntimeError)
    # DOT text and .dot files need nothing
    assert tr.render(tmp_path / "g.dot").endswith("g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_assets_ship_with_the_package():
    files = resources.files("chainrule.viz")
    for name in ("explorer.html", "explorer.js", "explorer.css"):
        assert files.joinpath(name).is_file()


def _data_of(page):
    m = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, flags=re.S)
    return json.loads(m.group(1))


def test_html_is_self_contained(tmp_path):
    tr = example1()
    page = tr.to_html(tmp_path / "p.html")
    assert (tmp_path / "p.html").read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page  # the browser itself refuses any request
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "url(http" not in page
    assert re.findall(r"<link[^>]*>", page) == ['<link rel="icon" href="data:,">']
    assert "<!--cr:" not in page
    data = _data_of(page)
    assert [s["op"] for s in data["steps"]] == ["mul", "add"]
    assert data["steps"][0]["inputs"][1]["local"]["data"] == [3.0]
    assert data["steps"][1]["upstream"]["data"] == [-4.0]
    assert [lf["grad"]["data"] for lf in data["leaves"]] == [[-4.0], [-4.0], [3.0]]


def test_html_data_round_trips_every_number():
    rng = np.random.default_rng(0)
    W = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W")
    x = cr.tensor(rng.normal(size=4), requires_grad=True, name="x")
    b = cr.tensor(0.5, requires_grad=True, name="b")
    tr = explain(cr.tanh(W @ x + b).sum())
    data = _data_of(tr.to_html())
    for s, js in zip(tr.steps, data["steps"]):
        np.testing.assert_array_equal(np.reshape(js["upstream"]["data"], js["upstream"]["shape"]), s.upstream)
        for i in range(len(s.inputs)):
            d = js["inputs"][i]["downstream"]
            np.testing.assert_array_equal(np.reshape(d["data"], d["shape"]), s.downstream[i])
            if isinstance(s.local[i], str):
                assert js["inputs"][i]["local"] == {"text": s.local[i]}
    assert data["steps"][-2]["inputs"][1]["broadcast"] == [0]


def test_html_large_arrays_nonfinite_and_hostile_names():
    x = cr.tensor(np.arange(100.0), requires_grad=True, name="</script><script>alert(1)</script>")
    z = cr.tensor([0.0, 1.0], requires_grad=True, name="z")
    with np.errstate(divide="ignore"):
        tr = explain((x * 2.0).sum() + cr.log(z).sum())
    page = tr.to_html()
    assert page.count("</script>") == 2 and "alert(1)</script>" not in page
    data = _data_of(page)  # valid JSON: no bare NaN / Infinity
    leaf = data["leaves"][0]
    assert leaf["name"] == "</script><script>alert(1)</script>"
    assert leaf["grad"]["size"] == 100 > FULL_UP_TO and "data" not in leaf["grad"]
    assert leaf["grad"]["head"] == [2.0] * HEAD
    summary = data["leaves"][0]["value"]["summary"]  # large arrays travel as a summary
    assert (summary["min"], summary["max"], summary["mean"], summary["nan"]) == (0.0, 99.0, 49.5, 0)
    assert summary["norm"] == pytest.approx(np.linalg.norm(np.arange(100.0)))
    assert summary["hist"] == [10] * 10
    log_step = next(s for s in data["steps"] if s["op"] == "log")
    assert log_step["value"]["data"] == ["-Infinity", 0.0]
    assert data["leaves"][1]["grad"]["data"] == ["Infinity", 1.0]


def test_page_data_names_copy_gates_and_modules():
    """What the page lays out: every edge (a reused value's too), how often each value is used,
    and the module of each node."""
    x = cr.tensor(3.0, requires_grad=True, name="x")
    data = trace_json(explain(x * x + x))
    assert [e["src"] for e in data["edges"]].count("leaf0") == 3
    assert next(n for n in data["nodes"] if n["id"] == "leaf0")["uses"] == 3
    assert data["groups"] == [] and all(n["group"] == "" for n in data["nodes"])
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2), cr.nn.Tanh())
    tr = explain(net(cr.tensor(np.ones((2, 3)))).sum())
    data = trace_json(tr)
    groups = {g["path"]: g for g in data["groups"]}
    assert {p: g["type"] for p, g in groups.items()} == {"0": "Linear", "1": "Tanh", "2": "Linear", "3": "Tanh"}
    assert groups["0"]["repeat"] == [1, 2] and groups["2"]["repeat"] == [2, 2]  # same class, same ops
    assert groups["1"]["repeat"] == [1, 2]
    leaves = {n["name"]: n["group"] for n in data["nodes"] if n["kind"] == "leaf"}
    assert leaves == {"0.weight": "0", "0.bias": "0", "2.weight": "2", "2.bias": "2"}
    assert [s.group for s in tr.steps] == ["", "3", "2", "1", "0"]


def test_repr_html_table():
    tr = example1()
    h = tr._repr_html_()
    # Jupyter: the interactive page in a frame that may run scripts and nothing else, then the table
    frame, _, h = h.partition("</iframe>")
    assert frame.startswith('<iframe class="chainrule-page" sandbox="allow-scripts"')
    srcdoc = htmllib.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert srcdoc == tr.to_html()
    assert h.startswith('<div class="chainrule-trace">') and "<table>" in h
    assert h.count("<tr>") >= 5 and "swaps" in h and "distributes" in h
    assert "<th>step</th>" in h  # numbered as the text table and the page number steps
    assert "dL/dx = -4" in h and "dL/dz = 3" in h
    x = cr.tensor(1.0, requires_grad=True, name="<i>x</i>")
    assert "<i>" not in explain(x * 2.0)._repr_html_()


def test_a_module_called_at_each_time_step_gives_one_group_per_call():
    """An RNN-style cell called twice, returning (h, c), beside a separate head: each call is a group,
    the calls are marked as repeats, the cell's inner modules go with their call."""

    class Cell(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.x2h, self.h2h = cr.nn.Linear(3, 4), cr.nn.Linear(4, 4)

        def forward(self, x, h):
            h = cr.tanh(self.x2h(x) + self.h2h(h))
            return h, h * 2.0

    cell, head = Cell(), cr.nn.Linear(4, 1)
    h = cr.tensor(np.zeros((2, 4)))
    for _ in range(2):
        h, _c = cell(cr.tensor(np.ones((2, 3))), h)
    data = trace_json(explain(head(h).sum()))
    groups = {g["path"]: g for g in data["groups"]}
    assert set(groups) == {"cell#1", "cell#1.x2h#1", "cell#1.h2h#1", "cell#2", "cell#2.x2h#2", "cell#2.h2h#2",
                           "linear"}
    assert groups["cell#1"]["repeat"] == [1, 2] and groups["cell#2"]["repeat"] == [2, 2]
    assert groups["cell#2.h2h#2"]["parent"] == "cell#2" and groups["cell#2"]["type"] == "Cell"
    ops = {s["group"]: s["op"] for s in data["steps"] if s["group"].endswith(("x2h#1", "h2h#2"))}
    assert ops == {"cell#1.x2h#1": "linear", "cell#2.h2h#2": "linear"}
