"""``bp.utils.checkpoint``: activation checkpointing (torch.utils.checkpoint's names).

``checkpoint(fn, *args)`` runs ``fn`` without recording its graph, keeping only its inputs; the
backward pass runs ``fn`` again with gradients on (from the same random-number state, so dropout draws
the same masks) and backpropagates through that second run. Memory for ``fn``'s intermediate
activations is traded for a second forward, as torch's. Both of torch's flavours give the same
gradients; this one is the reentrant kind (the recomputed graph's backward runs inside the outer one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from backprop import creation
from backprop.autograd.custom import Function
from backprop.autograd.functional import backward as autograd_backward
from backprop.autograd.grad_mode import enable_grad, no_grad
from backprop.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "noop_context_fn"]


def noop_context_fn() -> tuple[contextlib.nullcontext, contextlib.nullcontext]:
    """torch's default ``context_fn``: no context around the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


class _Checkpoint(Function):
    """The forward without a graph; the backward recomputes it with one and backpropagates."""

    @staticmethod
    def forward(ctx: Any, run: Callable[..., Any], preserve_rng: bool, *args: Any) -> Any:
        ctx.run, ctx.args = run, args
        ctx.rng = creation.get_rng_state() if preserve_rng else None
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        with no_grad():
            return run(*args)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        saved = iter(ctx.saved_tensors)
        inputs = []
        for a in ctx.args:
            if isinstance(a, Tensor):
                t = next(saved).detach()
                t.requires_grad_(a.requires_grad)
                inputs.append(t)
            else:
                inputs.append(a)
        state = None
        if ctx.rng is not None:
            state = creation.get_rng_state()
            creation.set_rng_state(ctx.rng)
        try:
            with enable_grad():
                outputs = ctx.run(*inputs)
        finally:
            if state is not None:
                creation.set_rng_state(state)  # the caller's stream continues where it was
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outs, grads) if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if pairs:
            autograd_backward([o for o, _ in pairs], [g for _, g in pairs])
        grads_in = tuple(t.grad if isinstance(t, Tensor) else None for t in inputs)
        return (None, None, *grads_in)


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)`` whose activations are recomputed in backward instead of kept.
    ``use_reentrant`` (either value) gives the same results here; ``context_fn``/``determinism_check``/
    ``debug``/``early_stop`` are accepted for torch's signature."""
    if kwargs:
        return checkpoint(lambda *a: function(*a, **kwargs), *args, preserve_rng_state=preserve_rng_state)
    return _Checkpoint.apply(function, preserve_rng_state, *args)


def checkpoint_sequential(
    functions: Any, segments: int, input: Any, use_reentrant: bool | None = None, **kwargs: Any
) -> Any:
    """Run a Sequential (or a list of modules) in ``segments`` checkpointed chunks; the last runs normally."""
    mods: list[Any] = list(functions.children()) if hasattr(functions, "children") else list(functions)
    size = max(len(mods) // segments, 1)

    def run(chunk: Iterable[Any]) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for m in chunk:
                x = m(x)
            return x

        return forward

    end = 0
    for start in range(0, len(mods) - size, size):
        end = start + size
        input = checkpoint(run(mods[start:end]), input, use_reentrant=use_reentrant, **kwargs)
    return run(mods[end:])(input)
