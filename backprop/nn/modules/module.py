"""torch.nn.modules.module: ``Module`` and its helpers."""

from backprop.nn.module import Module, _IncompatibleKeys

__all__ = ["Module", "_IncompatibleKeys", "_addindent"]


def _addindent(s_: str, num_spaces: int) -> str:
    """Every line of ``s_`` but the first indented by ``num_spaces`` (torch's repr helper)."""
    lines = s_.split("\n")
    if len(lines) == 1:
        return s_
    return "\n".join([lines[0]] + [" " * num_spaces + line for line in lines[1:]])
