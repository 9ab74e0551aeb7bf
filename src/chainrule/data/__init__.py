"""Data: Dataset, TensorDataset, DataLoader and bundled real data sets (`cr.data.digits()`, ...)."""

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
                      DATASETS,
                      DataSplit,
                      breast_cancer,
                      diabetes,
                      digits,
                      fashion_mnist,
                      iris,
                      load,
                      make_moons,
                      make_spiral,
                      moons,
                      read_idx,
                      spiral,
                      split_indices,
)

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "default_collate", "Sampler",
           "SequentialSampler", "RandomSampler", "BatchSampler",
           "DataSplit", "DATASETS", "load", "split_indices", "read_idx", "digits", "breast_cancer",
           "diabetes", "iris", "fashion_mnist", "spiral", "moons", "make_spiral", "make_moons"]
