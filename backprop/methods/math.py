"""Elementwise math, activations and matrix products as Tensor methods."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop import dtypes
from backprop.autograd.function import OpValueError, apply, apply_, autocast_function, check_inplace, not_a_tensor_here
from backprop.autograd.grad_mode import autocast_users
from backprop.autograd.higher_order import link_gradients
from backprop.autograd.node_names import name_node
from backprop.methods import structseqs as rt
from backprop.methods.structseqs import Frexp
from backprop.ops import conversion as conv
from backprop.ops import elementwise as ew
from backprop.ops import linalg, nn
from backprop.ops import math as mt
from backprop.ops._util import DTypeError, ShapeError, dim_alias
from backprop.registry import refuse_complex

if TYPE_CHECKING:
    from backprop.tensor import Tensor

_SCALARS = (int, float, bool)


def _float(x: Any) -> Any:
    """``x`` itself when floating, else cast to the default float dtype: torch's ``sin(int tensor)``
    is float32, where NumPy would give float64."""
    if dtypes.kind(x._data.dtype) in "fc":
        return x
    return apply(conv.astype, x, dtype=dtypes.get_default_dtype())


def _promoted(a: Any, b: Any, to_float: bool = False) -> tuple[Any, Any]:
    """``a`` and ``b`` (a Tensor and a Tensor or Python scalar) cast to torch's result dtype, the rule
    of Tensor's operators (``dtypes.promote_types``), for the binary methods that have no operator.
    ``to_float``: the result is floating even for integer operands (atan2, logaddexp, ...)."""
    if b.__class__ is float and a._data.dtype.kind in "fc":
        return a, b
    if hasattr(b, "grad_fn") and b._data.dtype is a._data.dtype and not (to_float and a._data.dtype.kind in "biu"):
        return a, b
    dt = dtypes.promote_types(a, b)
    if to_float and dt.kind in "biu":
        dt = dtypes.get_default_dtype()
    elif b.__class__ is int and dt in dtypes.WRAP_INT:  # wrapped into a small integer dtype, as torch's
        b = dtypes.wrap_int(b, dt)
    elif b.__class__ is int and b >= 1 << 63 and dt is dtypes.int64:  # (torch's uint64 scalar)
        b = dtypes.wide_int(b, a._data.dtype)
    return _cast(a, dt), _cast(b, dt)


def _cast(x: Any, dt: Any) -> Any:
    if hasattr(x, "grad_fn") and x._data.dtype != dt:
        return apply(conv.astype, x, dtype=dt)
    return x


def _is_scalar(x: Any) -> bool:
    return x is None or x.__class__ in _SCALARS


def _half_trio(a: Any, b: Any, c: Any) -> bool:
    """Three Tensors of one half dtype (float16 or bfloat16): torch's addcmul/addcdiv compute them in float32."""
    d = a.dtype
    half = d is dtypes.float16 or dtypes.is_bfloat16(d)
    return half and getattr(b, "dtype", None) == d == getattr(c, "dtype", None)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _float_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """``a`` and ``b`` promoted to a floating dtype (``_promoted(to_float=True)``); a number ``b``
    becomes a 0-d tensor of that dtype, so every kernel sees arrays of one dtype."""
    a, b = _promoted(a, a._other(b), to_float=True)
    return (a, a.new_tensor(b)) if _is_scalar(b) else (a, b)


def _inplace_other(self: Any, other: Any) -> Any:
    """``other`` for an in-place op whose result has ``self``'s dtype: a Python int wraps into a small
    integer dtype, as torch's (``uint8.add_(300)`` adds 44)."""
    if other.__class__ is int:
        if self._data.dtype in dtypes.WRAP_INT:
            return dtypes.wrap_int(other, self._data.dtype)
        if other >= 1 << 63:  # (int64: wrapped to -2**63 and up; bool: torch's promotion error)
            return dtypes.wide_int(other, self._data.dtype)
    return self._other(other)


_SUB_TWO_BOOLS = (
    "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` "
    "operator instead."
)
_SUB_BOOL = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use "
    "the `~` or `logical_not()` operator instead."
)


def _is_bool(x: Any) -> bool:
    return x.__class__ is bool or isinstance(x, np.bool_) or (hasattr(x, "grad_fn") and x._data.dtype.kind == "b")


def check_sub(a: Any, b: Any) -> None:
    """Raise torch's RuntimeError for ``a - b`` with a bool operand (a bool tensor or a Python bool beside one)."""
    ba, bb = _is_bool(a), _is_bool(b)
    if ba or bb:
        raise RuntimeError(_SUB_TWO_BOOLS if ba and bb else _SUB_BOOL)


