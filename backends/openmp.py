"""``bp.backends.openmp``: backprop runs no OpenMP loops of its own (``bp.has_openmp`` is False too)."""

from __future__ import annotations

__all__ = ["is_available"]


def is_available() -> bool:
    """False: backprop is not built with OpenMP (NumPy's BLAS may use threads of its own)."""
    return False
