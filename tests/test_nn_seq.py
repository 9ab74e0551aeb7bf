"""Sequence-model building blocks (issue 15) against PyTorch: LayerNorm / F.layer_norm,
Embedding / F.embedding, F.one_hot. Same parameters in both libraries; outputs and every gradient
(input and parameters, float64) compared over Hypothesis-drawn shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")


@settings(max_examples=15, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       affine=st.booleans(), bias=st.booleans(), seed=st.integers(0, 10**6))
def test_layernorm_matches_torch(lead, norm, affine, bias, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal(tuple(lead) + tuple(norm))
    u = r.standard_normal(x.shape)
    ln = nn.LayerNorm(norm, elementwise_affine=affine, bias=bias, dtype=np.float64)
    tln = torch.nn.LayerNorm(norm, elementwise_affine=affine, bias=bias, dtype=torch.float64)
    if affine:
        w = r.standard_normal(norm)
        ln.weight.data = w.copy()
        with torch.no_grad():
            tln.weight.copy_(torch.tensor(w))
    assert sorted(ln.state_dict()) == sorted(tln.state_dict())
    xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ln(xt), tln(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-10)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-9)
    tparams = dict(tln.named_parameters())
    for name, p in ln.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=1e-9, err_msg=name)


def test_layer_norm_functional_and_bad_shape():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(F.layer_norm(cr.tensor(x), 3).data,
                               torch.nn.functional.layer_norm(torch.tensor(x), (3,)).numpy(), atol=1e-12)
    with pytest.raises(cr.ShapeError, match=r"layer_norm: normalized_shape \(4,\).*\(2, 3\)"):
        F.layer_norm(cr.tensor(x), 4)


@settings(max_examples=15, deadline=None)
@given(num=st.integers(1, 6), dim=st.integers(1, 4), ishape=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       pad=st.one_of(st.none(), st.integers(-1, 0)), seed=st.integers(0, 10**6))
def test_embedding_matches_torch(num, dim, ishape, pad, seed):
    r = np.random.default_rng(seed)
    idx = r.integers(0, num, size=ishape)
    emb = nn.Embedding(num, dim, padding_idx=pad, dtype=np.float64)
    temb = torch.nn.Embedding(num, dim, padding_idx=pad, dtype=torch.float64)
    w = r.standard_normal((num, dim))
    emb.weight.data = w.copy()
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(w))
    assert list(emb.state_dict()) == list(temb.state_dict())
    y, ty = emb(idx), temb(torch.tensor(idx))
    np.testing.assert_allclose(y.data, ty.detach().numpy())
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(emb.weight.grad, temb.weight.grad.numpy(), atol=1e-12)


def test_embedding_padding_row_starts_zero_and_bad_input():
    emb = nn.Embedding(5, 3, padding_idx=2)
    np.testing.assert_array_equal(emb.weight.data[2], 0)
    assert emb.weight.data[0].any()
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 5\).*\[0, 7\]"):
        emb(np.array([0, 7]))
    with pytest.raises(TypeError, match="embedding: expected integer indices"):
        emb(np.array([0.5]))


def test_one_hot_matches_torch():
    c = np.array([[0, 2], [1, 3]])
    np.testing.assert_array_equal(F.one_hot(c).data, torch.nn.functional.one_hot(torch.tensor(c)).numpy())
    np.testing.assert_array_equal(F.one_hot(c, 6).data, torch.nn.functional.one_hot(torch.tensor(c), 6).numpy())
    with pytest.raises(IndexError, match="one_hot"):
        F.one_hot(c, 3)


@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0), (0.2, float("inf"))])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    r = np.random.default_rng(3)
    grads = [r.standard_normal((3, 2)), r.standard_normal(4)]
    ps = [nn.Parameter(np.zeros_like(g)) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = g.copy(), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    np.testing.assert_allclose(total, ttotal.item(), rtol=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)
    if max_norm < 1:  # clipped: the new total norm is max_norm
        assert abs(nn.utils.clip_grad_norm_(ps, 1e9, norm_type) - max_norm) < 1e-5


def test_clip_grad_value_and_nonfinite():
    p = nn.Parameter(np.zeros(4))
    p.grad = np.array([-3.0, -0.1, 0.2, 5.0])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad, [-1.0, -0.1, 0.2, 1.0])
    p.grad = np.array([np.inf, 1.0, 0.0, 0.0])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides:UserWarning")  # torch: mean is not batchmean
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    r = np.random.default_rng(5)
    x = np.log(r.dirichlet(np.ones(4), size=3))
    t = r.dirichlet(np.ones(4), size=3)
    t[0, 1] = 0.0  # a zero-probability target contributes 0
    t = np.log(t + 1e-3) if log_target else t
    u = r.standard_normal((3, 4)) if reduction == "none" else np.array(1.0)
    xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tt, ttt = cr.tensor(t, requires_grad=log_target), torch.tensor(t, requires_grad=log_target)
    y = F.kl_div(xt, tt, reduction=reduction, log_target=log_target)
    ty = torch.nn.functional.kl_div(tx, ttt, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-12)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-12)
    if log_target:
        np.testing.assert_allclose(tt.grad, ttt.grad.numpy(), atol=1e-12)
    with pytest.raises(cr.ShapeError, match="kl_div: input of shape"):
        F.kl_div(xt, t[:2])


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data())
def test_pad_matches_torch(shape, data):
    k = data.draw(st.integers(1, len(shape)))
    amounts = []
    for axis in range(len(shape) - 1, len(shape) - 1 - k, -1):
        lo = data.draw(st.integers(-(shape[axis] // 2), 3))
        amounts += [lo, data.draw(st.integers(-(shape[axis] // 2), 3))]
    value = data.draw(st.sampled_from([0.0, -1.5]))
    r = np.random.default_rng(len(shape))
    x = r.standard_normal(shape)
    xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.pad(xt, amounts, value=value), torch.nn.functional.pad(tx, amounts, value=value)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_array_equal(xt.grad, tx.grad.numpy())


def test_pad_bad_input():
    with pytest.raises(cr.ShapeError, match="pad: expected an even number"):
        F.pad(cr.tensor(np.ones((2, 2))), (1,))
    with pytest.raises(NotImplementedError, match="pad: only mode='constant'"):
        F.pad(cr.tensor(np.ones((2, 2))), (1, 1), mode="reflect")
