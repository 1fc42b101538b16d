"""Calls torch refuses that backprop used to accept, or refused with another exception class, run under torch
and under backprop: negative slice steps, tensors of several elements inside ``tensor([...])``, NumPy arrays
with negative strides, lerp across dtypes, index_* with a 2-D index, unknown norm orders, non-numbers as
``full``'s fill value, and non-tensors where a Tensor argument goes (torch's argument parser's TypeError)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the refusal parity tests compare against it")


def _picture(x: Any) -> Any:
    if isinstance(x, (bp.Tensor, torch.Tensor)):
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), x.detach().cpu().numpy().tolist())
    return (type(x).__name__, x)


def _run(case: Any, lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ("ok", _picture(case(lib)))
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return ("raises", e)


def _same(case: Any, *, message: bool = True) -> None:
    """torch's result, or an instance of torch's exception class (with its text when ``message``)."""
    ours, theirs = _run(case, bp), _run(case, torch)
    if theirs[0] == "raises":
        assert ours[0] == "raises", f"torch raises {theirs[1]!r}, backprop gives {ours[1]!r}"
        assert isinstance(ours[1], type(theirs[1])), (ours[1], theirs[1])
        if message:
            assert str(ours[1]) == str(theirs[1])
    else:
        assert ours == theirs


def _set(t: Any, index: Any, value: Any) -> Any:
    t[index] = value
    return t


# ------------------------------------------------------------ slices: torch takes only positive steps
@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.arange(5)[::-1],
        lambda L: L.arange(5)[::-2],
        lambda L: L.arange(5)[4:0:-1],
        lambda L: L.arange(5)[::0],
        lambda L: L.arange(6).reshape(2, 3)[:, ::-1],
        lambda L: L.arange(6).reshape(2, 3)[..., ::-1],
        lambda L: L.arange(6).reshape(2, 3)[[0, 1], ::-1],
        lambda L: L.arange(5)[:: L.tensor(-1)],
        lambda L: L.arange(5)[::2.0],
        lambda L: L.arange(5)[1.0:],
        lambda L: L.arange(5)[L.tensor(1.0) :],
        lambda L: _set(L.arange(5), slice(None, None, -1), 0),
        lambda L: _set(L.arange(6).reshape(2, 3), (0, slice(None, None, -1)), 0),
        # what torch takes
        lambda L: L.arange(10)[1:8:3],
        lambda L: L.arange(10)[L.tensor(1) : L.tensor(8) : L.tensor(3)],
        lambda L: L.arange(5)[L.tensor(True) : 3],
        lambda L: L.arange(5)[np.int64(1) :: np.int64(2)],
        lambda L: _set(L.arange(5), slice(None, None, 2), 0),
    ],
)
def test_slice_steps(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ tensors inside tensor([...])
@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.tensor([L.tensor([1, 2]), L.tensor([3, 4])]),
        lambda L: L.tensor((L.tensor([1, 2]),)),
        lambda L: L.tensor([[L.tensor([1, 2])]]),
        lambda L: L.tensor([L.tensor([1.0, 2.0])]),
        lambda L: L.tensor([L.tensor([True, False])]),
        lambda L: L.tensor([L.tensor([])]),
        lambda L: L.tensor([L.tensor([], dtype=L.int64)]),
        lambda L: L.tensor([L.tensor([1, 2])], dtype=L.float32),
        lambda L: L.tensor([L.tensor([1.5])], dtype=L.int64),
        lambda L: L.tensor([L.tensor(1.5)], dtype=L.bool),
        lambda L: L.tensor([1, L.tensor([1.0, 2.0])]),
        lambda L: L.tensor([1.5, L.tensor([1, 2])]),
        lambda L: L.as_tensor([L.tensor([1, 2]), L.tensor([3, 4])]),
        lambda L: L.asarray([L.tensor([1, 2]), L.tensor([3, 4])]),
        lambda L: L.Tensor([L.tensor([1, 2]), L.tensor([3, 4])]),
        # what torch takes: a one-element tensor where a number goes is that number
        lambda L: L.tensor([L.tensor([1]), L.tensor([3])]),
        lambda L: L.tensor([L.tensor([[1]]), L.tensor([[2]])]),
        lambda L: L.tensor([L.tensor([1.5]), L.tensor([3.0])]),
        lambda L: L.tensor([L.tensor([1], dtype=L.int32)]),
        lambda L: L.tensor([L.tensor([1.0], dtype=L.float64)]),
        lambda L: L.tensor([[L.tensor([[1.0]])]]),
        lambda L: L.tensor([L.tensor(1), L.tensor(3)]),
        lambda L: L.tensor([L.tensor(1, dtype=L.int32), 2]),
        lambda L: L.tensor([L.tensor(1, dtype=L.float16), 2.5]),
        lambda L: L.tensor([1.5, L.tensor(2.0, dtype=L.float64)]),
        lambda L: L.tensor([L.tensor([True])], dtype=L.int64),
        lambda L: L.tensor([L.tensor(1.0, requires_grad=True)]),
        lambda L: L.tensor([[1, 2], L.tensor([3, 4])]),  # a tensor where a row goes is a row
        lambda L: L.tensor([np.array([1, 2]), L.tensor([3, 4])]),
        lambda L: L.as_tensor([L.tensor([1]), L.tensor([2])]),
        lambda L: L.asarray([L.tensor([1]), L.tensor([2])]),
        lambda L: L.tensor([[0.5, 1.5], [2.5, 3.5]]),
        lambda L: L.tensor([[], []]),
    ],
)
def test_tensors_inside_a_list(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ NumPy arrays with a negative stride
_REVERSED = np.arange(4)[::-1]


@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.from_numpy(_REVERSED),
        lambda L: L.from_numpy(np.arange(6).reshape(2, 3)[:, ::-1]),
        lambda L: L.from_numpy(np.arange(1)[::-1]),
        lambda L: L.tensor(_REVERSED),
        lambda L: L.tensor(_REVERSED, dtype=L.float32),
        lambda L: L.as_tensor(_REVERSED),
        lambda L: L.asarray(_REVERSED),
        lambda L: L.asarray(_REVERSED, copy=True),
        # what torch takes
        lambda L: L.from_numpy(np.arange(0)[::-1]),
        lambda L: L.from_numpy(_REVERSED.copy()),
        lambda L: L.tensor([_REVERSED, _REVERSED]),
        lambda L: L.Tensor(_REVERSED.astype(np.float32)),
        lambda L: L.tensor(_REVERSED[0]),
        lambda L: L.tensor(np.broadcast_to(np.arange(3), (2, 3))),
    ],
)
def test_negative_numpy_strides(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ lerp does not promote
@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.lerp(L.ones(2), L.ones(2, dtype=L.float64), 0.5),
        lambda L: L.lerp(L.ones(2, dtype=L.float64), L.ones(2), 0.5),
        lambda L: L.lerp(L.ones(2), L.tensor(2.0, dtype=L.float64), 0.5),
        lambda L: L.lerp(L.ones(2), L.ones(2, dtype=L.float16), 0.5),
        lambda L: L.lerp(L.ones(2), L.ones(2, dtype=L.int64), 0.5),
        lambda L: L.lerp(L.ones(2, dtype=L.complex64), L.ones(2), 0.5),
        lambda L: L.lerp(L.ones(2), L.ones(2), L.ones(2, dtype=L.float64)),
        lambda L: L.lerp(L.ones(2), L.ones(2), L.ones(2, dtype=L.float16)),
        lambda L: L.lerp(L.ones(2, dtype=L.int64), L.ones(2), 0.5),
        lambda L: L.lerp(L.ones(2, dtype=L.int64), L.ones(2, dtype=L.int64), L.ones(2)),
        lambda L: L.ones(2).lerp(L.ones(2, dtype=L.float64), 0.5),
        lambda L: L.ones(2).lerp_(L.ones(2, dtype=L.float64), 0.5),
        lambda L: L.ones(2).lerp_(L.ones(2), L.ones(2, dtype=L.float64)),
        lambda L: L.lerp(L.ones(2), 2.0, 0.5),
        lambda L: L.lerp(L.ones(2), L.ones(2), [0.5, 0.5]),
        # what torch takes: a 0-d weight of any dtype, read as a number
        lambda L: L.lerp(L.ones(2), L.ones(2) * 3, L.tensor(0.5, dtype=L.float64)),
        lambda L: L.lerp(L.ones(2), L.ones(2) * 3, L.tensor(1)),
        lambda L: L.lerp(L.ones(2, dtype=L.float64), L.ones(2, dtype=L.float64) * 3, 0.25),
        lambda L: L.lerp(L.ones(2), L.ones(2) * 3, L.full((2,), 0.75)),
        lambda L: L.lerp(L.ones(2, dtype=L.int64), L.ones(2, dtype=L.int64), 0.5),
    ],
)
def test_lerp_dtypes(case: Any) -> None:
    _same(case)


def test_lerp_with_a_number_as_end_raises_torchs_type_error() -> None:
    for lib in (bp, torch):
        with pytest.raises(TypeError, match=r"lerp\(\) received an invalid combination of arguments"):
            lib.ones(2).lerp(2.0, 0.5)


def test_lerp_with_a_0d_weight_of_another_dtype_keeps_its_gradient() -> None:
    w, tw = bp.tensor(0.25, dtype=bp.float64, requires_grad=True), torch.tensor(0.25, dtype=torch.float64)
    tw.requires_grad_()
    bp.lerp(bp.zeros(2), bp.ones(2) * 2, w).sum().backward()
    torch.lerp(torch.zeros(2), torch.ones(2) * 2, tw).sum().backward()
    assert w.grad.dtype == bp.float64 and w.grad.item() == tw.grad.item() == 4.0


# ------------------------------------------------------------ index_* ops with a 2-D index
_M = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.tensor(_M).index_select(0, L.tensor([[0, 1]])),
        lambda L: L.index_select(L.tensor(_M), 0, L.tensor([[0, 1]])),
        lambda L: L.tensor(_M).index_add(0, L.tensor([[0, 1]]), L.ones(2, 3)),
        lambda L: L.tensor(_M).index_add_(0, L.tensor([[0, 1]], dtype=L.int32), L.ones(2, 3)),
        lambda L: L.tensor(_M).index_fill(0, L.tensor([[0, 1]]), 1.0),
        lambda L: L.tensor(_M).index_fill_(0, L.tensor([[0, 1]]), 1.0),
        lambda L: L.tensor(_M).index_copy(0, L.tensor([[0, 1]]), L.ones(2, 3)),
        lambda L: L.tensor(_M).index_reduce(0, L.tensor([[0, 1]]), L.ones(2, 3), "prod"),
        lambda L: L.tensor(_M).index_select(1, L.tensor([2, 0])),
        lambda L: L.tensor(_M).index_select(1, L.tensor(2)),
    ],
)
def test_index_ops_with_a_2d_index(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ norm's string orders
@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.ones(2, 2).norm(p="foo"),
        lambda L: L.ones(2).norm(p="foo"),
        lambda L: L.ones(2, 2, 2).norm(p="foo"),
        lambda L: L.ones(2, 2).norm(p="foo", dim=0),
        lambda L: L.norm(L.ones(2, 2), p="foo"),
        lambda L: L.ones(2).norm(p="nuc"),
        lambda L: L.ones(2, 2, 2).norm(p="nuc"),
        lambda L: L.ones(2, 2).norm(p="nuc", dim=0),
        lambda L: L.ones(2).norm(p="fro"),
        lambda L: L.eye(2).norm(p="nuc"),
        lambda L: L.ones(2, 2).norm(p="fro", dim=(0, 1)),
    ],
)
def test_norm_orders(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ fill values and *_like inputs
@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.full((2,), "a"),
        lambda L: L.full((2,), None),
        lambda L: L.full((2,), [1]),
        lambda L: L.full((2,), b"a"),
        lambda L: L.full((2,), L.tensor([1.0])),
        lambda L: L.full_like(L.ones(2), "a"),
        lambda L: L.full((2,), L.tensor(1.5)),
        lambda L: L.full((2,), np.float32(2)),
        lambda L: L.full((2,), 1 + 1j),
        lambda L: L.full((2,), True),
        lambda L: L.full_like(L.ones(2, dtype=L.int64), 3),
    ],
)
def test_full_fill_values(case: Any) -> None:
    _same(case)


@pytest.mark.parametrize("name", ["empty_like", "zeros_like", "ones_like", "rand_like", "randn_like"])
@pytest.mark.parametrize("value", [3, "a", [1.0, 2.0], None, np.ones(2)])
def test_like_factories_take_only_tensors(name: str, value: Any) -> None:
    _same(lambda L: getattr(L, name)(value))


@pytest.mark.parametrize("value", [3, [1.0, 2.0], None])
def test_full_like_and_randint_like_take_only_tensors(value: Any) -> None:
    _same(lambda L: L.full_like(value, 1.0))
    _same(lambda L: L.randint_like(value, 0, 3), message=False)  # (torch's text lists its overloads)


# ------------------------------------------------------------ a non-tensor where a top-level function wants one
_UNARY = """exp log sin cos tanh neg sqrt rsqrt floor ceil round sign exp2 expm1 log1p log2 log10 sum mean prod
max min argmax argmin std var reciprocal square erf trunc nan_to_num logit angle""".split()


@pytest.mark.parametrize("value", [3, 2.5, "a", [1.0, 2.0], None])
@pytest.mark.parametrize("name", _UNARY)
def test_unary_functions_refuse_non_tensors(name: str, value: Any) -> None:
    # (torch's text for std/var lists their overloads; bp.trunc is bp.fix, whose name its text gives)
    _same(lambda L: getattr(L, name)(value), message=name not in ("std", "var", "trunc"))


@pytest.mark.parametrize("value", [3, "a", None])
@pytest.mark.parametrize(
    "case",
    [
        lambda L, x: L.softmax(x, 0),
        lambda L, x: L.logsumexp(x, 0),
        lambda L, x: L.cumsum(x, 0),
        lambda L, x: L.cumprod(x, 0),
        lambda L, x: L.topk(x, 1),
        lambda L, x: L.sort(x),
        lambda L, x: L.diag(x),
        lambda L, x: L.clamp(x, 0, 1),
        lambda L, x: L.gather(x, 0, L.tensor([0])),
        lambda L, x: L.index_select(x, 0, L.tensor([0])),
        lambda L, x: L.lerp(x, L.ones(2), 0.5),
        lambda L, x: L.matmul(x, L.ones(2)),
        lambda L, x: L.mm(x, L.ones(2, 2)),
        lambda L, x: L.eq(x, L.ones(2)),
        lambda L, x: L.maximum(x, L.ones(2)),
        lambda L, x: L.logical_and(x, L.ones(2)),
        lambda L, x: L.diff(x),
        lambda L, x: L.bernoulli(x),
        lambda L, x: L.multinomial(x, 1),
    ],
)
def test_functions_refuse_a_non_tensor_input(case: Any, value: Any) -> None:
    _same(lambda L: case(L, value), message=False)  # (torch's text lists the overloads of some)


@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.add(2, L.ones(2)),
        lambda L: L.mul(L.ones(2), 2),
        lambda L: L.sub(L.ones(2), np.float64(0.5)),
        lambda L: L.clamp(L.ones(2), min=L.zeros(2)),
        lambda L: L.where(L.ones(2) > 0, 1.0, L.zeros(2)),
        lambda L: L.exp(L.zeros(2)),
        lambda L: L.sum(L.ones(2, 2), 0),
    ],
)
def test_numbers_still_go_where_torch_takes_them(case: Any) -> None:
    _same(case)
