"""torch.func's names: ``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``linearize``, ``jacrev``,
``jacfwd``, ``hessian``, ``vmap``, ``functional_call`` and ``stack_module_state``.

Built on the reverse-mode engine, not on torch's functorch levels: a transform gives each input it
differentiates a fresh leaf (an alias node when the input already requires grad, so the outer graph stays
connected), runs ``func`` and asks ``autograd.grad`` for the gradients, with ``create_graph`` exactly when
the output reaches a tensor outside the transform (an outer transform's input, a parameter), so
``grad(grad(f))`` and ``grad`` of closures work, and results tied to nothing outside come back detached,
as torch's. ``.grad`` fields are never touched. Forward-mode (``jvp``, ``linearize``) is the
double-backward trick; ``jacfwd`` computes its Jacobian in reverse mode (same values).
``vmap`` (in ``backprop._functorch``) calls ``func`` once per slice in a Python loop and stacks the results
(torch batches the kernels).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from backprop import creation, dtypes
from backprop._functorch import (
    _check_randomness,
    _flatten,
    _RandomScope,
    _spec_pprint,
    _spec_repr,
    _unflatten,
    vmap,
)
from backprop.autograd.custom import forward_mode
from backprop.autograd.function import Node, apply
from backprop.autograd.functional import functorch_transform
from backprop.autograd.functional import grad as _autograd_grad
from backprop.autograd.grad_mode import enable_grad, is_grad_enabled
from backprop.functions import stack
from backprop.nn.module import Module
from backprop.nn.normalization import _BatchNorm
from backprop.nn.utils.stateless import _functional_call
from backprop.ops import shape as _shape
from backprop.tensor import Tensor

__all__ = [
    "functional_call",
    "functionalize",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "replace_all_batch_norm_modules_",
    "stack_module_state",
    "vjp",
    "vmap",
]


# ---------------------------------------------------------------- differentiable inputs and their reach
def _lift(x: Any, api: str, outer_grad: bool) -> tuple[Tensor, bool]:
    """A differentiable stand-in for ``x`` and whether it is a fresh leaf: an alias node of ``x`` when it
    already requires grad (the outer graph stays connected), else a detached leaf that requires grad."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if dtypes.kind(x.dtype) not in "fc":
        if api.startswith(("jvp", "jacfwd", "linearize")):  # (torch's forward-mode wording)
            raise ValueError(f"Expected primal to be floating point or complex, but got: {_torch_dtype(x.dtype)}")
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    if x.requires_grad and outer_grad:
        return apply(_shape.reshape, x, shape=tuple(x.shape)), False
    return x.detach().requires_grad_(), True


def _torch_dtype(dtype: Any) -> str:
    """``dtype`` as torch's messages print it (``torch.int64``)."""
    return f"torch.{dtype}"


def _reaches_outside(tensors: Sequence[Any], own: set[int]) -> bool:
    """Whether the graph of ``tensors`` reaches a leaf that requires grad other than the fresh ``own``
    leaves (ids): then results must keep their graph (an outer transform or the user differentiates them)."""
    stack_: list[Any] = []
    for t in tensors:
        if isinstance(t, Tensor) and t.requires_grad:
            if t.grad_fn is None:
                if id(t) not in own:
                    return True
            else:
                stack_.append(t.grad_fn)
    seen: set[int] = set()
    while stack_:
        node = stack_.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if not isinstance(node, Node):
            return True  # an unknown kind of node: keep the graph
        for e in node.edges:
            if e is None:
                continue
            if isinstance(e, Node):
                stack_.append(e)
            elif id(e) not in own:
                return True
    return False


def _finish(tree: Any, own: set[int]) -> Any:
    """``tree`` with every tensor that is tied to nothing outside the transform detached."""
    leaves, spec = _flatten(tree)
    done = [t.detach() if isinstance(t, Tensor) and not _reaches_outside([t], own) else t for t in leaves]
    return _unflatten(done, spec)


