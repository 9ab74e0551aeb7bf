#!/usr/bin/env python
"""Benchmark chainrule against hand-written NumPy (and PyTorch when installed).

    python benchmarks/run.py                      # all 8 workloads, numpy + chainrule (+ torch)
    python benchmarks/run.py --only op_overhead,scalar_mlp --repeat 30
    python benchmarks/run.py --json out.json --md out.md

Each (library, workload) runs in a fresh subprocess of this script, so imports, caches and the
peak memory of one never leak into another. Ratios are against hand-written NumPy measured in the
same run; gradients of every library are checked against the hand-written ones (and PyTorch's).
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the benchmark subprocesses only (they slow
down a current OpenBLAS); the report says which were set.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from importlib import metadata
from time import perf_counter, process_time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(ROOT, "src")
sys.path.insert(0, HERE)

STRIP_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
LIBS = ("numpy", "chainrule", "torch")
NOISY = 0.10  # relative IQR above which a median is marked noisy (~)


# ---------------------------------------------------------------------------------------------------
# worker: one (library, workload) in a fresh process
# ---------------------------------------------------------------------------------------------------

def maxrss_mb():
    """Peak resident memory of this process so far. VmHWM belongs to the address space, which exec
    replaces; ru_maxrss would also count the parent's memory at fork time (Linux keeps it across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(step, repeat, max_time, min_batch=0.05):
    """First call, 2 warm-up calls, then up to `repeat` timed repeats (at least 5, capped so the
    timed part lasts about `max_time` s). A repeat runs the step `number` times back to back so
    that it lasts >= min_batch seconds and keeps the per-step mean of the wall clock
    (perf_counter) and of this process's CPU time (process_time, all threads). gc.collect() runs
    before each repeat, outside the timed region."""
    def once():
        gc.collect()
        t = perf_counter()
        step()
        return perf_counter() - t

    first = once()
    t_one = min(once(), once())
    number = 1 if t_one >= min_batch else int(min_batch / max(t_one, 1e-7)) + 1
    reps = max(5, min(repeat, int(max_time / max(t_one * number, 1e-9))))
    wall, cpu, phases = [], [], {}
    for _ in range(reps):
        gc.collect()
        acc = {}
        c0, w0 = process_time(), perf_counter()
        for _ in range(number):
            ph = step()
            if type(ph) is dict:
                for k, v in ph.items():
                    acc[k] = acc.get(k, 0.0) + v
        w1, c1 = perf_counter(), process_time()
        wall.append((w1 - w0) / number)
        cpu.append((c1 - c0) / number)
        for k, v in acc.items():
            phases.setdefault(k, []).append(v / number)
    return {"first_s": first, "number": number, "wall": wall, "cpu": cpu, "phases": phases}


def worker(a):
    res = {"lib": a._lib, "workload": a._workload, "status": "error"}
    try:
        import impls
        import numpy as np
        from impls import IMPLS, NotAvailable
        if a.clock == "cpu":
            impls.CLOCK = process_time
        from workloads import WORKLOADS

        wl = WORKLOADS[a._workload]
        try:
            impl = IMPLS[a._lib](a.threads)
        except ImportError as e:
            if a._lib != "torch":
                raise  # chainrule itself failing to import is an error, not an optional library
            res.update(status="not installed", error=str(e))
            return
        res["info"] = impl.info()
        rss_import = maxrss_mb()
        data = wl.data()
        try:
            case = impl.case(wl, data)
        except NotAvailable as e:
            res.update(status="not available", error=str(e))
            return
        rss_setup = maxrss_mb()
        res["timing"] = measure(case.step, a.repeat, a.max_time)
        peak = maxrss_mb()
        res["memory"] = {"after_import_mb": rss_import, "after_setup_mb": rss_setup, "peak_mb": peak,
                         "added_mb": peak - rss_setup}
        g = case.grads()  # after the timing, so it cannot raise the peak above
        np.savez(a._grads, **{k: np.asarray(v) for k, v in g.items()})
        res["grad_dtypes"] = {k: str(np.asarray(v).dtype) for k, v in g.items()}
        res["status"] = "ok"
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-3000:]
    finally:
        with open(a._out, "w") as f:
            json.dump(res, f, default=str)


