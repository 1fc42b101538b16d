"""Parity with torch 2.13 for the Tensor API's indexing/view/scatter long tail: the layout (``stride()``,
``is_contiguous()``, so ``.view`` works) of what indexing, joining, scans and searches return, writes into
expanded tensors, ``index_fill``'s negative indices, ``scatter_reduce``'s ``"max"``/``"min"``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _picture(out: Any) -> list[tuple]:
    """Each tensor of ``out`` as (shape, dtype, values, strides, contiguous)."""
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [
        (
            tuple(o.shape),
            str(o.dtype).removeprefix("torch."),
            o.detach().numpy().tolist(),
            o.stride(),
            o.is_contiguous(),
        )
        for o in outs
    ]


def _same(case: Callable[[Any], Any]) -> None:
    """``case(lib)`` gives the same values, dtypes, shapes and strides under backprop and torch."""
    with warnings.catch_warnings():  # (torch's searchsorted warns about a non-contiguous input once per process)
        warnings.simplefilter("ignore", UserWarning)
        theirs = _picture(case(torch))
    assert _picture(case(bp)) == theirs


def _raises_same(case: Callable[[Any], Any]) -> None:
    """``case(lib)`` raises under both, an instance of torch's class with torch's message."""
    with pytest.raises(Exception) as theirs:
        case(torch)
    with pytest.raises(type(theirs.value)) as ours:
        case(bp)
    assert str(ours.value) == str(theirs.value)


def _x(lib: Any) -> Any:
    return lib.tensor(np.arange(60.0, dtype=np.float32).reshape(3, 4, 5) % 7)


# ---------------------------------------------------------------- contiguous results (torch's kernels return them)

ADVANCED = {
    "cols": lambda x, L: x[:, [0, 2]],
    "mask_dim1": lambda x, L: x[:, L.tensor([True, False, True, True])],
    "slice_then_list": lambda x, L: x[1:, [1, 2, 3]],
    "ellipsis_list": lambda x, L: x[..., [0, 1]],
    "int_slice_list": lambda x, L: x[0, :, [1, 2]],
    "none_list": lambda x, L: x[None, :, [1, 2]],
    "two_lists": lambda x, L: x[:, [0, 1], [2, 0]],
    "int32_index": lambda x, L: x[:, :, L.tensor([4, 0, -1], dtype=L.int32)],
    "list_of_lists": lambda x, L: x[1:, [[0, 1], [2, 0]]],
}


@pytest.mark.parametrize("name", sorted(ADVANCED))
def test_advanced_indexing_results_are_contiguous(name: str) -> None:
    index = ADVANCED[name]
    _same(lambda L: index(_x(L), L))
    _same(lambda L: index(_x(L), L).view(-1))  # (the view used to raise: NumPy's transposed layout)


JOINS = {
    "cat0": lambda a, L: L.cat([a, a + 1]),
    "cat1": lambda a, L: L.cat([a, a], 1),
    "stack0": lambda a, L: L.stack([a, a]),
    "stack2": lambda a, L: L.stack([a, a], 2),
    "hstack": lambda a, L: L.hstack([a, a]),
    "vstack": lambda a, L: L.vstack([a, a]),
    "dstack": lambda a, L: L.dstack([a, a]),
    "column_stack": lambda a, L: L.column_stack([a, a]),
    "roll": lambda a, L: a.roll(1, 1),
    "roll2": lambda a, L: a.roll((1, -1), (0, 1)),
    "cumsum": lambda a, L: a.cumsum(0),
    "cumprod": lambda a, L: a.cumprod(-1),
    "cummax": lambda a, L: a.cummax(0),
    "cummin": lambda a, L: a.cummin(1),
    "masked_fill": lambda a, L: a.masked_fill(a > 3, -1.0),
    "searchsorted": lambda a, L: L.searchsorted(L.tensor([[1.0, 3.0, 5.0]] * 4), a, right=True),
    "topk": lambda a, L: a.topk(2),
    "repeat_interleave": lambda a, L: a.repeat_interleave(L.tensor([1, 0, 2, 1]), dim=1),
}


@pytest.mark.parametrize("name", sorted(JOINS))
def test_joins_scans_and_searches_of_a_transposed_tensor_are_contiguous(name: str) -> None:
    """torch's cat/stack/roll/cumsum/... give C-ordered results whatever their inputs' layout; NumPy keeps a
    transposed input's (so ``.view(-1)`` of the result raised here, and ``stride()`` differed)."""
    op = JOINS[name]

    def t(lib: Any) -> Any:
        return lib.tensor(np.arange(16.0, dtype=np.float32).reshape(4, 4) % 5).t()

    def flat(lib: Any) -> list:
        out = op(t(lib), lib)
        return [o.view(-1) for o in (out if isinstance(out, tuple) else (out,))]  # (raised: not contiguous)

    _same(lambda L: op(t(L), L))
    _same(flat)
    _same(lambda L: op(t(L).contiguous(), L))


def test_topk_indices_view() -> None:
    """``topk``'s indices were a view into the whole argsort (stride (n, 1)): ``.view`` refused them."""
    _same(lambda L: L.arange(12.0).reshape(3, 4).topk(2).indices.view(-1))
    _same(lambda L: L.arange(12.0).reshape(3, 4).topk(2, sorted=False).values.view(-1))


