"""torch.nn.attention.flex_attention: attention with a user ``score_mod`` and a ``BlockMask`` built from a ``mask_mod``.

backprop has no fused kernel, so ``flex_attention`` computes what torch's eager (math) fallback computes, densely:
``scores = q k^T * scale``; ``score_mod(score, b, h, q_idx, kv_idx)``; positions where the block mask's
``mask_mod`` is False become ``-inf``; a softmax over the keys (a row with nothing left gives weights 0, output 0
and ``lse = -inf``); ``weights @ v``. Scores, softmax and ``lse`` are kept in float32 (float64 for float64 queries)
and the output has the query's dtype, as torch's. Everything is composed from backprop tensor ops, so it runs on
NumPy and CuPy and differentiates to q, k, v and to any tensors ``score_mod`` captures (torch refuses backward on
CPU; its GPU kernels give the same gradients).

torch vmaps ``score_mod``/``mask_mod`` over scalar index tensors; backprop calls each mod once with broadcastable
int64 index tensors instead: ``b`` of shape (B, 1, 1, 1), ``h`` (1, H, 1, 1), ``q_idx`` (1, 1, L, 1) and
``kv_idx`` (1, 1, 1, S). Mods written with tensor ops and tensor indexing (``bias[h]``, ``doc[q_idx] ==
doc[kv_idx]``, ``bp.where(q_idx >= kv_idx, score, -inf)``) mean the same under both. The ``BlockMask``'s block
sparsity is bookkeeping for torch's kernels: as in torch's eager path, the result is the dense masked softmax
that ``mask_mod`` defines.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import operator
import typing
import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any, Literal, NamedTuple, TypedDict

import backprop as bp
from backprop.tensor import Tensor
from backprop.types import Device

__all__ = [
    "BlockMask",
    "flex_attention",
    "AuxOutput",
    "AuxRequest",
    "FlexKernelOptions",
    "create_block_mask",
    "create_mask",
    "or_masks",
    "and_masks",
    "noop_mask",
]

_score_mod_signature = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]
_mask_mod_signature = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
_Backend = Literal["AUTO", "TRITON", "FLASH", "TRITON_DECODE"]

# torch's debugging switch (its eager path without torch.compile); backprop always runs eagerly, so it changes nothing
_FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = False
_WARNINGS_SHOWN: set[str] = set()

_DEFAULT_SPARSE_BLOCK_SIZE = 128
_LARGE_SPARSE_BLOCK_SIZE = 1 << 30


def _warn_once(warning_id: str, message: str, category: type[Warning] = UserWarning) -> None:
    if warning_id not in _WARNINGS_SHOWN:
        warnings.warn(message, category, stacklevel=3)
        _WARNINGS_SHOWN.add(warning_id)


class FlexKernelOptions(TypedDict, total=False):
    """torch's tuning options for its Triton kernels; accepted (``BACKEND`` is checked) and otherwise unused here."""

    num_warps: int
    num_stages: int
    BLOCK_M: int
    BLOCK_N: int
    BLOCK_M1: int
    BLOCK_N1: int
    BLOCK_M2: int
    BLOCK_N2: int
    PRESCALE_QK: bool
    ROWS_GUARANTEED_SAFE: bool
    BLOCKS_ARE_CONTIGUOUS: bool
    WRITE_DQ: bool
    FORCE_USE_FLEX_ATTENTION: bool
    USE_TMA: bool
    kpack: int
    matrix_instr_nonkdim: int
    waves_per_eu: int
    BACKEND: _Backend


class AuxRequest(NamedTuple):
    """Which auxiliary outputs ``flex_attention`` should return (``lse``, ``max_scores``)."""

    lse: bool = False
    max_scores: bool = False


class AuxOutput(NamedTuple):
    """``flex_attention``'s auxiliary outputs; a field is None unless it was requested."""

    lse: Tensor | None = None
    max_scores: Tensor | None = None


class _ModificationType(Enum):
    SCORE_MOD = 1
    MASK_MOD = 2
    UNKNOWN = 3


def _get_mod_type(fn: Callable[..., Any]) -> _ModificationType:
    """SCORE_MOD for a function of 5 required positional arguments, MASK_MOD for 4 (torch's rule)."""
    if hasattr(fn, "__code__"):
        num_positional = fn.__code__.co_argcount - len(getattr(fn, "__defaults__", None) or ())
    else:
        params = inspect.signature(fn).parameters.values()
        num_positional = sum(1 for p in params if p.default is inspect.Parameter.empty)
    if num_positional == 5:
        return _ModificationType.SCORE_MOD
    if num_positional == 4:
        return _ModificationType.MASK_MOD
    raise AssertionError(f"Expected 4 or 5 positional args, got {num_positional}")


def _identity(score: Tensor, batch: Tensor, head: Tensor, token_q: Tensor, token_kv: Tensor) -> Tensor:
    return score


