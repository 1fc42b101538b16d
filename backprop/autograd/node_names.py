"""torch's ``grad_fn.name()`` for the ops whose torch counterpart is named after something else.

A node's name is derived from its op (``mul`` -> ``MulBackward0``); where torch names the same
computation otherwise (``x[0]`` is ``SelectBackward0``, ``F.linear`` on a matrix ``AddmmBackward0``,
``cross_entropy`` ``NllLossBackward0``), the rules below give torch's name from the node's attributes
and input shapes. Graph-drawing tools and tests print these; nothing in the engine reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "NamedAttrs",
    "name_rule",
    "name_inplace",
    "name_node",
    "name_nodes",
    "name_values",
    "op_backward_name",
    "torch_name",
]


class NamedAttrs(dict):
    """A node's attributes with the name torch gives the computation it ends (``split``'s pieces are
    ``SplitBackward0``, ``mse_loss`` ``MseLossBackward0``): set by ``name_node`` on the node of a composite
    function's result, off the hot path (the keys, which kernels and rules read, are unchanged)."""

    __slots__ = ("torch_name",)
    torch_name: str


def name_node(t: Any, name: str) -> Any:
    """``t`` (a Tensor), its ``grad_fn`` (if any) named ``name`` as torch names it."""
    node = t.grad_fn
    if node is not None and hasattr(node, "_attrs"):
        attrs = node._attrs
        if not isinstance(attrs, NamedAttrs):  # (a NamedAttrs is the node's own, and may carry grad links)
            attrs = node._attrs = NamedAttrs(attrs)
        attrs.torch_name = name
    return t


def name_inplace(t: Any, op: Any, name: str) -> Any:
    """``t`` (the target of an in-place ``op``), its node named ``name`` when ``op`` made it (a write
    through a view leaves the view's own node, and the base's CopySlices, as they are)."""
    if getattr(t.grad_fn, "op", None) is op:
        name_node(t, name)
    return t


def name_nodes(name: str, *ts: Any) -> tuple[Any, ...]:
    """``ts`` (the outputs of one torch kernel, such as ``linalg.qr``'s Q and R), each node named ``name``."""
    for t in ts:
        name_node(t, name)
    return ts


def name_values(values: Any, rtype: type) -> Any:
    """``values`` (a Tensor) of a ``(values, indices)`` op along a dim, its ``grad_fn`` named as torch's
    one node for that op, after the op's return type (``MaxBackward0`` for ``return_types.max``)."""
    kind = rtype.__name__
    return name_node(values, "".join(map(str.capitalize, kind.split("_"))) + _DIM_FORM.get(kind, "Backward0"))


_DIM_FORM = {"median": "Backward1", "nanmedian": "Backward1"}  # (the dim overloads; Backward0 reduces all)


@functools.cache
def op_backward_name(op_name: str) -> str:
    """The backward's name derived from the op's: ``MulBackward0`` for ``mul``, ``MyFnBackward`` for a
    custom ``autograd.Function`` (whose op carries the class's name)."""
    if op_name[:1].isupper():
        return f"{op_name}Backward"
    return "".join(part[:1].upper() + part[1:] for part in op_name.split("_")) + "Backward0"


def _index_name(index: Any) -> str | None:
    """The last step torch's indexing takes for ``index`` (None: no step at all)."""
    parts = index if isinstance(index, tuple) else (index,)
    last = None
    for part in parts:
        if isinstance(part, (list, np.ndarray)) or hasattr(part, "__cuda_array_interface__"):
            return "IndexBackward0"  # (advanced indexing runs after the basic steps: it is the last)
        if isinstance(part, (int, np.integer)):
            last = "SelectBackward0"
        elif isinstance(part, slice):
            if part != slice(None) or last is None:
                last = "SliceBackward0" if part != slice(None) else (last or "full")
        elif part is None:
            last = "UnsqueezeBackward0"
    return last


def _getitem(node: Any) -> str | None:
    index = node._attrs["index"]
    if index.__class__ is int:  # x[0]: the common case, first
        then = node._attrs.get("then")
        return "SelectBackward0" if then is None else _index_name(then) or "SelectBackward0"
    name = _index_name(index)
    then = node._attrs.get("then")
    if then is not None:
        name = _index_name(then) or name
    if name == "full":  # only full slices: torch's bare ``x[:]`` is a slice, ``x[:, :]``/``x[..., :]`` an alias
        return "SliceBackward0" if not isinstance(index, tuple) or len(index) == 1 else "AliasBackward0"
    return name or "AliasBackward0"


def _setitem(node: Any) -> str:
    """torch's node for ``x[index] = v``: index_put_ (IndexPutBackward0) when the index is advanced with only
    full slices beside it, fill_ (FillBackward3) or copy_ (CopyBackwards) of the whole tensor, else a write
    through a view (CopySlices); ``fill_``, ``copy_`` and ``zero_`` name their own nodes."""
    index = node._attrs["index"]
    parts = index if isinstance(index, tuple) else (index,)
    advanced = [getattr(p, "ndim", 0) > 0 and not isinstance(p, slice) for p in parts]
    whole = all(a or p is Ellipsis or p == slice(None) for p, a in zip(parts, advanced))
    if not whole or node._attrs.get("then") is not None:
        return "torch::autograd::CopySlices"  # (torch's C++ name; the repr shows "CopySlices")
    if any(advanced):
        return "IndexPutBackward0"
    value = node.in_meta[1] if len(node.in_meta) > 1 else None
    return "FillBackward3" if value is None or value[0] == () else "torch::autograd::CopyBackwards"


