"""Checking gradients against finite differences.

- `numerical_gradient(f, x)` and `numerical_vjp(f, x, upstream)`: CS231n's
  `eval_numerical_gradient` and `eval_numerical_gradient_array` (upstream × local, no Jacobian).
- `rel_error(a, b)`: CS231n's relative error.
- `gradcheck(f, inputs)` / `gradgradcheck(f, inputs)`: a whole function's first / second
  derivatives against central differences, as `torch.autograd.gradcheck`.
- `check_graph(output)` / `check_graph(fn, *inputs)`: every node of a recorded graph, each
  backward rule checked in isolation at that node's own inputs -- what the CS231n notebooks do
  by hand layer by layer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import backend as be
from ..core import FREED, GradcheckError, Node, enable_grad, keep_values, no_grad, unwrap, wrap
from ..core.engine import unbroadcast
from ..ops import Tensor
from ..transforms.functional import _input, grads_of, vjp
from .naming import Naming

__all__ = ["numerical_gradient", "numerical_vjp", "rel_error", "gradcheck", "gradgradcheck", "check_graph",
           "GraphCheckReport", "NodeCheck"]


def host(v):
    """The values of `v` (a Tensor, an array of any backend, a number) as a NumPy array (a host copy)."""
    return np.asarray(be.to_host(unwrap(v)))


def _value(out):
    return np.asarray(host(out), dtype=np.float64)


def _device_of(values):
    """The device of the first array among `values` (None when there is none: numbers only)."""
    for v in values:
        if isinstance(v, np.ndarray) or be.backend_of(v) is not None:
            return be.device_of(v)
    return None


def node_devices(node):
    """(device of the node's inputs, device of its output): where its forward and rules run. They differ
    only for `to_device`."""
    n = len(node.shapes)
    ins = _device_of(node.saved[:n]) if isinstance(node.saved, tuple) else None
    out = _device_of((node.ans,)) or ins
    return ins or out or be.CPU, out or be.CPU


def placed(x, dev):
    """A host array `x` on device `dev` (numbers, and arrays already elsewhere, as they are)."""
    return x if dev == be.CPU or not isinstance(x, np.ndarray) else be.to_device(x, dev)


def rel_error(a, b):
    """max |a - b| / max(1e-8, |a| + |b|), elementwise then the worst element (CS231n)."""
    a = np.asarray(host(a), dtype=np.float64)
    b = np.asarray(host(b), dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function `f` at `x` (one input, any shape).

    `f` receives a float64 array and may return a Tensor, an array or a number.
    """
    x = np.array(unwrap(x), dtype=np.float64)
    grad = np.zeros_like(x)
    with no_grad():
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = x[i]
            x[i] = old + h
            fp = float(np.sum(_value(f(x.copy()))))
            x[i] = old - h
            fm = float(np.sum(_value(f(x.copy()))))
            x[i] = old
            grad[i] = (fp - fm) / (2 * h)
    return grad


def numerical_vjp(f, x, upstream, h=1e-5):
    """Central-difference vector-Jacobian product: d sum(f(x) * upstream) / dx.

    CS231n's `eval_numerical_gradient_array`: for an array-valued `f`, the numerical
    upstream × local gradient, one input element at a time, without building the Jacobian.
    """
    x = np.array(unwrap(x), dtype=np.float64)
    df = np.asarray(unwrap(upstream), dtype=np.float64)
    grad = np.zeros_like(x)
    with no_grad():
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            pos = _value(f(x.copy()))
            x[i] = old - h
            neg = _value(f(x.copy()))
            x[i] = old
            if pos.shape != df.shape:
                raise ValueError(f"numerical_vjp: f returned shape {pos.shape} but upstream has shape "
                                 f"{df.shape}")
            grad[i] = np.sum((pos - neg) * df) / (2 * h)
    return grad


# ---------------------------------------------------------------------------------------------
# gradcheck / gradgradcheck
# ---------------------------------------------------------------------------------------------

def _inputs(inputs, name):
    """(items, positions of the differentiable ones, their float64 values)."""
    items = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    diff, values = [], []
    for i, a in enumerate(items):
        if isinstance(a, Tensor):
            if not a.requires_grad:
                continue
            data = a._data
        elif isinstance(a, (float, np.floating)) or (isinstance(a, np.ndarray) and a.dtype.kind == "f"):
            data = np.asarray(a)
        else:
            continue  # ints, index arrays, strings, Tensors without requires_grad: constants
        if data.dtype.kind != "f":
            continue
        if data.dtype != np.float64:
            warnings.warn(f"{name}: input {i} has dtype {data.dtype}; finite differences are unreliable at "
                          "that precision, so the check runs on float64 copies of the inputs", UserWarning,
                          stacklevel=3)
        diff.append(i)
        values.append(np.array(data, dtype=np.float64))
    if not diff:
        raise ValueError(f"{name}: no differentiable input (give float arrays or Tensors with "
                         "requires_grad=True)")
    return items, diff, values


def _call_const(f, items, diff, values):
    args = list(items)
    for p, v in zip(diff, values):
        args[p] = wrap(v, None)
    with no_grad():
        out = f(*args)
    return out


def _outs(out):
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [np.asarray(unwrap(o)) for o in outs], outs


def _flat_outputs(out, float_idx):
    arrays, _ = _outs(out)
    return [np.asarray(arrays[j], dtype=np.float64) for j in float_idx]


def _fmt_idx(idx):
    return "()" if idx == () else str(idx[0]) if len(idx) == 1 else str(idx)


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, *, fast_mode=False, raise_exception=True, seed=0):
    """Check `f`'s analytic first derivatives against central differences, in float64.

    `inputs`: one value or a tuple. Differentiable are float arrays, floats and Tensors with
    requires_grad=True; everything else passes through as a constant. float32 (or lower) inputs
    give a warning and are checked on float64 copies. `f` returns a Tensor or a tuple of them.

    Every element of every Jacobian must satisfy |analytic - numerical| <= atol + rtol·|numerical|.
    `fast_mode=True` compares uᵀJv for random u, v instead (one backward pass per output and two
    forward passes per input, whatever their sizes) -- for large inputs.

    Returns True, or raises `GradcheckError` naming the input and output, the worst elements with
    analytic and numerical values and relative errors, and the first failing node of the graph
    (from `check_graph`). With raise_exception=False returns False instead of raising.
    """
    items, diff, values = _inputs(inputs, "gradcheck")
    rng = np.random.default_rng(seed)
    args = list(items)
    with enable_grad():
        leaves = [_input(v, "gradcheck", p, False) for p, v in zip(diff, values)]
        for p, leaf in zip(diff, leaves):
            args[p] = leaf
        out = f(*args)
    arrays, outs = _outs(out)
    float_idx = [j for j, a in enumerate(arrays) if a.dtype.kind == "f"]
    if not float_idx:
        raise ValueError("gradcheck: f has no floating-point output to check")
    outs = [outs[j] if isinstance(outs[j], Tensor) else wrap(arrays[j], None) for j in float_idx]

    def analytic(j, u):
        cts = [u if jj == j else np.zeros(o.shape) for jj, o in enumerate(outs)]
        gs = grads_of(outs, cts, leaves, create_graph=False)
        return [np.asarray(g._data, dtype=np.float64) for g in gs]

    problems = []
    if fast_mode:
        vs = [rng.standard_normal(v.shape) for v in values]
        for j, o in enumerate(outs):
            u = rng.standard_normal(o.shape)
            gs = analytic(j, u)
            for k, (p, v) in enumerate(zip(diff, values)):
                num = _directional(f, items, diff, values, k, vs[k], eps, float_idx)[j]
                a = float(np.sum(gs[k] * vs[k]))
                n = float(np.sum(num * u))
                if not abs(a - n) <= atol + rtol * abs(n):
                    problems.append(f"output {float_idx[j]} (shape {o.shape}) with respect to input {p} "
                                    f"(shape {v.shape}), fast mode: uᵀJv analytic {a:.6e}, "
                                    f"numerical {n:.6e}, "
                                    f"rel. error {rel_error(a, n):.1e}. Rerun with fast_mode=False for the "
                                    "failing elements.")
    else:
        jac_a = [[np.zeros((o.numel(), v.size)) for v in values] for o in outs]
        for j, o in enumerate(outs):
            for r in range(o.numel()):
                e = np.zeros(o.numel())
                e[r] = 1.0
                for k, gk in enumerate(analytic(j, e.reshape(o.shape))):
                    jac_a[j][k][r] = gk.reshape(-1)
        for k, (p, v) in enumerate(zip(diff, values)):
            jac_n = [np.zeros((o.numel(), v.size)) for o in outs]
            for c in range(v.size):
                e = np.zeros(v.size)
                e[c] = 1.0
                cols = _directional(f, items, diff, values, k, e.reshape(v.shape), eps, float_idx)
                for j, col in enumerate(cols):
                    jac_n[j][:, c] = col.reshape(-1)
            for j, o in enumerate(outs):
                msg = _compare(jac_a[j][k], jac_n[j], atol, rtol, o.shape, v.shape)
                if msg:
                    problems.append(f"output {float_idx[j]} (shape {o.shape}) with respect to input {p} "
                                    f"(shape {v.shape}):\n{msg}")
    if not problems:
        return True
    text = "gradcheck: analytic and numerical gradients disagree for\n" + "\n".join(problems)
    text += f"\n(eps={eps}, atol={atol}, rtol={rtol})" + _graph_hint(f, items, diff, values, eps, atol, rtol)
    if raise_exception:
        raise GradcheckError(text)
    return False


