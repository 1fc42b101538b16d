"""Custom ``autograd.Function`` and ``autograd.functional`` (jacobian, hessian, vjp, jvp, hvp, vhp):
closed forms and bp.gradcheck everywhere, torch's answers where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
from backprop.autograd import functional as AF

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")


class Exp(bp.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)  # an output, saved: double backward must see its grad_fn
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y


class ScaledSplit(bp.autograd.Function):
    """Two outputs and a non-tensor argument; the newer style (forward without ctx, setup_context)."""

    @staticmethod
    def forward(x, k, scale):
        return x[:k] * scale, x[k:] ** 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, k, scale = inputs
        ctx.k, ctx.scale = k, scale
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, ga, gb):
        (x,) = ctx.saved_tensors
        return bp.cat([ga * ctx.scale, gb * 2 * x[ctx.k :]]), None, None


def _x(*shape: int) -> bp.Tensor:
    return bp.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)


def test_function_forward_backward_and_grad_fn() -> None:
    x = _x(4)
    y = Exp.apply(x)
    assert "ExpBackward" in repr(y.grad_fn) and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()), rtol=1e-12)
    assert bp.gradcheck(Exp.apply, (_x(3, 2),)) and bp.gradgradcheck(Exp.apply, (_x(3),))


def test_function_double_backward_through_a_saved_output() -> None:
    x = _x(3)
    (g,) = bp.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (gg,) = bp.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), np.exp(x.detach().numpy()), rtol=1e-12)


def test_function_several_outputs_call_backward_once() -> None:
    calls = []

    class Counted(ScaledSplit):
        @staticmethod
        def backward(ctx, ga, gb):
            calls.append((ga.tolist(), gb.tolist()))
            return ScaledSplit.backward(ctx, ga, gb)

    x = bp.arange(5.0, requires_grad=True)
    a, b = Counted.apply(x, 2, 3.0)
    assert a.tolist() == [0.0, 3.0] and b.tolist() == [4.0, 9.0, 16.0]
    (a.sum() + b.sum()).backward()
    assert len(calls) == 1 and x.grad.tolist() == [3.0, 3.0, 4.0, 6.0, 8.0]
    x.grad = None
    a, _ = Counted.apply(x, 2, 3.0)
    a.sum().backward()  # the unused output's gradient arrives as zeros (materialize_grads)
    assert calls[-1][1] == [0.0, 0.0, 0.0] and x.grad.tolist() == [3.0, 3.0, 0.0, 0.0, 0.0]
    assert bp.gradcheck(lambda t: ScaledSplit.apply(t, 2, 1.5), (_x(5),))


def test_function_no_grad_inputs_give_plain_outputs() -> None:
    y = Exp.apply(bp.ones(2))
    assert not y.requires_grad and y.grad_fn is None
    with bp.no_grad():
        assert Exp.apply(_x(2)).grad_fn is None


def test_function_errors() -> None:
    x = _x(3)
    y = Exp.apply(x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()

    class TooFew(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooFew.apply(_x(2), _x(2)).sum().backward()

    class Modified(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x

    leaf = _x(2)
    h = leaf * 1
    out = Modified.apply(h)
    with bp.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    with pytest.warns(DeprecationWarning, match="should not be instantiated"):  # (torch's warning)
        legacy = Exp()
    with pytest.raises(RuntimeError, match="Legacy autograd function"):
        legacy(x)


def test_non_differentiable_outputs_and_once_differentiable() -> None:
    class ArgmaxAndMax(bp.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            i = x.argmax()
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(x, i)
            return x.max(), i

        @staticmethod
        @bp.autograd.once_differentiable
        def backward(ctx, gm, gi):
            x, i = ctx.saved_tensors
            g = bp.zeros_like(x)
            g[i] = gm
            return g

    x = bp.tensor([1.0, 5.0, 2.0], requires_grad=True)
    m, i = ArgmaxAndMax.apply(x)
    assert not i.requires_grad and m.requires_grad and i.item() == 1
    m.backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    x.grad = None
    m, _ = ArgmaxAndMax.apply(x)
    (g,) = bp.autograd.grad(m, x, create_graph=True)
    assert not g.requires_grad  # as torch: nothing recorded, so a second backward cannot silently give 0
    m, _ = ArgmaxAndMax.apply(x)
    seed = bp.ones((), dtype=m.dtype, requires_grad=True)
    (g,) = bp.autograd.grad(m, x, grad_outputs=seed, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


@needs_torch
def test_function_matches_torch_in_a_training_step() -> None:
    class TorchExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, gy):
            (y,) = ctx.saved_tensors
            return gy * y

    w = np.random.default_rng(1).standard_normal((3, 4)) * 0.3
    x = np.random.default_rng(2).standard_normal((5, 3))
    wb, wt = bp.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    (Exp.apply(bp.tensor(x) @ wb) ** 2).mean().backward()
    (TorchExp.apply(torch.tensor(x) @ wt) ** 2).mean().backward()
    np.testing.assert_allclose(wb.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- autograd.functional
def _f(x, y):
    return (x**2 * y.sin()).sum(-1), x * y


def test_jacobian_closed_form() -> None:
    x = bp.tensor([1.0, 2.0, 3.0], dtype=bp.float64)
    jac = AF.jacobian(lambda t: t**2, x)
    np.testing.assert_allclose(jac.numpy(), np.diag([2.0, 4.0, 6.0]))
    assert not jac.requires_grad
    h = AF.hessian(lambda t: (t**3).sum(), x)
    np.testing.assert_allclose(h.numpy(), np.diag([6.0, 12.0, 18.0]))


@needs_torch
def test_functional_matches_torch() -> None:
    rng = np.random.default_rng(3)
    xn, yn, vn = rng.random((2, 3)), rng.random((2, 3)), rng.random((2, 3))
    tf = torch.autograd.functional
    xb, yb, xt, yt = bp.tensor(xn), bp.tensor(yn), torch.tensor(xn), torch.tensor(yn)
    for ours, theirs in zip(AF.jacobian(_f, (xb, yb)), tf.jacobian(_f, (xt, yt))):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)

    def g(x):
        return (x**3).sum() * x.sum()

    np.testing.assert_allclose(AF.hessian(g, xb).numpy(), tf.hessian(g, xt).numpy(), rtol=1e-12)
    for name in ("hvp", "vhp"):
        (ob, rb), (ot, rt) = getattr(AF, name)(g, xb, bp.tensor(vn)), getattr(tf, name)(g, xt, torch.tensor(vn))
        np.testing.assert_allclose(rb.numpy(), rt.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ob.numpy(), ot.numpy(), rtol=1e-12)

    def h(x):
        return x.sin() * 2

    for name in ("jvp", "vjp"):
        (ob, rb), (ot, rt) = getattr(AF, name)(h, xb, bp.tensor(vn)), getattr(tf, name)(h, xt, torch.tensor(vn))
        np.testing.assert_allclose(rb.numpy(), rt.numpy(), rtol=1e-12)


def test_functional_errors_and_strict() -> None:
    x = bp.ones(3, dtype=bp.float64)
    with pytest.raises(RuntimeError, match="can only be None"):
        AF.vjp(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match="single element"):
        AF.hessian(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match="strict"):
        AF.jacobian(lambda t: bp.ones(2, dtype=bp.float64), x, strict=True)
    assert AF.jacobian(lambda t: bp.ones(2, dtype=bp.float64), x).tolist() == [[0.0] * 3] * 2
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple"):
        AF.jacobian(lambda t: t, [1.0])


def test_autograd_namespace_names() -> None:
    """torch.autograd's module-level names: gradcheck is the function, Variable(t) is t, anomaly switches."""
    w = bp.randn(3, 3, dtype=bp.float64, requires_grad=True)
    assert bp.autograd.gradcheck(lambda a: (a @ a).tanh(), (w,)) and bp.autograd.gradgradcheck(bp.tanh, (w,))
    t = bp.autograd.Variable(bp.ones(2), requires_grad=True)
    assert t.requires_grad and isinstance(t, bp.autograd.Variable) and not isinstance(np.ones(2), bp.autograd.Variable)
    assert not bp.autograd.is_anomaly_enabled()
    with bp.autograd.set_detect_anomaly(True):
        assert bp.autograd.is_anomaly_enabled()
        x = bp.tensor([-1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="sqrt"), np.errstate(invalid="ignore"):
            x.sqrt().sum().backward()  # NaN in the forward: the anomaly check names the op
    assert not bp.autograd.is_anomaly_enabled()

    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):  # (torch's warning)
        check = bp.autograd.detect_anomaly()

    @check
    def checked():
        return bp.autograd.is_anomaly_enabled()

    assert checked() and not bp.autograd.is_anomaly_enabled()


