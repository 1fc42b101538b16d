"""Neural-network building blocks: ``functional`` now; modules arrive with the LM issue."""

from backprop.nn import functional

__all__ = ["functional"]
