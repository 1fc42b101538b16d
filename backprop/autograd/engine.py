"""The backward pass: an iterative reverse-topological walk over recorded Nodes.

No recursion (a chain of 100,000 ops is fine). Gradients of a Node's output are summed over every
path that reaches it before its backward rule runs; broadcasting is undone here, in one place.
Without ``create_graph`` everything below runs on raw arrays; with it, on Tensors, so the backward
pass is itself recorded and can be differentiated again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from backprop.autograd import trace
from backprop.autograd.function import AccumulateGrad, AccumulateGradHook, AnomalyError, Node, check_finite
from backprop.autograd.grad_mode import anomaly_users, no_grad, quiet_floats, set_grad_enabled, state, trace_users
from backprop.autograd.higher_order import fit_graph, graph_backward
from backprop.autograd.hooks import NodePostHook, PostAccumulateGradHook, grad_dtypes
from backprop.backends.meta_backend import placeholder
from backprop.registry import SparseRows


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
            if isinstance(e, Node):
                deps[e] = deps.get(e, 0) + 1
                if e not in seen:
                    seen.add(e)
                    stack.append(e)
    return deps


# how many ``autograd.graph.register_multi_grad_hook``s are registered: while any is, each backward
# runs as a graph task (``current_task``) whose hooks may queue callbacks for its end (read once per
# backward, not per node)
graph_task_users = [0]
_tasks = threading.local()


def current_task() -> list[Any] | None:
    """The callbacks of the backward pass running on this thread (run at its end), or None outside
    one (or while no multi-grad hook is registered)."""
    stack = getattr(_tasks, "stack", None)
    return stack[-1] if stack else None


def _run_task(
    tensors: Sequence[Any], grads: Sequence[Any], retain_graph: bool, create_graph: bool, inputs: Any
) -> list[Any] | None:
    """``run_backward`` as one graph task: the callbacks its hooks queued run once it is done."""
    stack = _tasks.__dict__.setdefault("stack", [])
    task: list[Any] = []
    stack.append(task)
    try:
        dev = tensors[0].device
        if dev.index:
            with dev.backend.use_device(dev.index):
                result = _run_backward(tensors, grads, retain_graph, create_graph, inputs)
        else:
            result = _run_backward(tensors, grads, retain_graph, create_graph, inputs)
    finally:
        stack.pop()
    for callback in task:
        callback()
    return result


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
    ``.grad`` is touched; otherwise leaf gradients accumulate into ``.grad``. On device ``cuda:N``
    the pass runs with device N current, so backward kernels launch (and allocate) there.
    """
    if graph_task_users[0]:
        return _run_task(tensors, grads, retain_graph, create_graph, inputs)
    dev = tensors[0].device
    if dev.index:
        with dev.backend.use_device(dev.index):
            return _run_backward(tensors, grads, retain_graph, create_graph, inputs)
    return _run_backward(tensors, grads, retain_graph, create_graph, inputs)


