"""How fast the explain page opens and steps on a big graph, measured in headless Chromium.

    python benchmarks/page_chromium.py [--nodes 10000] [--repeat 5]

Builds a scalar graph of about --nodes op nodes (100 recurrences h = tanh(w·h + x_t) side by side,
w shared by every step, summed at the end; plus their leaves), writes its page with `tr.to_html()`
and measures in Chromium:

- open: from the start of navigation to the end of the page's first drawing (the `load` event has
  run the script, which lays the graph out and draws it; then one animation frame for the paint),
  via the Navigation Timing API and requestAnimationFrame;
- step: one press of "next" (the handler, and the style and layout work it forces), over the first
  --steps steps of the pass (a step's work does not depend on where it is: it rewrites the few
  elements that change and rebuilds the panel).

- the other moves: "end »" (to the last step, from where the steps stopped), "previous" from it,
  "next" to the last step again, "« start" (back to the forward pass) and one screen of scrolling
  (to the end of the frame that draws what came into view);
- the CPU time of the browser's processes while the page opens (from /proc): on a loaded machine
  wall time grows with the load, CPU time much less.

The issue's targets: open < 2 s, step < 100 ms. The script measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import chainrule as cr

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu"]


def big_trace(nodes, chains=100):
    """`chains` scalar recurrences h = tanh(w·h + x_t), each with its own w (used at every step: a
    copy gate) and a fresh leaf x_t per step, 3 op nodes per step, summed at the end."""
    rng = np.random.default_rng(0)
    steps = max(1, nodes // (3 * chains))
    outs = []
    for c in range(chains):
        w = cr.tensor(rng.normal() * 0.5, requires_grad=True, name=f"w{c}")
        h = cr.tensor(rng.normal(), requires_grad=True, name=f"h{c}")
        for t in range(steps):
            h = cr.tanh(w * h + cr.tensor(rng.normal(), requires_grad=True, name=f"x{c}_{t}"))
        outs.append(h)
    t0 = time.perf_counter()
    tr = cr.explain(cr.stack(outs).sum(), check=False)
    return tr, time.perf_counter() - t0


OPEN = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const g = document.getElementById('graph');
  done({open_ms: performance.now() - nav.startTime, script_end_ms: nav.loadEventEnd - nav.startTime,
        read_ms: nav.responseEnd - nav.startTime, parse_ms: Number(g.dataset.parseMs),
        layout_ms: Number(g.dataset.layoutMs), draw_ms: Number(g.dataset.drawMs),
        nodes: document.querySelectorAll('#graph g.node').length, elements: g.querySelectorAll('*').length});
})))"""

STEP = """(skip) => {
  const next = document.getElementById('next');
  for (let i = 0; i < skip; i++) next.click();
  document.body.getBoundingClientRect();
  const t0 = performance.now();
  next.click();
  document.body.getBoundingClientRect();  // the layout the step causes, inside the measurement
  return performance.now() - t0;
}"""

# one press of a button (the handler and the layout it forces)
PRESS = """(id) => {
  document.body.getBoundingClientRect();
  const t0 = performance.now();
  document.getElementById(id).click();
  document.body.getBoundingClientRect();
  return performance.now() - t0;
}"""

# one screen of scrolling: from the scroll to the end of the frame that draws what came into view
SCROLL = """() => new Promise(done => {
  const box = document.getElementById('graph');
  document.body.getBoundingClientRect();
  const t0 = performance.now();
  box.scrollTop += box.clientHeight;
  requestAnimationFrame(() => { document.body.getBoundingClientRect(); done(performance.now() - t0); });
})"""


def browser_cpu_seconds():
    """CPU time (user + system) of this process's descendants: the browser and its helpers."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(pid)] = int(fields[1])
        cpu[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
    me, total = os.getpid(), 0.0
    for pid in cpu:
        p = pid
        while p in parent and p != me:
            p = parent[p]
        if p == me and pid != me:
            total += cpu[pid]
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    tr, t_explain = big_trace(args.nodes)
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "big.html")
    t0 = time.perf_counter()
    tr.to_html(path)
    t_html = time.perf_counter() - t0
    size = os.path.getsize(path)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"graph: {len(tr.steps)} nodes (+{len(tr.leaves)} leaves); explain {t_explain:.2f} s, "
          f"to_html {t_html:.2f} s, page {size / 1e6:.1f} MB", flush=True)
    opens, cpus, steps = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(args.repeat):
            ctx = browser.new_context(viewport={"width": args.width, "height": 900}, bypass_csp=True)
            page = ctx.new_page()
            page.goto("about:blank")
            c0 = browser_cpu_seconds()
            page.goto("file://" + path, wait_until="load", timeout=120_000)
            r = page.evaluate(OPEN)
            cpu = browser_cpu_seconds() - c0
            opens.append(r["open_ms"])
            cpus.append(cpu)
            print(f"  open {r['open_ms']:.0f} ms (browser CPU {cpu:.2f} s): file read {r['read_ms']:.0f} ms, "
                  f"JSON.parse {r['parse_ms']} ms, layout {r['layout_ms']} ms, drawing {r['draw_ms']} ms; "
                  f"{r['elements']} SVG elements", flush=True)
            ctx.close()
        ctx = browser.new_context(viewport={"width": args.width, "height": 900}, bypass_csp=True)
        page = ctx.new_page()
        page.goto("file://" + path, wait_until="load", timeout=120_000)
        n = len(tr.steps)
        c0 = browser_cpu_seconds()
        for _ in range(min(args.steps, n)):
            steps.append(page.evaluate(STEP, 0))
        step_cpu = (browser_cpu_seconds() - c0) / len(steps)
        moves = {}
        if page.locator("#last").count():  # (a page from before the "end »" button has only the steps)
            moves = {"end »": page.evaluate(PRESS, "last"), "previous": page.evaluate(PRESS, "prev"),
                     "the last step": page.evaluate(PRESS, "next"), "« start": page.evaluate(PRESS, "first"),
                     "scroll a screen": page.evaluate(SCROLL)}
        ctx.close()
        browser.close()
    print(f"drawn at the start: {r['nodes']} node elements of {len(tr.steps) + len(tr.leaves) + 1}")
    print(f"open: median {statistics.median(opens):.0f} ms (runs: {', '.join(f'{v:.0f}' for v in opens)}); "
          f"target < 2000 ms; browser CPU median {statistics.median(cpus):.2f} s")
    print(f"step: median {statistics.median(steps):.1f} ms, max {max(steps):.1f} ms over the first {len(steps)} "
          f"steps; target < 100 ms; browser CPU {1000 * step_cpu:.0f} ms per step")
    print("other moves: " + ", ".join(f"{k} {v:.1f} ms" for k, v in moves.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
