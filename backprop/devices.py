"""Devices ("cpu", "cuda:0", ...) and the default-device policy."""

from __future__ import annotations

import builtins
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.backends import Backend, BackendUnavailable, get_backend
from backprop.backends.base import UnknownDevice

log = logging.getLogger("backprop")


_INDEXLESS = ("cpu", "meta")  # device types that print without an index, as torch's


class Device:
    """A device type plus an index; interned, so ``is`` comparison is exact and cheap.

    Compares equal to its string form, as ``torch.device`` does (``x.device == "cpu"``).
    """

    __slots__ = ("type", "index", "backend", "xp", "array_type", "_str")
    _cache: dict[tuple[str, int], Device] = {}

    type: str  # "cpu", "cuda", or a plug-in backend's device type
    index: int
    backend: Backend
    xp: Any  # the backend's array namespace, resolved once
    array_type: builtins.type[Any]
    _str: str

    def __new__(cls, type: str, index: int = 0) -> Device:
        key = (type, index)
        dev = cls._cache.get(key)
        if dev is None:
            backend = get_backend(type)
            dev = object.__new__(cls)
            dev.type, dev.index, dev.backend = type, index, backend
            # resolved once here so the per-op hot path reads plain attributes
            dev.xp, dev.array_type = backend.xp, backend.array_type
            dev._str = type if type in _INDEXLESS else f"{type}:{index}"
            cls._cache[key] = dev
        return dev

    def __reduce__(self) -> tuple:
        return (Device, (self.type, self.index))  # interned: copies and unpickles are this very object

    def __deepcopy__(self, memo: dict) -> Device:
        return self

    def asarray(self, data: Any, dtype: np.dtype | None = None) -> Any:
        """A new array of ``data`` on this device: the one place user data becomes an array.

        ``data`` may be a Tensor (copied, across devices too), an array of any backend, a DLPack or
        CUDA-array producer, or nested Python sequences/scalars (floats become the default dtype,
        as in torch; NumPy arrays keep theirs).
        """
        if self.type != "cpu":
            dtypes.check_device(dtype if dtype is not None else getattr(data, "dtype", None), self.type, "tensor")
        if pytorch_tensor(data):
            data = data.numpy()  # PyTorch's tensor: data to convert (its own refusals: requires grad, on a GPU)
        if hasattr(data, "grad_fn"):  # a Tensor (duck-typed: this module sits below tensor.py)
            arr = (
                self.transfer(data._data, data.device)
                if data.device is not self
                else self.xp.array(data._data, copy=True)
            )
        elif isinstance(data, self.array_type):
            check_array_dtype(data)
            arr = self.xp.array(data, copy=True)
        elif self.type != "cpu" and hasattr(data, "__cuda_array_interface__"):
            arr = self.xp.array(data, copy=True)
        else:
            host, double = _host_array(data, dtype)
            if dtype is not None and dtype.kind in "iu" and host.size:
                _check_int_range(host, dtype)
            if (
                dtype is None
                and host.dtype.kind in "fc"
                and not isinstance(data, (np.ndarray, np.generic))
                and not double  # (torch: a NumPy or tensor double among Python floats stays double)
            ):
                if host.dtype == np.float64:
                    host = dtypes.astype(host, dtypes.get_default_dtype())  # Python floats -> default dtype
                elif host.dtype == np.complex128 and dtypes.default_complex() == np.complex64:
                    if dtypes.is_bfloat16(dtypes.get_default_dtype()):  # (torch has no bfloat16 complex)
                        raise RuntimeError("invalid default scalar type for complex")
                    host = host.astype(np.complex64)  # Python complex -> complex64 (torch's default)
            arr = self.backend.from_host(host, self.index) if self.type != "cpu" else host
        if dtype is not None and arr.dtype != dtype:
            arr = (
                dtypes.float8_cast(arr, dtype)
                if dtypes.is_float8(dtype) or dtypes.is_float8(arr.dtype)
                else dtypes.astype(arr, dtype)
            )
        if arr.dtype is dtypes.float16 or arr.dtype.kind in "cV":
            dtypes.note_dtype(arr.dtype)  # (once per process: the kernels gain the half/complex dtypes' paths)
        return arr

    def transfer(self, array: Any, source: Device) -> Any:
        """``array`` (living on ``source``) copied onto this device."""
        if source.backend is self.backend:
            return array if source.index == self.index else self.backend.from_host(array, self.index)
        return self.backend.from_host(source.backend.to_host(array), self.index)

    def __repr__(self) -> str:
        if self.type in _INDEXLESS:  # torch's tensors report device(type='cpu'): one host device, no index
            return f"device(type='{self.type}')"
        return f"device(type={self.type!r}, index={self.index})"

    def __str__(self) -> str:
        return self._str

    def __enter__(self) -> Device:
        """``with bp.device("meta"):``: factories without ``device=`` (a model's layers too) use this
        device inside the block, as torch's device context; blocks nest."""
        _entered.append(_default)
        set_default_device(self)
        return self

    def __exit__(self, *exc: object) -> None:
        global _default
        _default = _entered.pop()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, BackendUnavailable):
                return False
        return self is other

    def __hash__(self) -> int:
        return hash(self._str)


