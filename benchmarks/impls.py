"""The workloads written for each library: hand-written NumPy (the floor), chainrule, PyTorch.

`IMPLS[lib](threads)` imports the library; `.case(workload, data)` returns a `Case`:
- `step()`: one timed iteration (forward, backward and, for the MLPs, the SGD update). The chain
  workloads return {"forward": s, "backward": s} measured inside the step.
- `grads()`: gradients (and the loss) at the initial data, from fresh tensors, as NumPy arrays.
A workload a library cannot run raises `NotAvailable` with the reason.
"""

from __future__ import annotations

import math
import time

import numpy as np
from workloads import chain_consts, elementwise_chain, mlp_names, scalar_mlp_loss

CLOCK = time.perf_counter  # the clock of the forward/backward split; run.py --clock cpu sets process_time


class NotAvailable(Exception):
    pass


class Case:
    def __init__(self, step, grads):
        self.step, self.grads = step, grads


class Impl:
    name = ""

    def __init__(self, threads):
        self.threads = threads

    def info(self):
        return {}

    def case(self, wl, d):
        fn = getattr(self, wl.name, None)
        if fn is None:
            raise NotAvailable(f"{self.name} has no {wl.name}")
        return fn(wl, d)


# ==================================================================================================
# Hand-written NumPy: forward and backward derived by hand, CS231n style
# ==================================================================================================

def _py_mlp(P, X, Y, layers):
    """scalar_mlp on plain Python floats with a hand-derived backward pass: no graph at all."""
    n_layers = len(layers) - 1
    grad = [0.0] * len(P)
    loss = 0.0
    inv_n = 1.0 / len(X)
    for x, y in zip(X, Y):
        acts = [x]
        k = 0
        for li in range(n_layers):
            nin, nout = layers[li], layers[li + 1]
            a, out = acts[-1], []
            for _ in range(nout):
                s = P[k + nin]
                for i in range(nin):
                    s += P[k + i] * a[i]
                k += nin + 1
                out.append(s if li == n_layers - 1 else math.tanh(s))
            acts.append(out)
        err = acts[-1][0] - y
        loss += err * err
        up = [2.0 * err * inv_n]
        for li in range(n_layers - 1, -1, -1):
            nin, nout = layers[li], layers[li + 1]
            k -= (nin + 1) * nout
            a_in, a_out = acts[li], acts[li + 1]
            down = [0.0] * nin
            for j in range(nout):
                g = up[j] if li == n_layers - 1 else up[j] * (1.0 - a_out[j] * a_out[j])
                base = k + j * (nin + 1)
                grad[base + nin] += g
                for i in range(nin):
                    grad[base + i] += g * a_in[i]
                    down[i] += g * P[base + i]
            up = down
    return loss * inv_n, grad


