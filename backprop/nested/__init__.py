"""``bp.nested`` (torch.nested): nested tensors, a batch of sequences of different lengths.

A nested tensor (``NestedTensor``, ``layout=bp.jagged``) is a dense ``values`` tensor, the sequences one after
another along the ragged dimension, and int64 ``offsets`` (``B + 1`` of them; optional ``lengths`` for
sequences with holes, as ``nested.narrow`` makes). Every op runs on ``values`` (dispatched through
``__torch_function__``), so autograd, dtypes and devices are the dense ones': gradients reach ``values`` and the
dense parameters as they would without nesting. The strided ``nested_tensor`` (torch's default layout) is the
same object printed and sized as torch's strided one. Ops torch does not support raise as torch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.methods.attributes import Layout, strided
from backprop.nested import _ops  # noqa: F401 - (registers the handlers NestedTensor dispatches to)
from backprop.nested._tensor import NestedInt, NestedTensor, jagged, nested_from_values

__all__ = [
    "NestedInt",
    "NestedTensor",
    "as_nested_tensor",
    "jagged",
    "masked_select",
    "narrow",
    "nested_tensor",
    "nested_tensor_from_jagged",
    "to_padded_tensor",
]


def _layout(layout: Layout | None) -> Layout:
    """The layout asked for: torch's default for ``nested_tensor`` is strided."""
    if layout is None:
        return strided
    if layout is not strided and layout is not jagged:
        raise RuntimeError(f"Specified layout is unsupported for nested tensors: {layout}")
    return layout


def _from_list(
    tensor_list: Sequence[Any], dtype: Any, device: Any, requires_grad: bool, layout: Layout, copy: bool
) -> NestedTensor:
    """Concatenate ``tensor_list``'s items (Tensors or data) along their first dim into a nested tensor."""
    import backprop as bp

    if len(tensor_list) == 0:
        raise RuntimeError("Cannot construct a nested tensor from an empty tensor list")
    items = [t if isinstance(t, bp.Tensor) else bp.tensor(t) for t in tensor_list]
    dims = {t.dim() for t in items}
    if len(dims) != 1:
        raise RuntimeError("When constructing a nested tensor, all tensors in list must have the same dim")
    (ndim,) = dims
    if ndim == 0:
        items = [t.reshape(1) for t in items]
        ndim = 1
    rest = {tuple(t.shape[1:]) for t in items}
    if len(rest) != 1:
        if layout is jagged:
            raise RuntimeError(
                "Cannot represent given tensor list as a nested tensor with the jagged layout. Note that the jagged "
                "layout only allows for a single ragged dimension. For example: (B, *, D_0, D_1, ..., D_N), with "
                "ragged * dim."
            )
        raise NotImplementedError(
            "backprop.nested: a strided nested tensor whose components differ in more than their first dimension "
            "is not supported (see the README)"
        )
    if copy:
        items = [t.detach() for t in items]
    if dtype is not None:
        items = [t.to(dtype) for t in items]
    else:
        common = items[0].dtype
        for t in items[1:]:
            common = dtypes.promote_dtypes(common, t.dtype)
        items = [t.to(common) for t in items]
    if device is not None:
        items = [t.to(device) for t in items]
    values = bp.cat(items, 0)
    if copy and requires_grad:
        values.requires_grad_(True)
    lens = np.array([t.shape[0] for t in items], dtype=np.int64)
    offsets = bp.tensor(np.concatenate([[0], np.cumsum(lens)]), dtype=bp.int64, device=values.device)
    return nested_from_values(values, offsets, None, 1, layout, meta={"max_seqlen": int(lens.max())})


