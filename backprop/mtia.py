"""``bp.mtia`` (torch.mtia): Meta's training accelerator backend does not exist here; the queries device-selection
code asks answer as a torch build without it (``is_available()`` False, ``device_count()`` 0)."""

from __future__ import annotations

__all__ = ["device_count", "is_available", "is_initialized"]


def is_available() -> bool:
    """False: backprop has no MTIA backend."""
    return False


def device_count() -> int:
    """0: no MTIA devices."""
    return 0


def is_initialized() -> bool:
    """False: there is no MTIA runtime."""
    return False
