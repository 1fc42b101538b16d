"""Learning-rate schedulers bit for bit against torch 2.13: every scheduler in ``optim.lr_scheduler`` (and
``swa_utils.SWALR``) over 200+ steps on three param groups of different rates, compared with ``==`` (torch
computes the chainable ones recursively from the group's current rate, so the last bits are torch's), plus
``state_dict()``/``load_state_dict()`` round trips mid-run and torch's warnings and their texts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare against torch's schedulers")

STEPS = 230
LRS = (0.1, 0.05, 0.3)


def _optimizer(lib: Any, kind: str = "sgd") -> Any:
    groups = [{"params": [lib.nn.Parameter(lib.zeros(2))], "lr": lr} for lr in LRS]
    if kind == "adam":
        return lib.optim.Adam(groups, lr=0.1)
    return lib.optim.SGD(groups, lr=0.1, momentum=0.9)


def _lam(e: int) -> float:
    return 0.95**e + 0.01 * (e % 7)


def _mul(e: int) -> float:
    return 0.97 if e % 3 else 1.01


# name -> (optimizer kind, builder(lib, opt) -> scheduler)
CASES: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "lambda": ("sgd", lambda L, o: L.optim.lr_scheduler.LambdaLR(o, _lam)),
    "lambda_list": ("sgd", lambda L, o: L.optim.lr_scheduler.LambdaLR(o, [_lam, _mul, lambda e: 1 / (e + 1)])),
    "multiplicative": ("sgd", lambda L, o: L.optim.lr_scheduler.MultiplicativeLR(o, _mul)),
    "step": ("sgd", lambda L, o: L.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.7)),
    "multistep": ("sgd", lambda L, o: L.optim.lr_scheduler.MultiStepLR(o, [3, 10, 10, 50, 120], gamma=0.3)),
    "constant": ("sgd", lambda L, o: L.optim.lr_scheduler.ConstantLR(o, factor=0.3, total_iters=9)),
    "linear": ("sgd", lambda L, o: L.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=50)),
    "linear_down": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.07, total_iters=130),
    ),
    "exponential": ("sgd", lambda L, o: L.optim.lr_scheduler.ExponentialLR(o, gamma=0.97)),
    "polynomial": ("sgd", lambda L, o: L.optim.lr_scheduler.PolynomialLR(o, total_iters=150, power=2.0)),
    "polynomial_frac": ("sgd", lambda L, o: L.optim.lr_scheduler.PolynomialLR(o, total_iters=77, power=0.7)),
    "cosine": ("sgd", lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40, eta_min=0.001)),
    "cosine_zero": ("sgd", lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=230)),
    "warm_restarts": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4),
    ),
    "warm_restarts_1": ("sgd", lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=17)),
    "cyclic_triangular": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.CyclicLR(o, base_lr=[0.01, 0.02, 0.03], max_lr=0.5, step_size_up=13),
    ),
    "cyclic_triangular2": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.CyclicLR(
            o, base_lr=0.001, max_lr=[0.1, 0.2, 0.3], step_size_up=11, step_size_down=7, mode="triangular2"
        ),
    ),
    "cyclic_exp_range": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.CyclicLR(
            o, base_lr=0.001, max_lr=0.1, step_size_up=9, mode="exp_range", gamma=0.993
        ),
    ),
    "cyclic_adam": (
        "adam",
        lambda L, o: L.optim.lr_scheduler.CyclicLR(
            o, base_lr=0.001, max_lr=0.01, step_size_up=15, base_momentum=0.85, max_momentum=0.95
        ),
    ),
    "cyclic_scale_fn": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.CyclicLR(
            o, base_lr=0.001, max_lr=0.1, step_size_up=8, scale_fn=lambda x: 1 / (1.0 + x), scale_mode="iterations"
        ),
    ),
    "onecycle_cos": ("sgd", lambda L, o: L.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.5, 0.2, 1.0], total_steps=STEPS)),
    "onecycle_linear": (
        "adam",
        lambda L, o: L.optim.lr_scheduler.OneCycleLR(
            o, max_lr=0.01, epochs=23, steps_per_epoch=10, anneal_strategy="linear", pct_start=0.25
        ),
    ),
    "onecycle_three_phase": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=STEPS, three_phase=True),
    ),
    "sequential": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.SequentialLR(
            o,
            [
                L.optim.lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=20),
                L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=100, eta_min=1e-5),
                L.optim.lr_scheduler.ExponentialLR(o, gamma=0.99),
            ],
            milestones=[20, 120],
        ),
    ),
    "sequential_step": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.SequentialLR(
            o,
            [
                L.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=7),
                L.optim.lr_scheduler.StepLR(o, step_size=9, gamma=0.8),
                L.optim.lr_scheduler.PolynomialLR(o, total_iters=60, power=1.5),
            ],
            milestones=[7, 100],
        ),
    ),
    "chained": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.ChainedScheduler(
            [
                L.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=30),
                L.optim.lr_scheduler.ExponentialLR(o, gamma=0.99),
                L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=70),
            ]
        ),
    ),
    "chained_step": (
        "sgd",
        lambda L, o: L.optim.lr_scheduler.ChainedScheduler(
            [
                L.optim.lr_scheduler.ConstantLR(o, factor=0.25, total_iters=11),
                L.optim.lr_scheduler.MultiStepLR(o, [30, 60, 90], gamma=0.5),
                L.optim.lr_scheduler.PolynomialLR(o, total_iters=200),
            ]
        ),
    ),
    "swalr_cos": ("sgd", lambda L, o: L.optim.swa_utils.SWALR(o, swa_lr=[0.01, 0.02, 0.5], anneal_epochs=37)),
    "swalr_linear": (
        "sgd",
        lambda L, o: L.optim.swa_utils.SWALR(o, swa_lr=0.05, anneal_epochs=13, anneal_strategy="linear"),
    ),
}


def _state(opt: Any, sched: Any) -> list[Any]:
    """What a user prints each step: ``get_last_lr()``, the groups' rates and momenta (or beta1)."""
    out: list[Any] = [list(sched.get_last_lr())]
    for g in opt.param_groups:
        out.append((g["lr"], g.get("momentum"), g["betas"][0] if "betas" in g else None))
    return out


