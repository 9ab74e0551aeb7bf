"""Attention and transformers (issue 15) against PyTorch: F.scaled_dot_product_attention,
MultiheadAttention, TransformerEncoderLayer / TransformerDecoderLayer (and their stacks), F.gelu;
TransformerLM learns a tiny character sequence. Each module is built in both libraries, PyTorch's
state_dict (as arrays) loads into ours, and outputs and every gradient (inputs and parameters,
float64) must agree over Hypothesis-drawn shapes and options."""

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.ops import special
from chainrule.train import blas_threads

torch = pytest.importorskip("torch")

ATOL = 1e-9


def load_from_torch(mod, tmod):
    """Copy PyTorch's parameters into ours through state_dict: same keys, same order, same shapes."""
    sd = {k: v.detach().numpy().copy() for k, v in tmod.state_dict().items()}
    assert list(mod.state_dict()) == list(sd)
    assert all(mod.state_dict()[k].shape == v.shape for k, v in sd.items())
    mod.load_state_dict(sd)


def check_param_grads(mod, tmod, atol=ATOL):
    tparams = dict(tmod.named_parameters())
    names = [n for n, _ in mod.named_parameters()]
    assert names == list(tparams)
    for name, p in mod.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=atol, err_msg=name)


def pair(a):
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


# -- F.scaled_dot_product_attention ---------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), L=st.integers(1, 5), S=st.integers(1, 5),
       E=st.integers(1, 4), Ev=st.integers(1, 4), mask=st.sampled_from(["none", "bool", "float", "causal"]),
       scale=st.sampled_from([None, 0.3]), seed=st.integers(0, 10**6))
def test_sdpa_matches_torch(batch, L, S, E, Ev, mask, scale, seed):
    r = np.random.default_rng(seed)
    b = tuple(batch)
    (q, tq), (k, tk), (v, tv) = (pair(r.standard_normal(b + s)) for s in ((L, E), (S, E), (S, Ev)))
    kw = {}
    if mask == "bool":
        m = r.random((L, S)) < 0.6
        m[:, 0] = True   # every query keeps one key (a fully masked row is NaN in both libraries)
        kw, tkw = dict(attn_mask=m), dict(attn_mask=torch.tensor(m))
    elif mask == "float":
        m = r.standard_normal(b + (L, S))
        mt, tmt = pair(m)
        kw, tkw = dict(attn_mask=mt), dict(attn_mask=tmt)
    elif mask == "causal":
        kw = tkw = dict(is_causal=True)
    else:
        tkw = {}
    y = F.scaled_dot_product_attention(q, k, v, scale=scale, **kw)
    ty = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, scale=scale, **tkw)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    for a, ta in ((q, tq), (k, tk), (v, tv)) + (((kw["attn_mask"], tkw["attn_mask"]),) if mask == "float" else ()):
        np.testing.assert_allclose(a.grad, ta.grad.numpy(), atol=ATOL)


def test_sdpa_gradcheck_and_errors():
    r = np.random.default_rng(0)
    q, k, v = r.standard_normal((2, 3, 2)), r.standard_normal((2, 4, 2)), r.standard_normal((2, 4, 3))
    assert cr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))
    with pytest.raises(cr.ShapeError, match=r"scaled_dot_product_attention: expected query .*\(2, 3, 2\), "
                                            r"\(2, 4, 3\)"):
        F.scaled_dot_product_attention(cr.tensor(q), cr.tensor(v), cr.tensor(v))
    with pytest.raises(cr.ShapeError, match=r"scaled_dot_product_attention: mask of shape \(2, 2\)"):
        F.scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v), attn_mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="attn_mask or is_causal, not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 4), bool), is_causal=True)


