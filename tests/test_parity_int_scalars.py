"""Python ints into integer tensors as torch reads them: ``alpha=`` of add/sub (and their in-place forms) and
``value=`` of addcmul are checked into the op's dtype (``dtypes.scalar_int``): within range as they are, a
negative one down to -max wrapped into an unsigned dtype, beyond that torch's RuntimeError; into bool their
truth. ``sub`` checks ``-alpha`` (torch adds ``other * -alpha``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

import backprop as bp

DTYPES = ["uint8", "int8", "int16", "int32", "int64", "bool"]
VALUES = [-1, -255, -256, 127, 128, 255, 256, 2**31, 2**63 - 1, 2**63]


def _in_place_add(m: Any, x: Any, v: int) -> Any:
    return x.clone().add_(x, alpha=v)


def _in_place_sub(m: Any, x: Any, v: int) -> Any:
    return x.clone().sub_(x * 2 if x.dtype != m.bool else x, alpha=v)


OPS: dict[str, Callable[[Any, Any, int], Any]] = {
    "add_alpha": lambda m, x, v: m.add(x, x, alpha=v),
    "sub_alpha": lambda m, x, v: m.sub(x, x, alpha=v),
    "add_": _in_place_add,
    "sub_": _in_place_sub,
    "addcmul": lambda m, x, v: m.addcmul(x, x, x, value=v),
    "addcmul_": lambda m, x, v: x.clone().addcmul_(x, x, value=v),
}

# torch's bool subtraction refuses with its own text; backprop's (older, not about ints) differs
_KNOWN = {("sub_alpha", "bool"), ("sub_", "bool")}


def _base(m: Any, dt: str) -> Any:
    return m.tensor([False, True, True]) if dt == "bool" else m.tensor([0, 1, 3], dtype=getattr(m, dt))


def _run(m: Any, op: str, dt: str, v: int) -> tuple[Any, ...]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = OPS[op](m, _base(m, dt), v)
        return ("ok", str(r.dtype).replace("torch.", ""), r.tolist())
    except Exception as e:  # noqa: BLE001 - the error is the result compared
        return ("error", isinstance(e, RuntimeError), isinstance(e, NotImplementedError), str(e).split("\n")[0])


# ---------------------------------------------------------------- explicit values
def test_alpha_checked_into_the_dtype() -> None:
    u8 = bp.tensor([0, 1, 3], dtype=bp.uint8)
    assert bp.add(u8, u8, alpha=-1).tolist() == [0, 0, 0]  # -1 is 255: x + 255 x = 256 x
    assert bp.add(u8, u8, alpha=255).tolist() == [0, 0, 0]
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        bp.add(u8, u8, alpha=256)
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        bp.add(u8, u8, alpha=-256)
    i8 = bp.tensor([0, 1, 3], dtype=bp.int8)
    with pytest.raises(RuntimeError, match="value cannot be converted to type int8_t without overflow"):
        bp.add(i8, i8, alpha=128)
    assert bp.sub(i8, i8, alpha=128).tolist() == [0, -127, -125]  # -128 fits: torch adds other * -alpha
    with pytest.raises(RuntimeError, match="int8_t"):
        bp.sub(i8, i8, alpha=-128)
    i32 = bp.tensor([1], dtype=bp.int32)
    with pytest.raises(RuntimeError, match="value cannot be converted to type int without overflow"):
        bp.add(i32, i32, alpha=2**31)
    i64 = bp.tensor([1], dtype=bp.int64)
    with pytest.raises(RuntimeError, match="int64_t"):
        bp.add(i64, i64, alpha=2**63)
    assert bp.sub(i64, i64, alpha=2**63).tolist() == [-(2**63) + 1]
    b = bp.tensor([False, True])
    r = bp.add(b, b, alpha=5)
    assert r.dtype == bp.bool and r.tolist() == [False, True]
    y = b.clone()
    y.add_(b, alpha=-3)
    assert y.tolist() == [False, True]
    # floats are untouched
    assert bp.add(bp.tensor([1.0]), bp.tensor([1.0]), alpha=2**70).item() == 1.0 + 2.0**70


def test_addcmul_value() -> None:
    u8 = bp.tensor([1, 2], dtype=bp.uint8)
    assert bp.addcmul(u8, u8, u8, value=-1).tolist() == [0, 254]  # 1 - 1, 2 - 4 (mod 256)
    with pytest.raises(RuntimeError, match="uint8_t"):
        bp.addcmul(u8, u8, u8, value=300)
    with pytest.raises(NotImplementedError, match="addcmul_cpu_out"):
        bp.addcmul(bp.tensor([True]), bp.tensor([True]), bp.tensor([True]), value=2)
    with pytest.raises(RuntimeError, match="uint8_t"):
        u8.clone().addcmul_(u8, u8, value=256)


def test_scalar_int_helper() -> None:
    from backprop import dtypes

    assert dtypes.scalar_int(-1, dtypes.uint8) == 255 and dtypes.scalar_int(7, dtypes.bool_) is True
    assert dtypes.scalar_int(0, dtypes.bool_) is False and dtypes.scalar_int(2.5, dtypes.uint8) == 2.5
    assert dtypes.scalar_int(300, dtypes.float32) == 300
    with pytest.raises(RuntimeError, match="int16_t"):
        dtypes.scalar_int(2**15, dtypes.int16)


# ---------------------------------------------------------------- the table against torch
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("dt", DTYPES)
def test_matches_torch(op: str, dt: str) -> None:
    if (op, dt) in _KNOWN:
        pytest.skip("bool subtraction: torch's own message (not about Python ints)")
    for v in VALUES:
        t, b = _run(torch, op, dt, v), _run(bp, op, dt, v)
        assert t == b, (op, dt, v)
