"""Errors ordinary torch code relies on (``pytest.raises(RuntimeError)``, ``except RuntimeError``): the
same exception class as torch's (ours are also the ValueError/ZeroDivisionError they used to be), with
torch's wording; and torch's leniency where it accepts an input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import backprop as bp

try:
    import torch
except ImportError:
    torch = None

CASES: dict[str, Callable[[Any], Any]] = {
    "item of two": lambda L: L.ones(2).item(),
    "bool of two": lambda L: bool(L.ones(2)),
    "bool of none": lambda L: bool(L.ones(0)),
    "stack sizes": lambda L: L.stack([L.ones(2), L.ones(3)]),
    "int floor division by zero": lambda L: L.tensor([1]) // L.tensor([0]),
    "int remainder by zero": lambda L: L.tensor([1]) % 0,
    "int fmod by zero": lambda L: L.fmod(L.tensor([3]), L.tensor([0])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_runtime_errors(case: str) -> None:
    with pytest.raises(RuntimeError) as ours:
        CASES[case](bp)
    if torch is not None:
        with pytest.raises(RuntimeError) as theirs:
            CASES[case](torch)
        assert str(ours.value) == str(theirs.value)


def test_int_and_float_of_many_elements_are_value_errors() -> None:
    for convert in (int, float):
        with pytest.raises(ValueError, match="only one element tensors"):
            convert(bp.ones(2))


def test_float_division_by_zero_and_one_element_targets_pass() -> None:
    assert bp.isinf(bp.tensor([1.0]) // bp.tensor([0.0])).all()
    scores = bp.tensor([1.0, 2.0, 3.0])
    one = bp.nn.functional.nll_loss(scores, bp.tensor([0]))  # (C,) scores with a (1,) target: torch's leniency
    assert one.shape == () and one.item() == -1.0
    assert bp.nn.functional.cross_entropy(scores, bp.tensor([2])).item() == pytest.approx(0.40760596)
