"""The page on a graph too big to draw whole (issue 14: a 10,000-node graph must open in under 2 s
and step in under 100 ms; benchmarks/page_chromium.py measures that). Here, what makes it possible
and must stay right: only the part in view has elements; scrolling over the whole drawing shows
every node and every edge, each exactly where the layout put it, without overlaps; stepping keeps
the current node drawn and in view, from the output to the last leaf."""

import numpy as np
import pytest

import chainrule as cr
from browsing import open_file
from chainrule.viz import explain

pytestmark = pytest.mark.browser


def chains_trace(chains=10, steps=33):
    """`chains` scalar recurrences h = tanh(w·h + x_t) summed (the benchmark's graph, smaller)."""
    rng = np.random.default_rng(1)
    outs = []
    for c in range(chains):
        w = cr.tensor(rng.normal() * 0.5, requires_grad=True, name=f"w{c}")
        h = cr.tensor(rng.normal(), requires_grad=True, name=f"h{c}")
        for t in range(steps):
            h = cr.tanh(w * h + cr.tensor(rng.normal(), requires_grad=True, name=f"x{c}_{t}"))
        outs.append(h)
    return explain(cr.stack(outs).sum(), check=False)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    tr = chains_trace()
    path = tmp_path_factory.mktemp("big") / "big.html"
    tr.to_html(path)
    return tr, path


def open_big(browser, path, width=1280, height=800):
    return open_file(browser, path, width, height, bypass_csp=True)


# what is drawn now, in layout units (the big drawing is at scale 1): the view and every node and
# edge with its box; then the next animation frame, after which a scroll has been drawn
DRAWN = """() => {
  const box = document.getElementById('graph'), svg = box.querySelector('svg'), o = svg.getBoundingClientRect();
  const r = (e) => {
    const b = e.getBoundingClientRect();
    return [b.left - o.left, b.top - o.top, b.right - o.left, b.bottom - o.top];
  };
  return {view: [box.scrollLeft, box.scrollTop, box.scrollLeft + box.clientWidth, box.scrollTop + box.clientHeight],
          size: [svg.width.baseVal.value, svg.height.baseVal.value], shapes: Number(svg.dataset.shapes),
          nodes: [...svg.querySelectorAll('g.node')].map(e => ({id: e.id, box: e.dataset.box.split(',').map(Number),
                                                                drawn: r(e)})),
          edges: [...svg.querySelectorAll('g.edge')].map(e => e.id),
          labels: [...svg.querySelectorAll('g.edge text')].filter(t => t.style.visibility !== 'hidden').map(r)};
}"""
SCROLL = """([x, y]) => new Promise(done => {
  const box = document.getElementById('graph');
  box.scrollLeft = x; box.scrollTop = y;
  requestAnimationFrame(() => requestAnimationFrame(() => done([box.scrollLeft, box.scrollTop])));
})"""


def rect_of(box):  # data-box: x, y, width, height
    return [box[0], box[1], box[0] + box[2], box[1] + box[3]]


