"""Every registered op; importing this package registers them (see ``backprop.registry``)."""

from backprop.ops import conversion, elementwise, indexing, linalg, nn, reduction, shape

__all__ = ["conversion", "elementwise", "indexing", "linalg", "nn", "reduction", "shape"]
