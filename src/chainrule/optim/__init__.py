"""Optimizers and learning-rate schedulers (PyTorch's names, hyper-parameters and update rules)."""

from . import lr_scheduler
from .optimizer import Optimizer
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adadelta", "Adagrad", "lr_scheduler"]