def _run_backward(
    tensors: Sequence[Any],
    grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None,
) -> list[Any] | None:
    wrap = tensors[0]._wrap
    tr = trace.tracer() if trace_users[0] else None
    if tr is not None:
        handed_var = _trace_start(tr, tensors, grads, create_graph, inputs)
    roots, buffers, leaf_grads = _seed(tensors, grads)
    capture: dict[Node, int] = {}
    results: list[Any] = []
    if inputs is not None:
        inputs = [_edge_input(t) for t in inputs]
        results = [None] * len(inputs)
        capture = {t.grad_fn: i for i, t in enumerate(inputs) if t.grad_fn is not None}
    with set_grad_enabled(True) if create_graph else no_grad(), quiet_floats():  # inf/NaN silently, as torch
        _walk(roots, buffers, leaf_grads, capture, results, retain_graph, create_graph, wrap, tr)
    if inputs is not None:
        return _collect(inputs, results, leaf_grads, create_graph, wrap)
    handed: set[int] = {id(g) for g in grads}  # arrays another owner may still hold
    home = tensors[0].device  # (the device the pass runs with current)
    for leaf, g in leaf_grads.values():
        post: list[Any] | None = None
        if leaf._hooks:
            if tr is not None:
                tr.fail("a gradient hook on a leaf (register_hook) runs Python on the gradient")
            post = [h for h in leaf._hooks if h.__class__ is PostAccumulateGradHook]
            for hook in leaf._hooks:
                if hook.__class__ is not PostAccumulateGradHook and hook.__class__ is not AccumulateGradHook:
                    g = _run_hook(hook, g, create_graph, wrap, leaf)
                    handed.add(id(g))  # a hook may keep the gradient it saw: .grad gets its own copy
            acc_hooks = [h for h in leaf._hooks if h.__class__ is AccumulateGradHook]
            if acc_hooks:  # (the leaf's AccumulateGrad node: its pre-hooks now, its post-hooks at the end)
                g = _run_acc_hooks(acc_hooks, True, g, create_graph, wrap, leaf)
                post = post + acc_hooks
                handed.add(id(g))
        if tr is None:
            if leaf.device.index != home.index and leaf.device.type == home.type:  # (a model split over GPUs)
                with leaf.device.backend.use_device(leaf.device.index):
                    _accumulate(leaf, g, create_graph, wrap, handed)
            else:
                _accumulate(leaf, g, create_graph, wrap, handed)
        else:
            _trace_accumulate(tr, leaf, g, wrap, handed, handed_var)
        for entry in post or ():
            if entry.__class__ is AccumulateGradHook:
                if not entry.pre:
                    _run_acc_hooks([entry], False, g, create_graph, wrap, leaf)
                continue
            with set_grad_enabled(create_graph):  # as torch: the hook runs in the pass's grad mode (p.add_ is legal)
                out = entry.fn(leaf)
            if out is not None and out is not leaf:  # torch lets `lambda p: p.add_(...)` return p itself
                raise RuntimeError("post accumulate grad hooks must return None")
    return None


def _edge_input(t: Any) -> Any:
    """An ``inputs`` entry: a ``GradientEdge`` (a named tuple, ``autograd.graph``) to a leaf's
    ``AccumulateGrad`` stands for the leaf; one to a Node is captured by its ``grad_fn``."""
    if isinstance(t, tuple) and t[0].__class__ is AccumulateGrad:
        return t[0].variable
    return t


def _trace_accumulate(tr: trace.Tracer, leaf: Any, g: Any, wrap: Any, handed: set[int], handed_var: str) -> None:
    """``_accumulate`` while recording: its line returns the ``.grad`` array (a copy of g, or the old one)."""
    vg = tr.ref(g)
    with tr.untraced():  # (its own .grad assignment is part of the line)
        _accumulate(leaf, g, False, wrap, handed)
    line = f"{tr.bind(_accumulated, 'f')}({tr.tensor(leaf)}, {vg}, {tr.bind(wrap)}, {handed_var})"
    tr.emit(f"{tr.new_var(leaf.grad._data)} = {line}", (vg, handed_var))


def _accumulated(leaf: Any, g: Any, wrap: Any, handed: set[int]) -> Any:
    """``_accumulate`` at replay; returns the ``.grad`` array, which later lines may read.

    The common case (no ``.grad`` yet: ``zero_grad()`` set it to None) is ``_accumulate``'s first
    branch inlined, assigning the slot directly: the record's guards already fixed the leaf's shape,
    dtype and device, which the ``grad`` setter would check again for every parameter of every step."""
    if leaf._grad is None and not grad_dtypes:
        dev = leaf.device
        if g.__class__ is not dev.array_type or g.base is not None or id(g) in handed or not _obeys_layout(g, leaf):
            g = _copy_in_layout(dev.xp, g, leaf._data)
        handed.add(id(g))
        leaf._grad = wrap(g, dev, None)
        return g
    _accumulate(leaf, g, False, wrap, handed)
    return leaf._grad._data


def _trace_start(
    tr: trace.Tracer, tensors: Sequence[Any], grads: Sequence[Any], create_graph: bool, inputs: Any
) -> str:
    """Check that this backward can be replayed; returns the name of the replay's ``handed`` set."""
    tr.backward_seen = True
    if create_graph:
        tr.fail("backward(create_graph=True) builds a graph of the backward pass")
    if inputs is not None:
        tr.fail("autograd.grad / backward(inputs=...) returns gradients instead of accumulating them")
    if len(tensors) != 1 or tensors[0].grad_fn is None:
        tr.fail("backward() of several tensors, or of a leaf")
    name = tr.local()  # the ids of arrays handed to the caller (see _accumulate)
    ids = ", ".join(f"id({tr.ref(g)})" for g in grads)
    tr.emit(f"{name} = {{{ids}}}")
    return name