def test_sdpa_causal_masks_the_future():
    """The output at position i must not depend on positions after i."""
    r = np.random.default_rng(1)
    q, k, v = (r.standard_normal((4, 2)) for _ in range(3))
    y = F.scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v), is_causal=True).data
    k2, v2 = k.copy(), v.copy()
    k2[2:], v2[2:] = 5.0, -5.0
    y2 = F.scaled_dot_product_attention(cr.tensor(q), cr.tensor(k2), cr.tensor(v2), is_causal=True).data
    np.testing.assert_allclose(y[:2], y2[:2], atol=1e-14)
    assert not np.allclose(y[2:], y2[2:])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    x = np.linspace(-7, 7, 57)
    xt, tx = pair(x)
    y = nn.GELU(approximate)(xt)
    ty = torch.nn.GELU(approximate)(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-14)
    y.backward(np.ones_like(x))
    ty.backward(torch.ones(57, dtype=torch.float64))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-13)
    with pytest.raises(ValueError, match="gelu: approximate"):
        F.gelu(xt, "fast")
    with pytest.raises(TypeError, match="gelu: expected a floating-point input, got dtype int64"):
        F.gelu(np.arange(3))


def test_fused_gelu_matches_its_composite_twin():
    """float64: the fused node equals 0.5 x (1 + erf(x/√2)) built from the erf primitive, value and
    gradient; float32 (Abramowitz & Stegun's erf): within float32's rounding of the exact values."""
    x = np.linspace(-9, 9, 301)
    a, b = cr.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    fused, twin = F.gelu(a), special.gelu_composite(b)
    np.testing.assert_allclose(fused.data, twin.data, rtol=1e-15, atol=1e-15)
    fused.sum().backward()
    twin.sum().backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-14, atol=1e-15)
    x32 = cr.tensor(x.astype(np.float32), requires_grad=True)
    y32 = F.gelu(x32)
    assert y32.dtype == np.float32
    tol = 3e-7 * np.maximum(np.abs(x), 1)
    assert np.all(np.abs(y32.data - fused.data) <= tol)
    y32.sum().backward()
    assert x32.grad.dtype == np.float32 and np.all(np.abs(x32.grad - a.grad) <= tol)


# -- MultiheadAttention --------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")   # torch's, on mixed types
@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 3), L=st.integers(1, 4), S=st.integers(1, 4), heads=st.sampled_from([1, 2]),
       head_dim=st.integers(1, 3), batch_first=st.booleans(), self_attn=st.booleans(), bias=st.booleans(),
       kv_dims=st.booleans(), attn=st.sampled_from(["none", "bool2", "float3"]),
       padding=st.sampled_from(["none", "bool", "float"]), average=st.booleans(), unbatched=st.booleans(),
       seed=st.integers(0, 10**6))
