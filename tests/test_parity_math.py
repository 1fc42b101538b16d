"""Elementwise math against torch: values, dtypes, shapes and gradients of the public API
(Tensor methods, operators, ``bp.*`` functions) on realistic inputs and edge cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

nan, inf = float("nan"), float("inf")


def _pair(values: Any, dtype: str = "float64", grad: bool = False) -> tuple[Any, Any]:
    a = np.asarray(values, dtype=dtype)
    return bp.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _same(ours: Any, theirs: Any, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, bp.Tensor), type(ours)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)
    else:
        assert ours == theirs, (ours, theirs)


def _check(
    fn_bp: Callable, fn_torch: Callable, *specs: Any, dtype: str = "float64", rtol: float = 1e-6, grad: bool = True
) -> None:
    """Forward (value, dtype, shape) and, for float inputs, the gradients of ``out.sum()``."""
    grad = grad and dtype.startswith("float")
    ours = [_pair(s, dtype, grad) if isinstance(s, list) else (s, s) for s in specs]
    out_bp = fn_bp(*[o[0] for o in ours])
    out_t = fn_torch(*[o[1] for o in ours])
    _same(out_bp, out_t, rtol=rtol)
    if grad and out_t.requires_grad:
        out_t.sum().backward()
        out_bp.sum().backward()
        for b, t in ours:
            if isinstance(t, torch.Tensor):
                assert (b.grad is None) == (t.grad is None)
                if t.grad is not None:
                    _same(b.grad, t.grad, rtol=rtol)


X = [[-2.5, -1.5, -0.7, 0.0], [0.3, 0.5, 1.5, 2.5]]
UNIT = [-0.9, -0.5, 0.0, 0.25, 0.8]
POS = [0.1, 0.5, 1.0, 3.0, 40.0]

UNARY = {
    "sin": X, "cos": X, "tan": UNIT, "asin": UNIT, "acos": UNIT, "atan": X, "sinh": X, "cosh": X, "asinh": X,
    "atanh": UNIT, "log2": POS, "log10": POS, "log1p": POS, "exp2": X, "expm1": X, "erf": X, "exp": X, "log": POS,
    "sqrt": POS, "rsqrt": POS, "reciprocal": [-2.0, -0.5, 0.25, 3.0], "square": X, "abs": X, "neg": X, "tanh": X,
    "floor": X, "ceil": X, "round": X, "trunc": X, "frac": X, "sign": X,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_methods_and_functions(name: str) -> None:
    _check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), UNARY[name])
    _check(lambda x: getattr(bp, name)(x), lambda x: getattr(torch, name)(x), UNARY[name], dtype="float32")


@pytest.mark.parametrize("name", ["sin", "exp", "log1p", "sqrt", "rsqrt", "erf", "reciprocal", "atan", "expm1"])
def test_unary_of_integers_is_float32(name: str) -> None:
    _check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [1, 2, 5], dtype="int64", rtol=1e-6)


@pytest.mark.parametrize("name", ["abs", "neg", "square", "sign", "floor", "ceil", "trunc", "round"])
def test_unary_keeping_integer_dtype(name: str) -> None:
    _check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [-3, 0, 2, 7], dtype="int64")


def test_acosh_and_aliases() -> None:
    _check(lambda x: x.acosh(), lambda x: x.acosh(), [1.5, 2.0, 10.0])
    _check(bp.arctan2, torch.arctan2, [1.0, -1.0], [-2.0, 3.0])
    _check(bp.fix, torch.fix, X)
    _check(bp.absolute, torch.absolute, X)


def test_round_halves_to_even_and_decimals() -> None:
    _check(lambda x: x.round(), lambda x: x.round(), [0.5, 1.5, 2.5, -0.5, -2.5, 3.4999])
    _check(lambda x: x.round(decimals=2), lambda x: x.round(decimals=2), [1.2345, -0.0151, 2.675, 1e-3])
    _check(lambda x: bp.round(x, decimals=-1), lambda x: torch.round(x, decimals=-1), [14.0, 15.0, 25.0, -35.0])


def test_sign_of_nan_is_zero_and_gradients_of_kinks_are_zero() -> None:
    _check(bp.sign, torch.sign, [nan, -0.0, 0.0, 3.0, -inf])
    for name in ("floor", "ceil", "round", "trunc", "sign"):
        _check(lambda x, n=name: getattr(x, n)(), lambda x, n=name: getattr(x, n)(), [-1.0, 0.0, 0.5, 2.0])


# ---------------------------------------------------------------- pow at base 0 (torch's conventions)


def test_pow_gradients_at_base_zero() -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        base = [0.0, 0.0, 0.0, 0.0, 2.0, 1.5]
        expo = [0.0, 2.0, 0.5, 1.0, 0.0, -1.0]
        _check(lambda x, y: x**y, lambda x, y: x**y, base, expo)
        _check(lambda x: x**0, lambda x: x**0, [0.0, 1.0, -2.0])
        _check(lambda x: x**0.0, lambda x: x**0.0, [0.0, 1.0, -2.0])
        _check(lambda y: 0.0**y, lambda y: 0.0**y, [0.0, 1.0, 2.5])
        _check(lambda y: 2.0**y, lambda y: 2.0**y, [0.0, 1.0, -2.5])


def test_pow_of_relu_with_learnable_exponent_has_finite_gradient() -> None:
    x, xt = _pair([-1.0, 0.0, 0.5, 2.0], grad=True)
    p, pt = _pair(2.0, grad=True)
    (bp.relu(x) ** p).sum().backward()
    (torch.relu(xt) ** pt).sum().backward()
    assert np.isfinite(p.grad.numpy()).all()
    _same(p.grad, pt.grad)
    _same(x.grad, xt.grad)


def test_pow_at_base_zero_under_create_graph() -> None:
    x, xt = _pair([0.0, 0.0, 1.5], grad=True)
    y, yt = _pair([0.0, 2.0, 3.0], grad=True)
    gx, gy = bp.autograd.grad((x**y).sum(), [x, y], create_graph=True)
    gxt, gyt = torch.autograd.grad((xt**yt).sum(), [xt, yt], create_graph=True)
    _same(gx, gxt)
    _same(gy, gyt)
    (gx.sum() + gy.sum()).backward()
    (gxt.sum() + gyt.sum()).backward()
    # second derivatives: finite everywhere (torch has NaN at x = 0, y = 2, from 0 * log 0); at (0, 2)
    # the closed forms y (y-1) x^(y-2) + x^(y-1) (1 + y ln x) = 2 and x^(y-1) (1 + y ln x) + x^y ln^2 x = 0
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(y.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy()[1:], [2.0, xt.grad.numpy()[2]], rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy()[1:], [0.0, yt.grad.numpy()[2]], rtol=1e-6)


# ---------------------------------------------------------------- saved tensors (version checks)


def test_mul_and_div_by_a_number_keep_nothing_of_the_tensor() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    e = bp.tensor([0.5, 0.25])
    d = x * 1
    d += d * 2 + e  # legal in torch: mul by a number saves no tensor
    d += d / 4
    d.sum().backward()
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    dt = xt * 1
    dt += dt * 2 + torch.tensor([0.5, 0.25])
    dt += dt / 4
    dt.sum().backward()
    _same(x.grad, xt.grad)


def test_mul_by_a_constant_tensor_keeps_only_that_tensor() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    c = bp.tensor([3.0, 4.0])
    d = x * 1
    y = d * c  # d is not needed (c wants no gradient), c is
    d.add_(1.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
    z = (x * c).sum()  # c is needed for x's gradient: changing it is still caught
    c.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


# ---------------------------------------------------------------- binary ops

A_ = [[5.5, -5.5, 7.0, -7.0], [0.25, -3.0, 3.0, 0.0]]
B_ = [[2.0, 2.0, -3.0, -3.0], [0.75, 1.5, 1.0, 4.0]]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda a, b: a % b, lambda a, b: a % b),
        (lambda a, b: a.remainder(b), lambda a, b: a.remainder(b)),
        (bp.fmod, torch.fmod),
        (lambda a, b: a // b, lambda a, b: torch.div(a, b, rounding_mode="floor")),
        (lambda a, b: a.div(b, rounding_mode="floor"), lambda a, b: a.div(b, rounding_mode="floor")),
        (lambda a, b: bp.div(a, b, rounding_mode="trunc"), lambda a, b: torch.div(a, b, rounding_mode="trunc")),
        (bp.atan2, torch.atan2),
        (bp.logaddexp, torch.logaddexp),
        (bp.copysign, torch.copysign),
        (lambda a, b: bp.add(a, b, alpha=2.5), lambda a, b: torch.add(a, b, alpha=2.5)),
        (lambda a, b: a.sub(b, alpha=-2), lambda a, b: a.sub(b, alpha=-2)),
        (bp.true_divide, torch.true_divide),
        (bp.multiply, torch.multiply),
    ],
)
def test_binary_floats(ours: Callable, theirs: Callable) -> None:
    _check(ours, theirs, A_, B_)
    _check(ours, theirs, A_[0], B_[0][:1])  # broadcasting


@pytest.mark.parametrize("op", ["%", "//", "fmod", "trunc", "floor"])
def test_integer_division_family(op: str) -> None:
    fns = {
        "%": lambda a, b: a % b,
        "//": lambda a, b: a // b,
        "fmod": lambda a, b: a.fmod(b),
        "trunc": lambda a, b: a.div(b, rounding_mode="trunc"),
        "floor": lambda a, b: a.div(b, rounding_mode="floor"),
    }
    _check(fns[op], fns[op], [7, -7, 7, -7, 0, 9], [2, 2, -2, -2, 3, 3], dtype="int64")
    _check(lambda a: fns[op](a, 3), lambda a: fns[op](a, 3), [7, -7, 1, -1], dtype="int64")
    _check(lambda a: fns[op](a, 2.5), lambda a: fns[op](a, 2.5), [7, -7, 1, -1], dtype="int64")


def test_reflected_mod_and_floordiv_and_number_first_functions() -> None:
    _check(lambda b: 7 % b, lambda b: 7 % b, [3.0, -3.0, 2.5], grad=False)  # torch: no derivative here
    _check(lambda b: 7.5 // b, lambda b: 7.5 // b, [3.0, -3.0, 2.5], grad=False)  # (ours: gradient 0)
    _check(lambda b: 7 % b, lambda b: 7 % b, [3, -3, 2], dtype="int64")
    _check(lambda b: bp.add(2, b), lambda b: torch.add(2, b), [3.0, -3.0])
    _check(lambda b: bp.mul(2.5, b), lambda b: torch.mul(2.5, b), [3, -3], dtype="int64")
    _check(lambda b: bp.pow(2, b), lambda b: torch.pow(2, b), [0.5, -1.0])


def test_binary_float_results_of_integers() -> None:
    for name in ("atan2", "copysign"):  # (torch has no integer logaddexp; ours gives float32)
        _check(getattr(bp, name), getattr(torch, name), [1, -2, 3], [2, 2, -1], dtype="int64")


def test_logaddexp_is_stable() -> None:
    _check(bp.logaddexp, torch.logaddexp, [1000.0, -1000.0, -inf, 0.0], [1000.0, -999.0, 0.0, 800.0])


def test_copysign_gradient_at_zero() -> None:
    _check(bp.copysign, torch.copysign, [0.0, -0.0, 2.0, -3.0], [-1.0, 1.0, -0.0, 2.0])


def test_lerp() -> None:
    s, e = [0.0, 1.0, -2.0, 5.0], [10.0, -1.0, 3.0, 5.5]
    for w in (0.25, 0.5, 0.75, 1.5, -0.5):
        _check(lambda a, b, w=w: a.lerp(b, w), lambda a, b, w=w: a.lerp(b, w), s, e)
    _check(bp.lerp, torch.lerp, s, e, [0.1, 0.6, -1.0, 2.0])
    _check(bp.lerp, torch.lerp, [[0.0], [1.0]], e, [0.3])


def test_clamp_with_tensor_bounds() -> None:
    x = [-2.0, -0.5, 0.0, 0.5, 2.0, 1.0]
    lo = [-1.0, -1.0, 0.5, 0.0, 0.0, 2.0]
    hi = [1.0, 0.0, 1.0, 0.25, 3.0, 1.5]  # last: min > max, max wins
    _check(lambda a, b, c: a.clamp(b, c), lambda a, b, c: a.clamp(b, c), x, lo, hi)
    _check(lambda a, b: bp.clamp(a, min=b), lambda a, b: torch.clamp(a, min=b), x, lo)
    _check(lambda a, c: a.clip(max=c), lambda a, c: a.clip(max=c), x, hi)
    _check(lambda a: a.clamp_min(0.25), lambda a: a.clamp_min(0.25), x)
    _check(lambda a: a.clamp(min=1.5), lambda a: a.clamp(min=1.5), [1, 2, 3], dtype="int64")
    with pytest.raises(RuntimeError):
        bp.tensor([1.0]).clamp()


# ---------------------------------------------------------------- predicates

S = [1.0, nan, inf, -inf, 0.0, -2.5]
T = [1.0 + 1e-6, nan, inf, inf, 1e-9, -2.5]


def test_float_predicates() -> None:
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
        _check(lambda a, n=name: getattr(a, n)(), lambda a, n=name: getattr(a, n)(), S)
        _check(getattr(bp, name), getattr(torch, name), [1, -2], dtype="int64")


def test_isclose_and_allclose() -> None:
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.0, "atol": 1e-12}, {"rtol": 1e-3, "atol": 0.0}):
        _check(lambda a, b, kw=kw: bp.isclose(a, b, **kw), lambda a, b, kw=kw: torch.isclose(a, b, **kw), S, T)
        a, at = _pair(S)
        b, bt = _pair(T)
        assert bp.allclose(a, b, **kw) == torch.allclose(at, bt, **kw)
        assert bp.allclose(a, a, **kw) == torch.allclose(at, at, **kw)
    a, at = _pair([1, 2, 3], "int64")
    assert a.allclose(a) is True and isinstance(a.isclose(a).dtype, np.dtype)


# ---------------------------------------------------------------- in place


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("pow_", (2,)), ("neg_", ()), ("abs_", ()), ("exp_", ()), ("sqrt_", ()), ("log_", ()), ("sin_", ()),
        ("cos_", ()), ("floor_", ()), ("ceil_", ()), ("round_", ()), ("trunc_", ()), ("sign_", ()), ("frac_", ()),
        ("reciprocal_", ()), ("rsqrt_", ()), ("square_", ()), ("remainder_", (0.75,)), ("fmod_", (0.75,)),
        ("lerp_", ([3.0, 1.0, 0.0, 2.0], 0.3)), ("clamp_min_", (1.0,)), ("clamp_max_", (1.0,)), ("tanh_", ()),
        ("log1p_", ()), ("expm1_", ()),
    ],
)  # fmt: skip
def test_inplace(name: str, args: tuple) -> None:
    a, at = _pair([0.5, 1.25, 2.0, 3.5])
    b_args = [bp.tensor(v, dtype=bp.float64) if isinstance(v, list) else v for v in args]
    t_args = [torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v for v in args]
    assert getattr(a, name)(*b_args) is a
    getattr(at, name)(*t_args)
    _same(a, at)


def test_inplace_records_gradients() -> None:
    x, xt = _pair([0.5, 1.25, 2.0], grad=True)
    y = x * 1
    y.pow_(3).sin_().add_(x, alpha=2)
    y.sum().backward()
    yt = xt * 1
    yt.pow_(3).sin_().add_(xt, alpha=2)
    yt.sum().backward()
    _same(x.grad, xt.grad)


def test_operators_in_place() -> None:
    a, at = _pair([5.5, -5.5, 7.0])
    a %= 2.0
    at %= 2.0
    _same(a, at)
    a //= 0.5
    at //= 0.5
    _same(a, at)
    a **= 2
    at **= 2
    _same(a, at)


def test_addcmul_addcdiv() -> None:
    _check(lambda a, b, c: a.addcmul(b, c, value=0.5), lambda a, b, c: a.addcmul(b, c, value=0.5), X[0], X[1], X[0])
    _check(lambda a, b, c: bp.addcdiv(a, b, c, value=-2), lambda a, b, c: torch.addcdiv(a, b, c, value=-2), *_adc())


def _adc() -> tuple:
    return [1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [2.0, 4.0, -0.5]


def test_float32_values_match() -> None:
    """float32 inputs stay float32 and agree with torch to float32 precision."""
    for name in ("sin", "erf", "log1p", "expm1", "rsqrt"):
        _check(lambda a, n=name: getattr(a, n)(), lambda a, n=name: getattr(a, n)(), POS, dtype="float32", rtol=1e-5)


def test_nan_to_num() -> None:
    vals = [1.0, nan, inf, -inf, -2.0]
    _check(bp.nan_to_num, torch.nan_to_num, vals)
    _check(lambda a: a.nan_to_num(nan=1.5, posinf=9.0), lambda a: a.nan_to_num(nan=1.5, posinf=9.0), vals)
    _check(bp.nan_to_num, torch.nan_to_num, vals, dtype="float32")


def test_div_inplace_rounding_modes() -> None:
    for mode in ("floor", "trunc"):
        for dtype in ("float64", "int64"):
            a, at = _pair([7, -7, 5, -5], dtype)
            a.div_(2, rounding_mode=mode)
            at.div_(2, rounding_mode=mode)
            _same(a, at)


def test_atan2_gradient_at_the_origin_is_zero_as_torchs() -> None:
    x = bp.tensor([0.0, 1.0], dtype=bp.float64, requires_grad=True)
    y = bp.tensor([0.0, 1.0], dtype=bp.float64, requires_grad=True)
    bp.atan2(x, y).sum().backward()
    xt = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    yt = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    torch.atan2(xt, yt).sum().backward()
    assert x.grad.tolist() == xt.grad.tolist() == [0.0, 0.5] and y.grad.tolist() == yt.grad.tolist()
