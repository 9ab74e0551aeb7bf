"""Neural networks: Module, Parameter, layers, loss modules, initializers and `functional`
(activations, losses)."""

from . import functional, init, utils
from .attention import (
                     MultiheadAttention,
                     TransformerDecoder,
                     TransformerDecoderLayer,
                     TransformerEncoder,
                     TransformerEncoderLayer,
                     TransformerLM,
)
from .init import manual_seed
from .layers import (
                     GELU,
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
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .norm import BatchNorm2d, GroupNorm
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RecurrentLM, RNNCell
from .resample import ConvTranspose2d, Upsample

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Softmax", "LogSoftmax", "Identity", "Flatten", "Dropout", "BatchNorm1d", "Conv2d", "MaxPool2d",
           "AvgPool2d", "AdaptiveAvgPool2d", "LayerNorm", "Embedding", "L1Loss", "MSELoss", "CrossEntropyLoss",
           "NLLLoss", "BCELoss",
           "BCEWithLogitsLoss", "MultiMarginLoss", "GaussianNLLLoss", "functional", "init", "utils",
           "manual_seed",
           "GELU", "ModuleDict", "BatchNorm2d", "GroupNorm", "ConvTranspose2d", "Upsample", "MultiheadAttention",
           "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
           "TransformerLM"]
__all__ += ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RecurrentLM"]
