"""``torch.profiler``: ``profile`` with activities, a step ``schedule`` and ``on_trace_ready``, over the
op-timing machinery of ``backprop.autograd.profiler`` (see its docstring for what is recorded, how it
costs nothing when no profiler runs, and how CUDA kernels are timed).

Phases, as torch's: ``schedule(step)`` says per step whether to do nothing (the wrappers are out of the
kernel caches), warm up (they are in, nothing is recorded), record, or record and then hand the trace
to ``on_trace_ready`` (``tensorboard_trace_handler`` writes it as a Chrome trace file). With a schedule,
each step is a ``ProfilerStep#<n>`` region. A ``bp.compile`` replay is not split into ops: it ran the
kernels it bound when it was recorded; wrap it in ``record_function`` to see its time.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from backprop.autograd.profiler import _Session, record_function
from backprop.autograd.profiler_util import EventList
from backprop.backends import get_backend

__all__ = [
    "ProfilerAction",
    "ProfilerActivity",
    "profile",
    "record_function",
    "schedule",
    "supported_activities",
    "tensorboard_trace_handler",
]


class ProfilerActivity(Enum):
    """What a profiler collects: ``CPU`` (every op) and ``CUDA`` (ops on CUDA tensors, synchronised);
    the other kinds exist for torch code that names them and are not supported here."""

    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(Enum):
    """What a ``schedule`` asks of the profiler at a step."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


class ScheduleError(ValueError, AssertionError):
    """Invalid ``schedule`` arguments or step (torch raises ``AssertionError`` there)."""


def supported_activities() -> set[ProfilerActivity]:
    """The activities this machine can profile: CPU, and CUDA when a CUDA device is usable."""
    found = {ProfilerActivity.CPU}
    if get_backend("cuda").is_available():
        found.add(ProfilerActivity.CUDA)
    return found


