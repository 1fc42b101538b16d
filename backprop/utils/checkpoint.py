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
  one, ``fn`` runs again (same random state and autocast state, ``context_fn``'s recompute context) and the tensors it
  saves are handed back in order. Parameters used inside get their gradients whatever the inputs, and
  keyword arguments and ``context_fn`` work, as torch's.

Selective checkpointing (``context_fn=partial(create_selective_checkpoint_contexts, policy)``) takes torch's
policies and gives torch's values and gradients, with every op recomputed: there is no op dispatch to
cache single ops' outputs at, so MUST_SAVE and PREFER_SAVE act as PREFER_RECOMPUTE (README: differences).
"""

from __future__ import annotations

import contextlib
import enum
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from backprop import creation
from backprop.amp import (
    autocast,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_cache_enabled,
    is_autocast_enabled,
)
from backprop.autograd.custom import Function
from backprop.autograd.functional import backward as autograd_backward
from backprop.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from backprop.autograd.graph import saved_tensors_hooks
from backprop.tensor import Tensor

__all__ = [
    "CheckpointError",
    "CheckpointFunction",
    "CheckpointPolicy",
    "DefaultDeviceType",
    "SelectiveCheckpointContext",
    "check_backward_validity",
    "checkpoint",
    "checkpoint_sequential",
    "create_selective_checkpoint_contexts",
    "detach_variable",
    "get_device_states",
    "noop_context_fn",
    "set_checkpoint_debug_enabled",
    "set_checkpoint_early_stop",
    "set_device_states",
]


def noop_context_fn() -> tuple[contextlib.nullcontext, contextlib.nullcontext]:
    """torch's default ``context_fn``: no context around the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def _autocast_now(args: Iterable[Any]) -> list[autocast]:
    """The autocast regions the forward ran in (on the CPU and the inputs' devices), to recompute in: torch's
    checkpoint recomputes under the forward's autocast state, whatever the state backward runs in."""
    kinds = {"cpu"} | {a.device.type for a in args if isinstance(a, Tensor)}
    return [
        autocast(
            d, dtype=get_autocast_dtype(d), enabled=is_autocast_enabled(d), cache_enabled=is_autocast_cache_enabled()
        )
        for d in sorted(kinds)
        if is_autocast_available(d) and (is_autocast_enabled(d) or d == "cpu")
    ]


class _Checkpoint(Function):
    """The forward without a graph; the backward recomputes it with one and backpropagates."""

    @staticmethod
    def forward(ctx: Any, run_function: Callable[..., Any], preserve_rng_state: bool, *args: Any) -> Any:
        ctx.run, ctx.args = run_function, args
        ctx.rng = creation.get_rng_state() if preserve_rng_state else None
        ctx.autocast = _autocast_now(args)
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
            with enable_grad(), contextlib.ExitStack() as regions:
                for region in ctx.autocast:
                    regions.enter_context(region)
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
    regions = _autocast_now([*args, *kwargs.values()])
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
            with enable_grad(), recompute_ctx, saved_tensors_hooks(keep, lambda t: t), contextlib.ExitStack() as on:
                for region in regions:
                    on.enter_context(region)
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


_NO_REENTRANT_ARG_SEQUENTIAL = (
    "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed explicitly. "
    "In version 2.9 we will raise an exception if use_reentrant is not passed. use_reentrant=False is "
    "recommended, but if you need to preserve the current default behavior, you can pass use_reentrant=True. "
    "Refer to docs for more details on the differences between the two variants."
)


def checkpoint_sequential(
    functions: Any, segments: int, input: Any, use_reentrant: bool | None = None, **kwargs: Any
) -> Any:
    """Run a Sequential (or a list of modules) as torch's: ``segments - 1`` checkpointed chunks of
    ``len // segments`` modules each, then the rest without checkpointing. Only ``preserve_rng_state`` is
    taken as a keyword (torch's ValueError for others)."""
    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_ARG_SEQUENTIAL, UserWarning, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    from backprop.nn import Sequential

    mods: Any = list(functions.children()) if isinstance(functions, Sequential) else functions

    def run(chunk: Iterable[Any]) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for m in chunk:
                x = m(x)
            return x

        return forward

    size = len(mods) // segments
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        chunk = [mods[j] for j in range(start, end)]
        input = checkpoint(run(chunk), input, use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run([mods[j] for j in range(end, len(mods))])(input)


class CheckpointPolicy(enum.Enum):
    """What selective checkpointing does with an op's output: save it (``*_SAVE``), recompute it in backward
    (``*_RECOMPUTE``) or offload it (``*_CPU_OFFLOAD``); ``MUST_*`` may not be overridden by a compiler.
    Here every op is recomputed whatever the policy (see the module docstring)."""

    MUST_SAVE = 0
    PREFER_SAVE = 1
    MUST_RECOMPUTE = 2
    PREFER_RECOMPUTE = 3
    MUST_CPU_OFFLOAD = 4
    PREFER_CPU_OFFLOAD = 5


class SelectiveCheckpointContext:
    """What a selective checkpointing policy function gets as ``ctx`` (``is_recompute``, ``op_output``)."""

    def __init__(self, *, is_recompute: bool, op_output: Any = None) -> None:
        self.is_recompute = is_recompute
        self.op_output = op_output


class _SelectiveCheckpointMode(contextlib.AbstractContextManager):
    """The forward's (caching) or the recomputation's (cached) context of ``create_selective_checkpoint_contexts``:
    it holds the policy; the recomputation reruns every op (values and gradients are the same)."""

    def __init__(self, policy_fn: Callable[..., Any] | None, allow_cache_entry_mutation: bool = False) -> None:
        self.policy_fn = policy_fn
        self.allow_cache_entry_mutation = allow_cache_entry_mutation

    def __exit__(self, *exc: Any) -> None:
        return None


def create_selective_checkpoint_contexts(
    policy_fn_or_list: Callable[..., Any] | list[Any], allow_cache_entry_mutation: bool = False
) -> tuple[_SelectiveCheckpointMode, _SelectiveCheckpointMode]:
    """``checkpoint``'s ``context_fn`` for selective checkpointing (``partial(create_selective_checkpoint_contexts,
    policy)``): a policy function ``(ctx, op, *args, **kwargs) -> CheckpointPolicy`` or a list of ops to save.
    Checked as torch's; here every op is recomputed (the module docstring says why)."""
    if isinstance(policy_fn_or_list, list):
        ops = policy_fn_or_list

        def policy_fn(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> CheckpointPolicy:
            return CheckpointPolicy.MUST_SAVE if op in ops else CheckpointPolicy.PREFER_RECOMPUTE

    elif callable(policy_fn_or_list):
        policy_fn = policy_fn_or_list
    else:
        raise TypeError("policy_fn_or_list must be either a function or a list of ops.")
    return _SelectiveCheckpointMode(policy_fn), _SelectiveCheckpointMode(None, allow_cache_entry_mutation)


class DefaultDeviceType:
    """The device type whose random state checkpointing keeps when no input is on an accelerator."""

    _default_device_type: str | None = None

    @staticmethod
    def set_device_type(device: str = "cuda") -> None:
        DefaultDeviceType._default_device_type = device

    @staticmethod
    def get_device_type() -> str:
        """The type set, else "cuda" where CUDA is usable, else "cpu" (torch's current accelerator rule)."""
        if not DefaultDeviceType._default_device_type:
            from backprop import cuda

            DefaultDeviceType._default_device_type = "cuda" if cuda.is_available() else "cpu"
        return DefaultDeviceType._default_device_type


def get_device_states(*args: Any) -> tuple[list[int], list[Any]]:
    """(the device indices of the accelerator tensors among ``args``, each one's random state), as torch's."""
    from backprop import cuda
    from backprop.utils._pytree import tree_leaves

    ids = [a.get_device() for a in tree_leaves(args) if isinstance(a, Tensor) and a.device.type not in ("cpu", "meta")]
    return ids, [cuda.get_rng_state(i) for i in ids]


def set_device_states(devices: list[int], states: list[Any], *, device_type: str | None = None) -> None:
    """Restore the random states ``get_device_states`` gave (of ``device_type``: the default device type)."""
    from backprop import cuda

    if device_type is None:
        device_type = DefaultDeviceType.get_device_type()
    if device_type == "meta":
        return
    for device, state in zip(devices, states):
        cuda.set_rng_state(state, device)
