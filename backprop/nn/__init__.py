"""Neural-network building blocks with torch.nn's names: modules, layers, functional, init, utils."""

from backprop.nn import functional, init, parallel, utils
from backprop.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from backprop.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from backprop.nn.layers import (
    CosineSimilarity,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    PairwiseDistance,
    Unflatten,
)
from backprop.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from backprop.nn.module import Module
from backprop.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm
from backprop.nn.parameter import Parameter

__all__ = [
    "GELU",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "parallel",
    "utils",
]
__all__ += [
    "CELU", "ELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "LogSoftmax", "Mish",
    "ModuleDict", "PReLU", "ParameterDict", "ParameterList", "RReLU", "ReLU6", "SELU", "Softmax2d", "Softmin",
    "Softplus", "Softshrink", "Softsign", "Tanhshrink", "Threshold",
]  # fmt: skip
__all__ += [
    "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "CosineEmbeddingLoss",
    "CosineSimilarity", "CrossEntropyLoss", "GroupNorm", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss", "NLLLoss",
    "PairwiseDistance", "SmoothL1Loss", "Unflatten",
]  # fmt: skip
