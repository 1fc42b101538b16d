"""Elementwise math, activations and matrix products as Tensor methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd.function import OpValueError, apply, apply_
from backprop.ops import conversion as conv
from backprop.ops import elementwise as ew
from backprop.ops import linalg, nn
from backprop.ops import math as mt
from backprop.ops._util import ShapeError, dim_alias

if TYPE_CHECKING:
    from backprop.tensor import Tensor

_SCALARS = (int, float, bool)


def _float(x: Any) -> Any:
    """``x`` itself when floating, else cast to the default float dtype: torch's ``sin(int tensor)``
    is float32, where NumPy would give float64."""
    if x.data.dtype.kind in "fc":
        return x
    return apply(conv.astype, x, dtype=dtypes.get_default_dtype())


def _promoted(a: Any, b: Any, to_float: bool = False) -> tuple[Any, Any]:
    """``a`` and ``b`` (a Tensor and a Tensor or Python scalar) cast to torch's result dtype, the rule
    of Tensor's operators (``dtypes.promote_types``), for the binary methods that have no operator.
    ``to_float``: the result is floating even for integer operands (atan2, logaddexp, ...)."""
    if b.__class__ is float and a.data.dtype.kind in "fc":
        return a, b
    if hasattr(b, "grad_fn") and b.data.dtype is a.data.dtype and not (to_float and a.data.dtype.kind in "biu"):
        return a, b
    dt = dtypes.promote_types(a, b)
    if to_float and dt.kind in "biu":
        dt = dtypes.get_default_dtype()
    return _cast(a, dt), _cast(b, dt)


def _cast(x: Any, dt: Any) -> Any:
    if hasattr(x, "grad_fn") and x.data.dtype != dt:
        return apply(conv.astype, x, dtype=dt)
    return x


def _is_scalar(x: Any) -> bool:
    return x is None or x.__class__ in _SCALARS


class MathMethods:
    """``x.exp()``, ``x.clamp(...)``, ``x.matmul(y)``, in-place ``x.add_(y)``, ..."""

    __slots__ = ()

    def exp(self) -> Tensor:
        return apply(ew.exp, _float(self))

    def log(self) -> Tensor:
        return apply(ew.log, _float(self))

    def sqrt(self) -> Tensor:
        return apply(ew.sqrt, _float(self))

    def abs(self) -> Tensor:
        return apply(ew.abs, self)

    absolute = abs

    def tanh(self) -> Tensor:
        return apply(ew.tanh, _float(self))

    def sigmoid(self) -> Tensor:
        return apply(ew.sigmoid, self)

    def relu(self) -> Tensor:
        return apply(ew.relu, self)

    def relu_(self: Any) -> Tensor:
        return apply_(ew.relu, "relu_", self)

    def sigmoid_(self: Any) -> Tensor:
        return apply_(ew.sigmoid, "sigmoid_", self)

    def hardshrink(self: Any, lambd: float = 0.5) -> Tensor:
        """x where |x| > lambd, else 0 (gradient 0 at +-lambd, as in torch)."""
        return apply(ew.where, apply(ew.abs, self) > lambd, self, 0.0)

    def prelu(self: Any, weight: Any) -> Tensor:
        """x if x > 0 else weight * x, ``weight`` one slope or one per channel (dim 1)."""
        n, channels = weight.numel(), (self.shape[1] if self.ndim >= 2 else 1)
        if weight.ndim > 1 or n not in (1, channels):
            raise ShapeError(
                f"prelu: weight of shape {tuple(weight.shape)} must hold 1 or {channels} (the input's channel size "
                f"in dim 1 of shape {tuple(self.shape)}) parameters"
            )
        if n > 1 and self.ndim > 2:
            weight = weight.reshape(n, *([1] * (self.ndim - 2)))
        return apply(ew.where, self > 0, self, weight * self)

    def clamp(self: Any, min: Any = None, max: Any = None) -> Tensor:
        """Limit to [min, max]; either bound may be None, a number or a Tensor (broadcast against x).

        With Tensor bounds, as torch: x's gradient flows where min <= x <= max, min's where x < min,
        max's where the result is max (so max wins when min > max)."""
        if min is None and max is None:
            raise OpValueError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if _is_scalar(min) and _is_scalar(max):
            x = self
            if x.data.dtype.kind in "biu" and (min.__class__ is float or max.__class__ is float):
                x = _float(x)  # int tensor, float bound: a float result (torch)
            return apply(ew.clamp, x, min=min, max=max)
        out = self
        if min is not None:
            min = self._other(min)
            out = apply(ew.where, out < min, min, out)
        if max is not None:
            max = self._other(max)
            out = apply(ew.where, out > max, max, out)
        return out

    clip = clamp

    def clamp_min(self: Any, min: Any) -> Tensor:
        return self.clamp(min=min)

    def clamp_max(self: Any, max: Any) -> Tensor:
        return self.clamp(max=max)

    # ------------------------------------------------------------ arithmetic (torch's functional names)
    def add(self: Any, other: Any, *, alpha: Any = 1) -> Tensor:
        """self + alpha * other."""
        return self + (other if alpha == 1 else other * alpha)

    def sub(self: Any, other: Any, *, alpha: Any = 1) -> Tensor:
        """self - alpha * other."""
        return self - (other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self: Any, other: Any) -> Tensor:
        return self * other

    multiply = mul

    def div(self: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """self / other; ``rounding_mode="trunc"`` rounds towards 0, ``"floor"`` down (gradient 0,
        as torch), keeping integer dtypes integer."""
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return apply(mt.floor_divide, *_promoted(self, self._other(other)))
        if rounding_mode == "trunc":
            a, b = _promoted(self, self._other(other))
            if a.data.dtype.kind in "fc":
                return apply(mt.trunc, a / b)
            return apply(mt.floor_divide, a - apply(mt.fmod, a, b), b)  # exact for integers
        raise OpValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )

    divide = div

    def true_divide(self: Any, other: Any) -> Tensor:
        return self / other

    def floor_divide(self: Any, other: Any) -> Tensor:
        """floor(self / other), Python's ``//`` (gradient 0)."""
        return self // other

    def remainder(self: Any, other: Any) -> Tensor:
        """self - floor(self / other) * other: the sign of ``other`` (Python's ``%``)."""
        return self % other

    def fmod(self: Any, other: Any) -> Tensor:
        """self - trunc(self / other) * other: the sign of ``self`` (C's fmod)."""
        return apply(mt.fmod, *_promoted(self, self._other(other)))

    def pow(self: Any, exponent: Any) -> Tensor:
        return self**exponent

    def float_power(self: Any, exponent: Any) -> Tensor:
        """self ** exponent in float64 (torch)."""
        e = exponent.double() if hasattr(exponent, "grad_fn") else exponent
        return self.double() ** e

    def neg(self: Any) -> Tensor:
        return apply(ew.neg, self)

    negative = neg

    def positive(self: Any) -> Tensor:
        return self

    def reciprocal(self: Any) -> Tensor:
        return apply(mt.reciprocal, _float(self))

    def rsqrt(self: Any) -> Tensor:
        return apply(mt.rsqrt, _float(self))

    def square(self: Any) -> Tensor:
        return apply(mt.square, self)

    def lerp(self: Any, end: Any, weight: Any) -> Tensor:
        """self + weight * (end - self), ``weight`` a number or a Tensor."""
        return apply(mt.lerp, self, self._other(end), weight if _is_scalar(weight) else self._other(weight))

    def addcmul(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 * tensor2."""
        return self + (tensor1 * tensor2 if value == 1 else tensor1 * tensor2 * value)

    def addcdiv(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 / tensor2."""
        return self + (tensor1 / tensor2 if value == 1 else tensor1 / tensor2 * value)

    # ------------------------------------------------------------ unary math
    def sin(self: Any) -> Tensor:
        return apply(mt.sin, _float(self))

    def cos(self: Any) -> Tensor:
        return apply(mt.cos, _float(self))

    def tan(self: Any) -> Tensor:
        return apply(mt.tan, _float(self))

    def asin(self: Any) -> Tensor:
        return apply(mt.asin, _float(self))

    def acos(self: Any) -> Tensor:
        return apply(mt.acos, _float(self))

    def atan(self: Any) -> Tensor:
        return apply(mt.atan, _float(self))

    def sinh(self: Any) -> Tensor:
        return apply(mt.sinh, _float(self))

    def cosh(self: Any) -> Tensor:
        return apply(mt.cosh, _float(self))

    def asinh(self: Any) -> Tensor:
        return apply(mt.asinh, _float(self))

    def acosh(self: Any) -> Tensor:
        return apply(mt.acosh, _float(self))

    def atanh(self: Any) -> Tensor:
        return apply(mt.atanh, _float(self))

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def atan2(self: Any, other: Any) -> Tensor:
        """The angle of the point (other, self): atan(self / other) in the right quadrant."""
        return apply(mt.atan2, *_promoted(self, self._other(other), to_float=True))

    arctan2 = atan2

    def log2(self: Any) -> Tensor:
        return apply(mt.log2, _float(self))

    def log10(self: Any) -> Tensor:
        return apply(mt.log10, _float(self))

    def log1p(self: Any) -> Tensor:
        return apply(mt.log1p, _float(self))

    def exp2(self: Any) -> Tensor:
        return apply(mt.exp2, _float(self))

    def expm1(self: Any) -> Tensor:
        return apply(mt.expm1, _float(self))

    def erf(self: Any) -> Tensor:
        return apply(mt.erf, _float(self))

    def logaddexp(self: Any, other: Any) -> Tensor:
        """log(e^self + e^other), without overflow."""
        return apply(mt.logaddexp, *_promoted(self, self._other(other), to_float=True))

    def copysign(self: Any, other: Any) -> Tensor:
        """|self| with the sign of ``other`` (a float result, as torch)."""
        return apply(mt.copysign, *_promoted(self, self._other(other), to_float=True))

    # ------------------------------------------------------------ rounding and sign (gradient 0)
    def floor(self: Any) -> Tensor:
        return apply(mt.floor, self) if self.data.dtype.kind in "fc" else apply(conv.clone, self)

    def ceil(self: Any) -> Tensor:
        return apply(mt.ceil, self) if self.data.dtype.kind in "fc" else apply(conv.clone, self)

    def trunc(self: Any) -> Tensor:
        return apply(mt.trunc, self) if self.data.dtype.kind in "fc" else apply(conv.clone, self)

    fix = trunc

    def round(self: Any, *, decimals: int = 0) -> Tensor:
        """Round to ``decimals`` places, halves to even (as torch)."""
        if self.data.dtype.kind not in "fc" and decimals >= 0:
            return apply(conv.clone, self)
        return apply(mt.round, self, decimals=decimals)

    def sign(self: Any) -> Tensor:
        return apply(mt.sign, self)

    sgn = sign

    def frac(self: Any) -> Tensor:
        """self - trunc(self), with the sign of self."""
        return apply(mt.frac, self)

    # ------------------------------------------------------------ predicates (bool results)
    def isnan(self: Any) -> Tensor:
        return apply(mt.isnan, self)

    def isinf(self: Any) -> Tensor:
        return apply(mt.isinf, self)

    def isfinite(self: Any) -> Tensor:
        return apply(mt.isfinite, self)

    def isposinf(self: Any) -> Tensor:
        return self == float("inf")

    def isneginf(self: Any) -> Tensor:
        return self == float("-inf")

    def nan_to_num(self: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the dtype's
        largest and lowest finite values); the gradient flows to the finite elements only (torch)."""
        if self.data.dtype.kind not in "fc":
            return apply(conv.clone, self)
        info = np.finfo(self.data.dtype)
        hi = float(info.max) if posinf is None else float(posinf)
        lo = float(info.min) if neginf is None else float(neginf)
        out = apply(ew.where, apply(mt.isnan, self), float(nan), self)
        out = apply(ew.where, self == float("inf"), hi, out)
        return apply(ew.where, self == float("-inf"), lo, out)

    def isclose(self: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """|self - other| <= atol + rtol |other| elementwise (a bool tensor)."""
        return apply(mt.isclose, self, self._other(other), rtol=rtol, atol=atol, equal_nan=equal_nan)

    def allclose(self: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """Whether every element is close (a Python bool, as torch)."""
        return bool(self.isclose(other, rtol, atol, equal_nan).data.all())

    def maximum(self: Any, other: Any) -> Tensor:
        return apply(ew.maximum, self, self._other(other))

    def minimum(self: Any, other: Any) -> Tensor:
        return apply(ew.minimum, self, self._other(other))

    def softmax(self: Any, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
        """exp(x) / sum(exp(x)) along ``dim`` (cast to ``dtype`` first when given), as torch."""
        x = self if dtype is None else self.to(dtype)
        return apply(nn.softmax, x, axis=dim_alias("softmax", dim, axis, required=True))

    def log_softmax(self: Any, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
        """x - logsumexp(x) along ``dim`` (cast to ``dtype`` first when given), as torch."""
        x = self if dtype is None else self.to(dtype)
        return apply(nn.log_softmax, x, axis=dim_alias("log_softmax", dim, axis, required=True))

    def matmul(self: Any, other: Any) -> Tensor:
        return apply(linalg.matmul, self, self._other(other))

    # ------------------------------------------------------------ in place
    def add_(self: Any, other: Any, alpha: float = 1) -> Tensor:
        return apply_(ew.add, "add_", self, self._other(other if alpha == 1 else other * alpha))

    def sub_(self: Any, other: Any, alpha: float = 1) -> Tensor:
        return apply_(ew.sub, "sub_", self, self._other(other if alpha == 1 else other * alpha))

    def mul_(self: Any, other: Any) -> Tensor:
        return apply_(ew.mul, "mul_", self, self._other(other))

    def div_(self: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return apply_(ew.div, "div_", self, self._other(other))
        if rounding_mode == "floor":
            return apply_(mt.floor_divide, "div_", self, self._other(other))
        if rounding_mode == "trunc" and self.data.dtype.kind in "fc":
            return apply_(mt.trunc, "div_", apply_(ew.div, "div_", self, self._other(other)))
        if rounding_mode == "trunc":
            return apply_(ew.sub, "div_", self, apply(mt.fmod, self, self._other(other))).floor_divide_(other)
        raise OpValueError(
            f"div_ expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )

    def clamp_(self: Any, min: Any = None, max: Any = None) -> Tensor:
        if min is None and max is None:
            raise OpValueError("torch.clamp_: At least one of 'min' or 'max' must not be None")
        if _is_scalar(min) and _is_scalar(max):
            return apply_(ew.clamp, "clamp_", self, min=min, max=max)
        if min is not None:  # Tensor bounds: ties share the gradient here (maximum/minimum)
            apply_(ew.maximum, "clamp_", self, self._other(min))
        if max is not None:
            apply_(ew.minimum, "clamp_", self, self._other(max))
        return self

    clip_ = clamp_

    def clamp_min_(self: Any, min: Any) -> Tensor:
        return self.clamp_(min=min)

    def clamp_max_(self: Any, max: Any) -> Tensor:
        return self.clamp_(max=max)

    def pow_(self: Any, exponent: Any) -> Tensor:
        return apply_(ew.pow, "pow_", self, self._other(exponent))

    def neg_(self: Any) -> Tensor:
        return apply_(ew.neg, "neg_", self)

    negative_ = neg_

    def abs_(self: Any) -> Tensor:
        return apply_(ew.abs, "abs_", self)

    absolute_ = abs_

    def exp_(self: Any) -> Tensor:
        return apply_(ew.exp, "exp_", self)

    def log_(self: Any) -> Tensor:
        return apply_(ew.log, "log_", self)

    def sqrt_(self: Any) -> Tensor:
        return apply_(ew.sqrt, "sqrt_", self)

    def tanh_(self: Any) -> Tensor:
        return apply_(ew.tanh, "tanh_", self)

    def sin_(self: Any) -> Tensor:
        return apply_(mt.sin, "sin_", self)

    def cos_(self: Any) -> Tensor:
        return apply_(mt.cos, "cos_", self)

    def log1p_(self: Any) -> Tensor:
        return apply_(mt.log1p, "log1p_", self)

    def expm1_(self: Any) -> Tensor:
        return apply_(mt.expm1, "expm1_", self)

    def reciprocal_(self: Any) -> Tensor:
        return apply_(mt.reciprocal, "reciprocal_", self)

    def rsqrt_(self: Any) -> Tensor:
        return apply_(mt.rsqrt, "rsqrt_", self)

    def square_(self: Any) -> Tensor:
        return apply_(mt.square, "square_", self)

    def floor_(self: Any) -> Tensor:
        return apply_(mt.floor, "floor_", self) if self.data.dtype.kind in "fc" else self

    def ceil_(self: Any) -> Tensor:
        return apply_(mt.ceil, "ceil_", self) if self.data.dtype.kind in "fc" else self

    def trunc_(self: Any) -> Tensor:
        return apply_(mt.trunc, "trunc_", self) if self.data.dtype.kind in "fc" else self

    def round_(self: Any, *, decimals: int = 0) -> Tensor:
        return apply_(mt.round, "round_", self, decimals=decimals)

    def sign_(self: Any) -> Tensor:
        return apply_(mt.sign, "sign_", self)

    def frac_(self: Any) -> Tensor:
        return apply_(mt.frac, "frac_", self)

    def remainder_(self: Any, other: Any) -> Tensor:
        return apply_(mt.remainder, "remainder_", self, self._other(other))

    def fmod_(self: Any, other: Any) -> Tensor:
        return apply_(mt.fmod, "fmod_", self, self._other(other))

    def floor_divide_(self: Any, other: Any) -> Tensor:
        return apply_(mt.floor_divide, "floor_divide_", self, self._other(other))

    def lerp_(self: Any, end: Any, weight: Any) -> Tensor:
        w = weight if _is_scalar(weight) else self._other(weight)
        return apply_(mt.lerp, "lerp_", self, self._other(end), w)

    def addcmul_(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self.add_(tensor1 * tensor2 if value == 1 else tensor1 * tensor2 * value)

    def addcdiv_(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self.add_(tensor1 / tensor2 if value == 1 else tensor1 / tensor2 * value)

    def __iadd__(self: Any, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self: Any, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self: Any, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self: Any, other: Any) -> Tensor:
        return self.div_(other)

    def __imod__(self: Any, other: Any) -> Tensor:
        return self.remainder_(other)

    def __ifloordiv__(self: Any, other: Any) -> Tensor:
        return self.floor_divide_(other)

    def __ipow__(self: Any, other: Any) -> Tensor:
        return self.pow_(other)