def _np_chain(x, n, consts):
    add, sub, mul, div = consts
    t0 = CLOCK()
    tanh_out = {}
    for i in range(n):
        odd, kind = (i // 3) & 1, i % 3
        if kind == 0:
            x = x + (sub if odd else add)
        elif kind == 1:
            x = x * (div if odd else mul)
        else:
            x = np.tanh(x)
            tanh_out[i] = x
    loss = x.sum()
    t1 = CLOCK()
    g = np.ones_like(x)
    for i in range(n - 1, -1, -1):
        kind = i % 3
        if kind == 1:
            g = g * (div if (i // 3) & 1 else mul)
        elif kind == 2:
            y = tanh_out[i]
            g = g * (1.0 - y * y)
    t2 = CLOCK()
    return loss, g, {"forward": t1 - t0, "backward": t2 - t1}


def _np_mlp(params, X, y):
    n_layers = len(params) // 2
    inputs, h = [], X
    for li in range(n_layers):
        inputs.append(h)
        h = h @ params[2 * li] + params[2 * li + 1]
        if li < n_layers - 1:
            h = np.maximum(h, 0)
    N = len(X)
    z = h - h.max(axis=1, keepdims=True)
    ez = np.exp(z)
    sez = ez.sum(axis=1, keepdims=True)
    loss = np.log(sez[:, 0]).mean() - z[np.arange(N), y].mean()
    dz = ez / sez
    dz[np.arange(N), y] -= 1.0
    dz /= N
    grads = [None] * len(params)
    for li in range(n_layers - 1, -1, -1):
        a = inputs[li]
        grads[2 * li] = a.T @ dz
        grads[2 * li + 1] = dz.sum(axis=0)
        if li:
            dz = dz @ params[2 * li].T
            dz *= a > 0
    return loss, grads


def _np_matmul_chain(x, Ws):
    ins, h = [], x
    for i, W in enumerate(Ws):
        ins.append(h)
        h = h @ W
        if i < len(Ws) - 1:
            h = np.tanh(h)
    loss = h.sum()
    g = np.ones_like(h)
    gW = [None] * len(Ws)
    for i in range(len(Ws) - 1, -1, -1):
        gW[i] = ins[i].T @ g
        if i:
            g = g @ Ws[i].T
            t = ins[i]
            g *= 1.0 - t * t
    return loss, gW


def _np_bcast(a, b):
    s = (a * b).sum(axis=-1)                # (256, 128)
    loss = (s * s).sum()
    ds = (2.0 * s)[..., None]               # (256, 128, 1), broadcasts against a and b
    ga = (ds * b).sum(axis=1, keepdims=True)
    gb = (ds * a).sum(axis=0, keepdims=True)
    return loss, ga, gb


def _np_conv(x, W, b, pad):
    """im2col forward; col2im backward by adding the k*k shifted windows (no np.add.at)."""
    N, C, H, Wd = x.shape
    F, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = H + 2 * pad - kh + 1, Wd + 2 * pad - kw + 1
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))   # N, C, Ho, Wo, kh, kw
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * kh * kw)
    Wm = W.reshape(F, -1)
    y = cols @ Wm.T + b                                                            # (N*Ho*Wo, F)
    loss = 0.5 * (y * y).sum()
    dy = y
    dW = (dy.T @ cols).reshape(W.shape)
    db = dy.sum(axis=0)
    dcols = (dy @ Wm).reshape(N, Ho, Wo, C, kh, kw).transpose(0, 3, 4, 5, 1, 2)   # N, C, kh, kw, Ho, Wo
    dxp = np.zeros_like(xp)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + Ho, j:j + Wo] += dcols[:, :, i, j]
    return loss, dxp[:, :, pad:pad + H, pad:pad + Wd], dW, db


class NumpyHandwritten(Impl):
    name = "numpy"

    def scalar_mlp(self, wl, d):
        P, X, Y, layers = d["params"].tolist(), d["X_list"], d["Y_list"], wl.params["layers"]

        def grads():
            loss, g = _py_mlp(P, X, Y, layers)
            return {"params": np.array(g), "loss": np.array(loss)}

        return Case(lambda: _py_mlp(P, X, Y, layers), grads)

    def _chain(self, wl, d):
        n, x, consts = wl.params["n_ops"], d["x"], chain_consts(d)

        def grads():
            loss, g, _ = _np_chain(x, n, consts)
            return {"x": g, "loss": np.array(loss)}

        return Case(lambda: _np_chain(x, n, consts)[2], grads)

    op_overhead = deep_chain_memory = _chain

    def _mlp(self, wl, d):
        names, lr = mlp_names(wl), wl.params["lr"]
        params = [d[k].copy() for k in names]

        def step():
            _, gs = _np_mlp(params, d["X"], d["y"])
            for p, g in zip(params, gs):
                p -= lr * g

        def grads():
            loss, gs = _np_mlp([d[k] for k in names], d["X"], d["y"])
            return dict(zip(names, gs), loss=np.array(loss))

        return Case(step, grads)

    mlp_train_step = mlp_train_step_small = _mlp

    def matmul_chain(self, wl, d):
        Ws = [d[f"W{i}"] for i in range(wl.params["n_mats"])]

        def grads():
            loss, gW = _np_matmul_chain(d["x"], Ws)
            return dict({f"W{i}": g for i, g in enumerate(gW)}, loss=np.array(loss))

        return Case(lambda: _np_matmul_chain(d["x"], Ws), grads)

    def broadcast_reduce(self, wl, d):
        def grads():
            loss, ga, gb = _np_bcast(d["a"], d["b"])
            return {"a": ga, "b": gb, "loss": np.array(loss)}

        return Case(lambda: _np_bcast(d["a"], d["b"]), grads)

    def conv_small(self, wl, d):
        pad = wl.params["pad"]

        def grads():
            loss, dx, dW, db = _np_conv(d["x"], d["W"], d["b"], pad)
            return {"x": dx, "W": dW, "b": db, "loss": np.array(loss)}

        return Case(lambda: _np_conv(d["x"], d["W"], d["b"], pad), grads)