def _linear(node: Any) -> str:
    bias = len(node.in_meta) > 2 and node.in_meta[2] is not None
    rank = len(node.in_meta[0][0])
    if rank == 2:
        return "AddmmBackward0" if bias else "MmBackward0"
    if rank == 1 and not bias:  # (torch's matmul of a vector: a row's mm, squeezed)
        return "SqueezeBackward4"
    return "ViewBackward0" if bias else "UnsafeViewBackward0"


def _matmul(node: Any) -> str | None:
    ranks = (len(node.in_meta[0][0]), len(node.in_meta[1][0]))
    return _MATMUL_NAMES.get(ranks, "UnsafeViewBackward0" if ranks[0] >= 3 else None)


_MATMUL_NAMES = {(1, 1): "DotBackward0", (2, 2): "MmBackward0", (2, 1): "MvBackward0"}


def _reshape(node: Any) -> str:
    # (``squeeze``/``unsqueeze``/``t``/``transpose``/... pass torch's name as the ``named`` attribute)
    return node._attrs.get("named") or "ViewBackward0"


def _fft_c2c(node: Any) -> str:
    # (torch transforms a real input along one dim by its r2c kernel, its inverse as the conjugate of that)
    if node._attrs.get("real_input") and len(node._attrs["dims"]) == 1:
        return "FftR2CBackward0" if node._attrs["forward"] else "ConjBackward0"
    return "FftC2CBackward0"


# ops whose torch node is named after another function (linalg's ``_ex`` kernels, ``special_`` functions)
_TORCH_NAMES = {
    "det": "LinalgDetBackward0",
    "inv": "LinalgInvExBackward0",
    "pinv": "LinalgPinvBackward0",
    "fft_r2c": "FftR2CBackward0",
    "fft_c2r": "FftC2RBackward0",
    "i1": "SpecialI1Backward0",
    "_I0e": "SpecialI0EBackward0",
    "_I1e": "SpecialI1EBackward0",
    "_Erfcx": "SpecialErfcxBackward0",
    "_Xlog1py": "SpecialXlog1PyBackward0",
    "_Entr": "SpecialEntrBackward0",
    "_Ndtri": "SpecialNdtriBackward0",
    "_LogNdtr": "SpecialLogNdtrBackward0",
}

_RULES: dict[str, Callable[[Any], str | None]] = {
    "getitem": _getitem,
    "linear": _linear,
    "matmul": _matmul,
    "reshape": _reshape,
    "permute": lambda n: n._attrs.get("named"),
    "cross_entropy": lambda n: "AddBackward0" if n._attrs.get("label_smoothing") else "NllLossBackward0",
    "astype": lambda n: "ToCopyBackward0",
    "to_device": lambda n: "ToCopyBackward0",
    "sum": lambda n: "SumBackward0" if n._attrs.get("axis") is None else "SumBackward1",
    "mean": lambda n: "MeanBackward0" if n._attrs.get("axis") is None else "MeanBackward1",
    "clamp": lambda n: "ClampBackward1",
    "norm": lambda n: "LinalgVectorNormBackward0",
    "setitem": _setitem,
    "sub": lambda n: "RsubBackward1" if n.in_meta[0] is None else None,  # 1 - x
    "div": lambda n: "MulBackward0" if n.in_meta[0] is None else None,  # 2 / x: torch's reciprocal * 2
    "pow": lambda n: "PowBackward2" if n.in_meta[0] is None else "PowBackward1" if n.in_meta[1] is not None else None,
    "square": lambda n: "PowBackward0",
    "log1p": lambda n: "Log1PBackward0",
    "prod": lambda n: "ProdBackward0" if n._attrs.get("axis") is None else "ProdBackward1",
    "amax": lambda n: "MaxBackward1" if n._attrs.get("nan_shares") else None,  # x.max(): all maxima share
    "amin": lambda n: "MinBackward1" if n._attrs.get("nan_shares") else None,
    "lerp": lambda n: "LerpBackward1" if n.in_meta[2] is not None else None,
    "logsigmoid": lambda n: "LogSigmoidBackward0",
    "fmod": lambda n: "FmodBackward1" if n.in_meta[1] is not None else None,  # (a tensor divisor)
    "remainder": lambda n: "RemainderBackward1" if n.in_meta[0] is None or n.in_meta[1] is not None else None,
    "fft_c2c": _fft_c2c,
    **dict.fromkeys(_TORCH_NAMES, lambda n: _TORCH_NAMES[n.op.name]),
}


def name_rule(op_name: str) -> Callable[[Any], str | None] | None:
    """The rule naming ``op_name``'s nodes one by one (None: the op's name alone gives them)."""
    return _RULES.get(op_name)


def torch_name(node: Any) -> str | None:
    """torch's name for ``node``'s backward where it differs from the op-derived one (else None)."""
    named = getattr(getattr(node, "_attrs", None), "torch_name", None)
    if named is not None:
        return named
    rule = _RULES.get(node.op.name)
    if rule is None:
        return None
    try:
        return rule(node)
    except (KeyError, IndexError, TypeError):  # attributes this rule does not expect: the op's name
        return None
