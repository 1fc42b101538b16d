"""torch.nn.qat: the legacy alias of ``torch.ao.nn.qat``."""

from backprop.ao.nn.qat import *  # noqa: F403
from backprop.ao.nn.qat import __all__ as __all__
