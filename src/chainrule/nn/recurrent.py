"""Recurrent layers with PyTorch's names, arguments and parameter layout: RNN, LSTM, GRU and their cells.

Every step is a composite of primitives (linear, sigmoid, tanh, mul, add, slicing), so a trace of one
LSTM step shows the lecture's gates: three sigmoid gates, the tanh candidate, the multiplicative gates
that swap their inputs' values into each other's gradients, and the cell state that accumulates (add
distributes the gradient unchanged to the old cell state: the "gradient highway").

The layers project the whole input sequence at once (one `linear` over (L, N, input_size)), as
PyTorch's CPU kernels do, so each time step adds only the hidden-to-hidden product and the gates.
Parameters, per layer k and direction (suffix "_reverse" for the backward one), in PyTorch's order:
weight_ih_l{k} (G*hidden, in), weight_hh_l{k} (G*hidden, hidden), bias_ih_l{k}, bias_hh_l{k}, with G = 1
(RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n); all start U(-1/sqrt(hidden), 1/sqrt(hidden)).
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..core import ShapeError, TensorBase
from ..ops.recurrent import lstm_scan
from . import functional as F
from . import init
from .layers import Embedding, Linear, _dtype, _empty
from .module import Module

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "rnn_tanh_step", "rnn_relu_step",
           "lstm_step", "lstm_parts", "gru_step", "RecurrentLM"]


# -- one time step: `xw` is the input's projection x @ W_ih.T + b_ih for this step ------------------------

def rnn_tanh_step(xw, h, w_hh, b_hh):
    return ops.tanh(xw + F.linear(h, w_hh, b_hh))


def rnn_relu_step(xw, h, w_hh, b_hh):
    return ops.relu(xw + F.linear(h, w_hh, b_hh))


def lstm_step(xw, h, c, w_hh, b_hh):
    """(h', c'): gates = xw + h @ W_hh.T + b_hh split as input, forget, candidate, output (PyTorch's order);
    c' = f*c + i*g accumulates, h' = o*tanh(c')."""
    parts = lstm_parts(xw, h, c, w_hh, b_hh)
    return parts["h"], parts["c"]


def lstm_parts(xw, h, c, w_hh, b_hh):
    """One LSTM step with every intermediate by name: gates, i, f, g, o, fc (f*c), ig (i*g), c (c'),
    tanh_c, h (h'); pass them to `cr.explain(..., names=...)` to see each gate in the trace."""
    gates = xw + F.linear(h, w_hh, b_hh)
    n = h.shape[-1]
    i = ops.sigmoid(gates[..., :n])
    f = ops.sigmoid(gates[..., n:2 * n])
    g = ops.tanh(gates[..., 2 * n:3 * n])
    o = ops.sigmoid(gates[..., 3 * n:])
    fc, ig = f * c, i * g
    c = fc + ig
    tanh_c = ops.tanh(c)
    return {"gates": gates, "i": i, "f": f, "g": g, "o": o, "fc": fc, "ig": ig, "c": c, "tanh_c": tanh_c,
            "h": o * tanh_c}


def gru_step(xw, h, w_hh, b_hh):
    """h' = (1 - z)*n + z*h with reset r and update z gates; the reset gate scales h's projection
    (W_hn h + b_hn), as PyTorch's GRU."""
    hw = F.linear(h, w_hh, b_hh)
    n = h.shape[-1]
    r = ops.sigmoid(xw[..., :n] + hw[..., :n])
    z = ops.sigmoid(xw[..., n:2 * n] + hw[..., n:2 * n])
    cand = ops.tanh(xw[..., 2 * n:] + r * hw[..., 2 * n:])
    return (1.0 - z) * cand + z * h


_MODES = {"RNN_TANH": (1, rnn_tanh_step), "RNN_RELU": (1, rnn_relu_step), "LSTM": (4, lstm_step),
          "GRU": (3, gru_step)}


def _as_tensor(x, opname):
    if isinstance(x, TensorBase):
        return x
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"{opname}: expected floating-point input, got dtype {a.dtype}")
    return ops.tensor(a)


def _zeros(shape, like):
    return ops.tensor(np.zeros(shape, dtype=like.dtype), device=like.device)


def _check_state(h, want, name, opname):
    h = _as_tensor(h, opname)
    if tuple(h.shape) != tuple(want):
        raise ShapeError(f"{opname}: expected {name} of shape {tuple(want)}, got {tuple(h.shape)}")
    return h


def _positive_int(v, name, opname):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{opname}: {name} must be a positive integer, got {v!r}")
    return int(v)


# -- the layers ---------------------------------------------------------------------------------------

class RNNBase(Module):
    """The shared multi-layer, optionally bidirectional, recurrent loop (see RNN, LSTM, GRU).

    An LSTM layer runs each direction's recurrence as one fused node (`ops.recurrent.lstm_scan`) unless
    `fused` is False; then it runs `lstm_step` per time step, the composite twin (what explain shows).
    """

    fused = True

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        dtype = _dtype(dtype, device, name)
        if mode not in _MODES:
            raise ValueError(f"{name}: unknown mode {mode!r}; choose one of {', '.join(_MODES)}")
        if proj_size:
            raise ValueError(f"{name}: proj_size is not supported (it must be 0, got {proj_size})")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        self.mode = mode
        self.input_size = _positive_int(input_size, "input_size", name)
        self.hidden_size = _positive_int(hidden_size, "hidden_size", name)
        self.num_layers = _positive_int(num_layers, "num_layers", name)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), 0
        gates = _MODES[mode][0] * self.hidden_size
        dirs = 2 if self.bidirectional else 1
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else self.hidden_size * dirs
            for sfx in ("", "_reverse")[:dirs]:
                setattr(self, f"weight_ih_l{k}{sfx}", _empty((gates, width), dtype))
                setattr(self, f"weight_hh_l{k}{sfx}", _empty((gates, self.hidden_size), dtype))
                if self.bias:
                    setattr(self, f"bias_ih_l{k}{sfx}", _empty((gates,), dtype))
                    setattr(self, f"bias_hh_l{k}{sfx}", _empty((gates,), dtype))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, k, sfx):
        g = self.__dict__
        return (g[f"weight_ih_l{k}{sfx}"], g.get(f"bias_ih_l{k}{sfx}"), g[f"weight_hh_l{k}{sfx}"],
                g.get(f"bias_hh_l{k}{sfx}"))

    def _inputs(self, input, hx):
        """(x as (L, N, in), initial states as a list of (layers*dirs, N, hidden) Tensors, batched?)."""
        name = type(self).__name__
        x = _as_tensor(input, name)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            order = "(N, L, input_size)" if self.batch_first else "(L, N, input_size)"
            raise ShapeError(f"{name}: expected input of shape {order} or (L, input_size) with input_size="
                             f"{self.input_size}, got {tuple(x.shape)}")
        batched = x.ndim == 3
        if not batched:
            x = ops.reshape(x, (x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = ops.transpose(x, (1, 0, 2))
        if x.shape[0] == 0:
            raise ValueError(f"{name}: the input sequence is empty (length 0)")
        n_states = 2 if self.mode == "LSTM" else 1
        rows = self.num_layers * (2 if self.bidirectional else 1)
        want = (rows, x.shape[1], self.hidden_size) if batched else (rows, self.hidden_size)
        if hx is None:
            states = [_zeros((rows, x.shape[1], self.hidden_size), x) for _ in range(n_states)]
        else:
            if n_states == 2:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
                given = list(hx)
            else:
                given = [hx]
            states = [_check_state(h, want, ("h_0", "c_0")[i], name) for i, h in enumerate(given)]
            if not batched:
                states = [ops.reshape(h, (rows, 1, self.hidden_size)) for h in states]
        return x, states, batched

    def forward(self, input, hx=None):
        """output (L, N, dirs*hidden) (batch_first: (N, L, ...); unbatched: (L, ...)) and h_n
        (layers*dirs, N, hidden) (LSTM: (h_n, c_n))."""
        x, states, batched = self._inputs(input, hx)
        step = _MODES[self.mode][1]
        lstm = self.mode == "LSTM"
        dirs = 2 if self.bidirectional else 1
        finals = [[] for _ in states]
        for k in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, b_ih, w_hh, b_hh = self._weights(k, ("", "_reverse")[d])
                st = [s[k * dirs + d] for s in states]
                if lstm and self.fused:
                    seq, st = self._lstm_fused(x, st, w_ih, b_ih, w_hh, b_hh, reverse=d == 1)
                    outs.append(seq)
                    for f, s in zip(finals, st):
                        f.append(s)
                    continue
                xw = F.linear(x, w_ih, b_ih)
                seq = []
                for t in (range(x.shape[0]) if d == 0 else range(x.shape[0] - 1, -1, -1)):
                    st = list(step(xw[t], *st, w_hh, b_hh)) if lstm else [step(xw[t], st[0], w_hh, b_hh)]
                    seq.append(st[0])
                if d == 1:
                    seq.reverse()
                outs.append(ops.stack(seq))
                for f, s in zip(finals, st):
                    f.append(s)
            x = outs[0] if dirs == 1 else ops.concatenate(outs, axis=-1)
            if self.dropout and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        finals = [ops.stack(f) for f in finals]
        if not batched:
            x = ops.reshape(x, (x.shape[0], x.shape[2]))
            finals = [ops.reshape(f, (f.shape[0], f.shape[2])) for f in finals]
        elif self.batch_first:
            x = ops.transpose(x, (1, 0, 2))
        return x, (tuple(finals) if lstm else finals[0])

    @staticmethod
    def _lstm_fused(x, st, w_ih, b_ih, w_hh, b_hh, reverse):
        """One direction of one LSTM layer through `lstm_scan`: (outputs (L, N, H), [h_n, c_n])."""
        # both biases enter the gates the same way, so they join the input projection of every step
        xw = F.linear(x, w_ih, None if b_ih is None else b_ih + b_hh)
        if reverse:
            xw = xw[::-1]
        hc = lstm_scan(xw, st[0], st[1], w_hh)
        seq = hc[:, 0]
        return (seq[::-1] if reverse else seq), [hc[-1, 0], hc[-1, 1]]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (nonlinearity="relu": relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: per step the gates i, f, g, o (see `lstm_step`); returns
    (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit: per step the gates r, z and the candidate n (see `gru_step`)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# -- the cells: one step, input (N, input_size) or (input_size,) -----------------------------------------

class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, chunks, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        dtype = _dtype(dtype, device, name)
        self.input_size = _positive_int(input_size, "input_size", name)
        self.hidden_size = _positive_int(hidden_size, "hidden_size", name)
        self.bias = bool(bias)
        self.weight_ih = _empty((chunks * self.hidden_size, self.input_size), dtype)
        self.weight_hh = _empty((chunks * self.hidden_size, self.hidden_size), dtype)
        self.bias_ih = _empty((chunks * self.hidden_size,), dtype) if bias else None
        self.bias_hh = _empty((chunks * self.hidden_size,), dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _inputs(self, input, hx, n_states):
        name = type(self).__name__
        x = _as_tensor(input, name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                             f"got {tuple(x.shape)}")
        want = x.shape[:-1] + (self.hidden_size,)
        if hx is None:
            return x, [_zeros(want, x) for _ in range(n_states)]
        if n_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h, c), got {type(hx).__name__}")
            return x, [_check_state(h, want, ("h", "c")[i], name) for i, h in enumerate(hx)]
        return x, [_check_state(hx, want, "hx", name)]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,) = self._inputs(input, hx, 1)
        step = rnn_tanh_step if self.nonlinearity == "tanh" else rnn_relu_step
        return step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, (h, c) = self._inputs(input, hx, 2)
        return lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,) = self._inputs(input, hx, 1)
        return gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)


# -- a character-level language model ----------------------------------------------------------------

class RecurrentLM(Module):
    """Embedding -> RNN / LSTM / GRU (batch_first) -> Linear: logits (N, L, vocab) for ids (N, L).

    `step(ids, state)` runs one time step on ids (N,) and returns (logits (N, vocab), state), so sampling
    costs one step per character.
    """

    KINDS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

    def __init__(self, vocab_size, hidden_size=128, kind="lstm", num_layers=1, embedding_dim=None, dropout=0.0,
                 device=None, dtype=None):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"RecurrentLM: kind must be one of {', '.join(self.KINDS)}, got {kind!r}")
        self.kind = kind
        self.vocab_size, self.hidden_size = int(vocab_size), int(hidden_size)
        self.embedding_dim = int(embedding_dim or min(self.hidden_size, 64))
        self.embedding = Embedding(self.vocab_size, self.embedding_dim, device=device, dtype=dtype)
        self.rnn = self.KINDS[kind](self.embedding_dim, self.hidden_size, num_layers, batch_first=True,
                                    dropout=dropout, device=device, dtype=dtype)
        self.head = Linear(self.hidden_size, self.vocab_size, device=device, dtype=dtype)

    def forward(self, ids):
        out, _ = self.rnn(self.embedding(ids))
        return self.head(out)

    def step(self, ids, state=None):
        out, state = self.rnn(self.embedding(np.asarray(ids).reshape(-1, 1)), state)
        return self.head(out[:, 0]), state
