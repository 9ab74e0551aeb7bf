"""Fuzzing the engine against PyTorch: Hypothesis builds random expression graphs (random
compositions of the primitives, random broadcastable shapes, values used several times,
reductions, indexing, joins) and every value, every leaf's gradient, and the gradient of a
gradient must match PyTorch's for the same graph (float64).

Validity is decided without chainrule: the generator tracks every value's shape with NumPy (the
shape oracle), and a graph whose values PyTorch finds non-finite or huge is rejected with
`assume`. Whatever chainrule then raises is a failure; each test counts the graphs it compared."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.ops.recurrent import lstm_scan
from chainrule.transforms.compile import CompileError

torch = pytest.importorskip("torch")

from op_specs_nn import _torch_lstm_scan  # noqa: E402

TF = torch.nn.functional

EXAMPLES = 200         # random graphs compared value by value and gradient by gradient
EXAMPLES_2ND = 60      # random graphs whose gradient-of-gradient is compared
MAX_OPS = 10

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_2ND = settings(max_examples=EXAMPLES_2ND, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pos(a):
    return a * a + 0.5


def _all(nd):
    return tuple(range(nd))


# name -> (chainrule fn, torch fn); param-free unary ops
UNARY = {
    "neg": (lambda a: -a, lambda a: -a),
    "exp": (cr.exp, torch.exp),
    "log": (lambda a: cr.log(_pos(a)), lambda a: torch.log(_pos(a))),
    "sqrt": (lambda a: cr.sqrt(_pos(a)), lambda a: torch.sqrt(_pos(a))),
    "abs": (cr.abs, torch.abs),
    "sin": (cr.sin, torch.sin),
    "cos": (cr.cos, torch.cos),
    "tanh": (cr.tanh, torch.tanh),
    "sigmoid": (cr.sigmoid, torch.sigmoid),
    "relu": (cr.relu, torch.relu),
    "gelu": (cr.nn.functional.gelu, torch.nn.functional.gelu),
    "erf": (cr.ops.special.erf, torch.erf),
    "square": (lambda a: a ** 2.0, lambda a: a ** 2.0),
    "reciprocal": (lambda a: 1.0 / _pos(a), lambda a: 1.0 / _pos(a)),
    "pow_half": (lambda a: _pos(a) ** 1.5, lambda a: _pos(a) ** 1.5),
    "pow_neg": (lambda a: _pos(a) ** -0.5, lambda a: _pos(a) ** -0.5),
    "clip": (lambda a: cr.clip(a, -0.7, 0.9), lambda a: torch.clamp(a, -0.7, 0.9)),
    "clip_tensor_bound": (lambda a: cr.clip(a, np.float64(-0.3), None), lambda a: torch.clamp(a, min=-0.3)),
    "T": (lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.ndim))))),
    "flatten": (lambda a: a.reshape(-1), lambda a: a.reshape(-1)),
    "scale": (lambda a: 3.0 * a - 1.0, lambda a: 3.0 * a - 1.0),
    "rsub": (lambda a: 2.0 - a, lambda a: 2.0 - a),
    "rdiv": (lambda a: 1.5 / (a * a + 1.0), lambda a: 1.5 / (a * a + 1.0)),
}
if importlib.util.find_spec("array_api_strict") is not None:  # a detour through another device (issue 17)
    UNARY["to_device"] = (lambda a: cr.tanh(a.to("array_api_strict")).to("cpu"), torch.tanh)

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / _pos(b), lambda a, b: a / _pos(b)),
    "maximum": (cr.maximum, torch.maximum),
    "minimum": (cr.minimum, torch.minimum),
    "pow": (lambda a, b: _pos(a) ** cr.tanh(b), lambda a, b: _pos(a) ** torch.tanh(b)),
    "where": (lambda a, b: cr.where(a > 0, a, b), lambda a, b: torch.where(a.detach() > 0, a, b)),
}


REDUCTIONS = ["sum", "mean", "max", "min", "logsumexp"]
SOFTMAXES = ["softmax", "log_softmax"]
INDEXING = ["int", "slice", "repeat", "mask", "ellipsis", "assign"]
JOINS = ["concatenate", "stack"]
RESHAPES = ["reshape", "transpose", "broadcast_to", "swapaxes"]
NN = ["linear", "linear_nobias", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits",
      "conv2d", "max_pool2d", "lstm"]


def _torch_reduce(kind, a, axis, keepdims):
    dim = _all(a.ndim) if axis is None else axis
    if kind == "sum":
        return a.sum(dim=dim, keepdim=keepdims) if a.ndim else a * 1.0
    if kind == "mean":
        return a.mean(dim=dim, keepdim=keepdims) if a.ndim else a * 1.0
    if kind == "max":
        return torch.amax(a, dim=dim, keepdim=keepdims)
    if kind == "min":
        return torch.amin(a, dim=dim, keepdim=keepdims)
    if kind == "logsumexp":
        return torch.logsumexp(a, dim=dim, keepdim=keepdims)
    raise AssertionError(kind)


def _cr_reduce(kind, a, axis, keepdims):
    if kind == "sum" and a.ndim == 0:
        return a * 1.0
    if kind == "mean" and a.ndim == 0:
        return a * 1.0
    return {"sum": cr.sum, "mean": cr.mean, "max": cr.max, "min": cr.min,
            "logsumexp": cr.logsumexp}[kind](a, axis=axis, keepdims=keepdims)


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def _matmul_ok(sa, sb):
    if not sa or not sb:
        return False
    try:
        np.matmul(np.zeros(sa), np.zeros(sb))
        return True
    except ValueError:
        return False


@st.composite
def programs(draw):
    """A random graph: leaf shapes, a list of ops over a growing pool of values, loss weights."""
    base = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    n_leaves = draw(st.integers(1, 3))
    leaves = []
    for _ in range(n_leaves):
        keep = draw(st.integers(0, len(base)))
        shape = tuple(1 if draw(st.booleans()) and d > 1 else d for d in base[len(base) - keep:])
        leaves.append(shape)
    if draw(st.booleans()):  # a matrix, so that matmul has something to chew on
        k = base[-1] if base else 2
        leaves.append((k, draw(st.integers(1, 3))))
    shapes = list(leaves)
    ops = []
    kinds = ["unary", "binary", "reduce", "softmax", "matmul", "index", "join", "reshape", "nn"]
    for _ in range(draw(st.integers(2, MAX_OPS))):
        kind = draw(st.sampled_from(kinds))
        i = draw(st.integers(0, len(shapes) - 1))
        j = draw(st.integers(0, len(shapes) - 1))
        si, sj = shapes[i], shapes[j]
        nd = len(si)
        if 0 in si:  # an empty value (from an all-False mask): only elementwise ops
            kind = "unary"
        if kind == "binary":
            name = draw(st.sampled_from(sorted(BINARY)))
            if not _broadcastable(si, sj):
                j, sj = i, si  # a value used twice
            ops.append(("binary", name, i, j, None))
            shapes.append(np.broadcast_shapes(si, sj))
        elif kind == "reduce" and nd:
            red = draw(st.sampled_from(REDUCTIONS))
            axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                                  st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
                                  .map(lambda a: tuple(sorted(a)))))
            keepdims = draw(st.booleans())
            ops.append(("reduce", red, i, None, (axis, keepdims)))
            shapes.append(np.sum(np.zeros(si), axis=axis, keepdims=keepdims).shape)
        elif kind == "softmax" and nd:
            name = draw(st.sampled_from(SOFTMAXES))
            axis = draw(st.integers(-nd, nd - 1))
            ops.append(("softmax", name, i, None, axis))
            shapes.append(si)
        elif kind == "matmul" and _matmul_ok(si, sj):
            ops.append(("matmul", "matmul", i, j, None))
            shapes.append(np.matmul(np.zeros(si), np.zeros(sj)).shape)
        elif kind == "index" and nd:
            n0 = si[0]
            idx = draw(st.sampled_from(INDEXING))
            if idx == "int":
                key = draw(st.integers(-n0, n0 - 1))
            elif idx == "slice":
                a = draw(st.integers(0, n0 - 1))
                key = slice(a, draw(st.integers(a + 1, n0)))
            elif idx == "repeat":  # integer array with repeats: gradients must add up
                key = np.array(draw(st.lists(st.integers(0, n0 - 1), min_size=1, max_size=4)))
            elif idx == "assign":  # x[slice] = a value computed from x: setitem's two gradients
                a = draw(st.integers(0, n0 - 1))
                key = slice(a, draw(st.integers(a + 1, n0)))
            elif idx == "mask":
                key = np.array(draw(st.lists(st.booleans(), min_size=n0, max_size=n0)))
            else:
                key = (Ellipsis, draw(st.integers(0, si[-1] - 1)))
            ops.append(("index", idx, i, None, key))
            shapes.append(si if idx == "assign" else np.zeros(si)[key].shape)
        elif kind == "join" and nd and si == sj:
            name = draw(st.sampled_from(JOINS))
            axis = draw(st.integers(0, nd - 1 if name == "concatenate" else nd))
            ops.append(("join", name, i, j, axis))
            shapes.append((np.concatenate if name == "concatenate" else np.stack)([np.zeros(si)] * 2,
                                                                                 axis=axis).shape)
        elif kind == "reshape" and nd:
            name = draw(st.sampled_from(RESHAPES))
            if name == "reshape":
                new = (int(np.prod(si)),) if draw(st.booleans()) else tuple(reversed(si))
                if int(np.prod(new)) != int(np.prod(si)):
                    new = (-1,)
                param = new
            elif name == "transpose":
                param = tuple(draw(st.permutations(range(nd))))
            elif name == "swapaxes":
                param = (draw(st.integers(0, nd - 1)), draw(st.integers(0, nd - 1)))
            else:
                param = (draw(st.integers(1, 2)),) + tuple(si)
            ops.append(("reshape", name, i, None, param))
            shapes.append(_np_shape(name, si, param))
        elif kind == "nn" and nd and (picked := _nn_op(draw, si)) is not None:
            name, param, shape = picked
            ops.append(("nn", name, i, None, param))
            shapes.append(shape)
        else:
            name = draw(st.sampled_from(sorted(UNARY)))
            ops.append(("unary", name, i, None, None))
            shapes.append(_np_shape(name, si, None))
    seed = draw(st.integers(0, 2**31 - 1))
    return leaves, ops, seed


def _nn_op(draw, s):
    """(name, parameters, output shape) of a random nn op that fits an input of shape `s`, or None.
    Parameters (weights, targets) are drawn here, so that both backends get the same arrays."""
    nd = len(s)
    fits = [n for n in NN if not (n == "cross_entropy" and nd < 2
                                  or n in ("conv2d", "max_pool2d", "lstm") and nd not in (2, 3))]
    name = draw(st.sampled_from(fits))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    if name.startswith("linear"):
        out = draw(st.integers(1, 3))
        W = rng.uniform(-1, 1, size=(out, s[-1]))
        b = None if name == "linear_nobias" else rng.uniform(-1, 1, size=out)
        return name, (W, b), s[:-1] + (out,)
    if name == "cross_entropy":
        if nd < 2:
            return None
        t = rng.integers(0, s[1], size=s[:1] + s[2:])
        return name, (t, reduction), (s[:1] + s[2:]) if reduction == "none" else ()
    if name.startswith("binary_cross_entropy"):
        return name, (rng.uniform(0, 1, size=s), reduction), s if reduction == "none" else ()
    if nd not in (2, 3):
        return None
    if name == "lstm":  # an LSTM layer's recurrence (issue 15) over (L, N, in), or (L, in) as batch 1
        L, N, I = (s[0], 1, s[1]) if nd == 2 else s
        H = draw(st.integers(1, 2))
        arrays = [rng.uniform(-1, 1, size=z) for z in ((4 * H, I), (4 * H,), (4 * H, H), (N, H), (N, H))]
        return name, ((L, N, I), *arrays), (L, H) if nd == 2 else (L, N, H)
    C, H, W_ = (1,) + s if nd == 2 else s
    stride = draw(st.integers(1, 2))
    if name == "conv2d":
        pad = draw(st.integers(0, 1))
        kh, kw = draw(st.integers(1, H + 2 * pad)), draw(st.integers(1, W_ + 2 * pad))
        F_ = draw(st.integers(1, 2))
        Wt = rng.uniform(-1, 1, size=(F_, C, kh, kw))
        b = rng.uniform(-1, 1, size=F_) if draw(st.booleans()) else None
        Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W_ + 2 * pad - kw) // stride + 1
        return name, ((C, H, W_), Wt, b, stride, pad), (F_, Ho, Wo)
    k = draw(st.integers(1, min(2, H, W_)))
    pad = draw(st.integers(0, k // 2))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W_ + 2 * pad - k) // stride + 1
    return name, ((C, H, W_), k, stride, pad), (C, Ho, Wo)


def _apply_nn(t, name, a, param, params):
    def leaf(arr):
        if arr is None:
            return None
        v = torch.tensor(arr, requires_grad=True) if t else cr.tensor(arr, requires_grad=True)
        params.append(v)
        return v

    if name.startswith("linear"):
        W, b = leaf(param[0]), leaf(param[1])
        return (TF if t else F).linear(a, W, b)
    if name == "cross_entropy":
        target, reduction = param
        if t:
            return TF.cross_entropy(a, torch.from_numpy(target), reduction=reduction)
        return F.cross_entropy(a, target, reduction=reduction)
    if name.startswith("binary_cross_entropy"):
        target, reduction = param
        target = torch.from_numpy(target) if t else target
        if name == "binary_cross_entropy":
            p = torch.sigmoid(a) if t else cr.sigmoid(a)
            return (TF if t else F).binary_cross_entropy(p, target, reduction=reduction)
        return (TF if t else F).binary_cross_entropy_with_logits(a, target, reduction=reduction)
    if name == "lstm":
        (L, N, I), W_ih, b, W_hh, h0, c0 = param
        W_ih, b, W_hh, h0, c0 = map(leaf, (W_ih, b, W_hh, h0, c0))
        xw = (TF if t else F).linear(a.reshape((L, N, I)), W_ih, b)
        hc = _torch_lstm_scan(torch, xw, h0, c0, W_hh) if t else lstm_scan(xw, h0, c0, W_hh)
        return hc[:, 0].reshape(tuple(a.shape[:-1]) + (W_hh.shape[1],))
    shape = (1,) + param[0]
    x = a.reshape(shape)
    if name == "conv2d":
        _, Wt, b, stride, pad = param
        out = (TF if t else F).conv2d(x, leaf(Wt), leaf(b), stride=stride, padding=pad)
    else:
        _, k, stride, pad = param
        out = (TF if t else F).max_pool2d(x, k, stride=stride, padding=pad)
    return out.reshape(tuple(out.shape[1:]))


def _np_shape(name, s, param):
    a = np.zeros(s)
    if name == "T":
        return a.T.shape
    if name == "flatten":
        return a.reshape(-1).shape
    if name == "reshape":
        return a.reshape(param).shape
    if name == "transpose":
        return a.transpose(param).shape
    if name == "swapaxes":
        return np.swapaxes(a, *param).shape
    if name == "broadcast_to":
        return param
    return s


def _apply(backend, op, pool, params=None):
    kind, name, i, j, param = op
    a = pool[i]
    b = None if j is None else pool[j]
    t = backend == "torch"
    if kind == "unary":
        return UNARY[name][t](a)
    if kind == "binary":
        return BINARY[name][t](a, b)
    if kind == "reduce":
        axis, keepdims = param
        return (_torch_reduce if t else _cr_reduce)(name, a, axis, keepdims)
    if kind == "softmax":
        if t:
            return getattr(torch, name)(a, dim=param)
        return getattr(cr, name)(a, axis=param)
    if kind == "matmul":
        return a @ b
    if kind == "index":
        key = param
        if t and isinstance(key, np.ndarray):
            key = torch.from_numpy(key)
        if name == "assign":
            out = a.clone()
            out[key] = a[key] * a[key]
            return out
        return a[key]
    if kind == "join":
        if t:
            return (torch.cat if name == "concatenate" else torch.stack)([a, b], dim=param)
        return getattr(cr, name)([a, b], axis=param)
    if kind == "nn":
        return _apply_nn(t, name, a, param, [] if params is None else params)
    if kind == "reshape":
        if name == "reshape":
            return a.reshape(param)
        if name == "transpose":
            return a.permute(tuple(param)) if t else a.transpose(param)
        if name == "swapaxes":
            return torch.swapaxes(a, *param) if t else cr.swapaxes(a, *param)
        return a.expand(*param) if t else cr.broadcast_to(a, param)
    raise AssertionError(kind)


def _run(backend, leaves, ops, seed):
    """Build the graph on `backend`; return (loss, leaf tensors, all values)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2, 2, size=s) for s in leaves]
    if backend == "torch":
        ins = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    else:
        ins = [cr.tensor(a, requires_grad=True) for a in arrays]
    pool = list(ins)
    params = []  # the nn ops' weights: leaves too
    for op in ops:
        pool.append(_apply(backend, op, pool, params))
    weights = rng.uniform(-1, 1, size=len(pool))
    loss = None
    for w, v in zip(weights, pool):
        term = v.sum() * float(w)
        loss = term if loss is None else loss + term
    return loss, ins + params, pool


