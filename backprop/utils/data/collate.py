"""Turning a list of samples into a batch (``default_collate``), and samples into tensors (``default_convert``).

torch's rules: tensors are stacked along a new first dim; Python floats become a float64 tensor, ints
int64, bools bool; NumPy arrays and scalars become tensors of their dtype; mappings are collated key
by key, namedtuples field by field, other sequences position by position (tuples become lists);
strings and bytes stay a sequence of strings. New tensors are made on the CPU.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop import dtypes
from backprop.creation import as_tensor, tensor
from backprop.functions import stack
from backprop.tensor import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

_NOT_NUMERIC = re.compile(r"[SaUO]")  # NumPy dtype codes of strings, bytes and objects
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"

CollateFnMap = dict[type | tuple[type, ...], Callable[..., Any]]


def default_convert(data: Any) -> Any:
    """NumPy arrays and scalars in ``data`` (nested in mappings and sequences) become tensors; nothing is batched."""
    if isinstance(data, Tensor):
        return data
    kind = type(data)
    if kind.__module__ == "numpy" and kind.__name__ not in ("str_", "bytes_", "string_"):
        if isinstance(data, np.ndarray) and _NOT_NUMERIC.search(data.dtype.str) is not None:
            return data
        return as_tensor(np.asarray(data), device="cpu")
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return kind(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(like: Any, items: dict) -> Any:
    """A mapping of ``like``'s type holding ``items`` (a plain dict where the type cannot be rebuilt)."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)  # keeps extra attributes of the mapping type
            clone.update(items)
            return clone
        return type(like)(items)
    except TypeError:
        return items


def _rebuild_sequence(like: Any, items: list) -> Any:
    """A sequence of ``like``'s type holding ``items`` (a list where the type cannot be rebuilt)."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(like)(items)
    except TypeError:
        return items


def collate(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Any:
    """Collate ``batch`` (a sequence of samples), using ``collate_fn_map[type](batch, collate_fn_map=...)``
    for the leaf types it names and recursing into mappings and sequences."""
    elem = batch[0]
    kind = type(elem)
    if collate_fn_map is not None:
        if kind in collate_fn_map:
            return collate_fn_map[kind](batch, collate_fn_map=collate_fn_map)
        for leaf in collate_fn_map:
            if isinstance(elem, leaf):
                return collate_fn_map[leaf](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(
            elem, {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
        )
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return kind(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch, strict=False)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch, strict=False)]
        return columns if isinstance(elem, tuple) else _rebuild_sequence(elem, columns)
    raise TypeError(_ERR.format(kind))


def collate_tensor_fn(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    """Tensors stacked along a new first dim (all of one shape, as torch.stack requires)."""
    shape = batch[0].shape
    for i, t in enumerate(batch):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    return stack(list(batch), 0)


def collate_numpy_array_fn(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Any:
    """NumPy arrays become CPU tensors, then are stacked; arrays of strings or objects are an error."""
    if _NOT_NUMERIC.search(batch[0].dtype.str) is not None:
        raise TypeError(_ERR.format(batch[0].dtype))
    return collate([as_tensor(b, device="cpu") for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    """NumPy scalars become a 1-d tensor of their (promoted) dtype."""
    return as_tensor(np.asarray(batch), device="cpu")


def collate_float_fn(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    """Python floats become a float64 tensor (torch's rule, not the default dtype)."""
    return tensor(list(batch), dtype=dtypes.float64, device="cpu")


def collate_int_fn(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    """Python ints become an int64 tensor, bools a bool tensor."""
    return tensor(list(batch), device="cpu")


def collate_str_fn(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Any:
    """Strings and bytes stay as they are: the batch is their sequence."""
    return batch


default_collate_fn_map: CollateFnMap = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch: Any) -> Any:
    """A list of samples as one batch, by torch's rules (see the module docstring)."""
    return collate(batch, collate_fn_map=default_collate_fn_map)
