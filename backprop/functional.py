"""``bp.functional`` (torch.functional): the module torch's top-level ``einsum``, ``meshgrid``, ``stft``,
``unique``, ``norm``... are defined in. Each name here is the very function ``bp.<name>`` is (looked up
on the package on first use, so this module costs nothing at import and follows later bindings)."""

# ruff: noqa: F822 - the names are served by the module __getattr__
from __future__ import annotations

from typing import Any

__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "block_diag",
    "broadcast_shapes",
    "broadcast_tensors",
    "cartesian_prod",
    "cdist",
    "chain_matmul",
    "einsum",
    "istft",
    "lu",
    "meshgrid",
    "norm",
    "pca_lowrank",
    "split",
    "stft",
    "svd_lowrank",
    "tensordot",
    "unique",
    "unique_consecutive",
    "unravel_index",
]


def __getattr__(name: str) -> Any:
    """``bp.functional.<name>`` is ``bp.<name>`` for torch.functional's names."""
    if name in __all__:
        import backprop

        return getattr(backprop, name)
    raise AttributeError(f"module 'backprop.functional' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, torch.functional's included."""
    return sorted({*globals(), *__all__})
