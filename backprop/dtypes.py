"""Dtypes are NumPy dtypes under torch's names; Python floats default to float32."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = np.dtype("int32")
int64 = long = np.dtype("int64")
uint8 = np.dtype("uint8")
uint16 = np.dtype("uint16")
uint32 = np.dtype("uint32")
uint64 = np.dtype("uint64")
bool_ = np.dtype("bool")
complex64 = cfloat = np.dtype("complex64")
complex128 = cdouble = np.dtype("complex128")
# torch.float (float32), torch.int (int32) and torch.bool would shadow builtins here: backprop/__init__.py
# sets them. No bfloat16 or complex32 (chalf): NumPy has neither.

_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype Python floats become (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype Python floats become; must be a floating dtype."""
    global _default_float
    d = to_dtype(dtype)
    if d is None or d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype!r}")
    _default_float = d


def to_dtype(dtype: Any) -> np.dtype | None:
    """Normalise a dtype spec (np.dtype, string, Python type) or None; Python float is float64."""
    if dtype is None:
        return None
    if dtype is builtins.float:
        return float64
    if dtype is builtins.int:
        return int64
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r}") from None


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def category(dtype: Any) -> int:
    """bool 0 < integer 1 < floating 2 < complex 3: torch's promotion and in-place casting order."""
    return _CATEGORY[np.dtype(dtype).kind]


def promote_types(a: Any, b: Any) -> np.dtype:
    """The dtype of a binary op on operands ``a`` and ``b`` under torch's rules (not NumPy's).

    Operands are Tensors/arrays (``.dtype``, ``.ndim``) or Python scalars. The highest category
    (bool < integer < floating < complex) wins. Within it, dimensioned tensors outrank 0-d tensors,
    which outrank Python scalars; a Python scalar that raises the category gives that category's
    default dtype (float -> ``get_default_dtype()``, int -> int64), so ``int64 tensor * 2.5`` is
    float32 and ``float32 tensor * int64 tensor`` stays float32, where NumPy gives float64.
    """
    ranked: list[tuple[int, int, np.dtype]] = []
    for x in (a, b):
        if isinstance(x, builtins.bool):
            ranked.append((0, 0, bool_))
        elif isinstance(x, builtins.int):
            ranked.append((1, 0, int64))
        elif isinstance(x, builtins.float):
            ranked.append((2, 0, _default_float))
        elif isinstance(x, builtins.complex):
            ranked.append((3, 0, np.dtype("complex64") if _default_float == float32 else np.dtype("complex128")))
        else:
            ranked.append((_CATEGORY[x.dtype.kind], 2 if x.ndim else 1, x.dtype))
    top = builtins.max(r[0] for r in ranked)
    best = [r for r in ranked if r[0] == top]
    prio = builtins.max(r[1] for r in best)
    dts = [r[2] for r in best if r[1] == prio]
    return dts[0] if len(dts) == 1 else np.promote_types(dts[0], dts[1])
