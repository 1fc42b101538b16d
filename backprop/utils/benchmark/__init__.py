"""``bp.utils.benchmark`` (torch.utils.benchmark): ``Timer`` over the standard library's ``timeit``, its
``Measurement`` (median, IQR, torch's repr) and ``Compare`` (torch's table of medians).

Statements run with ``bp`` and ``torch`` bound to backprop (torch's Timer binds ``torch``), so pasted
benchmark strings run unchanged; ``num_threads`` limits the BLAS NumPy loaded while timing.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
import timeit as _timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Compare", "Measurement", "TaskSpec", "Timer", "select_unit", "trim_sigfig"]


@dataclass(frozen=True)
class TaskSpec:
    """What a Timer measures (statement, setup, labels, threads), shared by its Measurements."""

    stmt: str
    setup: str
    global_setup: str = ""
    label: str | None = None
    sub_label: str | None = None
    description: str | None = None
    env: str | None = None
    num_threads: int = 1

    @property
    def title(self) -> str:
        """The label (with its sub-label), else the statement: the first line of a Measurement's repr."""
        sub = f": {self.sub_label}" if self.sub_label else ""
        if self.label is not None:
            return self.label + sub
        if "\n" not in self.stmt:
            return self.stmt + sub
        return f"stmt:{f' ({self.sub_label})' if self.sub_label else ''}\n{textwrap.indent(self.stmt, '  ')}"

    def setup_str(self) -> str:
        """``setup: ...`` as the repr shows it (empty for ``pass``)."""
        if self.setup in ("", "pass"):
            return ""
        return f"setup:\n{textwrap.indent(self.setup, '  ')}" if "\n" in self.setup else f"setup: {self.setup}"

    def summarize(self) -> str:
        """Title, description and setup, one per line."""
        sections = [self.title, self.description or "", self.setup_str()]
        return "\n".join(f"{s}\n" if "\n" in s else s for s in sections if s)


