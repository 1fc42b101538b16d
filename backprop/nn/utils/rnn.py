"""Variable-length sequences for recurrent layers (torch.nn.utils.rnn names).

``pad_sequence`` stacks sequences of different lengths into one padded tensor; ``PackedSequence`` holds
them time-major without padding (``data`` of shape (sum of lengths, *), ``batch_sizes[t]`` the number of
sequences still running at step t), as the RNN modules accept. Every function is a composite of indexing,
``cat`` and ``stack``, so gradients flow through packing and unpacking.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from backprop import creation
from backprop import functions as fn
from backprop.ops._util import ShapeError
from backprop.tensor import Tensor


class PackedSequence(NamedTuple):
    """Sequences sorted by decreasing length, stored time-major without padding (torch's fields)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` moved/cast as ``Tensor.to``; the index tensors follow ``data``'s device (``batch_sizes``
        stays on the CPU, as torch's); ``self`` when ``data`` is unchanged."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = [None if t is None else t.to(data.device) for t in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, move[0], move[1])

    def cpu(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self.to("cpu", *args, **kwargs)

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``to`` the current CUDA device, or the one given (``cuda(1)``, ``cuda(device="cuda:1")``)."""
        device = args[0] if args else kwargs.pop("device", None)
        device = "cuda" if device is None else f"cuda:{device}" if isinstance(device, builtins.int) else device
        return self.to(device, *args[1:], **kwargs)

    def double(self) -> PackedSequence:
        return self.to(dtype=np.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=np.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=np.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=np.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=np.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=np.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=np.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=np.uint8)

    def pin_memory(self) -> PackedSequence:
        """``self``'s tensors pinned: no page-locked host memory here (README), so the same tensors."""
        pin = [None if t is None else t.pin_memory() for t in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(self.data.pin_memory(), self.batch_sizes, pin[0], pin[1])

    def is_pinned(self) -> bool:
        """Whether ``data`` is in pinned memory (never here)."""
        return self.data.is_pinned()

    @property
    def is_cuda(self) -> bool:
        return self.data.device.type == "cuda"


def _lengths_array(lengths: Any) -> np.ndarray:
    """``lengths`` (list, array or 1-D tensor) as a host int64 array."""
    arr = lengths.detach().numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if arr.ndim > 1:
        # (torch makes any lengths a CPU int64 tensor first)
        raise ShapeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {arr.ndim}D cpu Long tensor")
    return arr.astype(np.int64).reshape(-1)


def _index(arr: np.ndarray, like: Tensor) -> Tensor:
    return creation.tensor(arr.astype(np.int64), device=like.device)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of an index permutation (``inv[perm[i]] = i``; None stays None), as torch's helper that
    ``PackedSequence`` uses for its ``unsorted_indices``."""
    if permutation is None:
        return None
    out = creation.empty_like(permutation, memory_format=None)
    out._data[permutation._data] = permutation.device.xp.arange(permutation._data.size, dtype=permutation._data.dtype)
    return out


def pad_sequence(
    sequences: Tensor | Sequence[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack (L_i, *) tensors into (T, B, *) (or (B, T, *) with ``batch_first``), T the longest L_i,
    filling with ``padding_value`` after (``padding_side="right"``) or before (``"left"``) each sequence."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    for i, s in enumerate(seqs):  # torch's argument check: lists of ids must be made tensors first
        if not isinstance(s, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(s).__name__}")
    if seqs[0].ndim == 0:
        raise RuntimeError("pad_sequence: each sequence needs a time dim (L, *), but element 0 is a 0-d tensor")
    if any(s.ndim == 0 for s in seqs):
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    trailing = tuple(seqs[0].shape[1:])
    dtype = seqs[0].dtype
    for i, s in enumerate(seqs):  # torch copies each into a slice of the first's shape and dtype: broadcasting
        if tuple(s.shape[1:]) != trailing:
            _broadcast_into((s.shape[0], *trailing), tuple(s.shape))
            seqs[i] = s.expand(s.shape[0], *trailing)
        if s.dtype != dtype:
            seqs[i] = seqs[i].to(dtype)
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        missing = longest - s.shape[0]
        if missing:
            fill = creation.full((missing, *trailing), padding_value, dtype=s.dtype, device=s.device)
            s = fn.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return fn.stack(padded, 0 if batch_first else 1)


def _broadcast_into(dest: tuple[int, ...], src: tuple[int, ...]) -> None:
    """torch's checks of ``copy_`` from a ``src``-shaped tensor into a ``dest``-shaped one (its messages)."""
    n = max(len(dest), len(src))
    a, b = (1,) * (n - len(dest)) + dest, (1,) * (n - len(src)) + src
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}"
            )
    shape = tuple(y if x == 1 else x for x, y in zip(a, b))
    if shape != dest:
        raise RuntimeError(f"output with shape {list(dest)} doesn't match the broadcast shape {list(shape)}")


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The inverse of ``pad_sequence`` (right padding): one (L_i, *) tensor per sequence."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[: int(n)] for seq, n in zip(padded_sequences.unbind(0), _lengths_array(lengths))]


def _batch_sizes(lengths: np.ndarray) -> np.ndarray:
    """batch_sizes[t] = how many (sorted) sequences are longer than t."""
    return (lengths[None, :] > np.arange(int(lengths.max()))[:, None]).sum(1).astype(np.int64)


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded (T, B, *) batch (``batch_first``: (B, T, *)) of sequences of the given ``lengths``."""
    lens = _lengths_array(lengths)
    if lens.size and lens.min() <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
        )
    batch_dim, time_dim = (0, 1) if batch_first else (1, 0)
    if lens.size != input.shape[batch_dim]:
        raise ShapeError(
            "Expected `len(lengths)` to be equal to batch_size, but got "
            f"{lens.size} (batch_size={input.shape[batch_dim]})"
        )
    if lens.max() > input.shape[time_dim]:
        raise ValueError(
            f"pack_padded_sequence: a length of {int(lens.max())} exceeds the {input.shape[time_dim]} padded steps"
        )
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
        order = None
    else:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
    batch_sizes = _batch_sizes(lens)
    steps = np.concatenate([np.full(n, t) for t, n in enumerate(batch_sizes)])
    rows = np.concatenate([np.arange(n) for n in batch_sizes])
    if order is not None:
        rows = order[rows]
    t_idx, b_idx = _index(steps, input), _index(rows, input)
    data = input[b_idx, t_idx] if batch_first else input[t_idx, b_idx]
    if order is None:
        return PackedSequence(data, creation.tensor(batch_sizes))
    return PackedSequence(data, creation.tensor(batch_sizes), _index(order, input), _index(np.argsort(order), input))


def _padding_map(batch_sizes: np.ndarray) -> np.ndarray:
    """(T, B) index into the packed rows (sorted batch order), -1 where a sequence has ended."""
    steps, batch = len(batch_sizes), int(batch_sizes[0])
    where = np.full((steps, batch), -1, dtype=np.int64)
    start = 0
    for t, n in enumerate(batch_sizes):
        where[t, :n] = np.arange(start, start + n)
        start += n
    return where


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Unpack to a padded (T, B, *) tensor (``batch_first``: (B, T, *)) in the original batch order, and the
    lengths (int64)."""
    data, batch_sizes = sequence.data, _lengths_array(sequence.batch_sizes)
    where = _padding_map(batch_sizes)
    if total_length is not None:
        if total_length < len(batch_sizes):
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {len(batch_sizes)}"
            )
        extra = np.full((total_length - len(batch_sizes), where.shape[1]), -1, dtype=np.int64)
        where = np.concatenate([where, extra])
    lengths = (where >= 0).sum(0)
    if sequence.unsorted_indices is not None:
        unsorted = _lengths_array(sequence.unsorted_indices)
        where, lengths = where[:, unsorted], lengths[unsorted]
    fill = creation.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    rows = np.where(where >= 0, where, data.shape[0])  # the row after the data is the padding value
    padded = fn.cat([data, fill], 0)[_index(rows.T if batch_first else rows, data)]
    return padded, creation.tensor(lengths.astype(np.int64))


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors (``pad_sequence`` then ``pack_padded_sequence``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of ``pack_sequence``: one (L_i, *) tensor per sequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = [
    "PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
    "unpack_sequence", "unpad_sequence", "invert_permutation",
]  # fmt: skip
