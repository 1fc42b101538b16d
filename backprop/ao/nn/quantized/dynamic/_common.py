"""Helpers shared by the dynamic quantized Linear and the recurrent modules (one module, no import cycle)."""

from __future__ import annotations

from typing import Any

import numpy as np

import backprop as bp
from backprop._quantized import QTensor, qint8
from backprop.tensor import Tensor


def _dtype_name(dtype: Any) -> str:
    """torch's spelling of a dtype (``torch.float16``, ``torch.qint8``)."""
    return f"torch.{dtype}" if isinstance(dtype, np.dtype) else repr(dtype)


def _quantize_weight(w: Tensor, observer: Any) -> QTensor:
    """A float weight quantized per tensor to qint8 with its (already run) observer's scale and zero point."""
    s, z = observer.calculate_qparams()
    return bp.quantize_per_tensor(w.detach().float(), float(s.reshape(-1)[0]), int(z.reshape(-1)[0]), qint8)
