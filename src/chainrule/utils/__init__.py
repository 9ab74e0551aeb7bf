"""PyTorch's `torch.utils`: `chainrule.utils.data` is where PyTorch code imports Dataset and DataLoader
from (`from chainrule.utils.data import DataLoader, TensorDataset`)."""

from . import data

__all__ = ["data"]
