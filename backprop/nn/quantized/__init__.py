"""torch.nn.quantized: the legacy alias of ``torch.ao.nn.quantized``."""

from backprop.ao.nn.quantized import *  # noqa: F403
from backprop.ao.nn.quantized import __all__ as __all__
