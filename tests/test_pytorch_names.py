"""PyTorch's names in chainrule (issue 13): each with PyTorch's signature, checked against PyTorch's
behaviour on the same input (values, dtypes, shapes, and gradients where there are any)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

torch = pytest.importorskip("torch")
TF = torch.nn.functional
F = cr.nn.functional

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4))
V = RNG.standard_normal(4)
P = RNG.uniform(0.5, 2.0, (3, 4))


def _to_np(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    if isinstance(v, cr.Tensor):
        return v.data
    return np.asarray(v)


def same(ours, theirs, what, rtol=1e-10, atol=1e-12):
    """Values, shapes and dtypes alike (tuples and lists element by element)."""
    if isinstance(theirs, (tuple, list)) and not isinstance(theirs, torch.Size):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), what
        for o, t in zip(ours, theirs):
            same(o, t, what, rtol, atol)
        return
    o, t = _to_np(ours), _to_np(theirs)
    assert o.shape == t.shape, f"{what}: shape {o.shape} vs PyTorch's {t.shape}"
    assert o.dtype == t.dtype, f"{what}: dtype {o.dtype} vs PyTorch's {t.dtype}"
    np.testing.assert_allclose(o, t, rtol=rtol, atol=atol, err_msg=what)


def check(fn_cr, fn_torch, *arrays, what="", grad=True, rtol=1e-10):
    """The same function of float64 leaves in both libraries: values, then the gradients of
    sum(out * cotangent) with respect to every leaf. (PyTorch rounds a gradient to the dtype of the
    tensor it flows through; chainrule keeps the precision of the computation: after a cast to
    float32 the gradients agree to float32's precision.)"""
    ours = [cr.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    o, t = fn_cr(*ours), fn_torch(*theirs)
    same(o, t, what, rtol=rtol, atol=rtol * 1e-2)
    if not grad:
        return
    outs_o = o if isinstance(o, (tuple, list)) else (o,)
    outs_t = t if isinstance(t, (tuple, list)) else (t,)
    total_o = total_t = 0.0
    for k, (oo, tt) in enumerate(zip(outs_o, outs_t)):
        if not tt.dtype.is_floating_point:
            continue
        ct = np.random.default_rng(k).standard_normal(tuple(tt.shape))
        total_o = total_o + (oo * ct).sum()
        total_t = total_t + (tt * torch.tensor(ct)).sum()
    if isinstance(total_o, float):  # no output has a gradient (integers, booleans)
        assert all(not isinstance(oo, cr.Tensor) or not oo.requires_grad for oo in outs_o), what
        return
    total_o.backward()
    total_t.backward()
    for i, (lo, lt) in enumerate(zip(ours, theirs)):
        want = np.zeros(lo.shape) if lt.grad is None else lt.grad.numpy()
        got = np.zeros(lo.shape) if lo.grad is None else lo.grad
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2, err_msg=f"{what}: gradient of input {i}")


# -- Tensor methods ------------------------------------------------------------------------------------

METHODS = {  # name: (our call, PyTorch's call, inputs)
    "pow": (lambda x: x.pow(3), lambda x: x.pow(3), [A]),
    "pow tensor": (lambda x, y: x.pow(y), lambda x, y: x.pow(y), [P, B]),
    "unsqueeze": (lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1), [A]),
    "unsqueeze -1": (lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1), [A]),
    "squeeze": (lambda x: x.unsqueeze(0).squeeze(), lambda x: x.unsqueeze(0).squeeze(), [A]),
    "squeeze dim": (lambda x: x[:1].squeeze(0), lambda x: x[:1].squeeze(0), [A]),
    "squeeze non-1 dim": (lambda x: x.squeeze(1), lambda x: x.squeeze(1), [A]),
    "view": (lambda x: x.view(2, 6), lambda x: x.view(2, 6), [A]),
    "view tuple -1": (lambda x: x.view((-1, 3)), lambda x: x.view((-1, 3)), [A]),
    "view_as": (lambda x, y: x.view_as(y.T), lambda x, y: x.view_as(y.T), [A, B]),
    "reshape_as": (lambda x, y: x.reshape_as(y), lambda x, y: x.reshape_as(y), [A, B]),
    "argmax": (lambda x: x.argmax(), lambda x: x.argmax(), [A]),
    "argmax dim": (lambda x: x.argmax(dim=1), lambda x: x.argmax(dim=1), [A]),
    "argmax keepdim": (lambda x: x.argmax(dim=1, keepdim=True), lambda x: x.argmax(dim=1, keepdim=True), [A]),
    "argmin": (lambda x: x.argmin(0), lambda x: x.argmin(0), [A]),
    "eq": (lambda x, y: x.eq(y), lambda x, y: x.eq(y), [A, A]),
    "ne": (lambda x, y: x.ne(y), lambda x, y: x.ne(y), [A, B]),
    "lt gt le ge": (lambda x, y: (x.lt(y), x.gt(y), x.le(y), x.ge(y)),
                    lambda x, y: (x.lt(y), x.gt(y), x.le(y), x.ge(y)), [A, B]),
    "== operator": (lambda x, y: x == y, lambda x, y: x == y, [A, B]),
    "< operator": (lambda x: x < 0.1, lambda x: x < 0.1, [A]),
    "var": (lambda x: x.var(), lambda x: x.var(), [A]),
    "var dim": (lambda x: x.var(1), lambda x: x.var(1), [A]),
    "var unbiased=False keepdim": (lambda x: x.var(0, unbiased=False, keepdim=True),
                                   lambda x: x.var(0, unbiased=False, keepdim=True), [A]),
    "var correction": (lambda x: x.var(dim=1, correction=0), lambda x: x.var(dim=1, correction=0), [A]),
    "std": (lambda x: x.std(), lambda x: x.std(), [A]),
    "std dim": (lambda x: x.std(dim=0, keepdim=True), lambda x: x.std(dim=0, keepdim=True), [A]),
    "sum dim keepdim": (lambda x: x.sum(dim=1, keepdim=True), lambda x: x.sum(dim=1, keepdim=True), [A]),
    "sum dims": (lambda x: x.sum((0, 1)), lambda x: x.sum((0, 1)), [A]),
    "mean dim": (lambda x: x.mean(-1), lambda x: x.mean(-1), [A]),
    "max": (lambda x: x.max(), lambda x: x.max(), [A]),
    "max dim": (lambda x: x.max(dim=1), lambda x: tuple(x.max(dim=1)), [A]),
    "max dim keepdim": (lambda x: x.max(0, keepdim=True), lambda x: tuple(x.max(0, keepdim=True)), [A]),
    "min dim": (lambda x: x.min(1), lambda x: tuple(x.min(1)), [A]),
    "max other": (lambda x, y: x.max(y), lambda x, y: x.max(y), [A, B]),
    "float": (lambda x: x.float(), lambda x: x.float(), [A]),
    "double": (lambda x: x.float().double(), lambda x: x.float().double(), [A]),
    "long": (lambda x: (x * 3).long(), lambda x: (x * 3).long(), [A]),
    "int": (lambda x: (x * 3).int(), lambda x: (x * 3).int(), [A]),
    "bool": (lambda x: x.bool(), lambda x: x.bool(), [A]),
    "to dtype": (lambda x: x.to(cr.float32), lambda x: x.to(torch.float32), [A]),
    "to device": (lambda x: x.to("cpu"), lambda x: x.to("cpu"), [A]),
    "to device dtype": (lambda x: x.to(cr.device("cpu"), cr.float32),
                        lambda x: x.to(torch.device("cpu"), torch.float32), [A]),
    "to tensor": (lambda x, y: x.to(y.long()), lambda x, y: x.to(y.long()), [A, B]),
    "to dtype=float16": (lambda x: x.to(dtype=cr.float16), lambda x: x.to(dtype=torch.float16), [A]),
    "type": (lambda x: x.type(cr.float32), lambda x: x.type(torch.float32), [A]),
    "t": (lambda x: x.t(), lambda x: x.t(), [A]),
    "T": (lambda x: x.T, lambda x: x.T, [A]),
    "transpose dims": (lambda x: x.reshape(3, 2, 2).transpose(0, 2), lambda x: x.reshape(3, 2, 2).transpose(0, 2),
                       [A]),
    "transpose 2-d": (lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1), [A]),
    "permute": (lambda x: x.reshape(3, 2, 2).permute(2, 0, 1), lambda x: x.reshape(3, 2, 2).permute(2, 0, 1), [A]),
    "flatten": (lambda x: x.reshape(3, 2, 2).flatten(), lambda x: x.reshape(3, 2, 2).flatten(), [A]),
    "flatten dims": (lambda x: x.reshape(3, 2, 2).flatten(1), lambda x: x.reshape(3, 2, 2).flatten(1), [A]),
    "expand": (lambda x: x.unsqueeze(0).expand(2, -1, -1), lambda x: x.unsqueeze(0).expand(2, -1, -1), [A]),
    "expand_as": (lambda x, y: x[:1].expand_as(y), lambda x, y: x[:1].expand_as(y), [A, B]),
    "clone": (lambda x: x.clone() * 2, lambda x: x.clone() * 2, [A]),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5), [A]),
    "clamp min": (lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1), [A]),
    "softmax": (lambda x: x.softmax(dim=1), lambda x: x.softmax(dim=1), [A]),
    "log_softmax": (lambda x: x.log_softmax(0), lambda x: x.log_softmax(0), [A]),
    "logsumexp": (lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), [A]),
    "norm": (lambda x: x.norm(), lambda x: x.norm(), [A]),
    "norm dim": (lambda x: x.norm(dim=1), lambda x: x.norm(dim=1), [A]),
    "matmul mm": (lambda x, y: (x.matmul(y.T), x.mm(y.T)), lambda x, y: (x.matmul(y.T), x.mm(y.T)), [A, B]),
    "dot": (lambda x, y: x[0].dot(y[1]), lambda x, y: x[0].dot(y[1]), [A, B]),
    "all any": (lambda x: ((x > -5).all(), (x > 1).any(), (x > 0).all(dim=1)),
                lambda x: ((x > -5).all(), (x > 1).any(), (x > 0).all(dim=1)), [A]),
    "add sub alpha": (lambda x, y: (x.add(y, alpha=2), x.sub(y, alpha=0.5), x.mul(y), x.div(y)),
                      lambda x, y: (x.add(y, alpha=2), x.sub(y, alpha=0.5), x.mul(y), x.div(y)), [A, P]),
    "exp abs sqrt": (lambda x: (x.exp(), x.abs(), x.abs().sqrt()), lambda x: (x.exp(), x.abs(), x.abs().sqrt()),
                     [A]),
    "getitem bool tensor": (lambda x: x[x > 0], lambda x: x[x > 0], [A]),
    "getitem long tensor": (lambda x: x[cr.tensor([2, 0, 2])], lambda x: x[torch.tensor([2, 0, 2])], [A]),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_tensor_methods_match_pytorch(name):
    ours, theirs, inputs = METHODS[name]
    check(ours, theirs, *inputs, what=name, rtol=1e-3 if "16" in name else 1e-6 if name in CASTS else 1e-10)


