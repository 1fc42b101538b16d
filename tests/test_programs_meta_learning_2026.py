"""Meta-learning and functional-parameter programs as torch users write them, each written once as a function of
the library module and run with torch 2.13 and with ``backprop`` standing in for it from the same weights: MAML
(second- and first-order, fast weights through a hand-written ``F.linear``/``F.conv2d`` forward, an outer Adam
step), Reptile, ``torch.func.functional_call`` with buffers and tied weights, per-task gradients with
``vmap(grad(...))`` over param dicts, ensembles through ``stack_module_state``, a hypernetwork, an LSTM learned
optimizer unrolled with ``create_graph``, implicit differentiation (``linalg.solve`` on Hessians, ``hvp``/``vhp``,
``jvp(grad(f))``) and hyper-parameter gradients through an unrolled SGD. Then the gaps these programs found:
``backward(create_graph=True)``'s reference-cycle warning, ``backward()`` inside a ``torch.func`` transform, and
``functional_call``'s errors for values and names that are not tensors."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.autograd import functional as bp_autograd_functional

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")


def _np(x: Any) -> Any:
    """Tensors (in lists and tuples) as NumPy arrays, other values as they are."""
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    if hasattr(x, "detach"):
        return np.asarray(x.detach().numpy())
    return x


def _close(ours: Any, theirs: Any, rtol: float, path: str = "out") -> None:
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape and ours.dtype == theirs.dtype, path
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    else:
        assert ours == theirs, path


def same_as_torch(program: Any, rtol: float = 1e-5) -> None:
    _close(_np(program(bp)), _np(program(torch)), rtol)


def raises_as_torch(call: Any) -> None:
    """``call(lib)`` raises with both: ours an instance of torch's class, with torch's message."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(theirs.type) as ours:
        call(bp)
    assert str(ours.value) == str(theirs.value)


def W(L: Any, *shape: int, seed: int = 0) -> Any:
    return L.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.3)


def _load(L: Any, module: Any, seed: int = 0) -> Any:
    with L.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(W(L, *p.shape, seed=seed + i))
    return module


# ---------------------------------------------------------------- MAML and Reptile


@pytest.mark.parametrize("second_order", [True, False], ids=["second_order", "first_order"])
def test_maml_with_hand_written_fast_weights_and_outer_adam(second_order: bool) -> None:
    """Inner SGD steps through ``autograd.grad(create_graph=...)`` on fast weights used by ``F.linear``; the meta
    loss's gradients and the parameters after three outer Adam steps are torch's."""

    def program(L: Any) -> list:
        F = L.nn.functional
        model = _load(L, L.nn.Sequential(L.nn.Linear(3, 8), L.nn.ReLU(), L.nn.Linear(8, 1)))
        opt = L.optim.Adam(model.parameters(), lr=1e-2)

        def fwd(x: Any, ps: list) -> Any:
            return F.linear(F.relu(F.linear(x, ps[0], ps[1])), ps[2], ps[3])

        outs = []
        for step in range(3):
            opt.zero_grad()
            meta_loss = 0
            for t in range(2):
                x, y = W(L, 5, 3, seed=10 + t + step), W(L, 5, 1, seed=20 + t + step)
                fast = list(model.parameters())
                for _ in range(2):
                    gs = L.autograd.grad(F.mse_loss(fwd(x, fast), y), fast, create_graph=second_order)
                    fast = [p - 0.1 * g for p, g in zip(fast, gs)]
                meta_loss = meta_loss + F.mse_loss(fwd(x, fast), y)
            meta_loss.backward()
            outs += [meta_loss.detach()] + [p.grad.clone() for p in model.parameters()]
            opt.step()
        return outs + list(model.parameters())

    same_as_torch(program)


