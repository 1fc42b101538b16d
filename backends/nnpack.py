"""``bp.backends.nnpack``: NNPACK is not used by backprop: ``is_available()`` is False; ``set_flags`` and
``flags`` record the switch, as on a torch build without NNPACK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["flags", "is_available", "set_flags"]

_state = [True]  # whether NNPACK is enabled (recorded only)


def is_available() -> bool:
    """False: backprop has no NNPACK kernels."""
    return False


def set_flags(_enabled: bool) -> tuple[bool]:
    """Set whether NNPACK is enabled (recorded only); returns the previous setting."""
    orig = (_state[0],)
    _state[0] = bool(_enabled)
    return orig


@contextmanager
def flags(enabled: bool = False) -> Iterator[None]:
    """Set the switch for the block, restoring it after."""
    orig = set_flags(enabled)
    try:
        yield
    finally:
        set_flags(orig[0])
