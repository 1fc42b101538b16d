"""Tensor factories (torch names): ``tensor``, ``zeros``, ``randn``, ``*_like``, seeding."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.autograd.trace import factory
from backprop.backends import registered_backends
from backprop.devices import Device
from backprop.devices import device as to_device
from backprop.ops._util import size_arg
from backprop.tensor import Tensor


@factory
def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor copying ``data`` (floats -> float32, ints -> int64; arrays keep their dtype)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


@factory
def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array when dtype and device allow."""
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype)
    if isinstance(data, Tensor) and data.device is dev and (dt is None or dt == data.dtype):
        return data
    if isinstance(data, dev.array_type) and (dt is None or dt == data.dtype):
        return Tensor._wrap(data, dev, None)
    return Tensor(data, dtype=dtype, device=dev)


@factory
def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array, Device("cpu", 0), None)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing memory with any DLPack producer (torch, cupy, jax, numpy)."""
    kind, index = obj.__dlpack_device__()
    if int(kind) == 1:  # kDLCPU
        return Tensor._wrap(np.from_dlpack(obj), Device("cpu", 0), None)
    dev = to_device(f"cuda:{index}")
    return Tensor._wrap(dev.xp.from_dlpack(obj), dev, None)


def _current(dev: Device) -> Any:
    """A context making ``dev`` current while arrays are made (``cuda:N`` allocates on device N)."""
    return dev.backend.use_device(dev.index) if dev.index else contextlib.nullcontext()


def _make(fill: str, size: tuple, dtype: Any, device: Any, requires_grad: bool, value: Any = None) -> Tensor:
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    xp = dev.xp
    shape = size_arg(size)
    with _current(dev):
        arr = xp.full(shape, value, dtype=dt) if fill == "full" else getattr(xp, fill)(shape, dtype=dt)
    t = Tensor._wrap(arr, dev, None)
    if requires_grad:
        t.requires_grad = True
    return t


@factory
def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return _make("zeros", size, dtype, device, requires_grad)


@factory
def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _make("ones", size, dtype, device, requires_grad)


@factory
def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor."""
    return _make("empty", size, dtype, device, requires_grad)


@factory
def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it when not given)."""
    if dtype is None:
        dtype = (
            dtypes.bool_
            if isinstance(fill_value, bool)
            else (dtypes.int64 if isinstance(fill_value, int) else dtypes.get_default_dtype())
        )
    size = (size,) if isinstance(size, int) else tuple(size)
    return _make("full", size, dtype, device, requires_grad, fill_value)


@factory
def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    dev = to_device(device)
    with _current(dev):
        t = Tensor._wrap(dev.xp.arange(start, end, step, dtype=dtypes.to_dtype(dtype)), dev, None)
    if requires_grad:
        t.requires_grad = True
    return t


@factory
def linspace(
    start: float, end: float, steps: int, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, computed in float64. For an
    integer dtype, torch truncates the bounds and then the values toward zero (NumPy would floor)."""
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    if dt.kind not in "iuf":
        raise TypeError(f"linspace: dtype {dt} is not supported; expected a floating or integer dtype")
    if dt.kind in "iu":
        values = np.trunc(np.linspace(math.trunc(start), math.trunc(end), int(steps), dtype=np.float64))
    else:
        values = np.linspace(float(start), float(end), int(steps), dtype=np.float64)
    t = Tensor._wrap(dev.asarray(values, dt), dev, None)
    if requires_grad:
        t.requires_grad = True
    return t


@factory
def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None) -> Tensor:
    """The identity matrix."""
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    with _current(dev):
        return Tensor._wrap(dev.xp.eye(n, m, dtype=dt), dev, None)


def _random(kind: str, size: tuple, dtype: Any, device: Any, requires_grad: bool, **kw: Any) -> Tensor:
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    rng = dev.backend.rng(dev.index)
    shape = size_arg(size)
    with _current(dev):
        arr = _draw(rng, kind, shape, dt, **kw)
    t = Tensor._wrap(arr, dev, None)
    if requires_grad:
        t.requires_grad = True
    return t


def _draw(rng: Any, kind: str, shape: tuple, dt: Any, **kw: Any) -> Any:
    if kind == "randn":
        arr = (
            rng.standard_normal(shape, dtype=dt)
            if dt.kind == "f" and dt.itemsize >= 4
            else rng.standard_normal(shape).astype(dt)
        )
    elif kind == "rand":
        arr = rng.random(shape, dtype=dt) if dt.kind == "f" and dt.itemsize >= 4 else rng.random(shape).astype(dt)
    else:
        arr = rng.integers(kw["low"], kw["high"], size=shape).astype(dt)
    return arr


@factory
def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the device's seeded generator."""
    return _random("randn", size, dtype, device, requires_grad)


@factory
def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the device's seeded generator."""
    return _random("rand", size, dtype, device, requires_grad)


@factory
def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None, device: Any = None) -> Tensor:
    """Integers in [low, high) (int64 by default)."""
    if high is None:
        low, high = 0, low
    return _random("randint", (tuple(size),), dtype or dtypes.int64, device, False, low=low, high=high)


def _like(fn: Any) -> Any:
    def like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        return fn(
            *input.shape,
            dtype=dtype or input.dtype,
            device=device or input.device,
            requires_grad=requires_grad,
        )

    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"``{fn.__name__}`` with the shape (and by default dtype and device) of ``input``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
randn_like = _like(randn)
rand_like = _like(rand)


def full_like(input: Tensor, fill_value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``full`` with the shape (and by default dtype and device) of ``input``."""
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device)


def manual_seed(seed: int) -> None:
    """Seed the generators of every usable backend (CPU and, when present, CUDA)."""
    for backend in registered_backends().values():
        backend.manual_seed(int(seed))  # cheap: backends create generators lazily
