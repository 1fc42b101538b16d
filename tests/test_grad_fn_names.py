"""``grad_fn.name()`` as torch names the same computation: indexing by its last step (Select, Slice,
Index, Unsqueeze), ``linear``/``matmul`` by shape (Addmm, Mm, Dot, Mv), ``cross_entropy`` as NllLoss,
casts as ToCopy, reductions with a dim as their ``...Backward1``; checked against torch."""

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
    "x[0]": lambda t: t.x[0],
    "x[1:]": lambda t: t.x[1:],
    "x[:, 0]": lambda t: t.x[:, 0],
    "x[0, 1:]": lambda t: t.x[0, 1:],
    "x[idx]": lambda t: t.x[t.lib.tensor([0, 1])],
    "x[mask]": lambda t: t.x[t.x > 0],
    "x[None]": lambda t: t.x[None],
    "x[:]": lambda t: t.x[:],
    "x[...]": lambda t: t.x[...],
    "x[:, [1, 2]]": lambda t: t.x[:, [1, 2]],
    "linear 2-D + bias": lambda t: t.F.linear(t.x, t.w, t.b),
    "linear 2-D": lambda t: t.F.linear(t.x, t.w),
    "linear 3-D + bias": lambda t: t.F.linear(t.x3, t.w, t.b),
    "linear 3-D": lambda t: t.F.linear(t.x3, t.w),
    "mm": lambda t: t.x @ t.w.T,
    "dot": lambda t: t.v @ t.v,
    "mv": lambda t: t.x @ t.v,
    "bmm": lambda t: t.x3 @ t.x3.transpose(1, 2),
    "cross_entropy": lambda t: t.F.cross_entropy(t.x, t.lib.tensor([0, 1, 2])),
    "cross_entropy smoothing": lambda t: t.F.cross_entropy(t.x, t.lib.tensor([0, 1, 2]), label_smoothing=0.1),
    "double()": lambda t: t.x.double(),
    "view": lambda t: t.x.view(12),
    "sum": lambda t: t.x.sum(),
    "sum(dim)": lambda t: t.x.sum(1),
    "mean(dim)": lambda t: t.x.mean(0),
    "squeeze(dim)": lambda t: t.x[None].squeeze(0),
    "unsqueeze": lambda t: t.x.unsqueeze(0),
    "clamp": lambda t: t.x.clamp(0, 1),
    "norm": lambda t: t.x.norm(),
    "mul": lambda t: t.x * 2,
    "relu": lambda t: t.x.relu(),
}


class _Inputs:
    def __init__(self, lib: Any) -> None:
        self.lib, self.F = lib, lib.nn.functional
        self.x = lib.ones(3, 4, requires_grad=True)
        self.x3 = lib.ones(2, 3, 4, requires_grad=True)
        self.w = lib.ones(5, 4, requires_grad=True)
        self.b = lib.ones(5, requires_grad=True)
        self.v = lib.ones(4, requires_grad=True)


def test_names_without_torch() -> None:
    t = _Inputs(bp)
    assert CASES["x[0]"](t).grad_fn.name() == "SelectBackward0"
    assert CASES["linear 2-D + bias"](t).grad_fn.name() == "AddmmBackward0"
    assert CASES["cross_entropy"](t).grad_fn.name() == "NllLossBackward0"
    assert CASES["mul"](t).grad_fn.name() == "MulBackward0"


@pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")
@pytest.mark.parametrize("case", sorted(CASES))
def test_names_match_torch(case: str) -> None:
    ours, theirs = CASES[case](_Inputs(bp)), CASES[case](_Inputs(torch))
    assert ours.grad_fn.name() == theirs.grad_fn.name()
