"""torch.UntypedStorage, torch.TypedStorage and torch.Storage: the classes ``Tensor.untyped_storage()``
and ``Tensor.storage()`` return (backprop/methods/storage.py), for ``isinstance`` checks. ``Storage`` is
the typed one, as torch.Storage (a TypedStorage subclass) is."""

from __future__ import annotations

from backprop.methods.storage import TypedStorage, UntypedStorage

Storage = TypedStorage

__all__ = ["Storage", "TypedStorage", "UntypedStorage"]
