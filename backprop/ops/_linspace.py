"""torch's CPU ``linspace`` values, bit for bit (``bp.linspace``, and ``histogram``'s bin edges, which torch makes
with ``linspace`` in the input's dtype)."""

from __future__ import annotations

from typing import Any

import numpy as np


def fused_linspace(start: float, end: float, steps: int, dt: Any) -> Any:
    """torch's CPU linspace of float32/float64 (and, in float64, of the integer dtypes before truncation):
    ``step = (end - start) / (steps - 1)`` in the dtype, then ``start + step * i`` for the first half and
    ``end - step * (steps - 1 - i)`` for the rest, each one fused multiply-add (GCC contracts the kernel's
    expressions: 16 of 30 float32 values of ``linspace(-3, 3, 30)`` differed from torch's when rounded twice)."""
    f = np.dtype(dt).type
    a, b = f(start), f(end)
    step = np.float64((b - a) / f(steps - 1))
    i = np.arange(steps)
    k = np.where(i < steps // 2, i, steps - 1 - i).astype(np.float64)
    c = np.where(i < steps // 2, np.float64(a), np.float64(b))
    m = np.where(i < steps // 2, step, -step)
    if f is np.float32:  # (a float32 product of an int below 2^29 is exact in float64: round the sum once)
        p = m * k
        s = p + c
        return _round_to_float32(s, (p - (s - (s - p))) + (c - (s - p)))
    return _fma64(m, k, c)


def _fma64(a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` rounded once, in float64 (NumPy has no fused multiply-add): Dekker's exact product and
    Knuth's exact sum, their errors added back before the last rounding."""
    p = a * b
    big = 134217729.0  # 2^27 + 1: Veltkamp's split into 26-bit halves
    ah = a * big - (a * big - a)
    bh = b * big - (b * big - b)
    al, bl = a - ah, b - bh
    ep = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    es = (p - (s - (s - p))) + (c - (s - p))
    return s + (ep + es)


def _round_to_float32(s: Any, e: Any) -> Any:
    """The float32 nearest the exact ``s + e`` (float64 ``s`` and its rounding error ``e``): ``s`` itself but where
    ``s`` lies on a float32 rounding boundary, there the side ``e`` points to (no double rounding)."""
    r = s.astype(np.float32)
    up, down = np.nextafter(s, np.inf).astype(np.float32), np.nextafter(s, -np.inf).astype(np.float32)
    boundary = (up != down) & (e != 0)
    return np.where(boundary, np.where(e > 0, up, down), r)


def half_linspace(start: float, end: float, steps: int, dt: Any) -> Any:
    """torch's CPU linspace of float16/bfloat16, each step in that dtype: step = (end - start) / (steps - 1),
    then start + step * i for the first half and end - step * (steps - 1 - i) for the rest (i itself
    rounded to the dtype)."""

    def h(v: Any) -> Any:
        return np.asarray(v, dtype=np.float32).astype(dt).astype(np.float32)

    lo, hi = h(start), h(end)
    step = h(h(hi - lo) / h(steps - 1))  # (the divisor an int made a BFloat16/Half first, as c10 does)
    i = np.arange(steps)
    up = h(lo + h(step * h(i)))
    down = h(hi - h(step * h(steps - 1 - i)))
    return np.where(i < steps // 2, up, down)
