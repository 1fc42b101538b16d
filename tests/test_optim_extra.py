"""Rprop, ASGD, LBFGS, SparseAdam, optimizer hooks, MultiplicativeLR / CyclicLR / ChainedScheduler and
swa_utils: parameter trajectories and learning rates as torch's (float64 to ~1e-12)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop import nn, optim

try:
    import torch
except ImportError:  # torch is optional: the closed-form checks below always run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (optional cross-check)")


def _grads(steps: int, shape: tuple = (4, 3), seed: int = 0) -> list[np.ndarray]:
    """Gradients with sign changes and an all-zero row now and then (Rprop's and SparseAdam's cases)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(steps):
        g = rng.standard_normal(shape)
        g[i % shape[0]] = 0
        out.append(g)
    return out


def _ours(cls: Any, kw: dict, w0: np.ndarray, grads: list, dtype: Any = np.float64) -> tuple[np.ndarray, Any]:
    p = nn.Parameter(bp.tensor(w0.astype(dtype)))
    opt = cls([p], **kw)
    for g in grads:
        p.grad = bp.tensor((g + 0.3 * p.detach().numpy()).astype(dtype))
        opt.step()
    return p.detach().numpy(), opt


def _theirs(name: str, kw: dict, w0: np.ndarray, grads: list, dtype: Any = np.float64) -> tuple[np.ndarray, Any]:
    tp = torch.nn.Parameter(torch.tensor(w0.astype(dtype)))
    opt = getattr(torch.optim, name)([tp], **kw)
    for g in grads:
        tp.grad = torch.tensor((g + 0.3 * tp.detach().numpy()).astype(dtype))
        opt.step()
    return tp.detach().numpy(), opt


FIRST_ORDER = [
    ("Rprop", {}),
    ("Rprop", dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True)),
    ("ASGD", {}),
    ("ASGD", dict(lr=0.1, lambd=0.01, alpha=0.6, t0=5, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=0, maximize=True)),
]


@needs_torch
@pytest.mark.parametrize(("name", "kw"), FIRST_ORDER)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rprop_and_asgd_trajectories_match_torch(name: str, kw: dict, dtype: Any) -> None:
    w0, grads = np.random.default_rng(1).standard_normal((4, 3)), _grads(25)
    ours, opt = _ours(getattr(optim, name), kw, w0, grads, dtype)
    theirs, topt = _theirs(name, kw, w0, grads, dtype)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours, theirs, **tol)
    assert not np.allclose(ours, w0)
    mine, their = opt.state_dict(), topt.state_dict()
    assert mine["state"][0].keys() == their["state"][0].keys()
    assert mine["param_groups"][0].keys() == their["param_groups"][0].keys()
    for key, value in their["state"][0].items():
        np.testing.assert_allclose(np.asarray(mine["state"][0][key]), value.numpy(), **tol)


def test_rprop_closed_form_steps() -> None:
    """Same sign: the step grows by eta+ (capped); a flip: it shrinks by eta- and that element rests."""
    p = nn.Parameter(bp.tensor([0.0, 0.0]))
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(1e-6, 0.3))
    for g, want in [([1.0, 1.0], [-0.1, -0.1]), ([1.0, -1.0], [-0.3, -0.1]), ([1.0, 1.0], [-0.6, -0.15])]:
        p.grad = bp.tensor(g)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-6)
    # the second element flipped at step 2 (step 0.1 -> 0.05, no move); with no sign history next
    # time its step stays 0.05; the first grew 0.1 -> 0.2 -> 0.4, capped at 0.3
    np.testing.assert_allclose(opt.state_dict()["state"][0]["step_size"], [0.3, 0.05], rtol=1e-6)
    with pytest.raises(ValueError, match="eta"):
        optim.Rprop([p], etas=(1.2, 0.5))


def test_asgd_averages_the_iterates_after_t0() -> None:
    p = nn.Parameter(bp.tensor([1.0]))
    opt = optim.ASGD([p], lr=0.1, lambd=0.0, t0=0)  # mu = 1 / (t - 1): ax is the mean from the 2nd iterate on
    seen = []
    for _ in range(6):
        p.grad = bp.tensor([1.0])
        opt.step()
        seen.append(float(p.item()))
    np.testing.assert_allclose(opt.state[id(p)]["ax"].numpy(), [np.mean(seen[1:])], rtol=1e-6)
    np.testing.assert_allclose(seen, 1 - 0.1 * np.arange(1, 7), rtol=1e-6)


