"""``bp.types`` (torch.types): the type aliases torch's signatures use (``Number``, ``Device``, ``_size``,
``_dtype``, ...) with backprop's classes in torch's places, and ``Storage`` (the base of the storages
``untyped_storage()``/``storage()`` return). Loaded on first use of ``bp.types``."""

from __future__ import annotations

import os
from builtins import bool as _bool
from builtins import bytes as _bytes
from builtins import complex as _complex
from builtins import float as _float
from builtins import int as _int
from builtins import str as _str
from collections.abc import Sequence
from typing import IO, Any, Union

import numpy as np

from backprop.devices import Device as _device  # noqa: N813 - torch.types' names
from backprop.methods.attributes import Layout as _layout  # noqa: N813
from backprop.methods.storage import UntypedStorage as Storage
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = ["Device", "FileLike", "Number", "Storage"]

_dtype = np.dtype  # backprop's dtypes are NumPy's (bp.dtype)
_qscheme = Any  # no quantized tensors
_dispatchkey = str

# torch's symbolic ints/floats/bools do not exist here: the plain Python types stand in for them
SymInt, SymFloat, SymBool = _int, _float, _bool
py_sym_types = (SymInt, SymFloat, SymBool)

_TensorOrTensors = Union[Tensor, Sequence[Tensor]]  # noqa: UP007 - runtime aliases, as torch's
_TensorOrOptionalTensors = Union[Tensor, Sequence[Union[Tensor, None]]]  # noqa: UP007
_TensorOrTensorsOrGradEdge = Union[Tensor, Sequence[Tensor], Any, Sequence[Any]]  # noqa: UP007
_size = Union[Size, list[_int], tuple[_int, ...]]  # noqa: UP007
_symsize = Union[Size, Sequence[_int]]  # noqa: UP007
IntLikeType = _int
FloatLikeType = _float
BoolLikeType = _bool
PySymType = Union[_int, _float, _bool]  # noqa: UP007
Number = Union[_int, _float, _bool]  # noqa: UP007
_Number = (_int, _float, _bool)
FileLike = Union[_str, os.PathLike, IO[_bytes]]  # noqa: UP007
Device = Union[_device, _str, _int, None]  # noqa: UP007

_unused = (_complex, _layout)  # (re-exported names of torch.types)
