"""torch.nn.modules.distance: ``PairwiseDistance`` and ``CosineSimilarity``."""

from backprop.nn.layers import CosineSimilarity, PairwiseDistance

__all__ = ["CosineSimilarity", "PairwiseDistance"]
