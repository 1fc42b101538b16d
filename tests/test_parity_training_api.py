"""Training-infrastructure code as a torch user writes it (LR schedulers, optimizers, checkpoints,
module copies), run under torch and under backprop: same values, types and exceptions. Each case here
was a gap (a missing name, another exception class, a silent difference) before its fix."""

from __future__ import annotations

import copy
import importlib
import io
import warnings
from collections import namedtuple
from typing import Any

import pytest
from parity_compare import run, same_as_torch

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the training-API cross-checks need it")


def _sgd(L: Any, lr: float = 0.1) -> Any:
    return L.optim.SGD([L.nn.Parameter(L.zeros(2))], lr=lr, momentum=0.9)


# ---------------------------------------------------------------- LR schedulers


def test_old_lr_scheduler_name_is_a_base_class_for_custom_schedules() -> None:
    """``torch.optim.lr_scheduler._LRScheduler`` (pre-2.0 code subclasses it) is LRScheduler's subclass."""

    def case(L: Any) -> Any:
        class Warmup(L.optim.lr_scheduler._LRScheduler):
            def get_lr(self) -> list[float]:
                return [base * min(1.0, (self.last_epoch + 1) / 4) for base in self.base_lrs]

        opt = _sgd(L)
        sched = Warmup(opt)
        lrs = []
        for _ in range(6):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        return issubclass(L.optim.lr_scheduler._LRScheduler, L.optim.lr_scheduler.LRScheduler), lrs

    same_as_torch(case)


def test_reduce_lr_on_plateau_is_an_lr_scheduler() -> None:
    """``isinstance(s, LRScheduler)`` holds for ReduceLROnPlateau as in torch (training loops branch on
    it to pass the metric), and its schedule is unchanged."""

    def case(L: Any) -> Any:
        opt = _sgd(L)
        sched = L.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        lrs = []
        for metric in [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.86]:
            opt.step()
            sched.step(metric)
            lrs.append(sched.get_last_lr())
        return isinstance(sched, L.optim.lr_scheduler.LRScheduler), lrs, sched.last_epoch

    same_as_torch(case)


@pytest.mark.parametrize("name", ["StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"])
def test_a_scheduler_refuses_what_is_not_an_optimizer(name: str) -> None:
    class NotAnOptimizer:
        param_groups = [{"lr": 0.1}]

    args = {"StepLR": (3,), "ExponentialLR": (0.9,), "CosineAnnealingLR": (10,), "ReduceLROnPlateau": ()}[name]
    same_as_torch(lambda L: getattr(L.optim.lr_scheduler, name)(NotAnOptimizer(), *args))


@pytest.mark.parametrize("name", ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "MultiplicativeLR"])
def test_resuming_without_initial_lr_raises_keyerror(name: str) -> None:
    """``last_epoch=`` on an optimizer whose state was not loaded: torch's KeyError, not a silent schedule."""
    args = {
        "StepLR": (3,),
        "ExponentialLR": (0.9,),
        "CosineAnnealingLR": (10,),
        "LinearLR": (),
        "MultiplicativeLR": (lambda e: 0.9,),
    }[name]
    same_as_torch(lambda L: getattr(L.optim.lr_scheduler, name)(_sgd(L), *args, last_epoch=4))


# (StepLR, MultiStepLR and LambdaLR resumed as torch's already)
_RESUMABLE = {
    "ExponentialLR": lambda L, o, e: L.optim.lr_scheduler.ExponentialLR(o, 0.9, last_epoch=e),
    "CosineAnnealingLR": lambda L, o, e: L.optim.lr_scheduler.CosineAnnealingLR(o, 10, last_epoch=e),
    "LinearLR": lambda L, o, e: L.optim.lr_scheduler.LinearLR(o, 0.1, total_iters=8, last_epoch=e),
    "PolynomialLR": lambda L, o, e: L.optim.lr_scheduler.PolynomialLR(o, total_iters=8, last_epoch=e),
    "MultiplicativeLR": lambda L, o, e: L.optim.lr_scheduler.MultiplicativeLR(o, lambda k: 0.9, last_epoch=e),
}


def _resumed_rates(L: Any, make: Any, epochs: int = 4) -> list[Any]:
    """Train ``epochs`` epochs, checkpoint the optimizer, then rebuild optimizer and scheduler from the
    checkpoint (``last_epoch=epochs``) and step both runs on: the rates of each."""
    first = _sgd(L)
    sched = make(L, first, -1)
    for _ in range(epochs):
        first.step()
        sched.step()
    second = _sgd(L)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    resumed = make(L, second, epochs)
    out: list[Any] = [second.param_groups[0]["lr"], resumed.last_epoch]
    for _ in range(6):
        first.step()
        sched.step()
        second.step()
        resumed.step()
        out += [sched.get_last_lr()[0], resumed.get_last_lr()[0]]
    return out


