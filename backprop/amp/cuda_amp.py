"""``bp.cuda.amp``: torch.cuda.amp's deprecated spellings of ``autocast("cuda")`` and ``GradScaler("cuda")``.

They warn (FutureWarning, torch's text) and forward to ``bp.amp``. ``backprop/__init__.py`` binds this
module as ``bp.cuda.amp`` (and as the importable ``backprop.cuda.amp``): ``backprop.cuda`` sits far below
autocast in the layering and cannot import it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from backprop.amp import autocast_mode
from backprop.amp.autocast_mode import custom_bwd as _custom_bwd
from backprop.amp.autocast_mode import custom_fwd as _custom_fwd
from backprop.amp.grad_scaler import GradScaler as _GradScaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


class autocast(autocast_mode.autocast):  # noqa: N801 - torch's name
    """``autocast("cuda", ...)`` under its deprecated name (warns)."""

    def __init__(self, enabled: bool = True, dtype: Any = np.float16, cache_enabled: bool = True) -> None:
        warnings.warn(
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cuda', args...)` "
            "instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cuda", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """``GradScaler("cuda", ...)`` under its deprecated name (warns)."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        warnings.warn(
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use `torch.amp.GradScaler('cuda', args...)` "
            "instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(
            "cuda",
            init_scale=init_scale,
            growth_factor=growth_factor,
            backoff_factor=backoff_factor,
            growth_interval=growth_interval,
            enabled=enabled,
        )


def custom_fwd(fwd: Any = None, *, cast_inputs: Any = None) -> Any:
    """``bp.amp.custom_fwd(device_type="cuda")`` under its deprecated name (warns)."""
    warnings.warn(
        "`torch.cuda.amp.custom_fwd(args...)` is deprecated. Please use "
        "`torch.amp.custom_fwd(args..., device_type='cuda')` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd: Any = None) -> Any:
    """``bp.amp.custom_bwd(device_type="cuda")`` under its deprecated name (warns)."""
    warnings.warn(
        "`torch.cuda.amp.custom_bwd(args...)` is deprecated. Please use "
        "`torch.amp.custom_bwd(args..., device_type='cuda')` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _custom_bwd(bwd, device_type="cuda")
