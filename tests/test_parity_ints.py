"""Regression tests for differences from torch found by the fuzzer and fixed: Python ints wrapping into small
integer dtypes, integer ``pow``, ``chunk``/``split`` of size-0 dims, ``view(dtype)``, ``norm(p='nuc')``,
``unique(dim=)`` of empty inputs, ``F.tanh`` of integers, ``F.linear`` with a 1-D weight and ``ldexp``'s dtype.
Written-out values first; the torch cross-checks skip when torch is absent."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")


def test_python_int_wraps_into_small_int_dtypes() -> None:
    u = bp.tensor([1, 250, 0], dtype=bp.uint8)
    assert (u - 3).tolist() == [254, 247, 253] and (u - 3).dtype == bp.uint8
    assert (u * 300).tolist() == [44, 248, 0]
    assert (-3 + u).tolist() == [254, 247, 253]
    assert (bp.tensor([100, 120], dtype=bp.int8) + 1000).tolist() == [76, 96]  # 1000 is -24 in int8
    assert (bp.tensor([1, 2], dtype=bp.int32) + 2**40).tolist() == [1, 2]
    assert (u // 300).tolist() == [0, 5, 0] and (u % 300).tolist() == [1, 30, 0]
    assert (u / 300).dtype == bp.float32 and abs((u / 300)[1].item() - 250 / 300) < 1e-6  # true division: no wrap
    assert u.clone().add_(300).tolist() == [45, 38, 44]
    assert (u < -3).tolist() == [True, True, True]  # -3 is 253 in uint8
    assert (u == 256).tolist() == [False, False, True] and u.ge(256).tolist() == [True, True, True]
    assert (bp.tensor([1, -100, 100], dtype=bp.int8) > 200).tolist() == [True, False, True]  # 200 is -56
    assert (bp.tensor([1, 2], dtype=bp.uint8) > bp.tensor(-3)).tolist() == [False, False]  # 0-d int64 -3: 253
    assert (bp.tensor([5]) < 2**40).tolist() == [True]  # int64: no wrap


def test_integer_pow() -> None:
    i = bp.tensor([-2, -1, 0, 1, 2, 3])
    assert (i ** bp.tensor([-1, -2, -3, -1, -2, 0])).tolist() == [0, 1, 0, 1, 0, 1]
    i8 = bp.tensor([2, 1, -1, 0], dtype=bp.int8)
    assert (i8 ** bp.tensor([-1, -1, -1, -1], dtype=bp.int8)).tolist() == [0, 1, -1, 0]
    assert (2 ** bp.tensor([-1, 0, 1, 2])).tolist() == [0, 1, 2, 4]
    assert ((-1) ** bp.tensor([-1, -2, -3])).tolist() == [-1, 1, -1]
    b = bp.tensor([True, False])
    assert (b**True).dtype == bp.bool and (b**True).tolist() == [True, False]
    assert (b**False).tolist() == [True, True] and (b**2).dtype == bp.int64
    with pytest.raises(RuntimeError, match="^Integers to negative integer powers are not allowed.$"):
        i**-1  # an integer tensor to a negative Python int raises, as torch's
    assert (bp.tensor([2.0, 4.0]) ** bp.tensor([-1.0, 0.5])).tolist() == [0.5, 2.0]


def test_chunk_split_of_empty_dims() -> None:
    assert [tuple(t.shape) for t in bp.zeros(0, 4).chunk(3)] == [(0, 4)] * 3
    assert [tuple(t.shape) for t in bp.zeros(2, 0).chunk(2, 1)] == [(2, 0)] * 2
    assert [tuple(t.shape) for t in bp.zeros(0).split(0)] == [(0,)]
    with pytest.raises(ValueError):
        bp.zeros(3).split(0)


def test_view_dtype() -> None:
    x = bp.zeros(4)
    v = x.view(bp.int32)
    assert v.dtype == bp.int32 and tuple(v.shape) == (4,) and not v.requires_grad
    v[0] = 1065353216  # the bits of 1.0f
    assert x.tolist() == [1.0, 0.0, 0.0, 0.0] and x._version == 1
    assert tuple(bp.zeros(2, 4).view(bp.float64).shape) == (2, 2)
    assert tuple(bp.zeros(2, 3).view(dtype=bp.uint8).shape) == (2, 12)
    with pytest.raises(RuntimeError, match="divisible by 2"):
        bp.zeros(2, 3).view(bp.float64)
    with pytest.raises(RuntimeError, match="stride"):
        bp.zeros(2, 3).t().view(bp.uint8)
    with pytest.raises(RuntimeError, match="dim"):
        bp.tensor(1.0).view(bp.uint8)
    assert not bp.ones(2, 4, requires_grad=True).view(bp.float64).requires_grad


def test_norm_nuc_and_fro() -> None:
    a = bp.tensor([[3.0, 0.0], [0.0, -4.0]])
    assert abs(a.norm(p="nuc").item() - 7.0) < 1e-6
    x = bp.stack([a, 2 * a])
    assert bp.norm(x, p="nuc", dim=(1, 2)).tolist() == pytest.approx([7.0, 14.0])
    assert tuple(x.norm(p="nuc", dim=(2, 1), keepdim=True).shape) == (2, 1, 1)
    with pytest.raises(RuntimeError, match="2-tuple"):
        x.norm(p="nuc")
    with pytest.raises(RuntimeError, match="2-tuple"):
        x.norm(p="fro", dim=(0, 1, 2))


def test_unique_dim_empty() -> None:
    v, inv, cnt = bp.unique(bp.zeros(0, 3), dim=0, return_inverse=True, return_counts=True)
    assert tuple(v.shape) == (0, 3) and tuple(inv.shape) == (0,) and tuple(cnt.shape) == (0,)


def test_functional_tanh_linear_ldexp() -> None:
    assert F.tanh(bp.tensor([0, 1])).dtype == bp.float32
    x, w = bp.ones(2, 3), bp.tensor([1.0, 2.0, 3.0])
    assert F.linear(x, w).tolist() == [6.0, 6.0]
    assert tuple(F.linear(bp.ones(4, 2, 3), w, bp.tensor(1.0)).shape) == (4, 2)
    with pytest.raises(RuntimeError):
        F.linear(x, w, bp.tensor(1.0))  # torch's addmm refuses a 1-D weight with a bias for 2-D input
    assert bp.ldexp(bp.tensor([1.0], dtype=bp.float16), bp.tensor([3], dtype=bp.int32)).dtype == bp.float16
    assert bp.ldexp(bp.tensor([1, 2]), bp.tensor([1.0], dtype=bp.float16)).dtype == bp.float16


# ----------------------------------------------------------------------------------------------- against torch

_OPS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod,
    "&": operator.and_, "|": operator.or_, "^": operator.xor, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "r-": lambda a, b: b - a, "r+": lambda a, b: b + a, "r<": lambda a, b: b < a,
    "add_": lambda a, b: a.clone().add_(b), "mul_": lambda a, b: a.clone().mul_(b),
    "fmod": lambda a, b: a.fmod(b), "div floor": lambda a, b: a.div(b, rounding_mode="floor"),
}  # fmt: skip
_VALUES = [-3, 256, 300, -129, 1000, -1000, 2**31, 2**40 + 3, 2**63]


def _result(lib, dt, fn, v):
    t = lib.tensor([1, 100, 0, 7], dtype=getattr(lib, dt))
    try:
        r = fn(t, v)
    except Exception:  # noqa: BLE001 - both raising is agreement
        return "raises"
    return str(r.dtype).removeprefix("torch."), r.tolist()


@needs_torch
@pytest.mark.parametrize("dt", ["uint8", "int8", "int16", "int32"])
@pytest.mark.parametrize("name", list(_OPS))
def test_wrap_against_torch(dt: str, name: str) -> None:
    for v in _VALUES:
        ours, theirs = _result(bp, dt, _OPS[name], v), _result(torch, dt, _OPS[name], v)
        if theirs == "raises":  # (torch refuses a divisor that wraps to 0; we may compute)
            continue
        assert ours == theirs, (dt, name, v)


_POW = [
    ("int64", [-2, -1, 0, 1, 2, 3], "int64", [-1, -2, -3, -1, -2, 0]),
    ("int8", [2, 1, -1, 0, -1], "int8", [-1, -1, -1, -1, -4]),
    ("int16", [2, 1, -1, 0], "int64", [-1, -2, -3, 5]),
    ("uint8", [2, 3], "uint8", [1, 2]),
    ("bool", [True, False], "int64", [1, 2]),
]


@needs_torch
@pytest.mark.parametrize("case", _POW, ids=lambda c: f"{c[0]}**{c[2]}")
def test_int_pow_against_torch(case) -> None:
    xd, x, yd, y = case
    ours = bp.tensor(x, dtype=getattr(bp, xd)) ** bp.tensor(y, dtype=getattr(bp, yd))
    theirs = torch.tensor(x, dtype=getattr(torch, xd)) ** torch.tensor(y, dtype=getattr(torch, yd))
    assert ours.tolist() == theirs.tolist() and str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    for base in (2, -1, 1, 0, True):
        o = bp.pow(base, bp.tensor(y, dtype=getattr(bp, yd)))
        t = torch.pow(base, torch.tensor(y, dtype=getattr(torch, yd)))
        assert o.tolist() == t.tolist() and str(o.dtype) == str(t.dtype).removeprefix("torch."), base


@needs_torch
def test_view_dtype_nuc_norm_against_torch() -> None:
    a = np.random.default_rng(0).standard_normal((3, 4, 6)).astype(np.float32)
    for dt in ("int32", "uint8", "float16", "float64", "complex64", "int16"):
        o, t = bp.tensor(a).view(getattr(bp, dt)), torch.tensor(a).view(getattr(torch, dt))
        assert tuple(o.shape) == tuple(t.shape) and np.array_equal(o.numpy(), t.numpy(), equal_nan=True), dt
    for dims in ((0, 1), (1, 2), (2, 0)):
        xo, xt = bp.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        o, t = bp.norm(xo, p="nuc", dim=dims, keepdim=True), torch.norm(xt, p="nuc", dim=dims, keepdim=True)
        assert tuple(o.shape) == tuple(t.shape) and np.allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-5)
        o.sum().backward()
        t.sum().backward()
        assert np.allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5), dims
