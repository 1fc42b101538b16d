"""torch.nn.modules.module: ``Module`` and its helpers."""

from backprop.nn.module import Module, _IncompatibleKeys
from backprop.nn.module_hooks import (
    RemovableHandle,
    register_module_buffer_registration_hook,
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_full_backward_hook,
    register_module_full_backward_pre_hook,
    register_module_module_registration_hook,
    register_module_parameter_registration_hook,
)

__all__ = [
    "Module",
    "RemovableHandle",
    "_IncompatibleKeys",
    "_addindent",
    "register_module_buffer_registration_hook",
    "register_module_forward_hook",
    "register_module_forward_pre_hook",
    "register_module_full_backward_hook",
    "register_module_full_backward_pre_hook",
    "register_module_module_registration_hook",
    "register_module_parameter_registration_hook",
]


def _addindent(s_: str, num_spaces: int) -> str:
    """Every line of ``s_`` but the first indented by ``num_spaces`` (torch's repr helper)."""
    lines = s_.split("\n")
    if len(lines) == 1:
        return s_
    return "\n".join([lines[0]] + [" " * num_spaces + line for line in lines[1:]])
