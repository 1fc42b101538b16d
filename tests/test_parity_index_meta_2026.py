"""Indexing errors, warnings and ``*_copy`` grad_fn names against torch's (multiple ellipses, out-of-range
texts of the gathers and scatters, put_'s size error, index_reduce's and legacy reduce='s warnings)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import backprop as bp
from backprop.methods import indexing as _indexing

torch = pytest.importorskip("torch", reason="parity tests compare against PyTorch")


def _error(fn: Any, lib: Any) -> tuple[type, str]:
    try:
        fn(lib)
    except Exception as e:  # noqa: BLE001 - the class and text are what is compared
        return type(e), str(e)
    raise AssertionError("no error")


@pytest.mark.parametrize(
    "expr",
    ["x[..., ...]", "x[..., 0, ...]", "x[0, ..., ...]", "x[0, ..., 1, ...]", "x[..., None, ...]", "x[..., ..., ...]"],
)
def test_more_than_one_ellipsis_as_torch(expr: str) -> None:
    got = eval(expr, {"x": bp.arange(120.0).reshape(2, 3, 4, 5)})
    want = eval(expr, {"x": torch.arange(120.0).reshape(2, 3, 4, 5)})
    assert tuple(got.shape) == tuple(want.shape) and got.storage_offset() == want.storage_offset()
    assert got.tolist() == want.tolist()


def test_an_index_after_a_second_ellipsis_is_an_index_error_as_torch() -> None:
    for lib in (bp, torch):
        with pytest.raises(IndexError):
            lib.zeros(2, 3)[..., ..., 0]


CASES = {
    "gather": lambda L: L.zeros(3).gather(0, L.tensor([0, 5])),
    "gather_neg": lambda L: L.zeros(3, 3).gather(1, L.tensor([[0, -5], [7, 0]])),
    "scatter_first_bad": lambda L: L.zeros(3).scatter(0, L.tensor([0, 7, 9]), 1.0),
    "scatter_2d": lambda L: L.zeros(3, 3).scatter(1, L.tensor([[0, 1], [7, 5]]), 1.0),
    "scatter_add": lambda L: L.zeros(3).scatter_add(0, L.tensor([0, 7, 9]), L.ones(3)),
    "scatter_reduce": lambda L: L.zeros(3, 3).scatter_reduce(0, L.tensor([[0, 5], [7, 0]]), L.zeros(3, 3), "sum"),
    "index_add_vector": lambda L: L.zeros(3).index_add(0, L.tensor([4]), L.ones(1)),
    "index_add_matrix": lambda L: L.zeros(3, 3).index_add(1, L.tensor([4]), L.ones(3, 1)),
    "index_select": lambda L: L.zeros(3).index_select(0, L.tensor([-1])),
    "index_copy": lambda L: L.zeros(3, 3).index_copy(1, L.tensor([4]), L.ones(3, 1)),
    "index_fill": lambda L: L.zeros(3, 3).index_fill(1, L.tensor([-4]), 1.0),
    "index_put": lambda L: L.zeros(3, 3).index_put((L.tensor([5]),), L.ones(3)),
    "put_size": lambda L: L.zeros(3).put_(L.tensor([0, 1]), L.ones(3)),
    "put_size_out_of_place": lambda L: L.zeros(3).put(L.tensor([0, 1]), L.ones(3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_out_of_range_errors_have_torchs_text(case: str) -> None:
    (want_cls, want), (got_cls, got) = _error(CASES[case], torch), _error(CASES[case], bp)
    assert got == want
    assert issubclass(got_cls, want_cls)


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda L: L.zeros(3).index_reduce_(0, L.tensor([0]), L.ones(1), "prod"), "index_reduce() is in beta"),
        (lambda L: L.zeros(3).index_reduce(0, L.tensor([0]), L.ones(1), "amax"), "index_reduce() is in beta"),
        (lambda L: L.zeros(3).scatter(0, L.tensor([0]), L.ones(1), reduce="add"), "The reduce argument of torch.sc"),
        (lambda L: L.zeros(3).scatter_(0, L.tensor([0]), L.ones(1), reduce="multiply"), "The reduce argument of"),
    ],
)
def test_index_reduce_and_legacy_reduce_warn_once_as_torch(call: Any, text: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(_indexing, "_warned", set())
    for _ in range(2):  # (torch's TORCH_WARN_ONCE: the second call is silent; torch's own flag is already set)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(bp)
        if _ == 0:
            assert [str(w.message)[: len(text)] for w in caught] == [text]
            assert caught[0].category is UserWarning and caught[0].filename == __file__
        else:
            assert caught == []


def test_legacy_reduce_with_a_number_does_not_warn(monkeypatch: Any) -> None:
    monkeypatch.setattr(_indexing, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bp.zeros(3).scatter(0, bp.tensor([0]), 2.0, reduce="add").tolist() == [2.0, 0.0, 0.0]


COPIES = {
    "diagonal_copy": lambda L, m: L.diagonal_copy(m),
    "t_copy": lambda L, m: L.t_copy(m),
    "permute_copy": lambda L, m: L.permute_copy(m, (1, 0)),
    "expand_copy": lambda L, m: L.expand_copy(m, (2, 3, 3)),
    "view_copy": lambda L, m: L.view_copy(m, (9,)),
    "transpose_copy": lambda L, m: L.transpose_copy(m, 0, 1),
    "unsqueeze_copy": lambda L, m: L.unsqueeze_copy(m, 0),
    "squeeze_copy": lambda L, m: L.squeeze_copy(m[:1]),
    "squeeze_copy_dim": lambda L, m: L.squeeze_copy(m[:1], 0),
    "squeeze_copy_dims": lambda L, m: L.squeeze_copy(m[:1], (0,)),
    "select_copy": lambda L, m: L.select_copy(m, 0, 1),
    "slice_copy": lambda L, m: L.slice_copy(m, 0, 1, 2),
    "alias_copy": lambda L, m: L.alias_copy(m),
    "unfold_copy": lambda L, m: L.unfold_copy(m, 0, 2, 1),
    "as_strided_copy": lambda L, m: L.as_strided_copy(m, (2,), (1,)),
    "unbind_copy": lambda L, m: L.unbind_copy(m)[0],
    "split_copy": lambda L, m: L.split_copy(m, 1)[0],
    "split_with_sizes_copy": lambda L, m: L.split_with_sizes_copy(m, [1, 2])[0],
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_copy_ops_grad_fn_names_are_torchs(name: str) -> None:
    got = COPIES[name](bp, bp.randn(3, 3, requires_grad=True))
    want = COPIES[name](torch, torch.randn(3, 3, requires_grad=True))
    assert got.grad_fn.name() == want.grad_fn.name()


@pytest.mark.parametrize(
    "expr",
    [
        "x[None]",
        "x[:, None]",
        "x[..., None]",
        "x[None, None]",
        "x.transpose(0, 2)[None]",
        "x[None].expand(3, 2, 3, 4)",
        "bp_or_torch.arange(3.0).expand(1, 3)",
        "bp_or_torch.broadcast_to(bp_or_torch.arange(3.0), (1, 3))",
        "bp_or_torch.zeros(2, 1, 3)[:, :, None]",
        "bp_or_torch.zeros(2, 1, 3)[None, :, 0:1]",
    ],
)
def test_new_size_one_dims_report_torchs_strides(expr: str) -> None:
    """NumPy gives a dim added by None (or a new broadcast dim of size 1) stride 0; torch's unsqueeze rule gives
    it the next dim's size times stride: `x[None].stride()` is (24, 12, 4, 1) for a (2, 3, 4) tensor."""
    got = eval(expr, {"x": bp.arange(24.0).reshape(2, 3, 4), "bp_or_torch": bp}).stride()
    want = eval(expr, {"x": torch.arange(24.0).reshape(2, 3, 4), "bp_or_torch": torch}).stride()
    assert got == want
