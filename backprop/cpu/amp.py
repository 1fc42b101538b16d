"""``bp.cpu.amp``: torch.cpu.amp's deprecated spellings of ``autocast("cpu")`` and ``GradScaler("cpu")``.

They warn (FutureWarning, torch's text) and forward to ``bp.amp``.
"""

from __future__ import annotations

from backprop import dtypes
from backprop.amp._deprecated import amp_classes

__all__ = ["GradScaler", "autocast"]


autocast, GradScaler = amp_classes("cpu", dtypes.bfloat16)
