"""The backward pass: ordering, accumulation, freeing, retain/create graph, no_grad, shape checks."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY, Observer, Primitive
from chainrule.core.engine import run_backward


def test_chain_of_20000_nodes_runs_iteratively():
    x = cr.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 20000, rtol=1e-9)


def test_gradients_add_where_a_value_branches():
    x = cr.tensor(3.0, requires_grad=True)
    a = x * x          # x used twice by one node
    b = cr.exp(x)      # and again by another
    f = a + b * x
    f.backward()
    np.testing.assert_allclose(x.grad, 2 * 3.0 + np.exp(3.0) + 3.0 * np.exp(3.0))


def test_diamond_graph_visits_shared_node_once_with_summed_gradient():
    calls = []
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    s = cr.tanh(x)
    f = (s * 2.0 + s * 3.0).sum()

    class Visits(Observer):
        def visited(self, node, upstream, raw, grads):
            calls.append(node.prim.name)

    run_backward(f._node, np.array(1.0), observers=(Visits(),))
    assert calls.count("tanh") == 1
    np.testing.assert_allclose(x.grad, 5 * (1 - np.tanh([1.0, 2.0]) ** 2))


def test_intermediate_gradients_are_dropped_once_used():
    # 1000 neg nodes each make a fresh 80 kB gradient; keeping them would need 80 MB
    x = cr.tensor(np.ones(10000), requires_grad=True)
    y = x
    for _ in range(1000):
        y = -(y + 1.0)
    loss = y.sum()
    tracemalloc.start()
    loss.backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5e6, f"backward peak {peak / 1e6:.1f} MB: intermediate gradients are being kept"
    np.testing.assert_allclose(x.grad, 1.0)


def test_backward_of_non_scalar_needs_grad():
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*grad="):
        y.backward()
    y.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    with pytest.raises(cr.ShapeError, match=r"\(2,\).*\(3,\)"):
        (x * 2.0).backward(np.ones(2))


def test_second_backward_through_freed_graph_says_retain_graph():
    x = cr.tensor(2.0, requires_grad=True)
    y = cr.exp(x) * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_freed_graph_releases_saved_arrays():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    y = cr.exp(x * 2.0)
    saved = weakref.ref(y._node.ans)
    loss = y.sum()
    del y
    loss.backward()
    gc.collect()
    assert saved() is None


def test_retain_graph_then_second_backward_accumulates():
    x = cr.tensor(2.0, requires_grad=True)
    y = x ** 3
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 12.0)
    y.backward()
    np.testing.assert_allclose(x.grad, 24.0)


def test_create_graph_gives_grad_of_grad_with_the_same_rules():
    x = cr.tensor(1.5, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g1 = x.grad
    assert isinstance(g1, cr.Tensor) and g1.requires_grad
    np.testing.assert_allclose(g1.data, 3 * 1.5 ** 2)
    x.grad = None
    g1.backward(create_graph=True)
    g2 = x.grad
    np.testing.assert_allclose(g2.data, 6 * 1.5)
    x.grad = None
    g2.backward()
    np.testing.assert_allclose(x.grad, 6.0)


def test_no_grad_records_nothing():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with cr.no_grad():
        y = cr.exp(x) * 2.0
        assert cr.is_grad_enabled() is False
        with cr.enable_grad():
            z = x * 2.0
    assert cr.is_grad_enabled() is True
    assert not y.requires_grad and y._node is None
    assert z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()

    @cr.no_grad()
    def f(t):
        return t * 3.0

    assert not f(x).requires_grad


def test_constants_get_no_gradient_and_no_work():
    W = cr.tensor(np.ones((3, 2)), requires_grad=True)
    X = np.ones((4, 3))
    (cr.tensor(X) @ W).sum().backward()
    np.testing.assert_allclose(W.grad, np.full((3, 2), 4.0))


def test_broadcast_reduction_happens_in_the_engine():
    b = cr.tensor(np.zeros((1, 3)), requires_grad=True)
    c = cr.tensor(0.0, requires_grad=True)
    ((cr.tensor(np.ones((4, 3))) + b) * c + b).sum().backward()
    assert b.grad.shape == (1, 3) and c.grad.shape == ()
    np.testing.assert_allclose(b.grad, np.full((1, 3), 4.0))  # summed over the 4 broadcast rows
    np.testing.assert_allclose(c.grad, 12.0)  # summed over all 12 elements


def test_a_rule_returning_the_wrong_shape_fails_loudly_naming_the_op():
    bad = Primitive("bad_rule", lambda x: x * 2, lambda xp, need, g, ans, x: (g.sum(),), register=False)
    assert "bad_rule" not in REGISTRY
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(cr.ShapeError, match=r"bad_rule backward.*shape \(\).*shape \(3,\)"):
        bad(x).sum().backward()


def test_graph_is_freed_by_reference_counting_alone():
    gc.collect()
    gc.disable()
    try:
        x = cr.tensor(np.ones(500), requires_grad=True)
        y = cr.tanh(x * 2.0 + 1.0)
        loss = (y * y).sum()
        node = weakref.ref(y._node)
        arr = weakref.ref(y._node.ans)
        del y, loss
        assert node() is None and arr() is None, "the graph outlived its output: a reference cycle"
        # and after a backward pass too
        y = cr.exp(x).sum()
        n2 = weakref.ref(y._node)
        y.backward()
        del y
        assert n2() is None
    finally:
        gc.enable()


def test_leaf_gradients_never_alias_each_other_or_the_upstream():
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = cr.tensor(np.ones(3), requires_grad=True)
    up = np.array([1.0, 2.0, 3.0])
    (x + y).backward(up)
    assert x.grad is not y.grad and not np.shares_memory(x.grad, up)
    x.grad += 1.0
    np.testing.assert_allclose(y.grad, up)
    s = cr.tensor(np.ones((2, 2)), requires_grad=True)
    s.sum().backward()
    s.grad[0, 0] = 5.0  # a writable array, not a broadcast view


def test_float32_end_to_end():
    W = cr.tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    x = cr.tensor(np.ones((4, 3), dtype=np.float32))
    loss = (cr.tanh(x @ W) * 0.5).mean()
    assert loss.dtype == np.float32
    loss.backward()
    assert W.grad.dtype == np.float32
    # a float64 constant promotes the forward (NumPy rules) but the leaf gradient keeps its dtype
    (W * cr.tensor(2.0)).sum().backward()
    assert W.grad.dtype == np.float32


def test_matmul_shape_error_names_op_and_shapes():
    a, b = cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((4, 5)))
    with pytest.raises(cr.ShapeError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        a @ b


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
                                lambda a, b: a / b, lambda a, b: cr.maximum(a, b), lambda a, b: a ** b])
def test_broadcast_errors_name_op_and_shapes(op):
    with pytest.raises(cr.ShapeError, match=r"\(2, 3\).*\(4,\)"):
        op(cr.tensor(np.ones((2, 3))), cr.tensor(np.ones(4)))


def test_batched_affine_relu_needs_no_jacobian():
    # a dense Jacobian of relu(X W) w.r.t. X would be (100*4096)^2 floats = 1.3 TB
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.standard_normal((100, 4096), dtype=np.float32), requires_grad=True)
    W = cr.tensor(rng.standard_normal((4096, 4096), dtype=np.float32) * 0.01, requires_grad=True)
    tracemalloc.start()
    out = cr.relu(X @ W)
    out.sum().backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 400e6, f"peak {peak / 1e6:.0f} MB"
    mask = (X.data @ W.data > 0).astype(np.float32)
    np.testing.assert_allclose(W.grad, X.data.T @ mask, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(X.grad, mask @ W.data.T, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("sa, sb", [((256, 1, 64), (1, 128, 64)), ((64, 80), (80,)), ((3, 40, 50), (40, 1)),
                                    ((2, 1, 3, 1000), (5, 1, 1)), ((5000,), ()), ((70, 70), (70, 70))])
def test_fused_broadcast_reduction_of_mul_matches_the_plain_rule(sa, sb):
    # gradients of >= 4096 elements take the einsum path (no broadcast product materialized)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = ta * tb
    u = rng.standard_normal(out.shape)
    out.backward(u)
    np.testing.assert_allclose(ta.grad, _unbroadcast(u * b, sa), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tb.grad, _unbroadcast(u * a, sb), rtol=1e-10, atol=1e-10)
    assert ta.grad.shape == sa and tb.grad.shape == sb


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


def test_nodes_keep_only_what_the_needed_gradients_read():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    c = np.full(1000, 2.0)
    y = x * c                     # d/dx reads c only: x itself is not kept
    assert y._node.saved[0] is None and np.array_equal(y._node.saved[1], c)
    assert y._node.saved[1] is not c  # (a copy: the caller can still write into c)
    z = cr.tensor(c) * x
    assert z._node.saved[1] is None
    t = cr.tanh(x + 1.0)          # tanh keeps its output, add keeps nothing
    assert t._node.ans is not None and t._node.saved == (None,)
    assert (x + 1.0)._node.saved == (None, None)  # add reads nothing


def test_leaf_gradients_that_are_views_of_one_array_are_separated():
    x = cr.tensor(np.zeros(6), requires_grad=True)
    w = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    (x.reshape(2, 3) + w).sum().backward()   # both gradients start as views of one upstream array
    assert not np.shares_memory(x.grad, w.grad)
    x.grad[0] = 7.0
    assert w.grad[0, 0] == 1.0
    m = cr.tensor(np.zeros((3, 2)), requires_grad=True)
    (m.T * 2.0).sum().backward()               # a transposed gradient nobody else holds: no copy needed
    m.grad[0, 0] = 5.0
    assert m.grad.flags.writeable


def test_an_observer_sees_every_node_once_and_can_prune_and_stop():
    from chainrule.core import backprop

    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    h = x * y            # the node to stop at
    out = (h * 2.0 + y).sum()
    seen = []

    class Watch(Observer):
        def visit(self, node, need):
            if node is h._node:
                return None          # stop: its gradient is returned, not passed on
            return need

        def visited(self, node, upstream, raw, grads):
            seen.append(node.prim.name)

    arrived, _ = backprop([(out._node, np.float64(1.0))], retain_graph=True, observers=(Watch(),))
    assert sorted(seen) == ["add", "mul", "sum"] and h._node in arrived
    np.testing.assert_allclose(arrived[h._node], [2.0, 2.0])
    assert x not in arrived and arrived[y].tolist() == [1.0, 1.0]

    class NoY(Observer):  # narrow `need`: the rules are told y needs no gradient
        def visit(self, node, need):
            return tuple(None if p is y else p for p in need)

    arrived, _ = backprop([(out._node, np.float64(1.0))], retain_graph=True, observers=(NoY(),))
    assert y not in arrived and arrived[x].tolist() == [6.0, 8.0]


def test_keep_values_is_a_context_not_a_global():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    assert (x + 1.0)._node.ans is None                  # large: add's rule reads nothing, nothing is kept
    with cr.keep_values():
        assert (x + 1.0)._node.ans is not None          # kept for traces and check_graph
        with cr.keep_values(0):
            assert cr.tanh(x)._node.saved == (None,)    # only what the rule reads (tanh: its output)
        assert (x + 1.0)._node.saved[0] is x._data
    assert (x + 1.0)._node.ans is None
    s = cr.tensor(np.ones(3), requires_grad=True)
    assert (s + 1.0)._node.ans is not None              # small values are kept by default


def test_rules_see_the_declared_reads_only():
    p = cr.REGISTRY["power"]
    assert p.reads((True, False)) == (frozenset({0, 1}), False, frozenset())
    assert p.reads((False, True)) == (frozenset({0, 1}), True, frozenset())
    ce = cr.REGISTRY["cross_entropy"]
    ins, out, res = ce.reads((True, False))
    assert ins == {0, 1} and res == {0, 1} and not out   # x and the target; the exponentials and their sums
    with pytest.raises(ValueError, match="cannot read"):
        Primitive("bad_reads", lambda x: x, lambda xp, need, g, ans, x: (g,), reads="y", register=False)
