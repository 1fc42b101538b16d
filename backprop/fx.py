"""``bp.fx`` (torch.fx): the one name model code calls outside graph capture, ``wrap``.

torch.fx captures a module's forward as a graph (``symbolic_trace``, ``GraphModule``); backprop has no
such capture. What model code calls at import time, ``torch.fx.wrap`` (timm's layers mark their leaf
functions with it), only matters while tracing, so here it registers the name and returns the function
unchanged, as torch's does outside a trace. Asking for the graph-capture names raises an
``AttributeError`` that says so, instead of the bare missing-attribute one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["wrap"]

_wrapped: set[str] = set()  # the names marked as leaf functions (what a tracer would keep whole)

_CAPTURE = frozenset(
    {"symbolic_trace", "Tracer", "Graph", "GraphModule", "Node", "Proxy", "Interpreter", "Transformer",
     "replace_pattern", "subgraph_rewriter", "passes", "experimental", "node", "proxy", "graph"}
)  # fmt: skip


def wrap(fn_or_name: str | Callable[..., Any]) -> str | Callable[..., Any]:
    """Mark a function (or its name, at module scope) as an FX leaf; returns it unchanged (there is no
    tracing here to keep it whole in)."""
    if not (callable(fn_or_name) or isinstance(fn_or_name, str)):
        raise RuntimeError("Unsupported type for global function! Must be either a callable or string name")
    name = fn_or_name if isinstance(fn_or_name, str) else fn_or_name.__name__
    caller = sys._getframe(1)
    if caller.f_code.co_name != "<module>":  # (torch's rule: the leaf is found by name in that module's globals)
        raise NotImplementedError("wrap must be called at the top level of a module")
    _wrapped.add(name)
    return fn_or_name


def __getattr__(name: str) -> Any:
    if name in _CAPTURE:
        raise AttributeError(
            f"torch.fx.{name}: backprop has no FX graph capture (symbolic_trace, GraphModule); run the module "
            "eagerly, or use bp.compile to replay a training step"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
