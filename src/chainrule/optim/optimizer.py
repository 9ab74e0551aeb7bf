"""Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict (as PyTorch).

Updates are made in place on each parameter's array, in its own dtype (float32 stays float32).
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..backend import backend_of, namespace
from ..core import TensorBase, unwrap

# hyper-parameter: (low, high, high excluded?); every optimizer's groups are checked against it
HYPER = {"lr": (0, math.inf, False), "weight_decay": (0, math.inf, False), "eps": (0, math.inf, False),
         "momentum": (0, math.inf, False), "dampening": (0, 1, False), "alpha": (0, 1, False), "rho": (0, 1, False),
         "betas": (0, 1, True), "lr_decay": (0, math.inf, False), "initial_accumulator_value": (0, math.inf, False)}


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        if isinstance(params, TensorBase):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors (e.g. "
                            "model.parameters()), not a single Tensor")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or of parameter groups "
                            f"(dicts), got {type(params).__name__}") from None
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        self.state = {}   # parameter -> dict of arrays and counters
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a parameter group is a dict with a 'params' entry, got "
                            f"{group!r:.80}")
        group = dict(group)
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, TensorBase) else list(ps)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, TensorBase):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require grad")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
            seen.add(id(p))
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check(group)
        self.param_groups.append(group)

    def _check(self, group):
        """Every hyper-parameter a group holds, against its range (`HYPER`): a real number, finite, inside
        the range; `betas` a pair of them. A bad one is refused by name, before any step could spread it."""
        name = type(self).__name__
        for k, v in group.items():
            lim = HYPER.get(k)
            if lim is None:
                continue
            lo, hi, open_hi = lim
            vals = v if k == "betas" else (v,)
            if k == "betas" and not (isinstance(v, (tuple, list)) and len(v) == 2):
                raise ValueError(f"{name}: betas must be a pair of numbers in [0, 1), got {v!r}")
            for x in vals:
                ok = isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
                    and math.isfinite(x) and lo <= x and (x < hi if open_hi else x <= hi)
                if not ok:
                    if k == "lr":
                        raise ValueError(f"{name}: invalid learning rate {x!r} (must be a finite number >= 0)")
                    where = f"[{lo}, {hi})" if open_hi else f"[{lo}, {hi}]" if hi != math.inf else f">= {lo}"
                    raise ValueError(f"{name}: invalid {k} {v!r} (must be a finite number {'in ' * (hi != math.inf)}"
                                     f"{where})")
        if "betas" in group:
            group["betas"] = tuple(group["betas"])

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p._grad = namespace(p._data).zeros_like(p._data)

    def _params_with_grad(self, group):
        lr = group["lr"]
        if type(lr) not in (float, int) or not 0 <= lr < math.inf:  # set by hand or by a scheduler
            self._check(group)
        for p in group["params"]:
            g = p._grad  # (the array as the engine stored it: no GradArray view on the update path)
            if g is None:
                continue
            g = g._data if isinstance(g, TensorBase) else g if backend_of(g) is not None else np.asarray(g)
            if g.shape != p._data.shape:
                raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for a parameter of shape "
                                 f"{p._data.shape}")
            yield p, g, self.state.setdefault(p, {})

    @staticmethod
    def _coupled(group, p, g):
        """The gradient an update follows: negated under `maximize`, plus weight_decay * p (L2, coupled)."""
        if group.get("maximize"):
            g = -g
        wd = group["weight_decay"]
        return g + wd * p._data if wd else g

    @staticmethod
    def _bump(p):
        p.bump_version()

    def step(self):
        raise NotImplementedError

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {name: array or number}}, 'param_groups': [{hyper-parameters, 'params': [indices]}]}"""
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        name = type(self).__name__
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the checkpoint has {len(groups)} parameter groups, "
                             f"this optimizer {len(self.param_groups)}")
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(saved['params'])} parameters in "
                                 f"the checkpoint but {len(own['params'])} here")
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[int(i)] = p
        new_state = {}
        for i, st in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter index {i}")
            entry = {}
            for k, v in st.items():
                if isinstance(v, (np.ndarray, TensorBase)):
                    v = np.array(unwrap(v), dtype=p._data.dtype)
                    if v.shape != p._data.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{k}' of parameter {i} has shape "
                                         f"{v.shape}, the parameter {p._data.shape}")
                elif isinstance(v, np.generic):
                    v = v.item()
                entry[k] = v
            new_state[p] = entry
        merged = [{**own, **{k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}}
                  for saved, own in zip(groups, self.param_groups)]
        for g in merged:
            self._check(g)  # a checkpoint's hyper-parameters are input like any other
        self.state = new_state
        for g, own in zip(merged, self.param_groups):
            own.update(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
