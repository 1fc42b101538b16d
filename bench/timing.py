"""The timing loop both bench workers share (imports nothing numeric, so torch's worker stays free
of our library)."""

from __future__ import annotations

import time
from collections.abc import Callable

WARMUP = 3


def time_steps(step: Callable[[], None], reps: int, warmup: int = WARMUP) -> list[float]:
    """``reps`` wall-clock times of ``step()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times