# ---------------------------------------------------------------- LBFGS
def _rosenbrock(x: Any) -> Any:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _least_squares(lib: Any, x: Any) -> Any:
    rng = np.random.default_rng(5)
    a, b = lib.tensor(rng.standard_normal((6, 3))), lib.tensor(rng.standard_normal(6))
    r = a @ x - b
    return (r * r).sum() + 0.1 * (x * x).sum()


def _lbfgs_run(lib: Any, fn: Any, x0: np.ndarray, kw: dict, steps: int) -> tuple[list, np.ndarray, Any]:
    x = (nn.Parameter if lib is bp else torch.nn.Parameter)(lib.tensor(x0))
    opt = (optim.LBFGS if lib is bp else torch.optim.LBFGS)([x], **kw)

    def closure() -> Any:
        opt.zero_grad()
        loss = fn(lib, x)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return losses, x.detach().numpy(), opt


@needs_torch
@pytest.mark.parametrize(
    ("problem", "kw"),
    [
        ("least_squares", {}),
        ("least_squares", dict(lr=0.3, history_size=2, max_iter=4)),
        ("least_squares", dict(line_search_fn="strong_wolfe", max_iter=3)),
        ("rosenbrock", dict(line_search_fn="strong_wolfe")),
        ("rosenbrock", dict(lr=0.5, history_size=3, max_iter=7)),
    ],
)
def test_lbfgs_matches_torch(problem: str, kw: dict) -> None:
    if problem == "rosenbrock":
        fn, x0, steps = (lambda lib, x: _rosenbrock(x)), np.array([-1.5, 2.0]), 3
    else:
        fn, x0, steps = _least_squares, np.array([0.5, -1.0, 2.0]), 4
    ours_l, ours_x, opt = _lbfgs_run(bp, fn, x0, kw, steps)
    theirs_l, theirs_x, topt = _lbfgs_run(torch, fn, x0, kw, steps)
    np.testing.assert_allclose(ours_x, theirs_x, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ours_l, theirs_l, rtol=1e-9, atol=1e-12)
    mine, their = opt.state_dict()["state"][0], topt.state_dict()["state"][0]
    assert mine.keys() == their.keys()
    assert (mine["func_evals"], mine["n_iter"]) == (their["func_evals"], their["n_iter"])


def test_lbfgs_minimises_least_squares_to_the_normal_equations() -> None:
    """Without torch: the minimiser of ||A x - b||^2 + 0.1 ||x||^2 solves (A^T A + 0.1) x = A^T b."""
    _, x, _ = _lbfgs_run(bp, _least_squares, np.zeros(3), dict(line_search_fn="strong_wolfe"), 3)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    np.testing.assert_allclose(x, np.linalg.solve(a.T @ a + 0.1 * np.eye(3), a.T @ b), rtol=1e-6)


def test_lbfgs_state_dict_round_trip_continues_identically() -> None:
    x0, kw = np.array([0.5, -1.0, 2.0]), dict(max_iter=2, history_size=3)
    _, _, opt = _lbfgs_run(bp, _least_squares, x0, kw, 2)
    x = opt.param_groups[0]["params"][0]
    y = nn.Parameter(bp.tensor(x.detach().numpy().copy()))
    other = optim.LBFGS([y], **kw)
    other.load_state_dict(opt.state_dict())
    for o, p in ((opt, x), (other, y)):

        def closure(o: Any = o, p: Any = p) -> Any:
            o.zero_grad()
            loss = _least_squares(bp, p)
            loss.backward()
            return loss

        o.step(closure)
    assert np.array_equal(x.detach().numpy(), y.detach().numpy())