def _finish_aux(aux: Any, own: set[int]) -> Any:
    """``has_aux``'s auxiliary output finished as ``_finish`` does; every leaf must be a tensor (torch's error
    for an int, None or string there)."""
    for leaf in _flatten(aux)[0]:
        if not isinstance(leaf, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(leaf)}")
    return _finish(aux, own)


def _zeros(t: Tensor) -> Tensor:
    return creation.zeros_like(t.detach())


def _argnum_list(argnums: Any, nargs: int) -> list[int]:
    """``argnums`` as validated non-negative positions (torch's errors)."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    items = (argnums,) if isinstance(argnums, int) else argnums
    if not items:
        raise RuntimeError("argnums must be non-empty")
    if len(set(items)) != len(items):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    out = []
    for a in items:
        if not isinstance(a, int):
            raise RuntimeError(f"argnum must be int, got: {type(a)}")
        if not -nargs <= a < nargs:
            raise RuntimeError(f"Got argnum={a}, but only {nargs} positional inputs")
        out.append(a % nargs)
    return out


class _Lifted:
    """The differentiated arguments of one transform call: flat fresh inputs, their specs, own leaf ids."""

    def __init__(self, args: Sequence[Any], positions: list[int], api: str, outer_grad: bool) -> None:
        self.args = list(args)
        self.flat: list[Tensor] = []
        self.specs: list[tuple[int, int, Any]] = []  # (position, number of leaves, spec)
        self.own: set[int] = set()
        for i in positions:
            leaves, spec = _flatten(args[i])
            lifted = []
            for x in leaves:
                t, fresh = _lift(x, api, outer_grad)
                lifted.append(t)
                if fresh:
                    self.own.add(id(t))
            self.args[i] = _unflatten(lifted, spec)
            self.flat.extend(lifted)
            self.specs.append((i, len(lifted), spec))

    def per_arg(self, flat: Sequence[Any]) -> list[Any]:
        """``flat`` (one entry per lifted leaf) regrouped as the differentiated arguments' pytrees."""
        out, k = [], 0
        for _, n, spec in self.specs:
            out.append(_unflatten(flat[k : k + n], spec))
            k += n
        return out


def _run(func: Callable[..., Any], api: str, args: Any, kwargs: dict[str, Any] | None = None) -> Any:
    """``func(*args, **kwargs)`` as transform ``api``'s function (``backward()`` refuses inside, as torch's)."""
    with functorch_transform(api):
        return func(*args, **(kwargs or {}))


def _split_aux(output: Any, has_aux: bool, api: str) -> tuple[Any, Any]:
    if not has_aux:
        return output, None
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return output


def _tensor_outputs(output: Any, api: str) -> tuple[list[Tensor], Any]:
    flat, spec = _flatten(output)
    if not flat:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got output = {output})")
    for o in flat:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(o)}")
    return flat, spec


def _grads(outs: list[Tensor], ins: list[Tensor], gos: list[Any] | None, create: bool, retain: bool) -> list[Any]:
    """d(outs)/d(ins) with zeros for inputs the outputs do not reach (never None)."""
    pairs = [(o, None if gos is None else gos[k]) for k, o in enumerate(outs) if o.requires_grad]
    got: Sequence[Any] = [None] * len(ins)
    if pairs:
        seeds = None if gos is None else [g for _, g in pairs]
        got = _autograd_grad(
            [o for o, _ in pairs], ins, seeds, retain_graph=retain or create, create_graph=create, allow_unused=True
        )
    return [_zeros(x) if g is None else g for g, x in zip(got, ins)]


