"""Python ints into integer tensors as torch reads them: ``alpha=`` of add/sub (and their in-place forms),
``value=`` of addcmul, beta/alpha of addmm and its kin, ``where``'s and ``threshold``'s scalars are checked into
the op's dtype (``dtypes.scalar_int``/``checked_int``): within range as they are, a negative one down to -max
wrapped into an unsigned dtype, beyond that torch's RuntimeError; into bool their truth. ``sub`` checks ``-alpha``
(torch adds ``other * -alpha``). Operators wrap (2**63 beside int64 is -2**63, beside bool torch's promotion
error), ``F.pad``'s value goes through a double; bool subtraction and ops without an integer kernel (lerp,
addcdiv of two integer tensors, bool addmm) raise torch's errors."""

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
    "addcdiv": lambda m, x, v: m.addcdiv(x, x, x, value=v),
    "addmm_beta": lambda m, x, v: m.addmm(x[:1].reshape(1, 1).clone(), x.reshape(1, 3), x.reshape(3, 1), beta=v),
    "addmm_alpha": lambda m, x, v: m.addmm(x[:1].reshape(1, 1).clone(), x.reshape(1, 3), x.reshape(3, 1), alpha=v),
    "addmv_alpha": lambda m, x, v: m.addmv(x[:1].clone(), x.reshape(1, 3), x, alpha=v),
    "addr_beta": lambda m, x, v: m.addr(m.outer(x, x), x, x, beta=v),
    "where": lambda m, x, v: m.where(x > 0, x, v),
    "where_l": lambda m, x, v: m.where(x > 0, v, x),
    "where_method": lambda m, x, v: x.where(x > 0, v),
    "threshold_t": lambda m, x, v: m.nn.functional.threshold(x, v, 2),
    "threshold_v": lambda m, x, v: m.nn.functional.threshold(x, 1, v),
    "pad": lambda m, x, v: m.nn.functional.pad(x, (1, 1), value=v),
    "lerp": lambda m, x, v: m.lerp(x, x, v),
    "clamp": lambda m, x, v: m.clamp(x, min=v),
    "remainder": lambda m, x, v: m.remainder(x, v),
    "fmod": lambda m, x, v: m.fmod(x, v),
    "eq": lambda m, x, v: x == v,
    "lt": lambda m, x, v: x < v,
    "ge": lambda m, x, v: x >= v,
    "bitwise_and": lambda m, x, v: m.bitwise_and(x, v),
    "or": lambda m, x, v: x | v,
    "xor": lambda m, x, v: x ^ v,
    "add": lambda m, x, v: x + v,
    "mul": lambda m, x, v: x * v,
    "sub": lambda m, x, v: x - v,
    "rsub": lambda m, x, v: v - x,
    "iadd": lambda m, x, v: x.clone().__iadd__(v),
    "imul": lambda m, x, v: x.clone().__imul__(v),
}


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


def test_uint64_range_beside_int64_and_bool() -> None:
    # torch reads 2**63 <= v < 2**64 as a uint64 scalar: wrapped into int64, refused beside bool
    x = bp.tensor([0, 1, 3])
    assert (x + 2**63).tolist() == [-(2**63), -(2**63) + 1, -(2**63) + 3]
    assert (x < 2**63).tolist() == [False, False, False] and (x >= 2**63).tolist() == [True, True, True]
    y = x.clone()
    y *= 2**63
    assert y.tolist() == [0, -(2**63), -(2**63)]
    assert bp.remainder(x, 2**63).tolist() == [0, -(2**63) + 1, -(2**63) + 3]
    b = bp.tensor([False, True])
    for f in (lambda: b + 2**63, lambda: b == 2**63, lambda: b & 2**63, lambda: bp.clamp(b, min=2**63)):
        with pytest.raises(RuntimeError, match="Promotion for uint16, uint32, uint64 types is not supported"):
            f()


def test_bool_subtraction_and_in_place_cast() -> None:
    b = bp.tensor([False, True])
    with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
        b - b
    with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
        b - True
    for f in (
        lambda: b - 1,
        lambda: 1 - b,
        lambda: 1.5 - b,
        lambda: bp.tensor([1, 2]) - b,
        lambda: bp.sub(b, 1, alpha=2),
    ):
        with pytest.raises(RuntimeError, match="with a bool tensor is not supported. If you are trying to invert"):
            f()
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        b.clone().add_(1)
    assert (bp.tensor([1.5]) - 1.0).item() == 0.5 and (bp.tensor([3]) - bp.tensor([1])).item() == 2


def test_checked_scalars_of_where_threshold_pad_addmm() -> None:
    u8 = bp.tensor([0, 1, 3], dtype=bp.uint8)
    assert bp.where(u8 > 1, u8, -1).tolist() == [255, 255, 3]
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        bp.where(u8 > 1, u8, 256)
    with pytest.raises(RuntimeError, match="int64_t"):
        bp.where(u8 > 1, u8.long(), 2**63)
    F = bp.nn.functional
    assert F.threshold(u8, -1, 2).tolist() == [2, 2, 2]  # -1 is 255
    with pytest.raises(RuntimeError, match="int8_t"):
        F.threshold(u8.to(bp.int8), 1, 128)
    with pytest.raises(NotImplementedError, match="threshold_cpu"):
        F.threshold(bp.tensor([True]), 0, 1)
    with pytest.raises(RuntimeError, match="uint8_t"):
        F.pad(u8, (1, 1), value=-1)  # a double to torch: strict, no wrapping
    assert F.pad(u8.to(bp.int8), (1, 0), value=2.7).tolist() == [2, 0, 1, 3]
    assert F.pad(u8.long(), (1, 0), value=2**63 - 1).tolist()[0] == -(2**63)  # (through a double, as torch)
    m = u8.reshape(1, 3)
    assert bp.addmm(u8[:1].reshape(1, 1), m, m.t(), beta=-1).tolist() == [[10]]  # 255 * 0 + 10
    with pytest.raises(RuntimeError, match="uint8_t"):
        bp.addmm(u8[:1].reshape(1, 1), m, m.t(), alpha=256)
    with pytest.raises(NotImplementedError, match="addmv_impl_cpu"):
        bp.addmv(bp.tensor([True]), bp.tensor([[True]]), bp.tensor([True]))
    with pytest.raises(NotImplementedError, match="lerp_kernel_scalar.*Long"):
        bp.lerp(u8.long(), u8.long(), 0.5)
    with pytest.raises(RuntimeError, match="Integer division with addcdiv is no longer supported"):
        bp.addcdiv(u8, u8, u8)


# ---------------------------------------------------------------- the table against torch
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("dt", DTYPES)
def test_matches_torch(op: str, dt: str) -> None:
    for v in VALUES:
        t, b = _run(torch, op, dt, v), _run(bp, op, dt, v)
        assert t == b, (op, dt, v)
