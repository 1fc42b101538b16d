"""``bp.utils.module_tracker`` (torch.utils.module_tracker): ``ModuleTracker``, a context manager that knows
which modules are running, by their qualified names (``parents``), in the forward and in the backward
(``is_bw``), built on the global module forward hooks and ``autograd.graph.register_multi_grad_hook``.

One difference from torch: the backward hooks use ``mode="any"`` (backprop's ``mode="all"`` calls at the
end of the pass, torch's when the last gradient is ready), so a module with several gradient-requiring
inputs leaves ``parents`` when the first of their gradients is ready rather than the last."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from backprop.autograd import engine
from backprop.autograd.graph import register_multi_grad_hook
from backprop.nn.module_hooks import register_module_forward_hook, register_module_forward_pre_hook
from backprop.tensor import Tensor
from backprop.utils._pytree import tree_flatten

logger = logging.getLogger(__name__)

__all__ = ["ModuleTracker"]


class ModuleTracker:
    """Tracks the module hierarchy while code runs: ``parents`` holds the fully qualified names of the
    modules whose forward (or backward) is running, always with ``"Global"``; ``is_bw`` says whether a
    backward pass is running."""

    parents: set[str]

    def __init__(self) -> None:
        self.parents = {"Global"}
        self._known_modules: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._seen_modules: weakref.WeakSet = weakref.WeakSet()
        self._has_callback = False
        self._hooks: list[Any] = []

    def _maybe_set_engine_callback(self) -> None:
        """Reset ``parents`` when the running backward pass ends."""
        if self._has_callback:
            return
        task = engine.current_task()
        if task is None:
            return

        def callback() -> None:
            self.parents = {"Global"}
            self._has_callback = False

        task.append(callback)
        self._has_callback = True

    @property
    def is_bw(self) -> bool:
        """Whether a backward pass is running on this thread (one that reaches a tracked module's tensors)."""
        return engine.current_task() is not None

    def _get_mod_name(self, mod: Any) -> str:
        if mod not in self._known_modules:
            self._known_modules[mod] = type(mod).__name__
        mod_name = self._known_modules[mod]
        if mod not in self._seen_modules:
            for name, submod in mod.named_children():
                self._known_modules[submod] = f"{mod_name}.{name}"
                self._get_mod_name(submod)
            self._seen_modules.add(mod)
        return str(mod_name)

    def _get_append_fn(self, name: str, is_bw: bool) -> Any:
        def fn(*args: Any) -> None:
            if is_bw:
                self._maybe_set_engine_callback()
            if name in self.parents:
                logger.info(
                    "The module hierarchy tracking seems to be broken as this Module was already entered. %s during %s",
                    name,
                    "backward" if is_bw else "forward",
                )
            self.parents.add(name)

        return fn

    def _get_pop_fn(self, name: str, is_bw: bool) -> Any:
        def fn(*args: Any) -> None:
            if name in self.parents:
                self.parents.remove(name)
            else:
                logger.info(
                    "The Module hierarchy tracking is confused as we're exiting a Module that was never entered. "
                    "%s during %s",
                    name,
                    "backward" if is_bw else "forward",
                )

        return fn

    def _grad_tensors(self, tree: Any) -> list[Tensor]:
        leaves, _ = tree_flatten(tree)
        return [a for a in leaves if isinstance(a, Tensor) and a.requires_grad]

    def _fw_pre_hook(self, mod: Any, input: Any) -> None:
        name = self._get_mod_name(mod)
        self._get_append_fn(name, False)()
        tensors = self._grad_tensors(input)
        if tensors:
            self._hooks.append(register_multi_grad_hook(tensors, self._get_pop_fn(name, True), mode="any"))

    def _fw_post_hook(self, mod: Any, input: Any, output: Any) -> None:
        name = self._get_mod_name(mod)
        self._get_pop_fn(name, False)()
        tensors = self._grad_tensors(output)
        if tensors:
            self._hooks.append(register_multi_grad_hook(tensors, self._get_append_fn(name, True), mode="any"))

    def __enter__(self) -> ModuleTracker:
        self._fw_pre_handle = register_module_forward_pre_hook(self._fw_pre_hook)
        self._fw_post_handle = register_module_forward_hook(self._fw_post_hook)
        return self

    def __exit__(self, *args: Any) -> None:
        self._fw_pre_handle.remove()
        self._fw_post_handle.remove()
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