# ---------------------------------------------------------------- grad, vjp, jvp, jacobians
def grad_and_value(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """``func``'s gradient w.r.t. the arguments at ``argnums`` (pytrees of tensors) and its value:
    ``(grad, value)``, or ``(grad, (value, aux))`` with ``has_aux``. ``func`` must return a 0-d tensor."""
    api = "grad_and_value(f)(*args)"

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = is_grad_enabled()
        with enable_grad():
            positions = _argnum_list(argnums, len(args))
            lifted = _Lifted(args, positions, api, outer)
            output, aux = _split_aux(_run(func, api, lifted.args, kwargs), has_aux, api)
            if not isinstance(output, Tensor):
                raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(output)}")
            if output.ndim != 0:
                raise RuntimeError(
                    f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with {output.ndim} dims. "
                    "Maybe you wanted to use the vjp or jacrev APIs instead?"
                )
            keep = outer and _reaches_outside([output], lifted.own)
            gs = _grads([output], lifted.flat, None, keep, False)
        g = _finish(lifted.per_arg(gs), lifted.own)
        g = g[0] if isinstance(argnums, int) else tuple(g)
        value = _finish(output, lifted.own)
        return (g, (value, _finish_aux(aux, lifted.own))) if has_aux else (g, value)

    return wrapper


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """``func``'s gradient w.r.t. the arguments at ``argnums``, as a function of the same arguments;
    ``(grad, aux)`` with ``has_aux``. Composable: ``grad(grad(f))``, ``vmap(grad(f))``, ``jacrev(grad(f))``."""
    inner = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = inner(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """``(func(*primals), vjp_fn)`` (and ``aux``): ``vjp_fn(cotangents)`` returns cotangents^T J for each
    primal, as a tuple; it may be called many times."""
    api = "vjp(f, *primals)"
    outer = is_grad_enabled()
    with enable_grad():
        lifted = _Lifted(primals, list(range(len(primals))), api, outer)
        output, aux = _split_aux(_run(func, api, lifted.args), has_aux, api)
        flat_out, out_spec = _tensor_outputs(output, api)
        for o in flat_out:
            if dtypes.kind(o.dtype) not in "fc":
                raise RuntimeError(
                    f"vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got Tensor with "
                    f"dtype {_torch_dtype(o.dtype)}"
                )
    reach = outer and _reaches_outside(flat_out, lifted.own)

    def vjp_fn(cotangents: Any, retain_graph: bool = True, create_graph: bool | None = None) -> tuple:
        """cotangents^T J (cotangents shaped as the outputs), one entry per primal."""
        if create_graph is None:
            create_graph = is_grad_enabled()
        flat_ct, ct_spec = _flatten(cotangents)
        if ct_spec != out_spec:
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure of outputs to the "
                f"function. cotangents: {_spec_pprint(ct_spec)}, primal output: {_spec_pprint(out_spec)}"
            )
        for k, (c, o) in enumerate(zip(flat_ct, flat_out)):
            if not isinstance(c, Tensor):
                raise TypeError(f"gradients can be either Tensors or None, but got {type(c).__name__}")
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{k}] has a shape of {_torch_size(c.shape)} and output[{k}] has "
                    f"a shape of {_torch_size(o.shape)}."
                )
        keep = create_graph and (reach or any(c.requires_grad for c in flat_ct))
        with enable_grad():
            gs = _grads(flat_out, lifted.flat, flat_ct, keep, retain_graph)
        return tuple(_finish(lifted.per_arg(gs), lifted.own))

    result = (_finish(output, lifted.own), vjp_fn)
    return (*result, _finish_aux(aux, lifted.own)) if has_aux else result


