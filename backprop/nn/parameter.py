"""``Parameter``: a leaf Tensor that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

from backprop.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad and is collected by ``Module.parameters()``."""

    __slots__ = ()
    _deepcopy_takes_state = False  # (torch's Parameter.__deepcopy__: data and requires_grad, no .grad)

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        src = data if isinstance(data, Tensor) else Tensor._of([] if data is None else data)
        self._adopt(src._data, src.device, None)  # shares the tensor's memory, as torch's Parameter
        if requires_grad:
            self._factory_requires_grad()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A Tensor that a Module registers as a buffer when assigned to an attribute (torch 2.5+'s
    ``nn.Buffer``): moved by ``to``, saved in ``state_dict`` unless ``persistent=False``; shares
    ``data``'s memory and keeps its ``requires_grad``."""

    __slots__ = ("persistent",)

    def __init__(self, data: Any = None, *, persistent: bool = True) -> None:
        src = data if isinstance(data, Tensor) else Tensor._of([] if data is None else data)
        self._adopt(src._data, src.device, None)
        self.persistent = persistent
        if src.requires_grad:
            self.requires_grad = True
