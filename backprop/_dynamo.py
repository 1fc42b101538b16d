"""``torch._dynamo``, the few names torch's tutorials call (``torch._dynamo.reset()`` between examples):
those of ``torch.compiler`` (backprop/compiler.py), as there is no graph capture here to configure."""

from __future__ import annotations

from backprop.compiler import allow_in_graph, assume_constant_result, disable, is_compiling, reset

__all__ = ["allow_in_graph", "assume_constant_result", "disable", "is_compiling", "reset"]
