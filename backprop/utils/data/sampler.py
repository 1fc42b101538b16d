"""Samplers with torch.utils.data's names: which dataset indices a DataLoader reads, in which order."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

from backprop import dtypes
from backprop.creation import as_tensor, randint
from backprop.methods.random import multinomial
from backprop.tensor import Tensor
from backprop.utils.data._random import host_rng, randperm, seeded_generator

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


class Sampler(Generic[T_co]):
    """Iterates over dataset indices (or batches of them); subclasses define ``__iter__`` (and ``__len__``)."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1``."""

    data_source: Sized

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random order of the indices: a fresh permutation per pass, or ``num_samples`` draws with replacement.

    Without replacement and ``num_samples > len``, whole permutations follow each other (as torch).
    Draws come from ``generator`` or backprop's CPU generator, so ``bp.manual_seed`` makes them repeat.
    """

    data_source: Sized
    replacement: bool

    def __init__(
        self, data_source: Sized, replacement: bool = False, num_samples: int | None = None, generator: Any = None
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """How many indices one pass yields (the dataset's current length unless given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        generator = seeded_generator(self.generator)  # (torch's: a fresh generator per pass when none is given)
        if self.replacement:

            def draw(k: int) -> list[int]:
                if isinstance(generator, np.random.Generator):
                    return generator.integers(0, n, size=k).tolist()
                return randint(0, n, (k,), generator=generator).tolist()

            for _ in range(self.num_samples // 32):  # drawn in chunks of 32, as torch, so a pass stays lazy
                yield from draw(32)
            yield from draw(self.num_samples % 32)
        else:
            for _ in range(self.num_samples // n):
                yield from randperm(n, generator)
            yield from randperm(n, generator)[: self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order (a fresh permutation per pass)."""

    indices: Sequence[int]

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in randperm(len(self.indices), self.generator):
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (torch.multinomial's rules)."""

    weights: Tensor
    num_samples: int
    replacement: bool

    def __init__(
        self, weights: Sequence[float] | Tensor, num_samples: int, replacement: bool = True, generator: Any = None
    ) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        host = weights.detach().cpu() if isinstance(weights, Tensor) else weights
        weights_tensor = as_tensor(host, dtype=dtypes.float64, device="cpu")
        if len(weights_tensor.shape) != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(weights_tensor.shape)}"
            )
        self.weights = weights_tensor
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        if not isinstance(self.generator, np.random.Generator):  # torch's multinomial: its indices and errors
            if not self.replacement and self.num_samples > self.weights.shape[0]:  # (torch's words, bare)
                raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
            yield from multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator).tolist()
            return
        w = np.asarray(self.weights.numpy(), dtype=np.float64)
        drawn = self.replacement and self.num_samples > 1  # torch.multinomial's messages per path
        if drawn and (np.isnan(w).any() or (w < 0).any()):
            raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
        if drawn and np.isinf(w).any():
            raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity or NaN)")
        if not np.isfinite(w).all() or (w < 0).any():
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        total = w.sum()
        if total <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        rng = host_rng(self.generator)
        if self.replacement:
            yield from rng.choice(w.size, size=self.num_samples, p=w / total).tolist()
            return
        if self.num_samples > w.size:
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        # successive draws without replacement = the top num_samples of w / Exp(1) (torch's method too);
        # zero weights come last, in index order
        keys = w / rng.exponential(size=w.size)
        yield from np.argsort(-keys, kind="stable")[: self.num_samples].tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups another sampler's indices into lists of ``batch_size``; ``drop_last`` drops a short last one."""

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
