"""NumPy functions and ufuncs on Tensors: each records (and its gradient is right) or raises a
TypeError naming the function and what to use instead; none drops a graph silently (issue 13).

The sweep below covers NumPy's common array functions and ufuncs, applied to a Tensor that requires
grad. A third outcome is allowed where the result carries no gradient at all: integer, boolean or
shape results (np.argmax, np.shape, comparisons) and piecewise-constant values (np.round, np.sign),
whose derivative is zero.
"""

from __future__ import annotations

import pathlib
import sys
import types

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import chainrule as cr

RNG = np.random.default_rng(0)
X = RNG.uniform(0.5, 2.0, size=(3, 4))   # positive, distinct values
W = RNG.standard_normal((4, 2))
C = X > 1.2
ROW = X[0].copy()

# name: a function of one Tensor (the input that requires grad), run exactly as written for arrays
RECORDED = {
    "sum": lambda x: np.sum(x, axis=1), "sum dtype": lambda x: np.sum(x, dtype=np.float64),
    "mean": lambda x: np.mean(x, axis=0, keepdims=True), "mean dtype": lambda x: np.mean(x, dtype=np.float64),
    "max": lambda x: np.max(x, axis=1), "min": lambda x: np.min(x), "amax": lambda x: np.amax(x, axis=0),
    "amin": lambda x: np.amin(x, axis=1, keepdims=True), "var": lambda x: np.var(x, axis=1),
    "std": lambda x: np.std(x, ddof=1), "reshape": lambda x: np.reshape(x, (4, 3)), "ravel": np.ravel,
    "transpose": np.transpose, "transpose axes": lambda x: np.transpose(x, (1, 0)),
    "swapaxes": lambda x: np.swapaxes(x, 0, 1), "moveaxis": lambda x: np.moveaxis(x[None], 0, -1),
    "expand_dims": lambda x: np.expand_dims(x, (0, 2)), "squeeze": lambda x: np.squeeze(x[:, None]),
    "broadcast_to": lambda x: np.broadcast_to(x, (2, 3, 4)),
    "concatenate": lambda x: np.concatenate([x, 2 * x], axis=1), "concatenate None": lambda x: np.concatenate(
        [x, x], axis=None), "stack": lambda x: np.stack([x, x * x]), "vstack": lambda x: np.vstack([x, x[0]]),
    "hstack": lambda x: np.hstack([x, x]), "atleast_3d": np.atleast_3d,
    "where": lambda x: np.where(C, x, 0.0), "dot": lambda x: np.dot(x, W), "dot 1-d": lambda x: np.dot(x[0], x[1]),
    "inner": lambda x: np.inner(x, x), "outer": lambda x: np.outer(x[0], x[1]),
    "tensordot": lambda x: np.tensordot(x, W, axes=1), "matmul": lambda x: np.matmul(x, W), "@": lambda x: x @ W,
    "clip": lambda x: np.clip(x, 0.8, 1.6), "copy": np.copy, "linalg.norm": np.linalg.norm,
    "linalg.norm axis": lambda x: np.linalg.norm(x, axis=1), "diff": lambda x: np.diff(x, n=2, axis=1),
    "trace": np.trace, "pad": lambda x: np.pad(x, ((1, 0), (2, 1))),
    "pad constant": lambda x: np.pad(x, 1, constant_values=3.0), "pad reflect": lambda x: np.pad(x, 2, mode="reflect"),
    "pad edge": lambda x: np.pad(x, ((0, 1), (1, 1)), mode="edge"), "sort": lambda x: np.sort(x, axis=1),
    "sort None": lambda x: np.sort(x, axis=None), "cumsum": lambda x: np.cumsum(x, axis=1), "cumsum all": np.cumsum,
    "flip": np.flip, "fliplr": np.fliplr, "flipud": np.flipud, "roll": lambda x: np.roll(x, 2, axis=1),
    "tile": lambda x: np.tile(x, (2, 1)), "repeat": lambda x: np.repeat(x, 2, axis=0),
    "rot90": np.rot90, "take": lambda x: np.take(x, [0, 5, 5, 11]),
    "take_along_axis": lambda x: np.take_along_axis(x, np.argsort(X, axis=1), axis=1),
    "diagonal": np.diagonal, "diag": lambda x: np.diag(x[0]), "triu": np.triu, "tril": lambda x: np.tril(x, -1),
    "sliding_window_view": lambda x: sliding_window_view(x, (2, 2)), "delete": lambda x: np.delete(x, 1, axis=1),
    "resize": lambda x: np.resize(x, (5, 3)), "split": lambda x: np.split(x, 2, axis=1),
    "array_split": lambda x: np.array_split(x, 3, axis=0), "hsplit": lambda x: np.hsplit(x, 2),
    # ufuncs
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "square": np.square, "maximum": lambda x: np.maximum(x, 1.2), "minimum": lambda x: np.minimum(1.0, x),
    "power": lambda x: np.power(x, 3), "add": lambda x: np.add(x, W.T[:1]), "subtract": lambda x: np.subtract(2, x),
    "multiply": lambda x: np.multiply(x, x), "divide": lambda x: np.divide(1.0, x), "negative": np.negative,
    "positive": np.positive, "add.reduce": lambda x: np.add.reduce(x, axis=1), "maximum.reduce": np.maximum.reduce,
    "ndarray * x": lambda x: X * x, "ndarray - x": lambda x: W.T[:1] - x, "ndarray @ x": lambda x: W.T[:, :3] @ x,
    "ndarray ** x": lambda x: X ** x,
}
REFUSED = {  # function: the call on a Tensor that requires grad
    "numpy.prod": np.prod, "numpy.cumprod": np.cumprod, "numpy.einsum": lambda x: np.einsum("ij->j", x),
    "numpy.linalg.inv": lambda x: np.linalg.inv(x[:, :3]), "numpy.linalg.det": lambda x: np.linalg.det(x[:, :3]),
    "numpy.linalg.svd": lambda x: np.linalg.svd(x)[1], "numpy.median": np.median,
    "numpy.percentile": lambda x: np.percentile(x, 50),
    "numpy.quantile": lambda x: np.quantile(x, 0.5), "numpy.average": lambda x: np.average(x, weights=X),
    "numpy.nansum": np.nansum, "numpy.nanmean": np.nanmean, "numpy.convolve": lambda x: np.convolve(x[0], x[1]),
    "numpy.interp": lambda x: np.interp(x, [0.0, 3.0], [1.0, 2.0]), "numpy.log1p": np.log1p,
    "numpy.expm1": np.expm1, "numpy.tan": np.tan, "numpy.arctan": np.arctan, "numpy.sinh": np.sinh,
    "numpy.exp2": np.exp2, "numpy.log2": np.log2, "numpy.log10": np.log10, "numpy.reciprocal": np.reciprocal,
    "numpy.cbrt": np.cbrt, "numpy.fmax": lambda x: np.fmax(x, 1.0), "numpy.hypot": lambda x: np.hypot(x, x),
    "numpy.gradient": np.gradient, "numpy.cov": np.cov, "numpy.kron": lambda x: np.kron(x, x),
    "numpy.cross": lambda x: np.cross(x[:, :3], x[:, 1:]), "numpy.nan_to_num": np.nan_to_num,
    "numpy.unique": np.unique, "numpy.ptp": np.ptp, "numpy.add.accumulate": lambda x: np.add.accumulate(x),
    "numpy.multiply.reduce": lambda x: np.multiply.reduce(x), "numpy.sum with out=": lambda x: np.sum(
        x, axis=0, out=np.zeros(4)), "numpy.mean with where=": lambda x: np.mean(x, where=C),
    "numpy.max with initial=": lambda x: np.max(x, initial=5.0), "numpy.add with out=": lambda x: np.add(
        x, 1, out=np.zeros((3, 4))), "numpy.exp with where=": lambda x: np.exp(x, where=C),
    "numpy.pad with mode='mean'": lambda x: np.pad(x, 1, mode="mean"),
    "numpy.linalg.norm with ord=3": lambda x: np.linalg.norm(x[0], ord=3),
}
NO_GRADIENT = {  # their results are integers, booleans, shapes, or piecewise constant
    "argmax": lambda x: np.argmax(x, axis=1), "argmin": np.argmin, "argsort": np.argsort, "nonzero": np.nonzero,
    "count_nonzero": lambda x: np.count_nonzero(x > 1), "shape": np.shape, "ndim": np.ndim, "size": np.size,
    "allclose": lambda x: np.allclose(x, X), "isclose": lambda x: np.isclose(x, X), "array_equal": lambda x:
        np.array_equal(x, X), "zeros_like": np.zeros_like, "ones_like": np.ones_like, "greater": lambda x: x > 1.2,
    "equal": lambda x: np.equal(x, X), "isnan": np.isnan, "isfinite": np.isfinite, "sign": np.sign,
    "floor": np.floor, "ceil": np.ceil, "round": lambda x: np.round(x, 1), "searchsorted": lambda x:
        np.searchsorted(np.sort(X.ravel()), 1.0), "histogram": lambda x: np.histogram(x, bins=3)[0],
    "logical_and": lambda x: np.logical_and(x > 1, x < 1.5),
}