def _trace_rule(tr: trace.Tracer, node: Node, rule: Any, gy: Any, gxs: Any) -> None:
    """Write one backward rule call down: its context's saved values, then the call."""
    if node.hooks:
        tr.fail("a gradient hook on a non-leaf tensor (register_hook) runs Python on the gradient")
    replay_ctx = trace.ReplayCtx(node)
    ctx = tr.bind(replay_ctx, "c")
    attrs = node.attrs
    if any(trace.holds_array(v) for v in attrs.values()):  # index arrays: this replay's, not the trace's
        entries = ", ".join(f"{k!r}: {tr.attr(v)}" for k, v in attrs.items())
        tr.emit(f"{ctx}.attrs = {{{entries}}}", (entries,))
        replay_ctx.attrs = {}  # (set by that line at every replay)
    saved = node._saved or ()
    items = [tr.ref(a, t if hasattr(t, "grad_fn") else None) for a, t in zip(saved, node._saved_tensors or saved)]
    if node._out is not None:
        items.append(tr.ref(node._out))
    reads = tuple(x for x in items if x[0] == "v")
    tr.emit(f"{ctx}.saved = ({''.join(x + ', ' for x in items)})", reads)
    if node.aux is not None:
        tr.emit(f"{ctx}.aux = {tr.ref(node.aux)}", (tr.ref(node.aux),))
    gxs = tuple(gxs)
    vy = tr.ref(gy)
    tr.call(rule, [ctx, vy], gxs, n_out=len(gxs), fresh=True)
    aux_reads = (tr.ref(node.aux),) if node.aux is not None else ()
    tr.donate(vy, (*items, *aux_reads), "ctx", replay_ctx)  # (the rule reads its saved values too)
    tr.emit(f"{ctx}.saved = {ctx}.aux = None")


def _seed(tensors: Sequence[Any], grads: Sequence[Any]) -> tuple[list[Node], dict[Node, Any], dict[int, list]]:
    """The root Nodes with their incoming gradients, and gradients of outputs that are leaves."""
    roots: list[Node] = []
    buffers: dict[Node, Any] = {}
    leaf_grads: dict[int, list] = {}  # id(leaf) -> [leaf, grad]
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if t.grad_fn is None:
            if not t.requires_grad:
                raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
            entry = leaf_grads.setdefault(id(t), [t, None])
            entry[1] = g if entry[1] is None else entry[1] + g
        elif t.grad_fn not in buffers:
            roots.append(t.grad_fn)
            buffers[t.grad_fn] = g
        else:
            buffers[t.grad_fn] = buffers[t.grad_fn] + g
    return roots, buffers, leaf_grads


