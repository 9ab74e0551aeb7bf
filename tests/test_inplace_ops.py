"""In-place operations with PyTorch's semantics (issue 13): `+=`, `-=`, `*=`, `/=`, `x[i] = v` and
the `*_` methods update the tensor itself; under no_grad a leaf's array is written in place (the
training-loop idiom), a recorded tensor's update is itself recorded, and an update to an array a live
graph saved makes that graph refuse to run backward."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")


def test_the_tutorials_update_loop_updates_every_parameter():
    """`for p in model.parameters(): p -= lr * p.grad` used to rebind the loop variable and update
    nothing; the loss must now fall as PyTorch's does."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    y = np.argmax(X @ rng.standard_normal((5, 3)), axis=1)
    model = nn.Sequential(nn.Linear(5, 8, dtype=np.float64), nn.Tanh(), nn.Linear(8, 3, dtype=np.float64))
    params = list(model.parameters())
    arrays = [p._data for p in params]
    losses = []
    for _ in range(30):
        loss = cr.nn.functional.cross_entropy(model(cr.tensor(X)), y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with cr.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert losses[-1] < 0.7 * losses[0]
    assert [p for p in model.parameters()] == params, "the same Parameter objects"
    assert all(p._data is a for p, a in zip(params, arrays)), "updated in place, in the same arrays"


def test_a_named_leaf_keeps_requiring_grad_after_its_update():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (w * w).sum().backward()
        with cr.no_grad():
            w -= 0.1 * w.grad
            w.grad.zero_()
        assert w.requires_grad and w.is_leaf
    tw = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for _ in range(3):
        (tw * tw).sum().backward()
        with torch.no_grad():
            tw -= 0.1 * tw.grad
            tw.grad.zero_()
    np.testing.assert_allclose(w.data, tw.detach().numpy())


@pytest.mark.parametrize("update", [
    lambda w: w.__isub__(1.0), lambda w: w.__imul__(2.0), lambda w: w.add_(1.0), lambda w: w.mul_(0.5),
    lambda w: w.zero_(), lambda w: w.copy_(np.ones(3)), lambda w: w.__setitem__(0, 5.0), lambda w: w.fill_(2.0),
    lambda w: w.clamp_(0.0, 0.1),
])
def test_updating_a_saved_leaf_under_no_grad_fails_at_backward_naming_the_op(update):
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True, name="w")
    x = cr.tensor([4.0, 5.0, 6.0])
    loss = (w * x * w).sum()
    with cr.no_grad():
        update(w)
    with pytest.raises(RuntimeError, match=r"mul backward: tensor 'w' .*modified in place"):
        loss.backward()


@pytest.mark.parametrize("name, update", [
    ("+=", lambda t: t.__iadd__(1.0)), ("-=", lambda t: t.__isub__(1.0)), ("*=", lambda t: t.__imul__(2.0)),
    ("/=", lambda t: t.__itruediv__(2.0)), ("**=", lambda t: t.__ipow__(2)), ("add_", lambda t: t.add_(1.0)),
    ("sub_", lambda t: t.sub_(1.0)), ("mul_", lambda t: t.mul_(2.0)), ("div_", lambda t: t.div_(2.0)),
    ("pow_", lambda t: t.pow_(2)), ("neg_", lambda t: t.neg_()), ("zero_", lambda t: t.zero_()),
    ("fill_", lambda t: t.fill_(3.0)), ("copy_", lambda t: t.copy_(np.ones((2, 3)))),
    ("clamp_", lambda t: t.clamp_(max=0.5)), ("setitem", lambda t: t.__setitem__((0, 1), 9.0)),
    ("uniform_", lambda t: t.uniform_(0, 1)), ("normal_", lambda t: t.normal_()),
])
@pytest.mark.parametrize("kind", ["array", "read-only array", "0-d", "grad mode, recorded"])
def test_every_in_place_path_bumps_the_version(name, update, kind):
    if kind == "0-d":
        if name in ("setitem", "copy_"):
            return
        t = cr.tensor(0.3)
    elif kind == "read-only array":
        a = np.full((2, 3), 0.3)
        a.flags.writeable = False
        t = cr.from_numpy(a)
    elif kind == "array":
        t = cr.tensor(np.full((2, 3), 0.3))
    else:
        t = cr.tensor(np.full((2, 3), 0.3), requires_grad=True) * 1.0
    cr.tensor(1.0, requires_grad=True) * 1.0  # (a node: the clock that stamps versions has moved past 0)
    before, old = t._version, t._data
    out = update(t)
    assert out is t or name == "setitem"
    assert t._version > before, f"{name} on a {kind} tensor did not bump the version"
    if kind == "read-only array":
        assert t._data is not old and (old == 0.3).all(), "a read-only array is never written"
        assert t._data.flags.writeable
    if kind == "array":
        assert t._data is old, "written in place"
    if kind.startswith("grad mode"):
        assert t.requires_grad and t._node is not None


