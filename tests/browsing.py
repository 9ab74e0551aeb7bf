"""What the browser tests share: where Chromium is and how it starts (the `browser` fixture, in
conftest.py, launches it), and the trace of a lecture example."""

from chainrule import Tensor
from chainrule.viz import explain

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def lecture_trace(example, **kw):
    """The trace of the backward pass a lecture example runs (its `backward()` call is intercepted)."""
    traces = []
    saved = Tensor.backward
    Tensor.backward = lambda self, *a, **k: traces.append(explain(self))
    try:
        example(**kw)
    finally:
        Tensor.backward = saved
    return traces[0]


def open_file(browser, path, width, height, bypass_csp=False):
    """The page at `path` in a new context: (context, page, the console and page errors it reports)."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=bypass_csp)
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("#graph svg")
    return ctx, page, errors
