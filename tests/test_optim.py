"""Optimizers follow torch's update formulas exactly; schedulers follow torch's closed forms."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import nn, optim
from backprop.optim import optimizer

try:
    import torch
except ImportError:  # torch is optional: the hand-written references below always run
    torch = None


def _run(opt_cls, kwargs, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(steps)]
    p = nn.Parameter(bp.tensor(w0))
    opt = opt_cls([p], **kwargs)
    for g in grads:
        p.grad = bp.tensor(g)
        opt.step()
    return w0, grads, p.detach().numpy()


def _ref_sgd(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf = None
    for g in grads:
        g = g + weight_decay * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        w = w - lr * g
    return w


def _ref_adam(w, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    vmax = np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v)
        vv = vmax if amsgrad else v
        denom = np.sqrt(vv) / math.sqrt(1 - betas[1] ** t) + eps
        w = w - lr / (1 - betas[0] ** t) * m / denom
    return w


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.3),
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    ],
)
def test_sgd_matches_reference(kw) -> None:
    w0, grads, got = _run(optim.SGD, kw)
    np.testing.assert_allclose(got, _ref_sgd(w0, grads, **kw), rtol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.01),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6),
    ],
)
def test_adam_and_adamw_match_reference(kw) -> None:
    w0, grads, got = _run(optim.Adam, kw)
    np.testing.assert_allclose(got, _ref_adam(w0, grads, **kw), rtol=1e-12)
    kw_w = dict(kw, weight_decay=kw.get("weight_decay", 0.01))
    w0, grads, got = _run(optim.AdamW, kw_w)
    np.testing.assert_allclose(got, _ref_adam(w0, grads, decoupled=True, **kw_w), rtol=1e-12)


def _ref_rmsprop(w, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """torch.optim.RMSprop's algorithm as its documentation writes it."""
    v = np.zeros_like(w)
    g_avg = np.zeros_like(w)
    b = np.zeros_like(w)
    for g in grads:
        g = g + weight_decay * w
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            v_tilde = v - g_avg * g_avg
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            w = w - lr * b
        else:
            w = w - lr * g / (np.sqrt(v_tilde) + eps)
    return w


def _ref_adagrad(w, grads, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    """torch.optim.Adagrad's algorithm as its documentation writes it."""
    state_sum = np.full_like(w, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        clr = lr / (1 + (t - 1) * lr_decay)
        g = g + weight_decay * w
        state_sum = state_sum + g * g
        w = w - clr * g / (np.sqrt(state_sum) + eps)
    return w


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.01),
        dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1),
        dict(lr=0.01, momentum=0.5),
        dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
        dict(lr=0.02, centered=True),
    ],
)
def test_rmsprop_matches_reference(kw) -> None:
    w0, grads, got = _run(optim.RMSprop, kw)
    np.testing.assert_allclose(got, _ref_rmsprop(w0, grads, **kw), rtol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.1, lr_decay=0.01),
        dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
        dict(lr=0.05, eps=1e-6),
    ],
)
def test_adagrad_matches_reference(kw) -> None:
    w0, grads, got = _run(optim.Adagrad, kw)
    np.testing.assert_allclose(got, _ref_adagrad(w0, grads, **kw), rtol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
        ("AdamW", dict(lr=0.01, weight_decay=0.1)),
        ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
        ("RMSprop", dict(lr=0.01)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ],
)
def test_optimizers_match_torch(name, kw) -> None:
    w0, grads, got = _run(getattr(optim, name), kw, steps=6)
    theirs, _ = _torch_steps(name, kw, w0, grads)
    np.testing.assert_allclose(got, theirs, rtol=1e-10, atol=1e-14)


def _torch_steps(name: str, kw: dict, w0: np.ndarray, grads: list) -> tuple:
    """torch.optim.<name>'s parameter after one step per gradient, and the optimizer."""
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = getattr(torch.optim, name)([tp], **kw)
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
    return tp.detach().numpy(), topt


