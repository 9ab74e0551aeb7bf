"""cr.data: datasets, the loader (batching, seeded shuffling, drop_last), bundled data sets, splits."""

import gzip
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import data

# -- TensorDataset, Subset, random_split --------------------------------------------------------------


def test_tensor_dataset_items_and_batches():
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    ds = data.TensorDataset(x, cr.tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    assert isinstance(xi, cr.Tensor) and isinstance(yi, cr.Tensor)
    np.testing.assert_array_equal(xi.data, [6.0, 7.0])
    assert yi.item() == 3
    xb, yb = ds.__getitems__([4, 1])
    np.testing.assert_array_equal(yb.data, [4, 1])
    np.testing.assert_array_equal(xb.data, x[[4, 1]])
    with pytest.raises(IndexError, match="out of range for 10"):
        ds[10]


def test_tensor_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"first dimension.*\(5, 2\).*\(4,\)"):
        data.TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        data.TensorDataset()


def test_random_split_is_deterministic_and_disjoint():
    ds = data.TensorDataset(np.arange(50))
    a, b = data.random_split(ds, [0.8, 0.2], seed=3)
    assert (len(a), len(b)) == (40, 10)
    assert set(a.indices) | set(b.indices) == set(range(50))
    assert not set(a.indices) & set(b.indices)
    a2, _ = data.random_split(ds, [40, 10], seed=3)
    np.testing.assert_array_equal(a.indices, a2.indices)
    a3, _ = data.random_split(ds, [40, 10], seed=4)
    assert not np.array_equal(a.indices, a3.indices)
    (xb,) = a.__getitems__([0, 1])
    np.testing.assert_array_equal(xb.data, a.indices[:2])
    with pytest.raises(ValueError, match="sum to the dataset's length 50"):
        data.random_split(ds, [30, 10])


# -- DataLoader --------------------------------------------------------------------------------------


def _epoch(loader):
    return [tuple(t.data.copy() for t in batch) for batch in loader]


def test_loader_batches_in_order_without_shuffle():
    ds = data.TensorDataset(np.arange(10.0)[:, None], np.arange(10))
    batches = _epoch(data.DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(10))
    assert batches[0][0].shape == (4, 1)


def test_loader_drop_last():
    ds = data.TensorDataset(np.arange(10))
    loader = data.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(b[0]) for b in _epoch(loader)] == [4, 4]
    assert len(data.DataLoader(ds, batch_size=4)) == 3
    assert len(data.DataLoader(ds, batch_size=5, drop_last=True)) == 2


def test_loader_seeded_shuffle():
    ds = data.TensorDataset(np.arange(100))
    a = data.DataLoader(ds, batch_size=16, shuffle=True, seed=7)
    b = data.DataLoader(ds, batch_size=16, shuffle=True, seed=7)
    ea1, ea2 = _epoch(a), _epoch(a)
    eb1, eb2 = _epoch(b), _epoch(b)
    order = np.concatenate([x[0] for x in ea1])
    assert sorted(order) == list(range(100))  # every example exactly once per epoch
    assert not np.array_equal(order, np.arange(100))
    for x, y in zip(ea1 + ea2, eb1 + eb2):  # same seed: same batches, epoch after epoch
        np.testing.assert_array_equal(x[0], y[0])
    assert not np.array_equal(order, np.concatenate([x[0] for x in ea2]))  # a new order each epoch
    c = data.DataLoader(ds, batch_size=16, shuffle=True, seed=8)
    assert not np.array_equal(order, np.concatenate([x[0] for x in _epoch(c)]))


def test_loader_with_plain_dataset_collates():
    class Squares(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=float), i % 2

    batches = list(data.DataLoader(Squares(), batch_size=2))
    assert len(batches) == 3
    x, y = batches[1]
    np.testing.assert_array_equal(x.data, [[2, 4], [3, 9]])
    np.testing.assert_array_equal(y.data, [0, 1])


def test_loader_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        data.DataLoader(data.TensorDataset(np.arange(3)), batch_size=0)


# -- splits ---------------------------------------------------------------------------------------------


def test_split_indices_stratified_and_deterministic():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    tr, te = data.split_indices(100, 0.2, seed=1, labels=labels)
    assert len(te) == 20 and len(tr) == 80
    assert not set(tr) & set(te)
    np.testing.assert_array_equal(np.bincount(labels[te]), [10, 6, 4])
    tr2, te2 = data.split_indices(100, 0.2, seed=1, labels=labels)
    np.testing.assert_array_equal(te, te2)
    _, te3 = data.split_indices(100, 0.2, seed=2, labels=labels)
    assert not np.array_equal(te, te3)
    with pytest.raises(ValueError, match="test_fraction"):
        data.split_indices(10, 1.0)


