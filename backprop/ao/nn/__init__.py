"""torch.ao.nn: quantized and QAT modules."""

from backprop.ao.nn import qat, quantized

__all__ = ["qat", "quantized"]
