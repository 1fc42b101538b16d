"""torch's legacy tensor types (``torch.FloatTensor``, ``torch.LongTensor``, ...): constructors of a
dtype, ``isinstance`` checks by dtype and device, and ``t.type(bp.FloatTensor)`` casts."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.tensor import _TYPE_NAMES, Tensor

_BY_NAME = {name: dt for dt, name in _TYPE_NAMES.items()}  # (dtype names: bfloat16's is made when first used)


class _TensorTypeMeta(type):
    dtype_name: str
    is_cuda: bool

    @property
    def dtype(cls) -> np.dtype:
        return dtypes.to_dtype(cls.dtype_name)  # type: ignore[return-value]

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and (obj.device.type == "cuda") == cls.is_cuda

    def __call__(cls, *args: Any, device: Any = None) -> Tensor:
        dev = device if device is not None else ("cuda" if cls.is_cuda else None)
        if args and builtins.all(a.__class__ is builtins.int for a in args):
            return Tensor(*args, dtype=cls.dtype, device=dev)  # sizes: zeros of that shape
        if len(args) == 1:
            data = args[0]
            return Tensor._of(data._data if isinstance(data, Tensor) else data, dtype=cls.dtype, device=dev)
        return Tensor(*args, dtype=cls.dtype, device=dev)

    def __repr__(cls) -> str:
        return f"<class 'torch.{'cuda.' if cls.is_cuda else ''}{cls.__name__}'>"


def _make(name: str, cuda: bool = False) -> type:
    return _TensorTypeMeta(name, (), {"dtype_name": _BY_NAME[name], "is_cuda": cuda, "__doc__": f"torch.{name}"})


FloatTensor = _make("FloatTensor")
DoubleTensor = _make("DoubleTensor")
HalfTensor = _make("HalfTensor")
BFloat16Tensor = _make("BFloat16Tensor")
LongTensor = _make("LongTensor")
IntTensor = _make("IntTensor")
ShortTensor = _make("ShortTensor")
CharTensor = _make("CharTensor")
ByteTensor = _make("ByteTensor")
BoolTensor = _make("BoolTensor")

__all__ = [
    "BFloat16Tensor", "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
    "IntTensor", "LongTensor", "ShortTensor",
]  # fmt: skip
