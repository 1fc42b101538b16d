"""torch.nn.intrinsic.qat: the legacy alias of ``torch.ao.nn.intrinsic.qat``."""

from backprop.ao.nn.intrinsic.qat import *  # noqa: F403
from backprop.ao.nn.intrinsic.qat import __all__ as __all__
