"""``torch._utils``'s rebuild functions, the ones pickles of tensors name (``_rebuild_tensor_v2``,
``_rebuild_parameter``): code that unpickles torch tensors itself, or builds a tensor from a storage the
way those pickles do, gets backprop tensors. A storage here is a ``TypedStorage`` or ``UntypedStorage``
(``tensor.storage()``, ``bp.FloatStorage(...)``; an untyped one gives uint8, where torch's has no dtype and
raises) or one that ``bp.load`` is reading; the tensor views its memory, as torch's ``set_`` does."""

from __future__ import annotations

from typing import Any

from backprop import _torch_format
from backprop.creation import empty
from backprop.methods.storage import UntypedStorage
from backprop.tensor import Tensor

__all__ = ["_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_tensor", "_rebuild_tensor_v2"]


def _rebuild_tensor(storage: Any, storage_offset: int, size: Any, stride: Any) -> Tensor:
    """The tensor of ``size`` and ``stride`` (in elements) viewing ``storage`` from ``storage_offset`` on."""
    if isinstance(storage, _torch_format._Storage):  # (a storage bp.load is reading)
        return _torch_format._rebuild_tensor(storage, storage_offset, size, stride)
    if not isinstance(storage, UntypedStorage):  # (torch's error: it reads the storage's dtype first)
        raise AttributeError(f"'{type(storage).__name__}' object has no attribute 'dtype'")
    t = empty((0,), dtype=storage.dtype, device=storage.device)
    return t.set_(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: int,
    size: Any,
    stride: Any,
    requires_grad: bool,
    backward_hooks: Any,
    metadata: Any = None,
) -> Tensor:
    """``_rebuild_tensor`` with ``requires_grad`` set and torch's conj/neg ``metadata`` applied."""
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    t.requires_grad = bool(requires_grad)
    return _torch_format._with_metadata(t, metadata)


def _rebuild_parameter(data: Tensor, requires_grad: bool, backward_hooks: Any) -> Any:
    """``nn.Parameter(data, requires_grad)``, as a pickled Parameter rebuilds."""
    return _torch_format._rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_parameter_with_state(data: Tensor, requires_grad: bool, backward_hooks: Any, state: Any) -> Any:
    """``_rebuild_parameter`` and the Python attributes a Parameter subclass pickled (``state``)."""
    return _torch_format._rebuild_parameter_with_state(data, requires_grad, backward_hooks, state)
