"""``bp.autocast``: regions where ops run in an op-specific dtype (torch.autocast's names and semantics).

The cast policy itself (which op runs in which dtype) is ``backprop.autograd.autocast_state``, which
``apply`` consults for every op; this module is the user-facing side: the context manager and
decorator, the state getters and setters of ``torch``'s top level, and ``custom_fwd``/``custom_bwd``.
"""

from __future__ import annotations

import collections.abc
import functools
import warnings
from typing import Any, TypeVar

import numpy as np

from backprop import dtypes
from backprop.autograd import autocast_state as _st
from backprop.autograd.function import autocast_function
from backprop.backends import get_backend

__all__ = [
    "autocast",
    "autocast_function",
    "clear_autocast_cache",
    "custom_bwd",
    "custom_fwd",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_cache_enabled",
    "is_autocast_enabled",
    "set_autocast_cache_enabled",
    "set_autocast_dtype",
    "set_autocast_enabled",
]

F = TypeVar("F")
# the lower-precision dtypes autocast can run in, per device type: torch's float16 and bfloat16 on the
# CPU (bfloat16 is ml_dtypes' NumPy dtype); CuPy has no bfloat16, so CUDA autocast runs in float16 only
_SUPPORTED = {"cpu": ("float16", *(("bfloat16",) if dtypes.HAS_BFLOAT16 else ())), "cuda": ("float16",)}


def is_autocast_available(device_type: str) -> bool:
    """True when autocast has a cast policy for ``device_type`` ("cpu" and "cuda")."""
    return device_type in _st.POLICIES


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """True inside an enabled autocast region for ``device_type`` (torch's default: "cuda")."""
    return _st.is_enabled("cuda" if device_type is None else device_type)


def set_autocast_enabled(device_type: str, enabled: bool) -> None:
    """Turn autocast on or off for ``device_type`` on this thread (prefer the ``autocast`` block)."""
    _st.set_enabled(device_type, enabled)


def get_autocast_dtype(device_type: str) -> np.dtype:
    """The lower-precision dtype of ``device_type``'s autocast (torch's defaults: bfloat16 on "cpu",
    float16 on "cuda")."""
    return _st.get_dtype(device_type)


def set_autocast_dtype(device_type: str, dtype: Any) -> None:
    """Set the lower-precision dtype of ``device_type``'s autocast on this thread."""
    _st.set_dtype(device_type, dtype)


def is_autocast_cache_enabled() -> bool:
    """True when leaf weights are cast once per autocast region (the default)."""
    return _st.is_cache_enabled()


def set_autocast_cache_enabled(enabled: bool) -> None:
    _st.set_cache_enabled(enabled)


def clear_autocast_cache() -> None:
    """Drop the cached lower-precision copies of weights."""
    _st.clear_cache()


class autocast:  # noqa: N801 - torch's name
    """Context manager / decorator: inside, ops of torch's autocast lists run in their policy's dtype.

    ``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: matmul, linear, einsum and
    convolutions run in ``dtype`` (torch's defaults: bfloat16 on "cpu", float16 on "cuda"); losses, and
    on CUDA also softmax, log_softmax, exp, log, sum and layer_norm, run in float32; other ops run in
    their inputs' dtype. The state is per thread and per device type; a nested
    ``autocast(..., enabled=False)`` turns it off. CUDA autocast in bfloat16 warns and disables itself
    (CuPy has no bfloat16), as torch's autocast does for a dtype a device cannot use.
    """

    def __init__(
        self,
        device_type: str,
        dtype: Any = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if not is_autocast_available(device_type):
            raise RuntimeError(
                f"User specified an unsupported autocast device_type '{device_type}' (backprop's autocast "
                f"supports {sorted(_st.POLICIES)})"
            )
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else np.dtype(dtypes.to_dtype(dtype))
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        if enabled:
            enabled = self._check(device_type, dtype)
        self._enabled = bool(enabled)

    def _check(self, device_type: str, dtype: Any) -> bool:
        """False (with torch's warning) when this autocast cannot run and disables itself."""
        if device_type == "cuda" and not get_backend("cuda").is_available():
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=3)
            return False
        supported = [dtypes.to_dtype(name) for name in _SUPPORTED.get(device_type, ("float16",))]
        if self.fast_dtype not in supported:
            if device_type == "cuda":
                names, lacks = " and ".join(str(d) for d in supported), " (CuPy has no bfloat16)"
            else:  # torch's words: its list of the two dtypes, as torch prints dtypes
                names, lacks = ", ".join(f"torch.{d}" for d in sorted(supported, key=str)), ""
            warnings.warn(
                f"In {device_type.upper()} autocast, but the target dtype is not supported. Disabling autocast.\n"
                f"{device_type.upper()} Autocast only supports dtypes of {names} currently{lacks}.",
                stacklevel=3,
            )
            return False
        return True

    def __enter__(self) -> autocast:
        self.prev_cache_enabled = is_autocast_cache_enabled()
        self.prev = is_autocast_enabled(self.device)
        self.prev_fastdtype = get_autocast_dtype(self.device)
        _st.set_enabled(self.device, self._enabled)
        _st.set_dtype(self.device, self.fast_dtype)
        _st.increment_nesting()
        _st.set_cache_enabled(self._cache_enabled)
        return self

    def __exit__(self, *exc: object) -> None:
        if _st.decrement_nesting() == 0:  # the cache lives as long as the outermost region
            _st.clear_cache()
        _st.set_enabled(self.device, self.prev)
        _st.set_dtype(self.device, self.prev_fastdtype)
        _st.set_cache_enabled(self.prev_cache_enabled)

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(
                f"autocast()(func) requires a callable, but got {type(func).__name__}. Did you mean to use "
                "autocast as a context manager? For example:\n    with bp.autocast(device_type=...):\n"
                "        output = model(input)"
            )

        @functools.wraps(func)
        def decorate_autocast(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return decorate_autocast  # type: ignore[return-value]


def _cast(value: Any, device_type: str, dtype: Any) -> Any:
    """Floating Tensors (not float64) on ``device_type`` in ``value`` (nested containers too) cast to ``dtype``."""
    if hasattr(value, "grad_fn"):
        eligible = dtypes.kind(value.dtype) == "f" and value.dtype != np.float64 and value.device.type == device_type
        return value.to(dtype) if eligible else value
    if isinstance(value, (str, bytes, np.ndarray)):
        return value
    if isinstance(value, collections.abc.Mapping):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    return value


def custom_fwd(fwd: Any = None, *, device_type: str, cast_inputs: Any = None) -> Any:
    """Decorate a custom ``Function.forward``: with ``cast_inputs``, inside autocast its floating inputs are
    cast to that dtype and it runs with autocast off; without, it runs under the current autocast."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        args[0]._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            args[0]._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        args[0]._fwd_used_autocast = False
        if not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        with autocast(device_type=device_type, enabled=False):
            return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))

    return decorate_fwd


def custom_bwd(bwd: Any = None, *, device_type: str) -> Any:
    """Decorate a custom ``Function.backward``: it runs under the autocast state its forward ran in."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        with autocast(device_type=device_type, enabled=args[0]._fwd_used_autocast, dtype=args[0]._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd
