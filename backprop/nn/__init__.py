"""Neural-network building blocks with torch.nn's names: modules, layers, functional, init, utils."""

from backprop.nn import attention, common_types, functional, grad, init, modules, parallel, utils
from backprop.nn._multihead_attention import MultiheadAttention
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
from backprop.nn.adaptive import AdaptiveLogSoftmaxWithLoss
from backprop.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from backprop.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Fold, Unfold
from backprop.nn.ctc import CTCLoss
from backprop.nn.data_parallel import DataParallel, SyncBatchNorm
from backprop.nn.dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from backprop.nn.embedding_bag import EmbeddingBag
from backprop.nn.fractional import FractionalMaxPool2d, FractionalMaxPool3d
from backprop.nn.layers import (
    Bilinear,
    ChannelShuffle,
    CosineSimilarity,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LazyLinear,
    Linear,
    PairwiseDistance,
    PixelShuffle,
    PixelUnshuffle,
    Unflatten,
    UninitializedParameter,
)
from backprop.nn.lazy import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    UninitializedBuffer,
)
from backprop.nn.legacy import Container, CrossMapLRN2d, NLLLoss2d
from backprop.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    LinearCrossEntropyLoss,
    LinearCrossEntropyOptions,
    MarginRankingLoss,
    MSELoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
    TripletMarginWithDistanceLoss,
)
from backprop.nn.module import Module
from backprop.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LocalResponseNorm,
    RMSNorm,
)
from backprop.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from backprop.nn.parameter import Buffer, Parameter
from backprop.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from backprop.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from backprop.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

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
__all__ += ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]
__all__ += [
    "MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer",
]  # fmt: skip
__all__ += [
    "AlphaDropout", "Bilinear", "Buffer", "ChannelShuffle", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout",
    "GaussianNLLLoss", "HingeEmbeddingLoss", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyLinear",
    "LocalResponseNorm", "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
    "PixelShuffle", "PixelUnshuffle", "PoissonNLLLoss", "RMSNorm", "ReflectionPad1d", "ReflectionPad2d",
    "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "SoftMarginLoss",
    "TripletMarginLoss", "TripletMarginWithDistanceLoss", "UninitializedParameter", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d",
]  # fmt: skip
__all__ += [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "Fold", "LPPool1d", "LPPool2d", "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "Unfold", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d",
]  # fmt: skip
__all__ += ["AdaptiveLogSoftmaxWithLoss", "CTCLoss", "EmbeddingBag"]
__all__ += ["LinearCrossEntropyLoss", "LinearCrossEntropyOptions"]
__all__ += [
    "DataParallel", "LPPool3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d",
    "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyInstanceNorm1d",
    "LazyInstanceNorm2d", "LazyInstanceNorm3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "SyncBatchNorm",
    "UninitializedBuffer",
]  # fmt: skip
__all__ += ["Container", "CrossMapLRN2d", "FractionalMaxPool2d", "FractionalMaxPool3d", "NLLLoss2d"]
__all__ += ["attention", "common_types", "grad", "modules"]

# F.multi_head_attention_forward runs MultiheadAttention's own code, whose module imports functional:
# attached here, once both exist, rather than imported by functional (which would make an import cycle)
from backprop.nn._mha_functional import multi_head_attention_forward as _mha_forward  # noqa: E402

functional.multi_head_attention_forward = _mha_forward  # type: ignore[attr-defined]
functional.grad = grad  # type: ignore[attr-defined]  # torch.nn.functional.grad is the nn.grad module