def _leaf():
    return cr.tensor(X.copy(), requires_grad=True)


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def _plain(out):
    if isinstance(out, (list, tuple)):
        return [_plain(o) for o in out]
    return out.data if isinstance(out, cr.Tensor) else out


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_functions_give_numpys_values_and_the_right_gradient(name):
    fn = RECORDED[name]
    x = _leaf()
    out = fn(x)
    for o in out if isinstance(out, list) else [out]:
        assert isinstance(o, cr.Tensor) and o.requires_grad, f"{name}: {type(o).__name__} without a graph"
    want = fn(X.copy())
    for o, w in zip(out if isinstance(out, list) else [out], want if isinstance(out, list) else [want]):
        np.testing.assert_allclose(o.data, w, rtol=1e-12, atol=1e-12, err_msg=name)
    assert cr.gradcheck(lambda t: fn(t) if not isinstance(out, list) else tuple(fn(t)), [x])


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_functions_refuse_naming_the_function(name):
    fn = REFUSED[name]
    with pytest.raises(TypeError) as ei:
        fn(_leaf())
    msg = str(ei.value)
    assert name in msg and "requires grad" in msg and "silently drop" in msg, msg
    assert "Instead," in msg or "chainrule's operations" in msg


@pytest.mark.filterwarnings("ignore:'where' used without 'out'")  # (NumPy's, for np.exp(x, where=))
@pytest.mark.parametrize("name", sorted(n for n in REFUSED if not n.endswith("with out=")))  # (out=: below)
def test_refused_functions_run_on_tensors_that_need_no_gradient(name):
    fn = REFUSED[name]
    with np.errstate(all="ignore"):
        want = fn(X.copy())
        got = fn(cr.tensor(X.copy()))
        with cr.no_grad():
            under_no_grad = fn(_leaf())
    for g in (got, under_no_grad):
        np.testing.assert_allclose(np.asarray(_plain(g), dtype=float), np.asarray(want, dtype=float))