def _directional(f, items, diff, values, k, v, eps, float_idx):
    """(f(x + eps v) - f(x - eps v)) / 2 eps, for input k, for each float output."""
    vals = list(values)
    vals[k] = values[k] + eps * v
    pos = _flat_outputs(_call_const(f, items, diff, vals), float_idx)
    vals[k] = values[k] - eps * v
    neg = _flat_outputs(_call_const(f, items, diff, vals), float_idx)
    return [(a - b) / (2 * eps) for a, b in zip(pos, neg)]


def _compare(a, n, atol, rtol, out_shape, in_shape, worst=5):
    excess = np.abs(a - n) - (atol + rtol * np.abs(n))
    bad = excess > 0
    if not bad.any():
        return ""
    order = np.argsort(-excess, axis=None)[:min(worst, int(bad.sum()))]
    lines = []
    for flat in order:
        r, c = np.unravel_index(flat, a.shape)
        oi = np.unravel_index(r, out_shape) if out_shape else ()
        ii = np.unravel_index(c, in_shape) if in_shape else ()
        lines.append(f"  d out[{_fmt_idx(tuple(map(int, oi)))}] / d in[{_fmt_idx(tuple(map(int, ii)))}]: "
                     f"analytic {a[r, c]: .6e}  numerical {n[r, c]: .6e}  "
                     f"rel. error {rel_error(a[r, c], n[r, c]):.1e}")
    lines.append(f"  {int(bad.sum())} of {a.size} elements differ; max rel. error {rel_error(a, n):.1e}")
    return "\n".join(lines)


