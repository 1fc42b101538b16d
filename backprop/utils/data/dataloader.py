"""``DataLoader``: batches of a dataset, in sampler order, collated into tensors (torch.utils.data's name).

Workers: ``num_workers > 0`` runs that many workers *in the calling process*, taking turns as torch's
worker processes do (batch ``k`` of a map-style dataset is fetched by worker ``k % num_workers``; an
iterable dataset is read through one copy per worker, round robin, a worker leaving the rotation when
its copy is exhausted). Each worker gets a shallow copy of the dataset, ``worker_init_fn(id)`` and
``get_worker_info()`` as in torch, so the batches and their order are torch's (``in_order=True``) for
any ``num_workers``; loading is not parallel. Workers do not reseed the random generators (they are
not separate processes), ``timeout`` and ``prefetch_factor`` are only checked, and ``pin_memory``
does nothing (there is no pinned host memory).
"""

from __future__ import annotations

import copy
import itertools
import math
import multiprocessing
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from backprop.utils.data._random import host_rng
from backprop.utils.data.collate import default_collate, default_convert
from backprop.utils.data.dataset import Dataset, IterableDataset
from backprop.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from backprop.utils.data.worker import WorkerInfo, running

T_co = TypeVar("T_co", covariant=True)

__all__ = ["DataLoader"]


class _DatasetKind:
    Map = 0
    Iterable = 1


class _InfiniteConstantSampler(Sampler[None]):
    """``None`` forever: the index sampler of an iterable dataset, whose stream decides where it ends."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class _MapFetcher:
    """Reads ``dataset[i]`` for each index of a batch (or ``__getitems__`` at once), then collates."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        data = getitems(index) if getitems else [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _IterableFetcher:
    """Takes the next ``len(index)`` samples of the dataset's stream (one when not batching), then collates."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in index:
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


class DataLoader(Generic[T_co]):
    """Iterates over ``dataset`` in batches, with torch.utils.data.DataLoader's arguments and checks.

    ``shuffle=True`` draws a fresh permutation each epoch from ``generator`` or backprop's CPU
    generator (``bp.manual_seed`` makes it repeat; the order is not torch's). ``batch_size=None``
    yields single samples, converted by ``default_convert``. ``num_workers > 0`` gives the same
    batches in the same order as torch, loading in this process (see the module docstring).
    """

    dataset: Dataset[T_co]
    batch_size: int | None
    num_workers: int
    pin_memory: bool
    drop_last: bool
    timeout: float
    sampler: Sampler | Iterable
    pin_memory_device: str
    prefetch_factor: int | None
    _initialized = False

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler[list] | Iterable[list] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._IterableDataset_len_called: int | None = None
        self._workers: list[WorkerInfo] | None = None  # kept between epochs when persistent_workers
        self._initialized = True

    @property
    def multiprocessing_context(self) -> Any:
        """Checked as torch checks it; workers run in this process, so it is not used."""
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, context: Any) -> None:
        if context is not None:
            if self.num_workers == 0:
                raise ValueError(
                    "multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                    f"but got num_workers={self.num_workers}"
                )
            if isinstance(context, str):
                methods = multiprocessing.get_all_start_methods()
                if context not in methods:
                    raise ValueError(
                        f"multiprocessing_context option should specify a valid start method in {methods!r}, "
                        f"but got multiprocessing_context={context!r}"
                    )
                context = multiprocessing.get_context(context)
            if not isinstance(context, multiprocessing.context.BaseContext):
                raise TypeError(
                    "multiprocessing_context option should be a valid context object or a string specifying "
                    f"the start method, but got multiprocessing_context={context}"
                )
        self._multiprocessing_context = context

    def __setattr__(self, attr: str, val: Any) -> None:
        frozen = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")
        if self._initialized and attr in frozen:
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        """What yields one fetch's index: the batch sampler when batching, else the sampler."""
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> _DataLoaderIter:
        return _DataLoaderIter(self)

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            length = self._IterableDataset_len_called = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def _fetcher(self, dataset: Any) -> _MapFetcher | _IterableFetcher:
        kind = _IterableFetcher if self._dataset_kind == _DatasetKind.Iterable else _MapFetcher
        return kind(dataset, self._auto_collation, self.collate_fn, self.drop_last)

    def _start_workers(self, base_seed: int) -> list[WorkerInfo]:
        """One ``WorkerInfo`` per worker, each with its own (shallow) copy of the dataset, initialised."""
        if self.persistent_workers and self._workers is not None:
            return self._workers
        workers = []
        for i in range(self.num_workers):
            info = WorkerInfo(id=i, num_workers=self.num_workers, seed=base_seed + i, dataset=copy.copy(self.dataset))
            if self.worker_init_fn is not None:
                with running(info):
                    self.worker_init_fn(i)
            workers.append(info)
        if self.persistent_workers:
            self._workers = workers
        return workers


class _DataLoaderIter:
    """One pass over a DataLoader: the sampler's indices, fetched (by the workers in turn) and collated."""

    def __init__(self, loader: DataLoader) -> None:
        if loader.num_workers == 0 and loader.timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        self._loader = loader
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._index_sampler = loader._index_sampler
        self._sampler_iter = iter(self._index_sampler)
        # drawn for every pass whatever num_workers is (as torch), so the shuffled order does not depend on it
        self._base_seed = int(host_rng(loader.generator).integers(0, 2**63 - 1))
        self._num_yielded = 0
        self._workers: list[tuple[WorkerInfo, Any]] = []
        self._fetcher: Any = None
        if loader.num_workers == 0:
            self._fetcher = loader._fetcher(loader.dataset)
        else:
            for info in loader._start_workers(self._base_seed):
                with running(info):
                    self._workers.append((info, loader._fetcher(info.dataset)))
            self._turns = itertools.cycle(range(len(self._workers)))
            self._alive = [True] * len(self._workers)

    def __iter__(self) -> _DataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._index_sampler)

    def _next_data(self) -> Any:
        if self._fetcher is not None:
            return self._fetcher.fetch(next(self._sampler_iter))
        while any(self._alive):
            w = next(self._turns)
            if not self._alive[w]:
                continue
            index = next(self._sampler_iter)
            info, fetcher = self._workers[w]
            try:
                with running(info):
                    return fetcher.fetch(index)
            except StopIteration:
                if self._dataset_kind != _DatasetKind.Iterable:
                    raise
                self._alive[w] = False  # this worker's copy of the stream is exhausted
        raise StopIteration

    def __next__(self) -> Any:
        data = self._next_data()
        self._num_yielded += 1
        expected = self._IterableDataset_len_called
        if self._dataset_kind == _DatasetKind.Iterable and expected is not None and self._num_yielded > expected:
            warnings.warn(
                f"Length of IterableDataset {self._dataset} was reported to be {expected} (when accessing "
                f"len(dataloader)), but {self._num_yielded} samples have been fetched. ",
                stacklevel=2,
            )
        return data