_NUMPY_TYPES = (
    "float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, uint8"
)


def check_array_dtype(array: Any) -> None:
    """torch refuses NumPy arrays of objects, strings, records and dates (a mixed-type DataFrame's ``.values``), and
    of long doubles (``np.longdouble``: float128 on x86)."""
    kind = array.dtype.kind
    if (kind in "OUSVMm" and not dtypes.is_ml_float(array.dtype)) or array.itemsize > (16 if kind == "c" else 8):
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{array.dtype.type.__name__}. The only supported types are: "
            f"{_NUMPY_TYPES}, and bool."
        )


_NDARRAYS_SLOW = (
    "Creating a tensor from a list of numpy.ndarrays is extremely slow. Please consider converting the list to a "
    "single numpy.ndarray with numpy.array() before converting to a tensor."
)
_ndarrays_warned: list[bool] = []
_scalar_warned: list[bool] = []
_NUMBERS = frozenset((builtins.float, builtins.int, builtins.bool, builtins.complex))
_ONE_ELEMENT = "only one element tensors can be converted to Python scalars"
_INDEX = "only integer tensors of a single element can be converted to an index"


_NOT_WRITABLE = (
    "The given NumPy array is not writable, and PyTorch does not support non-writable tensors. This means writing "
    "to this tensor will result in undefined behavior. You may want to copy the array to protect its data or make "
    "it writable before converting it to a tensor. This type of warning will be suppressed for the rest of this "
    "program."
)
_not_writable_warned: list[bool] = []


def numpy_checks(array: np.ndarray, shares: bool) -> None:
    """torch's checks of a NumPy array given to ``from_numpy``, ``Tensor``, ``tensor``, ``as_tensor`` and
    ``asarray``, in its order: a read-only array that would be shared warns (once per process, as its
    TORCH_WARN_ONCE), then strides that are not whole elements, negative strides (``a[::-1]``),
    a non-native byte order (``'>f4'``) and a dtype torch has no tensor of (objects, strings, long double) raise."""
    if shares and not array.flags.writeable and not _not_writable_warned:
        from backprop.runtime import user_stacklevel

        _not_writable_warned.append(True)
        warnings.warn(_NOT_WRITABLE, UserWarning, stacklevel=user_stacklevel())
    if array.ndim and any(s % array.itemsize for s in array.strides):
        raise ValueError(
            "given numpy array strides not a multiple of the element byte size. Copy the numpy array to reallocate "
            "the memory."
        )
    if array.ndim and min(array.strides) < 0:
        raise ValueError(
            "At least one stride in the given numpy array is negative, and tensors with negative strides are not "
            "currently supported. (You can probably work around this by making a copy of your array  with "
            "array.copy().) "
        )
    if not array.dtype.isnative:
        raise ValueError(
            "given numpy array has byte order different from the native byte order. Conversion between byte orders "
            "is currently not supported."
        )
    check_array_dtype(array)


def pytorch_tensor(x: Any) -> bool:
    """Whether ``x`` is a tensor of the real PyTorch (a script importing both libraries): data to convert where
    backprop reads tensors, never an operand or a backprop Tensor."""
    return hasattr(x, "grad_fn") and type(x).__module__.startswith("torch")


# whether grad mode is on (``autograd.grad_mode.is_grad_enabled``, set when that module loads: it sits above this one)
GRAD_ENABLED: list[Callable[[], bool]] = [lambda: True]


