"""Everyday tensor and autograd idioms a torch user pastes, run under torch and under backprop: copies
and pickles of tensors, the refusals of bool negation, ``.mT`` of vectors, reductions of empty tensors,
``where`` with a uint8 condition, ... (values, dtypes, shapes, or the exception's class and message)."""

from __future__ import annotations

import copy
import pickle
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the idiom parity tests compare against it")


def _picture(x: Any) -> Any:
    """Values, dtype name, shape and requires_grad of tensors; Python scalars with their type."""
    if isinstance(x, (bp.Tensor, torch.Tensor)):
        dtype = str(x.dtype).removeprefix("torch.")
        return ("T", tuple(x.shape), dtype, x.detach().cpu().resolve_conj().numpy().tolist(), x.requires_grad)
    if isinstance(x, (list, tuple)):
        return [_picture(v) for v in x]
    if isinstance(x, dict):
        return {k: _picture(v) for k, v in x.items()}
    return (type(x).__name__, x)


def _run(case: Any, lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ("ok", _picture(case(lib)))
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return ("raises", e)


def _same(case: Any, *, message: bool = True) -> None:
    """The case gives torch's result; where torch raises, backprop raises an instance of torch's class
    (backprop's exceptions subclass torch's builtin ones), with its message when ``message``."""
    ours, theirs = _run(case, bp), _run(case, torch)
    if theirs[0] == "raises":
        assert ours[0] == "raises", f"torch raises {theirs[1]!r}, backprop gives {ours[1]!r}"
        assert isinstance(ours[1], type(theirs[1])), (ours[1], theirs[1])
        if message:
            assert str(ours[1]) == str(theirs[1])
    else:
        assert ours == theirs


# ------------------------------------------------------------ copy.copy, copy.deepcopy and pickle
def _copy_shares(L: Any) -> Any:
    x = L.tensor([1.0, 2.0])
    y = copy.copy(x)
    y.add_(1)  # torch's copy.copy shares the memory
    return x, y


def _copy_leaf_grad(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    y = copy.copy(x)
    return y, y.is_leaf, y.grad is None


def _copy_nonleaf(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = copy.copy(x * 2)
    return y, y.is_leaf, y.grad_fn is None


def _copy_param(L: Any) -> Any:
    p = L.nn.Parameter(L.ones(2))
    q = copy.copy(p)
    q.data.mul_(3)
    return type(q).__name__, p, q


@pytest.mark.parametrize("case", [_copy_shares, _copy_leaf_grad, _copy_nonleaf, _copy_param], ids=lambda f: f.__name__)
def test_copy_copy_shares_memory_as_torch(case: Any) -> None:
    _same(case)


def _with_attr(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    x.tag = {"name": "w", "ids": [1, 2]}
    return x


@pytest.mark.parametrize(
    "how",
    [copy.copy, copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_copies_and_pickles_keep_python_attributes(how: Any) -> None:
    for L in (bp, torch):
        y = how(_with_attr(L))
        assert y.tag == {"name": "w", "ids": [1, 2]} and y.requires_grad and y.is_leaf
    z = how(bp.nn.Buffer(bp.ones(2), persistent=False))  # (torch's Buffer keeps it as an attribute too)
    assert isinstance(z, bp.nn.Buffer) and z.persistent is False
    assert how(torch.nn.Buffer(torch.ones(2), persistent=False)).persistent is False


def test_deepcopied_attributes_are_copies_and_plain_tensors_pickle_as_before() -> None:
    x = _with_attr(bp)
    y = copy.deepcopy(x)
    y.tag["ids"].append(3)
    assert x.tag["ids"] == [1, 2]
    assert copy.copy(x).tag is x.tag  # a shallow copy shares them, as torch's
    # a tensor without attributes pickles in the format older files have (weights_only loads it)
    assert len(bp.ones(2).__reduce_ex__(2)[1]) == 4


# ------------------------------------------------------------ -x and +x of bool tensors
_BOOL = [
    lambda L: -L.tensor([True, False]),
    lambda L: +L.tensor([True, False]),
    lambda L: L.tensor([True, False]).neg(),
    lambda L: L.neg(L.tensor([True, False])),
    lambda L: L.negative(L.tensor([True])),
    lambda L: L.tensor([True, False]).neg_(),
    lambda L: L.tensor([True, False]).positive(),
    lambda L: L.positive(L.tensor(True)),
    lambda L: (-L.tensor([1, 2], dtype=L.uint8), +L.tensor([1]), -L.tensor([1.5])),  # (others unchanged)
]


@pytest.mark.parametrize("case", _BOOL, ids=[f"case{i}" for i in range(len(_BOOL))])
def test_negating_a_bool_tensor_raises_torchs_runtime_error(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ .T, .mT, .H, .mH, adjoint() by rank
@pytest.mark.parametrize("attr", ["T", "mT", "H", "mH", "adjoint"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "complex64"])
def test_transposes_of_every_rank(attr: str, shape: tuple[int, ...], dtype: str) -> None:
    def case(L: Any) -> Any:
        x = L.arange(1.0, 1 + int(np.prod(shape))).reshape(shape).to(getattr(L, dtype))
        x = x * (1 + 1j) if "c" in dtype else x
        out = getattr(x, attr)
        return out() if callable(out) else out

    _same(case)


def test_mT_of_a_0d_tensor_is_a_differentiable_view() -> None:
    x = bp.tensor(3.0, requires_grad=True)
    y = x.mT
    assert y is not x and y.shape == () and y.grad_fn is not None
    (y * 2).backward()
    assert x.grad.item() == 2.0
    assert bp.tensor(1 + 2j).mH.item() == 1 - 2j


# ------------------------------------------------------------ reductions without an identity, of empty tensors
_EMPTY = {
    "max()": lambda L: L.tensor([]).max(),
    "min()": lambda L: L.min(L.tensor([])),
    "amax()": lambda L: L.ones(0, 3).amax(),
    "amin(())": lambda L: L.ones(0, 3).amin(()),
    "amax(0)": lambda L: L.ones(0, 3).amax(0),
    "max(0)": lambda L: L.ones(0, 3).max(0),
    "max(-2, keepdim)": lambda L: L.ones(0, 3).max(-2, keepdim=True),
    "min(dim=0)": lambda L: L.ones(0, 3).min(dim=0),
    "argmax()": lambda L: L.tensor([]).argmax(),
    "argmin()": lambda L: L.argmin(L.tensor([])),
    "argmax(0)": lambda L: L.ones(0, 3).argmax(0),
    "argmin(-2, keepdim)": lambda L: L.ones(0, 3).argmin(-2, keepdim=True),
    "aminmax()": lambda L: L.tensor([]).aminmax(),
    "aminmax(dim=0)": lambda L: L.ones(0, 3).aminmax(dim=0),
    "median(0)": lambda L: L.ones(0, 3).median(0),
    "nanmedian(0)": lambda L: L.ones(0, 3).nanmedian(0),
    "mode()": lambda L: L.tensor([]).mode(),
    "kthvalue(1)": lambda L: L.tensor([]).kthvalue(1),
    "kthvalue(5, 0)": lambda L: L.ones(0, 3).kthvalue(5, 0),
    # over a non-empty dim of an empty tensor: empty results, as torch
    "max(1)": lambda L: L.ones(0, 3).max(1),
    "argmax(1)": lambda L: L.ones(0, 3).argmax(1),
    "amax(1)": lambda L: L.ones(0, 3).amax(1),
    "median(1)": lambda L: L.ones(0, 3).median(1),
    "mode(1)": lambda L: L.ones(0, 3).mode(1),
    "kthvalue(1, 1)": lambda L: L.ones(0, 3).kthvalue(1, 1),
    "aminmax(dim=1)": lambda L: L.ones(0, 3).aminmax(dim=1),
    "nanmedian(1)": lambda L: L.ones(0, 3).nanmedian(1),
    # (non-empty tensors unchanged)
    "max of values": lambda L: (
        L.tensor([1.0, 3.0]).max(),
        L.tensor([[1, 3], [4, 2]]).max(1),
        L.tensor([2, 1]).argmin(),
    ),
}


@pytest.mark.parametrize("case", list(_EMPTY.values()), ids=list(_EMPTY))
def test_reductions_of_empty_tensors_raise_torchs_errors(case: Any) -> None:
    _same(case)


# ------------------------------------------------------------ where with a uint8 condition (torch: deprecated, works)
_U8 = [1, 0, 2]
_WHERE = {
    "where(c, x, y)": lambda L: L.where(L.tensor(_U8, dtype=L.uint8), L.ones(3), L.zeros(3)),
    "where(c, 1., 0)": lambda L: L.where(L.tensor(_U8, dtype=L.uint8), 1.0, 0),
    "x.where(c, y)": lambda L: L.arange(3.0).where(L.tensor(_U8, dtype=L.uint8), -1.0),
}
_WHERE_REFUSED = {
    "int64 condition": lambda L: L.where(L.tensor([1, 0]), 1.0, 0.0),
    "x.where(int64 condition)": lambda L: L.ones(2).where(L.tensor([1, 0]), 0.0),
}


@pytest.mark.parametrize("case", list(_WHERE.values()), ids=list(_WHERE))
def test_where_takes_a_uint8_condition_with_torchs_warning(case: Any) -> None:
    _same(case)
    with pytest.warns(UserWarning, match="where received a uint8 condition tensor"):  # (torch warns once a process)
        case(bp)


@pytest.mark.parametrize("case", list(_WHERE_REFUSED.values()), ids=list(_WHERE_REFUSED))
def test_where_refuses_other_conditions_as_torch(case: Any) -> None:
    _same(case, message=False)  # (dtype names in the text: torch's Long, NumPy's int64)


def test_where_uint8_condition_differentiates() -> None:
    x = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.warns(UserWarning):
        bp.where(bp.tensor(_U8, dtype=bp.uint8), x * 2, x).sum().backward()
    assert x.grad.tolist() == [2.0, 1.0, 2.0]


# ------------------------------------------------------------ sizes given as a 0-d tensor (n = mask.sum())
_SIZES = {
    "zeros(n)": lambda L: L.zeros(L.tensor(2)),
    "ones(n, 3)": lambda L: L.ones(L.tensor(2), 3),
    "full((n,), v)": lambda L: L.full((L.tensor(2),), 7.0),
    "empty(n).shape": lambda L: L.empty(L.tensor(2)).shape,
    "randn(n).shape": lambda L: L.randn(L.tensor(3)).shape,
    "new_zeros(n)": lambda L: L.ones(1, dtype=L.int64).new_zeros(L.tensor(2)),
    "repeat(n)": lambda L: L.tensor([1, 2]).repeat(L.tensor(2)),
    "expand(n)": lambda L: L.tensor([5]).expand(L.tensor(3)),
    "view(n)": lambda L: L.arange(4).view(L.tensor(4)),
    "zeros(np.int64)": lambda L: L.zeros(np.int64(3)),
    "view(np.int64)": lambda L: L.arange(4).view(np.int64(4)),
}


@pytest.mark.parametrize("case", list(_SIZES.values()), ids=list(_SIZES))
def test_a_0d_integer_tensor_is_a_size(case: Any) -> None:
    _same(case)
