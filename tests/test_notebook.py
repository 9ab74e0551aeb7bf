"""Jupyter: a notebook that makes a trace, executed by nbconvert in a real kernel; its output (the
interactive page in a sandboxed frame) opened in headless Chromium and stepped through."""

import os
import shutil
from pathlib import Path

import pytest

from browsing import ARGS, CHROMIUM

nbformat = pytest.importorskip("nbformat")
nbconvert = pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.browser

CELL = """\
import chainrule as cr
x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
tr = cr.explain((x + y) * z)
tr"""


def test_notebook_shows_the_interactive_page(tmp_path, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    from nbconvert.preprocessors import ExecutePreprocessor

    import chainrule

    # the kernel runs in tmp_path: it must import the chainrule under test, not an installed one
    here = str(Path(chainrule.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here] + [os.path.abspath(p) for p in
                                                            os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    ExecutePreprocessor(timeout=180, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    outputs = nb.cells[0].outputs
    assert [o["output_type"] for o in outputs] == ["execute_result"], outputs
    html = outputs[0]["data"]["text/html"]
    assert html.startswith('<iframe class="chainrule-page" sandbox="allow-scripts"')
    assert "<Trace of f" not in html and "<Trace of" in outputs[0]["data"]["text/plain"]
    # the notebook as a page (nbconvert's basic template: the cells only, nothing fetched)
    body, _ = nbconvert.HTMLExporter(template_name="basic").from_notebook_node(nb)
    page_path = tmp_path / "notebook.html"
    page_path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>",
                         encoding="utf-8")
    pw = sync_api.sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.resolve().as_uri())
        frame = page.frame_locator("iframe.chainrule-page")
        frame.locator("#graph svg").wait_for()
        assert frame.locator("svg .node.op").count() == 2 and frame.locator("svg .node.leaf").count() == 3
        assert frame.locator("#expression").inner_text() == "out = (x + y)*z"
        frame.locator("#next").click()
        assert frame.locator("#panel").get_attribute("data-step") == "1"
        assert "swaps" in frame.locator("#panel .gate").inner_text()
        frame.locator("#next").click()
        assert "dL/dx = -4" in frame.locator("#leaf-grads").inner_text()
        assert page.locator("div.chainrule-trace table").count() == 1  # the table, for a notebook without scripts
        browser.close()
    finally:
        pw.stop()
    assert errors == []
