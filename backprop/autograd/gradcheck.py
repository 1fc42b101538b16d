"""Numerical gradient checks: central differences in float64 against the engine's gradients."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backprop.autograd.functional import grad


class GradcheckError(RuntimeError, AssertionError):
    """Raised by ``gradcheck`` with a report of the worst mismatching element (a RuntimeError, as torch's;
    an AssertionError too, as it used to be)."""


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(fn: Callable, inputs: Sequence[Any]) -> tuple:
    return tuple(o for o in _as_tuple(fn(*inputs)) if hasattr(o, "grad_fn"))


def _jacobians(fn: Callable, inputs: Sequence[Any], eps: float, reverse: bool = True) -> tuple[list, list]:
    """(numerical, analytical) Jacobians: one (out.size, in.size) matrix per (output, input); the analytical
    ones by reverse mode (one backward pass per output element), or left zero when not ``reverse``."""
    diff = [i for i, t in enumerate(inputs) if hasattr(t, "grad_fn") and t.requires_grad]
    outs = _outputs(fn, inputs)
    numeric = [[np.zeros((o._data.size, inputs[i]._data.size)) for i in diff] for o in outs]
    # grad mode stays on: fn may itself take gradients (gradgradcheck)
    for k, i in enumerate(diff):
        x = inputs[i]
        flat = x._data.reshape(-1)  # a view: perturb in place, restore after
        for j in range(flat.size):
            orig = flat[j].item()
            flat[j] = orig + eps
            plus = [o.detach().numpy().astype(np.float64).ravel() for o in _outputs(fn, inputs)]
            flat[j] = orig - eps
            minus = [o.detach().numpy().astype(np.float64).ravel() for o in _outputs(fn, inputs)]
            flat[j] = orig
            for m in range(len(outs)):
                numeric[m][k][:, j] = (plus[m] - minus[m]) / (2 * eps)
    analytic = [[np.zeros((o._data.size, inputs[i]._data.size)) for i in diff] for o in outs]
    for m, o in enumerate(outs):
        if not o.requires_grad or not reverse:
            continue
        for r in range(o._data.size):
            seed = np.zeros(o._data.size, dtype=o.dtype)
            seed[r] = 1
            g_out = o._plain._of(seed.reshape(o.shape), device=o.device)
            outs_now = _outputs(fn, inputs)
            gs = grad(outs_now[m], [inputs[i] for i in diff], g_out, allow_unused=True)
            for k, g in enumerate(gs):
                if g is not None:
                    g = g.to_dense() if g.is_sparse else g  # (a sparse embedding gradient)
                    analytic[m][k][r] = g.detach().numpy().astype(np.float64).ravel()
    return numeric, analytic


def _forward_jacobians(fn: Callable, inputs: Sequence[Any]) -> list:
    """Forward-mode Jacobians (as torch's ``check_forward_ad``): column j of d output / d input k is the tangent
    of the output for the tangent e_j on input k (``forward_ad.make_dual`` / ``unpack_dual``: exact JVPs)."""
    from backprop.autograd import forward_ad as fwad

    diff = [i for i, t in enumerate(inputs) if hasattr(t, "grad_fn") and t.requires_grad]
    outs = _outputs(fn, inputs)
    jac = [[np.zeros((o._data.size, inputs[i]._data.size)) for i in diff] for o in outs]
    with fwad.dual_level():
        for k, i in enumerate(diff):
            x = inputs[i]
            for j in range(x._data.size):
                seed = np.zeros(x._data.size, dtype=x.dtype)
                seed[j] = 1
                tangent = x._plain._of(seed.reshape(x.shape), device=x.device)
                args = list(inputs)
                args[i] = fwad.make_dual(x.detach(), tangent)
                for m, o in enumerate(_outputs(fn, args)):
                    t = fwad.unpack_dual(o).tangent
                    if t is not None:
                        jac[m][k][:, j] = t.detach().numpy().astype(np.float64).ravel()
    return jac


def _batched_grad_mismatch(fn: Callable, inputs: Sequence[Any], atol: float, rtol: float) -> str | None:
    """torch's ``check_batched_grad``: the gradients for a batch of grad_outputs (``is_grads_batched=True``)
    against one backward pass per row; a report of the first mismatch, or None."""
    diff = [t for t in inputs if hasattr(t, "grad_fn") and t.requires_grad]
    rng = np.random.default_rng(0)
    for m, o in enumerate(_outputs(fn, inputs)):
        if not o.requires_grad:
            continue
        batch = o._plain._of(rng.standard_normal((2, *o.shape)).astype(o.dtype), device=o.device)
        outs = _outputs(fn, inputs)
        batched = grad(outs[m], diff, batch, retain_graph=True, is_grads_batched=True, materialize_grads=True)
        for b in range(2):
            rows = grad(outs[m], diff, batch[b], retain_graph=True, materialize_grads=True)
            for k, (g, r) in enumerate(zip(batched, rows)):
                want, got = r.detach().numpy(), g[b].detach().numpy()
                if not np.allclose(got, want, rtol=rtol, atol=atol):
                    return (
                        f"For output {m} and input {k}:\nbatched gradient mismatch (grad_outputs row {b}): "
                        f"max |diff| {np.abs(got - want).max():.3g}"
                    )
    return None


def _refuse_modes(where: str, **modes: Any) -> None:
    """torch's check switches we do not run: a value other than torch's default raises, naming it."""
    for name, value in modes.items():
        if value:
            raise NotImplementedError(f"{where}: {name}={value!r} is not supported (only the reverse-mode check runs)")


def gradcheck(
    func: Callable,
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Compare the engine's gradients of ``func(*inputs)`` with central differences (torch's signature).

    Inputs that require grad should be float64. Raises ``GradcheckError`` naming the output,
    input and element with the largest violation of ``|a - n| <= atol + rtol * |n|``. The kernels are
    deterministic (``nondet_tol`` has nothing to allow for) and ``fast_mode`` runs the full check.
    ``check_forward_ad`` compares forward-mode Jacobians (``autograd.forward_ad``) with the same central
    differences; ``check_batched_grad`` compares ``is_grads_batched`` gradients with one pass per row. The
    batched forward-mode, dtype and masked checks raise NotImplementedError when asked for.
    """
    _refuse_modes(
        "gradcheck",
        check_grad_dtypes=check_grad_dtypes,
        check_batched_forward_grad=check_batched_forward_grad,
        masked=masked,
    )
    fn = func
    inputs = _as_tuple(inputs)
    for i, t in enumerate(inputs):
        if hasattr(t, "grad_fn") and t.requires_grad and t.dtype not in (np.float64, np.complex128):
            warnings.warn(  # torch's warning; the check runs (and likely fails) in the input's precision
                f"Input #{i} requires gradient and is not a double precision floating point or complex. This check "
                "will likely fail if all the inputs are not of double precision floating point or complex. ",
                UserWarning,
                stacklevel=2,
            )
    if not any(hasattr(t, "grad_fn") and t.requires_grad for t in inputs):
        raise ValueError(
            "gradcheck: expected at least one input tensor that requires grad, but none has requires_grad=True "
            "(nothing would be checked)"
        )
    if not check_backward_ad and not check_forward_ad:
        return True  # (torch: nothing left to check)
    numeric, analytic = _jacobians(fn, inputs, eps, reverse=check_backward_ad)
    checks = [("", analytic)] if check_backward_ad else []
    if check_forward_ad:
        checks.append(("Jacobian computed with forward mode mismatch for ", _forward_jacobians(fn, inputs)))
    for label, jac in checks:
        worst = None
        for m, (nrow, arow) in enumerate(zip(numeric, jac)):
            for k, (n, a) in enumerate(zip(nrow, arow)):
                excess = np.abs(a - n) - (atol + rtol * np.abs(n))
                if excess.size and excess.max() > 0:
                    idx = np.unravel_index(np.argmax(excess), excess.shape)
                    if worst is None or excess[idx] > worst[0]:
                        worst = (excess[idx], m, k, idx, a[idx], n[idx])
        if worst is None:
            continue
        if not raise_exception:
            return False
        _, m, k, (r, c), a, n = worst
        raise GradcheckError(
            f"{label or 'Jacobian mismatch for '}output {m} with respect to input {k},\n"
            f"gradcheck failed: d output[{m}] element {r} / d input[{k}] element {c}: "
            f"analytical {a:.10g} vs numerical {n:.10g} (|diff| {abs(a - n):.3g} > atol {atol} + "
            f"rtol {rtol} * |numerical|)"
        )
    if check_batched_grad and check_backward_ad:
        report = _batched_grad_mismatch(fn, inputs, atol, rtol)
        if report is not None:
            if not raise_exception:
                return False
            raise GradcheckError(report)
    return True


def gradgradcheck(
    func: Callable,
    inputs: Sequence[Any],
    grad_outputs: Sequence[Any] | None = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """``gradcheck`` of the first derivatives (built with ``create_graph=True``) of ``func`` (torch's
    signature; tensors are always contiguous, so ``gen_non_contig_grad_outputs`` changes nothing).
    ``check_fwd_over_rev``: their forward-mode Jacobians too; ``check_batched_grad``: their batched gradients."""
    _refuse_modes("gradgradcheck", check_grad_dtypes=check_grad_dtypes, masked=masked)
    if not check_rev_over_rev and not check_fwd_over_rev:
        return True
    fn = func
    inputs = _as_tuple(inputs)
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [o._plain._of(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device) for o in outs]
    grad_outputs = list(_as_tuple(grad_outputs))

    def first_derivatives(*xs: Any) -> tuple:
        outs_now = _outputs(fn, xs)
        ds = [t for t in xs if hasattr(t, "grad_fn") and t.requires_grad]
        gs = grad(outs_now, ds, grad_outputs, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(
        first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception,
        check_batched_grad=check_batched_grad, check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
    )  # fmt: skip
