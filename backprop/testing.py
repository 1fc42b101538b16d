"""``bp.testing.assert_close``: torch.testing's comparison, with its default tolerances per dtype."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backprop import dtypes as _dtypes
from backprop.tensor import Tensor

__all__ = ["assert_allclose", "assert_close"]

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


def _compare(a: Any, e: Any, rtol: Any, atol: Any, equal_nan: bool, dev: bool, dt: bool, msg: Any, where: str) -> None:
    if isinstance(e, Mapping) and not isinstance(e, Tensor):
        if not isinstance(a, Mapping) or set(a) != set(e):
            _fail(msg, f"The keys of the mappings do not match{where}: {sorted(map(str, a))} != {sorted(map(str, e))}")
        for k in e:
            _compare(a[k], e[k], rtol, atol, equal_nan, dev, dt, msg, f"{where}, item [{k!r}]")
        return
    if isinstance(e, Sequence) and not isinstance(e, (str, Tensor)):
        if not isinstance(a, Sequence) or len(a) != len(e):
            _fail(msg, f"The length of the sequences mismatch{where}")
        for i, (x, y) in enumerate(zip(a, e)):
            _compare(x, y, rtol, atol, equal_nan, dev, dt, msg, f"{where}, item [{i}]")
        return
    if isinstance(a, Tensor) != isinstance(e, Tensor):
        _fail(msg, f"Both inputs must be tensors or both numbers{where}: got {type(a).__name__} and {type(e).__name__}")
    if isinstance(e, Tensor):
        if tuple(a.shape) != tuple(e.shape):
            _fail(msg, f"The values for attribute 'shape' do not match{where}: {tuple(a.shape)} != {tuple(e.shape)}.")
        if dt and a.dtype != e.dtype:
            _fail(msg, f"The values for attribute 'dtype' do not match{where}: {a.dtype} != {e.dtype}.")
        if dev and a.device != e.device:
            _fail(msg, f"The values for attribute 'device' do not match{where}: {a.device} != {e.device}.")
        x, y = a.detach()._host(), e.detach()._host()
    else:
        x, y = np.asarray(a), np.asarray(e)
    dtype = np.promote_types(x.dtype, y.dtype)
    if rtol is None:
        rtol, atol = _TOLERANCES.get(dtype, (0.0, 0.0))
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
        bad = int(np.size(ok) - np.count_nonzero(ok))
        total = max(int(np.size(ok)), 1)
        with np.errstate(invalid="ignore"):
            diff = np.abs(x.astype(np.float64) - y.astype(np.float64)) if dtype.kind != "c" else np.abs(x - y)
        bad_diffs = np.asarray(diff)[~np.asarray(ok)]
        finite = bad_diffs[np.isfinite(bad_diffs)]
        worst = float(finite.max()) if finite.size == bad_diffs.size else float("nan")
        _fail(
            msg,
            f"Tensor-likes are not close!{where}\n\nMismatched elements: {bad} / {total} ({100 * bad / total:.1f}%)\n"
            f"Greatest absolute difference: {worst} (up to {atol} allowed)\n(rtol {rtol})",
        )


def _fail(msg: str | None, default: str) -> None:
    raise AssertionError(msg if msg is not None else default)