# ==================================================================================================
# Tensor libraries: the same code for chainrule and torch, through a few library hooks
# ==================================================================================================

class _TensorImpl(Impl):
    def leaf(self, a):           # a fresh leaf that requires grad
        raise NotImplementedError

    def const(self, a):
        raise NotImplementedError

    def to_np(self, t):
        raise NotImplementedError

    def sgd(self, params, lr):   # p -= lr * p.grad; p.grad = None
        raise NotImplementedError

    def _timed_case(self, make, loss_of, names):
        """make(): fresh leaves; loss_of(leaves) -> scalar loss. Step resets grads, runs both passes."""
        leaves = make()

        def step():
            for t in leaves:
                t.grad = None
            loss_of(leaves).backward()

        def grads():
            ts = make()
            loss = loss_of(ts)
            lv = float(loss.item())
            loss.backward()
            return dict({k: self.to_np(t.grad) for k, t in zip(names, ts)}, loss=np.array(lv))

        return Case(step, grads)

    def scalar_mlp(self, wl, d):
        X, Y, tanh = d["X_list"], d["Y_list"], self.tanh
        make = lambda: [self.scalar_leaf(v) for v in d["params"].tolist()]
        case = self._timed_case(make, lambda ps: scalar_mlp_loss(ps, X, Y, tanh), [])

        def grads():  # one flat vector rather than 337 entries
            ps = make()
            loss = scalar_mlp_loss(ps, X, Y, tanh)
            lv = float(loss.item())
            loss.backward()
            return {"params": np.array([float(self.to_np(p.grad)) for p in ps]), "loss": np.array(lv)}

        case.grads = grads
        return case

    def _chain(self, wl, d):
        n, consts, tanh = wl.params["n_ops"], tuple(self.const(c) for c in chain_consts(d)), self.tanh
        x = self.leaf(d["x"])

        def step():
            x.grad = None
            t0 = CLOCK()
            loss = elementwise_chain(x, n, consts, tanh).sum()
            t1 = CLOCK()
            loss.backward()
            t2 = CLOCK()
            return {"forward": t1 - t0, "backward": t2 - t1}

        case = self._timed_case(lambda: [self.leaf(d["x"])],
                                lambda ts: elementwise_chain(ts[0], n, consts, tanh).sum(), ["x"])
        case.step = step
        return case

    op_overhead = deep_chain_memory = _chain

    def _mlp(self, wl, d):
        names, lr = mlp_names(wl), wl.params["lr"]
        X, y = self.const(d["X"]), self.targets(d["y"])
        relu, ce = self.relu, self.cross_entropy()

        def loss_of(ps):
            h = X
            for li in range(len(ps) // 2):
                h = h @ ps[2 * li] + ps[2 * li + 1]
                if li < len(ps) // 2 - 1:
                    h = relu(h)
            return ce(h, y)

        make = lambda: [self.leaf(d[k]) for k in names]
        case = self._timed_case(make, loss_of, names)
        params = make()

        def step():
            loss_of(params).backward()
            self.sgd(params, lr)

        case.step = step
        return case

    mlp_train_step = mlp_train_step_small = _mlp

    def matmul_chain(self, wl, d):
        k, x, tanh = wl.params["n_mats"], self.const(d["x"]), self.tanh

        def loss_of(Ws):
            h = x
            for i, W in enumerate(Ws):
                h = h @ W
                if i < k - 1:
                    h = tanh(h)
            return h.sum()

        names = [f"W{i}" for i in range(k)]
        return self._timed_case(lambda: [self.leaf(d[n]) for n in names], loss_of, names)

    def broadcast_reduce(self, wl, d):
        def loss_of(ts):
            s = (ts[0] * ts[1]).sum(-1)
            return (s * s).sum()

        return self._timed_case(lambda: [self.leaf(d["a"]), self.leaf(d["b"])], loss_of, ["a", "b"])

    def conv_small(self, wl, d):
        conv, pad = self.conv2d(), wl.params["pad"]

        def loss_of(ts):
            y = conv(ts[0], ts[1], ts[2], stride=1, padding=pad)
            return 0.5 * (y * y).sum()

        names = ["x", "W", "b"]
        return self._timed_case(lambda: [self.leaf(d[n]) for n in names], loss_of, names)


class Chainrule(_TensorImpl):
    name = "chainrule"

    def __init__(self, threads):
        super().__init__(threads)
        import chainrule as cr
        self.cr = cr
        self.tanh, self.relu = cr.tanh, cr.relu
        try:
            from chainrule.nn import functional as F
        except ImportError:
            F = None
        self.F = F

    def info(self):
        return {"chainrule": getattr(self.cr, "__version__", "?"), "chainrule_path": self.cr.__file__}

    def leaf(self, a):
        return self.cr.tensor(np.array(a, copy=True), requires_grad=True)

    def scalar_leaf(self, v):
        return self.cr.tensor(float(v), requires_grad=True)

    def const(self, a):
        return a  # NumPy constants mix with Tensors directly

    def targets(self, y):
        return y

    def to_np(self, g):
        return np.array(getattr(g, "data", g), copy=True)

    def _nn(self, fn):
        if self.F is None or not hasattr(self.F, fn):
            raise NotAvailable(f"chainrule.nn.functional.{fn} not available")
        return getattr(self.F, fn)

    def cross_entropy(self):
        return self._nn("cross_entropy")

    def conv2d(self):
        return self._nn("conv2d")

    def sgd(self, params, lr):
        for p in params:
            p.data -= lr * p.grad
            p.grad = None


class Torch(_TensorImpl):
    name = "torch"

    def __init__(self, threads):
        super().__init__(threads)
        import torch
        torch.set_num_threads(threads)
        self.torch = torch
        self.tanh, self.relu = torch.tanh, torch.relu

    def info(self):
        return {"torch": self.torch.__version__, "torch_threads": self.torch.get_num_threads()}

    def leaf(self, a):
        return self.torch.tensor(np.array(a, copy=True), requires_grad=True)

    def scalar_leaf(self, v):
        return self.torch.tensor(float(v), dtype=self.torch.float64, requires_grad=True)

    def const(self, a):
        return self.torch.from_numpy(np.array(a, copy=True))

    def targets(self, y):
        return self.torch.from_numpy(y)

    def to_np(self, g):
        return g.detach().numpy().copy()

    def cross_entropy(self):
        return self.torch.nn.functional.cross_entropy

    def conv2d(self):
        return self.torch.nn.functional.conv2d

    def sgd(self, params, lr):
        with self.torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None


IMPLS = {"numpy": NumpyHandwritten, "chainrule": Chainrule, "torch": Torch}
