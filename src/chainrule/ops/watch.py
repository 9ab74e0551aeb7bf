"""What `cr.compile` is told while it records: work on Tensors that a replay could not repeat.

A recording writes down primitive applications only. Reading a Tensor's value as a Python value
(`.item()`, `bool()`, `.data`, ...) or writing a Tensor's array in place outside the graph would be
baked into it, so the places that do either call `report(what)`; `cr.compile` sets the hook, per
thread, while it records (and falls back to eager when it hears anything).
"""

from __future__ import annotations

import threading


class _Hook(threading.local):
    hook = None


value_reads = _Hook()


def report(what):
    hook = value_reads.hook
    if hook is not None:
        hook(what)
