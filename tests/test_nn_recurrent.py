"""RNN, LSTM, GRU and their cells (issue 15) against PyTorch: the same state_dict keys and shapes; a
PyTorch state_dict converted to arrays loads and gives the same outputs and final states, and every
gradient (input, initial states, parameters) agrees in float64, over Hypothesis-drawn shapes and
options. Dropout between layers, bad input, and a numerical gradient check of one step."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

KINDS = ("RNN", "RNN_relu", "LSTM", "GRU")


def _pair(kind, *args, **kw):
    name, extra = (kind, {}) if kind != "RNN_relu" else ("RNN", {"nonlinearity": "relu"})
    ours = getattr(nn, name)(*args, **kw, **extra, dtype=np.float64)
    theirs = getattr(torch.nn, name)(*args, **kw, **extra, dtype=torch.float64)
    return ours, theirs


def _load_from_torch(ours, theirs):
    sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd)
    assert all(ours.state_dict()[k].shape == tuple(v.shape) for k, v in sd.items())
    ours.load_state_dict({k: v.numpy() for k, v in sd.items()})


def _compare_grads(ours, theirs, pairs):
    for a, b, what in pairs:
        np.testing.assert_allclose(a.grad, b.grad.numpy(), atol=1e-10, err_msg=what)
    tp = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(tp)
    for n, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, tp[n].grad.numpy(), atol=1e-10, err_msg=n)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(KINDS), L=st.integers(1, 4), N=st.integers(0, 3), inp=st.integers(1, 3),
       hid=st.integers(1, 3), layers=st.integers(1, 2), bidir=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), with_h0=st.booleans(), seed=st.integers(0, 2**31))
def test_recurrent_layers_match_torch(kind, L, N, inp, hid, layers, bidir, batch_first, bias, with_h0, seed):
    r = np.random.default_rng(seed)
    ours, theirs = _pair(kind, inp, hid, num_layers=layers, bias=bias, batch_first=batch_first,
                         bidirectional=bidir)
    _load_from_torch(ours, theirs)
    rows = layers * (2 if bidir else 1)
    unbatched = N == 0
    xshape = (L, inp) if unbatched else ((N, L, inp) if batch_first else (L, N, inp))
    hshape = (rows, hid) if unbatched else (rows, N, hid)
    x = r.standard_normal(xshape)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    leaves, hx, thx = [(xc, xt, "input")], None, None
    if with_h0:
        hs = [r.standard_normal(hshape) for _ in range(2 if kind == "LSTM" else 1)]
        hc = [cr.tensor(h, requires_grad=True) for h in hs]
        ht = [torch.tensor(h, requires_grad=True) for h in hs]
        leaves += [(a, b, f"state {i}") for i, (a, b) in enumerate(zip(hc, ht))]
        hx, thx = (tuple(hc), tuple(ht)) if kind == "LSTM" else (hc[0], ht[0])
    y, h = ours(xc, hx)
    ty, th = theirs(xt, thx)
    hs_ours = list(h) if kind == "LSTM" else [h]
    hs_theirs = list(th) if kind == "LSTM" else [th]
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-12)
    for a, b in zip(hs_ours, hs_theirs):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)
    # one upstream gradient per output, so every path (output and final states) is checked
    ups = [r.standard_normal(t.shape) for t in [y] + hs_ours]
    loss = sum((t * u).sum() for t, u in zip([y] + hs_ours, ups))
    tloss = sum((t * torch.tensor(u)).sum() for t, u in zip([ty] + hs_theirs, ups))
    loss.backward()
    tloss.backward()
    _compare_grads(ours, theirs, leaves)


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(KINDS), N=st.integers(0, 3), inp=st.integers(1, 4), hid=st.integers(1, 4),
       bias=st.booleans(), with_h=st.booleans(), seed=st.integers(0, 2**31))
def test_cells_match_torch(kind, N, inp, hid, bias, with_h, seed):
    r = np.random.default_rng(seed)
    name, extra = (kind, {}) if kind != "RNN_relu" else ("RNN", {"nonlinearity": "relu"})
    ours = getattr(nn, name + "Cell")(inp, hid, bias=bias, **extra, dtype=np.float64)
    theirs = getattr(torch.nn, name + "Cell")(inp, hid, bias=bias, **extra, dtype=torch.float64)
    _load_from_torch(ours, theirs)
    lead = () if N == 0 else (N,)
    x = r.standard_normal(lead + (inp,))
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    leaves, hx, thx = [(xc, xt, "input")], None, None
    if with_h:
        hs = [r.standard_normal(lead + (hid,)) for _ in range(2 if kind == "LSTM" else 1)]
        hc = [cr.tensor(h, requires_grad=True) for h in hs]
        ht = [torch.tensor(h, requires_grad=True) for h in hs]
        leaves += [(a, b, f"state {i}") for i, (a, b) in enumerate(zip(hc, ht))]
        hx, thx = (tuple(hc), tuple(ht)) if kind == "LSTM" else (hc[0], ht[0])
    out, tout = ours(xc, hx), theirs(xt, thx)
    outs = list(out) if kind == "LSTM" else [out]
    touts = list(tout) if kind == "LSTM" else [tout]
    for a, b in zip(outs, touts):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)
    ups = [r.standard_normal(t.shape) for t in outs]
    sum((t * u).sum() for t, u in zip(outs, ups)).backward()
    sum((t * torch.tensor(u)).sum() for t, u in zip(touts, ups)).backward()
    _compare_grads(ours, theirs, leaves)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers(kind):
    """dropout p masks the output of every layer but the last, in training mode only; p=1 zeroes the
    second layer's input, so the output equals that of layer 1 run on zeros."""
    cr.manual_seed(0)
    m = getattr(nn, kind)(3, 4, num_layers=2, dropout=1.0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    y_train, _ = m(x)
    m2 = getattr(nn, kind)(4, 4, dtype=np.float64)
    m2.load_state_dict({k.replace("_l1", "_l0"): v for k, v in m.state_dict().items() if "_l1" in k})
    y_zero, _ = m2(np.zeros((5, 2, 4)))
    np.testing.assert_allclose(y_train.data, y_zero.data, atol=1e-14)
    m.eval()
    y_eval, _ = m(x)
    assert np.abs(y_eval.data - y_zero.data).max() > 1e-3  # eval mode: no dropout
    t = getattr(torch.nn, kind)(3, 4, num_layers=2, dropout=1.0, dtype=torch.float64).eval()
    t.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(y_eval.data, t(torch.tensor(x))[0].detach().numpy(), atol=1e-12)


def test_lstm_step_numerical_gradient():
    """Every input of one LSTM cell step against central differences (no PyTorch involved)."""
    r = np.random.default_rng(3)
    cell = nn.LSTMCell(3, 2, dtype=np.float64)
    x, h, c = (r.standard_normal(s) for s in ((4, 3), (4, 2), (4, 2)))

    def f(x, h, c, w_ih, w_hh, b_ih, b_hh):
        return nn.recurrent.lstm_step(cr.nn.functional.linear(x, w_ih, b_ih), h, c, w_hh, b_hh)[0].sum() + \
            nn.recurrent.lstm_step(cr.nn.functional.linear(x, w_ih, b_ih), h, c, w_hh, b_hh)[1].sum()

    params = [cell.weight_ih.data, cell.weight_hh.data, cell.bias_ih.data, cell.bias_hh.data]
    assert cr.gradcheck(f, [x, h, c, *params])


def test_parameters_start_uniform_and_repr():
    m = nn.LSTM(10, 25, num_layers=2, bidirectional=True)
    bound = 1 / np.sqrt(25)
    for name, p in m.named_parameters():
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound, name
        assert p.data.std() > bound / 3, name  # drawn, not zero
    assert m.weight_ih_l1.shape == (100, 50) and m.weight_hh_l1_reverse.shape == (100, 25)
    assert repr(m) == "LSTM(10, 25, num_layers=2, bidirectional=True)"


def test_bad_input_names_the_layer_and_shapes():
    m = nn.GRU(3, 4, num_layers=2)
    with pytest.raises(cr.ShapeError, match=r"GRU: expected input of shape \(L, N, input_size\).*"
                                             r"input_size=3, got \(5, 2, 7\)"):
        m(np.zeros((5, 2, 7), dtype=np.float32))
    with pytest.raises(cr.ShapeError, match=r"GRU: expected h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        m(np.zeros((5, 2, 3), dtype=np.float32), np.zeros((1, 2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h_0, c_0\)"):
        nn.LSTM(3, 4)(np.zeros((5, 2, 3), dtype=np.float32), np.zeros((1, 2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="LSTM: the input sequence is empty"):
        nn.LSTM(3, 4)(np.zeros((0, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="LSTM: hidden_size must be a positive integer, got 0"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="LSTM: proj_size is not supported"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"GRU: dropout must be a number in \[0, 1\], got 1.5"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(cr.ShapeError, match=r"LSTMCell: expected input of shape \(N, 3\) or \(3,\), got \(2, 5\)"):
        nn.LSTMCell(3, 4)(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(TypeError, match="RNN: expected floating-point input, got dtype int64"):
        nn.RNN(3, 4)(np.zeros((5, 2, 3), dtype=np.int64))


def test_float32_training_step_decreases_loss():
    """float32 parameters (the default) train: a few Adam steps on a copy task lower the loss."""
    cr.manual_seed(0)
    m, head = nn.LSTM(2, 8, batch_first=True), nn.Linear(8, 2)
    opt = cr.optim.Adam(list(m.parameters()) + list(head.parameters()), lr=0.05)
    x = np.random.default_rng(0).standard_normal((4, 6, 2)).astype(np.float32)
    losses = []
    for _ in range(30):
        y, _ = m(x)
        loss = ((head(y) - x) ** 2).mean()
        assert loss.dtype == np.float32
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert losses[-1] < 0.5 * losses[0]


def test_explain_one_lstm_step_names_the_gates():
    """The trace of one LSTM step (the tutorial's section 10): three sigmoid gates and a tanh candidate
    sliced out of the pre-activations (routes), mul gates that swap, and the cell state used twice
    (accumulates) whose gradient reaches the old cell state through the forget gate."""
    r = np.random.default_rng(0)
    cell = nn.LSTMCell(2, 3, dtype=np.float64)
    x = cr.tensor(r.standard_normal(2))
    h0 = cr.tensor(r.standard_normal(3), requires_grad=True, name="h0")
    c0 = cr.tensor(r.standard_normal(3), requires_grad=True, name="c0")
    p = nn.recurrent.lstm_parts(cr.nn.functional.linear(x, cell.weight_ih, cell.bias_ih), h0, c0, cell.weight_hh,
                                cell.bias_hh)
    L = (p["h"] + p["c"]).sum()
    tr = cr.explain(L, names={**{k: p[k] for k in ("gates", "i", "f", "g", "o", "fc", "ig")}, "h1": p["h"],
                              "c1": p["c"], "L": L})
    ops_of = {s.name: s.op for s in tr.steps}
    assert [ops_of[k] for k in "ifgo"] == ["sigmoid", "sigmoid", "tanh", "sigmoid"]
    assert tr.step("c1").gates == ["distributes", "accumulates"]
    assert tr.step("fc").gates == tr.step("ig").gates == tr.step("h1").gates == ["swaps"]
    assert "accumulates" in tr.step("gates").gates
    assert sum(s.op == "getitem" and s.gates == ["routes"] for s in tr.steps) == 4
    np.testing.assert_allclose(c0.grad, p["f"].data * tr.step("c1").upstream)  # the forget gate's highway
    h_ref, c_ref = cell(x, (h0.detach(), c0.detach()))
    np.testing.assert_allclose(p["h"].data, h_ref.data)
    np.testing.assert_allclose(p["c"].data, c_ref.data)


@settings(max_examples=15, deadline=None)
@given(L=st.integers(1, 5), N=st.integers(0, 3), hid=st.integers(1, 3), layers=st.integers(1, 2),
       bidir=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**31))
def test_fused_lstm_matches_its_composite_twin(L, N, hid, layers, bidir, bias, seed):
    """nn.LSTM runs each direction as one `lstm_scan` node; with fused=False it runs `lstm_step` per time
    step. Same outputs, states and gradients (float64, to rounding)."""
    r = np.random.default_rng(seed)
    fused = nn.LSTM(2, hid, num_layers=layers, bias=bias, bidirectional=bidir, dtype=np.float64)
    twin = nn.LSTM(2, hid, num_layers=layers, bias=bias, bidirectional=bidir, dtype=np.float64)
    twin.load_state_dict(fused.state_dict())
    twin.fused = False
    shape = (L, 2) if N == 0 else (L, N, 2)
    x = r.standard_normal(shape)
    rows = layers * (2 if bidir else 1)
    hs = [r.standard_normal((rows, hid) if N == 0 else (rows, N, hid)) for _ in range(2)]
    results = []
    for m in (fused, twin):
        leaves = [cr.tensor(a, requires_grad=True) for a in (x, *hs)]
        y, (h, c) = m(leaves[0], tuple(leaves[1:]))
        ups = [np.random.default_rng(seed + 1).standard_normal(t.shape) for t in (y, h, c)]
        sum((t * u).sum() for t, u in zip((y, h, c), ups)).backward()
        results.append([y.data, h.data, c.data] + [t.grad for t in leaves] + [p.grad for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_fused_lstm_is_one_node_per_direction_and_layer():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    y, _ = m(np.zeros((6, 2, 3)))
    tr = cr.explain(y.sum())
    assert sum(s.op == "lstm_scan" for s in tr.steps) == 4
    m.fused = False
    y, _ = m(np.zeros((6, 2, 3)))
    tr = cr.explain(y.sum())
    assert not any(s.op == "lstm_scan" for s in tr.steps) and sum(s.op == "sigmoid" for s in tr.steps) == 4 * 6 * 3