def _sane(leaves, ops, seed):
    """True when every value of the graph, computed by PyTorch, is finite and moderate."""
    with torch.no_grad():
        _, _, pool = _run("torch", leaves, ops, seed)
    pool = [v.detach() for v in pool]
    return all(bool(torch.isfinite(v).all()) and (v.numel() == 0 or float(v.abs().max()) < 1e4) for v in pool)


def _compare(a, b, what):
    a = np.asarray(a, dtype=np.float64)
    b = b.detach().numpy(force=True) if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, err_msg=what)


def _describe(leaves, ops):
    return f"leaves {leaves}: " + "; ".join(
        f"v{k}={op[1]}(v{op[2]}{'' if op[3] is None else f', v{op[3]}'}{'' if op[4] is None else f', {op[4]!r}'})"
        for k, op in enumerate(ops))


def _both(prog):
    """The program built on chainrule and on PyTorch, once PyTorch's values say it is valid."""
    leaves, ops, seed = prog
    with np.errstate(all="ignore"):
        assume(_sane(leaves, ops, seed))
    return _describe(leaves, ops), seed, _run("cr", leaves, ops, seed), _run("torch", leaves, ops, seed)


def test_random_graphs_match_torch():
    checked = []

    @FUZZ
    @given(programs())
    def check(prog):
        where, _, (loss, ins, pool), (tloss, tins, tpool) = _both(prog)
        leaves = prog[0]
        for k, (v, tv) in enumerate(zip(pool, tpool)):
            _compare(v.data, tv, f"value v{k - len(leaves)} of {where}")
        loss.backward()
        tloss.backward()
        for k, (x, tx) in enumerate(zip(ins, tins)):
            assert x.grad is not None, f"no gradient for leaf {k} of {where}"
            _compare(x.grad, tx.grad, f"gradient of leaf {k} of {where}")
        checked.append(len(prog[1]))

    check()
    print(f"{len(checked)} random graphs compared with PyTorch ({sum(checked)} ops)")
    assert len(checked) >= 0.9 * EXAMPLES, f"only {len(checked)} of {EXAMPLES} graphs were compared"