def _walk(
    roots: list[Node],
    buffers: dict[Node, Any],
    leaf_grads: dict[int, list],
    capture: dict[Node, int],
    results: list[Any],
    retain_graph: bool,
    create_graph: bool,
    wrap: Any,
    tr: Any = None,
) -> None:
    """Run every reachable backward rule once, after all gradients of its output have arrived.

    The hot loop of the backward pass: kept in one piece on purpose (one Python frame per pass,
    not per node).
    """
    rules: dict[Any, tuple] = {}  # op -> (device, its backward rule there, xp), looked up once per pass
    deps = _dependencies(roots)
    ready = [n for n in roots if deps.get(n, 0) == 0]
    owned: set = set()  # buffers this pass allocated, safe to add into in place
    anomaly = bool(anomaly_users[0]) and state.anomaly and state.check_nan
    home = roots[0].device if roots else None  # current during the pass; a node elsewhere makes its own current
    while ready:
        node = ready.pop()
        gy = buffers.pop(node)
        post = None
        if node.hooks:
            for hook in node.hooks:
                if hook.__class__ is NodePostHook:
                    post = (post or []) + [hook]
                else:
                    gy = _run_hook(hook, gy, create_graph, wrap, node)
        if capture and node in capture:
            results[capture[node]] = gy
        op = node.op
        dev = node.device
        cached = rules.get(op)
        if cached is None or cached[0] is not dev:
            cached = rules[op] = (dev, op.backward_kernel(dev.backend), dev.xp)
        if create_graph:
            gxs = graph_backward(node, cached[1], gy, wrap)
            xp = None
        else:
            if node.aux is not None:
                node._consume = not retain_graph
            if dev is home:
                gxs = cached[1](node, gy)
            else:  # (a graph over several GPUs: each rule runs, and allocates, on its node's device)
                with dev.backend.use_device(dev.index):
                    gxs = cached[1](node, gy)
            xp = cached[2]
            if tr is not None:
                _trace_rule(tr, node, cached[1], gy, gxs)
        if post is not None:
            gxs = _run_post_hooks(post, gxs, gy, create_graph, wrap, node)
        if not retain_graph and (node._saved or node._out is not None or node.aux is not None):
            node._saved, node._saved_tensors, node._out, node.aux = None, (), None, None  # release(), inlined
        meta: Any
        for edge, meta, gx in zip(node.edges, node.in_meta, gxs):
            if edge is None:
                continue
            is_node = isinstance(edge, Node)
            if gx is not None:
                if xp is None:
                    gx = fit_graph(gx, meta, _unbroadcast)
                elif gx.shape != meta[0] or (gx.dtype is not meta[1] and gx.dtype != meta[1]):
                    g0 = gx
                    gx = _fit(gx, meta, xp)
                    if tr is not None:
                        tr.call(_fit, [tr.ref(g0), tr.bind(meta), tr.bind(xp)], gx, fresh=True)
                if anomaly:
                    _check_backward(node, gxs, gx, gx if xp is not None else gx._data)
                if is_node:
                    b = buffers.get(edge)
                    if b is None:
                        buffers[edge] = gx
                    elif edge.device is not home and xp is not None:  # summed on its own device
                        with edge.device.backend.use_device(edge.device.index):
                            buffers[edge] = b + gx
                        owned.add(edge)
                    elif xp is None or edge not in owned:
                        buffers[edge] = b + gx  # a fresh buffer we own from here on
                        owned.add(edge)
                        if tr is not None:
                            _trace_add(tr, b, gx, buffers[edge])
                    else:
                        vb = None if tr is None else tr.ref(b)
                        b += gx
                        buffers[edge] = b  # (0-d results may be immutable numpy scalars)
                        if vb is not None:
                            tr.emit(f"{vb} += {tr.ref(gx)}", (vb, tr.ref(gx)))
                            tr.var_of[id(b)] = vb
                            tr.keep.append(b)
                else:
                    entry = leaf_grads.get(id(edge))
                    if entry is None:
                        leaf_grads[id(edge)] = [edge, gx]
                    elif edge.device is not home and xp is not None:
                        with edge.device.backend.use_device(edge.device.index):
                            entry[1] = entry[1] + gx
                    else:
                        total = entry[1] + gx
                        if tr is not None:
                            _trace_add(tr, entry[1], gx, total)
                        entry[1] = total
            if is_node:
                d = deps[edge] - 1
                deps[edge] = d
                if d == 0:
                    if gx is not None or edge in buffers:
                        ready.append(edge)
                    else:
                        _skip(edge, deps, ready, buffers)


def _trace_add(tr: trace.Tracer, a: Any, b: Any, total: Any) -> None:
    """Write ``total = a + b`` down (gradients summed over the paths that reach a tensor)."""
    va, vb = tr.ref(a), tr.ref(b)
    tr.emit(f"{tr.new_var(total, fresh=True)} = {va} + {vb}", (va, vb))


def _collect(
    inputs: Sequence[Any], results: list[Any], leaf_grads: dict[int, list], create_graph: bool, wrap: Any
) -> list:
    """``autograd.grad``'s answer: the gradient reaching each of ``inputs`` (None where none did)."""
    for i, t in enumerate(inputs):
        if t.grad_fn is None and id(t) in leaf_grads:
            g = leaf_grads[id(t)][1]
            for hook in t._hooks or ():  # a leaf's gradient hooks run before it is captured, as torch's
                if hook.__class__ is not PostAccumulateGradHook and hook.__class__ is not AccumulateGradHook:
                    g = _run_hook(hook, g, create_graph, wrap, t)
            results[i] = g
    return [
        r
        if (r is None or create_graph)
        else (SPARSE_GRAD[0](r, inputs[i].device) if r.__class__ is SparseRows else wrap(r, inputs[i].device, None))
        for i, r in enumerate(results)
    ]


