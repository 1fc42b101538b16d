"""Tensor factories (torch names): ``tensor``, ``zeros``, ``randn``, ``*_like``, seeding."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from backprop import dtypes, runtime
from backprop.autograd import trace
from backprop.autograd.function import not_a_tensor_here
from backprop.autograd.trace import factory
from backprop.backends import registered_backends, torch_rng
from backprop.backends.meta_backend import placeholder
from backprop.devices import Device, check_array_dtype, numpy_checks
from backprop.devices import device as to_device
from backprop.methods.random import bernoulli as bernoulli  # re-exported: torch.bernoulli
from backprop.methods.random import check_std, generator_rng, need_float, on_device, torch_stream, zero_grad_from
from backprop.methods.random import multinomial as multinomial  # re-exported: torch.multinomial
from backprop.methods.shape import check_memory_format
from backprop.ops import linalg as _linalg_ops
from backprop.ops._linspace import fused_linspace, half_linspace
from backprop.ops._util import ShapeError, size_arg, user_stacklevel
from backprop.tensor import Tensor

_NUMBERS = frozenset((int, float, bool, complex))


@factory
def tensor(
    data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, *, pin_memory: bool = False
) -> Tensor:
    """A new tensor copying ``data`` (floats -> float32, ints -> int64; arrays keep their dtype)."""
    if isinstance(data, np.ndarray):
        numpy_checks(data, shares=False)
    elif isinstance(data, Tensor):
        warnings.warn(_COPY_CONSTRUCT, UserWarning, stacklevel=user_stacklevel())
    return Tensor._of(data, dtype=dtype, device=device, requires_grad=requires_grad)


@factory
def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array when dtype and device allow."""
    if isinstance(data, np.ndarray):
        numpy_checks(data, shares=True)
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype)
    if isinstance(data, Tensor) and data.device is dev and (dt is None or dt == data.dtype):
        return data
    if isinstance(data, dev.array_type) and (dt is None or dt == data.dtype):
        check_array_dtype(data)
        return Tensor._wrap(data, dev, None)
    return Tensor._of(data, dtype=dtype, device=dev)


def asarray(
    obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None, requires_grad: bool = False
) -> Tensor:
    """torch.asarray: ``obj`` as a tensor, sharing its memory when dtype and device allow (``copy=None``),
    always copying (``copy=True``), or refusing to copy (``copy=False`` raises when it would have to)."""
    if isinstance(obj, np.ndarray):
        numpy_checks(obj, shares=not copy)
    if copy:
        src = obj._data if isinstance(obj, Tensor) else obj
        out = Tensor._of(to_device(device).xp.array(src, copy=True) if hasattr(src, "shape") else src, dtype, device)
    else:
        out = as_tensor(obj, dtype=dtype, device=device)
        base = obj._data if isinstance(obj, Tensor) else obj
        if copy is False and hasattr(base, "shape") and out._data is not base and out._data.base is not base:
            raise ValueError("asarray(copy=False): the requested dtype or device needs a copy")
    if requires_grad:
        out = out.detach() if out is obj else out
        out._factory_requires_grad()
    return out


@factory
def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {_type_name(array)})")
    numpy_checks(array, shares=True)
    if array.__class__ is not np.ndarray:  # (np.matrix, masked arrays: their memory, as torch's)
        array = array.view(np.ndarray)
    if array.dtype is dtypes.float16 or array.dtype.kind in "cV":
        dtypes.note_dtype(array.dtype)  # (once per process: the kernels gain the half/complex dtypes' paths)
    return Tensor._wrap(array, Device("cpu", 0), None)


_COPY_CONSTRUCT = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor)."
)


def _type_name(obj: Any) -> str:
    """A type's name as torch's errors print it (``numpy.float64``, ``list``)."""
    cls = type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


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
    dtypes.check_device(dt, dev.type, fill)
    xp = dev.xp
    shape = size_arg(size)
    if any(n < 0 for n in shape):
        raise ShapeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    if fill == "empty" and runtime._flags["deterministic"] and runtime._flags.get("fill_uninitialized_memory", True):
        fill, value = "full", _known_fill(dt)  # torch's deterministic empty: NaN, or an integer's maximum
    if dev.type == "meta":  # no values: one element's memory whatever the shape
        arr = placeholder(shape, dt)
    else:
        with _current(dev):
            if fill == "full" and dtypes.is_float8(dt):  # (torch's saturating conversion)
                if math.prod(shape) != 1:
                    _float8_fill_check(value, dt)
                arr = dtypes.float8_cast(xp.full(shape, value, dtype=np.float32), dt)
            else:
                arr = (
                    xp.full(shape, dtypes.fill_value(value, dt), dtype=dt)
                    if fill == "full"
                    else getattr(xp, fill)(shape, dtype=dt)
                )
    t = Tensor._wrap(arr, dev, None)
    if requires_grad:
        t._factory_requires_grad()
    return t


def _float8_fill_check(value: Any, dt: Any) -> None:
    """torch's checked conversion of a fill value into a float8 dtype (a fill of more than one element):
    a finite value beyond the dtype's range is refused (and infinity, except for float8_e5m2, which has it)."""
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and dt.name == "float8_e5m2"):
        return
    info = dtypes.finfo(dt)
    lowest = info.min if dt.name == "float8_e8m0fnu" else -info.max
    if not lowest <= v <= info.max:
        raise RuntimeError(f"value cannot be converted to type c10::{dtypes.scalar_type_name(dt)} without overflow")


