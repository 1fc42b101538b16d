"""The Tensor's torch-style methods, one mixin per family of ops (each a one-line call into the
registry). ``backprop.tensor.Tensor`` inherits them all; keeping them here keeps each file short."""

from backprop.methods.indexing import IndexingMethods
from backprop.methods.math import MathMethods
from backprop.methods.reduction import ReductionMethods
from backprop.methods.shape import ShapeMethods

__all__ = ["IndexingMethods", "MathMethods", "ReductionMethods", "ShapeMethods"]
