"""Sliding n-gram windows over a token stream, and a seeded batch iterator.

Window t predicts token ``ids[t]`` from the ``context`` tokens before it; the stream is padded on
the left with ``<eos>`` so every token, every ``<eos>`` included, is predicted exactly once (the
PTB perplexity convention). Contexts are gathered per batch: no one-hot vectors, no per-epoch
copy of the corpus, just a permutation of positions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from backprop.data.text import EOS_ID


class Windows:
    """All (context, target) pairs of a token-id stream."""

    def __init__(self, ids: np.ndarray, context: int) -> None:
        if context < 1:
            raise ValueError(f"context must be at least 1 word, got {context}")
        self.context = context
        self.stream = np.concatenate([np.full(context, EOS_ID, dtype=np.int64), np.asarray(ids, np.int64)])
        self._offsets = np.arange(-context, 0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.stream) - self.context

    def batch(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Contexts (B, context) and targets (B,) for window indices ``positions``."""
        t = positions + self.context
        return self.stream[t[:, None] + self._offsets], self.stream[t]

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, start: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches in order, or in a permutation fixed by (seed, epoch); skip the first ``start``."""
        n = len(self)
        order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
        for i in range(start * batch_size, n, batch_size):
            yield self.batch(order[i : i + batch_size])

    def num_batches(self, batch_size: int) -> int:
        """Batches per epoch (the last one may be short)."""
        return -(-len(self) // batch_size)
