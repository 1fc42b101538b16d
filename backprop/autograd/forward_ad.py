"""``torch.autograd.forward_ad``: dual tensors and exact Jacobian-vector products.

There are no per-op forward (JVP) rules: ``make_dual(x, t)`` returns a tensor that enters the
reverse-mode graph (a leaf that requires grad sharing ``x``'s memory, or, when ``x`` requires grad
itself, a view of it) and remembers the tangent ``t``. ``unpack_dual(y)`` finds the dual inputs
``y`` depends on by walking its graph and computes ``J t`` with the double-backward trick,
``J t = d/du <J^T u, t>``: a backward pass from ``y`` with a placeholder ``u`` that records a graph,
then one backward pass of that graph. Every op with a double backward is covered, and the values
are exact (no finite differences).

Costs and differences from torch (see README):

- each ``unpack_dual`` of a computed tensor costs about two backward passes (the first one recorded)
  over the graph between the duals and it, and keeps nothing afterwards; the forward itself costs
  what recording a reverse-mode graph costs;
- a dual, and what is computed from it, reports ``requires_grad=True`` (and a ``grad_fn``) where torch
  says False when nothing else requires grad; ``unpack_dual(y).primal`` has torch's ``requires_grad``
  (detached when only duals made ``y`` require grad). ``y.numpy()`` therefore needs ``y.detach()``;
- tangents only flow through recorded ops: computations under ``bp.no_grad()`` drop them (torch's
  forward AD ignores grad mode), in-place ops on a dual made from a tensor that does not require grad
  raise as on any leaf that requires grad, and backward hooks on tensors between the duals and ``y``
  (``register_hook``, module backward hooks) run during ``unpack_dual``;
- ops without a double backward (``ctc_loss``, a custom ``Function`` marked ``once_differentiable``)
  raise in ``unpack_dual``, naming the op. A custom ``Function`` that defines ``jvp`` gives the tangents of
  its ``jvp`` (as torch: the first pass records the transpose of that ``jvp``); one without ``jvp`` gives
  those of its ``backward`` (torch refuses it).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from backprop import dtypes
from backprop.autograd.custom import forward_mode
from backprop.autograd.function import Node, apply
from backprop.autograd.functional import grad
from backprop.autograd.grad_mode import enable_grad
from backprop.ops import shape as shape_ops

__all__ = ["UnpackedDualTensor", "dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual"]

F = TypeVar("F", bound=Callable[..., Any])

_current_level = [-1]  # global, as torch's (not per thread); one level at a time, as torch


class _Dual:
    """A dual input: the graph endpoint it is (a leaf Tensor or a Node), its tangent and primal."""

    __slots__ = ("ref", "tangent", "primal", "level", "hidden")

    def __init__(self, ref: weakref.ref[Any], tangent: Any, primal: Any, level: int, hidden: bool) -> None:
        self.ref = ref
        self.tangent = tangent
        self.primal = primal
        self.level = level
        self.hidden = hidden  # a leaf made here: it requires grad only to carry the tangent


# id(endpoint) -> its dual; an entry leaves when its endpoint dies or its level is exited
_duals: dict[int, _Dual] = {}
# id -> weak reference of the leaves make_dual created (requires_grad only for forward AD), at any level
_hidden: dict[int, weakref.ref[Any]] = {}


def _forget(table: dict[int, Any], key: int, ref: weakref.ref[Any]) -> None:
    entry = table.get(key)
    if entry is not None and (entry is ref or getattr(entry, "ref", None) is ref):
        del table[key]


def enter_dual_level() -> int:
    """Start a forward-AD level (only one at a time, as torch); returns its number (0)."""
    if _current_level[0] >= 0:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _current_level[0] = 0
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """End the current forward-AD level: every tangent of that level is forgotten."""
    if level is None:
        level = _current_level[0]
    if level != _current_level[0]:
        raise RuntimeError(
            "Trying to exit a forward AD level that was not the last one that was created. This is not supported."
        )
    if level < 0:
        raise RuntimeError("Dual level must be a positive number.")
    for key in [k for k, entry in _duals.items() if entry.level == level]:
        del _duals[key]
    _current_level[0] = level - 1


class dual_level:  # noqa: N801  (torch's name)
    """Context manager (and decorator) around a forward-AD level: ``with dual_level(): ...``."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with dual_level():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class UnpackedDualTensor(NamedTuple):
    """What ``unpack_dual`` returns: the primal value and its tangent (None when it has none)."""

    primal: Any
    tangent: Any


def _level_of(level: int | None) -> int:
    return _current_level[0] if level is None else level


def _endpoint(t: Any) -> Any:
    """The graph object a dual is known by: its ``grad_fn``, or the tensor itself for a leaf."""
    return t if t.grad_fn is None else t.grad_fn


def _dual_of(t: Any, level: int) -> _Dual | None:
    """``t``'s own dual entry at ``level`` (not one it was computed from)."""
    key = _endpoint(t)
    entry = _duals.get(id(key))
    if entry is None or entry.level != level or entry.ref() is not key:
        return None
    return entry