@needs_torch
def test_autograd_grad_keywords_match_torch() -> None:
    """materialize_grads, is_grads_batched and dict inputs, as torch.autograd.grad."""
    for lib in (bp, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0], requires_grad=True)
        gx, gy = lib.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)
        assert gx.tolist() == [2.0, 2.0] and gy.tolist() == [0.0]
        (jac,) = lib.autograd.grad(x * lib.tensor([1.0, 3.0]), x, grad_outputs=lib.eye(2), is_grads_batched=True)
        assert jac.tolist() == [[1.0, 0.0], [0.0, 3.0]]
        named = lib.autograd.grad((x**2).sum(), {"a": x})
        assert list(named) == ["a"] and named["a"].tolist() == [2.0, 4.0]
        with pytest.raises(ValueError, match="allow_unused"):
            lib.autograd.grad((x * 2).sum(), x, allow_unused=False, materialize_grads=True)


@needs_torch
def test_grad_fn_names_and_next_functions_as_torchs() -> None:
    """Graph-walking code (printing, torchviz-style drawing) sees torch's names and structure."""
    walks = []
    for lib in (bp, torch):
        x = lib.ones(2, requires_grad=True)
        y = (x * 2).sum().tanh()
        node, names = y.grad_fn, []
        while node is not None:
            names.append(node.name())
            nxt = [f for f, _ in node.next_functions if f is not None]
            node = nxt[0] if nxt else None
        walks.append(names)
        assert f"grad_fn=<{y.grad_fn.name()}>" in repr(y)
    assert walks[0] == walks[1] == ["TanhBackward0", "SumBackward0", "MulBackward0", "torch::autograd::AccumulateGrad"]
    leaf = bp.ones(2, requires_grad=True)
    acc = (leaf * 2).grad_fn.next_functions[0][0]
    assert acc.variable is leaf and acc.next_functions == ()