@pytest.mark.parametrize("name", sorted(NO_GRADIENT))
def test_functions_without_gradient_run_on_the_values(name):
    fn = NO_GRADIENT[name]
    got, want = fn(_leaf()), fn(X.copy())
    assert not (isinstance(got, cr.Tensor) and got.requires_grad)
    got = _plain(got)
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    else:
        np.testing.assert_array_equal(got, want)
    if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.shape == X.shape and name not in (
            "zeros_like", "ones_like"):
        # piecewise constant: the gradient through it is zero almost everywhere, as PyTorch's
        assert cr.gradcheck(lambda t: t * 1.0 + fn(t), [_leaf()])


def test_the_sweep_covers_every_recorded_function_and_ufunc():
    ops = cr.ops.interop
    names = {getattr(f, "__name__", "") for f in list(ops.FUNCS) + list(ops.UFUNC_OPS)}
    swept = {n.split()[0].split(".")[-1] for n in list(RECORDED) + list(NO_GRADIENT)}
    swept |= {"true_divide", "absolute", "around", "concat", "vsplit", "dsplit", "diagflat", "atleast_1d",
              "atleast_2d"}
    constant_ufuncs = {u.__name__ for u in ops.CONSTANT_UFUNCS}
    missing = sorted(names - swept - constant_ufuncs)
    assert not missing, f"recorded NumPy functions the sweep never calls: {missing}"


def test_converting_a_tensor_that_requires_grad_to_an_array_raises():
    """np.asarray, np.array, storing into an ndarray, and the functions NumPy does not dispatch (which
    convert their argument: as_strided) all refuse."""
    x = _leaf()
    for convert in (np.asarray, np.array, lambda t: np.zeros((3, 4)).__setitem__(Ellipsis, t),
                    lambda t: np.lib.stride_tricks.as_strided(t, (2, 2))):
        with pytest.raises(TypeError, match="requires grad .*would drop its graph.*detach"):
            convert(x)
    np.testing.assert_array_equal(np.asarray(x.detach()), X)
    np.testing.assert_array_equal(x.numpy(), X)
    with cr.no_grad():
        np.testing.assert_array_equal(np.asarray(x), X)
    np.testing.assert_array_equal(np.asarray(cr.tensor(X)), X)
    t = cr.tensor([1.0, 2.0])
    np.array(t)[0] = 9.0  # a copy, as for an ndarray
    np.asarray(t)[1] = 7.0  # a view
    assert t.tolist() == [1.0, 7.0]


