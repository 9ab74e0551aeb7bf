"""Real and synthetic data sets that load offline, each as a deterministic train/test split.

    split = cr.data.digits()          # scikit-learn's bundled 8x8 digits
    split.train, split.test           # TensorDatasets of (features float32, labels int64)
    train, test = split               # a split also unpacks

digits, breast_cancer, diabetes and iris are scikit-learn's bundled copies; fashion_mnist reads
the IDX files of Debian's `dataset-fashion-mnist` package; spiral (the CS231n course's three
arms) and moons are drawn from a seeded generator. The same arguments always give the same
split. Features are scaled as a model wants them: pixels to [0, 1], tabular columns to zero
mean and unit variance with the training part's statistics (nothing from the test part leaks).
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass, field

import numpy as np

from .dataset import TensorDataset

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


@dataclass
class DataSplit:
    """A train and a test TensorDataset, with what a model needs to know about them.

    task: "multiclass" (labels int64 in range(num_classes)), "binary" (labels int64 0/1) or
    "regression" (targets float32). input_shape is one example's feature shape; image_shape is
    (channels, height, width) for image sets (None otherwise).
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    task: str
    num_classes: int | None = None
    classes: tuple = ()
    image_shape: tuple | None = None
    info: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.train, self.test))

    @property
    def input_shape(self):
        return self.train.arrays[0].shape[1:]

    def __repr__(self):
        return (f"DataSplit({self.name!r}, task={self.task!r}, train={len(self.train)}, "
                f"test={len(self.test)}, input_shape={self.input_shape}, num_classes={self.num_classes})")


# -- splitting and scaling -------------------------------------------------------------------------

