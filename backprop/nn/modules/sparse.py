"""torch.nn.modules.sparse: ``Embedding`` and ``EmbeddingBag``."""

from backprop.nn.embedding_bag import EmbeddingBag
from backprop.nn.layers import Embedding

__all__ = ["Embedding", "EmbeddingBag"]
