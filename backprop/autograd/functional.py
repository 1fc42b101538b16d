"""``backward`` and ``grad``: the user-facing entry points of the engine."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from backprop import dtypes as _dtypes
from backprop.autograd import hooks
from backprop.autograd.engine import run_backward

_TRANSFORMS: list[str] = []  # the bp.func transforms whose function is running now, outermost first


@contextlib.contextmanager
def functorch_transform(api: str) -> Iterator[None]:
    """A ``bp.func`` transform (``grad``, ``vjp``, ``jvp``, ``jacrev``, ``vmap``, ...) runs the user's function
    within: ``backward()`` refuses there, as torch's (its ``.grad`` would be a transform's lifted copy)."""
    _TRANSFORMS.append(api)
    try:
        yield
    finally:
        _TRANSFORMS.pop()


def functorch_transforms_active() -> bool:
    """Whether a ``bp.func`` transform is running its function (torch's ``_are_functorch_transforms_active``)."""
    return bool(_TRANSFORMS)


_CREATE_GRAPH_WARNED: list[bool] = []
_CREATE_GRAPH_CYCLE = (
    "Using backward() with create_graph=True will create a reference cycle between the parameter and its gradient "
    "which can cause a memory leak. We recommend using autograd.grad when creating the graph to avoid this. If you "
    "have to use this function, make sure to reset the .grad fields of your parameters to None after use to break "
    "the cycle and avoid the leak."
)


def _root_grads(outputs: Sequence[Any], grads: Sequence[Any] | None, create_graph: bool) -> list:
    if grads is not None and len(grads) < len(outputs):  # (extra gradients are ignored, as torch's)
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")
    result = []
    for i, out in enumerate(outputs):
        g = None if grads is None else grads[i]
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._data.dtype.kind == "c":  # (torch's message prints the dtype as torch.complex64)
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got torch.{out._data.dtype}"
                )
            dev = out.device
            if dev.index:  # cuda:N: make the seed on device N
                with dev.backend.use_device(dev.index):
                    g = dev.xp.ones_like(out._data)
            else:
                g = dev.xp.ones_like(out._data)
            result.append(out._wrap(g, out.device, None) if create_graph else g)
            continue
        if not hasattr(g, "grad_fn"):
            g = out._plain._of(g, dtype=out.dtype, device=out.device)
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape!r} and output[{i}] has a shape of "
                f"{out.shape!r}."
            )
        if (g._data.dtype.kind == "c") != (out._data.dtype.kind == "c"):
            raise RuntimeError(
                "For complex Tensors, both grad_output and output are required to have the same dtype. Mismatch in "
                f"dtype: grad_output[{i}] has a dtype of torch.{g._data.dtype} and output[{i}] has a dtype of "
                f"torch.{out._data.dtype}."
            )
        if g.device is not out.device:
            raise RuntimeError(f"gradient {i} is on {g.device} but the output is on {out.device}")
        result.append(g if create_graph else g._data)
    return result


def backward(
    tensors: Sequence[Any],
    grad_tensors: Sequence[Any] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Any] | None = None,
) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves (or of ``inputs``)."""
    if _TRANSFORMS:
        raise RuntimeError(
            "backward() called inside a functorch transform. This is not supported, please use functorch.grad or "
            "functorch.vjp instead or call backward() outside of functorch transforms."
        )
    if hasattr(tensors, "grad_fn"):
        tensors = [tensors]
    if grad_tensors is not None and hasattr(grad_tensors, "grad_fn"):
        grad_tensors = [grad_tensors]
    if inputs is not None and not hasattr(inputs, "grad_fn") and len(inputs) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(tensors, grad_tensors, create_graph)
    if create_graph and not _CREATE_GRAPH_WARNED:  # (torch's engine warns once per process, as its TORCH_WARN_ONCE)
        from backprop.runtime import user_stacklevel

        _CREATE_GRAPH_WARNED.append(True)
        warnings.warn(_CREATE_GRAPH_CYCLE, UserWarning, stacklevel=user_stacklevel())
    if inputs is None:
        run_backward(tensors, roots, retain_graph=retain_graph, create_graph=create_graph)
        return
    inputs = [inputs] if hasattr(inputs, "grad_fn") else list(inputs)
    grads = run_backward(tensors, roots, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    for t, g in zip(inputs, grads or ()):
        if g is not None:
            t.grad = g if t._grad is None else t._grad + g  # (._grad: no non-leaf warning)


def _in_grad_dtype(g: Any, t: Any) -> Any:
    """``g`` cast to leaf ``t``'s ``grad_dtype`` when one was set (None: any dtype)."""
    want = hooks.grad_dtypes.get(id(t)) if t.grad_fn is None else None
    return g if g is None or want is None or g.dtype == want else g.to(want)


