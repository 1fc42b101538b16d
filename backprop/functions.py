"""Top-level functions, as in torch (``bp.exp(x)``, ``bp.sum(x, dim=1)``, ``bp.cat``)."""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from backprop import creation, dtypes
from backprop.autograd.function import apply, apply_, not_a_tensor, not_a_tensor_here
from backprop.autograd.node_names import name_inplace, name_node
from backprop.methods import linalg as _la
from backprop.methods.indexing import where_condition
from backprop.ops import activation as act
from backprop.ops import elementwise as ew
from backprop.ops import reduction as _reduction
from backprop.ops import shape as sh
from backprop.ops._util import DTypeError, ShapeError, broadcast_shape
from backprop.ops.math import ZeroDivisionRuntimeError
from backprop.tensor import Tensor, promote

_AS_FUNCTION: dict[tuple[int, str], Any] = {}


def as_function(method: Any, first: str = "input") -> Any:
    """The Tensor method ``method`` as torch's function of the same name: its first parameter called ``first``
    (``torch.exp(input=x)``, ``torch.linalg.det(A=m)``) instead of ``self``.

    A copy of the method's function with its first local renamed: the same code, so the call costs what the
    method's does (no wrapper). Where that is not possible (``self`` is captured by a nested function, or the
    method is a wrapper) a thin forwarding function with the renamed signature is returned instead. One object
    per method, so that aliases keep their identity (``bp.clip is bp.clamp``)."""
    key = (id(method), first)
    made = _AS_FUNCTION.get(key)
    if made is not None:
        return made
    code = getattr(method, "__code__", None)
    if (
        not isinstance(method, types.FunctionType)
        or code is None
        or code.co_argcount == 0
        or code.co_varnames[0] != "self"
        or "self" in code.co_cellvars
        or first in code.co_varnames
        or hasattr(method, "__wrapped__")
    ):
        made = _forwarding(method, first)
    else:
        made = types.FunctionType(
            code.replace(co_varnames=(first, *code.co_varnames[1:])),
            method.__globals__,
            method.__name__,
            method.__defaults__,
            method.__closure__,
        )
        made.__kwdefaults__ = method.__kwdefaults__
        made.__dict__.update(method.__dict__)
        made.__doc__, made.__qualname__, made.__module__ = method.__doc__, method.__name__, method.__module__
        made.__annotations__ = {first if k == "self" else k: v for k, v in method.__annotations__.items()}
    _AS_FUNCTION[key] = made
    return made


def _forwarding(method: Any, first: str) -> Any:
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):
        return method
    params = list(sig.parameters.values())
    if not params or params[0].name != "self" or params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return method
    if first in sig.parameters:  # (shadowed builtins here: no any())
        return method
    params[0] = params[0].replace(name=first, kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)

    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def fn(*args: Any, **kwargs: Any) -> Any:
        try:
            if first in kwargs:
                return method(kwargs.pop(first), *args, **kwargs)
            return method(*args, **kwargs)
        except AttributeError as e:  # a non-tensor argument: torch's TypeError
            not_a_tensor(e, method.__name__, names, args)
            raise

    fn.__name__ = fn.__qualname__ = method.__name__
    fn.__doc__, fn.__module__ = method.__doc__, method.__module__
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return fn


def name_first_input(namespace: dict[str, Any], names: Sequence[str]) -> None:
    """Every one of ``names`` in ``namespace`` (a module's globals) that is a Tensor method becomes
    ``as_function(method)`` (its first parameter ``input``, as torch's functions)."""
    for name in names:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType) and getattr(Tensor, value.__name__, None) is value:
            namespace[name] = as_function(value)


# ---------------------------------------------------------------- math (elementwise, activations, products)
exp = Tensor.exp
log = Tensor.log
sqrt = Tensor.sqrt
abs = Tensor.abs
tanh = Tensor.tanh
sigmoid = Tensor.sigmoid
relu = Tensor.relu
clamp = clip = Tensor.clamp
softmax = Tensor.softmax
log_softmax = Tensor.log_softmax


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """``input @ other`` (through the method, so a sparse ``input`` takes its own product)."""
    return input.matmul(other)


