"""The primitive sweep: every registered primitive, every spec, swept with Hypothesis in float64.

Per example: gradient shapes equal input shapes; a numerical VJP along a random direction; the full
numerical gradient (inputs are tiny); grad-of-grad (create_graph) against finite differences of
the first-order gradient; and the same values and gradients in PyTorch.
"""

import glob
import importlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.core import REGISTRY, walk
from chainrule.core.engine import unbroadcast
from chainrule.debug.trace import rule_on_arrays


def _load_specs():
    here = os.path.dirname(__file__)
    specs = []
    for path in sorted(glob.glob(os.path.join(here, "op_specs*.py"))):
        specs += importlib.import_module(os.path.basename(path)[:-3]).SPECS
    return specs


SPECS = _load_specs()
IDS = [f"{s.name}-{i}" for i, s in enumerate(SPECS)]
EXAMPLES = int(os.environ.get("CHAINRULE_SWEEP_EXAMPLES", "10"))
SWEEP = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
H = 1e-6


def test_every_primitive_has_a_spec():
    missing = sorted(set(REGISTRY) - {s.name for s in SPECS})
    assert not missing, f"registered primitives without an OpSpec: {missing}"


def test_specs_name_registered_primitives():
    unknown = sorted({s.name for s in SPECS} - set(REGISTRY))
    assert not unknown, f"specs for primitives that are not registered: {unknown}"


def _draw(spec, data):
    shapes = data.draw(st.sampled_from(spec.shapes), label="shapes")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    xs = spec.sample(rng, shapes)
    wrt = tuple(spec.wrt if spec.wrt is not None else range(len(xs)))
    return rng, xs, wrt


def _value(spec, xs):
    with cr.no_grad():
        return np.asarray(spec.call(*[cr.tensor(x) for x in xs]).data, dtype=np.float64)


def _analytic(spec, xs, wrt, u):
    ts = [cr.tensor(x, requires_grad=i in wrt) for i, x in enumerate(xs)]
    out = spec.call(*ts)
    out.backward(u)
    return out, [ts[i].grad for i in wrt]


def _numeric_grad(fn, xs, i):
    x = xs[i]
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        xp_, xm = [a.copy() for a in xs], [a.copy() for a in xs]
        xp_[i][k] += H
        xm[i][k] -= H
        g[k] = (fn(xp_) - fn(xm)) / (2 * H)
    return g


def _close(a, b, spec, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{spec.name} {what}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=spec.rtol, atol=spec.atol, err_msg=f"{spec.name}: {what}")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@SWEEP
@given(data=st.data())
def test_gradient_matches_numerical(spec, data):
    rng, xs, wrt = _draw(spec, data)
    u = rng.standard_normal(_value(spec, xs).shape)
    out, grads = _analytic(spec, xs, wrt, u)
    loss = lambda arrs: float(np.sum(u * _value(spec, arrs)))
    for i, g in zip(wrt, grads):
        assert g is not None, f"{spec.name}: no gradient for input {i}"
        assert g.shape == np.shape(xs[i]), f"{spec.name}: gradient shape {g.shape} != input shape {xs[i].shape}"
        assert g.dtype == np.float64
        _close(g, _numeric_grad(loss, xs, i), spec, f"gradient of input {i}")
    # the VJP along a random direction (the check that scales to large inputs)
    vs = [rng.standard_normal(np.shape(xs[i])) for i in wrt]
    plus = [x.copy() for x in xs]
    minus = [x.copy() for x in xs]
    for i, v in zip(wrt, vs):
        plus[i] = plus[i] + H * v
        minus[i] = minus[i] - H * v
    directional = (loss(plus) - loss(minus)) / (2 * H)
    np.testing.assert_allclose(sum(float(np.sum(g * v)) for g, v in zip(grads, vs)), directional,
                               rtol=spec.rtol, atol=spec.atol * 10, err_msg=f"{spec.name}: random-projection VJP")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.second_order], ids=[i for s, i in zip(SPECS, IDS)
                                                                              if s.second_order])
