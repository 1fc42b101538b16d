"""Autograd as torch users drive it, against torch 2.13: ``autograd.grad``'s argument checks (outputs before
inputs, counts, batched and complex ``grad_outputs``), the grad mode hooks run in, anomaly mode's ``check_nan``,
full backward hooks' ``grad_input`` for non-tensor arguments, ``autograd.functional``'s output and ``v`` checks,
forward-over-reverse (a tangent differentiated in reverse mode), custom ``Function``s' refusals and warning.
Each case runs with ``L = torch`` and ``L = backprop``: the results (values, dtypes, shapes), the UserWarnings
and the exception (class and message) must agree."""

# ruff: noqa: N805 - Functions written as torch users write them
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from parity_compare import norm

import backprop as bp

C: dict[str, Any] = {}


def case(fn: Any) -> Any:
    C[fn.__name__] = fn
    return fn


def run(fn: Any, L: Any) -> tuple[Any, Any]:
    """(result or exception, warnings) of ``fn(L)``; exceptions as (class and bases' names, message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("always", UserWarning)
        try:
            out: Any = ("ok", norm(fn(L)))
        except Exception as e:  # noqa: BLE001 - the exception's class and message are what is compared
            out = ("raises", [c.__name__ for c in type(e).__mro__], _plain(str(e)))
        finally:
            L.set_grad_enabled(True)
            L.autograd.set_detect_anomaly(False)
    ws = [(w.category.__name__, _plain(str(w.message))) for w in caught if w.category is UserWarning]
    ws = [w for w in ws if not w[1].startswith(_UNCOMPARED_WARNINGS)]
    return out, ws


# torch's anomaly-mode notices (the forward traceback it prints), its warn-once about backward(create_graph=True)
_UNCOMPARED_WARNINGS = (
    "Anomaly Detection has been enabled",
    "Error detected in ",
    "Using backward() with create_graph",
)


def _plain(msg: str) -> str:
    """A message without what only names the library (``torch.Size``, ``torch.`` dtypes)."""
    msg = re.sub(r" \(Triggered internally at [^)]*\)", "", msg)
    return msg.replace("torch.Size(", "Size(").replace("torch.", "")


def X(L: Any, n: int = 3) -> Any:
    return L.arange(1.0, n + 1).requires_grad_()


# ----------------------------------------------------------------------------- autograd.grad's checks
@case
def grad_output_without_graph_checked_before_inputs(L):
    x = L.ones(2)  # neither the output nor the input requires grad: torch names the output
    return L.autograd.grad((x * x).sum(), x)


@case
def grad_second_output_without_graph(L):
    x = X(L)
    return L.autograd.grad([x * 2, L.ones(3)], x, [L.ones(3), L.ones(3)])


@case
def backward_second_tensor_without_graph(L):
    x = X(L)
    L.autograd.backward([x * 2, L.ones(3)], [L.ones(3), L.ones(3)])


@case
def grad_fewer_grad_outputs_than_outputs(L):
    x = X(L)
    return L.autograd.grad([x * 2, (x * 3).sum()], x, [L.ones(3)])


@case
def backward_more_grad_tensors_than_tensors(L):
    x = X(L)
    L.autograd.backward([x * 2], [L.ones(3), L.ones(3)])
    return x.grad


@case
def grad_complex_grad_output_for_real_output(L):
    x = X(L)
    return L.autograd.grad(x * 2, x, L.ones(3, dtype=L.complex64))


@case
def grad_batched_row_shape_mismatch(L):
    x = X(L, 2)
    return L.autograd.grad(x**2, x, grad_outputs=L.eye(3), is_grads_batched=True)


@case
def grad_batched_0d_grad_output(L):
    x = X(L, 2)
    return L.autograd.grad(x**2, x, grad_outputs=L.tensor(1.0), is_grads_batched=True)


@case
def grad_batched_count_mismatch(L):
    x = X(L, 2)
    return L.autograd.grad([x**2, x.sum()], x, grad_outputs=[L.eye(2)], is_grads_batched=True)


# ----------------------------------------------------------------------------- the grad mode hooks see
@case
def leaf_hook_grad_mode(L):
    x = X(L)
    seen = []
    x.register_hook(lambda g: seen.append(L.is_grad_enabled()))
    (x * 2).sum().backward()
    (x * 2).sum().backward(create_graph=True)
    L.autograd.grad((x * 2).sum(), x)
    return seen


@case
def leaf_hook_builds_no_graph(L):
    x = X(L)
    w = L.full((3,), 3.0, requires_grad=True)
    kept = []
    x.register_hook(lambda g: kept.append(g * w))
    (x * 2).sum().backward()
    return kept[0].requires_grad, kept[0].grad_fn is None


# ----------------------------------------------------------------------------- anomaly mode's check_nan
@case
def anomaly_check_nan_false_does_not_raise(L):
    with L.autograd.detect_anomaly(check_nan=False):
        x = L.tensor([-1.0, 4.0], requires_grad=True)
        x.sqrt().sum().backward()
        return x.grad.isnan(), L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()


@case
def anomaly_check_nan_flags(L):
    out = [L.is_anomaly_check_nan_enabled()]
    with L.autograd.detect_anomaly(check_nan=False):
        with L.autograd.detect_anomaly():
            out.append(L.is_anomaly_check_nan_enabled())
        out.append(L.is_anomaly_check_nan_enabled())
    out.append(L.is_anomaly_check_nan_enabled())
    L.autograd.set_detect_anomaly(True, check_nan=False)
    out += [L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()]
    L.autograd.set_detect_anomaly(False)
    out += [L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()]
    with L.autograd.set_detect_anomaly(True, check_nan=False):
        out += [L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()]
    out += [L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()]
    L.set_anomaly_enabled(True, False)
    out += [L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()]
    L.set_anomaly_enabled(False)
    out += [L.is_anomaly_enabled(), L.is_anomaly_check_nan_enabled()]
    return out


# ----------------------------------------------------------------------------- full backward (pre-)hooks
def _scaler(L: Any) -> Any:
    class Scale(L.nn.Module):
        def forward(self, a, k, b=None):
            return a * k if b is None else a * k * b

    return Scale()


def _hooked(L: Any, hook: Any, *args: Any, **kwargs: Any) -> list:
    m, seen = _scaler(L), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)) or hook(gi))
    m(*args, **kwargs).sum().backward()
    return seen


@case
def backward_hook_non_tensor_argument_is_none(L):
    a = X(L, 2)
    return _hooked(L, lambda gi: None, a, 3.0), a.grad


@case
def backward_hook_replaces_with_one_entry_per_argument(L):
    a = X(L, 2)
    _hooked(L, lambda gi: (gi[0] * 10, None), a, 3.0)
    return a.grad


@case
def backward_hook_wrong_number_of_entries(L):
    _hooked(L, lambda gi: (gi[0] * 10,), X(L, 2), 3.0)


@case
def backward_hook_tensor_argument_without_grad_gets_zeros(L):
    a = X(L, 2)
    return _hooked(L, lambda gi: None, a, L.tensor([3.0, 4.0])), a.grad


@case
def backward_hook_no_input_requires_grad_warns(L):
    w = X(L, 2)
    return _hooked(L, lambda gi: None, L.ones(2), 3.0, b=w), w.grad


@case
def backward_hook_no_input_requires_grad_must_return_none(L):
    _hooked(L, lambda gi: (L.ones(2), None), L.ones(2), 3.0, b=X(L, 2))


@case
def backward_pre_hook_wrong_number_of_entries(L):
    m, a = _scaler(L), X(L, 2)
    m.register_full_backward_pre_hook(lambda mod, go: (go[0], go[0]))
    m(a, 3.0).sum().backward()


@case
def backward_hooks_see_none_for_outputs_without_grad(L):
    class Three(L.nn.Module):
        def forward(self, a):
            return a * 2, L.ones(2), 5

    m, seen, a = Three(), [], X(L, 2)
    m.register_full_backward_pre_hook(lambda mod, go: seen.append(go))
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    x, _, _ = m(a)
    (x * 3).sum().backward()
    return seen, a.grad


# ----------------------------------------------------------------------------- autograd.functional's checks
def _af(L: Any, name: str, f: Any, inputs: Any, v: Any) -> Any:
    return getattr(L.autograd.functional, name)(f, inputs, v)


def _cube(x):
    return (x**3).sum()


def _square(x):
    return x**2


@case
def vjp_v_of_wrong_size(L):
    return _af(L, "vjp", _square, L.tensor([1.0, 2.0]), L.ones(3))


@case
def jvp_v_of_wrong_size(L):
    return _af(L, "jvp", _square, L.tensor([1.0, 2.0]), L.ones(3))


@case
def hvp_v_tuple_too_long(L):
    return _af(L, "hvp", _cube, L.tensor([1.0, 2.0]), (L.ones(2), L.ones(2)))


@case
def vhp_v_entry_of_wrong_size(L):
    return _af(L, "vhp", lambda x, y: (x**2 * y).sum(), (L.tensor([1.0, 2.0]), L.ones(2)), (L.ones(2), L.ones(3)))


@case
def vjp_function_returning_a_list(L):
    return _af(L, "vjp", lambda x: [x**2], L.tensor([1.0, 2.0]), L.ones(2))


@case
def jacobian_inputs_as_a_list(L):
    return L.autograd.functional.jacobian(_square, [L.tensor([1.0, 2.0])])


@case
def jacobian_function_returning_a_float(L):
    return L.autograd.functional.jacobian(lambda x: 3.0, L.tensor([1.0, 2.0]))


@case
def jvp_tuple_output_with_a_float(L):
    return _af(L, "jvp", lambda x: (x, 3.0), L.tensor([1.0, 2.0]), L.ones(2))


@case
def hessian_function_returning_a_float(L):
    return L.autograd.functional.hessian(lambda x: 3.0, L.tensor([1.0, 2.0]))


# ----------------------------------------------------------------------------- custom Functions
@case
def save_for_backward_refuses_a_number(L):
    class Twice(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    return Twice.apply(X(L))


# ----------------------------------------------------------------------------- forward-over-reverse
@case
def tangent_differentiable_in_the_primal(L):
    fw = L.autograd.forward_ad
    x = L.tensor([1.0, 2.0], requires_grad=True)
    with fw.dual_level():
        t = fw.unpack_dual(fw.make_dual(x, L.tensor([1.0, 1.0])) ** 2).tangent
        plain = fw.unpack_dual(fw.make_dual(x.detach(), L.tensor([1.0, 1.0])) ** 2).tangent  # (no graph to keep)
        return t.requires_grad, L.autograd.grad(t.sum(), x), plain.requires_grad, plain


@case
def tangent_differentiable_in_a_weight(L):
    fw = L.autograd.forward_ad
    w = L.tensor([3.0, -1.0], requires_grad=True)
    with fw.dual_level():
        t = fw.unpack_dual(fw.make_dual(L.tensor([1.0, 2.0]), L.tensor([1.0, 0.5])) ** 2 * w).tangent
        return t.requires_grad, L.autograd.grad(t.sum(), w)


@case
def tangent_differentiable_in_the_tangent(L):
    fw = L.autograd.forward_ad
    v = L.tensor([1.0, 0.5], requires_grad=True)
    with fw.dual_level():
        t = fw.unpack_dual(fw.make_dual(L.tensor([1.0, 2.0]), v) ** 3).tangent
        return t.requires_grad, L.autograd.grad(t.sum(), v)


NAMES = sorted(C)


@pytest.mark.parametrize("name", NAMES)
def test_same_as_torch(name: str) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    ours, theirs = run(C[name], bp), run(C[name], torch)
    if ours[0][0] == theirs[0][0] == "raises":  # torch's class among our exception's classes, same message
        assert theirs[0][1][0] in ours[0][1], (ours, theirs)
        assert ours[0][2] == theirs[0][2], (ours, theirs)
        assert ours[1] == theirs[1], (ours, theirs)
    else:
        assert ours == theirs


def test_instantiating_a_function_warns_as_torch() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    messages = []
    for L in (bp, torch):

        class Twice(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        with pytest.warns(DeprecationWarning) as caught:
            Twice()
        messages.append(str(caught[0].message))
    assert messages[0] == messages[1]


# ----------------------------------------------------------------------------- closed forms (no torch needed)
def test_forward_over_reverse_is_the_hessian_vector_product() -> None:
    fw = bp.autograd.forward_ad
    x = bp.tensor([0.5, -1.0, 2.0], dtype=bp.float64, requires_grad=True)
    v = bp.tensor([1.0, 2.0, -1.0], dtype=bp.float64)
    with fw.dual_level():
        d = fw.make_dual(x, v)
        y = (d.sin() * d.sum()).sum()  # f(x) = sum(sin x) * sum(x)
        t = fw.unpack_dual(y).tangent  # J v = grad f . v
    (hv,) = bp.autograd.grad(t, x)  # d/dx (grad f . v) = H v
    xn, vn = x.detach().numpy(), v.numpy()
    hess = np.diag(-np.sin(xn) * xn.sum()) + np.cos(xn)[:, None] + np.cos(xn)[None, :]
    np.testing.assert_allclose(hv.numpy(), hess @ vn, rtol=1e-12)


def test_modified_saved_tensor_error_is_torchs_text() -> None:
    """The in-place version error's hint named ``bp.autograd``; torch's text names ``torch.autograd`` (as the
    message's ``[torch.FloatTensor [3]]`` already did), so a message compared with torch's differed."""
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    texts = []
    for lib in (torch, bp):
        a = lib.ones(3, requires_grad=True)
        b = a.exp()
        b.mul_(2)
        with pytest.raises(RuntimeError) as info:
            b.sum().backward()
        texts.append(str(info.value))
    assert texts[0] == texts[1]
