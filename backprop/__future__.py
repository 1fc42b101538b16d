"""``bp.__future__`` (torch.__future__): the two switches that change how ``Module.to()``/``float()``/``cuda()``
& co. store converted parameters. Off (the default), the converted values go into the existing Parameter
objects (torch's ``param.data = ...``); with overwrite on, the module gets new Parameter objects; with swap
on (it takes precedence), ``bp.utils.swap_tensors`` exchanges the old objects' contents with the new ones,
so every reference to a parameter or its ``.grad`` sees the converted tensor."""

_overwrite_module_params_on_conversion: bool = False
_swap_module_params_on_conversion: bool = False

__all__ = [
    "get_overwrite_module_params_on_conversion",
    "get_swap_module_params_on_conversion",
    "set_overwrite_module_params_on_conversion",
    "set_swap_module_params_on_conversion",
]


def set_overwrite_module_params_on_conversion(value: bool) -> None:
    """Whether a module conversion assigns new Parameter objects instead of updating the existing ones."""
    global _overwrite_module_params_on_conversion
    _overwrite_module_params_on_conversion = value


def get_overwrite_module_params_on_conversion() -> bool:
    """The overwrite switch (False by default)."""
    return _overwrite_module_params_on_conversion


def set_swap_module_params_on_conversion(value: bool) -> None:
    """Whether a module conversion swaps the converted tensors into the existing Parameter objects with
    ``bp.utils.swap_tensors`` (takes precedence over the overwrite switch)."""
    global _swap_module_params_on_conversion
    _swap_module_params_on_conversion = value


def get_swap_module_params_on_conversion() -> bool:
    """The swap switch (False by default)."""
    return _swap_module_params_on_conversion
