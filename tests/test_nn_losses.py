"""cr.nn.functional: every loss against PyTorch (values and gradients, extreme inputs, every reduction),
fused losses against their composite twins, activations, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import ops
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def rng(seed=0):
    return np.random.default_rng(seed)


def against_torch(cr_fn, torch_fn, arrays, grad=None, atol=1e-10, rtol=1e-7):
    """Value and gradients of cr_fn(*tensors) and torch_fn(*tensors) on the same float64 arrays."""
    grad = range(len(arrays)) if grad is None else grad
    ct = [cr.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    tt = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    out, tout = cr_fn(*ct), torch_fn(*tt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol, rtol=rtol, err_msg="value")
    assert np.all(np.isfinite(out.data))
    u = rng(7).standard_normal(out.shape)
    out.backward(u)
    tout.backward(torch.tensor(u))
    for i in grad:
        assert np.all(np.isfinite(ct[i].grad)), f"non-finite gradient of input {i}"
        np.testing.assert_allclose(ct[i].grad, tt[i].grad.numpy(), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i}")
    return out


# -- cross-entropy ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6])
def test_cross_entropy_vs_torch(reduction, scale):
    x = rng().standard_normal((6, 5)) * scale
    t = np.array([0, 4, 2, 2, 1, 3])
    against_torch(lambda x: F.cross_entropy(x, t, reduction=reduction),
                  lambda x: TF.cross_entropy(x, torch.tensor(t), reduction=reduction), [x], atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weight_ignore_index_spatial(reduction):
    x = rng(1).standard_normal((3, 4, 2, 2))
    t = rng(2).integers(0, 4, size=(3, 2, 2))
    t[0, 0, 1] = -100
    w = np.array([1.0, 0.5, 2.0, 3.0])
    against_torch(lambda x: F.cross_entropy(x, t, weight=w, reduction=reduction),
                  lambda x: TF.cross_entropy(x, torch.tensor(t), weight=torch.tensor(w), reduction=reduction), [x])
    t2 = np.array([1, 3, 3])
    against_torch(lambda x: F.cross_entropy(x, cr.tensor(t2), ignore_index=3, reduction=reduction),
                  lambda x: TF.cross_entropy(x, torch.tensor(t2), ignore_index=3, reduction=reduction),
                  [x[:, :, 0, 0]])


def test_cross_entropy_probability_targets_and_single_sample():
    x = rng(3).standard_normal((4, 3))
    p = rng(4).dirichlet(np.ones(3), size=4)
    against_torch(lambda x: F.cross_entropy(x, p), lambda x: TF.cross_entropy(x, torch.tensor(p)), [x])
    against_torch(lambda x: F.cross_entropy(x, 2), lambda x: TF.cross_entropy(x, torch.tensor(2)), [x[0]])


def test_cross_entropy_is_its_composite_twin():
    x = rng(5).standard_normal((5, 4))
    t = [3, 0, 1, 1, 2]
    a, b = cr.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    fused = F.cross_entropy(a, t)
    twin = F.nll_loss(F.log_softmax(b, dim=1), t)
    assert fused._node.prim.name == "cross_entropy"
    np.testing.assert_allclose(fused.data, twin.data, atol=1e-14)
    fused.backward()
    twin.backward()
    np.testing.assert_allclose(a.grad, b.grad, atol=1e-14)


def test_cross_entropy_float32_and_target_kinds():
    x = rng().standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 1])
    for target in (t, t.tolist(), cr.tensor(t), t.astype(np.int32)):
        xt = cr.tensor(x, requires_grad=True)
        loss = F.cross_entropy(xt, target)
        loss.backward()
        assert loss.dtype == np.float32 and xt.grad.dtype == np.float32
    ref = TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item()
    assert float(loss.item()) == pytest.approx(ref, rel=1e-6)


def test_cross_entropy_bad_targets():
    x = cr.tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=r"cross_entropy.*\[-1, 7\].*4 classes"):
        F.cross_entropy(x, [7, -1, 0])
    with pytest.raises(cr.ShapeError, match="cross_entropy.*targets of shape"):
        F.cross_entropy(x, [1, 2])
    with pytest.raises(TypeError, match="cross_entropy.*integers"):
        F.cross_entropy(x, [0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, [0, 1, 2], reduction="avg")
    with pytest.raises(IndexError, match="nll_loss.*out of range"):
        F.nll_loss(x, [4, 0, 0])
    with pytest.raises(IndexError, match="multi_margin_loss.*out of range"):
        F.multi_margin_loss(x, [0, 0, 9])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_vs_torch(reduction):
    x = rng(6).standard_normal((5, 3))
    t = np.array([0, 2, 1, 1, -100])
    w = np.array([0.2, 1.0, 3.0])
    against_torch(lambda x: F.nll_loss(x, t, weight=w, reduction=reduction),
                  lambda x: TF.nll_loss(x, torch.tensor(t), weight=torch.tensor(w), reduction=reduction), [x])


# -- binary cross-entropy ---------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_vs_torch(reduction):
    p = rng(7).uniform(0.01, 0.99, size=(4, 3))
    t = rng(8).uniform(0, 1, size=(4, 3))
    w = rng(9).uniform(0.5, 2, size=(3,))
    against_torch(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
                  lambda p, t: TF.binary_cross_entropy(p, t, reduction=reduction), [p, t])
    against_torch(lambda p: F.binary_cross_entropy(p, t, weight=w, reduction=reduction),
                  lambda p: TF.binary_cross_entropy(p, torch.tensor(t), weight=torch.tensor(w), reduction=reduction),
                  [p])


def test_binary_cross_entropy_extreme_probabilities():
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 1 - 1e-16])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    against_torch(lambda p: F.binary_cross_entropy(p, t, reduction="none"),
                  lambda p: TF.binary_cross_entropy(p, torch.tensor(t), reduction="none"), [p], rtol=1e-6)
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*\[0, 1\]"):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), [0.0, 1.0])
    with pytest.raises(cr.ShapeError, match="binary_cross_entropy"):
        F.binary_cross_entropy(cr.tensor([0.5, 0.5]), [0.0, 1.0, 1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_vs_torch(reduction):
    x = rng(10).standard_normal((4, 3)) * 3
    t = rng(11).uniform(0, 1, size=(4, 3))
    pw = np.array([0.5, 1.0, 4.0])
    w = rng(12).uniform(0.5, 2, size=(4, 1))
    against_torch(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
                  lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction), [x, t])
    against_torch(lambda x: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction),
                  lambda x: TF.binary_cross_entropy_with_logits(x, torch.tensor(t), weight=torch.tensor(w),
                                                                pos_weight=torch.tensor(pw), reduction=reduction),
                  [x])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_finite_at_1000(dtype):
    x = np.array([-1000.0, 1000.0, -1000.0, 1000.0, 0.0], dtype=dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    xt = cr.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(xt, t, reduction="none")
    loss.sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tl = TF.binary_cross_entropy_with_logits(tx, torch.tensor(t), reduction="none")
    tl.sum().backward()
    assert np.all(np.isfinite(loss.data)) and np.all(np.isfinite(xt.grad))
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-6)
    assert xt.grad.dtype == dtype


def test_bce_twins():
    """The fused binary losses equal their composites (sigmoid + clamped logs) where both are finite."""
    x = rng(13).standard_normal(6) * 2
    t = rng(14).uniform(0, 1, 6)
    a, b, c = (cr.tensor(x, requires_grad=True) for _ in range(3))
    fused = F.binary_cross_entropy_with_logits(a, t)
    p = ops.sigmoid_composite(b)
    twin = -ops.mean(t * ops.log(p) + (1 - t) * ops.log(1 - p))
    via_probs = F.binary_cross_entropy(cr.sigmoid(c), t)
    for other in (twin, via_probs):
        np.testing.assert_allclose(fused.data, other.data, rtol=1e-12)
    fused.backward()
    twin.backward()
    via_probs.backward()
    np.testing.assert_allclose(a.grad, b.grad, atol=1e-14)
    np.testing.assert_allclose(a.grad, c.grad, atol=1e-14)


def test_linear_is_its_composite_twin():
    x, W, bias = rng(15).standard_normal((4, 3)), rng(16).standard_normal((2, 3)), rng(17).standard_normal(2)
    ts1 = [cr.tensor(v, requires_grad=True) for v in (x, W, bias)]
    ts2 = [cr.tensor(v, requires_grad=True) for v in (x, W, bias)]
    y1 = F.linear(*ts1)
    y2 = ts2[0] @ ts2[1].T + ts2[2]
    assert y1._node.prim.name == "linear"
    np.testing.assert_allclose(y1.data, y2.data, atol=1e-14)
    (y1 * y1).sum().backward()
    (y2 * y2).sum().backward()
    for p, q in zip(ts1, ts2):
        np.testing.assert_allclose(p.grad, q.grad, atol=1e-13)
    with pytest.raises(cr.ShapeError, match=r"linear.*\(4, 2\).*\(2, 3\)"):
        F.linear(cr.tensor(np.zeros((4, 2))), ts1[1])


# -- regression losses ------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1_vs_torch(reduction):
    x, y = rng(18).standard_normal((3, 4)), rng(19).standard_normal((3, 4))
    against_torch(lambda x, y: F.mse_loss(x, y, reduction=reduction),
                  lambda x, y: TF.mse_loss(x, y, reduction=reduction), [x, y])
    against_torch(lambda x: F.mse_loss(x, y.tolist(), reduction=reduction),
                  lambda x: TF.mse_loss(x, torch.tensor(y), reduction=reduction), [x * 1e6])
    against_torch(lambda x, y: F.l1_loss(x, y, reduction=reduction),
                  lambda x, y: TF.l1_loss(x, y, reduction=reduction), [x, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_vs_torch(reduction, var_shape, full):
    x, y = rng(20).standard_normal((4, 3)), rng(21).standard_normal((4, 3))
    var = rng(22).uniform(0.1, 2.0, size=var_shape)
    var.flat[0] = 1e-9  # below eps: clamped in the value, gradient passes through as in PyTorch
    against_torch(lambda x, y, v: F.gaussian_nll_loss(x, y, v, full=full, reduction=reduction),
                  lambda x, y, v: TF.gaussian_nll_loss(x, y, v, full=full, reduction=reduction), [x, y, var],
                  rtol=1e-6)


def test_gaussian_nll_errors():
    x = cr.tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, np.zeros((4, 3)), -np.ones((4, 3)))
    with pytest.raises(cr.ShapeError, match="gaussian_nll_loss"):
        F.gaussian_nll_loss(x, np.zeros((4, 3)), np.ones((4, 2)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 0.5)])
def test_multi_margin_vs_torch(reduction, p, margin):
    x = rng(23).standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    against_torch(lambda x: F.multi_margin_loss(x, t, p=p, margin=margin, reduction=reduction),
                  lambda x: TF.multi_margin_loss(x, torch.tensor(t), p=p, margin=margin, reduction=reduction), [x])
    against_torch(lambda x: F.multi_margin_loss(x, t, weight=w, reduction=reduction),
                  lambda x: TF.multi_margin_loss(x, torch.tensor(t), weight=torch.tensor(w), reduction=reduction),
                  [x * 100])


def test_multi_margin_is_the_lecture_svm_loss():
    """CS231n's SVM loss: sum_j max(0, s_j - s_y + 1) over j != y; PyTorch divides by C."""
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    t = np.array([0, 1, 2])
    per = F.multi_margin_loss(cr.tensor(s), t, reduction="none").data * 3
    np.testing.assert_allclose(per, [2.9, 0.0, 12.9], atol=1e-12)


