"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp.

Each transform calls `f` on fresh inputs, records its graph, and pulls gradients back to those
inputs with `grads_of` (below), which never touches any tensor's `.grad`. Arguments may be Python
numbers, arrays or Tensors; results are Tensors.

Nesting works because an argument that already carries a graph (a Tensor that requires grad, for
instance the input of an enclosing transform) is passed to `f` through an identity node linked to
that graph, and the gradients are then computed with create_graph: they are Tensors whose own
graph reaches back to the outer input, so `cr.grad(cr.grad(cr.grad(f)))` works. Without such a
link (the common first-order call) gradients are computed on raw arrays, fast.

`jvp` uses the double-VJP trick (reverse over reverse), not forward mode: with u a dummy
cotangent, `vjp(u) = Jᵀu` is linear in u, and the VJP of that map with cotangent t is `J t`.
It costs two backward passes and needs every backward rule to be differentiable in its upstream
gradient (all built-in rules are).
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from .. import backend
from ..core import Node, Observer, backprop, enable_grad, state, unwrap, walk, wrap
from ..ops import Tensor, reshape, stack
from ..ops import shape as _sh

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "grads_of"]


_born = itertools.count()


class _Arg(Tensor):
    """A leaf made by a transform for one of its arguments. `_born` orders it: a transform that
    started before the leaf was made (the leaf's own, or an enclosing one) owns it; to a transform
    nested inside, it is an outside variable (a closure) that the result must stay linked to."""

    __slots__ = ("_born",)


def _new_arg(data):
    t = object.__new__(_Arg)
    t._data, t._node, t.requires_grad, t.grad, t.name, t._ver, t._held = data, None, True, None, None, 0, None
    t._born = next(_born)
    return t


def _foreign(p, since):
    """A leaf requiring grad that the transform started at `since` does not own."""
    return since is None or type(p) is not _Arg or p._born < since


# ---------------------------------------------------------------------------------------------
# The engine: gradients of some outputs with respect to some tensors
# ---------------------------------------------------------------------------------------------

def grads_of(outputs, cotangents, inputs, create_graph=None, since=None):
    """Gradients of sum_j <outputs[j], cotangents[j]> with respect to each of `inputs`.

    Like `torch.autograd.grad`: `.grad` attributes are left alone, the graph is kept, and
    the backward pass stops at the inputs (an input computed from another input is treated as
    an independent variable). An input the outputs do not depend on gets zeros.
    `create_graph=None` decides by itself: a graph is built when grad mode is on and the
    computation is linked to something outside: a leaf that requires grad and is neither an
    input nor made by a transform started at or after `since` (a counter value), a non-leaf
    input, or a cotangent that requires grad.
    Returns a list of Tensors.
    """
    target_of = {}
    for i, t in enumerate(inputs):
        key = t if t._node is None else t._node
        if key in target_of:
            raise ValueError("grads_of: the same tensor is given twice as an input")
        target_of[key] = i

    roots = [(o._node, _on_device_of(o, c)) for o, c in zip(outputs, cotangents)
             if isinstance(o, Tensor) and o._node is not None]
    nodes = walk([n for n, _ in roots], stop=target_of)  # not going past an input
    if create_graph is None:
        # linked to something outside: a leaf that is no input (a closure variable, an outer input)
        linked = (any(t._node is not None for t in inputs)
                  or any(isinstance(c, Tensor) and c.requires_grad for c in cotangents)
                  or any(p is not None and type(p) is not Node and p not in target_of and _foreign(p, since)
                         for node in nodes if node not in target_of for p in node.parents))
        create_graph = state.grad_enabled and linked
    relevant = set()
    for node in nodes:  # oldest first: a node matters if some input lies upstream of it
        if node in target_of or any(p in target_of or p in relevant for p in node.parents if p is not None):
            relevant.add(node)

    results = [None] * len(inputs)
    for o, c in zip(outputs, cotangents):
        if isinstance(o, Tensor) and o._node is None and o in target_of:  # f returned its input
            i = target_of[o]
            c = _as_cotangent(c, create_graph)
            results[i] = c if results[i] is None else results[i] + c
    roots = [(n, _as_cotangent(c, create_graph)) for n, c in roots if n in relevant]
    arrived, _ = backprop(roots, retain_graph=True, create_graph=create_graph,
                          observers=(_Prune(target_of, relevant),))
    for key, gi in arrived.items():
        i = target_of.get(key)
        if i is not None:
            results[i] = gi if results[i] is None else results[i] + gi
    out = []
    for t, r in zip(inputs, results):
        if r is None:
            r = _on_device_of(t, np.zeros(t.shape, dtype=t.dtype))
        if not isinstance(r, Tensor) and backend.backend_of(r) is not None:  # another backend's gradient
            r = wrap(r, None) if r.dtype == t._data.dtype else wrap(backend.backend_of(r).astype(r, t.dtype), None)
        elif not isinstance(r, Tensor):
            r = np.asarray(r)
            r = wrap(r.astype(t.dtype) if r.dtype != t.dtype else r, None)
        elif r.dtype != t.dtype:
            r = r.astype(t.dtype)
        out.append(r)
    return out


