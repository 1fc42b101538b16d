"""The rest of torch.special: Bessel and Airy functions, ``erfcx``, the incomplete gamma functions, Hurwitz's
zeta and the classical orthogonal polynomials.

Values come from ``scipy.special`` on NumPy arrays (``cupyx.scipy.special`` on CuPy arrays; a function it
lacks raises a clear error); the polynomials are their three-term recurrences over the array module, so they
run anywhere. Gradients follow torch's: the Bessel, Airy and polynomial functions have none (their results do
not require grad), ``erfcx`` has its closed form, ``gammainc``/``gammaincc`` and ``zeta`` have one in their
second argument only and raise torch's NotImplementedError in the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd.custom import Function
from backprop.methods.math import _promoted
from backprop.registry import refuse_complex

if TYPE_CHECKING:
    from backprop.tensor import Tensor

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _scipy(xp: Any, name: str, fname: str) -> Callable[..., Any]:
    """``scipy.special.<name>`` for NumPy arrays, ``cupyx.scipy.special.<name>`` for CuPy ones."""
    if xp.__name__ == "cupy":
        import cupyx.scipy.special as sp

        if not hasattr(sp, name):
            raise NotImplementedError(
                f"special.{fname}: cupyx.scipy.special has no {name}, so it cannot run on a CUDA tensor; "
                "move the input to the CPU (.cpu()) for this function"
            )
    else:
        import scipy.special as sp
    return getattr(sp, name)


def _wrap(like: Tensor, array: Any, device: Any, grad_fn: None) -> Tensor:
    """A graph-less tensor of ``like``'s class family around ``array``."""
    plain: Any = like._plain
    return plain._wrap(array, device, grad_fn)


def _floating(x: Tensor, fname: str) -> Tensor:
    """``x`` as a floating tensor: integers and bool become the default float dtype, as torch's."""
    if not hasattr(x, "_data"):
        raise TypeError(f"special.{fname}(): argument 'input' must be Tensor, not {type(x).__name__}")
    return x if dtypes.kind(x.dtype) == "f" else x.to(dtypes.get_default_dtype())


def _compute(fname: str, x: Tensor, kernel: Callable[[Any, Any], Any]) -> Tensor:
    """``kernel(xp, array)`` on ``x``'s values in ``x``'s dtype (float16 through float32); no graph."""
    xp = x.device.xp
    a = x._data.astype("float32") if x.dtype.itemsize < 4 else x._data
    return _wrap(x, xp.asarray(kernel(xp, a)).astype(x.dtype, copy=False), x.device, None)


def _unary(fname: str, sciname: str) -> Callable[[Tensor], Tensor]:
    def fn(input: Tensor) -> Tensor:
        x = _floating(input, fname)
        return _compute(fname, x, lambda xp, a: _scipy(xp, sciname, fname)(a))

    fn.__name__ = fn.__qualname__ = fname
    fn.__doc__ = f"torch.special.{fname}: SciPy's ``{sciname}`` elementwise (no gradient, as torch)."
    return fn


bessel_j0 = _unary("bessel_j0", "j0")
bessel_j1 = _unary("bessel_j1", "j1")
bessel_y0 = _unary("bessel_y0", "y0")
bessel_y1 = _unary("bessel_y1", "y1")
modified_bessel_i0 = _unary("modified_bessel_i0", "i0")
modified_bessel_i1 = _unary("modified_bessel_i1", "i1")
modified_bessel_k0 = _unary("modified_bessel_k0", "k0")
modified_bessel_k1 = _unary("modified_bessel_k1", "k1")
scaled_modified_bessel_k0 = _unary("scaled_modified_bessel_k0", "k0e")
scaled_modified_bessel_k1 = _unary("scaled_modified_bessel_k1", "k1e")


def spherical_bessel_j0(input: Tensor) -> Tensor:
    """sin(x) / x (1 at 0, 0 at +-inf), the spherical Bessel function of the first kind of order 0 (no gradient)."""
    x = _floating(input, "spherical_bessel_j0")
    return _compute("spherical_bessel_j0", x, _spherical_j0)


def _spherical_j0(xp: Any, a: Any) -> Any:
    inf = xp.isinf(a)  # sinc(inf) is sin(inf) / inf = NaN; torch's limit is 0
    return xp.where(inf, 0, xp.sinc(xp.where(inf, 0, a) / math.pi))


def airy_ai(input: Tensor) -> Tensor:
    """The Airy function Ai(x) (no gradient, as torch)."""
    x = _floating(input, "airy_ai")
    return _compute("airy_ai", x, lambda xp, a: _scipy(xp, "airy", "airy_ai")(a)[0])


