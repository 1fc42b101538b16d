"""torch.nn.intrinsic: the legacy alias of ``torch.ao.nn.intrinsic`` (``qat`` and ``quantized`` below it)."""

from backprop.ao.nn.intrinsic import *  # noqa: F403
from backprop.ao.nn.intrinsic import __all__ as __all__
from backprop.nn.intrinsic import qat as qat
