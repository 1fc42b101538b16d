"""torch.utils's names: ``bp.utils.data`` (datasets, samplers, ``DataLoader``)."""

from backprop.utils import data

__all__ = ["data"]