def _graph_hint(f, items, diff, values, eps, atol, rtol):
    try:
        args = list(items)
        for p, v in zip(diff, values):
            args[p] = Tensor(v, requires_grad=True)
        report = check_graph(f, *args, eps=eps, atol=atol, rtol=rtol)
    except Exception as e:  # the hint must never hide the gradcheck failure itself
        return f"\n(check_graph could not run: {type(e).__name__}: {e})"
    bad = report.first_failure
    if bad is not None:
        return f"\nFirst failing node of the graph (check_graph): {bad.describe()}"
    skipped = report.unchecked
    if skipped:
        return ("\nNo node fails check_graph on its own; not checkable: "
                + "; ".join(f"{r.label} {r.status[len('not checkable '):]}" for r in skipped))
    return ("\nEvery node passes check_graph on its own: look at what is not recorded (values taken "
            "through .data or NumPy) or at a function that is not smooth at these inputs.")


def gradgradcheck(f, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, *, fast_mode=False,
                  raise_exception=True, seed=0):
    """Check second derivatives: gradcheck of the map (inputs, v) -> VJP of `f` with cotangent v.

    The analytic side differentiates the backward pass (create_graph), the numerical side
    differentiates first-order gradients by central differences. `grad_outputs` (the v) are
    random float64 arrays unless given, and are checked as inputs too.
    """
    items, diff, values = _inputs(inputs, "gradgradcheck")
    out = _call_const(f, items, diff, values)
    arrays, _ = _outs(out)
    is_tuple = isinstance(out, (tuple, list))
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [rng.standard_normal(a.shape) for a in arrays]
    else:
        gos = grad_outputs if isinstance(grad_outputs, (tuple, list)) else [grad_outputs]
        grad_outputs = [np.array(unwrap(v), dtype=np.float64) for v in gos]
    if len(grad_outputs) != len(arrays):
        raise ValueError(f"gradgradcheck: f has {len(arrays)} outputs but {len(grad_outputs)} grad_outputs "
                         "were given")
    n = len(items)

    def first_order(*a):
        xs, vs = list(a[:n]), a[n:]

        def g(*d):
            args = list(xs)
            for p, v in zip(diff, d):
                args[p] = v
            return f(*args)

        _, fn = vjp(g, *[xs[p] for p in diff])
        return fn(tuple(vs) if is_tuple else vs[0])

    all_inputs = list(items)
    for p, v in zip(diff, values):
        all_inputs[p] = v
    all_inputs += grad_outputs
    return gradcheck(first_order, tuple(all_inputs), eps=eps, atol=atol, rtol=rtol, fast_mode=fast_mode,
                     raise_exception=raise_exception, seed=seed)


