"""Higher-order gradients: running backward rules so that they record a graph.

With ``create_graph=True`` the engine runs each backward rule through ``graph_backward``, which
hands the rule ``tensor_xp`` as ``ctx.xp`` instead of numpy/cupy, so the same rule text records
differentiable ops and gradients of gradients work. ``tensor_xp`` covers exactly the functions the
rules call; anything else is an AttributeError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.autograd.function import Node, apply
from backprop.ops import elementwise as ew
from backprop.ops import linalg, reduction, shape
from backprop.ops._util import norm_axes


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "grad_fn")


def _unary(opdef: Any, npfn: Any) -> Any:
    def fn(x: Any) -> Any:
        return apply(opdef, x) if _is_tensor(x) else npfn(x)

    return fn


class _TensorXP:
    __name__ = "backprop.tensor_xp"

    exp = staticmethod(_unary(ew.exp, np.exp))
    log = staticmethod(_unary(ew.log, np.log))
    tanh = staticmethod(_unary(ew.tanh, np.tanh))
    sqrt = staticmethod(_unary(ew.sqrt, np.sqrt))

    @staticmethod
    def sign(x: Any) -> Any:
        """sign(x) as a constant (its derivative is zero almost everywhere)."""
        return x._wrap(x.device.xp.sign(x._data), x.device, None)

    @staticmethod
    def where(cond: Any, x: Any, y: Any) -> Any:
        return apply(ew.where, cond, x, y)

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return apply(reduction.sum, x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return apply(reduction.mean, x, axis=axis, keepdims=keepdims)

    @staticmethod
    def reshape(x: Any, shape_: tuple) -> Any:
        return apply(shape.reshape, x, shape=tuple(shape_))

    @staticmethod
    def broadcast_to(x: Any, shape_: tuple) -> Any:
        if tuple(x.shape) == tuple(shape_):
            return x
        return apply(shape.expand, x, shape=tuple(shape_))

    @staticmethod
    def expand_dims(x: Any, axis: int) -> Any:
        new = list(x.shape)
        new.insert(axis % (x.ndim + 1), 1)
        return apply(shape.reshape, x, shape=tuple(new))

    @staticmethod
    def squeeze(x: Any, axis: Any) -> Any:
        axes = norm_axes(axis, x.ndim)
        return apply(shape.reshape, x, shape=tuple(n for i, n in enumerate(x.shape) if i not in axes))

    @staticmethod
    def transpose(x: Any, axes: tuple) -> Any:
        return apply(shape.permute, x, axes=tuple(axes))

    @staticmethod
    def swapaxes(x: Any, a: int, b: int) -> Any:
        axes = list(range(x.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return apply(shape.permute, x, axes=tuple(axes))

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        return apply(linalg.matmul, a, b)


tensor_xp = _TensorXP()


def graph_backward(node: Node, rule: Any, gy: Any, wrap: Any) -> Any:
    """Run a backward rule on Tensors so that it records a graph (``create_graph=True``)."""
    if not node.op.double_backward:
        raise NotImplementedError(
            f"op {node.op.name!r} does not support create_graph=True (double backward); "
            "compose it from differentiable ops if you need higher-order gradients"
        )
    node.graph_xp = tensor_xp
    node.wrap = wrap
    try:
        return rule(node, gy)
    finally:
        node.graph_xp = None


def fit_graph(gx: Any, meta: tuple, unbroadcast: Any) -> Any:
    """Reduce a Tensor gradient to its input's shape and dtype, recorded in the graph."""
    shape, dtype = meta
    if gx.shape != shape:
        gx = unbroadcast(gx, shape, tensor_xp)
    if gx.dtype != dtype:
        if gx.dtype.kind == "c" and dtype.kind != "c":  # torch: a real input gets Re of a complex gradient
            gx = gx.real
        gx = gx.to(dtype)
    return gx
