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

import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from backprop import dtypes as _dtypes
from backprop.autograd import trace
from backprop.autograd.function import (
    _retire,
    _write_through_view,
    apply,
    bump_version,
    carry_retained,
    modified_error,
)
from backprop.autograd.grad_mode import no_grad, set_grad_enabled, state
from backprop.registry import OpDef

__all__ = ["Function", "FunctionCtx", "once_differentiable"]

# > 0 while forward-mode AD records its vector-Jacobian products (``forward_ad._jvp``, ``func.jvp``, ``jacfwd``):
# a Function that defines ``jvp`` then records the transpose of its ``jvp`` in place of its ``backward``, so the
# tangents are its ``jvp``'s, as torch's forward mode gives
_forward_mode = [0]


@contextlib.contextmanager
def forward_mode(on: bool = True) -> Iterator[None]:
    """Record the backward passes inside as forward-mode AD's (``on``), or as reverse mode's (not ``on``)."""
    before = _forward_mode[0]
    _forward_mode[0] = before + 1 if on else 0
    try:
        yield
    finally:
        _forward_mode[0] = before


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "grad_fn") and hasattr(x, "_data")


def _version(t: Any) -> int:
    return int(t._version)


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
        self.dirty_tensors: tuple[Any, ...] = ()

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep these tensors (or None) for backward; in-place changes before backward are errors."""
        for i, t in enumerate(tensors):
            if t is not None and not _is_tensor(t):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {i} is of type {type(t).__name__}"
                )
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
        """Keep these tensors (or None) for ``jvp``, which reads them as ``saved_tensors`` (when nothing was
        saved for backward: the two share one list here)."""
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
        """These inputs were changed in place by forward, which returns them: each returned one is the same
        Tensor object, its version moved on and its history now this Function (torch's in-place Functions)."""
        self.dirty_tensors = tensors


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
        if (graph or _forward_mode[0]) and _uses_jvp(call.fn):  # (jacfwd's passes record no graph)
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


def _uses_jvp(fn: type) -> bool:
    """Whether a recorded backward of ``fn`` is the transpose of its ``jvp``: while forward-mode AD records
    (``_forward_mode``) when it defines ``jvp``, always when it defines ``jvp`` and neither ``backward`` nor ``vjp``."""
    names = _defined(fn)
    return "jvp" in names and (_forward_mode[0] > 0 or not names & {"backward", "vjp"})


def _backward_from_jvp(call: Any, user: Any, grads: tuple) -> tuple:
    """The recorded backward of a Function, made from its ``jvp``. Forward mode here is the derivative of a
    vector-Jacobian product in its ``grad_output`` (``forward_ad._jvp``), so the tangents are the Function's
    ``jvp``'s when that product is J^T u with its graph in u for the user's linear ``jvp``: the gradient of
    <jvp(t), u> in placeholder tangents t (None for an input that is not floating point, as torch passes no
    tangent there). ``jvp`` runs once per forward (torch's runs once, and it may ``del`` what it read from
    ctx); Functions it calls differentiate by their own backward (their jvp's transpose would call jvp again)."""
    from backprop.autograd.functional import grad

    cached = user.__dict__.get("_jvp_graph")
    if cached is None:
        with forward_mode(False), set_grad_enabled(True):
            leaves = [
                x.detach().new_zeros(x.shape).requires_grad_(True) if _dtypes.kind(x._data.dtype) in "fc" else None
                for x in call.tensor_inputs
            ]
            # (clones: a jvp of a Function that marked an input dirty changes that tangent in place)
            tangents = [None if p is None else p.clone() for p in leaves]
            versions = [None if t is None else t._version for t in tangents]
            it = iter(tangents)
            outs = call.fn.jvp(user, *(next(it) if t else None for t in call.is_tensor_arg))
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        for pos, k in call.dirty.items():
            if tangents[k] is None or pos >= len(outs):
                continue
            o = outs[pos]
            if not _is_tensor(o) or o._version == versions[k]:
                raise RuntimeError(
                    "An inplace custom Function is not modifying the forward mode gradients inplace. If the forward "
                    "is modifying an input inplace, then the jvp function must modify the corresponding gradient "
                    "inplace."
                )
            if o is not tangents[k]:
                raise RuntimeError(
                    "An inplace custom Function is not returning the forward mode gradients as-is. If the forward "
                    "is modifying an input inplace, then the jvp function must modify the gradient inplace and "
                    "return it as-is."
                )
        cached = user._jvp_graph = ([p for p in leaves if p is not None], outs)
    leaves, outs = cached
    pairs = [(o, g) for o, g in zip(outs, grads) if _is_tensor(o) and o.requires_grad and g is not None]
    if not pairs or not leaves:
        return tuple(None for _ in call.is_tensor_arg)
    with forward_mode(False):
        gs = iter(grad([o for o, _ in pairs], leaves, [g for _, g in pairs], True, True, allow_unused=True))
    result: list[Any] = []
    for x, t in zip(call.tensor_inputs, call.is_tensor_arg):
        if t:
            result.append(next(gs) if _dtypes.kind(x._data.dtype) in "fc" else None)
    it = iter(result)
    return tuple(next(it) if t else None for t in call.is_tensor_arg)


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
        self.dirty: dict[int, int] = {}  # output position -> tensor input position, for inputs marked dirty

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

    generate_vmap_rule = False  # (torch's flag; backprop's vmap applies the Function slice by slice either way)

    @staticmethod
    def vmap(info: Any, in_dims: Any, *args: Any) -> Any:
        """torch's batching rule hook. ``bp.vmap`` runs a Function once per slice, so it never needs one; calling
        this base version raises torch's error, as torch's does."""
        raise NotImplementedError(
            "To use autograd.Function with vmap, you must either override the vmap staticmethod or set "
            "generate_vmap_rule=True."
        )

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom autograd.Function to use it "
            "with backward mode AD."
        )

    vjp = backward

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"{self.__class__} should not be instantiated. Methods on autograd functions are all static, so you "
            "should invoke them on the class itself. Instantiating an autograd function will raise an error in a "
            "future version of PyTorch.",
            DeprecationWarning,
            stacklevel=2,
        )

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
        executable = state.enabled and any(needs)
        if ctx.dirty_tensors:
            _process_dirty(ctx, output, tensors, executable)
        if not executable:
            return output
        if (tr := trace.tracer()) is not None:
            tr.fail(f"the custom autograd.Function {cls.__name__} runs Python in its forward and backward")
        result = _connect(cls, ctx, output, tensors, is_tensor_arg)
        if ctx.dirty_tensors:  # (torch saves after the outputs are processed: at the dirty inputs' new versions)
            ctx._versions = tuple(-1 if t is None else _version(t) for t in ctx.to_save)
        return result


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


