"""Layers, factories and data loaders built with sizes an unlucky user passes (issue 12, more hostile
inputs): floats, strings and bools where a size goes, negative sizes, zero kernels and strides, sizes too
large to allocate, eps and momentum out of range, a sampler's index past the data. Each is refused by
name; none is silently truncated (Linear(2.5, 3) made in_features=2) or a NumPy error from deep inside."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset

NAN = float("nan")

BAD_LAYERS = [
    ("Linear(2.5, 3)", lambda: nn.Linear(2.5, 3), TypeError, r"Linear: in_features must be an integer, got 2\.5"),
    ("Linear('3', 3)", lambda: nn.Linear("3", 3), TypeError, "Linear: in_features must be an integer"),
    ("Linear(True, 3)", lambda: nn.Linear(True, 3), TypeError, "Linear: in_features must be an integer"),
    ("Linear(3, -2)", lambda: nn.Linear(3, -2), ValueError, "Linear: out_features must be at least 0, got -2"),
    ("Linear huge", lambda: nn.Linear(10 ** 6, 10 ** 6), MemoryError,
     r"Linear: a parameter of shape \(1000000, 1000000\) \(1,000,000,000,000 elements, 3,725.3 GiB\)"),
    ("Conv2d kernel 0", lambda: nn.Conv2d(3, 4, 0), ValueError, "Conv2d: kernel_size must be at least 1"),
    ("Conv2d stride 0", lambda: nn.Conv2d(3, 4, 3, stride=0), ValueError, "Conv2d: stride must be at least 1"),
    ("Conv2d padding -1", lambda: nn.Conv2d(3, 4, 3, padding=-1), ValueError, "Conv2d: padding must be at least 0"),
    ("Conv2d kernel 2.5", lambda: nn.Conv2d(3, 4, 2.5), ValueError, "Conv2d: kernel_size must be an int or a pair"),
    ("Conv2d channels -3", lambda: nn.Conv2d(-3, 4, 3), ValueError, "Conv2d: in_channels must be at least 0"),
    ("BatchNorm1d(-1)", lambda: nn.BatchNorm1d(-1), ValueError, "BatchNorm1d: num_features must be at least 0"),
    ("BatchNorm2d(2.0)", lambda: nn.BatchNorm2d(2.0), TypeError, "BatchNorm2d: num_features must be an integer"),
    ("BatchNorm1d eps<0", lambda: nn.BatchNorm1d(3, eps=-1), ValueError, "BatchNorm1d: eps must be a finite"),
    ("BatchNorm1d eps nan", lambda: nn.BatchNorm1d(3, eps=NAN), ValueError, "BatchNorm1d: eps must be a finite"),
    ("BatchNorm1d momentum 2", lambda: nn.BatchNorm1d(3, momentum=2), ValueError, r"BatchNorm1d: momentum must be in"),
    ("LayerNorm(-3)", lambda: nn.LayerNorm(-3), ValueError, "LayerNorm: normalized_shape must be at least 0"),
    ("LayerNorm eps nan", lambda: nn.LayerNorm(3, eps=NAN), ValueError, "LayerNorm: eps must be a finite"),
    ("Embedding(3.5, 2)", lambda: nn.Embedding(3.5, 2), TypeError, "Embedding: num_embeddings must be an integer"),
    ("MHA(0, 1)", lambda: nn.MultiheadAttention(0, 1), ValueError, "MultiheadAttention: embed_dim must be at least 1"),
    ("MHA(4, 0)", lambda: nn.MultiheadAttention(4, 0), ValueError, "MultiheadAttention: num_heads must be at least 1"),
    ("GroupNorm(0, 4)", lambda: nn.GroupNorm(0, 4), ValueError, "GroupNorm: num_groups must be at least 1"),
    ("GroupNorm eps<0", lambda: nn.GroupNorm(2, 4, eps=-1e-5), ValueError, "GroupNorm: eps must be a finite"),
    ("ConvTranspose2d kernel 0", lambda: nn.ConvTranspose2d(3, 4, 0), ValueError,
     "ConvTranspose2d: kernel_size must be at least 1"),
    ("ConvTranspose2d groups 0", lambda: nn.ConvTranspose2d(4, 4, 3, groups=0), ValueError,
     "ConvTranspose2d: groups must be at least 1"),
]


@pytest.mark.parametrize("name,make,exc,match", BAD_LAYERS, ids=[c[0] for c in BAD_LAYERS])
def test_a_layer_with_a_bad_size_is_refused_naming_it(name, make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_sizes_pytorch_accepts_still_work():
    assert nn.Linear(0, 3).weight.shape == (3, 0)          # an empty layer, as PyTorch allows
    assert nn.Linear(np.int64(4), 2).in_features == 4
    assert nn.Conv2d(1, 2, (3, 1), stride=[1, 2]).kernel_size == (3, 1)
    assert nn.Embedding(0, 3).weight.shape == (0, 3)
    assert nn.BatchNorm1d(3, momentum=None).momentum is None
    assert nn.LayerNorm((2, 3)).normalized_shape == (2, 3)


def test_functional_windows_refuse_float_sizes():
    x = cr.tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="max_pool2d: kernel_size must be an int or a pair of ints, got 2.5"):
        cr.nn.functional.max_pool2d(x, 2.5)
    with pytest.raises(ValueError, match="avg_pool2d: stride must be an int or a pair of ints"):
        cr.nn.functional.avg_pool2d(x, 2, stride=(1, 1, 1))


@pytest.mark.parametrize("make,match", [
    (lambda: cr.zeros(2 ** 40, 2 ** 40), r"zeros: cannot allocate an array of size \(1099511627776, 1099511627776\)"),
    (lambda: cr.empty(2 ** 62), r"empty: cannot allocate"),
    (lambda: cr.full((2 ** 40, 2 ** 40), 1.0), r"full: cannot allocate"),
])
def test_factories_too_large_to_allocate_say_which(make, match):
    with pytest.raises(MemoryError, match=match):
        make()


@pytest.mark.parametrize("value", ["a", None, [1, 2], {"a": 1}])
def test_full_refuses_a_fill_value_that_is_not_a_number(value):
    with pytest.raises(TypeError, match="full: fill_value must be a number"):
        cr.full((2,), value)


def _ds():
    return TensorDataset(cr.tensor(np.arange(30.0).reshape(10, 3)), cr.tensor(np.arange(10)))


@pytest.mark.parametrize("index", [10, 100, -11])
def test_a_sampler_index_past_the_data_is_an_index_error_naming_the_data_set(index):
    with pytest.raises(IndexError, match=rf"TensorDataset: index {index} is out of range for 10 examples"):
        list(DataLoader(_ds(), sampler=[0, index]))


def test_batch_size_none_gives_single_examples_as_pytorch():
    loader = DataLoader(_ds(), batch_size=None)
    items = list(loader)
    assert len(loader) == len(items) == 10
    x, y = items[3]
    assert x.shape == (3,) and int(y) == 3