# -- bundled data sets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, n, d, task, k", [
    ("digits", 1797, 64, "multiclass", 10),
    ("breast_cancer", 569, 30, "binary", 2),
    ("diabetes", 442, 10, "regression", None),
    ("iris", 150, 4, "multiclass", 3),
    ("spiral", 300, 2, "multiclass", 3),
    ("moons", 500, 2, "binary", 2),
])
def test_bundled_sets(name, n, d, task, k):
    pytest.importorskip("sklearn")
    s = data.load(name)
    assert s.task == task and s.num_classes == k
    assert len(s.train) + len(s.test) == n
    assert abs(len(s.test) - 0.2 * n) <= (k or 1)
    xtr, ytr = s.train.arrays
    xte, yte = s.test.arrays
    assert xtr.shape[1:] == (d,) and xtr.dtype == np.float32
    assert np.isfinite(xtr).all() and np.isfinite(xte).all()
    if task == "regression":
        assert ytr.dtype == np.float32
    else:
        assert ytr.dtype == np.int64
        assert set(np.unique(ytr)) == set(range(k)) == set(np.unique(yte))
    again = data.load(name)  # deterministic
    np.testing.assert_array_equal(again.test.arrays[0], xte)
    np.testing.assert_array_equal(again.test.arrays[1], yte)
    other = data.load(name, seed=1)
    assert not np.array_equal(other.test.arrays[1], yte) or not np.array_equal(other.test.arrays[0], xte)
    train, test = s  # a split unpacks
    assert train is s.train and test is s.test


def test_standardized_with_training_statistics_only():
    pytest.importorskip("sklearn")
    s = data.breast_cancer()
    xtr, xte = s.train.arrays[0], s.test.arrays[0]
    np.testing.assert_allclose(xtr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(xtr.std(0), 1, atol=1e-4)
    assert np.abs(xte.mean(0)).max() > 1e-3  # the test part was scaled with train statistics


def test_digits_pixels_and_images():
    pytest.importorskip("sklearn")
    s = data.digits(flatten=False)
    x = s.train.arrays[0]
    assert x.shape[1:] == (1, 8, 8) and s.image_shape == (1, 8, 8)
    assert x.min() == 0.0 and x.max() == 1.0


def test_spiral_is_the_course_spiral():
    x, y = data.make_spiral(n_per_class=100, n_classes=3, noise=0.0)
    r = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(r[:100], np.linspace(0, 1, 100), atol=1e-6)
    t = np.linspace(4.0, 8.0, 100)  # arm 1, no noise: (r sin t, r cos t)
    np.testing.assert_allclose(x[100:200], np.c_[r[100:200] * np.sin(t), r[100:200] * np.cos(t)], atol=1e-6)
    np.testing.assert_array_equal(np.bincount(y), [100, 100, 100])
    s = data.spiral(test_fraction=0.0)
    assert len(s.train) == 300 and len(s.test) == 0


# -- Fashion-MNIST ----------------------------------------------------------------------------------------


def _write_idx(path, arr):
    code = {np.uint8: 0x08}[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", arr)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "bad").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")


def test_fashion_mnist_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    for part, n in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        _write_idx(tmp_path / f"{part}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{part}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    s = data.fashion_mnist(root=str(tmp_path), n_train=20)
    assert (len(s.train), len(s.test)) == (20, 20)
    assert s.train.arrays[0].shape == (20, 784) and s.train.arrays[0].max() <= 1.0
    np.testing.assert_array_equal(np.bincount(s.train.arrays[1]), [2] * 10)
    img = data.fashion_mnist(root=str(tmp_path), flatten=False)
    assert img.test.arrays[0].shape == (20, 1, 28, 28)


def test_fashion_mnist_missing_names_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.fashion_mnist(root=str(tmp_path / "nowhere"))


@pytest.mark.skipif(not os.path.isdir(data.datasets.FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_real_files():
    s = data.fashion_mnist(flatten=False)
    assert (len(s.train), len(s.test)) == (60000, 10000)
    assert s.train.arrays[0].shape[1:] == (1, 28, 28)
    np.testing.assert_array_equal(np.bincount(s.test.arrays[1]), [1000] * 10)
    small = data.fashion_mnist(n_train=500, n_test=100)
    assert (len(small.train), len(small.test)) == (500, 100)
    np.testing.assert_array_equal(np.bincount(small.train.arrays[1]), [50] * 10)


def test_load_unknown_name():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; available: digits"):
        data.load("mnist")
