"""User-defined differentiable functions: torch's ``autograd.Function``.

A subclass gives ``forward(ctx, *args)`` (or ``forward(*args)`` plus ``setup_context(ctx, inputs,
output)``) and ``backward(ctx, *grad_outputs)``; ``MyFn.apply(*args)`` runs the forward without
recording and ties its outputs to its Tensor inputs through one Node, whose backward rule calls the
user's ``backward`` once with the gradients of every output. Each subclass gets its own op (named
after the class, so ``grad_fn`` reads ``<MyFnBackward>``); the user's context rides on the Node as
its ``aux``, so the engine frees it after a backward (a second one raises, naming ``retain_graph``)
and ``create_graph=True`` runs the user's backward on Tensors, recording it for double backward.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from backprop import dtypes as _dtypes
from backprop.autograd import trace
from backprop.autograd.function import apply, modified_error
from backprop.autograd.grad_mode import no_grad, set_grad_enabled, state
from backprop.registry import OpDef

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "grad_fn") and hasattr(x, "_data")


def _version(t: Any) -> int:
    return int(t._version if t._base is None else t._base._version)


class FunctionCtx:
    """The ``ctx`` a custom Function's forward fills and its backward reads (torch's names)."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self.to_save: tuple[Any, ...] = ()
        self._versions: tuple[int, ...] = ()
        self.non_differentiable: set[int] = set()
        self._released = False
        self._outputs_saved: dict[int, int] = {}  # saved position -> output position
        self._graph_saved: tuple[Any, ...] | None = None  # create_graph: outputs as recorded tensors

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep these tensors (or None) for backward; in-place changes before backward are errors."""
        for t in tensors:
            if t is not None and not _is_tensor(t):
                raise TypeError(f"save_for_backward can only save tensors or None, got {type(t).__name__}")
        self.to_save = tensors
        self._versions = tuple(-1 if t is None else _version(t) for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self._released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors after they "
                "have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
                "graph a second time or if you need to access saved tensors after calling backward."
            )
        for t, v in zip(self.to_save, self._versions):
            if t is not None and _version(t) != v:
                raise modified_error(t, v, t.grad_fn)
        return self.to_save if self._graph_saved is None else self._graph_saved

    saved_variables = saved_tensors

    def save_for_forward(self, *tensors: Any) -> None:
        """Keep these tensors (or None) for ``jvp``. Forward mode here differentiates the backward, so ``jvp``
        reads them as ``saved_tensors`` when nothing was saved for backward."""
        for t in tensors:
            if t is not None and not _is_tensor(t):
                raise AssertionError(
                    "save_for_forward expects all arguments to be tensors; you should save non-tensors as "
                    "attributes on ctx."
                )
        if not self.to_save:
            self.save_for_backward(*tensors)

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """These outputs get no gradient (their ``requires_grad`` is False)."""
        self.non_differentiable |= {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """False: gradients of unused outputs reach backward as None instead of zeros."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Any) -> None:
        raise NotImplementedError(
            "mark_dirty: custom Functions that modify their inputs in place are not supported; return a new tensor"
        )


def _forward_kernel(xp: Any, *arrays: Any, call: Any = None) -> Any:
    """The op's forward: the user's forward already ran, so it hands over the packed output and
    the context (as aux)."""
    return call.packed, call.ctx


def _rule(ctx: Any, gy: Any) -> tuple[Any, ...]:
    """The op's backward: split the gradient per output, call the user's backward once, and return
    the gradients of the Tensor inputs."""
    call = ctx.attrs["call"]
    user = ctx.aux
    if user is None:
        user = call.ctx  # a retained graph keeps the context; the engine's aux copy may be gone
    if call.ctx._released:
        _ = call.ctx.saved_tensors  # raises torch's "backward through the graph a second time"
    graph = ctx.graph_xp is not None
    first = call.tensor_inputs[0]
    wrap = (lambda a: a) if graph else (lambda a: first._wrap(a, first.device, None))
    grads = call.split(gy, wrap)
    if not user.materialize_grads:
        grads = tuple(g if used else None for g, used in zip(grads, call.used))
    if graph and user._outputs_saved:  # a saved output must carry its own grad_fn (double backward)
        whole = ctx.wrap(call.packed, first.device, ctx)
        saved = list(user.to_save)
        for pos, k in user._outputs_saved.items():
            if call.single:
                saved[pos] = whole
            else:
                o, n, shape, dt = call.slots[k]
                piece = whole[o : o + n].reshape(shape)
                saved[pos] = piece if piece.dtype == dt else piece.to(dt)
        _ = user.saved_tensors  # the version checks
        user._graph_saved = tuple(saved)
    try:
        if graph and _only_jvp(call.fn):
            out = _backward_from_jvp(call, user, grads)
        else:
            with set_grad_enabled(graph):
                out = call.fn.backward(user, *grads)
    finally:
        user._graph_saved = None
    out = out if isinstance(out, tuple) else (out,)
    n_args = len(call.is_tensor_arg)
    if len(out) < n_args or any(g is not None for g in out[n_args:]):
        raise RuntimeError(
            f"function {call.fn.__name__}Backward returned an incorrect number of gradients (expected {n_args}, "
            f"got {len(out)})"
        )
    if ctx.aux_consumable:
        call.ctx._released = True  # no retain_graph: the engine frees the graph after this backward
    result: list[Any] = []
    for g, is_tensor in zip(out, call.is_tensor_arg):
        if not is_tensor:
            if g is not None:
                raise RuntimeError(
                    f"function {call.fn.__name__}Backward returned a gradient different than None for an argument "
                    "that is not a Tensor"
                )
            continue
        if g is not None and not _is_tensor(g):
            raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
        if g is not None:
            shape = tuple(call.tensor_inputs[len(result)].shape)
            if tuple(g.shape) != shape and not _expandable(shape, tuple(g.shape)):
                raise RuntimeError(
                    f"Function {call.fn.__name__}Backward returned an invalid gradient at index {len(result)} - got "
                    f"{list(g.shape)} but expected shape compatible with {list(shape)}"
                )
        result.append(g if (g is None or graph) else g._data)
    return tuple(result)