def test_lbfgs_refuses_groups_and_runs_eagerly_when_compiled() -> None:
    a, b = nn.Parameter(bp.ones(2)), nn.Parameter(bp.ones(2))
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    armijo = optim.LBFGS([a], line_search_fn="armijo")  # (torch's check: at the first line search)

    def loss() -> bp.Tensor:
        armijo.zero_grad()
        out = ((a - 2) ** 2).sum()
        out.backward()
        return out

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        armijo.step(loss)
    opt = optim.LBFGS([a], max_iter=3)

    def step(t: bp.Tensor) -> bp.Tensor:
        def closure() -> bp.Tensor:
            opt.zero_grad()
            loss = ((a - t) ** 2).sum()
            loss.backward()
            return loss

        return opt.step(closure)

    fn = bp.compile(step)
    with pytest.warns(RuntimeWarning, match="LBFGS"):
        for _ in range(3):
            fn(bp.tensor([2.0, 3.0]))
    assert fn.replays == 0
    np.testing.assert_allclose(a.detach().numpy(), [2.0, 3.0], rtol=1e-6)


# ---------------------------------------------------------------- SparseAdam
@needs_torch
def test_sparse_adam_on_an_embedding_matches_torchs_sparse_gradients() -> None:
    """Sparse gradients in both: the looked-up rows move, the others keep their values and their moments,
    as torch's lazy update."""
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((10, 4))
    ours = nn.Embedding(10, 4, sparse=True, dtype=bp.float64)
    ours.weight._data[...] = w0
    theirs = torch.nn.Embedding(10, 4, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w0))
    kw = dict(lr=0.01, betas=(0.8, 0.99))
    opt, topt = optim.SparseAdam(ours.parameters(), **kw), torch.optim.SparseAdam(theirs.parameters(), **kw)
    for _ in range(20):
        idx = rng.integers(0, 6, size=5)  # rows 6..9 are never looked up
        target = rng.standard_normal((5, 4))
        for emb, lib, o in ((ours, bp, opt), (theirs, torch, topt)):
            o.zero_grad()
            ((emb(lib.tensor(idx)) - lib.tensor(target)) ** 2).sum().backward()
            o.step()
    got, want = ours.weight.detach().numpy(), theirs.weight.detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.array_equal(got[6:], w0[6:]) and not np.allclose(got[:6], w0[:6])
    np.testing.assert_allclose(
        opt.state_dict()["state"][0]["exp_avg_sq"], topt.state_dict()["state"][0]["exp_avg_sq"].numpy(), rtol=1e-12
    )


# ---------------------------------------------------------------- hooks and repr
def test_step_hooks_run_around_step_and_may_replace_its_arguments() -> None:
    p = nn.Parameter(bp.tensor([1.0]))
    opt = optim.SGD([p], lr=0.5)
    calls: list = []

    def pre(o: Any, args: tuple, kwargs: dict) -> Any:
        calls.append(("pre", o is opt, args[0] is opt, dict(kwargs)))
        return args, {"closure": lambda: 7.0}

    h1 = opt.register_step_pre_hook(pre)
    h2 = opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", sorted(kwargs))))
    p.grad = bp.tensor([1.0])
    assert opt.step() == 7.0  # the pre-hook's closure ran
    assert calls == [("pre", True, True, {}), ("post", ["closure"])]
    h1.remove(), h2.remove()
    opt.step()
    assert len(calls) == 2 and p.item() == 0.0
    opt.register_step_pre_hook(lambda o, a, k: 3)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()


def test_subclass_steps_run_the_hooks_once() -> None:
    p = nn.Parameter(bp.tensor([1.0]))
    opt = optim.Adam([p])
    n = []
    opt.register_step_post_hook(lambda *a: n.append(1))
    p.grad = bp.tensor([1.0])
    opt.step()
    assert n == [1]


def test_state_dict_hooks_as_torch() -> None:
    p = nn.Parameter(bp.tensor([1.0]))
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    order: list = []
    opt.register_state_dict_pre_hook(lambda o: order.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: dict(sd, extra=1))
    opt.register_state_dict_pre_hook(lambda o: order.append("first"), prepend=True)
    sd = opt.state_dict()
    assert order == ["first", "pre"] and sd["extra"] == 1

    def load_pre(o: Any, sd: dict) -> dict:
        sd = dict(sd, param_groups=[dict(g, lr=0.25) for g in sd["param_groups"]])
        return sd

    h = opt.register_load_state_dict_pre_hook(load_pre)
    opt.register_load_state_dict_post_hook(lambda o: order.append(o.param_groups[0]["lr"]))
    opt.load_state_dict(sd)
    assert order[-1] == 0.25
    h.remove()
    opt.load_state_dict(sd)
    assert order[-1] == 0.5
    with pytest.raises(TypeError, match="callable"):
        opt.register_step_pre_hook(3)  # type: ignore[arg-type]


