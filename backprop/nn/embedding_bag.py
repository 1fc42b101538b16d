"""``EmbeddingBag`` / ``F.embedding_bag``: sums, means or maxima of bags of embeddings, without
materialising the per-id rows as a padded batch; and the ``max_norm`` / ``scale_grad_by_freq`` helpers
that ``F.embedding`` shares.

Composed from registered ops (``index_select`` for the rows, ``index_add`` for the per-bag sums,
``scatter_reduce(amax)`` for the maxima), so gradients and double backward come from those ops. The
index arithmetic (which bag each id falls in, padding ids dropped, bag sizes) is array math on the
step's data, reported through ``trace.record``.
"""

from __future__ import annotations

import functools
from typing import Any

from backprop import creation
from backprop.autograd import trace
from backprop.autograd.function import OpIndexError, apply
from backprop.autograd.grad_mode import is_grad_enabled, no_grad, trace_users
from backprop.autograd.node_names import name_node
from backprop.nn import init
from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.ops import indexing as idx_ops
from backprop.tensor import Tensor

__all__ = ["EmbeddingBag", "embedding_bag"]

_MODES = ("sum", "mean", "max")


def _ids_in_range(name: str, ids: Tensor, n: int) -> None:
    """torch's check that every id indexes one of the ``n`` rows (one read-back)."""
    if ids.dtype.kind not in "iu":
        raise RuntimeError(  # torch's message (it takes any integer ids here)
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got {ids.type()} instead (while checking arguments for {name})"
        )
    if ids._data.size:
        trace.host_read(f"{name} id range check")
        lo, hi = int(ids._data.min()), int(ids._data.max())
        if lo < 0 or hi >= n:
            bad = hi if hi >= n else lo
            # (torch's embedding_bag raises RuntimeError; embedding's, IndexError: OpIndexError is both)
            raise OpIndexError(f"{name}: id {bad} is out of range for {n} embeddings (valid ids: 0..{n - 1})")


def _embedding_renorm_(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and without gradient, the rows of ``weight`` that ``input`` uses whose
    ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm`` (torch's embedding_renorm_: the
    factor is max_norm / (norm + 1e-7))."""
    xp = input.device.xp
    with no_grad():
        ids = Tensor._wrap(trace.record(functools.partial(_unique_ids, xp=xp), input), input.device, None)
        rows = weight.index_select(0, ids)
        norm = rows.norm(norm_type, dim=1, keepdim=True)
        scale = (max_norm / (norm + 1e-7)).where(norm > max_norm, 1.0)
        weight.index_copy_(0, ids, rows * scale)


def sparse_lookup(weight: Tensor, ids: Tensor, padding_idx: int | None, scale_grad_by_freq: bool) -> Tensor | None:
    """``weight[ids]`` whose gradient is torch's sparse COO one (``sparse=True``: a row per lookup, padding rows
    left out, ``embedding_sparse``), or None where torch's would be dense here too (a non-leaf weight, no grad)."""
    if not (weight.requires_grad and weight.grad_fn is None and is_grad_enabled()):
        return None
    if trace_users[0] and (tr := trace.tracer()) is not None:
        tr.fail("a sparse embedding gradient (sparse=True) is a sparse tensor")
    return apply(
        idx_ops.embedding_sparse, weight, ids=ids._data, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq
    )


def _unique_ids(ids: Any, xp: Any) -> Any:
    return xp.unique(ids.reshape(-1)).astype("int64")


def _scale_grad(rows: Tensor, ids: Tensor) -> Tensor:
    """``rows`` unchanged, with its gradient divided by how often each row's id occurs in ``ids``
    (``scale_grad_by_freq``): rows.detach() + (rows - rows.detach()) * s is rows exactly."""
    fn = functools.partial(_inverse_freq, xp=ids.device.xp, dtype=rows.dtype)
    s = Tensor._wrap(trace.record(fn, ids), ids.device, None)
    frozen = rows.detach()
    return frozen + (rows - frozen) * s.reshape(*s.shape, *([1] * (rows.ndim - s.ndim)))


def _inverse_freq(ids: Any, xp: Any, dtype: Any) -> Any:
    """1 / (the number of occurrences of each id among ``ids``), shaped like ``ids``."""
    _, inverse, counts = xp.unique(ids.reshape(-1), return_inverse=True, return_counts=True)
    return (1.0 / counts[inverse.reshape(-1)]).astype(dtype).reshape(ids.shape)


