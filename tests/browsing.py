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