def _process_dirty(ctx: FunctionCtx, output: Any, tensors: list, executable: bool) -> None:
    """torch's checks of ``ctx.mark_dirty``, before the outputs are tied to the graph: each dirty tensor's
    version moves on (once more than the forward's own in-place ops), a leaf that requires grad or (with more
    than one output) a view refuses, and every dirty tensor must be returned."""
    outs = (output,) if _is_tensor(output) else tuple(output) if isinstance(output, (tuple, list)) else (output,)
    inputs = {id(t) for t in tensors}
    returned = {id(o) for o in outs if _is_tensor(o)}
    for t in ctx.dirty_tensors:
        if not _is_tensor(t):
            raise TypeError(f"mark_dirty can only accept variables, but argument {type(t).__name__} isn't one")
        bump_version(t)
        if id(t) not in inputs:
            warnings.warn(
                "ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that have been "
                "mutated should be passed to ctx.mark_dirty().",
                UserWarning,
                stacklevel=4,
            )
    if executable:
        for t in ctx.dirty_tensors:
            if id(t) not in returned or id(t) not in inputs or id(t) in ctx.non_differentiable:
                continue
            if _dtypes.kind(t._data.dtype) not in "fc":
                continue
            if t.grad_fn is None and t.requires_grad:
                raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
            base = t._vbase
            if base is not None and base is not t:
                if base.grad_fn is None and base.requires_grad:
                    raise RuntimeError(
                        "a view of a leaf Variable that requires grad is being used in an in-place operation."
                    )
                if len(outs) > 1:
                    raise RuntimeError(
                        "If your Function modifies inplace an input that is a view of another Tensor, your Function "
                        "cannot return more than one Tensor. This is not supported by the current autograd engine. "
                        "You should either make sure the input is not a view (using .clone() for example) or make "
                        "your Function only return one Tensor (potentially splitting it into two Functions: one "
                        "doing the inplace that returns a single Tensor and a second one that does the other "
                        "operations). You can ask on the forum https://discuss.pytorch.org/ if you need help to do "
                        "this change."
                    )
    if any(id(t) not in returned for t in ctx.dirty_tensors):
        raise RuntimeError(
            "Some elements marked as dirty during the forward method were not returned as output. The inputs that "
            "are modified inplace must all be outputs of the Function."
        )