_NEG_BOOL = (
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` "
    "or `logical_not()` operator instead."
)


def refuse_bool_neg(x: Any) -> None:
    """Raise torch's RuntimeError for ``-x`` of a bool tensor (called once NumPy's negative has refused it, so
    other tensors pay nothing)."""
    if x._data.dtype.kind == "b":
        raise RuntimeError(_NEG_BOOL) from None


def refuse_bool_pos(x: Any) -> None:
    """Raise torch's RuntimeError for ``+x`` (``positive``) of a bool tensor."""
    if x._data.dtype.kind == "b":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")


def check_alpha(a: Any, b: Any, alpha: Any) -> None:
    """torch's ``alpha_check`` of add/sub: a float ``alpha`` needs a floating (or complex) result, a complex one
    a complex result, a bool one a bool result (RuntimeError, torch's texts)."""
    if alpha.__class__ is int:
        return
    if hasattr(alpha, "item"):  # (a 0-dim tensor or a NumPy scalar: torch reads its value)
        alpha = alpha.item()
    kind = dtypes.kind(dtypes.promote_types(a, b))
    if isinstance(alpha, (bool, np.bool_)):
        if kind != "b":
            raise RuntimeError("Boolean alpha only supported for Boolean results.")
        return
    if kind not in "fc" and not isinstance(alpha, int):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    if kind != "c" and isinstance(alpha, complex):
        raise RuntimeError("For non-complex input tensors, argument alpha must not be a complex number.")


_LERP_SIGNATURES = (
    " * (Tensor input, Tensor end, Tensor weight, *, Tensor out = None)\n"
    " * (Tensor input, Tensor end, Number weight, *, Tensor out = None)\n"
)


def _lerp_dtype(self: Any, end: Any, weight: Any) -> None:
    """torch's lerp takes ``end`` (and a weight of more than 0 dims) only as tensors of self's dtype (it does
    not promote), and has no integer or bool kernel."""
    dt = self._data.dtype
    number = isinstance(weight, (*_SCALARS, complex, np.generic))
    if not hasattr(end, "grad_fn") or not (number or hasattr(weight, "grad_fn")):
        got = ", ".join("Tensor" if hasattr(a, "grad_fn") else type(a).__name__ for a in (self, end, weight))
        raise TypeError(
            f"lerp() received an invalid combination of arguments - got ({got}), but expected one of:\n"
            + _LERP_SIGNATURES
        )
    for name, other in (("end", end), ("weight", weight)):
        if hasattr(other, "grad_fn") and other._data.dtype != dt and (name == "end" or other.ndim):
            raise RuntimeError(
                f"expected dtype {dtypes.cpp_type_name(dt)} for `{name}` but got dtype "
                f"{dtypes.cpp_type_name(other._data.dtype)}"
            )
    if dt.kind in "biu":
        k = "scalar" if _is_scalar(weight) else "tensor"
        raise NotImplementedError(f"\"lerp_kernel_{k}\" not implemented for '{dtypes.scalar_type_name(dt)}'")


def _lerp_weight(self: Any, weight: Any) -> Any:
    """A tensor weight in self's dtype (a 0-d one of another dtype is read as a number, as torch)."""
    weight = self._other(weight)
    return weight if not hasattr(weight, "grad_fn") or weight._data.dtype == self._data.dtype else weight.to(self.dtype)


_ADDCDIV_INTS = (
    "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform a true "
    "division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + value * "
    "torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) "
    "for float inputs. The future addcdiv behavior is just the latter implementation: (input + value * tensor1 / "
    "tensor2), for all dtypes."
)


def _addcdiv_ints(tensor1: Any, tensor2: Any) -> None:
    """torch refuses addcdiv of two integer (or bool) tensors."""
    k1 = getattr(getattr(tensor1, "_data", None), "dtype", None)
    k2 = getattr(getattr(tensor2, "_data", None), "dtype", None)
    if k1 is not None and k2 is not None and k1.kind in "biu" and k2.kind in "biu":
        raise RuntimeError(_ADDCDIV_INTS)


def _clamp_dtype(x: Any, min: Any, max: Any, name: str) -> Any:
    """torch's dtype of ``clamp`` with number bounds: ``result_type`` of x and the bounds (a bool tensor with int
    bounds is int64, an int tensor with a float bound the default float); bool bounds on a bool tensor refused."""
    dt = x._data.dtype
    for b in (min, max):
        if b is not None:
            dt = dtypes.promote_dtypes(dt, dtypes.promote_types(x, b))
    if dt.kind == "b":
        which = "" if min is not None and max is not None else ("_min" if min is not None else "_max")
        raise NotImplementedError(f"\"{name}{which}_scalar_cpu\" not implemented for 'Bool'")
    return dt


def _addc_value(value: Any, dt: Any) -> Any:
    """addcmul/addcdiv's ``value`` as torch reads it into the op's dtype ``dt``: a float truncated toward zero
    into an integer dtype (``value=0.5`` on int64 tensors is 0: an int64 result, not a float one), a complex one
    refused beside a real dtype, as a float beyond float32's range beside float32/float16/bfloat16 (which compute
    in float), an int checked into the dtype."""
    opmath = dt if dtypes.kind(dt) != "f" or dt is dtypes.float64 else dtypes.float32
    if value.__class__ is complex and dtypes.kind(dt) != "c":
        value = dtypes.fill_int(value, opmath)  # (its real part, when its imaginary part is 0)
    if value.__class__ is float:
        return dtypes.double_int(value, dt) if dt.kind in "iu" else dtypes.fill_int(value, opmath)
    return dtypes.scalar_int(value, dt)


def _wide(v: Any, dt: Any) -> Any:
    return dtypes.wide_int(v, dt) if v.__class__ is int else v


def _other_data(self: Any, other: Any) -> Any:
    """``other`` for an op without gradient: a Tensor that requires grad as a plain one (not a view: a
    comparison's result has no gradient, and apply_ must not take it for a recorded op)."""
    other = _inplace_other(self, other)
    return other._wrap(other._data, other.device, None) if getattr(other, "_requires_grad", False) else other


def _compare_(opdef: Any, name: str, self: Any, other: Any = None) -> Any:
    """``self`` = ``opdef(self[, other])`` (a comparison or logical op) as 1/0 in self's dtype, in place.
    Inside a graph the result is built from differentiable in-place ops so that, as torch, the
    gradient through it is 0 (finite, even where self held NaN or inf)."""
    args = () if other is None else (_other_data(self, other),)
    if check_inplace(name, self):
        return _assign_(self, apply(opdef, self, *args))  # (a bool result: no graph, nothing saved)
    return apply_(opdef, name, self, *args)


def _assign_(self: Any, out: Any) -> Any:
    """``self`` takes ``out``'s values in place through recorded ops: self's old values get gradient 0
    (nan_to_num first, so that 0 * inf is no NaN) and ``out``'s own graph carries the rest."""
    return self.nan_to_num_(0.0, 0.0, 0.0).mul_(0).add_(out)


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
        try:
            return apply_(ew.relu, "relu_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sigmoid_(self: Any) -> Tensor:
        try:
            return apply_(ew.sigmoid, "sigmoid_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def hardshrink(self: Any, lambd: float = 0.5) -> Tensor:
        """0 where -lambd <= x <= lambd, else x (NaN stays NaN; gradient 0 at +-lambd, as in torch)."""
        refuse_complex(NotImplementedError, "\"hardshrink_cpu\" not implemented for '{dtype}'", self)
        out = apply(ew.where, (self >= -lambd) & (self <= lambd), 0.0, self)
        return name_node(link_gradients(out, self, name="HardshrinkBackwardBackward0"), "HardshrinkBackward0")

    def prelu(self: Any, weight: Any) -> Tensor:
        """x if x > 0 else weight * x, ``weight`` one slope or one per channel (dim 1)."""
        if autocast_users[0]:  # (in the lower-precision list: torch.prelu, Tensor.prelu and F.prelu alike)
            self, weight = autocast_function("prelu", self, weight)
        refuse_complex(NotImplementedError, "\"prelu_cpu\" not implemented for '{dtype}'", self, weight)
        n, channels = weight.numel(), (self.shape[1] if self.ndim >= 2 else 1)
        if weight.ndim > 1:  # (torch's checks and words)
            raise ShapeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
        if n not in (1, channels):
            raise ShapeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                f"{n} and channel size = {channels}."
            )
        if n > 1 and self.ndim > 2:
            weight = weight.reshape(n, *([1] * (self.ndim - 2)))
        elif self.ndim == 0 and weight.ndim:
            weight = weight.reshape(())  # a 0-d input keeps its shape (torch), not weight's (1,)
        out = apply(ew.where, self > 0, self, weight * self)
        out = link_gradients(out, self, weight, name="PreluKernelBackwardBackward0")  # (create_graph: as torch's)
        return name_node(out, "PreluKernelBackward0")

    def clamp(self: Any, min: Any = None, max: Any = None) -> Tensor:
        """Limit to [min, max]; either bound may be None, a number or a Tensor (broadcast against x).

        With Tensor bounds, as torch: x's gradient flows where min <= x <= max, min's where x < min,
        max's where the result is max (so max wins when min > max)."""
        if min is None and max is None:
            raise OpValueError("torch.clamp: At least one of 'min' or 'max' must not be None")
        refuse_complex(NotImplementedError, "clamp is not supported for complex types", self, min, max)
        min, max = dtypes.fill_int(min, self._data.dtype), dtypes.fill_int(max, self._data.dtype)
        if self._data.dtype.kind == "b":  # (an int from 2**63: torch's promotion error)
            min, max = _wide(min, self._data.dtype), _wide(max, self._data.dtype)
        if _is_scalar(min) and _is_scalar(max):
            dt = _clamp_dtype(self, min, max, "clamp")
            x = self if dt == self._data.dtype else apply(conv.astype, self, dtype=dt)
            return apply(ew.clamp, x, min=min, max=max)
        # torch's values (NaN in x or in a bound gives NaN) and gradient masks (clamp_backward_min_max):
        # x where min <= x <= max, min where x < min < max, max where x > max or max < min, else none
        x = self
        lo = None if min is None else self._other(min)
        hi = None if max is None else self._other(max)
        d = x.detach()
        if lo is not None:
            d = d.maximum(lo.detach() if hasattr(lo, "grad_fn") else lo)
        if hi is not None:
            d = d.minimum(hi.detach() if hasattr(hi, "grad_fn") else hi)
        if lo is not None and hi is not None:
            keep = (x >= lo).logical_and(x <= hi)
            out = apply(ew.where, (x > hi).logical_or(hi < lo), hi, d)
            out = apply(ew.where, (x < lo).logical_and(lo < hi), lo, out)
        elif lo is not None:
            keep, out = x >= lo, apply(ew.where, x < lo, lo, d)
        else:
            keep, out = x <= hi, apply(ew.where, x > hi, hi, d)
        out = name_node(apply(ew.where, keep, x, out), "ClampBackward0")  # (torch's node for Tensor bounds)
        return out if out.dtype == d.dtype else out.to(d.dtype)

    clip = clamp

    def clamp_min(self: Any, min: Any) -> Tensor:
        """``clamp(min=min)``, its node named as torch's (``ClampMinBackward0``; 1 for a Tensor bound)."""
        return name_node(self.clamp(min=min), f"ClampMinBackward{int(hasattr(min, 'grad_fn'))}")

    def clamp_max(self: Any, max: Any) -> Tensor:
        """``clamp(max=max)``, its node named as torch's (``ClampMaxBackward0``; 1 for a Tensor bound)."""
        return name_node(self.clamp(max=max), f"ClampMaxBackward{int(hasattr(max, 'grad_fn'))}")

    # ------------------------------------------------------------ arithmetic (torch's functional names)
    def add(self: Any, other: Any, *, alpha: Any = 1) -> Tensor:
        """self + alpha * other."""
        check_alpha(self, other, alpha)
        if alpha == 1:
            return self + other
        return self + other * dtypes.scalar_int(alpha, dtypes.promote_types(self, other))

    def sub(self: Any, other: Any, *, alpha: Any = 1) -> Tensor:
        """self - alpha * other."""
        if alpha == 1 and alpha.__class__ is int:
            return self - other
        check_sub(self, other)
        check_alpha(self, other, alpha)
        if alpha == 1:
            return self - other
        dt = dtypes.promote_types(self, other)
        if alpha.__class__ is int and dt.kind in "iu":  # torch adds other * -alpha, -alpha checked into dt
            return self + other * dtypes.fill_int(-alpha, dt)
        return self - other * dtypes.scalar_int(alpha, dt)

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
            if a._data.dtype.kind == "b":  # (promoted: both are bools; torch has no bool kernel)
                raise NotImplementedError("\"div_trunc_cpu\" not implemented for 'Bool'")
            if dtypes.kind(a._data.dtype) in "fc":
                return apply(mt.trunc_divide, a, b)
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
        """self ** exponent in float64, complex128 when either is complex (torch)."""
        tensor = hasattr(exponent, "grad_fn")
        cplx = self.is_complex() or (exponent.is_complex() if tensor else isinstance(exponent, complex))
        wide = dtypes.complex128 if cplx else dtypes.float64
        e = exponent.to(wide) if tensor else exponent
        return self.to(wide) ** e

    def neg(self: Any) -> Tensor:
        try:
            return apply(ew.neg, self)
        except TypeError:
            refuse_bool_neg(self)  # torch's RuntimeError for a bool tensor
            raise

    negative = neg

    def positive(self: Any) -> Tensor:
        try:
            refuse_bool_pos(self)
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def reciprocal(self: Any) -> Tensor:
        return apply(mt.reciprocal, _float(self))

    def rsqrt(self: Any) -> Tensor:
        return apply(mt.rsqrt, _float(self))

    def square(self: Any) -> Tensor:
        if self._data.dtype == dtypes.bool_:  # bool squares to int64 (torch), NumPy's to int8
            return apply(mt.square, apply(conv.astype, self, dtype=dtypes.int64))
        return apply(mt.square, self)

    def lerp(self: Any, end: Any, weight: Any) -> Tensor:
        """self + weight * (end - self), ``weight`` a number or a Tensor."""
        _lerp_dtype(self, end, weight)
        return apply(mt.lerp, self, end, weight if _is_scalar(weight) else _lerp_weight(self, weight))

    def addcmul(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 * tensor2."""
        if _half_trio(self, tensor1, tensor2):  # torch: in float32, rounded once
            value = _addc_value(value, self.dtype)
            return (self.float() + tensor1.float() * value * tensor2.float()).to(self.dtype)
        prod = tensor1 * tensor2
        dt = dtypes.promote_types(self, prod)
        if dt.kind == "b":
            raise NotImplementedError("\"addcmul_cpu_out\" not implemented for 'Bool'")
        return self + (prod if value == 1 else prod * _addc_value(value, dt))

    def addcdiv(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 / tensor2."""
        _addcdiv_ints(tensor1, tensor2)
        if _half_trio(self, tensor1, tensor2):  # torch: in float32, rounded once
            value = _addc_value(value, self.dtype)
            return (self.float() + tensor1.float() * value / tensor2.float()).to(self.dtype)
        q = tensor1 / tensor2
        return self + (q if value == 1 else q * _addc_value(value, dtypes.promote_types(self, q)))

    # ------------------------------------------------------------ unary math
    def sin(self: Any) -> Tensor:
        return apply(mt.sin, _float(self))

    def cos(self: Any) -> Tensor:
        return apply(mt.cos, _float(self))

    def tan(self: Any) -> Tensor:
        return apply(mt.tan, _float(self))

    def asin(self: Any) -> Tensor:
        try:
            return apply(mt.asin, _float(self))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def acos(self: Any) -> Tensor:
        try:
            return apply(mt.acos, _float(self))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def atan(self: Any) -> Tensor:
        try:
            return apply(mt.atan, _float(self))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sinh(self: Any) -> Tensor:
        return apply(mt.sinh, _float(self))

    def cosh(self: Any) -> Tensor:
        return apply(mt.cosh, _float(self))

    def asinh(self: Any) -> Tensor:
        try:
            return apply(mt.asinh, _float(self))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def acosh(self: Any) -> Tensor:
        try:
            return apply(mt.acosh, _float(self))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def atanh(self: Any) -> Tensor:
        try:
            return apply(mt.atanh, _float(self))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

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

    # ------------------------------------------------------------ special functions
    def erfc(self: Any) -> Tensor:
        return apply(mt.erfc, _float(self))

    def erfinv(self: Any) -> Tensor:
        return apply(mt.erfinv, _float(self))

    def lgamma(self: Any) -> Tensor:
        return apply(mt.lgamma, _float(self))

    def digamma(self: Any) -> Tensor:
        return apply(mt.digamma, _float(self))

    def polygamma(self: Any, n: int) -> Tensor:
        """The n-th derivative of digamma (``torch.polygamma(n, x)`` is ``x.polygamma(n)``)."""
        if n < 0:
            raise OpValueError(f"polygamma(n, x) does not support negative n (got n={n})")
        return apply(mt.polygamma, _float(self), n=int(n))

    def mvlgamma(self: Any, p: int) -> Tensor:
        """The log of the multivariate gamma function of dimension ``p``:
        sum_j lgamma(x - j/2) for j < p, plus p (p - 1) / 4 log(pi)."""
        if p < 1:
            raise OpValueError(f"mvlgamma: p has to be greater than or equal to 1 (got p={p})")
        x = _float(self)
        offsets = x.new_tensor((np.arange(p) / -2.0).reshape((p,) + (1,) * x.ndim))  # no view of x: mvlgamma_
        out = apply(mt.lgamma, offsets + x).sum(0) + p * (p - 1) / 4 * math.log(math.pi)
        return name_node(out, "MvlgammaBackward0")

    def i0(self: Any) -> Tensor:
        """The modified Bessel function of the first kind, order 0."""
        return apply(mt.i0, _float(self))

    def sinc(self: Any) -> Tensor:
        """sin(pi x) / (pi x), 1 at 0 (gradient 0 there)."""
        return apply(mt.sinc, _float(self))

    def logit(self: Any, eps: float | None = None) -> Tensor:
        """log(x / (1 - x)), x first clamped to [eps, 1 - eps] when ``eps`` is given."""
        return apply(mt.logit, _float(self), eps=eps)

    def xlogy(self: Any, other: Any) -> Tensor:
        """self * log(other), 0 where self == 0 (unless other is NaN)."""
        return apply(mt.xlogy, *_float_pair(self, other))

    def deg2rad(self: Any) -> Tensor:
        return name_node(_float(self) * (math.pi / 180.0), "Deg2RadBackward0")

    def rad2deg(self: Any) -> Tensor:
        return name_node(_float(self) * (180.0 / math.pi), "Rad2DegBackward0")

    # ------------------------------------------------------------ more binary float ops
    def hypot(self: Any, other: Any) -> Tensor:
        """sqrt(self^2 + other^2), without overflow."""
        return apply(mt.hypot, *_float_pair(self, other))

    def logaddexp2(self: Any, other: Any) -> Tensor:
        """log2(2^self + 2^other), without overflow."""
        return apply(mt.logaddexp2, *_float_pair(self, other))

    def fmax(self: Any, other: Any) -> Tensor:
        """Elementwise maximum where a NaN loses to a number (the gradient goes to the chosen one)."""
        return apply(mt.fmax, *_promoted(self, self._other(other)))

    def fmin(self: Any, other: Any) -> Tensor:
        """Elementwise minimum where a NaN loses to a number (the gradient goes to the chosen one)."""
        return apply(mt.fmin, *_promoted(self, self._other(other)))

    def nextafter(self: Any, other: Any) -> Tensor:
        """The next representable float after self towards other."""
        return apply(mt.nextafter, *_float_pair(self, other))

    def heaviside(self: Any, values: Any) -> Tensor:
        """0 where self < 0, ``values`` where self == 0, 1 where self > 0 (backward raises, as torch)."""
        return apply(mt.heaviside, *_promoted(self, self._other(values)))

    def ldexp(self: Any, other: Any) -> Tensor:
        """self * 2 ** other, in the promoted dtype of self and other (integers: the default float), as torch."""
        try:
            dt = dtypes.promote_types(self._data, other._data if hasattr(other, "grad_fn") else other)
            if dtypes.kind(dt) not in "fc":
                dt = dtypes.get_default_dtype()
            x = self.to(dt)
            if hasattr(other, "grad_fn") and dtypes.kind(other._data.dtype) in "fc":  # 2 ** e in e's dtype, as torch
                return name_node((x * 2.0**other).to(dt), "LdexpBackward0")
            wide = dtypes.promote_dtypes(dt, dtypes.float32)  # 2 ** int exponent is float32 (exact), then the product
            return name_node((x.to(wide) * (2.0**other).to(wide)).to(dt), "LdexpBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def frexp(self: Any) -> Frexp:
        """(mantissa, exponent) with self = mantissa * 2 ** exponent, 0.5 <= |mantissa| < 1; the
        exponent is int32 and the mantissa is differentiable (d mantissa = d self / 2 ** exponent)."""
        if dtypes.kind(self._data.dtype) != "f":
            raise DTypeError(f"frexp only supports floating-point dtypes, got {self.dtype}")
        e = apply(mt.frexp, self)
        mantissa = self / apply(mt.exp2, apply(conv.astype, e, dtype=self._data.dtype))
        return rt.frexp(name_node(mantissa, "FrexpBackward0"), e)

    def angle(self: Any) -> Tensor:
        """The argument of a real number: pi where self < 0, else 0 (gradient 0)."""
        return apply(mt.angle, _float(self))

    # ------------------------------------------------------------ integers (no gradient)
    def gcd(self: Any, other: Any) -> Tensor:
        """The greatest common divisor, elementwise (integer tensors)."""
        a, b = _promoted(self, self._other(other))
        return apply(mt.gcd, a, b)

    def lcm(self: Any, other: Any) -> Tensor:
        """The least common multiple, elementwise (integer tensors)."""
        a, b = _promoted(self, self._other(other))
        return apply(mt.lcm, a, b)

    def bitwise_left_shift(self: Any, other: Any) -> Tensor:
        """self << other (integer tensors)."""
        a, b = _promoted(self, self._other(other))
        return apply(mt.bitwise_left_shift, a, b)

    def bitwise_right_shift(self: Any, other: Any) -> Tensor:
        """self >> other, an arithmetic shift (integer tensors)."""
        a, b = _promoted(self, self._other(other))
        return apply(mt.bitwise_right_shift, a, b)

    # ------------------------------------------------------------ rounding and sign (gradient 0)
    def floor(self: Any) -> Tensor:
        return apply(mt.floor, self) if dtypes.kind(self._data.dtype) in "fc" else apply(conv.clone, self)

    def ceil(self: Any) -> Tensor:
        return apply(mt.ceil, self) if dtypes.kind(self._data.dtype) in "fc" else apply(conv.clone, self)

    def trunc(self: Any) -> Tensor:
        return apply(mt.trunc, self) if dtypes.kind(self._data.dtype) in "fc" else apply(conv.clone, self)

    fix = trunc

    def round(self: Any, *, decimals: int | None = None) -> Tensor:
        """Round to ``decimals`` places (default 0), halves to even (as torch). A given ``decimals`` is torch's
        other overload, whose node is RoundBackward1 (the plain one's RoundBackward0)."""
        if decimals is None:
            return apply(mt.round, self) if dtypes.kind(self._data.dtype) in "fc" else apply(conv.clone, self)
        if dtypes.kind(self._data.dtype) not in "fc" and decimals >= 0:
            return apply(conv.clone, self)
        return name_node(apply(mt.round, self, decimals=decimals), "RoundBackward1")

    def sign(self: Any) -> Tensor:
        if self._data.dtype == dtypes.bool_:  # the sign of a bool is itself (torch; NumPy has no loop)
            return apply(conv.clone, self)
        return apply(mt.sign, self)

    def sgn(self: Any) -> Tensor:
        """torch.sgn: z / |z| for complex tensors (0 at 0, with torch's gradient); sign for real ones."""
        if self._data.dtype == dtypes.bool_:
            return apply(conv.clone, self)
        return apply(mt.sgn, self)

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
        refuse_complex(RuntimeError, "isposinf does not support complex inputs.", self)
        return self == float("inf")

    def isneginf(self: Any) -> Tensor:
        refuse_complex(RuntimeError, "isneginf does not support complex inputs.", self)
        return self == float("-inf")

    def signbit(self: Any) -> Tensor:
        """The sign bit is set (True for -0.0; a bool tensor)."""
        return apply(mt.signbit, self)

    def isreal(self: Any) -> Tensor:
        """True everywhere for real dtypes (a bool tensor)."""
        return apply(mt.isreal, self)

    def nan_to_num(self: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the dtype's
        largest and lowest finite values); the gradient flows to the finite elements only (torch)."""
        if dtypes.kind(self._data.dtype) not in "fc":
            return apply(conv.clone, self)
        return apply(mt.nan_to_num, self, nan=float(nan), posinf=_opt_float(posinf), neginf=_opt_float(neginf))

    def isclose(self: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """|self - other| <= atol + rtol |other| elementwise (a bool tensor)."""
        try:
            return apply(mt.isclose, self, self._other(other), rtol=rtol, atol=atol, equal_nan=equal_nan)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def allclose(self: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """Whether every element is close (a Python bool, as torch)."""
        try:
            if self.device.type == "meta":
                raise RuntimeError("Tensor.item() cannot be called on meta tensors")
            return bool(self.isclose(other, rtol, atol, equal_nan)._data.all())
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def maximum(self: Any, other: Any) -> Tensor:
        return apply(ew.maximum, *_promoted(self, self._other(other)))

    def minimum(self: Any, other: Any) -> Tensor:
        return apply(ew.minimum, *_promoted(self, self._other(other)))

    def softmax(self: Any, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
        """exp(x) / sum(exp(x)) along ``dim`` (cast to ``dtype`` first when given), as torch."""
        x = self if dtype is None else self.to(dtype)
        return apply(nn.softmax, x, axis=dim_alias("softmax", dim, axis, required=True))

    def log_softmax(self: Any, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
        """x - logsumexp(x) along ``dim`` (cast to ``dtype`` first when given), as torch."""
        x = self if dtype is None else self.to(dtype)
        return apply(nn.log_softmax, x, axis=dim_alias("log_softmax", dim, axis, required=True))

    def matmul(self: Any, other: Any) -> Tensor:
        try:
            if getattr(type(other), "_sparse_rmm", None) is not None:  # dense @ sparse CSR/CSC
                return other._sparse_rmm(self)
            return apply(linalg.matmul, self, self._other(other))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    # ------------------------------------------------------------ in place
    def add_(self: Any, other: Any, alpha: float = 1) -> Tensor:
        check_alpha(self, other, alpha)
        if alpha != 1:
            other = other * dtypes.scalar_int(alpha, dtypes.promote_types(self, other))
        return apply_(ew.add, "add_", self, _inplace_other(self, other))

    def sub_(self: Any, other: Any, alpha: float = 1) -> Tensor:
        check_sub(self, other)
        check_alpha(self, other, alpha)
        if alpha != 1:
            dt = dtypes.promote_types(self, other)
            if alpha.__class__ is int and dt.kind in "iu":  # (as sub: other * -alpha, -alpha checked into dt)
                return apply_(ew.add, "sub_", self, _inplace_other(self, other * dtypes.fill_int(-alpha, dt)))
            other = other * dtypes.scalar_int(alpha, dt)
        return apply_(ew.sub, "sub_", self, _inplace_other(self, other))

    def mul_(self: Any, other: Any) -> Tensor:
        return apply_(ew.mul, "mul_", self, _inplace_other(self, other))

    def div_(self: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return apply_(ew.div, "div_", self, self._other(other))
        if rounding_mode == "floor":
            return apply_(mt.floor_divide, "div_", self, self._other(other))
        if rounding_mode == "trunc" and dtypes.kind(self._data.dtype) in "fc":
            return apply_(mt.trunc_divide, "div_", self, self._other(other))
        if rounding_mode == "trunc":
            return apply_(ew.sub, "div_", self, apply(mt.fmod, self, self._other(other))).floor_divide_(other)
        raise OpValueError(
            f"div_ expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )

    def clamp_(self: Any, min: Any = None, max: Any = None) -> Tensor:
        try:
            if min is None and max is None:
                raise OpValueError("torch.clamp_: At least one of 'min' or 'max' must not be None")
            min, max = dtypes.fill_int(min, self._data.dtype), dtypes.fill_int(max, self._data.dtype)
            if self._data.dtype.kind == "b":  # (an int from 2**63: torch's promotion error)
                min, max = _wide(min, self._data.dtype), _wide(max, self._data.dtype)
            if _is_scalar(min) and _is_scalar(max):
                dt = _clamp_dtype(self, min, max, "clamp")
                if not dtypes.can_cast(dt, self._data.dtype):  # (torch names the target's C++ type here)
                    raise DTypeError(
                        f"result type {dtypes.scalar_type_name(dt)} can't be cast to the desired output type "
                        f"{dtypes.cpp_type_name(self._data.dtype)}"
                    )
                return apply_(ew.clamp, "clamp_", self, min=min, max=max)
            if min is not None:  # Tensor bounds: ties share the gradient here (maximum/minimum)
                apply_(ew.maximum, "clamp_", self, self._other(min))
            if max is not None:
                apply_(ew.minimum, "clamp_", self, self._other(max))
            return self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    clip_ = clamp_

    def clamp_min_(self: Any, min: Any) -> Tensor:
        try:
            return self.clamp_(min=min)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def clamp_max_(self: Any, max: Any) -> Tensor:
        try:
            return self.clamp_(max=max)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def pow_(self: Any, exponent: Any) -> Tensor:
        return apply_(ew.pow, "pow_", self, self._other(exponent))

    def neg_(self: Any) -> Tensor:
        try:
            try:
                return apply_(ew.neg, "neg_", self)
            except TypeError:
                refuse_bool_neg(self)
                raise
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    negative_ = neg_

    def abs_(self: Any) -> Tensor:
        try:
            return apply_(ew.abs, "abs_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    absolute_ = abs_

    def exp_(self: Any) -> Tensor:
        try:
            return apply_(ew.exp, "exp_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def log_(self: Any) -> Tensor:
        try:
            return apply_(ew.log, "log_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sqrt_(self: Any) -> Tensor:
        try:
            return apply_(ew.sqrt, "sqrt_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def tanh_(self: Any) -> Tensor:
        try:
            return apply_(ew.tanh, "tanh_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sin_(self: Any) -> Tensor:
        try:
            return apply_(mt.sin, "sin_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def cos_(self: Any) -> Tensor:
        try:
            return apply_(mt.cos, "cos_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def log1p_(self: Any) -> Tensor:
        try:
            return apply_(mt.log1p, "log1p_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def expm1_(self: Any) -> Tensor:
        try:
            return apply_(mt.expm1, "expm1_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def reciprocal_(self: Any) -> Tensor:
        try:
            if dtypes.kind(self._data.dtype) not in "fc":  # (torch's result is a float; NumPy's would truncate)
                raise DTypeError(
                    "result type Float can't be cast to the desired output type "
                    f"{dtypes.scalar_type_name(self._data.dtype)}"
                )
            return apply_(mt.reciprocal, "reciprocal_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def rsqrt_(self: Any) -> Tensor:
        try:
            return apply_(mt.rsqrt, "rsqrt_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def square_(self: Any) -> Tensor:
        try:
            return apply_(mt.square, "square_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def floor_(self: Any) -> Tensor:
        try:
            return apply_(mt.floor, "floor_", self) if dtypes.kind(self._data.dtype) in "fc" else self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def ceil_(self: Any) -> Tensor:
        try:
            return apply_(mt.ceil, "ceil_", self) if dtypes.kind(self._data.dtype) in "fc" else self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def trunc_(self: Any) -> Tensor:
        try:
            return apply_(mt.trunc, "trunc_", self) if dtypes.kind(self._data.dtype) in "fc" else self
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def round_(self: Any, *, decimals: int | None = None) -> Tensor:
        try:
            if decimals is None:
                return apply_(mt.round, "round_", self)
            return name_node(apply_(mt.round, "round_", self, decimals=decimals), "RoundBackward1")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sign_(self: Any) -> Tensor:
        if self._data.dtype == dtypes.bool_:  # (the sign of a bool is itself)
            return apply_(conv.clone, "sign_", self)
        return apply_(mt.sign, "sign_", self)

    def frac_(self: Any) -> Tensor:
        try:
            return apply_(mt.frac, "frac_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def remainder_(self: Any, other: Any) -> Tensor:
        return apply_(mt.remainder, "remainder_", self, _inplace_other(self, other))

    def fmod_(self: Any, other: Any) -> Tensor:
        return apply_(mt.fmod, "fmod_", self, _inplace_other(self, other))

    def floor_divide_(self: Any, other: Any) -> Tensor:
        return apply_(mt.floor_divide, "floor_divide_", self, _inplace_other(self, other))

    def lerp_(self: Any, end: Any, weight: Any) -> Tensor:
        _lerp_dtype(self, end, weight)
        w = weight if _is_scalar(weight) else _lerp_weight(self, weight)
        return apply_(mt.lerp, "lerp_", self, end, w)

    def addcmul_(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        if _half_trio(self, tensor1, tensor2):
            return self.copy_(self.addcmul(tensor1, tensor2, value=value))
        prod = tensor1 * tensor2
        dt = dtypes.promote_types(self, prod)
        if dt.kind == "b":
            raise NotImplementedError("\"addcmul_cpu_out\" not implemented for 'Bool'")
        return self.add_(prod if value == 1 else prod * _addc_value(value, dt))

    def addcdiv_(self: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        _addcdiv_ints(tensor1, tensor2)
        if _half_trio(self, tensor1, tensor2):
            return self.copy_(self.addcdiv(tensor1, tensor2, value=value))
        q = tensor1 / tensor2
        return self.add_(q if value == 1 else q * _addc_value(value, dtypes.promote_types(self, q)))

    divide_ = div_
    true_divide_ = div_
    subtract_ = sub_
    multiply_ = mul_

    def sgn_(self: Any) -> Tensor:
        """``sgn`` in place."""
        if self._data.dtype == dtypes.bool_:
            return apply_(conv.clone, "sgn_", self)
        return apply_(mt.sgn, "sgn_", self)

    fix_ = trunc_

    def tan_(self: Any) -> Tensor:
        try:
            return apply_(mt.tan, "tan_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def asin_(self: Any) -> Tensor:
        try:
            return apply_(mt.asin, "asin_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def acos_(self: Any) -> Tensor:
        try:
            return apply_(mt.acos, "acos_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def atan_(self: Any) -> Tensor:
        try:
            return apply_(mt.atan, "atan_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sinh_(self: Any) -> Tensor:
        try:
            return apply_(mt.sinh, "sinh_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def cosh_(self: Any) -> Tensor:
        try:
            return apply_(mt.cosh, "cosh_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def asinh_(self: Any) -> Tensor:
        try:
            return apply_(mt.asinh, "asinh_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def acosh_(self: Any) -> Tensor:
        try:
            return apply_(mt.acosh, "acosh_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def atanh_(self: Any) -> Tensor:
        try:
            return apply_(mt.atanh, "atanh_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    arcsin_, arccos_, arctan_, arcsinh_, arccosh_, arctanh_ = asin_, acos_, atan_, asinh_, acosh_, atanh_

    def atan2_(self: Any, other: Any) -> Tensor:
        return apply_(mt.atan2, "atan2_", self, self._other(other))

    arctan2_ = atan2_

    def log2_(self: Any) -> Tensor:
        try:
            return apply_(mt.log2, "log2_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def log10_(self: Any) -> Tensor:
        try:
            return apply_(mt.log10, "log10_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def exp2_(self: Any) -> Tensor:
        try:
            return apply_(mt.exp2, "exp2_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def erf_(self: Any) -> Tensor:
        try:
            return apply_(mt.erf, "erf_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def erfc_(self: Any) -> Tensor:
        try:
            return apply_(mt.erfc, "erfc_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def erfinv_(self: Any) -> Tensor:
        return apply_(mt.erfinv, "erfinv_", self)

    def lgamma_(self: Any) -> Tensor:
        return apply_(mt.lgamma, "lgamma_", self)

    def digamma_(self: Any) -> Tensor:
        return apply_(mt.digamma, "digamma_", self)

    def polygamma_(self: Any, n: int) -> Tensor:
        if n < 0:
            raise OpValueError(f"polygamma_(n) does not support negative n (got n={n})")
        return apply_(mt.polygamma, "polygamma_", self, n=int(n))

    def mvlgamma_(self: Any, p: int) -> Tensor:
        check_inplace("mvlgamma_", self)
        return _assign_(self, self.mvlgamma(p))

    def i0_(self: Any) -> Tensor:
        try:
            return apply_(mt.i0, "i0_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def sinc_(self: Any) -> Tensor:
        try:
            return apply_(mt.sinc, "sinc_", self)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def logit_(self: Any, eps: float | None = None) -> Tensor:
        try:
            return apply_(mt.logit, "logit_", self, eps=eps)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def xlogy_(self: Any, other: Any) -> Tensor:
        try:
            return apply_(mt.xlogy, "xlogy_", self, self._other(other))
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def hypot_(self: Any, other: Any) -> Tensor:
        return apply_(mt.hypot, "hypot_", self, self._other(other))

    def nextafter_(self: Any, other: Any) -> Tensor:
        return apply_(mt.nextafter, "nextafter_", self, self._other(other))

    def heaviside_(self: Any, values: Any) -> Tensor:
        return apply_(mt.heaviside, "heaviside_", self, self._other(values))

    def copysign_(self: Any, other: Any) -> Tensor:
        return apply_(mt.copysign, "copysign_", self, self._other(other))

    def deg2rad_(self: Any) -> Tensor:
        try:
            return name_node(self.mul_(math.pi / 180.0), "Deg2RadBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def rad2deg_(self: Any) -> Tensor:
        try:
            return name_node(self.mul_(180.0 / math.pi), "Rad2DegBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def ldexp_(self: Any, other: Any) -> Tensor:
        try:
            return name_node(self.mul_(2.0**other), "LdexpBackward0")
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def float_power_(self: Any, exponent: Any) -> Tensor:
        """self ** exponent in place; self must have the dtype of float_power's result (torch): float64,
        complex128 when self or the exponent is complex."""
        tensor = hasattr(exponent, "grad_fn")
        cplx = self.is_complex() or (exponent.is_complex() if tensor else isinstance(exponent, complex))
        wide = dtypes.complex128 if cplx else dtypes.float64
        if self._data.dtype != wide:
            raise DTypeError(
                f"the base given to float_power_ has dtype {self.dtype} but the operation's result requires "
                f"dtype {np.dtype(wide)}"
            )
        return self.pow_(exponent.to(wide) if tensor else exponent)

    def nan_to_num_(self: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        try:
            if dtypes.kind(self._data.dtype) not in "fc":
                return self
            return apply_(
                mt.nan_to_num, "nan_to_num_", self, nan=float(nan), posinf=_opt_float(posinf), neginf=_opt_float(neginf)
            )
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor_here(e)
            raise

    def gcd_(self: Any, other: Any) -> Tensor:
        return apply_(mt.gcd, "gcd_", self, self._other(other))

    def lcm_(self: Any, other: Any) -> Tensor:
        return apply_(mt.lcm, "lcm_", self, self._other(other))

    def bitwise_left_shift_(self: Any, other: Any) -> Tensor:
        return apply_(mt.bitwise_left_shift, "bitwise_left_shift_", self, self._other(other))

    def bitwise_right_shift_(self: Any, other: Any) -> Tensor:
        return apply_(mt.bitwise_right_shift, "bitwise_right_shift_", self, self._other(other))

    # comparisons and logic in place: 1/0 (True/False) in self's dtype, gradient 0 (torch)
    def eq_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.eq, "eq_", self, other)

    def ne_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.ne, "ne_", self, other)

    def lt_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.lt, "lt_", self, other)

    def le_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.le, "le_", self, other)

    def gt_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.gt, "gt_", self, other)

    def ge_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.ge, "ge_", self, other)

    less_, less_equal_, greater_, greater_equal_, not_equal_ = lt_, le_, gt_, ge_, ne_

    def logical_and_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.logical_and, "logical_and_", self, other)

    def logical_or_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.logical_or, "logical_or_", self, other)

    def logical_xor_(self: Any, other: Any) -> Tensor:
        return _compare_(ew.logical_xor, "logical_xor_", self, other)

    def logical_not_(self: Any) -> Tensor:
        return _compare_(ew.logical_not, "logical_not_", self)

    def bitwise_and_(self: Any, other: Any) -> Tensor:
        return apply_(ew.bitwise_and, "bitwise_and_", self, _other_data(self, other))

    def bitwise_or_(self: Any, other: Any) -> Tensor:
        return apply_(ew.bitwise_or, "bitwise_or_", self, _other_data(self, other))

    def bitwise_xor_(self: Any, other: Any) -> Tensor:
        return apply_(ew.bitwise_xor, "bitwise_xor_", self, _other_data(self, other))

    def bitwise_not_(self: Any) -> Tensor:
        return apply_(ew.bitwise_not, "bitwise_not_", self)

    def __iadd__(self: Any, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self: Any, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self: Any, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self: Any, other: Any) -> Tensor:
        return self.div_(other)

    def __idiv__(self: Any, other: Any) -> Tensor:
        """``__itruediv__`` under Python 2's name, as torch keeps it."""
        return self.__itruediv__(other)

    def __imod__(self: Any, other: Any) -> Tensor:
        return self.remainder_(other)

    def __ifloordiv__(self: Any, other: Any) -> Tensor:
        return self.floor_divide_(other)

    def __ipow__(self: Any, other: Any) -> Tensor:
        return self.pow_(other)

    def __iand__(self: Any, other: Any) -> Tensor:
        return self.bitwise_and_(other)

    def __ior__(self: Any, other: Any) -> Tensor:
        return self.bitwise_or_(other)

    def __ixor__(self: Any, other: Any) -> Tensor:
        return self.bitwise_xor_(other)

    def __ilshift__(self: Any, other: Any) -> Tensor:
        return self.bitwise_left_shift_(other)

    def __irshift__(self: Any, other: Any) -> Tensor:
        return self.bitwise_right_shift_(other)