def test_ndarray_in_place_with_a_tensor_that_requires_grad_raises():
    a = np.zeros((3, 4))
    with pytest.raises(TypeError, match="numpy.add with out="):
        a += _leaf()
    a += cr.tensor(X)  # no gradient involved: NumPy's in-place add on the array
    np.testing.assert_array_equal(a, X)


def test_out_arguments_without_gradient():
    t = cr.tensor(np.zeros((3, 4)))
    v0 = t._version
    r = np.add(cr.tensor(X), 1.0, out=t)
    assert r is t and t._version > v0
    np.testing.assert_array_equal(t.data, X + 1)
    out = np.zeros(4)
    assert np.sum(cr.tensor(X), axis=0, out=out) is out
    np.testing.assert_allclose(out, X.sum(0))


def test_numpy_reductions_take_dtype_and_keepdims():
    x = cr.tensor(X.astype(np.float32), requires_grad=True)
    for fn in (np.sum, np.mean):
        y = fn(x, axis=1, dtype=np.float64, keepdims=True)
        assert y.dtype == np.float64 and y.shape == (3, 1)
        y.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None
    assert np.max(x, axis=0).shape == (4,)


def _cs231n():
    path = pathlib.Path(__file__).parent / "programs" / "cs231n_layers.py"
    mod = types.ModuleType("cs231n_layers")
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), mod.__dict__)
    return mod


def test_cs231n_style_layers_record_on_tensors_and_match_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    L = _cs231n()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3)) * 0.3
    b = rng.standard_normal(4)
    W1 = rng.standard_normal((4 * 3 * 3, 5)) * 0.2
    W2 = rng.standard_normal((4 * 3 * 3, 5)) * 0.2
    b1 = rng.standard_normal(10)
    gamma, beta = rng.uniform(0.5, 1.5, 10), rng.standard_normal(10)
    y = np.array([1, 7])

    def net(lib, x, w, b, W1, W2, b1, gamma, beta):
        if lib == "cr":
            out, _ = L.conv_forward_windows(x, w, b, {"stride": 1, "pad": 1})
            out, _ = L.relu_forward(out)
            out, _ = L.max_pool_forward_reshape(out, {"pool_height": 2, "pool_width": 2})
            flat = np.reshape(out, (out.shape[0], -1))
            h = L.two_branch(flat, W1, W2) + b1
            h = L.batchnorm_forward_train(L.leaky_relu_forward(h), gamma, beta)
            a, _ = L.affine_forward(h, np.eye(10), np.zeros(10))
            return L.softmax_loss(a, y) + L.svm_loss(a, y)
        out = F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=1)), 2)
        flat = out.reshape(out.shape[0], -1)
        h = torch.cat([flat @ W1, flat @ W2], dim=1) + b1
        h = F.leaky_relu(h, 0.01)
        h = gamma * (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5) + beta
        s = h - torch.diag(torch.ones(10, dtype=torch.float64)).sum(0) * 0  # (the identity affine)
        yt = torch.tensor(y)
        return F.cross_entropy(s, yt) + F.multi_margin_loss(s, yt) * 10 - 0.0 * s.sum()

    arrays = (x, w, b, W1, W2, b1, gamma, beta)
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    lo, lt = net("cr", *ours), net("torch", *theirs)
    assert isinstance(lo, cr.Tensor) and lo.requires_grad
    np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-10)
    lo.backward()
    lt.backward()
    for o, t, name in zip(ours, theirs, "x w b W1 W2 b1 gamma beta".split()):
        assert o.grad is not None, name
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def test_cs231n_layers_pass_gradcheck():
    L = _cs231n()
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: L.conv_forward_windows(x, w, b, {"stride": 2, "pad": 1})[0], [x, w, b])
    s = cr.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert cr.gradcheck(lambda s: L.svm_loss(s, np.array([0, 1, 4, 2])), [s])
    assert cr.gradcheck(lambda s: L.softmax_loss(s, np.array([0, 1, 4, 2])), [s])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
