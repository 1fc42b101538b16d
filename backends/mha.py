"""``bp.backends.mha``: torch's switch for the inference fast paths of ``TransformerEncoder`` and
``MultiheadAttention``. backprop has one implementation, so the switch only decides what torch's fast
path changes in results: ``TransformerEncoder``'s nested-tensor path, which zeroes padded positions."""

from __future__ import annotations

__all__ = ["get_fastpath_enabled", "set_fastpath_enabled"]

_is_fastpath_enabled: bool = True


def get_fastpath_enabled() -> bool:
    """Whether the fast path may be taken (True unless ``set_fastpath_enabled(False)`` was called)."""
    return _is_fastpath_enabled


def set_fastpath_enabled(value: bool) -> None:
    """Allow (True) or forbid (False) the fast path."""
    global _is_fastpath_enabled
    _is_fastpath_enabled = value
