"""The page on the lecture's examples, the README's, a 2-layer MLP and a small CNN, in headless
Chromium at widths from 420 to 1920 px: nothing leaves the drawing, no two nodes or labels overlap,
no edge runs through a node it does not join, every edge of a reused value is drawn with its value
and gradient; modules are boxes that open and close; arrays are summarized; each node shows what
its rule saved and its numerical check; the play button keeps its width; the current node stays in
view; a trace file opens in the page (test_browser.py checks the numbers of every step)."""

import json

import numpy as np
import pytest

import chainrule as cr
from browsing import lecture_trace, open_file
from chainrule import lecture, nn
from chainrule.cli.exprparse import evaluate_labelled
from chainrule.viz import explain
from chainrule.viz.html import load_json, page_html

pytestmark = pytest.mark.browser

WIDTHS = [420, 800, 1280, 1920]


def cli_trace(expr, **values):
    """The trace `chainrule explain EXPR NAME=VALUE...` draws."""
    leaves = {k: cr.tensor(np.asarray(v, dtype=float), requires_grad=True, name=k) for k, v in values.items()}
    out, labels = evaluate_labelled(expr, leaves, strict=True)
    labels = {k: t for k, t in labels.items() if t is not out and k not in leaves}
    return explain(out, names={"f": out, **labels})


def digits(n):
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.data[:n] / 16.0, d.target[:n]


def mlp_trace():
    X, y = digits(64)
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return explain(nn.functional.cross_entropy(net(cr.tensor(X)), y))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.act(self.conv(x)))))


def cnn_trace():
    X, y = digits(8)
    cr.manual_seed(0)
    net = SmallCNN()
    return explain(nn.functional.cross_entropy(net(cr.tensor(X.reshape(8, 1, 8, 8))), y))


class LSTMStep(nn.Module):
    """One LSTM step from existing primitives (the lecture's gates i, f, o, g)."""

    def __init__(self, n_in, n_hidden):
        super().__init__()
        self.x2h = nn.Linear(n_in, 4 * n_hidden)
        self.h2h = nn.Linear(n_hidden, 4 * n_hidden)
        self.n = n_hidden

    def forward(self, x, h, c):
        a = self.x2h(x) + self.h2h(h)
        n = self.n
        i, f, o = cr.sigmoid(a[:, :n]), cr.sigmoid(a[:, n:2 * n]), cr.sigmoid(a[:, 2 * n:3 * n])
        g = cr.tanh(a[:, 3 * n:])
        c = f * c + i * g
        return o * cr.tanh(c), c


def lstm_trace():
    rng = np.random.default_rng(0)
    cr.manual_seed(0)
    cell, head = LSTMStep(3, 4), nn.Linear(4, 2)
    h, c = cr.tensor(np.zeros((5, 4))), cr.tensor(np.zeros((5, 4)))
    for _ in range(2):
        h, c = cell(cr.tensor(rng.normal(size=(5, 3))), h, c)
    return explain(nn.functional.cross_entropy(head(h), rng.integers(0, 2, 5)))


def copy_trace():
    x = cr.tensor(3.0, requires_grad=True, name="x")
    return explain(x * x + x)


TRACES = {
    "example1": lambda: lecture_trace(lecture.example1),
    "example2": lambda: lecture_trace(lecture.example2),
    "example2_composite": lambda: lecture_trace(lecture.example2, fused=False),
    "max_gate": lambda: lecture_trace(lecture.max_gate),
    "chain_rule": lambda: lecture_trace(lecture.chain_rule),
    "affine": lambda: lecture_trace(lecture.affine),
    "readme_cli": lambda: cli_trace("(x + y) * z", x=-2, y=5, z=-4),
    "readme_neuron": lambda: cli_trace("sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", w=[2, -3, -3], x=[-1, -2]),
    "readme_max": lambda: cli_trace("max(z, w) * 2", z=2, w=-1),
    "copy": copy_trace,
    "mlp": mlp_trace,
    "cnn": cnn_trace,
    "lstm_step": lstm_trace,
}
_cache = {}


def trace(name):
    if name not in _cache:
        _cache[name] = TRACES[name]()
    return _cache[name]


