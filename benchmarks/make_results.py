#!/usr/bin/env python
"""Regenerate benchmarks/RESULTS.md: a full run of run.py, the shared peer harness's run with its
target verdict, and a cProfile of chainrule for every target that is not met.

    python benchmarks/make_results.py [--peer-bench DIR] [run.py options, e.g. --rounds 2]

DIR defaults to ../shared/bench next to the repository; without it that part is left out.
Takes ~15 minutes on 2 cores. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER_LIBS = "numpy_handwritten,torch,chainrule"


def sh(cmd, **kw):
    print("+", cmd if isinstance(cmd, str) else " ".join(cmd), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def demote(md, by=2):
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + by) + " ", md, flags=re.M)


def _cell(v, limit, unit, mb=None, mb_limit=None, check_ok=True):
    if v is None:
        return "not measured"
    met = v <= limit and (mb is None or mb <= mb_limit) and check_ok
    s = f"{v:.2f}{unit}" + (f", {mb:.0f} MB" if mb is not None else "")
    return s + (" met" if met else " **short**") + ("" if check_ok else " (gradient mismatch)")


def glance(own, peer):
    """chainrule's target metric in each run, one row per workload."""
    from workloads import WORKLOADS
    units = {"ratio": "x", "us_per_node": " µs/node", "us_per_op": " µs/op"}
    heads = {"results": "run.py, 2 threads, wall", "results-steady": "run.py, 1 thread, CPU time"}
    cols = [n for n in ("results", "results-steady") if n in own]
    hdr = ["workload", "target"] + [heads[n] for n in cols] + (["peer harness, 2 threads, wall"] if peer else [])
    L = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    pres = {}
    if peer:
        with open(peer["json"]) as f:
            pres = {r["workload"]: r for r in json.load(f)["results"] if r["lib"] == "chainrule"}
    for w, wl in WORKLOADS.items():
        key, limit, text = wl.target
        mb_limit = wl.extra.get("mb_limit")
        row = [w, text]
        for n in cols:
            r = next((x for x in own[n][1]["results"] if x["lib"] == "chainrule" and x["workload"] == w), None)
            if r is None or r.get("status") != "ok":
                row.append(r.get("status", "?") if r else "not run")
                continue
            m = r["metrics"]
            ok = all(c["ok"] for c in r.get("check", {}).values())
            row.append(_cell(m.get(key), limit, units[key], m.get("added_mb") if mb_limit else None, mb_limit, ok))
        if peer:
            r = pres.get(w)
            if r is None or r.get("status") != "ok":
                row.append(r.get("status", "?") if r else "not run")
            else:
                pm = r.get("metrics", {})
                v = {"ratio": pm.get("ratio_vs_numpy_handwritten"), "us_per_node": pm.get("us_per_node"),
                     "us_per_op": pm.get("total_us_per_op")}[key]
                row.append(_cell(v, limit, units[key], r["memory"]["delta_mb"] if mb_limit else None, mb_limit,
                                 r.get("check", {}).get("ok", False)))
        L.append("| " + " | ".join(row) + " |")
    return "\n".join(L)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peer-bench", default=os.path.join(ROOT, "..", "shared", "bench"))
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--notes", default=os.path.join(HERE, "notes.md"),
                   help="hand-written markdown put after the targets table (default: benchmarks/notes.md)")
    p.add_argument("--peer-args", default="", help="extra options for the peer harness (e.g. for a quick try)")
    p.add_argument("--no-steady", action="store_true",
                   help="skip the second run with --threads 1 --clock cpu (steadier on a loaded machine)")
    a, run_args = p.parse_known_args()
    tmp = tempfile.mkdtemp(prefix="chainrule-results-")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}

    # 1. our own runs: as asked, then (unless --no-steady) with one thread and CPU time
    own = {}
    variants = [("results", [])] + ([] if a.no_steady else [("results-steady", ["--threads", "1", "--clock", "cpu"])])
    for name, extra in variants:
        md = os.path.join(tmp, name + ".md")
        cmd = [sys.executable, "benchmarks/run.py"] + run_args + extra + ["--json", f"benchmarks/{name}.json",
                                                                          "--md", md]
        r = sh(cmd, cwd=ROOT, env=env)
        print(r.stdout[-2000:], r.stderr[-3000:])
        with open(md) as f, open(os.path.join(HERE, name + ".json")) as g:
            own[name] = (f.read(), json.load(g))
    doc = own["results"][1]

    # 2. the peer harness
    peer = None
    bench = os.path.abspath(a.peer_bench)
    if not a.skip_peer and os.path.exists(os.path.join(bench, "run.py")):
        pj, pm = "/tmp/peer.json", "/tmp/peer.md"
        pypath = os.pathsep.join([os.path.join(ROOT, "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        peer_cmd = (f"cd {bench} && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH={pypath} python run.py "
                    f"--libs {PEER_LIBS} "
                    f"--json {pj} --md {pm}" + (f" {a.peer_args}" if a.peer_args else ""))
        r = sh(["bash", "-c", peer_cmd], env=env)
        print(r.stdout[-3000:], r.stderr[-2000:])
        verdict = sh([sys.executable, os.path.join(bench, "check_targets.py"), pj])
        with open(pm) as f:
            peer = {"json": pj, "cmd": peer_cmd, "md": f.read(),
                    "verdict": verdict.stdout.strip(), "check_cmd": f"python {bench}/check_targets.py {pj}",
                    "rc": verdict.returncode}

    # 3. profiles of the targets not met in any run
    short = [w for w in doc["workloads"] if any(
        r["lib"] == "chainrule" and r["workload"] == w and r.get("metrics", {}).get("target_met") is False
        for _, d in own.values() for r in d["results"])]
    profiles = {}
    for w in short:
        r = sh([sys.executable, "benchmarks/run.py", "--profile", w, "--top", "15", "--max-time", "3"],
               cwd=ROOT, env=env)
        out = r.stdout
        out = out[out.find("#"):] if "#" in out else out
        profiles[w] = "\n".join(x.rstrip() for x in out.strip().splitlines())

    L = ["# chainrule benchmarks: results", "",
         "Regenerated by `" + " ".join(["python", "benchmarks/make_results.py"] + sys.argv[1:])
         + "` (see its docstring). "
         "All runs below were made one after the other on the same machine, in this order.", "",
         "## Targets at a glance", "", glance(own, peer), ""]
    if a.notes and os.path.exists(a.notes):
        with open(a.notes) as f:
            L += [f.read().rstrip(), ""]
    titles = {"results": "as the issue defines it (2 threads, wall clock); raw data in `results.json`",
              "results-steady": "steady variant (1 thread, CPU time of the process); raw data in "
                                "`results-steady.json`"}
    for name, (md, _) in own.items():
        L += [f"## `benchmarks/run.py`, {titles[name]}", "", demote(md, 1)]
    if peer:
        L += ["## The shared peer harness", "", f"Command: `{peer['cmd']}`", "",
              f"Verdict of `{peer['check_cmd']}` (exit status {peer['rc']}):", "", "```", peer["verdict"], "```", "",
              "<details><summary>The harness's report</summary>", "", demote(peer["md"], 2), "</details>", ""]
    if profiles:
        L += ["## Where the time goes: targets not met", "",
              "`python benchmarks/run.py --profile WORKLOAD --top 15`: cProfile of chainrule's step (2 threads), "
              "sorted by own time; cProfile's per-call overhead inflates Python-heavy rows, so read the "
              "proportions. The GC line is measured with `gc.callbacks`.", ""]
        for w, txt in profiles.items():
            L += [f"### {w}", "", "```", txt, "```", ""]
    with open(a.out, "w") as f:
        f.write("\n".join(L).rstrip() + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
