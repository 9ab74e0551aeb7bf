"""Transformations of functions: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp; and
custom differentiable functions (`Function`)."""

from .function import Function, FunctionCtx
from .functional import grad, grads_of, hessian, hvp, jacobian, jvp, value_and_grad, vjp

__all__ = ["Function", "FunctionCtx", "grad", "grads_of", "hessian", "hvp", "jacobian", "jvp", "value_and_grad",
           "vjp"]