# ---------------------------------------------------------------------------------------------
# check_graph: every node on its own
# ---------------------------------------------------------------------------------------------

@dataclass
class NodeCheck:
    """One row of a graph check: a node, its inputs and how its backward rule fared."""

    index: int             # 0-based position in the report (oldest node first)
    seq: int               # the node's number on the engine's clock
    op: str
    input_shapes: tuple
    output_shape: tuple
    status: str            # "pass", "FAIL", "not checkable (...)" or "error"
    error: float | None = None   # worst rel_error(analytic, numerical) over the checked inputs
    detail: str = ""
    node: Node | None = field(default=None, repr=False)
    step: int | None = None      # the node's step in the backward pass: explain's number for it
    name: str = ""               # the node's name, as explain, the drawings and the page show it

    @property
    def passed(self):
        return self.status == "pass"

    @property
    def failed(self):
        return self.status in ("FAIL", "error")

    @property
    def label(self):
        """'step 3 w0*x0 (mul)': how the report names the node (explain's number and name)."""
        if self.step is None:
            return f"{self.op} (node #{self.seq})"
        return f"step {self.step} {self.name}" + ("" if self.name == self.op else f" ({self.op})")

    def describe(self):
        shapes = ", ".join(str(s) for s in self.input_shapes)
        err = "" if self.error is None else f", rel. error {self.error:.1e}"
        text = f"{self.label}, inputs {shapes}{err}: {self.status}"
        return text + (f"\n{self.detail}" if self.detail else "")


class GraphCheckReport:
    """The rows of `check_graph`, oldest node first. Prints as a table whose `step` column and node
    names are explain's: step 1 is the output's node, the first the backward pass visits.

    `ok` is True only when every node was checked and passed; `failures`, `unchecked` and
    `first_failure` (the earliest failing node in forward order, or None) give the details.
    """

    def __init__(self, rows, eps, atol, rtol):
        self.rows = rows
        self.eps, self.atol, self.rtol = eps, atol, rtol

    failures = property(lambda self: [r for r in self.rows if r.failed])
    unchecked = property(lambda self: [r for r in self.rows if r.status.startswith("not checkable")])
    first_failure = property(lambda self: next((r for r in self.rows if r.failed), None))
    ok = property(lambda self: all(r.passed for r in self.rows))

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def __bool__(self):
        return self.ok

    def raise_if_failed(self):
        """Raise GradcheckError with the table when a node failed."""
        if self.failures:
            raise GradcheckError(str(self))

    def __str__(self):
        n_pass = sum(r.passed for r in self.rows)
        head = (f"check_graph: {len(self.rows)} nodes, {n_pass} passed, {len(self.failures)} failed, "
                f"{len(self.unchecked)} not checkable (eps={self.eps}, atol={self.atol}, rtol={self.rtol})")
        table = [("step", "node", "op", "inputs", "output", "rel. error", "result")]
        first = self.first_failure
        for r in self.rows:
            table.append((str(r.step), r.name, r.op, " ".join(str(s) for s in r.input_shapes),
                          str(r.output_shape), "-" if r.error is None else f"{r.error:.1e}",
                          r.status + ("  <-- first failure" if r is first else "")))
        widths = [max(len(row[c]) for row in table) for c in range(len(table[0]) - 1)]
        lines = [head]
        for row in table:
            cells = [row[0].rjust(widths[0])] + [c.ljust(w) for c, w in zip(row[1:], widths[1:])]
            lines.append("  ".join(cells) + "  " + row[-1])
        if first is not None:
            lines.append(f"first failing node: {first.describe()}")
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self):
        return str(self)


