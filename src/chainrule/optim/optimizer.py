"""Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict (as PyTorch).

Updates are made in place on each parameter's array, in its own dtype (float32 stays float32).
"""

from __future__ import annotations

import copy

import numpy as np

from ..backend import backend_of, namespace
from ..core import TensorBase, unwrap


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        if isinstance(params, TensorBase):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors (e.g. "
                            "model.parameters()), not a single Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        self.state = {}   # parameter -> dict of arrays and counters
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
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
        lr = group.get("lr", 0)
        if not (isinstance(lr, (int, float, np.number)) and np.isfinite(lr) and lr >= 0):  # refuses nan too
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr!r} (must be a finite number >= 0)")

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p._grad = namespace(p._data).zeros_like(p._data)

    def _params_with_grad(self, group):
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
        self.state = new_state
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