def test_random_graphs_second_order_match_torch():
    checked = []

    @FUZZ_2ND
    @given(programs())
    def check(prog):
        where, seed, (loss, ins, _), (tloss, tins, _) = _both(prog)
        rng = np.random.default_rng(seed + 1)
        vs = [rng.uniform(-1, 1, size=x.shape) for x in ins]
        # d/dx of sum_i <v_i, dloss/dx_i>: a Hessian-vector product through every rule's create_graph path
        loss.backward(create_graph=True)
        gs = [x.grad for x in ins]
        tgs = torch.autograd.grad(tloss, tins, create_graph=True)
        for k, (g, tg) in enumerate(zip(gs, tgs)):
            _compare(g.data, tg, f"first gradient of leaf {k}: {where}")
        inner = None
        for g, v in zip(gs, vs):
            term = (g * v).sum()
            inner = term if inner is None else inner + term
        for x in ins:
            x.grad = None
        tinner = sum((tg * torch.from_numpy(v)).sum() for tg, v in zip(tgs, vs))
        if not inner.requires_grad:  # the graph is linear in every leaf: the second derivative is zero
            assert not tinner.requires_grad or all(
                h is None or not h.any() for h in torch.autograd.grad(tinner, tins, allow_unused=True)), where
        else:
            inner.backward()
            ths = torch.autograd.grad(tinner, tins, allow_unused=True)
            for k, (x, th) in enumerate(zip(ins, ths)):
                got = np.zeros(x.shape) if x.grad is None else x.grad
                _compare(got, torch.zeros(x.shape, dtype=torch.float64) if th is None else th,
                         f"Hessian-vector product, leaf {k}: {where}")
        checked.append(len(prog[1]))

    check()
    print(f"{len(checked)} random graphs' Hessian-vector products compared with PyTorch ({sum(checked)} ops)")
    assert len(checked) >= 0.9 * EXAMPLES_2ND, f"only {len(checked)} of {EXAMPLES_2ND} graphs were compared"