def test_multihead_attention_matches_torch(N, L, S, heads, head_dim, batch_first, self_attn, bias, kv_dims, attn,
                                           padding, average, unbatched, seed):
    r = np.random.default_rng(seed)
    E = heads * head_dim
    kdim, vdim = (E + 1, E + 2) if kv_dims and not self_attn else (None, None)
    if self_attn:
        S = L
    mha = nn.MultiheadAttention(E, heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first,
                                dtype=np.float64)
    tmha = torch.nn.MultiheadAttention(E, heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first,
                                       dtype=torch.float64)
    with torch.no_grad():
        for p in tmha.parameters():
            p.copy_(torch.tensor(r.standard_normal(tuple(p.shape)) * 0.5))
    load_from_torch(mha, tmha)

    def seq(n, d):
        if unbatched:
            return (n, d)
        return (N, n, d) if batch_first else (n, N, d)
    query, tquery = pair(r.standard_normal(seq(L, E)))
    if self_attn:
        key = value = query
        tkey = tvalue = tquery
    else:
        (key, tkey), (value, tvalue) = pair(r.standard_normal(seq(S, kdim or E))), \
            pair(r.standard_normal(seq(S, vdim or E)))
    n = 1 if unbatched else N
    kw, tkw = {}, {}
    keep = np.zeros((n * heads, L, S), dtype=bool)
    keep[..., 0] = True   # every query keeps key 0: no fully masked row (NaN in both libraries)
    if attn == "bool2":
        m = (r.random((L, S)) < 0.4) & ~keep[0]
        kw["attn_mask"], tkw["attn_mask"] = m, torch.tensor(m)
    elif attn == "float3":
        m = r.standard_normal((n * heads, L, S))
        kw["attn_mask"], tkw["attn_mask"] = m, torch.tensor(m)
    if padding != "none" and not unbatched:
        pm = (r.random((N, S)) < 0.4)
        pm[:, 0] = False
        if padding == "float":
            pm = np.where(pm, -1.5, 0.0)
            if attn == "bool2":   # PyTorch wants matching mask types
                kw["attn_mask"] = np.where(kw["attn_mask"], -np.inf, 0.0)
                tkw["attn_mask"] = torch.tensor(kw["attn_mask"])
        kw["key_padding_mask"], tkw["key_padding_mask"] = pm, torch.tensor(pm)
    out, w = mha(query, key, value, average_attn_weights=average, **kw)
    tout, tw = tmha(tquery, tkey, tvalue, average_attn_weights=average, **tkw)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=ATOL)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), atol=ATOL)
    u, uw = r.standard_normal(out.shape), r.standard_normal(w.shape)
    ((out * u).sum() + (w * uw).sum()).backward()
    ((tout * torch.tensor(u)).sum() + (tw * torch.tensor(uw)).sum()).backward()
    grads = [(query, tquery)] + ([] if self_attn else [(key, tkey), (value, tvalue)])
    for a, ta in grads:
        np.testing.assert_allclose(a.grad, ta.grad.numpy(), atol=ATOL)
    check_param_grads(mha, tmha)
    assert mha(query, key, value, need_weights=False)[1] is None


def test_multihead_attention_layout_and_errors():
    mha, tmha = nn.MultiheadAttention(8, 2), torch.nn.MultiheadAttention(8, 2)
    assert [(k, v.shape) for k, v in mha.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tmha.state_dict().items()]
    np.testing.assert_array_equal(mha.in_proj_bias.data, 0)
    bound = np.sqrt(6 / (8 + 24))   # Xavier-uniform on (3E, E)
    assert np.abs(mha.in_proj_weight.data).max() <= bound
    with pytest.raises(ValueError, match="embed_dim 8 must be divisible by num_heads 3"):
        nn.MultiheadAttention(8, 3)
    x = cr.tensor(np.zeros((3, 2, 8), dtype=np.float32))
    with pytest.raises(cr.ShapeError, match=r"MultiheadAttention\(embed_dim=8.*got \(3, 2, 4\)"):
        mha(cr.tensor(np.zeros((3, 2, 4))), x, x)
    with pytest.raises(cr.ShapeError, match=r"attn_mask must have shape \(L, S\) = \(3, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((2, 3), bool))
    with pytest.raises(cr.ShapeError, match=r"key_padding_mask must have shape \(N, S\) = \(2, 3\)"):
        mha(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(TypeError, match="MultiheadAttention: mask must be boolean or floating point"):
        mha(x, x, x, attn_mask=np.zeros((3, 3), np.int64))


def test_multihead_attention_dropout_in_training_only():
    mha = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True, dtype=np.float64)
    x = cr.tensor(np.random.default_rng(0).standard_normal((2, 5, 4)))
    mha.eval()
    a, b = mha(x, x, x)[1].data, mha(x, x, x)[1].data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(-1), 1.0)
    mha.train()
    w = mha(x, x, x, average_attn_weights=False)[1].data
    assert (w == 0).any() and not np.allclose(w.sum(-1), 1.0)   # dropped, the rest scaled by 2


# -- Transformer layers -------------------------------------------------------------------------------

def _torch_layer(cls, d, h, ff, act, batch_first, norm_first):
    return cls(d, h, ff, dropout=0.0, activation=act, batch_first=batch_first, norm_first=norm_first,
               dtype=torch.float64)