@SWEEP
@given(data=st.data())
def test_grad_of_grad_matches_numerical(spec, data):
    rng, xs, wrt = _draw(spec, data)
    u = rng.standard_normal(_value(spec, xs).shape)
    first = wrt[0]
    v = rng.standard_normal(np.shape(xs[first]))

    def directional_grad(arrs):  # <v, d/dx_first sum(u * f)> from the first-order engine
        _, gs = _analytic(spec, arrs, wrt, u)
        return float(np.sum(gs[0] * v))

    ts = [cr.tensor(x, requires_grad=i in wrt) for i, x in enumerate(xs)]
    spec.call(*ts).backward(u, create_graph=True)
    gfirst = ts[first].grad
    assert isinstance(gfirst, cr.Tensor), "create_graph=True must leave a Tensor in .grad"
    np.testing.assert_allclose(gfirst.data, _analytic(spec, xs, wrt, u)[1][0], rtol=1e-10, atol=1e-12)
    h = (gfirst * v).sum()
    for t in ts:
        t.grad = None
    if h.requires_grad:
        h.backward()
    for i in wrt:
        analytic = ts[i].grad if ts[i].grad is not None else np.zeros(np.shape(xs[i]))
        _close(analytic, _numeric_grad(directional_grad, xs, i), spec, f"second derivative wrt input {i}")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.torch], ids=[i for s, i in zip(SPECS, IDS) if s.torch])
@SWEEP
@given(data=st.data())
def test_matches_pytorch(spec, data):
    torch = pytest.importorskip("torch")
    rng, xs, wrt = _draw(spec, data)
    u = rng.standard_normal(_value(spec, xs).shape)
    out, grads = _analytic(spec, xs, wrt, u)
    tx = [torch.tensor(x, dtype=torch.float64, requires_grad=i in wrt) for i, x in enumerate(xs)]
    tout = spec.torch(torch, *tx)
    tout.backward(torch.tensor(u, dtype=torch.float64))
    _close(out.data, tout.detach().numpy(), spec, "value vs torch")
    for i, g in zip(wrt, grads):
        _close(g, tx[i].grad.numpy(), spec, f"gradient of input {i} vs torch")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lean_nodes_with_one_input_needing_grad(spec, data):
    """Nodes normally keep every small value; here they keep only what the needed gradients read,
    with one input at a time requiring grad: a rule that reads an input it did not save fails."""
    rng, xs, wrt = _draw(spec, data)
    u = rng.standard_normal(_value(spec, xs).shape)
    _, full = _analytic(spec, xs, wrt, u)
    with cr.keep_values(-1):
        for i, g_full in zip(wrt, full):
            _, (g,) = _analytic(spec, xs, (i,), u)
            _close(g, g_full, spec, f"gradient of input {i} alone, lean nodes")


FAST = [s for s in SPECS if REGISTRY[s.name].fast is not None]


def test_every_fast_rule_is_swept():
    fast = {n for n, p in REGISTRY.items() if p.fast is not None}
    assert fast and fast <= {s.name for s in FAST}


def _fast_vs_twin(node, g, label):
    """The fast rule against the differentiable rule (run on Tensors), both reduced to the inputs' shapes."""
    prim = node.prim
    fast = prim.fast(node.parents, g, node.ans, *node.saved, **node.params)
    fast = fast if type(fast) is tuple else (fast,)
    twin = rule_on_arrays(node, g)
    assert len(fast) == len(twin) == len(node.shapes), label
    for i, (a, b, p, shape) in enumerate(zip(fast, twin, node.parents, node.shapes)):
        if p is None:
            continue
        a, b = (unbroadcast(np.asarray(v), shape) for v in (a, b))
        assert a.dtype == b.dtype, f"{label}: input {i}: dtype {a.dtype} vs {b.dtype}"
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"{label}: input {i}")


@pytest.mark.parametrize("spec", FAST, ids=[f"{s.name}-{i}" for i, s in enumerate(FAST)])
@SWEEP
@given(data=st.data())
def test_fast_rule_matches_its_differentiable_twin(spec, data):
    rng, xs, wrt = _draw(spec, data)
    with cr.keep_values():
        out = spec.call(*[cr.tensor(x, requires_grad=i in wrt) for i, x in enumerate(xs)])
    nodes = [n for n in walk([out._node]) if n.prim.name == spec.name]
    assert nodes, f"{spec.name}: the spec recorded no {spec.name} node"
    for node in nodes:
        _fast_vs_twin(node, rng.standard_normal(np.shape(node.ans)), spec.name)


@pytest.mark.parametrize("sa, sb", [((64, 1, 80), (1, 70, 80)), ((300, 40), (40,)), ((1, 90, 1), (70, 1, 60))])
def test_fast_rules_on_large_broadcasts(sa, sb):
    """mul's fast rule sums large broadcast gradients in one einsum: the same as its twin."""
    rng = np.random.default_rng(0)
    a = cr.tensor(rng.standard_normal(sa), requires_grad=True)
    b = cr.tensor(rng.standard_normal(sb), requires_grad=True)
    out = a * b
    assert out.numel() >= 4096
    _fast_vs_twin(out._node, rng.standard_normal(out.shape), f"mul {sa} * {sb}")
