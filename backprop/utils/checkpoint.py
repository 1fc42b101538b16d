"""``bp.utils.checkpoint``: activation checkpointing (torch.utils.checkpoint's names).

``checkpoint(fn, *args, use_reentrant=...)`` trades memory for a second forward, as torch's, in its two
flavours:

- ``use_reentrant=True`` (torch's default when the argument is left out, with torch's warning): ``fn``
  runs without recording its graph, keeping only its inputs; the backward pass runs ``fn`` again with
  gradients on and backpropagates through that second run (inside the outer pass). As torch's, only
  the inputs connect the output to the graph: with no input requiring grad nothing does (torch's
  warning), and the parameters used inside get no gradient.
- ``use_reentrant=False``: ``fn`` records its graph as usual, but every tensor its ops save for
  backward goes through saved-tensor hooks that keep an index instead; the first time backward needs
  one, ``fn`` runs again (same random state, ``context_fn``'s recompute context) and the tensors it
  saves are handed back in order. Parameters used inside get their gradients whatever the inputs, and
  keyword arguments and ``context_fn`` work, as torch's.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from backprop import creation
from backprop.autograd.custom import Function
from backprop.autograd.functional import backward as autograd_backward
from backprop.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from backprop.autograd.graph import saved_tensors_hooks
from backprop.tensor import Tensor

__all__ = [
    "CheckpointError",
    "CheckpointFunction",
    "check_backward_validity",
    "checkpoint",
    "checkpoint_sequential",
    "detach_variable",
    "noop_context_fn",
    "set_checkpoint_debug_enabled",
    "set_checkpoint_early_stop",
]


def noop_context_fn() -> tuple[contextlib.nullcontext, contextlib.nullcontext]:
    """torch's default ``context_fn``: no context around the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


class _Checkpoint(Function):
    """The forward without a graph; the backward recomputes it with one and backpropagates."""

    @staticmethod
    def forward(ctx: Any, run_function: Callable[..., Any], preserve_rng_state: bool, *args: Any) -> Any:
        ctx.run, ctx.args = run_function, args
        ctx.rng = creation.get_rng_state() if preserve_rng_state else None
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        with no_grad():
            return run_function(*args)

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


class CheckpointError(RuntimeError):
    """torch's error when a recomputation does not match the original forward."""


_NO_REENTRANT_ARG = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in PyTorch 2.9, "
    "calling checkpoint without use_reentrant will raise an exception. use_reentrant=False is recommended, but if "
    "you need to preserve the current default behavior, you can pass use_reentrant=True. Refer to docs for more "
    "details on the differences between the two variants."
)


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)`` whose activations are recomputed in backward instead of kept (see the
    module docstring for the two flavours). ``preserve_rng_state`` (a keyword, default True) replays the
    random draws; ``determinism_check`` is checked as torch's ("default": the recomputation must save as
    many tensors); ``debug`` and ``early_stop`` change nothing here (the recomputation always runs whole)."""
    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_ARG, UserWarning, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        if is_grad_enabled() and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn(
                "None of the inputs have requires_grad=True. Gradients will be None", UserWarning, stacklevel=2
            )
        return _Checkpoint.apply(function, preserve, *args)
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    return _without_reentrant(function, preserve, context_fn, determinism_check == "default", args, kwargs)


def _without_reentrant(
    function: Callable[..., Any],
    preserve: bool,
    context_fn: Callable[[], tuple[Any, Any]],
    check: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The non-reentrant flavour: the forward's saved tensors are indices into a recomputation."""
    forward_ctx, recompute_ctx = context_fn()
    rng = creation.get_rng_state() if preserve else None
    count = [0]  # tensors the forward saved
    store: dict[int, Any] = {}  # index -> the recomputed tensor, until backward takes it

    def pack(tensor: Any) -> int:
        count[0] += 1
        return count[0] - 1

    def recompute() -> None:
        saved: list[Any] = []

        def keep(t: Any) -> Any:
            saved.append(t)
            return t

        state = None
        if rng is not None:
            state = creation.get_rng_state()
            creation.set_rng_state(rng)
        try:
            with enable_grad(), recompute_ctx, saved_tensors_hooks(keep, lambda t: t):
                function(*args, **kwargs)
        finally:
            if state is not None:
                creation.set_rng_state(state)  # the caller's stream continues where it was
        if check and len(saved) < count[0]:  # (more is fine: torch's early stop ignores what comes after)
            raise CheckpointError(
                "torch.utils.checkpoint: A different number of tensors was saved during the original forward "
                f"and recomputation.\nNumber of tensors saved during forward: {count[0]}\nNumber of tensors saved "
                f"during recomputation: {len(saved)}."
            )
        store.clear()
        store.update(enumerate(saved))

    def unpack(index: int) -> Any:
        if index not in store:  # the first need (or a second backward of a retained graph): run it again
            recompute()
        return store.pop(index)

    with forward_ctx, saved_tensors_hooks(pack, unpack):
        return function(*args, **kwargs)


CheckpointFunction = _Checkpoint  # (torch's name for the reentrant flavour's Function)


def detach_variable(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The tensors of ``inputs`` detached, each with its original ``requires_grad`` (others as they are)."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}")
    out = []
    for inp in inputs:
        if isinstance(inp, Tensor):
            x = inp.detach()
            x.requires_grad = inp.requires_grad
            inp = x
        out.append(inp)
    return tuple(out)


def check_backward_validity(inputs: Iterable[Any]) -> None:
    """torch's warning when no tensor among ``inputs`` requires grad (the reentrant flavour then gives none)."""
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool) -> Iterator[None]:
    """torch's switch for stopping a recomputation once it has what backward needs: accepted, and the
    recomputation here always runs whole (the same values either way)."""
    yield


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled: bool | None) -> Iterator[None]:
    """torch's switch for recording the recomputation's ops for error messages: accepted, no effect here."""
    yield


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
