"""A stand-in for CuPy backed by NumPy, for tests only (never shipped, never installed).

``tests/test_cuda_standin.py`` puts ``tests/cupy_standin`` first on ``sys.path`` so that
``import cupy`` finds this module. It behaves like CuPy where the backend can go wrong without a GPU:

- ``ndarray`` is its own class wrapping a NumPy array, not a ``numpy.ndarray``: ``np.asarray`` of
  it raises as CuPy's does ("Implicit conversion to a NumPy array is not allowed"), so scipy,
  ``np.add.at`` and other NumPy-only calls on device arrays fail here as they would on a GPU;
  NumPy arrays passed to ``cupy`` functions or mixed into operators raise ``TypeError``.
- reductions return 0-d arrays (CuPy never returns NumPy scalars); ``float()``, ``int()``,
  ``bool()``, ``.item()``, ``.tolist()``, ``.get()`` and ``asnumpy`` count a host read-back
  (``HOST_READS``), so tests can assert that a training step never synchronises.
- devices: ``cuda.runtime.getDeviceCount()`` reports ``DEVICE_COUNT`` devices, arrays remember the
  device that was current when they were made, and an array used while another device is current
  raises, as CuPy's kernels do.
- memory pools count live bytes, cached bytes and the peak per device, honour ``set_limit`` and
  raise ``cuda.memory.OutOfMemoryError``; ``cuda.set_allocator`` is honoured.
- ``ElementwiseKernel`` checks its type parameters as CuPy does ("Type is mismatched") and runs its
  C body through a NumPy interpreter (``_elementwise``); ``RawKernel`` is not supported.
"""

from __future__ import annotations

import sys
import types
import weakref
from typing import Any

import numpy as _np

from . import _elementwise
from ._names import CUPY_NAMES, CUPY_NDARRAY_METHODS

__version__ = "13.0.0-standin"
STANDIN = True
DEVICE_COUNT = 1
HOST_READS: dict[str, int] = {"count": 0}
_current = [0]

dtype = _np.dtype
newaxis = None
inf, nan, pi, e = _np.inf, _np.nan, _np.pi, _np.e
for _name in (
    "bool_ float16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64 intp complex64 "
    "complex128 finfo iinfo result_type can_cast promote_types issubdtype integer floating number generic "
    "signedinteger unsignedinteger inexact"
).split():
    globals()[_name] = getattr(_np, _name)


def _quiet() -> Any:
    """CuPy's kernels never warn about inf/NaN results (it has no ``seterr``): NumPy's floating-point warnings
    are silenced around the stand-in's computations (pytest runs with warnings as errors)."""
    return _np.errstate(all="ignore")


def _host_read(what: str) -> None:
    HOST_READS["count"] += 1
    HOST_READS[what] = HOST_READS.get(what, 0) + 1


# ---------------------------------------------------------------------------------------- memory


class _Pointer:
    """A ``MemoryPointer``: its size, the device it is on, and the pool it goes back to."""

    def __init__(self, pool: _SinglePool, size: int, device_id: int) -> None:
        self.pool, self.size, self.device_id = pool, size, device_id

    def free(self) -> None:
        if self.size is not None:
            self.pool._release(self.size)
            self.size = None


class _SinglePool:
    """One device's pool: live bytes (used), cached after a free (free), an optional limit."""

    def __init__(self, device_id: int) -> None:
        self.device_id = device_id
        self._used = self._cached = self._limit = 0

    def malloc(self, size: int) -> _Pointer:
        if size <= self._cached:
            self._cached -= size
        elif self._limit and self._used + self._cached + size > self._limit:
            self._cached = 0  # as CuPy's pool: free the cache, retry, then raise
            if self._used + size > self._limit:
                raise cuda.memory.OutOfMemoryError(size, self._used, self._limit)
        self._used += size
        return _Pointer(self, size, self.device_id)

    def _release(self, size: int) -> None:
        self._used -= size
        self._cached += size