def open_page(browser, tr, path, width, height=900, bypass_csp=False):
    tr.to_html(path)
    return open_file(browser, path, width, height, bypass_csp)


# the geometry of the drawing, measured in the page (bypass_csp lets the test run this script; the
# page's own policy still applies to the page)
GEOMETRY = """() => {
  const box = document.getElementById('graph'), g = box.getBoundingClientRect();
  const svg = box.querySelector('svg'), s = svg.getBoundingClientRect();
  const r = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const nodes = [...svg.querySelectorAll('g.node')].map(e => ({id: e.id, box: r(e)}));
  const labels = [...svg.querySelectorAll('text')].filter(t => t.style.visibility !== 'hidden' && t.textContent)
    .map(t => ({text: t.textContent, box: r(t), edge: t.closest('g.edge') ? t.closest('g.edge').id : null,
                node: t.closest('g.node') ? t.closest('g.node').id : null}));
  const paths = [...svg.querySelectorAll('g.edge')].map(e => {
    const p = e.querySelector('path'), L = p.getTotalLength(), m = p.getScreenCTM(), pts = [];
    for (let k = 1; k < 40; k++) {
      const q = p.getPointAtLength(L * k / 40);
      pts.push([m.a * q.x + m.c * q.y + m.e, m.b * q.x + m.d * q.y + m.f]);
    }
    return {id: e.id, src: 'node-' + e.dataset.src, dst: 'node-' + e.dataset.dst, pts: pts};
  });
  return {graph: [g.left, g.top, g.right, g.bottom], svg: [s.left, s.top, s.right, s.bottom],
          scrollW: box.scrollWidth, clientW: box.clientWidth, pageW: document.documentElement.scrollWidth,
          viewW: window.innerWidth, nodes, labels, paths, orientation: svg.dataset.orientation};
}"""


def overlap(a, b, tol=0.5):
    return a[0] < b[2] - tol and b[0] < a[2] - tol and a[1] < b[3] - tol and b[1] < a[3] - tol


def inside(a, outer, tol=1.0):
    return a[0] >= outer[0] - tol and a[1] >= outer[1] - tol and a[2] <= outer[2] + tol and a[3] <= outer[3] + tol


def check_geometry(page, what):
    geo = page.evaluate(GEOMETRY)
    assert geo["pageW"] <= geo["viewW"], f"{what}: the page scrolls sideways ({geo['pageW']} > {geo['viewW']})"
    assert geo["scrollW"] <= geo["clientW"] + 1, f"{what}: the drawing needs horizontal scrolling"
    # (the box scrolls vertically; sideways the drawing fits)
    assert geo["graph"][0] - 1 <= geo["svg"][0] and geo["svg"][2] <= geo["graph"][2] + 1, \
        f"{what}: the drawing leaves its box"
    for lab in geo["labels"]:
        assert inside(lab["box"], geo["svg"]), f"{what}: label {lab['text']!r} leaves the drawing"
    nodes = geo["nodes"]
    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            assert not overlap(nodes[i]["box"], nodes[j]["box"]), \
                f"{what}: nodes {nodes[i]['id']} and {nodes[j]['id']} overlap"
    edge_labels = [lab for lab in geo["labels"] if lab["edge"]]
    for i, a in enumerate(edge_labels):
        for n in nodes:
            assert not overlap(a["box"], n["box"]), f"{what}: edge label {a['text']!r} lies on {n['id']}"
        for b in edge_labels[i + 1:]:
            assert not overlap(a["box"], b["box"]), f"{what}: edge labels {a['text']!r} and {b['text']!r} overlap"
    boxes = {n["id"]: n["box"] for n in nodes}
    for p in geo["paths"]:  # an edge touches only the two nodes it joins
        for nid, b in boxes.items():
            if nid in (p["src"], p["dst"]):
                continue
            hit = [q for q in p["pts"] if b[0] + 1 < q[0] < b[2] - 1 and b[1] + 1 < q[1] < b[3] - 1]
            assert not hit, f"{what}: edge {p['id']} ({p['src']} -> {p['dst']}) runs through {nid}"
    return geo


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(TRACES))
def test_nothing_clipped_nothing_overlaps(browser, tmp_path, name, width):
    tr = trace(name)
    ctx, page, errors = open_page(browser, tr, tmp_path / f"{name}.html", width, bypass_csp=True)
    for _ in tr.steps:  # with every gradient shown
        page.keyboard.press("ArrowRight")
    check_geometry(page, f"{name} at {width}px")
    if page.locator("#expand").is_visible():  # every module open
        page.click("#expand")
        assert page.locator("svg .node.group").count() == 0
        check_geometry(page, f"{name} at {width}px, modules open")
    ctx.close()
    assert errors == []


