"""The interactive page in a real headless Chromium (Playwright): step through every node, check
the numbers shown against the trace, take a screenshot; no console error, no network request."""

import os
import re

import numpy as np
import pytest

import chainrule as cr
from browsing import lecture_trace
from chainrule import lecture
from chainrule.cli.exprparse import evaluate_labelled
from chainrule.debug.trace import d
from chainrule.ops import sigmoid_composite
from chainrule.viz import explain

pytestmark = pytest.mark.browser

NUMBER = re.compile(r"-?Infinity|NaN|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
SHOTS = os.environ.get("CHAINRULE_SCREENSHOTS")  # a folder to keep the screenshots in, if set


def broadcast_trace():
    X = cr.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], requires_grad=True, name="X")
    b = cr.tensor([0.1, 0.2, 0.3], requires_grad=True, name="b")
    return explain((cr.relu(X + b) * 2.0).sum())


def cli_trace(expr, **values):
    """The trace `chainrule explain EXPR NAME=VALUE...` draws (the README's examples)."""
    leaves = {k: cr.tensor(np.asarray(v, dtype=float), requires_grad=True, name=k) for k, v in values.items()}
    out, labels = evaluate_labelled(expr, leaves, strict=True)
    labels = {k: t for k, t in labels.items() if t is not out and k not in leaves}
    return explain(out, names={"f": out, **labels})


TRACES = {
    "example1": lambda: lecture_trace(lecture.example1),
    "example2_composite": lambda: lecture_trace(lecture.example2, fused=False),
    "max_gate": lambda: lecture_trace(lecture.max_gate),
    "chain_rule_copy": lambda: lecture_trace(lecture.chain_rule),
    "affine": lambda: lecture_trace(lecture.affine),
    "broadcast": broadcast_trace,
    "readme_example1": lambda: cli_trace("(x + y) * z", x=-2, y=5, z=-4),
    "readme_neuron": lambda: cli_trace("sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", w=[2, -3, -3], x=[-1, -2]),
    "readme_max": lambda: cli_trace("max(z, w) * 2", z=2, w=-1),
}


def numbers(text):
    return [float(t.replace("Infinity", "inf")) for t in NUMBER.findall(text)]


def same(text, expected, what):
    got = numbers(text)
    want = np.asarray(expected, dtype=float).ravel()
    assert len(got) == want.size, f"{what}: shown {text!r}, trace has {want.tolist()}"
    np.testing.assert_allclose(got, want, rtol=6e-4, atol=1e-12, err_msg=f"{what}: shown {text!r}")


def open_page(browser, tr, path):
    tr.to_html(path)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    url = path.resolve().as_uri()
    page.goto(url)
    page.wait_for_selector("#graph svg")
    return page, errors, requests, url