def test_the_fuzzer_reaches_every_family_and_every_registered_primitive():
    """The generator is not stuck in one corner: over a fixed set of draws it emits every op family,
    and the graphs it builds (forward, and backward with create_graph) run every registered primitive."""
    seen, reached, orig = set(), set(), {}
    for name, prim in cr.REGISTRY.items():
        orig[name] = prim.fwd

        def spy(*a, _n=name, _f=prim.fwd, **k):
            reached.add(_n)
            return _f(*a, **k)

        prim.fwd = spy

    @settings(max_examples=500, deadline=None, database=None, derandomize=True)
    @given(programs())
    def collect(prog):
        leaves, ops, seed = prog
        seen.update((op[0], op[1]) for op in ops)
        loss, _, _ = _run("cr", leaves, ops, seed)
        loss.backward(create_graph=True)  # the adjoints (scatter_add, col2im) run as primitives here

    try:
        with np.errstate(all="ignore"):
            collect()
    finally:
        for name, f in orig.items():
            cr.REGISTRY[name].fwd = f
    kinds = {k for k, _ in seen}
    assert kinds == {"unary", "binary", "reduce", "softmax", "matmul", "index", "join", "reshape", "nn"}, kinds
    assert {n for _, n in seen} >= set(UNARY) | set(BINARY) | set(NN)
    not_fuzzed = sorted(set(cr.REGISTRY) - reached - {"astype"} - ({"to_device"} - set(UNARY)))
    assert not not_fuzzed, f"registered primitives the graph fuzzer never builds (add them to it): {not_fuzzed}"


