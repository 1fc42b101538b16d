"""Torch's rules for the core: dtype promotion, factories, error classes, tensor helpers.

The expected values are written out (they run everywhere); where torch is installed the same
cases are also asked of torch itself, so the table cannot drift from what torch does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # the written-out expectations below always run
    torch = None


def _t(kind: str) -> bp.Tensor:
    return {
        "f32": bp.tensor([1.0, 2.0]),
        "f64": bp.tensor([1.0, 2.0], dtype=bp.float64),
        "f16": bp.tensor([1.0, 2.0], dtype=bp.float16),
        "i64": bp.tensor([1, 2]),
        "i32": bp.tensor([1, 2], dtype=bp.int32),
        "u8": bp.tensor([1, 2], dtype=bp.uint8),
        "b": bp.tensor([True, False]),
        "f64_0d": bp.tensor(2.0, dtype=bp.float64),
        "i64_0d": bp.tensor(2),
    }[kind]


# (left, right, op, expected dtype): torch's promotion, where NumPy differs in most rows
PROMOTION = [
    ("i64", 2.5, "mul", "float32"),  # int tensor with a Python float: the default float dtype
    (2.5, "i64", "add", "float32"),
    ("i64", "i64", "div", "float32"),  # true division of integers
    ("i64", 2, "div", "float32"),
    ("f32", "i64", "mul", "float32"),  # float32 meets int64: stays float32 (NumPy: float64)
    ("i64", "f32", "sub", "float32"),
    ("f16", "f64_0d", "add", "float16"),  # a dimensioned tensor outranks a 0-d one of its category
    ("i64", "f64_0d", "add", "float64"),  # ... unless the 0-d one is of a higher category
    ("i32", "i64", "add", "int64"),
    ("i32", "i64_0d", "add", "int32"),
    ("b", 1, "add", "int64"),
    ("b", 1.5, "mul", "float32"),
    ("f32", "f64", "add", "float64"),
    ("i64", 2, "pow", "int64"),
    ("i64", 0.5, "pow", "float32"),
]


def _operand(spec, lib):
    if not isinstance(spec, str):
        return spec
    t = _t(spec)
    return t if lib == "bp" else torch.from_numpy(np.array(t.detach().numpy()))


def _binary(a, b, op):
    return {
        "add": lambda: a + b,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "div": lambda: a / b,
        "pow": lambda: a**b,
    }[op]()


@pytest.mark.parametrize(("left", "right", "op", "expected"), PROMOTION)
def test_dtype_promotion_follows_torch(left, right, op, expected) -> None:
    out = _binary(_operand(left, "bp"), _operand(right, "bp"), op)
    assert out.dtype == np.dtype(expected), f"{left} {op} {right}: {out.dtype}"
    if torch is not None:
        theirs = _binary(_operand(left, "torch"), _operand(right, "torch"), op)
        assert str(theirs.dtype) == f"torch.{expected}", f"the table disagrees with torch: {theirs.dtype}"


# (input, other, expected dtype) of where(cond, input, other), maximum and minimum (tensor input only)
WHERE_PROMOTION = [
    (1.0, 0.0, "float32"),  # two Python floats: the default float dtype (NumPy would give float64)
    (1, 0, "int64"),
    (True, 0, "int64"),
    ("i64", 0.5, "float32"),
    ("f32", 0, "float32"),
    ("i32", "i64", "int64"),
    ("f32", "f64", "float64"),
    ("f64_0d", "f32", "float32"),
]


@pytest.mark.parametrize(("left", "right", "expected"), WHERE_PROMOTION)
def test_where_maximum_minimum_promote_as_torch(left, right, expected) -> None:
    cond = bp.tensor([True, False])
    out = bp.where(cond, _operand(left, "bp"), _operand(right, "bp"))
    assert out.dtype == np.dtype(expected), f"where({left}, {right}): {out.dtype}"
    if torch is not None:
        theirs = torch.where(torch.tensor([True, False]), _operand(left, "torch"), _operand(right, "torch"))
        assert str(theirs.dtype) == f"torch.{expected}", f"the table disagrees with torch: {theirs.dtype}"
    if isinstance(left, str):
        for fn in (bp.maximum, bp.minimum):
            got = fn(_operand(left, "bp"), _operand(right, "bp"))
            assert got.dtype == np.dtype(expected), f"{fn.__name__}({left}, {right}): {got.dtype}"


def test_promotion_keeps_gradients_flowing() -> None:
    x = bp.tensor([1.0, 2.0], dtype=bp.float64, requires_grad=True)
    y = bp.tensor([1.0, 3.0], requires_grad=True)  # float32: promoted to float64 by a recorded cast
    (x * y).sum().backward()
    assert y.grad.dtype == bp.float32 and x.grad.dtype == bp.float64
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 2.0])


def test_integer_to_negative_power_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="negative integer powers"):
        bp.tensor([2, 3]) ** -1


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda: bp.ones(2, 3) + bp.ones(4), "broadcast"),
        (lambda: bp.ones(2, 3) @ bp.ones(2, 3), "matmul"),
        (lambda: bp.ones(2, 3).reshape(4), "reshape"),
        (lambda: bp.ones(2, 3).permute(0), "permute"),
        (lambda: bp.cat([bp.ones(2, 3), bp.ones(2, 2)]), "cat"),
    ],
)
def test_shape_errors_are_runtime_errors(call, kind) -> None:
    with pytest.raises(RuntimeError):
        call()


@pytest.mark.parametrize(("start", "end", "steps"), [(0, 10, 4), (-10, 0, 4), (-3.5, 7.25, 6), (5, -5, 7)])
def test_linspace_integer_dtype_truncates_toward_zero(start, end, steps) -> None:
    got = bp.linspace(start, end, steps, dtype=bp.int64)
    expected = np.trunc(np.linspace(np.trunc(start), np.trunc(end), steps)).astype(np.int64)
    np.testing.assert_array_equal(got.detach().numpy(), expected)
    assert got.dtype == bp.int64
    if torch is not None:
        np.testing.assert_array_equal(torch.linspace(start, end, steps, dtype=torch.int64).detach().numpy(), expected)


def test_linspace_rejects_unsupported_dtypes() -> None:
    with pytest.raises(TypeError, match="linspace: dtype bool is not supported"):
        bp.linspace(0, 1, 3, dtype=bp.bool_)


def test_new_factories_and_type() -> None:
    x = bp.ones(2, dtype=bp.float64)
    assert x.new_zeros(2, 3).shape == (2, 3) and x.new_zeros((2, 3)).dtype == bp.float64
    assert x.new_ones(3, dtype=bp.int64).dtype == bp.int64
    np.testing.assert_array_equal(x.new_full((2,), 7).detach().numpy(), [7.0, 7.0])
    assert x.new_tensor([1, 2]).dtype == bp.float64
    assert x.type() == "torch.DoubleTensor" and bp.ones(1, dtype=bp.int64).type() == "torch.LongTensor"
    assert x.type(bp.float32).dtype == bp.float32


def test_contiguous() -> None:
    x = bp.ones(2, 3)
    assert x.contiguous() is x
    t = x.T
    c = t.contiguous()
    assert c._data.flags.c_contiguous and c.shape == (3, 2)


@pytest.mark.parametrize(
    "call",
    [
        "zeros(2, 3, layout=L.strided, pin_memory=False)",
        "ones(2, layout=L.strided)",
        "empty(2, memory_format=L.contiguous_format, layout=L.strided)",
        "full((2,), 7, layout=L.strided, pin_memory=False)",
        "arange(4, layout=L.strided)",
        "linspace(0, 1, 3, layout=L.strided)",
        "logspace(0, 1, 2, layout=L.strided)",
        "eye(2, 3, layout=L.strided)",
        "rand(2, layout=L.strided)",
        "randn(2, layout=L.strided, pin_memory=False)",
        "randint(0, 5, (3,), layout=L.strided)",
        "randperm(4, layout=L.strided)",
        "tensor([1.5], pin_memory=False)",
    ],
)
def test_factories_take_layout_and_pin_memory(call: str) -> None:
    """torch's ``layout=``/``pin_memory=`` keywords are accepted (strided only) with torch's shape and dtype."""

    def run(lib: Any) -> Any:
        return eval(call, {"L": lib, **{n: getattr(lib, n) for n in _FACTORIES}})  # noqa: S307 - our own table

    ours = run(bp)
    if torch is not None:
        theirs = run(torch)
        assert tuple(ours.shape) == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    with pytest.raises(NotImplementedError, match="layout"):
        bp.linspace(0, 1, 3, layout=bp.sparse_coo)  # (zeros/empty make sparse tensors: test_parity_sparse_more_2026)


_FACTORIES = ("zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "rand", "randn", "randint")
_FACTORIES += ("randperm", "tensor")
