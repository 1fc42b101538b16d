"""``torch.distributed.elastic.multiprocessing.errors``: ``@record`` on a script's ``main`` writes an uncaught
exception to the file named by ``TORCHELASTIC_ERROR_FILE`` (torch's JSON: the message, the traceback, a
timestamp) and re-raises it; the launcher (``python -m backprop.run``, or torchrun) reads each failed rank's file
and reports the first failure as torchrun does (:class:`ChildFailedError`'s "Root Cause" block).

Standard library only: the launcher uses it too.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import socket
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from string import Template
from typing import Any, ParamSpec, TypeVar

__all__ = ["ChildFailedError", "ErrorHandler", "ProcessFailure", "get_error_handler", "record"]

JSON = dict[str, Any]
GlobalRank = int

_EMPTY_ERROR_DATA: JSON = {"message": "<NONE>"}
_NOT_AVAILABLE = "<N/A>"

_R = TypeVar("_R")
_P = ParamSpec("_P")


class ErrorHandler:
    """Writes an exception, as torch's JSON, to ``TORCHELASTIC_ERROR_FILE`` (nothing where it is unset)."""

    def _get_error_file_path(self) -> str | None:
        return os.environ.get("TORCHELASTIC_ERROR_FILE", None)

    def initialize(self) -> None:
        """torch's: turn on ``faulthandler`` (tracebacks of all threads on a fatal signal)."""
        try:
            faulthandler.enable(all_threads=True)
        except Exception as e:  # (no usable stderr, e.g.)
            warnings.warn(f"Unable to enable fault handler. {type(e).__name__}: {e}", stacklevel=2)

    def _write_error_file(self, file_path: str, error_msg: str) -> None:
        try:
            with open(file_path, "w") as fp:
                fp.write(error_msg)
        except Exception as e:
            warnings.warn(f"Unable to write error to file. {type(e).__name__}: {e}", stacklevel=2)

    def record_exception(self, e: BaseException) -> None:
        """Write ``{"message": {"message": "<type>: <e>", "extraInfo": {"py_callstack": <traceback>, "timestamp":
        "<s>"}}}`` (call it while handling ``e``: the traceback is ``traceback.format_exc()``'s)."""
        file = self._get_error_file_path()
        if file:
            data = {
                "message": {
                    "message": f"{type(e).__name__}: {e}",
                    "extraInfo": {"py_callstack": traceback.format_exc(), "timestamp": str(int(time.time()))},
                }
            }
            with open(file, "w") as fp:
                json.dump(data, fp)

    def override_error_code_in_rootcause_data(
        self, rootcause_error_file: str, rootcause_error: JSON, error_code: int = 0
    ) -> None:
        """Set the root cause's ``errorCode`` (a child killed by a signal could not write its own)."""
        message = rootcause_error.get("message")
        if isinstance(message, dict):
            message["errorCode"] = error_code

    def dump_error_file(self, rootcause_error_file: str, error_code: int = 0) -> None:
        """Copy a child's error file (its ``errorCode`` set to ``error_code`` when nonzero) to this process's."""
        with open(rootcause_error_file) as fp:
            rootcause_error = json.load(fp)
        if error_code:
            self.override_error_code_in_rootcause_data(rootcause_error_file, rootcause_error, error_code)
        my_error_file = self._get_error_file_path()
        if my_error_file:
            if os.path.isfile(my_error_file):
                os.remove(my_error_file)
            self._write_error_file(my_error_file, json.dumps(rootcause_error))


def get_error_handler() -> ErrorHandler:
    return ErrorHandler()


@dataclass
class ProcessFailure:
    """A failed process: its exit code (negative: the signal), and what its error file says (``message``,
    ``timestamp``) or, without one, torch's made-up message and the time now."""

    local_rank: int
    pid: int
    exitcode: int
    error_file: str
    error_file_data: JSON = field(init=False)
    message: Any = field(init=False)  # (the file's message: a str, or torch's dict with the traceback)
    timestamp: int = field(init=False)

    def __post_init__(self) -> None:
        self.error_file_data = _EMPTY_ERROR_DATA
        if os.path.isfile(self.error_file):
            with open(self.error_file) as fp:
                self.error_file_data = json.load(fp)
            self.message, self.timestamp = self._get_error_data(self.error_file_data)
        else:
            self._set_no_reply_file()
        if not self.message:
            if self.exitcode < 0:
                self.message = f"Signal {-self.exitcode} ({self.signal_name()}) received by PID {self.pid}"
            else:
                self.error_file_data["errorTraits"] = {"category": "system_terminated_error", "retryability": "False"}
                self.message = "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html"

    def _get_error_data(self, error_file_data: JSON) -> tuple[Any, int]:
        message = error_file_data["message"]
        if isinstance(message, str):
            timestamp = int(error_file_data.get("timestamp", 0))
        else:
            timestamp = int(message["extraInfo"]["timestamp"])
        return message, timestamp

    def _set_no_reply_file(self) -> None:
        self.error_file = _NOT_AVAILABLE
        self.error_file_data = dict(_EMPTY_ERROR_DATA)
        self.message = ""
        self.timestamp = int(time.time())

    def signal_name(self) -> str:
        if self.exitcode < 0:
            try:
                return signal.Signals(-self.exitcode).name
            except Exception:
                return _NOT_AVAILABLE
        return _NOT_AVAILABLE

    def timestamp_isoformat(self) -> str:
        """``YYYY-MM-DD_HH:MM:SS``."""
        return datetime.fromtimestamp(self.timestamp).isoformat(sep="_")