def check_graph(output, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=None, seed=0):
    """Check every node of a recorded graph: each backward rule alone, at that node's inputs.

    Two forms:

    - `check_graph(output)`: walks the graph already recorded behind `output` (a Tensor or a
      tuple of them). A node keeps its input values only when they are small (at most
      256 elements; see `cr.keep_values`) or when its rule reads them; a node whose inputs
      were not kept is reported as "not checkable (inputs not kept)", never as a pass. After a
      `backward()` without retain_graph the values are freed: every node is "not checkable".
    - `check_graph(fn, *inputs)`: calls `fn(*inputs)` with every value kept, then checks the
      graph it records: every node is checkable. Float arrays and floats become Tensors with
      requires_grad=True; Tensors are used as they are (closure parameters work too).

    For each node: a random upstream gradient g of the node's output shape; the node's rule gives
    the analytic gradient of sum(g * node(x)) for every input that needs one; central differences
    of the node's forward (float64, step eps) give the numerical one (a random projection instead
    when `fast_mode`, or, with None, for inputs larger than 4096 elements). A node passes when
    |analytic - numerical| <= atol + rtol·|numerical| everywhere. Where it does not, but the
    forward and backward one-sided differences disagree at every mismatching element, the input
    sits on a kink (relu at 0, tied maxima): no derivative exists there, and the node is reported
    "not checkable (kink ...)" rather than failed.

    Returns a `GraphCheckReport` (one row per node, oldest first) that prints as a table and
    points at the first failing node. Each row carries the node's `step` and `name` as
    `cr.explain` numbers and names it (step 1 is the output's node).
    """
    if callable(output) and not isinstance(output, Tensor):
        output = _run_keeping_values(output, inputs)
    elif inputs:
        raise TypeError("check_graph: inputs are only accepted with a function: check_graph(fn, *inputs)")
    outs = list(output) if isinstance(output, (tuple, list)) else [output]
    outs = [o for o in outs if isinstance(o, Tensor) and o._node is not None]
    naming = Naming([o._node for o in outs], root_names={o._node: o.name or "out" for o in reversed(outs)})
    rng = np.random.default_rng(seed)
    rows = [_check_node(i, node, rng, eps, atol, rtol, fast_mode, naming.step[node], naming.names[node])
            for i, node in enumerate(naming.nodes)]
    return GraphCheckReport(rows, eps, atol, rtol)


def _run_keeping_values(fn, inputs):
    args = []
    for a in inputs:
        if isinstance(a, Tensor):
            args.append(a)
        elif isinstance(a, (float, np.floating)) or (isinstance(a, np.ndarray) and a.dtype.kind == "f"):
            args.append(Tensor(a, requires_grad=True))
        else:
            args.append(a)
    with keep_values(), enable_grad():
        return fn(*args)


def _shape_of(x):
    return tuple(np.shape(x))


