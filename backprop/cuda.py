"""``bp.cuda``: is a GPU usable, how many, synchronise and seed (torch.cuda's names)."""

from __future__ import annotations

from backprop.backends import get_backend


def is_available() -> bool:
    """True when CuPy imports and the CUDA runtime reports at least one device."""
    return get_backend("cuda").is_available()


def unavailable_reason() -> str:
    """Why CUDA is not usable here (empty when it is)."""
    return get_backend("cuda").unavailable_reason()


def device_count() -> int:
    """Number of usable CUDA devices (0 without CuPy or a driver)."""
    return get_backend("cuda").device_count()


def synchronize(device: int | None = None) -> None:
    """Wait for all queued work on the device (current device when None)."""
    get_backend("cuda").synchronize(device)


def manual_seed(seed: int) -> None:
    """Seed the CUDA generators only."""
    get_backend("cuda").manual_seed(seed)
