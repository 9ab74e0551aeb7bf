"""The per-backend shim: what chainrule's forwards and rules need that the Array API standard lacks
or names differently, written once on top of the standard for every non-NumPy backend.

- names NumPy has and the standard spells otherwise: `transpose` (permute_dims), `swapaxes`,
  `concatenate` (concat), `astype` taking chainrule's (NumPy) dtypes;
- indexing beyond slices and integers (integer arrays, boolean masks, several at once): the standard
  guarantees only `take` along one axis, so an index is turned, on the host, into the flat positions
  it selects (`np.arange(size).reshape(shape)[idx]`); `getitem` is one `take`;
- `scatter_add` (NumPy's `np.add.at`: zeros with values added at positions, repeated ones adding up),
  which the standard has no form of: a one-hot matrix product for small cases, else a segment sum
  (sort the positions, cumulative sums in float64, differences at the segment ends), then one `take`
  that places the sums;
- `setitem` (a copy with positions replaced): `where` over a host mask;
- random numbers: not here; the factories draw them with chainrule's NumPy generator and copy them
  to the device, so a seed gives the same numbers on every backend.
"""

from __future__ import annotations

import numpy as np

_ONE_HOT_LIMIT = 1 << 22  # elements of the one-hot matrix above which scatter_add uses the segment sum


def _basic(idx):
    """True when `idx` has only slices, Python ints, None and Ellipsis (what every backend indexes)."""
    for it in idx if isinstance(idx, tuple) else (idx,):
        if not (it is None or it is Ellipsis or isinstance(it, slice) or type(it) is int):
            return False
    return True


def _full(idx):
    """A basic index as the standard wants it: a tuple, ending in an Ellipsis unless it has one (NumPy
    reads `x[i]` on a matrix as `x[i, ...]`; the standard does not)."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    return idx if any(it is Ellipsis for it in idx) else idx + (Ellipsis,)


def _host_index(idx, to_host):
    parts = idx if isinstance(idx, tuple) else (idx,)
    parts = tuple(to_host(p) if hasattr(p, "__array_namespace__") and not isinstance(p, (np.ndarray, np.generic))
                  else p for p in parts)
    return parts if isinstance(idx, tuple) else parts[0]


class Shim:
    """Mixed into `Backend`: `self.ns` is the namespace, `self.to_host` copies to NumPy."""

    def transpose(self, x, axes=None):
        return self.ns.permute_dims(x, tuple(range(x.ndim))[::-1] if axes is None else tuple(axes))

    def swapaxes(self, x, a, b):
        perm = list(range(x.ndim))
        perm[a], perm[b] = perm[b], perm[a]
        return self.ns.permute_dims(x, tuple(perm))

    def concatenate(self, xs, axis=0):
        return self.ns.concat(list(xs), axis=axis)

    def astype(self, x, dtype, copy=True):
        return self.ns.astype(x, self.dtype(dtype) if isinstance(dtype, np.dtype) else dtype, copy=copy)

    def any(self, x):
        return bool(self.ns.any(x)) if hasattr(x, "shape") else bool(x)

    def raw(self, d):
        return self

    def as_bool(self, c):
        return c if c.dtype == self.ns.bool else c != 0

    def positions(self, shape, idx):
        """The flat positions (a host int64 array of the result's shape) that x[idx] selects."""
        return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[_host_index(idx, self.to_host)]

    def getitem(self, x, idx):
        if _basic(idx):
            return x[_full(idx)]
        pos = self.positions(x.shape, idx)
        flat = self.ns.reshape(x, (-1,))
        return self.ns.reshape(self.ns.take(flat, self.ns.asarray(pos.reshape(-1)), axis=0), pos.shape)

    def scatter_add(self, g, idx, shape):
        """zeros(shape) with g added at the positions idx selects (repeated positions add up)."""
        ns = self.ns
        if _basic(idx):
            out = ns.zeros(shape, dtype=g.dtype)
            idx = tuple(i for i in _full(idx) if i is not None)  # (an axis that None added is dropped)
            out[idx] = ns.reshape(g, tuple(out[idx].shape))
            return out
        pos = self.positions(shape, idx).reshape(-1)
        size = int(np.prod(shape))
        gf = ns.reshape(ns.broadcast_to(g, g.shape), (-1,))
        u, inv = np.unique(pos, return_inverse=True)
        if u.size * pos.size <= _ONE_HOT_LIMIT:
            onehot = np.zeros((u.size, pos.size), dtype=self.np_dtype(g.dtype))
            onehot[inv, np.arange(pos.size)] = 1
            sums = ns.matmul(ns.asarray(onehot), gf) if pos.size else ns.zeros((0,), dtype=g.dtype)
        else:
            order = np.argsort(pos, kind="stable")
            ends = np.flatnonzero(np.r_[pos[order][1:] != pos[order][:-1], True]) + 1
            wide = ns.astype(ns.take(gf, ns.asarray(order), axis=0), ns.float64)
            cs = ns.concat([ns.zeros((1,), dtype=ns.float64), ns.cumulative_sum(wide)])
            starts = np.r_[0, ends[:-1]]
            sums = ns.astype(ns.take(cs, ns.asarray(ends)) - ns.take(cs, ns.asarray(starts)), g.dtype)
        where = np.zeros(size, dtype=np.int64)  # 0: no gradient there; k + 1: the k-th sum
        where[u] = np.arange(1, u.size + 1)
        padded = ns.concat([ns.zeros((1,), dtype=g.dtype), sums])
        return ns.reshape(ns.take(padded, ns.asarray(where), axis=0), shape)

    def setitem(self, x, idx, v):
        """A copy of x with x[idx] = v."""
        ns = self.ns
        if _basic(idx):
            out = ns.asarray(x, copy=True)
            out[_full(idx)] = v
            return out
        pos = self.positions(x.shape, idx)
        mask = np.zeros(int(np.prod(x.shape)), dtype=bool)
        mask[pos.reshape(-1)] = True
        src = np.zeros(mask.size, dtype=np.int64)
        src[pos.reshape(-1)] = np.arange(pos.size)  # NumPy's order: the last write to a position wins
        v = ns.asarray(v, dtype=x.dtype) if not hasattr(v, "shape") else v
        vals = ns.take(ns.reshape(ns.broadcast_to(v, pos.shape), (-1,)), ns.asarray(src), axis=0)
        out = ns.where(ns.asarray(mask), vals, ns.reshape(x, (-1,)))
        return ns.reshape(out, x.shape)
