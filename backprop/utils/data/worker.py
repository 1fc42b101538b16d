"""Loading workers (torch.utils.data._utils.worker): ``get_worker_info`` and the loop each worker process runs.

``DataLoader(num_workers=n)`` starts ``n`` processes that each run ``_worker_loop`` over their own copy of
the dataset: they seed Python's ``random`` and backprop's generator with ``base_seed + worker_id`` and
NumPy's global generator from both (as torch's workers), run ``worker_init_fn``, then fetch the index
batches sent to them and send the pickled batches back. ``get_worker_info()`` is ``None`` elsewhere.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from backprop.utils.data.fetch import _DatasetKind, create_fetcher

__all__ = ["WorkerInfo", "get_worker_info"]

# how often (seconds) a waiting worker checks that its parent lives and the parent that its workers do
MP_STATUS_CHECK_INTERVAL = 0.5


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


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker process's ``WorkerInfo``; ``None`` in the main process."""
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """Sent by a worker whose copy of an iterable dataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Sent to persistent workers at a new epoch: start the stream again (acknowledged back)."""

    seed: int | None = None


class KeyErrorMessage(str):
    """A str whose repr is itself, so a re-raised KeyError prints its traceback readably (torch's)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """An exception and its formatted traceback, to re-raise in another process (torch._utils.ExceptionWrapper)."""

    def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> NoReturn:
        """Raise ``exc_type`` with "Caught <name> <where>." and the original traceback (else a RuntimeError)."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # noqa: BLE001 - an exception type that takes other arguments
            raise RuntimeError(msg) from None
        raise exception


def _generate_state(base_seed: int, worker_id: int) -> list[int]:
    """Four 32-bit words seeding NumPy's global generator in a worker (torch's SeedSequence-like hash)."""
    mask = 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]
    hash_a = 0x43B0D7E5

    def hash_(value: int) -> int:
        nonlocal hash_a
        value = (value ^ hash_a) & mask
        hash_a = (hash_a * 0x931E8875) & mask
        value = (value * hash_a) & mask
        return (value ^ (value >> 16)) & mask

    def mix(x: int, y: int) -> int:
        result = (((0xCA01F9DD * x) & mask) - ((0x4973F715 * y) & mask)) & mask
        return (result ^ (result >> 16)) & mask

    pool = [hash_(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_b, state = 0x8B51F9DD, []
    for value in pool:
        value = (value ^ hash_b) & mask
        hash_b = (hash_b * 0x58F38DED) & mask
        value = (value * hash_b) & mask
        state.append((value ^ (value >> 16)) & mask)
    return state


def _put(data_queue: Any, idx: Any, data: Any, worker_id: int) -> None:
    """Send ``(idx, data)`` pickled here, so that a batch that cannot be pickled becomes the main process's error."""
    try:
        payload = pickle.dumps((idx, data), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - re-raised in the main process
        wrapped = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        payload = pickle.dumps((idx, wrapped), protocol=pickle.HIGHEST_PROTOCOL)
    data_queue.put(payload)


def _worker_loop(
    dataset_kind: int,
    dataset: Any,
    index_queue: Any,
    data_queue: Any,
    done_event: Any,
    auto_collation: bool,
    collate_fn: Callable,
    drop_last: bool,
    base_seed: int,
    init_fn: Callable[[int], None] | None,
    worker_id: int,
    num_workers: int,
) -> None:
    """One worker process: seed, ``init_fn(worker_id)``, then fetch ``(idx, index)`` tasks until ``None``."""
    global _worker_info
    try:
        from backprop.creation import manual_seed

        seed = base_seed + worker_id
        random.seed(seed)
        manual_seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_exception = None
        fetcher: Any = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
        except Exception:  # noqa: BLE001 - sent with the first task
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False  # this epoch's stream ran out: skip tasks until the next resume or None
        parent = os.getppid()
        while os.getppid() == parent:  # (an orphaned worker leaves)
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):
                _put(data_queue, r, None, worker_id)
                iteration_end = False
                if init_exception is None:
                    fetcher = create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            data: Any
            if init_exception is not None:
                data = init_exception
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:  # noqa: BLE001 - re-raised in the main process
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            _put(data_queue, idx, data, worker_id)
            del data, idx, index, r
    except KeyboardInterrupt:
        pass  # the main process gets it too
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()