def _rebase(name: str, t: Any, new: Any) -> None:
    """The dirty input ``t`` becomes the Function's output ``new`` (same values): its history is now the
    Function's, as an in-place op's target. A view writes through its base (whose other views then see the
    new history); a tensor with views gets fresh memory, so that a view taken before refuses (as after an
    in-place op) instead of skipping the Function in backward."""
    base = t._vbase
    if base is not None and base is not t:
        version = int(base._version)
        _write_through_view(name, t, new)
        base._version = version  # (mark_dirty counted this change already)
        return
    has_views = base is t  # (a base marks itself when a view of it is taken)
    if has_views:
        _retire(t)
        t._data = t._data.copy()
    carry_retained(t.grad_fn, new.grad_fn)
    t.grad_fn, t._requires_grad, t._grad = new.grad_fn, True, None


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
    if ctx.dirty_tensors:
        dirty = {id(t) for t in ctx.dirty_tensors}
        where = {id(t): k for k, t in enumerate(tensors)}
        call.dirty = {i: where[id(outs[i])] for i in diff if id(outs[i]) in dirty and id(outs[i]) in where}
    first = outs[diff[0]]
    xp = first.device.xp
    if len(diff) == 1 and len(outs) == 1:
        call.packed = first._data
        out = apply(cls._opdef(), *tensors, call=call)
        _release_packed(call)
        if call.dirty:
            _rebase(cls.__name__, first, out)
            out = first
        if single:
            return out
        return (out,) if isinstance(output, tuple) else [out]  # (a 1-tuple stays one, as torch's)
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
    pieces = [  # (no copies before the one concatenate makes)
        xp.ravel(o._data).astype(dtype, copy=False) if i in diff else xp.zeros(o._data.size, dtype)
        for i, o in enumerate(outs)
        if _is_tensor(o)
    ]
    call.packed = xp.concatenate(pieces) if pieces else xp.zeros(0, dtype)
    packed = apply(cls._opdef(), *tensors, call=call)
    _release_packed(call)
    result = list(outs)
    for i in diff:
        o, n, shape, dt = call.slots[i]
        piece = packed[o : o + n].reshape(shape)
        result[i] = piece if piece.dtype == dt else piece.to(dt)
        if i in call.dirty:  # the input itself, with the piece's history (torch's: the Function's node)
            _rebase(cls.__name__, outs[i], result[i])
            result[i] = outs[i]
    return tuple(result) if isinstance(output, tuple) else result


def _release_packed(call: _Call) -> None:
    """The Node keeps the packed outputs only for a double backward that reads saved outputs: otherwise the
    outputs' memory is theirs alone (as torch's Node, which keeps no output it did not save), freed with them."""
    if not call.ctx._outputs_saved:
        call.packed = None


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
