"""Attention and transformers, with PyTorch's names, arguments and parameter layout:
MultiheadAttention, TransformerEncoderLayer / TransformerDecoderLayer (and their stacks
TransformerEncoder / TransformerDecoder), and TransformerLM, a small decoder-only language model.

Everything is a composite of primitives (linear, matmul, softmax, layer_norm's pieces): attention
is two matmuls around a softmax, so a trace shows the lecture's gates inside it.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from ..core import ShapeError, TensorBase, no_grad
from ..ops import reshape, swapaxes
from . import functional as F
from . import init
from .layers import Dropout, Embedding, LayerNorm, Linear, _dtype, _empty, _size
from .module import Module, ModuleList


def _rows(W, i, n):
    """Rows i*n .. (i+1)*n of a packed projection (a slice: its gradient lands in those rows)."""
    return None if W is None else W[i * n:(i + 1) * n]


class MultiheadAttention(Module):
    """Attention with `num_heads` heads of embed_dim / num_heads each, as PyTorch's: the query, key and
    value projections packed in `in_proj_weight` (3E, E) and `in_proj_bias` (3E,) (or separate
    q/k/v_proj_weight when kdim or vdim differ from embed_dim), and `out_proj` (Linear E -> E).

    Inputs are (L, N, E) (or (N, L, E) with batch_first, or unbatched (L, E)). `key_padding_mask`
    (N, S) and `attn_mask` (L, S) or (N * num_heads, L, S) are boolean (True: may NOT attend) or
    float (added to the scores). Returns (output, weights): the attention weights averaged over the
    heads (N, L, S), per head (N, H, L, S) with average_attn_weights=False, or None when
    need_weights=False. `is_causal=True` without an attn_mask applies the causal mask (PyTorch
    asks for the mask as well). add_bias_kv and add_zero_attn are not supported.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        E = _size(embed_dim, "embed_dim", "MultiheadAttention", 1)
        H = _size(num_heads, "num_heads", "MultiheadAttention", 1)
        if E % H:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        dtype = _dtype(dtype, device, "MultiheadAttention")
        self.embed_dim, self.num_heads, self.head_dim = E, H, E // H
        self.kdim = E if kdim is None else int(kdim)
        self.vdim = E if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
        self.dropout, self.batch_first = dropout, batch_first
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _empty((3 * E, E), dtype)
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = _empty((E, E), dtype)
            self.k_proj_weight = _empty((E, self.kdim), dtype)
            self.v_proj_weight = _empty((E, self.vdim), dtype)
            self.in_proj_weight = None
        self.in_proj_bias = _empty((3 * E,), dtype) if bias else None
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        # PyTorch's: Xavier-uniform projections, zero biases (out_proj's weight keeps Linear's init)
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, query, key, value):
        E, b = self.embed_dim, self.in_proj_bias
        if self._qkv_same_embed_dim and query is key and key is value:   # self-attention: one matmul
            qkv = F.linear(query, self.in_proj_weight, b)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        ws = (_rows(self.in_proj_weight, i, E) for i in range(3)) if self._qkv_same_embed_dim else \
            (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, _rows(b, i, E)) for i, (x, w) in enumerate(zip((query, key, value), ws)))

    def _bias(self, attn_mask, key_padding_mask, N, L, S, dtype):
        """The masks as one additive bias of shape broadcastable to (N, H, L, S) (None if no mask)."""
        H, bias = self.num_heads, None
        if attn_mask is not None:
            ms = tuple(attn_mask.shape) if isinstance(attn_mask, TensorBase) else np.shape(attn_mask)
            if ms == (N * H, L, S):
                attn_mask = reshape(attn_mask, (N, H, L, S)) if isinstance(attn_mask, TensorBase) else \
                    np.reshape(attn_mask, (N, H, L, S))
            elif ms != (L, S):
                raise ShapeError(f"MultiheadAttention: attn_mask must have shape (L, S) = {(L, S)} or "
                                 f"(N * num_heads, L, S) = {(N * H, L, S)}, got {ms}")
            bias = F._mask_bias(attn_mask, (N, H, L, S), dtype, "MultiheadAttention", keep_true=False)
        if key_padding_mask is not None:
            kpm = key_padding_mask
            ks = tuple(kpm.shape) if isinstance(kpm, TensorBase) else np.shape(kpm)
            if ks != (N, S):
                raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape (N, S) = {(N, S)}, "
                                 f"got {ks}")
            kp = reshape(key_padding_mask, (N, 1, 1, S)) if isinstance(key_padding_mask, TensorBase) else \
                np.reshape(key_padding_mask, (N, 1, 1, S))
            kb = F._mask_bias(kp, (N, H, L, S), dtype, "MultiheadAttention", keep_true=False)
            bias = kb if bias is None else bias + kb
        return bias

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        E, H, D = self.embed_dim, self.num_heads, self.head_dim
        qs, ks, vs = query.shape, key.shape, value.shape
        batched = len(qs) == 3
        if len(qs) not in (2, 3) or len(ks) != len(qs) or len(vs) != len(qs) or qs[-1] != E \
                or ks[-1] != self.kdim or vs[-1] != self.vdim or ks[:-1] != vs[:-1]:
            raise ShapeError(f"MultiheadAttention(embed_dim={E}, kdim={self.kdim}, vdim={self.vdim}): expected "
                             f"query (L, N, {E}), key (S, N, {self.kdim}) and value (S, N, {self.vdim}) (batch "
                             f"first with batch_first=True, or without N), got {qs}, {ks}, {vs}")
        same = query is key, key is value
        if not batched:   # as one batch of one
            query, key, value = (reshape(t, (1,) + t.shape) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = reshape(key_padding_mask, (1, -1)) if isinstance(key_padding_mask, TensorBase) \
                    else np.reshape(key_padding_mask, (1, -1))
        elif not self.batch_first:
            query, key, value = (swapaxes(t, 0, 1) for t in (query, key, value))
        if all(same):
            key = value = query
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[0] != N:
            raise ShapeError(f"MultiheadAttention: query {qs} and key {ks} have different batch sizes")
        q, k, v = self._project(query, key, value)
        q, k, v = (swapaxes(reshape(t, (N, -1, H, D)), 1, 2) for t in (q, k, v))   # (N, H, len, D)
        if is_causal and attn_mask is None:
            attn_mask = ~np.tri(L, S, dtype=bool)
        bias = self._bias(attn_mask, key_padding_mask, N, L, S, q.dtype)
        out, weights = F._attention(q, k, v, bias, self.dropout if self.training else 0.0)
        out = self.out_proj(reshape(swapaxes(out, 1, 2), (N, L, E)))
        if not batched:
            out = reshape(out, (L, E))
        elif not self.batch_first:
            out = swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, weights if batched else reshape(weights, weights.shape[1:])

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _activation(activation, opname):
    if activation in ("relu", F.relu):
        return F.relu
    if activation in ("gelu", F.gelu):
        return F.gelu
    if callable(activation):
        return activation
    raise ValueError(f"{opname}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")


def _feed_forward_and_norms(layer, blocks, d_model, dim_feedforward, dropout, activation, eps, norm_first, bias,
                            kw):
    """The submodules a transformer layer has beside its attention, in PyTorch's order (so its
    state_dict keys): linear1, dropout, linear2, then a LayerNorm and a Dropout per block."""
    layer.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
    layer.dropout = Dropout(dropout)
    layer.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
    layer.norm_first = norm_first
    for i in range(1, blocks + 1):
        setattr(layer, f"norm{i}", LayerNorm(d_model, eps=eps, bias=bias, **kw))
    for i in range(1, blocks + 1):
        setattr(layer, f"dropout{i}", Dropout(dropout))
    layer.activation = _activation(activation, type(layer).__name__)


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block (linear1 -> activation -> linear2), each with dropout,
    a residual connection and LayerNorm: after each block (post-norm, the default) or before
    (norm_first=True), as PyTorch's; same submodules, so the same state_dict keys."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        _feed_forward_and_norms(self, 2, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first,
                                bias, kw)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


