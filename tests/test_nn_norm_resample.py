"""BatchNorm2d, GroupNorm, cross_entropy(label_smoothing=), ModuleDict, ConvTranspose2d and
Upsample / F.interpolate (issue 15) against PyTorch: same parameters (PyTorch's state_dict loads
into ours), outputs and every gradient (inputs and parameters, float64) compared over
Hypothesis-drawn shapes and options."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")

ATOL = 1e-9


def load_from_torch(mod, tmod):
    sd = {k: v.detach().numpy().copy() for k, v in tmod.state_dict().items()}
    assert list(mod.state_dict()) == list(sd)
    mod.load_state_dict(sd)


def check_param_grads(mod, tmod, atol=ATOL):
    tparams = dict(tmod.named_parameters())
    assert [n for n, _ in mod.named_parameters()] == list(tparams)
    for name, p in mod.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=atol, err_msg=name)


def pair(a):
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def randomize(tmod, r, scale=0.5):
    with torch.no_grad():
        for p in tmod.parameters():
            p.add_(torch.tensor(r.standard_normal(tuple(p.shape)) * scale))


# -- BatchNorm2d ---------------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 3), W=st.integers(1, 3),
       affine=st.booleans(), track=st.booleans(), momentum=st.sampled_from([0.1, 0.5, None]),
       seed=st.integers(0, 10**6))
def test_batchnorm2d_matches_torch(N, C, H, W, affine, track, momentum, seed):
    if N * H * W == 1:
        N = 2   # training needs more than one value per channel (both libraries refuse)
    r = np.random.default_rng(seed)
    bn = nn.BatchNorm2d(C, momentum=momentum, affine=affine, track_running_stats=track, dtype=np.float64)
    tbn = torch.nn.BatchNorm2d(C, momentum=momentum, affine=affine, track_running_stats=track, dtype=torch.float64)
    randomize(tbn, r)
    load_from_torch(bn, tbn)
    for _ in range(3):   # running statistics over a few batches, then eval
        x, tx = pair(r.standard_normal((N, C, H, W)) * 2 + 1)
        y, ty = bn(x), tbn(tx)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
        u = r.standard_normal(y.shape)
        y.backward(u)
        ty.backward(torch.tensor(u))
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)
    if affine:
        check_param_grads(bn, tbn)
    for k, v in tbn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k], v.numpy(), atol=1e-12, err_msg=k)
    bn.eval()
    tbn.eval()
    x, tx = pair(r.standard_normal((N, C, H, W)))
    y, ty = bn(x), tbn(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    y.backward(np.ones(y.shape))
    ty.backward(torch.ones(ty.shape, dtype=torch.float64))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)


def test_batchnorm2d_bad_input():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected input \(N, 3, H, W\), got \(2, 3\)"):
        bn(cr.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected input \(N, 3, H, W\), got \(2, 4, 1, 1\)"):
        bn(cr.tensor(np.zeros((2, 4, 1, 1))))
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel"):
        bn(cr.tensor(np.zeros((1, 3, 1, 1))))


# -- GroupNorm -------------------------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(N=st.integers(1, 3), groups=st.integers(1, 3), per=st.integers(1, 3),
       spatial=st.lists(st.integers(1, 3), max_size=2), affine=st.booleans(), seed=st.integers(0, 10**6))
def test_groupnorm_matches_torch(N, groups, per, spatial, affine, seed):
    r = np.random.default_rng(seed)
    C = groups * per
    if per * int(np.prod(spatial)) == 1:
        spatial = [2]   # a group of one value has zero variance (the gradient is then all rounding)
    gn = nn.GroupNorm(groups, C, affine=affine, dtype=np.float64)
    tgn = torch.nn.GroupNorm(groups, C, affine=affine, dtype=torch.float64)
    randomize(tgn, r)
    load_from_torch(gn, tgn)
    x, tx = pair(r.standard_normal((N, C) + tuple(spatial)))
    y, ty = gn(x), tgn(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)
    if affine:
        check_param_grads(gn, tgn)


def test_groupnorm_bad_input():
    with pytest.raises(ValueError, match="GroupNorm: num_channels 5 must be divisible by num_groups 2"):
        nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input \(N, 4, ...\), got \(3, 6\)"):
        nn.GroupNorm(2, 4)(cr.tensor(np.zeros((3, 6))))
    with pytest.raises(cr.ShapeError, match="group_norm: input of shape .* divisible by num_groups 4"):
        F.group_norm(cr.tensor(np.zeros((2, 6))), 4)


# -- cross_entropy(label_smoothing=) ----------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 4), C=st.integers(2, 4), extra=st.lists(st.integers(1, 2), max_size=1),
       eps=st.sampled_from([0.0, 0.1, 0.35, 1.0]), reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans(), ignore=st.booleans(), probs=st.booleans(), seed=st.integers(0, 10**6))
def test_cross_entropy_label_smoothing_matches_torch(N, C, extra, eps, reduction, weighted, ignore, probs, seed):
    r = np.random.default_rng(seed)
    shape = (N, C) + tuple(extra)
    x, tx = pair(r.standard_normal(shape) * 2)
    w = r.uniform(0.5, 2.0, C) if weighted else None
    kw = dict(weight=None if w is None else w, reduction=reduction, label_smoothing=eps)
    tkw = dict(kw, weight=None if w is None else torch.tensor(w))
    if probs:
        t = r.dirichlet(np.ones(C), size=(N,) + tuple(extra))
        t = np.moveaxis(t, -1, 1)
        target, ttarget = t, torch.tensor(t)
    else:
        t = r.integers(0, C, size=(N,) + tuple(extra))
        if ignore and t.size > 1:   # (with every sample ignored, a mean is 0/0 in both libraries)
            t.flat[0] = -100
        target, ttarget = t, torch.tensor(t)
    y = F.cross_entropy(x, target, **kw)
    ty = torch.nn.functional.cross_entropy(tx, ttarget, **tkw)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape) if reduction == "none" else np.array(1.0)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)
    loss = nn.CrossEntropyLoss(**kw)(cr.tensor(x.data), target)
    np.testing.assert_allclose(loss.data, y.data, atol=1e-12)


@pytest.mark.parametrize("weighted,ignore", [(False, False), (True, False), (False, True), (True, True)])
def test_label_smoothing_mean_normalizes_as_torch(weighted, ignore):
    """mean divides the smoothing term by the summed weights of the kept samples, as the main term."""
    r = np.random.default_rng(11)
    x, tx = pair(r.standard_normal((5, 4)))
    t = np.array([0, 3, 1, 1, 2])
    if ignore:
        t[1] = -100
    w = r.uniform(0.2, 3.0, 4) if weighted else None
    y = F.cross_entropy(x, t, weight=w, label_smoothing=0.3)
    ty = torch.nn.functional.cross_entropy(tx, torch.tensor(t), weight=None if w is None else torch.tensor(w),
                                           label_smoothing=0.3)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-12)
    y.backward()
    ty.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=1e-12)


def test_label_smoothing_bad_value():
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(cr.tensor(np.zeros((2, 3))), np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=-0.1)


# -- ModuleDict --------------------------------------------------------------------------------------------

def test_moduledict_matches_torch_keys_and_behaves_as_a_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    td = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 3), "dec": torch.nn.Linear(3, 2)})
    assert list(d.state_dict()) == list(td.state_dict())
    load_from_torch(d, td)
    x = np.ones((1, 2), dtype=np.float32)
    np.testing.assert_allclose(d["dec"](d["enc"](x)).data, td["dec"](td["enc"](torch.tensor(x))).detach().numpy(),
                               rtol=1e-6)
    d["act"] = nn.ReLU()
    assert list(d) == ["enc", "dec", "act"] and len(d) == 3 and "act" in d and "x" not in d
    assert [k for k, _ in d.items()] == d.keys() and d.values()[0] is d["enc"]
    assert isinstance(d.pop("dec"), nn.Linear) and list(d) == ["enc", "act"]
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias"]
    with pytest.raises(KeyError):
        d["dec"]
    with pytest.raises(TypeError, match="ModuleDict: item 'w' is a int, not a Module"):
        d["w"] = 3
    with pytest.raises(KeyError, match="ModuleDict: key 'train' is the name of a Module attribute"):
        d["train"] = nn.ReLU()
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []


# -- ConvTranspose2d ---------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 2), groups=st.integers(1, 2), cin=st.integers(1, 2), cout=st.integers(1, 2),
       H=st.integers(1, 4), W=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), data=st.data(), bias=st.booleans(), seed=st.integers(0, 10**6))
def test_conv_transpose2d_matches_torch(N, groups, cin, cout, H, W, kh, kw, sh, sw, data, bias, seed):
    ph, pw = data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kw - 1))
    oph, opw = data.draw(st.integers(0, sh - 1)), data.draw(st.integers(0, sw - 1))
    if (H - 1) * sh - 2 * ph + kh + oph < 1 or (W - 1) * sw - 2 * pw + kw + opw < 1:
        ph = pw = 0   # no output left
    r = np.random.default_rng(seed)
    Cin, Cout = cin * groups, cout * groups
    args = dict(stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw), groups=groups, bias=bias)
    m = nn.ConvTranspose2d(Cin, Cout, (kh, kw), dtype=np.float64, **args)
    tm = torch.nn.ConvTranspose2d(Cin, Cout, (kh, kw), dtype=torch.float64, **args)
    load_from_torch(m, tm)
    x, tx = pair(r.standard_normal((N, Cin, H, W)))
    y, ty = m(x), tm(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)
    check_param_grads(m, tm)


def test_conv_transpose2d_gradcheck_and_errors():
    r = np.random.default_rng(0)
    x, w, b = r.standard_normal((1, 2, 3, 2)), r.standard_normal((2, 3, 2, 2)), r.standard_normal(3)
    assert cr.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                        (x, w, b))
    m = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert m.weight.shape == (4, 3, 3, 3)
    with pytest.raises(cr.ShapeError, match=r"conv_transpose2d: input of shape \(1, 3, 2, 2\) has 3 channels"):
        m(cr.tensor(np.zeros((1, 3, 2, 2), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) smaller than the stride"):
        F.conv_transpose2d(cr.tensor(x), w, stride=2, output_padding=2)
    with pytest.raises(NotImplementedError, match="conv_transpose2d: only dilation=1"):
        F.conv_transpose2d(cr.tensor(x), w, dilation=2)
    with pytest.raises(ValueError, match="groups 4 must divide in_channels 2"):
        nn.ConvTranspose2d(2, 4, 3, groups=4)
    with pytest.raises(NotImplementedError, match="ConvTranspose2d: only dilation=1 is supported, got 2"):
        nn.ConvTranspose2d(2, 4, 3, dilation=2)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>: the two are transposes of one linear map."""
    r = np.random.default_rng(3)
    x, w = r.standard_normal((2, 3, 7, 6)), r.standard_normal((4, 3, 3, 2))
    y = r.standard_normal(F.conv2d(cr.tensor(x), cr.tensor(w), stride=2, padding=1).shape)
    lhs = np.sum(F.conv2d(cr.tensor(x), cr.tensor(w), stride=2, padding=1).data * y)
    xt = F.conv_transpose2d(cr.tensor(y), cr.tensor(w), stride=2, padding=1).data
    assert xt.shape == x.shape
    np.testing.assert_allclose(lhs, np.sum(x * xt), rtol=1e-12)