def test_optimizer_state_dict_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]
    p = nn.Parameter(bp.tensor(w0))
    opt = optim.Adam([p], lr=0.01)
    for g in grads[:3]:
        p.grad = bp.tensor(g)
        opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["state"][0]["step"] == 3
    q = nn.Parameter(bp.tensor(p.detach().numpy().copy()))
    opt2 = optim.Adam([q], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.01
    for g in grads[3:]:
        for par, o in ((p, opt), (q, opt2)):
            par.grad = bp.tensor(g)
            o.step()
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_optimizer_step_builds_no_graph() -> None:
    p = nn.Parameter(bp.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    assert p.grad_fn is None and p.is_leaf


def test_schedulers_closed_forms() -> None:
    def lrs(make, n=6):
        p = nn.Parameter(bp.ones(1))
        opt = optim.SGD([p], lr=1.0)
        sched = make(opt)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n - 1):
            sched.step()
            out.append(sched.get_last_lr()[0])
        return out

    S = optim.lr_scheduler
    assert lrs(lambda o: S.StepLR(o, 2, 0.5)) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    np.testing.assert_allclose(lrs(lambda o: S.ExponentialLR(o, 0.9)), 0.9 ** np.arange(6))
    np.testing.assert_allclose(
        lrs(lambda o: S.CosineAnnealingLR(o, 5, 0.1)),
        [0.1 + 0.9 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(6)],
    )
    np.testing.assert_allclose(lrs(lambda o: S.LinearLR(o, 0.25, 1.0, 3)), [0.25, 0.5, 0.75, 1, 1, 1])
    np.testing.assert_allclose(lrs(lambda o: S.LambdaLR(o, lambda e: 1 / (e + 1))), 1 / np.arange(1, 7))


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
def test_schedulers_match_torch() -> None:
    p = nn.Parameter(bp.ones(1))
    tp = torch.nn.Parameter(torch.ones(1))
    ours = optim.lr_scheduler.CosineAnnealingLR(optim.SGD([p], lr=0.3), T_max=7, eta_min=0.01)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD([tp], lr=0.3), T_max=7, eta_min=0.01)
    for _ in range(7):
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-12)
        ours.step()
        theirs.optimizer.step()
        theirs.step()


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.skipif(not optimizer._AXPY, reason="NumPy's BLAS axpy not found: updates round twice")
@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    ],
)
@pytest.mark.parametrize("shape", [(7,), (257, 129), (1000, 300)])
def test_sgd_is_bitwise_torchs_in_float32(kw: dict, shape: tuple) -> None:
    """Every SGD term is torch's ``add_(x, alpha=)``, one rounding per element (a fused multiply-add
    through NumPy's BLAS): float32 parameters end bit for bit where torch's do."""
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    p = nn.Parameter(bp.tensor(w0.copy()))
    opt = optim.SGD([p], **kw)
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = torch.optim.SGD([tp], **kw)
    for g in grads:
        p.grad = bp.tensor(g)
        opt.step()
        tp.grad = torch.tensor(g)
        topt.step()
    assert np.array_equal(p.detach().numpy(), tp.detach().numpy())


def test_sgd_takes_numpy_scalar_hyper_parameters_and_0d_parameters() -> None:
    """A learning rate given as a NumPy float32, and 0-d parameters, update as with Python floats."""
    p = nn.Parameter(bp.tensor(np.float32(2.0)))
    q = nn.Parameter(bp.tensor(np.full((5,), 2.0, dtype=np.float32)))
    opt = optim.SGD([p, q], lr=np.float32(0.5), momentum=np.float32(0.5), nesterov=True, weight_decay=np.float32(0.1))
    for _ in range(2):
        p.grad = bp.tensor(np.float32(1.0))
        q.grad = bp.tensor(np.ones(5, dtype=np.float32))
        opt.step()
    assert p.shape == () and np.array_equal(np.full(5, p.item(), dtype=np.float32), q.detach().numpy())
    assert p.item() == pytest.approx(_ref_sgd(np.float64(2.0), [1.0, 1.0], 0.5, 0.5, 0.0, 0.1, True), rel=1e-6)


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, maximize=True, foreach=False)),
        ("Adam", dict(lr=0.01, maximize=True, foreach=True, fused=None)),
        ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
        ("AdamW", dict(lr=0.01, maximize=True, amsgrad=True)),
        ("RMSprop", dict(lr=0.01, momentum=0.5, maximize=True, foreach=None)),
        ("Adagrad", dict(lr=0.1, maximize=True, foreach=None)),
    ],
)
def test_torch_keyword_options_match_torch(name: str, kw: dict) -> None:
    """maximize ascends as torch's; foreach/fused choose nothing here; decoupled_weight_decay is AdamW."""
    w0, grads, got = _run(getattr(optim, name), kw, steps=6)
    theirs_p, topt = _torch_steps(name, kw, w0, grads)
    np.testing.assert_allclose(got, theirs_p, rtol=1e-10, atol=1e-14)
    ours = getattr(optim, name)([nn.Parameter(bp.tensor(w0))], **kw).state_dict()["param_groups"][0]
    theirs = topt.state_dict()["param_groups"][0]
    assert set(theirs) - {"params"} <= set(ours) | {"lr_decay", "initial_accumulator_value"}  # (the same group keys)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_unsupported_torch_options_raise_clearly(name: str) -> None:
    p = nn.Parameter(bp.tensor(np.zeros(2)))
    with pytest.raises(NotImplementedError, match=rf"{name}\(differentiable=True\)"):
        getattr(optim, name)([p], lr=0.1, differentiable=True)
    if name in ("Adam", "AdamW", "RMSprop"):
        with pytest.raises(NotImplementedError, match=rf"{name}\(capturable=True\)"):
            getattr(optim, name)([p], lr=0.1, capturable=True)


