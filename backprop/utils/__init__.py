"""torch.utils's names: ``bp.utils.data`` (datasets, samplers, ``DataLoader``) and ``bp.utils.checkpoint``
(activation checkpointing)."""

from backprop.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
