"""``bp.special``: torch.special's names over the registered ops (differentiable wherever those are).

Most entries are the top-level functions under SciPy's names (``expit`` is ``sigmoid``, ``gammaln``
is ``lgamma``, ``psi`` is ``digamma``); the rest are short compositions: ``ndtr`` through ``erfc``
(accurate in the lower tail), ``log_ndtr`` and ``ndtri`` from SciPy's, the exponentially scaled Bessel functions
``i0e``/``i1e``, ``entr`` and ``xlog1py``. Bessel, Airy, ``erfcx``, ``gammainc``/``gammaincc``, ``zeta`` and
the orthogonal polynomials live in ``backprop.methods.special`` (where ``Tensor.igamma`` finds them).
"""

from __future__ import annotations

import math
from typing import Any

from backprop import functions as fn
from backprop.autograd.custom import Function
from backprop.autograd.function import apply, not_a_tensor_here
from backprop.methods import special as _special_extra
from backprop.methods.math import _float
from backprop.methods.special import *  # noqa: F403 - Bessel, Airy, erfcx, gammainc, zeta, polynomials
from backprop.ops import math as mt
from backprop.registry import refuse_complex
from backprop.tensor import Tensor

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "i0", "i0e", "i1", "i1e",
    "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma", "psi",
    "round", "sinc", "softmax", "xlog1py", "xlogy",
]  # fmt: skip
__all__ += _special_extra.__all__

_SQRT_HALF = math.sqrt(0.5)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _x_named(f: Any, binary: bool) -> Any:
    """``f`` with torch.special's first keyword name ``x`` (its Airy, scaled Bessel and polynomial functions)."""
    if binary:

        def g(x: Any, n: Any) -> Tensor:
            return f(x, n)

    else:

        def g(x: Any) -> Tensor:  # type: ignore[misc]
            return f(x)

    g.__name__ = g.__qualname__ = f.__name__
    g.__doc__ = f.__doc__
    return g