CASTS = {"float", "to dtype", "to device dtype", "type", "double"}


def test_metadata_methods_match_pytorch():
    a, t = cr.tensor(A), torch.tensor(A)
    assert a.size() == t.size() == (3, 4) and a.size(1) == t.size(1) == 4 and a.size(-1) == t.size(-1)
    assert a.size().numel() == t.size().numel() == 12
    assert a.numel() == t.numel() == 12 and a.dim() == t.dim() == 2 and a.nelement() == 12
    assert a.item is not None and cr.tensor(2.5).item() == torch.tensor(2.5).item() == 2.5
    assert a.tolist() == t.tolist()
    assert cr.tensor(A, dtype=cr.float32).type() == "chainrule.FloatTensor" and t.float().type() == "torch.FloatTensor"
    assert a.type() == "chainrule.DoubleTensor" and cr.tensor([1]).type() == "chainrule.LongTensor"
    assert a.type("torch.FloatTensor").dtype == np.float32
    assert str(a.device) == str(t.device) == "cpu" and not a.is_cuda
    assert a.element_size() == t.element_size() == 8
    assert a.contiguous() is a and a.cpu() is a
    assert a.float().float() is not None and a.double() is a  # (no copy when the dtype is already right)
    x = cr.tensor(A, requires_grad=True)
    assert x.grad_fn is None and (x * 2).grad_fn is not None and x.is_leaf and not (x * 2).is_leaf
    assert f"{cr.tensor(2.0):.3f}" == f"{torch.tensor(2.0):.3f}" == "2.000"
    with pytest.raises(RuntimeError, match="cuda.*not available"):
        a.to("cuda")
    with pytest.raises(RuntimeError, match="not available"):
        a.cuda()
    with pytest.raises(ShapeErrorOrIndex):
        a.size(2)


