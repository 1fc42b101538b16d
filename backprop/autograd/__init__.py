"""Reverse-mode autodiff: op application, the backward engine, grad modes and checks."""

from backprop.autograd.functional import backward, grad
from backprop.autograd.grad_mode import (
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)

__all__ = [
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