def make_dual(tensor: Any, tangent: Any, *, level: int | None = None) -> Any:
    """A tensor with ``tensor``'s values (sharing its memory) that carries ``tangent``: what is computed
    from it inside the level has a tangent, the Jacobian-vector product, read by ``unpack_dual``."""
    level = _level_of(level)
    if level < 0:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to enter_dual_level() first."
        )
    if level != _current_level[0]:
        raise RuntimeError(f"make_dual: level {level} is not the current forward AD level ({_current_level[0]})")
    for name, t in (("tensor", tensor), ("tangent", tangent)):
        if not hasattr(t, "grad_fn"):
            raise TypeError(f"make_dual: {name} must be a Tensor, got {type(t).__name__}")
    if dtypes.kind(tensor._data.dtype) not in "fc":
        raise ValueError(f"Expected primal to be floating point or complex, but got: {tensor.dtype}")
    if dtypes.kind(tangent._data.dtype) not in "fc":
        raise ValueError(f"Expected tangent to be floating point or complex, but got: {tangent.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the original Tensor, this is "
            f"not supported. Tensor is of size {list(tensor.shape)} while the given forward gradient is of size "
            f"{list(tangent.shape)}."
        )
    if tangent.device != tensor.device:
        raise RuntimeError(
            f"make_dual: the tangent is on {tangent.device} but the tensor is on {tensor.device}; move it first"
        )
    if tensor.requires_grad and (_dual_of(tensor, level) is not None or _reach(tensor, level)[0]):
        raise RuntimeError(
            f"Making a dual Tensor based on a Tensor that already has a forward gradient at the same level {level} "
            "is not supported."
        )
    if tensor.requires_grad:  # a view, so that backward through the dual reaches the tensor (as torch)
        with enable_grad():
            dual = apply(shape_ops.reshape, tensor, shape=tuple(tensor.shape))  # (view_as would return tensor)
        hidden = False
    else:  # a leaf sharing the memory and version counter; it requires grad only to carry the tangent
        dual = tensor.detach().requires_grad_(True)
        hidden = True
    key = _endpoint(dual)
    ref = weakref.ref(key, functools.partial(_forget, _duals, id(key)))
    _duals[id(key)] = _Dual(ref, tangent, tensor, level, hidden)
    if hidden:
        _hidden[id(dual)] = weakref.ref(dual, functools.partial(_forget, _hidden, id(dual)))
    return dual


def _reach(t: Any, level: int) -> tuple[list[tuple[Any, _Dual]], bool]:
    """The duals of ``level`` that ``t`` was computed from (endpoint, entry), and whether ``t`` also
    depends on a tensor that requires grad for reverse mode (not a leaf ``make_dual`` created)."""
    found: list[tuple[Any, _Dual]] = []
    genuine = False
    if t.grad_fn is None:
        if not t.requires_grad:
            return found, False
        entry = _dual_of(t, level)
        if entry is not None:
            return [(t, entry)], not entry.hidden
        return found, id(t) not in _hidden
    stack = [t.grad_fn]
    seen = {id(t.grad_fn)}
    while stack:
        node = stack.pop()
        entry = _duals.get(id(node))
        if entry is not None and entry.level == level and entry.ref() is node:
            found.append((node, entry))  # (a view of a tensor that requires grad: genuine below it)
        for e in node.edges:
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            if isinstance(e, Node):
                stack.append(e)
                continue
            entry = _duals.get(id(e))
            if entry is not None and entry.level == level and entry.ref() is e:
                found.append((e, entry))
                genuine = genuine or not entry.hidden
            elif id(e) not in _hidden:
                genuine = True
    return found, genuine


def unpack_dual(tensor: Any, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor``: for a dual, the tangent it was made with; for a tensor
    computed from duals, the exact Jacobian-vector product; None for anything else."""
    level = _level_of(level)
    if not hasattr(tensor, "grad_fn"):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    if level < 0 or not _duals or not tensor.requires_grad:
        return UnpackedDualTensor(tensor, None)
    own = _dual_of(tensor, level)
    if own is not None:
        return UnpackedDualTensor(tensor.detach() if own.hidden else tensor.view_as(tensor), own.tangent)
    found, genuine = _reach(tensor, level)
    primal = tensor if genuine else tensor.detach()
    if not found or dtypes.kind(tensor._data.dtype) not in "fc":
        return UnpackedDualTensor(primal, None)
    keep = genuine or any(entry.tangent.requires_grad for _, entry in found)
    return UnpackedDualTensor(primal, _jvp(tensor, found, keep))


def _jvp(y: Any, found: list[tuple[Any, _Dual]], keep: bool) -> Any:
    """``J t`` of ``y`` for the duals ``found``: the gradient of ``<J^T u, t>`` in the placeholder ``u``.
    With ``keep`` (``y`` also depends on tensors that require grad, or a tangent does), ``J t`` keeps its
    graph to them, so that reverse mode can differentiate the tangent (forward-over-reverse, as torch's)."""
    inputs = []
    for key, entry in found:
        if isinstance(key, Node):  # a view of a tensor that requires grad: a stand-in with its grad_fn
            primal = entry.primal
            inputs.append(primal._wrap(primal._data, primal.device, key))
        else:
            inputs.append(key)
    xp = y.device.xp
    with enable_grad():
        u = y._wrap(xp.zeros_like(y._data), y.device, None).requires_grad_(True)
        with forward_mode():  # (a custom Function's own jvp gives its tangents)
            gs = grad(y, inputs, u, retain_graph=True, create_graph=True, allow_unused=True)
        used = [(g, entry.tangent) for g, (_, entry) in zip(gs, found) if g is not None and g.requires_grad]
        jv = None
        if used:
            tangents = [t if t.dtype == g.dtype else t.to(g.dtype) for g, t in used]
            (jv,) = grad([g for g, _ in used], u, tangents, retain_graph=True, create_graph=keep, allow_unused=True)
    if jv is None:  # the duals reach y only through constant derivatives (floor, sign, ...)
        return y._wrap(xp.zeros_like(y._data), y.device, None)
    return jv if keep else jv.detach()