def warn_scalar_requires_grad(stacklevel: int) -> None:
    """torch's warning for a tensor that requires grad read as a Python number: ``float(t)``, ``complex(t)`` and
    ``torch.tensor([t, ...])`` (once per process, as its TORCH_WARN_ONCE; ``int``, ``bool`` and ``item()`` do not
    warn). The list's case is the RL slip ``torch.tensor(log_probs)``: its values lose their graph."""
    if not _scalar_warned:
        _scalar_warned.append(True)
        warnings.warn(
            "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
            "Consider using tensor.detach() first.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def _items(data: list | tuple, depth: int, found: list) -> None:
    """``(depth, item)`` into ``found`` for the items of nested lists/tuples that are neither Python numbers nor
    sequences (tensors, NumPy scalars and arrays), in one pass; a run of plain numbers is skipped at C speed."""
    if _NUMBERS.issuperset(map(type, data)):
        return
    for d in data:
        if d.__class__ in _NUMBERS:
            continue
        if isinstance(d, (list, tuple)):
            _items(d, depth + 1, found)
        else:
            found.append((depth, d))


def _holds_double(found: Iterable[tuple[int, Any]]) -> bool:
    """Whether the items hold a NumPy scalar or array (or a tensor) of float64 or complex128: torch infers the
    dtype of ``tensor([...])`` by promoting its items' types, so one of those keeps double precision where
    Python floats alone give the default dtype."""
    dts = (getattr(d, "dtype", None) for _, d in found)
    return any(dt is not None and not isinstance(dt, str) and str(dt) in ("float64", "complex128") for dt in dts)


def _leaf_depth(data: Any) -> int:
    """The depth of the numbers, as torch reads the sizes: down the first items, where a tensor is a number."""
    depth = 0
    while isinstance(data, (list, tuple)) and len(data):
        depth, data = depth + 1, data[0]
    return depth + data.ndim if isinstance(data, np.ndarray) else depth


def _tensors_as_numbers(data: Any, depth: int, leaf: int, dtype: Any, strict: bool = True) -> Any:
    """``data`` with its tensors as torch reads them: a one-element tensor where a number goes is that number (as
    a 0-d array, so its dtype joins the inference), one above is a sequence; torch's errors for the others
    (not ``strict``: a zero of the tensor's dtype, to infer the result's dtype that picks the error)."""
    if isinstance(data, (list, tuple)):
        return [_tensors_as_numbers(d, depth + 1, leaf, dtype, strict) for d in data]
    if not hasattr(data, "grad_fn"):
        return data
    pytorchs = pytorch_tensor(data)  # (PyTorch's tensor: its values)
    a = data.numpy() if pytorchs else data._host()
    if depth < leaf:
        return a
    if strict and not pytorchs and data._requires_grad and (dtype is None or dtype.kind not in "iub"):
        from backprop.runtime import user_stacklevel

        if GRAD_ENABLED[0]():  # (torch reads it with ``item()`` as a double: no graph; under no_grad no warning)
            warn_scalar_requires_grad(user_stacklevel())
    if a.size != 1 or (dtype is not None and dtype.kind in "iub" and a.dtype.kind not in "iub"):
        if not strict:
            return np.zeros((), a.dtype)
        raise _number_error(dtype)
    return a.reshape(())


def _number_error(dtype: Any) -> Exception:
    """torch reads a tensor where a number goes with ``__index__`` for an integer or bool result, else ``item()``."""
    if dtype is not None and dtype.kind in "iub":
        return TypeError(_INDEX)
    return ValueError(_ONE_ELEMENT)


def _host_array(data: Any, dtype: Any = None) -> tuple[np.ndarray, bool]:
    """Host data as a fresh NumPy array, and whether its dtype is settled: nested sequences holding NumPy scalars or
    arrays take torch's promotion of their dtypes with the Python numbers' (``_promoted_items``), a lone item from
    another array library keeps a double (``_holds_double``). ``dtype`` (the one asked for, or None) picks torch's
    error for a tensor that is not one number."""
    if isinstance(data, np.ndarray):
        check_array_dtype(data)
        return data.copy(), False
    if hasattr(data, "get") and type(data).__module__.startswith("cupy"):
        return data.get(), False
    double = _holds_double(((0, data),))  # (a lone item: a double from another array library stays double)
    found: list = []
    if isinstance(data, (list, tuple)):
        _items(data, 1, found)
        if not _ndarrays_warned and any(d.__class__ is np.ndarray and d.ndim for _, d in found):
            from backprop.runtime import user_stacklevel

            _ndarrays_warned.append(True)  # (once per process, as torch's TORCH_WARN_ONCE)
            warnings.warn(_NDARRAYS_SLOW, UserWarning, stacklevel=user_stacklevel())
        double = bool(found) and _holds_double(found)
        if any(hasattr(d, "grad_fn") for _, d in found):
            leaf = _leaf_depth(data)
            try:
                data = _tensors_as_numbers(data, 0, leaf, dtype)
            except (TypeError, ValueError):
                if dtype is not None:
                    raise
                inferred = np.array(_tensors_as_numbers(data, 0, leaf, None, strict=False)).dtype
                raise _number_error(inferred) from None
    try:
        arr = np.array(data)
    except ValueError:
        if isinstance(data, (list, tuple)):
            _ragged_error(data)
        raise
    if (
        dtype is None
        and (arr.dtype == np.uint64 or arr.dtype.kind == "O" and all(v.__class__ is int for v in arr.flat))
        and (isinstance(data, int) or isinstance(data, (list, tuple)) and not found)
    ):  # Python ints beyond int64 (NumPy makes uint64 or objects): torch reads each as a C long long
        raise ValueError("Overflow when unpacking long long")
    if arr.dtype.kind in "OUSVMm" and not dtypes.is_ml_float(arr.dtype):  # objects, strings, records, dates
        raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data (ragged or non-numeric)")
    if double or dtype is not None or not found:
        return arr, double
    want = _promoted_items(data, found)
    if want is None:
        return arr, double
    return (arr if arr.dtype == want else arr.astype(want)), True


def _promoted_items(data: list | tuple, found: list) -> np.dtype | None:
    """torch's dtype of nested sequences holding NumPy scalars or arrays: their dtypes and the Python numbers' (bool,
    int64, the default float or complex) promoted together (``[np.float16(1), 2]`` is float16, where NumPy's is
    float64); None when an item's dtype is not a NumPy one."""
    dts = [getattr(d, "dtype", None) for _, d in found]
    if not all(isinstance(dt, np.dtype) for dt in dts):
        return None
    numbers: set[type] = set()
    _number_types(data, numbers)
    python = {
        bool: dtypes.bool_,
        int: dtypes.int64,
        float: dtypes.get_default_dtype(),
        complex: dtypes.default_complex(),
    }
    want = dts[0]
    for dt in dts[1:] + [python[t] for t in numbers]:
        want = dtypes.promote_dtypes(want, dt)
    return want


def _number_types(data: list | tuple, out: set[type]) -> None:
    """The types of the Python numbers in nested lists/tuples, into ``out``."""
    out.update(t for t in map(type, data) if t in _NUMBERS)
    for d in data:
        if isinstance(d, (list, tuple)):
            _number_types(d, out)


def _check_int_range(host: np.ndarray, dtype: np.dtype) -> None:
    """Python numbers read into an integer ``dtype`` as torch's checked conversion: an int within [min, max]
    (an unsigned dtype takes one down to -max, modulo 2**bits), a float within [min, max] compared as a double
    (NaN and inf never); otherwise torch's error, where NumPy would wrap (``tensor([300], dtype=uint8)``)."""
    info = np.iinfo(dtype)
    if host.dtype.kind in "iu":
        lo = -int(info.max) if dtype.kind == "u" else int(info.min)
        ok = lo <= int(host.min()) and int(host.max()) <= int(info.max)
    elif host.dtype.kind == "f":
        finite = bool(np.isfinite(host).all())
        ok = finite and float(info.min) <= float(host.min()) and float(host.max()) <= float(info.max)
    else:
        return
    if not ok:
        raise RuntimeError(f"value cannot be converted to type {dtype.name} without overflow")


def _ragged_error(data: list | tuple) -> None:
    """Raise torch's error for nested sequences of unequal lengths: the shape is read along the first elements,
    and the first sequence that disagrees is named ("expected sequence of length 2 at dim 1 (got 1)")."""
    shape = []
    x: Any = data
    while isinstance(x, (list, tuple)):
        shape.append(len(x))
        if not x:
            break
        x = x[0]

    def walk(x: Any, d: int) -> None:
        if d == len(shape):
            return
        if not isinstance(x, (list, tuple)):
            raise TypeError("not a sequence")
        if len(x) != shape[d]:
            raise ValueError(f"expected sequence of length {shape[d]} at dim {d} (got {len(x)})")
        for item in x:
            walk(item, d + 1)

    walk(data, 0)


def _parse(spec: str) -> tuple[str, int]:
    kind, _, idx = spec.strip().partition(":")
    if idx:
        if not idx.isdigit():
            raise UnknownDevice(f"Invalid device string: {spec!r} (the index after ':' must be an integer >= 0)")
        return kind, int(idx)
    return kind, 0


def device(spec: str | Device | None = None) -> Device:
    """Resolve ``spec`` ("cpu", "cuda", "cuda:1", "auto", a Device, or None = default) to a Device.

    Raises ``BackendUnavailable`` with the probe's reason when the device cannot be used.
    """
    if spec is None:
        return get_default_device()
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string or Device, got {type(spec).__name__}")
    if spec == "auto":
        return _auto_device()
    kind, index = _parse(spec)
    backend = get_backend(kind)
    if not backend.is_available():
        raise BackendUnavailable(f"device {spec!r} is not usable: {backend.unavailable_reason()}")
    if index >= backend.device_count():
        raise BackendUnavailable(f"device {spec!r} does not exist: {backend.device_count()} {kind} device(s) found")
    return Device(kind, index)


class _NamedDevice(Device):
    """What ``bp.device("cuda")`` gives where that device cannot run: as ``torch.device``, only a name.

    It prints, compares and hashes as the device would; making or moving a tensor onto it raises
    ``BackendUnavailable`` with the probe's reason (``bp.ones(2, device="cuda")`` raises at once).
    """

    __slots__ = ("_why",)
    _named: dict[tuple[str, int], _NamedDevice] = {}
    _why: str

    def __new__(cls, type: str, index: int = 0, why: str = "") -> _NamedDevice:
        dev = cls._named.get((type, index))
        if dev is None:
            dev = object.__new__(cls)
            dev.type, dev.index, dev._str, dev._why = type, index, f"{type}:{index}", why
            cls._named[(type, index)] = dev
        return dev

    def _unusable(self) -> Any:
        raise BackendUnavailable(self._why)

    backend = property(_unusable)
    xp = property(_unusable)
    array_type = property(_unusable)

    def __reduce__(self) -> tuple:
        return (public_device, (self._str,))


# torch's device types (c10/core/DeviceType.cpp): those backprop has no backend for are still names, as
# ``torch.device("mps")`` is on a build without MPS
_TORCH_TYPES: tuple[str, ...] = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve")
_TORCH_TYPES += ("fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_DEVICE_STRING = re.compile(r"([a-zA-Z_]+)(?::([1-9][0-9]*|0))?")  # torch's: no spaces, no leading zeros


def public_device(type: str | Device | int | None = None, index: int | None = None) -> Device:  # noqa: A002
    """``bp.device``: as ``device``, but a device that cannot run here is still a name, as ``torch.device("cuda")``
    is on a machine without CUDA (``torch.device("cuda", 1)`` or ``device(type="cuda", index=1)`` spells the index
    apart); torch's errors for a malformed string, a negative index or an index given twice."""
    spec: Any = type
    if isinstance(spec, int) and not isinstance(spec, bool):  # torch 2.13: an index of the current accelerator
        if not get_backend("cuda").is_available():
            raise RuntimeError("Cannot access accelerator device when none is available.")
        spec, index = "cuda", spec
    if isinstance(spec, str) and spec != "auto":
        if _DEVICE_STRING.fullmatch(spec) is None:
            raise UnknownDevice(f"Invalid device string: {spec!r}")
        if index is not None:
            if ":" in spec:
                raise RuntimeError(
                    f"type (string) must not include an index because index was passed explicitly: {spec}"
                )
            if index < 0:
                raise RuntimeError("Device index must not be negative")
            spec = f"{spec}:{index}"
    try:
        return device(spec)
    except BackendUnavailable as exc:
        kind, idx = _parse(spec)
        return _NamedDevice(kind, idx, str(exc))
    except UnknownDevice:
        kind, idx = _parse(spec) if isinstance(spec, str) else ("", 0)
        if kind not in _TORCH_TYPES:
            raise UnknownDevice(
                f"Expected one of {', '.join(_TORCH_TYPES)} device type at start of device string: {spec}"
            ) from None
        return _NamedDevice(kind, idx, f"backprop is not linked with support for {kind} devices")


_default: Device | None = None


_auto: Device | None = None


def _auto_device() -> Device:
    """CUDA when a device is usable, else the CPU; decided (and logged) once per process."""
    global _auto
    if _auto is None:
        cuda = get_backend("cuda")
        if cuda.is_available():
            _auto = Device("cuda", 0)
            log.info("backprop: device auto -> cuda:0")
        else:
            _auto = Device("cpu", 0)
            log.info("backprop: device auto -> cpu (CUDA not usable: %s)", cuda.unavailable_reason())
    return _auto


_entered: list[Device | None] = []  # the defaults that ``with device:`` blocks replaced, innermost last


def set_default_device(spec: str | Device | None = "auto") -> Device:
    """Set the device new tensors go to; "auto" picks CUDA when usable, else CPU (logged once); None
    goes back to the process's default (``BACKPROP_DEVICE``, else "auto"), as torch's None unsets it."""
    global _default
    if spec is None:
        _default = None
        return get_default_device()
    _default = device(spec)
    return _default


def get_default_device() -> Device:
    """The default device, resolved on first use from ``BACKPROP_DEVICE`` (default "auto")."""
    global _default
    if _default is None:
        _default = device(os.environ.get("BACKPROP_DEVICE", "auto") or "auto")
    return _default
