"""Module and Parameter: layers that own tensors, found by attribute (as PyTorch).

A Module's parameters are the `Parameter` attributes of it and of its submodules (Module
attributes), in the order they were set; buffers (running statistics) are registered by name.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import backend
from ..core import TensorBase, unwrap
from ..debug.scopes import note_call
from ..ops import Tensor, dtypes


class Parameter(Tensor):
    """A Tensor that a Module learns: requires_grad=True, and found by Module.parameters()."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None, name=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class: subclasses set Parameters and Modules as attributes and define forward()."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffers", OrderedDict())

    def __setattr__(self, name, value):
        buffers = self.__dict__.get("_buffers")
        if buffers is None:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before setting attributes")
        if name in buffers:
            buffers[name] = None if value is None else np.asarray(unwrap(value))
            return
        # label parameters with their path ("0.weight") for traces and drawings, unless named already
        if isinstance(value, Parameter) and value.name is None:
            value.name = name
        elif isinstance(value, Module):
            for pname, p in value.named_parameters():
                if p.name == pname:
                    p.name = f"{name}.{pname}"
        object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called when normal lookup fails: buffers
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def register_buffer(self, name, value):
        """A named array saved in state_dict but not trained (e.g. BatchNorm's running mean)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if value is None else np.asarray(value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        note_call(self, args, out)  # which nodes this module computed, for drawings (debug/scopes.py)
        return out

    # -- traversal ----------------------------------------------------------------------------
    def named_children(self):
        for name, v in self.__dict__.items():
            if isinstance(v, Module):
                yield name, v

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        seen = set()
        for mname, m in self.named_modules(prefix):
            for name, v in m.__dict__.items():
                if isinstance(v, Parameter) and id(v) not in seen:
                    seen.add(id(v))
                    yield (f"{mname}.{name}" if mname else name), v

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        for mname, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{name}" if mname else name), b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients --------------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = np.zeros_like(p._data)

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def to(self, *args, dtype=None, non_blocking=False, **kwargs):
        """to(dtype), to(device), to(device, dtype), to(tensor), as PyTorch's: move every parameter and
        buffer to the device ("cpu", "cuda", "array_api_strict") and cast the floating-point ones to the
        dtype (e.g. cr.float64). The parameters stay the same objects (an optimizer made before keeps
        working); their gradients are dropped."""
        device = kwargs.pop("device", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}.to: unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, TensorBase):
                dtype = a.dtype
            elif isinstance(a, dtypes.device) or isinstance(a, str) and a.partition(":")[0] in backend.DEVICE_TYPES:
                device = a
            else:
                dtype = a
        dev = None if device is None else dtypes.check_device(device, f"{type(self).__name__}.to")
        if dtype is not None:
            dtype = dtypes.to_dtype(dtype, f"{type(self).__name__}.to")
            if dtype.kind not in "fc":
                raise TypeError(f"{type(self).__name__}.to: parameters need a floating-point dtype, got {dtype}")

        def moved(a):
            if dtype is not None and _dtype(a).kind == "f" and _dtype(a) != dtype:
                b = backend.backend_of(a)
                a = a.astype(dtype) if b is None else b.astype(a, dtype)
            return a if dev is None else backend.to_device(a, dev)

        for p in self.parameters():
            a = moved(p._data)
            if a is not p._data:
                p._data = a
                p.grad = None
                p.bump_version()
        for m in self.modules():
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = moved(b)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def type(self, dst_type):
        return self.to(dst_type)

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self):
        """name -> array for every parameter and buffer (the arrays themselves, not copies: handed out, as
        by `.data`)."""
        out = OrderedDict((n, p._expose()) for n, p in self.named_parameters())
        out.update(self.named_buffers())
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters and buffers; refuse missing, unexpected or mis-shaped keys."""
        targets = dict(self.named_parameters())
        buffers = {}
        for mname, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    buffers[f"{mname}.{name}" if mname else name] = (m, name, b)
        own = set(targets) | set(buffers)
        given = {k: _numeric(k, v) for k, v in state_dict.items()}
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        shapes = [f"{k}: checkpoint {given[k].shape} vs model "
                  f"{targets[k].shape if k in targets else buffers[k][2].shape}"
                  for k in own & set(given)
                  if given[k].shape != (targets[k].shape if k in targets else buffers[k][2].shape)]
        problems = []
        if missing and strict:
            problems.append(f"missing keys {sorted(missing)}")
        if unexpected and strict:
            problems.append(f"unexpected keys {sorted(unexpected)}")
        if shapes:
            problems.append("shape mismatch for " + "; ".join(sorted(shapes)))
        if problems:
            raise KeyError(f"load_state_dict into {type(self).__name__}: " + ", ".join(problems))
        for k, v in given.items():
            if k in targets:  # (on the device the parameter is on)
                p = targets[k]
                dev = p.device
                p._replace(np.array(v, dtype=p.dtype))
                if dev.type != "cpu":
                    p._data = backend.to_device(p._data, dev)
            elif k in buffers:
                m, name, b = buffers[k]
                m._buffers[name] = backend.to_device(np.array(v, dtype=_dtype(b)), backend.device_of(b))
        return self

    # -- printing ----------------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        kids = list(self.named_children())
        if not kids:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in kids]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another; indexable, and named "0", "1", ... in state_dict."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {name} is a {type(m).__name__}, not a Module")
            setattr(self, name, m)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def __len__(self):
        return sum(1 for _ in self.children())

    def __iter__(self):
        return self.children()

    def __getitem__(self, i):
        mods = list(self.children())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def append(self, m):
        setattr(self, str(len(self)), m)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are found (named "0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(m).__name__}")
        setattr(self, str(len(self)), m)
        return self

    def __len__(self):
        return sum(1 for _ in self.children())

    def __iter__(self):
        return self.children()

    def __getitem__(self, i):
        return list(self.children())[i]