def _has_nested(*groups: Any) -> bool:
    """Whether a nested tensor (``bp.nested``) is among the tensors or the tensor lists given."""
    for g in groups:
        items = [g] if hasattr(g, "grad_fn") else list(g) if isinstance(g, (list, tuple)) else []
        if any(getattr(t, "is_nested", False) for t in items):
            return True
    return False


def _dense(g: Any) -> Any:
    """Nested tensors replaced by their values (the tensors the engine differentiates)."""
    if isinstance(g, (list, tuple)):
        return [_dense(t) for t in g]
    return g._values if getattr(g, "is_nested", False) else g


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> Any:
    """The gradients of ``outputs`` w.r.t. ``inputs``, returned (``.grad`` is left untouched): a tuple,
    or a dict when ``inputs`` is one. ``materialize_grads``: zeros (not None) for unused inputs;
    ``is_grads_batched``: the first dim of every ``grad_outputs`` entry is a batch of vectors, one
    backward pass each (torch vectorises this; the results are the same)."""
    if isinstance(inputs, dict):
        names = list(inputs)
        got = grad(outputs, [inputs[n] for n in names], grad_outputs, retain_graph, create_graph, only_inputs,
                   allow_unused, is_grads_batched, materialize_grads)  # fmt: skip
        return dict(zip(names, got))
    if _has_nested(outputs, inputs, grad_outputs):  # (bp.nested: a nested tensor stands for its values)
        ins = [inputs] if hasattr(inputs, "grad_fn") else list(inputs)
        got = grad(_dense(outputs), _dense(ins), _dense(grad_outputs), retain_graph, create_graph, only_inputs,
                   allow_unused, is_grads_batched, materialize_grads)  # fmt: skip
        return tuple(g if g is None or not t.is_nested else t._rewrap(g) for t, g in zip(ins, got))
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
                         "allow_unused=False.")  # fmt: skip
    if is_grads_batched:
        return _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                             materialize_grads)  # fmt: skip
    result = _grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)
    ins = [inputs] if hasattr(inputs, "grad_fn") else list(inputs)
    if hooks.grad_dtypes:  # leaves with a grad_dtype get their gradient in it here too, as torch's
        result = tuple(_in_grad_dtype(g, t) for g, t in zip(result, ins))
    if materialize_grads:
        result = tuple(
            g if g is not None else t._wrap(t.device.xp.zeros_like(t._data), t.device, None)
            for g, t in zip(result, ins)
        )
    return result


def _batched_grad(
    outputs: Any, inputs: Any, grad_outputs: Any, retain_graph: Any, create_graph: bool, allow_unused: bool,
    materialize: bool,
) -> tuple:  # fmt: skip
    """``grad`` for each row of the batched ``grad_outputs``, stacked along a new first dim."""
    from backprop.autograd.function import apply
    from backprop.ops import shape

    outs = [outputs] if hasattr(outputs, "grad_fn") else list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outs)
    gos = [grad_outputs] if hasattr(grad_outputs, "grad_fn") else list(grad_outputs)
    ins = [inputs] if hasattr(inputs, "grad_fn") else list(inputs)
    if len(gos) < len(outs):
        raise RuntimeError(f"got {len(outs)} tensors and {len(gos)} gradients")
    for i, (out, g) in enumerate(zip(outs, gos)):
        if g is None and out.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        if g is not None and g.ndim == 0:
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to "
                "convert a 0-dim tensor to a number"
            )
        if g is not None and tuple(g.shape[1:]) != tuple(out.shape):
            raise RuntimeError(  # (torch's text, which names grad_output[i][0].shape[1:])
                "If `is_grads_batched=True`, we interpret the first dimension of each grad_output as the batch "
                "dimension. The sizes of the remaining dimensions are expected to match the shape of corresponding "
                f"output, but a mismatch was detected: grad_output[{i}] has a shape of {g.shape[2:]!r} and "
                f"output[{i}] has a shape of {out.shape!r}. If you only want some tensors in `grad_output` to be "
                "considered batched, consider using vmap."
            )
    implicit = [i for i, (out, g) in enumerate(zip(outs, gos)) if g is None]
    if implicit:  # (torch's ones_like(output), then vmapped over its first dim: none for a scalar)
        i = implicit[0]
        if any(outs[j].ndim == 0 for j in implicit):
            raise ValueError(
                "vmap(vjp, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, but that input is a Tensor of "
                "dimensionality 0 so expected in_dim to satisfy 0 <= in_dim < 0."
            )
        raise RuntimeError(
            f"invalid gradient at index {i} - got [] but expected shape compatible with {list(outs[i].shape)}"
        )
    n = gos[0].shape[0]
    rows = []
    for i in range(n):
        rows.append(grad(outs, ins, [g[i] for g in gos], True if i < n - 1 else retain_graph, create_graph,
                         allow_unused=True, materialize_grads=True))  # fmt: skip
    return tuple(apply(shape.stack, *[r[j] for r in rows], axis=0) for j in range(len(ins)))