def _skip(node: Node, deps: dict, ready: list, buffers: dict) -> None:
    """Release the dependencies of a node that received no gradient at all."""
    stack = [node]
    while stack:
        n = stack.pop()
        for e in n.edges:
            if isinstance(e, Node):
                deps[e] -= 1
                if deps[e] == 0:
                    if e in buffers:
                        ready.append(e)
                    else:
                        stack.append(e)


def _fit(gx: Any, meta: tuple, xp: Any) -> Any:
    """Reduce a gradient to its input's shape and cast it to its dtype."""
    shape, dtype = meta
    if gx.shape != shape:
        gx = _unbroadcast(gx, shape, xp)
    if gx.dtype != dtype:
        if gx.dtype.kind == "c" and dtype.kind != "c":  # torch: a real input gets Re of a complex gradient
            gx = gx.real
        gx = gx.astype(dtype)
    return gx


def _check_backward(node: Node, gxs: Any, gx: Any, array: Any) -> None:
    """Anomaly mode: torch's error for a backward rule that returned NaN; NaN-free Inf gets ours."""
    xp = node.device.xp
    if array.__class__ is SparseRows:  # (a sparse embedding gradient: its values are checked, as torch's)
        array = array.values
    if array.dtype.kind in "fc" and bool(xp.isnan(array).any()):
        i = next(k for k, g in enumerate(gxs) if g is gx)
        raise AnomalyError(f"Function {node.name()!r} returned nan values in its {i}th output.")
    check_finite(node.op.name, "backward", array, node.device)


def _run_post_hooks(post: list, gxs: Any, gy: Any, create_graph: bool, wrap: Any, node: Node) -> Any:
    """``grad_fn.register_hook`` hooks: ``fn(grad_inputs, grad_outputs)``, each may replace grad_inputs."""
    dev = node.device
    as_t = (lambda a: a) if create_graph else (lambda a: None if a is None else wrap(a, dev, None))
    gis = tuple(as_t(g) for g in gxs)
    for entry in post:
        out = entry.fn(gis, (as_t(gy),))
        if out is not None:
            gis = tuple(out)
    return gis if create_graph else tuple(None if g is None else g._data for g in gis)


def _run_acc_hooks(hooks: list, pre: bool, g: Any, create_graph: bool, wrap: Any, leaf: Any) -> Any:
    """A leaf's ``AccumulateGrad`` hooks: ``pre``: ``fn((grad,))``, which may return a replacement ``(grad,)``;
    else ``fn((), (grad,))`` with the gradient the leaf took."""
    for entry in hooks:
        if entry.pre is pre and pre:
            g = _run_hook(lambda t, fn=entry.fn: _first(fn((t,))), g, create_graph, wrap, leaf)
        elif entry.pre is pre:
            with set_grad_enabled(create_graph):
                entry.fn((), (g if create_graph else wrap(g, leaf.device, None),))
    return g


def _first(out: Any) -> Any:
    return None if out is None else out[0]


def _run_hook(hook: Any, g: Any, create_graph: bool, wrap: Any, owner: Any) -> Any:
    if g.__class__ is SparseRows:  # (a hook sees, and may replace, the dense gradient: see README)
        g = g.dense()
    t = g if create_graph else wrap(g, owner.device, None)
    with set_grad_enabled(create_graph):  # the pass's grad mode, as torch's (leaf hooks run after the walk)
        out = hook(t)
    if out is None:
        return g
    if hasattr(out, "grad_fn") and tuple(out.shape) != tuple(g.shape):
        raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} has changed the size of value")
    if not hasattr(out, "grad_fn") or out.dtype != g.dtype:
        got = f"shape {tuple(out.shape)}, dtype {out.dtype}" if hasattr(out, "grad_fn") else type(out).__name__
        raise RuntimeError(
            f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of {got}; expected None or a Tensor "
            f"of shape {tuple(g.shape)}, dtype {g.dtype} (the gradient it was given)"
        )
    return out if create_graph else out._data


def _obeys_layout(g: Any, leaf: Any) -> bool:
    """Whether ``g`` may become the new ``leaf.grad`` as laid out: torch's AccumulateGrad gives ``.grad`` the leaf's
    strides when the leaf is dense (a transposed or channels-last leaf too) and C order otherwise, so
    ``p.grad.view(...)`` works, or refuses, as on torch's. (Parameters are C-ordered: one flag test each.)"""
    x = leaf._data
    if x.flags.c_contiguous or not _dense(x):
        return bool(g.flags.c_contiguous)
    return _strides(g) == _strides(x)


