"""Dtype casts, copies and device transfers (all differentiable)."""

from __future__ import annotations

import warnings

from backprop import dtypes
from backprop.ops._util import copy_order
from backprop.registry import op

_complex_warned: list[bool] = []  # set once the first complex-to-real cast has warned


@op("astype", casts=True)
def astype(xp, x, *, dtype):
    """x converted to ``dtype`` (a copy)."""
    if dtypes.is_bfloat16(dtype):
        if xp.__name__ != "numpy":
            dtypes.check_device(dtype, "cuda", "to")
        dtypes.note_bfloat16()  # (once per process: the kernels gain bfloat16's float32 path)
    elif dtype is dtypes.float16:
        dtypes.note_half(dtype)  # (likewise for float16's)
    elif dtype.kind == "c":
        dtypes.note_complex()  # (once per process: torch's real-only ops gain their complex refusal)
    if dtypes.is_float8(dtype) or dtypes.is_float8(x.dtype):
        if xp.__name__ != "numpy":
            dtypes.check_device(dtype, "cuda", "to")
        dtypes.note_float8()  # (once per process: the ops torch refuses on float8 gain their refusal)
        return dtypes.float8_cast(x, dtype)
    if x.dtype.kind == "c" and dtype.kind != "c":
        if not _complex_warned:  # torch's warning (once per process, as its TORCH_WARN_ONCE), not NumPy's
            _complex_warned.append(True)
            warnings.warn("Casting complex values to real discards the imaginary part", UserWarning, stacklevel=2)
        x = x.real
    if dtype.kind in "iu" and dtypes.is_bfloat16(x.dtype):  # through float32: torch's (C's) conversion of NaN and
        return x.astype(xp.float32).astype(dtype)  # out-of-range values, where ml_dtypes' gives 0
    return x.astype(dtype, order=copy_order(x))


@astype.defvjp
def astype_backward(ctx, gy):  # the engine casts gy back to the input's dtype
    return (gy,)


@op("clone")
def clone(xp, x):
    """A C-ordered copy of x that owns its memory (what ``contiguous()`` needs of a transposed view)."""
    return xp.array(x, copy=True, order="C")


@clone.defvjp
def clone_backward(ctx, gy):
    return (gy,)


@op("to_device", moves_device=True)
def to_device(xp, x, *, device, source):
    """x copied from device ``source`` to ``device`` (through the host when backends differ)."""
    dtypes.check_device(x.dtype, device.type, "to")
    if device.backend is source.backend:
        if device.index == source.index:
            return x
        return device.backend.from_host(x, device.index)  # peer copy, e.g. cuda:0 -> cuda:1
    return device.backend.from_host(source.backend.to_host(x), device.index)


@to_device.defvjp
def to_device_backward(ctx, gy):  # send the gradient back where the input lives
    attrs = ctx.attrs
    return (ctx.call(to_device, gy, device=attrs["source"], source=attrs["device"]),)