@settings(max_examples=12, deadline=None)
@given(N=st.integers(1, 2), L=st.integers(1, 4), heads=st.sampled_from([1, 2]), ff=st.integers(1, 5),
       act=st.sampled_from(["relu", "gelu"]), batch_first=st.booleans(), norm_first=st.booleans(),
       masks=st.booleans(), seed=st.integers(0, 10**6))
def test_encoder_layer_matches_torch(N, L, heads, ff, act, batch_first, norm_first, masks, seed):
    r = np.random.default_rng(seed)
    d = 2 * heads
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=act, batch_first=batch_first,
                                       norm_first=norm_first, dtype=np.float64)
    tlayer = _torch_layer(torch.nn.TransformerEncoderLayer, d, heads, ff, act, batch_first, norm_first)
    with torch.no_grad():
        for p in tlayer.parameters():
            p.add_(torch.tensor(r.standard_normal(tuple(p.shape)) * 0.3))
    load_from_torch(layer, tlayer)
    x, tx = pair(r.standard_normal((N, L, d) if batch_first else (L, N, d)))
    kw, tkw = {}, {}
    if masks:
        causal = ~np.tri(L, dtype=bool)
        pad = r.random((N, L)) < 0.3
        pad[:, 0] = False
        kw = dict(src_mask=causal, src_key_padding_mask=pad, is_causal=True)
        tkw = dict(src_mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(pad), is_causal=True)
    y, ty = layer(x, **kw), tlayer(tx, **tkw)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)
    check_param_grads(layer, tlayer)


@settings(max_examples=10, deadline=None)
@given(N=st.integers(1, 2), T=st.integers(1, 4), S=st.integers(1, 4), heads=st.sampled_from([1, 2]),
       act=st.sampled_from(["relu", "gelu"]), batch_first=st.booleans(), norm_first=st.booleans(),
       masks=st.booleans(), seed=st.integers(0, 10**6))
def test_decoder_layer_matches_torch(N, T, S, heads, act, batch_first, norm_first, masks, seed):
    r = np.random.default_rng(seed)
    d = 2 * heads
    layer = nn.TransformerDecoderLayer(d, heads, 3, dropout=0.0, activation=act, batch_first=batch_first,
                                       norm_first=norm_first, dtype=np.float64)
    tlayer = _torch_layer(torch.nn.TransformerDecoderLayer, d, heads, 3, act, batch_first, norm_first)
    with torch.no_grad():
        for p in tlayer.parameters():
            p.add_(torch.tensor(r.standard_normal(tuple(p.shape)) * 0.3))
    load_from_torch(layer, tlayer)
    x, tx = pair(r.standard_normal((N, T, d) if batch_first else (T, N, d)))
    m, tm = pair(r.standard_normal((N, S, d) if batch_first else (S, N, d)))
    kw, tkw = {}, {}
    if masks:
        causal = ~np.tri(T, dtype=bool)
        mpad = r.random((N, S)) < 0.3
        mpad[:, 0] = False
        kw = dict(tgt_mask=causal, memory_key_padding_mask=mpad, tgt_is_causal=True)
        tkw = dict(tgt_mask=torch.tensor(causal), memory_key_padding_mask=torch.tensor(mpad), tgt_is_causal=True)
    y, ty = layer(x, m, **kw), tlayer(tx, tm, **tkw)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    u = r.standard_normal(y.shape)
    y.backward(u)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=ATOL)
    np.testing.assert_allclose(m.grad, tm.grad.numpy(), atol=ATOL)
    check_param_grads(layer, tlayer)