def _copy_in_layout(xp: Any, g: Any, x: Any) -> Any:
    """A private copy of gradient ``g`` in the layout ``_obeys_layout`` asks for: ``x``'s strides, or C order."""
    if x.flags.c_contiguous or not _dense(x):
        return xp.array(g, copy=True, order="C")
    out = xp.empty_like(x, dtype=g.dtype)  # (order "K": a dense x's own strides)
    out[...] = g
    return out


def _dense(x: Any) -> bool:
    """Torch's ``is_non_overlapping_and_dense``: some order of the dims (size-1 dims aside) is C order."""
    expected = x.itemsize
    for stride, n in sorted((s, n) for s, n in zip(x.strides, x.shape) if n != 1):
        if stride != expected:
            return False
        expected *= n
    return True


def _strides(a: Any) -> tuple[int, ...]:
    """Strides in elements, size-1 dims left out (their strides are arbitrary: torch's contract skips them too)."""
    return tuple(s // a.itemsize for s, n in zip(a.strides, a.shape) if n != 1)


# builds a sparse COO ``Tensor`` from a ``SparseRows`` gradient and a device (set by ``backprop.sparse``, which
# sits above this module)
SPARSE_GRAD: list[Any] = [None]
# the sparse COO tensor class (set with SPARSE_GRAD; a placeholder until then): ``_accumulate`` tests a ``.grad``
# against it with ``isinstance`` (a C call) rather than reading the ``is_sparse`` property (a Python call per leaf)
SPARSE_TENSOR: list[type] = [type("NoSparseTensor", (), {})]


def _accumulate_rows(leaf: Any, g: SparseRows) -> None:
    """A sparse gradient (``F.embedding(..., sparse=True)``) into ``leaf.grad``, as torch's AccumulateGrad: the
    first one becomes a sparse ``.grad``, a second one is added to it in place (torch's sparse add, ``from_rows``),
    and a dense ``.grad`` adds it densely (a sparse ``.grad`` meeting a dense gradient becomes dense,
    ``_accumulate``)."""
    old = leaf._grad
    if old is None:
        leaf.grad = SPARSE_GRAD[0](g, leaf.device)
    elif old.is_sparse:
        SPARSE_GRAD[0](g, leaf.device, old)
    else:
        old._data += g.dense()
        old._version += 1


def _accumulate(leaf: Any, g: Any, create_graph: bool, wrap: Any, handed: set[int]) -> None:
    """Add ``g`` into ``leaf.grad``, in place when the buffer is ours to change (cast first to the leaf's
    ``grad_dtype`` where one was set)."""
    if g.__class__ is SparseRows:
        _accumulate_rows(leaf, g)
        return
    want = grad_dtypes.get(id(leaf)) if grad_dtypes else None  # (None: not set, or set to "any dtype")
    if want is not None and g.dtype != want:
        g = g.to(want) if create_graph else g.astype(want)
    if create_graph:
        leaf.grad = g if leaf._grad is None else leaf._grad + g
        return
    if leaf._grad is None:
        # g may be shared with another leaf or the caller, or be a (broadcast) view of another
        # array: then keep a private copy, so later in-place accumulation cannot leak into it
        # (and laid out as torch's AccumulateGrad lays it out: see _obeys_layout)
        dev = leaf.device
        if g.__class__ is not dev.array_type or g.base is not None or id(g) in handed or not _obeys_layout(g, leaf):
            # (a meta gradient is a placeholder: there is nothing to copy)
            g = _copy_in_layout(dev.xp, g, leaf._data) if dev.type != "meta" else placeholder(g.shape, g.dtype)
        handed.add(id(g))
        leaf.grad = wrap(g, leaf.device, None)
    elif leaf._grad.grad_fn is not None:
        leaf.grad = leaf._grad.detach() + wrap(g, leaf.device, None)
    elif isinstance(leaf._grad, SPARSE_TENSOR[0]):  # a sparse .grad and a dense gradient: dense, as torch's
        leaf.grad = wrap(g, leaf.device, None) + leaf._grad
    else:
        leaf._grad._data += g
        leaf._grad._version += 1