class MemoryPool:
    """CuPy's ``MemoryPool``: one object whose methods act on the *current* device's pool."""

    def __init__(self) -> None:
        self._pools: dict[int, _SinglePool] = {}

    def _pool(self) -> _SinglePool:
        dev = _current[0]
        pool = self._pools.get(dev)
        if pool is None:
            pool = self._pools[dev] = _SinglePool(dev)
        return pool

    def malloc(self, size: int) -> _Pointer:
        return self._pool().malloc(size)

    def used_bytes(self) -> int:
        return self._pool()._used

    def free_bytes(self) -> int:
        return self._pool()._cached

    def total_bytes(self) -> int:
        pool = self._pool()
        return pool._used + pool._cached

    def free_all_blocks(self, stream: Any = None) -> None:
        self._pool()._cached = 0

    def n_free_blocks(self) -> int:
        return 1 if self._pool()._cached else 0

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        """As CuPy's: ``size`` bytes, or ``fraction`` of the device's total memory; neither: no limit."""
        if size is None and fraction is not None:
            if not 0 <= fraction <= 1:
                raise ValueError(f"memory limit fraction out of range: {fraction}")
            size = int(fraction * cuda.runtime.memGetInfo()[1])
        self._pool()._limit = int(size or 0)

    def get_limit(self) -> int:
        return self._pool()._limit


_POOL: list[MemoryPool] = [MemoryPool()]
_PINNED_POOL = MemoryPool()
_allocator: list[Any] = [None]


def get_default_memory_pool() -> MemoryPool:
    """The process-wide device memory pool (its methods act on the current device)."""
    return _POOL[0]


def get_default_pinned_memory_pool() -> MemoryPool:
    return _PINNED_POOL


def _charge(a: _np.ndarray) -> Any:
    alloc = _allocator[0] or get_default_memory_pool().malloc
    return alloc(a.nbytes)


# ---------------------------------------------------------------------------------------- arrays