ShapeErrorOrIndex = (cr.ShapeError, IndexError)


# -- in-place methods ------------------------------------------------------------------------------------

INPLACE = {  # name: (the method applied to a tensor that requires no grad)
    "zero_": lambda t, o: t.zero_(), "fill_": lambda t, o: t.fill_(1.5), "copy_": lambda t, o: t.copy_(o),
    "copy_ broadcast": lambda t, o: t.copy_(o[0]), "add_": lambda t, o: t.add_(o),
    "add_ alpha": lambda t, o: t.add_(o, alpha=-0.5), "sub_": lambda t, o: t.sub_(o),
    "sub_ alpha": lambda t, o: t.sub_(o, alpha=2), "mul_": lambda t, o: t.mul_(o), "div_": lambda t, o: t.div_(o),
    "clamp_": lambda t, o: t.clamp_(-0.2, 0.3), "pow_": lambda t, o: t.abs().pow_(2), "neg_": lambda t, o: t.neg_(),
    "+=": lambda t, o: t.__iadd__(o), "-=": lambda t, o: t.__isub__(o), "*=": lambda t, o: t.__imul__(o),
    "/=": lambda t, o: t.__itruediv__(o), "+= number": lambda t, o: t.__iadd__(2),
    "setitem": lambda t, o: t.__setitem__((slice(None), 1), o[:, 0]) or t,
    "setitem mask": lambda t, o: t.__setitem__(t > 0, 0.0) or t,
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_in_place_methods_update_the_tensor_as_pytorchs(name):
    fn = INPLACE[name]
    ours, theirs = cr.tensor(A.copy()), torch.tensor(A.copy())
    oo, ot = cr.tensor(P), torch.tensor(P)
    r_o, r_t = fn(ours, oo), fn(theirs, ot)
    same(ours, theirs, name)
    if r_t is theirs:
        assert r_o is ours, f"{name} returns the tensor itself"


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_in_place_methods_on_a_graph_are_recorded_as_pytorchs(name):
    """On a non-leaf that requires grad, the update is recorded: the gradient flows through it."""
    fn = INPLACE[name]

    def go(lib, x, o):
        y = x * 1.0  # a non-leaf
        fn(y, o)
        return y

    check(lambda x, o: go(cr, x, o), lambda x, o: go(torch, x, o), A, P, what=name)


def test_in_place_on_a_leaf_that_requires_grad_raises_as_pytorch():
    for fn in (lambda t: t.add_(1), lambda t: t.__iadd__(1), lambda t: t.zero_(), lambda t: t.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="leaf"):
            fn(torch.tensor(A, requires_grad=True))
        x = cr.tensor(A, requires_grad=True, name="w")
        with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad \('w'\).*no_grad"):
            fn(x)


def test_in_place_dtype_and_shape_rules_as_pytorch():
    i = cr.tensor([1, 2, 3])
    with pytest.raises(TypeError, match="add_"):
        i.add_(0.5)  # PyTorch: result type Float can't be cast to Long
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2, 3]).add_(0.5)
    f32 = cr.tensor(A, dtype=cr.float32)
    f32 += cr.tensor(B)  # float64 into float32 is kept float32, as PyTorch
    assert f32.dtype == np.float32
    with pytest.raises(cr.ShapeError, match="-="):
        v = cr.tensor(V)
        v -= cr.tensor(A)  # (4,) cannot take a (3, 4) result
    with pytest.raises(RuntimeError):
        tv = torch.tensor(V)
        tv -= torch.tensor(A)