@pytest.mark.parametrize("name", sorted(_RESUMABLE))
def test_a_resumed_scheduler_keeps_the_loaded_rates_as_torchs(name: str) -> None:
    """Resuming with ``last_epoch=`` takes one step on from the loaded rates without changing them (torch's
    initial step), so the resumed rates are torch's (within the rounding of our closed forms); before, the
    chainable schedules stepped the loaded rate once more (one epoch ahead for ever)."""
    ours, theirs = (_resumed_rates(L, _RESUMABLE[name]) for L in (bp, torch))
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", ["StepLR", "LambdaLR"])
def test_get_lr_outside_step_warns_as_torchs(name: str) -> None:
    def case(L: Any) -> Any:
        opt = _sgd(L)
        schedulers = L.optim.lr_scheduler
        sched = schedulers.StepLR(opt, 2) if name == "StepLR" else schedulers.LambdaLR(opt, lambda e: 0.5)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt.step()
            sched.step()
            quiet = len(caught)
            rates = sched.get_lr()
        return quiet, [(w.category.__name__, str(w.message)) for w in caught], rates

    assert run(case, bp) == run(case, torch)


# ---------------------------------------------------------------- optimizers


def test_global_optimizer_step_hooks_run_around_every_optimizers_own() -> None:
    """``torch.optim.optimizer.register_optimizer_step_pre_hook`` / ``_post_hook``: global hooks run before
    (pre) and after (post) each optimizer's own hooks, until their handles are removed."""

    def case(L: Any) -> Any:
        module = importlib.import_module(f"{L.__name__}.optim.optimizer")
        log: list[Any] = []
        p = L.nn.Parameter(L.ones(1))
        opt = L.optim.Adagrad([p], lr=0.5)
        opt.register_step_pre_hook(lambda o, a, k: log.append("own pre"))
        opt.register_step_post_hook(lambda o, a, k: log.append("own post"))
        pre = module.register_optimizer_step_pre_hook(lambda o, a, k: log.append(("pre", type(o).__name__, len(a))))
        post = module.register_optimizer_step_post_hook(lambda o, a, k: log.append(("post", sorted(k))))
        try:
            p.grad = L.ones(1)
            opt.step()
            L.optim.SGD([L.nn.Parameter(L.ones(1))], lr=0.1).step()
        finally:
            pre.remove()
            post.remove()
        opt.step()
        return log, p

    same_as_torch(case)


_OPTIMIZER_OPTIONS = {
    "Adam": dict(amsgrad=True),
    "AdamW": dict(amsgrad=True),
    "RMSprop": dict(momentum=0.9, centered=True),
    "Adagrad": {},
    "Adadelta": {},
    "Adamax": {},
    "NAdam": {},
    "RAdam": {},
    "ASGD": {},
    "Rprop": {},
}


@pytest.mark.parametrize("name", sorted(_OPTIMIZER_OPTIONS))
def test_state_dict_keys_are_in_torchs_order(name: str) -> None:
    """``optimizer.state_dict()`` lists each param group's hyper-parameters and each parameter's state in
    torch's order (what printing or dumping a checkpoint's optimizer state shows)."""

    def case(L: Any) -> Any:
        p = L.nn.Parameter(L.ones(2, 2))
        opt = getattr(L.optim, name)([p], lr=0.1, **_OPTIMIZER_OPTIONS[name])
        p.grad = L.ones(2, 2)
        opt.step()
        sd = opt.state_dict()
        return list(sd["param_groups"][0]), list(sd["state"][0]), list(opt.defaults)

    same_as_torch(case)


# ---------------------------------------------------------------- copies and checkpoints


def test_deepcopy_of_a_model_leaves_its_gradients_behind() -> None:
    """``copy.deepcopy(model)`` (an EMA or a best-model snapshot) copies each Parameter's data and
    ``requires_grad`` but not its ``.grad``, as torch's ``Parameter.__deepcopy__``; a plain tensor's copy
    keeps its ``.grad``."""

    def case(L: Any) -> Any:
        model = L.nn.Linear(2, 1)
        model(L.ones(1, 2)).sum().backward()
        snapshot = copy.deepcopy(model)
        leaf = L.ones(2, requires_grad=True)
        (leaf * 3).sum().backward()
        return (
            [p.grad for p in snapshot.parameters()],
            [type(p).__name__ for p in snapshot.parameters()],
            [p.requires_grad for p in snapshot.parameters()],
            copy.deepcopy(leaf).grad,
        )

    same_as_torch(case)


def test_deepcopy_keeps_a_tensors_python_attributes() -> None:
    """A tensor's own attributes (``t.meta = ...``) and a buffer's ``persistent`` flag survive
    ``copy.deepcopy``, as torch's; a Parameter's attributes do not (torch's Parameter copy)."""

    def case(L: Any) -> Any:
        t = L.zeros(2)
        t.meta = {"scale": [1, 2]}
        p = L.nn.Parameter(L.zeros(2))
        p.meta = 1
        b = copy.deepcopy(L.nn.Buffer(L.ones(1), persistent=False))
        t2 = copy.deepcopy(t)
        return t2.meta, t2.meta is t.meta, getattr(copy.deepcopy(p), "meta", None), b.persistent

    same_as_torch(case)


def _save_load(L: Any, obj: Any, **kwargs: Any) -> Any:
    buffer = io.BytesIO()
    L.save(obj, buffer)
    buffer.seek(0)
    return L.load(buffer, **kwargs)


def test_weights_only_load_takes_sizes_and_devices() -> None:
    """A checkpoint holding ``x.shape`` or a device loads under the default ``weights_only=True``, as
    torch's (its weights-only unpickler allows torch.Size and torch.device)."""

    def case(L: Any) -> Any:
        got = _save_load(L, {"shape": L.zeros(2, 3).shape, "device": L.device("cpu"), "w": L.ones(2)})
        return type(got["shape"]).__name__, list(got["shape"]), str(got["device"]), got["w"]

    same_as_torch(case)


Point = namedtuple("Point", "x y")


def test_map_location_keeps_namedtuples_and_shared_tensors() -> None:
    """``load(..., map_location="cpu")`` of a namedtuple (it raised a TypeError) and of one tensor stored
    under two names (tied weights: they became two tensors), as torch's."""

    def case(L: Any) -> Any:
        tied = L.ones(2)
        got = _save_load(L, {"p": Point(L.ones(1), 2), "a": tied, "b": tied}, map_location="cpu", weights_only=False)
        return got["p"], type(got["p"]).__name__, got["a"] is got["b"]

    same_as_torch(case)


# ---------------------------------------------------------------- data loading


def test_collate_helpers_import_from_torchs_private_path() -> None:
    """``from torch.utils.data._utils.collate import collate, default_collate_fn_map`` (older code and
    libraries extend the collate map this way) and ``_utils.worker.get_worker_info``."""

    class Box:
        def __init__(self, v: float) -> None:
            self.v = v

    def case(L: Any) -> Any:
        private = importlib.import_module(f"{L.__name__}.utils.data._utils.collate")
        worker = importlib.import_module(f"{L.__name__}.utils.data._utils.worker")
        fn_map = {**private.default_collate_fn_map, Box: lambda batch, *, collate_fn_map=None: [b.v for b in batch]}
        loader = L.utils.data.DataLoader(
            [(Box(1.0), 1), (Box(2.0), 2), (Box(3.0), 3)],
            batch_size=2,
            collate_fn=lambda batch: private.collate(batch, collate_fn_map=fn_map),
        )
        return (
            list(loader),
            private.default_collate([{"a": 1}, {"a": 2}]),
            private.default_convert([1, 2]),
            worker.get_worker_info(),
            L.utils.data._utils.collate.default_collate is private.default_collate,
        )

    same_as_torch(case)


def test_clip_grad_norm_scales_gradients_to_torchs_bits() -> None:
    """The clipping coefficient is torch's float32 ``max_norm / (total + 1e-6)`` (a reciprocal, then a
    product), so clipped gradients are torch's bit for bit (they were 1 ulp off, computed in float64)."""

    def case(L: Any) -> Any:
        grads = [L.tensor([[0.0, 0.005]]), L.tensor([0.1]), L.tensor([1.0, -0.03125, 0.7])]
        params = [L.nn.Parameter(L.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = L.nn.utils.clip_grad_norm_(params, 0.1)
        clipped = [p.grad.clone() for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        L.nn.utils.clip_grads_with_norm_(params, 0.3, L.nn.utils.get_total_norm(grads))
        return total, clipped, [p.grad for p in params]

    same_as_torch(case)