# -- mixture density, KL, penalties -------------------------------------------------------------------------

def _torch_mixture(logits, means, log_stds, target, per_dim):
    D = torch.distributions
    comp = D.Normal(means, log_stds.exp())
    if per_dim:
        comp = D.Independent(comp, 1)
    return -D.MixtureSameFamily(D.Categorical(logits=logits), comp).log_prob(target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("D", [None, 2])
def test_gaussian_mixture_nll_vs_torch(reduction, D):
    N, K = 4, 3
    r = rng(24)
    shape = (N, K) if D is None else (N, K, D)
    logits, means = r.standard_normal((N, K)) * 2, r.standard_normal(shape)
    log_stds = r.uniform(-1, 0.5, size=shape)
    y = r.standard_normal((N,) if D is None else (N, D))

    def torch_fn(l, m, s, y):
        out = _torch_mixture(l, m, s, y, D is not None)
        return {"mean": out.mean(), "sum": out.sum(), "none": out}[reduction]

    against_torch(lambda l, m, s, y: F.gaussian_mixture_nll(l, m, s, y, reduction=reduction), torch_fn,
                  [logits, means, log_stds, y], rtol=1e-6)


def test_gaussian_mixture_nll_extreme():
    """Far-away targets and sharp components: logsumexp keeps it finite where the density underflows."""
    logits = np.array([[50.0, -50.0, 0.0]])
    means = np.array([[[0.0], [1.0], [-1.0]]])
    log_stds = np.array([[[-5.0], [-5.0], [-5.0]]])
    y = np.array([[30.0]])
    out = against_torch(lambda l, m, s, y: F.gaussian_mixture_nll(l, m, s, y),
                        lambda l, m, s, y: _torch_mixture(l, m, s, y, True).mean(), [logits, means, log_stds, y],
                        rtol=1e-6)
    assert out.item() > 1e6  # exp(-nll) underflows to 0: a naive log(sum(pdf)) gives inf
    with pytest.raises(cr.ShapeError, match="gaussian_mixture_nll"):
        F.gaussian_mixture_nll(cr.tensor(logits), means, log_stds, np.zeros((1, 2)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_kl_vs_torch(reduction):
    mu, logvar = rng(25).standard_normal((4, 3)), rng(26).standard_normal((4, 3))

    def torch_fn(m, lv):
        D = torch.distributions
        q = D.Independent(D.Normal(m, (0.5 * lv).exp()), 1)
        p = D.Independent(D.Normal(torch.zeros_like(m), torch.ones_like(m)), 1)
        kl = D.kl_divergence(q, p)
        return {"mean": kl.mean(), "sum": kl.sum(), "none": kl}[reduction]

    against_torch(lambda m, lv: F.gaussian_kl(m, lv, reduction=reduction), torch_fn, [mu, logvar])


def test_penalties():
    a, b = rng(27).standard_normal((3, 2)), rng(28).standard_normal(4)
    against_torch(lambda a, b: F.l2_penalty([a, b]), lambda a, b: (a * a).sum() + (b * b).sum(), [a, b])
    against_torch(lambda a, b: F.l1_penalty([a, b]), lambda a, b: a.abs().sum() + b.abs().sum(), [a, b])
    m = cr.nn.Linear(3, 2)
    expect = sum(float((p.data.astype(np.float64) ** 2).sum()) for p in m.parameters())
    assert F.l2_penalty(m).item() == pytest.approx(expect, rel=1e-6)
    w = cr.tensor(a, requires_grad=True)
    (0.5 * F.l2_penalty(w)).backward()
    np.testing.assert_allclose(w.grad, a)   # CS231n: d/dW of 0.5 * reg * sum W^2 is reg * W


# -- activations ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cr_fn, torch_fn", [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
    ("softmax_dim", lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0)),
    ("softmax_axis", lambda x: F.softmax(x, axis=1), lambda x: TF.softmax(x, dim=1)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=1), lambda x: TF.log_softmax(x, dim=1)),
    ("softplus", F.softplus, TF.softplus),
    ("elu", F.elu, TF.elu),
    ("silu", F.silu, TF.silu),
])
@pytest.mark.parametrize("scale", [1.0, 500.0])
def test_activations_vs_torch(name, cr_fn, torch_fn, scale):
    x = rng(29).standard_normal((3, 4)) * scale + 0.01
    against_torch(cr_fn, torch_fn, [x], rtol=1e-6)


