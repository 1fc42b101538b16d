"""``bp.backends.mkldnn``: oneDNN (MKL-DNN) is not used by backprop: ``is_available()`` is False; the
flags torch scripts set (``enabled``, ``deterministic``, ``allow_tf32``, ``flags()``, ``set_flags()``)
are recorded and read back but change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "VERBOSE_OFF",
    "VERBOSE_ON",
    "VERBOSE_ON_CREATION",
    "flags",
    "is_acl_available",
    "is_available",
    "set_flags",
    "verbose",
]

enabled = True  # torch's default (the flag exists even where oneDNN does not)
deterministic = False
allow_tf32 = False
fp32_precision = "none"

VERBOSE_OFF = 0
VERBOSE_ON = 1
VERBOSE_ON_CREATION = 2


def is_available() -> bool:
    """False: backprop has no oneDNN kernels."""
    return False


def is_acl_available() -> bool:
    """False: no oneDNN, so no Arm Compute Library either."""
    return False


class verbose:  # noqa: N801 - torch's name
    """torch.backends.mkldnn.verbose(level): a context manager; there are no oneDNN calls to report here."""

    def __init__(self, level: int) -> None:
        self.level = level

    def __enter__(self) -> verbose | None:
        return None if self.level == VERBOSE_OFF else self

    def __exit__(self, *exc: Any) -> None:
        return None


def set_flags(
    _enabled: bool | None = None,
    _deterministic: bool | None = None,
    _allow_tf32: bool | None = None,
    _fp32_precision: str | None = "none",
) -> tuple[bool, bool, bool, str]:
    """Set the flags given (not None); returns the previous ones, as torch."""
    global enabled, deterministic, allow_tf32, fp32_precision
    orig = (enabled, deterministic, allow_tf32, fp32_precision)
    if _enabled is not None:
        enabled = _enabled
    if _deterministic is not None:
        deterministic = _deterministic
    if _allow_tf32 is not None:
        allow_tf32 = _allow_tf32
    if _fp32_precision is not None:
        fp32_precision = _fp32_precision
    return orig


@contextmanager
def flags(
    enabled: bool = False, deterministic: bool = False, allow_tf32: bool = True, fp32_precision: str = "none"
) -> Iterator[None]:
    """Set the flags for the block, restoring the previous ones after it."""
    orig = set_flags(enabled, deterministic, allow_tf32, fp32_precision)
    try:
        yield
    finally:
        set_flags(*orig)
