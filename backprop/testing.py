"""``bp.testing.assert_close``: torch.testing's comparison, with its default tolerances per dtype."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.tensor import Tensor

__all__ = ["assert_allclose", "assert_close", "make_tensor"]

# torch.testing's defaults (rtol, atol) by dtype; integers and bools compare exactly
_TOLERANCES = {
    np.dtype("float16"): (1e-3, 1e-5),
    np.dtype("float32"): (1.3e-6, 1e-5),
    np.dtype("float64"): (1e-7, 1e-7),
    np.dtype("complex64"): (1.3e-6, 1e-5),
    np.dtype("complex128"): (1e-7, 1e-7),
}


def assert_close(
    actual: Any,
    expected: Any,
    *,
    allow_subclasses: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg: str | None = None,
) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` (tensors, numbers, or sequences and
    mappings of them) are close: ``|a - e| <= atol + rtol * |e|`` elementwise, shapes equal, dtypes and
    devices equal unless told otherwise, NaNs equal only with ``equal_nan``."""
    if (rtol is None) != (atol is None):
        raise ValueError(
            f"Both 'rtol' and 'atol' must be either specified or omitted, but got rtol={rtol}, atol={atol}"
        )
    _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, "")


def assert_allclose(
    actual: Any,
    expected: Any,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = True,
    msg: str = "",
) -> None:
    """torch's deprecated spelling: ``assert_close`` without the dtype check, NaNs equal by default."""
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=False, msg=msg or None)


def make_tensor(
    *shape: Any,
    dtype: Any,
    device: Any,
    low: float | None = None,
    high: float | None = None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """torch.testing.make_tensor: values drawn uniformly from ``[low, high)`` (torch's defaults per dtype: bool
    [0, 2), unsigned [0, 10), signed [-9, 10), floating and complex [-9, 9); bounds clamped to the dtype's finite
    range, integer bounds ceiled), from backprop's generator (not torch's stream)."""
    from backprop import creation  # (sibling modules of this layer)
    from backprop.fft import view_as_complex

    dt = np.dtype(_dtypes.to_dtype(dtype))
    kind = _dtypes.kind(dt)
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])
    shape = tuple(int(n) for n in shape)
    if noncontiguous and memory_format is not None:
        raise ValueError(
            "The parameters `noncontiguous` and `memory_format` are mutually exclusive, "
            f"but got noncontiguous={noncontiguous} and memory_format={memory_format}"
        )
    if requires_grad and kind in "biu":
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral dtypes, but got dtype={dt}")
    noncontiguous = noncontiguous and int(np.prod(shape)) > 1
    if noncontiguous:  # twice the last dim, then every other element (from the second: offsets matter too)
        shape = (*shape[:-1], 2 * shape[-1])

    def bounds(lowest: float, highest: float, default_low: float, default_high: float) -> tuple[Any, Any]:
        lo = default_low if low is None else low
        hi = default_high if high is None else high
        if any(isinstance(v, float) and np.isnan(v) for v in (lo, hi)):
            raise ValueError(f"`low` and `high` cannot be NaN, but got low={lo} and high={hi}")
        if lo == hi and kind in "fcV":
            warnings.warn(
                "Passing `low==high` to `torch.testing.make_tensor` for floating or complex types is deprecated "
                "since 2.1 and will be removed in 2.3. Use `torch.full(...)` instead.",
                FutureWarning,
                stacklevel=3,
            )
        elif lo >= hi:
            raise ValueError(f"`low` must be less than `high`, but got {lo} >= {hi}")
        elif hi < lowest or lo >= highest:
            raise ValueError(
                f"The value interval specified by `low` and `high` is [{lo}, {hi}), "
                f"but {dt} only supports [{lowest}, {highest})"
            )
        lo, hi = min(max(lo, lowest), highest), min(max(hi, lowest), highest)
        return (math.ceil(lo), math.ceil(hi)) if kind in "biu" else (lo, hi)

    if kind == "b":
        lo, hi = bounds(0, 2, 0, 2)
        result = creation.randint(lo, hi, shape, dtype=dt, device=device)
    elif kind in "iu":
        info = np.iinfo(dt)  # (randint cannot draw int64's largest value: torch's bound too)
        lo, hi = bounds(int(info.min), int(info.max) + (dt != np.int64), -9, 10)
        result = creation.randint(lo, hi, shape, dtype=dt, device=device)
    elif kind in "fcV":
        real = np.dtype(np.float32 if dt == np.complex64 else np.float64) if kind == "c" else dt
        fin = _dtypes.finfo(real)
        lo, hi = bounds(fin.min, fin.max, -9, 9)
        parts = (*shape, 2) if kind == "c" else shape
        result = creation.empty(parts, dtype=real, device=device)
        if hi - lo >= fin.max:  # (torch's workaround: a range wider than the dtype's largest value)
            result = result.uniform_(lo / 2, hi / 2).mul_(2)
        else:
            result = result.uniform_(lo, hi)
        if kind == "c":
            result = view_as_complex(result)
    else:
        raise TypeError(
            f"The requested dtype '{dt}' is not supported by torch.testing.make_tensor()."
            " To request support, file an issue at: https://github.com/pytorch/pytorch/issues"
        )
    if noncontiguous:
        result = result[..., 1::2]
    elif memory_format is not None:
        result = result.clone(memory_format=memory_format)
    if exclude_zero:
        tiny = 1 if kind in "biu" else _dtypes.finfo(real).tiny
        result[result == 0] = tiny
    if kind in "fcV":
        result.requires_grad_(requires_grad)
    return result


