"""torch.ao: quantization (``ao.quantization``) and its modules (``ao.nn``)."""

from backprop.ao import nn, quantization

__all__ = ["nn", "quantization"]
