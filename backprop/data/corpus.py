"""The embedded default corpus: sentences from a small probabilistic grammar, no download.

Nouns of one kind share their contexts ("the cat gets fed", "the dog gets fed", "the farmer feeds
the goat"), and a fixed quarter of the (noun, verb) pairs never occurs in training. The test split
consists of sentences built around exactly those unseen pairs: an n-gram model has never counted
"the goat hides", while a neural LM that has learnt that goats behave like the other animals
assigns it a sensible probability. That gap is the point of neural language models (Bengio et
al., 2003), and ``backprop train-lm`` prints it.
"""

from __future__ import annotations

import numpy as np

ANIMALS = ["cat", "dog", "horse", "cow", "rabbit", "mouse", "sheep", "goat", "pig", "duck", "fox", "bird"]
PEOPLE = ["man", "woman", "boy", "girl", "teacher", "doctor", "farmer", "child", "baker", "nurse"]
ANIMAL_VERBS = ["sleeps", "runs", "walks", "jumps", "plays", "sits", "hides", "rests", "eats", "drinks"]
PERSON_VERBS = ["reads", "writes", "sings", "works", "cooks", "talks", "laughs", "thinks", "smiles", "waits"]
TRANSITIVE = ["feeds", "washes", "sees", "calls", "follows", "watches"]
CARE = ["fed", "washed", "brushed", "walked"]
ANIMAL_ADJ = ["small", "big", "old", "young", "lazy", "happy"]
PERSON_ADJ = ["tall", "old", "young", "happy", "busy", "kind"]
PLACES = ["garden", "kitchen", "barn", "park", "house", "field", "yard"]
TIMES = ["today", "at night", "every morning", "again", "now"]

HELD_OUT_FRACTION = 0.25


def held_out_pairs(seed: int = 0) -> set[tuple[str, str]]:
    """The (noun, verb) pairs that never occur in training; each noun keeps most of its verbs."""
    rng = np.random.default_rng([seed, 1])
    pairs: set[tuple[str, str]] = set()
    for nouns, verbs in ((ANIMALS, ANIMAL_VERBS), (PEOPLE, PERSON_VERBS), (ANIMALS, CARE)):
        for noun in nouns:
            k = max(1, round(HELD_OUT_FRACTION * len(verbs)))
            for verb in rng.choice(verbs, size=k, replace=False):
                pairs.add((noun, str(verb)))
    return pairs


class _Grammar:
    def __init__(self, rng: np.random.Generator, held_out: set[tuple[str, str]]) -> None:
        self.rng, self.held_out = rng, held_out

    def pick(self, items: list[str]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def maybe(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def tail(self, place_p: float = 0.5, time_p: float = 0.3) -> list[str]:
        out = []
        if self.maybe(place_p):
            out += ["in", "the", self.pick(PLACES)]
        if self.maybe(time_p):
            out += self.pick(TIMES).split()
        return out

    def pair(self, nouns: list[str], verbs: list[str], novel: bool) -> tuple[str, str]:
        """A (noun, verb) pair that is held out when ``novel``, and allowed otherwise."""
        while True:
            noun, verb = self.pick(nouns), self.pick(verbs)
            if ((noun, verb) in self.held_out) == novel:
                return noun, verb

    def sentence(self, novel: bool) -> list[str]:
        kind = int(self.rng.integers(4 if not novel else 3))
        if kind == 0:  # the [adj] animal verbs [in the place] [time]
            noun, verb = self.pair(ANIMALS, ANIMAL_VERBS, novel)
            adj = [self.pick(ANIMAL_ADJ)] if self.maybe(0.3) else []
            return ["the", *adj, noun, verb, *self.tail()]
        if kind == 1:  # the [adj] person verbs [in the place] [time]
            noun, verb = self.pair(PEOPLE, PERSON_VERBS, novel)
            adj = [self.pick(PERSON_ADJ)] if self.maybe(0.3) else []
            return ["the", *adj, noun, verb, *self.tail()]
        if kind == 2:  # the [adj] animal gets fed [time]
            noun, verb = self.pair(ANIMALS, CARE, novel)
            adj = [self.pick(ANIMAL_ADJ)] if self.maybe(0.3) else []
            return ["the", *adj, noun, "gets", verb, *self.tail(place_p=0.0, time_p=0.5)]
        # the person feeds the [adj] animal [in the place]
        adj = [self.pick(ANIMAL_ADJ)] if self.maybe(0.3) else []
        return [
            "the",
            self.pick(PEOPLE),
            self.pick(TRANSITIVE),
            "the",
            *adj,
            self.pick(ANIMALS),
            *self.tail(time_p=0.0),
        ]


def generate(n_train: int = 150_000, n_valid: int = 5_000, n_test: int = 5_000, seed: int = 0) -> dict[str, list[str]]:
    """Deterministic splits: ``train``/``valid`` use only seen pairs, ``test`` only unseen ones."""
    held = held_out_pairs(seed)
    out = {}
    for split, n, novel, salt in (
        ("train", n_train, False, 2),
        ("valid", n_valid, False, 3),
        ("test", n_test, True, 4),
    ):
        g = _Grammar(np.random.default_rng([seed, salt]), held)
        out[split] = [" ".join(g.sentence(novel)) for _ in range(n)]
    return out