def select_unit(t: float) -> tuple[str, float]:
    """The unit (ns, us, ms, s) that shows ``t`` seconds with a magnitude of 1 to 999, and its scale."""
    power = math.floor(math.log10(t)) // 3 if t > 0 else -3
    unit = {-3: "ns", -2: "us", -1: "ms"}.get(power, "s")
    return unit, {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def trim_sigfig(x: float, n: int) -> float:
    """``x`` rounded to ``n`` significant figures (3.14159, 2 -> 3.1)."""
    if x == 0:
        return 0.0
    scale = 10.0 ** (math.ceil(math.log10(abs(x))) - n)
    return float(round(x / scale) * scale)


@dataclass(repr=False)
class Measurement:
    """The times of one Timer run: ``raw_times`` are per block of ``number_per_run`` executions."""

    number_per_run: int
    raw_times: list[float]
    task_spec: TaskSpec
    metadata: dict[Any, Any] | None = None
    _sorted: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not self.raw_times or self.number_per_run < 1:
            raise ValueError(
                f"Measurement: expected at least one time and number_per_run >= 1, got {len(self.raw_times)} "
                f"times and number_per_run={self.number_per_run}"
            )
        self._sorted = np.sort(np.asarray(self.times, dtype=np.float64))

    @property
    def times(self) -> list[float]:
        """Seconds per single execution, one entry per measured block."""
        return [t / self.number_per_run for t in self.raw_times]

    @property
    def median(self) -> float:
        """Median seconds per execution."""
        return float(np.quantile(self._sorted, 0.5))

    @property
    def mean(self) -> float:
        """Mean seconds per execution."""
        return float(self._sorted.mean())

    @property
    def iqr(self) -> float:
        """Interquartile range (75th minus 25th percentile) of the per-execution times."""
        return float(np.quantile(self._sorted, 0.75) - np.quantile(self._sorted, 0.25))

    @property
    def significant_figures(self) -> int:
        """How many figures of the median the spread of the middle half supports (1 to 4), as torch."""
        n = len(self._sorted)
        middle = self._sorted[n // 4 : math.ceil(3 * n / 4)]
        ci = max(1.645 * float(middle.std()) / math.sqrt(len(middle)), 1e-9)
        return min(max(math.floor(math.log10(self.median / ci)), 1), 4)

    def meets_confidence(self, threshold: float = 0.1) -> bool:
        """True when the IQR is under ``threshold`` times the median."""
        return self.iqr / self.median < threshold

    @property
    def has_warnings(self) -> bool:
        """True when the IQR is 10% of the median or more (a noisy measurement)."""
        return not self.meets_confidence(0.1)

    def __getattr__(self, name: str) -> Any:
        if name in TaskSpec.__dataclass_fields__ or name == "title":  # label, stmt, num_threads, ... as torch
            return getattr(self.task_spec, name)
        raise AttributeError(f"'Measurement' object has no attribute {name!r}")

    def __repr__(self) -> str:
        n = len(self._sorted)
        unit, scale = select_unit(self.median)
        p25, p75 = np.quantile(self._sorted, [0.25, 0.75])
        threads = self.task_spec.num_threads
        lines = [object.__repr__(self), self.task_spec.summarize()]
        lines.append(f"  {'Median: ' if n > 1 else ''}{self.median / scale:.2f} {unit}")
        if n >= 4:
            lines.append(f"  IQR:    {self.iqr / scale:.2f} {unit} ({p25 / scale:.2f} to {p75 / scale:.2f})")
        lines.append(
            f"  {n} measurement{'s' if n > 1 else ''}, {self.number_per_run} runs "
            f"{'per measurement,' if n > 1 else ','} {threads} thread{'s' if threads > 1 else ''}"
        )
        if self.has_warnings:
            why = (
                "This suggests significant environmental influence."
                if not self.meets_confidence(0.25)
                else "This could indicate system fluctuation."
            )
            lines.append(
                f"  WARNING: Interquartile range is {100 * self.iqr / self.median:.1f}% of the median measurement.\n"
                f"           {why}"
            )
        return "\n".join(line for line in "\n".join(lines).splitlines() if line.strip() or line == "")


@contextlib.contextmanager
def _threads(num: int) -> Iterator[None]:
    """Limit NumPy's BLAS to ``num`` threads while timing (threadpoolctl), restoring the previous count."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=num, user_api="blas"):
        yield


class Timer:
    """Time ``stmt`` after ``setup`` (strings or callables) in ``globals``, as torch.utils.benchmark.Timer."""

    def __init__(
        self,
        stmt: str | Callable[[], Any] = "pass",
        setup: str | Callable[[], Any] = "pass",
        global_setup: str = "",
        timer: Callable[[], float] = _timeit.default_timer,
        globals: dict[str, Any] | None = None,  # noqa: A002 - torch's name
        label: str | None = None,
        sub_label: str | None = None,
        description: str | None = None,
        env: str | None = None,
        num_threads: int = 1,
    ) -> None:
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"Timer: num_threads must be a positive int, got {num_threads!r}")
        import backprop

        scope = {"bp": backprop, "torch": backprop, **(globals or {})}
        self._timer = _timeit.Timer(stmt, setup, timer=timer, globals=scope)
        self._task_spec = TaskSpec(
            stmt=stmt if isinstance(stmt, str) else getattr(stmt, "__name__", repr(stmt)),
            setup=setup if isinstance(setup, str) else getattr(setup, "__name__", repr(setup)),
            global_setup=global_setup,
            label=label,
            sub_label=sub_label,
            description=description,
            env=env,
            num_threads=num_threads,
        )

    def _timeit(self, number: int) -> float:
        return max(self._timer.timeit(number), 1e-9)  # a zero would break the unit and sig-fig logs

    def timeit(self, number: int = 1000000) -> Measurement:
        """One block of ``number`` executions (after one warm-up run), as a single measurement."""
        if not isinstance(number, int) or number < 1:
            raise ValueError(f"Timer.timeit: number must be a positive int, got {number!r}")
        with _threads(self._task_spec.num_threads):
            self._timeit(max(number // 100, 2))  # warm-up, as torch
            return Measurement(number, [self._timeit(number)], self._task_spec)

    def _block_size(self, min_run_time: float) -> int:
        """Executions per block: enough that the timer's own overhead is negligible (also warms up)."""
        overhead = float(np.median([self._timeit(0) for _ in range(5)]))
        number = 1
        while True:
            taken = self._timeit(number)
            if (overhead / taken <= 1e-4 and taken >= min_run_time / 1000) or taken > min_run_time:
                return number
            if number * 10 > 2147483647:
                return number
            number *= 10

    def _loop(
        self, number: int, stop: Callable[[list[float]], bool], min_run_time: float, max_run_time: float | None
    ) -> list[float]:
        times: list[float] = []
        total, can_stop = 0.0, False
        while total < min_run_time or not can_stop:
            times.append(self._timeit(number))
            total += times[-1]
            can_stop = stop(times)
            if max_run_time and total > max_run_time:
                break
        return times

    def blocked_autorange(
        self, callback: Callable[[int, float], Any] | None = None, min_run_time: float = 0.2
    ) -> Measurement:
        """Blocks of a calibrated size, repeated until ``min_run_time`` seconds are spent."""
        with _threads(self._task_spec.num_threads):
            number = self._block_size(min_run_time)
            times = self._loop(number, lambda t: True, min_run_time, None)
        if callback is not None:
            for t in times:
                callback(number, t)
        return Measurement(number, times, self._task_spec)

    def adaptive_autorange(
        self,
        threshold: float = 0.1,
        *,
        min_run_time: float = 0.01,
        max_run_time: float = 10.0,
        callback: Callable[[int, float], Any] | None = None,
    ) -> Measurement:
        """Blocks until the IQR is under ``threshold`` times the median (at least 4 blocks and
        ``min_run_time`` seconds; at most ``max_run_time``)."""

        def stable(times: list[float]) -> bool:
            if len(times) < 4:
                return False
            q25, q50, q75 = np.quantile(times, [0.25, 0.5, 0.75])
            return bool((q75 - q25) / q50 < threshold)

        with _threads(self._task_spec.num_threads):
            number = self._block_size(min_run_time=0.05)
            times = self._loop(number, stable, min_run_time, max_run_time)
        if callback is not None:
            for t in times:
                callback(number, t)
        return Measurement(number, times, self._task_spec)


_UNIT_NAMES = {"ns": "nanoseconds", "us": "microseconds", "ms": "milliseconds", "s": "seconds"}


class Compare:
    """A table of medians per label: rows are (threads, sub_label), columns descriptions, as torch's
    ``Compare`` prints it (replicates of one task are merged)."""

    def __init__(self, results: list[Measurement]) -> None:
        self._results: list[Measurement] = []
        self._trim = False
        self.extend_results(results)

    def extend_results(self, results: list[Measurement]) -> None:
        """Add more measurements (each must be a ``Measurement``)."""
        for r in results:
            if not isinstance(r, Measurement):
                raise ValueError(f"Compare: expected an instance of `Measurement`, got {type(r)} instead.")
        self._results.extend(results)

    def trim_significant_figures(self) -> None:
        """Show each median only to the figures its spread supports."""
        self._trim = True

    def colorize(self, rowwise: bool = False) -> None:
        """Accepted for torch's API; tables print without colour here."""

    def highlight_warnings(self) -> None:
        """Accepted for torch's API; noisy cells are not marked here."""

    def print(self) -> None:
        """Print the tables."""
        print(str(self))

    def __str__(self) -> str:
        groups: dict[str | None, list[Measurement]] = {}
        for m in _merge(self._results):
            groups.setdefault(m.task_spec.label, []).append(m)
        return "\n".join(self._table(label, ms) for label, ms in groups.items())

    def _table(self, label: str | None, results: list[Measurement]) -> str:
        unit, scale = select_unit(min(m.median for m in results))
        rows = list(dict.fromkeys((m.task_spec.num_threads, _row_name(m)) for m in results))
        rows.sort(key=lambda r: r[0])
        cols = list(dict.fromkeys(m.task_spec.description for m in results))
        cell = {((m.task_spec.num_threads, _row_name(m)), m.task_spec.description): m for m in results}
        digits = {c: self._decimals([cell[r, c] for r in rows if (r, c) in cell], scale) for c in cols}
        grid = [["", *[c or "" for c in cols]]]
        for r in rows:
            line = [f"      {r[1]}"]
            for c in cols:
                m = cell.get((r, c))
                value = "" if m is None else self._number(m, scale, digits[c])
                line.append(value)
            grid.append(line)
        widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
        header = "  |  ".join(text.center(w) for text, w in zip(grid[0], widths))
        out, prior = [header], None
        for r, row in zip(rows, grid[1:]):
            if r[0] != prior:
                out.append(f"{r[0]} threads: ".ljust(len(header), "-"))
                prior = r[0]
            out.append("  |  ".join([row[0].ljust(widths[0]), *(t.center(w) for t, w in zip(row[1:], widths[1:]))]))
        title = f"[{(' ' + (label or '') + ' ').center(len(header) - 2, '-')}]"
        return f"{title}\n" + "\n".join(out) + f"\n\nTimes are in {_UNIT_NAMES[unit]} ({unit}).\n"

    def _decimals(self, column: list[Measurement], scale: float) -> int:
        if not self._trim:
            return 1
        lead = [math.ceil(math.log10(m.median / scale)) for m in column]
        return min(max(m.significant_figures - d, 0) for m, d in zip(column, lead))

    def _number(self, m: Measurement, scale: float, decimals: int) -> str:
        value = m.median / scale
        if self._trim:
            value = trim_sigfig(value, m.significant_figures)
        return f"{value:.{decimals}f}"


def _row_name(m: Measurement) -> str:
    return m.task_spec.sub_label or m.task_spec.stmt or "[Unknown]"


def _merge(results: list[Measurement]) -> list[Measurement]:
    """One Measurement per task: replicates' per-execution times pooled (number_per_run 1), as torch."""
    groups: dict[TaskSpec, list[Measurement]] = {}
    for m in results:
        groups.setdefault(m.task_spec, []).append(m)
    return [
        g[0] if len(g) == 1 else Measurement(1, [t for m in g for t in m.times], spec) for spec, g in groups.items()
    ]
