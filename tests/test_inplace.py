"""In-place safety: an array saved for the backward pass cannot be changed silently.

Chosen design: a version check at backward time. In-place writes made through a Tensor (the `.data`
setter given the same array, in-place ops, optimizer steps) stamp the memory they write with the
engine's clock (the same counter that numbers nodes), so `p.data -= lr * p.grad` between a node's
creation and its backward raises, naming the tensor and the op. Assigning a new array
(`p.data = p.data - v`) leaves the saved array intact and is allowed. Writes that bypass the setter
(`p.data[...] = v`) cannot reach a saved array: memory guarding (tests/test_saved_arrays.py).
Updates between steps always work.
"""

import contextlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def _mlp(seed=0):
    rng = np.random.default_rng(seed)
    W1 = cr.tensor(rng.normal(size=(3, 5)) * 0.5, requires_grad=True, name="W1")
    b1 = cr.tensor(np.zeros(5), requires_grad=True, name="b1")
    W2 = cr.tensor(rng.normal(size=(5, 1)) * 0.5, requires_grad=True, name="W2")
    X = cr.tensor(rng.normal(size=(8, 3)))
    Y = cr.tensor(rng.normal(size=(8, 1)))
    return [W1, b1, W2], X, Y


def _loss(params, X, Y):
    W1, b1, W2 = params
    h = cr.tanh(X @ W1 + b1)
    return ((h @ W2 - Y) ** 2.0).mean()


@pytest.mark.parametrize("update", [
    lambda p: p.__setattr__("data", p.data.__isub__(0.1)),   # p.data -= 0.1
    lambda p: p.__setattr__("data", p.data.__imul__(2.0)),   # p.data *= 2
    lambda p: p.__setattr__("data", p.data.__iadd__(p.data)),  # p.data += p.data
])
def test_in_place_update_before_backward_raises_naming_tensor_and_op(update):
    params, X, Y = _mlp()
    loss = _loss(params, X, Y)
    update(params[2])
    with pytest.raises(RuntimeError) as ei:
        loss.backward()
    msg = str(ei.value)
    assert "tensor 'W2'" in msg and "matmul" in msg and "(5, 1)" in msg
    assert "modified in place" in msg and "backward()" in msg


def test_the_optimizer_step_before_backward_bug():
    params, X, Y = _mlp()
    loss = _loss(params, X, Y)
    for p in params:
        p.data -= 0.01 * np.ones_like(p.data)  # "opt.step()" called before "loss.backward()"
    with pytest.raises(RuntimeError, match="tensor 'W2'.*matmul"):  # the first met in backward
        loss.backward()


def test_update_between_two_backwards_of_a_retained_graph_raises():
    params, X, Y = _mlp()
    loss = _loss(params, X, Y)
    loss.backward(retain_graph=True)
    for p in params:
        p.data -= 0.1 * p.grad
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_training_loop_updates_between_steps_work_and_match_numpy():
    params, X, Y = _mlp()
    ref = [p.data.copy() for p in params]
    Xn, Yn = X.data, Y.data
    losses = []
    for step in range(20):
        for p in params:
            p.zero_grad()
        loss = _loss(params, X, Y)
        loss.backward()
        losses.append(loss)  # keeping old graphs alive must not block updates
        for p in params:
            p.data -= 0.1 * p.grad
        if step == 5:
            params[1].data[...] = 0.0  # the user's own edit between steps
        # the same step by hand in NumPy
        W1, b1, W2 = ref
        h = np.tanh(Xn @ W1 + b1)
        r = h @ W2 - Yn
        dout = 2 * r / r.size
        dW2 = h.T @ dout
        dh = dout @ W2.T * (1 - h ** 2)
        step_grads = [Xn.T @ dh, dh.sum(0), dW2]
        ref = [w - 0.1 * g for w, g in zip(ref, step_grads)]
        if step == 5:
            ref[1][...] = 0.0
        for p, w in zip(params, ref):
            np.testing.assert_allclose(p.data, w, rtol=1e-10, atol=1e-12)
    assert losses[-1].item() < losses[0].item()


