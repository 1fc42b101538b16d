"""torch.nn.utils.weight_norm (deprecated in torch for ``parametrizations.weight_norm``): parameters
``<name>_g`` and ``<name>_v``, and a forward pre-hook that sets ``module.<name> = g * v / ||v||``."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.nn.utils.parametrizations import _norm_except_dim, _weight_norm
from backprop.tensor import Tensor

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]

T_module = TypeVar("T_module", bound=Module)


def _pre_hooks(module: Module) -> Any:
    """The module's forward pre-hook table: {handle id: (hook, flags)} (empty when it has none)."""
    return module.__dict__.get("_hooks", {}).get("forward_pre", {})


class WeightNorm:
    """The forward pre-hook: recomputes ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    name: str
    dim: int

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        """Replace parameter ``name`` by ``name_g`` (its norm over every dim but ``dim``) and ``name_v`` (it)."""
        warnings.warn(
            "`torch.nn.utils.weight_norm` is deprecated in favor of `torch.nn.utils.parametrizations.weight_norm`.",
            FutureWarning,
            stacklevel=3,
        )
        for hook, _ in _pre_hooks(module).values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight.detach(), 2, fn.dim)))
        module.register_parameter(name + "_v", Parameter(weight.detach()))  # shares the weight's memory, as torch
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Reparametrize ``module.<name>`` as g * v / ||v|| through parameters ``<name>_g``, ``<name>_v`` and
    a forward pre-hook (torch's deprecated form: it warns with a FutureWarning, as torch)."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo ``weight_norm``: ``module.<name>`` becomes a plain parameter with its current value."""
    table = _pre_hooks(module)
    for k, (hook, _) in list(table.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del table[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
