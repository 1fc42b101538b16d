"""``bp.backends.mkl``: backprop calls no oneMKL routines of its own (its CPU kernels are NumPy's, with
whatever BLAS NumPy was built against), so ``is_available()`` is False, as on a torch build without
MKL; ``verbose`` is accepted and does nothing."""

from __future__ import annotations

from typing import Any

__all__ = ["VERBOSE_OFF", "VERBOSE_ON", "is_available", "verbose"]

VERBOSE_OFF = 0
VERBOSE_ON = 1


def is_available() -> bool:
    """False: backprop is not built with MKL (``bp.has_mkl`` says the same)."""
    return False


class verbose:  # noqa: N801 - torch's name
    """torch.backends.mkl.verbose(level): a context manager; there are no MKL calls to report here."""

    def __init__(self, enable: int) -> None:
        self.enable = enable

    def __enter__(self) -> verbose | None:
        return None if self.enable == VERBOSE_OFF else self

    def __exit__(self, *exc: Any) -> None:
        return None
