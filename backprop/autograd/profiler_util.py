"""``torch.autograd.profiler_util``: the profiler's results. ``FunctionEvent`` (one call, linked into its
call tree), ``FunctionEventAvg`` (the calls of one name summed), ``EventList`` with torch's ``table`` and
``key_averages``, and the Chrome trace writer (JSON, written atomically). Times are in microseconds."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "Interval", "write_chrome_trace"]


def _format_time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_share(us: float, total: float) -> str:
    return "NaN" if total == 0 else f"{us * 100.0 / total:.2f}%"


def _format_memory(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


class Interval:
    """An event's start and end in microseconds from the start of its trace."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end

    def elapsed_us(self) -> float:
        """end - start, in microseconds."""
        return self.end - self.start


class FunctionEvent:
    """One recorded call (an op's kernel, a backward rule or a ``record_function`` region), with its
    place in the call tree (``cpu_parent``, ``cpu_children``) and its times in microseconds."""

    count = 1
    is_async = False
    is_remote = False
    is_legacy = False
    node_id = -1
    overload_name = ""
    flops = 0

    def __init__(self, id: int, name: str, thread: int, start_us: float, end_us: float, **info: Any) -> None:
        self.id, self.thread = id, thread
        self.trace_name = name  # the Chrome trace's name; ``name`` groups the steps: ProfilerStep*, as torch's
        self.name = "ProfilerStep*" if name.startswith("ProfilerStep#") else name
        self.time_range = Interval(start_us, end_us)
        self.input_shapes: list = info.get("input_shapes", [])
        self.device_type: str = info.get("device_type", "cpu")
        self.is_user_annotation: bool = info.get("is_user_annotation", False)
        self.use_device: str | None = info.get("use_device")
        self.stack: list[str] = []
        self.cpu_children: list[FunctionEvent] = []
        self.cpu_parent: FunctionEvent | None = None
        self._own_memory: int = info.get("memory", 0)

    key = property(lambda self: self.name, doc="What key_averages groups by: the name.")

    @property
    def cpu_time_total(self) -> float:
        return self.time_range.elapsed_us()

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total

    @property
    def device_time_total(self) -> float:
        """The synchronised time of a call on a CUDA tensor, else its children's."""
        if self.device_type != "cpu" and not self.is_user_annotation:
            return self.cpu_time_total
        return sum(c.device_time_total for c in self.cpu_children)

    @property
    def self_device_time_total(self) -> float:
        return self.device_time_total - sum(c.device_time_total for c in self.cpu_children)

    device_time = device_time_total
    cuda_time_total, self_cuda_time_total = device_time_total, self_device_time_total

    def _memory(self, on_device: bool) -> int:
        own = self._own_memory if (self.device_type != "cpu") == on_device else 0
        return own + sum(c._memory(on_device) for c in self.cpu_children)

    cpu_memory_usage = property(lambda self: self._memory(False))
    device_memory_usage = property(lambda self: self._memory(True))
    self_cpu_memory_usage = property(lambda self: self._own_memory if self.device_type == "cpu" else 0)
    self_device_memory_usage = property(lambda self: 0 if self.device_type == "cpu" else self._own_memory)

    def __repr__(self) -> str:
        return (
            f"<FunctionEvent id={self.id} name={self.name} cpu_time={_format_time(self.cpu_time_total)} "
            f"start_us={self.time_range.start:.3f} end_us={self.time_range.end:.3f} "
            f"cpu_children={[c.id for c in self.cpu_children]} thread={self.thread} input_shapes={self.input_shapes}>"
        )