def _only_jvp(fn: type) -> bool:
    """A Function that defines ``jvp`` (forward mode) and neither ``backward`` nor ``vjp``."""
    names = _defined(fn)
    return "jvp" in names and not names & {"backward", "vjp"}


def _backward_from_jvp(call: Any, user: Any, grads: tuple) -> tuple:
    """The recorded backward of a Function that gives only ``jvp``. Forward mode here is the derivative of a
    vector-Jacobian product in its ``grad_output`` (``forward_ad._jvp``), so such a Function needs J^T u with
    its graph in u: the transpose of the user's linear ``jvp``, the gradient of <jvp(t), u> in placeholder
    tangents t. ``jvp`` runs once per forward (torch's runs once, and it may ``del`` what it read from ctx)."""
    from backprop.autograd.functional import grad

    cached = user.__dict__.get("_jvp_graph")
    if cached is None:
        tangents = [x.detach().new_zeros(x.shape).requires_grad_(True) for x in call.tensor_inputs]
        it = iter(tangents)
        with set_grad_enabled(True):
            outs = call.fn.jvp(user, *(next(it) if t else None for t in call.is_tensor_arg))
        cached = user._jvp_graph = (tangents, outs if isinstance(outs, (tuple, list)) else (outs,))
    tangents, outs = cached
    pairs = [(o, g) for o, g in zip(outs, grads) if _is_tensor(o) and o.requires_grad and g is not None]
    if not pairs:
        return tuple(None for _ in call.is_tensor_arg)
    gs = iter(grad([o for o, _ in pairs], tangents, [g for _, g in pairs], True, True, allow_unused=True))
    return tuple(next(gs) if t else None for t in call.is_tensor_arg)


def _expandable(shape: tuple, to: tuple) -> bool:
    """True when ``shape`` broadcasts to ``to`` (a gradient of shape ``to`` sums back to ``shape``)."""
    if len(shape) > len(to):
        return False
    return all(a == b or a == 1 for a, b in zip(shape[::-1], to[::-1]))


class _Call:
    """What one ``apply`` hands its Node: the user's function and context, the packed outputs and
    how to split a gradient of the packing back into one gradient per output."""

    def __init__(self, fn: type[Function], ctx: FunctionCtx, tensor_inputs: list, is_tensor_arg: tuple) -> None:
        self.fn, self.ctx = fn, ctx
        self.tensor_inputs, self.is_tensor_arg = tensor_inputs, is_tensor_arg
        self.packed: Any = None
        self.slots: list[tuple[int, int, tuple | None, Any]] = []  # per output: offset, size, shape, dtype
        self.used: list[bool] = []
        self.single = True

    def split(self, gy: Any, wrap: Callable[[Any], Any]) -> tuple[Any, ...]:
        if self.single:
            return (wrap(gy),)
        pieces = [None if shape is None else gy[o : o + n].reshape(shape) for o, n, shape, _ in self.slots]
        if _is_tensor(gy):  # create_graph: Tensors, recorded
            return tuple(p if p is None or p.dtype == dt else p.to(dt) for p, (_, _, _, dt) in zip(pieces, self.slots))
        return tuple(
            None if p is None else wrap(p.astype(dt, copy=False)) for p, (_, _, _, dt) in zip(pieces, self.slots)
        )