def noop_mask(batch: Tensor, head: Tensor, token_q: Tensor, token_kv: Tensor) -> Tensor:
    """Returns a noop mask_mod (every position attends)."""
    return bp.ones((), dtype=bp.bool, device=batch.device)


def _sliced_mask_mod_error(batch: Tensor, head: Tensor, token_q: Tensor, token_kv: Tensor) -> Tensor:
    raise RuntimeError(
        "Cannot use mask_mod from a sliced BlockMask. When you slice a BlockMask using [], the mask_mod attribute "
        "is reset. You must set it from the original BlockMask's mask_mod."
    )


def or_masks(*mask_mods: _mask_mod_signature) -> _mask_mod_signature:
    """Returns a mask_mod that's the union of provided mask_mods."""
    if not all(callable(arg) for arg in mask_mods):
        raise RuntimeError(f"All inputs should be callable mask_mods: {mask_mods}")

    def or_mask(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        result = bp.zeros((), dtype=bp.bool, device=b.device)
        for mask in mask_mods:
            result = result | mask(b, h, q_idx, kv_idx)
        return result

    return or_mask


def and_masks(*mask_mods: _mask_mod_signature) -> _mask_mod_signature:
    """Returns a mask_mod that's the intersection of provided mask_mods."""
    if not all(callable(arg) for arg in mask_mods):
        raise RuntimeError(f"All inputs should be callable mask_mods: {mask_mods}")

    def and_mask(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        result = bp.ones((), dtype=bp.bool, device=b.device)
        for mask in mask_mods:
            result = result & mask(b, h, q_idx, kv_idx)
        return result

    return and_mask


# ---------------------------------------------------------------- block layouts (torch's ordered format)
def _ordered_to_dense(num_blocks_in_row: Tensor, col_indices: Tensor, num_cols: int) -> Tensor:
    """(..., rows) counts and (..., rows, max_entries) column lists -> a (..., rows, num_cols) int32 0/1 grid."""
    max_entries = col_indices.shape[-1]
    valid = bp.arange(max_entries, device=col_indices.device) < num_blocks_in_row.unsqueeze(-1)
    # entries past a row's count are written to one spare column past the end, then dropped (torch's way)
    cols = bp.where(valid, col_indices.to(bp.int64), num_cols)
    dense = bp.zeros(*col_indices.shape[:-1], num_cols + 1, dtype=bp.int32, device=col_indices.device)
    return dense.scatter(-1, cols, 1)[..., :num_cols].contiguous()


def _dense_to_ordered(dense_mask: Tensor) -> tuple[Tensor, Tensor]:
    dense_mask = dense_mask.to(bp.int32)
    num_blocks_in_row = dense_mask.sum(-1)
    col_indices = bp.argsort(dense_mask, dim=-1, descending=True, stable=True)
    return num_blocks_in_row.to(bp.int32), col_indices.to(bp.int32)


def _transpose_ordered(num_blocks_in_row: Tensor, col_indices: Tensor) -> tuple[Tensor, Tensor]:
    dense = _ordered_to_dense(num_blocks_in_row, col_indices, col_indices.shape[-1])
    return _dense_to_ordered(dense.transpose(-2, -1))


def _adjust_num_blocks_and_indices(
    num_blocks: Tensor, indices: Tensor, new_num_rows: int, new_num_cols: int
) -> tuple[Tensor, Tensor]:
    indices = indices[:, :, :new_num_rows, :new_num_cols]
    num_blocks = num_blocks[:, :, :new_num_rows]
    num_blocks = bp.where(num_blocks < new_num_cols, num_blocks, new_num_cols)
    num_blocks = (indices < num_blocks[:, :, :, None]).sum(-1).to(bp.int32)
    return num_blocks, indices


class BlockMask:
    """torch's block-sparse attention mask: per (batch, head, query block) the key blocks that take part
    (``kv_num_blocks``/``kv_indices``; fully visible ones in ``full_kv_*``), the block size, the sequence lengths
    and the ``mask_mod`` that defines the elementwise mask."""

    seq_lengths: tuple[int, int]
    kv_num_blocks: Tensor
    kv_indices: Tensor
    full_kv_num_blocks: Tensor | None
    full_kv_indices: Tensor | None
    q_num_blocks: Tensor | None
    q_indices: Tensor | None
    full_q_num_blocks: Tensor | None
    full_q_indices: Tensor | None
    dq_write_order: Tensor | None
    dq_write_order_full: Tensor | None
    dq_kv_order: Tensor | None
    dq_kv_order_spt: bool | None
    BLOCK_SIZE: tuple[int, int]
    mask_mod: _mask_mod_signature

    _TENSOR_ATTRS = [
        "kv_num_blocks",
        "kv_indices",
        "full_kv_num_blocks",
        "full_kv_indices",
        "q_num_blocks",
        "q_indices",
        "full_q_num_blocks",
        "full_q_indices",
        "dq_write_order",
        "dq_write_order_full",
        "dq_kv_order",
    ]
    _CONTEXT_ATTRS = ["seq_lengths", "BLOCK_SIZE", "mask_mod", "dq_kv_order_spt"]

    def __init__(
        self,
        seq_lengths: tuple[int, int],
        kv_num_blocks: Tensor,
        kv_indices: Tensor,
        full_kv_num_blocks: Tensor | None,
        full_kv_indices: Tensor | None,
        q_num_blocks: Tensor | None,
        q_indices: Tensor | None,
        full_q_num_blocks: Tensor | None,
        full_q_indices: Tensor | None,
        BLOCK_SIZE: tuple[int, int] = (_DEFAULT_SPARSE_BLOCK_SIZE, _DEFAULT_SPARSE_BLOCK_SIZE),  # noqa: N803
        mask_mod: _mask_mod_signature = noop_mask,
        *,
        dq_write_order: Tensor | None = None,
        dq_write_order_full: Tensor | None = None,
        dq_kv_order: Tensor | None = None,
        dq_kv_order_spt: bool | None = None,
    ) -> None:
        if kv_indices.dim() < 2:
            raise RuntimeError("BlockMask must have at least 2 dimensions")
        if (full_kv_num_blocks is None) != (full_kv_indices is None):
            raise AssertionError("full_kv_num_blocks and full_kv_indices must be both provided or omitted")
        if (full_q_num_blocks is None) != (full_q_indices is None):
            raise AssertionError("full_q_num_blocks and full_q_indices must be both provided or omitted")
        if dq_write_order_full is not None and dq_write_order is None:
            raise ValueError("dq_write_order_full requires dq_write_order")
        self.seq_lengths = seq_lengths
        self.kv_num_blocks = kv_num_blocks
        self.kv_indices = kv_indices
        self.full_kv_num_blocks = full_kv_num_blocks
        self.full_kv_indices = full_kv_indices
        self.q_num_blocks = q_num_blocks
        self.q_indices = q_indices
        self.full_q_num_blocks = full_q_num_blocks
        self.full_q_indices = full_q_indices
        self.dq_write_order = dq_write_order
        self.dq_write_order_full = dq_write_order_full
        self.dq_kv_order = dq_kv_order
        self.dq_kv_order_spt = dq_kv_order_spt
        self.BLOCK_SIZE = BLOCK_SIZE
        self.mask_mod = mask_mod

    @classmethod
    def from_kv_blocks(
        cls,
        kv_num_blocks: Tensor,
        kv_indices: Tensor,
        full_kv_num_blocks: Tensor | None = None,
        full_kv_indices: Tensor | None = None,
        BLOCK_SIZE: int | tuple[int, int] = _DEFAULT_SPARSE_BLOCK_SIZE,  # noqa: N803
        mask_mod: _mask_mod_signature | None = None,
        seq_lengths: tuple[int, int] | None = None,
        compute_q_blocks: bool = True,
        *,
        dq_write_order: Tensor | None = None,
        dq_write_order_full: Tensor | None = None,
        dq_kv_order: Tensor | bool | None = None,
    ) -> BlockMask:
        """A BlockMask from its key-block lists; the query-side lists are derived by transposing them."""
        if kv_indices.dim() < 2:
            raise RuntimeError("BlockMask must have at least 2 dimensions")
        if (full_kv_num_blocks is None) != (full_kv_indices is None):
            raise AssertionError("full_kv_num_blocks and full_kv_indices must be both provided or omitted")
        q_num_blocks = q_indices = full_q_num_blocks = full_q_indices = None
        if compute_q_blocks:
            q_num_blocks, q_indices = _transpose_ordered(kv_num_blocks, kv_indices)
            if full_kv_num_blocks is not None and full_kv_indices is not None:
                full_q_num_blocks, full_q_indices = _transpose_ordered(full_kv_num_blocks, full_kv_indices)
        block_size = (BLOCK_SIZE, BLOCK_SIZE) if isinstance(BLOCK_SIZE, int) else tuple(BLOCK_SIZE)
        if seq_lengths is None:
            seq_lengths = (kv_indices.shape[-2] * block_size[0], kv_indices.shape[-1] * block_size[1])
        if dq_kv_order is not None and not isinstance(dq_kv_order, (bool, Tensor)):
            raise ValueError("dq_kv_order must be a bool, Tensor, or None")
        return cls(
            seq_lengths=seq_lengths,
            kv_num_blocks=kv_num_blocks,
            kv_indices=kv_indices,
            full_kv_num_blocks=full_kv_num_blocks,
            full_kv_indices=full_kv_indices,
            q_num_blocks=q_num_blocks,
            q_indices=q_indices,
            full_q_num_blocks=full_q_num_blocks,
            full_q_indices=full_q_indices,
            BLOCK_SIZE=(int(block_size[0]), int(block_size[1])),
            mask_mod=mask_mod if mask_mod is not None else noop_mask,
            dq_write_order=dq_write_order,
            dq_write_order_full=dq_write_order_full,
            dq_kv_order=dq_kv_order if isinstance(dq_kv_order, Tensor) else None,
            dq_kv_order_spt=dq_kv_order if isinstance(dq_kv_order, bool) else None,
        )

    def as_tuple(self, flatten: bool = True) -> tuple[Any, ...]:
        """The BlockMask's fields in torch's order (block size and sequence lengths flattened when asked)."""
        block_size: tuple[Any, ...] = tuple(self.BLOCK_SIZE) if flatten else (self.BLOCK_SIZE,)
        seq_lengths: tuple[Any, ...] = tuple(self.seq_lengths) if flatten else (self.seq_lengths,)
        return (
            *seq_lengths,
            self.kv_num_blocks,
            self.kv_indices,
            self.full_kv_num_blocks,
            self.full_kv_indices,
            self.q_num_blocks,
            self.q_indices,
            self.full_q_num_blocks,
            self.full_q_indices,
            self.dq_write_order,
            self.dq_write_order_full,
            self.dq_kv_order,
            self.dq_kv_order_spt,
            *block_size,
            self.mask_mod,
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """(*batch dims, Q_LEN, KV_LEN)."""
        *batch_dims, _, _ = self.kv_indices.shape
        return tuple(int(d) for d in batch_dims) + tuple(self.seq_lengths)

    def __str__(self) -> str:
        return f"BlockMask(shape={self.shape}, sparsity={self.sparsity():.2f}%, \n{self.to_string().strip()}\n)"

    def __repr__(self) -> str:
        def shape_or_none(x: Tensor | None) -> Any:
            return x.shape if x is not None else None

        name = getattr(self.mask_mod, "__name__", self.mask_mod)
        return (
            f"BlockMask(\n"
            f"    kv_num_blocks={self.kv_num_blocks.shape},\n"
            f"    kv_indices={self.kv_indices.shape},\n"
            f"    full_kv_num_blocks={shape_or_none(self.full_kv_num_blocks)},\n"
            f"    full_kv_indices={shape_or_none(self.full_kv_indices)},\n"
            f"    q_num_blocks={shape_or_none(self.q_num_blocks)},\n"
            f"    q_indices={shape_or_none(self.q_indices)},\n"
            f"    full_q_num_blocks={shape_or_none(self.full_q_num_blocks)},\n"
            f"    full_q_indices={shape_or_none(self.full_q_indices)},\n"
            f"    BLOCK_SIZE={self.BLOCK_SIZE},\n"
            f"    shape={self.shape},\n"
            f"    sparsity={self.sparsity():.2f}%,\n"
            f"    mask_mod={name}\n"
            f")"
        )

    def __getitem__(self, index: Any) -> BlockMask:
        """The BlockMask of the chosen batch/head/query-block positions (an int keeps its dimension, as torch's)."""
        if self.dq_kv_order is not None:
            raise NotImplementedError("Slicing BlockMask with tensor dq_kv_order is not supported yet.")
        index = index if isinstance(index, tuple) else (index,)
        padded = (*index, slice(None), slice(None), slice(None))[:3]
        sizes = self.kv_num_blocks.shape[:3]
        norm = tuple(
            (slice(i + n, i + n + 1) if -n <= i < 0 else slice(i, i + 1)) if isinstance(i, int) else i
            for i, n in zip(padded, sizes)
        )
        full_num = self.full_kv_num_blocks[norm] if self.full_kv_num_blocks is not None else None
        full_idx = self.full_kv_indices[norm] if self.full_kv_indices is not None else None
        new = BlockMask.from_kv_blocks(
            self.kv_num_blocks[norm],
            self.kv_indices[norm],
            full_num,
            full_idx,
            BLOCK_SIZE=self.BLOCK_SIZE,
            mask_mod=_sliced_mask_mod_error,
            seq_lengths=self.seq_lengths,
            compute_q_blocks=self.q_indices is not None,
        )
        new.dq_kv_order_spt = self.dq_kv_order_spt
        return new

    def _adjust(self, new_q_len: int, new_kv_len: int) -> BlockMask:
        """Crop the block lists to the upper-left (new_q_len, new_kv_len) corner."""
        new_rows = (new_q_len + self.BLOCK_SIZE[0] - 1) // self.BLOCK_SIZE[0]
        new_cols = (new_kv_len + self.BLOCK_SIZE[1] - 1) // self.BLOCK_SIZE[1]
        kv_num, kv_idx = _adjust_num_blocks_and_indices(self.kv_num_blocks, self.kv_indices, new_rows, new_cols)
        full_num: Tensor | None = None
        full_idx: Tensor | None = None
        if self.full_kv_num_blocks is not None and self.full_kv_indices is not None:
            full_num, full_idx = _adjust_num_blocks_and_indices(
                self.full_kv_num_blocks, self.full_kv_indices, new_rows, new_cols
            )
        new = self.from_kv_blocks(
            kv_num,
            kv_idx,
            full_num,
            full_idx,
            BLOCK_SIZE=self.BLOCK_SIZE,
            mask_mod=self.mask_mod,
            seq_lengths=(new_q_len, new_kv_len),
            compute_q_blocks=self.q_indices is not None,
        )
        new.dq_kv_order_spt = self.dq_kv_order_spt
        return new

    def numel(self) -> int:
        """Returns the number of elements (not accounting for sparsity) in the mask."""
        return functools.reduce(operator.mul, self.shape, 1)

    def sparsity(self) -> float:
        """Computes the percentage of blocks that are sparse (i.e. not computed)."""
        computed = int(self.kv_num_blocks.sum().item())
        if self.full_kv_num_blocks is not None:
            computed += int(self.full_kv_num_blocks.sum().item())
        computed_size = computed * self.BLOCK_SIZE[0] * self.BLOCK_SIZE[1]
        return 100 * (1 - computed_size / self.numel())

    def to_dense(self) -> Tensor:
        """Returns a dense block that is equivalent to the block mask: (..., query blocks, key blocks) int32."""
        dense = _ordered_to_dense(self.kv_num_blocks, self.kv_indices, self.kv_indices.shape[-1])
        if self.full_kv_num_blocks is not None and self.full_kv_indices is not None:
            dense = dense | _ordered_to_dense(
                self.full_kv_num_blocks, self.full_kv_indices, self.full_kv_indices.shape[-1]
            )
        return dense

    def to_string(self, grid_size: int | tuple[int, int] = (20, 20), limit: int = 4) -> str:
        """A picture of the block mask (full blocks █, partial ░), at most ``limit`` batch/head entries."""
        dense_mask = self.to_dense()
        *batch_dims, num_rows, num_cols = dense_mask.shape
        if grid_size == -1:
            max_rows, max_cols = num_rows, num_cols
        elif isinstance(grid_size, int):
            max_rows = max_cols = grid_size
        else:
            max_rows, max_cols = grid_size
        row_step = max(1, -(-num_rows // max_rows))
        col_step = max(1, -(-num_cols // max_cols))

        def create_block_vis(*batch_idx: int) -> str:
            vis = f"{batch_idx}\n"
            cur = dense_mask
            for i in batch_idx:
                cur = cur[i]
            for r in range(0, num_rows, row_step):
                for c in range(0, num_cols, col_step):
                    frac = cur[r : r + row_step, c : c + col_step].float().mean().item()
                    vis += ("█" if frac == 1 else " " if frac == 0 else "░") * 2
                vis += "\n"
            return vis

        total_vis = []
        for n, batch_idx in enumerate(itertools.product(*[range(int(i)) for i in batch_dims])):
            if n == limit:
                total_vis.append("...")
                total_vis.append("To print out more, set BlockMask.to_string(limit=N)")
                total_vis.append("You can also index (BlockMask[batch, head]) to choose a specific batch or head")
                break
            total_vis.append(create_block_vis(*batch_idx))
        return "\n".join(total_vis)

    def to(self, device: Device | str) -> BlockMask:
        """A BlockMask with its tensors on ``device`` (the original is unchanged)."""
        moved: dict[str, Any] = {
            a: (t.to(device) if t is not None else None) for a in self._TENSOR_ATTRS for t in [getattr(self, a)]
        }
        return BlockMask(
            self.seq_lengths,
            **moved,
            BLOCK_SIZE=self.BLOCK_SIZE,
            mask_mod=self.mask_mod,
            dq_kv_order_spt=self.dq_kv_order_spt,
        )


# ---------------------------------------------------------------- building masks
def _default_device(device: Device | str | None) -> Any:
    if device is None:
        return bp.accelerator.current_accelerator() or "cpu"
    return device


def _index_grid(b: int, h: int, q_len: int, kv_len: int, device: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Broadcastable int64 batch/head/query/key index tensors: (B,1,1,1), (1,H,1,1), (1,1,L,1), (1,1,1,S)."""
    return (
        bp.arange(b, device=device).reshape(b, 1, 1, 1),
        bp.arange(h, device=device).reshape(1, h, 1, 1),
        bp.arange(q_len, device=device).reshape(1, 1, q_len, 1),
        bp.arange(kv_len, device=device).reshape(1, 1, 1, kv_len),
    )


def _eval_mask_mod(fn: Callable[..., Any], idx: tuple[Tensor, Tensor, Tensor, Tensor], name: str) -> Tensor:
    mask = fn(*idx)
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}: mask_mod must return a bool Tensor, got {type(mask).__name__}")
    if mask.dtype != bp.bool:
        raise TypeError(f"{name}: mask_mod must return a bool Tensor, got dtype {mask.dtype}")
    return mask


def create_mask(
    mod_fn: _score_mod_signature | _mask_mod_signature,
    B: int | None,  # noqa: N803
    H: int | None,  # noqa: N803
    Q_LEN: int,  # noqa: N803
    KV_LEN: int,  # noqa: N803
    device: Device | str | None = None,
) -> Tensor:
    """The dense (B, H, Q_LEN, KV_LEN) bool mask of a mask_mod (or of a score_mod: where it is not -inf)."""
    device = _default_device(device)
    b = 1 if B is None else B
    h = 1 if H is None else H
    idx = _index_grid(b, h, Q_LEN, KV_LEN, device)
    if _get_mod_type(mod_fn) == _ModificationType.SCORE_MOD:
        out = mod_fn(bp.zeros(b, h, Q_LEN, KV_LEN, device=device), *idx)  # type: ignore[call-arg]
        mask = ~bp.isneginf(out)
    else:
        mask = _eval_mask_mod(mod_fn, idx, "create_mask")
    return mask.expand(b, h, Q_LEN, KV_LEN).contiguous()


def _convert_mask_to_block_mask(
    mask: Tensor,
    Q_BLOCK_SIZE: int = _DEFAULT_SPARSE_BLOCK_SIZE,  # noqa: N803
    KV_BLOCK_SIZE: int = _DEFAULT_SPARSE_BLOCK_SIZE,  # noqa: N803
    separate_full_blocks: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """(B, H, Q, KV) bool -> per-block int8 grids: partial blocks (some True) and full blocks (all True)."""
    while mask.dim() < 4:
        mask = mask.unsqueeze(0)
    b, h, q, kv = (int(d) for d in mask.shape)
    pad_q = -q % Q_BLOCK_SIZE
    pad_kv = -kv % KV_BLOCK_SIZE
    if pad_kv:
        mask = bp.cat([mask, bp.zeros(b, h, q, pad_kv, dtype=bp.bool, device=mask.device)], -1)
    if pad_q:
        mask = bp.cat([mask, bp.zeros(b, h, pad_q, kv + pad_kv, dtype=bp.bool, device=mask.device)], -2)
    nq, nkv = (q + pad_q) // Q_BLOCK_SIZE, (kv + pad_kv) // KV_BLOCK_SIZE
    blocks = mask.reshape(b, h, nq, Q_BLOCK_SIZE, nkv, KV_BLOCK_SIZE).permute(0, 1, 2, 4, 3, 5)
    block_sum = blocks.to(bp.int64).sum((-2, -1))
    if separate_full_blocks:
        full_size = Q_BLOCK_SIZE * KV_BLOCK_SIZE
        full = block_sum == full_size
        partial = (block_sum > 0) & (block_sum < full_size)
        return partial.to(bp.int8), full.to(bp.int8)
    return (block_sum > 0).to(bp.int8), None


def create_block_mask(
    mask_mod: _mask_mod_signature,
    B: int | None,  # noqa: N803
    H: int | None,  # noqa: N803
    Q_LEN: int,  # noqa: N803
    KV_LEN: int,  # noqa: N803
    device: Device | str | None = None,
    BLOCK_SIZE: int | tuple[int, int] = _DEFAULT_SPARSE_BLOCK_SIZE,  # noqa: N803
    _compile: bool = False,
    separate_full_blocks: bool = True,
    compute_dq_write_order: bool = False,
    dq_kv_order: bool = True,
) -> BlockMask:
    """A BlockMask from a mask_mod ``(b, h, q_idx, kv_idx) -> bool``, evaluated densely over (B, H, Q_LEN, KV_LEN).

    ``compute_dq_write_order`` (metadata for torch's deterministic FLASH backward) is accepted and computes nothing.
    """
    device = _default_device(device)
    if _get_mod_type(mask_mod) != _ModificationType.MASK_MOD:
        raise AssertionError(f"create-block_mask requires a mask_mod function! Got {mask_mod}")
    q_block, kv_block = (BLOCK_SIZE, BLOCK_SIZE) if isinstance(BLOCK_SIZE, int) else BLOCK_SIZE
    if _compile:
        warnings.warn(
            "_compile flag on create_block_mask was originally added to work around a torch.compile limitation. "
            "That limitation has since been addressed. So, to compile create_block_mask, we suggest doing "
            "torch.compile(create_block_mask). This still works for now, but will be removed in the future.",
            DeprecationWarning,
            stacklevel=2,
        )
    if not isinstance(dq_kv_order, bool):
        raise ValueError("dq_kv_order must be a bool when using create_block_mask")
    mask = create_mask(mask_mod, 1 if B is None else B, 1 if H is None else H, Q_LEN, KV_LEN, device)
    partial, full = _convert_mask_to_block_mask(mask, q_block, kv_block, separate_full_blocks)
    kv_num, kv_idx = _dense_to_ordered(partial)
    full_num, full_idx = _dense_to_ordered(full) if full is not None else (None, None)
    block_mask = BlockMask.from_kv_blocks(
        kv_num,
        kv_idx,
        full_num,
        full_idx,
        BLOCK_SIZE=(q_block, kv_block),
        mask_mod=mask_mod,
        seq_lengths=(Q_LEN, KV_LEN),
    )
    if compute_dq_write_order:
        block_mask.dq_kv_order_spt = dq_kv_order
    return block_mask


def _create_empty_block_mask(query: Tensor, key: Tensor) -> BlockMask:
    """The BlockMask flex_attention uses without one: a single block covering everything, noop_mask."""
    device = query.device
    return BlockMask.from_kv_blocks(
        kv_num_blocks=bp.ones(1, 1, 1, dtype=bp.int32, device=device),
        kv_indices=bp.zeros(1, 1, 1, 1, dtype=bp.int32, device=device),
        BLOCK_SIZE=_LARGE_SPARSE_BLOCK_SIZE,
        seq_lengths=(1, 1),
    )


# ---------------------------------------------------------------- flex_attention
def _shapes(query: Tensor, key: Tensor, value: Tensor) -> str:
    return f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"


def _validate_inputs(query: Tensor, key: Tensor, value: Tensor, block_mask: BlockMask | None, enable_gqa: bool) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"flex_attention: expected {name} to be a Tensor, got {type(t).__name__}")
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not t.is_floating_point():
            raise TypeError(
                f"flex_attention: expected floating-point query, key and value, got {name} of dtype {t.dtype}"
            )
    if query.device != key.device or query.device != value.device:
        raise ValueError(
            "Expected query, key, and value to have the same device type, but got "
            f"query.device: {query.device}, key.device: {key.device}, and value.device: {value.device} instead."
        )
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise ValueError(
            "flex_attention: expected query, key, and value to all be at least 2 dimensional, got "
            + _shapes(query, key, value)
        )
    if query.size(-1) != key.size(-1):
        raise ValueError(
            "Expect query and key/value to have the same embedding dimension "
            f"but got E={query.size(-1)} and E={key.size(-1)} (flex_attention: {_shapes(query, key, value)})."
        )
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise NotImplementedError(
            "NYI: query, key, and value must be 4D tensors (flex_attention takes (B, H, L, E) query, "
            f"(B, Hkv, S, E) key and (B, Hkv, S, Ev) value; got {_shapes(query, key, value)})"
        )
    if tuple(key.shape[:3]) != tuple(value.shape[:3]):
        raise ValueError(
            "flex_attention: expected key and value to share batch, heads and sequence length, got "
            + _shapes(query, key, value)
        )
    hq, hkv = query.size(1), key.size(1)
    if not enable_gqa and hq != hkv:
        raise ValueError(
            "Expect query and key/value to have the same number of heads "
            f"but got Hq={hq} and Hkv={hkv}. Try setting enable_gqa=True for GQA."
        )
    if enable_gqa and (hkv == 0 or hq % hkv != 0):
        raise ValueError(
            f"Expect number of query heads to be a multiple of kv heads for GQA but got Hq={hq} and Hkv={hkv}."
        )
    bq, bkv = query.size(0), key.size(0)
    if bq != bkv:
        if block_mask is None:
            raise ValueError(
                "Expect query and key/value to have the same batch size, or non-none block_mask, "
                f"but got block_mask=None, Bq={bq}, and Bkv={bkv}."
            )
        if block_mask.kv_num_blocks.size(0) != bq:
            raise ValueError(
                "Expect query and key/value to have the same batch size, or block_mask and query to have the "
                f"same batch size, but got Bq={bq}, Bkv={bkv}, B_block_mask={block_mask.kv_num_blocks.size(0)}."
            )
        if not (bq > 1 and bkv == 1):
            raise RuntimeError(f"Bq and Bkv must broadcast. Got Bq={bq} and Bkv={bkv}")


def _validate_block_mask(block_mask: BlockMask, query: Tensor, key: Tensor) -> None:
    if block_mask.BLOCK_SIZE == (_LARGE_SPARSE_BLOCK_SIZE, _LARGE_SPARSE_BLOCK_SIZE):
        return  # the "no mask" block mask
    q_len, kv_len = block_mask.shape[-2], block_mask.shape[-1]
    lq, lkv = query.size(-2), key.size(-2)
    if lq > q_len or lkv > kv_len:
        raise ValueError(
            f"block_mask was created for block_mask.shape={block_mask.shape} but got q_len={lq} and kv_len={lkv}. "
            "As the block mask was created for a smaller length than you're using it for, you likely need to "
            "create a new block mask."
        )
    if lq != q_len or lkv != kv_len:
        raise ValueError(
            f"block_mask was created for block_mask.shape={block_mask.shape} but got q_len={lq} and kv_len={lkv}. "
            "As the block mask was created for a larger length than you're using it for, you can either 1. "
            "create a new block mask with the correct length, or 2. 'adjust' the existing block mask to the "
            "correct length by calling block_mask._adjust(q_len, kv_len). This essentially 'crops' the block "
            "mask to the upper left corner, which does not work for all mask_mods!"
        )
    if query.device != block_mask.kv_num_blocks.device:
        raise RuntimeError(
            "Expect q/k/v and block_mask to be on the same device "
            f"but got {query.device} and {block_mask.kv_num_blocks.device}."
        )


def _check_kernel_options(kernel_options: FlexKernelOptions | None) -> None:
    if kernel_options is None:
        return
    opts = dict(kernel_options)
    if "BACKEND" in opts and opts.get("FORCE_USE_FLEX_ATTENTION", False):
        raise RuntimeError(
            "BACKEND cannot be combined with legacy FORCE_USE_FLEX_ATTENTION. BACKEND supersedes the legacy knob; "
            "please drop FORCE_USE_FLEX_ATTENTION and only specify the desired BACKEND."
        )
    valid = typing.get_args(_Backend)
    if "BACKEND" in opts and opts["BACKEND"] not in valid:
        raise ValueError(f"Invalid BACKEND value '{opts['BACKEND']}'. Must be one of {valid}")
    for internal in ("OUTPUT_LOGSUMEXP", "OUTPUT_MAX"):
        if internal in opts:
            raise AssertionError(f"{internal} must not be in kernel_options")


def _math_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    score_mod: _score_mod_signature | None,
    mask_mod: _mask_mod_signature | None,
    scale: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(out, lse, max_scores): torch's eager math_attention composed from differentiable backprop ops."""
    group = query.size(1) // key.size(1)
    if group != 1:
        key = key.repeat_interleave(group, dim=1)
        value = value.repeat_interleave(group, dim=1)
    bq = query.size(0)
    key = key.expand(bq, *key.shape[1:])
    value = value.expand(bq, *value.shape[1:])
    work = bp.float64 if query.dtype == bp.float64 else bp.float32
    scores = query.to(work).matmul(key.to(work).transpose(-2, -1)) * scale
    bsz, heads, q_len, kv_len = full = tuple(int(d) for d in scores.shape)
    idx = _index_grid(bsz, heads, q_len, kv_len, scores.device)
    post = scores
    if score_mod is not None:
        post = score_mod(scores, *idx)
        if not isinstance(post, Tensor):
            raise TypeError(f"flex_attention: score_mod must return a Tensor, got {type(post).__name__}")
        if tuple(post.shape) != full:
            post = post.expand(*full)
        if post.dtype != work:
            post = post.to(work)
    if mask_mod is not None:
        post = bp.where(_eval_mask_mod(mask_mod, idx, "flex_attention"), post, -math.inf)
    # torch's safe softmax: a row where every score is -inf gets weights 0, lse -inf (and no NaN gradients)
    row_max = post.amax(-1, keepdim=True)
    dead = bp.isneginf(row_max)
    shift = bp.where(dead, 0.0, row_max.detach())
    e = (post - shift).exp()
    total = e.sum(-1, keepdim=True)
    safe_total = bp.where(dead, 1.0, total)
    weights = e / safe_total
    lse = bp.where(dead, -math.inf, safe_total.log() + shift).squeeze(-1)
    out = weights.to(query.dtype).matmul(value.to(query.dtype))
    return out, lse, row_max.squeeze(-1)


def flex_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    score_mod: _score_mod_signature | None = None,
    block_mask: BlockMask | None = None,
    scale: float | None = None,
    enable_gqa: bool = False,
    return_lse: bool = False,
    kernel_options: FlexKernelOptions | None = None,
    *,
    return_aux: AuxRequest | None = None,
) -> Tensor | tuple[Tensor, Tensor] | tuple[Tensor, AuxOutput]:
    """Attention over (B, Hq, L, E) queries and (B, Hkv, S, E)/(B, Hkv, S, Ev) keys/values with an elementwise
    ``score_mod`` and a ``block_mask``; (B, Hq, L, Ev), plus the logsumexp (B, Hq, L) when asked."""
    _validate_inputs(query, key, value, block_mask, enable_gqa)
    if block_mask is None:
        block_mask = _create_empty_block_mask(query, key)
    if getattr(block_mask, "mask_mod", None) is _sliced_mask_mod_error:
        raise RuntimeError("Cannot use mask_mod from a sliced BlockMask")
    _validate_block_mask(block_mask, query, key)
    if scale is None:
        scale = 1.0 / math.sqrt(query.size(-1))
    if return_lse and return_aux is not None:
        raise ValueError(
            "Cannot specify both return_lse and return_aux. "
            "return_lse is deprecated, please use return_aux=AuxRequest(lse=True) instead."
        )
    if return_lse:
        _warn_once(
            "deprecated_return_lse",
            "return_lse is deprecated and will be removed in v2.10. "
            "Please use return_aux=AuxRequest(lse=True) instead.",
            category=FutureWarning,
        )
    _check_kernel_options(kernel_options)
    mask_mod = None if block_mask.mask_mod is noop_mask else block_mask.mask_mod
    out, lse, max_scores = _math_attention(query, key, value, score_mod, mask_mod, float(scale))
    if return_aux is not None:
        return out, AuxOutput(
            lse=lse if return_aux.lse else None, max_scores=max_scores if return_aux.max_scores else None
        )
    if return_lse:
        return out, lse
    return out
