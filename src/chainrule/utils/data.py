"""PyTorch's `torch.utils.data`: the names of `chainrule.data` in PyTorch's place."""

from ..data import (
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

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "default_collate", "Sampler",
           "SequentialSampler", "RandomSampler", "BatchSampler"]
