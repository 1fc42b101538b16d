"""The fetchers (torch.utils.data._utils.fetch): what turns one index (or batch of indices) into a batch.

Shared by the single-process iterator and the worker processes, which build their own from the
dataset, ``collate_fn`` and ``drop_last`` they are handed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["create_fetcher"]


class _DatasetKind:
    Map = 0
    Iterable = 1


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


def create_fetcher(
    kind: int, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool
) -> _MapFetcher | _IterableFetcher:
    """The fetcher for a dataset of ``kind`` (``_DatasetKind.Map`` or ``.Iterable``)."""
    fetcher = _IterableFetcher if kind == _DatasetKind.Iterable else _MapFetcher
    return fetcher(dataset, auto_collation, collate_fn, drop_last)