def _compare(a: Any, e: Any, rtol: Any, atol: Any, equal_nan: bool, dev: bool, dt: bool, msg: Any, where: str) -> None:
    """``a`` against ``e`` (nested mappings and sequences item by item), failing with torch's messages; ``where``
    is the item path torch appends ("[1]['a']")."""
    if isinstance(e, Mapping) and not isinstance(e, Tensor):
        if not isinstance(a, Mapping) or set(a) != set(e):
            got = set(a) if isinstance(a, Mapping) else set()
            _fail(
                msg,
                "The keys of the mappings do not match:\n"
                f"Missing keys in the actual mapping: {sorted(set(e) - got)}\n"
                f"Additional keys in the actual mapping: {sorted(got - set(e))}",
                where,
            )
        for k in e:
            _compare(a[k], e[k], rtol, atol, equal_nan, dev, dt, msg, f"{where}[{k!r}]")
        return
    if isinstance(e, Sequence) and not isinstance(e, (str, Tensor)):
        if not isinstance(a, Sequence) or len(a) != len(e):
            _fail(msg, f"The length of the sequences mismatch: {len(a)} != {len(e)}", where)
        for i, (x, y) in enumerate(zip(a, e)):
            _compare(x, y, rtol, atol, equal_nan, dev, dt, msg, f"{where}[{i}]")
        return
    if isinstance(a, Tensor) != isinstance(e, Tensor):
        raise TypeError(
            f"No comparison pair was able to handle inputs of type {type(a)} and {type(e)}."
            + (f"\n\nThe failure occurred for item {where}" if where else "")
        )
    if isinstance(e, Tensor):
        if tuple(a.shape) != tuple(e.shape):
            _fail(msg, f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}.", where)
        if dev and a.device != e.device:
            _fail(msg, f"The values for attribute 'device' do not match: {a.device} != {e.device}.", where)
        if dt and a.dtype != e.dtype:
            _fail(msg, f"The values for attribute 'dtype' do not match: {a.dtype} != {e.dtype}.", where)
        if a.device.type == "meta" and e.device.type == "meta":
            return  # meta tensors have no values: their shapes, dtypes and devices are all there is, as torch
        x, y = a.detach()._host(), e.detach()._host()
    else:
        if dt and type(a) is not type(e):
            _fail(msg, f"The (d)types do not match: {type(a)} != {type(e)}.", where)
        x, y = np.asarray(a), np.asarray(e)
    dtype = np.promote_types(x.dtype, y.dtype)
    if rtol is None:
        rtol, atol = (1.6e-2, 1e-5) if _dtypes.is_bfloat16(dtype) else _TOLERANCES.get(dtype, (0.0, 0.0))
    if dtype.kind in "biu":
        ok = np.equal(x, y)
    else:
        xf, yf = (
            x.astype(np.float64 if _dtypes.kind(dtype) == "f" else dtype),
            y.astype(np.float64 if _dtypes.kind(dtype) == "f" else dtype),
        )
        with np.errstate(invalid="ignore"):
            ok = np.isclose(xf, yf, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if not np.all(ok):
        scalar = not isinstance(e, Tensor) or x.ndim == 0
        _fail(msg, _mismatch(x, y, np.asarray(ok), dtype, rtol, atol, scalar), where)


def _mismatch(x: Any, y: Any, ok: Any, dtype: Any, rtol: float, atol: float, scalar: bool) -> str:
    """torch's mismatch report: for numbers (and 0-d tensors) both values and their absolute and relative
    difference; for tensors the count of mismatches and the greatest differences with their indices (computed in
    the tensors' dtype, integers in int64)."""
    equality = rtol == 0 and atol == 0

    def line(kind: str, diff: Any, idx: Any, tol: float) -> str:
        text = (
            f"{kind.title()} difference: {diff}"
            if idx is None
            else f"Greatest {kind} difference: {diff} at index {idx}"
        )
        return text + ("" if equality else f" (up to {tol} allowed)")

    if scalar:
        actual, expected = x.item(), y.item()
        abs_diff = abs(actual - expected)
        rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
        return (
            f"Scalars are not {'equal' if equality else 'close'}!\n\nExpected {expected} but got {actual}.\n"
            f"{line('absolute', abs_diff, None, atol)}\n{line('relative', rel_diff, None, rtol)}"
        )
    work = np.int64 if dtype.kind in "biu" else dtype
    xf, yf = x.astype(work).ravel(), y.astype(work).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_diff = np.abs(xf - yf)
        abs_diff[ok.ravel()] = 0
        rel_diff = abs_diff / np.abs(yf)
        if dtype.kind in "biu":  # (torch's true division of integers gives its default float dtype)
            rel_diff = rel_diff.astype(_dtypes.get_default_dtype())
        rel_diff[ok.ravel()] = 0
    ia, ir = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))
    bad = int(ok.size - np.count_nonzero(ok))
    where_a = tuple(int(i) for i in np.unravel_index(ia, x.shape))
    where_r = tuple(int(i) for i in np.unravel_index(ir, x.shape))
    return (
        f"Tensor-likes are not {'equal' if equality else 'close'}!\n\n"
        f"Mismatched elements: {bad} / {ok.size} ({bad / ok.size:.1%})\n"
        f"{line('absolute', abs_diff[ia].item(), where_a, atol)}\n"
        f"{line('relative', rel_diff[ir].item(), where_r, rtol)}"
    )


def _fail(msg: Any, default: str, where: str = "") -> None:
    """An AssertionError with ``default`` (torch's text, the failing item appended), or the user's ``msg``: a
    string replaces it, a callable is given it."""
    text = default + (f"\n\nThe failure occurred for item {where}" if where else "")
    raise AssertionError(msg(text) if callable(msg) else text if msg is None else msg)