def profile(a):
    """cProfile of `a._lib`'s step on one workload (warm), top functions by own time."""
    import cProfile
    import pstats

    from impls import IMPLS
    from workloads import WORKLOADS

    wl = WORKLOADS[a._workload]
    case = IMPLS[a._lib](a.threads).case(wl, wl.data())
    case.step()
    case.step()
    n, inside = 0, [0.0]
    gc_runs, gc_start = [0, 0, 0], [0.0]

    def on_gc(phase, info):  # time spent in Python's cyclic garbage collector, per generation
        if phase == "start":
            gc_start[0] = perf_counter()
        else:
            gc_runs[info["generation"]] += 1
            inside[0] += perf_counter() - gc_start[0]

    prof = cProfile.Profile()
    t0 = perf_counter()
    gc.callbacks.append(on_gc)
    while n < 3 or perf_counter() - t0 < a.max_time:
        prof.enable()
        case.step()
        prof.disable()
        n += 1
    gc.callbacks.remove(on_gc)
    total = perf_counter() - t0
    print(f"# cProfile of {a._lib} / {wl.name}: {n} steps (times are totals over them; cProfile adds its own "
          "overhead per Python call)")
    print(f"# cyclic GC during the steps: {sum(gc_runs)} collections (gen0 {gc_runs[0]}, gen1 {gc_runs[1]}, "
          f"gen2 {gc_runs[2]}), {inside[0]:.3f} s = {100 * inside[0] / total:.0f}% of the profiled wall time "
          "(charged to whatever function allocated when it started)")
    pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(a.top)


def machine_info(a):
    """Run in a subprocess with the benchmark environment: what numpy actually loaded."""
    import numpy as np
    out = {"numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info
        out["blas"] = [{k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                              "threading_layer", "num_threads", "filepath")}
                       for d in threadpool_info()]
    except ImportError:
        out["blas"] = None
        try:
            cfg = np.show_config(mode="dicts")
            out["blas_config"] = cfg.get("Build Dependencies", {}).get("blas")
        except Exception as e:  # noqa: BLE001
            out["blas_config"] = repr(e)
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
        out["simd"] = sorted(k for k, v in feats.items() if v and k.startswith(("AVX512F", "AVX2", "FMA3")))
    except ImportError:
        pass
    try:
        import chainrule
        out["chainrule_path"] = chainrule.__file__
    except ImportError as e:
        out["chainrule_path"] = f"not importable: {e}"
    with open(a._out, "w") as f:
        json.dump(out, f)


# ---------------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------------

def child_env(threads, keep_openblas_env):
    env = dict(os.environ)
    stripped = []
    if not keep_openblas_env:
        stripped = [f"{k}={env.pop(k)}" for k in STRIP_ENV if k in env]
    for k in THREAD_ENV:
        env[k] = str(threads)
    paths = [HERE] + ([SRC] if os.path.isdir(os.path.join(SRC, "chainrule")) else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env, stripped


def run_child(args, env, timeout, out):
    if os.path.exists(out):
        os.remove(out)
    cmd = [sys.executable, os.path.abspath(__file__)] + args + ["--_out", out]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=timeout)
        err, rc = p.stderr, p.returncode
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"killed after {timeout:.0f} s", "wall_s": time.time() - t0}
    if os.path.exists(out):
        with open(out) as f:
            res = json.load(f)
    else:
        res = {"status": "error", "error": f"worker died (rc={rc}): {err[-1500:]}"}
    res["wall_s"] = time.time() - t0
    return res


def cpu_model():
    model, flags = "?", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "?":
                    model = val.strip()
                elif key == "flags" and not flags:
                    flags = [x for x in val.split() if x in ("avx", "avx2", "fma", "avx512f", "avx512_vnni",
                                                              "avx512_bf16", "amx_tile")]
    except OSError:
        pass
    return model, flags


def git_commit():
    try:
        sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return sha + (" (src/ has uncommitted changes)" if dirty else "") if sha else None
    except (OSError, subprocess.SubprocessError):
        return None


def versions():
    out = {}
    for d in ("numpy", "chainrule", "torch", "threadpoolctl"):
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out


def _quantile(xs, q):
    xs = sorted(xs)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(xs):
    med = statistics.median(xs)
    return {"median_s": med, "min_s": min(xs), "rel_iqr": (_quantile(xs, 0.75) - _quantile(xs, 0.25)) / med,
            "n": len(xs)}


