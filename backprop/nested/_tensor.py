"""``NestedTensor``: the jagged nested tensor (torch's NJT) and its op handlers.

``_values`` holds the sequences' elements; its shape is the nested shape without the batch dim, the ragged dim
(``_ragged_idx``, 1 unless transposed) holding the total length. ``_offsets`` (int64, ``B + 1``) splits it;
``_lengths`` (or None) marks sequences with holes. Handlers run the dense op on ``_values``, so gradients are
the dense ops'; a few (sums and softmax over the ragged dim, attention) go through a padded copy.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

import numpy as np

from backprop.autograd import trace
from backprop.autograd.grad_mode import trace_users
from backprop.methods.attributes import Layout, strided
from backprop.size import Size
from backprop.tensor import DisableTorchFunctionSubclass, Tensor, tf_activate, tf_active

jagged = Layout("jagged")

_COUNTER = itertools.count(1)
_JIDS: dict[int, tuple[weakref.ref[Tensor], int]] = {}


# backprop.nested._ops, which registers itself when backprop.nested loads (it imports this module)
_OPS: list[Any] = []


class NestedInt:
    """The size of a ragged dim (torch's ``j1`` SymInt): equal only to itself; not an int."""

    __slots__ = ("jid",)

    def __init__(self, jid: int) -> None:
        self.jid = jid

    def __repr__(self) -> str:
        return f"j{self.jid}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NestedInt) and other.jid == self.jid

    def __hash__(self) -> int:
        return hash(("j", self.jid))


def _jid_of(offsets: Tensor) -> int:
    """The nested int's number for an offsets tensor: one per offsets object, as torch's."""
    hit = _JIDS.get(id(offsets))
    if hit is not None and hit[0]() is offsets:
        return hit[1]
    jid = next(_COUNTER)
    _JIDS[id(offsets)] = (weakref.ref(offsets), jid)
    return jid


class _NestedData:
    """A nested tensor's ``_data``: refuses to be used as one dense array."""

    __slots__ = ("dtype", "ndim")

    def __init__(self, dtype: Any, ndim: int) -> None:
        self.dtype, self.ndim = dtype, ndim

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("backprop.nested: this operation needs a dense tensor (use values() or to_padded_tensor())")


def nested_from_values(
    values: Tensor,
    offsets: Tensor,
    lengths: Tensor | None,
    ragged_idx: int,
    layout: Layout,
    jid: int | None = None,
    meta: dict[str, int] | None = None,
) -> NestedTensor:
    """A nested tensor over ``values`` split at ``offsets`` along dim ``ragged_idx - 1`` of ``values``; ``meta``
    is torch's metadata cache (``max_seqlen``), shared by the nested tensors made from one another."""
    if not tf_active[0] and tf_activate:
        tf_activate[0]()  # (the __torch_function__ dispatch that routes ops here)
    if trace_users[0] and (tr := trace.tracer()) is not None:  # bp.compile: the offsets are read on the host
        tr.fail("nested tensors are not recorded (their offsets are read on the host)")
    t: NestedTensor = object.__new__(NestedTensor)
    t._adopt(_NestedData(values.dtype, values.dim() + 1), values.device, None)
    t._values, t._offsets, t._lengths, t._ragged_idx, t._layout = values, offsets, lengths, ragged_idx, layout
    t._jid = _jid_of(offsets) if jid is None else jid
    t._meta = {} if meta is None else meta
    return t


def _like(nt: NestedTensor, values: Tensor, ragged_idx: int | None = None) -> NestedTensor:
    """A nested tensor with ``nt``'s offsets (same ragged size) over new values."""
    r = nt._ragged_idx if ragged_idx is None else ragged_idx
    return nested_from_values(values, nt._offsets, nt._lengths, r, nt._layout, nt._jid, nt._meta)


class NestedTensor(Tensor):
    """torch's nested tensor (``layout=bp.jagged``, or the strided ``nested_tensor``): see ``bp.nested``."""

    __slots__ = ("_values", "_offsets", "_lengths", "_ragged_idx", "_layout", "_jid", "_meta")
    _values: Tensor
    _offsets: Tensor
    _lengths: Tensor | None
    _ragged_idx: int
    _layout: Layout
    _jid: int
    _meta: dict[str, int]

    def _max_seqlen(self) -> int:
        """The longest sequence's length, cached as torch's ops that need it do (``to_padded_tensor`` reads it)."""
        if "max_seqlen" not in self._meta:
            lens = self._seq_lengths()
            self._meta["max_seqlen"] = int(lens.max()) if lens.size else 0
        return self._meta["max_seqlen"]

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        """Route every public function and method given a nested tensor to its handler (or torch's error)."""
        with DisableTorchFunctionSubclass():
            return _OPS[0].dispatch(func, tuple(args), dict(kwargs or {}))

    # ---------------------------------------------------------------- attributes (not dispatched)
    @property
    def is_nested(self) -> bool:
        return True

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def dtype(self) -> Any:
        return self._values.dtype

    @property
    def data(self) -> NestedTensor:
        """The nested tensor without autograd history (over ``values().detach()``)."""
        return _like(self, self._values.detach())

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, NestedTensor):
            raise RuntimeError("data: a nested tensor takes the data of a nested tensor")
        self._values.data = value._values

    @property
    def requires_grad(self) -> bool:
        return self._values.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._values.requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> NestedTensor:
        """Set ``requires_grad`` on the values; returns self."""
        self._values.requires_grad_(requires_grad)
        return self

    @property
    def grad_fn(self) -> Any:
        return self._values.grad_fn

    @grad_fn.setter
    def grad_fn(self, value: Any) -> None:
        if value is not None:
            raise RuntimeError("a nested tensor's grad_fn is its values'")

    @property
    def is_leaf(self) -> bool:
        return self._values.is_leaf

    @property
    def grad(self) -> Any:
        g = self._values._grad
        return None if g is None else _like(self, g)

    @grad.setter
    def grad(self, value: Any) -> None:
        self._values.grad = None if value is None else value._values

    def backward(
        self, gradient: Any = None, retain_graph: Any = None, create_graph: bool = False, inputs: Any = None
    ) -> None:
        """Backpropagate from this nested tensor (``gradient``: a nested tensor of the same raggedness)."""
        if gradient is None:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        if not isinstance(gradient, NestedTensor) or not self._same_sizes(gradient):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of {getattr(gradient, 'shape', None)} and output[0] "
                f"has a shape of {self.shape}."
            )
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            inputs = [t._values if isinstance(t, NestedTensor) else t for t in inputs]
        self._values.backward(gradient._values, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def _rewrap(self, values: Tensor) -> NestedTensor:
        """A nested tensor of this one's raggedness over ``values`` (its gradient, from ``autograd.grad``)."""
        return _like(self, values)

    def _same_sizes(self, other: NestedTensor) -> bool:
        """Same nested shape: the same ragged size (jagged), or the same component shapes (strided)."""
        if self._layout is strided:
            return self._values.shape[1:] == other._values.shape[1:] and np.array_equal(
                self._seq_lengths(), other._seq_lengths()
            )
        return self._sizes() == other._sizes()

    def retain_grad(self) -> None:
        """Keep the values' gradient after backward (read it as ``grad``)."""
        self._values.retain_grad()

    def values(self) -> Tensor:
        """The dense buffer of the sequences (a view: gradients flow back to the nested tensor)."""
        if self._layout is strided:
            return self._values.reshape(-1)
        return self._values.view(self._values.shape)

    def offsets(self) -> Tensor:
        """The int64 start of each sequence in ``values()`` and, last, the end."""
        if self._layout is strided:
            raise AttributeError("'Tensor' object has no attribute 'offsets'")
        return self._offsets

    def lengths(self) -> Tensor | None:
        """Each sequence's length where the nested tensor has holes (``nested.narrow``), else None."""
        if self._layout is strided:
            raise AttributeError("'Tensor' object has no attribute 'lengths'")
        return self._lengths

    def _seq_lengths(self) -> np.ndarray:
        """The sequences' lengths (host ints)."""
        if self._lengths is not None:
            return np.asarray(self._lengths.detach().cpu().numpy(), dtype=np.int64)
        return np.diff(np.asarray(self._offsets.detach().cpu().numpy(), dtype=np.int64))

    def _sizes(self) -> tuple[Any, ...]:
        """The nested shape: the batch size, the ragged dim as a ``NestedInt``."""
        vs = list(self._values.shape)
        vs[self._ragged_idx - 1] = NestedInt(self._jid)
        return (self._offsets.shape[0] - 1, *vs)

    @property
    def shape(self) -> Size:
        if self._layout is strided:
            raise RuntimeError("Internal error: NestedTensorImpl doesn't support sizes. Please file an issue.")
        return Size.of(self._sizes())

    def size(self, dim: int | None = None) -> Any:
        """The nested shape, or one dim (the ragged one is a ``NestedInt``; strided: it raises)."""
        if dim is None:
            return self.shape
        n = self.dim()
        if not -n <= dim < n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
        dim %= n
        if self._layout is strided and dim == self._ragged_idx and len(set(self._seq_lengths().tolist())) > 1:
            raise RuntimeError(f"Given dimension {dim} is irregular and does not have a size.")
        s = self._sizes()[dim]
        return self._seq_lengths()[0].item() if isinstance(s, NestedInt) and self._layout is strided else s

    def dim(self) -> int:
        return self._values.dim() + 1

    @property
    def ndim(self) -> int:
        return self.dim()

    def numel(self) -> int:
        return self._values.numel()

    def __len__(self) -> int:
        return self._offsets.shape[0] - 1

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return self._lengths is None and self._ragged_idx == 1 and self._values.is_contiguous()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        raise RuntimeError(".numpy() is not supported for tensor subclasses.")

    def tolist(self) -> Any:
        raise RuntimeError(".tolist() is not supported for tensor subclasses, got NestedTensor")

    def item(self) -> Any:
        raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")

    def __bool__(self) -> bool:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")

    def __hash__(self) -> int:
        return id(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> NestedTensor:
        """A copy of the values and offsets (a new ragged size, as torch's copies)."""
        import copy

        lengths = None if self._lengths is None else copy.deepcopy(self._lengths, memo)
        out = nested_from_values(
            copy.deepcopy(self._values, memo), copy.deepcopy(self._offsets, memo), lengths, self._ragged_idx,
            self._layout, meta=dict(self._meta),
        )  # fmt: skip
        memo[id(self)] = out
        return out

    def __iter__(self) -> Any:
        return iter(self.unbind())

    def __repr__(self) -> str:
        if self._layout is strided:
            parts = []
            for t in self.unbind():
                parts.append("\n".join("  " + line for line in repr(t).splitlines()))
            return "nested_tensor([\n" + ",\n".join(parts) + "\n])"
        if self.grad_fn is not None:
            extra = f", grad_fn={self.grad_fn}"
        else:
            extra = ", requires_grad=True" if self.requires_grad else ""
        size = "(" + ", ".join(map(repr, self._sizes())) + ")"
        return f"NestedTensor(size={size}, offsets={self._offsets!r}{extra}, contiguous={self.is_contiguous()})"

    __str__ = __repr__

    def to_padded_tensor(self, padding: float, output_size: Any = None) -> Tensor:
        """The dense (B, max length, ...) tensor with ``padding`` past each sequence (``output_size``: larger)."""
        return _OPS[0].to_padded(self, padding, output_size)