@needs_torch
@pytest.mark.parametrize(
    ("name", "kw"),
    [(n, {}) for n in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "Adadelta"]]
    + [(n, {}) for n in ["Rprop", "ASGD", "LBFGS", "SparseAdam"]],
)
def test_repr_and_param_group_keys_match_torch(name: str, kw: dict) -> None:
    ours = getattr(optim, name)([nn.Parameter(bp.ones(2))], **kw)
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **kw)
    assert repr(ours) == repr(theirs)


def test_repr_separates_param_groups_by_a_blank_line() -> None:
    """torch's layout with two groups (no-decay params for bn/bias): a blank line before each later group."""
    opt = optim.SGD([{"params": [nn.Parameter(bp.ones(2))]}, {"params": [nn.Parameter(bp.ones(1))], "lr": 0.5}], lr=0.1)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n    dampening: 0\n")
    assert "    weight_decay: 0\n\nParameter Group 1\n    dampening: 0\n" in text
    assert text.endswith("    weight_decay: 0\n)")


@needs_torch
def test_repr_with_several_param_groups_matches_torch() -> None:
    def groups(lib: Any) -> list[dict[str, Any]]:
        p, q, r = (lib.nn.Parameter(lib.ones(2)) for _ in range(3))
        return [{"params": [p]}, {"params": [q], "weight_decay": 0.0}, {"params": [r], "lr": 1e-2, "betas": (0.8, 0.9)}]

    ours, theirs = optim.AdamW(groups(bp), lr=1e-3), torch.optim.AdamW(groups(torch), lr=1e-3)
    assert repr(ours) == repr(theirs)
    bp_sched = optim.lr_scheduler.OneCycleLR(ours, max_lr=0.1, total_steps=4)
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.1, total_steps=4)
    assert repr(ours) == repr(theirs)  # (with the scheduler's initial_lr/max_lr/min_lr keys)
    del bp_sched, torch_sched


@needs_torch
@pytest.mark.parametrize("name", ["Rprop", "ASGD", "SparseAdam", "LBFGS"])
def test_new_optimizer_signatures_match_torch(name: str) -> None:
    import inspect

    ours, theirs = inspect.signature(getattr(optim, name)), inspect.signature(getattr(torch.optim, name))
    assert list(ours.parameters) == list(theirs.parameters)
    for key, param in theirs.parameters.items():
        assert ours.parameters[key].default == param.default, key
        assert ours.parameters[key].kind == param.kind, key


