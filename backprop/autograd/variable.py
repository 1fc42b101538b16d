"""``autograd.Variable``: torch's pre-0.4 wrapper, kept by torch as an alias: ``Variable(t)`` is ``t``."""

from __future__ import annotations

import warnings
from typing import Any


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return hasattr(obj, "grad_fn") and hasattr(obj, "_data")  # every Tensor is a Variable, as in torch


class Variable(metaclass=_VariableMeta):
    """``Variable(tensor, requires_grad=False)`` returns the tensor itself (``requires_grad=True`` sets the
    flag), as torch has done since Variables and Tensors merged; ``volatile=True`` warns, as torch's, and is ignored."""

    def __new__(cls, data: Any, requires_grad: bool = False, volatile: bool = False) -> Any:
        if not (hasattr(data, "grad_fn") and hasattr(data, "_data")):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            msg = "volatile was removed and now has no effect. Use `with torch.no_grad():` instead."
            warnings.warn(msg, UserWarning, stacklevel=2)
        if requires_grad:
            data.requires_grad_(True)
        return data
