"""matmul (1-D, 2-D and batched, with broadcasting of the batch axes, as NumPy's) and the affine
layer `linear` fused into one node."""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapeError


def _matmul_fwd(a, b):
    try:
        return np.matmul(a, b)
    except ValueError:
        sa, sb = np.shape(a), np.shape(b)
        if len(sa) == 0 or len(sb) == 0:
            raise ShapeError(f"matmul: operands must have at least 1 dimension, got shapes {sa} and {sb}") from None
        ka = sa[-1]
        kb = sb[0] if len(sb) == 1 else sb[-2]
        if ka != kb:
            raise ShapeError(f"matmul: shapes {sa} and {sb} are not aligned: {ka} (last dim of the first) "
                             f"!= {kb} ({'dim 0' if len(sb) == 1 else 'second-to-last dim'} of the second)") from None
        raise ShapeError(f"matmul: the batch dimensions of shapes {sa} and {sb} do not broadcast") from None


def _matmul_vjp(xp, need, g, ans, a, b):
    # Promote 1-D operands to matrices, as matmul does, and drop the added axis afterwards.
    # The batch axes that were broadcast are summed back by the engine (broadcasts=True).
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1 or b1:
        a = xp.reshape(a, (1,) + a.shape) if a1 else a
        b = xp.reshape(b, b.shape + (1,)) if b1 else b
        g = xp.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:] if a1 and not b1 else
                       g.shape + (1,) if b1 and not a1 else g.shape + (1, 1))
    ga = gb = None
    if need[0] is not None:
        ga = g @ (b.T if b.ndim == 2 else xp.swapaxes(b, -1, -2))
        if a1:
            ga = ga[..., 0, :]
    if need[1] is not None:
        gb = (a.T if a.ndim == 2 else xp.swapaxes(a, -1, -2)) @ g
        if b1:
            gb = gb[..., 0]
    return ga, gb


matmul = Primitive("matmul", _matmul_fwd, _matmul_vjp, inputs="a b", reads="a b", broadcasts=True,
                   symbol="@", local=("upstream @ {b}ᵀ", "{a}ᵀ @ upstream"),
                   doc="matrix product (1-D, 2-D, batched); its Jacobian is never built")


def _linear_fwd(x, W, b):
    if x.ndim > 2:   # one 2-D product over all leading axes (NumPy's stacked matmul is slower)
        out = np.matmul(x.reshape(-1, x.shape[-1]), W.T).reshape(x.shape[:-1] + W.shape[:1])
    else:
        out = np.matmul(x, W.T)
    out += b
    return out


def _linear_vjp(xp, need, g, ans, x, W, b):
    n_out, n_in = W.shape
    gx = gW = gb = None
    if need[0] is not None:
        gx = g @ W
    if need[1] is not None or need[2] is not None:
        g2 = g if g.ndim == 2 else xp.reshape(g, (-1, n_out))
        if need[1] is not None:
            x2 = x if x.ndim == 2 else xp.reshape(x, (-1, n_in))
            gW = xp.transpose(g2) @ x2
        if need[2] is not None:
            gb = xp.sum(g2, axis=0)
    return gx, gW, gb


linear = Primitive("linear", _linear_fwd, _linear_vjp, inputs="x W b", reads="x W",
                   local=("upstream @ {W}", "upstreamᵀ @ {x}", "upstream summed over the rows"),
                   doc="affine layer x @ W.T + b as one node (W has shape (out, in), as PyTorch)")