# ---------------------------------------------------------------- bp.compile
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: optim.Rprop(ps, lr=1e-2),
        lambda ps: optim.ASGD(ps, lr=1e-2, t0=3, weight_decay=1e-3),
    ],
    ids=["rprop", "asgd"],
)
def test_new_optimizers_replay_bitwise_eager(make_opt: Any) -> None:
    def model() -> nn.Module:
        bp.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))

    rng = np.random.default_rng(1)
    batches = [(bp.tensor(rng.standard_normal((5, 6)).astype(np.float32)), bp.tensor(rng.integers(0, 3, 5)))]
    batches = batches * 2 + [(bp.tensor(rng.standard_normal((5, 6)).astype(np.float32)), batches[0][1])] * 6
    results = []
    for compiled in (False, True):
        m = model()
        opt = make_opt(m.parameters())

        def step(x: bp.Tensor, y: bp.Tensor, m: nn.Module = m, opt: Any = opt) -> bp.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = bp.compile(step) if compiled else step
        losses = [fn(x, y).item() for x, y in batches]
        if compiled:
            assert fn.replays == len(batches) - 2
        results.append((losses, [p.detach().numpy().copy() for p in m.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        assert np.array_equal(a, b)


def test_sparse_adam_under_compile_runs_eagerly_with_eagers_bits() -> None:
    """SparseAdam takes only the sparse gradients of ``Embedding(sparse=True)`` (torch refuses dense ones), and a
    step that makes a sparse gradient is not replayable: bp.compile runs it eagerly, with the eager values."""

    def model() -> nn.Module:
        bp.manual_seed(0)
        return nn.Sequential(nn.Embedding(7, 8, sparse=True), nn.Tanh())

    rng = np.random.default_rng(1)
    batches = [(bp.tensor(rng.integers(0, 7, 5)), bp.tensor(rng.integers(0, 8, 5))) for _ in range(4)]
    results = []
    for compiled in (False, True):
        m = model()
        opt = optim.SparseAdam(m.parameters(), lr=1e-2)

        def step(x: bp.Tensor, y: bp.Tensor, m: nn.Module = m, opt: Any = opt) -> bp.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = bp.compile(step) if compiled else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            losses = [fn(x, y).item() for x, y in batches]
        if compiled:
            assert fn.replays == 0
            assert any("sparse embedding gradient" in str(w.message) for w in caught)
        results.append((losses, [p.detach().numpy().copy() for p in m.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        assert np.array_equal(a, b)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam"):
        m = model()
        m[0].weight.grad = bp.ones(7, 8)
        optim.SparseAdam(m.parameters()).step()


# ---------------------------------------------------------------- schedulers
def _lrs(lib: Any, make: Any, steps: int = 30, opt: str = "SGD", **okw: Any) -> np.ndarray:
    okw = okw or dict(lr=0.1, momentum=0.9)
    p = (nn.Parameter if lib is bp else torch.nn.Parameter)(lib.ones(1))
    o = getattr(lib.optim, opt)([p], **okw)
    sched = make(lib.optim.lr_scheduler, o)
    out = []
    for _ in range(steps):
        g = o.param_groups[0]
        out.append((g["lr"], g.get("momentum", g.get("betas", (0.0,))[0])))
        o.step()
        sched.step()
    return np.array(out)


SCHEDULES = {
    "exp*step": lambda S, o: S.ChainedScheduler([S.ExponentialLR(o, 0.9), S.StepLR(o, 3, 0.5)]),
    "const*exp": lambda S, o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.1, total_iters=20), S.ExponentialLR(o, gamma=0.9)], optimizer=o
    ),
    "linear*exp": lambda S, o: S.ChainedScheduler([S.LinearLR(o, 0.1, 1.0, 5), S.ExponentialLR(o, 0.95)]),
    "linear*cos": lambda S, o: S.ChainedScheduler([S.LinearLR(o, 0.1, 1.0, 5), S.CosineAnnealingLR(o, 10, 0.001)]),
    "poly*multistep": lambda S, o: S.ChainedScheduler([S.PolynomialLR(o, 8, 2.0), S.MultiStepLR(o, [3, 6, 6])]),
    "multiplicative": lambda S, o: S.MultiplicativeLR(o, lambda e: 0.95 if e % 2 else 1.01),
    "multiplicative*step": lambda S, o: S.ChainedScheduler([S.MultiplicativeLR(o, lambda e: 0.95), S.StepLR(o, 4)]),
    "cyclic": lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4),
    "cyclic-triangular2": lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=5, mode="triangular2"),
    "cyclic-exp_range": lambda S, o: S.CyclicLR(
        o, [0.01], 0.1, step_size_up=3, mode="exp_range", gamma=0.9, base_momentum=0.7, max_momentum=0.95
    ),
    "cyclic-scale_fn": lambda S, o: S.CyclicLR(
        o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 0.5**x, scale_mode="iterations", cycle_momentum=False
    ),
}


@needs_torch
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_new_schedulers_match_torch(name: str) -> None:
    ours, theirs = _lrs(bp, SCHEDULES[name]), _lrs(torch, SCHEDULES[name])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-18)
    assert len(set(ours[:, 0])) > 3