class _Prune(Observer):
    """Stop at the inputs, and tell each rule that only inputs leading to them need a gradient."""

    def __init__(self, stop, relevant):
        self.stop, self.keep = stop, relevant | set(stop)

    def visit(self, node, need):
        if node in self.stop:
            return None
        return tuple(p if p is not None and p in self.keep else None for p in need)


def _on_device_of(t, c):
    """A cotangent given as host data, copied to the device of the tensor `t` (when that is not the CPU)."""
    d = t._data
    if backend.backend_of(d) is None or isinstance(c, Tensor) or backend.backend_of(c) is not None:
        return c
    return backend.to_device(np.asarray(c, dtype=t.dtype), backend.device_of(d))


def _as_cotangent(c, create_graph):
    if isinstance(c, Tensor):
        return c if create_graph else c._data
    c = c if backend.backend_of(c) is not None else np.asarray(c)
    return wrap(c, None) if create_graph else c


# ---------------------------------------------------------------------------------------------
# Arguments and outputs
# ---------------------------------------------------------------------------------------------

def _input(x, name, i, outer_grad):
    """A fresh tensor that stands for argument `x`: a new leaf, or (when x carries a graph and
    grad mode is on) an identity node linked to it, so outer transforms can differentiate."""
    if isinstance(x, Tensor):
        if x.requires_grad and outer_grad:
            if x.dtype.kind != "f":
                raise TypeError(f"{name}: argument {i} has dtype {x.dtype}; only floating-point inputs "
                                "can be differentiated")
            return _sh.reshape(x, shape=x.shape, src=x.shape)  # identity node: a separate variable
        data = x._data
    else:
        if not isinstance(x, (numbers.Number, np.ndarray, np.generic, list, tuple)):
            raise TypeError(f"{name}: argument {i} must be a number, an array or a Tensor, "
                            f"got {type(x).__name__}")
        data = np.asarray(x)
    if data.dtype.kind in "biu":
        data = data.astype(np.float64)
    elif data.dtype.kind != "f":
        raise TypeError(f"{name}: argument {i} has dtype {data.dtype}; only real numbers can be "
                        "differentiated")
    return _new_arg(data)


def _argnums(argnums, nargs, name):
    single = isinstance(argnums, numbers.Integral)
    nums = (argnums,) if single else tuple(argnums)
    if not nums:
        raise ValueError(f"{name}: argnums is empty")
    out = []
    for a in nums:
        if not isinstance(a, numbers.Integral) or not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {argnums!r} is out of range for {nargs} positional "
                             f"argument{'s' if nargs != 1 else ''}")
        out.append(int(a) % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: argnums {argnums!r} repeats an argument")
    return tuple(out), single


def _call(f, args, nums, name):
    """Call f with fresh tensors at positions `nums`; returns (output, the fresh tensors, since)."""
    args = list(args)
    since = next(_born)
    outer_grad = state.grad_enabled
    with enable_grad():
        xs = [_input(args[i], name, i, outer_grad) for i in nums]
        for i, x in zip(nums, xs):
            args[i] = x
        out = f(*args)
    return out, xs, since


def _fname(f):
    return getattr(f, "__name__", type(f).__name__)


def _scalar_output(out, name, f):
    if isinstance(out, Tensor):
        data = out._data
    else:
        data = np.asarray(out)
        if data.dtype == object:
            raise TypeError(f"{name}: {_fname(f)} must return a scalar Tensor or number, "
                            f"got {type(out).__name__}")
    if data.size != 1:
        raise ValueError(f"{name}: {_fname(f)} must return a scalar (one element), but it returned shape "
                         f"{data.shape}. Reduce it (e.g. .sum()), or use cr.jacobian / cr.vjp for vector "
                         "outputs.")
    if data.dtype.kind not in "fc":
        raise TypeError(f"{name}: {_fname(f)} returned dtype {data.dtype}; a gradient needs a float output")
    return out


def _finish(value, grads_linked):
    """A returned value: kept with its graph when it is linked to an outer computation."""
    if isinstance(value, Tensor):
        return value if grads_linked and value.requires_grad else value.detach()
    return wrap(np.asarray(value), None)


def _linked(ts):
    return any(isinstance(t, Tensor) and t.requires_grad for t in ts)


# ---------------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------------

def value_and_grad(f, argnums=0, has_aux=False):
    """`f`'s value and its gradient with respect to the argument(s) `argnums`.

    `f` must return a scalar (or `(scalar, aux)` when has_aux=True). With an int `argnums` the
    gradient is one Tensor shaped like that argument; with a tuple, a tuple of them.
    """

    def value_and_grad_f(*args):
        nums, single = _argnums(argnums, len(args), "grad")
        out, xs, since = _call(f, args, nums, "grad")
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"grad: with has_aux=True, {_fname(f)} must return a pair (output, aux)")
            out, aux = out
        out = _scalar_output(out, "grad", f)
        if isinstance(out, Tensor):
            gs = grads_of([out], [np.ones(out.shape, out.dtype)], xs, since=since)
        else:
            gs = [wrap(np.zeros(x.shape, x.dtype), None) for x in xs]
        value = _finish(out, _linked(gs) or any(x._node is not None for x in xs))
        g = gs[0] if single else tuple(gs)
        return ((value, aux), g) if has_aux else (value, g)

    value_and_grad_f.__name__ = f"value_and_grad({_fname(f)})"
    return value_and_grad_f