def _bags(ids: Any, offsets: Any, xp: Any, include_last_offset: bool, padding_idx: Any) -> tuple:
    """For 1-d ``ids`` and bag ``offsets``: the kept positions (padding ids and ids past the last
    offset dropped), the bag of each kept position, and each bag's number of kept ids."""
    n_bags = offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]
    pos = xp.arange(ids.shape[0])
    bag = xp.searchsorted(offsets.astype("int64"), pos, side="right") - 1
    keep = bag < n_bags
    if padding_idx is not None:
        keep &= ids != padding_idx
    kept = xp.nonzero(keep)[0]
    bag = bag[kept]
    count = xp.zeros(n_bags, dtype="int64")
    xp.add.at(count, bag, 1)
    return kept, bag, count


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """(B, D) sums / means / maxima of ``weight``'s rows over bags of ids: ``input`` (B, L) is B bags of
    L ids; a 1-d ``input`` is cut into bags at ``offsets`` (bag b is input[offsets[b]:offsets[b+1]]).
    ``padding_idx`` ids are left out of their bag (and its mean), empty bags give zeros, and
    ``per_sample_weights`` (``mode="sum"`` only) scale each id's row. ``sparse=True`` gives a leaf
    ``weight`` torch's sparse COO gradient (a row per kept id, in input order)."""
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(
            f"embedding_bag: If per_sample_weights (torch.Size({list(per_sample_weights.shape)})) is not None, "
            f"then it must have the same shape as the input (torch.Size({list(input.shape)}))"
        )
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed "
                f"length sequences. However, found offsets of type {type(offsets)}"
            )
        offsets = creation.arange(0, input.numel(), max(input.shape[1], 1), dtype=input.dtype, device=input.device)
        if input.shape[1] == 0:  # B empty bags
            offsets = creation.zeros(input.shape[0], dtype=input.dtype, device=input.device)
        include_last_offset = False
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in _MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")
    n = weight.shape[0]
    _ids_in_range("embedding_bag", input, n)
    _check_offsets(offsets, input.shape[0], include_last_offset)
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise RuntimeError(
                f"padding_idx must be within the number of embeddings, {-n} through {n - 1}, but got {padding_idx}"
            )
        padding_idx %= n
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for "
            f"mode='sum' (got mode='{mode}'). Please open a feature request on GitHub."
        )
    if per_sample_weights is not None and per_sample_weights.dtype != weight.dtype:
        raise RuntimeError(
            f"embedding_bag: per_sample_weights ({per_sample_weights.dtype}) must have the dtype of weight "
            f"({weight.dtype})"
        )
    dev = input.device
    fn = functools.partial(_bags, xp=dev.xp, include_last_offset=include_last_offset, padding_idx=padding_idx)
    kept, bag, count = (Tensor._wrap(a, dev, None) for a in trace.record(fn, input, offsets))
    ids = input.long()[kept]
    rows = sparse_lookup(weight, ids, None, scale_grad_by_freq) if sparse else None  # (padding ids dropped above)
    if rows is None:
        rows = weight.index_select(0, ids)
        if scale_grad_by_freq:
            rows = _scale_grad(rows, ids)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights[kept].unsqueeze(1)
    out = creation.zeros(count.shape[0], weight.shape[1], dtype=weight.dtype, device=weight.device)
    if mode == "max":
        where = bag.unsqueeze(1).expand(bag.shape[0], weight.shape[1])
        return name_node(out.scatter_reduce(0, where, rows, "amax", include_self=False), "EmbeddingBagBackward0")
    out = out.index_add(0, bag, rows)
    if mode == "mean":
        out = out / count.clamp(min=1).to(out.dtype).unsqueeze(1)
    return name_node(out, "EmbeddingBagBackward0")


def _check_offsets(offsets: Tensor, n: int, include_last_offset: bool) -> None:
    """torch's offset rules: integer, offsets[0] == 0, nothing past the input's end (one read-back)."""
    if offsets.dtype.kind not in "iu":
        raise RuntimeError(f"embedding_bag: offsets must be an integer tensor (int64 or int32), got {offsets.dtype}")
    if include_last_offset and offsets.shape[0] < 1:
        raise RuntimeError("embedding_bag: include_last_offset needs at least one offset")
    if not offsets.shape[0]:
        return
    trace.host_read("embedding_bag offsets check")
    o = offsets._data
    first, last = int(o[0]), int(o[-1])
    if first != 0:
        raise RuntimeError(
            "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. "
            f"However, got {first}"
        )
    if last > n:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {n} but got offsets[-1] of {last}")
    if offsets.shape[0] > 1 and bool((o[1:] < o[:-1]).any()):
        raise RuntimeError(f"embedding_bag: offsets must be non-decreasing, got {offsets.tolist()}")


class EmbeddingBag(Module):
    """``num_embeddings`` vectors of size ``embedding_dim`` (N(0, 1) init), reduced over bags of ids
    by ``mode`` ("sum", "mean" or "max"): ``F.embedding_bag`` with a learned table, torch's arguments."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Tensor | None = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, device=device, dtype=dtype))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight.detach())
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input: Tensor, offsets: Tensor | None = None, per_sample_weights: Tensor | None = None) -> Tensor:
        return embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag whose table is ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        bag = cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            mode=mode,
            sparse=sparse,
            include_last_offset=include_last_offset,
            padding_idx=padding_idx,
        )
        bag.weight.requires_grad_(not freeze)
        return bag