def _forward_setup(func: Callable[..., Any], primals: tuple, api: str, has_aux: bool) -> tuple:
    """Run ``func`` on lifted primals and build the vjp graph on zero seeds ``u`` (create_graph): the
    double-backward trick's first half, J^T u, whose derivative in u applied to t is J t."""
    outer = is_grad_enabled()
    with enable_grad():
        lifted = _Lifted(primals, list(range(len(primals))), api, outer)
        output, aux = _split_aux(_run(func, api, lifted.args), has_aux, api)
        flat_out, out_spec = _tensor_outputs(output, api)
        seeds = [
            _zeros(o).requires_grad_() if o.requires_grad and dtypes.kind(o.dtype) in "fc" else None for o in flat_out
        ]
        diff = [k for k, u in enumerate(seeds) if u is not None]
        vjps: list[Any] = [None] * len(lifted.flat)
        if diff:
            with forward_mode():  # (a custom Function's own jvp gives its tangents)
                vjps = list(
                    _autograd_grad(
                        [flat_out[k] for k in diff], lifted.flat, [seeds[k] for k in diff], create_graph=True,
                        allow_unused=True,
                    )
                )  # fmt: skip
    reach = outer and _reaches_outside(flat_out, lifted.own)
    return lifted, output, aux, flat_out, out_spec, seeds, vjps, reach


def _push_forward(setup: tuple, flat_tangents: list[Tensor], retain: bool) -> list[Tensor]:
    """J t for each output, from the graph ``_forward_setup`` built."""
    lifted, _, _, flat_out, _, seeds, vjps, reach = setup
    keep = is_grad_enabled() and (reach or any(t.requires_grad for t in flat_tangents))
    used = [(g, t) for g, t in zip(vjps, flat_tangents) if g is not None and g.requires_grad]
    diff = [k for k, u in enumerate(seeds) if u is not None]
    got: list[Any] = [None] * len(flat_out)
    if used and diff:
        with enable_grad():
            jv = _autograd_grad(
                [g for g, _ in used], [seeds[k] for k in diff], [t for _, t in used], retain_graph=retain or keep,
                create_graph=keep, allow_unused=True,
            )  # fmt: skip
        for k, g in zip(diff, jv):
            got[k] = g
    return [_zeros(o) if g is None else g for g, o in zip(got, flat_out)]


def _torch_size(shape: Any) -> str:
    return f"torch.Size({list(shape)})"


def _check_tangents(flat_p: list[Any], flat_t: list[Any], api: str) -> list[Tensor]:
    """The tangents, checked against their primals with torch's messages; jvp casts a tangent of another
    floating dtype to its primal's (as torch's forward AD), linearize refuses it (as torch's)."""
    out = []
    for k, (p, t) in enumerate(zip(flat_p, flat_t)):
        if not isinstance(t, Tensor):
            raise RuntimeError(f"{api}: Expected tangents to only contain Tensors, got {type(t)}")
        if api == "linearize":
            if tuple(t.shape) != tuple(p.shape):
                raise RuntimeError(
                    f"tangent:{k} with shape {_torch_size(t.shape)} in flattened pytree doesn't match the shape "
                    f"{_torch_size(p.shape)} of the corresponding primal."
                )
            if t.dtype != p.dtype:
                raise RuntimeError(
                    f"tangent:{k} with dtype {_torch_dtype(t.dtype)} in flattened pytree doesn't match the dtype "
                    f"{_torch_dtype(p.dtype)} of the corresponding primal."
                )
        elif tuple(t.shape) != tuple(p.shape):
            raise RuntimeError(
                "Trying to set a forward gradient that has a different size than that of the original Tensor, this "
                f"is not supported. Tensor is of size {list(p.shape)} while the given forward gradient is of size "
                f"{list(t.shape)}."
            )
        out.append(t if t.dtype == p.dtype else t.to(p.dtype))
    return out