def test_grad_is_an_array_with_pytorchs_methods():
    x = cr.tensor(A, requires_grad=True)
    (x * x).sum().backward()
    g = x.grad
    assert isinstance(g, np.ndarray) and repr(g).startswith("array(")
    np.testing.assert_allclose(g, 2 * A)
    assert g.data is g and type(g.numpy()) is np.ndarray and g.numel() == 12 and g.dim() == 2
    assert type(g * 2) is np.ndarray and type(g.sum()) is np.float64  # arithmetic gives plain arrays
    assert g.zero_() is g and not g.any() and x.grad is g
    x.grad.data.zero_()
    x.grad.add_(cr.tensor(np.ones((3, 4))), alpha=2).mul_(3).sub_(1).div_(5)
    np.testing.assert_allclose(x.grad, np.full((3, 4), 1.0))
    x.grad.fill_(4).clamp_(max=3.0)
    np.testing.assert_allclose(x.grad, 3.0)
    c = x.grad.clone()
    c.zero_()
    assert x.grad.all()
    assert math.isclose(x.grad.norm(), float(np.linalg.norm(np.full(12, 3.0))))


def test_grad_assignment_is_checked_and_kept_as_a_grad_array():
    x = cr.tensor(A, requires_grad=True)
    x.grad = np.zeros((3, 4))
    assert isinstance(x.grad, cr.GradArray) and x.grad.zero_() is x.grad
    x.grad = cr.zeros_like(x)
    assert isinstance(x.grad, cr.Tensor)  # a Tensor assigned stays a Tensor (as PyTorch's)
    with pytest.raises(cr.ShapeError, match=r"\(2,\).*\(3, 4\)"):
        x.grad = np.zeros(2)
    x.grad = None
    assert x.grad is None


def test_optimizers_zero_grad_set_to_none_false_gives_grad_arrays():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert isinstance(p.grad, cr.GradArray) and not p.grad.any()
    p.grad.add_(1.0)
    opt.step()
    np.testing.assert_allclose(p.data, 0.9)


# -- functions ---------------------------------------------------------------------------------------------

