"""Rows of the ``backprop.ops.math`` ops."""

from __future__ import annotations

import numpy as np
from scipy import special

from backprop.ops import fft as ff
from op_cases._case import A, B, Case, I, K, P, R, U, _apply, binary, reduce_cases, unary  # noqa: F401

_SPECIAL = K(np.array([[1.0, np.nan, np.inf], [-np.inf, 0.0, -2.5]]))


def _lerp(s, e, w):
    return s + w * (e - s)


def _int_rows(ref):
    """Integer operands of both signs (forward only), also by a Python int."""
    return [
        Case([I(-9, 10, 2, 3), K(np.array([3, -3, 2]))], ref=ref, grad=False),
        Case([I(-9, 10, 4)], fn=lambda op, x: _apply(op, x, -4), ref=lambda x: ref(x, -4), grad=False),
    ]


def _trunc_div(x, y):
    return np.trunc(x / y)


def _logit(x, eps=None):
    z = x if eps is None else np.clip(x, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, 1/0 = inf, as torch
        return np.log(z / (1 - z))


def _no_grad(ref, *values):
    """One forward-only row of constant inputs (edge values: NaN, inf, poles, signed zeros)."""
    return Case([K(np.array(v)) for v in values], ref=ref, grad=False)


def _sgn_pairs(op, x, y):
    """sgn of the complex x + iy, as (real, imag) pairs: a real function gradcheck can differentiate."""
    return _apply(ff.view_as_real, _apply(op, _apply(ff.complex, x, y)))


def _np_sgn_pairs(z):
    s = z / np.abs(z)
    return np.stack([s.real, s.imag], axis=-1)


_NANS = ([1.0, np.nan, 2.0, np.nan, -0.0], [np.nan, 3.0, 2.0, np.nan, 0.0])
_INT_PAIRS = [I(-20, 20, 2, 3), I(-20, 20, 3)]


CASES: dict[str, list[Case]] = {
    "sin": unary(ref=np.sin),
    "cos": unary(ref=np.cos),
    "tan": unary(maker=A, ref=np.tan),
    "asin": unary(maker=U, ref=np.arcsin) + [Case([K(np.array([-0.5, 0.0, 1.0]))], ref=np.arcsin, grad=False)],
    "acos": unary(maker=U, ref=np.arccos),
    "atan": unary(ref=np.arctan),
    "sinh": unary(ref=np.sinh),
    "cosh": unary(ref=np.cosh),
    "asinh": unary(ref=np.arcsinh),
    "acosh": [Case([K(np.array(v))], ref=np.arccosh, grad=False) for v in ([1.0, 2.0, 10.0],)]
    + [Case([R(2, 3)], fn=lambda op, x: _apply(op, x * x + 1.5), ref=lambda x: np.arccosh(x * x + 1.5))],
    "atanh": unary(maker=U, ref=np.arctanh),
    "atan2": binary(np.arctan2, A, A),
    "log2": unary(maker=P, ref=np.log2),
    "log10": unary(maker=P, ref=np.log10),
    "log1p": unary(maker=P, ref=np.log1p),
    "exp2": unary(ref=np.exp2),
    "expm1": unary(ref=np.expm1),
    "erf": unary(ref=special.erf),
    "logaddexp": binary(np.logaddexp)
    + [Case([K(np.array([-np.inf, 1000.0, -1000.0])), K(np.array([0.0, 1000.0, 3.0]))], ref=np.logaddexp, grad=False)],
    "reciprocal": unary(maker=A, ref=np.reciprocal),
    "rsqrt": unary(maker=P, ref=lambda x: 1 / np.sqrt(x)),
    "square": unary(ref=np.square) + [Case([I(-5, 5, 4)], ref=np.square, grad=False)],
    "floor": unary(maker=A, ref=np.floor),
    "ceil": unary(maker=A, ref=np.ceil),
    "trunc": unary(maker=A, ref=np.trunc),
    "round": unary({}, {"decimals": 1}, maker=A, ref=lambda x, decimals=0: np.round(x, decimals))
    + [Case([K(np.array([0.5, 1.5, 2.5, -0.5, -1.5]))], ref=np.round, grad=False)],  # halves to even
    "sign": unary(maker=A, ref=np.sign)
    + [Case([K(np.array([np.nan, -0.0, 3.0, -2.0]))], ref=lambda x: np.nan_to_num(np.sign(x)), grad=False)],
    "sgn": unary(maker=A, ref=np.sign)  # complex rows: z = x + iy built with ``complex``, read back as pairs
    + [Case([A(3, 4), A(3, 4)], fn=_sgn_pairs, ref=lambda x, y: _np_sgn_pairs(x + 1j * y))],
    "frac": unary(maker=A, ref=lambda x: x - np.trunc(x)),
    "remainder": binary(np.remainder, R, A) + _int_rows(np.remainder),
    "fmod": binary(np.fmod, R, A) + _int_rows(np.fmod),
    "floor_divide": binary(np.floor_divide, R, A) + _int_rows(np.floor_divide),
    "trunc_divide": binary(lambda x, y: np.trunc(x / y), R, A),
    "lerp": [
        Case([R(2, 3), R(2, 3), R(2, 3)], ref=_lerp),
        Case([R(2, 3), R(3), U(2, 1)], ref=_lerp),
        Case([R(2, 3), R(2, 3)], fn=lambda op, s, e: _apply(op, s, e, 0.25), ref=lambda s, e: _lerp(s, e, 0.25)),
        Case([R(3), R(2, 3)], fn=lambda op, s, e: _apply(op, s, e, 0.75), ref=lambda s, e: _lerp(s, e, 0.75)),
    ],
    "copysign": binary(np.copysign, A, A),
    "isnan": [Case([_SPECIAL], ref=np.isnan, grad=False), Case([I(-3, 3, 4)], ref=np.isnan, grad=False)],
    "isinf": [Case([_SPECIAL], ref=np.isinf, grad=False), Case([I(-3, 3, 4)], ref=np.isinf, grad=False)],
    "isfinite": [Case([_SPECIAL], ref=np.isfinite, grad=False), Case([I(-3, 3, 4)], ref=np.isfinite, grad=False)],
    "erfc": unary(ref=special.erfc),
    "erfinv": unary(maker=U, ref=special.erfinv) + [_no_grad(special.erfinv, [-1.0, -0.9, 0.0, 1.0, 2.0])],
    "lgamma": unary(maker=P, ref=special.gammaln)
    + [Case([R(2, 3)], fn=lambda op, x: _apply(op, x * 0.1 - 0.5), ref=lambda x: special.gammaln(x * 0.1 - 0.5))]
    + [_no_grad(lambda x: np.where(x == -np.inf, np.inf, special.gammaln(x)), [0.0, -0.0, -1.0, -np.inf, np.inf])],
    "digamma": unary(maker=P, ref=special.digamma) + [_no_grad(special.digamma, [0.0, -0.0, -1.0, -1.5, 1.0])],
    "polygamma": unary({}, {"n": 1}, {"n": 3}, maker=P, ref=lambda x, n=0: special.polygamma(n, x)),
    "i0": unary(ref=special.i0),
    "i1": unary(ref=special.i1),
    "xlogy": binary(special.xlogy, R, P) + [_no_grad(special.xlogy, [0.0, 0.0, 1.0, 2.0], [0.0, np.nan, 0.0, 3.0])],
    "logit": unary({}, {"eps": 0.1}, maker=U, ref=_logit)
    + [_no_grad(_logit, [0.0, 0.3, 1.0, 1.5, -0.5])]
    + [Case([K(np.array([0.0, 0.05, 0.5, 1.0, 1.5]))], {"eps": 0.1}, ref=_logit, grad=False)],
    "sinc": unary(ref=np.sinc) + [_no_grad(np.sinc, [0.0, -0.0, 1.0, -2.5])],
    "logaddexp2": binary(np.logaddexp2),
    "hypot": binary(np.hypot),
    "fmax": binary(np.fmax) + [_no_grad(np.fmax, *_NANS)],
    "fmin": binary(np.fmin) + [_no_grad(np.fmin, *_NANS)],
    "nextafter": binary(np.nextafter) + [_no_grad(np.nextafter, [1.0, 0.0, -1.0], [2.0, -1.0, -1.0])],
    "heaviside": [
        _no_grad(np.heaviside, [-1.5, 0.0, -0.0, 2.0], [0.5, 0.25, 0.75, 0.5]),
        Case([I(-2, 3, 2, 3), I(5, 9, 3)], ref=lambda x, v: np.heaviside(x, v).astype(x.dtype), grad=False),
    ],
    "angle": unary(maker=A, ref=lambda x: np.where(x < 0, np.pi, 0.0))
    + [_no_grad(lambda x: np.where(np.isnan(x), x, np.where(x < 0, np.pi, 0.0)), [-1.0, -0.0, 0.0, 2.0, np.nan])],
    "frexp": [
        Case([R(2, 3)], ref=lambda x: np.frexp(x)[1], grad=False),
        _no_grad(lambda x: np.frexp(x)[1], [0.0, 1.0, -5.0, np.inf, np.nan, 1e-310]),
    ],
    "nan_to_num": unary(ref=np.nan_to_num)
    + [_no_grad(np.nan_to_num, [np.nan, np.inf, -np.inf, 1.5])]
    + [Case([_SPECIAL], {"nan": 1.0, "posinf": 5.0, "neginf": -5.0}, ref=np.nan_to_num, grad=False)],
    "gcd": [Case(_INT_PAIRS, ref=np.gcd, grad=False), _no_grad(np.gcd, [0, 12, -8], [0, 18, 6])],
    "lcm": [Case(_INT_PAIRS, ref=np.lcm, grad=False), _no_grad(np.lcm, [0, 12, -8], [5, 18, 6])],
    "bitwise_left_shift": [Case([I(-50, 50, 2, 3), I(0, 8, 3)], ref=np.left_shift, grad=False)],
    "bitwise_right_shift": [Case([I(-50, 50, 2, 3), I(0, 8, 3)], ref=np.right_shift, grad=False)],
    "signbit": [
        _no_grad(np.signbit, [-0.0, 0.0, -1.0, np.nan, -np.nan, -np.inf]),
        Case([I(-3, 3, 4)], ref=np.signbit, grad=False),
    ],
    "isreal": [Case([_SPECIAL], ref=np.isreal, grad=False), Case([I(-3, 3, 4)], ref=np.isreal, grad=False)],
    "isclose": [
        Case(
            [_SPECIAL, K(np.array([[1.0 + 1e-6, np.nan, np.inf], [np.inf, 1e-9, -2.5]]))],
            attrs,
            ref=lambda a, b, **kw: np.isclose(a, b, **kw),
            grad=False,
        )
        for attrs in ({}, {"equal_nan": True}, {"rtol": 0.0, "atol": 1e-8})
    ]
    + [Case([R(2, 3), R(3)], ref=np.isclose, grad=False)],
}