def _lrs(sched_cls, opt, kw, steps, metrics=None):
    sched = sched_cls(opt, **kw)
    out = []
    for i in range(steps):
        opt.step()
        sched.step(metrics[i]) if metrics is not None else sched.step()
        group = opt.param_groups[0]
        out.append((group["lr"], group.get("momentum", group.get("betas", (None,))[0])))
    return out


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.parametrize(
    ("name", "kw", "opt_name", "steps"),
    [
        ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.5), "SGD", 12),
        ("ConstantLR", dict(factor=0.25, total_iters=4), "SGD", 8),
        ("PolynomialLR", dict(total_iters=6, power=2.0), "SGD", 9),
        ("OneCycleLR", dict(max_lr=0.5, total_steps=20), "SGD", 20),
        ("OneCycleLR", dict(max_lr=0.5, epochs=3, steps_per_epoch=5, anneal_strategy="linear"), "Adam", 15),
        ("OneCycleLR", dict(max_lr=[0.4], total_steps=25, three_phase=True, pct_start=0.25), "SGD", 25),
        ("OneCycleLR", dict(max_lr=0.5, total_steps=10, cycle_momentum=False), "Adam", 10),
    ],
)
def test_more_schedulers_match_torch(name: str, kw: dict, opt_name: str, steps: int) -> None:
    opt_kw = dict(lr=0.1, momentum=0.9) if opt_name == "SGD" else dict(lr=0.1)
    ours = _lrs(
        getattr(optim.lr_scheduler, name),
        getattr(optim, opt_name)([nn.Parameter(bp.tensor(np.ones(1)))], **opt_kw),
        kw,
        steps,
    )
    theirs = _lrs(
        getattr(torch.optim.lr_scheduler, name),
        getattr(torch.optim, opt_name)([torch.nn.Parameter(torch.ones(1))], **opt_kw),
        kw,
        steps,
    )
    for (a, ma), (b, mb) in zip(ours, theirs):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15) and ma == pytest.approx(mb, rel=1e-12)


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(mode="max", factor=0.5, patience=1, threshold=0.1, threshold_mode="abs"),
        dict(patience=0, cooldown=2, min_lr=[0.02], factor=0.3),
        dict(patience=2, threshold=0.0, eps=1e-3, min_lr=0.0999),
    ],
)
def test_reduce_lr_on_plateau_matches_torch(kw: dict) -> None:
    metrics = [1.0, 0.9, 0.9, 0.95, 0.89, 0.9, 0.9, 0.9, 0.7, 0.71, 0.71, 0.8, 0.6, 0.6, 0.6, 0.6] * 2
    ours_opt = optim.SGD([nn.Parameter(bp.tensor(np.ones(1)))], lr=0.1, momentum=0.9)
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9)
    ours = _lrs(optim.lr_scheduler.ReduceLROnPlateau, ours_opt, kw, len(metrics), metrics)
    theirs = _lrs(torch.optim.lr_scheduler.ReduceLROnPlateau, theirs_opt, kw, len(metrics), metrics)
    assert [a for a, _ in ours] == pytest.approx([b for b, _ in theirs], rel=1e-15)