FUNCTIONS = {
    "flatten": (lambda x: cr.flatten(x), lambda x: torch.flatten(x), [A]),
    "flatten start_dim": (lambda x: cr.flatten(x.reshape(3, 2, 2), 1), lambda x: torch.flatten(x.reshape(3, 2, 2),
                                                                                              1), [A]),
    "flatten start end": (lambda x: cr.flatten(x.reshape(3, 2, 2, 1), 1, 2),
                          lambda x: torch.flatten(x.reshape(3, 2, 2, 1), 1, 2), [A]),
    "argmax": (lambda x: cr.argmax(x, dim=1), lambda x: torch.argmax(x, dim=1), [A]),
    "argmax keepdim": (lambda x: cr.argmax(x, 0, keepdim=True), lambda x: torch.argmax(x, 0, keepdim=True), [A]),
    "argmin": (lambda x: cr.argmin(x), lambda x: torch.argmin(x), [A]),
    "cat": (lambda x, y: cr.cat([x, y]), lambda x, y: torch.cat([x, y]), [A, B]),
    "cat dim": (lambda x, y: cr.cat((x, y), dim=1), lambda x, y: torch.cat((x, y), dim=1), [A, B]),
    "cat dim=-1": (lambda x, y: cr.cat([x, y], -1), lambda x, y: torch.cat([x, y], -1), [A, B]),
    "concatenate dim": (lambda x, y: cr.concatenate([x, y], dim=1), lambda x, y: torch.concatenate([x, y], dim=1),
                        [A, B]),
    "stack dim": (lambda x, y: cr.stack([x, y], dim=2), lambda x, y: torch.stack([x, y], dim=2), [A, B]),
    "sum dim keepdim": (lambda x: cr.sum(x, dim=0, keepdim=True), lambda x: torch.sum(x, dim=0, keepdim=True), [A]),
    "sum dtype": (lambda x: cr.sum(x, dtype=cr.float32), lambda x: torch.sum(x, dtype=torch.float32), [A]),
    "mean dim": (lambda x: cr.mean(x, dim=(0, 1)), lambda x: torch.mean(x, dim=(0, 1)), [A]),
    "max": (lambda x: cr.max(x), lambda x: torch.max(x), [A]),
    "max dim": (lambda x: cr.max(x, 1), lambda x: tuple(torch.max(x, 1)), [A]),
    "max other": (lambda x, y: cr.max(x, y), lambda x, y: torch.max(x, y), [A, B]),
    "min dim keepdim": (lambda x: cr.min(x, dim=0, keepdim=True), lambda x: tuple(torch.min(x, dim=0, keepdim=True)),
                        [A]),
    "var": (lambda x: cr.var(x, dim=1), lambda x: torch.var(x, dim=1), [A]),
    "std": (lambda x: cr.std(x, correction=0), lambda x: torch.std(x, correction=0), [A]),
    "softmax dim": (lambda x: cr.softmax(x, dim=0), lambda x: torch.softmax(x, dim=0), [A]),
    "log_softmax dim": (lambda x: cr.log_softmax(x, dim=1), lambda x: torch.log_softmax(x, dim=1), [A]),
    "logsumexp dim keepdim": (lambda x: cr.logsumexp(x, dim=1, keepdim=True),
                              lambda x: torch.logsumexp(x, dim=1, keepdim=True), [A]),
    "squeeze unsqueeze": (lambda x: cr.squeeze(cr.unsqueeze(x, 0), 0), lambda x: torch.squeeze(torch.unsqueeze(x, 0),
                                                                                                 0), [A]),
    "transpose dims": (lambda x: cr.transpose(x, 0, 1), lambda x: torch.transpose(x, 0, 1), [A]),
    "permute": (lambda x: cr.permute(x, (1, 0)), lambda x: torch.permute(x, (1, 0)), [A]),
    "clamp": (lambda x: cr.clamp(x, min=-0.1), lambda x: torch.clamp(x, min=-0.1), [A]),
    "pow": (lambda x: cr.pow(x, 2), lambda x: torch.pow(x, 2), [A]),
    "mm": (lambda x, y: cr.mm(x, y.T), lambda x, y: torch.mm(x, y.T), [A, B]),
    "eq ne lt le gt ge": (lambda x, y: (cr.eq(x, y), cr.ne(x, y), cr.lt(x, y), cr.le(x, y), cr.gt(x, y),
                                        cr.ge(x, y)),
                          lambda x, y: (torch.eq(x, y), torch.ne(x, y), torch.lt(x, y), torch.le(x, y),
                                        torch.gt(x, y), torch.ge(x, y)), [A, B]),
    "numel": (lambda x: cr.tensor(cr.numel(x)), lambda x: torch.tensor(torch.numel(x)), [A]),
    "sin cos": (lambda x: cr.sin(x) + cr.cos(x), lambda x: torch.sin(x) + torch.cos(x), [A]),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_match_pytorch(name):
    ours, theirs, inputs = FUNCTIONS[name]
    check(ours, theirs, *inputs, what=name, rtol=1e-5 if "dtype" in name else 1e-10)


def test_comparison_functions_and_allclose_match_pytorch():
    a, b = cr.tensor(A), torch.tensor(A)
    assert cr.allclose(a, a + 1e-12) == torch.allclose(b, b + 1e-12) is True
    assert cr.equal(a, a) and not cr.equal(a, a[:2]) and torch.equal(b, b)
    assert cr.is_tensor(a) and torch.is_tensor(b) and not cr.is_tensor(A)


# -- factories ---------------------------------------------------------------------------------------------

FACTORIES = {
    "zeros": lambda m: m.zeros(2, 3), "zeros tuple": lambda m: m.zeros((2, 3)), "zeros size=": lambda m: m.zeros(
        size=(4,)), "zeros 0-d": lambda m: m.zeros(()), "ones dtype": lambda m: m.ones(3, dtype=m.long),
    "full float": lambda m: m.full((2, 2), 1.5), "full int": lambda m: m.full((2,), 7),
    "full bool": lambda m: m.full((2,), True), "full dtype": lambda m: m.full((2,), 7, dtype=m.float64),
    "eye": lambda m: m.eye(3), "eye rect": lambda m: m.eye(2, 3), "arange": lambda m: m.arange(5),
    "arange start end": lambda m: m.arange(2, 7), "arange step": lambda m: m.arange(1, 2.5, 0.5),
    "arange float": lambda m: m.arange(3.0), "arange dtype": lambda m: m.arange(4, dtype=m.float32),
    "linspace": lambda m: m.linspace(-math.pi, math.pi, 7), "linspace 1": lambda m: m.linspace(0, 1, 1),
    "linspace dtype": lambda m: m.linspace(0, 1, 5, dtype=m.float64),
    "zeros_like": lambda m: m.zeros_like(m.ones(2, 3)), "ones_like dtype": lambda m: m.ones_like(
        m.zeros(2), dtype=m.int32), "full_like": lambda m: m.full_like(m.zeros(3), 2.5),
    "empty shape": lambda m: m.empty(2, 5).shape, "empty_like shape": lambda m: m.empty_like(m.ones(3, 1)).shape,
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_match_pytorch_in_pytorchs_default_dtype(name):
    fn = FACTORIES[name]
    prev = cr.get_default_dtype(), cr.ops.dtypes.defaults.param
    cr.set_default_dtype(cr.float32)  # PyTorch's default, so the dtypes must agree
    try:
        ours, theirs = fn(cr), fn(torch)
    finally:
        cr.ops.dtypes.defaults.dtype, cr.ops.dtypes.defaults.param = prev
    if isinstance(theirs, torch.Size):
        assert tuple(ours) == tuple(theirs)
    else:
        same(ours, theirs, name, rtol=1e-6)


def test_factories_keep_chainrules_float64_default_and_take_requires_grad():
    assert cr.zeros(2).dtype == cr.randn(2).dtype == cr.linspace(0, 1, 3).dtype == cr.arange(1.0).dtype == np.float64
    assert cr.arange(3).dtype == cr.full((1,), 2).dtype == np.int64
    assert cr.tensor([1.0, 2.0]).dtype == np.float64 and torch.tensor([1.0, 2.0]).dtype == torch.float32
    x = cr.zeros(3, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    with pytest.raises(TypeError, match="requires_grad"):
        cr.arange(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="cuda"):
        cr.zeros(2, device="cuda")
    assert cr.zeros(2, device="cpu").device == cr.device("cpu")
    with pytest.raises(ValueError, match="non-negative"):
        cr.ones(-1)
    with pytest.raises(TypeError, match="size"):
        cr.zeros(2.5)


def test_set_default_dtype_as_pytorchs():
    prev = cr.get_default_dtype(), cr.ops.dtypes.defaults.param
    try:
        cr.set_default_dtype(cr.float32)
        assert cr.get_default_dtype() == np.float32
        assert cr.tensor([1.5]).dtype == cr.tensor(2.0).dtype == cr.zeros(1).dtype == np.float32
        assert cr.tensor(np.ones(2)).dtype == np.float64  # arrays keep theirs, as PyTorch
        assert nn.Linear(2, 2).weight.dtype == np.float32
        cr.set_default_dtype(cr.float64)
        assert nn.Linear(2, 2).weight.dtype == np.float64 and cr.tensor([1.5]).dtype == np.float64
        with pytest.raises(TypeError, match="floating-point"):
            cr.set_default_dtype(cr.long)
    finally:
        cr.ops.dtypes.defaults.dtype, cr.ops.dtypes.defaults.param = prev
    assert nn.Linear(2, 2).weight.dtype == np.float32, "layers default to float32, as PyTorch's"


def test_float32_power_of_integers_stays_float32_as_pytorch():
    x = cr.tensor(A, dtype=cr.float32)
    p = cr.tensor([1, 2, 3, 4])
    for ours, theirs in ((x ** 2, torch.tensor(A, dtype=torch.float32) ** 2),
                         (x.pow(p), torch.tensor(A, dtype=torch.float32).pow(torch.tensor([1, 2, 3, 4]))),
                         (x ** 2.0, torch.tensor(A, dtype=torch.float32) ** 2.0)):
        same(ours, theirs, "float32 ** int", rtol=1e-6)


def test_from_numpy_and_as_tensor_share_memory_as_pytorch():
    a = np.arange(6.0).reshape(2, 3)
    t = cr.from_numpy(a)
    a[0, 0] = 10
    assert t[0, 0].item() == 10 and t.dtype == np.float64
    with cr.no_grad():
        t.add_(1)
    assert a[1, 2] == 6
    assert cr.as_tensor(a).data is a or np.shares_memory(cr.as_tensor(a).data, a)
    assert not np.shares_memory(cr.as_tensor(a, dtype=cr.float32).data, a)
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        cr.from_numpy([1, 2])


def test_random_factories_signatures_dtypes_and_seeding():
    for fn in (lambda g=None: cr.randn(2, 3, generator=g), lambda g=None: cr.rand((2, 3), generator=g),
               lambda g=None: cr.normal(0.0, 2.0, (2, 3), generator=g), lambda g=None: cr.randn_like(
                   cr.zeros(2, 3), generator=g), lambda g=None: cr.rand_like(cr.zeros(2, 3), generator=g),
               lambda g=None: cr.randint(0, 10, (2, 3), generator=g), lambda g=None: cr.randperm(6, generator=g)):
        cr.manual_seed(5)
        a = fn()
        cr.manual_seed(5)
        b = fn()
        np.testing.assert_array_equal(a.data, b.data)
        c = fn(cr.Generator().manual_seed(5))
        d = fn(cr.Generator().manual_seed(5))
        np.testing.assert_array_equal(c.data, d.data)
    assert cr.randn(3, dtype=cr.float32).dtype == np.float32 and cr.randint(5, (4,)).dtype == np.int64
    big = cr.randn(20000, generator=cr.Generator().manual_seed(0)).data
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05
    u = cr.rand(20000).data
    assert u.min() >= 0 and u.max() < 1
    m = cr.normal(cr.tensor([0.0, 100.0]), cr.tensor([1.0, 0.0]))
    assert m.shape == (2,) and m[1].item() == 100.0 == torch.normal(torch.tensor([0.0, 100.0]),
                                                                      torch.tensor([1.0, 0.0]))[1].item()
    assert sorted(cr.randperm(5).tolist()) == list(range(5))
    x = cr.randn((), requires_grad=True)
    assert x.shape == () and x.requires_grad
    assert cr.manual_seed(1).initial_seed() == 1 == cr.initial_seed()


def test_manual_seed_makes_layers_and_dropout_repeat():
    def build():
        cr.manual_seed(11)
        lin = nn.Linear(4, 3)
        drop = F.dropout(cr.ones(100), 0.5)
        return lin.weight.data.copy(), drop.data

    (w1, d1), (w2, d2) = build(), build()
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(d1, d2)
    assert nn.manual_seed is cr.manual_seed


# -- dtypes and devices ------------------------------------------------------------------------------------

def test_dtype_names_are_pytorchs():
    pairs = {"float": "float32", "float32": "float32", "float64": "float64", "double": "float64",
             "half": "float16", "long": "int64", "int": "int32", "int64": "int64", "bool": "bool", "uint8": "uint8"}
    for name, np_name in pairs.items():
        assert getattr(cr, name) == np.dtype(np_name)
        assert str(getattr(torch, name)) == f"torch.{np_name}"
    assert cr.tensor(A, dtype=cr.float).dtype == np.float32
    assert cr.tensor(A).float().dtype == cr.float32 and (cr.tensor(A) > 0).dtype == cr.bool


def test_devices_and_accelerators_are_pytorchs():
    d = cr.device("cpu")
    assert repr(d) == repr(torch.device("cpu")) and str(d) == "cpu" and d == "cpu" and d.type == "cpu"
    assert repr(cr.device("cuda:1")) == repr(torch.device("cuda:1")) and cr.device("cuda", 0).index == 0
    assert cr.accelerator.is_available() is False and cr.cuda.is_available() is False
    assert cr.accelerator.device_count() == 0 and cr.backends.mps.is_available() is False
    m = nn.Linear(2, 3)
    assert m.to("cpu") is m and m.to(cr.device("cpu")) is m and m.cpu() is m
    m.to(cr.float64)
    assert m.weight.dtype == np.float64
    m.to("cpu", cr.float32)
    assert m.weight.dtype == np.float32
    m.to(cr.zeros(1, dtype=cr.float64))
    assert m.weight.dtype == np.float64
    with pytest.raises(RuntimeError, match="Linear.to: device 'cuda' is not available"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="not available"):
        nn.Linear(2, 2, device="cuda")


# -- nn: loss modules, pooling -------------------------------------------------------------------------------

LOGITS = RNG.standard_normal((5, 4))
CLASSES = np.array([0, 3, 1, 1, 2])
PROBS = RNG.uniform(0.05, 0.95, (5, 4))
TARGET01 = (RNG.uniform(size=(5, 4)) > 0.5).astype(np.float64)
WEIGHT = np.array([0.5, 1.0, 2.0, 1.5])

LOSSES = {  # name: (our module, PyTorch's, input, target)
    "MSELoss": (nn.MSELoss(), torch.nn.MSELoss(), LOGITS, PROBS),
    "MSELoss sum": (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), LOGITS, PROBS),
    "L1Loss none": (nn.L1Loss(reduction="none"), torch.nn.L1Loss(reduction="none"), LOGITS, PROBS),
    "CrossEntropyLoss": (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), LOGITS, CLASSES),
    "CrossEntropyLoss weight ignore": (nn.CrossEntropyLoss(weight=cr.tensor(WEIGHT), ignore_index=1),
                                       torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT), ignore_index=1),
                                       LOGITS, CLASSES),
    "CrossEntropyLoss probabilities": (nn.CrossEntropyLoss(reduction="sum"),
                                       torch.nn.CrossEntropyLoss(reduction="sum"), LOGITS, PROBS),
    "NLLLoss": (nn.NLLLoss(), torch.nn.NLLLoss(), np.log(PROBS), CLASSES),
    "NLLLoss weight none": (nn.NLLLoss(weight=cr.tensor(WEIGHT), reduction="none"),
                            torch.nn.NLLLoss(weight=torch.tensor(WEIGHT), reduction="none"), np.log(PROBS), CLASSES),
    "BCELoss": (nn.BCELoss(), torch.nn.BCELoss(), PROBS, TARGET01),
    "BCELoss weight": (nn.BCELoss(weight=cr.tensor(WEIGHT)), torch.nn.BCELoss(weight=torch.tensor(WEIGHT)), PROBS,
                       TARGET01),
    "BCEWithLogitsLoss pos_weight": (nn.BCEWithLogitsLoss(pos_weight=cr.tensor(WEIGHT)),
                                     torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(WEIGHT)), LOGITS, TARGET01),
    "MultiMarginLoss": (nn.MultiMarginLoss(margin=0.5), torch.nn.MultiMarginLoss(margin=0.5), LOGITS, CLASSES),
}
with warnings.catch_warnings():  # (PyTorch warns that these arguments are deprecated)
    warnings.simplefilter("ignore")
    LOSSES["legacy size_average=False"] = (nn.MSELoss(size_average=False), torch.nn.MSELoss(size_average=False),
                                           LOGITS, PROBS)
    LOSSES["legacy reduce=False"] = (nn.L1Loss(reduce=False), torch.nn.L1Loss(reduce=False), LOGITS, PROBS)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_modules_match_pytorch(name):
    ours, theirs, x, target = LOSSES[name]
    assert ours.reduction == theirs.reduction
    check(lambda a: ours(a, cr.tensor(target)), lambda a: theirs(a, torch.tensor(target)), x, what=name)


