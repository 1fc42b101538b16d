"""Reverse-mode autodiff: op application, the backward engine, grad modes and checks."""

from backprop.autograd import forward_ad, graph, profiler, saved_attrs  # noqa: F401  (installs Node's _saved_* names)
from backprop.autograd import function as _function_module
from backprop.autograd.custom import Function, FunctionCtx, once_differentiable
from backprop.autograd.functional import backward, grad
from backprop.autograd.grad_mode import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_anomaly_enabled,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_multithreading_enabled,
    is_view_replay_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
    set_multithreading_enabled,
)
from backprop.autograd.gradcheck import gradcheck, gradgradcheck
from backprop.autograd.saved_attrs import SavedTensor
from backprop.autograd.variable import Variable

__all__ = [
    "Function",
    "FunctionCtx",
    "Variable",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "forward_ad",
    "grad",
    "graph",
    "gradcheck",
    "gradgradcheck",
    "is_anomaly_enabled",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_multithreading_enabled",
    "is_view_replay_enabled",
    "kineto_available",
    "no_grad",
    "once_differentiable",
    "profiler",
    "set_detect_anomaly",
    "set_grad_enabled",
    "set_multithreading_enabled",
    "SavedTensor",
]

# torch's ``autograd.function`` module also holds ``Function``, ``FunctionCtx`` and ``once_differentiable``
# (defined in ``custom``, which imports ``function``: set here, so neither module imports the other back)
_function_module.Function = Function  # type: ignore[attr-defined]
_function_module.FunctionCtx = FunctionCtx  # type: ignore[attr-defined]
_function_module.once_differentiable = once_differentiable  # type: ignore[attr-defined]

# torch.autograd.anomaly_mode: the module holding detect_anomaly and set_detect_anomaly
from backprop.autograd import anomaly_mode  # noqa: E402, F401


def kineto_available() -> bool:
    """False: the profiler is backprop's own (``bp.profiler``), not a build with Kineto."""
    return False
