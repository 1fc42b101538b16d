"""``bp.backends.opt_einsum``: backprop's einsum contracts its operands from left to right (NumPy's
einsum for each pair) and never calls the opt_einsum package, so ``is_available()`` is False,
``enabled`` is False and ``strategy`` None, as in torch without opt_einsum; turning it on, or setting a
strategy, raises torch's ValueError."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["flags", "get_opt_einsum", "is_available", "set_flags"]

enabled: bool = False
strategy: str | None = None


def is_available() -> bool:
    """False: backprop does not use opt_einsum to order einsum's contractions."""
    return False


def get_opt_einsum() -> Any:
    """None: the opt_einsum package is not used."""
    return None


def _set_enabled(_enabled: bool) -> None:
    if _enabled:
        raise ValueError(
            f"opt_einsum is not available, so setting `enabled` to {_enabled} will not reap the benefits of "
            "calculating an optimal path for einsum. backprop.einsum will fall back to contracting from left "
            "to right."
        )


def _set_strategy(_strategy: str) -> None:
    raise ValueError(
        f"opt_einsum is not available, so setting `strategy` to {_strategy} will not be meaningful. "
        "backprop.einsum will bypass path calculation and simply contract from left to right."
    )


def set_flags(_enabled: bool | None = None, _strategy: str | None = None) -> tuple[bool, None]:
    """Set the flags given (only ``False``/None are possible here); returns the previous ones."""
    orig = (False, None)
    if _enabled is not None:
        _set_enabled(_enabled)
    if _strategy is not None:
        _set_strategy(_strategy)
    return orig


@contextmanager
def flags(enabled: bool | None = None, strategy: str | None = None) -> Iterator[None]:
    """Set the flags for the block (only off here), restoring them after."""
    orig = set_flags(enabled, strategy)
    try:
        yield
    finally:
        set_flags(*orig)


class _OptEinsumModule(types.ModuleType):
    """Assignments to ``enabled``/``strategy`` are checked as torch checks them."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "enabled":
            _set_enabled(value)
        elif name == "strategy" and value is not None:
            _set_strategy(value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _OptEinsumModule
