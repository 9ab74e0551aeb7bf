"""Ops on other backends' arrays: what the core hands over (`engine.provide(..., foreign=FOREIGN)`)
when an input is not a NumPy array or number.

NumPy never comes here: `Primitive.__call__` checks `type(d) is np.ndarray` and the scalar types
first, so the NumPy path is the one it always was. The first input of another type sends the whole
application here, where it is checked once (one backend, one device, or an error naming the op and
both devices; a tensor on the CPU is refused, a plain NumPy array is a constant and is copied to the
device), NumPy scalars become Python numbers (which every backend combines with its arrays),
and the primitive's backend forward `xfwd(xp, ...)` runs with `xp` the backend (its Array API
namespace plus the shim). A primitive without one refuses, naming the op and the backend.

The node records the primitive's version for that backend (`on_backend`): the same name, inputs,
reads and trace fields, no fast rule (fast rules are NumPy's), and the differentiable rule bound to
the backend as its `xp` (under create_graph it gets the Tensor namespace, as every rule does). So
each node of a backward pass runs its own namespace's rule, and one pass can cross devices
(`to_device`, the node of `t.to(device)`, moves the gradient back to its input's device).
"""

from __future__ import annotations

import numpy as np

from .. import backend as be
from ..core import REGISTRY, Primitive, ShapeError, TensorBase, emit, state, unwrap
from .namespaces import ARRAY_NS


class UnsupportedOnBackend(NotImplementedError):
    """An op has no forward for the backend of its inputs."""


def _where(d):
    b = be.backend_of(d)
    return be.CPU if b is None else b.device_of(d)


class Foreign:
    def apply(self, prim, args, params):
        datas, parents, devices, backend, needs = [], [], [], None, False
        for a in args:
            d = a._data if isinstance(a, TensorBase) else a
            b = be.backend_of(d)
            if b is None:
                if isinstance(d, np.ndarray) and type(d) is not np.ndarray:
                    d = np.asarray(d)  # an ndarray subclass (such as .grad): a plain view of it
                    if isinstance(a, TensorBase):
                        a._data = d
                if type(d) is np.ndarray and isinstance(a, TensorBase) and (d.ndim or a.requires_grad) \
                        and be.CPU not in devices:
                    devices.append(be.CPU)  # a CPU tensor (a plain NumPy constant is copied over, below)
            else:
                backend = b
                dev = b.device_of(d)
                if dev not in devices:
                    devices.append(dev)
            if isinstance(a, TensorBase) and a.requires_grad:
                parents.append(a if a._node is None else a._node)
                needs = True
            else:
                parents.append(None)
            datas.append(d)
        if len(devices) > 1:
            raise RuntimeError(f"{prim.name}: the inputs are on different devices, {devices[0]} and {devices[1]}; "
                               "move them to one device first (t.to(device))")
        if backend is None:  # only NumPy after all (an ndarray subclass was given): NumPy's path
            return prim(*[d if p is None else a for d, p, a in zip(datas, parents, args)], **params)
        if prim.xfwd is None:
            raise UnsupportedOnBackend(f"{prim.name}: not supported on the '{backend.name}' backend (this op is "
                                       "written for NumPy only; move its inputs to the CPU with .cpu())")
        # NumPy numbers (and 0-d constants) as Python numbers, which combine with any backend's arrays;
        # NumPy arrays that are not tensors (constants: masks, targets) copied to the device
        dev = devices[0]
        datas = [d.item() if isinstance(d, np.generic) or type(d) is np.ndarray and not d.ndim else
                 backend.from_host(d, dev) if type(d) is np.ndarray else d for d in datas]
        try:
            out = prim.xfwd(backend, *datas, **params)
        except ValueError as e:
            shapes = " and ".join(str(tuple(getattr(d, "shape", ()))) for d in datas)
            raise ShapeError(f"{prim.name}: cannot combine inputs of shapes {shapes} ({e})") from None
        out, res = (out[0], out[1:]) if prim.residuals else (out, ())
        shapes = tuple(tuple(d.shape) if hasattr(d, "shape") else () for d in datas)
        limit = state.keep_up_to  # large arrays: the node keeps only what its rules read, as on NumPy
        large = getattr(out, "size", 0) > limit or any(getattr(d, "size", 0) > limit for d in datas)
        return emit(on_backend(prim, backend), datas, parents, shapes, large, out, params, res, needs)

    def namespace_of(self, g):
        """The `xp` that reduces a broadcast gradient `g` of another backend (None: g's own methods)."""
        return None if isinstance(g, (TensorBase, np.generic)) else be.backend_of(g)

    def grad(self, g, dtype):
        """A gradient on another backend, as `.grad` stores it: its own copy, in the leaf's dtype."""
        return be.backend_of(g).ns.astype(g, dtype, copy=True)


FOREIGN = Foreign()
_VERSIONS: dict = {}  # (primitive, backend) -> the primitive's version for that backend


def on_backend(prim, b):
    """`prim` as the nodes of backend `b` record it: its differentiable rule with `b` as `xp`, no fast rule,
    the forward on `b`'s arrays; everything else (name, inputs, reads, trace fields) the same."""
    v = _VERSIONS.get((prim, b))
    if v is None:
        vjp, xfwd = prim.vjp, prim.xfwd

        def rule(xp, *args, **params):
            return vjp(b if xp is ARRAY_NS else xp, *args, **params)

        def fwd(*datas, **params):
            return xfwd(b, *datas, **params)

        v = Primitive(prim.name, fwd, rule, inputs=" ".join(prim.inputs), residuals=" ".join(prim.residuals),
                      xfwd=xfwd, broadcasts=prim.broadcasts, elementwise=prim.elementwise, gate=prim.gate,
                      symbol=prim.symbol, local=prim.local, doc=prim.doc, register=False)
        v._reads, v._plans = prim._reads, prim._plans
        if REGISTRY.get(prim.name) is prim:  # (kept for registered ones; a cr.compile replay's is made per call)
            _VERSIONS[(prim, b)] = _VERSIONS[(v, b)] = v
    return v


def backend_of_tensor(t):
    """The Backend of a tensor's array (None: NumPy)."""
    return be.backend_of(unwrap(t))


def device_of(t):
    return _where(unwrap(t))