def _run(lib: Any, name: str, steps: int = STEPS) -> list[Any]:
    kind, build = CASES[name]
    opt = _optimizer(lib, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = build(lib, opt)
    trace = [_state(opt, sched)]
    for _ in range(steps):
        opt.step()
        sched.step()
        trace.append(_state(opt, sched))
    return trace


@pytest.mark.parametrize("name", list(CASES))
def test_sequence_bit_for_bit(name: str) -> None:
    ours, theirs = _run(bp, name), _run(torch, name)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"{name}: step {i}: {a} != torch's {b}"


ROUND_TRIP = [n for n in CASES if not n.startswith(("sequential", "chained", "swalr"))] + ["sequential", "chained"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip_mid_run(name: str) -> None:
    """Save at step 97, rebuild, load both state dicts, go on: the same floats as torch's uninterrupted run."""

    def run(lib: Any) -> list[Any]:
        kind, build = CASES[name]
        opt = _optimizer(lib, kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = build(lib, opt)
        for _ in range(97):
            opt.step()
            sched.step()
        opt_state, sched_state = opt.state_dict(), sched.state_dict()
        opt2 = _optimizer(lib, kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched2 = build(lib, opt2)
        opt2.load_state_dict(opt_state)
        sched2.load_state_dict(sched_state)
        trace = [_state(opt2, sched2)]
        for _ in range(STEPS - 97):
            opt2.step()
            sched2.step()
            trace.append(_state(opt2, sched2))
        return trace

    ours, theirs = run(bp), run(torch)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"{name}: step {97 + i}: {a} != torch's {b}"


@pytest.mark.parametrize("name", ["step", "multistep", "constant", "linear", "exponential", "polynomial", "cosine"])
def test_explicit_epoch_uses_the_closed_form(name: str) -> None:
    """``step(epoch)`` (deprecated) jumps to torch's ``_get_closed_form_lr`` at that epoch, with its warning."""

    def run(lib: Any) -> list[Any]:
        kind, build = CASES[name]
        opt = _optimizer(lib, kind)
        sched = build(lib, opt)
        out = []
        for e in (5, 3, 17, 60, 200, 1):
            opt.step()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sched.step(e)
            out.append((_state(opt, sched), [str(w.message) for w in caught]))
        return out

    assert run(bp) == run(torch)


@pytest.mark.parametrize(
    "epochs",
    [
        [0.5, 1.25, 3.75, 9.99, 10.0, 10.1, 29.5, 31.0, 70.3, 200.7],
        [0.1 * k for k in range(250)],
    ],
)
def test_warm_restarts_fractional_epochs(epochs: list[float]) -> None:
    def run(lib: Any) -> list[Any]:
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2, eta_min=1e-3)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e in epochs:
                opt.step()
                sched.step(e)
                out.append((_state(opt, sched), sched.T_cur, sched.T_i, sched.last_epoch))
        return out

    assert run(bp) == run(torch)


def _metrics(k: int) -> float:
    return 1.0 / (1 + k) if k < 20 else 0.05 + 0.001 * math.sin(k)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"mode": "max", "factor": 0.5, "patience": 2},
        {"threshold_mode": "abs", "threshold": 0.01, "cooldown": 3, "patience": 1, "factor": 0.3},
        {"mode": "max", "threshold_mode": "abs", "min_lr": [0.01, 0.001, 0.2], "patience": 0, "factor": 0.7},
        {"min_lr": 1e-3, "eps": 1e-3, "patience": 0, "factor": 0.9, "cooldown": 1},
    ],
)
def test_reduce_on_plateau(kw: dict[str, Any]) -> None:
    def run(lib: Any) -> list[Any]:
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        out = []
        for k in range(STEPS):
            opt.step()
            sched.step(_metrics(k) if kw.get("mode") != "max" else -_metrics(k))
            out.append((_state(opt, sched), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
            if k == 120:  # a round trip mid-run
                state = sched.state_dict()
                sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
                sched.load_state_dict(state)
        return out

    assert run(bp) == run(torch)


def _messages(fn: Callable[[], Any]) -> list[tuple[str, str]]:
    return _calling(fn)[0]


def _calling(fn: Callable[[], Any]) -> tuple[list[tuple[str, str]], Any]:
    """The warnings ``fn()`` gives (category, text) and what it returns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return [(w.category.__name__, str(w.message)) for w in caught], out


def test_warnings_and_their_texts() -> None:
    def scheduler_before_optimizer(lib: Any) -> list[Any]:
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, 3)
        return [_messages(sched.step), _messages(sched.step)]

    def get_lr_outside_step(lib: Any) -> list[Any]:
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
        opt.step()
        sched.step()
        return [_messages(sched.get_lr), sched.get_last_lr()]

    def epoch_argument(lib: Any) -> list[Any]:
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.ExponentialLR(opt, 0.5)
        opt.step()
        plateau = lib.optim.lr_scheduler.ReduceLROnPlateau(opt)
        return [_messages(lambda: sched.step(4)), _messages(lambda: plateau.step(1.0, 3))]

    for case in (scheduler_before_optimizer, get_lr_outside_step, epoch_argument):
        assert case(bp) == case(torch), case.__name__


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith(("sequential", "chained"))])
def test_get_lr_outside_step(name: str) -> None:
    """``get_lr()`` called by the user gives torch's numbers (the recursive form applied once more from the
    current rates, or the schedule's formula at ``last_epoch``) and torch's warning, and moves no rate."""

    def run(lib: Any) -> list[Any]:
        kind, build = CASES[name]
        opt = _optimizer(lib, kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = build(lib, opt)
        out = []
        for k in range(60):
            opt.step()
            sched.step()
            if k % 7 == 0:
                out.append((_calling(sched.get_lr), _state(opt, sched)))
        return out

    assert run(bp) == run(torch)


RESUMABLE = {
    "StepLR": {"step_size": 7, "gamma": 0.5},
    "MultiStepLR": {"milestones": [31, 40]},
    "ConstantLR": {"factor": 0.5, "total_iters": 31},
    "LinearLR": {"start_factor": 0.2, "total_iters": 50},
    "ExponentialLR": {"gamma": 0.9},
    "PolynomialLR": {"total_iters": 60},
    "CosineAnnealingLR": {"T_max": 20},
    "LambdaLR": {"lr_lambda": _lam},
    "MultiplicativeLR": {"lr_lambda": _mul},
}  # (CosineAnnealingWarmRestarts resumes at its true position: a difference README states)


@pytest.mark.parametrize("cls", list(RESUMABLE))
def test_resume_with_last_epoch(cls: str) -> None:
    """torch's resume recipe: load the optimizer's state, build the scheduler with ``last_epoch=``."""

    def run(lib: Any) -> list[Any]:
        kw = RESUMABLE[cls]
        opt = _optimizer(lib)
        sched = getattr(lib.optim.lr_scheduler, cls)(opt, **kw)
        for _ in range(30):
            opt.step()
            sched.step()
        opt2 = _optimizer(lib)
        opt2.load_state_dict(opt.state_dict())
        sched2 = getattr(lib.optim.lr_scheduler, cls)(opt2, last_epoch=30, **kw)
        out = [_state(opt2, sched2), _calling(sched2.get_lr)]
        for _ in range(40):
            opt2.step()
            sched2.step()
            out.append(_state(opt2, sched2))
        return out

    assert run(bp) == run(torch)