def schedule(
    *, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0, skip_first_wait: int = 0
) -> Callable[[int], ProfilerAction]:
    """torch's step schedule: skip ``skip_first`` steps, then cycles of ``wait`` idle, ``warmup`` and
    ``active`` recorded steps (the last one saves), ``repeat`` times (0: until the profiler stops);
    ``skip_first_wait`` drops the first cycle's wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ScheduleError(
            f"schedule: invalid arguments wait={wait} (need >= 0), warmup={warmup} (need >= 0), "
            f"active={active} (need > 0), repeat={repeat} (need >= 0), skip_first={skip_first} (need >= 0)"
        )
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results", stacklevel=2)
    cycle = wait + warmup + active

    def schedule_fn(step: int) -> ProfilerAction:
        if step < 0:
            raise ScheduleError(f"schedule: the step must be >= 0, got {step}")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        phase = step % cycle
        if phase < wait:
            return ProfilerAction.NONE
        if phase < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if phase < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def _always_record(_: int) -> ProfilerAction:
    return ProfilerAction.RECORD


def tensorboard_trace_handler(
    dir_name: str | os.PathLike[str], worker_name: str | None = None, use_gzip: bool = False
) -> Callable[[Any], None]:
    """An ``on_trace_ready`` that writes each trace into ``dir_name`` as
    ``<worker_name>.<time_ns>.pt.trace.json`` (``.gz`` with ``use_gzip``), atomically; the worker name
    defaults to ``<hostname>_<pid>``, as torch's (TensorBoard's profiler plugin reads these files)."""
    folder = os.fspath(dir_name)

    def handler_fn(prof: Any) -> None:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise RuntimeError(f"tensorboard_trace_handler: can't create directory {folder!r}: {exc}") from exc
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(folder, name))

    return handler_fn


def _activities(activities: Iterable[Any] | None, use_cuda: bool | None) -> set[ProfilerActivity]:
    """The requested activities, checked; unsupported ones are dropped with a warning (as torch does)."""
    if activities is None:
        wanted = supported_activities()
    else:
        wanted = set()
        for item in activities:
            keys = item.keys() if isinstance(item, dict) else (item,)
            for key in keys:
                if not isinstance(key, ProfilerActivity):
                    raise TypeError(f"profile: activities must be ProfilerActivity values, got {key!r}")
                wanted.add(key)
    if use_cuda is not None:
        warnings.warn("`use_cuda` is deprecated, use `activities` argument instead", FutureWarning, stacklevel=3)
        (wanted.add if use_cuda else wanted.discard)(ProfilerActivity.CUDA)
    if not wanted:
        raise ValueError("profile: no valid profiler activities found (pass activities=[ProfilerActivity.CPU])")
    unsupported = wanted - supported_activities()
    if unsupported:
        names = ", ".join(sorted(a.name for a in unsupported))
        warnings.warn(f"profile: {names} profiling is not available here and is disabled", stacklevel=3)
    return wanted - unsupported


class profile:  # noqa: N801 - torch's name
    """``torch.profiler.profile``: records every op (forward kernels, backward rules, ``record_function``
    regions) in the steps its ``schedule`` marks active; results through ``events()``, ``key_averages()``,
    ``export_chrome_trace()`` and ``on_trace_ready``."""

    def __init__(
        self,
        *,
        activities: Iterable[Any] | None = None,
        schedule: Callable[[int], ProfilerAction] | None = None,
        on_trace_ready: Callable[..., Any] | None = None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_flops: bool = False,
        with_modules: bool = False,
        experimental_config: Any = None,
        execution_trace_observer: Any = None,
        acc_events: bool = False,
        use_cuda: bool | None = None,
        custom_trace_id_callback: Callable[[], str] | None = None,
    ) -> None:
        self.activities = _activities(activities, use_cuda)
        self.use_device = "cuda" if ProfilerActivity.CUDA in self.activities else None
        self.record_shapes, self.profile_memory, self.acc_events = record_shapes, profile_memory, acc_events
        self.with_stack, self.with_flops, self.with_modules = with_stack, with_flops, with_modules
        self.schedule = schedule or _always_record
        self.record_steps = schedule is not None  # ProfilerStep#<n> regions, as torch's
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = self.schedule(0)
        self._session = _Session(record_shapes, profile_memory, self.use_device)
        self._events: EventList | None = None
        self._metadata: dict[str, Any] = {}
        self._step_region: record_function | None = None
        self._running = False

    # -- phases -------------------------------------------------------------------------------------------
    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        """Begin profiling at step ``step_num`` (what ``with`` does on entry)."""
        if self._running:
            raise RuntimeError("profile.start: this profiler is already running")
        self._running = True
        try:
            self._transit(ProfilerAction.NONE, self.current_action)
        except BaseException:
            self._running = False
            self._session.release()
            raise
        self._enter_step()

    def stop(self) -> None:
        """End profiling: the last trace is handed to ``on_trace_ready`` when it was recording."""
        if not self._running:
            return
        self._running = False
        self._leave_step()
        try:
            self._transit(self.current_action, None)
        finally:
            self._session.release()

    def step(self) -> None:
        """Mark the start of the next step: the schedule's action for it may stop, save or start a trace."""
        self._leave_step()
        previous = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        if not isinstance(self.current_action, ProfilerAction):
            raise TypeError(f"profile.step: the schedule returned {self.current_action!r}, not a ProfilerAction")
        if self._running:
            self._transit(previous, self.current_action)
            self._enter_step()

    def _enter_step(self) -> None:
        if self.record_steps:
            self._step_region = record_function(f"ProfilerStep#{self.step_num}")
            self._step_region.__enter__()

    def _leave_step(self) -> None:
        if self._step_region is not None:
            self._step_region.__exit__(None, None, None)
            self._step_region = None

    def _transit(self, previous: ProfilerAction, current: ProfilerAction | None) -> None:
        """torch's action map: what moving from one step's action to the next does."""
        recording = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if previous == ProfilerAction.NONE:
            if current in (ProfilerAction.WARMUP, *recording):
                self._session.prepare()
            if current in recording:
                self._session.start()
        elif previous == ProfilerAction.WARMUP:
            if current == ProfilerAction.NONE:
                warnings.warn("Incorrect schedule: WARMUP followed by NONE", stacklevel=3)
            if current in (ProfilerAction.NONE, None):  # (an empty trace, as torch's start then stop)
                self._session.start()
                self._stop_trace()
            elif current in recording:
                self._session.start()
        elif previous == ProfilerAction.RECORD:
            if current in (ProfilerAction.NONE, ProfilerAction.WARMUP):
                warnings.warn(f"Incorrect schedule: RECORD followed by {current.name}", stacklevel=3)
                self._stop_trace()
            elif current is None:
                self._stop_trace()
                self._trace_ready()
        elif previous == ProfilerAction.RECORD_AND_SAVE:
            self._stop_trace()
            self._trace_ready()
            if current in (ProfilerAction.WARMUP, *recording):
                self._session.prepare()
            if current in recording:
                self._session.start()

    def _stop_trace(self) -> None:
        events = self._session.stop()
        self._session.release()
        if self.acc_events and self._events is not None:
            old = self._events
            events = EventList([*old, *events], use_device=self.use_device, profile_memory=self.profile_memory)
        self._events = events

    def _trace_ready(self) -> None:
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    # -- results -----------------------------------------------------------------------------------------
    def events(self) -> EventList:
        """The events of the last trace (of all traces with ``acc_events=True``), in start order."""
        if self._events is None:
            raise RuntimeError(
                "profile.events: no trace has been recorded yet (leave the profiler, or wait for on_trace_ready)"
            )
        return self._events

    def key_averages(
        self, group_by_input_shape: bool = False, group_by_stack_n: int = 0, group_by_overload_name: bool = False
    ) -> EventList:
        """The events averaged by name (and by input shapes with ``group_by_input_shape``)."""
        return self.events().key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def export_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Write the last trace as Chrome trace JSON (gzip for a ``.gz`` path), atomically."""
        self.events().export_chrome_trace(path, metadata=self._metadata)

    def add_metadata(self, key: str, value: str) -> None:
        """A string entry written at the top level of exported traces."""
        self._metadata[key] = value

    def add_metadata_json(self, key: str, value: str) -> None:
        """A JSON-valued entry (given as a JSON string) written at the top level of exported traces."""
        self._metadata[key] = json.loads(value)

    def export_stacks(self, path: str, metric: str = "self_cpu_time_total") -> None:
        """Not supported: no Python stacks are recorded (``with_stack`` is accepted and ignored)."""
        raise NotImplementedError("profile.export_stacks: backprop records no stacks (with_stack is ignored)")