def test_in_place_on_a_recorded_tensor_keeps_earlier_consumers_graphs():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    z = y * 3.0           # used y before the update
    y += 1.0              # recorded: y now names y_old + 1
    y *= 3.0              # and then scaled
    (z.sum() + y.sum()).backward()
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ty = tx * 2.0
    tz = ty * 3.0
    ty += 1.0
    ty *= 3.0
    (tz.sum() + ty.sum()).backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(y.data, ty.detach().numpy())


def test_a_constant_updated_by_a_tensor_that_requires_grad_joins_the_graph():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    acc = cr.zeros(2)
    acc += w * 3
    acc[0] = w[1] * w[1]
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_allclose(w.grad, [0.0, 3.0 + 4.0])


def test_views_share_their_base_under_no_grad_as_pytorchs():
    x = cr.tensor(np.zeros((2, 3)))
    x[0] += 1.0
    row = x[1]
    row += 2.0
    np.testing.assert_array_equal(x.data, [[1, 1, 1], [2, 2, 2]])
    t = torch.zeros((2, 3), dtype=torch.float64)
    t[0] += 1.0
    r = t[1]
    r += 2.0
    np.testing.assert_array_equal(x.data, t.numpy())


def test_indexed_assignment_records_on_a_graph():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    v = cr.tensor([10.0, 20.0], requires_grad=True)
    y = x * 1.0
    y[:, 1] = v * v
    y[y > 15] = 0.0
    (y * cr.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    tx = torch.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    tv = torch.tensor([10.0, 20.0], dtype=torch.float64, requires_grad=True)
    ty = tx * 1.0
    ty[:, 1] = tv * tv
    ty[ty > 15] = 0.0
    (ty * torch.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(v.grad, tv.grad.numpy())


def test_in_place_errors_name_the_op():
    with pytest.raises(TypeError, match=r"\*=.*int64"):
        t = cr.tensor([1, 2])
        t *= 1.5
    with pytest.raises(cr.ShapeError, match=r"add_.*\(2,\).*\(3, 2\)"):
        cr.tensor([1.0, 2.0]).add_(np.ones((3, 2)))
    x = cr.tensor([1.0, 2.0], requires_grad=True) * 1.0
    with pytest.raises(cr.ShapeError, match=r"\+=: the result has shape \(3, 2\)"):
        x += np.ones((3, 2))
    with pytest.raises(IndexError, match="setitem"):
        cr.tensor([1.0, 2.0])[5] = 1.0
    with pytest.raises(TypeError, match="setitem: a tensor of dtype int64 cannot take a value that requires grad"):
        cr.zeros(3, dtype=cr.long)[0] = cr.tensor(1.0, requires_grad=True)


def test_grad_zero_then_accumulate_as_pytorch():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    g = w.grad
    g.zero_()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, [2.0, 4.0])
    assert isinstance(w.grad, cr.GradArray)