def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False, has_aux: bool = False) -> tuple:
    """``(func(*primals), J tangents)`` (and ``aux``): the Jacobian-vector product, by differentiating a
    vjp in its seed (the double-backward trick: no forward-mode AD here, same values)."""
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    flat_p, p_spec = _flatten(primals)
    flat_t, t_spec = _flatten(tangents if isinstance(tangents, tuple) else None)
    if p_spec != t_spec:
        raise RuntimeError(
            f"{api}: Expected primals and tangents to have the same python structure. For example, if primals is "
            f"a tuple of 3 tensors, tangents also must be. Got primals with structure {_spec_repr(p_spec)} and "
            f"tangents with structure {_spec_repr(t_spec)}"
        )
    if not flat_p:
        raise RuntimeError(f"{api}: Expected primals to contain at least one Tensor.")
    flat_t = _check_tangents(flat_p, flat_t, api)
    setup = _forward_setup(func, primals, api, has_aux)
    lifted, output, aux, _, out_spec = setup[:5]
    jv = _unflatten(_push_forward(setup, flat_t, False), out_spec)
    result = (_finish(output, lifted.own), _finish(jv, lifted.own))
    return (*result, _finish_aux(aux, lifted.own)) if has_aux else result


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``(func(*primals), jvp_fn)``: ``jvp_fn(*tangents)`` is J tangents at ``primals``, reusing one
    recorded graph for every call."""
    api = "linearize(f, *primals)"
    flat_p, p_spec = _flatten(primals)
    setup = _forward_setup(func, primals, api, False)
    lifted, output, _, _, out_spec = setup[:5]

    def jvp_fn(*tangents: Any) -> Any:
        """J tangents, shaped as the output."""
        flat_t, t_spec = _flatten(tangents)
        if t_spec != p_spec:
            raise RuntimeError(f"Expected the tangents {tangents!r:.200} to have the same argspec as the primals")
        flat_t = _check_tangents(flat_p, flat_t, "linearize")
        return _finish(_unflatten(_push_forward(setup, flat_t, True), out_spec), lifted.own)

    return _finish(output, lifted.own), jvp_fn


def _jacobian(func: Callable[..., Any], argnums: Any, has_aux: bool, api: str, args: tuple, kwargs: dict) -> Any:
    """The Jacobian of every output leaf w.r.t. every differentiated input leaf, one reverse pass per
    output element; each entry has shape ``output.shape + input.shape``, nested as torch's."""
    outer = is_grad_enabled()
    inner_api = "jvp(f, primals, tangents)" if api.startswith("jacfwd") else "vjp(f, *primals)"  # (torch's words)
    with enable_grad():
        lifted = _Lifted(args, _argnum_list(argnums, len(args)), api, outer)
        output, aux = _split_aux(_run(func, api, lifted.args, kwargs), has_aux, inner_api)
        flat_out, out_spec = _tensor_outputs(output, inner_api)
        keep = outer and _reaches_outside(flat_out, lifted.own)
        per_output = []
        for o in flat_out:
            n = o.numel()
            rows: list[list[Tensor]] = [[] for _ in lifted.flat]
            if o.requires_grad and n:
                basis = creation.eye(n, dtype=o.dtype, device=o.device)
                # (jacfwd: rows of a custom Function's jvp where it defines one, as torch's forward mode)
                with forward_mode() if api.startswith("jacfwd") else contextlib.nullcontext():
                    for k in range(n):
                        for j, g in enumerate(_grads([o], lifted.flat, [basis[k].reshape(o.shape)], keep, True)):
                            rows[j].append(g)
            jac = []
            for j, x in enumerate(lifted.flat):
                shape = tuple(o.shape) + tuple(x.shape)
                if rows[j]:
                    jac.append(stack(rows[j]).reshape(shape))
                else:
                    jac.append(creation.zeros(shape, dtype=x.dtype, device=x.device))
            groups = lifted.per_arg(jac)
            per_output.append(groups[0] if isinstance(argnums, int) else tuple(groups))
    jacobians = _finish(_unflatten(per_output, out_spec), lifted.own)
    return (jacobians, _finish_aux(aux, lifted.own)) if has_aux else jacobians