def _check_device(dev: int) -> None:
    if dev != _current[0]:
        raise ValueError(
            f"Array device must be same as the current device: array device = {dev} while current = {_current[0]}"
        )


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: a NumPy array plus the device it lives on (not a ``numpy.ndarray``)."""

    __slots__ = ("_a", "_dev", "_mem", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape: Any, dtype: Any = float, order: str = "C") -> None:
        _init(self, _np.empty(shape, dtype=dtype, order=order))

    # conversions that read device memory back to the host
    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> _np.ndarray:
        _host_read("get")
        return self._a.copy()

    def item(self, *args: Any) -> Any:
        _host_read("item")
        return self._a.item(*args)

    def tolist(self) -> Any:
        _host_read("tolist")
        return self._a.tolist()

    def __float__(self) -> float:
        _host_read("float")
        return float(self._a)

    def __int__(self) -> int:
        _host_read("int")
        return int(self._a)

    def __index__(self) -> int:
        _host_read("index")
        return self._a.__index__()

    def __bool__(self) -> bool:
        _host_read("bool")
        return bool(self._a)

    def __complex__(self) -> complex:
        _host_read("complex")
        return complex(self._a)

    def __repr__(self) -> str:
        return repr(self._a).replace("array(", "array(", 1)

    def __format__(self, spec: str) -> str:
        _host_read("format")
        return format(self._a, spec) if self._a.ndim == 0 else str(self._a)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    # attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: None if self._a.base is None else _wrap(self._a.base, self._dev))
    device = property(lambda self: cuda.Device(self._dev))
    T = property(lambda self: _wrap(self._a.T, self._dev))
    real = property(lambda self: _wrap(self._a.real, self._dev))
    imag = property(lambda self: _wrap(self._a.imag, self._dev))
    mT = property(  # noqa: N815 - NumPy's name
        lambda self: _wrap(self._a.mT, self._dev)
    )

    @property
    def data(self) -> Any:
        return types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0], device_id=self._dev)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.data.ptr, False), "version": 3}

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        raise BufferError("the CuPy stand-in has no DLPack device memory")

    def __getattr__(self, name: str) -> Any:  # every other method: NumPy's, on the wrapped array
        if name.startswith("__"):  # never __array_interface__ & co: NumPy must not see host memory
            raise AttributeError(name)
        if name not in CUPY_NDARRAY_METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return attr

        def method(*args: Any, **kwargs: Any) -> Any:
            _check_device(self._dev)
            args, kwargs = _unwrap(args, "method " + name), _unwrap(kwargs, "method " + name)
            with _quiet():
                return _wrap_result(attr(*args, **kwargs), self._dev)

        return method

    def __getitem__(self, key: Any) -> Any:
        _check_device(self._dev)
        key = _index(key)
        r = self._a[key]
        if isinstance(r, _np.generic):  # CuPy's one-element read is a 0-d view, not a copied scalar
            r = self._a[(*key, Ellipsis) if isinstance(key, tuple) else (key, Ellipsis)]
        return _wrap_result(r, self._dev)

    def __setitem__(self, key: Any, value: Any) -> None:
        _check_device(self._dev)
        self._a[_index(key)] = _unwrap(value, "__setitem__")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        try:
            mine = __getattr__(ufunc.__name__)
        except AttributeError:
            return NotImplemented
        if not isinstance(mine, _Ufunc):
            return NotImplemented
        return getattr(mine, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        mine = globals().get(func.__name__) if func.__name__ in ("asarray", "array", "ascontiguousarray") else None
        if mine is None:
            try:
                mine = __getattr__(func.__name__)
            except AttributeError:
                return NotImplemented
        return mine(*args, **kwargs)

    def __copy__(self) -> ndarray:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> ndarray:
        return self.copy()

    def __reduce__(self) -> Any:
        raise TypeError("the CuPy stand-in does not pickle device arrays")


def _operator(name: str, ufunc_name: str | None, reflected: bool = False, inplace: bool = False) -> Any:
    op = getattr(_np.ndarray, name)

    def method(self: ndarray, *args: Any) -> Any:
        _check_device(self._dev)
        args = tuple(_unwrap(a, name) for a in args)
        with _quiet():
            if inplace:
                op(self._a, *args)
                return self
            return _wrap_result(op(self._a, *args), self._dev)

    method.__name__ = name
    return method


for _name in (
    "add sub mul truediv floordiv mod pow matmul and or xor lshift rshift radd rsub rmul rtruediv rfloordiv rmod "
    "rpow rmatmul rand ror rxor lt le gt ge eq ne neg pos abs invert iadd isub imul itruediv ifloordiv imod ipow "
    "iand ior ixor"
).split():
    setattr(
        ndarray, f"__{_name}__", _operator(f"__{_name}__", None, inplace=_name.startswith("i") and _name != "invert")
    )
ndarray.__hash__ = None  # type: ignore[assignment]
ndarray.__module__ = "cupy"


def _init(obj: ndarray, a: _np.ndarray, dev: int | None = None) -> ndarray:
    obj._a, obj._dev = a, _current[0] if dev is None else dev
    obj._mem = None
    if a.base is None and a.nbytes:
        ptr = _charge(a)
        if ptr is not None and hasattr(ptr, "free"):
            obj._mem = ptr
            weakref.finalize(obj, ptr.free)
    return obj


def _wrap(a: _np.ndarray, dev: int | None = None) -> ndarray:
    return _init(object.__new__(ndarray), a, dev)


def _wrap_result(r: Any, dev: int | None = None) -> Any:
    if isinstance(r, _np.ndarray):
        return _wrap(r, dev)
    if isinstance(r, _np.generic):  # CuPy returns 0-d arrays, never NumPy scalars
        return _wrap(_np.asarray(r), dev)
    if isinstance(r, tuple):
        return tuple(_wrap_result(x, dev) for x in r)
    if isinstance(r, list):
        return [_wrap_result(x, dev) for x in r]
    return r


def _unwrap(x: Any, where: str, check: bool = True) -> Any:
    if isinstance(x, ndarray):
        if check:
            _check_device(x._dev)
        return x._a
    if isinstance(x, _np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} (a NumPy array passed to cupy: {where})")
    if isinstance(x, tuple):
        return tuple(_unwrap(v, where, check) for v in x)
    if isinstance(x, list):
        return [_unwrap(v, where, check) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v, where, check) for k, v in x.items()}
    return x


def _index(key: Any) -> Any:
    """Indices may be device arrays, NumPy arrays (CuPy copies them over) or anything NumPy takes."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        _check_device(key._dev)
        return key._a
    return key


