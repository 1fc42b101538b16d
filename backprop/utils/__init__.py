"""torch.utils's names: ``bp.utils.data`` (datasets, samplers, ``DataLoader``), ``bp.utils.checkpoint``
(activation checkpointing), ``_pytree``, ``hooks``, ``benchmark`` and (loaded when first used, so that
``python -m backprop.utils.collect_env`` runs it cleanly) ``collect_env``; ``dlpack``, ``flop_counter``,
``model_zoo``, ``weak``, ``deterministic``, ``module_tracker`` and ``cpp_extension`` (refusals) load when
first used too, and so does ``tensorboard`` (``SummaryWriter``; it needs the optional ``tensorboard``
package, so it stays out of ``__all__``: a star import must not require it)."""

from typing import Any

from backprop.utils import _pytree as _pytree  # torch.utils._pytree (private in torch too)
from backprop.utils import benchmark, checkpoint, data, hooks

__all__ = [
    "benchmark",
    "checkpoint",
    "collect_env",
    "data",
    "deterministic",
    "dlpack",
    "flop_counter",
    "hooks",
    "model_zoo",
    "module_tracker",
    "swap_tensors",
    "weak",
]


def __getattr__(name: str) -> Any:
    if name in (
        "collect_env",
        "cpp_extension",
        "deterministic",
        "dlpack",
        "flop_counter",
        "model_zoo",
        "module_tracker",
        "tensorboard",
        "weak",
    ):
        import importlib

        return importlib.import_module(f"backprop.utils.{name}")
    if name == "swap_tensors":  # torch.utils.swap_tensors
        from backprop.utils._swap import swap_tensors

        return swap_tensors
    raise AttributeError(f"module 'backprop.utils' has no attribute {name!r}")