def test_maml_through_conv_batch_norm_and_module_surgery() -> None:
    """Second-order MAML through ``F.conv2d``/``max_pool2d``/``cross_entropy`` and a functional ``batch_norm``, and
    learn2learn's style (a deep copy whose ``_parameters`` are replaced by non-leaf fast weights)."""

    def program(L: Any) -> list:
        F = L.nn.functional
        w, b, wl, g = (W(L, 4, 1, 3, 3), W(L, 4, seed=1), W(L, 2, 16, seed=2), 1 + W(L, 4, seed=5))
        ps = [t.requires_grad_() for t in (w, b, wl, g)]
        x, y = W(L, 3, 1, 6, 6, seed=3), L.tensor([0, 1, 1])

        def fwd(ps: list) -> Any:
            h = F.conv2d(x, ps[0], ps[1], padding=1)
            h = F.batch_norm(h, None, None, ps[3], None, training=True)
            return F.cross_entropy(F.linear(F.max_pool2d(F.relu(h), 3).flatten(1), ps[2]), y)

        gs = L.autograd.grad(fwd(ps), ps, create_graph=True)
        meta = fwd([p - 0.5 * gg for p, gg in zip(ps, gs)])
        out = [meta, *L.autograd.grad(meta, ps)]

        model = _load(L, L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 1)))
        clone = copy.deepcopy(model)
        names = [n.rpartition(".") for n, _ in model.named_parameters()]
        for (mod, _, attr), p in zip(names, model.parameters()):
            clone.get_submodule(mod)._parameters[attr] = p.clone()
        xs, ys = W(L, 5, 3, seed=1), W(L, 5, 1, seed=2)
        fast = [clone.get_submodule(mod)._parameters[attr] for mod, _, attr in names]
        gs = L.autograd.grad(F.mse_loss(clone(xs), ys), fast, create_graph=True)
        for (mod, _, attr), p, gg in zip(names, fast, gs):
            clone.get_submodule(mod)._parameters[attr] = p - 0.1 * gg
        query = F.mse_loss(clone(xs), ys)
        query.backward()
        return out + [query] + [p.grad for p in model.parameters()]

    same_as_torch(program)


def test_reptile_interpolates_state_dicts() -> None:
    """Reptile: a deep-copied state dict, a few SGD steps, then ``load_state_dict`` of the interpolation; and the
    in-place ``lerp_``/``_foreach_lerp_`` form."""

    def program(L: Any) -> list:
        model = _load(L, L.nn.Linear(2, 1))
        for it in range(3):
            old = copy.deepcopy(model.state_dict())
            opt = L.optim.SGD(model.parameters(), lr=0.1)
            x, y = W(L, 4, 2, seed=it), W(L, 4, 1, seed=it + 5)
            for _ in range(3):
                opt.zero_grad()
                L.nn.functional.mse_loss(model(x), y).backward()
                opt.step()
            new = model.state_dict()
            model.load_state_dict({n: old[n] + 0.5 * (new[n] - old[n]) for n in old})
        target = copy.deepcopy(model)
        with L.no_grad():
            for p, q in zip(model.parameters(), target.parameters()):
                q.add_(1.0)
                p.lerp_(q, 0.3)
            L._foreach_lerp_(list(model.parameters()), list(target.parameters()), 0.5)
        return list(model.parameters())

    same_as_torch(program)


# ---------------------------------------------------------------- torch.func


def _tied_model(L: Any) -> Any:
    class Tied(L.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = L.nn.Embedding(5, 4)
            self.bn = L.nn.BatchNorm1d(4)
            self.out = L.nn.Linear(4, 5, bias=False)
            self.out.weight = self.emb.weight
            self.register_buffer("scale", L.tensor(2.0))

        def forward(self, x: Any) -> Any:
            return self.out(self.bn(self.emb(x)) * self.scale)

    return _load(L, Tied())


def test_functional_call_with_buffers_tied_weights_and_strict() -> None:
    """``functional_call`` with a (params, buffers) tuple on a model with tied weights, the LSTM's flat weights
    under ``grad``, and ``strict=True``'s missing and unexpected keys."""

    def program(L: Any) -> list:
        m = _tied_model(L)
        x = L.tensor([0, 1, 2, 3])
        params = {k: v.detach() * 1.5 for k, v in m.named_parameters()}
        buffers = dict(m.named_buffers())
        out = L.func.functional_call(m, (params, buffers), (x,))
        lstm = _load(L, L.nn.LSTM(2, 3, batch_first=True))
        lp = {k: v.detach() * 0.5 for k, v in lstm.named_parameters()}
        xs = W(L, 2, 4, 2, seed=9)
        g = L.func.grad(lambda p: L.func.functional_call(lstm, p, (xs,))[0].pow(2).sum())(lp)
        return [out, m.bn.running_mean, m.emb.weight, list(params), list(buffers), [g[k] for k in sorted(g)]]

    same_as_torch(program)
    raises_as_torch(
        lambda L: L.func.functional_call(
            (m := _tied_model(L)), {k: v.detach() for k, v in m.named_parameters()}, (L.tensor([0]),), strict=True
        )
    )
    raises_as_torch(
        lambda L: L.func.functional_call(L.nn.Linear(2, 2), {"bogus": L.ones(1)}, (L.ones(1, 2),), strict=True)
    )


def test_per_task_gradients_and_maml_with_vmap_over_param_dicts() -> None:
    """``vmap(grad(loss))`` per task, an adaptation step mapped with ``in_dims`` of a param dict, and MAML whose
    inner step is ``func.grad`` under ``vmap`` with an outer ``backward()`` reaching the module's parameters."""

    def program(L: Any) -> list:
        F = L.nn.functional
        m = _load(L, L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 1)))
        params = {k: v.detach() for k, v in m.named_parameters()}
        xs, ys = W(L, 4, 5, 3, seed=1), W(L, 4, 5, 1, seed=2)

        def loss(p: dict, x: Any, y: Any) -> Any:
            return F.mse_loss(L.func.functional_call(m, p, (x,)), y)

        def adapt(p: dict, x: Any, y: Any) -> Any:
            g = L.func.grad(loss)(p, x, y)
            return loss({k: p[k] - 0.1 * g[k] for k in p}, x, y)

        per_task = L.func.vmap(L.func.grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
        stacked = {k: v.expand(4, *v.shape) for k, v in params.items()}
        adapted = L.func.vmap(adapt, in_dims=({k: 0 for k in params}, 0, 0))(stacked, xs, ys)
        meta = L.func.vmap(adapt, in_dims=(None, 0, 0))(dict(m.named_parameters()), xs, ys).mean()
        meta.backward()
        return [*per_task.values(), adapted, meta, *(p.grad for p in m.parameters())]

    same_as_torch(program)


def test_ensemble_with_stack_module_state() -> None:
    """``stack_module_state`` of models with batch norm, ``vmap`` over ``functional_call`` of a meta-device copy,
    and the gradient of the ensemble's output into the stacked leaves."""

    def program(L: Any) -> list:
        models = [_load(L, L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4)), seed=10 * i) for i in range(3)]
        params, buffers = L.func.stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")

        def f(p: dict, b: dict, x: Any) -> Any:
            return L.func.functional_call(base, (p, b), (x,))

        x = W(L, 5, 3, seed=7)
        out = L.func.vmap(f, in_dims=(0, 0, None), randomness="same")(params, buffers, x)
        out.pow(2).sum().backward()
        return [out, params["0.weight"].grad, params["1.bias"].grad, sorted(buffers), params["0.weight"].is_leaf]

    same_as_torch(program)


# ---------------------------------------------------------------- hypernetworks and learned optimizers


def test_hypernetwork_and_learned_lstm_optimizer() -> None:
    """A hypernetwork's output split and viewed into a target network's weights; an ``LSTMCell`` that proposes
    updates, unrolled with ``create_graph=True`` and trained with Adam."""

    def program(L: Any) -> list:
        F = L.nn.functional
        hnet = _load(L, L.nn.Linear(2, 21))
        w1, b1, w2, b2 = hnet(W(L, 2, seed=2)).split([12, 4, 4, 1])
        out = F.linear(F.tanh(F.linear(W(L, 6, 3, seed=3), w1.view(4, 3), b1)), w2.view(1, 4), b2)
        out.pow(2).mean().backward()
        res = [out, hnet.weight.grad, hnet.bias.grad]

        lstm, head = _load(L, L.nn.LSTMCell(1, 4)), _load(L, L.nn.Linear(4, 1), seed=8)
        mopt = L.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-2)
        A, b = W(L, 5, 3, seed=20), W(L, 5, seed=21)
        for _ in range(2):
            theta, h, c, total = L.zeros(3, requires_grad=True), L.zeros(3, 4), L.zeros(3, 4), 0
            for _ in range(4):
                loss = (A @ theta - b).pow(2).sum()
                (g,) = L.autograd.grad(loss, theta, create_graph=True)
                h, c = lstm(g.unsqueeze(1), (h, c))
                theta = theta + head(h).squeeze(1)
                total = total + loss
            mopt.zero_grad()
            total.backward()
            mopt.step()
            res += [total.detach(), lstm.weight_hh.grad.clone(), head.weight.grad.clone()]
        return res

    same_as_torch(program)


# ---------------------------------------------------------------- implicit differentiation and HPO


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # (torch's forward AD)
def test_implicit_gradient_by_solve_hvp_vhp_and_jvp_of_grad() -> None:
    """The implicit-function-theorem hypergradient -d2f/dlam dw H^-1 dval/dw, with H from
    ``autograd.functional.hessian`` and ``linalg.solve``; the same Hessian-vector product by ``hvp``, ``vhp``,
    ``func.jvp(func.grad(f))`` and ``func.hessian``; checked against the closed form too."""
    A0 = np.random.default_rng(1).standard_normal((4, 4)) * 0.3
    A_np = A0 @ A0.T + np.eye(4)

    def program(L: Any) -> list:
        A, lam = L.tensor(A_np, dtype=L.float64), L.tensor(0.5, dtype=L.float64, requires_grad=True)

        def inner(w: Any, lam: Any) -> Any:
            return 0.5 * w @ A @ w + lam * w.pow(2).sum() - w.sum()

        w = L.linalg.solve(A + 2 * lam.detach() * L.eye(4, dtype=L.float64), L.ones(4, dtype=L.float64))
        w.requires_grad_()
        (v,) = L.autograd.grad((w - 1).pow(2).sum(), w)
        f = lambda ww: inner(ww, lam.detach())  # noqa: E731
        H = L.autograd.functional.hessian(f, w)
        q = L.linalg.solve(H, v)
        (gw,) = L.autograd.grad(inner(w, lam), w, create_graph=True)
        (mixed,) = L.autograd.grad(gw, lam, grad_outputs=q)
        _, hv = L.autograd.functional.hvp(f, w.detach(), v)
        _, vh = L.autograd.functional.vhp(f, w.detach(), v)
        _, jg = L.func.jvp(L.func.grad(f), (w.detach(),), (v,))
        return [H, -mixed, hv, vh, jg, L.func.hessian(f)(w.detach())]

    same_as_torch(program, rtol=1e-10)
    # closed form: w* = (A + 2 lam I)^-1 1, dw*/dlam = -(A + 2 lam I)^-1 2 w*, d val / d lam = 2 (w* - 1) . dw*/dlam
    M = A_np + np.eye(4)
    w_star = np.linalg.solve(M, np.ones(4))
    expected = 2 * (w_star - 1) @ np.linalg.solve(M, -2 * w_star)
    np.testing.assert_allclose(_np(program(bp))[1], expected, rtol=1e-10)


def test_hyperparameter_gradients_through_unrolled_sgd_with_momentum() -> None:
    """Learning rate (as its log) and weight decay learned through five unrolled momentum-SGD steps written by
    hand with ``create_graph=True``, three outer steps with in-place updates under ``no_grad``."""

    def program(L: Any) -> list:
        log_lr, wd = L.tensor(-2.0, requires_grad=True), L.tensor(0.01, requires_grad=True)
        X, y, Xv, yv = W(L, 8, 3, seed=1), W(L, 8, seed=2), W(L, 8, 3, seed=3), W(L, 8, seed=4)
        res = []
        for _ in range(3):
            w, mom = L.zeros(3, requires_grad=True), L.zeros(3)
            for _ in range(5):
                loss = (X @ w - y).pow(2).mean() + wd * w.pow(2).sum()
                (g,) = L.autograd.grad(loss, w, create_graph=True)
                mom = 0.9 * mom + g
                w = w - log_lr.exp() * mom
            val = (Xv @ w - yv).pow(2).mean()
            glr, gwd = L.autograd.grad(val, (log_lr, wd))
            with L.no_grad():
                log_lr -= 0.5 * glr
                wd.sub_(0.1 * gwd).clamp_(min=0)
            res += [val.detach(), glr, gwd]
        return [*res, log_lr, wd]

    same_as_torch(program)


