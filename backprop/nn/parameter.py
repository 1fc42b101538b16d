"""``Parameter``: a leaf Tensor that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

from backprop.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad and is collected by ``Module.parameters()``."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            self.data, self.device = data.data, data.device
        else:
            src = Tensor([] if data is None else data)
            self.data, self.device = src.data, src.device
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        self._version = 0
        self._hooks = None
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