def _grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """``grad``'s pass: a tuple with None for inputs the outputs do not reach (when allowed)."""
    outputs = [outputs] if hasattr(outputs, "grad_fn") else list(outputs)
    single = hasattr(inputs, "grad_fn")
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and hasattr(grad_outputs, "grad_fn"):
        grad_outputs = [grad_outputs]
    for i, out in enumerate(outputs):  # (torch checks the outputs before the inputs)
        if out.grad_fn is None and not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    if not all(t.requires_grad for t in inputs):
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(outputs, grad_outputs, create_graph)
    grads = run_backward(outputs, roots, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    assert grads is not None
    for i, g in enumerate(grads):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"The differentiated Tensor at index {i} appears to not have been used in the graph. "
                "Set allow_unused=True if this is the desired behavior."
            )
    return tuple(grads)


# ---------------------------------------------------------------- torch.autograd.functional
def _as_tuple(x: Any, name: str, fn: str) -> tuple[tuple, bool]:
    """``x`` as a tuple of Tensors, and whether it was a single Tensor (a list is neither, as torch's)."""
    single = not isinstance(x, tuple)
    items = (x,) if single else x
    for i, t in enumerate(items):
        if not hasattr(t, "grad_fn"):
            which = f"the given {name}" if single else f"the value at index {i}"
            raise TypeError(
                f"The {name} given to {fn} must be either a Tensor or a tuple of Tensors but {which} has type "
                f"{type(t)}."
            )
    return items, single


def _validate_v(vs: tuple, like: tuple, single: bool) -> None:
    """torch's checks of ``v`` against the tensors it multiplies (the outputs for vjp, else the inputs)."""
    if len(vs) != len(like):
        if single:
            raise RuntimeError("The given v should contain a single Tensor.")
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(like)} but got {len(vs)}.")
    for i, (v, t) in enumerate(zip(vs, like)):
        if tuple(v.shape) != tuple(t.shape):
            where = "" if single else f"Entry {i} in "
            raise RuntimeError(f"{where}v has invalid size: should be {t.shape!r} but got {v.shape!r}.")


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """Inputs that require grad: the caller's own graph kept only under ``create_graph`` (as torch)."""
    out = []
    for x in inputs:
        if create_graph and x.requires_grad:
            out.append(x.view_as(x))
        else:
            out.append(x.detach().requires_grad_(_dtypes.kind(x._data.dtype) in "fc"))
    return tuple(out)


def _zeros_like(t: Any, requires_grad: bool = False) -> Any:
    z = t._wrap(t.device.xp.zeros_like(t._data), t.device, None)
    return z.requires_grad_(True) if requires_grad else z


def _fill(grads: tuple, like: tuple, strict: bool, message: str) -> tuple:
    """``grads`` with zeros for the Nones; under ``strict`` a None raises torch's ``message`` (``{i}`` its index)."""
    result = []
    for i, (g, x) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(message.format(i=i))
            g = _zeros_like(x)
        result.append(g)
    return tuple(result)


def _check_outputs(outs: tuple, strict: bool) -> None:
    """Under ``strict``, torch's error for an output that does not require grad."""
    for i, o in enumerate(outs):
        if strict and not o.requires_grad:
            raise RuntimeError(
                f"Output {i} of the user-provided function does not require gradients. The outputs must be computed "
                "in a differentiable manner from the input when running in strict mode."
            )


_STRICT = " This is not allowed in strict mode."
_HESSIAN_STRICT = (
    "While computing the hessian, found that the jacobian of the user-provided function with respect to input {i} "
    "is independent of the input. This is not allowed in strict mode. You should ensure that your function is twice "
    "differentiable and that the jacobian depends on the inputs (this would be violated by a linear function for "
    "example)."
)


