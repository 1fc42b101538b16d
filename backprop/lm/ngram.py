"""Interpolated Kneser-Ney n-gram language model: the baseline the neural LM is compared and mixed with.

Counts come from the same ``Windows`` the neural model trains on, so both models predict exactly
the same (context, target) pairs. Everything is array code, no Python loop per token: the k-grams
of the training stream get dense ids order by order (the id of ``(g1..gk)`` is the position of
``id(g1..g_{k-1}) * V + gk`` in a sorted table of such keys, so keys stay below ``n_grams * V`` and
never collide), counts are ``bincount``s over those ids, and scoring looks query k-grams up in the
tables with ``searchsorted``. On PTB (a million tokens, order 5) fitting takes about two seconds and
scoring a split a fraction of one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.data.windows import Windows

__all__ = ["KneserNey"]


class KneserNey:
    """P_k(w|h) = max(c(hw) - D_k, 0)/c(h) + D_k N1+(h.)/c(h) P_{k-1}(w|h'); lower orders use
    continuation counts N1+(.hw); the unigram level interpolates with uniform 1/V. A context never
    seen at order k leaves P_{k-1} unchanged. One discount per order, D_k = n1 / (n1 + 2 n2)."""

    def __init__(self, order: int, vocab_size: int) -> None:
        if order < 1 or vocab_size < 1:
            raise ValueError(f"KneserNey: order and vocab_size must be >= 1, got {order}, {vocab_size}")
        self.order, self.vocab_size = order, vocab_size
        self.discount = [0.0] * (order + 1)
        self._keys: list[np.ndarray] = []  # per order k: sorted keys id(prefix) * V + last word
        self._count: list[np.ndarray] = []  # per order k, per k-gram id: raw (top) or continuation count
        self._total: list[np.ndarray] = []  # per order k, per (k-1)-gram id: sum of its extensions' counts
        self._types: list[np.ndarray] = []  # per order k, per (k-1)-gram id: extensions with a count > 0
        self._source: tuple[np.ndarray, int] | None = None  # the ids and context fit() counted (for state())

    def fit(self, windows: Windows) -> KneserNey:
        """Count every window's n-gram (the target and the order-1 words before it) of ``windows``."""
        n, v = self.order, self.vocab_size
        stream = np.asarray(windows.stream, dtype=np.int64)
        start = max(windows.context, n - 1)  # the first target with a whole n-gram before it
        if stream.size and (stream.min() < 0 or stream.max() >= v):
            raise ValueError(f"KneserNey: word ids must be in [0, {v}), got {stream.min()}..{stream.max()}")
        self._keys, gram_at = [np.empty(0, np.int64), np.arange(v, dtype=np.int64)], [np.empty(0), stream]
        for k in range(2, n + 1):  # gram_at[k][t]: id of the k-gram ending at t (-1 before position k-1)
            prev = np.concatenate([[-1], gram_at[k - 1][:-1]])
            ok = prev >= 0
            keys, inverse = np.unique(prev[ok] * v + stream[ok], return_inverse=True)
            ids = np.full(stream.size, -1, dtype=np.int64)
            ids[ok] = inverse.reshape(-1)
            self._keys.append(keys)
            gram_at.append(ids)
        count: list[np.ndarray] = [np.empty(0, np.int64)] * (n + 1)
        count[n] = np.bincount(gram_at[n][start:], minlength=self._keys[n].size)
        for k in range(n - 1, 0, -1):  # continuation counts: distinct left extensions with a count
            suffix = np.empty(self._keys[k + 1].size, dtype=np.int64)  # (k+1)-gram id -> its suffix k-gram's id
            ok = gram_at[k + 1] >= 0
            suffix[gram_at[k + 1][ok]] = gram_at[k][ok]
            count[k] = np.bincount(suffix[count[k + 1] > 0], minlength=self._keys[k].size)
        self._count, self._total, self._types = count, [np.empty(0)], [np.empty(0)]
        for k in range(1, n + 1):
            prefix = self._keys[k] // v if k > 1 else np.zeros(v, dtype=np.int64)
            contexts = self._keys[k - 1].size if k > 1 else 1
            self._total.append(np.bincount(prefix, weights=count[k], minlength=contexts))
            self._types.append(np.bincount(prefix, weights=count[k] > 0, minlength=contexts))
            n1, n2 = int((count[k] == 1).sum()), int((count[k] == 2).sum())
            self.discount[k] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.75
        self._source = (stream[windows.context :], windows.context)
        return self

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What rebuilds this model exactly (``from_state``): the arrays (the training ids, for a
        safetensors file) and the settings (JSON), which include the discounts as a check."""
        if self._source is None:
            raise RuntimeError("KneserNey: call fit() before state()")
        ids, context = self._source
        settings = {"order": self.order, "vocab_size": self.vocab_size, "context": context, "discount": self.discount}
        return {"ids": ids.astype(np.int32 if self.vocab_size < 2**31 else np.int64)}, settings

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], settings: dict[str, Any]) -> KneserNey:
        """The model ``state()`` described, refitted on the same ids; ValueError when anything differs."""
        try:
            order, vocab_size, context = (int(settings[k]) for k in ("order", "vocab_size", "context"))
            ids = np.asarray(arrays["ids"], dtype=np.int64)
            discount = [float(d) for d in settings["discount"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a KneserNey state ({exc!r})") from None
        if ids.ndim != 1 or context < 1:
            raise ValueError(f"not a KneserNey state (ids of shape {ids.shape}, context {context})")
        model = cls(order, vocab_size).fit(Windows(ids, context))
        if model.discount != discount:
            raise ValueError(f"refitted discounts {model.discount} differ from the saved {discount}")
        return model

    def _lookup(self, k: int, prefix: np.ndarray, word: np.ndarray) -> np.ndarray:
        """Ids of the k-grams (prefix (k-1)-gram id, word), broadcast; -1 where not in training."""
        if k == 1:
            return np.broadcast_to(word, np.broadcast_shapes(np.shape(prefix), np.shape(word))).astype(np.int64)
        keys = self._keys[k]
        key = prefix * self.vocab_size + word
        at = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
        found = (prefix >= 0) & (keys[at] == key) if keys.size else np.zeros(key.shape, bool)
        return np.where(found, at, -1)

    def _interpolate(self, context: list[np.ndarray], gram: list[np.ndarray]) -> np.ndarray:
        """P(w|h) from, per order k, the id of h's last k-1 words (``context[k]``, -1: unseen) and of
        the k-gram hw (``gram[k]``), arrays broadcast together."""
        p = np.full(np.broadcast_shapes(*(np.shape(g) for g in gram[1:])), 1.0 / self.vocab_size)
        for k in range(1, self.order + 1):
            h, g = context[k], gram[k]
            hs = np.maximum(h, 0)
            total = np.where(h >= 0, self._total[k][hs], 0.0)
            types = np.where(h >= 0, self._types[k][hs], 0.0)
            c = np.where(g >= 0, self._count[k][np.maximum(g, 0)], 0)
            d = self.discount[k]
            safe = np.maximum(total, 1.0)
            p = np.where(total > 0, np.maximum(c - d, 0.0) / safe + d * types / safe * p, p)
        return p

    def log_probs(self, windows: Windows) -> np.ndarray:
        """ln P(target | context) of every window, shape (len(windows),), float64."""
        if not self._keys:
            raise RuntimeError("KneserNey: call fit() before scoring")
        stream = np.asarray(windows.stream, dtype=np.int64)
        if stream.size and (stream.min() < 0 or stream.max() >= self.vocab_size):
            raise ValueError(f"KneserNey: word ids must be in [0, {self.vocab_size})")
        at = [np.empty(0), stream]  # at[k][t]: training id of the k-gram ending at t, or -1
        for k in range(2, self.order + 1):
            at.append(self._lookup(k, np.concatenate([[-1], at[k - 1][:-1]]), stream))
        t = np.arange(windows.context, stream.size)
        context = [np.empty(0), np.zeros(t.size, np.int64)] + [at[k - 1][t - 1] for k in range(2, self.order + 1)]
        return np.log(self._interpolate(context, [np.empty(0)] + [at[k][t] for k in range(1, self.order + 1)]))

    def perplexity(self, windows: Windows) -> float:
        """exp(mean negative log-likelihood) over every window (every <eos> counted)."""
        return float(np.exp(-self.log_probs(windows).mean())) if len(windows) else 1.0

    def distribution(self, contexts: np.ndarray) -> np.ndarray:
        """P(w | context) for every word w: (B, V) for contexts (B, m) of word ids (the last order-1 used)."""
        contexts = np.atleast_2d(np.asarray(contexts, dtype=np.int64))
        b, m = contexts.shape
        if m < self.order - 1:
            raise ValueError(f"KneserNey: contexts need {self.order - 1} words, got shape {contexts.shape}")
        context = [np.empty(0), np.zeros((b, 1), np.int64)]
        for k in range(2, self.order + 1):  # the id of the last k-1 words, built left to right
            h = contexts[:, m - k + 1]
            for j in range(2, k):
                h = self._lookup(j, h, contexts[:, m - k + j])
            context.append(h[:, None])
        words = np.arange(self.vocab_size, dtype=np.int64)[None, :]
        gram = [np.empty(0)] + [self._lookup(k, context[k], words) for k in range(1, self.order + 1)]
        return self._interpolate(context, gram)

    def prob(self, context: tuple[int, ...] | list[int], word: int) -> float:
        """P(word | the last order-1 ids of context)."""
        return float(self.distribution(np.asarray([context], dtype=np.int64))[0, word])
