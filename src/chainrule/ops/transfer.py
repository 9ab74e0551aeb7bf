"""`to_device`: a tensor's values on another device, as one node (the node of `t.to(device)`, as in
PyTorch), whose backward moves the gradient back to the input's device. The graph may so span devices:
every node runs the rule of its own namespace (ops/dispatch.py), and each leaf's `.grad` lives where
the leaf does."""

from __future__ import annotations

from .. import backend as be
from ..core import Primitive


def _move(x, dev, src):
    return be.to_device(x, dev)


to_device = Primitive("to_device", _move, lambda xp, need, g, ans, x, dev, src: (xp.to_device(g, src),),
                      xfwd=lambda xp, x, dev, src: be.to_device(x, dev),
                      local=("upstream, copied back to {x}'s device",),
                      doc="the values on another device (t.to(device)); the gradient goes back to the input's")


def move(t, dev):
    """Tensor `t` on device `dev` (a `backend.device`), recorded when it requires grad."""
    return to_device(t, dev=dev, src=be.device_of(t._data))