_FAILURE_FORMAT_TEMPLATE = """[${idx}]:
  time      : ${time}
  host      : ${hostname}
  rank      : ${rank} (local_rank: ${local_rank})
  exitcode  : ${exitcode} (pid: ${pid}) ${signal_name}
  error_file: ${error_file}
  traceback : ${message}"""

# (torch's: the blank lines before and after are intended)
_MSG_FORMAT_TEMPLATE = """
${boarder}
${title}
${section}
Failures:
${other_failures}
${section}
Root Cause (first observed failure):
${root_failure}
${boarder}"""


class ChildFailedError(Exception):
    """The job's failed processes (global rank -> :class:`ProcessFailure`); its message is torchrun's summary,
    the first failure (smallest timestamp) under "Root Cause". Raised from a ``@record`` function, the root
    cause's error file is copied to this process's ``TORCHELASTIC_ERROR_FILE``."""

    def __init__(self, name: str, failures: dict[GlobalRank, ProcessFailure]):
        self.name = name
        self.failures = failures
        if not self.failures:
            raise AssertionError("ChildFailedError needs at least one failure")
        super().__init__(self.format_msg())

    def get_first_failure(self) -> tuple[GlobalRank, ProcessFailure]:
        rank = min(self.failures.keys(), key=lambda r: self.failures[r].timestamp)
        return rank, self.failures[rank]

    def format_msg(self, boarder_delim: str = "=", section_delim: str = "-") -> str:
        title = f"{self.name} FAILED"
        root_rank, _ = self.get_first_failure()
        root_failure_fmt = ""
        other_failures_fmt: list[str] = []
        width = len(title)
        for idx, (rank, failure) in enumerate(self.failures.items()):
            fmt, w = self._format_failure(idx, rank, failure)
            width = max(width, w)
            if rank == root_rank:
                root_failure_fmt = fmt
            else:
                other_failures_fmt.append(fmt)
        width = min(width, 60)
        return Template(_MSG_FORMAT_TEMPLATE).substitute(
            boarder=boarder_delim * width,
            title=title,
            section=section_delim * width,
            root_failure=root_failure_fmt,
            other_failures="\n".join(other_failures_fmt or ["  <NO_OTHER_FAILURES>"]),
        )

    def _format_failure(self, idx: int, rank: int, failure: ProcessFailure) -> tuple[str, int]:
        msg = failure.message
        if isinstance(msg, dict):  # (torch's file: the traceback, else the message)
            msg = msg.get("extraInfo", {}).get("py_callstack", msg.get("message", "<N/A>")).replace("\n", "\n  ")
        signal_name = failure.signal_name()
        fmt = Template(_FAILURE_FORMAT_TEMPLATE).substitute(
            idx=idx,
            time=failure.timestamp_isoformat(),
            hostname=socket.getfqdn(),
            rank=rank,
            local_rank=failure.local_rank,
            exitcode=failure.exitcode,
            pid=failure.pid,
            signal_name=f" ({signal_name})" if signal_name != _NOT_AVAILABLE else "",
            error_file=failure.error_file,
            message=msg,
        )
        return fmt, max(len(line) for line in fmt.split("\n"))


def record(fn: Callable[_P, _R], error_handler: ErrorHandler | None = None) -> Callable[_P, _R | None]:
    """torch's decorator for a script's top-level function: an exception is written to
    ``TORCHELASTIC_ERROR_FILE`` (where set) and re-raised; ``SystemExit(0)`` returns ``None`` and another
    ``SystemExit`` passes through unrecorded; a :class:`ChildFailedError` copies its root cause's error file.

        @record
        def main(): ...
    """
    handler = error_handler or get_error_handler()

    @wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        handler.initialize()
        try:
            return fn(*args, **kwargs)
        except SystemExit as se:
            if se.code == 0:  # (torch's: so that a run_path entrypoint's sys.exit(0) is no failure)
                return None
            raise
        except ChildFailedError as e:
            _, failure = e.get_first_failure()
            if failure.error_file != _NOT_AVAILABLE:
                handler.dump_error_file(failure.error_file, failure.exitcode)
            raise
        except Exception as e:
            handler.record_exception(e)
            raise

    return wrapper
