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
    "label_smoothing above 1": lambda L: L.nn.CrossEntropyLoss(label_smoothing=1.5)(L.ones(2, 3), L.tensor([0, 1])),
    "label_smoothing of 2": lambda L: L.nn.functional.cross_entropy(L.ones(2, 3), L.ones(2, 3), label_smoothing=2.0),
    # add/sub's alpha: a float alpha needs a float result (torch checks it even when alpha == 1.0)
    "add float alpha on ints": lambda L: L.tensor([1, 2]).add(L.tensor([1, 2]), alpha=0.5),
    "add alpha 1.0 on ints": lambda L: L.add(L.tensor([1, 2]), 1, alpha=1.0),
    "sub float alpha on ints": lambda L: L.tensor([1, 2]).sub(1, alpha=1.0),
    "add_ float alpha on ints": lambda L: L.tensor([1, 2]).add_(L.tensor([3]), alpha=2.0),
    "sub_ float alpha on ints": lambda L: L.tensor([1, 2]).sub_(1, alpha=0.5),
    "rsub float alpha on ints": lambda L: L.rsub(L.tensor([1, 2]), 1, alpha=2.0),
    "add 0-dim float tensor alpha on ints": lambda L: L.tensor([1, 2]).add(1, alpha=L.tensor(0.5)),
    "add bool alpha on floats": lambda L: L.tensor([1.0]).add(1, alpha=True),
    "add complex alpha on floats": lambda L: L.tensor([1.0]).add(1, alpha=1j),
}
RUNTIME_ONLY: dict[str, Callable[[Any], Any]] = {  # (the class as torch's; our wording may differ)
    "view of a transpose": lambda L: L.ones(2, 3).t().view(6),
    "setitem shape": lambda L: L.ones(3).__setitem__(slice(None), L.ones(2)),
    "chunk 0": lambda L: L.ones(5).chunk(0),
    "where int condition": lambda L: L.where(L.tensor([1, 0]), L.ones(2), L.zeros(2)),
    "linspace negative steps": lambda L: L.linspace(0, 1, -1),
    "arange step sign": lambda L: L.arange(0, 10, -1),
    "zeros negative": lambda L: L.zeros(-1),
    "softmax of ints": lambda L: L.tensor([1, 2]).softmax(0),
    "layer_norm shape": lambda L: L.nn.functional.layer_norm(L.ones(2, 3), (4,)),
    "embedding float ids": lambda L: L.nn.Embedding(3, 2)(L.tensor([0.0])),
    "one_hot negative": lambda L: L.nn.functional.one_hot(L.tensor([-1]), 3),
    "one_hot float": lambda L: L.nn.functional.one_hot(L.tensor([1.0]), 3),
}


@pytest.mark.parametrize("case", sorted(RUNTIME_ONLY))
def test_runtime_error_classes(case: str) -> None:
    with pytest.raises(RuntimeError):
        RUNTIME_ONLY[case](bp)
    if torch is not None:
        with pytest.raises(RuntimeError):
            RUNTIME_ONLY[case](torch)


def test_view_shares_memory_or_refuses() -> None:
    """``view`` never copies: where the strides allow it, writes through the view reach the base."""
    x = bp.zeros(4, 4)
    v = x[:, ::2].view(8)
    v[0] = 5.0
    assert x[0, 0].item() == 5.0
    assert x.t().reshape(16).shape == (16,)  # (reshape copies instead)


def test_add_module_checks_names_and_types() -> None:
    m = bp.nn.Module()
    with pytest.raises(KeyError, match='contain "[.]"'):
        m.add_module("a.b", bp.nn.ReLU())
    with pytest.raises(KeyError, match="empty"):
        m.add_module("", bp.nn.ReLU())
    with pytest.raises(TypeError, match="not a Module"):
        m.add_module("x", 3)
    m.add_module("ok", None)
    assert "ok" in m._modules


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


def test_alpha_that_fits_the_result_passes() -> None:
    assert bp.tensor([1, 2]).add(bp.tensor([1, 2]), alpha=3).tolist() == [4, 8]
    assert bp.tensor([1, 2]).add(1, alpha=bp.tensor(2)).tolist() == [3, 4]
    assert bp.tensor([1, 2]).add(bp.tensor([1.0, 2.0]), alpha=1.5).tolist() == [2.5, 5.0]  # (a float result)
    assert bp.tensor([1.0, 2.0]).sub(1, alpha=0.5).tolist() == [0.5, 1.5]
    assert bp.tensor([True]).add(bp.tensor([True]), alpha=True).tolist() == [True]
    x = bp.tensor([1.0, 2.0])
    x.add_(bp.tensor([2.0, 2.0]), alpha=0.25)
    assert x.tolist() == [1.5, 2.5]


def test_float_division_by_zero_and_one_element_targets_pass() -> None:
    assert bp.isinf(bp.tensor([1.0]) // bp.tensor([0.0])).all()
    scores = bp.tensor([1.0, 2.0, 3.0])
    one = bp.nn.functional.nll_loss(scores, bp.tensor([0]))  # (C,) scores with a (1,) target: torch's leniency
    assert one.shape == () and one.item() == -1.0
    assert bp.nn.functional.cross_entropy(scores, bp.tensor([2])).item() == pytest.approx(0.40760596)


def test_negative_label_smoothing_is_no_smoothing() -> None:
    """torch checks only the upper bound: a negative ``label_smoothing`` smooths nothing."""
    x = bp.tensor([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    t = bp.tensor([0, 2])
    plain = bp.nn.functional.cross_entropy(x, t).item()
    assert plain == pytest.approx(0.76757151)
    assert bp.nn.functional.cross_entropy(x, t, label_smoothing=-0.1).item() == pytest.approx(plain)
    probs = bp.softmax(2 * x, 1)
    assert bp.nn.CrossEntropyLoss(label_smoothing=-2.0)(x, probs).item() == pytest.approx(
        bp.nn.functional.cross_entropy(x, probs).item()
    )
    assert bp.nn.functional.cross_entropy(x, t, label_smoothing=0.3).item() == pytest.approx(1.08757150)


@pytest.mark.parametrize(
    "name", ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "row_stack"]
)
def test_one_tensor_where_a_sequence_belongs_is_torchs_type_error(name: str) -> None:
    """Iterating a tensor would silently join its rows: torch refuses, with its TypeError, and so do we."""
    with pytest.raises(TypeError) as ours:
        getattr(bp, name)(bp.ones(2, 3))
    assert str(ours.value) == f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"
    if torch is not None:
        with pytest.raises(TypeError) as theirs:
            getattr(torch, name)(torch.ones(2, 3))
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.ones(2, 3).permute(0, 2),  # IndexError: Dimension out of range ...
        lambda L: L.ones(2, 3).permute(-3, 0),
        lambda L: L.eye(-1),  # RuntimeError: n must be greater or equal to 0, got -1
        lambda L: L.eye(2, -3),
        lambda L: L.ones(2).new_ones(-1),  # RuntimeError: Trying to create tensor with negative dimension ...
        lambda L: L.ones(2).new_zeros((2, -2)),
    ],
)
def test_dims_out_of_range_and_negative_sizes_as_torch(case: Any) -> None:
    """torch's exception class (ours is an instance of it) and its message."""
    with pytest.raises(Exception) as ours:
        case(bp)
    if torch is None:
        assert isinstance(ours.value, (IndexError, RuntimeError))
        return
    with pytest.raises(Exception) as theirs:
        case(torch)
    assert isinstance(ours.value, type(theirs.value)) and str(ours.value) == str(theirs.value)