# ---------------------------------------------------------------------------------------- namespace


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    """Host data (or a device array) as a device array on the current device."""
    if isinstance(a, ndarray):
        if a._dev != _current[0]:
            return _wrap(_np.array(a._a, dtype=dtype, copy=True))
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    if hasattr(a, "__cuda_array_interface__"):
        raise TypeError("the CuPy stand-in cannot import __cuda_array_interface__ producers")
    return _wrap(_np.array(_unwrap_host(a), dtype=dtype, order=order or "K", copy=True))


def array(
    obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", subok: bool = False, ndmin: int = 0
) -> ndarray:
    """A new device array (a copy) of host data or of a device array."""
    if isinstance(obj, ndarray):
        if copy or obj._dev != _current[0]:
            return _wrap(_np.array(obj._a, dtype=dtype, order=order, copy=True, ndmin=ndmin))
        return asarray(obj, dtype)
    return _wrap(_np.array(_unwrap_host(obj), dtype=dtype, order=order, ndmin=ndmin))


def _unwrap_host(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap_host(o) for o in obj)
    if isinstance(obj, ndarray):
        return obj._a
    return obj


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    return _wrap_result(_np.ascontiguousarray(_unwrap(a, "ascontiguousarray"), dtype=dtype), _dev_of(a))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> _np.ndarray:
    """Device to host: counts a read-back."""
    if isinstance(a, ndarray):
        _host_read("asnumpy")
        return a._a.copy()
    return _np.asarray(a)


def get_array_module(*args: Any) -> Any:
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def _dev_of(a: Any) -> int | None:
    return a._dev if isinstance(a, ndarray) else None


class _Ufunc:
    """A CuPy ufunc: ``__call__``; ``reduce``/``accumulate``/``outer``; ``at`` only for add/subtract/maximum/minimum."""

    def __init__(self, uf: _np.ufunc) -> None:
        self._u = uf
        self.__name__ = uf.__name__
        self.nin, self.nout = uf.nin, uf.nout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        with _quiet():
            r = self._u(*_unwrap(args, self.__name__), **_unwrap(kwargs, self.__name__))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap_result(r)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        with _quiet():
            return _wrap_result(self._u.reduce(*_unwrap(args, self.__name__), **_unwrap(kwargs, self.__name__)))

    def accumulate(self, *args: Any, **kwargs: Any) -> Any:
        with _quiet():
            return _wrap_result(self._u.accumulate(*_unwrap(args, self.__name__), **_unwrap(kwargs, self.__name__)))

    def outer(self, *args: Any, **kwargs: Any) -> Any:
        with _quiet():
            return _wrap_result(self._u.outer(*_unwrap(args, self.__name__), **_unwrap(kwargs, self.__name__)))

    #: ufunc.at as CuPy's scatter ops allow it (cupy/_core/_routines_indexing.pyx): the value is cast to
    #: the target's dtype, which must be one of these (CUDA atomics), else TypeError
    _AT_DTYPES = {
        "add": "int32 int64 float16 float32 float64 uint32 uint64",
        "subtract": "int32 uint32",
        "maximum": "int32 int64 float32 float64 uint32 uint64",
        "minimum": "int32 int64 float32 float64 uint32 uint64",
        "bitwise_and": "int32 int64 uint32 uint64",
        "bitwise_or": "int32 int64 uint32 uint64",
        "bitwise_xor": "int32 int64 uint32 uint64",
    }

    def at(self, a: Any, indices: Any, b: Any = None) -> None:
        allowed = self._AT_DTYPES.get(self.__name__)
        if allowed is None:
            raise NotImplementedError(f"cupy.{self.__name__}.at is not supported by CuPy")
        if not isinstance(a, ndarray):
            raise TypeError(f"Unsupported type {type(a)} for cupy.{self.__name__}.at")
        if a.dtype.name not in allowed.split():
            raise TypeError(f"cupy.{self.__name__}.at only supports {allowed} as data type, got {a.dtype}")
        _check_device(a._dev)
        value = _unwrap(b, self.__name__ + ".at")
        self._u.at(a._a, _index(indices), _np.asarray(value).astype(a.dtype, copy=False))


#: functions that launch no kernel, so CuPy does not require their arrays' device to be current
_NO_LAUNCH = {"may_share_memory", "shares_memory", "ndim", "shape", "size", "result_type", "isscalar", "can_cast"}


