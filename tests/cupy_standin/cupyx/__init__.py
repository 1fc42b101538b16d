"""The stand-in's ``cupyx``: ``scatter_add`` (NumPy's ``add.at``) and ``scipy.special``."""

from __future__ import annotations

from typing import Any

import cupy


def scatter_add(a: Any, slices: Any, value: Any) -> None:
    """``numpy.add.at`` on a device array, as CuPy's atomic scatter."""
    cupy.add.at(a, slices, value)


def scatter_max(a: Any, slices: Any, value: Any) -> None:
    cupy.maximum.at(a, slices, value)


def scatter_min(a: Any, slices: Any, value: Any) -> None:
    cupy.minimum.at(a, slices, value)