@needs_torch
def test_cyclic_lr_cycles_adams_beta1_and_two_free_schedulers_compose_as_torch() -> None:
    make = SCHEDULES["cyclic"]
    np.testing.assert_allclose(_lrs(bp, make, opt="Adam", lr=0.1), _lrs(torch, make, opt="Adam", lr=0.1), rtol=1e-12)

    def two(lib: Any) -> list:
        o = lib.optim.SGD([(nn.Parameter if lib is bp else torch.nn.Parameter)(lib.ones(1))], lr=0.1)
        s1, s2 = lib.optim.lr_scheduler.LinearLR(o, 0.2, total_iters=4), lib.optim.lr_scheduler.StepLR(o, 3, 0.5)
        out = []
        for _ in range(12):
            out.append(o.param_groups[0]["lr"])
            o.step()
            s1.step()
            s2.step()
        return out

    np.testing.assert_allclose(two(bp), two(torch), rtol=1e-12)


def test_chained_scheduler_closed_forms_and_state() -> None:
    """ConstantLR(0.1, 20) x ExponentialLR(0.9): torch's documented example, and a state round trip."""
    S = optim.lr_scheduler
    p = nn.Parameter(bp.ones(1))
    opt = optim.SGD([p], lr=0.05)
    chain = S.ChainedScheduler([S.ConstantLR(opt, factor=0.1, total_iters=20), S.ExponentialLR(opt, gamma=0.9)])
    lrs = []
    for _ in range(22):
        lrs.append(opt.param_groups[0]["lr"])
        chain.step()
    want = [0.05 * 0.9**e * (0.1 if e < 20 else 1.0) for e in range(22)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12)
    state = chain.state_dict()
    q = nn.Parameter(bp.ones(1))
    opt2 = optim.SGD([q], lr=0.05)
    again = S.ChainedScheduler([S.ConstantLR(opt2, factor=0.1, total_iters=20), S.ExponentialLR(opt2, gamma=0.9)])
    again.load_state_dict(state)
    chain.step(), again.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    with pytest.raises(ValueError, match="same optimizer"):
        S.ChainedScheduler([S.StepLR(opt, 2), S.StepLR(opt2, 2)])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.ChainedScheduler([S.StepLR(opt, 2), S.ReduceLROnPlateau(opt)])


def test_cyclic_lr_closed_form_triangle() -> None:
    p = nn.Parameter(bp.ones(1))
    opt = optim.SGD([p], lr=1.0, momentum=0.9)
    sched = optim.lr_scheduler.CyclicLR(opt, 0.1, 0.5, step_size_up=2, step_size_down=2)
    seen = []
    for _ in range(9):
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        sched.step()
    np.testing.assert_allclose([lr for lr, _ in seen], [0.1, 0.3, 0.5, 0.3, 0.1, 0.3, 0.5, 0.3, 0.1])
    np.testing.assert_allclose([m for _, m in seen], [0.9, 0.85, 0.8, 0.85, 0.9, 0.85, 0.8, 0.85, 0.9])
    with pytest.raises(ValueError, match="momentum"):
        optim.lr_scheduler.CyclicLR(optim.Adagrad([p]), 0.1, 0.5)


def test_a_single_scheduler_updates_recursively_as_torch() -> None:
    """Alone on its optimizer a schedule multiplies the current rate (torch's recursive form, bit for bit);
    ``step(epoch)`` gives the closed form."""
    p = nn.Parameter(bp.ones(1))
    opt = optim.SGD([p], lr=0.3)
    sched = optim.lr_scheduler.ExponentialLR(opt, 0.9)
    lr = 0.3
    for _ in range(1, 40):
        sched.step()
        lr = lr * 0.9
        assert opt.param_groups[0]["lr"] == lr
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(2)
    assert opt.param_groups[0]["lr"] == 0.3 * 0.9**2


# ---------------------------------------------------------------- swa_utils
def _swa_pair(lib: Any, **kw: Any) -> tuple[Any, Any]:
    net = lib.nn.Sequential(lib.nn.Linear(3, 4, dtype=lib.float64), lib.nn.BatchNorm1d(4, dtype=lib.float64))
    return net, lib.optim.swa_utils.AveragedModel(net, **kw)