def test_grad_allow_unused_materialize_and_retain_graph_errors() -> None:
    """``allow_unused``/``materialize_grads`` give torch's None and zeros; a second ``grad`` through a freed graph
    and an unused input without ``allow_unused`` raise torch's errors."""

    def program(L: Any) -> list:
        a, b = L.ones(2, requires_grad=True), L.ones(3, requires_grad=True)
        out = (a * 2).sum()
        g = L.autograd.grad(out, (a, b), allow_unused=True, retain_graph=True)
        g2 = L.autograd.grad(out, [a, b], materialize_grads=True)
        return [g[0], g[1] is None, list(g2)]

    same_as_torch(program)

    def twice(L: Any) -> Any:
        w = L.ones(3, requires_grad=True)
        (g,) = L.autograd.grad((w**3).sum(), w, create_graph=True)
        L.autograd.grad(g.sum(), w)
        return L.autograd.grad(g.sum(), w)

    raises_as_torch(twice)
    raises_as_torch(
        lambda L: L.autograd.grad((L.ones(2, requires_grad=True) * 2).sum(), [L.ones(2, requires_grad=True)])
    )


# ---------------------------------------------------------------- the gaps these programs found


# torch 2.13's text (engine.cpp's TORCH_WARN_ONCE, less its "(Triggered internally at ...)")
_CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the parameter and its gradient "
    "which can cause a memory leak. We recommend using autograd.grad when creating the graph to avoid this. If you "
    "have to use this function, make sure to reset the .grad fields of your parameters to None after use to break "
    "the cycle and avoid the leak."
)


def test_backward_create_graph_warns_once_as_torch() -> None:
    """``loss.backward(create_graph=True)`` (a MAML outer step written with backward) gives torch's UserWarning about
    the parameter <-> gradient reference cycle, once per process (its TORCH_WARN_ONCE); ``autograd.grad`` and a
    plain backward do not. (Torch's is not rerun here: another test may have spent its once-per-process warning.)"""
    bp_autograd_functional._CREATE_GRAPH_WARNED.clear()
    w = bp.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bp.autograd.grad((w * w).sum(), w, create_graph=True)
        (w * w).sum().backward()
        assert not caught
        (w * w).sum().backward(create_graph=True)
        (w * w).sum().backward(create_graph=True)
    assert [(c.category, str(c.message)) for c in caught] == [(UserWarning, _CYCLE_WARNING)]
    assert caught[0].filename == __file__  # (points at the caller's line)


def test_backward_inside_a_func_transform_raises_as_torch() -> None:
    """``.backward()`` inside ``grad``/``vjp``/``jacrev``/``vmap`` raises torch's RuntimeError (it ran and then
    failed with a freed-graph error, or silently accumulated into a lifted copy); ``autograd.grad`` inside stays
    allowed, and backward works again after the transform is left."""
    raises_as_torch(lambda L: L.func.grad(lambda x: (x * 2).sum().backward() or x.sum())(L.ones(3)))
    raises_as_torch(lambda L: L.func.vjp(lambda x: (x * 2).sum().backward(), L.ones(3)))
    raises_as_torch(lambda L: L.func.jacrev(lambda x: L.autograd.backward((x * 2).sum()))(L.ones(3)))
    raises_as_torch(lambda L: L.func.vmap(lambda x: (x * 2).sum().backward())(L.ones(3, 2, requires_grad=True)))

    def program(L: Any) -> list:
        x = W(L, 3).requires_grad_()
        inner = L.func.grad(lambda t: L.autograd.grad((t**3).sum(), t, create_graph=True)[0].sum())(x.detach())
        (x * 2).sum().backward()
        return [inner, x.grad]

    same_as_torch(program)


def test_functional_call_errors_as_torch() -> None:
    """A value that is not a tensor, a module attribute of that name that is not one, an empty name, a function
    in place of a module and a list in place of the deprecated form's dict raise torch's errors."""
    lin = lambda L: L.nn.Sequential(L.nn.Linear(2, 2))  # noqa: E731
    raises_as_torch(lambda L: L.func.functional_call(lin(L), {"0.weight": 3.0}, (L.ones(1, 2),)))

    def attribute(L: Any) -> Any:
        m = lin(L)
        m[0].foo = 3
        return L.func.functional_call(m, {"0.foo": L.ones(2)}, (L.ones(1, 2),))

    raises_as_torch(attribute)
    raises_as_torch(lambda L: L.func.functional_call(lin(L), {"": L.ones(2)}, (L.ones(1, 2),)))
    raises_as_torch(lambda L: L.func.functional_call(lambda x: x, {}, (L.ones(1, 2),)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # (the deprecated path's warning, torch's and ours)
        raises_as_torch(lambda L: L.nn.utils.stateless.functional_call(lin(L), [("a", L.ones(2))], (L.ones(1, 2),)))
