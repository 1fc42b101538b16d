"""torch.nn.quantized.dynamic: the legacy alias of ``torch.ao.nn.quantized.dynamic``."""

from backprop.ao.nn.quantized.dynamic import *  # noqa: F403
from backprop.ao.nn.quantized.dynamic import __all__ as __all__
