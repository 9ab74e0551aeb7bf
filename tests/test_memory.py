"""Memory over long runs: a training loop runs flat, graphs are freed by reference counting alone
(no cycle collector), and a forward pass under no_grad saves nothing."""

import gc
import tracemalloc
import weakref

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.nn import functional as F


class _NoGC:
    """Run a block with the cycle collector off (restored after)."""

    def __enter__(self):
        gc.collect()
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


def _data(seed=0, n=64, d=20, k=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n)
    return X, y


def _params(seed=0, d=20, h=32, k=5):
    rng = np.random.default_rng(seed)
    return [cr.tensor(rng.normal(size=(d, h)) * 0.3, requires_grad=True, name="W1"),
            cr.tensor(np.zeros(h), requires_grad=True, name="b1"),
            cr.tensor(rng.normal(size=(h, k)) * 0.3, requires_grad=True, name="W2"),
            cr.tensor(np.zeros(k), requires_grad=True, name="b2")]


def _step(params, X, y, lr=0.1):
    W1, b1, W2, b2 = params
    h = cr.relu(cr.tensor(X) @ W1 + b1)
    logp = cr.log_softmax(h @ W2 + b2, axis=1)
    loss = -logp[np.arange(len(y)), y].mean()
    for p in params:
        p.zero_grad()
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
    return loss.item()


def _traced_growth(step, steps, warmup=20):
    for _ in range(warmup):
        step()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            step()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before


def test_mlp_training_loop_runs_flat():
    X, y = _data()
    params = _params()
    losses = []
    growth = _traced_growth(lambda: losses.append(_step(params, X, y)), steps=300)
    assert growth < 2_000_000, f"traced memory grew by {growth / 1e6:.2f} MB over 300 steps"
    assert losses[-1] < losses[0]  # it did train


def test_nn_training_loop_runs_flat():
    X, y = _data()
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    xt = cr.tensor(X)
    losses = []

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    growth = _traced_growth(step, steps=300)
    assert growth < 2_000_000, f"traced memory grew by {growth / 1e6:.2f} MB over 300 steps"
    assert losses[-1] < losses[0]


def test_graph_is_freed_without_the_cycle_collector():
    X, y = _data()
    params = _params()
    W1, b1, W2, b2 = params
    with _NoGC():
        h = cr.tanh(cr.tensor(X) @ W1 + b1)
        out = cr.log_softmax(h @ W2 + b2, axis=1)
        loss = -out[np.arange(len(y)), y].mean()
        node = weakref.ref(h._node)
        saved = weakref.ref(h._node.ans)  # tanh keeps its output for its rule
        del h, out
        assert node() is not None and saved() is not None  # the graph holds them
        loss.backward()
        del loss
        assert node() is None and saved() is None
        # never backwarded: dropping the output frees the graph too
        h = cr.tanh(cr.tensor(X) @ W1 + b1)
        node, saved = weakref.ref(h._node), weakref.ref(h._node.ans)
        del h
        assert node() is None and saved() is None


def test_a_training_step_leaves_no_garbage_cycles():
    X, y = _data()
    params = _params()
    _step(params, X, y)
    with _NoGC():
        gc.collect()
        for _ in range(3):
            _step(params, X, y)
        assert gc.collect() == 0, "a training step created reference cycles"


def test_anomaly_mode_frees_graphs_without_the_cycle_collector():
    X, y = _data()
    params = _params()
    with _NoGC(), cr.detect_anomaly():
        h = cr.tanh(cr.tensor(X) @ params[0] + params[1])
        node = weakref.ref(h._node)
        h.sum().backward()
        del h
        assert node() is None


def test_create_graph_graph_is_freed_once_grads_are_dropped():
    x = cr.tensor(np.linspace(-1, 1, 5), requires_grad=True)
    with _NoGC():
        y = (cr.tanh(x) ** 3.0).sum()
        y.backward(create_graph=True)
        g = x.grad
        node = weakref.ref(g._node)
        (g * g).sum().backward()  # second order: adds to x.grad
        del y, g
        x.grad = None
        assert node() is None


def test_no_grad_forward_saves_nothing():
    rng = np.random.default_rng(0)
    Ws = [cr.tensor(rng.normal(size=(128, 128)) * 0.1, requires_grad=True) for _ in range(4)]
    x = cr.tensor(rng.normal(size=(64, 128)))

    def forward():
        h = x
        inner = []
        for W in Ws:
            h = cr.tanh(h @ W)
            inner.append(weakref.ref(h._data))
        return h, inner

    def held(grad):
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            if grad:
                out, inner = forward()
            else:
                with cr.no_grad():
                    out, inner = forward()
            return tracemalloc.get_traced_memory()[0] - before, out, inner
        finally:
            tracemalloc.stop()

    mem, out, inner = held(grad=False)
    assert out._node is None and not out.requires_grad
    assert all(r() is None for r in inner[:-1])  # every intermediate array is gone
    assert mem < out._data.nbytes + 20_000
    mem_grad, out_grad, inner = held(grad=True)
    assert out_grad._node is not None
    assert all(r() is not None for r in inner)  # with grad the graph keeps what its rules read
    assert mem_grad > 3 * out._data.nbytes