def nested_tensor(
    tensor_list: Sequence[Any],
    *,
    dtype: Any = None,
    layout: Layout | None = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> NestedTensor:
    """torch.nested.nested_tensor: a new leaf nested tensor (a copy) of the list's tensors."""
    return _from_list(tensor_list, dtype, device, requires_grad, _layout(layout), copy=True)


def as_nested_tensor(ts: Any, dtype: Any = None, device: Any = None, layout: Layout | None = None) -> NestedTensor:
    """torch.nested.as_nested_tensor: like ``nested_tensor`` but keeps the autograd history of the inputs."""
    import backprop as bp

    if isinstance(ts, NestedTensor):
        if layout is not None and layout is not ts.layout:
            raise RuntimeError("as_nested_tensor(): converting between nested layouts is not supported")
        return ts.to(dtype) if dtype is not None else ts  # type: ignore[return-value]
    if isinstance(ts, bp.Tensor):
        ts = list(ts.unbind(0))
    if not isinstance(ts, (list, tuple)):
        raise TypeError("as_nested_tensor(): Expected first argument to be a tensor or a list / tuple of tensors ")
    return _from_list(ts, dtype, device, False, _layout(layout), copy=False)


def nested_tensor_from_jagged(
    values: Any,
    offsets: Any = None,
    lengths: Any = None,
    jagged_dim: int | None = None,
    min_seqlen: int | None = None,
    max_seqlen: int | None = None,
) -> NestedTensor:
    """torch.nested.nested_tensor_from_jagged: a jagged view of ``values`` split at ``offsets`` (or
    ``lengths``; both: sequences with holes); the result's gradients flow to ``values``."""
    import backprop as bp

    if offsets is None:
        if lengths is None:
            raise RuntimeError("nested_tensor_from_jagged(): At least one of offsets or lengths is required.")
        offsets = bp.cat([bp.zeros(1, dtype=bp.int64, device=values.device), lengths.cumsum(0)])
        lengths = None
    if jagged_dim is None:
        jagged_dim = 1
    elif jagged_dim < 1:
        raise ValueError(f"Expected jagged_dim >=1, but got {jagged_dim}.")
    meta = {} if max_seqlen is None else {"max_seqlen": int(max_seqlen)}
    # (a view of ``values``, as torch's: not a leaf when ``values`` requires grad; its flag is the view's own)
    return nested_from_values(values.view(values.shape), offsets, lengths, jagged_dim, jagged, meta=meta)


def narrow(tensor: Any, dim: int, start: Any, length: Any, layout: Layout = strided) -> NestedTensor:
    """torch.nested.narrow: sequence ``b`` is ``tensor[b, start[b]:start[b] + length[b]]`` (a view with holes)."""
    import backprop as bp

    if not isinstance(start, (int, bp.Tensor)):
        raise RuntimeError("start must be an integer or a tensor")
    if not isinstance(length, (int, bp.Tensor)):
        raise RuntimeError("length must be an integer or a tensor")
    if layout is strided:
        if isinstance(start, bp.Tensor) or isinstance(length, bp.Tensor):
            raise RuntimeError("start and length must be integers for the strided layout NT impl")
        return _from_list(list(tensor.narrow(dim, start, length).unbind(0)), None, None, False, strided, copy=False)
    if layout is not jagged:
        raise RuntimeError(f"Specified layout is unsupported for nested narrow: {layout}")
    if dim != 1:
        raise RuntimeError("jagged layout only supports dim=1")
    b, t = tensor.shape[0], tensor.shape[1]
    start_t = start if isinstance(start, bp.Tensor) else bp.full((b,), start, dtype=bp.int64)
    length_t = length if isinstance(length, bp.Tensor) else bp.full((b,), length, dtype=bp.int64)
    starts = start_t.to(bp.int64) + bp.arange(b) * t
    offsets = bp.cat([starts, starts[-1:] + length_t[-1:].to(bp.int64)])
    return nested_from_values(tensor.flatten(0, 1), offsets, length_t.to(bp.int64), 1, jagged)


def to_padded_tensor(input: NestedTensor, padding: float, output_size: Any = None, out: Any = None) -> Any:
    """torch.nested.to_padded_tensor: the dense (B, max length, ...) tensor, ``padding`` past each sequence."""
    return input.to_padded_tensor(padding, output_size)


def masked_select(tensor: Any, mask: Any) -> NestedTensor:
    """torch.nested.masked_select: the selected elements of each row (last dim) of ``tensor`` as a jagged
    sequence; ``mask`` broadcasts to ``tensor``'s shape."""
    import backprop as bp

    if mask.layout is not strided:
        raise RuntimeError(f"torch.nested.masked_select requires a strided mask, given: {mask.layout}")
    values = tensor.masked_select(mask)
    lengths = mask.expand(tensor.shape).to(bp.int64).sum(tensor.dim() - 1).view(-1)
    offsets = bp.nn.functional.pad(lengths.cumsum(0), (1, 0))
    return nested_from_values(values, offsets, None, 1, jagged)
