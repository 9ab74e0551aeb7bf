"""Neural networks: Module, Parameter, layers, initializers and `functional` (activations, losses)."""

from . import functional, init
from .init import manual_seed
from .layers import (
                     BatchNorm1d,
                     Conv2d,
                     Dropout,
                     Flatten,
                     Identity,
                     LeakyReLU,
                     Linear,
                     LogSoftmax,
                     MaxPool2d,
                     ReLU,
                     Sigmoid,
                     Softmax,
                     Tanh,
)
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Softmax", "LogSoftmax", "Identity", "Flatten", "Dropout", "BatchNorm1d", "Conv2d", "MaxPool2d",
           "functional", "init", "manual_seed"]