def jacrev(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
    _preallocate_and_copy: bool = False,
) -> Callable:
    """The Jacobian of ``func`` w.r.t. the arguments at ``argnums`` by reverse mode (one backward pass
    per output element; ``chunk_size`` is accepted and changes nothing)."""
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _jacobian(func, argnums, has_aux, "jacrev(f, ...)(*args)", args, kwargs)

    return wrapper


def jacfwd(
    func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *, randomness: str = "error"
) -> Callable:
    """The Jacobian of ``func`` w.r.t. the arguments at ``argnums`` (torch's forward-mode API; computed
    here in reverse mode, the same values). ``randomness`` as ``vmap``'s: 'error' refuses random ops."""
    _check_randomness(randomness)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _RandomScope(randomness):
            return _jacobian(func, argnums, has_aux, "jacfwd(f, ...)(*args)", args, kwargs)

    return wrapper


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Hessian of a scalar ``func`` w.r.t. the arguments at ``argnums``: ``jacfwd(jacrev(func))``."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---------------------------------------------------------------- modules
def functional_call(
    module: Module,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """``module(*args, **kwargs)`` with the given tensors (a dict by dotted name, or a tuple of dicts with
    distinct keys) in place of its parameters and buffers; the originals come back afterwards, even on error."""
    if isinstance(parameter_and_buffer_dicts, dict):
        merged = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, (list, tuple)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts: dict[str, int] = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
        merged = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
            f"{type(parameter_and_buffer_dicts)}"
        )
    return _functional_call(module, merged, args, kwargs, tie_weights=tie_weights, strict=strict)


def _stacked_leaf(tensors: list[Tensor], name: str) -> Tensor:
    flags = {t.requires_grad for t in tensors}
    if len(flags) > 1:
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    for k, t in enumerate(tensors[1:], 1):
        if tuple(t.shape) != tuple(tensors[0].shape):  # (torch.stack's message, which torch's raises)
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at entry 0 and "
                f"{list(t.shape)} at entry {k}"
            )
    result = stack([t.detach() for t in tensors])
    return result.requires_grad_() if flags == {True} else result


def stack_module_state(models: Sequence[Module] | Iterator[Module]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)``: each parameter and buffer of ``M`` same-class models stacked along a new
    first dim, by name; the stacked parameters are new leaves (for an optimizer), for ensembling with
    ``vmap`` over ``functional_call``."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if len({m.training for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if len({type(m) for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    all_buffers = [dict(m.named_buffers()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers


def functionalize(func: Callable[..., Any], *, remove: str = "mutations") -> Callable[..., Any]:
    """``func`` with torch's functionalize semantics: there is no tracing here to hand a mutation-free program
    to, and eager runs give what functionalize promises (same outputs, inputs mutated as ``func`` mutates
    them), so ``func`` runs as it is. ``remove="mutations_and_views"``: outputs that share memory with an input
    come back as copies (torch's ``{view}_copy`` replacements), so they no longer alias it."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. Valid options are:\n"
            "     remove='mutations': all inplace and out= operators will be removed from the program, and replaced "
            "with their out-of-place equivalents.\n"
            "     remove='mutations_and_views': In addition to the above, all aliasing operators {view} will be "
            "replaced with their non-aliasing counterparts, {view}_copy.\n"
        )
    if remove == "mutations":
        return func

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        ins = [x for x in _flatten((args, kwargs))[0] if isinstance(x, Tensor)]
        leaves, spec = _flatten(func(*args, **kwargs))

        def aliases(t: Tensor) -> bool:
            shares = getattr(t.device.xp, "shares_memory", None) or t.device.xp.may_share_memory
            return any(x.device == t.device and shares(t._data, x._data) for x in ins)

        return _unflatten([t.clone() if isinstance(t, Tensor) and aliases(t) else t for t in leaves], spec)

    return wrapped


def replace_all_batch_norm_modules_(root: Module) -> Module:
    """In place: every batch norm in ``root`` (itself included) stops tracking running statistics (its
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` become None), as torch's; returns ``root``."""
    for m in root.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root