def meets(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def overlap(a, b, tol=0.5):
    return a[0] < b[2] - tol and b[0] < a[2] - tol and a[1] < b[3] - tol and b[1] < a[3] - tol


def test_only_the_view_is_drawn_and_scrolling_shows_every_node_and_edge(browser, big):
    tr, path = big
    ctx, page, errors = open_big(browser, path, width=1920, height=1200)
    first = page.evaluate(DRAWN)
    total_nodes = len(tr.steps) + len(tr.leaves) + 1  # and the output
    assert first["shapes"] > 1500  # a graph the page draws by parts
    assert 0 < len(first["nodes"]) < total_nodes / 4
    # the page opens where the backward pass starts: the output is drawn, inside the view
    out = [n for n in first["nodes"] if n["id"] == "node-output"]
    assert out and meets(rect_of(out[0]["box"]), first["view"])
    # tile the whole drawing with views; at each, every node whose box meets the view is drawn
    # (checked against the boxes seen over all tiles), where the layout put it
    W, H = first["size"]
    vw, vh = first["view"][2] - first["view"][0], first["view"][3] - first["view"][1]
    boxes, edges, tiles = {}, set(), []
    for y in range(0, int(H), int(vh)):
        for x in range(0, int(W), int(vw)):
            page.evaluate(SCROLL, [x, y])
            d = page.evaluate(DRAWN)
            tiles.append(d)
            for n in d["nodes"]:
                assert boxes.setdefault(n["id"], n["box"]) == n["box"], f"{n['id']} moved"
                b, r = n["box"], n["drawn"]  # the drawing lies in the node's box
                assert r[0] >= b[0] - 1 and r[1] >= b[1] - 1 and r[2] <= b[0] + b[2] + 1 and r[3] <= b[1] + b[3] + 1
            edges.update(d["edges"])
            assert len(d["nodes"]) < total_nodes / 4, "a view far from the rest drew too much"
    assert len(boxes) == total_nodes
    n_edges = page.evaluate("() => JSON.parse(document.getElementById('trace-data').textContent).edges.length")
    assert edges == {f"edge-{k}" for k in range(n_edges)}
    rect = {k: rect_of(b) for k, b in boxes.items()}
    for d in tiles:
        drawn = {n["id"] for n in d["nodes"]}
        missing = [k for k, b in rect.items() if meets(b, d["view"]) and k not in drawn]
        assert not missing, f"view {d['view']}: {missing[:5]} not drawn"
    # no two nodes overlap, anywhere in the drawing; no edge label lies on a node or on another label
    ids = sorted(rect, key=lambda k: rect[k][0])
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if rect[b][0] >= rect[a][2]:
                break
            assert not overlap(rect[a], rect[b]), f"{a} and {b} overlap"
    for d in tiles:
        labels = d["labels"]
        for i, a in enumerate(labels):
            for n in d["nodes"]:
                assert not overlap(a, n["drawn"]), f"an edge label lies on {n['id']}"
            for b in labels[i + 1:]:
                assert not overlap(a, b), "two edge labels overlap"
    ctx.close()
    assert errors == []


CURRENT = """() => {
  const box = document.getElementById('graph'), g = box.getBoundingClientRect();
  const cur = box.querySelectorAll('g.node.current');
  const b = cur.length ? cur[0].getBoundingClientRect() : null;
  return {count: cur.length, id: cur.length ? cur[0].id : null, box: b && [b.left, b.top, b.right, b.bottom],
          graph: [g.left, g.top, g.right, g.bottom], counter: document.getElementById('counter').textContent,
          title: document.getElementById('step-title').textContent, drawn: box.querySelectorAll('g.node').length,
          done: box.querySelectorAll('g.node.done').length,
          shownGrads: [...box.querySelectorAll('g.edge text.g')].filter(t => t.style.visibility !== 'hidden').length};
}"""


def test_stepping_keeps_the_current_node_drawn_and_in_view(browser, big):
    tr, path = big
    n = len(tr.steps)
    ctx, page, errors = open_big(browser, path, width=900, height=700)
    total = len(tr.steps) + len(tr.leaves) + 1

    def check(k):
        c = page.evaluate(CURRENT)
        assert c["counter"] == f"step {k} / {n}"
        assert c["count"] == 1 and c["id"] == f"node-op{k}", f"step {k}: {c['id']} highlighted"
        b, g = c["box"], c["graph"]
        assert g[0] - 1 <= b[0] and b[2] <= g[2] + 1 and g[1] - 1 <= b[1] and b[3] <= g[3] + 1, f"step {k} out of view"
        assert 0 <= b[1] and b[3] <= 700, f"step {k}: off screen"
        assert tr.steps[k - 1].name in c["title"]
        assert c["drawn"] < total / 4
        return c

    for k in range(1, 41):  # one press at a time: the view follows the pass from chain to chain
        page.click("#next")
        check(k)
    page.click("#last")  # to the end of the pass, across the drawing, and back
    c = check(n)
    assert c["done"] > 0 and c["shownGrads"] > 0  # what the pass has visited is drawn so
    assert len(tr.leaves) > 200 and page.locator("#leaf-grads li").count() == 200  # the rest on request
    page.click("#all-leaves")
    items = page.locator("#leaf-grads li")
    assert items.count() == len(tr.leaves) and page.locator("#all-leaves").count() == 0
    assert items.nth(len(tr.leaves) - 1).inner_text().startswith(f"dL/d{tr.leaves[-1].name} = ")
    page.click("#prev")
    check(n - 1)
    page.click("#first")
    c = page.evaluate(CURRENT)
    assert c["count"] == 0 and c["done"] == 0 and c["shownGrads"] == 0  # back before the pass: no gradient drawn
    ctx.close()
    assert errors == []
