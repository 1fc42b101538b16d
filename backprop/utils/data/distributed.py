"""``DistributedSampler``: each process of a ``bp.distributed`` job reads its own share of a dataset."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

from backprop import distributed as dist
from backprop.creation import Generator
from backprop.utils.data._random import randperm
from backprop.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler[int]):
    """Rank ``rank`` of ``num_replicas`` takes every ``num_replicas``-th index from ``rank`` on.

    The indices are padded by wrapping around (or cut, ``drop_last=True``) to a multiple of
    ``num_replicas``. With ``shuffle`` the order is a permutation seeded by ``seed + epoch``, the same
    on every rank (call ``set_epoch`` each epoch); torch's permutation (its ``randperm`` of a generator so seeded).
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = randperm(n, Generator().manual_seed(self.seed + self.epoch))  # (torch's: the same order)
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            padding = self.total_size - n
            indices += (indices * math.ceil(padding / n))[:padding] if padding > n else indices[:padding]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next pass shuffles for: every rank must set the same one."""
        self.epoch = epoch
