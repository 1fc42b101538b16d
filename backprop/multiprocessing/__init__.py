"""``bp.multiprocessing`` (torch.multiprocessing): the standard library's ``multiprocessing`` plus torch's
``spawn``/``start_processes`` and sharing-strategy switches.

Tensors sent to another process are pickled: the child gets a copy, not shared memory (torch moves CPU
tensors into shared memory; backprop's NumPy arrays are not), so in-place changes in a child are not
seen by the parent. The sharing strategy is recorded and read back only.
"""

from __future__ import annotations

import multiprocessing
import sys
import traceback
from collections.abc import Callable
from multiprocessing import *  # noqa: F403 - torch.multiprocessing re-exports the standard library's API
from typing import Any

__all__ = [
    "ProcessContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
    "get_all_sharing_strategies",
    "get_sharing_strategy",
    "set_sharing_strategy",
    "spawn",
    "start_processes",
    *multiprocessing.__all__,
]

_STRATEGIES = {"file_descriptor", "file_system"} if sys.platform != "darwin" else {"file_system"}
_strategy = "file_descriptor" if sys.platform != "darwin" else "file_system"


def get_all_sharing_strategies() -> set[str]:
    """The strategies torch supports on this platform ({'file_descriptor', 'file_system'} on Linux)."""
    return set(_STRATEGIES)


def set_sharing_strategy(new_strategy: str) -> None:
    """Record the strategy for sharing CPU tensors (tensors are copied here whatever it says)."""
    global _strategy
    if new_strategy not in _STRATEGIES:
        raise ValueError(f"set_sharing_strategy: expected one of {sorted(_STRATEGIES)}, got {new_strategy!r}")
    _strategy = new_strategy


def get_sharing_strategy() -> str:
    """The recorded sharing strategy."""
    return _strategy


class ProcessException(Exception):
    """A spawned process failed; ``error_index`` is its rank, ``pid`` its process id."""

    def __init__(self, msg: str, error_index: int, pid: int) -> None:
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A spawned process raised; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A spawned process exited with a non-zero code (or a signal) without raising in Python."""

    def __init__(
        self, msg: str, error_index: int, error_pid: int, exit_code: int, signal_name: str | None = None
    ) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


def _wrap(fn: Callable[..., Any], i: int, args: tuple, error_queue: Any) -> None:
    """The child's entry point: ``fn(i, *args)``; on an exception, send its traceback and exit 1."""
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass
    except Exception:  # noqa: BLE001 - every error goes back to the parent
        error_queue.put(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    """The processes ``start_processes`` started; ``join()`` waits and re-raises the first failure."""

    def __init__(self, processes: list[Any], error_queues: list[Any]) -> None:
        self.processes, self.error_queues = processes, error_queues

    def pids(self) -> list[int]:
        """The children's process ids, by rank."""
        return [int(p.pid) for p in self.processes]

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True when all exited cleanly. A failed child terminates the
        others and raises ``ProcessRaisedException`` (its traceback) or ``ProcessExitedException``."""
        from multiprocessing.connection import wait

        alive = [p for p in self.processes if p.exitcode is None]
        if alive:
            wait([p.sentinel for p in alive], timeout=timeout)
        failed = next((i for i, p in enumerate(self.processes) if p.exitcode not in (None, 0)), None)
        if failed is None:
            done = all(p.exitcode == 0 for p in self.processes)
            if done:
                for p in self.processes:
                    p.join()
            return done
        for p in self.processes:
            if p.is_alive():
                p.terminate()
            p.join()
        process, queue = self.processes[failed], self.error_queues[failed]
        if queue.empty():
            code = int(process.exitcode)
            if code < 0:
                import signal

                name = signal.Signals(-code).name
                raise ProcessExitedException(
                    f"process {failed} terminated with signal {name}", failed, process.pid, code, name
                )
            raise ProcessExitedException(
                f"process {failed} terminated with exit code {code}", failed, process.pid, code
            )
        trace = queue.get()
        msg = f"\n\n-- Process {failed} terminated with the following error:\n{trace}"
        raise ProcessRaisedException(msg, failed, process.pid)


def start_processes(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:
    """Start ``nprocs`` processes running ``fn(i, *args)`` (``i`` = rank) with ``start_method``; wait for
    them when ``join`` (returns None), else return their ``ProcessContext``."""
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"start_processes: nprocs must be a positive int, got {nprocs!r}")
    ctx: Any = multiprocessing.get_context(start_method)
    processes, queues = [], []
    for i in range(nprocs):
        queue = ctx.SimpleQueue()
        process = ctx.Process(target=_wrap, args=(fn, i, tuple(args), queue), daemon=daemon)
        process.start()
        processes.append(process)
        queues.append(queue)
    context = ProcessContext(processes, queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:
    """``start_processes`` with torch's ``spawn`` signature: ``fn(i, *args)`` in ``nprocs`` processes."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)