def test_reduce_lr_on_plateau_closed_cases_and_state() -> None:
    opt = optim.SGD([nn.Parameter(bp.tensor(np.ones(1)))], lr=1.0)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5, min_lr=0.2)
    for m in [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]:  # no improvement after the first: halve every 2 bad epochs
        sched.step(bp.tensor(m))
    assert sched.get_last_lr() == [0.2]  # 1 -> 0.5 -> 0.25 -> floored at 0.2
    state = sched.state_dict()
    again = optim.lr_scheduler.ReduceLROnPlateau(opt)
    again.load_state_dict(state)
    assert again.best == 3.0 and again.factor == 0.5 and again.num_bad_epochs == sched.num_bad_epochs
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])


def test_one_cycle_refuses_bad_settings() -> None:
    opt = optim.SGD([nn.Parameter(bp.tensor(np.ones(1)))], lr=0.1)
    with pytest.raises(ValueError, match="total_steps OR"):
        optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        optim.lr_scheduler.OneCycleLR(optim.Adagrad([nn.Parameter(bp.tensor(np.ones(1)))]), max_lr=0.1, total_steps=5)
    sched = optim.lr_scheduler.OneCycleLR(
        optim.SGD([nn.Parameter(bp.tensor(np.ones(1)))], lr=0.1, momentum=0.9), max_lr=0.1, total_steps=2
    )
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
        sched.step()


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
def test_parameters_to_vector_and_back_match_torch() -> None:
    rng = np.random.default_rng(0)
    mods = [nn.Linear(3, 2), torch.nn.Linear(3, 2)]
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    mods[0].weight._data, mods[0].bias._data = w.astype(np.float32), b.astype(np.float32)
    with torch.no_grad():
        mods[1].weight.copy_(torch.tensor(w)), mods[1].bias.copy_(torch.tensor(b))
    ours = nn.utils.parameters_to_vector(mods[0].parameters())
    theirs = torch.nn.utils.parameters_to_vector(mods[1].parameters())
    assert np.array_equal(ours.detach().numpy(), theirs.detach().numpy())
    (ours * bp.arange(8.0)).sum().backward()  # differentiable, as torch's
    assert np.array_equal(mods[0].bias.grad.numpy(), [6.0, 7.0])
    new = bp.arange(8.0, dtype=bp.float32)
    nn.utils.vector_to_parameters(new, mods[0].parameters())
    assert np.array_equal(mods[0].weight.detach().numpy(), np.arange(6.0).reshape(2, 3))
    new._data[0] = 100.0  # the parameters share the vector's memory, as torch's
    assert mods[0].weight.detach().numpy()[0, 0] == 100.0
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: numpy.ndarray"):
        nn.utils.vector_to_parameters(np.zeros(8), mods[0].parameters())
    with pytest.raises(ValueError, match="expected a vector of 8 elements"):
        nn.utils.vector_to_parameters(bp.zeros(7), mods[0].parameters())


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.parametrize("kw", [dict(T_0=4), dict(T_0=3, T_mult=2, eta_min=0.01), dict(T_0=2, T_mult=3)])
def test_cosine_warm_restarts_matches_torch_with_whole_and_fractional_epochs(kw: dict) -> None:
    ours_opt = optim.SGD([nn.Parameter(bp.tensor(np.ones(1)))], lr=0.1)
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    ours = optim.lr_scheduler.CosineAnnealingWarmRestarts(ours_opt, **kw)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs_opt, **kw)
    for _ in range(30):
        ours.step()
        theirs.step()
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(theirs_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
    for epoch in (0.0, 0.5, 2.25, 3.0, 7.75, 20.5):
        ours.step(epoch)
        theirs.step(epoch)
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(theirs_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        assert ours.last_epoch == theirs.last_epoch
    with pytest.raises(ValueError, match="positive integer T_0"):
        optim.lr_scheduler.CosineAnnealingWarmRestarts(ours_opt, T_0=0)


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
def test_sequential_lr_matches_torch_for_warm_up_then_decay() -> None:
    def make(lib: Any, opt: Any) -> Any:
        s = lib.optim.lr_scheduler
        warm = s.LinearLR(opt, start_factor=0.1, total_iters=3)
        cos = s.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
        step = s.StepLR(opt, step_size=2, gamma=0.5)
        return s.SequentialLR(opt, [warm, cos, step], milestones=[3, 9])

    ours_opt = optim.SGD([nn.Parameter(bp.tensor(np.ones(1)))], lr=0.1)
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    ours, theirs = make(bp, ours_opt), make(torch, theirs_opt)
    seq = []
    for _ in range(16):
        a, b = ours_opt.param_groups[0]["lr"], theirs_opt.param_groups[0]["lr"]
        assert a == pytest.approx(b, rel=1e-12), (len(seq), a, b)
        seq.append(a)
        ours_opt.step(), theirs_opt.step()
        ours.step(), theirs.step()
    assert seq[0] == pytest.approx(0.01) and seq[3] == pytest.approx(0.1) and len(set(seq)) > 8
    state = ours.state_dict()
    again = make(bp, ours_opt)
    again.load_state_dict(state)
    assert ours_opt.param_groups[0]["lr"] == pytest.approx(theirs_opt.param_groups[0]["lr"], rel=1e-12)
    with pytest.raises(ValueError, match="one more than the number of milestone points"):
        optim.lr_scheduler.SequentialLR(ours_opt, [optim.lr_scheduler.StepLR(ours_opt, 2)], milestones=[3])


def test_optimizers_take_named_parameters_as_torch() -> None:
    """optim.X(model.named_parameters()): the names are kept in the group (and its state dict)."""
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.named_parameters(), lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.param_groups[0]["params"] == [model.weight, model.bias]
    model(bp.randn(4, 3)).sum().backward()
    opt.step()
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    grouped = optim.Adam([{"params": model.named_parameters(), "lr": 0.01}])
    assert grouped.param_groups[0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="with/without names. Some param names are missing"):
        optim.SGD([("weight", model.weight), model.bias], lr=0.1)
    if torch is not None:  # the same keys as torch's groups
        tm = torch.nn.Linear(3, 2)
        assert torch.optim.SGD(tm.named_parameters(), lr=0.1).param_groups[0]["param_names"] == ["weight", "bias"]


@pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")
@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("NAdam", dict(lr=0.01)),
        ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
        ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
        ("RAdam", dict(lr=0.01)),  # rho_t <= 5 for the first steps, rectified after
        ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
        ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
        ("Adamax", dict(lr=0.01)),
        ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
        ("Adadelta", dict()),
        ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1)),
    ],
)
def test_more_optimizers_match_torch(name: str, kw: dict) -> None:
    w0, grads, got = _run(getattr(optim, name), kw, steps=12)
    theirs, _ = _torch_steps(name, kw, w0, grads)
    np.testing.assert_allclose(got, theirs, rtol=1e-10, atol=1e-14)
    assert not np.allclose(got, w0)  # (the steps moved the parameters)


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax", "Adadelta"])
def test_more_optimizers_state_dicts_continue_identically(name: str) -> None:
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((2, 3)) for _ in range(6)]
    a = nn.Parameter(bp.tensor(np.ones((2, 3))))
    opt = getattr(optim, name)([a])
    for g in grads[:3]:
        a.grad = bp.tensor(g)
        opt.step()
    b = nn.Parameter(bp.tensor(a.detach().numpy().copy()))
    other = getattr(optim, name)([b])
    other.load_state_dict(opt.state_dict())
    for g in grads[3:]:
        a.grad, b.grad = bp.tensor(g), bp.tensor(g)
        opt.step()
        other.step()
    if name == "NAdam":  # (loading casts mu_product, a float32 scalar, to the parameter's dtype, as torch does)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
        return
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_add_scaled_handles_views_overlap_and_other_dtypes() -> None:
    """The BLAS path takes contiguous, separate, same-dtype arrays; anything else gets NumPy's result."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 5)).astype(np.float32)
    for make in (
        lambda: (base.copy().T, base.copy().T),  # strided views
        lambda: (base.copy()[:, 1:], base.copy()[:, 1:]),  # non-contiguous slices
        lambda: (base.astype(np.float16), base.astype(np.float16)),  # a dtype without BLAS
    ):
        y, x = make()
        want = y + np.asarray(-0.5, dtype=y.dtype) * x
        optimizer.add_scaled_(np, y, x, -0.5)
        np.testing.assert_allclose(y.astype(np.float64), want.astype(np.float64), rtol=1e-3)
    y = base.copy()
    optimizer.add_scaled_(np, y, y, -0.5)  # x is y: no BLAS call on overlapping memory
    np.testing.assert_allclose(y, base * 0.5, rtol=1e-6)
    z = np.zeros(0, dtype=np.float32)
    optimizer.add_scaled_(np, z, z.copy(), 2.0)  # empty: nothing to do
    assert z.size == 0