def test_encoder_and_decoder_stacks_match_torch():
    r = np.random.default_rng(7)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=np.float64), 2,
                                norm=nn.LayerNorm(4, dtype=np.float64))
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=torch.float64),
                                       2, norm=torch.nn.LayerNorm(4, dtype=torch.float64), enable_nested_tensor=False)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, dtype=np.float64), 2)
    tdec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, dtype=torch.float64), 2)
    for m, tm in ((enc, tenc), (dec, tdec)):
        with torch.no_grad():
            for p in tm.parameters():
                p.add_(torch.tensor(r.standard_normal(tuple(p.shape)) * 0.3))
        load_from_torch(m, tm)
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight   # copies, not shared
    src, tsrc = pair(r.standard_normal((3, 2, 4)))
    tgt, ttgt = pair(r.standard_normal((2, 2, 4)))
    y = dec(tgt, enc(src))
    ty = tdec(ttgt, tenc(tsrc))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=ATOL)
    y.sum().backward()
    ty.sum().backward()
    for a, ta in ((src, tsrc), (tgt, ttgt)):
        np.testing.assert_allclose(a.grad, ta.grad.numpy(), atol=ATOL)
    check_param_grads(enc, tenc)
    check_param_grads(dec, tdec)


def test_encoder_layer_gradcheck_with_dropout_off():
    layer = nn.TransformerEncoderLayer(4, 2, 3, dropout=0.0, activation="gelu", batch_first=True, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    assert cr.gradcheck(lambda x: layer(x, src_mask=~np.tri(3, dtype=bool)), (x,))


# -- TransformerLM ---------------------------------------------------------------------------------------

TEXT = "the cat sat on the mat. the dog sat on the log. " * 4


def test_transformer_lm_learns_a_char_sequence():
    """A few Adam steps on a tiny character sequence: the next-character loss falls well below the
    uniform baseline log(V), and it is causal (a logit never depends on later tokens)."""
    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT])
    V, T = len(chars), 16
    nn.manual_seed(0)
    lm = nn.TransformerLM(V, d_model=16, nhead=2, num_layers=2, max_len=T)
    opt = cr.optim.Adam(lm.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(30):
        starts = rng.integers(0, len(ids) - T - 1, size=8)
        x = np.stack([ids[s:s + T] for s in starts])
        y = np.stack([ids[s + 1:s + T + 1] for s in starts])
        loss = F.cross_entropy(lm(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.9 * np.log(V)
    assert np.mean(losses[-5:]) < 0.6 * np.log(V)
    x = ids[None, :T]
    x2 = x.copy()
    x2[0, 8:] = (x2[0, 8:] + 1) % V
    np.testing.assert_allclose(lm(x).data[0, :8], lm(x2).data[0, :8], atol=1e-6)
    out = lm.generate(ids[None, :4], 10, rng=np.random.default_rng(1))
    assert out.shape == (1, 14) and (out[:, :4] == ids[:4]).all() and out.max() < V


def test_transformer_lm_bad_input():
    lm = nn.TransformerLM(5, d_model=8, nhead=2, num_layers=1, max_len=4)
    with pytest.raises(cr.ShapeError, match=r"TransformerLM: expected tokens \(N, T\).*max_len=4.*\(1, 6\)"):
        lm(np.zeros((1, 6), dtype=np.int64))
    with pytest.raises(IndexError, match="embedding: indices must lie in"):
        lm(np.array([[0, 9]]))


def test_char_transformer_example_beats_the_unigram_baseline(tmp_path):
    """examples/char_transformer.py --quick: Debian's fortunes, test bits per character fall from the
    untrained model's to below the unigram baseline; a figure and a sample come out."""
    pytest.importorskip("matplotlib")
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "char_transformer.py")
    spec = importlib.util.spec_from_file_location("example_char_transformer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with blas_threads(1):
        m = mod.main(["--quick", "--out", str(tmp_path)])
    assert m["test_bits"] < m["initial_bits"] - 1.5 and m["test_bits"] < m["unigram_bits"]
    assert m["bigram_bits"] < m["unigram_bits"]
    assert len(m["sample"]) == 300
    with open(m["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
