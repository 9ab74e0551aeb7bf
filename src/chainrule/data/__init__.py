"""Data: Dataset, TensorDataset, DataLoader, bundled real data sets (`cr.data.digits()`, ...) and
character-level text (`cr.data.fortunes()`, `cr.data.words()`)."""

from .dataset import (
                      BatchSampler,
                      DataLoader,
                      Dataset,
                      RandomSampler,
                      Sampler,
                      SequentialSampler,
                      Subset,
                      TensorDataset,
                      default_collate,
                      random_split,
)
from .datasets import (
                      DataSplit,
                      breast_cancer,
                      diabetes,
                      digits,
                      fashion_mnist,
                      iris,
                      make_moons,
                      make_spiral,
                      moons,
                      read_idx,
                      spiral,
                      split_indices,
)
from .registry import DATASETS, load
from .text import bits_per_char, decode, encode, fortunes, ngram_bits, text_split, windows, words

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "default_collate", "Sampler",
           "SequentialSampler", "RandomSampler", "BatchSampler",
           "DataSplit", "DATASETS", "load", "split_indices", "read_idx", "digits", "breast_cancer",
           "diabetes", "iris", "fashion_mnist", "spiral", "moons", "make_spiral", "make_moons",
           "fortunes", "words", "text_split", "encode", "decode", "windows", "ngram_bits", "bits_per_char"]
