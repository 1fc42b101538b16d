"""``bp.mps`` (torch.mps): Apple's Metal backend does not exist here. The queries answer as a torch build
without MPS (``is_available()`` False, ``device_count()`` 0, ``manual_seed`` accepted); the calls that
need the device raise torch's RuntimeError."""

from __future__ import annotations

__all__ = ["device_count", "empty_cache", "is_available", "manual_seed", "seed", "synchronize"]


def is_available() -> bool:
    """False: backprop has no MPS backend."""
    return False


def device_count() -> int:
    """0: no MPS devices."""
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored, as torch does without an MPS device (there is no MPS generator to seed)."""
    if not isinstance(seed, int):
        raise TypeError(f"bp.mps.manual_seed expects an int, got {type(seed).__name__}")


def seed() -> None:
    """Accepted and ignored (no MPS generator)."""


def synchronize() -> None:
    """Raises: there is no MPS device to wait for."""
    raise RuntimeError("Cannot execute deviceSynchronize() without MPS backend.")


def empty_cache() -> None:
    """Raises: there is no MPS allocator to empty."""
    raise RuntimeError("Cannot execute emptyCache() without MPS backend.")