def test_gaussian_nll_loss_module_matches_pytorch():
    var = RNG.uniform(0.5, 2.0, (5, 4))
    check(lambda a, v: nn.GaussianNLLLoss()(a, cr.tensor(PROBS), v),
          lambda a, v: torch.nn.GaussianNLLLoss()(a, torch.tensor(PROBS), v), LOGITS, var, what="GaussianNLLLoss")


def test_loss_modules_check_their_arguments():
    with pytest.raises(ValueError, match="MSELoss.*reduction"):
        nn.MSELoss(reduction="avg")
    assert "reduction='sum'" in repr(nn.MSELoss(reduction="sum"))


IMAGES = RNG.standard_normal((2, 3, 7, 6))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2), dict(kernel_size=(2, 3)),
                                    dict(kernel_size=3, stride=1, padding=1),
                                    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                    dict(kernel_size=2, divisor_override=3)])
def test_avg_pool2d_matches_pytorch(kwargs):
    check(lambda x: F.avg_pool2d(x, **kwargs), lambda x: TF.avg_pool2d(x, **kwargs), IMAGES, what=str(kwargs))
    check(lambda x: nn.AvgPool2d(**kwargs)(x), lambda x: torch.nn.AvgPool2d(**kwargs)(x), IMAGES, what=str(kwargs))


