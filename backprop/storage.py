"""``bp.storage`` (torch.storage): ``TypedStorage`` and ``UntypedStorage`` (backprop/methods/storage.py), and
torch's legacy typed storage classes (``bp.FloatStorage``, ``bp.LongStorage``, ...): calling one makes a
``TypedStorage`` of its dtype on the CPU (``FloatStorage(3)``: three zeros here, uninitialized in torch;
``FloatStorage([1, 2])``: those values), and ``isinstance(t.storage(), bp.FloatStorage)`` is True for a float32
tensor's storage, as torch's metaclass answers."""

from __future__ import annotations

import collections.abc
import warnings
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.devices import device as to_device
from backprop.methods.storage import _TYPED_WARNING, TypedStorage, UntypedStorage

__all__ = ["TypedStorage", "UntypedStorage"]

_LEGACY = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


class _LegacyStorageMeta(type):
    """The legacy classes' metaclass: ``dtype`` per class, and ``isinstance`` true for a CPU TypedStorage of
    that dtype (torch's ``_LegacyStorageMeta``)."""

    _dtype_name: str

    @property
    def dtype(cls) -> Any:
        """The class's dtype (``bp.FloatStorage.dtype`` is ``bp.float32``)."""
        return getattr(dtypes, cls._dtype_name) if cls._dtype_name == "bfloat16" else np.dtype(cls._dtype_name)

    def __instancecheck__(cls, instance: Any) -> bool:
        if type(instance) is TypedStorage and cls._dtype_name:
            return bool(instance.device.type == "cpu" and instance.dtype == cls.dtype)
        return False


class _LegacyStorage(TypedStorage, metaclass=_LegacyStorageMeta):
    """Base of the legacy typed storage classes: calling a subclass builds a ``TypedStorage`` of its dtype."""

    _dtype_name = ""  # (the base has no dtype: ``isinstance(s, _LegacyStorage)`` is False)

    def __new__(cls, *args: Any, device: Any = None) -> Any:
        """``Cls()``, ``Cls(size)`` or ``Cls(sequence)``: a new CPU TypedStorage of the class's dtype."""
        dt = type(cls).dtype.fget(cls)  # type: ignore[attr-defined]
        dev = to_device("cpu" if device is None else device)
        if dev.type != "cpu":
            raise RuntimeError(f"{cls.__name__}: backprop's legacy storages live on the CPU, not {dev}")
        if len(args) > 1:
            raise RuntimeError(f"{cls.__name__}: expected at most one positional argument, got {len(args)}")
        if not args:
            arr = np.zeros(0, dtype=dt)
        elif isinstance(args[0], (int, np.integer)) and not isinstance(args[0], bool):
            arr = np.zeros(int(args[0]), dtype=dt)
        elif isinstance(args[0], collections.abc.Sequence) and not isinstance(args[0], (str, bytes)):
            arr = np.asarray(args[0]).astype(dt).reshape(-1)
        else:
            raise TypeError(f"new(): invalid data type '{type(args[0]).__name__}'")
        warnings.warn(_TYPED_WARNING, UserWarning, stacklevel=2)
        return TypedStorage(arr, dev, dt)


def _legacy_class(name: str, dtype_name: str) -> type:
    return _LegacyStorageMeta(name, (_LegacyStorage,), {"_dtype_name": dtype_name, "__module__": "backprop"})


_CLASSES = {name: _legacy_class(name, dt) for name, dt in _LEGACY.items()}
globals().update(_CLASSES)


def legacy_storage(name: str) -> type:
    """The legacy storage class ``bp.<name>`` (e.g. ``FloatStorage``)."""
    return _CLASSES[name]