def split_indices(n, test_fraction=0.2, seed=0, labels=None):
    """Deterministic (train_idx, test_idx) for n examples; stratified by class when labels are given.

    Each class (or the whole set) is permuted with a generator seeded by `seed` and the first
    round(test_fraction * size) of it goes to the test part.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"split_indices: test_fraction must be in [0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    train, test = [], []
    for g in groups:
        g = rng.permutation(g)
        k = int(round(test_fraction * len(g)))
        test.append(g[:k])
        train.append(g[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _standardize(x_train, x_test):
    mu = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    sd[sd == 0] = 1.0
    return (x_train - mu) / sd, (x_test - mu) / sd, {"mean": mu, "std": sd}


def _tabular(name, x, y, task, test_fraction, seed, standardize, classes=(), info=None):
    stratify = y if task != "regression" else None
    tr, te = split_indices(len(x), test_fraction, seed, stratify)
    x_tr, x_te = x[tr].astype(np.float64), x[te].astype(np.float64)
    info = dict(info or {})
    if standardize:
        x_tr, x_te, stats = _standardize(x_tr, x_te)
        info["feature_stats"] = stats
    ydt = np.float32 if task == "regression" else np.int64
    nc = None if task == "regression" else int(y.max()) + 1
    return DataSplit(name, TensorDataset(x_tr.astype(np.float32), y[tr].astype(ydt)),
                     TensorDataset(x_te.astype(np.float32), y[te].astype(ydt)),
                     task, nc, tuple(classes), None, info)


def _sklearn(loader):
    try:
        import sklearn.datasets as skd
    except ImportError:
        raise ImportError("this data set is scikit-learn's bundled copy: install scikit-learn "
                          "(pip install 'chainrule[train]')") from None
    return getattr(skd, loader)()


# -- scikit-learn's bundled sets -------------------------------------------------------------------

def digits(test_fraction=0.2, seed=0, flatten=True):
    """The 1,797 8x8 handwritten digits (UCI, scikit-learn's copy): 10 classes, pixels scaled to [0, 1].

    flatten=False gives images of shape (1, 8, 8) for convolutional models.
    """
    b = _sklearn("load_digits")
    x = (b.data / 16.0).astype(np.float32)
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    tr, te = split_indices(len(x), test_fraction, seed, b.target)
    y = b.target.astype(np.int64)
    return DataSplit("digits", TensorDataset(x[tr], y[tr]), TensorDataset(x[te], y[te]), "multiclass", 10,
                     tuple(str(i) for i in range(10)), (1, 8, 8))


def breast_cancer(test_fraction=0.2, seed=0, standardize=True):
    """Wisconsin breast cancer (569 x 30 features): label 1 = benign, 0 = malignant."""
    b = _sklearn("load_breast_cancer")
    return _tabular("breast_cancer", b.data, b.target, "binary", test_fraction, seed, standardize,
                    tuple(b.target_names), {"feature_names": tuple(b.feature_names)})


def diabetes(test_fraction=0.2, seed=0, standardize=True):
    """Diabetes progression one year on (442 x 10 features); the target is the raw score (25..346)."""
    b = _sklearn("load_diabetes")
    return _tabular("diabetes", b.data, b.target, "regression", test_fraction, seed, standardize,
                    info={"feature_names": tuple(b.feature_names)})


def iris(test_fraction=0.2, seed=0, standardize=True):
    """Fisher's iris (150 x 4 features, 3 classes)."""
    b = _sklearn("load_iris")
    return _tabular("iris", b.data, b.target, "multiclass", test_fraction, seed, standardize,
                    tuple(b.target_names), {"feature_names": tuple(b.feature_names)})


# -- Fashion-MNIST ---------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read one IDX file (optionally gzipped) into an array: magic 0 0 TYPE NDIM, NDIM big-endian sizes."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (header {raw[:4]!r})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dt = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(dims))
    offset = 4 + 4 * ndim
    if len(raw) - offset < count * dt.itemsize:
        raise ValueError(f"read_idx: {path} is truncated: header says {dims}, "
                         f"found {len(raw) - offset} bytes of data")
    return np.frombuffer(raw, dt, count=count, offset=offset).reshape(dims)


def _fashion_file(root, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(root, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(
        f"fashion_mnist: {stem}(.gz) is not in {root}. The data set comes from Debian's "
        f"'dataset-fashion-mnist' package: install it with `sudo apt-get install dataset-fashion-mnist`, "
        f"or put the four IDX files in a folder and pass root= (or set CHAINRULE_FASHION_MNIST).")


@functools.lru_cache(maxsize=2)
def _fashion_raw(root):
    out = []
    for part in ("train", "t10k"):
        x = read_idx(_fashion_file(root, f"{part}-images-idx3-ubyte"))
        y = read_idx(_fashion_file(root, f"{part}-labels-idx1-ubyte"))
        if x.shape[0] != y.shape[0] or x.shape[1:] != (28, 28):
            raise ValueError(f"fashion_mnist: unexpected IDX shapes in {root}: "
                             f"images {x.shape}, labels {y.shape}")
        out += [x, y]
    return tuple(out)


def fashion_mnist(flatten=True, n_train=None, n_test=None, seed=0, root=None):
    """Zalando's Fashion-MNIST: the standard 60,000 / 10,000 split of 28x28 grey images, 10 classes.

    Pixels are scaled to [0, 1]. flatten=False gives images of shape (1, 28, 28). n_train /
    n_test take a seeded, class-stratified subset of each part (for quick runs).
    """
    root = root or os.environ.get("CHAINRULE_FASHION_MNIST") or FASHION_MNIST_DIR
    x_tr, y_tr, x_te, y_te = _fashion_raw(root)
    parts = []
    for x, y, n, s in ((x_tr, y_tr, n_train, seed), (x_te, y_te, n_test, seed + 1)):
        idx = np.arange(len(y))
        if n is not None:
            if not 0 < n <= len(y):
                raise ValueError(f"fashion_mnist: subset size must be in 1..{len(y)}, got {n}")
            _, idx = split_indices(len(y), n / len(y), s, y) if n < len(y) else (None, idx)
        xs = x[idx].astype(np.float32) / np.float32(255.0)
        xs = xs.reshape(len(idx), -1) if flatten else xs.reshape(len(idx), 1, 28, 28)
        parts.append(TensorDataset(xs, y[idx].astype(np.int64)))
    return DataSplit("fashion_mnist", parts[0], parts[1], "multiclass", 10, FASHION_MNIST_CLASSES,
                     (1, 28, 28), {"root": root})


# -- synthetic ---------------------------------------------------------------------------------------

def make_spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """The CS231n spiral: class k is an arm of radius 0..1 turning through angles 4k..4(k+1) (+ noise)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    r = np.linspace(0.0, 1.0, n_per_class)
    for k in range(n_classes):
        t = np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class) + rng.standard_normal(n_per_class) * noise
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(n_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def make_moons(n=500, noise=0.1, seed=0):
    """Two interleaving half circles (upper: class 0, lower: class 1), with Gaussian noise."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n - n0)
    x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1.0 - np.cos(t1), 0.5 - np.sin(t1)]])
    x = x + rng.standard_normal(x.shape) * noise
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    return x.astype(np.float32), y.astype(np.int64)


def spiral(n_per_class=100, n_classes=3, noise=0.2, test_fraction=0.2, seed=0):
    """The course's spiral as a split (test_fraction=0 puts every point in train, as in the course)."""
    x, y = make_spiral(n_per_class, n_classes, noise, seed)
    return _tabular("spiral", x, y, "multiclass", test_fraction, seed, False,
                    tuple(str(k) for k in range(n_classes)))


def moons(n=500, noise=0.1, test_fraction=0.2, seed=0):
    """Two moons as a split (binary labels)."""
    x, y = make_moons(n, noise, seed)
    return _tabular("moons", x, y, "binary", test_fraction, seed, False, ("upper", "lower"))