@pytest.mark.parametrize("name", list(TRACES))
def test_page_steps_through_every_node(browser, tmp_path, name):
    tr = TRACES[name]()
    page, errors, requests, url = open_page(browser, tr, tmp_path / f"{name}.html")
    n = len(tr.steps)
    panel = page.locator("#panel")
    assert panel.get_attribute("data-step") == "0"
    assert page.locator("#counter").inner_text().endswith(f"0 / {n}")
    same(page.locator("#step-title").inner_text().split("=")[-1], tr.output_value, "output value")
    assert page.locator("#prev").is_disabled()

    for s in tr.steps:
        page.click("#next")
        assert panel.get_attribute("data-step") == str(s.index)
        assert page.locator("#counter").inner_text() == f"step {s.index} / {n}"
        assert "current" in page.locator(f"#node-op{s.index}").get_attribute("class")
        title = page.locator("#step-title").inner_text()
        assert s.name in title and s.op in title
        same(page.locator("#upstream").inner_text(), s.upstream, f"step {s.index} upstream")
        # the lecture's notation: dL/d(x + y), with parentheses around a compound name
        assert f"upstream dL/d{d(s.name)} = " in page.locator("#panel .up").inner_text()
        assert s.expr in title
        assert f": {s.name} = {s.name} " not in title  # an expression name is not written twice
        if s.value is not None:
            same(page.locator("#node-value").inner_text(), s.value, f"step {s.index} value")
        for g in s.gates:
            if g != "accumulates":
                assert g in page.locator("#panel .gate").inner_text()
        if s.accumulates:
            copy = page.locator("#panel .copy").inner_text()
            assert f"used {len(s.sources)} times" in copy
            shown = numbers(copy.split("sum", 1)[1])
            np.testing.assert_allclose(shown[:1], np.ravel(s.sources[0][1])[:1], rtol=6e-4)
        rows = page.locator("#flow tr.input")
        assert rows.count() == len(s.inputs)
        for i, inp in enumerate(s.inputs):
            row = rows.nth(i)
            assert row.locator(".name").inner_text().startswith(inp.name)
            if inp.value is not None:
                same(row.locator(".value").inner_text(), inp.value, f"step {s.index} input {inp.name} value")
            down = row.locator(".downstream").inner_text()
            if s.downstream[i] is None:
                assert down == "no gradient"
                continue
            same(down, s.downstream[i], f"step {s.index} downstream to {inp.name}")
            same(row.locator(".upstream").inner_text(), s.upstream, f"step {s.index} upstream row")
            local = row.locator(".local").inner_text()
            if isinstance(s.local[i], str):
                assert local == s.local[i]
            else:
                same(local, s.local[i], f"step {s.index} local for {inp.name}")
                # the chain rule, as shown: upstream × local (summed over broadcast axes) = downstream
                prod = np.asarray(s.upstream) * np.asarray(s.local[i])
                if s.broadcast[i]:
                    prod = prod.sum(axis=s.broadcast[i]).reshape(inp.shape)
                np.testing.assert_allclose(numbers(down), np.ravel(prod), rtol=1e-3, atol=1e-12)
            if s.broadcast[i]:
                assert f"summed over axes ({', '.join(map(str, s.broadcast[i]))})" in panel.inner_text()

    assert page.locator("#next").is_disabled()
    items = page.locator("#leaf-grads li")
    assert items.count() == len(tr.leaves)
    for k, lf in enumerate(tr.leaves):
        text = items.nth(k).inner_text()
        assert text.startswith(f"dL/d{d(lf.name)} =")
        same(items.nth(k).locator(".downstream").inner_text(), lf.grad, f"leaf {lf.name}")
        if lf.accumulates:  # the copy gate, named at the leaf too
            assert f"(copy gate: the sum of {len(lf.sources)}:" in text
    # every leaf's gradient is drawn under it at the end
    assert page.locator("text.lg").count() == len(tr.leaves)
    assert all(page.locator("text.lg").nth(k).is_visible() for k in range(len(tr.leaves)))

    page.click("#prev")
    assert panel.get_attribute("data-step") == str(n - 1)
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()
    assert errors == []
    assert requests == [url], f"the page made requests: {requests}"


def test_play_and_keyboard(browser, tmp_path):
    tr = lecture_trace(lecture.example1)
    page, errors, requests, url = open_page(browser, tr, tmp_path / "play.html")
    page.keyboard.press("ArrowRight")
    assert page.locator("#panel").get_attribute("data-step") == "1"
    page.keyboard.press("ArrowLeft")
    page.click("#play")
    assert "pause" in page.locator("#play").inner_text()
    # (the page's Content-Security-Policy forbids eval, so wait on selectors, not on JS predicates)
    page.wait_for_selector("#panel[data-step='2']", timeout=10_000)
    page.wait_for_selector("#play:has-text('play')", timeout=10_000)
    page.click("#first")
    assert page.locator("#panel").get_attribute("data-step") == "0"
    page.click("#last")  # to the end of the pass, and back with the keyboard
    assert page.locator("#panel").get_attribute("data-step") == str(len(tr.steps))
    assert page.locator("#last").is_disabled() and page.locator("#next").is_disabled()
    assert page.locator("#leaf-grads li").count() == len(tr.leaves)
    page.keyboard.press("Home")
    assert page.locator("#panel").get_attribute("data-step") == "0"
    page.keyboard.press("End")
    assert page.locator("#panel").get_attribute("data-step") == str(len(tr.steps))
    page.click("#first")
    # before the backward pass no gradient is drawn; the values are
    assert not page.locator("#edge-0 text.g").is_visible() and page.locator("#edge-0 text.v").is_visible()
    page.close()
    assert errors == [] and requests == [url]


def test_hostile_names_are_text(browser, tmp_path):
    """A name that looks like markup is shown as text and cannot run or load anything."""
    x = cr.tensor(2.0, requires_grad=True, name='</script><img src="http://example.com/x.png">')
    y = cr.tensor(3.0, requires_grad=True, name="<b onmouseover=alert(1)>y")
    tr = explain(sigmoid_composite(x * y))
    page, errors, requests, url = open_page(browser, tr, tmp_path / "hostile.html")
    for _ in tr.steps:
        page.click("#next")
    assert page.locator("#panel img").count() == 0 and page.locator("#panel b").count() == 0
    assert "</script>" in page.locator("#leaf-grads").inner_text()
    page.close()
    assert errors == [] and requests == [url]