def _check_jacobian(gs: tuple, strict: bool) -> None:
    """Under ``strict``, torch's errors for a first derivative that is None or does not depend on the inputs."""
    for i, g in enumerate(gs):
        if strict and g is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}." + _STRICT)
        if strict and not g.requires_grad:
            raise RuntimeError(_HESSIAN_STRICT.format(i=i))


def _single_output(name: str, out: Any) -> Any:
    """The one-element tensor a scalar function (hessian, hvp, vhp) must return, or torch's error."""
    outs, single = _as_tuple(out, "outputs of the user-provided function", name)
    if not single:
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if out._data.size != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {name} should contain a single element")
    return out


def _out(outs: tuple, single: bool, create_graph: bool) -> Any:
    outs = outs if create_graph else tuple(o.detach() for o in outs)
    return outs[0] if single else outs


def vjp(func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), v^T J)``: the vector-Jacobian product at ``inputs``."""
    from backprop.autograd.grad_mode import enable_grad

    ins, single_in = _as_tuple(inputs, "inputs", "vjp")
    ins = _prepare(ins, create_graph)
    with enable_grad():
        outs, single_out = _as_tuple(func(*ins), "outputs of the user-provided function", "vjp")
        _check_outputs(outs, strict)
        if v is None and not (len(outs) == 1 and outs[0]._data.size == 1):
            raise RuntimeError(
                "The vector v can only be None if the user-provided function returns a single Tensor with a "
                "single element."
            )
        vs = None
        if v is not None:
            vs = _as_tuple(v, "v", "vjp")[0]
            _validate_v(vs, outs, single_out)
        diff = [i for i, o in enumerate(outs) if o.requires_grad]
        grads: tuple = (None,) * len(ins)
        if diff:
            grads = grad(
                [outs[i] for i in diff], ins, None if vs is None else [vs[i] for i in diff],
                create_graph=create_graph, retain_graph=True, allow_unused=True,
            )  # fmt: skip
    grads = _fill(grads, ins, strict, "The output of the user-provided function is independent of input {i}." + _STRICT)
    return _out(outs, single_out, create_graph), grads[0] if single_in else grads


def jacobian(
    func: Any,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of ``func`` at ``inputs``: entry (i, j) has shape ``outputs[i].shape +
    inputs[j].shape``. One reverse pass per output element (``vectorize`` is accepted, not needed)."""
    from backprop.autograd.grad_mode import enable_grad

    if strategy not in ("reverse-mode", "forward-mode"):  # (torch's assertion and text)
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function has more '
            'outputs than inputs, "forward-mode" tends to be more performant. Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":  # (torch's refusals, in its order)
        if create_graph:
            raise NotImplementedError(
                'torch.autograd.functional.jacobian: `create_graph=True` and `strategy="forward-mode"` are not '
                'supported together (yet). Please either set `create_graph=False` or `strategy="reverse-mode"`.'
            )
        if strict:
            raise RuntimeError(
                'torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` are not supported '
                'together (yet). Please either set `strict=False` or `strategy="reverse-mode"`.'
            )
        if not vectorize:
            raise NotImplementedError(
                "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
                "only implemented for `vectorize=True`."
            )
    ins, single_in = _as_tuple(inputs, "inputs", "jacobian")
    ins = _prepare(ins, create_graph)
    with enable_grad():
        outs, single_out = _as_tuple(func(*ins), "outputs of the user-provided function", "jacobian")
        _check_outputs(outs, strict)
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not supported "
                "together. Please either set `strict=False` or `vectorize=False`."
            )
        table = []
        for i, out in enumerate(outs):
            flat = out.reshape(-1)
            rows: list[list] = [[] for _ in ins]
            for k in range(flat.shape[0]):
                gs: tuple = (None,) * len(ins)
                if out.requires_grad:
                    gs = grad(flat[k], ins, create_graph=create_graph, retain_graph=True, allow_unused=True)
                for j, (g, x) in enumerate(zip(gs, ins)):
                    if g is None and strict:
                        raise RuntimeError(
                            f"Output {i} of the user-provided function is independent of input {j}." + _STRICT
                        )
                    rows[j].append(_zeros_like(x) if g is None else g)
            entry = []
            for j, x in enumerate(ins):
                shape = tuple(out.shape) + tuple(x.shape)
                if rows[j]:
                    entry.append(_stack(rows[j]).reshape(shape))
                else:
                    entry.append(x._wrap(x.device.xp.zeros(shape, x._data.dtype), x.device, None))
            table.append(tuple(entry))
    if not create_graph:
        table = [tuple(e.detach() for e in row) for row in table]
    if single_out and single_in:
        return table[0][0]
    if single_out:
        return table[0]
    if single_in:
        return tuple(row[0] for row in table)
    return tuple(table)