def _function(fn: Any, name: str) -> Any:
    def f(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if name in _NO_LAUNCH:
            return fn(*_unwrap(args, name, check=False), **_unwrap(kwargs, name, check=False))
        with _quiet():
            r = fn(*_unwrap(args, name), **_unwrap(kwargs, name))
        if out is not None and isinstance(out, ndarray) and r is out._a:
            return out
        return _wrap_result(r)

    f.__name__ = name
    return f


_MISSING = {"errstate", "seterr", "geterr", "vectorize", "frompyfunc", "add_newdoc", "ma", "char", "rec", "ctypeslib"}


_CACHE: dict[str, Any] = {}  # wrapped NumPy callables (kept out of globals(): ``max`` must stay the builtin)


def __getattr__(name: str) -> Any:
    if name in _CACHE:
        return _CACHE[name]
    if name.startswith("__") or name in _MISSING or name not in CUPY_NAMES:
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    obj = getattr(_np, name)
    if isinstance(obj, _np.ufunc):
        wrapped: Any = _Ufunc(obj)
    elif isinstance(obj, type) or not callable(obj):
        return obj
    else:
        wrapped = _function(obj, name)
    _CACHE[name] = wrapped
    return wrapped


def _sub_namespace(modname: str, np_module: Any) -> types.ModuleType:
    mod = types.ModuleType(f"cupy.{modname}")

    def getattr_(name: str) -> Any:
        obj = getattr(np_module, name)
        return _function(obj, f"{modname}.{name}") if callable(obj) and not isinstance(obj, type) else obj

    mod.__getattr__ = getattr_  # type: ignore[method-assign]
    sys.modules[mod.__name__] = mod
    return mod


linalg = _sub_namespace("linalg", _np.linalg)


def _as_strided(x: ndarray, shape: Any = None, strides: Any = None) -> ndarray:
    """``cupy.lib.stride_tricks.as_strided``: a view of the device array's memory (strides in bytes)."""
    view = _np.lib.stride_tricks.as_strided(x._a, shape=shape, strides=strides)
    return _wrap(view, x._dev)


lib = types.ModuleType("cupy.lib")
lib.stride_tricks = types.ModuleType("cupy.lib.stride_tricks")  # type: ignore[attr-defined]
lib.stride_tricks.as_strided = _as_strided  # type: ignore[attr-defined]
fft = _sub_namespace("fft", _np.fft)


# ---------------------------------------------------------------------------------------- random


class _XORWOW:
    """``cupy.random.XORWOW``: as CuPy's (cupy/random/_bit_generator.pyx) its state is a device int8 array,
    ``_state``, made on the current device; here that array holds a NumPy PCG64 state (six uint64 words),
    read before and written back after every draw, so copying the array saves and restores the stream."""

    def __init__(self, seed: Any = None) -> None:
        self._state = _wrap(self._encode(_np.random.PCG64(seed).state))

    @staticmethod
    def _encode(st: dict) -> _np.ndarray:
        words = [st["state"]["state"], st["state"]["inc"]]
        split = [w >> s & (2**64 - 1) for w in words for s in (0, 64)]
        return _np.array([*split, st["has_uint32"], st["uinteger"]], dtype=_np.uint64).view(_np.int8)

    def _load(self) -> _np.random.PCG64:
        w = [int(v) for v in self._state._a.view(_np.uint64)]
        bg = _np.random.PCG64()
        state = {"state": w[0] | w[1] << 64, "inc": w[2] | w[3] << 64}
        bg.state = {"bit_generator": "PCG64", "state": state, "has_uint32": w[4], "uinteger": w[5]}
        return bg

    def _store(self, bg: _np.random.PCG64) -> None:
        self._state._a[...] = self._encode(bg.state)


class _Generator:
    """``cupy.random.Generator``: the methods CuPy's has, returning device arrays; ``bit_generator`` is an XORWOW."""

    _METHODS = {"random", "standard_normal", "integers", "uniform", "normal", "exponential", "poisson", "binomial"}
    _METHODS |= {"standard_gamma", "gamma", "beta", "standard_exponential"}  # (cupy/random/_generator_api.pyx)

    def __init__(self, bit_generator: Any = None) -> None:
        self.bit_generator = bit_generator if isinstance(bit_generator, _XORWOW) else _XORWOW(bit_generator)

    def __getattr__(self, name: str) -> Any:
        if name not in self._METHODS:
            raise AttributeError(f"cupy.random.Generator has no method {name!r}")

        def method(*args: Any, **kwargs: Any) -> Any:
            if self.bit_generator._state._dev != _current[0]:  # as CuPy's BitGenerator._check_device
                raise RuntimeError("This Generator state is allocated in a different device")
            bg = self.bit_generator._load()
            r = getattr(_np.random.Generator(bg), name)(*_unwrap(args, name), **_unwrap(kwargs, name))
            self.bit_generator._store(bg)
            return _wrap_result(r)

        return method


def _default_rng(seed: Any = None) -> _Generator:
    """``cupy.random.default_rng``: a Generator over an XORWOW seeded with ``seed``."""
    return _Generator(_XORWOW(seed))


random = types.ModuleType("cupy.random")
random.default_rng = _default_rng  # type: ignore[attr-defined]
random.Generator = _Generator  # type: ignore[attr-defined]
random.XORWOW = _XORWOW  # type: ignore[attr-defined]
sys.modules["cupy.random"] = random


# ---------------------------------------------------------------------------------------- cuda


class _OutOfMemoryError(MemoryError):
    """CuPy's ``cuda.memory.OutOfMemoryError(size, total, limit)``."""

    def __init__(self, size: int, total: int, limit: int = 0) -> None:
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes).")
        self._size, self._total, self._limit = size, total, limit


