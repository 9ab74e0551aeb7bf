"""Neural networks: Module, Parameter, layers, loss modules, initializers and `functional`
(activations, losses)."""

from . import functional, init, utils
from .init import manual_seed
from .layers import (
                     AdaptiveAvgPool2d,
                     AvgPool2d,
                     BatchNorm1d,
                     Conv2d,
                     Dropout,
                     Embedding,
                     Flatten,
                     Identity,
                     LayerNorm,
                     LeakyReLU,
                     Linear,
                     LogSoftmax,
                     MaxPool2d,
                     ReLU,
                     Sigmoid,
                     Softmax,
                     Tanh,
)
from .loss import (
                     BCELoss,
                     BCEWithLogitsLoss,
                     CrossEntropyLoss,
                     GaussianNLLLoss,
                     L1Loss,
                     MSELoss,
                     MultiMarginLoss,
                     NLLLoss,
)
from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RecurrentLM, RNNCell

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Softmax", "LogSoftmax", "Identity", "Flatten", "Dropout", "BatchNorm1d", "Conv2d", "MaxPool2d",
           "AvgPool2d", "AdaptiveAvgPool2d", "LayerNorm", "Embedding", "L1Loss", "MSELoss", "CrossEntropyLoss",
           "NLLLoss", "BCELoss",
           "BCEWithLogitsLoss", "MultiMarginLoss", "GaussianNLLLoss", "functional", "init", "utils",
           "manual_seed"]
__all__ += ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RecurrentLM"]
