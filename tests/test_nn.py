"""cr.nn: Module and Parameter, layers (gradchecked in float64), and PyTorch parity for layers."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.debug import numerical_gradient
from chainrule.nn import functional as F


def rng(seed=0):
    return np.random.default_rng(seed)


def gradcheck_module(module, x, tol=1e-6):
    """Every parameter's and the input's gradient against central differences (float64)."""
    module.double()
    u = rng(9).standard_normal(module(cr.tensor(x)).shape)

    def loss_of_input(xv):
        return float(np.sum(u * module(cr.tensor(xv)).data))

    xt = cr.tensor(x, requires_grad=True)
    module.zero_grad()
    module(xt).backward(u)
    np.testing.assert_allclose(xt.grad, numerical_gradient(loss_of_input, x), atol=tol, rtol=1e-5)
    for name, p in module.named_parameters():
        saved = p._data.copy()

        def loss_of_param(v, p=p):
            p.data = v
            return float(np.sum(u * module(cr.tensor(x)).data))

        num = numerical_gradient(loss_of_param, saved)
        p.data = saved
        assert p.grad is not None, f"{name} got no gradient"
        np.testing.assert_allclose(p.grad, num, atol=tol, rtol=1e-5, err_msg=name)


# -- Module -----------------------------------------------------------------------------------------

class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(5, 3)
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_parameters_found_by_attribute_in_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"] or \
        names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "scale"]
    assert len(list(m.parameters())) == 5
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert isinstance(m.fc1.weight, cr.Tensor)
    assert m.fc1.weight.shape == (5, 4) and m.fc1.weight.dtype == np.float32


def test_sequential_names_and_indexing():
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(m) == 3 and isinstance(m[1], nn.Tanh)
    assert isinstance(m[:2], nn.Sequential) and len(m[:2]) == 2
    with pytest.raises(TypeError, match="Sequential"):
        nn.Sequential(nn.Linear(2, 2), "relu")


def test_train_eval_and_zero_grad():
    m = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    assert m.training and m[1].training
    m.eval()
    assert not m.training and not m[1].training
    m.train()
    assert m[1].training
    F.cross_entropy(m(cr.tensor(np.ones((2, 3), np.float32))), [0, 1]).backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_and_refusals():
    a, b = TwoLayer(), TwoLayer()
    b.load_state_dict(a.state_dict())
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)
    sd = dict(a.state_dict())
    del sd["fc1.bias"]
    sd["extra.weight"] = np.zeros(2)
    sd["fc2.weight"] = np.zeros((3, 7))
    with pytest.raises(KeyError) as e:
        b.load_state_dict(sd)
    msg = str(e.value)
    assert "fc1.bias" in msg and "extra.weight" in msg and "fc2.weight" in msg and "(3, 7)" in msg
    with pytest.raises(KeyError, match="fc1.bias"):  # a missing key alone is refused too
        sd = dict(a.state_dict())
        sd.pop("fc1.bias")
        b.load_state_dict(sd)


def test_load_state_dict_copies():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    b.weight.data[...] = 7
    assert not np.any(a.weight.data == 7)


def test_buffers_are_in_state_dict():
    bn = nn.BatchNorm1d(3)
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    bn(cr.tensor(rng().standard_normal((5, 3)).astype(np.float32)))
    bn2 = nn.BatchNorm1d(3)
    bn2.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(bn2.running_mean, bn.running_mean)
    assert int(bn2.num_batches_tracked) == 1


def test_module_repr_and_to():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert "Linear(in_features=2, out_features=3" in repr(m)
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())


# -- gradchecks of every layer (float64) ---------------------------------------------------------------

@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(4, 3), (2, 4)),
    (lambda: nn.Linear(4, 3, bias=False), (2, 4)),
    (lambda: nn.Linear(3, 2), (2, 2, 3)),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.Sigmoid()), (3, 3)),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1), nn.Linear(4, 3), nn.Softmax(dim=1)), (2, 3)),
    (lambda: nn.Sequential(nn.Linear(3, 3), nn.ReLU()), (4, 3)),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Identity(), nn.LogSoftmax(dim=1)), (2, 3)),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), (2, 2, 3)),
    (lambda: nn.BatchNorm1d(3), (5, 3)),
    (lambda: nn.BatchNorm1d(2), (3, 2, 4)),
    (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 4, 4)),
    (lambda: nn.Conv2d(1, 2, (2, 3), stride=2), (1, 1, 5, 6)),
    (lambda: nn.MaxPool2d(2), (1, 2, 4, 4)),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)),
     (2, 1, 6, 6)),
])
def test_layer_gradcheck(make, shape):
    nn.manual_seed(0)
    m = make()
    r = rng(1)
    if any(isinstance(k, nn.MaxPool2d) for k in m.modules()):
        x = r.permutation(int(np.prod(shape))).reshape(shape) * 0.1   # no ties in a pooling window
    else:
        x = r.standard_normal(shape)
    gradcheck_module(m, x)


def test_dropout_train_and_eval():
    nn.manual_seed(0)
    d = nn.Dropout(0.25)
    x = cr.tensor(np.ones((200, 50)), requires_grad=True)
    y = d(x)
    kept = y.data != 0
    assert 0.2 < 1 - kept.mean() < 0.3
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(kept, 1 / 0.75, 0))  # the gradient uses the same mask
    d.eval()
    assert d(x) is x
    assert F.dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(1.5)


def test_batchnorm_matches_torch_train_and_eval():
    torch = pytest.importorskip("torch")
    x = rng(2).standard_normal((6, 3)) * 3 + 1
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    tbn = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        tbn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    bn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})
    xt = cr.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    for _ in range(2):
        y, ty = bn(xt), tbn(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-10)
    u = rng(3).standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(bn.weight.grad, tbn.weight.grad.numpy(), atol=1e-10)
    for k, v in tbn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k], v.numpy(), atol=1e-12, err_msg=k)
    bn.eval()
    tbn.eval()
    np.testing.assert_allclose(bn(cr.tensor(x)).data, tbn(torch.tensor(x)).detach().numpy(), atol=1e-10)


def test_linear_matches_torch_layer():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(5, 3)
    tl = torch.nn.Linear(5, 3)
    lin.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
    x = rng().standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(lin(cr.tensor(x)).data, tl(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_init_ranges():
    nn.manual_seed(3)
    lin = nn.Linear(100, 50)
    b = 1 / np.sqrt(100)
    assert np.abs(lin.weight.data).max() <= b and np.abs(lin.weight.data).max() > 0.9 * b
    w = cr.nn.Parameter(np.zeros((200, 300)))
    nn.init.xavier_uniform_(w)
    a = np.sqrt(6 / 500)
    assert np.abs(w.data).max() <= a and w.data.std() == pytest.approx(a / np.sqrt(3), rel=0.05)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.data.std() == pytest.approx(np.sqrt(2 / 300), rel=0.05)
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= np.sqrt(6 / 200)
    nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh"))
    assert w.data.std() == pytest.approx(5 / 3 * np.sqrt(2 / 500), rel=0.05)
    conv = cr.nn.Parameter(np.zeros((16, 8, 3, 3), dtype=np.float32))
    nn.init.kaiming_normal_(conv)
    assert conv.dtype == np.float32
    assert conv.data.std() == pytest.approx(np.sqrt(2 / (1 + 0.01 ** 2)) / np.sqrt(72), rel=0.1)
    nn.manual_seed(3)
    again = nn.Linear(100, 50)
    np.testing.assert_array_equal(again.weight.data, lin.weight.data)
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.xavier_uniform_(cr.nn.Parameter(np.zeros(3)))


# -- Conv2d and MaxPool2d against torch --------------------------------------------------------------------

@pytest.mark.parametrize("shape, filters, k, stride, pad", [
    ((2, 3, 8, 8), 4, 3, 1, 1),
    ((1, 2, 7, 6), 3, (3, 2), (2, 1), (1, 0)),
    ((2, 1, 5, 5), 2, 5, 1, 0),
    ((1, 2, 7, 6), 3, (3, 5), 1, "same"),
])
def test_conv2d_matches_torch(shape, filters, k, stride, pad):
    torch = pytest.importorskip("torch")
    r = rng(4)
    x = r.standard_normal(shape)
    conv = nn.Conv2d(shape[1], filters, k, stride=stride, padding=pad, dtype=np.float64)
    tconv = torch.nn.Conv2d(shape[1], filters, k, stride=stride, padding=pad, dtype=torch.float64)
    conv.load_state_dict({n: v.detach().numpy() for n, v in tconv.state_dict().items()})
    xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = conv(xt), tconv(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-12)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(conv.weight.grad, tconv.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(conv.bias.grad, tconv.bias.grad.numpy(), atol=1e-12)


def test_conv2d_float32_and_errors():
    x = cr.tensor(rng().standard_normal((2, 3, 5, 5)).astype(np.float32))
    conv = nn.Conv2d(3, 4, 3)
    y = conv(x)
    assert y.shape == (2, 4, 3, 3) and y.dtype == np.float32
    (y * y).sum().backward()
    assert conv.weight.grad.dtype == np.float32
    with pytest.raises(cr.ShapeError, match="conv2d.*channels"):
        nn.Conv2d(2, 4, 3)(x)
    with pytest.raises(cr.ShapeError, match="conv2d.*larger"):
        nn.Conv2d(3, 4, 7)(x)
    same = nn.Conv2d(3, 2, (3, 5), padding="same")(x)
    assert same.shape == (2, 2, 5, 5)
    assert nn.Conv2d(3, 2, 3, padding="valid")(x).shape == (2, 2, 3, 3)
    with pytest.raises(ValueError, match="same"):
        nn.Conv2d(3, 2, 2, padding="same")(x)
    with pytest.raises(cr.ShapeError, match=r"conv2d.*\(N, C, H, W\)"):
        nn.Conv2d(3, 4, 3)(cr.tensor(np.zeros((3, 5, 5))))


@pytest.mark.parametrize("shape, k, stride, pad", [
    ((2, 3, 6, 6), 2, None, 0),
    ((1, 2, 7, 5), 3, 2, 1),
    ((1, 1, 5, 5), (2, 3), (1, 2), 0),
])
def test_max_pool2d_matches_torch(shape, k, stride, pad):
    torch = pytest.importorskip("torch")
    r = rng(5)
    x = r.standard_normal(shape)
    x[0, 0, :2, :2] = 1.5  # a tie: the gradient goes to the first maximum, as in PyTorch
    xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = nn.MaxPool2d(k, stride, pad)(xt)
    ty = torch.nn.functional.max_pool2d(tx, k, stride, pad)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-12)


def test_im2col_matches_a_loop_over_pixels():
    x = rng().standard_normal((2, 2, 5, 4))
    cols = cr.ops.conv.im2col(cr.tensor(x), shape=x.shape, kernel=(3, 2), stride=(2, 1), padding=(1, 1)).data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    assert cols.shape == (2, 2, 3, 2, 3, 5)
    want = np.empty_like(cols)
    for i, j, r, c in np.ndindex(3, 2, 3, 5):
        want[:, :, i, j, r, c] = xp[:, :, 2 * r + i, c + j]
    np.testing.assert_array_equal(cols, want)


def test_fused_conv_and_pool_equal_their_composite_twins():
    r = rng(6)
    x0, w0, b0 = r.standard_normal((2, 3, 6, 5)), r.standard_normal((4, 3, 3, 2)), r.standard_normal(4)
    fused = [cr.tensor(v, requires_grad=True) for v in (x0, w0, b0)]
    twin = [cr.tensor(v, requires_grad=True) for v in (x0, w0, b0)]
    y1 = F.conv2d(*fused, stride=(1, 2), padding=1)
    x, w, b = twin
    cols = cr.ops.conv.im2col(x, shape=x0.shape, kernel=(3, 2), stride=(1, 2), padding=(1, 1))
    N, _, _, _, Ho, Wo = cols.shape
    y2 = cr.reshape(cr.matmul(cr.reshape(w, (4, 18)), cr.reshape(cols, (N, 18, Ho * Wo))), (N, 4, Ho, Wo))
    y2 = y2 + cr.reshape(b, (4, 1, 1))
    assert y1._node.prim.name == "conv2d"
    np.testing.assert_allclose(y1.data, y2.data, atol=1e-13)
    u = r.standard_normal(y1.shape)
    y1.backward(u)
    y2.backward(u)
    for p, q in zip(fused, twin):
        np.testing.assert_allclose(p.grad, q.grad, atol=1e-12)

    xs = r.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) * 0.5
    a, c = cr.tensor(xs, requires_grad=True), cr.tensor(xs, requires_grad=True)
    p1 = F.max_pool2d(a, 3, stride=1)
    windows = cr.ops.conv.im2col(c, shape=xs.shape, kernel=(3, 3), stride=(1, 1), padding=(0, 0))
    p2 = cr.max(cr.reshape(windows, (2, 2, 9, 4, 4)), axis=2)
    np.testing.assert_array_equal(p1.data, p2.data)
    u = r.standard_normal(p1.shape)
    p1.backward(u)
    p2.backward(u)
    np.testing.assert_allclose(a.grad, c.grad, atol=1e-13)


def test_float32_end_to_end_cnn():
    nn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.BatchNorm1d(64), nn.Dropout(0.1), nn.Linear(64, 10), nn.LeakyReLU())
    x = cr.tensor(rng().standard_normal((8, 1, 8, 8)).astype(np.float32))
    out = model(x)
    assert out.dtype == np.float32
    loss = F.cross_entropy(out, np.arange(8) % 10) + 1e-4 * F.l2_penalty(model)
    assert loss.dtype == np.float32
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, name
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    opt.step()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.state_dict()["4.running_mean"].dtype == np.float32


def test_conv_and_pool_second_order():
    """d/dW <v, dL/dx> through conv2d and max_pool2d with create_graph, against finite differences."""
    x0 = rng().standard_normal((1, 1, 4, 4))
    w0 = rng(1).standard_normal((2, 1, 2, 2))
    v = rng(2).standard_normal(x0.shape)

    def input_grad(w, create_graph=False):
        x = cr.tensor(x0, requires_grad=True)
        y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
        (y * y).sum().backward(create_graph=create_graph)
        return x.grad

    w = cr.tensor(w0, requires_grad=True)
    gx = input_grad(w, create_graph=True)
    assert isinstance(gx, cr.Tensor)
    w.grad = None
    (gx * v).sum().backward()
    num = np.zeros_like(w0)
    for k in np.ndindex(w0.shape):
        wp, wm = w0.copy(), w0.copy()
        wp[k] += 1e-6
        wm[k] -= 1e-6
        num[k] = (np.sum(v * input_grad(cr.tensor(wp))) - np.sum(v * input_grad(cr.tensor(wm)))) / 2e-6
    np.testing.assert_allclose(w.grad, num, atol=1e-6)


# -- MLP learns digits ---------------------------------------------------------------------------------------

def test_mlp_learns_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = cr.optim.Adam(model.parameters(), lr=5e-3)
    batch_rng = np.random.default_rng(1)
    for _ in range(8):
        perm = batch_rng.permutation(len(Xtr))
        for s in range(0, len(Xtr), 64):
            idx = perm[s:s + 64]
            loss = F.cross_entropy(model(cr.tensor(Xtr[idx])), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.eval()
    with cr.no_grad():
        pred = model(cr.tensor(Xte)).data.argmax(axis=1)
    acc = (pred == yte).mean()
    assert acc >= 0.95, f"test accuracy {acc:.3f}"


def test_parameters_are_labelled_with_their_path():
    inner = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    m = TwoLayer()
    m.head = inner
    assert inner[0].weight.name == "head.0.weight"
    assert m.fc1.bias.name == "fc1.bias"
    custom = nn.Parameter(np.zeros(2), name="mine")
    m.extra = custom
    assert custom.name == "mine"


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), f=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 1000))
def test_conv2d_and_pool_any_geometry_vs_torch(n, c, f, h, w, kh, kw, sh, sw, ph, pw, seed):
    torch = pytest.importorskip("torch")
    assume(h + 2 * ph >= kh and w + 2 * pw >= kw)
    r = rng(seed)
    x, W, b = r.standard_normal((n, c, h, w)), r.standard_normal((f, c, kh, kw)), r.standard_normal(f)
    ts = [cr.tensor(v, requires_grad=True) for v in (x, W, b)]
    tt = [torch.tensor(v, requires_grad=True) for v in (x, W, b)]
    y = F.conv2d(*ts, stride=(sh, sw), padding=(ph, pw))
    ty = torch.nn.functional.conv2d(*tt, stride=(sh, sw), padding=(ph, pw))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-12)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    for a, t in zip(ts, tt):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), atol=1e-12)
    if ph <= kh // 2 and pw <= kw // 2:
        xt, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        p = F.max_pool2d(xt, (kh, kw), (sh, sw), (ph, pw))
        tp = torch.nn.functional.max_pool2d(tx, (kh, kw), (sh, sw), (ph, pw))
        np.testing.assert_array_equal(p.data, tp.detach().numpy())
        u = r.standard_normal(p.shape)
        p.backward(u)
        tp.backward(torch.tensor(u))
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-12)


def test_module_list_and_setup_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match=r"super\(\).__init__"):
        Bad()

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    s = Stack()
    assert [n for n, _ in s.named_parameters()][:2] == ["blocks.0.weight", "blocks.0.bias"]
    assert len(list(s.parameters())) == 6 and len(s.blocks) == 3
    assert s(cr.tensor(np.ones((1, 2), np.float32))).shape == (1, 2)
    seq = nn.Sequential(nn.Linear(2, 2)).append(nn.ReLU())
    assert len(seq) == 2 and isinstance(seq[-1], nn.ReLU)
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)
