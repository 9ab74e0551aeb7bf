"""The LSTM recurrence over a whole sequence as one fused primitive, `lstm_scan` (issue 15).

Its composite twin is `nn.recurrent.lstm_step` applied step by step (what `nn.LSTMCell` runs, and what
`explain` shows gate by gate); the tests check the two against each other and against PyTorch. The
fused node pays because a composite sequence slices the input projection once per step: each slice's
backward is a zero array of the whole sequence's size, summed L times (quadratic memory traffic), and
each step adds sixteen nodes. Here the forward loops over time in NumPy and the fast rule is
backpropagation through time in one loop, with the weight gradient as one matmul over all steps.

    hc = lstm_scan(xw, h0, c0, w_hh)     # xw (L, N, 4H) = x W_ihᵀ + b_ih + b_hh; h0, c0 (N, H); w_hh (4H, H)
    hc[:, 0], hc[:, 1]                   # every step's h and c, shape (L, 2, N, H)

Gates in PyTorch's order i, f, g, o: c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapeError


def _check(xw, h0, c0, w_hh):
    xs, hs, cs, ws = np.shape(xw), np.shape(h0), np.shape(c0), np.shape(w_hh)
    if len(xs) != 3 or len(hs) != 2 or hs != cs or ws != (4 * hs[1], hs[1]) or xs[1:] != (hs[0], 4 * hs[1]):
        raise ShapeError(f"lstm_scan: expected xw (L, N, 4H), h0 and c0 (N, H), w_hh (4H, H); got xw {xs}, "
                         f"h0 {hs}, c0 {cs}, w_hh {ws}")


def _gate_scales(H, dtype):
    """σ(z) = ½ tanh(z/2) + ½: scaling the i, f, o pre-activations by ½ (exact in binary) lets one tanh
    over all four gates give every activation, then `* outer + shift` turns i, f, o into sigmoids."""
    inner = np.full(4 * H, 0.5, dtype=dtype)
    inner[2 * H:3 * H] = 1
    shift = np.where(inner == 1, 0, 0.5).astype(dtype)
    return inner, inner, shift


def _lstm_fwd(xw, h0, c0, w_hh):
    _check(xw, h0, c0, w_hh)
    L, N, G = xw.shape
    H = G // 4
    dtype = np.result_type(xw, h0, c0, w_hh)
    inner, outer, shift = _gate_scales(H, dtype)
    xs = xw * inner
    wt = (w_hh * inner[:, None]).T
    hc = np.empty((L, 2, N, H), dtype=dtype)
    acts = np.empty((L, N, G), dtype=dtype)  # i, f, g, o after their sigmoid / tanh
    tcs = np.empty((L, N, H), dtype=dtype)   # tanh(c_t)
    h, c_prev, ig = h0, c0, np.empty((N, H), dtype=dtype)
    for t in range(L):
        a = acts[t]
        np.matmul(h, wt, out=a)
        a += xs[t]
        np.tanh(a, out=a)
        a *= outer
        a += shift
        c = hc[t, 1]
        np.multiply(a[:, H:2 * H], c_prev, out=c)
        np.multiply(a[:, :H], a[:, 2 * H:3 * H], out=ig)
        c += ig
        np.tanh(c, out=tcs[t])
        h = hc[t, 0]
        np.multiply(a[:, 3 * H:], tcs[t], out=h)
        c_prev = c
    return hc, acts, tcs


def _lstm_fast(need, g, hc, xw, h0, c0, w_hh, acts, tcs):
    """Backpropagation through time. What each step multiplies by is precomputed for all steps at once:
    the gates' local derivatives times the other factor of their product (c' = f c + i g, h = o tanh c');
    the loop keeps only the recurrence: dh_t = upstream + dz_{t+1} W_hh, dc_t = upstream + f_{t+1} dc_{t+1}
    + dh_t o_t (1 - tanh² c_t)."""
    L, _, N, H = hc.shape
    i, f, gg, o = acts[..., :H], acts[..., H:2 * H], acts[..., 2 * H:3 * H], acts[..., 3 * H:]
    c_prev = np.concatenate([c0[None], hc[:-1, 1]])
    by_dc = np.empty((L, N, 3, H), dtype=acts.dtype)  # dz_i, dz_f, dz_g per unit of dc
    np.multiply(gg, i * (1 - i), out=by_dc[:, :, 0])
    np.multiply(c_prev, f * (1 - f), out=by_dc[:, :, 1])
    np.multiply(i, 1 - gg * gg, out=by_dc[:, :, 2])
    o_by_dh = tcs * o * (1 - o)                        # dz_o per unit of dh
    c_by_dh = o * (1 - tcs * tcs)                      # dc per unit of dh
    dz = np.empty_like(acts)
    dz4 = dz.reshape(L, N, 4, H)
    dh = np.zeros_like(hc[0, 0])
    dc = np.zeros_like(dh)
    tmp = np.empty_like(dh)
    for t in range(L - 1, -1, -1):
        dh += g[t, 0]
        dc += g[t, 1]
        np.multiply(dh, c_by_dh[t], out=tmp)
        dc += tmp
        np.multiply(by_dc[t], dc[:, None, :], out=dz4[t, :, :3])
        np.multiply(dh, o_by_dh[t], out=dz4[t, :, 3])
        dc *= f[t]
        np.matmul(dz[t], w_hh, out=dh)
    gw = None
    if need[3] is not None:
        h_prev = np.concatenate([h0[None], hc[:-1, 0]])
        gw = dz.reshape(-1, 4 * H).T @ h_prev.reshape(-1, H)
    return (dz if need[0] is not None else None, dh if need[1] is not None else None,
            dc if need[2] is not None else None, gw)


def _lstm_xfwd(xp, xw, h0, c0, w_hh):
    """The forward on another backend: the same operations in the same order as `_lstm_fwd`, in the
    namespace's functions (no `out=`). Its residuals are None: there the differentiable rule runs, which
    reads only the inputs."""
    _check(xw, h0, c0, w_hh)
    L, N, G = xw.shape
    H = G // 4
    dt = xp.result_type(xw, h0, c0, w_hh)
    half, one = xp.full((H,), 0.5, dtype=dt, device=xw.device), xp.ones((H,), dtype=dt, device=xw.device)
    scale = xp.concatenate([half, half, one, half])
    shift = xp.concatenate([half, half, 0 * one, half])
    xs = xw * scale
    wt = xp.transpose(w_hh * xp.reshape(scale, (G, 1)))
    h, c, out = h0, c0, []
    for t in range(L):
        a = xp.tanh(xp.matmul(h, wt) + xs[t, ...]) * scale + shift
        c = a[:, H:2 * H] * c + a[:, :H] * a[:, 2 * H:3 * H]
        h = a[:, 3 * H:] * xp.tanh(c)
        out.append(xp.stack([h, c]))
    return xp.stack(out), None, None


def _sig(xp, z):
    return 0.5 * xp.tanh(0.5 * z) + 0.5  # σ(z), in the names every namespace has


def _lstm_vjp(xp, need, g, ans, xw, h0, c0, w_hh, acts, tcs):
    """Backpropagation through time in `xp`'s functions: on another backend's arrays, or on Tensors (under
    create_graph: the forward is recomputed from the inputs, so second derivatives flow through every
    gate)."""
    L, H = xw.shape[0], h0.shape[-1]
    steps, h, c = [], h0, c0
    for t in range(L):
        z = xw[t, ...] + h @ xp.transpose(w_hh)
        i, f, o = _sig(xp, z[:, :H]), _sig(xp, z[:, H:2 * H]), _sig(xp, z[:, 3 * H:])
        gg = xp.tanh(z[:, 2 * H:3 * H])
        c_prev, c = c, f * c + i * gg
        tc = xp.tanh(c)
        steps.append((i, f, gg, o, c_prev, tc, h))
        h = o * tc
    dzs, dh, dc = [None] * L, None, None
    for t in range(L - 1, -1, -1):
        i, f, gg, o, c_prev, tc, h_prev = steps[t]
        dh = g[t, 0, ...] if dh is None else g[t, 0, ...] + dh
        dc = (g[t, 1, ...] if dc is None else g[t, 1, ...] + dc) + dh * o * (1 - tc * tc)
        dzs[t] = xp.concatenate([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - gg * gg),
                                 dh * tc * o * (1 - o)], axis=-1)
        dc = dc * f
        dh = dzs[t] @ w_hh
    dz = xp.stack(dzs)
    gw = None
    if need[3] is not None:
        h_prev = xp.stack([s[6] for s in steps])
        gw = xp.transpose(xp.reshape(dz, (-1, 4 * H))) @ xp.reshape(h_prev, (-1, H))
    return (dz if need[0] is not None else None, dh if need[1] is not None else None,
            dc if need[2] is not None else None, gw)


lstm_scan = Primitive("lstm_scan", _lstm_fwd, _lstm_vjp, fast=_lstm_fast, inputs="xw h0 c0 w_hh",
                      reads="xw h0 c0 w_hh", fast_reads="out h0 c0 w_hh acts tcs", residuals="acts tcs",
                      xfwd=_lstm_xfwd, local=("backpropagation through time: Σ over later steps of upstream × gates",
                             "upstream through every step's gates", "upstream × the product of forget gates",
                             "Σ over steps of dgatesᵀ @ h_{t-1}"),
                      doc="the LSTM recurrence over a sequence as one node (fused; twin: nn.recurrent.lstm_step)")