def _known_fill(dt: Any) -> Any:
    """What torch's ``empty`` holds under ``use_deterministic_algorithms(True)``: NaN for floating and
    complex dtypes, the maximum for integers, True for bool (``bp.utils.deterministic``)."""
    if dt.kind in "iu":
        return int(np.iinfo(dt).max)
    return True if dt.kind == "b" else float("nan")


# ``backprop.sparse`` puts its empty-tensor maker here when it loads (this layer cannot import it):
# ``SPARSE_ZEROS[0](size, layout, dtype, device, requires_grad)``
SPARSE_ZEROS: list[Any] = [None]
# the kernel torch's sparse backend lacks, in its error, for a factory given ``layout=bp.sparse_coo``
_SPARSE_KERNEL = {"rand": "uniform_", "randn": "normal_", "arange": "arange.start_out", "eye": "eye.m_out"}


def _sparse_layout(layout: Any) -> bool:
    return layout is not None and str(getattr(layout, "name", layout)).startswith("sparse_")


def no_sparse_kernel(name: str, backend: str = "SparseCPU") -> NotImplementedError:
    """torch's error for a kernel its sparse backend lacks (``ones_like(s)`` runs ``fill_``)."""
    return NotImplementedError(
        f"Could not run 'aten::{name}' with arguments from the '{backend}' backend. This could be because the "
        "operator doesn't exist for this backend, or was omitted during the selective/custom build process (if "
        "using custom build)."
    )


def _dense(name: str, layout: Any) -> None:
    """torch's ``layout=`` of a factory: the default (``bp.strided``) only (``zeros``/``empty`` make sparse
    tensors before this); the ``pin_memory=`` that comes with it is accepted and changes nothing (there is no
    page-locked host memory here)."""
    if name in ("ones", "full") and _sparse_layout(layout):
        raise RuntimeError("full(...) is not implemented for sparse layout")
    if name in _SPARSE_KERNEL and getattr(layout, "name", layout) == "sparse_coo":
        raise no_sparse_kernel(_SPARSE_KERNEL[name])
    if layout is not None and getattr(layout, "name", layout) != "strided":
        raise NotImplementedError(
            f"{name}: layout={layout!r} is not supported: backprop's factories make strided (dense) tensors; "
            "build a sparse one with bp.sparse_coo_tensor"
        )


def _size_keyword(name: str, size: tuple, kw: dict[str, Any]) -> tuple:
    """torch's ``zeros(size=(2, 3))``: the sizes given as the keyword ``size`` (a sequence of ints)."""
    given = kw.pop("size", None)
    if kw:
        raise TypeError(f"{name}() got an unexpected keyword argument '{next(iter(kw))}'")
    if size:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    if given is None or isinstance(given, int):
        raise TypeError(f"{name}(): argument 'size' must be tuple of ints, not {type(given).__name__}")
    return (given,)


def _filled(kind: str, doc: str) -> Callable[..., Tensor]:
    """The factory ``zeros`` or ``ones`` (torch's signature: sizes, then keywords)."""

    def make(
        *size: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
        **kw: Any,
    ) -> Tensor:
        if kw:
            size = _size_keyword(kind, size, kw)
        if kind == "zeros" and _sparse_layout(layout):
            return SPARSE_ZEROS[0](size_arg(size), layout, dtype, device, requires_grad)
        if layout is not None:
            _dense(kind, layout)
        return _make(kind, size, dtype, device, requires_grad)

    make.__name__ = make.__qualname__ = kind
    make.__doc__ = doc
    return factory(make)


zeros = _filled("zeros", "A tensor of zeros.")
ones = _filled("ones", "A tensor of ones.")


@factory
def empty(
    *size: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
    memory_format: Any = None,
    **kw: Any,
) -> Tensor:
    """An uninitialised tensor."""
    if kw:
        size = _size_keyword("empty", size, kw)
    if _sparse_layout(layout):
        return SPARSE_ZEROS[0](size_arg(size), layout, dtype, device, requires_grad, "empty")
    if layout is not None:
        _dense("empty", layout)
    if memory_format is not None:
        check_memory_format(len(size_arg(size)), memory_format)
    return _make("empty", size, dtype, device, requires_grad)