for _name in ("airy_ai", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0"):
    globals()[_name] = _x_named(getattr(_special_extra, _name), False)
for _name in (
    "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
    "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
    "legendre_polynomial_p",
):  # fmt: skip
    globals()[_name] = _x_named(getattr(_special_extra, _name), True)

digamma = psi = fn.digamma
erf = fn.erf
erfc = fn.erfc
erfinv = fn.erfinv
exp2 = fn.exp2
expit = fn.sigmoid
expm1 = fn.expm1
gammaln = fn.lgamma
i0 = fn.i0
log1p = fn.log1p
logit = fn.logit
logsumexp = fn.logsumexp
multigammaln = fn.mvlgamma
polygamma = fn.polygamma
round = fn.round  # noqa: A001 - torch's name
sinc = fn.sinc
xlogy = fn.xlogy


def i1(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 1."""
    return apply(mt.i1, _float(input))


class _I0e(Function):
    """i0(x) e^-|x| from SciPy's ``i0e``: finite where i0(x) overflows (float32 past |x| ~ 90), 0 at +-inf;
    d/dx = i1e(x) - sgn(x) i0e(x), torch's formula, differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _scipy_values("i0e", x)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return gy * (i1e(x) - x.sign() * i0e(x))


def i0e(input: Tensor) -> Tensor:
    """i0(x) * exp(-|x|): ``i0`` without its overflow."""
    return _I0e.apply(_float(input))


class _I1e(Function):
    """i1(x) e^-|x| from SciPy's ``i1e`` (no overflow, 0 at +-inf); d/dx = i0e(x) - i1e(x) (sgn(x) + 1 / x),
    1/2 at x == 0, torch's formula, differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _scipy_values("i1e", x)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        xs = fn.where(x == 0, 1.0, x)
        return gy * fn.where(x == 0, 0.5, i0e(x) - i1e(x) * (x.sign() + 1 / xs))


def i1e(input: Tensor) -> Tensor:
    """i1(x) * exp(-|x|)."""
    return _I1e.apply(_float(input))


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF, 0.5 * erfc(-x / sqrt(2)) (no cancellation in the lower tail)."""
    refuse_complex(NotImplementedError, "\"erf_vml_cpu\" not implemented for '{dtype}'", input)
    x = _float(input)
    if x._data.dtype.itemsize == 2:  # float16/bfloat16: torch's composition, each step rounded
        return (1 + fn.erf(x * _SQRT_HALF)) * 0.5
    return 0.5 * fn.erfc(x * -_SQRT_HALF)


def _scipy_values(name: str, x: Tensor) -> Tensor:
    """SciPy's (on CUDA, cupyx's) ``special.<name>`` of ``x``, in its dtype; no graph."""
    return _special_extra._compute(name, x, lambda xp, a: _special_extra._scipy(xp, name, name)(a))


class _LogNdtr(Function):
    """log Phi(x) from SciPy's ``log_ndtr`` (no underflow in the lower tail, where log(ndtr(x)) is -inf);
    d/dx = exp(-x^2 / 2 - log Phi(x)) / sqrt(2 pi), torch's formula, itself differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _scipy_values("log_ndtr", x)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return gy * (-(x * x) / 2 - log_ndtr(x)).exp() / _SQRT_2PI


def log_ndtr(input: Tensor) -> Tensor:
    """log of the standard normal CDF, accurate far into the lower tail (log_ndtr(-100) is -5005.52...)."""
    refuse_complex(NotImplementedError, "\"log_ndtr_cpu\" not implemented for '{dtype}'", input)
    return _LogNdtr.apply(_float(input))


class _Ndtri(Function):
    """The normal quantile from SciPy's ``ndtri`` (accurate for p below the dtype's eps, where
    erfinv(2p - 1) is -inf); d/dp = sqrt(2 pi) exp(ndtri(p)^2 / 2), torch's formula, differentiable again."""

    @staticmethod
    def forward(ctx: Any, p: Tensor) -> Tensor:
        ctx.save_for_backward(p)
        return _scipy_values("ndtri", p)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Tensor:
        (p,) = ctx.saved_tensors
        q = ndtri(p)
        return gy * _SQRT_2PI * (q * q / 2).exp()


def ndtri(input: Tensor) -> Tensor:
    """The standard normal quantile function (the inverse of ``ndtr``): -inf at 0, inf at 1, NaN outside."""
    refuse_complex(NotImplementedError, "\"ndtri_cpu\" not implemented for '{dtype}'", input)
    return _Ndtri.apply(_float(input))


class _Entr(Function):
    """-x log x with torch's derivative -(1 + log x): +inf at 0 (where xlogy's rule gives 0 / 0), NaN for
    x < 0; differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        if x._data.dtype.itemsize == 2:  # float16/bfloat16: torch's -x * log(x), the log rounded first
            return fn.where(x < 0, -math.inf, fn.where(x == 0, 0.0, -(x * x.log())))
        return fn.where(x < 0, -math.inf, fn.where(x == 0, 0.0, -fn.xlogy(x, x)))  # +0 at 0, not -xlogy's -0

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return gy * -(1 + x.log())


def entr(input: Tensor) -> Tensor:
    """-x log x elementwise: 0 at 0, -inf for negative x (as torch)."""
    refuse_complex(NotImplementedError, "\"entr_cpu\" not implemented for '{dtype}'", input)
    return _Entr.apply(_float(input))


def xlog1py(input: Any, other: Any) -> Tensor:
    """x * log1p(y), 0 where x == 0 (unless y is NaN)."""
    refuse_complex(NotImplementedError, "\"xlog1py_cpu\" not implemented for '{dtype}'", input, other)
    x, y = (t if isinstance(t, Tensor) else None for t in (input, other))
    like = x if x is not None else y
    assert like is not None, "xlog1py: one argument must be a Tensor"
    a = input if isinstance(input, Tensor) else like.new_tensor(input)
    b = other if isinstance(other, Tensor) else like.new_tensor(other)
    return _Xlog1py.apply(_float(a), _float(b))


class _Xlog1py(Function):
    """x log1p(y), 0 where x == 0 (unless y is NaN), with torch's derivatives: log1p(y) for x, also at
    x == 0 (0 there where y <= -1), and x / (1 + y) for y; differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(x, y)
        product = x * y.log1p()
        return fn.where((x == 0) & ~y.isnan(), product.new_zeros(()), product)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor, Tensor]:
        x, y = ctx.saved_tensors
        gx = fn.where((x == 0) & (y <= -1), gy.new_zeros(()), xlog1py(gy, y))
        return gx, gy * x / (y + 1)


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Softmax along ``dim`` (``dtype``: compute in that dtype)."""
    try:
        return input.softmax(dim, dtype=dtype) if dtype is not None else input.softmax(dim)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """log(softmax) along ``dim``, computed stably."""
    try:
        return input.log_softmax(dim, dtype=dtype) if dtype is not None else input.log_softmax(dim)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise
