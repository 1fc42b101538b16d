"""Optimizers, LR schedulers and training utilities as a torch user writes them, run under torch and under
backprop: same values, types, exceptions and messages. Each case here was a difference before its fix
(torch code that raised another message or class, or gave other values)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from parity_compare import run, same_as_torch

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the training cross-checks need it")


def _param(L: Any, n: int = 2) -> Any:
    return L.nn.Parameter(L.arange(float(n)))


def _sgd(L: Any, **kw: Any) -> Any:
    return L.optim.SGD([_param(L)], lr=0.1, **kw)


def _two_groups(L: Any, **kw: Any) -> Any:
    return L.optim.SGD([{"params": [_param(L)]}, {"params": [_param(L, 3)], "lr": 0.05}], lr=0.1, **kw)


# ---------------------------------------------------------------- optimizer construction errors


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.optim.SGD([_param(L)], lr=0.1, nesterov=True),
        lambda L: L.optim.SGD([_param(L)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
        lambda L: L.optim.Adadelta([_param(L)], rho=1.5),
        lambda L: L.optim.Rprop([_param(L)], etas=(1.5, 1.2)),
        lambda L: L.optim.Adafactor([_param(L)], lr=-1),
        lambda L: L.optim.Adafactor([_param(L)], beta2_decay=0.5),
        lambda L: L.optim.Adafactor([_param(L)], eps=(-1, 1e-3)),
        lambda L: L.optim.Adafactor([_param(L)], d=0.5),
        lambda L: L.optim.Adafactor([_param(L)], weight_decay=-0.1),
        lambda L: L.optim.SparseAdam([_param(L)], lr=0),
        lambda L: L.optim.SparseAdam([_param(L)], eps=0),
        lambda L: L.optim.Adam([_param(L)], lr=L.tensor([0.01, 0.02])),
        lambda L: L.optim.SGD([_param(L)], lr=L.tensor([0.01, 0.02])),
        lambda L: L.optim.Adam([_param(L)], lr=L.tensor(0.01), foreach=True),
        lambda L: L.optim.SGD([{"params": {_param(L)}}], lr=0.1),
    ],
    ids=[
        "nesterov-no-momentum",
        "nesterov-dampening",
        "adadelta-rho",
        "rprop-etas",
        "adafactor-lr",
        "adafactor-beta2-decay",
        "adafactor-eps1",
        "adafactor-d",
        "adafactor-weight-decay",
        "sparse-adam-lr",
        "sparse-adam-eps",
        "adam-tensor-lr-2-elements",
        "sgd-tensor-lr-2-elements",
        "adam-tensor-lr-foreach",
        "params-in-a-set",
    ],
)
def test_optimizer_argument_errors_are_torchs(make: Any) -> None:
    """torch's exception class and message, word for word (they named the optimizer, or said it otherwise)."""
    theirs = run(make, torch)
    assert theirs[0] == "raises"
    assert run(make, bp) == theirs


def test_param_group_errors_and_duplicate_warning_are_torchs() -> None:
    def not_a_dict(L: Any) -> Any:
        opt = _sgd(L)
        opt.add_param_group([_param(L)])

    def shared(L: Any) -> Any:
        a = _param(L)
        opt = L.optim.SGD([a], lr=0.1)
        opt.add_param_group({"params": [a]})

    def names_mixed(L: Any) -> Any:
        m = L.nn.Linear(2, 2)
        opt = L.optim.SGD([m.weight], lr=0.1)
        opt.add_param_group({"params": [("bias", m.bias)]})

    def required_lr(L: Any) -> Any:
        from importlib import import_module

        required = import_module(L.__name__ + ".optim.optimizer").required

        class Plain(L.optim.Optimizer):
            def __init__(self, params: Any, lr: Any = required) -> None:
                super().__init__(params, {"lr": lr})

        return Plain([_param(L)])

    for case in (not_a_dict, shared, names_mixed, required_lr):
        same_as_torch(case)

    def duplicated(L: Any) -> list[str]:
        a = _param(L)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            L.optim.SGD([a, a], lr=0.1)
        return [str(w.message) for w in seen]

    assert duplicated(bp) == duplicated(torch)


def test_lbfgs_takes_any_line_search_name_until_it_searches() -> None:
    """torch checks ``line_search_fn`` at the first line search (RuntimeError), not in ``__init__``."""

    def case(L: Any) -> Any:
        p = L.nn.Parameter(L.tensor([1.0, -2.0]))
        opt = L.optim.LBFGS([p], line_search_fn="armijo")
        assert opt.param_groups[0]["line_search_fn"] == "armijo"

        def closure() -> Any:
            opt.zero_grad()
            loss = ((p - 3) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)

    same_as_torch(case)


# ---------------------------------------------------------------- zero_grad, state dicts


@pytest.mark.parametrize("owner", ["optimizer", "module"])
def test_zero_grad_in_place_detaches_a_create_graph_gradient(owner: str) -> None:
    """``zero_grad(set_to_none=False)`` after ``backward(create_graph=True)``: the zeroed ``.grad`` leaves the
    graph (``requires_grad`` False), the same tensor, its version counted, as torch's."""

    def case(L: Any) -> Any:
        m = L.nn.Linear(2, 1)
        x = L.tensor([[1.0, 2.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch warns about the reference cycle create_graph makes)
            (m(x) ** 2).sum().backward(create_graph=True)
        g = m.weight.grad
        before = g._version
        (L.optim.SGD(m.parameters(), lr=0.1) if owner == "optimizer" else m).zero_grad(set_to_none=False)
        return (
            m.weight.grad,
            m.weight.grad.requires_grad,
            m.weight.grad.grad_fn is None,
            g is m.weight.grad,
            (g._version - before),
        )

    assert run(case, bp) == run(case, torch)
    assert run(case, bp)[1][1][1] is False


def test_load_state_dict_errors_are_torchs() -> None:
    def fewer_params(L: Any) -> Any:
        a, b = _param(L), _param(L, 3)
        L.optim.Adam([a]).load_state_dict(L.optim.Adam([a, b]).state_dict())

    def fewer_groups(L: Any) -> Any:
        a, b = _param(L), _param(L, 3)
        L.optim.Adam([a, b]).load_state_dict(L.optim.Adam([{"params": [a]}, {"params": [b]}]).state_dict())

    same_as_torch(fewer_params)
    same_as_torch(fewer_groups)


def test_loaded_param_groups_take_the_saved_groups_layout() -> None:
    """After ``load_state_dict`` a group is the saved one holding these parameters (torch's): its keys in the
    saved order (``params`` last, as ``state_dict()`` writes them), extra saved keys kept, ``param_names`` from
    a named optimizer's state dict included; the loaded dict is not shared with the optimizer."""

    def case(L: Any) -> Any:
        m = L.nn.Linear(2, 2)
        named = L.optim.SGD(m.named_parameters(), lr=0.1, momentum=0.9)
        sd = named.state_dict()
        sd["param_groups"][0]["initial_lr"] = 0.5
        opt = L.optim.SGD(m.parameters(), lr=0.3)
        opt.load_state_dict(sd)
        sd["param_groups"][0]["lr"] = 7.0  # (the caller's dict, not the optimizer's group)
        group = opt.param_groups[0]
        return list(group), group["lr"], group["initial_lr"], group["param_names"], group["params"][0] is m.weight

    same_as_torch(case)


# ---------------------------------------------------------------- LR schedulers


def test_get_last_lr_is_what_this_scheduler_set() -> None:
    """Two schedulers on one optimizer, or a rate set by hand: ``get_last_lr()`` is the rate this scheduler's
    last ``step()`` left (torch's ``_last_lr``), not the group's current rate."""

    def case(L: Any) -> Any:
        opt = _two_groups(L)
        decay = L.optim.lr_scheduler.ExponentialLR(opt, 0.9)
        steps = L.optim.lr_scheduler.StepLR(opt, 3, 0.5)
        out = []
        for i in range(8):
            opt.step()
            decay.step()
            steps.step()
            if i == 5:
                opt.param_groups[0]["lr"] = 1.0
            out.append((decay.get_last_lr(), steps.get_last_lr(), [g["lr"] for g in opt.param_groups]))
        return out

    ours, theirs = run(case, bp), run(case, torch)
    assert ours[0] == theirs[0] == "ok" and _close(ours[1], theirs[1]), (ours, theirs)


def _close(a: Any, b: Any) -> bool:
    """Nested results equal, floats to 1e-12 relative (the closed forms round otherwise than torch's)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-15)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return bool(a == b)


@pytest.mark.parametrize("with_step_lr", [False, True], ids=["lr-set-by-hand", "with-a-second-scheduler"])
def test_sequential_lr_composes_with_a_moved_rate(with_step_lr: bool) -> None:
    """SequentialLR steps its current scheduler (torch's), so a chainable one multiplies the rate the user or
    another scheduler set: the closed form put the schedule's own rate back."""

    def case(L: Any) -> Any:
        opt = _two_groups(L, momentum=0.9)
        sched = L.optim.lr_scheduler.SequentialLR(
            opt,
            [L.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=5), L.optim.lr_scheduler.ExponentialLR(opt, 0.9)],
            milestones=[5],
        )
        other = L.optim.lr_scheduler.StepLR(opt, 4, 0.5) if with_step_lr else None
        out = []
        for i in range(16):
            if i == 7 and other is None:
                for g in opt.param_groups:
                    g["lr"] = g["lr"] * 0.5
            opt.step()
            sched.step()
            if other is not None:
                other.step()
            out.append((sched.get_last_lr(), [g["lr"] for g in opt.param_groups]))
        return out

    ours, theirs = run(case, bp), run(case, torch)
    assert ours[0] == theirs[0] == "ok" and _close(ours[1], theirs[1]), (ours, theirs)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), factor=1.0),
        lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), mode="avg"),
        lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), threshold_mode="x"),
        lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), min_lr=[0.1, 0.2]),
        lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(_sgd(L), 0),
        lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(_sgd(L), 2, T_mult=0),
        lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(_sgd(L), 2, eta_min="a"),
        lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(_sgd(L), 2).step(-1),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, total_steps=0),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, epochs=0, steps_per_epoch=3),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, epochs=2, steps_per_epoch=0),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, epochs=2.5, steps_per_epoch=2),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, total_steps=10, pct_start=1.5),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, total_steps=10, pct_start=1),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 1.0, total_steps=10, anneal_strategy="exp"),
        lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), [1.0, 2.0], total_steps=10),
        lambda L: L.optim.lr_scheduler.OneCycleLR(L.optim.Adagrad([_param(L)]), 1.0, total_steps=10),
        lambda L: L.optim.lr_scheduler.CyclicLR(_sgd(L), 0.01, 0.1, mode="x"),
        lambda L: L.optim.lr_scheduler.CyclicLR(L.optim.Adagrad([_param(L)]), 0.01, 0.1),
        lambda L: L.optim.lr_scheduler.CyclicLR(_sgd(L), [0.01, 0.2], 0.1),
        lambda L: L.optim.lr_scheduler.LinearLR(_sgd(L), start_factor=0),
        lambda L: L.optim.lr_scheduler.LinearLR(_sgd(L), end_factor=2),
        lambda L: L.optim.lr_scheduler.ConstantLR(_sgd(L), factor=1.5),
        lambda L: L.optim.lr_scheduler.SequentialLR(_sgd(L), [L.optim.lr_scheduler.StepLR(_sgd(L), 2)], []),
        lambda L: (lambda o: L.optim.lr_scheduler.SequentialLR(o, [L.optim.lr_scheduler.StepLR(o, 2)] * 2, []))(
            _sgd(L)
        ),
        lambda L: (
            lambda o: L.optim.lr_scheduler.SequentialLR(
                o, [L.optim.lr_scheduler.StepLR(o, 2), L.optim.lr_scheduler.ReduceLROnPlateau(o)], [2]
            )
        )(_sgd(L)),
        lambda L: L.optim.lr_scheduler.ChainedScheduler(
            [L.optim.lr_scheduler.StepLR(_sgd(L), 2), L.optim.lr_scheduler.StepLR(_sgd(L), 2)]
        ),
        lambda L: L.optim.swa_utils.SWALR(_sgd(L), swa_lr=[0.1, 0.2]),
    ],
)
def test_scheduler_argument_errors_are_torchs(make: Any) -> None:
    theirs = run(make, torch)
    assert theirs[0] == "raises"
    ours = run(make, bp)
    if "which is different from" in theirs[2]:  # (the message prints the other optimizer: compare around it)
        assert ours[:2] == theirs[:2] and ours[2].split(" has ")[0] == theirs[2].split(" has ")[0]
        assert ours[2].endswith("which is different from SGD.")
    else:
        assert ours == theirs


@pytest.mark.parametrize("min_lr", [0.01, [0.01]], ids=["number", "list"])
def test_reduce_lr_on_plateau_after_add_param_group(min_lr: Any) -> None:
    """A group added after the scheduler is reduced too with a single ``min_lr`` (torch's ``default_min_lr``);
    with a list torch raises its RuntimeError (the new group was silently never reduced)."""

    def case(L: Any) -> Any:
        opt = _sgd(L)
        sched = L.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=min_lr)
        sched.step(1.0)
        opt.add_param_group({"params": [_param(L, 3)], "lr": 0.5})
        lrs = []
        for metric in (2.0, 3.0, 4.0):
            sched.step(metric)
            lrs.append(sched.get_last_lr())
        return lrs, sched.min_lrs, sched.default_min_lr

    same_as_torch(case)


def test_get_last_lr_returns_the_schedulers_list() -> None:
    """torch's ``get_last_lr()`` returns the scheduler's own ``_last_lr`` list (the same object each call)."""

    def case(L: Any) -> Any:
        opt = _sgd(L)
        scheds = [L.optim.lr_scheduler.StepLR(opt, 2), L.optim.lr_scheduler.ReduceLROnPlateau(opt)]
        return [s.get_last_lr() is s.get_last_lr() for s in scheds]

    same_as_torch(case)


# ---------------------------------------------------------------- copies of an optimizer


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_optimizer_keeps_its_state(how: str) -> None:
    """``copy.deepcopy(opt)`` / pickling: the copy's state belongs to the copied parameters (Adam's moments and
    step count carry on); it was keyed by the original parameters' ids, so the copy started afresh."""
    import copy
    import pickle

    def case(L: Any) -> Any:
        p = L.nn.Parameter(L.tensor([1.0, -2.0, 0.5], dtype=L.float64))
        opt = L.optim.Adam([p], lr=0.1)
        L.optim.lr_scheduler.StepLR(opt, 2)  # (its step tracking hooks the optimizer: not copied, as torch's)
        for _ in range(3):
            p.grad = p.detach() * 2
            opt.step()
        twin = copy.deepcopy(opt) if how == "deepcopy" else pickle.loads(pickle.dumps(opt))
        q = twin.param_groups[0]["params"][0]
        for o, x in ((opt, p), (twin, q)):
            x.grad = x.detach() * 2
            o.step()
        return p, q, q is not p, twin.state[q]["step"], twin.state_dict()

    ours, theirs = run(case, bp), run(case, torch)
    assert ours[0] == theirs[0] == "ok" and _close(ours[1], theirs[1]), (ours, theirs)
