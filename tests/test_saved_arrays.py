"""Memory guarding (issue 12, point 2): no write made between forward and backward can change an array a
live graph saved. Each case either raises a clear error naming the op that saved the array and what was
written, or gives the gradient of the values the forward pass used (checked against the same
computation on fresh inputs, and against PyTorch where it raises too)."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim


def _fresh_grad(values, f):
    x = cr.tensor(values, requires_grad=True)
    f(x).backward()
    return x.grad


def test_writing_data_of_an_intermediate_in_place_raises_naming_the_op():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = cr.exp(x)          # exp keeps its output for the backward pass
    y = h.sum()
    h.data -= 1
    with pytest.raises(RuntimeError, match=r"exp backward: the output of exp.*modified in place"):
        y.backward()


def test_writing_through_a_detached_tensor_raises_like_pytorch():
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx * tx).sum()
    tx.detach().sub_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.backward()
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x).sum()
    x.detach().data -= 1
    with pytest.raises(RuntimeError, match=r"mul backward: tensor 'x' of shape \(2,\).*modified in place"):
        y.backward()


def test_detach_shares_the_array_with_its_source():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()  # a live graph keeps x's array
    d = x.detach()
    d.numpy()[0] = 10.0
    assert x.data[0] == 10.0  # the write reached x
    with cr.no_grad():
        d += 1.0
    assert x.data[1] == 3.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


@pytest.mark.parametrize("write", [
    lambda x: x.data.__setitem__(0, 10.0),                    # x.data[0] = 10
    lambda x: x.numpy().__setitem__(0, 10.0),                 # x.numpy()[0] = 10
    lambda x: np.asarray(x).__setitem__(0, 10.0),             # np.asarray(x)[0] = 10 (no_grad below)
    lambda x: x.data[1:].__setitem__(slice(None), 0.0),       # v = x.data[1:]; v[:] = 0
])
def test_writes_into_a_leafs_array_after_the_forward_give_the_forward_gradient(write):
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    with cr.no_grad():
        write(x)
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    assert not np.array_equal(x.data, [1.0, 2.0, 3.0])  # the write reached the tensor


def test_a_view_taken_before_the_forward_cannot_reach_the_saved_array():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = x.data[1:]
    y = (x * x).sum()
    v[:] = 0.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(x.data, [1.0, 0.0, 0.0])


def test_a_numpy_operand_mutated_after_the_forward():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = np.ones(3)
    y = (x * a).sum()
    a[:] = 5.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.grad, _fresh_grad([1.0, 2.0, 3.0], lambda t: (t * np.ones(3)).sum()))


def test_a_grad_array_used_as_an_operand_is_kept_as_a_copy():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()            # w.grad = [2, 4]
    x = cr.tensor([1.0, 1.0], requires_grad=True)
    y = (x * w.grad).sum()
    w.grad[...] = 0.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_writing_a_saved_constant_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    y = (x * c).sum()
    c.data[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    x.grad = None
    c = cr.tensor([3.0, 4.0])
    y = (x * c).sum()
    c += 1.0  # an in-place op on the tensor: the version check names it
    with pytest.raises(RuntimeError, match=r"mul backward: a constant of shape \(2,\) \(input y of mul\)"):
        y.backward()


def test_a_view_made_by_an_op_sees_writes_to_its_base():
    W = cr.tensor(np.ones((3, 2)), requires_grad=True, name="W")
    h = cr.tensor(np.full((4, 2), 2.0), requires_grad=True)
    y = (h @ W.T).sum()  # matmul keeps W.T, a view of W's array
    with cr.no_grad():
        W -= 0.5
    with pytest.raises(RuntimeError, match=r"matmul backward: the output of transpose .*modified in place"):
        y.backward()


def test_optimizer_step_between_forward_and_backward_raises():
    W = cr.tensor(np.ones((3, 2)), requires_grad=True, name="W")
    h = cr.tensor(np.full((4, 2), 2.0), requires_grad=True)
    opt = optim.SGD([W], lr=0.5)
    (h @ W.T).sum().backward()
    y = (h @ W.T).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_optimizer_step_after_the_data_was_handed_out_still_raises():
    W = cr.tensor(np.ones(3), requires_grad=True, name="W")
    W.data  # handed out: nodes keep copies of it from now on
    opt = optim.SGD([W], lr=0.5)
    (W * W).sum().backward()
    y = (W * W).sum()
    opt.step()
    with pytest.raises(RuntimeError, match=r"tensor 'W'.*modified in place"):
        y.backward()


def test_assigning_a_new_array_after_a_hand_out_is_allowed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data  # handed out
    y = (x * x).sum()
    x.data = x.data - 10.0
    x.data -= 1.0  # writes the new array, not the saved one
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


class _Square(cr.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


class _SquareArray(cr.Function):
    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(a)
        return x * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * a, None


def test_function_save_for_backward_keeps_the_values_it_saved():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = _Square.apply(x).sum()
    x.data[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0])
    y = _SquareArray.apply(x, a).sum()
    a[:] = 0.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_function_saved_tensor_written_in_place_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = _Square.apply(x).sum()
    with cr.no_grad():
        x.data -= 1.0
    with pytest.raises(RuntimeError, match="argument 0 of save_for_backward.*modified in place"):
        y.backward()


def test_a_training_loop_with_hand_written_updates_is_unchanged():
    rng = np.random.default_rng(0)
    W = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    X = rng.standard_normal((8, 4))
    Wn = W.data.copy()
    for _ in range(5):
        W.grad = None
        ((cr.tensor(X) @ W) ** 2.0).mean().backward()
        g = 2 * X.T @ (X @ Wn) / (8 * 3)
        W.data -= 0.1 * W.grad
        Wn -= 0.1 * g
        np.testing.assert_allclose(W.data, Wn, rtol=1e-12)
        X[0, 0] += 1.0  # the caller's batch array, reused


def test_from_numpy_shares_memory_but_the_graph_keeps_its_own_copy():
    a = np.array([1.0, 2.0])
    x = cr.from_numpy(a)
    w = cr.tensor([1.0, 1.0], requires_grad=True)
    y = (w * x).sum()
    a[0] = 100.0
    assert x.data[0] == 100.0
    y.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 2.0])


def test_state_dict_arrays_are_handed_out():
    m = cr.nn.Linear(2, 1)
    x = cr.tensor(np.ones((3, 2)), requires_grad=True)
    y = m(x).sum()
    sd = m.state_dict()
    sd["weight"][...] = 0.0      # the array itself, as PyTorch's state_dict
    assert np.all(m.weight.data == 0.0)
    w = sd["weight"]
    y.backward()
    assert not np.all(x.grad == 0.0)  # the graph kept the weights it computed with
    assert w is m.weight.data


def test_an_array_no_one_else_refers_to_is_kept_by_reference_and_still_guarded():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data -= 1.0                 # handed out, but the handle is gone at once (the SGD idiom)
    m = x * x
    y = m.sum()
    assert m._node.saved[0] is x._data  # no copy was needed
    x.data[0] = 10.0              # handed out again while the graph keeps the array: x moves to a copy
    y.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0])
    np.testing.assert_array_equal(x.data, [10.0, 1.0])


def test_assigning_a_temporary_keeps_the_tensor_private():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data = x.data - 1.0         # the other SGD idiom: a new array that no one else refers to
    m = x * x
    assert m._node.saved[0] is x._data  # no copy was needed


def test_assigning_an_array_the_caller_keeps_is_guarded():
    a = np.array([1.0, 2.0])
    x = cr.tensor([0.0, 0.0], requires_grad=True)
    x.data = a                    # the caller still holds `a`
    y = (x * x).sum()
    a[:] = 100.0                  # reaches x, never the graph
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert x.data[0] == 100.0


def test_a_new_array_then_an_in_place_write_does_not_touch_an_older_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data  # handed out: the graph keeps a copy
    y = (x * x).sum()
    x.data = x.data - 10.0        # a new (private) array...
    x.data -= 1.0                 # ...written in place: the old graph's copy is untouched
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_a_compiled_replay_keeps_its_own_copy_of_a_handed_out_input():
    f = cr.compile(lambda x: (x * x).sum())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    f(x)
    f(x)                          # recorded, then replayed
    h = x.data                    # handed out
    y = f(x)                      # a replay
    assert f.recordings == 1
    h[0] = 10.0                   # after the forward: reaches x, never the replay's saved values
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