def _set_weights(net: Any, lib: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for p in list(net.parameters()) + [b for b in net.buffers() if b.is_floating_point()]:
        with torch.no_grad() if lib is not bp else bp.no_grad():
            p.copy_(lib.tensor(rng.random(tuple(p.shape)) + 0.5))  # (positive: running_var too)


@pytest.mark.parametrize("kind", ["swa", "ema-multi", "ema", "ema-buffers"])
def test_averaged_model_closed_forms(kind: str) -> None:
    """SWA: the plain mean of the snapshots; EMA: decay-weighted, seeded by the first snapshot."""
    S = optim.swa_utils
    kw: dict = {
        "swa": {},
        "ema-multi": dict(multi_avg_fn=S.get_ema_multi_avg_fn(0.8)),
        "ema": dict(avg_fn=S.get_ema_avg_fn(0.8)),
        "ema-buffers": dict(multi_avg_fn=S.get_ema_multi_avg_fn(0.8), use_buffers=True),
    }[kind]
    net, avg = _swa_pair(bp, **kw)
    snaps = []
    for seed in range(4):
        _set_weights(net, bp, seed)
        avg.update_parameters(net)
        snaps.append([p.detach().numpy().copy() for p in net.parameters()])
    for i, p in enumerate(avg.module.parameters()):
        xs = [s[i] for s in snaps]
        if kind == "swa":
            want = np.mean(xs, axis=0)
        else:
            want = xs[0]
            for x in xs[1:]:
                want = 0.8 * want + 0.2 * x
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-12)
    assert int(avg.n_averaged.item()) == 4
    running = avg.module[1].running_mean.numpy()
    if kind == "ema-buffers":  # buffers averaged too, not copied
        assert not np.allclose(running, net[1].running_mean.numpy())
    else:
        assert np.array_equal(running, net[1].running_mean.numpy())
    x = bp.tensor(np.ones((2, 3)))
    avg.eval()
    assert avg(x).shape == (2, 4)
    with pytest.raises(AssertionError, match="Only one of"):
        S.AveragedModel(net, avg_fn=S.get_ema_avg_fn(), multi_avg_fn=S.get_ema_multi_avg_fn())


@needs_torch
@pytest.mark.parametrize("kind", ["swa", "ema-multi", "ema-buffers"])
def test_averaged_model_matches_torch(kind: str) -> None:
    results = []
    for lib in (bp, torch):
        S = lib.optim.swa_utils
        kw: dict = {
            "swa": {},
            "ema-multi": dict(multi_avg_fn=S.get_ema_multi_avg_fn(0.9)),
            "ema-buffers": dict(multi_avg_fn=S.get_ema_multi_avg_fn(0.9), use_buffers=True),
        }[kind]
        net, avg = _swa_pair(lib, **kw)
        for seed in range(5):
            _set_weights(net, lib, seed)
            avg.update_parameters(net)
        results.append({k: np.asarray(v.detach().numpy()) for k, v in avg.state_dict().items()})
    assert results[0].keys() == results[1].keys()
    for key in results[1]:
        np.testing.assert_allclose(results[0][key], results[1][key], rtol=1e-12, atol=1e-15, err_msg=key)


@needs_torch
def test_update_bn_and_swalr_match_torch() -> None:
    rng = np.random.default_rng(4)
    loader = [(rng.standard_normal((8, 3)), 0) for _ in range(3)]
    stats = []
    for lib in (bp, torch):
        net, _ = _swa_pair(lib)
        _set_weights(net, lib, 0)
        net.eval()
        lib.optim.swa_utils.update_bn([(lib.tensor(x), y) for x, y in loader], net)
        assert not net.training and net[1].momentum == 0.1
        stats.append((net[1].running_mean.numpy(), net[1].running_var.numpy()))
    np.testing.assert_allclose(stats[0], stats[1], rtol=1e-12)
    xs = np.concatenate([lin for lin, _ in loader])  # a cumulative average over the whole pass
    for kw in [dict(swa_lr=0.05), dict(swa_lr=0.05, anneal_epochs=3, anneal_strategy="linear"), dict(swa_lr=[0.01])]:
        seqs = []
        for lib in (bp, torch):
            o = lib.optim.SGD([(nn.Parameter if lib is bp else torch.nn.Parameter)(lib.ones(1))], lr=0.5)
            s = lib.optim.swa_utils.SWALR(o, **kw)
            seq = []
            for _ in range(14):
                seq.append(o.param_groups[0]["lr"])
                o.step()
                s.step()
            seqs.append(seq)
        np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12)
        assert seqs[0][-1] == pytest.approx(np.ravel(kw["swa_lr"])[0])
    assert xs.shape == (24, 3)


