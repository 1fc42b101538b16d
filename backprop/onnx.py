"""``bp.onnx`` (torch.onnx): what model and training code asks of it without exporting.

backprop cannot write ONNX graphs. Model code asks ``torch.onnx.is_in_onnx_export()`` in its forward
(False here: nothing is ever being exported), and scripts name the enums; ``export`` (and
``dynamo_export``) raise a ``NotImplementedError`` that says what to do instead.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["OperatorExportTypes", "TrainingMode", "dynamo_export", "export", "is_in_onnx_export"]


class TrainingMode(enum.IntEnum):
    """torch.onnx.TrainingMode: the mode an exported graph is written in."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    """torch.onnx.OperatorExportTypes: how ops without an ONNX form are written."""

    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


def is_in_onnx_export() -> bool:
    """Whether an ONNX export is running: never, here."""
    return False


_NO_EXPORT = (
    "backprop cannot export ONNX graphs; save the weights (bp.save, or safetensors with "
    "bp.serialization.save_safetensors) and export from torch with the same module code"
)


def export(model: Any, args: Any = (), f: Any = None, **kwargs: Any) -> Any:
    """Refuses with a clear error (see the module docstring)."""
    raise NotImplementedError(f"torch.onnx.export: {_NO_EXPORT}")


def dynamo_export(model: Any, *args: Any, **kwargs: Any) -> Any:
    """Refuses with a clear error (see the module docstring)."""
    raise NotImplementedError(f"torch.onnx.dynamo_export: {_NO_EXPORT}")