class _Device:
    def __init__(self, device: int | None = None) -> None:
        self.id = _current[0] if device is None else int(device)
        self._prev: list[int] = []

    def __enter__(self) -> _Device:
        if not 0 <= self.id < DEVICE_COUNT:
            raise cuda.runtime.CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {self.id}")
        self._prev.append(_current[0])
        _current[0] = self.id
        return self

    def __exit__(self, *exc: Any) -> None:
        _current[0] = self._prev.pop()

    def use(self) -> None:
        _current[0] = self.id

    def synchronize(self) -> None:
        cuda.SYNCS[self.id] = cuda.SYNCS.get(self.id, 0) + 1

    @property
    def mem_info(self) -> tuple[int, int]:
        total = 80 << 30
        pool = _POOL[0]._pools.get(self.id)
        return total - (pool._used + pool._cached if pool else 0), total

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


class _Stream:
    null: Any = None

    def __init__(self, non_blocking: bool = False) -> None:
        self.ptr = id(self)

    def synchronize(self) -> None:
        pass

    def __enter__(self) -> _Stream:
        self._prev = _current_stream[0]
        _current_stream[0] = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _current_stream[0] = self._prev

    def use(self) -> _Stream:
        _current_stream[0] = self
        return self

    def is_capturing(self) -> bool:
        """CuPy's ``Stream.is_capturing``: the stand-in never captures CUDA graphs."""
        return False


_Stream.null = _Stream()
_Stream.null.ptr = 0  # CuPy's legacy default stream has the handle 0


class _ExternalStream(_Stream):
    """``cupy.cuda.ExternalStream(ptr, device_id=-1)``: a stream made elsewhere, known by its handle."""

    def __init__(self, ptr: int, device_id: int = -1) -> None:
        self.ptr, self.device_id = int(ptr), device_id


_current_stream: list[Any] = [None]


class _CUDARuntimeError(RuntimeError):
    pass


def _get_device_count() -> int:
    return DEVICE_COUNT


def _set_device(i: int) -> None:
    _current[0] = i


def _check_ordinal(i: int) -> None:
    if not 0 <= i < DEVICE_COUNT:
        raise cuda.runtime.CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {i}")


