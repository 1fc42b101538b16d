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
bool_ = np.dtype("bool")

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
