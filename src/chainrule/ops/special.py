"""Special functions: `erf`, the Gaussian error function (behind the exact GELU).

NumPy has no erf ufunc, so the forward applies the standard library's `math.erf` (exact to double
precision) element by element; the rule is vectorized: d/dx erf(x) = 2/√π · e^(−x²).
"""

from __future__ import annotations

import math

import numpy as np

from ..core import Primitive

_erf = np.frompyfunc(math.erf, 1, 1)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _erf_fwd(x):
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    out = np.asarray(_erf(x), dtype=dtype)
    return out[()] if out.ndim == 0 else out


erf = Primitive("erf", _erf_fwd, lambda xp, need, g, ans, x: (g * (_TWO_OVER_SQRT_PI * xp.exp(-(x * x))),),
                reads="x", elementwise=True, local=("2/√π · e^(−{x}²)",),
                doc="the Gaussian error function (math.erf per element); local gradient 2/√π e^(−x²)")