class ModuleDict(Module):
    """Modules by name (state_dict keys "name.weight", ...), in insertion order, as PyTorch's."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, m):
        if not isinstance(key, str) or not key.isidentifier() and not key.isdigit():
            raise KeyError(f"ModuleDict: keys must be identifiers (they name parameters), got {key!r}")
        if not isinstance(m, Module):
            raise TypeError(f"ModuleDict: item {key!r} is a {type(m).__name__}, not a Module")
        if hasattr(type(self), key) or key in ("training", "_buffers"):  # modules are attributes here
            raise KeyError(f"ModuleDict: key {key!r} is the name of a Module attribute; choose another")
        setattr(self, key, m)

    def __getitem__(self, key):
        m = self.__dict__.get(key)
        if not isinstance(m, Module):
            raise KeyError(key)
        return m

    def __delitem__(self, key):
        self[key]
        del self.__dict__[key]

    def __contains__(self, key):
        return isinstance(self.__dict__.get(key), Module)

    def __len__(self):
        return sum(1 for _ in self.children())

    def __iter__(self):
        return (name for name, _ in self.named_children())

    def keys(self):
        return list(self)

    def values(self):
        return list(self.children())

    def items(self):
        return list(self.named_children())

    def update(self, modules):
        for key, m in (modules.items() if hasattr(modules, "items") else modules):
            self[key] = m

    def pop(self, key):
        m = self[key]
        del self[key]
        return m

    def clear(self):
        for key in self.keys():
            del self[key]


def _dtype(a):
    """An array's dtype under chainrule's (NumPy's) names, on any backend."""
    b = backend.backend_of(a)
    return a.dtype if b is None else b.np_dtype(a.dtype)


def _numeric(key, value):
    arr = np.asarray(backend.to_host(unwrap(value)))
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"load_state_dict: '{key}' must hold numbers, got an array of dtype {arr.dtype}")
    return arr