@factory
def empty_strided(
    size: Any,
    stride: Any,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """An uninitialised (zeros here) tensor of ``size`` laid out with ``stride`` (elements) in a fresh buffer."""
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    with _current(dev):
        arr = _linalg_ops.strided_zeros(dev.xp, size_arg((size,)), size_arg((stride,)), dt)
    t = Tensor._wrap(arr, dev, None)
    return t._factory_requires_grad() if requires_grad else t


@factory
def full(
    size: Any,
    fill_value: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    *,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it when not given)."""
    _dense("full", layout)
    _fill_number("full", fill_value)
    if dtype is None:
        dtype = (
            dtypes.bool_
            if isinstance(fill_value, bool)
            else (dtypes.int64 if isinstance(fill_value, int) else dtypes.get_default_dtype())
        )
        if isinstance(fill_value, complex):  # the default complex dtype (complex64 under float32)
            dtype = dtypes.default_complex()
    size = (size,) if isinstance(size, int) else tuple(size)
    return _make("full", size, dtype, device, requires_grad, fill_value)


@factory
def arange(
    start: Any = None,
    end: Any = None,
    step: Any = 1,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    *,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 unless a bound is a float."""
    _dense("arange", layout)
    if end is None:
        if start is None:
            raise TypeError('arange() missing 1 required positional arguments: "end"')
        start, end = 0, start
    elif start is None:  # arange(end=n)
        start = 0
    # 0-d tensors as bounds: their Python numbers (an int tensor keeps the int64 result, as torch)
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    dev = to_device(device)
    if dt.kind in "bc":  # (torch's kernel has no bool or complex path)
        raise NotImplementedError(f"\"arange_cpu\" not implemented for '{dtypes.scalar_type_name(dt)}'")
    if dt.kind in "iu":
        arr = _int_arange(start, end, step, dt)
        with _current(dev):
            t = Tensor._wrap(dev.asarray(arr, dt), dev, None)
    else:
        _arange_check(start, end, step)
        n = math.ceil((end - start) / step)  # start + i * step in double, rounded once into dt (NumPy's own
        arr = dtypes.astype(np.arange(n, dtype=np.float64) * step + start, dt)  # arange steps in dt: float16 drifts)
        with _current(dev):
            t = Tensor._wrap(dev.asarray(arr, dt), dev, None)
    if requires_grad:
        t._factory_requires_grad()
    return t


def _arange_check(start: Any, end: Any, step: Any) -> None:
    if step == 0:
        raise ShapeError("arange: step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ShapeError(f"arange: unsupported range: {start} -> {end}")
    if (end - start) * step < 0:
        raise ShapeError("upper bound and lower bound inconsistent with step sign")


def _int_arange(start: Any, end: Any, step: Any, dt: Any) -> Any:
    """torch's integer arange: the values are trunc(start) + i * trunc(step) (int64 arithmetic, then
    wrapped to ``dt``). For int64 the length also comes from the truncated bounds,
    ``(end - start + step - sign(step)) / step`` in integer division; the other integer dtypes take it
    from the original numbers, ``ceil((end - start) / step)``, so ``arange(0.5, 5.7, 0.9, dtype=int32)``
    is six zeros."""
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise ShapeError(f"arange: unsupported range: {start} -> {end} (step {step})")
    ts, te, tp = math.trunc(start), math.trunc(end), math.trunc(step)
    if dt == dtypes.int64:
        _arange_check(ts, te, tp)
        q = te - ts + tp - (1 if tp > 0 else -1)
        n = abs(q) // abs(tp) * (1 if (q >= 0) == (tp > 0) else -1)  # C's truncating division
    else:
        _arange_check(start, end, step)
        n = math.ceil((float(end) - float(start)) / float(step))
    n = max(n, 0)
    return (np.arange(n, dtype=np.int64) * np.int64(tp) + np.int64(ts)).astype(dt)


def _bound(name: str, what: str, v: Any) -> Any:
    """A linspace/logspace bound: a Python number, or a 0-d tensor's (torch's ``.tensor_overload``)."""
    if isinstance(v, Tensor):
        if v.ndim != 0:
            raise ShapeError(
                f"{name} only supports 0-dimensional start and end tensors, but got {what} with {v.ndim} dimension(s)."
            )
        return v.item()
    return v


def _complex_default(dt: Any, *bounds: Any) -> Any:
    """No dtype and a complex bound: the default complex dtype (complex64 under float32), as torch."""
    if dt is None and any(isinstance(b, complex) for b in bounds):
        return dtypes.default_complex()
    return dt or dtypes.get_default_dtype()


def _plain_linspace(a: float, b: float, steps: int) -> Any:
    """torch's linspace formula in float64, unfused: ``a + step * i`` for the first half, ``b - step * (steps - 1 - i)``
    for the rest, so infinite bounds give torch's inf/NaN pattern silently; one step is ``a``."""
    if steps < 2:
        return np.full(steps, a, dtype=np.float64)
    i = np.arange(steps, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        step = np.float64(b - a) / (steps - 1)
        return np.where(i < steps // 2, a + step * i, b - step * (steps - 1 - i))


def spaced(name: str, start: Any, end: Any, steps: Any, dtype: Any) -> tuple[Any, Any]:
    """linspace's values (float64 or complex128, NumPy) and the result dtype. For an integer dtype, torch
    truncates the bounds toward zero first. Complex dtypes follow torch's kernel: ``start + step * i``
    for the first half, ``end - step * (steps - 1 - i)`` for the rest, ``step = (end - start) / (steps - 1)``."""
    start, end = _bound(name, "start", start), _bound(name, "end", end)
    if not isinstance(steps, int) and not (isinstance(steps, Tensor) and steps.ndim == 0):
        raise TypeError(f"{name}: steps must be an int, got {type(steps).__name__}")
    steps = int(steps)
    if steps < 0:
        raise ShapeError(f"{name}: number of steps must be non-negative")
    dt = _complex_default(dtypes.to_dtype(dtype), start, end)
    k = dtypes.kind(dt)
    if k not in "iufc":
        raise TypeError(f"{name}: dtype {dt} is not supported; expected a floating, complex or integer dtype")
    if k == "c":
        a, b = complex(start), complex(end)
        idx = np.arange(steps)
        step = (b - a) / (steps - 1) if steps > 1 else 0j
        values = np.where(idx < steps // 2, a + step * idx, b - step * (steps - 1 - idx))
        if steps == 1:
            values = np.array([a])
        return values.astype(np.complex128), dt
    if isinstance(start, complex) or isinstance(end, complex):
        raise TypeError(f"{name}: complex bounds need a complex dtype, got {dt}")
    a, b = (math.trunc(start), math.trunc(end)) if k in "iu" else (float(start), float(end))
    if k == "f" and (steps > 1 or (steps == 1 and name == "linspace")):  # torch converts the bounds it reads
        for v in (a, b) if steps > 1 else (a,):  # to the dtype: a finite one beyond its range is refused
            dtypes.fill_int(v, dt)
    if steps < 2 or not (math.isfinite(a) and math.isfinite(b)):  # (np.linspace's Python would warn of inf - inf
        return _plain_linspace(a, b, steps), dt  # in NumPy's name, past our warning filter)
    return np.linspace(a, b, steps, dtype=np.float64), dt


@factory
def linspace(
    start: float,
    end: float,
    steps: int,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    *,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, computed in float64. For an
    integer dtype, torch truncates the bounds and then the values toward zero (NumPy would floor)."""
    _dense("linspace", layout)
    dev = to_device(device)
    values, dt = spaced("linspace", start, end, steps, dtype)
    if steps > 1 and not np.isfinite(values[[0, -1]]).all():
        values = dtypes.astype(values, dt)  # (infinite bounds: torch's formula, unfused, already in values)
    elif dt.kind in "iu":
        values = np.trunc(fused_linspace(values[0], values[-1], steps, np.float64) if steps > 1 else values)
    elif dt.itemsize == 2 and steps > 1:
        values = half_linspace(values[0], values[-1], steps, dt)
    elif dt.kind == "f" and steps > 1:
        values = fused_linspace(values[0], values[-1], steps, dt)
    t = Tensor._wrap(dev.asarray(values, dt), dev, None)
    if requires_grad:
        t._factory_requires_grad()
    return t


@factory
def eye(
    n: int,
    m: int | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    *,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """The identity matrix."""
    _dense("eye", layout)
    for name, value in (("n", n), ("m", m)):
        if value is not None and value < 0:  # (torch's RuntimeError, not NumPy's ValueError)
            raise ShapeError(f"{name} must be greater or equal to 0, got {value}")
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    with _current(dev):
        t = Tensor._wrap(dev.xp.eye(n, m, dtype=dt), dev, None)
    if requires_grad:
        t._factory_requires_grad()
    return t


def _random(
    kind: str, size: tuple, dtype: Any, device: Any, requires_grad: bool, generator: Any = None, **kw: Any
) -> Tensor:
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    rng = generator_rng(dev, generator)
    shape = size_arg(size)
    if dev.type == "meta":  # no values to draw
        arr = placeholder(shape, dt)
    else:
        with _current(dev):
            arr = _draw(rng, kind, shape, dt, **kw)
    t = Tensor._wrap(arr, dev, None)
    if requires_grad:
        t._factory_requires_grad()
    return t


def _draw(rng: Any, kind: str, shape: tuple, dt: Any, **kw: Any) -> Any:
    if torch_stream(
        rng
    ):  # torch's CPU kernels: randn = empty().normal_(), rand = uniform_(), randint = random_(lo, hi)
        n = math.prod(shape)
        if dt.kind == "c" and kind != "randint":  # view_as_real(out).normal_(0, 1 / sqrt 2) or .uniform_()
            real = np.dtype(np.float32 if dt == np.complex64 else np.float64)
            parts = (
                torch_rng.normal(rng, 2 * n, real, 0.0, 1 / math.sqrt(2.0))
                if kind == "randn"
                else torch_rng.uniform(rng, 2 * n, real)
            )
            return (parts[0::2] + 1j * parts[1::2]).astype(dt).reshape(shape)
        if kind == "randn":
            return torch_rng.normal(rng, n, dt).reshape(shape)
        if kind == "rand":
            return torch_rng.uniform(rng, n, dt).reshape(shape)
        return torch_rng.random_from_to(rng, n, dt, kw["high"] - kw["low"], kw["low"]).reshape(shape)
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


def _sampled(kind: str, doc: str) -> Callable[..., Tensor]:
    """The factory ``randn`` or ``rand`` (torch's signature: sizes, then keywords)."""

    def sample(
        *size: Any,
        generator: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
        **kw: Any,
    ) -> Tensor:
        if layout is not None:
            _dense(kind, layout)
        if kw:
            size = _size_keyword(kind, size, kw)
        return _random(kind, size, dtype, device, requires_grad, generator)

    sample.__name__ = sample.__qualname__ = kind
    sample.__doc__ = doc
    return factory(sample)


randn = _sampled("randn", "Standard normal samples from the device's seeded generator (or ``generator``).")
rand = _sampled("rand", "Uniform [0, 1) samples from the device's seeded generator (or ``generator``).")


@factory
def randint(
    low: int,
    high: int | None = None,
    size: Any = (),
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """Integers in [low, high) (``randint(high, size)``: [0, high)); int64 by default."""
    _dense("randint", layout)
    if isinstance(high, (tuple, list)):  # torch's randint(high, size) overload
        _int_bound("high", 1, low)
        low, high, size = 0, low, high
    elif high is None:
        _int_bound("high", 1, low)
        low, high = 0, low
    elif isinstance(low, float) or isinstance(high, float):  # (torch's parser: no float bounds)
        got = ", ".join(type(v).__name__ for v in (low, high, size))
        raise TypeError(f"randint() received an invalid combination of arguments - got ({got}), but expected ints")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _random(
        "randint", (tuple(size),), dtype or dtypes.int64, device, requires_grad, generator, low=low, high=high
    )


def _int_bound(name: str, position: int, value: Any) -> None:
    """torch's TypeError for a float bound of ``randint`` (its argument parser takes ints only)."""
    if isinstance(value, float):
        raise TypeError(f"randint(): argument '{name}' (position {position}) must be int, not float")


def _fill_number(name: str, value: Any) -> None:
    """torch's TypeError for a fill value that is not a number (a NumPy scalar or a 0-d tensor is one)."""
    if value.__class__ in _NUMBERS or isinstance(value, (numbers.Number, np.bool_)):
        return
    if not (isinstance(value, Tensor) and value.ndim == 0):
        raise TypeError(f"{name}(): argument 'fill_value' (position 2) must be Number, not {type(value).__name__}")


def _like_input(name: str, input: Any) -> None:
    """torch's TypeError for a ``*_like`` factory given something else than a tensor."""
    if not isinstance(input, Tensor):
        kind = type(input)
        what = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {what}")


def _like(fn: Any) -> Any:
    name = fn.__name__ + "_like"

    def like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
        _like_input(name, input)
        check_memory_format(input.ndim, kw.pop("memory_format", None))  # (C order always) and torch's layout
        layout = kw.pop("layout", None) or input.layout
        if _sparse_layout(layout):
            return _sparse_like(fn, input, layout, dtype, device, requires_grad)
        if fn in _SAMPLERS and input.ndim > 1 and not input._data.flags.c_contiguous and trace.tracer() is None:
            return _drawn_like(input, fn, dtype, device, requires_grad, kw.get("generator"))
        return fn(
            *input.shape,
            dtype=dtype or input.dtype,
            device=device or input.device,
            requires_grad=requires_grad,
            **kw,  # ``generator=`` for the random ones
        )

    like.__name__ = name
    like.__doc__ = f"``{fn.__name__}`` with the shape (and by default dtype and device) of ``input``."
    return like


def _sparse_like(fn: Any, input: Tensor, layout: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    """``zeros_like``/``empty_like`` of (or with ``layout=``) a sparse layout: sparse, as torch's (no entries);
    ``ones_like``/``empty_like`` of a CSR/CSC matrix keep its pattern; the others hit a kernel torch's sparse COO
    backend lacks."""
    dtype, device = dtype or input.dtype, device or input.device
    if layout is input.layout and fn in (ones, empty) and getattr(layout, "name", "") in ("sparse_csr", "sparse_csc"):
        values = input.values().detach()
        make = values.new_ones if fn is ones else values.new_zeros
        out = cast(Any, input.detach())._like(make(values.shape, dtype=dtype, device=device))
        return out.requires_grad_() if requires_grad else out
    if fn in (zeros, empty):
        return SPARSE_ZEROS[0](tuple(input.shape), layout, dtype, device, requires_grad)
    kernel = {ones: "fill_.Scalar", rand: "uniform_", randn: "normal_"}.get(fn, fn.__name__)
    raise no_sparse_kernel(kernel, getattr(input._data, "backend", "SparseCPU"))


def _drawn_like(input: Tensor, fn: Any, dtype: Any, device: Any, requires_grad: bool, generator: Any) -> Tensor:
    """``rand_like``/``randn_like`` of a tensor not in C order, as torch's ``empty_like(input).uniform_()`` /
    ``.normal_()``: drawn in the input's memory order (into memory laid out as ``empty_like`` keeps it), returned
    in C order."""
    shape = tuple(input.shape)
    strides = torch_rng.like_strides(shape, input._data.strides)
    order = sorted(range(len(shape)), key=lambda d: (-strides[d], d))
    kw = {"dtype": dtype or input.dtype, "device": device or input.device}
    laid_out = empty(*[shape[d] for d in order], **kw).permute(tuple(np.argsort(order).tolist()))
    out = _SAMPLERS[fn](laid_out, generator=generator).contiguous()
    return out._factory_requires_grad() if requires_grad else out


_SAMPLERS: dict[Any, Callable[..., Tensor]] = {rand: Tensor.uniform_, randn: Tensor.normal_}
zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
randn_like = _like(randn)
rand_like = _like(rand)


def full_like(
    input: Tensor,
    fill_value: Any,
    dtype: Any = None,
    device: Any = None,
    *,
    requires_grad: bool = False,
    memory_format: Any = None,
    layout: Any = None,
) -> Tensor:
    """``full`` with the shape (and by default dtype and device) of ``input``."""
    _like_input("full_like", input)
    check_memory_format(input.ndim, memory_format)
    if getattr(layout or input.layout, "name", None) == "sparse_coo":
        raise no_sparse_kernel("fill_.Scalar", getattr(input._data, "backend", "SparseCPU"))
    _fill_number("full_like", fill_value)
    out = full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device)
    return out._factory_requires_grad() if requires_grad else out


@factory
def randint_like(
    input: Tensor,
    low: int = 0,
    high: int | None = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``randint`` with the shape (and by default dtype and device) of ``input``; one bound is ``high``."""
    _like_input("randint_like", input)
    if high is None:
        low, high = 0, low
    return randint(
        low,
        high,
        tuple(input.shape),
        generator=generator,
        dtype=dtype or input.dtype,
        device=device or input.device,
        requires_grad=requires_grad,
    )


@factory
def randperm(
    n: int,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 by default)."""
    _dense("randperm", layout)
    dt = dtypes.to_dtype(dtype) or dtypes.int64
    if n < 0:
        raise RuntimeError(f"randperm: trying to create tensor with negative dimension {n}: [{n}]")
    if dt.kind == "b":
        raise NotImplementedError("randperm: not implemented for dtype bool")
    top = 2 ** (np.finfo(dt).nmant + 1) + 1 if dtypes.kind(dt) == "f" else int(np.iinfo(dt).max) + 1
    if n > top:
        raise RuntimeError(f"randperm: n={n} is too large for dtype {dt} (at most {top})")
    dev = to_device(device)
    rng = generator_rng(dev, generator)
    with on_device(dev):
        perm = rng.permutation(n) if hasattr(rng, "permutation") else dev.xp.argsort(rng.random(n))
    t = Tensor._wrap(perm.astype(dt), dev, None)
    if requires_grad:
        t._factory_requires_grad()
    return t


@factory
def _normal_numbers(
    mean: float, std: float, size: Any, generator: Any, dtype: Any, device: Any, requires_grad: bool
) -> Tensor:
    t = _make("empty", size, dtype, device, False)
    need_float("normal", t.dtype, complex_ok=True)
    t.normal_(mean, std, generator=generator)
    if requires_grad:
        t._factory_requires_grad()
    return t


def _check_std(std: Any, *, xp: Any) -> None:
    if not bool(xp.all(std >= 0)):  # (NaN too, as torch)
        raise RuntimeError("normal expects all elements of std >= 0.0")


def normal(
    mean: Any,
    std: Any = 1.0,
    size: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """Samples of N(mean, std^2), torch's overloads: ``normal(mean_tensor, std_tensor)`` (broadcast),
    ``normal(mean_tensor, std=1.0)``, ``normal(mean, std_tensor)`` and ``normal(mean, std, size)``
    (only this one takes ``dtype``, ``layout``, ``device``, ``pin_memory``, ``requires_grad``).
    The result takes the dtype and device of ``mean`` when it is a tensor, else of ``std``. A complex
    result has real and imaginary parts each N(0, std^2 / 2) around ``mean``, as torch."""
    tensors = [a for a in (mean, std) if isinstance(a, Tensor)]
    if layout is not None or pin_memory:
        if tensors:
            raise TypeError("normal(): layout and pin_memory are only accepted by normal(mean, std, size)")
        _dense("normal", layout)
    if not tensors:
        if size is None:
            raise TypeError("normal(): with a number mean and std, size is required: normal(mean, std, size)")
        check_std(std)
        size = (size,) if isinstance(size, int) else tuple(size)
        return _normal_numbers(float(mean), float(std), size, generator, dtype, device, requires_grad)
    if size is not None:
        raise TypeError("normal(): size is only accepted when mean and std are both numbers")
    first = tensors[0]
    dev, dt = first.device, first.dtype
    need_float("normal", dt, complex_ok=isinstance(mean, Tensor))
    if isinstance(std, Tensor):
        if std.device is not dev:
            raise RuntimeError(f"normal: mean is on {dev} but std is on {std.device}; move them to one device")
        if std.numel():  # (recorded: a replayed step refuses a negative std too)
            trace.check(_check_std, std, xp=dev.xp)
    else:
        check_std(std)

    try:
        np.broadcast_shapes(np.shape(mean), np.shape(std))
    except ValueError:
        raise ShapeError(
            f"normal: mean of shape {tuple(np.shape(mean))} and std of shape {tuple(np.shape(std))} do not broadcast"
        ) from None
    draw = functools.partial(_normal_draw, dev=dev, generator=generator, dt=dt)
    out = Tensor._wrap(trace.record(draw, mean, std), dev, None)
    return zero_grad_from(out, *tensors)


def _normal_draw(m: Any, s: Any, *, dev: Device, generator: Any, dt: Any) -> Any:
    """mean + std * N(0, 1) at the broadcast shape (recorded: a compiled step draws anew)."""
    shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    with on_device(dev):
        rng = generator_rng(dev, generator)
        if torch_stream(rng) and dt.kind != "c":  # torch: normal_(0, std) (+ mean), or normal_(0, 1) * std + mean
            n = math.prod(shape)
            if np.ndim(s) == 0 and not isinstance(s, np.ndarray):
                z = torch_rng.normal(rng, n, dt, 0.0, float(s)).reshape(shape)
            else:
                z = torch_rng.normal(rng, n, dt).reshape(shape) * np.asarray(s).astype(dt)
            return (z + np.asarray(m).astype(dt)).astype(dt)
        if dt.kind == "c":  # a complex mean: N(0, std^2 / 2) in each part
            pairs = rng.standard_normal((*shape, 2))
            return (m + s * (pairs[..., 0] + 1j * pairs[..., 1]) / math.sqrt(2.0)).astype(dt)
        return (m + s * rng.standard_normal(shape)).astype(dt)


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Poisson samples with the rates ``input`` (same shape and floating dtype)."""
    try:
        if dtypes.kind(input.dtype) != "f":
            raise NotImplementedError(f"poisson: not implemented for dtype {input.dtype}; expected a floating tensor")
        dev = input.device
        draw = functools.partial(_poisson_draw, dev=dev, generator=generator, dt=input.dtype)
        return zero_grad_from(Tensor._wrap(trace.record(draw, input), dev, None), input)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def _poisson_draw(lam: Any, *, dev: Device, generator: Any, dt: Any) -> Any:
    if lam.size and bool(dev.xp.any(lam < 0)):
        raise RuntimeError("poisson: invalid Poisson rate, expected rate to be non-negative")
    rng = generator_rng(dev, generator)
    if isinstance(rng, torch_rng.CPUGenerator) and lam.size <= torch_rng.SCALAR_SAMPLERS_MAX:  # torch's numbers
        flat = np.ascontiguousarray(lam).astype(np.float64).ravel()
        return torch_rng.cast(torch_rng.poisson(rng, flat), np.dtype(dt)).reshape(lam.shape)
    with on_device(dev):
        # a 0-d rate gives a Python int: make it an array again (torch.poisson of a 0-d tensor)
        return dev.xp.asarray(rng.poisson(lam.astype(np.float64))).astype(dt)


# ---------------------------------------------------------------- generators and seeds
_TORCH_DEFAULT_SEED = torch_rng.DEFAULT_SEED  # what a new torch.Generator starts from


def _state_tensor(state: dict) -> Tensor:
    """A generator state as a uint8 CPU tensor (its JSON, not torch's byte layout)."""
    return Tensor._wrap(np.frombuffer(json.dumps(state).encode(), dtype=np.uint8).copy(), Device("cpu", 0), None)


def _check_byte_tensor(new_state: Any, name: str) -> None:
    """torch's TypeError for a generator state that is not a uint8 tensor."""
    if not isinstance(new_state, Tensor) or new_state.dtype != np.uint8:
        got = f"a tensor of dtype {new_state.dtype}" if isinstance(new_state, Tensor) else type(new_state).__name__
        raise TypeError(f"{name}: expected a uint8 (Byte) tensor from get_rng_state/get_state, but got {got}")


def _cpu_state_tensor(gen: torch_rng.CPUGenerator) -> Tensor:
    """A CPU generator's state as torch lays it out (5056 bytes: states move between the libraries)."""
    return Tensor._wrap(np.frombuffer(gen.get_state(), dtype=np.uint8).copy(), Device("cpu", 0), None)


def _set_cpu_state(gen: torch_rng.CPUGenerator, new_state: Any, name: str) -> None:
    _check_byte_tensor(new_state, name)
    gen.set_state(new_state._host().tobytes())


def _state_dict(new_state: Any, name: str) -> dict:
    """The inverse of ``_state_tensor``, with torch's TypeError for anything but a uint8 tensor."""
    _check_byte_tensor(new_state, name)
    if new_state.numel() == torch_rng.STATE_BYTES:
        raise RuntimeError(f"{name}: the tensor is a CPU generator's state (torch's layout), not a CUDA state")
    try:
        state = json.loads(new_state._host().tobytes().decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise RuntimeError(f"{name}: the tensor is not a state saved by backprop's get_rng_state/get_state") from exc
    if not isinstance(state, dict):
        raise RuntimeError(f"{name}: the tensor is not a state saved by backprop's get_rng_state/get_state")
    return state


def _seed_value(seed: Any) -> int:
    """torch takes any int64 or uint64 seed; negative ones wrap around to uint64."""
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise RuntimeError(f"manual_seed: seed {seed} does not fit in 64 bits")
    return seed % 2**64


_RESEED = "the step seeds or restores a random generator from Python (manual_seed, set_rng_state, fork_rng)"


class Generator:
    """A random-number generator of its own (torch.Generator), for ``generator=`` of the samplers:
    its stream does not disturb the global one. A CPU generator is torch's (mt19937, the same numbers
    from the same seed; ``get_state``/``set_state`` in torch's 5056-byte layout); a CUDA one is CuPy's."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = to_device(device)
        self._seed = _TORCH_DEFAULT_SEED
        self._rng: Any = None  # made on first use

    def _rng_for(self, dev: Device) -> Any:
        """The generator to draw from for a tensor on ``dev`` (torch's error for another device type)."""
        if dev.type != self.device.type:
            raise RuntimeError(f"Expected a '{dev.type}' device type for generator but found '{self.device.type}'")
        if self._rng is None:
            self._rng = self._new(self._seed)
        return self._rng

    def _new(self, seed: int) -> Any:
        if self.device.type == "cpu":
            return torch_rng.CPUGenerator(seed)
        with on_device(self.device):
            return self.device.xp.random.default_rng(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed``; returns the generator."""
        trace.refuse(_RESEED)
        self._seed = _seed_value(seed)
        self._rng = self._new(self._seed)
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy (64 bits, as torch); returns the seed used."""
        value = torch_rng.nondeterministic_seed()
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        """The seed the stream started from."""
        return self._seed

    def get_state(self) -> Tensor:
        """A snapshot of the stream (uint8 tensor) for ``set_state``."""
        rng = self._rng_for(self.device)
        if isinstance(rng, torch_rng.CPUGenerator):
            return _cpu_state_tensor(rng)
        if not hasattr(rng, "bit_generator"):
            raise RuntimeError(f"Generator.get_state: not supported for {self.device.type} generators")
        return _state_tensor({"bit_generator": rng.bit_generator.state, "seed": self._seed})

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a snapshot from ``get_state``: the same numbers come again."""
        trace.refuse(_RESEED)
        if self.device.type == "cpu":
            if self._rng is None:
                self._rng = self._new(self._seed)
            _set_cpu_state(self._rng, new_state, "Generator.set_state")
            self._seed = self._rng.seed
            return self
        state = _state_dict(new_state, "Generator.set_state")
        bg = np.random.PCG64()
        bg.state = state["bit_generator"]
        self._rng = np.random.Generator(bg)
        self._seed = state.get("seed", self._seed)
        return self

    def clone_state(self) -> Generator:
        """A new generator of the same device holding a copy of this one's state (the same numbers
        follow from both; drawing from one leaves the other)."""
        return Generator(self.device).set_state(self.get_state())

    def get_offset(self) -> int:
        """The Philox offset of a CUDA generator in torch; torch's error for a CPU one (mt19937 has none)."""
        raise self._no_offset()

    def set_offset(self, offset: int) -> Generator:
        """The Philox offset of a CUDA generator in torch; torch's error for a CPU one (mt19937 has none)."""
        raise self._no_offset()

    def _no_offset(self) -> Exception:
        if self.device.type == "cpu":
            return RuntimeError("CPU Generator does not use offset")
        return NotImplementedError(f"{self.device.type} generators here are CuPy's, which have no Philox offset")

    def graphsafe_get_state(self) -> Generator:
        """torch's CUDA-graph generator states; its error for a CPU generator (and here for every one)."""
        raise NotImplementedError("graphsafe_get_state is not supported in this Generator")

    def graphsafe_set_state(self, state: Generator) -> Generator:
        """torch's CUDA-graph generator states; its error for a CPU generator (and here for every one)."""
        raise NotImplementedError("graphsafe_set_state is not supported in this Generator")

    def __repr__(self) -> str:
        return f"<backprop.Generator device={self.device}>"


class _DefaultGenerator(Generator):
    """``bp.default_generator``: the CPU device's own generator (the one the samplers use by default)."""

    def __init__(self) -> None:
        self.device = Device("cpu", 0)

    def _rng_for(self, dev: Device) -> Any:
        return generator_rng(dev) if dev.type == "cpu" else super()._rng_for(dev)

    @property
    def _seed(self) -> int:
        """The CPU stream's seed (random at start, as torch's default generator)."""
        return int(generator_rng(self.device).seed)

    @_seed.setter
    def _seed(self, value: int) -> None:
        pass  # (the backend's generator holds it)

    def manual_seed(self, seed: int) -> Generator:
        trace.refuse(_RESEED)
        self.device.backend.manual_seed(_seed_value(seed))
        return self

    def get_state(self) -> Tensor:
        return _cpu_state_tensor(generator_rng(self.device))

    def set_state(self, new_state: Tensor) -> Generator:
        trace.refuse(_RESEED)
        _set_cpu_state(generator_rng(self.device), new_state, "set_rng_state")
        return self


default_generator = _DefaultGenerator()


def manual_seed(seed: int) -> Generator:
    """Seed the generators of every usable backend (CPU and, when present, CUDA); returns
    ``default_generator``, as torch does."""
    trace.refuse(_RESEED)
    value = _seed_value(seed)
    for backend in registered_backends().values():
        backend.manual_seed(value)  # cheap: backends create generators lazily
    return default_generator


def seed() -> int:
    """Seed every backend from the operating system's entropy (64 bits); returns the seed used."""
    value = torch_rng.nondeterministic_seed()
    manual_seed(value)
    return value


def initial_seed() -> int:
    """The seed of the default (CPU) generator: the last ``manual_seed``/``seed``; at start a random
    64-bit one, as torch's."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The CPU generator's state as a uint8 tensor, for ``set_rng_state``: torch's 5056-byte layout
    (mt19937's words, the cached normal samples), so states move between torch and backprop."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the CPU generator from ``get_rng_state``: the same numbers come again."""
    default_generator.set_state(new_state)
