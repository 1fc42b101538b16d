"""The backward pass: an iterative reverse-topological walk over recorded Nodes.

No recursion (a chain of 100,000 ops is fine). Gradients of a Node's output are summed over every
path that reaches it before its backward rule runs; broadcasting is undone here, in one place.
Without ``create_graph`` everything below runs on raw arrays; with it, on Tensors, so the backward
pass is itself recorded and can be differentiated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop.autograd.function import Node, _check_finite
from backprop.autograd.grad_mode import anomaly_users, no_grad, set_grad_enabled, state


def _unbroadcast(g: Any, shape: tuple, xp: Any) -> Any:
    """Sum ``g`` down to ``shape`` (the inverse of numpy broadcasting).

    Leading extra dims are summed away and stretched size-1 dims summed with keepdims, so the
    result is a fresh array of exactly ``shape`` (no reshape view that a leaf would have to copy).
    """
    extra = g.ndim - len(shape)
    if extra:
        g = xp.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    if g.shape != shape:  # only for 0-d results of full reductions
        g = xp.reshape(g, shape)
    return g


def _dependencies(roots: Sequence[Node]) -> dict[Node, int]:
    """How many edges point at each Node reachable from ``roots``."""
    deps: dict[Node, int] = {}
    stack = list(roots)
    seen = set(roots)
    while stack:
        node = stack.pop()
        for e in node.edges:
            if e.__class__ is Node:
                deps[e] = deps.get(e, 0) + 1
                if e not in seen:
                    seen.add(e)
                    stack.append(e)
    return deps


def run_backward(
    tensors: Sequence[Any],
    grads: Sequence[Any],
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
) -> list[Any] | None:
    """Backpropagate ``grads`` (arrays, or Tensors when ``create_graph``) from ``tensors``.

    With ``inputs`` the gradients w.r.t. those tensors are returned (``autograd.grad``) and no
    ``.grad`` is touched; otherwise leaf gradients accumulate into ``.grad``.
    """
    wrap = tensors[0]._wrap
    capture_nodes: dict[Node, int] = {}
    capture_leaves: dict[int, int] = {}
    results: list[Any] = []
    if inputs is not None:
        results = [None] * len(inputs)
        for i, t in enumerate(inputs):
            if t.grad_fn is not None:
                capture_nodes[t.grad_fn] = i
            else:
                capture_leaves[id(t)] = i

    buffers: dict[Any, Any] = {}
    owned: set = set()
    leaf_grads: dict[int, list] = {}  # id(leaf) -> [leaf, grad]

    roots = []
    for t, g in zip(tensors, grads):
        if t.grad_fn is None:
            if not t.requires_grad:
                raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
            leaf_grads.setdefault(id(t), [t, None])
            entry = leaf_grads[id(t)]
            entry[1] = g if entry[1] is None else entry[1] + g
            continue
        if t.grad_fn not in buffers:
            roots.append(t.grad_fn)
            buffers[t.grad_fn] = g
        else:
            buffers[t.grad_fn] = buffers[t.grad_fn] + g

    rules: dict[Any, tuple] = {}  # op -> (device, its backward rule there, xp), looked up once per pass
    deps = _dependencies(roots)
    ready = [n for n in roots if deps.get(n, 0) == 0]
    mode = set_grad_enabled(True) if create_graph else no_grad()
    anomaly = bool(anomaly_users[0]) and state.anomaly
    with mode:
        while ready:
            node = ready.pop()
            gy = buffers.pop(node)
            if node.hooks:
                for hook in node.hooks:
                    gy = _run_hook(hook, gy, create_graph, wrap, node)
            if capture_nodes and node in capture_nodes:
                results[capture_nodes[node]] = gy
            op = node.op
            dev = node.device
            cached = rules.get(op)
            if cached is None or cached[0] is not dev:
                cached = rules[op] = (dev, op.backward_kernel(dev.backend), dev.xp)
            if create_graph:
                node._wrap = wrap
                gxs = _graph_backward(node, cached[1], gy)
                xp = None
            else:
                gxs = cached[1](node, gy)
                xp = cached[2]
            if not retain_graph and (node._saved or node._out is not None or node.aux is not None):
                node._saved = None  # free what was saved; a second backward then names retain_graph
                node._saved_tensors = ()
                node._out = None
                node.aux = None
            for edge, meta, gx in zip(node.edges, node.in_meta, gxs):
                if edge is None:
                    continue
                is_node = edge.__class__ is Node
                if gx is not None:
                    if xp is None:
                        gx = _fit_graph(gx, meta)
                    elif gx.shape != meta[0] or (gx.dtype is not meta[1] and gx.dtype != meta[1]):
                        gx = _fit(gx, meta, xp)
                    if anomaly:
                        _check_finite(op.name, "backward", gx if xp is not None else gx.data, dev)
                    if is_node:
                        b = buffers.get(edge)
                        if b is None:
                            buffers[edge] = gx
                        elif xp is None or edge not in owned:
                            buffers[edge] = b + gx  # a fresh buffer we own from here on
                            owned.add(edge)
                        else:
                            b += gx
                            buffers[edge] = b  # (0-d results may be immutable numpy scalars)
                    else:
                        entry = leaf_grads.get(id(edge))
                        if entry is None:
                            leaf_grads[id(edge)] = [edge, gx]
                        else:
                            entry[1] = entry[1] + gx
                if is_node:
                    d = deps[edge] - 1
                    deps[edge] = d
                    if d == 0:
                        if gx is not None or edge in buffers:
                            ready.append(edge)
                        else:
                            _skip(edge, deps, ready, buffers)

    if inputs is not None:
        for leaf, g in leaf_grads.values():
            i = capture_leaves.get(id(leaf))
            if i is not None:
                results[i] = g
        return [r if (r is None or create_graph) else wrap(r, inputs[i].device, None) for i, r in enumerate(results)]

    handed: set[int] = {id(g) for g in grads}  # arrays another owner may still hold
    for leaf, g in leaf_grads.values():
        if leaf._hooks:
            for hook in leaf._hooks:
                g = _run_hook(hook, g, create_graph, wrap, leaf)
        _accumulate(leaf, g, create_graph, wrap, handed)
    return None


def _skip(node: Node, deps: dict, ready: list, buffers: dict) -> None:
    """Release the dependencies of a node that received no gradient at all."""
    stack = [node]
    while stack:
        n = stack.pop()
        for e in n.edges:
            if e.__class__ is Node:
                deps[e] -= 1
                if deps[e] == 0:
                    if e in buffers:
                        ready.append(e)
                    else:
                        stack.append(e)


def _graph_backward(node: Node, rule: Any, gy: Any) -> Any:
    """Run a backward rule on Tensors so that it records a graph (``create_graph=True``)."""
    if not node.op.double_backward:
        raise NotImplementedError(
            f"op {node.op.name!r} does not support create_graph=True (double backward); "
            "compose it from differentiable ops if you need higher-order gradients"
        )
    node.graph_mode = True
    try:
        return rule(node, gy)
    finally:
        node.graph_mode = False


def _fit_graph(gx: Any, meta: tuple) -> Any:
    """``_fit`` for Tensor gradients, recorded in the graph."""
    shape, dtype = meta
    if gx.shape != shape:
        from backprop.autograd.tensor_xp import tensor_xp

        gx = _unbroadcast(gx, shape, tensor_xp)
    if gx.dtype != dtype:
        gx = gx.to(dtype)
    return gx


def _fit(gx: Any, meta: tuple, xp: Any) -> Any:
    """Reduce a gradient to its input's shape and cast it to its dtype."""
    shape, dtype = meta
    if gx.shape != shape:
        gx = _unbroadcast(gx, shape, xp)
    if gx.dtype != dtype:
        gx = gx.astype(dtype)
    return gx


def _run_hook(hook: Any, g: Any, create_graph: bool, wrap: Any, owner: Any) -> Any:
    t = g if create_graph else wrap(g, owner.device, None)
    out = hook(t)
    if out is None:
        return g
    return out if create_graph else out.data


def _accumulate(leaf: Any, g: Any, create_graph: bool, wrap: Any, handed: set[int]) -> None:
    """Add ``g`` into ``leaf.grad``, in place when the buffer is ours to change."""
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    if leaf.grad is None:
        # g may be shared with another leaf or the caller, or be a (broadcast) view of another
        # array: then keep a private copy, so later in-place accumulation cannot leak into it
        if g.__class__ is not leaf.device.array_type or g.base is not None or id(g) in handed:
            g = leaf.device.xp.array(g, copy=True)
        handed.add(id(g))
        leaf.grad = wrap(g, leaf.device, None)
    elif leaf.grad.grad_fn is not None:
        leaf.grad = leaf.grad.detach() + wrap(g, leaf.device, None)
    else:
        leaf.grad.data += g
        leaf.grad._version += 1