def grad(f, argnums=0, has_aux=False):
    """The gradient of scalar-valued `f` with respect to argument(s) `argnums` (JAX's `grad`).

        cr.grad(lambda x: (x ** 3).sum())(2.0)            # tensor(12.)
        cr.grad(cr.grad(cr.grad(lambda x: x ** 4)))(1.0)  # tensor(24.)
    """
    vg = value_and_grad(f, argnums, has_aux)

    def grad_f(*args):
        (value, g) = vg(*args)
        return (g, value[1]) if has_aux else g

    grad_f.__name__ = f"grad({_fname(f)})"
    return grad_f


def _structure(out):
    """Outputs as a list of Tensors (or numbers), and whether f returned a tuple."""
    if isinstance(out, (tuple, list)):
        return list(out), True
    return [out], False


def _check_like(c, ref, what, name):
    shape = np.shape(unwrap(c))
    if shape != ref.shape:
        raise ValueError(f"{name}: {what} has shape {shape} but must have shape {ref.shape}")


def vjp(f, *primals):
    """`(out, vjp_fn)`: `f`'s output at `primals`, and the map cotangent -> Jᵀ·cotangent.

    `vjp_fn(cotangent)` returns a tuple with one gradient per primal; the cotangent has the
    output's shape (a tuple of them when `f` returns a tuple). `vjp_fn` may be called many times.
    """
    out, xs, since = _call(f, primals, tuple(range(len(primals))), "vjp")
    outs, is_tuple = _structure(out)
    outs = [o if isinstance(o, Tensor) else wrap(np.asarray(o), None) for o in outs]

    def vjp_fn(cotangent):
        cts = list(cotangent) if is_tuple else [cotangent]
        if len(cts) != len(outs):
            raise ValueError(f"vjp: {_fname(f)} returned {len(outs)} outputs but {len(cts)} cotangents "
                             "were given")
        for j, (c, o) in enumerate(zip(cts, outs)):
            _check_like(c, o, f"cotangent {j}" if is_tuple else "the cotangent", "vjp")
        return tuple(grads_of(outs, cts, xs, since=since))

    linked = any(x._node is not None for x in xs) or (state.grad_enabled and _outside_leaf(outs, since))
    values = [_finish(o, linked) for o in outs]
    return (tuple(values) if is_tuple else values[0]), vjp_fn


def _outside_leaf(outs, since):
    """True when the graph of `outs` reaches a leaf requiring grad not owned by the transform."""
    nodes = walk([o._node for o in outs if isinstance(o, Tensor) and o._node is not None])
    return any(p is not None and type(p) is not Node and _foreign(p, since) for n in nodes for p in n.parents)


def _tuple_arg(v):
    if isinstance(v, (tuple, list)):
        return tuple(v), True
    return (v,), False


def _run_with_tangents(f, primals, tangents, name):
    """Check primals against tangents and call f: (tangents, primals-was-a-tuple, out, inputs, since)."""
    primals, many = _tuple_arg(primals)
    tangents, _ = _tuple_arg(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"{name}: {len(primals)} primals but {len(tangents)} tangents")
    out, xs, since = _call(f, primals, tuple(range(len(primals))), name)
    for i, (t, x) in enumerate(zip(tangents, xs)):
        _check_like(t, x, f"tangent {i}", name)
    return tangents, many, out, xs, since