def _loss_fn(ops, seed, n_leaves):
    """The program as a function of its leaves (its nn weights, made inside, collected in `params`)."""
    params = []

    def f(*ins):
        pool = list(ins)
        for op in ops:
            pool.append(_apply("cr", op, pool, params))
        weights = np.random.default_rng(seed + 1).uniform(-1, 1, size=len(pool))
        loss = None
        for w, v in zip(weights, pool):
            term = v.sum() * float(w)
            loss = term if loss is None else loss + term
        return loss
    return f, params


def test_random_graphs_compiled_equal_eager():
    """Every random graph run eagerly and through cr.compile (recorded, then replayed twice): the
    same operations in the same order, so values and gradients are bitwise equal."""
    checked = []

    @settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(programs())
    # a scalar's transpose returns its input array: the tape must route gradients by the graph
    @example(prog=([(), (), (2, 1)], [("unary", "T", 0, None, None), ("binary", "where", 3, 0, None)], 0))
    def check(prog):
        leaves, ops, seed = prog
        with np.errstate(all="ignore"):
            assume(_sane(leaves, ops, seed))
        arrays = [np.random.default_rng(seed).uniform(-2, 2, size=s) for s in leaves]
        f, params = _loss_fn(ops, seed, len(leaves))
        ins = [cr.tensor(a, requires_grad=True) for a in arrays]
        with np.errstate(all="ignore"):
            eager = f(*ins)
        if params:  # nn weights made inside the function: not arguments, so compile refuses them
            with pytest.raises(CompileError, match="needs a gradient"):
                cr.compile(_loss_fn(ops, seed, len(leaves))[0])(*ins)
            return
        eager.backward()
        want = [x.grad.copy() for x in ins]
        cf = cr.compile(f)
        for _ in range(3):
            for x in ins:
                x.grad = None
            got = cf(*ins)
            got.backward()
            where = _describe(leaves, ops)
            assert np.array_equal(np.asarray(got.data), np.asarray(eager.data)), where
            for k, (x, w) in enumerate(zip(ins, want)):
                assert np.array_equal(x.grad, w), f"gradient of leaf {k} of {where}"
        assert cf.recordings == 1
        checked.append(len(ops))

    with np.errstate(all="ignore"):
        check()
    print(f"{len(checked)} random graphs compared compiled and eager")
    assert len(checked) >= 0.5 * (EXAMPLES // 2), f"only {len(checked)} graphs compared compiled and eager"