def _stack(tensors: list) -> Any:
    from backprop.autograd.function import apply
    from backprop.ops import shape

    return apply(shape.stack, *tensors, axis=0)


def hessian(
    func: Any,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of a scalar function at ``inputs`` (the Jacobian of its gradient, whose ``vectorize`` and
    ``outer_jacobian_strategy`` refusals are torch's)."""
    ins, single_in = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):  # (torch's assertion and text)
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def gradient(*x: Any) -> tuple:
        out = _single_output("hessian", func(*x))
        gs = grad(out, x, create_graph=True, allow_unused=True) if out.requires_grad else (None,) * len(x)
        for i, g in enumerate(gs):
            if strict and (g is None or not g.requires_grad):
                raise RuntimeError(_HESSIAN_STRICT.format(i=i))
        return _fill(gs, x, False, "")

    result = jacobian(
        gradient, ins, create_graph=create_graph, strict=strict, vectorize=vectorize, strategy=outer_jacobian_strategy
    )
    return result[0][0] if single_in else result


def jvp(func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), J v)``: the Jacobian-vector product, by differentiating a vjp in its vector
    (the double-backward trick; no forward-mode AD here)."""
    from backprop.autograd.grad_mode import enable_grad

    ins, single_in = _as_tuple(inputs, "inputs", "jvp")
    if v is None:
        if not (len(ins) == 1 and ins[0]._data.size == 1):
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                "single element."
            )
        v = ins[0]._wrap(ins[0].device.xp.ones_like(ins[0]._data), ins[0].device, None)
    vs = _as_tuple(v, "v", "jvp")[0]
    _validate_v(vs, ins, single_in)
    ins = _prepare(ins, create_graph)
    with enable_grad():
        outs, single_out = _as_tuple(func(*ins), "outputs of the user-provided function", "jvp")
        _check_outputs(outs, strict)
        us = tuple(_zeros_like(o, requires_grad=True) for o in outs)
        diff = [i for i, o in enumerate(outs) if o.requires_grad]
        jv: tuple = (None,) * len(outs)
        if diff:
            gs = grad([outs[i] for i in diff], ins, [us[i] for i in diff], create_graph=True, allow_unused=True)
            _fill(gs, ins, strict, "The output of the user-provided function is independent of input {i}." + _STRICT)
            used = [(g, vv) for g, vv in zip(gs, vs) if g is not None and g.requires_grad]
            if used:
                jv = grad(
                    [g for g, _ in used], us, [vv for _, vv in used], create_graph=create_graph, allow_unused=True
                )
    jv = _fill(
        jv,
        outs,
        strict,
        "The gradient with respect to the input is independent of entry {i} in the grad_outputs when using the "
        "double backward trick to compute forward mode gradients." + _STRICT,
    )
    return _out(outs, single_out, create_graph), jv[0] if single_out else jv


def hvp(func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), H v)`` for a scalar function."""
    return _hessian_product("hvp", func, inputs, v, create_graph, strict)


def vhp(func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), v^T H)`` for a scalar function."""
    return _hessian_product("vhp", func, inputs, v, create_graph, strict)


def _hessian_product(name: str, func: Any, inputs: Any, v: Any, create_graph: bool, strict: bool) -> tuple:
    from backprop.autograd.grad_mode import enable_grad

    ins, single_in = _as_tuple(inputs, "inputs", name)
    if v is None:
        if not (len(ins) == 1 and ins[0]._data.size == 1):
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                "single element."
            )
        v = ins[0]._wrap(ins[0].device.xp.ones_like(ins[0]._data), ins[0].device, None)
    vs = _as_tuple(v, "v", name)[0]
    _validate_v(vs, ins, single_in)
    ins = _prepare(ins, create_graph)
    with enable_grad():
        out = _single_output(name, func(*ins))
        _check_outputs((out,), strict)
        hv: tuple = (None,) * len(ins)
        if out.requires_grad:
            gs = grad(out, ins, create_graph=True, allow_unused=True)
            _check_jacobian(gs, strict)
            used = [(g, vv) for g, vv in zip(gs, vs) if g is not None and g.requires_grad]
            if used:
                hv = grad(
                    [g for g, _ in used], ins, [vv for _, vv in used], create_graph=create_graph, allow_unused=True
                )
    hv = _fill(hv, ins, strict, "The jacobian of the user-provided function is independent of input {i}." + _STRICT)
    return (out if create_graph else out.detach()), hv[0] if single_in else hv
