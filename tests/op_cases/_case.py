"""One row of the op table, and the small helpers that make input specs.

A row says how to build the inputs (float64 random tensors that require grad, positive ones for
``log``, integer or boolean constants, ...), how to call the op (straight through the registry with
``attrs``, or ``fn`` for calls that need Python scalars), and the forward reference ``ref``: a
NumPy (or closed-form) function of the same inputs as NumPy arrays, plus the attrs when ``fn`` is
not given. ``test_forward`` compares the op with ``ref``; ``test_gradcheck`` / ``test_gradgradcheck``
check its derivatives against finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Case:
    inputs: list  # input specs: R(shape), P(shape), A(shape), U(shape), K(value), I(lo, hi, shape), B(shape)
    attrs: dict = field(default_factory=dict)
    fn: Callable[..., Any] | None = None  # fn(op, *tensors): overrides apply(op, *tensors, **attrs)
    ref: Callable[..., Any] | None = None  # ref(*arrays, **attrs) (or ref(*arrays) with fn): the expected output
    atol: float = 1e-5
    rtol: float = 1e-3
    eps: float = 1e-6
    grad: bool = True  # False: forward only (e.g. a non-differentiable point, integer outputs)


def R(*shape: int) -> tuple:  # noqa: N802 - short table helpers
    """Standard normal float64 values that require grad."""
    return shape


def P(*shape: int) -> tuple:  # noqa: N802
    """Positive values in [0.5, 2] (log, sqrt, pow bases)."""
    return ("pos", shape)


def A(*shape: int) -> tuple:  # noqa: N802
    """Magnitudes in [0.3, 1.5] of either sign: kinks at 0 are never crossed by eps."""
    return ("away0", shape)


def U(*shape: int) -> tuple:  # noqa: N802
    """Values in (0.05, 0.95) (probabilities)."""
    return ("unit", shape)


def K(value: Any) -> tuple:  # noqa: N802
    """A constant input (no grad), exactly ``value``."""
    return ("const", np.asarray(value))


def I(lo: int, hi: int, *shape: int) -> tuple:  # noqa: N802, E743
    """A constant int64 tensor with values in [lo, hi)."""
    return ("int", (lo, hi, shape))


def B(*shape: int) -> tuple:  # noqa: N802
    """A constant random bool tensor."""
    return ("bool", shape)


UNARY_SHAPES = [(), (3,), (2, 3)]


def unary(*extra_attrs: dict, maker: Callable[..., tuple] = R, ref: Callable[..., Any] | None = None) -> list[Case]:
    """Rows for a unary op on a scalar, a vector and a matrix, once per attrs dict."""
    attrs_list = extra_attrs or ({},)
    return [Case([maker(*s)], dict(a), ref=ref) for s in UNARY_SHAPES for a in attrs_list]


def binary(ref: Callable[..., Any], maker_x: Callable[..., tuple] = R, maker_y: Callable[..., tuple] = R) -> list[Case]:
    """Same shape, broadcasting both ways, a 0-d operand, and a Python scalar on either side."""
    return [
        Case([maker_x(2, 3), maker_y(2, 3)], ref=ref),
        Case([maker_x(2, 1, 3), maker_y(4, 1)], ref=ref),
        Case([maker_x(3), maker_y(2, 3)], ref=ref),
        Case([maker_x(), maker_y(2, 3)], ref=ref),
        Case([maker_x(2, 3)], fn=lambda op, x: _apply(op, x, 1.7), ref=lambda x: ref(x, 1.7)),
        Case([maker_y(2, 3)], fn=lambda op, y: _apply(op, 1.3, y), ref=lambda y: ref(1.3, y)),
    ]


REDUCE_ATTRS = [
    {},
    {"axis": 1},
    {"axis": -1, "keepdims": True},
    {"axis": (0, 2)},
    {"axis": (0, 2), "keepdims": True},
]


def reduce_cases(
    ref: Callable[..., Any] | None = None, maker: Callable[..., tuple] = R, attrs: list = REDUCE_ATTRS
) -> list[Case]:
    """A (2, 3, 4) input reduced over nothing-given, one axis, negative axis, two axes, keepdims."""
    return [Case([maker(2, 3, 4)], dict(a), ref=ref) for a in attrs]


def _apply(op: Any, *args: Any, **attrs: Any) -> Any:
    from backprop.autograd.function import apply

    return apply(op, *args, **attrs)
