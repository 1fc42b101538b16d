"""torch's small top-level names we lacked: constants (``pi``, ``e``, ``inf``, ``nan``, ``newaxis``), tensor
predicates as functions, ``scalar_tensor``, ``rsub``, the deprecated inclusive ``range``, the removed
``solve``/``lstsq``/``eig``/``symeig``/``matrix_rank`` (torch 2's errors), ``typename``, global switches
(anomaly mode, warn-always, the deprecated ``set_default_tensor_type`` and ``*_autocast_cpu/gpu_*``),
``OutOfMemoryError`` and ``norm_except_dim``."""

from __future__ import annotations

import builtins
import math
import warnings
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.amp import autocast_mode as _ac
from backprop.autograd import grad_mode
from backprop.autograd.function import not_a_tensor_here
from backprop.autograd.node_names import name_node
from backprop.cuda import OutOfMemoryError
from backprop.devices import device as to_device
from backprop.methods.extra import removed
from backprop.methods.storage import is_storage
from backprop.tensor import Tensor

pi = math.pi
e = math.e
inf = math.inf
nan = math.nan
newaxis = None

solve = removed("solve")
lstsq = removed("lstsq")
eig = removed("eig")
symeig = removed("symeig")
matrix_rank = removed("matrix_rank")

is_signed = Tensor.is_signed
is_inference = Tensor.is_inference
get_device = Tensor.get_device
is_conj = Tensor.is_conj
is_neg = Tensor.is_neg
resolve_conj = Tensor.resolve_conj
resolve_neg = Tensor.resolve_neg
conj = Tensor.conj
conj_physical = Tensor.conj_physical
adjoint = Tensor.adjoint
nonzero_static = Tensor.nonzero_static
igamma = Tensor.igamma
igammac = Tensor.igammac


def real(input: Tensor) -> Tensor:
    """The real part: the tensor itself for real dtypes."""
    try:
        return input.real
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def imag(input: Tensor) -> Tensor:
    """The imaginary part; real tensors have none (torch's RuntimeError)."""
    return input.imag


