"""Rows of the ``backprop.ops.reduction`` ops."""

from __future__ import annotations

from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

CASES: dict[str, list[Case]] = {
    "sum": reduce_cases(),
    "mean": reduce_cases(),
    "amax": reduce_cases(),
    "amin": reduce_cases(),
    "var": reduce_cases() + [Case([R(2, 3, 4)], {"axis": 1, "correction": 0})],
    "logsumexp": reduce_cases(),
}