# ---------------------------------------------------------------- erfcx: differentiable
class _Erfcx(Function):
    """exp(x^2) erfc(x); d/dx = 2 x erfcx(x) - 2 / sqrt(pi) (itself differentiable again)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = _compute("erfcx", x, lambda xp, a: _scipy(xp, "erfcx", "erfcx")(a))
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return gy * (2 * x * erfcx(x) - _TWO_OVER_SQRT_PI)


def erfcx(input: Tensor) -> Tensor:
    """The scaled complementary error function exp(x^2) erfc(x), without erfc's underflow for large x."""
    refuse_complex(NotImplementedError, "\"erfcx_cpu\" not implemented for '{dtype}'", input)
    return _Erfcx.apply(_floating(input, "erfcx"))


# ---------------------------------------------------------------- binary functions, gradient in `other` only
def _pair(fname: str, input: Any, other: Any, *, scalars: bool) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of their promoted floating dtype (torch's promotion)."""
    tensors = [hasattr(t, "_data") for t in (input, other)]
    if not any(tensors) or (not scalars and not all(tensors)):
        got = f"{type(input).__name__} and {type(other).__name__}"
        raise TypeError(f"special.{fname}(): expected Tensor arguments, got {got}")
    if tensors[0]:
        a, b = _promoted(input, input._other(other))
    else:
        b, a = _promoted(other, other._other(input))
    a = a if hasattr(a, "_data") else b.new_tensor(a, dtype=b.dtype)
    b = b if hasattr(b, "_data") else a.new_tensor(b, dtype=a.dtype)
    if dtypes.kind(a.dtype) != "f":
        dt = dtypes.get_default_dtype()
        a, b = a.to(dt), b.to(dt)
    return a, b


def _binary_values(fname: str, sciname: str, a: Tensor, b: Tensor) -> Tensor:
    xp = a.device.xp
    x, y = (t._data.astype("float32") if t.dtype.itemsize < 4 else t._data for t in (a, b))
    out = xp.asarray(_scipy(xp, sciname, fname)(x, y)).astype(a.dtype, copy=False)
    return _wrap(a, out, a.device, None)


def _not_implemented(what: str) -> NotImplementedError:
    return NotImplementedError(f"the derivative for '{what}' is not implemented.")


class _Igamma(Function):
    """P(a, x) (``upper=False``) or Q(a, x) = 1 - P(a, x): dP/dx = x^(a-1) e^(-x) / Gamma(a); none in a."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, x: Tensor, upper: bool) -> Tensor:
        ctx.save_for_backward(a, x)
        ctx.upper = upper
        return _binary_values("gammaincc" if upper else "gammainc", "gammaincc" if upper else "gammainc", a, x)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        a, x = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise _not_implemented("igammac: input" if ctx.upper else "igamma: input")
        gx = None
        if ctx.needs_input_grad[1]:
            density = ((a - 1).xlogy(x) - x - a.lgamma()).exp()
            gx = gy * (-density if ctx.upper else density)
        return None, gx, None


def gammainc(input: Tensor, other: Tensor) -> Tensor:
    """The regularised lower incomplete gamma function P(input, other); differentiable in ``other`` only."""
    a, x = _pair("gammainc", input, other, scalars=False)
    return _Igamma.apply(a, x, False)


def gammaincc(input: Tensor, other: Tensor) -> Tensor:
    """The regularised upper incomplete gamma function Q(input, other) = 1 - P; differentiable in ``other``."""
    a, x = _pair("gammaincc", input, other, scalars=False)
    return _Igamma.apply(a, x, True)


class _Zeta(Function):
    """Hurwitz's zeta(s, q) = sum_k (k + q)^-s: d/dq = -s zeta(s + 1, q); none in s (as torch)."""

    @staticmethod
    def forward(ctx: Any, s: Tensor, q: Tensor) -> Tensor:
        ctx.save_for_backward(s, q)
        return _binary_values("zeta", "zeta", s, q)

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[None, Tensor | None]:
        s, q = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise _not_implemented("zeta")
        return None, (gy * -s * zeta(s + 1, q) if ctx.needs_input_grad[1] else None)


def zeta(input: Any, other: Any) -> Tensor:
    """Hurwitz's zeta function zeta(input, other); either may be a number. Differentiable in ``other``."""
    refuse_complex(NotImplementedError, "\"zeta_cpu\" not implemented for '{dtype}'", input, other)
    s, q = _pair("zeta", input, other, scalars=True)
    return _Zeta.apply(s, q)


# ---------------------------------------------------------------- orthogonal polynomials (three-term recurrences)
# each: (p_0, p_1, p_{k+1} from (k, x, p_k, p_{k-1})); n is truncated to an integer and n < 0 gives 0, as torch
_Step = Callable[[int, Any, Any, Any], Any]
_RECURRENCES: dict[str, tuple[Callable[[Any], Any], _Step]] = {
    "chebyshev_polynomial_t": (lambda x: x, lambda k, x, p, q: 2 * x * p - q),
    "chebyshev_polynomial_u": (lambda x: 2 * x, lambda k, x, p, q: 2 * x * p - q),
    "chebyshev_polynomial_v": (lambda x: 2 * x - 1, lambda k, x, p, q: 2 * x * p - q),
    "chebyshev_polynomial_w": (lambda x: 2 * x + 1, lambda k, x, p, q: 2 * x * p - q),
    "hermite_polynomial_h": (lambda x: 2 * x, lambda k, x, p, q: 2 * x * p - 2 * k * q),
    "hermite_polynomial_he": (lambda x: x, lambda k, x, p, q: _fma_step(x, p, k * q)),
    "laguerre_polynomial_l": (lambda x: 1 - x, lambda k, x, p, q: ((2 * k + 1 - x) * p - k * q) / (k + 1)),
    "legendre_polynomial_p": (lambda x: x, lambda k, x, p, q: ((2 * k + 1) * x * p - k * q) / (k + 1)),
}


def _fma_step(x: Any, p: Any, kq: Any) -> Any:
    """x * p - kq rounded once, as torch's compiled recurrence (a fused multiply-add): exact in float64 for
    float32 operands, so single-precision results agree with torch's bit for bit."""
    if x.dtype == "float32":
        return (x.astype("float64") * p.astype("float64") - kq.astype("float64")).astype("float32")
    return x * p - kq


def _polynomial(fname: str, input: Any, n: Any, shifted: bool = False) -> Tensor:
    x, nt = _pair(fname, input, n, scalars=True)
    xp = x.device.xp
    xa, na = xp.broadcast_arrays(x._data, nt._data)
    work = xa.astype("float32") if x.dtype.itemsize < 4 else xa
    if shifted:
        work = 2 * work - 1  # T*_n(x) = T_n(2x - 1), and so on
    order = xp.trunc(xp.nan_to_num(na, nan=-1.0, posinf=-1.0, neginf=-1.0)).astype("int64")
    first, step = _RECURRENCES[fname.replace("shifted_", "")]
    out = xp.where(order >= 0, xp.ones_like(work), xp.zeros_like(work))
    top = int(order.max()) if order.size else 0
    prev, cur = xp.ones_like(work), first(work)
    with np.errstate(over="ignore", invalid="ignore"):  # (inf - inf, overflow: NaN/inf silently, as torch's)
        for k in range(1, top + 1):
            out = xp.where(order == k, cur, out)
            prev, cur = cur, step(k, work, cur, prev)
    return _wrap(x, xp.asarray(out).astype(x.dtype, copy=False), x.device, None)


def _polynomial_fn(fname: str) -> Callable[[Any, Any], Tensor]:
    shifted = fname.startswith("shifted_")

    def fn(input: Any, n: Any) -> Tensor:
        return _polynomial(fname, input, n, shifted)

    fn.__name__ = fn.__qualname__ = fname
    kind = fname.replace("shifted_", "shifted ").replace("_polynomial_", " polynomial ")
    fn.__doc__ = f"torch.special.{fname}(input, n): the {kind} of degree n (truncated; 0 for n < 0), no gradient."
    return fn


chebyshev_polynomial_t = _polynomial_fn("chebyshev_polynomial_t")
chebyshev_polynomial_u = _polynomial_fn("chebyshev_polynomial_u")
chebyshev_polynomial_v = _polynomial_fn("chebyshev_polynomial_v")
chebyshev_polynomial_w = _polynomial_fn("chebyshev_polynomial_w")
shifted_chebyshev_polynomial_t = _polynomial_fn("shifted_chebyshev_polynomial_t")
shifted_chebyshev_polynomial_u = _polynomial_fn("shifted_chebyshev_polynomial_u")
shifted_chebyshev_polynomial_v = _polynomial_fn("shifted_chebyshev_polynomial_v")
shifted_chebyshev_polynomial_w = _polynomial_fn("shifted_chebyshev_polynomial_w")
hermite_polynomial_h = _polynomial_fn("hermite_polynomial_h")
hermite_polynomial_he = _polynomial_fn("hermite_polynomial_he")
laguerre_polynomial_l = _polynomial_fn("laguerre_polynomial_l")
legendre_polynomial_p = _polynomial_fn("legendre_polynomial_p")

__all__ = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t", "chebyshev_polynomial_u",
    "chebyshev_polynomial_v", "chebyshev_polynomial_w", "erfcx", "gammainc", "gammaincc", "hermite_polynomial_h",
    "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p", "modified_bessel_i0",
    "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "spherical_bessel_j0", "zeta",
]  # fmt: skip
