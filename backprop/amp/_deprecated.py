"""torch's deprecated per-device spellings, ``torch.cuda.amp.autocast``/``GradScaler`` and
``torch.cpu.amp.autocast``/``GradScaler``: subclasses of ``bp.amp``'s that warn with torch's text."""

from __future__ import annotations

import warnings
from typing import Any

from backprop.amp import autocast_mode
from backprop.amp.grad_scaler import GradScaler as _GradScaler


def _warn(device: str, what: str) -> None:
    warnings.warn(
        f"`torch.{device}.amp.{what}(args...)` is deprecated. Please use `torch.amp.{what}('{device}', args...)` "
        "instead.",
        FutureWarning,
        stacklevel=3,
    )


def amp_classes(device: str, default_dtype: Any) -> tuple[type, type]:
    """``(autocast, GradScaler)`` for ``device`` under their deprecated names: each warns, then is
    ``bp.amp.autocast(device, ...)`` / ``bp.amp.GradScaler(device, ...)`` (autocast's dtype defaulting to
    ``default_dtype``, as torch's: float16 on CUDA, bfloat16 on the CPU)."""

    class autocast(autocast_mode.autocast):  # noqa: N801 - torch's name
        __doc__ = f'``autocast("{device}", ...)`` under its deprecated name (warns).'

        def __init__(self, enabled: bool = True, dtype: Any = default_dtype, cache_enabled: bool = True) -> None:
            _warn(device, "autocast")
            super().__init__(device, enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)

    class GradScaler(_GradScaler):
        __doc__ = f'``GradScaler("{device}", ...)`` under its deprecated name (warns).'

        def __init__(
            self,
            init_scale: float = 2.0**16,
            growth_factor: float = 2.0,
            backoff_factor: float = 0.5,
            growth_interval: int = 2000,
            enabled: bool = True,
        ) -> None:
            _warn(device, "GradScaler")
            super().__init__(
                device,
                init_scale=init_scale,
                growth_factor=growth_factor,
                backoff_factor=backoff_factor,
                growth_interval=growth_interval,
                enabled=enabled,
            )

    for cls in (autocast, GradScaler):
        cls.__module__ = f"backprop.{device}.amp"
        cls.__qualname__ = cls.__name__
    return autocast, GradScaler