def _device_properties(i: int) -> dict:
    """A subset of the keys of CuPy's ``runtime.getDeviceProperties`` (cupy_backends/cuda/api/runtime.pyx),
    with an H100's values; the PCI bus id and uuid differ per device."""
    _check_ordinal(i)
    return {
        "name": b"CuPy stand-in",
        "totalGlobalMem": 80 << 30,
        "sharedMemPerBlock": 48 << 10,
        "regsPerBlock": 65536,
        "warpSize": 32,
        "maxThreadsPerBlock": 1024,
        "clockRate": 1755000,
        "major": 9,
        "minor": 0,
        "multiProcessorCount": 132,
        "integrated": 0,
        "pciBusID": i + 1,
        "pciDeviceID": 0,
        "pciDomainID": 0,
        "memoryClockRate": 2619000,
        "memoryBusWidth": 5120,
        "l2CacheSize": 50 << 20,
        "maxThreadsPerMultiProcessor": 2048,
        "isMultiGpuBoard": 0,
        "sharedMemPerMultiprocessor": 228 << 10,
        "regsPerMultiprocessor": 65536,
        "sharedMemPerBlockOptin": 227 << 10,
        "uuid": bytes(range(i, i + 16)),
    }


def _device_can_access_peer(device: int, peer: int) -> int:
    _check_ordinal(device)
    _check_ordinal(peer)
    return int(device != peer)


def _device_get_pci_bus_id(device: int) -> str:
    _check_ordinal(device)
    return f"0000:{device + 1:02X}:00.0"


class _Nvtx(types.ModuleType):
    """``cupy.cuda.nvtx``: ``available``, ``RangePush``/``RangePop``/``Mark``; the stand-in records the calls."""

    available = True

    def __init__(self) -> None:
        super().__init__("cupy.cuda.nvtx")
        self.CALLS: list[tuple] = []

    def RangePush(self, message: str, id_color: int = -1, argb_color: Any = None) -> None:  # noqa: N802
        self.CALLS.append(("push", message))

    def RangePop(self) -> None:  # noqa: N802
        self.CALLS.append(("pop",))

    def Mark(self, message: str, id_color: int = -1, argb_color: Any = None) -> None:  # noqa: N802
        self.CALLS.append(("mark", message))


cuda = types.ModuleType("cupy.cuda")
cuda.SYNCS = {}  # type: ignore[attr-defined]
cuda.Device = _Device  # type: ignore[attr-defined]
cuda.Stream = _Stream  # type: ignore[attr-defined]
cuda.ExternalStream = _ExternalStream  # type: ignore[attr-defined]
cuda.get_current_stream = lambda device=None: _current_stream[0] or _Stream()  # type: ignore[attr-defined]
cuda.nvtx = _Nvtx()  # type: ignore[attr-defined]
sys.modules["cupy.cuda.nvtx"] = cuda.nvtx  # type: ignore[attr-defined]
cuda.MemoryPool = MemoryPool  # type: ignore[attr-defined]
cuda.PinnedMemoryPool = MemoryPool  # type: ignore[attr-defined]
cuda.runtime = types.SimpleNamespace(  # type: ignore[attr-defined]
    getDeviceCount=_get_device_count,
    getDevice=lambda: _current[0],
    setDevice=_set_device,
    CUDARuntimeError=_CUDARuntimeError,
    deviceSynchronize=lambda: _Device().synchronize(),
    memGetInfo=lambda: _Device().mem_info,
    getDeviceProperties=_device_properties,
    deviceCanAccessPeer=_device_can_access_peer,
    deviceGetPCIBusId=_device_get_pci_bus_id,
    runtimeGetVersion=lambda: 12040,
    driverGetVersion=lambda: 12040,
)
cuda.memory = types.SimpleNamespace(OutOfMemoryError=_OutOfMemoryError, MemoryPool=MemoryPool)  # type: ignore[attr-defined]


def _set_allocator(allocator: Any = None) -> None:
    _allocator[0] = allocator


def _get_allocator() -> Any:
    return _allocator[0] or get_default_memory_pool().malloc


cuda.set_allocator = _set_allocator  # type: ignore[attr-defined]
cuda.get_allocator = _get_allocator  # type: ignore[attr-defined]
cuda.OutOfMemoryError = _OutOfMemoryError  # type: ignore[attr-defined]
sys.modules["cupy.cuda"] = cuda


def reset_standin(device_count: int = 1) -> None:
    """Fresh pools, counters and current device (called by the fixture)."""
    global DEVICE_COUNT
    DEVICE_COUNT = device_count
    _POOL[0] = MemoryPool()
    _allocator[0] = None
    _current[0] = 0
    HOST_READS.clear()
    HOST_READS["count"] = 0
    cuda.SYNCS.clear()  # type: ignore[attr-defined]
    cuda.nvtx.CALLS.clear()  # type: ignore[attr-defined]
    _current_stream[0] = None


