"""``get_worker_info``: which loading worker is running (``None`` outside workers, as in torch's main process).

backprop's DataLoader runs its ``num_workers`` workers in the calling process, one batch at a time
(see ``DataLoader``); while one of them fetches, ``get_worker_info()`` describes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["WorkerInfo", "get_worker_info"]


class WorkerInfo:
    """``id``, ``num_workers``, ``seed`` and ``dataset`` (the worker's own copy) of a loading worker."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    __initialized = False

    def __init__(self, **kwargs: Any) -> None:
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs.keys())
        self.__initialized = True

    def __setattr__(self, key: str, val: Any) -> None:
        if self.__initialized:
            raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")
        super().__setattr__(key, val)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={getattr(self, k)}" for k in self.__keys)
        return f"{self.__class__.__name__}({items})"


_current: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The running loading worker's ``WorkerInfo``, or ``None`` when no worker is fetching."""
    return _current


@contextlib.contextmanager
def running(info: WorkerInfo) -> Iterator[None]:
    """Make ``info`` the current worker while the block runs (nested uses restore the outer one)."""
    global _current
    outer, _current = _current, info
    try:
        yield
    finally:
        _current = outer