def _check_node(index, node, rng, eps, atol, rtol, fast_mode, step=None, name=""):
    prim = node.prim
    row = NodeCheck(index, node.seq, prim.name, tuple(node.shapes), (), "pass", node=node, step=step,
                    name=name or prim.name)
    if node.saved is FREED:
        row.status = "not checkable (values freed by backward; use retain_graph=True)"
        return row
    saved = node.saved[:len(node.shapes)]
    if any(s is None for s in saved):
        row.status = "not checkable (inputs not kept)"
        row.detail = "  large inputs are kept only when the rule reads them; use check_graph(fn, *inputs)"
        return row
    # on another backend: the values checked on the host in float64, the forward and rules run on the device
    hs = [host(s) for s in saved]
    xs = [np.array(h, dtype=np.float64) if h.dtype.kind == "f" else s for s, h in zip(saved, hs)]
    in_dev, out_dev = node_devices(node)
    params = node.params

    def forward(*args):
        return prim.forward(*[placed(a, in_dev) for a in args], **params)

    try:
        with no_grad():
            out, residuals = forward(*xs)
        out = host(out)
        row.output_shape = out.shape
        if out.dtype != np.float64:
            row.status = f"not checkable (output is {out.dtype} at float64 inputs)"
            return row
        g = rng.standard_normal(out.shape)
        with no_grad():  # the rule the engine runs on arrays (the fast one, where there is one)
            raw = prim.array_rule(node.parents, placed(g, out_dev), placed(out, out_dev),
                                  *[placed(x, in_dev) for x in xs], *residuals, **params)
    except Exception as e:
        row.status = "error"
        row.detail = f"  {type(e).__name__}: {e}"
        return row
    if type(raw) is not tuple:
        raw = (raw,)
    worst, details, kinks = 0.0, [], []
    for k, p in enumerate(node.parents):
        if p is None or hs[k].dtype.kind != "f":
            continue
        shape = _shape_of(xs[k])
        gk = raw[k] if k < len(raw) else None
        if gk is None:
            row.status = "FAIL"
            details.append(f"  input {k}: the rule returned no gradient")
            continue
        gk = np.asarray(host(gk), dtype=np.float64)
        if gk.shape != shape:
            if not prim.broadcasts:
                row.status = "FAIL"
                details.append(f"  input {k}: the rule returned shape {gk.shape} for an input of shape "
                               f"{shape}")
                continue
            gk = unbroadcast(gk, shape, prim.name)

        def f_k(v, k=k):
            args = list(xs)
            args[k] = v
            return forward(*args)[0]

        size = int(np.prod(shape, dtype=np.int64))
        fast = fast_mode if fast_mode is not None else size > 4096
        try:
            if fast:
                v = rng.standard_normal(shape)
                with no_grad():
                    diff = _value(f_k(xs[k] + eps * v)) - _value(f_k(xs[k] - eps * v))
                num = np.asarray(float(np.sum(diff * g)) / (2 * eps))
                ana = np.asarray(float(np.sum(gk * v)))
            else:
                num = numerical_vjp(f_k, xs[k], g, h=eps)
                ana = gk
        except Exception as e:
            row.status = "error"
            details.append(f"  input {k}: the forward failed at a perturbed input: {type(e).__name__}: {e}")
            continue
        err = rel_error(ana, num)
        worst = max(worst, err)
        bad = ~(np.abs(ana - num) <= atol + rtol * np.abs(num))
        if not bad.any():
            continue
        what = "uᵀJv" if fast else "gradient"
        details.append(f"  input {k} (shape {shape}) {what}: analytic {_short(ana)}, numerical {_short(num)}")
        if not fast and _all_kinks(f_k, xs[k], g, eps, bad, atol, rtol):
            kinks.append(k)
        else:
            row.status = "FAIL"
    if kinks and row.status == "pass":
        row.status = "not checkable (kink: not differentiable at these inputs)"
        details.append(f"  the one-sided differences disagree wherever input(s) {kinks} mismatch "
                       "(relu at 0, tied maxima, ...)")
    row.error = worst
    row.detail = "\n".join(details)
    return row


def _all_kinks(f, x, g, h, bad, atol, rtol):
    """True when, at every mismatching element, the forward and backward one-sided differences
    of sum(g * f) disagree: the function has a kink there, and no derivative to check."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writing it moves x (0-d inputs too)
    with no_grad():
        f0 = _value(f(x.copy()))
        for i in np.flatnonzero(bad):
            old = flat[i]
            flat[i] = old + h
            up = np.sum((_value(f(x.copy())) - f0) * g) / h
            flat[i] = old - h
            down = np.sum((f0 - _value(f(x.copy()))) * g) / h
            flat[i] = old
            if abs(up - down) <= 10 * (atol + rtol * max(abs(up), abs(down))):
                return False
    return True


def _short(a):
    text = np.array2string(np.asarray(a), precision=5, threshold=8, edgeitems=3, separator=", ")
    return text.replace("\n", "")


