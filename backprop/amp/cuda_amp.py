"""``bp.cuda.amp``: torch.cuda.amp's deprecated spellings of ``autocast("cuda")`` and ``GradScaler("cuda")``.

They warn (FutureWarning, torch's text) and forward to ``bp.amp``. ``backprop/__init__.py`` binds this
module as ``bp.cuda.amp`` (and as the importable ``backprop.cuda.amp``): ``backprop.cuda`` sits far below
autocast in the layering and cannot import it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from backprop.amp._deprecated import amp_classes
from backprop.amp.autocast_mode import custom_bwd as _custom_bwd
from backprop.amp.autocast_mode import custom_fwd as _custom_fwd

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


autocast, GradScaler = amp_classes("cuda", np.float16)


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