def test_swalr_anneals_to_swa_lr_by_cosine() -> None:
    p = nn.Parameter(bp.ones(1))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.swa_utils.SWALR(opt, swa_lr=0.2, anneal_epochs=4)
    seq = []
    for _ in range(7):
        seq.append(opt.param_groups[0]["lr"])
        sched.step()
    want = [0.2 + 0.8 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(7)]
    np.testing.assert_allclose(seq, want, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.load_state_dict(sched.state_dict())


def _user_schedulers(lib: Any) -> tuple[type, type]:
    """Two schedulers written the torch way (``get_lr`` over ``last_epoch``), against ``lib``'s base class."""

    class Warmup(lib.optim.lr_scheduler.LRScheduler):
        def __init__(self, opt: Any, warm: int, last_epoch: int = -1) -> None:
            self.warm = warm
            super().__init__(opt, last_epoch)

        def get_lr(self) -> list[float]:
            return [b * min(1.0, (self.last_epoch + 1) / self.warm) for b in self.base_lrs]

    class Halving(lib.optim.lr_scheduler.LRScheduler):  # recursive: reads the groups' current rates
        def get_lr(self) -> list[float]:
            if self.last_epoch == 0 or self.last_epoch % 2:
                return [g["lr"] for g in self.optimizer.param_groups]
            return [g["lr"] * 0.5 for g in self.optimizer.param_groups]

    return Warmup, Halving


def _run_user_schedules(lib: Any) -> list[list[float]]:
    warmup, halving = _user_schedulers(lib)
    w = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
    out = []
    for make in (lambda o: warmup(o, 4), halving):
        opt = lib.optim.SGD([w], lr=0.1)
        sched = make(opt)
        lrs = [opt.param_groups[0]["lr"]]
        for _ in range(6):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        out.append(lrs)
    return out


def test_user_schedulers_defined_by_get_lr() -> None:
    """A subclass of ``LRScheduler`` that overrides ``get_lr()`` (how torch users write schedules) sets
    what it returns at each step, its ``state_dict`` holds its own attributes, and ``step(epoch)``
    warns as torch's deprecation does."""
    warm, halving = _run_user_schedules(bp)
    assert warm == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1])
    assert halving == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])
    warmup, _ = _user_schedulers(bp)
    opt = bp.optim.SGD([bp.nn.Parameter(bp.ones(2))], lr=1.0)
    sched = warmup(opt, 10)
    sched.step()
    state = sched.state_dict()
    assert state["warm"] == 10 and state["last_epoch"] == 1 and "optimizer" not in state
    other = warmup(bp.optim.SGD([bp.nn.Parameter(bp.ones(2))], lr=1.0), 3)
    other.load_state_dict(state)
    assert other.warm == 10 and other.last_epoch == 1
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(5)
    assert sched.last_epoch == 5 and opt.param_groups[0]["lr"] == pytest.approx(0.6)


@needs_torch
def test_user_schedulers_match_torch() -> None:
    for ours, theirs in zip(_run_user_schedules(bp), _run_user_schedules(torch)):
        assert ours == pytest.approx(theirs)


def test_plain_sgd_keeps_no_state() -> None:
    """torch's SGD without momentum stores nothing per parameter: its state_dict's state is empty."""
    p = bp.nn.Parameter(bp.ones(2))
    opt = bp.optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.step()
    assert opt.state_dict()["state"] == {} and len(opt.state) == 0
    momentum = bp.optim.SGD([p], lr=0.1, momentum=0.9)
    momentum.step()
    assert list(momentum.state_dict()["state"][0]) == ["momentum_buffer"]


def test_adagrad_state_exists_from_construction() -> None:
    """torch's Adagrad fills each parameter's state when it is made (step 0, sum = the initial value)."""
    p = bp.nn.Parameter(bp.ones(2))
    opt = bp.optim.Adagrad([p], lr=0.1, initial_accumulator_value=0.5)
    state = opt.state_dict()["state"]
    assert list(state) == [0] and state[0]["step"] == 0 and state[0]["sum"].tolist() == [0.5, 0.5]