class Function:
    """Base class of user-defined differentiable functions (``torch.autograd.Function``): write
    ``forward`` and ``backward`` as staticmethods, call ``MyFn.apply(...)``."""

    _op: OpDef | None = None

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom autograd.Function to use it "
            "with backward mode AD."
        )

    vjp = backward

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use new-style autograd "
            "function with static forward method. (Example: https://pytorch.org/docs/stable/autograd.html"
            "#torch.autograd.Function)"
        )

    @classmethod
    def _opdef(cls) -> OpDef:
        op = cls.__dict__.get("_op")
        if op is None:
            op = OpDef(cls.__name__, _forward_kernel, aux=True)
            op.defvjp(_rule)
            cls._op = op
        return op

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and connect its outputs to the Tensor arguments for backward."""
        separate = "setup_context" in _defined(cls)  # torch's newer style: forward takes no ctx
        if separate:  # torch binds the arguments to forward's signature, defaults filled in, all positional
            bound = _signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, {}
        is_tensor_arg = tuple(_is_tensor(a) for a in args)
        tensors = [a for a, t in zip(args, is_tensor_arg) if t]
        needs = tuple(t and a.requires_grad for a, t in zip(args, is_tensor_arg))
        ctx = FunctionCtx(needs)
        with no_grad():
            if separate:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        if not (state.enabled and any(needs)):
            return output
        if (tr := trace.tracer()) is not None:
            tr.fail(f"the custom autograd.Function {cls.__name__} runs Python in its forward and backward")
        return _connect(cls, ctx, output, tensors, is_tensor_arg)


@functools.lru_cache(maxsize=256)
def _signature(forward: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(forward)


def _defined(cls: type) -> set[str]:
    """Names a Function subclass (or a base between it and Function) defines itself."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is Function:
            break
        names |= set(klass.__dict__)
    return names


def _connect(cls: type[Function], ctx: FunctionCtx, output: Any, tensors: list, is_tensor_arg: tuple) -> Any:
    """Tie the differentiable outputs to the inputs through one Node; others stay constants."""
    single = _is_tensor(output)
    outs = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) else None
    if outs is None:
        kind = type(output).__name__
        raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple of Tensors, got {kind}")
    diff = [
        i
        for i, o in enumerate(outs)
        if _is_tensor(o) and _dtypes.kind(o._data.dtype) in "fc" and id(o) not in ctx.non_differentiable
    ]
    if not diff:
        return output
    call = _Call(cls, ctx, tensors, is_tensor_arg)
    position = {id(o): i for i, o in enumerate(outs)}
    # (only differentiable outputs: a non-differentiable one, such as sort's indices, is a zero slice of the
    # packed buffer and keeps its own values)
    ctx._outputs_saved = {p: position[id(t)] for p, t in enumerate(ctx.to_save) if position.get(id(t)) in diff}
    first = outs[diff[0]]
    xp = first.device.xp
    if len(diff) == 1 and len(outs) == 1:
        call.packed = first._data
        return apply(cls._opdef(), *tensors, call=call)
    # several differentiable outputs: one flat array holds them all, each output is a slice of it,
    # so their gradients meet in one buffer and the user's backward runs once
    call.single = False
    dtype = first._data.dtype
    for i in diff:
        dtype = xp.promote_types(dtype, outs[i]._data.dtype)
    offset = 0
    for i, o in enumerate(outs):
        if not _is_tensor(o):  # a non-tensor output (a number, None): its gradient is None
            call.slots.append((offset, 0, None, None))
            call.used.append(False)
            continue
        n = int(o._data.size)
        call.slots.append((offset, n, tuple(o._data.shape), o._data.dtype))
        call.used.append(i in diff)
        offset += n
    pieces = [
        xp.ravel(o._data).astype(dtype) if i in diff else xp.zeros(o._data.size, dtype)
        for i, o in enumerate(outs)
        if _is_tensor(o)
    ]
    call.packed = xp.concatenate(pieces) if pieces else xp.zeros(0, dtype)
    packed = apply(cls._opdef(), *tensors, call=call)
    result = list(outs)
    for i in diff:
        o, n, shape, dt = call.slots[i]
        piece = packed[o : o + n].reshape(shape)
        result[i] = piece if piece.dtype == dt else piece.to(dt)
    return tuple(result) if isinstance(output, tuple) else result


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for a Function's ``backward``: it runs without recording, so a double backward
    through it raises instead of giving a wrong (zero) second derivative."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        with no_grad():
            out = fn(ctx, *grads)
        anchors = [g for g in grads if getattr(g, "requires_grad", False)]
        if not (state.enabled and anchors):
            return out
        # the results depend on gradients that require grad: tie them to those through a node
        # whose backward raises (torch's DelayedError), instead of leaving them constants
        if isinstance(out, tuple):
            return tuple(None if g is None else _DoubleBackwardRefused.apply(g, *anchors) for g in out)
        return None if out is None else _DoubleBackwardRefused.apply(out, *anchors)

    return wrapper


class _DoubleBackwardRefused(Function):
    """Identity whose backward raises: marks a gradient computed by a once_differentiable backward."""

    @staticmethod
    def forward(ctx: Any, g: Any, *anchors: Any) -> Any:
        return g.clone()

    @staticmethod
    def backward(ctx: Any, gg: Any) -> Any:
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")
