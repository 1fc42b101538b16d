"""``Parameter``: a leaf Tensor that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

from backprop.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad and is collected by ``Module.parameters()``."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        src = data if isinstance(data, Tensor) else Tensor([] if data is None else data)
        self._adopt(src.data, src.device, None)  # shares the tensor's memory, as torch's Parameter
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
