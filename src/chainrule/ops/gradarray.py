"""GradArray, the type of `.grad`: a NumPy array that also has PyTorch's in-place methods.

NumPy-first code reads `.grad` as the array it is (it prints as `array(...)`, `np.testing` and
every NumPy function take it, arithmetic on it gives plain arrays); code written for PyTorch calls
`p.grad.zero_()`, `p.grad.data`, `p.grad.add_(...)`, `p -= lr * p.grad` and checks `p.grad is None`.
Only the array stored as `.grad` is a GradArray (and views of it, which share its memory, as
PyTorch's views do): the results of arithmetic and reductions on it are plain ndarrays.
Under `backward(create_graph=True)` `.grad` is a Tensor, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..core import unwrap


def _value(v, opname):
    v = unwrap(v)
    if isinstance(v, np.ndarray) and type(v) is not np.ndarray:
        v = v.view(np.ndarray)
    return v


class GradArray(np.ndarray):
    """An ndarray with PyTorch's in-place methods (`zero_`, `fill_`, `add_`, `sub_`, `mul_`, `div_`,
    `copy_`, `clamp_`) and `.data`, `.numpy()`, `.clone()`, `.detach()`, `.numel()`, `.dim()`, `.norm()`."""

    __slots__ = ()
    __array_wrap__ = None  # NumPy then returns ufunc and reduction results as plain arrays and scalars

    def __repr__(self):
        return repr(self.view(np.ndarray))

    def __reduce__(self):  # pickles (and copies, deep copies) as a plain array
        return self.view(np.ndarray).__reduce__()

    @property
    def data(self):
        """The gradient itself (PyTorch's `p.grad.data`); `numpy()` gives it as a plain ndarray."""
        return self

    def numpy(self):
        return self.view(np.ndarray)

    def clone(self):
        return self.copy()

    def detach(self):
        return self

    def numel(self):
        return self.size

    def dim(self):
        return self.ndim

    def norm(self, p=2):
        return float(np.linalg.norm(self.view(np.ndarray).ravel(), ord=p))

    def _apply(self, ufunc, other, opname):
        try:
            ufunc(self, _value(other, opname), out=self, casting="same_kind")
        except ValueError as e:
            raise ValueError(f"grad.{opname}: cannot combine a gradient of shape {self.shape} with shape "
                             f"{np.shape(unwrap(other))} in place: {e}") from None
        return self

    def zero_(self):
        self[...] = 0
        return self

    def fill_(self, value):
        self[...] = _value(value, "fill_")
        return self

    def copy_(self, src):
        np.copyto(self, np.broadcast_to(_value(src, "copy_"), self.shape), casting="unsafe")
        return self

    def add_(self, other, alpha=1):
        return self._apply(np.add, other if alpha == 1 else _value(other, "add_") * alpha, "add_")

    def sub_(self, other, alpha=1):
        return self._apply(np.subtract, other if alpha == 1 else _value(other, "sub_") * alpha, "sub_")

    def mul_(self, other):
        return self._apply(np.multiply, other, "mul_")

    def div_(self, other):
        return self._apply(np.true_divide, other, "div_")

    def clamp_(self, min=None, max=None):
        np.clip(self, min, max, out=self)
        return self