def test_reused_values_draw_every_edge_and_name_the_copy_gate(browser, tmp_path):
    tr = trace("copy")
    ctx, page, errors = open_page(browser, tr, tmp_path / "copy.html", 1280)
    for _ in tr.steps:
        page.click("#next")
    edges = page.locator("g.edge[data-src='leaf0']")
    assert edges.count() == 3  # x feeds × twice and + once
    for k in range(3):
        e = edges.nth(k)
        assert e.locator("text.v").text_content() == "3" and e.locator("text.v").is_visible()
        assert e.locator("text.g").is_visible()
    grads = sorted(edges.nth(k).locator("text.g").text_content() for k in range(3))
    assert grads == ["1", "3", "3"]
    assert "copy gate: Σ of 3" in page.locator("#node-leaf0").text_content()
    assert "(copy gate: the sum of 3" in page.locator("#leaf-grads").inner_text()
    ctx.close()
    # an intermediate value used twice
    tr = lecture_trace(lecture.chain_rule)
    reused = [s for s in tr.steps if s.accumulates]
    assert reused
    ctx, page, errors2 = open_page(browser, tr, tmp_path / "chain.html", 1280)
    for s in reused:
        assert f"copy gate: Σ of {len(s.sources)}" in page.locator(f"#node-op{s.index}").text_content()
    ctx.close()
    assert errors == errors2 == []


def test_modules_are_boxes_that_open_and_close(browser, tmp_path):
    tr = trace("mlp")
    assert {s.group for s in tr.steps} == {"0", "1", "2", ""}
    ctx, page, errors = open_page(browser, tr, tmp_path / "mlp.html", 1280)
    groups = page.locator("svg .node.group")
    assert groups.count() == 3  # collapsed by default
    texts = [groups.nth(k).text_content() for k in range(3)]
    assert any("0 · Linear" in t and "×2" in t for t in texts)  # the two Linear layers: a repeated block
    assert any("1 · ReLU" in t for t in texts) and not any("ReLU" in t and "×" in t for t in texts)
    assert page.locator("svg .node.op").count() == sum(1 for s in tr.steps if not s.group)
    # the current node inside a closed module lights up its box
    page.click("#next")
    page.click("#next")
    step = tr.steps[1]
    assert step.group == "2"
    assert "current" in page.locator("#node-group\\:2").get_attribute("class")
    assert "in 2" in page.locator("#step-title").inner_text()
    page.click("#node-group\\:0")  # open the first Linear: its nodes and parameters appear
    assert page.locator("svg .node.group").count() == 2
    assert page.locator("#frame-0").count() == 1
    assert page.locator("svg .node.leaf").count() == 2  # 0.weight, 0.bias
    page.click("#frame-0 text")  # and close it again
    assert page.locator("svg .node.group").count() == 3 and page.locator("#frame-0").count() == 0
    ctx.close()
    assert errors == []


def test_arrays_are_summarized_and_open_on_click(browser, tmp_path):
    tr = trace("mlp")
    ctx, page, errors = open_page(browser, tr, tmp_path / "mlp.html", 1280)
    page.click("#next")
    page.click("#next")
    s = tr.steps[1]  # the last Linear: upstream (64, 10)
    summary = page.locator("#upstream summary").inner_text()
    g = np.asarray(s.upstream)
    assert summary.startswith("(64, 10) float64")
    for key, v in (("min", g.min()), ("max", g.max()), ("norm", np.linalg.norm(g))):
        shown = float(summary.split(key + " ")[1].split(" ")[0])
        np.testing.assert_allclose(shown, v, rtol=1e-3, atol=1e-9)
    assert not page.locator("#upstream .hist").is_visible()
    page.click("#upstream summary")
    assert page.locator("#upstream .hist rect").count() == 10
    first = page.locator("#upstream .first").inner_text()
    np.testing.assert_allclose([float(t) for t in first.split(": ")[1].split(", ")[:4]], g.ravel()[:4], rtol=1e-3)
    ctx.close()
    assert errors == []


