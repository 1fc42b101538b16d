"""torch.quantization: the legacy alias of ``torch.ao.quantization``."""

from backprop.ao.quantization import *  # noqa: F403
from backprop.ao.quantization import __all__ as __all__
