"""``torch._tensor``: the module torch's ``Tensor`` class lives in (``from torch._tensor import Tensor``)."""

from backprop.tensor import Tensor

__all__ = ["Tensor"]