def typename(obj: Any) -> str:
    """A type's readable name: a tensor's legacy type (``torch.FloatTensor``), else ``module.QualName``."""
    if isinstance(obj, Tensor):
        return str(obj.type())
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        name = obj.__qualname__
    elif hasattr(obj, "__name__"):
        name = obj.__name__
    else:  # an instance: its class's names (numpy.ndarray, numpy.float32)
        module, name = type(obj).__module__ or "", type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def scalar_tensor(
    s: Any, *, dtype: Any = None, layout: Any = None, device: Any = None, pin_memory: bool | None = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A 0-d tensor holding the number ``s``, of the default float dtype unless ``dtype`` says otherwise
    (ints and bools too, as torch)."""
    if isinstance(s, Tensor):
        s = s.item()
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    s = dtypes.fill_int(s, dt)  # (a complex into a real dtype: torch's error, not its real part)
    return Tensor._of(np.asarray(s).astype(dt), device=device, requires_grad=requires_grad)


def rsub(input: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    """``other - alpha * input`` (``input - other`` reversed), with torch's dtype promotion."""
    if not isinstance(input, Tensor):
        raise TypeError(f"rsub(): argument 'input' must be Tensor, not {type(input).__name__}")
    other_t = other if isinstance(other, Tensor) else input._other(other)
    if not isinstance(other_t, Tensor):
        other_t = Tensor._of(other_t, dtype=dtypes.promote_types(input, other_t), device=input.device)
    out = other_t.sub(input, alpha=alpha)
    return name_node(out, "RsubBackward0" if isinstance(other, Tensor) else "RsubBackward1")  # (torch's kernels)


def range(  # noqa: A001 - torch's name
    start: float = 0, end: float | None = None, step: float = 1, *, dtype: Any = None, layout: Any = None,
    device: Any = None, pin_memory: bool = False, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """Deprecated: ``start, start + step, ...`` up to and including ``end`` (torch.range; use ``arange``).
    The default dtype is the default float dtype, even for integer arguments."""
    warnings.warn(
        "torch.range is deprecated and will be removed in a future release because its behavior is inconsistent "
        "with Python's range builtin. Instead, use torch.arange, which produces values in [start, end).",
        UserWarning,
        stacklevel=2,
    )
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"range: upper bound and larger bound inconsistent with step sign (start {start}, end {end})"
        )
    count = builtins.int(math.floor((end - start) / step)) + 1
    dt = dtypes.to_dtype(dtype) or dtypes.get_default_dtype()
    values = start + step * np.arange(count, dtype=np.float64)
    return Tensor._of(values.astype(dt), device=device, requires_grad=requires_grad)


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002 - torch's name
    """The ``pow``-norm of ``v`` over every dim but ``dim``, shaped to broadcast against ``v`` (weight norm's g);
    ``dim=-1``: the norm of all of ``v``."""
    try:
        if dim == -1:
            return v.norm(pow)
        dim = dim + v.dim() if dim < 0 else dim
        others = [d for d in builtins.range(v.dim()) if d != dim]
        return v.norm(pow, dim=others, keepdim=True) if others else v.abs()
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


# ---------------------------------------------------------------- global switches
_switches = {"warn_always": False}


def set_warn_always(b: bool) -> None:
    """Record torch's warn-always flag (torch then repeats warnings it gives once; ours use Python's filters)."""
    _switches["warn_always"] = builtins.bool(b)


def is_warn_always_enabled() -> bool:
    """The flag ``set_warn_always`` set (False at start)."""
    return _switches["warn_always"]


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly`` or after ``set_anomaly_enabled(True)`` (``bp.autograd.is_anomaly_enabled``)."""
    return grad_mode.is_anomaly_enabled()


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks backward outputs for NaN: the ``check_nan`` of ``set_anomaly_enabled``."""
    return grad_mode.state.check_nan


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly detection on or off for this thread (torch's global switch behind ``detect_anomaly``)."""
    grad_mode._set_anomaly(builtins.bool(enabled), builtins.bool(check_nan))


def set_default_tensor_type(t: Any) -> None:
    """Deprecated: set the default float dtype (and device, for ``torch.cuda.*`` types) from a legacy tensor
    type or its name (``bp.DoubleTensor``, ``"torch.DoubleTensor"``)."""
    warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use torch.set_default_dtype() and "
        "torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    from backprop import legacy
    from backprop.devices import set_default_device

    name = t if isinstance(t, str) else f"torch.{'cuda.' if getattr(t, 'is_cuda', False) else ''}{t.__name__}"
    parts = name.split(".")
    cls = getattr(legacy, parts[-1], None) if parts[0] == "torch" and len(parts) in (2, 3) else None
    if cls is None or (len(parts) == 3 and parts[1] != "cuda"):
        raise TypeError(f"invalid type: '{name}'")
    if dtypes.kind(cls.dtype) != "f":
        raise TypeError(f"only floating-point types are supported as the default type, got {name}")
    dtypes.set_default_dtype(cls.dtype)
    set_default_device(to_device("cuda" if len(parts) == 3 else "cpu"))


def _deprecated_autocast(old: str, new: str) -> None:
    warnings.warn(f"torch.{old} is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def get_autocast_cpu_dtype() -> Any:
    """Deprecated: ``get_autocast_dtype("cpu")``."""
    _deprecated_autocast("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return _ac.get_autocast_dtype("cpu")


def get_autocast_gpu_dtype() -> Any:
    """Deprecated: ``get_autocast_dtype("cuda")``."""
    _deprecated_autocast("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return _ac.get_autocast_dtype("cuda")


def set_autocast_cpu_dtype(dtype: Any) -> None:
    """Deprecated: ``set_autocast_dtype("cpu", dtype)``."""
    _deprecated_autocast("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    _ac.set_autocast_dtype("cpu", dtype)


def set_autocast_gpu_dtype(dtype: Any) -> None:
    """Deprecated: ``set_autocast_dtype("cuda", dtype)``."""
    _deprecated_autocast("set_autocast_gpu_dtype(dtype)", "set_autocast_dtype('cuda', dtype)")
    _ac.set_autocast_dtype("cuda", dtype)


def is_autocast_cpu_enabled() -> bool:
    """Deprecated: ``is_autocast_enabled("cpu")``."""
    _deprecated_autocast("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return _ac.is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    """Deprecated: ``set_autocast_enabled("cpu", enabled)``."""
    _deprecated_autocast("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    _ac.set_autocast_enabled("cpu", enabled)


def _assert(condition: Any, message: str) -> None:
    """torch._assert: ``assert condition, message`` as a function (traceable code calls it; timm does)."""
    assert condition, message


def set_flush_denormal(mode: bool) -> bool:
    """False: NumPy gives no control over flushing denormals, so the request is not honoured (torch's answer
    on CPUs without the feature)."""
    return False


__all__ = [
    "OutOfMemoryError", "adjoint", "conj", "conj_physical", "e", "eig", "get_autocast_cpu_dtype",
    "get_autocast_gpu_dtype", "get_device", "igamma", "igammac", "imag", "inf", "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_autocast_cpu_enabled", "is_conj", "is_inference", "is_neg", "is_signed", "is_storage",
    "is_warn_always_enabled", "lstsq", "matrix_rank", "nan", "newaxis", "nonzero_static", "norm_except_dim", "pi",
    "range", "real", "resolve_conj", "resolve_neg", "rsub", "scalar_tensor", "set_anomaly_enabled",
    "set_autocast_cpu_dtype", "set_autocast_cpu_enabled", "set_autocast_gpu_dtype", "set_default_tensor_type",
    "set_flush_denormal", "set_warn_always", "solve", "symeig", "typename",
]  # fmt: skip

from backprop.functions import name_first_input  # noqa: E402

name_first_input(globals(), __all__)  # torch.conj(input=x): the method aliases above, by torch's names
