"""Library-neutral comparison of a case run under torch and under backprop (``L`` is either module): the
result's picture (tensors as shape, dtype name and values; containers by type) or the exception's class and
message must be the same. Shared by the API-surface parity tests (data utilities, nn.Module)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp


def norm(x: Any) -> Any:
    """A library-neutral picture of a result: tensors as (shape, dtype name, values), containers by type."""
    if type(x).__name__ in ("Tensor", "Parameter", "Buffer") and hasattr(x, "shape"):
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), np.asarray(x.detach().cpu().numpy()).tolist())
    if isinstance(x, dict):
        return (type(x).__name__, [(k, norm(v)) for k, v in x.items()])
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return ("namedtuple", type(x).__name__, [norm(v) for v in x])
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [norm(v) for v in x])
    if isinstance(x, (str, bytes, int, float, bool, type(None))):
        return x
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.tolist())
    if hasattr(x, "__iter__"):
        return (type(x).__name__, [norm(v) for v in x])
    return ("object", type(x).__name__)


def run(case: Any, lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ("ok", norm(case(lib)))
        except Exception as e:  # noqa: BLE001 - the exception's class and message are what is compared
            return ("raises", type(e).__name__, str(e))


def same_as_torch(case: Any) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    assert run(case, bp) == run(case, torch)
