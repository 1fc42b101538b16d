"""``bp.utils.dlpack`` (torch.utils.dlpack): ``from_dlpack`` (an object with ``__dlpack__``, or a DLPack
capsule as ``to_dlpack`` and other libraries' ``to_dlpack`` make), ``to_dlpack`` and ``DLDeviceType``."""

from __future__ import annotations

import ctypes
import enum
from typing import Any

from backprop._misc_names import to_dlpack
from backprop.creation import from_dlpack as _from_dlpack
from backprop.tensor import Tensor

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


class DLDeviceType(enum.IntEnum):
    """DLPack's device codes (dlpack.h), as torch.utils.dlpack.DLDeviceType."""

    kDLCPU = 1  # noqa: N815 - DLPack's names
    kDLCUDA = 2  # noqa: N815
    kDLCUDAHost = 3  # noqa: N815
    kDLOpenCL = 4  # noqa: N815
    kDLVulkan = 7  # noqa: N815
    kDLMetal = 8  # noqa: N815
    kDLVPI = 9  # noqa: N815
    kDLROCM = 10  # noqa: N815
    kDLROCMHost = 11  # noqa: N815
    kDLExtDev = 12  # noqa: N815
    kDLCUDAManaged = 13  # noqa: N815
    kDLOneAPI = 14  # noqa: N815
    kDLWebGPU = 15  # noqa: N815
    kDLHexagon = 16  # noqa: N815
    kDLMAIA = 17  # noqa: N815


class _Capsule:
    """A DLPack capsule dressed as a producer (``__dlpack__``/``__dlpack_device__``) for ``from_dlpack``."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule
        self._device = _capsule_device(capsule)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device


def _capsule_device(capsule: Any) -> tuple[int, int]:
    """(device type, device id) of a legacy ``"dltensor"`` capsule: the DLTensor's second field."""
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    name = api.PyCapsule_GetName(capsule)
    if name != b"dltensor":
        raise RuntimeError(
            f"from_dlpack: a capsule named {name!r} cannot be read (a fresh 'dltensor' capsule is expected; "
            "a consumed one is named 'used_dltensor')"
        )
    ptr = api.PyCapsule_GetPointer(capsule, name)
    device = (ctypes.c_int32 * 2).from_address(ptr + ctypes.sizeof(ctypes.c_void_p))  # after `void* data`
    return int(device[0]), int(device[1])


def from_dlpack(ext_tensor: Any) -> Tensor:
    """A tensor sharing memory with ``ext_tensor``: a DLPack producer (torch, CuPy, JAX, NumPy arrays) or a
    capsule (consumed, as torch consumes it)."""
    if hasattr(ext_tensor, "__dlpack__"):
        return _from_dlpack(ext_tensor)
    if type(ext_tensor).__name__ == "PyCapsule":
        return _from_dlpack(_Capsule(ext_tensor))
    raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got {type(ext_tensor)}")
