"""The bundled data sets by name: `cr.data.load("digits")`, `DATASETS` (the choices of `chainrule train`)."""

from __future__ import annotations

from .datasets import breast_cancer, diabetes, digits, fashion_mnist, iris, moons, spiral
from .text import fortunes, words

DATASETS = {
    "digits": digits, "breast_cancer": breast_cancer, "diabetes": diabetes, "iris": iris,
    "fashion_mnist": fashion_mnist, "spiral": spiral, "moons": moons,
    "fortunes": fortunes, "words": words,
}


def load(name, **kwargs):
    """A data set by name (see DATASETS): `cr.data.load("digits")`."""
    key = name.replace("-", "_").lower()
    if key not in DATASETS:
        raise ValueError(f"load: unknown data set {name!r}; available: {', '.join(DATASETS)}")
    return DATASETS[key](**kwargs)
