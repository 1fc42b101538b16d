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
from backprop.autograd.node_names import NamedAttrs
from backprop.ops import elementwise as ew
from backprop.ops import linalg, reduction, shape
from backprop.ops._util import norm_axes
from backprop.registry import OpDef


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
        gxs = rule(node, gy)
    finally:
        node.graph_xp = None
    attrs = node._attrs
    linked = getattr(attrs, "grad_links", None) if attrs.__class__ is LinkedAttrs else _OP_LINKS.get(node.op.name)
    if linked is not None:
        gxs = _link(node, gxs, linked, wrap)
    named = _GRAD_NAMES.get(node.op.name)
    if named is not None:
        _name_grad(gxs, gy, named)
    return gxs


def _name_grad(gxs: Any, gy: Any, name: str) -> None:
    """The first input's gradient, a node the rule made, named as torch's fused backward kernel's
    (``tanh_backward(grad, result)`` is ``TanhBackwardBackward0`` under a second differentiation)."""
    gx = gxs[0] if gxs else None
    node = getattr(gx, "grad_fn", None)
    if node is not None and node is not getattr(gy, "grad_fn", None) and isinstance(node._attrs, dict):
        attrs = node._attrs if isinstance(node._attrs, NamedAttrs) else NamedAttrs(node._attrs)
        attrs.torch_name = name
        node._attrs = attrs


# op -> torch's name for its input's gradient under create_graph, where torch computes it with one
# backward kernel of its own (the rules here compose it from mul, where, ...: the values are the same)
_GRAD_NAMES = {
    "tanh": "TanhBackwardBackward0",
    "sigmoid": "SigmoidBackwardBackward0",
    "gelu": "GeluBackwardBackward0",
    "elu": "EluBackwardBackward0",  # (selu and celu are elu's kernel in torch too)
    "softplus": "SoftplusBackwardBackward0",
    "hardswish": "HardswishBackwardBackward0",
    "logsigmoid": "LogSigmoidBackwardBackward0",
    "softmax": "SoftmaxBackwardDataBackward0",
    "log_softmax": "LogSoftmaxBackwardDataBackward0",
    "cross_entropy": "LogSoftmaxBackwardDataBackward0",  # (torch's is log_softmax then nll_loss)
    "binary_cross_entropy": "BinaryCrossEntropyBackwardBackward0",
}


# Gradients built from masks, indices and the incoming gradient alone (ReLU's, an L1 loss's, max
# pooling's) are constant in the inputs: the rules above give them no graph when the incoming gradient
# has none. torch's carry one whenever its backward formula takes a tensor that requires grad
# (``threshold_backward(grad, result, 0)``): they require grad, with zero derivatives w.r.t. those
# tensors (``g.sum().backward()`` leaves zeros in ``x.grad``; gradient penalties rely on it). Under
# ``create_graph`` such a node's gradients pass through ``grad_link``, an identity in its first input
# whose derivative w.r.t. the others (the linked tensors) is zero. Only this path reads the tables below:
# the plain backward pays nothing.


def _link_forward(xp: Any, g: Any, *linked: Any) -> Any:
    """g itself (a view of it); the other inputs only give g's graph edges of zero derivative."""
    return g[...] if getattr(g, "ndim", 0) else g


grad_link = OpDef("grad_link", _link_forward, view=True)


@grad_link.defvjp
def _grad_link_backward(ctx: Any, gy: Any) -> tuple:
    node: Node = ctx
    xp = node.device.xp
    out = [gy]
    for edge, meta in zip(node.edges[1:], node.in_meta[1:]):
        if edge is None or meta is None:
            out.append(None)
            continue
        zero = xp.broadcast_to(xp.zeros((), dtype=meta[1]), meta[0])  # (no memory: the engine copies what it keeps)
        out.append(zero if node.graph_xp is None else node.wrap(zero, node.device, None))
    return tuple(out)


class LinkedAttrs(NamedAttrs):
    """A node's attributes, with the tensors its gradients are linked to under ``create_graph``
    (``link_gradients``) and torch's name for those gradients."""

    __slots__ = ("grad_links",)
    grad_links: tuple[tuple[Any, ...], str]  # ((edge, (shape, dtype)) per linked tensor, torch's name)


def link_gradients(t: Any, *tensors: Any, name: str) -> Any:
    """``t`` (a Tensor a composite function computed from ``tensors``), its ``grad_fn`` marked so that
    under ``create_graph`` the gradients it passes back are linked to those of ``tensors`` that require
    grad (as torch's ``max_pool2d_with_indices_backward(grad, self, ...)`` is to ``self``), their graph
    named ``name``. Off the hot path: a plain backward never reads the mark."""
    node = t.grad_fn
    if node is None or not isinstance(node, Node):
        return t
    targets = tuple(
        (x if x.grad_fn is None else x.grad_fn, (tuple(x.shape), x._data.dtype))
        for x in tensors
        if x is not None and hasattr(x, "grad_fn") and x.requires_grad
    )
    if not targets:
        return t
    attrs = LinkedAttrs(node._attrs)
    named = getattr(node._attrs, "torch_name", None)
    if named is not None:
        attrs.torch_name = named
    attrs.grad_links = (targets, name)
    node._attrs = attrs
    return t


def _standin(node: Node, edge: Any, meta: Any, wrap: Any) -> Any:
    """The tensor behind graph edge ``edge``: a leaf itself, or a zero stand-in produced by its node."""
    if not isinstance(edge, Node):
        return edge
    xp = node.device.xp
    return wrap(xp.broadcast_to(xp.zeros((), dtype=meta[1]), meta[0]), node.device, edge)


def _link(node: Node, gxs: Any, linked: Any, wrap: Any) -> Any:
    """``gxs`` with each gradient passed through ``grad_link`` to the linked tensors."""
    if linked.__class__ is tuple:  # a composite's mark: (targets, name)
        targets, name = linked
        links = [_standin(node, e, m, wrap) for e, m in targets]
    else:  # an op's: its differentiable inputs
        name = linked(node)
        if name is None:
            return gxs
        links = [_standin(node, e, m, wrap) for e, m in zip(node.edges, node.in_meta) if e is not None]
    if not links:
        return gxs
    out = []
    for gx in gxs:
        if gx is not None and _is_tensor(gx):
            gx = apply(grad_link, gx, *links)
            gx.grad_fn._attrs = NamedAttrs()
            gx.grad_fn._attrs.torch_name = name
        out.append(gx)
    return tuple(out)


def _named(name: str) -> Any:
    return lambda node: name


def _norm_link(node: Node) -> str | None:
    """The 1- and inf-norms' gradients (sign(x), a mask of the maxima) are constant in x."""
    return "MulBackward0" if node.attrs["ord"] in (1, float("inf"), float("-inf")) else None


# op -> torch's name for the linked gradient (None: not linked for these attributes)
_OP_LINKS: dict[str, Any] = {
    "relu": _named("ThresholdBackwardBackward0"),
    "threshold": _named("ThresholdBackwardBackward0"),
    "leaky_relu": _named("LeakyReluBackwardBackward0"),
    "hardtanh": _named("HardtanhBackwardBackward0"),
    "hardsigmoid": _named("HardsigmoidBackwardBackward0"),
    "abs": _named("MulBackward0"),
    "norm": _norm_link,
}


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
