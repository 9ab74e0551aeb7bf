"""Type promotion as PyTorch's (issue 12's known bugs: float32 op an int Tensor gave float64): the result
dtype of every binary elementwise op over every pair of operand kinds (with dimensions, 0-d, a Python
number) and dtypes, against PyTorch with float64 as its default dtype (chainrule's for Python floats);
gradients keep each leaf's dtype."""

import itertools
import operator

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

DTYPES = ["bool", "int32", "int64", "float16", "float32", "float64"]
KINDS = ["dim", "zero"]
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
       "maximum": "maximum", "minimum": "minimum", "pow": operator.pow}


def _operand(lib, kind, dtype):
    a = np.array([1, 2, 3] if kind == "dim" else 2).astype(dtype)
    if lib == "torch":
        return torch.from_numpy(a)
    return cr.tensor(a)


def _apply(op, x, y, lib):
    if isinstance(op, str):
        return getattr(torch if lib == "torch" else cr, op)(x, y)
    return op(x, y)


@pytest.fixture(autouse=True)
def torch_float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _torch_dtype(op, x, y):
    try:
        return str(_apply(op, x, y, "torch").dtype).replace("torch.", "")
    except RuntimeError:
        return None  # PyTorch refuses it (bool - bool, maximum of a tensor and a number, ...)


@pytest.mark.parametrize("name", sorted(OPS))
def test_binary_ops_promote_tensors_as_pytorch(name):
    op, compared = OPS[name], 0
    for (kx, dx), (ky, dy) in itertools.product(itertools.product(KINDS, DTYPES), repeat=2):
        want = _torch_dtype(op, _operand("torch", kx, dx), _operand("torch", ky, dy))
        if want is None or (name == "pow" and "bool" in (dx, dy)):
            continue
        got = _apply(op, _operand("cr", kx, dx), _operand("cr", ky, dy), "cr").dtype
        assert str(got) == want, (name, kx, dx, ky, dy)
        compared += 1
    assert compared >= 100


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("number", [True, 3, 2.5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_python_number_decides_only_from_a_higher_category(name, number, dtype):
    op = OPS[name]
    if dtype == "bool" and name == "sub" and isinstance(number, bool):
        return
    want = _torch_dtype(op, _operand("torch", "dim", dtype), number)
    if want is not None:
        assert str(op(_operand("cr", "dim", dtype), number).dtype) == want
        assert str(op(number, _operand("cr", "dim", dtype)).dtype) == _torch_dtype(op, number,
                                                                                   _operand("torch", "dim", dtype))


def test_a_float32_step_stays_float32_with_a_float64_scalar_and_int_tensors_in_it():
    w = cr.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    scale = cr.tensor(np.array(2.0))               # 0-d float64
    mask = cr.tensor(np.array([[1, 0], [0, 1], [1, 1]]))   # int64
    y = (w * scale + mask) / cr.tensor(np.arange(1, 3))    # float32 throughout, as in PyTorch
    assert y.dtype == np.float32
    loss = (y * y).sum()
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32
    wt = torch.ones((3, 2), dtype=torch.float32, requires_grad=True)
    yt = (wt * torch.tensor(2.0, dtype=torch.float64) + torch.from_numpy(mask.data)) / torch.arange(1, 3)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-6)


def test_a_float64_leaf_mixed_into_float32_gets_a_float64_gradient():
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    s = cr.tensor(3.0, requires_grad=True)
    out = x * s
    assert out.dtype == np.float32
    out.sum().backward()
    assert s.grad.dtype == np.float64 and float(s.grad) == 3.0
    assert x.grad.dtype == np.float32 and (x.grad == 3).all()


def test_gradcheck_through_a_promoted_op():
    ints = cr.tensor(np.array([1, 2, 3]))
    assert cr.gradcheck(lambda x: (x * ints + ints) / ints, [np.array([0.5, -1.0, 2.0])])


def test_compile_replays_the_promoted_dtype():
    w = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    k = cr.tensor(np.array([1, 2, 3]))

    @cr.compile
    def f(x):
        return (x * k).sum()

    for _ in range(3):
        out = f(w)
        assert out.dtype == np.float32
        out.backward()
    assert w.grad.dtype == np.float32
