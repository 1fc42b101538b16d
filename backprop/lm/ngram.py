"""Interpolated Kneser-Ney n-gram language model: the baseline the neural LM is compared with.

Counts come from the same ``Windows`` the neural model trains on, so both models predict
exactly the same (context, target) pairs. Written with plain dicts: no library in reach
implements Kneser-Ney over our vocabulary ids, and the whole model is sixty lines.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from backprop.data.windows import Windows


class KneserNey:
    """P_k(w|h) = max(c(hw) - D_k, 0)/c(h) + D_k N1+(h.)/c(h) P_{k-1}(w|h'); lower orders use
    continuation counts N1+(.hw); the unigram level interpolates with uniform 1/V."""

    def __init__(self, order: int, vocab_size: int) -> None:
        self.order, self.vocab_size = order, vocab_size
        self.counts: list[dict[tuple, int]] = [defaultdict(int) for _ in range(order + 1)]
        self.ctx_total: list[dict[tuple, int]] = []
        self.ctx_types: list[dict[tuple, int]] = []
        self.discount = [0.0] * (order + 1)

    def fit(self, windows: Windows) -> KneserNey:
        n = self.order
        stream = windows.stream.tolist()
        top = self.counts[n]
        for t in range(windows.context, len(stream)):
            top[tuple(stream[t - n + 1 : t + 1])] += 1
        for k in range(n - 1, 0, -1):  # continuation counts: distinct left extensions
            lower = self.counts[k]
            for gram in self.counts[k + 1]:
                lower[gram[1:]] += 1
        self.ctx_total = [defaultdict(int) for _ in range(n + 1)]
        self.ctx_types = [defaultdict(int) for _ in range(n + 1)]
        for k in range(1, n + 1):
            hist: defaultdict[int, int] = defaultdict(int)  # count -> how many n-grams have it
            for gram, c in self.counts[k].items():
                self.ctx_total[k][gram[:-1]] += c
                self.ctx_types[k][gram[:-1]] += 1
                if c <= 2:
                    hist[c] += 1
            n1, n2 = hist[1], hist[2]
            self.discount[k] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.75
        return self

    def prob(self, context: tuple, word: int) -> float:
        """P(word | the last order-1 ids of context)."""
        p = 1.0 / self.vocab_size
        for k in range(1, self.order + 1):
            h = tuple(context[len(context) - k + 1 :]) if k > 1 else ()
            total = self.ctx_total[k].get(h, 0)
            if total == 0:
                continue
            d = self.discount[k]
            c = self.counts[k].get((*h, word), 0)
            p = max(c - d, 0.0) / total + d * self.ctx_types[k][h] / total * p
        return p

    def perplexity(self, windows: Windows) -> float:
        """exp(mean negative log-likelihood) over every window (every <eos> counted)."""
        stream = windows.stream.tolist()
        ctx = windows.context
        nll = 0.0
        for t in range(ctx, len(stream)):
            nll -= math.log(self.prob(tuple(stream[t - self.order + 1 : t]), stream[t]))
        return float(np.exp(nll / max(1, len(stream) - ctx)))