def test_softmax_dim_and_axis_conflict():
    x = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="softmax.*dim or axis"):
        F.softmax(x, dim=0, axis=1)
    np.testing.assert_allclose(cr.nn.Softmax(dim=0)(x).data, 0.5)


def test_targets_take_the_input_dtype():
    x = cr.tensor(rng().standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    int_target = cr.tensor(np.array([[0, 1], [1, 0], [1, 1]]))
    for loss in (F.mse_loss(x, int_target), F.l1_loss(x, int_target.data),
                 F.binary_cross_entropy_with_logits(x, int_target), F.binary_cross_entropy(F.sigmoid(x), [[0, 1]] * 3),
                 F.gaussian_nll_loss(x, int_target, np.ones((3, 2)))):
        assert loss.dtype == np.float32
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32


def test_elu_and_leaky_relu_at_zero_match_torch():
    x = np.array([-1.0, 0.0, 1.0])
    against_torch(F.elu, TF.elu, [x])
    against_torch(lambda x: F.leaky_relu(x, 0.3), lambda x: TF.leaky_relu(x, 0.3), [x])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 6), log_scale=st.floats(-2, 4), seed=st.integers(0, 10**6),
       reduction=st.sampled_from(REDUCTIONS), dtype=st.sampled_from([np.float64, np.float32]))