def merge_rounds(runs):
    """Pool the repeats of the rounds of one (library, workload); memory: the median over rounds."""
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return runs[-1]
    res = dict(ok[-1])
    wall = [x for r in ok for x in r["timing"]["wall"]]
    cpu = [x for r in ok for x in r["timing"]["cpu"]]
    res["wall"], res["cpu"] = summarize(wall), summarize(cpu)
    res["first_s"] = statistics.median(r["timing"]["first_s"] for r in ok)
    res["number"] = ok[-1]["timing"]["number"]
    ph = {}
    for r in ok:
        for k, v in r["timing"]["phases"].items():
            ph.setdefault(k, []).extend(v)
    res["phases"] = {k: summarize(v) for k, v in ph.items()}
    res["memory"] = {k: statistics.median(r["memory"][k] for r in ok) for k in ok[-1]["memory"]}
    res["rounds"] = len(ok)
    res.pop("timing")
    return res


def compare(g_path, ref_path, rtol):
    """Worst max|g - ref| / max|ref| over the gradients (the loss reported apart); NaN/inf fail."""
    import numpy as np
    with np.load(g_path) as g, np.load(ref_path) as ref:
        worst, worst_key, loss_rel, missing = 0.0, None, None, []
        for k in ref.files:
            if k not in g.files:
                missing.append(k)
                continue
            r, v = ref[k].astype(np.float64), g[k].astype(np.float64)
            if v.shape != r.shape:
                if v.size != r.size:
                    return {"ok": False, "why": f"{k}: shape {v.shape} vs {r.shape}"}
                v = v.reshape(r.shape)
            if not np.all(np.isfinite(v)):
                return {"ok": False, "why": f"{k}: non-finite values"}
            scale = float(np.max(np.abs(r))) if r.size else 0.0
            rel = float(np.max(np.abs(v - r))) / scale if scale > 0 else float(np.max(np.abs(v - r), initial=0.0))
            if k == "loss":
                loss_rel = rel
            elif rel >= worst:
                worst, worst_key = rel, k
    ok = not missing and worst <= rtol and (loss_rel is None or loss_rel <= rtol)
    out = {"ok": bool(ok), "worst_rel": worst, "worst_key": worst_key, "loss_rel": loss_rel, "rtol": rtol}
    if missing:
        out["why"] = f"missing {missing}"
    return out


