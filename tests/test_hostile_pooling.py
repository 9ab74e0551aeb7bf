"""Pooling with ceil_mode=True (issue 12's list of known bugs: it raised): the last windows may run
past the padded input, as in PyTorch; values and gradients against PyTorch and central differences."""

import itertools

import numpy as np
import pytest

import chainrule as cr

F = cr.nn.functional
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(12)
CASES = [(h, w, k, s, p) for h, w, k, s, p in itertools.product([5, 6, 7], [4, 8], [2, 3], [2, 3], [0, 1])
         if p <= k // 2]


def _compare(ours, theirs, x):
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yc, yt = ours(xc), theirs(xt)
    assert yc.shape == tuple(yt.shape)
    np.testing.assert_allclose(yc.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = RNG.standard_normal(yc.shape)
    yc.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("h,w,k,s,p", CASES)
def test_max_pool2d_ceil_mode_matches_pytorch(h, w, k, s, p):
    x = RNG.standard_normal((2, 3, h, w))
    _compare(lambda t: F.max_pool2d(t, k, s, p, ceil_mode=True),
             lambda t: torch.nn.functional.max_pool2d(t, k, s, p, ceil_mode=True), x)
    _compare(lambda t: cr.nn.MaxPool2d(k, s, p, ceil_mode=True)(t),
             lambda t: torch.nn.MaxPool2d(k, s, p, ceil_mode=True)(t), x)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("h,w,k,s,p", CASES)
def test_avg_pool2d_ceil_mode_matches_pytorch(h, w, k, s, p, include):
    x = RNG.standard_normal((2, 3, h, w))
    _compare(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=True, count_include_pad=include),
             lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil_mode=True, count_include_pad=include), x)
    _compare(lambda t: cr.nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=include)(t),
             lambda t: torch.nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=include)(t), x)


def test_ceil_mode_adds_the_partial_windows_and_gradcheck_holds():
    x = RNG.standard_normal((1, 2, 5, 5))
    assert F.max_pool2d(cr.tensor(x), 2).shape == (1, 2, 2, 2)
    assert F.max_pool2d(cr.tensor(x), 2, ceil_mode=True).shape == (1, 2, 3, 3)
    corner = F.avg_pool2d(cr.tensor(x), 2, ceil_mode=True).data[0, 0, 2, 2]
    assert corner == x[0, 0, 4, 4]  # a 1x1 window past the input: the average of what it covers
    assert cr.gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    assert cr.gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), [x])