class FunctionEventAvg:
    """The events of one key summed (``key_averages``): counts, total and self times, memory."""

    is_async = False
    is_remote = False
    node_id = -1
    overload_name = ""
    flops = 0

    def __init__(self) -> None:
        self.key: str | None = None
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.device_time_total = self.self_device_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.device_memory_usage = self.self_device_memory_usage = 0
        self.input_shapes: Any = None
        self.device_type = "cpu"
        self.is_user_annotation = False
        self.use_device: str | None = None
        self.cpu_parent: FunctionEvent | None = None
        self.stack: list[str] = []

    def add(self, other: Any) -> FunctionEventAvg:
        """Add an event (or another average) into this one; returns self."""
        if self.key is None:
            self.key, self.input_shapes, self.device_type = other.key, other.input_shapes, other.device_type
            self.is_user_annotation, self.use_device, self.cpu_parent = (
                other.is_user_annotation,
                other.use_device,
                other.cpu_parent,
            )
        self.count += other.count
        for field in (
            "cpu_time_total",
            "self_cpu_time_total",
            "device_time_total",
            "self_device_time_total",
            "cpu_memory_usage",
            "self_cpu_memory_usage",
            "device_memory_usage",
            "self_device_memory_usage",
        ):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        return self

    __iadd__ = add

    @property
    def cpu_time(self) -> float:
        return 0.0 if self.count == 0 else self.cpu_time_total / self.count

    @property
    def device_time(self) -> float:
        return 0.0 if self.count == 0 else self.device_time_total / self.count

    cuda_time_total = property(lambda self: self.device_time_total)
    self_cuda_time_total = property(lambda self: self.self_device_time_total)

    def __repr__(self) -> str:
        return (
            f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)} "
            f"cpu_time={_format_time(self.cpu_time)} count={self.count} input_shapes={self.input_shapes}>"
        )


_SORT_KEYS = (
    "cpu_time",
    "cpu_time_total",
    "self_cpu_time_total",
    "device_time",
    "device_time_total",
    "self_device_time_total",
    "cpu_memory_usage",
    "self_cpu_memory_usage",
    "device_memory_usage",
    "self_device_memory_usage",
    "count",
)