def test_advanced_index_gradient_unchanged() -> None:
    def case(L: Any) -> Any:
        x = L.tensor(np.arange(20.0).reshape(4, 5), requires_grad=True)
        y = x[:, [0, 2, 2]].view(-1)
        (y * L.arange(12.0, dtype=L.float64)).sum().backward()
        return [y, x.grad]

    _same(case)


# ---------------------------------------------------------------- in-place writes into expanded tensors


@pytest.mark.parametrize(
    "write",
    [
        lambda y, L: y.add_(1),
        lambda y, L: y.mul_(2),
        lambda y, L: y.copy_(L.ones(2, 3)),
        lambda y, L: y.copy_(L.ones(3)),
        lambda y, L: y.clamp_(0, 1),
    ],
    ids=["add_", "mul_", "copy_", "copy_broadcast", "clamp_"],
)
def test_in_place_op_into_expanded_tensor_is_torchs_runtime_error(write: Callable[[Any, Any], Any]) -> None:
    """torch refuses (internal overlap) with a RuntimeError; ours raised NumPy's ValueError ("assignment
    destination is read-only")."""
    _raises_same(lambda L: write(L.arange(3.0).expand(2, 3), L))


def test_fill_into_expanded_tensor_refuses_with_torchs_words() -> None:
    """torch writes these into the base; we refuse (README), with torch's internal-overlap RuntimeError."""
    y = bp.arange(3.0).expand(2, 3)
    for write in (lambda: y.fill_(2.0), lambda: y.zero_(), lambda: y.__setitem__((0, 0), 5.0)):
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            write()
    for src in (lambda L: L.ones(4), lambda L: L.ones(2, 2, 3), lambda L: L.ones(3, 1)):  # torch's shape errors
        _raises_same(lambda L, src=src: L.zeros(2, 3).copy_(src(L)))


# ---------------------------------------------------------------- index_fill, scatter_reduce


@pytest.mark.parametrize("index", [[0, -1], [-3], [-5, 4], [-1, -1]])
def test_index_fill_takes_negative_indices(index: list[int]) -> None:
    """torch's index_fill wraps indices in [-size, size) (index_add/index_copy/gather refuse negatives)."""
    _same(lambda L: L.zeros(3, 5).index_fill(1 if -5 in index else 0, L.tensor(index), -2.0))
    _same(lambda L: L.zeros(3, 5).index_fill_(-1, L.tensor(index) % 5 - 5, L.tensor(3.0)))

    def grad(L: Any) -> Any:
        x = L.ones(3, 5, requires_grad=True)
        (x.index_fill(0, L.tensor(index) % 3 - 3, 2.0) * L.arange(15.0).reshape(3, 5)).sum().backward()
        return x.grad

    _same(grad)
    v = bp.tensor(2.0, requires_grad=True)  # (torch 2.13's backward to a tensor value refuses negative indices)
    rows = sorted({i % 3 for i in index})
    (bp.ones(3, 5).index_fill(0, bp.tensor(index) % 3 - 3, v) * bp.arange(15.0).reshape(3, 5)).sum().backward()
    assert v.grad.item() == sum(sum(range(5 * r, 5 * r + 5)) for r in rows)  # d/dv: the filled entries' weights


def test_index_fill_range_is_minus_size_to_size() -> None:
    _same(lambda L: L.zeros(3, 2).index_fill(0, L.tensor([-3, 2]), 1.0))
    for lib in (bp, torch):
        for bad in (-4, 3):
            with pytest.raises(IndexError, match=f"index {bad} is out of bounds for dimension 0 with size 3"):
                lib.zeros(3, 2).index_fill(0, lib.tensor([bad]), 1.0)


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_takes_max_and_min(reduce: str, include_self: bool) -> None:
    """torch takes "max"/"min" for "amax"/"amin" (ours refused them)."""

    def case(L: Any) -> Any:
        x = L.tensor(np.arange(1.0, 16.0).reshape(3, 5))
        i = L.tensor([[0, 0, 1], [2, 2, 2], [4, 0, 4]])
        s = L.tensor(np.arange(2.0, 11.0).reshape(3, 3) * [[1], [-1], [1]])
        return [x.scatter_reduce(1, i, s, reduce, include_self=include_self), L.scatter_reduce(x, 1, i, s, reduce)]

    _same(case)


def test_scatter_reduce_unknown_mode_message() -> None:
    _raises_same(lambda L: L.zeros(3).scatter_reduce(0, L.tensor([0]), L.ones(1), "add"))
    _raises_same(lambda L: L.zeros(3).scatter_reduce_(0, L.tensor([0]), L.ones(1), "foo"))


def test_bincount_weights_dtype() -> None:
    """torch's bincount sums float32 weights in float32 and every other dtype in float64 (ours kept float16)."""
    for dtype in ("float16", "bfloat16", "float32", "int32", "bool"):
        _same(lambda L, dt=dtype: L.bincount(L.tensor([1, 2, 1, 4]), weights=L.tensor([1, 0, 1, 1]).to(getattr(L, dt))))