# ---------------------------------------------------------------------------------------- kernels


class ElementwiseKernel:
    """CuPy's user kernel: parameters typed by placeholders (``T``), the body run by ``_elementwise``."""

    def __init__(
        self,
        in_params: str,
        out_params: str,
        operation: str,
        name: str = "kernel",
        reduce_dims: bool = True,
        preamble: str = "",
        no_return: bool = False,
        return_tuple: bool = False,
        loop_prep: str = "",
        after_loop: str = "",
    ) -> None:
        self.in_params = _elementwise.parse_params(in_params)
        self.out_params = _elementwise.parse_params(out_params)
        self.name, self.operation = name, operation
        known = set("int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 bool".split())
        self.placeholders = {
            t for _, t, _ in self.in_params + self.out_params if t not in known and t not in _elementwise._C_TYPES
        }
        self.statements = _elementwise.compile_body(operation, self.placeholders | known)
        self.calls = 0

    def __call__(self, *args: Any, size: int | None = None, **kwargs: Any) -> Any:
        params = self.in_params + self.out_params
        n_in = len(self.in_params)
        if len(args) not in (n_in, len(params)):
            raise TypeError(
                f"Wrong number of arguments for {self.name!r}: {len(args)} given, {n_in} or {len(params)} expected"
            )
        bound: dict[str, Any] = {}
        for (_raw, t, pname), arg in zip(params, args):
            if isinstance(arg, _np.ndarray):
                raise TypeError(f"Unsupported type {type(arg)} for argument {pname!r} of {self.name!r}")
            if isinstance(arg, ndarray):
                _check_device(arg._dev)
                if t in self.placeholders:
                    if t in bound and bound[t] != arg.dtype:
                        raise TypeError(f"Type is mismatched. {pname} {arg.dtype} {bound[t]}")
                    bound[t] = arg.dtype
        for t in self.placeholders - set(bound):
            raise TypeError(f"Cannot determine type {t!r} of {self.name!r} from the array arguments")
        types_ = {t: bound[t] for t in bound}
        for _, t, _ in params:
            if t not in types_ and t not in _elementwise._C_TYPES:
                types_[t] = _np.dtype(t)
        arrays = [a._a for (raw, _, _), a in zip(params, args) if isinstance(a, ndarray) and not raw]
        shape = _np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else (size,)
        n = int(_np.prod(shape))
        env: dict[str, Any] = {"__types__": types_, "i": _np.arange(n)}
        outs = []
        for k, ((raw, t, pname), arg) in enumerate(zip(params, args)):
            dt = types_.get(t, _elementwise._C_TYPES.get(t))
            if isinstance(arg, ndarray):
                env[pname] = arg._a.ravel() if raw else _np.broadcast_to(arg._a, shape).ravel()
                if k >= n_in:
                    if arg._a.shape != shape:
                        raise ValueError(f"Out shape is mismatched for {pname!r} of {self.name!r}")
                    outs.append((pname, arg))
            else:
                env[pname] = _np.dtype(dt).type(arg)
        if len(args) == n_in:
            for _raw, t, pname in self.out_params:
                arr = _wrap(_np.zeros(shape, dtype=types_.get(t, _elementwise._C_TYPES.get(t))))
                env[pname] = arr._a.ravel()
                outs.append((pname, arr))
        out_types = {p: types_.get(t, _elementwise._C_TYPES.get(t)) for _, t, p in self.out_params}
        _elementwise.run(self.statements, env, out_types)
        for pname, arr in outs:
            arr._a[...] = _np.broadcast_to(_np.asarray(env[pname]), (n,)).reshape(shape)
        self.calls += 1
        result = [a for _, a in outs]
        return result[0] if len(result) == 1 else tuple(result)


class RawKernel:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the CuPy stand-in cannot run RawKernel (CUDA C); test it on a GPU")


ReductionKernel = RawKernel
RawModule = RawKernel


def fuse(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("cupy.fuse is not emulated")


def memoize(for_each_device: bool = False) -> Any:
    return lambda f: f