def test_cross_entropy_any_shape_and_scale_vs_torch(n, c, log_scale, seed, reduction, dtype):
    r = rng(seed)
    x = (r.standard_normal((n, c)) * 10 ** log_scale).astype(dtype)
    t = r.integers(0, c, n)
    xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, t, reduction=reduction)
    tl = TF.cross_entropy(tx, torch.tensor(t), reduction=reduction)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=tol, atol=tol * max(1, 10 ** log_scale))
    u = r.standard_normal(loss.shape).astype(dtype)
    loss.backward(u)
    tl.backward(torch.tensor(u))
    assert xt.grad.dtype == dtype and np.all(np.isfinite(xt.grad))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_single_sample_inputs_vs_torch(reduction):
    x = rng(30).standard_normal(4)
    for cr_fn, torch_fn in ((F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss),
                            (F.multi_margin_loss, TF.multi_margin_loss)):
        against_torch(lambda x, f=cr_fn: f(x, 2, reduction=reduction),
                      lambda x, f=torch_fn: f(x, torch.tensor(2), reduction=reduction), [x])


def test_cross_entropy_backward_after_check_graph_reran_its_forward():
    # the fused rule reuses the forward's exponentials only for the very input it saw: check_graph
    # re-runs the forward on perturbed copies, and the real backward must not pick those up
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    t = np.array([0, 3, 1, 2, 3])
    loss = F.cross_entropy(x * 2.0, t)
    assert cr.check_graph(loss).ok
    loss.backward()
    z = 2.0 * x.data
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(5), t] -= 1
    np.testing.assert_allclose(x.grad, 2.0 * p / 5, rtol=1e-12)
