"""Storages (torch's ``untyped_storage()`` / ``storage()``): a minimal view of the memory a tensor lives in.

A storage here is the NumPy (or CuPy) array that owns the memory, seen as bytes (``UntypedStorage``) or as
elements of a dtype (``TypedStorage``). It answers what code that checks sharing asks: ``size()``,
``nbytes()``, ``data_ptr()``, ``element_size()``, ``tolist()``, ``len``, indexing; two tensors share memory
when their storages' ``data_ptr()`` agree. Storages cannot be resized or built on their own.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

_TYPED_WARNING = (
    "TypedStorage is deprecated. It will be removed in the future and UntypedStorage will be the only storage "
    "class. This should only matter to you if you are using storages directly.  To access UntypedStorage "
    "directly, use tensor.untyped_storage() instead of tensor.storage()"
)


def owner(a: Any) -> Any:
    """The array that owns ``a``'s memory (``a`` itself when it is no view); looks through the helper object
    NumPy's ``as_strided`` puts between a strided view and its base."""
    while True:
        base = getattr(a, "base", None)
        if base is not None and not hasattr(base, "strides"):
            base = getattr(base, "base", None)  # as_strided's DummyArray holds the real base
        if base is None or not hasattr(base, "strides"):
            return a
        a = base


def address(a: Any) -> int:
    """The address of an array's first element (NumPy and CuPy)."""
    data = a.data
    return int(data.ptr) if hasattr(data, "ptr") else int(a.__array_interface__["data"][0])


# where one ``copy.deepcopy`` call keeps the owners it copied (a key ``copy``'s memo never uses: its keys are ids)
_DEEPCOPY_OWNERS = "backprop.storage.deepcopy_owners"


def deepcopy_array(a: Any, xp: Any, memo: dict) -> Any:
    """``a``'s copy for ``copy.deepcopy(..., memo)``: arrays of one owner copied in one call become views of one
    copy of the owner's memory, at their offsets and strides, so the copies share memory as the originals do
    (torch's deepcopy copies a storage once: ``deepcopy((b, b[1:]))``, a module's parameters in one flat buffer).
    An owner that is not one contiguous block, or an empty array, is copied on its own."""
    root = owner(a)
    if a.size == 0 or not (root.flags.c_contiguous or root.flags.f_contiguous):
        return xp.array(a, copy=True)
    owners = memo.setdefault(_DEEPCOPY_OWNERS, {})
    entry = owners.get(id(root))
    if entry is None:  # (the entry keeps the original owner alive: its id is not reused within this call)
        entry = owners[id(root)] = (root, root.copy(order="K"))
    new_root = entry[1]
    if a is root:
        return new_root
    start, dt = address(a) - address(root), a.dtype
    flat = new_root.reshape(-1, order="A").view(np.uint8)
    elements = flat[start : start + (flat.shape[0] - start) // dt.itemsize * dt.itemsize].view(dt)
    return xp.lib.stride_tricks.as_strided(elements, a.shape, a.strides)


class UntypedStorage:
    """The bytes of a tensor's allocation (torch.UntypedStorage): ``size()`` and ``nbytes()`` in bytes."""

    def __init__(self, array: Any, device: Any) -> None:
        self._array = owner(array)
        self.device = device

    def _bytes(self) -> Any:
        a = self._array
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            raise RuntimeError("UntypedStorage: the owning array is not contiguous, its bytes have no single order")
        return a.reshape(-1, order="A").view(np.uint8)

    def size(self) -> int:
        """The allocation's size in bytes."""
        return int(self._array.nbytes)

    nbytes = size

    def __len__(self) -> int:
        return self.size()

    def data_ptr(self) -> int:
        """The allocation's address: equal for every tensor viewing this memory."""
        return address(self._array)

    def element_size(self) -> int:
        return 1

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def is_cuda(self) -> bool:
        return bool(self.device.type == "cuda")

    def tolist(self) -> list[int]:
        return [int(v) for v in self._bytes().tolist()]

    def __getitem__(self, i: Any) -> Any:
        return self._bytes()[i].tolist()

    def untyped(self) -> UntypedStorage:
        return self

    def is_shared(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"UntypedStorage(device={self.device}, nbytes={self.size()})"


class TypedStorage(UntypedStorage):
    """The allocation as elements of one dtype (torch's deprecated TypedStorage, from ``tensor.storage()``)."""

    def __init__(self, array: Any, device: Any, dtype: Any) -> None:
        super().__init__(array, device)
        self._dtype = np.dtype(dtype)

    def _elements(self) -> Any:
        return self._bytes().view(self._dtype)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def size(self) -> int:
        """The allocation's size in elements."""
        return int(self._array.nbytes) // self._dtype.itemsize

    def nbytes(self) -> int:
        return int(self._array.nbytes)

    def element_size(self) -> int:
        return int(self._dtype.itemsize)

    def tolist(self) -> list[Any]:
        return list(self._elements().tolist())

    def __getitem__(self, i: Any) -> Any:
        return self._elements()[i].tolist()

    def __setitem__(self, i: Any, value: Any) -> None:
        """``storage[i] = v``: writes into the tensor memory the storage views."""
        self._elements()[i] = value

    def fill_(self, value: Any) -> TypedStorage:
        """Every element set to ``value`` (in the memory the storage views)."""
        self._elements()[...] = value
        return self

    def untyped(self) -> UntypedStorage:
        return UntypedStorage(self._array, self.device)

    _untyped_storage = property(untyped)

    def __repr__(self) -> str:
        return f"TypedStorage(dtype={self._dtype}, device={self.device}, size={self.size()})"


def typed_storage(array: Any, device: Any, dtype: Any) -> TypedStorage:
    """``tensor.storage()``: warns as torch that TypedStorage is deprecated."""
    warnings.warn(_TYPED_WARNING, UserWarning, stacklevel=3)
    return TypedStorage(array, device, dtype)


def is_storage(obj: Any) -> bool:
    """True for the storages ``untyped_storage()``/``storage()`` return (torch.is_storage)."""
    return isinstance(obj, UntypedStorage)
