"""``bp.utils.hooks`` (torch.utils.hooks): the hook handle and the serialisation markers user code imports.

``RemovableHandle`` is the one ``nn.Module`` and optimizers return (``backprop/nn/module_hooks.py``).
torch's ``BackwardHook`` (module full-backward-hook plumbing) is not here: modules run theirs themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from backprop.nn.module_hooks import RemovableHandle

__all__ = ["RemovableHandle", "unserializable_hook", "warn_if_has_hooks"]

F = TypeVar("F", bound=Callable[..., Any])


def unserializable_hook(f: F) -> F:
    """Mark ``f`` as a hook that is not meant to be saved, silencing ``warn_if_has_hooks`` for it."""
    f.__torch_unserializable__ = True  # type: ignore[attr-defined]
    return f


def _backward_hooks(tensor: Any) -> list[Any]:
    """The gradient hooks registered on ``tensor``: a leaf keeps them itself, a non-leaf on its grad_fn."""
    node = getattr(tensor, "grad_fn", None)
    found = list(getattr(node, "hooks", None) or []) if node is not None else []
    found += [h for h in (getattr(tensor, "_hooks", None) or []) if callable(h)]
    return [h for h in found if type(h).__name__ not in ("PostAccumulateGradHook", "AccumulateGradHook")]


def warn_if_has_hooks(tensor: Any) -> None:
    """Warn (UserWarning, as torch) for each gradient hook on ``tensor`` not marked ``@unserializable_hook``:
    saving a tensor never saves its hooks."""
    for hook in _backward_hooks(tensor):
        if not hasattr(hook, "__torch_unserializable__"):
            warnings.warn(
                f"backward hook {hook!r} on tensor will not be serialized.  If this is expected, you can "
                "decorate the function with @backprop.utils.hooks.unserializable_hook to suppress this warning",
                stacklevel=2,
            )
