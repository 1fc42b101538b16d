"""``Parameter``: a leaf Tensor that a Module registers as trainable; ``Buffer``; and the uninitialised
parameters and buffers of lazy modules (``UninitializedParameter``, ``UninitializedBuffer``, ``is_lazy``)."""

from __future__ import annotations

from typing import Any

from backprop import creation
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = [
    "Buffer",
    "Parameter",
    "UninitializedBuffer",
    "UninitializedParameter",
    "UninitializedTensorMixin",
    "is_lazy",
]


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


class UninitializedTensorMixin:
    """What a lazy module's parameters and buffers share until its first call: no size yet. ``shape``,
    ``numel()`` and ``dim()`` raise torch's errors (``sum(p.numel() for p in model.parameters())`` on a lazy
    model raises, as torch's); ``size()``, ``dtype``, ``device`` and ``to``/``float``/... work; and
    ``materialize(shape)`` gives it memory and makes it ``cls_to_become``, the same object (so an optimizer
    built before the first call holds it)."""

    __slots__ = ()
    cls_to_become: Any = None

    def materialize(self: Any, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Allocate ``shape`` (uninitialised values) and become ``cls_to_become``."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        new = creation.empty(*shape, device=device or self.device, dtype=dtype or self.dtype)
        self._data, self.device = new._data, new.device
        self._version += 1
        self.__class__ = self.cls_to_become

    def _refuse(self, method: str) -> ValueError:
        return ValueError(
            f"Attempted to use an uninitialized parameter in <method '{method}' of 'torch._C.TensorBase' objects>. "
            "This error happens when you are using a `LazyModule` or explicitly manipulating "
            f"`torch.nn.parameter.{type(self).__name__}` objects. When using LazyModules Call `forward` with a dummy "
            "batch to initialize the parameters before calling torch functions"
        )

    @property
    def shape(self) -> Size:
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
            "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call `forward` "
            "to initialize the parameters before accessing their attributes."
        )

    def numel(self) -> int:
        raise self._refuse("numel")

    def nelement(self) -> int:
        raise self._refuse("numel")

    def dim(self) -> int:
        raise self._refuse("dim")

    def share_memory_(self) -> Any:
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. Call `forward` to initialize the parameters "
            "before calling `module.share_memory()`."
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def is_lazy(param: Any) -> bool:
    """Whether ``param`` is an ``UninitializedParameter`` or ``UninitializedBuffer``."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A lazy module's parameter before its first call: an empty placeholder of the right device and dtype."""

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(creation.empty(0, device=device, dtype=dtype), requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A lazy module's buffer (running statistics) before its first call: an empty placeholder."""

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None) -> None:
        src = creation.empty(0, device=device, dtype=dtype)
        self._adopt(src._data, src.device, None)
        if requires_grad:
            self.requires_grad = True