# -- Upsample / F.interpolate -------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(1, 5), W=st.integers(1, 5),
       mode=st.sampled_from(["nearest", "bilinear", "bilinear-ac"]), by_size=st.booleans(), data=st.data(),
       seed=st.integers(0, 10**6))
def test_interpolate_2d_matches_torch(N, C, H, W, mode, by_size, data, seed):
    r = np.random.default_rng(seed)
    align = True if mode == "bilinear-ac" else (False if mode == "bilinear" else None)
    mode = mode.split("-")[0]
    if by_size:
        kw = dict(size=(data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))))
    else:
        kw = dict(scale_factor=data.draw(st.sampled_from([0.5, 1.5, 2.0, 3.0, (2.0, 0.75)])))
        if min(int(H * np.atleast_1d(kw["scale_factor"])[0]), int(W * np.atleast_1d(kw["scale_factor"])[-1])) < 1:
            kw = dict(scale_factor=2.0)
    x, tx = pair(r.standard_normal((N, C, H, W)))
    up = nn.Upsample(mode=mode, align_corners=align, **kw)
    tup = torch.nn.Upsample(mode=mode, align_corners=align, **kw)
    y, ty = up(x), tup(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("linear", False), ("linear", True)])
@pytest.mark.parametrize("size", [1, 3, 7, 10])
def test_interpolate_1d_matches_torch(mode, align, size):
    x, tx = pair(np.random.default_rng(size).standard_normal((2, 3, 4)))
    y = F.interpolate(x, size=size, mode=mode, align_corners=align)
    ty = torch.nn.functional.interpolate(tx, size=size, mode=mode, align_corners=align)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    y.backward(np.arange(y.data.size, dtype=float).reshape(y.shape))
    ty.backward(torch.arange(ty.numel(), dtype=torch.float64).reshape(ty.shape))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)


def test_interpolate_bad_input():
    x = cr.tensor(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(NotImplementedError, match="interpolate: mode must be"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(cr.ShapeError, match=r"interpolate: mode 'linear' expects input of shape \(N, C, L\)"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match="interpolate: align_corners applies only to the linear modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: output size \(0, 0\) must be positive"):
        F.interpolate(x, scale_factor=0.25)