class TransformerDecoderLayer(Module):
    """Self-attention over the target, attention from the target to `memory` (the encoder's output),
    then the feed-forward block; residuals and LayerNorm as TransformerEncoderLayer's."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        _feed_forward_and_norms(self, 3, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first,
                                bias, kw)

    _sa_block = TransformerEncoderLayer._sa_block

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x))


class TransformerEncoder(Module):
    """`num_layers` copies of an encoder layer (state_dict keys layers.0..., as PyTorch's), then an
    optional final norm."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(int(num_layers)))
        self.num_layers, self.norm = int(num_layers), norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """`num_layers` copies of a decoder layer, then an optional final norm (as PyTorch's)."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(decoder_layer) for _ in range(int(num_layers)))
        self.num_layers, self.norm = int(num_layers), norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                      bool(tgt_is_causal), memory_is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerLM(Module):
    """A small decoder-only (GPT-style) language model: token and position embeddings, `num_layers`
    pre-norm TransformerEncoderLayers under a causal mask (each position sees itself and the ones
    before it), a final LayerNorm and a Linear head to next-token logits.

    forward(idx) takes integer tokens (N, T), T <= max_len, and returns logits (N, T, vocab_size).
    Embeddings start at N(0, 0.02²), as GPT-2's.
    """

    def __init__(self, vocab_size, d_model=64, nhead=4, num_layers=2, dim_feedforward=None, max_len=128,
                 dropout=0.0, activation="gelu", device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.vocab_size, self.d_model, self.max_len = int(vocab_size), int(d_model), int(max_len)
        self.tok_emb = Embedding(vocab_size, d_model, **kw)
        self.pos_emb = Embedding(max_len, d_model, **kw)
        init.normal_(self.tok_emb.weight, std=0.02)
        init.normal_(self.pos_emb.weight, std=0.02)
        ff = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.layers = ModuleList(TransformerEncoderLayer(d_model, nhead, ff, dropout, activation, batch_first=True,
                                                         norm_first=True, **kw) for _ in range(int(num_layers)))
        self.norm = LayerNorm(d_model, **kw)
        self.head = Linear(d_model, vocab_size, **kw)

    def forward(self, idx):
        idx = np.asarray(idx.data if isinstance(idx, TensorBase) else idx)
        if idx.ndim != 2 or not 1 <= idx.shape[1] <= self.max_len:
            raise ShapeError(f"TransformerLM: expected tokens (N, T) with 1 <= T <= max_len={self.max_len}, "
                             f"got shape {idx.shape}")
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(np.arange(T))
        mask = ~np.tri(T, dtype=bool)   # True above the diagonal: the future is masked
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.head(self.norm(x))

    def generate(self, idx, max_new_tokens, temperature=1.0, rng=None):
        """Append `max_new_tokens` tokens to each row of idx (N, T), each sampled from the softmax of
        the last position's logits / temperature (the context cut to the last max_len tokens)."""
        if not isinstance(temperature, numbers.Real) or temperature <= 0:
            raise ValueError(f"TransformerLM.generate: temperature must be > 0, got {temperature}")
        rng = rng or np.random.default_rng()
        idx = np.array(idx, dtype=np.int64, ndmin=2)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(int(max_new_tokens)):
                    logits = self(idx[:, -self.max_len:]).data[:, -1].astype(np.float64) / temperature
                    p = np.exp(logits - logits.max(axis=1, keepdims=True))
                    p /= p.sum(axis=1, keepdims=True)
                    nxt = [rng.choice(self.vocab_size, p=row) for row in p]
                    idx = np.concatenate([idx, np.array(nxt, dtype=np.int64)[:, None]], axis=1)
        finally:
            self.train(was_training)
        return idx

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, d_model={self.d_model}, max_len={self.max_len}"

