"""Type promotion as torch's: ``promote_types`` over every pair of dtypes, and ``result_type`` over every
pair of operands (tensors with dimensions, 0-d tensors, Python scalars), which follows torch's three
priority classes and its ``combine_categories`` rule."""

from __future__ import annotations

import itertools

import pytest

import backprop as bp

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
          "complex64", "complex128"]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "a_dims", "b", "expected"),
    [
        ("float64", 0, ("complex64", 0), "complex128"),  # same class: torch's table
        ("float64", 1, ("complex64", 0), "complex128"),  # a float meeting a lower complex keeps its precision
        ("float32", 1, ("complex128", 0), "complex64"),
        ("int32", 1, ("float64", 0), "float64"),  # an integer tensor takes a lower operand's float dtype
        ("int32", 1, ("int64", 0), "int32"),
        ("bool", 1, ("int64", 0), "int64"),
        ("uint8", 1, 300, "uint8"),
        ("int64", 1, 2.5, "float32"),
        ("float64", 1, 1j, "complex128"),
        ("int16", 1, 1j, "complex64"),
        ("float32", 1, ("int64", 1), "float32"),
    ],
)
def test_result_type_closed_forms(a: str, a_dims: int, b: object, expected: str) -> None:
    x = bp.ones((2,) * a_dims, dtype=getattr(bp, a))
    other = bp.ones((2,) * b[1], dtype=getattr(bp, b[0])) if isinstance(b, tuple) else b
    assert str(bp.result_type(x, other)) == expected
    assert str(bp.result_type(other, x)) == expected


def test_promote_types_and_result_type_match_torch_everywhere() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    bad = []
    for d1, d2 in itertools.product(DTYPES, DTYPES):
        t = torch.promote_types(getattr(torch, d1), getattr(torch, d2))
        if str(t).removeprefix("torch.") != str(bp.promote_types(getattr(bp, d1), getattr(bp, d2))):
            bad.append((d1, d2))
        for n1, n2 in itertools.product((0, 1), (0, 1)):
            t = torch.result_type(
                torch.ones((2,) * n1, dtype=getattr(torch, d1)), torch.ones((2,) * n2, dtype=getattr(torch, d2))
            )
            b = bp.result_type(bp.ones((2,) * n1, dtype=getattr(bp, d1)), bp.ones((2,) * n2, dtype=getattr(bp, d2)))
            if str(t) != "torch.complex32" and str(t).removeprefix("torch.") != str(b):  # (no complex32 here)
                bad.append((d1, n1, d2, n2, str(t), str(b)))
        for scalar in (True, 3, 2.5, 1j):
            t = torch.result_type(torch.ones(2, dtype=getattr(torch, d1)), scalar)
            if str(t) != "torch.complex32" and str(t).removeprefix("torch.") != str(
                bp.result_type(bp.ones(2, dtype=getattr(bp, d1)), scalar)
            ):
                bad.append((d1, scalar))
    assert not bad


@pytest.mark.parametrize(
    ("equation", "shapes", "expected"),
    [
        ("ij->i", [(2, 3)], "int64"),  # an index summed away by one operand: torch's sum, int64
        ("ii->", [(2, 2)], "int64"),
        ("ij->ji", [(2, 3)], "int32"),  # nothing summed alone: the dtype stays
        ("ij,j->i", [(2, 3), (3,)], "int32"),
        ("ij,k->ik", [(2, 3), (4,)], "int64"),
    ],
)
def test_einsum_of_small_integers_sums_as_torch(equation: str, shapes: list, expected: str) -> None:
    ops = [bp.ones(s, dtype=bp.int32) for s in shapes]
    out = bp.einsum(equation, *ops)
    assert str(out.dtype) == expected
    assert out.tolist() == bp.einsum(equation, *[o.double() for o in ops]).long().tolist()


def test_bilinear_keeps_an_integer_dtype_and_softmin_negates_before_casting() -> None:
    x1, x2, w = bp.ones(3, dtype=bp.int32), bp.ones(4, dtype=bp.int32), bp.ones(5, 3, 4, dtype=bp.int32)
    out = bp.nn.functional.bilinear(x1, x2, w)
    assert out.dtype == bp.int32 and out.tolist() == [12] * 5
    u = bp.tensor([0, 3], dtype=bp.uint8)  # -u wraps in uint8 to [0, 253] before the float64 softmax, as torch
    got = bp.nn.functional.softmin(u, 0, dtype=bp.float64)
    expected = bp.softmax(bp.tensor([0.0, 253.0], dtype=bp.float64), 0)
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("bp.full((3,), -9, dtype=bp.uint8)", [247, 247, 247]),  # negative down to -max wraps into unsigned
        ("bp.full_like(bp.zeros(2, dtype=bp.uint8), -255)", [1, 1]),
        ("bp.zeros(2, dtype=bp.uint8).fill_(-1)", [255, 255]),
        ("bp.zeros(2, dtype=bp.uint8).new_full((2,), -9)", [247, 247]),
        ("bp.zeros(2, dtype=bp.int32).fill_(-(2**31))", [-(2**31)] * 2),
        ("bp.full((2,), 2.7, dtype=bp.int32)", [2, 2]),
        ("bp.full((2,), 256, dtype=bp.uint8)", "uint8_t"),  # beyond the range: torch's overflow error
        ("bp.full((2,), -256, dtype=bp.uint8)", "uint8_t"),
        ("bp.zeros(2, dtype=bp.int8).fill_(128)", "int8_t"),
        ("bp.full((2,), 2**31, dtype=bp.int32)", "type int without"),
    ],
)
def test_fill_values_convert_into_integer_dtypes_as_torch(expr: str, expected: object) -> None:
    if isinstance(expected, str):
        with pytest.raises(RuntimeError, match=f"value cannot be converted to {expected}|{expected}"):
            eval(expr)
    else:
        assert eval(expr).tolist() == expected


def test_tensor_where_method_promotes_as_the_function() -> None:
    cond = bp.tensor([True, False])
    assert bp.tensor([1, 2]).where(cond, 2.0).dtype == bp.float32  # (was float64: NumPy's promotion)
    assert bp.tensor([1, 2], dtype=bp.uint8).where(cond, -1).tolist() == [1, 255]
    assert bp.tensor([1.0, 2.0]).where(cond, bp.tensor([5.0], dtype=bp.float64)).dtype == bp.float64


def test_number_divided_by_a_tensor_is_torch_reciprocal_times_the_number() -> None:
    """torch computes ``c / x`` as ``x.reciprocal() * c``: bit for bit, with its graph."""
    x = bp.tensor([0.53, 0.91, 1.37, 1.49], requires_grad=True)
    y = 0.7 / x
    expected = (x.detach().reciprocal() * 0.7).numpy()
    assert (y.detach().numpy() == expected).all()
    assert y.grad_fn.name() == "MulBackward0"
    assert y.grad_fn.next_functions[0][0].name() == "ReciprocalBackward0"
    assert (2 / bp.arange(1, 4)).dtype == bp.float32
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    xs = torch.rand(4096) + 0.5
    for c in (0.7, 3, 1e-3):
        assert ((c / xs).numpy() == (c / bp.tensor(xs.numpy())).numpy()).all()
