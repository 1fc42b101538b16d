"""Word-level text: reading corpora, whitespace tokenisation with ``<eos>``, and the ``Vocab``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

UNK = "<unk>"
EOS = "<eos>"
SPECIALS = (UNK, EOS)  # the first words of every Vocab, in this order
UNK_ID = SPECIALS.index(UNK)
EOS_ID = SPECIALS.index(EOS)


class DataError(ValueError):
    """A corpus or checkpoint the user pointed at cannot be used; the message names the file."""


def read_lines(path: str | os.PathLike) -> list[str]:
    """Non-empty lines of a UTF-8 text file (one sentence per line)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a text file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 text (byte {exc.start}: {exc.reason})") from None
    lines = [line for line in lines if line]
    if not lines:
        raise DataError(f"{path}: the file is empty (expected one sentence per line)")
    return lines


def tokenize(lines: Iterable[str]) -> list[str]:
    """Whitespace tokens with an ``<eos>`` after every line, as in the standard PTB setup."""
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


class Vocab:
    """Word <-> id mapping; ``<unk>`` is id ``UNK_ID`` (0) and ``<eos>`` id ``EOS_ID`` (1), the rest by frequency."""

    def __init__(self, words: Sequence[str]) -> None:
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a Vocab starts with {list(SPECIALS)}, got {list(words[: len(SPECIALS)])}")
        if len(set(words)) != len(words):
            raise ValueError("a Vocab's words must be unique")
        self.itos = list(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, tokens: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Words seen at least ``min_freq`` times, the ``max_size`` most frequent (ties by spelling)."""
        counts = Counter(t for t in tokens if t not in SPECIALS)
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *words])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Token ids (unknown words -> ``<unk>``) as int64."""
        get = self.stoi.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids``."""
        return [self.itos[int(i)] for i in ids]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    __hash__ = None  # type: ignore[assignment]
