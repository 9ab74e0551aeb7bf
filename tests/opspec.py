"""The spec format for the primitive sweep (test_primitives.py).

Every registered primitive needs at least one OpSpec, in `op_specs.py` or in any
`op_specs_*.py` module of this folder (each exports a list named SPECS). A meta-test fails when a
registered primitive has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class OpSpec:
    name: str                               # the registered primitive this spec exercises
    call: Callable                          # (*chainrule tensors) -> Tensor, calling the op
    shapes: list                            # list of input-shape tuples, e.g. [((3,), (3,)), ((2, 1), (3,))]
    domain: tuple | Callable = (-2.0, 2.0)  # value range, or fn(rng, shape) -> float64 array
    torch: Callable | None = None           # (torch module, *torch tensors) -> torch tensor: the same op
    wrt: tuple | None = None                # positions of inputs that get gradients (default: all)
    atol: float = 1e-6
    rtol: float = 1e-5
    second_order: bool = True               # also check grad-of-grad numerically (create_graph)

    def sample(self, rng, shapes):
        out = []
        for s in shapes:
            if callable(self.domain):
                out.append(np.asarray(self.domain(rng, s), dtype=np.float64))
            else:
                lo, hi = self.domain
                out.append(rng.uniform(lo, hi, size=s))
        return out