def main(argv=None):
    from workloads import ORDER, WORKLOADS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated workloads (default: all): " + ",".join(ORDER))
    p.add_argument("--libs", default=",".join(LIBS),
                   help="comma-separated, from numpy,chainrule,torch (default: all; torch is skipped when not "
                        "installed). numpy (the baseline of every ratio) always runs.")
    p.add_argument("--repeat", type=int, default=20,
                   help="timed repeats per case and round (the median is reported; at least 5, capped by --max-time)")
    p.add_argument("--max-time", type=float, default=5.0, help="about this many seconds of timed repeats per case")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every (library, workload) subprocess this many times, alternating the order of the "
                        "libraries, and pool the repeats (steadier ratios on a loaded machine)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: perf_counter (default); cpu: process_time, CPU time of the process summed over its "
                        "threads, which a loaded machine disturbs less (compare with --threads 1)")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/torch threads for every library")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before one case's subprocess is killed")
    p.add_argument("--json", help="write the raw results here")
    p.add_argument("--md", help="write the markdown report here")
    p.add_argument("--compare", metavar="OLD_JSON",
                   help="an earlier --json of this script: adds this run's medians over those (before/after)")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="do not remove OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from the benchmark subprocesses")
    p.add_argument("--profile", metavar="WORKLOAD",
                   help="instead of benchmarking: cProfile --profile-lib's step on WORKLOAD, print the top functions")
    p.add_argument("--profile-lib", default="chainrule", choices=LIBS, help="library for --profile")
    p.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_profile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_info", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_lib", help=argparse.SUPPRESS)
    p.add_argument("--_workload", help=argparse.SUPPRESS)
    p.add_argument("--_out", help=argparse.SUPPRESS)
    p.add_argument("--_grads", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._worker:
        return worker(a)
    if a._info:
        return machine_info(a)
    if a._profile:
        return profile(a)
    if a.profile:
        if a.profile not in WORKLOADS:
            p.error(f"unknown workload {a.profile}; choose from {', '.join(ORDER)}")
        env, _ = child_env(a.threads, a.keep_openblas_env)
        cmd = [sys.executable, os.path.abspath(__file__), "--_profile", "--_lib", a.profile_lib, "--_workload",
               a.profile, "--threads", str(a.threads), "--max-time", str(a.max_time), "--top", str(a.top)]
        return subprocess.run(cmd, env=env, cwd=HERE).returncode

    wls = a.only.split(",") if a.only else ORDER
    libs = [x for x in a.libs.split(",") if x]
    bad = [w for w in wls if w not in WORKLOADS] + [x for x in libs if x not in LIBS]
    if bad:
        p.error(f"unknown workload or library: {', '.join(bad)} (workloads: {', '.join(ORDER)}; libraries: "
                f"{', '.join(LIBS)})")
    if a.compare and not os.path.exists(a.compare):
        p.error(f"--compare: no such file {a.compare}")
    if "numpy" not in libs:
        libs.insert(0, "numpy")

    import tempfile
    tmp = tempfile.mkdtemp(prefix="chainrule-bench-")
    env, stripped = child_env(a.threads, a.keep_openblas_env)
    model, flags = cpu_model()
    info = run_child(["--_info"], env, 120, os.path.join(tmp, "info.json"))
    meta = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join([os.path.relpath(os.path.abspath(__file__), os.getcwd())] + sys.argv[1:]),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model, "cpu_flags": flags, "platform": platform.platform(),
        "python": platform.python_version(), "versions": versions(), "numpy_info": info,
        "chainrule_commit": git_commit(), "threads": a.threads, "openblas_env_stripped": stripped,
        "keep_openblas_env": a.keep_openblas_env, "repeat": a.repeat, "max_time": a.max_time,
        "rounds": a.rounds, "clock": a.clock, "loadavg_start": os.getloadavg(),
    }
    doc = {"meta": meta, "workloads": {w: {"what": WORKLOADS[w].what, "dtype": WORKLOADS[w].dtype,
                                           "n_ops": WORKLOADS[w].n_ops, "rtol": WORKLOADS[w].rtol,
                                           "target": WORKLOADS[w].target} for w in wls},
           "results": []}
    print(f"# chainrule benchmarks: {', '.join(libs)} on {len(wls)} workloads; threads={a.threads}; "
          f"removed from the benchmark processes: {', '.join(stripped) or 'nothing (neither was set)'}", flush=True)
    t_start = time.time()
    for w in wls:
        wl = WORKLOADS[w]
        runs = {lib: [] for lib in libs}
        for rnd in range(a.rounds):
            order = libs if rnd % 2 == 0 else libs[::-1]
            for lib in order:
                if runs[lib] and runs[lib][-1].get("status") != "ok":
                    continue  # failed or not available: not again
                tag = f"{lib}-{w}-{rnd}"
                r = run_child(["--_worker", "--_lib", lib, "--_workload", w, "--threads", str(a.threads),
                               "--repeat", str(a.repeat), "--max-time", str(a.max_time), "--clock", a.clock,
                               "--_grads", os.path.join(tmp, tag + ".npz")],
                              env, a.timeout, os.path.join(tmp, tag + ".json"))
                r["grads_path"] = os.path.join(tmp, tag + ".npz")
                r["loadavg_before"] = os.getloadavg()[0]
                runs[lib].append(r)
                if r.get("status") != "ok":
                    print(f"[{w}] {lib}: {r.get('status')}: {str(r.get('error'))[:200]}", flush=True)
        merged = {lib: merge_rounds(rs) for lib, rs in runs.items() if rs}
        for lib, r in merged.items():
            r["lib"], r["workload"] = lib, w
            if r.get("status") == "ok":
                add_metrics(r, wl, merged.get("numpy"), a.clock)
                checks = {}
                for ref in ("numpy", "torch"):
                    rr = merged.get(ref)
                    if ref != lib and rr and rr.get("status") == "ok":
                        checks[ref] = compare(r["grads_path"], rr["grads_path"], wl.rtol)
                r["check"] = checks
                print(progress_line(r), flush=True)
            doc["results"].append(r)
        meta["elapsed_s"] = time.time() - t_start
        meta["loadavg_end"] = os.getloadavg()
        if a.json:
            with open(a.json, "w") as f:
                json.dump(doc, f, indent=1, default=str)
    for r in doc["results"]:
        r.pop("grads_path", None)
    text = render(doc)
    if a.compare:
        with open(a.compare) as f:
            text += render_compare(doc, json.load(f))
    print("\n" + text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any(not c["ok"] for r in doc["results"] for c in r.get("check", {}).values()) else 0


def add_metrics(r, wl, base, clock):
    r["time"] = r[clock]
    med = r["time"]["median_s"]
    m = {}
    if base and base.get("status") == "ok":
        m["ratio"] = med / base[clock]["median_s"]
        m["ratio_min"] = r[clock]["min_s"] / base[clock]["min_s"]
        m["ratio_wall"] = r["wall"]["median_s"] / base["wall"]["median_s"]
        m["ratio_cpu"] = r["cpu"]["median_s"] / base["cpu"]["median_s"]
    if wl.name == "scalar_mlp":
        m["us_per_node"] = med / wl.n_ops * 1e6
    elif wl.n_ops:
        m["us_per_op"] = med / wl.n_ops * 1e6
        for ph in ("forward", "backward"):
            if ph in r["phases"]:
                m[f"{ph}_us_per_op"] = r["phases"][ph]["median_s"] / wl.n_ops * 1e6
    if wl.name == "deep_chain_memory":
        m["added_mb"] = r["memory"]["added_mb"]
    if wl.target and r["lib"] == "chainrule":
        key, limit, _ = wl.target
        v = m.get(key)
        met = v is not None and v <= limit
        if "mb_limit" in wl.extra:
            met = met and m["added_mb"] <= wl.extra["mb_limit"]
        m["target_met"] = met
    r["metrics"] = m


# ---------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------

def fmt_t(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_check(c):
    if not c:
        return "-"
    if not c["ok"] and "why" in c:
        return f"**MISMATCH** {c['why']}"
    s = f"{c['worst_rel']:.0e}"
    return s if c["ok"] else f"**MISMATCH** {s} ({c['worst_key']})" + (
        f", loss {c['loss_rel']:.0e}" if c.get("loss_rel") is not None else "")


def progress_line(r):
    m, w = r["metrics"], r["time"]
    s = (f"[{r['workload']:>20}] {r['lib']:>9}: median {fmt_t(w['median_s'])} min {fmt_t(w['min_s'])} "
         f"(iqr {100 * w['rel_iqr']:.0f}%, n={w['n']}x{r['number']})")
    if "ratio" in m and r["lib"] != "numpy":
        s += f" {m['ratio']:.2f}x numpy"
    for k in ("us_per_node", "forward_us_per_op", "backward_us_per_op", "added_mb"):
        if k in m:
            s += f" {k}={m[k]:.3g}"
    for ref, c in r["check"].items():
        s += f" grad vs {ref}: {fmt_check(c)}"
    return s


def render_compare(doc, old):
    """This run's median / the earlier run's, per library and workload; and the chainrule/numpy ratio in both."""
    prev = {(r["lib"], r["workload"]): r for r in old["results"] if r.get("status") == "ok"}
    libs = [x for x in LIBS if any(r["lib"] == x for r in doc["results"])]
    L = ["### Compared with an earlier run", "",
         f"Earlier run: {old['meta'].get('date_utc')}, chainrule at {old['meta'].get('chainrule_commit')}. "
         "Cells: this median / earlier median (below 1: faster now). Last column: chainrule's ratio vs numpy, "
         "earlier -> now (the ratio is steadier than either time on a loaded machine).", "",
         "| workload | " + " | ".join(libs) + " | chainrule vs numpy |", "|---|" + "---|" * (len(libs) + 1)]
    for w in doc["workloads"]:
        row = [w]
        for lib in libs:
            r, o = next((x for x in doc["results"] if x["lib"] == lib and x["workload"] == w), None), prev.get((lib, w))
            ok = r is not None and r.get("status") == "ok" and o is not None
            row.append(f"{r['time']['median_s'] / o['time']['median_s']:.2f}" if ok else "")
        o = prev.get(("chainrule", w), {}).get("metrics", {}).get("ratio")
        n = next((x.get("metrics", {}).get("ratio") for x in doc["results"]
                  if x["lib"] == "chainrule" and x["workload"] == w), None)
        row.append(f"{o:.2f}x -> {n:.2f}x" if o and n else "")
        L.append("| " + " | ".join(row) + " |")
    return "\n".join(L) + "\n\n"


def render(doc):
    meta, res = doc["meta"], doc["results"]
    wls = list(doc["workloads"])
    libs = [x for x in LIBS if any(r["lib"] == x for r in res)]
    by = {(r["lib"], r["workload"]): r for r in res}
    ok = lambda r: r is not None and r.get("status") == "ok"
    L = [f"Command: `{meta['command']}` ({meta['date_utc']}, {meta.get('elapsed_s', 0) / 60:.1f} min; "
         f"chainrule at {meta.get('chainrule_commit') or '?'})", ""]

    L += ["### Machine", ""]
    ni = meta.get("numpy_info") or {}
    blas = [d for d in (ni.get("blas") or []) if d.get("user_api") == "blas"]
    blas_s = "; ".join(f"{d['internal_api']} {d['version']}, kernel {d['architecture']}, {d['threading_layer']}, "
                       f"{d['num_threads']} threads" for d in blas)
    if not blas_s:
        blas_s = f"threadpoolctl not installed; numpy build config: {ni.get('blas_config')}"
    vers = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    torch_info = next((r.get("info") for r in res if r["lib"] == "torch" and r.get("info")), None)
    L += [f"- nproc {meta['nproc']}; {meta['cpu_model']} ({', '.join(meta['cpu_flags'])}); {meta['platform']}; "
          f"Python {meta['python']}",
          f"- numpy {ni.get('numpy')} BLAS: {blas_s}" + (f"; SIMD {', '.join(ni['simd'])}" if ni.get("simd") else ""),
          f"- versions: {vers}" + (f"; torch threads {torch_info.get('torch_threads')}" if torch_info else ""),
          f"- chainrule imported from {ni.get('chainrule_path')}",
          f"- threads pinned to {meta['threads']} ({', '.join(THREAD_ENV)}, torch.set_num_threads)",
          "- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from the benchmark subprocesses: "
          + (", ".join(meta["openblas_env_stripped"]) or "neither was set")
          + (" (kept: --keep-openblas-env)" if meta["keep_openblas_env"] else ""),
          f"- load average at start {tuple(round(x, 2) for x in meta['loadavg_start'])}, at end "
          f"{tuple(round(x, 2) for x in meta.get('loadavg_end', (0, 0, 0)))}",
          f"- timing: one fresh subprocess per (library, workload){' and round' if meta['rounds'] > 1 else ''}; "
          "first call and 2 warm-ups untimed; then up to "
          f"{meta['repeat']} repeats (>= 5, about {meta['max_time']:g} s per case"
          + (f", {meta['rounds']} rounds pooled" if meta["rounds"] > 1 else "") + "), fast steps batched so a "
          "repeat lasts >= 50 ms; gc.collect() between repeats. Reported: the **median** per step of "
          + ("the wall clock (perf_counter)" if meta.get("clock", "wall") == "wall" else
             "the process's CPU time (process_time, summed over its threads)")
          + "; the min, and the other clock, are in the details (the min and the CPU time are steadier than the "
          "wall-clock median on a loaded machine). Added memory: peak resident memory (VmHWM) of the fresh "
          "process minus its value after imports and data setup."]
    load = meta["loadavg_start"][0] / max(meta["nproc"], 1)
    if load > 1.2:
        L.append(f"- **loaded machine**: load average {meta['loadavg_start'][0]:.1f} on {meta['nproc']} cores at the "
                 "start. Medians are inflated and noisy; multi-threaded steps (torch's OpenMP pool, BLAS) suffer "
                 "most, since each parallel region waits for its slowest thread. Ratios between libraries of the "
                 "same run, the min and the CPU-time ratio are the numbers to read; `--threads 1` or "
                 "`--clock cpu` make runs on a busy machine steadier.")
    L.append("")

    L += ["### Summary: median time per step (ratio vs hand-written NumPy in this run)", ""]
    hdr = ["workload"] + libs + ["chainrule target", "grad check (max rel. diff)"]
    L += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for w in wls:
        wl = doc["workloads"][w]
        row = [w]
        for lib in libs:
            r = by.get((lib, w))
            if not ok(r):
                row.append(r.get("status", "?") if r else "")
                continue
            c = ("~" if r["time"]["rel_iqr"] > NOISY else "") + fmt_t(r["time"]["median_s"])
            if lib != "numpy" and "ratio" in r["metrics"]:
                c += f" ({r['metrics']['ratio']:.2f}x; min {r['metrics']['ratio_min']:.2f}x)"
            row.append(c)
        cr = by.get(("chainrule", w))
        if wl["target"] and ok(cr):
            key, limit, text = wl["target"]
            v = cr["metrics"].get(key)
            if v is None:
                v = float("nan")
            shown = {"ratio": f"{v:.2f}x", "us_per_node": f"{v:.2f} µs/node", "us_per_op": f"{v:.2f} µs/op"}[key]
            if w == "deep_chain_memory":
                shown += f", {cr['metrics']['added_mb']:.0f} MB"
            row.append(f"{shown} vs {text}: {'met' if cr['metrics']['target_met'] else '**short**'}")
        else:
            row.append(wl["target"][2] if wl["target"] else "")
        checks = []
        for lib in libs:
            r = by.get((lib, w))
            if ok(r):
                checks += [f"{lib} vs {ref}: {fmt_check(c)}" for ref, c in r["check"].items()
                           if not (lib == "numpy" and ref == "torch")]
        row.append("; ".join(checks) or "-")
        L.append("| " + " | ".join(row) + " |")
    L += ["", "`~`: noisy (inter-quartile range > 10% of the median). A cell that is not a time says why the case "
          "did not run (`not available`: the library lacks the API; `not installed`).", ""]

    cols = [("scalar_mlp", "us_per_node", "scalar_mlp µs/node"),
            ("op_overhead", "forward_us_per_op", "op_overhead fwd µs/op"),
            ("op_overhead", "backward_us_per_op", "op_overhead bwd µs/op"),
            ("op_overhead", "us_per_op", "op_overhead total µs/op"),
            ("deep_chain_memory", "forward_us_per_op", "deep_chain fwd µs/op"),
            ("deep_chain_memory", "backward_us_per_op", "deep_chain bwd µs/op"),
            ("deep_chain_memory", "added_mb", "deep_chain added MB")]
    cols = [c for c in cols if c[0] in wls]
    if cols:
        L += ["### Per node, per op, memory", ""]
        L += ["| library | " + " | ".join(c[2] for c in cols) + " |", "|---|" + "---|" * len(cols)]
        for lib in libs:
            cells = []
            for w, k, _ in cols:
                r = by.get((lib, w))
                v = r["metrics"].get(k) if ok(r) else None
                cells.append("" if v is None else f"{v:.{0 if k == 'added_mb' else 2}f}")
            L.append(f"| {lib} | " + " | ".join(cells) + " |")
        L.append("")

    L += ["### Details", ""]
    hdr = ["workload", "library", "wall median", "wall min", "CPU median", "±IQR", "n",
           "ratio: wall median / wall min / CPU median", "CPU/wall", "first call", "peak MB", "added MB"]
    L += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for w in wls:
        for lib in libs:
            r = by.get((lib, w))
            if not ok(r):
                if r:
                    L.append(f"| {w} | {lib} | {r.get('status')} | | | | | | | | | {str(r.get('error'))[:120]} |")
                continue
            m, wa, cp, mem = r["metrics"], r["wall"], r["cpu"], r["memory"]
            wmin = wa["min_s"] / by[("numpy", w)]["wall"]["min_s"] if ok(by.get(("numpy", w))) else float("nan")
            ratio = (f"{m['ratio_wall']:.2f} / {wmin:.2f} / {m['ratio_cpu']:.2f}"
                     if "ratio" in m and lib != "numpy" else "-")
            L.append(f"| {w} | {lib} | {fmt_t(wa['median_s'])} | {fmt_t(wa['min_s'])} | {fmt_t(cp['median_s'])} | "
                     f"{100 * r['time']['rel_iqr']:.0f}% | "
                     f"{wa['n']}x{r['number']} | {ratio} | {cp['median_s'] / wa['median_s']:.2f} | "
                     f"{fmt_t(r['first_s'])} | {mem['peak_mb']:.0f} | {mem['added_mb']:.0f} |")
    L += ["", "CPU/wall: median CPU time over median wall time; below 1 for single-threaded work means the "
          "process waited for a core (a loaded machine), above 1 means BLAS/torch threads worked in parallel.", ""]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