def _number_first(method: Any, second: str = "other") -> Any:
    """A binary function that, like torch's, also takes a number as ``input`` (``bp.add(2, x)``):
    the number becomes a 0-d tensor on ``other``'s device, so the usual dtype promotion applies.
    ``second``: torch's keyword name of the second argument (``exponent`` for ``pow``)."""
    if second != "other":
        inner = _number_first(method)

        def named(input: Any, *args: Any, **kwargs: Any) -> Any:
            if second in kwargs:
                args = (kwargs.pop(second), *args)
            return inner(input, *args, **kwargs)

        named.__name__ = named.__qualname__ = method.__name__
        named.__doc__ = method.__doc__
        return named

    def fn(input: Any, other: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            if not isinstance(other, Tensor):
                kinds = f"{type(input).__name__} and {type(other).__name__}"
                raise TypeError(f"{method.__name__}(): expected a Tensor argument, got {kinds}")
            input = Tensor._of(input, device=other.device)
        return method(input, other, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = method.__name__
    fn.__doc__ = method.__doc__
    return fn


add = _number_first(Tensor.add)
sub = subtract = _number_first(Tensor.sub)
mul = multiply = _number_first(Tensor.mul)
div = divide = _number_first(Tensor.div)
true_divide = _number_first(Tensor.true_divide)
floor_divide = _number_first(Tensor.floor_divide)
remainder = _number_first(Tensor.remainder)
fmod = _number_first(Tensor.fmod)
pow = _number_first(Tensor.pow, "exponent")  # noqa: A001 - torch's name
float_power = _number_first(Tensor.float_power, "exponent")
atan2 = arctan2 = _number_first(Tensor.atan2)
logaddexp = _number_first(Tensor.logaddexp)
copysign = _number_first(Tensor.copysign)
neg = negative = Tensor.neg
positive = Tensor.positive
absolute = Tensor.abs
reciprocal = Tensor.reciprocal
rsqrt = Tensor.rsqrt
square = Tensor.square
sign = Tensor.sign
sgn = Tensor.sgn
lerp = Tensor.lerp
addcmul = Tensor.addcmul
addcdiv = Tensor.addcdiv
sin, cos, tan, asin, acos, atan = Tensor.sin, Tensor.cos, Tensor.tan, Tensor.asin, Tensor.acos, Tensor.atan
arcsin, arccos, arctan = asin, acos, atan
sinh, cosh, asinh, acosh, atanh = Tensor.sinh, Tensor.cosh, Tensor.asinh, Tensor.acosh, Tensor.atanh
arcsinh, arccosh, arctanh = asinh, acosh, atanh
log2, log10, log1p, exp2, expm1, erf = Tensor.log2, Tensor.log10, Tensor.log1p, Tensor.exp2, Tensor.expm1, Tensor.erf
floor, ceil, trunc, fix, frac = Tensor.floor, Tensor.ceil, Tensor.trunc, Tensor.trunc, Tensor.frac
round = Tensor.round
clamp_min, clamp_max = Tensor.clamp_min, Tensor.clamp_max
isnan, isinf, isfinite = Tensor.isnan, Tensor.isinf, Tensor.isfinite
isposinf, isneginf = Tensor.isposinf, Tensor.isneginf
isclose, allclose = Tensor.isclose, Tensor.allclose
nan_to_num = Tensor.nan_to_num
lt, le, gt, ge, eq, ne = Tensor.lt, Tensor.le, Tensor.gt, Tensor.ge, Tensor.eq, Tensor.ne
less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne
equal = Tensor.equal
logical_and, logical_or, logical_xor, logical_not = (
    Tensor.logical_and,
    Tensor.logical_or,
    Tensor.logical_xor,
    Tensor.logical_not,
)
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = (
    Tensor.bitwise_and,
    Tensor.bitwise_or,
    Tensor.bitwise_xor,
    Tensor.bitwise_not,
)


_NOTHING: Any = object()  # where()'s missing arguments (None is a value there)


def maximum(input: Tensor, other: Any) -> Tensor:
    """Elementwise maximum (ties share the gradient), with torch's dtype promotion."""
    return apply(ew.maximum, *promote(input, input._other(other)))


def minimum(input: Tensor, other: Any) -> Tensor:
    """Elementwise minimum (ties share the gradient), with torch's dtype promotion."""
    return apply(ew.minimum, *promote(input, input._other(other)))


def where(condition: Tensor, input: Any = _NOTHING, other: Any = _NOTHING) -> Tensor:
    """``input`` where ``condition`` else ``other`` (either may be a Python scalar); ``where(condition)``
    alone is ``condition.nonzero(as_tuple=True)``, as torch.

    The result dtype follows torch's promotion of ``input`` and ``other``: two Python floats give the
    default float dtype (float32), not NumPy's float64."""
    if input is _NOTHING and other is _NOTHING and isinstance(condition, Tensor):
        return condition.nonzero(as_tuple=True)
    if not isinstance(condition, Tensor) or condition.dtype.kind != "b":
        condition = where_condition(condition, 4)  # (uint8: read as bool with torch's warning; else torch's error)
    a, b = condition._other(input), condition._other(other)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two scalars: torch's dtype, not NumPy's
        dt = dtypes.promote_types(a, b)
        a = Tensor._of(a, dtype=dt, device=condition.device)
    elif a.__class__ is int:  # checked into the result dtype, as torch's (where(c, u8, 256) raises)
        a = dtypes.checked_int(a, b._data.dtype, dtypes.promote_types(a, b))
    elif b.__class__ is int:
        b = dtypes.checked_int(b, a._data.dtype, dtypes.promote_types(a, b))
    return apply(ew.where, condition, *promote(a, b))


__all__ = [
    "abs", "add", "clamp", "clip", "div", "divide", "eq", "exp", "ge", "gt", "le", "log", "log_softmax", "lt",
    "matmul", "maximum", "minimum", "mul", "multiply", "ne", "neg", "negative", "pow", "relu", "sigmoid",
    "softmax", "sqrt", "sub", "subtract", "tanh", "true_divide", "where",
]  # fmt: skip
__all__ += [
    "absolute", "acos", "acosh", "addcdiv", "addcmul", "allclose", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
    "arctan2", "arctanh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "clamp_min", "clamp_max", "copysign",
    "cos", "cosh", "erf", "exp2", "expm1", "fix", "float_power", "floor", "floor_divide", "fmod", "frac", "isclose",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "lerp", "log10", "log1p", "log2", "logaddexp", "positive",
    "reciprocal", "remainder", "round", "rsqrt", "sgn", "sign", "sin", "sinh", "square", "tan", "trunc", "nan_to_num",
]  # fmt: skip
__all__ += [
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "equal", "greater", "greater_equal", "less",
    "less_equal", "logical_and", "logical_not", "logical_or", "logical_xor", "not_equal",
]  # fmt: skip

# special functions, more binary float ops, integer ops, and the in-place functions torch has
erfc, erfinv, lgamma, digamma = Tensor.erfc, Tensor.erfinv, Tensor.lgamma, Tensor.digamma
i0, sinc = Tensor.i0, Tensor.sinc
mvlgamma, logit, deg2rad, rad2deg, angle = Tensor.mvlgamma, Tensor.logit, Tensor.deg2rad, Tensor.rad2deg, Tensor.angle
signbit, isreal, frexp = Tensor.signbit, Tensor.isreal, Tensor.frexp
xlogy = _number_first(Tensor.xlogy)
hypot = _number_first(Tensor.hypot)
logaddexp2 = _number_first(Tensor.logaddexp2)
fmax, fmin = _number_first(Tensor.fmax), _number_first(Tensor.fmin)
nextafter = _number_first(Tensor.nextafter)
heaviside = _number_first(Tensor.heaviside, "values")
ldexp = _number_first(Tensor.ldexp)
gcd, lcm = _number_first(Tensor.gcd), _number_first(Tensor.lcm)
bitwise_left_shift = _number_first(Tensor.bitwise_left_shift)
bitwise_right_shift = _number_first(Tensor.bitwise_right_shift)
erf_, erfc_, i0_, sinc_, logit_ = Tensor.erf_, Tensor.erfc_, Tensor.i0_, Tensor.sinc_, Tensor.logit_
xlogy_, ldexp_, gcd_, lcm_ = Tensor.xlogy_, Tensor.ldexp_, Tensor.gcd_, Tensor.lcm_
deg2rad_, rad2deg_, fix_ = Tensor.deg2rad_, Tensor.rad2deg_, Tensor.fix_
nan_to_num_, square_, clamp_, clip_ = Tensor.nan_to_num_, Tensor.square_, Tensor.clamp_, Tensor.clip_


def polygamma(n: int, input: Tensor) -> Tensor:
    """The n-th derivative of digamma at ``input`` (torch's argument order: ``n`` first)."""
    return input.polygamma(n)


__all__ += [
    "angle", "bitwise_left_shift", "bitwise_right_shift", "deg2rad", "digamma", "erfc", "erfinv", "fmax", "fmin",
    "frexp", "gcd", "heaviside", "hypot", "i0", "isreal", "lcm", "ldexp", "lgamma", "logaddexp2", "logit", "mvlgamma",
    "nextafter", "polygamma", "rad2deg", "signbit", "sinc", "xlogy", "clamp_", "clip_", "deg2rad_", "erf_", "erfc_",
    "fix_", "gcd_", "i0_", "lcm_", "ldexp_", "logit_", "nan_to_num_", "rad2deg_", "sinc_", "square_", "xlogy_",
]  # fmt: skip

# ---------------------------------------------------------------- activations (the ones torch has at top level)
relu_ = Tensor.relu_
sigmoid_ = Tensor.sigmoid_
hardshrink = Tensor.hardshrink
prelu = Tensor.prelu


def selu(input: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants."""
    return apply(act.elu, input, alpha=act.SELU_ALPHA, scale=act.SELU_SCALE)


def selu_(input: Tensor) -> Tensor:
    try:
        out = apply_(act.elu, "selu_", input, alpha=act.SELU_ALPHA, scale=act.SELU_SCALE)
        return name_inplace(out, act.elu, "EluBackward1")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (e^(x / alpha) - 1)."""
    if alpha == 0:
        raise ZeroDivisionRuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return apply(act.elu, input, alpha=alpha, input_scale=1.0 / alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    try:
        if alpha == 0:
            raise ZeroDivisionError("celu_: alpha cannot be 0")
        out = apply_(act.elu, "celu_", input, alpha=alpha, input_scale=1.0 / alpha)
        return name_inplace(out, act.elu, "CeluBackward1")
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """x where x > threshold, else value."""
    return apply(act.threshold, input, threshold=threshold, value=value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    out = apply_(act.threshold, "threshold_", input, threshold=threshold, value=value)
    return name_inplace(out, act.threshold, "ThresholdBackward1")


__all__ += ["celu", "celu_", "hardshrink", "prelu", "relu_", "selu", "selu_", "sigmoid_", "threshold", "threshold_"]

# ---------------------------------------------------------------- reductions and scans
sum = Tensor.sum
mean = Tensor.mean
amax = Tensor.amax
amin = Tensor.amin
max = Tensor.max
min = Tensor.min
argmax = Tensor.argmax
argmin = Tensor.argmin
var = Tensor.var
std = Tensor.std
logsumexp = Tensor.logsumexp
prod = Tensor.prod
nansum = Tensor.nansum
nanmean = Tensor.nanmean
count_nonzero = Tensor.count_nonzero
median = Tensor.median
norm = Tensor.norm
all = Tensor.all  # noqa: A001 - torch's names (builtins all/any/sum/max/min are shadowed in this module)
any = Tensor.any  # noqa: A001
cumsum = Tensor.cumsum
cumprod = Tensor.cumprod
logcumsumexp = Tensor.logcumsumexp
cummax = Tensor.cummax
cummin = Tensor.cummin


def _spread_mean(kind: str, fn: Any, input: Tensor, dim: Any, unbiased: Any, keepdim: bool, kwargs: dict) -> tuple:
    """``(var or std, mean)`` over ``dim``: ``var_mean``/``std_mean``."""
    if isinstance(input, Tensor) and not (input.is_floating_point() or input.is_complex()):
        raise RuntimeError(f"{kind}_mean only support floating point and complex dtypes")
    try:
        c = kwargs.pop("correction", None)
        axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims")
        spread = input._spread(kind, fn, dim, unbiased, keepdim, c, axis, keepdims, label=f"{kind}_mean")
        mean = input.mean(None if isinstance(dim, bool) else dim, keepdim, **kwargs)
        named = f"{kind.capitalize()}MeanBackward0"  # (torch's one node for both)
        return name_node(spread, named), name_node(mean, named)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def var_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, **kwargs: Any) -> tuple:
    """``(var, mean)`` over ``dim`` (same arguments as ``var``), as torch."""
    return _spread_mean("var", _reduction.var, input, dim, unbiased, keepdim, kwargs)


def std_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, **kwargs: Any) -> tuple:
    """``(std, mean)`` over ``dim`` (same arguments as ``std``), as torch."""
    return _spread_mean("std", _reduction.std, input, dim, unbiased, keepdim, kwargs)


__all__ += ["all", "amax", "amin", "any", "argmax", "argmin", "count_nonzero", "cummax", "cummin", "cumprod"]
__all__ += ["cumsum", "logcumsumexp", "logsumexp", "max", "mean", "median", "min", "nanmean", "nansum", "norm"]
__all__ += ["prod", "std", "std_mean", "sum", "var", "var_mean"]

# ---------------------------------------------------------------- shape


def _tensor_input(name: str, input: Any) -> None:
    """torch's TypeError for a function given something other than a tensor (the method would raise AttributeError)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")


def reshape(input: Tensor, shape: Any) -> Tensor:
    """``input`` with the given ``shape`` (by the tensor's own method: a sparse one raises torch's error)."""
    _tensor_input("reshape", input)
    return input.reshape(shape)


flatten = Tensor.flatten
transpose = Tensor.transpose
permute = Tensor.permute


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """``input`` with a size-1 dim inserted at ``dim`` (by the tensor's own method: a sparse one stays sparse)."""
    _tensor_input("unsqueeze", input)
    return input.unsqueeze(dim)


def squeeze(input: Tensor, dim: Any = None, *, axis: Any = None) -> Tensor:
    """``input`` without its size-1 dims (all, or those in ``dim``), by the tensor's own method."""
    _tensor_input("squeeze", input)
    return input.squeeze(dim, axis=axis)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``tensor`` in chunks of ``split_size_or_sections`` (an int, or a list of sizes) along ``dim`` (torch's
    function names its arguments so; the method's are ``split_size``/``dim``)."""
    return tensor.split(split_size_or_sections, dim)


chunk = Tensor.chunk
unbind = Tensor.unbind


def _not_one_tensor(tensors: Any, name: str) -> None:
    """torch's TypeError for a single tensor where a sequence of them belongs (iterating it would silently
    join its rows)."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: Any = None) -> Tensor:
    """Concatenate along an existing ``dim``; mixed dtypes promote under torch's rules (int64 + float32 is float32)."""
    _not_one_tensor(tensors, "cat")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    dim = dim if axis is None else axis
    if getattr(tensors[0], "is_sparse", False):  # sparse COO: its own cat (backprop.sparse._shape)
        return cast(Any, tensors[0]).sparse_op("cat", tensors[1:], {"axis": dim})
    tensors = _promoted(tensors, "cat")
    ref = next((t for t in tensors if t.shape != (0,)), None)
    if ref is not None and len(tensors) > 1 and [t for t in tensors if t.shape == (0,)]:
        # torch skips legacy empty 1-d tensors (shape (0,)) whatever the others' shapes: here they
        # become empty tensors of the others' shape, so that they still get their (empty) gradient
        shape = list(ref.shape)
        if -ref.ndim <= dim < ref.ndim:  # (a bad dim: cat's own error)
            shape[dim] = 0
            tensors = [t.reshape(shape) if t.shape == (0,) else t for t in tensors]
    return apply(sh.cat, *tensors, axis=dim)


def _promoted(tensors: list[Tensor], name: str) -> list[Tensor]:
    """The tensors cast to their common dtype under torch's rules (cat and stack promote, as torch)."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype != dt:
            dt = dtypes.promote_types(np.empty(1, dt), t)
    return [t if t.dtype == dt else t.to(dt) for t in tensors]


def concat(tensors: Sequence[Tensor], dim: int = 0, *, axis: Any = None) -> Tensor:
    """``cat``'s alias."""
    _not_one_tensor(tensors, "concat")
    return cat(tensors, dim, axis=axis)


def concatenate(tensors: Sequence[Tensor], dim: int = 0, *, axis: Any = None) -> Tensor:
    """``cat``'s alias."""
    _not_one_tensor(tensors, "concatenate")
    return cat(tensors, dim, axis=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new ``dim``."""
    _not_one_tensor(tensors, "stack")
    tensors = list(tensors)
    if not tensors:
        raise ShapeError("stack expects a non-empty TensorList")
    if getattr(tensors[0], "is_sparse", False):  # sparse COO: its own stack (backprop.sparse._shape)
        return cast(Any, tensors[0]).sparse_op("stack", tensors[1:], {"axis": dim})
    tensors = _promoted(tensors, "stack")
    first = tuple(tensors[0].shape)
    for i, x in enumerate(tensors[1:], 1):
        if tuple(x.shape) != first:  # (torch's RuntimeError and text; a ValueError too, as it used to be)
            raise ShapeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and "
                f"{list(x.shape)} at entry {i}"
            )
    return apply(sh.stack, *tensors, axis=dim)


__all__ += ["cat", "chunk", "concat", "concatenate", "flatten", "permute", "reshape", "split", "squeeze", "stack"]
__all__ += ["transpose"]
__all__ += ["unbind", "unsqueeze"]

t = Tensor.t
swapaxes = Tensor.swapaxes


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """``input`` with dims ``dim0`` and ``dim1`` swapped (torch's names; ``swapaxes`` takes axis0/axis1)."""
    return input.swapaxes(dim0, dim1)


movedim = moveaxis = Tensor.movedim
unflatten = Tensor.unflatten
narrow = Tensor.narrow
flip = Tensor.flip
fliplr = Tensor.fliplr
flipud = Tensor.flipud
roll = Tensor.roll
tril = Tensor.tril
triu = Tensor.triu
diagonal = Tensor.diagonal
diag = Tensor.diag
diag_embed = Tensor.diag_embed
trace = Tensor.trace
tile = Tensor.tile
broadcast_to = Tensor.broadcast_to
tensor_split = Tensor.tensor_split
hsplit = Tensor.hsplit
vsplit = Tensor.vsplit
dsplit = Tensor.dsplit


def repeat_interleave(input: Any, repeats: Any = None, dim: Any = None, **kwargs: Any) -> Tensor:
    """``input.repeat_interleave(repeats, dim)``; with one int tensor ``r``, ``arange(len(r))`` repeated ``r`` times."""
    try:
        if repeats is None:
            if not isinstance(input, Tensor) or input.dtype.kind not in "iu" or input.ndim > 1:
                raise TypeError("repeat_interleave(repeats): repeats must be a 0-d or 1-D integer tensor")
            counts = input.reshape(-1)
            idx = Tensor._of(np.arange(counts.shape[0], dtype=np.int64), device=input.device)
            return idx.repeat_interleave(counts, 0, **kwargs)
        return input.repeat_interleave(repeats, dim, **kwargs)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _tensors(name: str, tensors: tuple) -> list[Tensor]:
    """``f(a, b)`` or ``f([a, b])``: the tensors as one list."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise ShapeError(f"{name} expects a non-empty TensorList")
    return list(tensors)


def _atleast(name: str, nd: int, tensors: tuple) -> Any:
    if not tensors:
        return ()  # torch.atleast_1d() is an empty tuple
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    out = []
    for x in _tensors(name, tensors):
        if x.ndim >= nd:
            out.append(x)
        elif nd == 3 and x.ndim == 2:
            out.append(x.unsqueeze(-1))  # (m, n) -> (m, n, 1), as torch and NumPy
        elif nd == 3 and x.ndim == 1:
            out.append(x.reshape(1, -1, 1))  # (n,) -> (1, n, 1)
        else:
            out.append(x.reshape((1,) * (nd - x.ndim) + tuple(x.shape)))
    return out[0] if single else tuple(out)


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least 1 dim (a 0-d tensor becomes shape (1,)); one tensor in, one out."""
    try:
        return _atleast("atleast_1d", 1, tensors)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least 2 dims (leading 1s)."""
    try:
        return _atleast("atleast_2d", 2, tensors)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least 3 dims ((n,) -> (1, n, 1), (m, n) -> (m, n, 1))."""
    try:
        return _atleast("atleast_3d", 3, tensors)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate column-wise: along dim 1, or dim 0 when every tensor is 1-D (0-d become 1-D)."""
    _not_one_tensor(tensors, "hstack")
    ts = atleast_1d(_tensors("hstack", (list(tensors),)))
    return cat(ts, 1 if [x for x in ts if x.ndim != 1] else 0)  # (all/any are tensor functions here)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate row-wise (dim 0) after ``atleast_2d``."""
    _not_one_tensor(tensors, "vstack")
    return cat(atleast_2d(_tensors("vstack", (list(tensors),))), 0)


def row_stack(tensors: Sequence[Tensor]) -> Tensor:
    """``vstack``'s alias."""
    _not_one_tensor(tensors, "row_stack")
    return vstack(tensors)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate depth-wise (dim 2) after ``atleast_3d``."""
    _not_one_tensor(tensors, "dstack")
    return cat(atleast_3d(_tensors("dstack", (list(tensors),))), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """0-d and 1-D tensors as columns (n, 1), then concatenated along dim 1."""
    _not_one_tensor(tensors, "column_stack")
    ts = _tensors("column_stack", (tensors,))
    return cat([x.reshape(-1, 1) if x.ndim <= 1 else x for x in ts], 1)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 0-d/1-D tensors: ``indexing="ij"`` (the default, as torch's) or ``"xy"``
    (the first two output dims swapped, NumPy's default)."""
    ts = _tensors("meshgrid", tensors)
    if indexing is None:  # (torch's future default will be "ij" too; it warns once per process: README)
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    for a, b in zip(ts, ts[1:]):
        if a.dtype != b.dtype:
            raise DTypeError("meshgrid expects all tensors to have the same dtype")
        if a.device != b.device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    if indexing not in ("ij", "xy"):
        raise ShapeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for x in ts:
        if x.ndim > 1:
            raise ShapeError(
                f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got shape {tuple(x.shape)}"
            )
    sizes = [x.numel() for x in ts]
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(sizes[i] for i in order)
    out = []
    for i, x in enumerate(ts):
        view = [1] * len(ts)
        view[order.index(i)] = sizes[i]
        out.append(x.reshape(view).expand(shape))
    return tuple(out)


def broadcast_tensors(*tensors: Any) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape."""
    try:
        ts = _tensors("broadcast_tensors", tensors)
        shape = broadcast_shape(*(tuple(x.shape) for x in ts))
        return tuple(x if x.shape == shape else x.expand(shape) for x in ts)  # (torch: the tensor itself where equal)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


__all__ += ["atleast_1d", "atleast_2d", "atleast_3d", "broadcast_tensors", "broadcast_to", "column_stack", "diag"]
__all__ += ["diag_embed", "diagonal", "dsplit", "dstack", "flip", "fliplr", "flipud", "hsplit", "hstack", "meshgrid"]
__all__ += ["moveaxis", "movedim", "narrow", "repeat_interleave", "roll", "row_stack", "swapaxes", "swapdims", "t"]
__all__ += ["tensor_split", "tile", "trace", "tril", "triu", "unflatten", "vsplit", "vstack"]

# ---------------------------------------------------------------- linear algebra


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The matrix product of two matrices (through the method, so a sparse ``input`` takes its own)."""
    return input.mm(mat2)


bmm = Tensor.bmm
mv = Tensor.mv


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """The inner product of two 1-D tensors (torch's keyword names: ``input``, ``tensor``)."""
    return input.dot(tensor)


vdot = Tensor.vdot
addmm = Tensor.addmm
baddbmm = Tensor.baddbmm
outer = ger = Tensor.outer
inner = Tensor.inner
kron = Tensor.kron
tensordot = _la.tensordot
einsum = _la.einsum

__all__ += ["addmm", "baddbmm", "bmm", "dot", "einsum", "ger", "inner", "kron", "mm", "mv", "outer", "tensordot"]
__all__ += ["vdot"]

# matrix functions and decompositions (torch's top-level names; bp.linalg has the torch.linalg ones)
det, logdet, slogdet, inverse, pinverse = Tensor.det, Tensor.logdet, Tensor.slogdet, Tensor.inverse, Tensor.pinverse
matrix_power, matrix_exp, cholesky = Tensor.matrix_power, Tensor.matrix_exp, Tensor.cholesky
cholesky_solve, cholesky_inverse, svd, qr = Tensor.cholesky_solve, Tensor.cholesky_inverse, Tensor.svd, Tensor.qr
cross, addmv, addr, addbmm, dist = Tensor.cross, Tensor.addmv, Tensor.addr, Tensor.addbmm, Tensor.dist
cov, corrcoef, addmv_, addr_ = Tensor.cov, Tensor.corrcoef, Tensor.addmv_, Tensor.addr_
from backprop.linalg import _torch_vander as vander  # noqa: E402
from backprop.linalg import cdist, chain_matmul, cumulative_trapezoid, trapezoid, trapz  # noqa: E402

lu, lu_solve, triangular_solve = Tensor.lu, Tensor.lu_solve, Tensor.triangular_solve
lu_unpack = _la.lu_unpack
geqrf, orgqr, ormqr = Tensor.geqrf, Tensor.orgqr, Tensor.ormqr

__all__ += ["geqrf", "lu", "lu_solve", "lu_unpack", "orgqr", "ormqr", "triangular_solve"]
__all__ += ["addbmm", "addmv", "addmv_", "addr", "addr_", "cdist", "chain_matmul", "cholesky", "cholesky_inverse"]
__all__ += ["cholesky_solve", "corrcoef", "cov", "cross", "cumulative_trapezoid", "det", "dist", "inverse", "logdet"]
__all__ += ["matrix_exp", "matrix_power", "pinverse", "qr", "slogdet", "svd", "trapezoid", "trapz", "vander"]

# ---------------------------------------------------------------- indexing and scatter
gather = Tensor.gather
scatter = Tensor.scatter
scatter_add = Tensor.scatter_add
scatter_reduce = Tensor.scatter_reduce
index_select = Tensor.index_select
index_add = Tensor.index_add
index_fill = Tensor.index_fill
masked_fill = Tensor.masked_fill
masked_select = Tensor.masked_select
take_along_dim = Tensor.take_along_dim
argwhere = Tensor.argwhere
sort = Tensor.sort
argsort = Tensor.argsort
msort = Tensor.msort
topk = Tensor.topk
kthvalue = Tensor.kthvalue


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """The indices of the non-zero elements: (n, ndim) int64, or one 1-D tensor per dim (as_tuple)."""
    return input.nonzero(as_tuple=as_tuple)


__all__ += ["argsort", "argwhere", "gather", "index_add", "index_fill", "index_select", "kthvalue", "masked_fill"]
__all__ += ["masked_select", "msort", "nonzero", "scatter", "scatter_add", "scatter_reduce", "sort"]
__all__ += ["take_along_dim", "topk"]

# shape, indexing, sorting and counting: the rest of torch's names

from backprop.methods import indexing as _ixm  # noqa: E402
from backprop.methods import shape as _shm  # noqa: E402
from backprop.methods.extra import Histogram as _Histogram  # noqa: E402

unique, unique_consecutive, bincount, histc = Tensor.unique, Tensor.unique_consecutive, Tensor.bincount, Tensor.histc
searchsorted, bucketize, isin, unravel_index = _ixm.searchsorted, _ixm.bucketize, _ixm.isin, _ixm.unravel_index
take, put, index_copy, index_reduce = Tensor.take, Tensor.put, Tensor.index_copy, Tensor.index_reduce
index_put, index_put_, masked_scatter = Tensor.index_put, Tensor.index_put_, Tensor.masked_scatter
select_scatter, slice_scatter, diagonal_scatter = Tensor.select_scatter, Tensor.slice_scatter, Tensor.diagonal_scatter
rot90, select, diagflat = Tensor.rot90, Tensor.select, Tensor.diagflat


def narrow_copy(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """``narrow`` as a copy, by the tensor's own method (a sparse one keeps the entries in range)."""
    _tensor_input("narrow_copy", input)
    return input.narrow_copy(dim, start, length)


ravel = Tensor.ravel
split_with_sizes, unsafe_chunk, unsafe_split = Tensor.split_with_sizes, Tensor.unsafe_chunk, Tensor.unsafe_split
block_diag, cartesian_prod, combinations = _shm.block_diag, _shm.cartesian_prod, _shm.combinations
broadcast_shapes = _shm.broadcast_shapes
diff, quantile, nanquantile, nanmedian = Tensor.diff, Tensor.quantile, Tensor.nanquantile, Tensor.nanmedian
mode, aminmax, renorm, resize_as_ = Tensor.mode, Tensor.aminmax, Tensor.renorm, Tensor.resize_as_


def _index_factory(lower: bool, row: int, col: int, offset: int, dtype: Any, device: Any) -> Tensor:
    name = "tril_indices" if lower else "triu_indices"
    for what, n in (("row", row), ("col", col)):
        if int(n) < 0:
            raise RuntimeError(f"{what} must be non-negative, got{int(n)}")  # (torch's spelling, no space)
    if dtype is not None and dtypes.to_dtype(dtype) not in (np.dtype(np.int64), np.dtype(np.int32)):
        raise NotImplementedError(f"\"{name}\" not implemented for '{dtypes.scalar_type_name(dtypes.to_dtype(dtype))}'")
    pick = np.tril_indices if lower else np.triu_indices
    out = np.stack(pick(int(row), int(offset), int(col))).astype(np.int64).reshape(2, -1)
    return Tensor._of(out, dtype=dtype or dtypes.int64, device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None) -> Tensor:
    """The (2, N) row and column indices of the lower triangle (col - row <= offset) of a row x col
    matrix, in row-major order (int64)."""
    return _index_factory(True, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None) -> Tensor:
    """The (2, N) row and column indices of the upper triangle (col - row >= offset), row-major (int64)."""
    return _index_factory(False, row, col, offset, dtype, device)


def logspace(
    start: float,
    end: float,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """``steps`` values from base**start to base**end, evenly spaced in the exponent."""
    creation._dense("logspace", layout)
    # the exponents as linspace's (integer dtypes: truncated bounds; complex: torch's two-sided formula)
    exponents, dt = creation.spaced("logspace", start, end, steps, dtype)
    half = dt.itemsize == 2 and dtypes.kind(dt) == "f"
    if half and steps > 1:
        exponents = _half_log_exponents(exponents[0], exponents[-1], steps, dt)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # (base**400 is inf, 0**-1 inf: silently)
        values = np.power(complex(base) if dt.kind == "c" else float(base), exponents)
        if half:
            values = values.astype(np.float32)  # (torch's double -> Half goes through float)
        values = values.astype(dt)
    return Tensor._of(values, device=device, requires_grad=requires_grad)


def _half_log_exponents(start: float, end: float, steps: int, dt: Any) -> Any:
    """torch's CPU logspace exponents for float16/bfloat16: the bounds and their difference round to the
    dtype, the step and each exponent are double (``start + step * i`` for the first half, ``end - step *
    (steps - 1 - i)`` for the rest)."""

    def h(v: Any) -> Any:
        with np.errstate(over="ignore"):
            return np.float64(np.asarray(v, dtype=np.float32).astype(dt))

    lo, hi = h(start), h(end)
    step = h(hi - lo) / (steps - 1)
    i = np.arange(steps)
    with np.errstate(invalid="ignore"):
        return np.where(i < steps // 2, lo + step * i, hi - step * (steps - 1 - i))


histogram = Tensor.histogram
Histogram = _Histogram  # torch.return_types.histogram


__all__ += ["aminmax", "bincount", "block_diag", "broadcast_shapes", "bucketize", "cartesian_prod", "combinations"]
__all__ += ["diagflat", "diagonal_scatter", "diff", "histc", "histogram", "index_copy", "index_put", "index_put_"]
__all__ += ["index_reduce", "isin", "logspace", "masked_scatter", "mode", "nanmedian", "nanquantile", "narrow_copy"]
__all__ += ["put", "quantile", "ravel", "renorm", "resize_as_", "rot90", "searchsorted", "select", "select_scatter"]
__all__ += ["slice_scatter", "split_with_sizes", "take", "tril_indices", "triu_indices", "unique"]
__all__ += ["unique_consecutive", "unravel_index", "unsafe_chunk", "unsafe_split"]
as_strided, as_strided_, as_strided_scatter = Tensor.as_strided, Tensor.as_strided_, Tensor.as_strided_scatter
unsafe_split_with_sizes = Tensor.unsafe_split_with_sizes
from backprop.creation import empty_strided  # noqa: E402  (torch.empty_strided; creation has the factories)

__all__ += ["as_strided", "as_strided_", "as_strided_scatter", "empty_strided", "unsafe_split_with_sizes"]

# ---------------------------------------------------------------- copies
clone = Tensor.clone
detach = Tensor.detach

__all__ += ["clone", "detach"]

# ---------------------------------------------------------------- predicates
is_floating_point = Tensor.is_floating_point
is_complex = Tensor.is_complex
is_nonzero = Tensor.is_nonzero
is_same_size = Tensor.is_same_size
numel = Tensor.numel


def is_tensor(obj: Any) -> bool:
    """True for backprop Tensors (Parameters included)."""
    return isinstance(obj, Tensor)


__all__ += ["is_complex", "is_floating_point", "is_nonzero", "is_same_size", "is_tensor", "numel"]

name_first_input(globals(), __all__)  # torch.exp(input=x): the method aliases above, by torch's names