def jvp(f, primals, tangents):
    """`(out, tangent_out)`: `f`'s output at `primals` and the Jacobian-vector product J·tangents.

    Computed with the double-VJP trick (two reverse passes, see the module docstring), not with
    forward mode. `primals` and `tangents` are tuples (or single values) of matching shapes.
    """
    tangents, _, out, xs, since = _run_with_tangents(f, primals, tangents, "jvp")
    outs, is_tuple = _structure(out)
    outs = [o if isinstance(o, Tensor) else wrap(np.asarray(o), None) for o in outs]
    with enable_grad():
        us = []
        for o in outs:
            us.append(_new_arg(np.zeros(o.shape, o.dtype if o.dtype.kind == "f" else np.float64)))
        gs = grads_of(outs, us, xs, create_graph=True)  # Jᵀu, linear in u
    outer = state.grad_enabled and (any(x._node is not None for x in xs) or _linked(tangents)
                                   or _outside_leaf(gs, since))
    touts = grads_of(gs, list(tangents), us, create_graph=outer)
    values = [_finish(o, outer) for o in outs]
    if is_tuple:
        return tuple(values), tuple(touts)
    return values[0], touts[0]


def hvp(f, primals, tangents):
    """`(out, H·v)` for scalar `f`: the Hessian-vector product, without building the Hessian.

    Reverse over reverse: the gradient is computed with create_graph, then differentiated once
    more with the tangents as cotangent (the Hessian is symmetric). Tuples in, tuples out.
    """
    tangents, many, out, xs, since = _run_with_tangents(f, primals, tangents, "hvp")
    out = _scalar_output(out, "hvp", f)
    if not isinstance(out, Tensor):
        zeros = tuple(wrap(np.zeros(x.shape, x.dtype), None) for x in xs)
        return wrap(np.asarray(out), None), (zeros if many else zeros[0])
    with enable_grad():
        gs = grads_of([out], [np.ones(out.shape, out.dtype)], xs, create_graph=True)
    outer = state.grad_enabled and (any(x._node is not None for x in xs) or _linked(tangents)
                                   or _outside_leaf([out], since))
    hv = grads_of(gs, list(tangents), xs, create_graph=outer)
    value = _finish(out, outer)
    return value, (tuple(hv) if many else hv[0])


def jacobian(f, argnums=0):
    """The dense Jacobian of `f`, shape `out.shape + in.shape` (JAX's `jacrev`).

    Built row by row, one VJP per output element. With a tuple `argnums` the result is a tuple
    over arguments; when `f` returns a tuple, a tuple over outputs (of tuples over arguments).
    """

    def jacobian_f(*args):
        nums, single = _argnums(argnums, len(args), "jacobian")
        out, xs, since = _call(f, args, nums, "jacobian")
        outs, is_tuple = _structure(out)
        outs = [o if isinstance(o, Tensor) else wrap(np.asarray(o), None) for o in outs]
        per_out = []
        for j, o in enumerate(outs):
            if o.dtype.kind not in "fc":
                raise TypeError(f"jacobian: output {j} of {_fname(f)} has dtype {o.dtype}; "
                                "it has no Jacobian")
            rows = [[] for _ in xs]
            for k in range(o.numel()):
                e = np.zeros(o.numel(), o.dtype)
                e[k] = 1.0
                cts = [e.reshape(o.shape) if jj == j else np.zeros(oo.shape, oo.dtype)
                       for jj, oo in enumerate(outs)]
                for r, gk in zip(rows, grads_of(outs, cts, xs, since=since)):
                    r.append(gk)
            jac = []
            for x, r in zip(xs, rows):
                if not r:
                    jac.append(wrap(np.zeros(o.shape + x.shape, x.dtype), None))
                else:
                    jac.append(reshape(stack(r), o.shape + x.shape))
            per_out.append(jac[0] if single else tuple(jac))
        return tuple(per_out) if is_tuple else per_out[0]

    jacobian_f.__name__ = f"jacobian({_fname(f)})"
    return jacobian_f


def hessian(f, argnums=0):
    """The dense Hessian of scalar `f`: `jacobian(grad(f))`, shape `in.shape + in.shape`.

    With a tuple `argnums`, a tuple of tuples (block [i][j] = d²f / dx_i dx_j).
    """
    h = jacobian(grad(f, argnums), argnums)
    h.__name__ = f"hessian({_fname(f)})"
    return h
