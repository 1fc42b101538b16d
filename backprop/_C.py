# ruff: noqa: N999  (torch._C's name)
"""``torch._C``, the few names of torch's C++ binding that ordinary Python code calls: the tracing query of
``if torch._C._get_tracing_state():`` guards (None: nothing traces here), ``_set_grad_enabled``, the
``_log_api_usage_once`` call at the top of torchvision-style modules (a no-op), the TorchScript fuser
switches that old training scripts flip (no-ops that answer with torch's old value), the ``TensorBase`` and
``Generator`` classes, ``_disabled_torch_function_impl`` for Tensor subclasses and ``_nn._parse_to`` for
``Module.to`` overrides. Any other name is an AttributeError that says it is torch's C++ internals."""

from __future__ import annotations

import sys
import types
from typing import Any

from backprop.autograd.grad_mode import set_grad_enabled
from backprop.creation import Generator
from backprop.devices import Device
from backprop.devices import device as to_device
from backprop.dtypes import to_dtype
from backprop.tensor import DisableTorchFunction, DisableTorchFunctionSubclass, Tensor, disabled_torch_function_impl

__all__: list[str] = []

TensorBase = _TensorBase = Tensor  # (torch's C base of Tensor: ``isinstance(t, torch._C.TensorBase)``)
_disabled_torch_function_impl = disabled_torch_function_impl
_GLIBCXX_USE_CXX11_ABI = True  # (torch's wheels since 2.7; build scripts read it)


def _get_tracing_state() -> None:
    """None: no ``torch.jit.trace`` runs here (torch's answer outside one)."""
    return None


def _set_grad_enabled(mode: bool) -> None:
    """Turn gradient recording on or off for this thread, as ``torch.set_grad_enabled(mode)`` called plainly."""
    set_grad_enabled(mode)


def _log_api_usage_once(event: str) -> None:
    """torch's usage logging: nothing is logged here."""


def _get_cudnn_enabled() -> bool:
    """``torch.backends.cudnn.enabled``."""
    from backprop import backends

    return bool(backends.cudnn.enabled)


def _jit_switch(old: bool | None) -> Any:
    def switch(flag: bool) -> bool | None:
        """A TorchScript executor/fuser switch: no TorchScript here, so nothing changes; torch's old value."""
        return old

    return switch


# (torch 2.13's answers: the profiling switches return the previous mode, the fuser overrides return None)
_jit_set_profiling_executor = _jit_switch(True)
_jit_set_profiling_mode = _jit_switch(True)
_jit_override_can_fuse_on_cpu = _jit_switch(None)
_jit_override_can_fuse_on_gpu = _jit_switch(None)
_jit_set_texpr_fuser_enabled = _jit_switch(None)
_jit_set_nvfuser_enabled = _jit_switch(False)


def _parse_to(*args: Any, **kwargs: Any) -> tuple[Device | None, Any, bool, Any]:
    """``Tensor.to``'s arguments as ``(device, dtype, non_blocking, memory_format)``, torch's parser that custom
    ``Module.to`` overrides call: ``_parse_to("cpu", torch.float16)``, ``_parse_to(other_tensor)``."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    non_blocking = bool(kwargs.pop("non_blocking", False))
    memory_format = kwargs.pop("memory_format", None)
    kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        device, dtype = other.device, other.dtype
    elif rest and isinstance(rest[0], (str, int, Device)) and not isinstance(rest[0], bool):
        device = rest.pop(0)
    if rest and dtype is None and not isinstance(rest[0], bool):
        dtype = rest.pop(0)
    if rest:
        non_blocking = bool(rest.pop(0))
    return (None if device is None else to_device(device), to_dtype(dtype), non_blocking, memory_format)


def _nn_getattr(name: str) -> Any:
    """aten's nn ops whose signatures are nn.functional's."""
    if name in _NN_AS_FUNCTIONAL:
        from backprop.nn import functional

        return getattr(functional, name)
    raise AttributeError(f"module 'torch._C._nn' has no attribute '{name}' (torch's C++ nn ops; use nn.functional)")


_NN_AS_FUNCTIONAL = frozenset(
    {"gelu", "silu", "mish", "hardswish", "hardsigmoid", "hardtanh", "softplus", "log_sigmoid", "linear", "pad",
     "one_hot", "scaled_dot_product_attention"}
)  # fmt: skip
_nn = types.ModuleType(__name__ + "._nn", "torch._C._nn: _parse_to and aten's nn ops that nn.functional spells alike")
_nn._parse_to = _parse_to  # type: ignore[attr-defined]
_nn.__getattr__ = _nn_getattr  # type: ignore[method-assign]

__all__ += ["DisableTorchFunction", "DisableTorchFunctionSubclass", "Generator", "TensorBase"]
sys.modules[_nn.__name__] = _nn  # (``import backprop._C._nn`` works too)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"module 'torch._C' has no attribute '{name}': torch._C is torch's C++ binding, of which backprop has only "
        "the few names Python code commonly calls (backprop/_C.py)"
    )