@pytest.mark.parametrize("name", ["example1", "affine", "cnn"])
def test_each_node_shows_saved_bytes_and_its_check(browser, tmp_path, name):
    tr = trace(name)
    ctx, page, errors = open_page(browser, tr, tmp_path / f"{name}.html", 1280)
    for s in tr.steps:
        page.click("#next")
        saved = page.locator("#saved").inner_text()
        read = [a for a in s.saved if a.read]
        assert saved.startswith("saved for backward: ")
        for a in read:
            assert f"{a.what} " in saved and f" {a.dtype} " in saved
        if not read:
            assert "nothing" in saved
        check = page.locator("#check").inner_text()
        assert s.check.status in check
        if s.check.error is not None:
            np.testing.assert_allclose(float(check.rsplit(" ", 1)[1]), s.check.error, rtol=0.06)
    if name != "cnn":  # the lecture's values are all kept: every rule is checked, and passes
        assert all(s.check.status == "pass" for s in tr.steps)
    ctx.close()
    assert errors == []


def test_play_button_keeps_its_width(browser, tmp_path):
    ctx, page, errors = open_page(browser, trace("example1"), tmp_path / "play.html", 800)
    before = page.locator("#play").bounding_box()
    nxt = page.locator("#next").bounding_box()
    page.click("#play")
    assert "pause" in page.locator("#play").inner_text()
    after = page.locator("#play").bounding_box()
    assert after["width"] == before["width"] and page.locator("#next").bounding_box()["x"] == nxt["x"]
    page.click("#play")
    ctx.close()
    assert errors == []


@pytest.mark.parametrize("name", ["example2_composite", "mlp"])
def test_current_node_stays_in_view_in_a_narrow_window(browser, tmp_path, name):
    tr = trace(name)
    ctx, page, errors = open_page(browser, tr, tmp_path / f"{name}.html", 420, height=560)
    for s in tr.steps:
        page.click("#next")
        cur = page.locator("svg .node.current")
        assert cur.count() == 1, f"step {s.index}: no node is highlighted"
        b, g = cur.bounding_box(), page.locator("#graph").bounding_box()
        assert b["x"] >= g["x"] - 1 and b["x"] + b["width"] <= g["x"] + g["width"] + 1
        assert b["y"] >= g["y"] - 1 and b["y"] + b["height"] <= g["y"] + g["height"] + 1, f"step {s.index}"
        assert 0 <= b["y"] and b["y"] + b["height"] <= 560, f"step {s.index}: the node is off screen"
    ctx.close()
    assert errors == []


def test_trace_json_round_trips_and_opens_in_the_page(browser, tmp_path):
    tr = trace("example1")
    path = tmp_path / "t.json"
    text = tr.to_json(path)
    data = load_json(path)
    assert data["schema"] == "chainrule.trace" and data["version"] == 1
    assert page_html(data) == tr.to_html()  # the file holds everything the page draws
    assert json.loads(text) == data
    # the page of another trace opens the file and shows it
    other = trace("copy")
    ctx, page, errors = open_page(browser, other, tmp_path / "other.html", 1280)
    assert page.locator("#counter").inner_text().endswith(f"/ {len(other.steps)}")
    page.set_input_files("#open", str(path))
    page.wait_for_selector(f"#counter:has-text('0 / {len(tr.steps)}')")
    assert page.locator("svg .node.leaf").count() == len(tr.leaves)
    for s in tr.steps:
        page.click("#next")
        assert s.name in page.locator("#step-title").inner_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something else"}')
    page.set_input_files("#open", str(bad))
    page.wait_for_selector("#open-error")
    assert "not a chainrule trace" in page.locator("#open-error").inner_text()
    ctx.close()
    assert errors == []
