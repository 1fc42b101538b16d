"""The "meta" device: tensors with a shape and a dtype but no data, as torch's meta tensors.

What it is for, as in torch: building a model's skeleton without memory (``with bp.device("meta"):
model = Net()``, then ``model.to_empty(device="cpu")`` or ``load_state_dict(..., assign=True)``), and
a module whose parameters ``torch.func.functional_call`` replaces (``copy.deepcopy(model).to("meta")``
in torch's model-ensembling tutorial).

A meta array is a NumPy array whose strides are all 0 over one element (``placeholder``): any shape
costs one element of memory. Ops on meta tensors run their NumPy kernels on these placeholders (their
shapes and dtypes come out as on the CPU) and the results become placeholders again, so a meta tensor
never holds more than one element. This differs from torch's shape-only meta kernels in cost, not in
result: an op on a meta tensor costs what it costs on the CPU (README). Reading values back (``item``,
``tolist``, ``.cpu()``, ``copy_`` into another device's tensor) raises torch's errors, and ops whose
result shape depends on values (``nonzero``, boolean masks, ``unique``, ...) refuse as torch's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Backend

NO_DATA = "Cannot copy out of meta tensor; no data!"

#: ops whose result shape depends on the values: torch has no meta kernel for them
DATA_DEPENDENT = frozenset({"nonzero", "unique", "bincount"})  # (boolean masks: see meta_kernel)


def placeholder(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A writable array of ``shape`` and ``dtype`` backed by one element (all strides 0)."""
    one = np.zeros(1, dtype=dtype)
    return np.lib.stride_tricks.as_strided(one, shape=tuple(shape), strides=(0,) * len(shape), writeable=True)


def is_placeholder(a: Any) -> bool:
    """Whether ``a`` is already a one-element-backed array (a placeholder, or a view of one)."""
    return a.size <= 1 or not any(a.strides)


def meta_values(value: Any) -> Any:
    """``value`` with every NumPy array of more than one element replaced by a placeholder (tuples,
    lists and dicts walked; other objects, and arrays already placeholders, kept as they are)."""
    if isinstance(value, np.ndarray):
        return value if is_placeholder(value) else placeholder(value.shape, value.dtype)
    if isinstance(value, tuple):
        return tuple(meta_values(v) for v in value)
    if isinstance(value, list):
        return [meta_values(v) for v in value]
    return value


def _refuse(name: str) -> None:
    raise NotImplementedError(
        f"{name}: attempted to run this operator with Meta tensors, but its result's shape depends on the "
        "values, which meta tensors do not have (torch has no meta kernel for it either)"
    )


def _has_mask(index: Any) -> bool:
    """Whether an index (an array, or a tuple of them) holds a boolean array: a data-dependent shape."""
    if isinstance(index, tuple):
        return any(_has_mask(i) for i in index)
    return isinstance(index, np.ndarray) and index.dtype == np.bool_ and index.ndim > 0


def meta_kernel(name: str, kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``kernel`` (an op's forward on NumPy) for meta inputs: refused where the result's shape depends
    on the values, otherwise run on the placeholders with its outputs made placeholders."""
    if name in DATA_DEPENDENT:

        def refused(*args: Any, **attrs: Any) -> Any:
            _refuse(name)

        return refused

    def run(*args: Any, **attrs: Any) -> Any:
        if name in ("getitem", "setitem", "index_put") and (_has_mask(attrs.get("index")) or _has_mask(args[1:])):
            _refuse(f"{name} with a boolean mask")
        return meta_values(kernel(*args, **attrs))

    return run


def meta_rule(rule: Callable[..., Any]) -> Callable[..., Any]:
    """A backward rule for meta tensors: the rule, with its gradients made placeholders."""

    def run(ctx: Any, *grads: Any) -> Any:
        return meta_values(rule(ctx, *grads))

    return run


class MetaBackend(Backend):
    """NumPy's kernels over placeholders (see the module docstring); always available."""

    name = "meta"
    device_type = "meta"

    def __init__(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64(0))  # (ops that draw on meta tensors draw here)

    def is_available(self) -> bool:
        return True

    @property
    def xp(self) -> Any:
        return np

    @property
    def array_type(self) -> type:
        return np.ndarray

    def from_host(self, array: Any, index: int = 0) -> np.ndarray:
        """A placeholder of ``array``'s shape and dtype: moving to meta keeps no values, as torch."""
        a = np.asarray(array)
        return placeholder(a.shape, a.dtype)

    def to_host(self, array: Any) -> np.ndarray:
        raise NotImplementedError(NO_DATA)

    def rng(self, index: int = 0) -> np.random.Generator:
        return self._rng

    def manual_seed(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))
