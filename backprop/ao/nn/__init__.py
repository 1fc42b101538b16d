"""torch.ao.nn: quantized and QAT modules."""

from backprop.ao.nn import intrinsic, qat, quantized
from backprop.ao.nn.intrinsic import qat as _iqat
from backprop.ao.nn.intrinsic import quantized as _iq

__all__ = ["intrinsic", "qat", "quantized"]
_ = _iq, _iqat
