"""``backward`` and ``grad``: the user-facing entry points of the engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop.autograd.engine import run_backward


def _root_grads(outputs: Sequence[Any], grads: Sequence[Any] | None, create_graph: bool) -> list:
    result = []
    for i, out in enumerate(outputs):
        g = None if grads is None else grads[i]
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; output {i} has "
                    f"shape {tuple(out.shape)}: pass `gradient=` (a tensor of that shape)"
                )
            dev = out.device
            if dev.index:  # cuda:N: make the seed on device N
                with dev.backend.use_device(dev.index):
                    g = dev.xp.ones_like(out.data)
            else:
                g = dev.xp.ones_like(out.data)
            result.append(out._wrap(g, out.device, None) if create_graph else g)
            continue
        if not hasattr(g, "grad_fn"):
            g = type(out)(g, dtype=out.dtype, device=out.device)
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(
                f"mismatch in shape: gradient {i} has shape {tuple(g.shape)} but the output has "
                f"shape {tuple(out.shape)}"
            )
        if g.device is not out.device:
            raise RuntimeError(f"gradient {i} is on {g.device} but the output is on {out.device}")
        result.append(g if create_graph else g.data)
    return result


def backward(
    tensors: Sequence[Any],
    grad_tensors: Sequence[Any] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Any] | None = None,
) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves (or of ``inputs``)."""
    if hasattr(tensors, "grad_fn"):
        tensors = [tensors]
    if grad_tensors is not None and hasattr(grad_tensors, "grad_fn"):
        grad_tensors = [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(tensors, grad_tensors, create_graph)
    if inputs is None:
        run_backward(tensors, roots, retain_graph=retain_graph, create_graph=create_graph)
        return
    inputs = [inputs] if hasattr(inputs, "grad_fn") else list(inputs)
    grads = run_backward(tensors, roots, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    for t, g in zip(inputs, grads or ()):
        if g is not None:
            t.grad = g if t.grad is None else t.grad + g


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """The gradients of ``outputs`` w.r.t. ``inputs``, returned (``.grad`` is left untouched)."""
    outputs = [outputs] if hasattr(outputs, "grad_fn") else list(outputs)
    single = hasattr(inputs, "grad_fn")
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and hasattr(grad_outputs, "grad_fn"):
        grad_outputs = [grad_outputs]
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {tuple(t.shape)}) does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(outputs, grad_outputs, create_graph)
    grads = run_backward(outputs, roots, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    assert grads is not None
    for i, g in enumerate(grads):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {tuple(inputs[i].shape)}) was not used in the graph of "
                "the outputs; pass allow_unused=True to get None for it"
            )
    return tuple(grads)
