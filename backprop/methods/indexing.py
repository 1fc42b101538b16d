"""Indexing: ``x[index]`` through the ``getitem`` op, and in-place ``x[index] = value``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from backprop.autograd.function import apply, check_inplace
from backprop.ops import indexing as ix

if TYPE_CHECKING:
    from backprop.devices import Device
    from backprop.tensor import Tensor


class IndexingMethods:
    """``x[i]``, ``x[mask]``, ``x[idx] = v``."""

    __slots__ = ()

    def __getitem__(self: Any, index: Any) -> Tensor:
        return apply(ix.getitem, self, index=index_arg(index, self.device))

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        """In-place assignment; only outside graph recording (as in optimizer code)."""
        check_inplace("__setitem__", self, value)
        v = value.data if hasattr(value, "grad_fn") else value
        self.data[index_arg(index, self.device)] = v
        self._version += 1


def index_arg(index: Any, device: Device) -> tuple:
    """A user index as a tuple the kernels understand (index Tensors and lists become arrays)."""
    if not isinstance(index, tuple):
        index = (index,)
    out: list[Any] = []
    for i in index:
        if hasattr(i, "grad_fn"):  # a Tensor
            if i.dtype.kind not in "iub":
                raise IndexError(
                    f"tensors used as indices must be integer or bool tensors (long, int, bool), got {i.dtype}"
                )
            if i.device is not device:
                i = i.detach().to(device)
            out.append(i.data)
        elif isinstance(i, (list, np.ndarray)):
            arr = np.asarray(i)
            if arr.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be integer or bool, got {arr.dtype}")
            out.append(device.backend.from_host(arr, device.index) if device.type != "cpu" else arr)
        elif isinstance(i, slice):
            out.append(slice(*(None if v is None else int(v) for v in (i.start, i.stop, i.step))))
        else:
            out.append(i)
    return tuple(out)
