"""torch's legacy tensor types (``torch.FloatTensor``, ``torch.LongTensor``, ...): constructors of a
dtype, ``isinstance`` checks by dtype and device, and ``t.type(bp.FloatTensor)`` casts."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.methods.attributes import strided
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
            if isinstance(data, Tensor) and data.layout is strided:
                return _alias(cls, data, device)
            return Tensor._of(data, dtype=cls.dtype, device=dev)
        return Tensor(*args, dtype=cls.dtype, device=dev)

    def __repr__(cls) -> str:
        return f"<class 'torch.{'cuda.' if cls.is_cuda else ''}{cls.__name__}'>"


def _alias(cls: _TensorTypeMeta, t: Tensor, device: Any) -> Tensor:
    """torch's ``FloatTensor(t)``: an alias of ``t`` (as ``Tensor(t)``) when ``t`` is of the type's dtype and
    device kind, else torch's TypeError naming both; ``device=`` is torch's RuntimeError."""
    if device is not None:
        return Tensor(t, device=device)  # (its RuntimeError)
    want = "cuda" if cls.is_cuda else "cpu"
    if t.dtype != cls.dtype or t.device.type != want:
        raise TypeError(f"expected {_options(cls.dtype, want)} (got {_options(t.dtype, t.device.type)})")
    return Tensor(t)


_CPP_NAMES = {
    "float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
    "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
    "uint16": "short unsigned int", "uint32": "unsigned int", "uint64": "long unsigned int", "bool": "bool",
    "complex64": "c10::complex<float>", "complex128": "c10::complex<double>",
}  # fmt: skip


def _options(dtype: Any, device: str) -> str:
    """torch's printed ``TensorOptions`` of a dense tensor of ``dtype`` on ``device`` (its C++ dtype names)."""
    name = str(getattr(dtype, "name", dtype))
    cpp = _CPP_NAMES.get(name) or "c10::" + name[:1].upper() + name[1:]  # (float8_e5m2: c10::Float8_e5m2)
    return (
        f"TensorOptions(dtype={cpp}, device={device}, layout=Strided, requires_grad=false (default), "
        "pinned_memory=false (default), memory_format=(nullopt))"
    )


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