@pytest.mark.parametrize("size", [1, (1, 1), 2, (3, 2), (7, 4), (None, 3)])
def test_adaptive_avg_pool2d_matches_pytorch(size):
    check(lambda x: nn.AdaptiveAvgPool2d(size)(x), lambda x: torch.nn.AdaptiveAvgPool2d(size)(x), IMAGES,
          what=str(size))


def test_pooling_refuses_what_it_does_not_support():
    with pytest.raises(cr.ShapeError, match="avg_pool2d"):
        F.avg_pool2d(cr.tensor(IMAGES), 8)


def test_pytorchs_layer_arguments_are_accepted():
    assert nn.ReLU(inplace=True)(cr.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]
    assert nn.Dropout(0.2, inplace=False).p == 0.2 and nn.LeakyReLU(0.1, inplace=True).negative_slope == 0.1
    assert nn.Conv2d(1, 2, 3, device="cpu", dtype=cr.float64).weight.dtype == np.float64


# -- autograd ------------------------------------------------------------------------------------------------

class _Cube(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


class _TCube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def test_autograd_function_matches_pytorch():
    check(lambda x: _Cube.apply(x) * 2, lambda x: _TCube.apply(x) * 2, A, what="autograd.Function")
    assert cr.autograd.Function is cr.Function


def test_autograd_grad_matches_pytorch():
    def f(m, x, y):
        return (m.sin(x) * y).sum() + (x * x * y).sum()

    xs, ys = [cr.tensor(A, requires_grad=True), cr.tensor(B, requires_grad=True)], \
        [torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)]
    go = cr.autograd.grad(f(cr, *xs), xs)
    gt = torch.autograd.grad(f(torch, *ys), ys)
    assert isinstance(go, tuple)
    same(go, gt, "autograd.grad")
    assert xs[0].grad is None, "autograd.grad leaves .grad alone"
    # create_graph: a second derivative
    (gx,) = cr.autograd.grad(f(cr, *xs), xs[0], create_graph=True)
    (tgx,) = torch.autograd.grad(f(torch, *ys), ys[0], create_graph=True)
    same(cr.autograd.grad(gx.sum(), xs[1]), torch.autograd.grad(tgx.sum(), ys[1]), "second order")
    # grad_outputs for a vector output
    v = RNG.standard_normal((3, 4))
    same(cr.autograd.grad(xs[0] * xs[1], xs[0], grad_outputs=cr.tensor(v)),
         torch.autograd.grad(ys[0] * ys[1], ys[0], grad_outputs=torch.tensor(v)), "grad_outputs")


