"""torch's saved-tensor attributes of ``grad_fn`` nodes: ``_saved_self``, ``_saved_result``, ``_saved_dim``,
``_raw_saved_self`` (a ``SavedTensor``) and the rest, under the names of torch's ``derivatives.yaml``.

Nothing here runs while recording or in backward: each name is a class-level descriptor on ``Node``
(installed at import, below) that asks ``lookup`` when read. The value is computed then from what the node
keeps anyway (the saved inputs ``_saved_tensors``, the saved output ``_out``, the attributes ``_attrs``, the
input shapes ``in_meta``) through ``_TABLE``, one entry per torch node name. Ops that the table does not
name get the tensors they save under torch's generic names (``self``, ``other``, ``result``) when they have
one input, or two and no attributes.

``SavedTensor.register_hooks(pack, unpack)`` packs that one saved tensor at once and unpacks it each time
backward (or ``_saved_*``) reads it, as torch's: the node then keeps its saved values in a ``_SlotPacked``
in its ``aux`` slot, the path ``Node.saved`` already takes for ``saved_tensors_hooks``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backprop.autograd import graph
from backprop.autograd.function import SECOND_BACKWARD, Node, modified_error, version_of
from backprop.autograd.node_names import op_backward_name

__all__ = ["SavedTensor", "lookup", "names"]

_SCALARS = (int, float, bool, complex)
_INT64_MAX = 9223372036854775807

REGISTER_FREED = (
    "Calling register_hooks on a saved tensor after it has been freed. Saved intermediate values of the graph "
    "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved variables after calling backward."
)
ALREADY_SET = (
    "Calling register_hooks on a saved tensor whose hooks have already been set. Hint: only one pair of hooks "
    "is allowed at a time."
)


# ---------------------------------------------------------------- values torch's way
def _i64(v: Any) -> Any:
    """An int64 attribute as torch's getter gives it: negative values read as unsigned (``dim=-1`` is
    18446744073709551615), a quirk of torch's bindings that code printing them sees."""
    if isinstance(v, (tuple, list)):
        return tuple(_i64(x) for x in v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = int(v)
        return v % (1 << 64) if v < 0 else v
    return v


def _dims(v: Any) -> Any:
    """A ``dim`` list attribute: None stays None, an int becomes a one-element tuple."""
    if v is None:
        return None
    return _i64(tuple(v) if isinstance(v, (tuple, list)) else (v,))


def _number(v: Any) -> Any:
    """A Scalar attribute whose torch default is an int (``softplus``'s beta): integral floats as ints."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _shape(n: Node, p: int) -> tuple[int, ...]:
    meta = n.in_meta[p]
    assert meta is not None  # (a tensor input)
    return tuple(meta[0])


def _strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= max(n, 1)
    return tuple(reversed(out))


def _tensor_class(node: Node) -> Any:
    """A Tensor class to wrap arrays with (autograd sits below tensor: found through the graph)."""
    ref = node._out_ref() if node._out_ref is not None else None
    if ref is not None:
        return ref._plain
    seen: set[int] = set()
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        for t in getattr(n, "_saved_tensors", ()) or ():
            if hasattr(t, "_plain"):
                return t._plain
        for e in n.edges:
            if e is None:
                continue
            if isinstance(e, Node):
                stack.append(e)
            elif hasattr(e, "_plain"):
                return e._plain
    raise RuntimeError("saved tensor: no Tensor found in the graph to wrap it with")


def _wrap(node: Node, array: Any, grad_fn: Any = None) -> Any:
    t = _tensor_class(node)._wrap(array, node.device, grad_fn)
    t._requires_grad = grad_fn is not None
    return t


def _wrapped_number(node: Node, v: Any) -> Any:
    """A Python number saved by an op as torch keeps it: a 0-dim tensor of the number's default dtype."""
    dtype = np.bool_ if isinstance(v, bool) else np.int64 if isinstance(v, int) else np.float64
    if isinstance(v, complex):
        dtype = np.complex128
    return _wrap(node, node.device.xp.asarray(v, dtype=dtype))


# ---------------------------------------------------------------- the slots of a node's saved values
def _positions(node: Node) -> tuple[int, ...]:
    """The input position of each saved input (as ``_record`` picks them)."""
    saves = node.op.save_inputs
    return tuple(range(len(saves))) if len(saves) == len(node.in_meta) else tuple(saves)


def _freed(node: Node) -> bool:
    return node._saved is None and getattr(node.aux, "unpack_saved", None) is None


def _check_input(t: Any, v: int) -> None:
    if not isinstance(t, _SCALARS) and version_of(t) != v:
        raise modified_error(t, v, t.grad_fn)


def _packed_index(packed: Any, slot: int) -> int | None:
    """Where ``slot``'s item is in a ``saved_tensors_hooks`` pack (inputs in order, then the output)."""
    if slot != -1:
        return slot if slot < len(packed.items) else None
    return len(packed.items) - 1 if packed.positions and packed.positions[-1] == -1 else None


def _dropped(node: Node, slot: int) -> bool:
    """Whether saved input ``slot`` was left out because no wanted gradient uses it (``saved_for``)."""
    saved_for = node.op.saved_for
    if saved_for is None or slot == -1:
        return False
    pos = _positions(node)[slot]
    return any(i == pos and all(node.edges[k] is None for k in users) for i, users in saved_for)


def _slot_value(node: Node, slot: int, *, numbers: bool = True) -> Any:
    """The saved value in ``slot`` (an index into the saved inputs, -1 the output) as ``_saved_*`` gives it:
    the input Tensor itself, a new Tensor on the output's values (whose ``grad_fn`` is ``node``), a
    0-dim tensor for a Python number, None for an input that was not kept; unpacked when hooks packed it."""
    if node._saved is not None:  # plain
        if slot == -1:
            if node._out is None:
                return None
            out = node._out_ref() if node._out_ref is not None else None
            if out is not None and version_of(out) != node._out_version:
                raise modified_error(out, node._out_version, node)
            return _wrap(node, node._out, node)
        t = node._saved_tensors[slot]
        if t is None:
            return None
        if isinstance(t, _SCALARS):
            return _wrapped_number(node, t) if numbers else t
        _check_input(t, node._versions[slot])
        return t
    packed = node.aux
    if isinstance(packed, _SlotPacked):
        return packed.value(node, slot, numbers)
    if isinstance(packed, graph._Packed):  # packed by saved_tensors_hooks: unpacked on each access, as torch
        k = _packed_index(packed, slot)
        if k is None:
            return None
        item = packed.items[k]
        if packed.positions[k] == -2:  # a number or None, kept as it was
            return _wrapped_number(node, item) if numbers and isinstance(item, _SCALARS) else item
        return packed.unpack(item)
    if _dropped(node, slot):
        return None
    raise RuntimeError(SECOND_BACKWARD)


class _SlotPacked:
    """A node's saved values once one of them has hooks of its own (``SavedTensor.register_hooks``):
    per slot, the packed object and its unpack hook, or the plain value; kept in ``node.aux``, where
    ``Node.saved`` finds it on its rare path (see ``autograd.graph._Packed``)."""

    __slots__ = ("saved", "tensors", "versions", "out", "out_ref", "out_version", "hooks")

    def __init__(self, node: Node) -> None:
        assert node._saved is not None
        self.saved = list(node._saved)
        self.tensors = list(node._saved_tensors)
        self.versions = node._versions
        self.out, self.out_ref = node._out, node._out_ref
        self.out_version = getattr(node, "_out_version", 0)
        self.hooks: dict[int, tuple[Any, Callable[[Any], Any], Any]] = {}

    def value(self, node: Node, slot: int, numbers: bool) -> Any:
        hooked = self.hooks.get(slot)
        if hooked is not None:
            return hooked[1](hooked[0])
        if slot == -1:
            if self.out is None:
                return None
            out = self.out_ref() if self.out_ref is not None else None
            if out is not None and version_of(out) != self.out_version:
                raise modified_error(out, self.out_version, node)
            return _wrap(node, self.out, node)
        t = self.tensors[slot]
        if t is None or isinstance(t, _SCALARS):
            return _wrapped_number(node, t) if numbers and t is not None else t
        _check_input(t, self.versions[slot])
        return t

    def unpack_saved(self, node: Node) -> tuple[Any, ...]:
        """``node.saved``: the plain values (version-checked), the hooked ones through their unpack hooks."""
        in_graph = node.graph_xp is not None
        positions = _positions(node)
        values = []
        slots = list(range(len(self.saved))) + ([-1] if self.out is not None or -1 in self.hooks else [])
        for slot in slots:
            hooked = self.hooks.get(slot)
            pos = -1 if slot == -1 else positions[slot]
            if hooked is not None:
                packed, unpack, meta = hooked
                t = unpack(packed)
                if not hasattr(t, "grad_fn"):
                    raise TypeError(
                        "Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
                        f"{type(t).__name__}"
                    )
                if (tuple(t._data.shape), t._data.dtype) != meta or t.device != node.device:
                    raise RuntimeError(
                        f"unpack_hook returned a tensor of shape {tuple(t.shape)}, dtype {t.dtype} on {t.device} "
                        f"for op {node.op.name!r}; expected shape {meta[0]}, dtype {meta[1]} on {node.device}, as "
                        "the tensor given to pack_hook"
                    )
                values.append(graph._graph_value(node, t, pos) if in_graph else t._data)
                continue
            if slot == -1:
                out = self.out_ref() if self.out_ref is not None else None
                if out is not None and version_of(out) != self.out_version:
                    raise modified_error(out, self.out_version, node)
                values.append(node.wrap(self.out, node.device, node) if in_graph else self.out)
                continue
            t = self.tensors[slot]
            if t is not None and not isinstance(t, _SCALARS):
                _check_input(t, self.versions[slot])
            values.append(t if in_graph else self.saved[slot])
        return tuple(values)


class SavedTensor:
    """torch's ``torch._C._autograd.SavedTensor``: one tensor a node saved (``grad_fn._raw_saved_self``).
    ``register_hooks(pack_hook, unpack_hook)`` packs it now and unpacks it when backward reads it."""

    __slots__ = ("_node", "_slot", "_get")

    def __init__(self, node: Node, slot: int | None, get: Callable[[Node], Any] | None = None) -> None:
        self._node, self._slot, self._get = node, slot, get

    def register_hooks(self, pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
        if not callable(pack_hook) or not callable(unpack_hook):
            raise TypeError(
                "register_hooks(): incompatible function arguments: expected (pack_hook: Callable, "
                f"unpack_hook: Callable), got ({type(pack_hook).__name__}, {type(unpack_hook).__name__})"
            )
        node, slot = self._node, self._slot
        if _freed(node):
            raise RuntimeError(REGISTER_FREED)
        if slot is None:  # a value backprop derives from other saved values (or keeps as an attribute)
            assert self._get is not None
            if self._get(node) is None:
                raise RuntimeError("Calling register_hooks on a saved tensor with value None is forbidden")
            raise RuntimeError(
                f"register_hooks: backprop's {node.op.name!r} does not keep this tensor itself (it is computed "
                "again from the values the op keeps): there is nothing to pack"
            )
        if isinstance(node.aux, graph._Packed):  # packed by saved_tensors_hooks already
            raise RuntimeError(ALREADY_SET)
        packed = node.aux if isinstance(node.aux, _SlotPacked) else None
        if packed is not None and slot in packed.hooks:
            raise RuntimeError(ALREADY_SET)
        value = _slot_value(node, slot, numbers=False)
        if value is None:
            raise RuntimeError("Calling register_hooks on a saved tensor with value None is forbidden")
        if isinstance(value, _SCALARS):
            raise RuntimeError(
                f"register_hooks: op {node.op.name!r} saved a Python number here, not a tensor: nothing to pack"
            )
        if packed is None:
            if node.op.aux:
                raise RuntimeError(
                    f"register_hooks: op {node.op.name!r} keeps an auxiliary value in its node; its saved tensors "
                    "take no hooks of their own in backprop"
                )
            packed = _SlotPacked(node)
        meta = (tuple(value._data.shape), value._data.dtype)
        with graph.disable_saved_tensors_hooks("saved-tensor hooks are not applied inside a pack hook"):
            item = pack_hook(value)
        packed.hooks[slot] = (item, unpack_hook, meta)
        if slot == -1:
            packed.out = None
        else:
            packed.saved[slot] = packed.tensors[slot] = None
        node._saved, node._saved_tensors, node._versions, node._out, node._out_ref = None, (), (), None, None
        node.aux = packed

    @property
    def data(self) -> Any:
        """What is kept: the packed object once hooks are set, else the tensor."""
        packed = self._node.aux
        if self._slot is None:
            return self.unpack()
        if isinstance(packed, _SlotPacked) and self._slot in packed.hooks:
            return packed.hooks[self._slot][0]
        if isinstance(packed, graph._Packed):
            k = _packed_index(packed, self._slot)
            return None if k is None else packed.items[k]
        return self.unpack()

    def unpack(self) -> Any:
        """The saved tensor (through its unpack hook when it has one)."""
        if self._slot is None:
            assert self._get is not None
            return self._get(self._node)
        return _slot_value(self._node, self._slot)

    @property
    def unpack_hook(self) -> Any:
        packed = self._node.aux
        if isinstance(packed, _SlotPacked) and self._slot in packed.hooks:
            return packed.hooks[self._slot][1]
        return None

    def __repr__(self) -> str:
        return f"<torch._C._autograd.SavedTensor object at {id(self):#x}>"


# ---------------------------------------------------------------- what each node has
class _Get:
    """One attribute: ``fn(node)`` gives its value; ``slot`` (a saved-input index or -1) for a saved tensor;
    ``raw``: torch keeps a saved tensor there (``_raw_saved_*``) that backprop computes from what it keeps."""

    __slots__ = ("fn", "slot", "raw")

    def __init__(self, fn: Callable[[Node], Any], slot: int | None = None, raw: bool = False) -> None:
        self.fn, self.slot, self.raw = fn, slot, raw or slot is not None


def _in(p: int) -> Callable[[Node], _Get | None]:
    """Saved input ``p`` (None when the op does not save it)."""

    def make(node: Node) -> _Get | None:
        positions = _positions(node)
        if p not in positions:
            return None
        slot = positions.index(p)
        return _Get(lambda n: _slot_value(n, slot), slot)

    return make


def _out(node: Node) -> _Get | None:
    return _Get(lambda n: _slot_value(n, -1), -1) if node.op.save_output else None


def _value(fn: Callable[[Node], Any]) -> Callable[[Node], _Get]:
    return lambda node: _Get(fn)


def _attr(key: str, conv: Callable[[Any], Any] = _i64) -> Callable[[Node], _Get]:
    return _value(lambda n: conv(n.attrs.get(key)))


def _size(p: int) -> Callable[[Node], _Get]:
    return _value(lambda n: tuple(_shape(n, p)))


def _const(v: Any) -> Callable[[Node], _Get]:
    return _value(lambda n: v)


def _numel(n: Node) -> int:
    return int(np.prod(_shape(n, 0), dtype=np.int64))


def _keepdim(n: Node) -> bool:
    return bool(n.attrs.get("keepdims", False))


def _pow_result(node: Node) -> _Get:
    """``PowBackward1/2``'s result, computed again from the saved base and exponent (backprop's ``pow``
    saves its inputs only)."""

    def fn(n: Node) -> Any:
        a, b = n.saved[:2]
        return _wrap(n, n.device.xp.asarray(n.device.xp.power(a, b)), n)

    return _Get(fn, raw=True)


def _pow_exponent_value(node: Node) -> _Get | None:
    return _Get(lambda n: n._attrs.get("exponent", 2) if n.op.name == "square" else _plain_input(n, 1))


def _plain_input(n: Node, p: int) -> Any:
    """Input ``p`` as the op was given it (a Python number saved as a constant)."""
    positions = _positions(n)
    if p in positions:
        if n._saved is not None:
            return n._saved_tensors[positions.index(p)]
        return _slot_value(n, positions.index(p), numbers=False)
    return None


def _scalar_other(node: Node) -> _Get | None:
    """``2 / x`` (torch: ``x.reciprocal() * 2``) and ``2 * x`` (torch: ``x.mul(2)``): ``other`` is the number,
    as a 0-dim tensor."""
    if node.in_meta[0] is None:
        return _Get(lambda n: _wrapped_number(n, _plain_input(n, 0)), raw=True)
    return _in(1)(node)


def _scalar_self(node: Node) -> _Get | None:
    if node.in_meta[0] is None:  # (not needed: only a number multiplies the tensor)
        return _Get(lambda n: None, raw=True)
    return _in(0)(node)


def _transpose_dims(n: Node) -> tuple[int, int]:
    moved = [i for i, a in enumerate(n.attrs["axes"]) if a != i]
    return (moved[0], moved[1]) if len(moved) == 2 else (0, 0)


def _inserted_dim(n: Node) -> int:
    before, after = tuple(_shape(n, 0)), tuple(n.attrs["shape"])
    for i in range(len(after)):
        if i >= len(before) or before[i] != after[i]:
            return i
    return len(before)


def _removed_dim(n: Node) -> int:
    before, after = tuple(_shape(n, 0)), tuple(n.attrs["shape"])
    for i in range(len(before)):
        if i >= len(after) or before[i] != after[i]:
            return i
    return len(after)


def _basic_step(n: Node) -> tuple[int, Any] | None:
    """For ``x[...]`` with one integer or one slice (the other parts full slices or one Ellipsis): the dim
    and that part; None for any other index (whose last step torch records on an intermediate)."""
    if n.attrs.get("then") is not None:
        return None
    index = n.attrs["index"]
    parts = index if isinstance(index, tuple) else (index,)
    ndim = len(_shape(n, 0))
    found = None
    dim = 0
    for part in parts:
        if part is Ellipsis:
            dim += ndim - (len(parts) - 1)
            continue
        if isinstance(part, slice) and part == slice(None):
            dim += 1
            continue
        if found is not None or not isinstance(part, (int, np.integer, slice)) or isinstance(part, bool):
            return None
        found = (dim, part)
        dim += 1
    return found


def _step(which: str) -> Callable[[Node], _Get | None]:
    def make(node: Node) -> _Get | None:
        step = _basic_step(node)
        if step is None:
            return None
        dim, part = step
        if which == "dim":
            return _Get(lambda n: dim)
        if which == "index":
            return _Get(lambda n: _i64(part))
        size = _shape(node, 0)[dim]
        start, stop, stp = part.start, part.stop, part.step
        if which == "start":
            return _Get(lambda n: _i64(0 if start is None else start))
        if which == "end":
            return _Get(lambda n: _INT64_MAX if stop is None else _i64(stop))
        return _Get(lambda n: 1 if stp is None else stp) if size >= 0 else None

    return make


def _select(node: Node) -> bool:
    step = _basic_step(node)
    return step is not None and not isinstance(step[1], slice)


def _slice(node: Node) -> bool:
    step = _basic_step(node)
    return step is not None and isinstance(step[1], slice)


def _index_indices(node: Node) -> _Get | None:
    """``x[[0, 1]]``, ``x[:, idx]``: torch's ``indices``, None per full slice and a tensor per index array."""
    if node.attrs.get("then") is not None:
        return None
    index = node.attrs["index"]
    parts = index if isinstance(index, tuple) else (index,)
    if not all((isinstance(p, slice) and p == slice(None)) or hasattr(p, "shape") for p in parts):
        return None
    if not any(hasattr(p, "shape") for p in parts):
        return None
    while parts and isinstance(parts[-1], slice):  # (torch drops trailing full slices)
        parts = parts[:-1]

    def fn(n: Node) -> tuple[Any, ...]:
        xp = n.device.xp
        return tuple(None if isinstance(p, slice) else _wrap(n, xp.asarray(p, dtype=np.int64)) for p in parts)

    return _Get(fn, raw=True)


Spec = dict[str, Callable[[Node], "_Get | None"]]
_SUM1: Spec = {"dim": _attr("axis", _dims), "keepdim": _value(_keepdim), "self_sym_sizes": _size(0)}
_MEAN0: Spec = {"self_sym_numel": _value(_numel), "self_sym_sizes": _size(0)}
_REDUCE_RESULT: Spec = {"dim": _attr("axis", _dims), "keepdim": _value(_keepdim), "result": _out, "self": _in(0)}


def _correction(n: Node) -> Any:
    """torch keeps None for ``x.var()``/``x.std()`` without arguments (its default overload), else the number."""
    c = n.attrs.get("correction")
    return None if n.attrs.get("axis") is None and c == 1 else c


_VAR: Spec = {
    "correction": _value(
        lambda n: None if n.attrs.get("axis") is None and n.attrs.get("correction") == 1 else n.attrs.get("correction")
    ),
    "dim": _attr("axis", _dims),
    "keepdim": _value(_keepdim),
    "self": _in(0),
}


def _linear_mat2(node: Node) -> _Get | None:
    """``F.linear(x, w)`` on a matrix is torch's ``mm(x, w.t())``: ``mat2`` is ``w.t()``."""
    got = _in(1)(node)
    if got is None or node.op.name != "linear":
        return got
    fn = got.fn

    def t(n: Node) -> Any:
        w = fn(n)
        return None if w is None else w.t()

    return _Get(t, raw=True)


def _linear_size(p: int) -> Callable[[Node], _Get]:
    return _value(lambda n: tuple(_shape(n, p))[:: -1 if p == 1 and n.op.name == "linear" else 1])


def _mm_strides(p: int) -> Callable[[Node], _Get]:
    """``mm``'s ``*_sym_strides``: an input's strides when its gradient is wanted (else ``()``), as torch
    keeps them to lay out that gradient (C order here: the saved arrays are not kept for it; ``linear``'s
    weight transposed)."""

    def fn(n: Node) -> tuple[int, ...]:
        if n.edges[p] is None:
            return ()
        shape = tuple(_shape(n, p))
        return _strides(shape)[::-1] if p == 1 and n.op.name == "linear" else _strides(shape)

    return _value(fn)


def _logsigmoid_buffer(node: Node) -> _Get | None:
    """``log_sigmoid_forward``'s buffer on CPU, ``exp(-|x|)``, computed again from the saved input."""
    got = _in(0)(node)
    if got is None:
        return None
    fn = got.fn

    def buffer(n: Node) -> Any:
        x = fn(n)
        xp = n.device.xp
        return _wrap(n, xp.asarray(xp.exp(-xp.abs(x._data))))

    return _Get(buffer, raw=True)


_MM: Spec = {
    "self": _in(0),
    "mat2": _linear_mat2,
    "self_sym_sizes": _size(0),
    "mat2_sym_sizes": _linear_size(1),
    "self_sym_strides": _mm_strides(0),
    "mat2_sym_strides": _mm_strides(1),
}
_TAKE: Spec = {  # max/min along a dim through take_indexed(x, indices)
    "dim": _attr("axis"),
    "indices": _in(1),
    "keepdim": _value(lambda n: len(_shape(n, 1)) == len(_shape(n, 0))),
    "self_sym_sizes": _size(0),
}

# torch node name -> (the backprop ops whose node torch names so, the attributes)
_TABLE: dict[str, tuple[frozenset[str], Spec]] = {
    "AddBackward0": (frozenset({"add"}), {"alpha": _const(1)}),
    "SubBackward0": (frozenset({"sub"}), {"alpha": _const(1)}),
    "RsubBackward1": (frozenset({"sub"}), {"alpha": _const(1)}),
    "MulBackward0": (frozenset({"mul", "div"}), {"self": _scalar_self, "other": _scalar_other}),
    "DivBackward0": (frozenset({"div"}), {"self": _in(0), "other": _in(1)}),
    "PowBackward0": (frozenset({"pow", "square"}), {"self": _in(0), "exponent": _pow_exponent_value}),
    "PowBackward1": (frozenset({"pow"}), {"self": _in(0), "exponent": _in(1), "result": _pow_result}),
    "PowBackward2": (
        frozenset({"pow"}),
        {"self": lambda node: _Get(lambda n: _plain_input(n, 0)), "exponent": _in(1), "result": _pow_result},
    ),
    "MmBackward0": (frozenset({"matmul", "linear"}), _MM),
    "MvBackward0": (frozenset({"matmul"}), {"self": _in(0), "vec": _in(1)}),
    "DotBackward0": (frozenset({"matmul"}), {"self": _in(0), "tensor": _in(1)}),
    "SumBackward0": (frozenset({"sum"}), {"self_sym_sizes": _size(0)}),
    "SumBackward1": (frozenset({"sum"}), _SUM1),
    "MeanBackward0": (frozenset({"mean"}), _MEAN0),
    "MeanBackward1": (frozenset({"mean"}), {**_SUM1, **_MEAN0}),
    "ProdBackward0": (frozenset({"prod"}), {"result": _out, "self": _in(0)}),
    "ProdBackward1": (
        frozenset({"prod"}),
        {"dim": _attr("axis"), "keepdim": _value(_keepdim), "result": _out, "self": _in(0)},
    ),
    "AmaxBackward0": (frozenset({"amax"}), _REDUCE_RESULT),
    "AminBackward0": (frozenset({"amin"}), _REDUCE_RESULT),
    "MaxBackward1": (frozenset({"amax"}), {"result": _out, "self": _in(0)}),
    "MinBackward1": (frozenset({"amin"}), {"result": _out, "self": _in(0)}),
    "MaxBackward0": (frozenset({"take_indexed"}), _TAKE),
    "MinBackward0": (frozenset({"take_indexed"}), _TAKE),
    "LogsumexpBackward0": (frozenset({"logsumexp"}), _REDUCE_RESULT),
    "VarBackward0": (frozenset({"var"}), _VAR),
    "StdBackward0": (frozenset({"std"}), {**_VAR, "result": _out}),
    "LinalgVectorNormBackward0": (
        frozenset({"norm"}),
        {
            "dim": _attr("axis", _dims),
            "keepdim": _value(_keepdim),
            "ord": _attr("ord", _number),
            "result": _out,
            "self": _in(0),
        },
    ),
    "CumsumBackward0": (frozenset({"cumsum"}), {"dim": _attr("axis")}),
    "CumprodBackward0": (frozenset({"cumprod"}), {"dim": _attr("axis"), "result": _out, "self": _in(0)}),
    "SoftmaxBackward0": (frozenset({"softmax"}), {"dim": _attr("axis"), "result": _out}),
    "LogSoftmaxBackward0": (frozenset({"log_softmax"}), {"dim": _attr("axis"), "result": _out}),
    "ViewBackward0": (frozenset({"reshape"}), {"self_sym_sizes": _size(0)}),
    "UnsqueezeBackward0": (frozenset({"reshape"}), {"dim": _value(_inserted_dim)}),
    "SqueezeBackward0": (frozenset({"reshape"}), {"self_sym_sizes": _size(0)}),
    "SqueezeBackward1": (frozenset({"reshape"}), {"dim": _value(_removed_dim), "self_sym_sizes": _size(0)}),
    "TBackward0": (frozenset({"permute"}), {}),
    "TransposeBackward0": (
        frozenset({"permute"}),
        {"dim0": _value(lambda n: _transpose_dims(n)[0]), "dim1": _value(lambda n: _transpose_dims(n)[1])},
    ),
    "PermuteBackward0": (frozenset({"permute"}), {"dims": _attr("axes", lambda v: _i64(tuple(v)))}),
    "ExpandBackward0": (frozenset({"expand"}), {"self_sym_sizes": _size(0)}),
    "SelectBackward0": (
        frozenset({"getitem"}),
        {"dim": _step("dim"), "index": _step("index"), "self_sym_sizes": lambda n: _size(0)(n) if _select(n) else None},
    ),
    "SliceBackward0": (
        frozenset({"getitem"}),
        {
            "dim": _step("dim"),
            "start": _step("start"),
            "end": _step("end"),
            "step": _step("step"),
            "self_sym_sizes": lambda n: _size(0)(n) if _slice(n) else None,
        },
    ),
    "IndexBackward0": (
        frozenset({"getitem"}),
        {
            "indices": _index_indices,
            "self_sym_sizes": lambda n: _size(0)(n) if _index_indices(n) is not None else None,
        },
    ),
    "CatBackward0": (frozenset({"cat"}), {"dim": _attr("axis")}),
    "StackBackward0": (frozenset({"stack"}), {"dim": _attr("axis")}),
    "ClampBackward1": (frozenset({"clamp"}), {"self": _in(0), "min": _attr("min"), "max": _attr("max")}),
    "WhereBackward0": (frozenset({"where"}), {"condition": _in(0)}),
    "MaskedFillBackward0": (frozenset({"masked_fill"}), {"mask": _in(1)}),
    "GatherBackward0": (frozenset({"gather"}), {"dim": _attr("axis"), "index": _in(1), "sparse_grad": _const(False)}),
    "LeakyReluBackward0": (frozenset({"leaky_relu"}), {"negative_slope": _attr("negative_slope"), "self": _in(0)}),
    "EluBackward0": (
        frozenset({"elu"}),
        {"alpha": _attr("alpha"), "input_scale": _const(1), "scale": _const(1), "self": _in(0)},
    ),
    "GeluBackward0": (frozenset({"gelu"}), {"approximate": _attr("approximate"), "self": _in(0)}),
    "SoftplusBackward0": (
        frozenset({"softplus"}),
        {"beta": _attr("beta", _number), "threshold": _attr("threshold", _number), "self": _in(0)},
    ),
    "HardtanhBackward0": (
        frozenset({"hardtanh"}),
        {"max_val": _attr("max_val"), "min_val": _attr("min_val"), "self": _in(0)},
    ),
    "TrilBackward0": (frozenset({"tril"}), {"diagonal": _attr("diagonal")}),
    "TriuBackward0": (frozenset({"triu"}), {"diagonal": _attr("diagonal")}),
    "FlipBackward0": (frozenset({"flip"}), {"dims": _attr("axis", _dims)}),
    "RollBackward0": (frozenset({"roll"}), {"dims": _attr("axis", _dims), "shifts": _attr("shifts", _dims)}),
    "LogSigmoidBackward0": (frozenset({"logsigmoid"}), {"self": _in(0), "buffer": _logsigmoid_buffer}),
    "LerpBackward0": (frozenset({"lerp"}), {"weight": lambda node: _Get(lambda n: _plain_input(n, 2))}),
    "LerpBackward1": (frozenset({"lerp"}), {"self": _in(0), "end": _in(1), "weight": _in(2)}),
}


def _spec(node: Node) -> Spec:
    name = node.name()
    entry = _TABLE.get(name)
    if entry is not None:
        return entry[1] if node.op.name in entry[0] else {}
    op = node.op
    if name.lower() != op_backward_name(op.name).lower() or op.aux or op.name[:1].isupper():
        return {}  # a composite torch names otherwise (mse_loss, layer_norm), a custom Function: unknown
    n_in = len(node.in_meta)
    if n_in == 1:
        spec: Spec = {"self": _in(0)} if op.save_inputs else {}
    elif n_in == 2 and not op.defaults and not node._attrs:
        spec = {"self": _in(0), "other": _in(1)} if op.save_inputs else {}
    else:
        return {}
    if op.save_output:
        spec["result"] = _out
    return spec


def _getters(node: Node) -> dict[str, _Get]:
    out = {}
    for key, make in _spec(node).items():
        got = make(node)
        if got is not None:
            out[key] = got
    return out


def names(node: Node) -> list[str]:
    """The ``_saved_*`` and ``_raw_saved_*`` names ``node`` has, for ``dir()``."""
    got = _getters(node)
    return sorted([f"_saved_{k}" for k in got] + [f"_raw_saved_{k}" for k, g in got.items() if g.raw])


def lookup(node: Node, name: str) -> Any:
    """``node._saved_<key>`` / ``node._raw_saved_<key>``; AttributeError when the node has no such value."""
    raw = name.startswith("_raw_saved_")
    key = name[len("_raw_saved_") :] if raw else name[len("_saved_") :]
    got = _getters(node).get(key)
    if got is None or (raw and not got.raw):
        raise AttributeError(f"'{node.name()}' object has no attribute '{name}'")
    if raw:
        if got.slot is None and key == "indices":  # (torch: one SavedTensor per index tensor)
            return tuple(None if t is None else SavedTensor(node, None, _const_of(t)) for t in got.fn(node))
        return SavedTensor(node, got.slot, got.fn)
    return got.fn(node)


def _const_of(v: Any) -> Callable[[Node], Any]:
    return lambda n: v


class _SavedAttr:
    """One ``_saved_<key>``/``_raw_saved_<key>`` name on ``Node``. A descriptor per name rather than
    ``Node.__getattr__``: a class with ``__getattr__`` takes CPython's slow attribute path (no LOAD_ATTR
    specialisation) on every lookup, which made backward's node reads 15% slower."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, node: Node | None, owner: type | None = None) -> Any:
        if node is None:
            return self
        return lookup(node, self.name)


def _node_dir(node: Node) -> list[str]:
    """``dir(node)``: the ``_saved_*``/``_raw_saved_*`` names this node has, not every name the class carries."""
    rest = (n for n in object.__dir__(node) if not n.startswith(("_saved_", "_raw_saved_")) or n in Node.__slots__)
    return sorted({*rest, *names(node)})


def _install() -> None:
    Node.__dir__ = _node_dir  # type: ignore[method-assign,assignment]
    keys = {key for _, spec in _TABLE.values() for key in spec} | {"self", "other", "result"}
    for key in sorted(keys):
        for name in (f"_saved_{key}", f"_raw_saved_{key}"):
            if name not in Node.__dict__:  # never over a slot (``_saved_tensors``)
                setattr(Node, name, _SavedAttr(name))


_install()
