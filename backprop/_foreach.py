"""torch's ``_foreach_*`` functions: one op applied to each tensor of a list (``torch._foreach_mul_(params,
0.999)``, ``torch._foreach_lerp_(ema, params, 1 - decay)``, ``torch._foreach_norm(grads)``), as EMA helpers,
custom clipping and optimizers call them. Each runs the tensor op on every element in turn (torch fuses them
into one kernel; the values, dtypes, gradients and in-place checks are the op's own). Out-of-place forms
return a tuple, in-place forms (trailing ``_``) return the list they were given.

The second operand follows torch's overloads: a Python number, a list of numbers (one per tensor), a 0-dim
tensor, or a list of tensors; ``alpha`` (``add``/``sub``) goes with the tensor forms only. Empty lists,
lists of unequal lengths and 1-d "scalar" tensors raise torch's errors.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from backprop import linalg as _linalg
from backprop.tensor import Tensor

_UNARY = (
    "abs",
    "acos",
    "asin",
    "atan",
    "ceil",
    "cos",
    "cosh",
    "erf",
    "erfc",
    "exp",
    "expm1",
    "floor",
    "frac",
    "lgamma",
    "log",
    "log10",
    "log1p",
    "log2",
    "neg",
    "reciprocal",
    "round",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
)
# binary ops: foreach name -> Tensor method; add/sub also take ``alpha`` with a tensor operand
_BINARY = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "pow": "pow",
    "maximum": "maximum",
    "minimum": "minimum",
    "clamp_min": "clamp_min",
    "clamp_max": "clamp_max",
}
_WITH_ALPHA = ("add", "sub")


def _type_name(x: Any) -> str:
    return "Tensor" if isinstance(x, Tensor) else type(x).__name__


def _invalid(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> TypeError:
    """torch's TypeError for arguments that match none of the function's overloads (its first line)."""
    got = [_type_name(a) for a in args] + [f"{k}={_type_name(v)}" for k, v in kwargs.items()]
    return TypeError(f"{name}() received an invalid combination of arguments - got ({', '.join(got)})")


def _tensors(name: str, self: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Tensor]:
    """The tensor list argument: a list or tuple of tensors, at least one."""
    if not isinstance(self, (list, tuple)) or not all(isinstance(t, Tensor) for t in self):
        raise _invalid(name, args, kwargs)
    if not self:
        raise RuntimeError("Tensor list must have at least one tensor.")
    return list(self)


def _same_length(n: int, other: Sequence[Any]) -> None:
    if len(other) != n:
        raise RuntimeError(f"Tensor lists must have the same number of tensors, got {n} and {len(other)}")


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, Tensor)


def _operands(name: str, n: int, other: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[list[Any], bool]:
    """``other`` as one operand per tensor, and whether the operands are tensors (the ``alpha`` forms)."""
    if _is_number(other):
        return [other] * n, False
    if isinstance(other, Tensor):
        if other.ndim != 0:
            raise RuntimeError(
                f"scalar tensor expected to be 0 dim but it has {other.ndim} dimensions and {other.numel()} elements."
            )
        return [other] * n, True
    if isinstance(other, (list, tuple)):
        if other and all(isinstance(o, Tensor) for o in other):
            _same_length(n, other)
            return list(other), True
        if all(_is_number(o) for o in other):
            if len(other) != n:
                raise RuntimeError("Tensor list must have same number of elements as scalar list.")
            return list(other), False
    raise _invalid(name, args, kwargs)


def _results(self: Any, out: list[Tensor], inplace: bool) -> Any:
    return self if inplace else tuple(out)


def _make_unary(op: str, inplace: bool) -> Callable[..., Any]:
    name = f"_foreach_{op}{'_' if inplace else ''}"
    method = op + ("_" if inplace else "")

    def fn(self: Sequence[Tensor]) -> Any:
        tensors = _tensors(name, self, (self,), {})
        return _results(self, [getattr(t, method)() for t in tensors], inplace)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``{op}{'_' if inplace else ''}`` of each tensor of the list (torch.{name})."
    return fn


def _make_binary(op: str, inplace: bool) -> Callable[..., Any]:
    name = f"_foreach_{op}{'_' if inplace else ''}"
    method = _BINARY[op] + ("_" if inplace else "")

    def fn(self: Any, other: Any, **kwargs: Any) -> Any:
        args = (self, other)
        if set(kwargs) - ({"alpha"} if op in _WITH_ALPHA else set()):
            raise _invalid(name, args, kwargs)
        if op == "pow" and not inplace and _is_number(self):  # _foreach_pow(scalar, exponents)
            exponents = _tensors(name, other, args, kwargs)
            return tuple(Tensor.__rpow__(e, self) for e in exponents)
        tensors = _tensors(name, self, args, kwargs)
        operands, are_tensors = _operands(name, len(tensors), other, args, kwargs)
        if kwargs and not are_tensors:
            raise _invalid(name, args, kwargs)
        if inplace and not hasattr(Tensor, method):  # maximum_/minimum_: no such Tensor methods
            out = [t.copy_(getattr(t, _BINARY[op])(o)) for t, o in zip(tensors, operands)]
        else:
            out = [getattr(t, method)(o, **kwargs) for t, o in zip(tensors, operands)]
        return _results(self, out, inplace)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"``{_BINARY[op]}{'_' if inplace else ''}`` of each tensor with a number, a list of numbers, a 0-dim tensor "
        f"or a list of tensors (torch.{name})."
    )
    return fn


def _pointwise_values(name: str, n: int, value: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
    """``value`` of addcmul/addcdiv: a number, a list of numbers, or a 1-d tensor of n numbers."""
    if _is_number(value):
        return [value] * n
    if isinstance(value, Tensor):
        if value.ndim != 1:
            raise RuntimeError(f"Expected packed scalar Tensor to be of dimension 1. Got {value.ndim} instead.")
        if value.shape[0] != n:
            raise RuntimeError(
                f"Expected length of scalars to match input of length {n} but got {value.shape[0]} instead."
            )
        return value.tolist()
    if isinstance(value, (list, tuple)) and all(_is_number(v) for v in value):
        if len(value) != n:
            raise RuntimeError("Tensor list must have same number of elements as scalar list.")
        return list(value)
    raise _invalid(name, args, kwargs)


def _make_pointwise(op: str, inplace: bool) -> Callable[..., Any]:
    name = f"_foreach_{op}{'_' if inplace else ''}"
    method = op + ("_" if inplace else "")

    def fn(self: Any, tensor1: Any, tensor2: Any, value: Any = 1) -> Any:
        args = (self, tensor1, tensor2, value)
        tensors = _tensors(name, self, args, {})
        first, second = _tensors(name, tensor1, args, {}), _tensors(name, tensor2, args, {})
        _same_length(len(tensors), first)
        _same_length(len(tensors), second)
        values = _pointwise_values(name, len(tensors), value, args, {})
        out = [getattr(t, method)(a, b, value=v) for t, a, b, v in zip(tensors, first, second, values)]
        return _results(self, out, inplace)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"``{method}(tensor1[i], tensor2[i], value)`` of each tensor; ``value`` a number, a list of numbers or a "
        f"1-d tensor of one number per tensor (torch.{name})."
    )
    return fn


def _make_lerp(inplace: bool) -> Callable[..., Any]:
    name = f"_foreach_lerp{'_' if inplace else ''}"
    method = "lerp_" if inplace else "lerp"

    def fn(self: Any, tensors1: Any, weight: Any) -> Any:
        args = (self, tensors1, weight)
        tensors = _tensors(name, self, args, {})
        ends = _tensors(name, tensors1, args, {})
        _same_length(len(tensors), ends)
        weights, _ = _operands(name, len(tensors), weight, args, {})
        return _results(self, [getattr(t, method)(e, w) for t, e, w in zip(tensors, ends, weights)], inplace)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"``{method}(end[i], weight)`` of each tensor; ``weight`` a number, a 0-dim tensor, a list of numbers or "
        f"a list of tensors (torch.{name})."
    )
    return fn


def _foreach_norm(self: Sequence[Tensor], ord: float = 2, dtype: Any = None) -> tuple[Tensor, ...]:  # noqa: A002
    """``linalg.vector_norm(t, ord, dtype=dtype)`` of each tensor (torch._foreach_norm)."""
    tensors = _tensors("_foreach_norm", self, (self, ord), {})
    return tuple(_linalg.vector_norm(t, ord, dtype=dtype) for t in tensors)


def _foreach_max(self: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """The largest element of each tensor, as 0-dim tensors (torch._foreach_max)."""
    tensors = _tensors("_foreach_max", self, (self,), {})
    if any(t.numel() == 0 for t in tensors):
        raise RuntimeError(
            "_foreach_max cannot compute the maximum of an empty tensor; max over zero elements is undefined."
        )
    return tuple(t.max() for t in tensors)


def _foreach_zero_(self: Sequence[Tensor]) -> Sequence[Tensor]:
    """Fills each tensor with zeros in place (torch._foreach_zero_)."""
    for t in _tensors("_foreach_zero_", self, (self,), {}):
        t.zero_()
    return self


def _foreach_clone(self: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """A copy of each tensor (torch._foreach_clone)."""
    return tuple(t.clone() for t in _tensors("_foreach_clone", self, (self,), {}))


def _foreach_copy_(self: Sequence[Tensor], src: Sequence[Tensor], non_blocking: bool = False) -> Sequence[Tensor]:
    """``self[i].copy_(src[i])`` for each pair (torch._foreach_copy_)."""
    if not isinstance(non_blocking, bool):
        raise TypeError(
            f"_foreach_copy_(): argument 'non_blocking' (position 3) must be bool, not {_type_name(non_blocking)}"
        )
    tensors = _tensors("_foreach_copy_", self, (self, src), {})
    sources = _tensors("_foreach_copy_", src, (self, src), {})
    _same_length(len(tensors), sources)
    for t, s in zip(tensors, sources):
        t.copy_(s)
    return self


def functions() -> dict[str, Callable[..., Any]]:
    """Every ``_foreach_*`` name of torch that backprop provides, with its function."""
    made: dict[str, Callable[..., Any]] = {}
    for inplace in (False, True):
        for op in _UNARY:
            made[f"_foreach_{op}{'_' if inplace else ''}"] = _make_unary(op, inplace)
        for op in _BINARY:
            made[f"_foreach_{op}{'_' if inplace else ''}"] = _make_binary(op, inplace)
        for op in ("addcmul", "addcdiv"):
            made[f"_foreach_{op}{'_' if inplace else ''}"] = _make_pointwise(op, inplace)
        made[f"_foreach_lerp{'_' if inplace else ''}"] = _make_lerp(inplace)
    made.update(
        _foreach_norm=_foreach_norm,
        _foreach_max=_foreach_max,
        _foreach_zero_=_foreach_zero_,
        _foreach_clone=_foreach_clone,
        _foreach_copy_=_foreach_copy_,
    )
    return made
