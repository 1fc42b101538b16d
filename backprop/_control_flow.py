"""``bp.cond`` and ``bp.while_loop`` (torch's control-flow operators), with torch's eager semantics.

In eager torch both run Python: ``cond`` calls one branch on the operands, ``while_loop`` calls its
body until the condition is false. Autograd flows through whatever the chosen code computes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["cond", "while_loop"]


def _predicate(pred: Any, what: str) -> bool:
    """A Python bool from a bool, a number or a one-element tensor (torch's error otherwise)."""
    if hasattr(pred, "numel") and hasattr(pred, "item"):
        if pred.numel() != 1:
            raise RuntimeError(f"Expected {what} to be bool or single-element tensor, but got {pred}.")
        return bool(pred.item())
    if isinstance(pred, (bool, int, float)):
        return bool(pred)
    raise RuntimeError(f"Expected {what} to be bool or single-element tensor, but got {pred}.")


def cond(
    pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], operands: tuple | list | Any = ()
) -> Any:
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``."""
    branch = true_fn if _predicate(pred, "pred") else false_fn
    return branch(*tuple(operands))


def while_loop(cond_fn: Callable[..., Any], body_fn: Callable[..., Any], carried_inputs: tuple | list) -> tuple:
    """Run ``carried = body_fn(*carried)`` while ``cond_fn(*carried)``; returns the final carried values."""
    if not isinstance(carried_inputs, (tuple, list)):
        raise RuntimeError(f"carried_inputs must be a tuple or list, got {type(carried_inputs).__name__}")
    carried = tuple(carried_inputs)
    while _predicate(cond_fn(*carried), "cond_fn's output"):
        out = body_fn(*carried)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(out) != len(carried):
            raise RuntimeError(f"body_fn must return as many values as carried_inputs ({len(carried)}), got {len(out)}")
        carried = out
    return carried