def test_assigning_a_new_array_keeps_the_saved_one_and_is_allowed():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    y = (x * x).sum()
    x.data = x.data - 10.0  # a new array: the graph still holds the values it computed with
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_tensor_whose_array_the_rule_does_not_read_may_change():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    y = (a + b).sum()  # add's rule reads no input
    a.data += 1.0
    y.backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])


def test_torch_agrees_that_the_in_place_case_is_an_error():
    torch = pytest.importorskip("torch")
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with torch.no_grad():
        w.sub_(0.1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    cw = cr.tensor([1.0, 2.0], requires_grad=True, name="w")
    cy = (cw * cw).sum()
    cw.data -= 0.1
    with pytest.raises(RuntimeError, match="modified in place"):
        cy.backward()


@pytest.mark.parametrize("anomaly", [False, True])
@pytest.mark.parametrize("write", [
    lambda t: t.data.__setitem__(Ellipsis, 0.0),   # t.data[...] = 0
    lambda t: t.numpy().__setitem__(0, 5.0),       # t.numpy()[0] = 5
    lambda t: np.copyto(t.data, 1.0),
])
def test_writes_that_bypass_the_setter_leave_the_saved_values_intact(write, anomaly):
    """Memory guarding: the array handed out after mul saved it is the tensor's own copy, so the
    gradient is the one of the values the forward pass used (in and out of detect_anomaly)."""
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    with cr.detect_anomaly() if anomaly else contextlib.nullcontext():
        y = (cr.exp(x) * x).sum()
        write(x)
        y.backward()
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad, np.exp(v) * (1 + v))
    assert not np.array_equal(x.data, v)  # the write reached the tensor


def test_writes_to_intermediates_and_constants_leave_the_saved_values_intact():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.detect_anomaly():
        h = cr.exp(x)  # exp saves its output
        y = h.sum()
        h.data[0] = 0.0
        y.backward()
        np.testing.assert_allclose(x.grad, np.exp([1.0, 2.0]))
        x.grad = None
        c = np.array([1.0, 2.0])
        y = (x * c).sum()
        c[0] = 7.0
        y.backward()
        np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_optimizer_updates_with_old_graphs_alive():
    params, X, Y = _mlp()
    opt = optim.SGD(params, lr=0.1)
    kept = []
    for _ in range(5):
        opt.zero_grad()
        kept.append(_loss(params, X, Y) * 1.0)  # an un-backwarded graph that saved the parameters
        loss = _loss(params, X, Y)
        loss.backward()
        opt.step()
    assert loss.item() < kept[0].item()


def test_optimizer_step_before_backward_raises():
    params, X, Y = _mlp()
    opt = optim.SGD(params, lr=0.1)
    _loss(params, X, Y).backward()  # gradients from a previous step
    loss = _loss(params, X, Y)
    opt.step()  # updates p._data in place and bumps p._version
    with pytest.raises(RuntimeError, match="tensor 'W2'.*modified in place"):
        loss.backward()


def test_no_false_alarm_in_a_fresh_process():
    """Version stamps share the engine's clock with node numbers; a fresh process (node numbers
    near 0) with parameters initialised and loaded in place must not raise."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = textwrap.dedent("""
        import numpy as np, chainrule as cr
        from chainrule import nn
        m = nn.Linear(3, 2)
        m.load_state_dict({k: np.array(v.data if hasattr(v, "data") else v) for k, v in m.state_dict().items()})
        x = cr.tensor(np.ones((4, 3)))
        for _ in range(3):
            loss = (m(x) ** 2.0).mean()
            loss.backward()
            for p in m.parameters():
                p.data -= 0.1 * p.grad
                p.grad = None
        print("ok")
    """)
    src = str(Path(nn.__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.parametrize("write", [lambda t: t.data.__setitem__(Ellipsis, 5.0),
                                   lambda t: t.numpy().__setitem__(Ellipsis, 5.0)])
def test_writes_through_data_reach_a_0d_tensor(write):
    p = cr.tensor(1.0, requires_grad=True)
    write(p)
    assert p.item() == 5.0
