"""SGD, RMSprop, Adam, AdamW and Adadelta with PyTorch's update rules (same hyper-parameter names).

Each update runs in the namespace of the parameter's array (NumPy, or its backend's: `namespace`), in
place, so a model moved to a device trains there."""

from __future__ import annotations

import math

from ..backend import namespace
from .optimizer import Optimizer


class SGD(Optimizer):
    """p -= lr * d, with d = g + wd p, then momentum buffer b = mu b + (1 - dampening) d (b = d at first),
    and d = b, or d + mu b for Nesterov."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _check(self, group):
        super()._check(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self):
        for group in self.param_groups:
            lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
            nesterov = group["nesterov"]
            for p, g, st in self._params_with_grad(group):
                xp = namespace(p._data)
                g = self._coupled(group, p, g)
                if mu:
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = xp.asarray(g, dtype=p._data.dtype, copy=True)
                    else:
                        buf *= mu
                        buf += (1 - damp) * g
                    g = g + mu * buf if nesterov else buf
                p._data -= lr * g
                self._bump(p)


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def step(self):
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            mu, centered = group["momentum"], group["centered"]
            for p, g, st in self._params_with_grad(group):
                xp = namespace(p._data)
                if not st:
                    st["step"] = 0
                    st["square_avg"] = xp.zeros_like(p._data)
                    if mu:
                        st["momentum_buffer"] = xp.zeros_like(p._data)
                    if centered:
                        st["grad_avg"] = xp.zeros_like(p._data)
                st["step"] += 1
                g = self._coupled(group, p, g)
                sq = st["square_avg"]
                sq *= alpha
                sq += (1 - alpha) * g * g
                if centered:
                    ga = st["grad_avg"]
                    ga *= alpha
                    ga += (1 - alpha) * g
                    avg = xp.sqrt(sq - ga * ga) + eps
                else:
                    avg = xp.sqrt(sq) + eps
                if mu:
                    buf = st["momentum_buffer"]
                    buf *= mu
                    buf += g / avg
                    p._data -= lr * buf
                else:
                    p._data -= lr * (g / avg)
                self._bump(p)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay adds wd * p to the gradient (L2)."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            wd, amsgrad = group["weight_decay"], group["amsgrad"]
            for p, g, st in self._params_with_grad(group):
                xp = namespace(p._data)
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = xp.zeros_like(p._data)
                    st["exp_avg_sq"] = xp.zeros_like(p._data)
                    if amsgrad:
                        st["max_exp_avg_sq"] = xp.zeros_like(p._data)
                st["step"] += 1
                t = st["step"]
                if wd:
                    if self._decoupled:
                        p._data *= 1 - lr * wd
                    else:
                        g = g + wd * p._data
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                if amsgrad:
                    vmax = st["max_exp_avg_sq"]
                    vmax[...] = xp.maximum(vmax, v)
                    v = vmax
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                denom = xp.sqrt(v) / math.sqrt(bc2) + eps
                p._data -= (lr / bc1) * (m / denom)
                self._bump(p)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * wd before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's update: v = rho v + (1 - rho) g², d = sqrt(u + eps) / sqrt(v + eps) g,
    u = rho u + (1 - rho) d², p -= lr d; weight_decay adds wd * p to the gradient."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def step(self):
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            for p, g, st in self._params_with_grad(group):
                xp = namespace(p._data)
                if not st:
                    st["step"] = 0
                    st["square_avg"] = xp.zeros_like(p._data)
                    st["acc_delta"] = xp.zeros_like(p._data)
                st["step"] += 1
                g = self._coupled(group, p, g)
                v, u = st["square_avg"], st["acc_delta"]
                v *= rho
                v += (1 - rho) * g * g
                delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g
                u *= rho
                u += (1 - rho) * delta * delta
                p._data -= lr * delta
                self._bump(p)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's update: s += g², p -= lr_t g / (sqrt(s) + eps), with
    lr_t = lr / (1 + (t - 1) lr_decay); s starts at initial_accumulator_value; weight_decay adds wd * p."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def step(self):
        for group in self.param_groups:
            lr, decay, eps = group["lr"], group["lr_decay"], group["eps"]
            for p, g, st in self._params_with_grad(group):
                xp = namespace(p._data)
                if not st:
                    st["step"] = 0
                    st["sum"] = xp.full_like(p._data, group["initial_accumulator_value"])
                st["step"] += 1
                g = self._coupled(group, p, g)
                st["sum"] += g * g
                p._data -= lr / (1 + (st["step"] - 1) * decay) * g / (xp.sqrt(st["sum"]) + eps)
                self._bump(p)