def test_autograd_grad_unused_and_errors_as_pytorch():
    x, z = cr.tensor(A, requires_grad=True), cr.tensor(B, requires_grad=True)
    tx, tz = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        cr.autograd.grad((x * 2).sum(), [x, z])
    with pytest.raises(RuntimeError):
        torch.autograd.grad((tx * 2).sum(), [tx, tz])
    go = cr.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    gt = torch.autograd.grad((tx * 2).sum(), [tx, tz], allow_unused=True)
    assert go[1] is None and gt[1] is None
    same(go[0], gt[0], "allow_unused")
    gm = cr.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
    same(gm, torch.autograd.grad((tx * 2).sum(), [tx, tz], materialize_grads=True), "materialize_grads")
    with pytest.raises(RuntimeError, match="single-element"):
        cr.autograd.grad(x * 2, x)
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.autograd.grad((x * 2).sum(), cr.tensor(A))


def test_autograd_backward_and_variable():
    x = cr.tensor(A, requires_grad=True)
    tx = torch.tensor(A, requires_grad=True)
    cr.autograd.backward([(x * x).sum(), (x * 3).sum()])
    torch.autograd.backward([(tx * tx).sum(), (tx * 3).sum()])
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    v = cr.autograd.Variable(cr.tensor([1.0]), requires_grad=True)
    assert v.requires_grad and cr.autograd.no_grad is cr.no_grad


# -- optim, schedulers, data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(), dict(lr=0.5, rho=0.8), dict(weight_decay=0.1, eps=1e-4),
                                    dict(maximize=True)])
def test_adadelta_matches_pytorch(kwargs):
    w0 = RNG.standard_normal((3, 2))
    p, tp = nn.Parameter(w0.copy()), torch.nn.Parameter(torch.tensor(w0.copy()))
    o, t = optim.Adadelta([p], **kwargs), torch.optim.Adadelta([tp], **kwargs)
    for step in range(6):
        for opt, param in ((o, p), (t, tp)):
            opt.zero_grad()
            ((param * param).sum() + param.sum() * 0.3 * step).backward()
            opt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10)


def test_step_lr_matches_pytorch_from_its_place():
    from chainrule.optim.lr_scheduler import StepLR

    p, tp = nn.Parameter(np.ones(2)), torch.nn.Parameter(torch.ones(2))
    s = StepLR(optim.Adadelta([p], lr=1.0), step_size=2, gamma=0.7)
    ts = torch.optim.lr_scheduler.StepLR(torch.optim.Adadelta([tp], lr=1.0), step_size=2, gamma=0.7)
    lrs = []
    for _ in range(5):
        lrs.append((s.get_last_lr(), ts.get_last_lr()))
        s.optimizer.step()
        ts.optimizer.step()
        s.step()
        ts.step()
    for a, b in lrs:
        np.testing.assert_allclose(a, b)
    assert cr.optim.lr_scheduler.StepLR is StepLR


def test_utils_data_is_pytorchs_place():
    from chainrule.utils.data import DataLoader, TensorDataset

    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    ours = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=4)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                         batch_size=4)
    assert len(ours) == len(theirs) == 3
    for (a, b), (ta, tb) in zip(ours, theirs):
        same(a, ta, "x batch")
        same(b, tb, "y batch")
    assert cr.utils.data.Dataset is cr.data.Dataset
    ds = TensorDataset(cr.tensor(x), cr.tensor(y))
    same(ds[2:5], torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))[2:5], "TensorDataset slice")


def test_dataloader_shuffle_is_seeded_by_manual_seed():
    from chainrule.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(np.arange(30))

    def epochs():
        cr.manual_seed(4)
        dl = DataLoader(ds, batch_size=8, shuffle=True)
        return [[b[0].tolist() for b in dl] for _ in range(2)]

    a, b = epochs(), epochs()
    assert a == b, "the same seed gives the same batches"
    assert a[0] != a[1], "a new order every epoch"
    assert sorted(sum(a[0], [])) == list(range(30))
    g = cr.Generator().manual_seed(1)
    with_gen = [b[0].tolist() for b in DataLoader(ds, batch_size=30, shuffle=True, generator=g)]
    assert sorted(with_gen[0]) == list(range(30))


def test_dataloader_takes_pytorchs_arguments():
    from chainrule.utils.data import BatchSampler, DataLoader, SequentialSampler, TensorDataset

    ds = TensorDataset(np.arange(10))
    dl = DataLoader(ds, batch_size=3, num_workers=2, pin_memory=True, persistent_workers=True, drop_last=True)
    assert [b[0].tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    dl = DataLoader(ds, sampler=[9, 8, 7, 1], batch_size=2)
    assert [b[0].tolist() for b in dl] == [[9, 8], [7, 1]] and len(dl) == 2
    dl = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, False))
    assert [len(b[0]) for b in dl] == [4, 4, 2]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    t = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(10)), sampler=[9, 8, 7, 1],
                                    batch_size=2)
    assert [b[0].tolist() for b in t] == [[9, 8], [7, 1]]