class EventList(list):
    """A list of ``FunctionEvent`` (or averages) with torch's summaries: ``table``, ``key_averages``,
    ``total_average``, ``export_chrome_trace``."""

    def __init__(self, events: Iterable[Any] = (), *, use_device: str | None = None, profile_memory: bool = False):
        super().__init__(events)
        self.base_time_ns = 0  # the wall-clock time (ns since the epoch) of the trace's time 0
        self._use_device = use_device
        self._profile_memory = profile_memory

    @property
    def self_cpu_time_total(self) -> float:
        """The self CPU times of all events summed, in microseconds."""
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(
        self, group_by_input_shapes: bool = False, group_by_stack_n: int = 0, group_by_overload_name: bool = False
    ) -> EventList:
        """One ``FunctionEventAvg`` per name (and input shapes when grouped by them), in first-seen order."""
        stats: dict[tuple, FunctionEventAvg] = defaultdict(FunctionEventAvg)
        for e in self:
            key = (e.key, e.device_type, e.is_user_annotation)
            stats[(*key, str(e.input_shapes)) if group_by_input_shapes else key].add(e)
        out = EventList(stats.values(), use_device=self._use_device, profile_memory=self._profile_memory)
        if not group_by_input_shapes:
            for avg in out:
                avg.input_shapes = ""
        return out

    def total_average(self) -> FunctionEventAvg:
        """All events summed into one average keyed ``"Total"``."""
        total = FunctionEventAvg()
        for e in self:
            total.add(e)
        total.key = "Total"
        return total

    def table(
        self,
        sort_by: str | None = None,
        row_limit: int = 100,
        max_src_column_width: int = 75,
        max_name_column_width: int = 55,
        max_shapes_column_width: int = 80,
        header: str | None = None,
        top_level_events_only: bool = False,
        time_unit: str | None = None,
    ) -> str:
        """torch's summary table: a row per event (sorted descending by ``sort_by``), then the total."""
        if not self:
            return ""
        events: list[Any] = list(self)
        if sort_by is not None:
            attr = sort_by.replace("cuda", "device").replace("xpu", "device")
            if attr not in _SORT_KEYS:
                raise ValueError(f"table: unknown sort_by {sort_by!r}; expected one of {', '.join(_SORT_KEYS)}")
            events.sort(key=lambda e: getattr(e, attr), reverse=True)
        has_device = any(e.self_device_time_total > 0 for e in events)
        has_shapes = any(e.input_shapes for e in events)
        device = (self._use_device or "cuda").upper()
        name_w = min(max(len(e.key) for e in events) + 4, max_name_column_width)
        shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_column_width)
        headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
        if has_device:
            headers += [f"Self {device}", f"Self {device} %", f"{device} total", f"{device} time avg"]
        if self._profile_memory:
            headers += ["CPU Mem", "Self CPU Mem"]
            if any(e.device_memory_usage for e in events):
                headers += [f"{device} Mem", f"Self {device} Mem"]
        headers.append("# of Calls")
        widths = [name_w] + [12] * (len(headers) - 1)
        if has_shapes:
            headers.append("Input Shapes")
            widths.append(shapes_w)
        row = "".join("{:>" + str(w) + "}  " for w in widths)
        sep = "".join("-" * w + "  " for w in widths)

        def fmt(us: float) -> str:
            scale = {"s": 1e6, "ms": 1e3, "us": 1.0}.get(time_unit or "")
            return _format_time(us) if scale is None else f"{us / scale:.3f}{time_unit}"

        total_self = sum(e.self_cpu_time_total for e in events)
        total_device = sum(e.self_device_time_total for e in events if not e.is_user_annotation)
        lines = []
        if header is not None:
            lines += ["=" * (sum(widths) + 2 * len(widths) - 2), header]
        if top_level_events_only:
            lines += ["=" * (sum(widths) + 2 * len(widths) - 2), "This report only display top-level ops statistics"]
        lines += [sep, row.format(*headers), sep]
        shown = 0
        for e in events:
            if shown == row_limit:
                break
            if top_level_events_only and e.cpu_parent is not None:
                continue
            shown += 1
            name = e.key if len(e.key) < name_w - 3 else e.key[: max_name_column_width - 3] + "..."
            values: list[Any] = [name, _format_share(e.self_cpu_time_total, total_self), fmt(e.self_cpu_time_total)]
            values += [_format_share(e.cpu_time_total, total_self), fmt(e.cpu_time_total), fmt(e.cpu_time)]
            if has_device:
                values += [fmt(e.self_device_time_total), _format_share(e.self_device_time_total, total_device)]
                values += [fmt(e.device_time_total), fmt(e.device_time)]
            if self._profile_memory:
                values += [_format_memory(e.cpu_memory_usage), _format_memory(e.self_cpu_memory_usage)]
                if f"{device} Mem" in headers:
                    values += [_format_memory(e.device_memory_usage), _format_memory(e.self_device_memory_usage)]
            values.append(e.count)
            if has_shapes:
                values.append(str(e.input_shapes)[:shapes_w])
            lines.append(row.format(*values))
        lines += [sep, f"Self CPU time total: {fmt(total_self)}"]
        if has_device:
            lines.append(f"Self {device} time total: {fmt(total_device)}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.table()

    def export_chrome_trace(self, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
        """Write the events as a Chrome trace (``chrome://tracing``, Perfetto; gzip when ``path`` ends in
        ``.gz``), atomically: into a temporary file beside ``path``, then renamed over it."""
        write_chrome_trace(self, path, metadata)


def write_chrome_trace(events: Iterable[Any], path: str | os.PathLike[str], metadata: dict[str, Any] | None) -> None:
    """``events`` as a Chrome trace JSON at ``path``, written atomically (temporary file, then rename)."""
    pid = os.getpid()
    trace: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "process_labels", "pid": pid, "tid": 0, "args": {"labels": "CPU"}},
    ]
    threads = sorted({e.thread for e in events})
    for tid in threads:
        trace.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": f"thread {tid}"}})
    for e in events:
        args: dict[str, Any] = {"External id": e.id}
        if e.input_shapes:
            args["Input Dims"] = e.input_shapes
        if e.device_type != "cpu" and not e.is_user_annotation:
            args["device"] = e.device_type
        trace.append(
            {
                "ph": "X",
                "cat": "user_annotation" if e.is_user_annotation else "cpu_op",
                "name": e.trace_name,
                "pid": pid,
                "tid": e.thread,
                "ts": e.time_range.start,
                "dur": e.time_range.elapsed_us(),
                "args": args,
            }
        )
    doc = {
        "schemaVersion": 1,
        "deviceProperties": [],
        "displayTimeUnit": "ms",
        "baseTimeNanoseconds": getattr(events, "base_time_ns", 0),
        **(metadata or {}),
        "traceEvents": trace,
    }
    data = json.dumps(doc).encode()
    path = os.fspath(path)
    if path.endswith(".gz"):
        data = gzip.compress(data)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
