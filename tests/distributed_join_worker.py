"""Scenarios that ``tests/test_distributed_join.py`` runs on 2 or 3 ranks: rank 0 writes OUT/<name>.json.

Usage: ``mpiexec -n 2 python tests/distributed_join_worker.py OUT scenario [scenario ...]``, or for the TCP backend
``BP_TEST_BACKEND=gloo python -m backprop.run --nproc-per-node 2 tests/distributed_join_worker.py OUT ...``. Rank r
trains on ``LENGTHS[world size][r]`` batches inside ``Join``; rank 0 also computes, alone, the closed-form reference
(per step: every rank's local gradients summed in rank order, zeros for ranks that ran out, divided by the world size
or the number still training; then the optimizer step). The test module makes the assertions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's backprop, not an installed one

import numpy as np  # noqa: E402
from distributed_worker import run_scenarios  # noqa: E402 - (the shared entry point)

import backprop as bp  # noqa: E402
import backprop.nn.functional as F  # noqa: E402
from backprop import distributed as dist  # noqa: E402
from backprop import nn, optim  # noqa: E402
from backprop.distributed.algorithms import Join  # noqa: E402
from backprop.distributed.algorithms.ddp_comm_hooks import default_hooks  # noqa: E402
from backprop.distributed.optim import ZeroRedundancyOptimizer  # noqa: E402
from backprop.nn.parallel import DistributedDataParallel as DDP  # noqa: E402, N817 - the name torch users write

LENGTHS = {2: [5, 3], 3: [5, 2, 4]}  # batches per rank: rank 1 has fewer; three different lengths
SGD = {"lr": 0.1, "momentum": 0.9}
B = 8  # local batch
OUT = Path(".")


class Net(nn.Module):
    """A small MLP; ``extra`` is used only when asked (find_unused_parameters), ``bn`` adds buffers."""

    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.body = nn.Linear(6, 16)
        self.bn = nn.BatchNorm1d(16) if bn else nn.Identity()
        self.head = nn.Linear(16, 3)
        self.extra = nn.Linear(16, 3)

    def forward(self, x: Any, use_extra: bool = True) -> Any:
        h = bp.tanh(self.bn(self.body(x)))
        return self.head(h) + self.extra(h) if use_extra else self.head(h)


def _model(bn: bool = False) -> Net:
    bp.manual_seed(0)
    return Net(bn)


def _loss(model: Any, rank: int, step: int, unused: bool = False) -> Any:
    rng = np.random.default_rng(1000 * rank + step)
    x, y = rng.standard_normal((B, 6)).astype(np.float32), rng.integers(0, 3, B)
    use_extra = (rank + step) % 2 == 0 if unused else True
    return F.cross_entropy(model(bp.tensor(x), use_extra=use_extra), bp.tensor(y))


def _params(model: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


def _gather(obj: Any) -> list[Any]:
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _same_on_all_ranks(arrays: list[np.ndarray]) -> bool:
    everyone = _gather(arrays)
    return all(
        len(g) == len(everyone[0]) and all(np.array_equal(a, b) for a, b in zip(everyone[0], g)) for g in everyone
    )


def _reference(lengths: list[int], divide_initial: bool, hook: bool = False, **kw: Any) -> list[np.ndarray]:
    """One process: per step the ranks' local gradients (zeros once a rank ran out, or for a parameter it did not
    use) summed in rank order, divided by the world size or the ranks still training (or each divided by the world
    size first: ``allreduce_hook``), then SGD with momentum; a parameter no rank used gets no gradient."""
    bn = kw.pop("bn", False)
    ref = _model(bn)
    opt = optim.SGD(ref.parameters(), **SGD)
    params = list(ref.parameters())
    n = len(lengths)
    for step in range(max(lengths)):
        active = [r for r in range(n) if lengths[r] > step]
        used = [False] * len(params)
        acc: list[np.ndarray] | None = None
        for r in range(n):
            grads = [np.zeros(p.shape, dtype=np.float32) for p in params]
            if r in active:
                for p in params:
                    p.grad = None
                _loss(ref, r, step, **kw).backward()
                for i, p in enumerate(params):
                    if p.grad is not None:
                        used[i] = True
                        grads[i] = p.grad.numpy().copy()
            if hook:
                grads = [g / n for g in grads]
            acc = grads if acc is None else [a + g for a, g in zip(acc, grads)]
        assert acc is not None
        divisor = 1 if hook else (n if divide_initial else len(active))
        for i, p in enumerate(params):
            p.grad = bp.from_numpy(acc[i] / divisor) if used[i] else None
        opt.step()
    return _params(ref)


def _train(
    make_opt: Callable[[DDP], Any],
    joinables: Callable[[DDP, Any], Join],
    divide_initial: bool = True,
    hook: bool = False,
    find_unused: bool = False,
    bn: bool = False,
) -> dict[str, Any]:
    """Rank r trains ``LENGTHS[n][r]`` steps inside the Join; its parameters against every rank's and the reference."""
    r, n = dist.get_rank(), dist.get_world_size()
    lengths = LENGTHS[n]
    base = _model(bn)
    model = DDP(base, deterministic=True, find_unused_parameters=find_unused)
    if hook:
        model.register_comm_hook(None, default_hooks.allreduce_hook)
    opt = make_opt(model)
    with joinables(model, opt):
        for step in range(lengths[r]):
            opt.zero_grad()
            _loss(model, r, step, unused=find_unused).backward()
            opt.step()
    mine = _params(base)
    out: dict[str, Any] = {
        "same_on_all_ranks": _same_on_all_ranks(mine),
        "buffers_same_on_all_ranks": _same_on_all_ranks([b.numpy().copy() for b in base.buffers()]),
        "n_buffers": len(list(base.buffers())),
    }
    if r == 0:
        ref = _reference(lengths, divide_initial, hook, unused=find_unused, bn=bn)
        out["bitwise_equal_reference"] = all(np.array_equal(a, b) for a, b in zip(mine, ref))
        out["max_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(mine, ref))
        out["moved"] = max(float(np.max(np.abs(a - b))) for a, b in zip(mine, _params(_model(bn))))
        # (the reference with every rank training all steps differs: Join's zeros really were used)
        full = _reference([max(lengths)] * n, divide_initial, hook, unused=find_unused, bn=bn)
        out["differs_from_even"] = any(not np.array_equal(a, b) for a, b in zip(mine, full))
    return out


def _sgd(model: DDP) -> Any:
    return optim.SGD(model.parameters(), **SGD)


def _zero(model: DDP) -> Any:
    return ZeroRedundancyOptimizer(model.parameters(), optim.SGD, **SGD)


def sgd() -> dict[str, Any]:
    return _train(_sgd, lambda m, o: m.join())


def sgd_divide_active() -> dict[str, Any]:
    return _train(_sgd, lambda m, o: m.join(divide_by_initial_world_size=False), divide_initial=False)


def zero() -> dict[str, Any]:
    return _train(_zero, lambda m, o: Join([m, o]))


def zero_divide_active() -> dict[str, Any]:
    return _train(_zero, lambda m, o: Join([m, o], divide_by_initial_world_size=False), divide_initial=False)


def comm_hook() -> dict[str, Any]:
    return _train(_sgd, lambda m, o: m.join(), hook=True)


def unused() -> dict[str, Any]:
    return _train(_sgd, lambda m, o: m.join(), find_unused=True)


def buffers() -> dict[str, Any]:
    return _train(_sgd, lambda m, o: m.join(), bn=True)


def throw() -> dict[str, Any]:
    """``throw_on_early_termination=True``: every rank raises once the shortest runs out; at which step, and what."""
    r, n = dist.get_rank(), dist.get_world_size()
    model = DDP(_model(), deterministic=True)
    opt = _sgd(model)
    caught: list[Any] = [None, None]
    steps = 0
    try:
        with model.join(throw_on_early_termination=True):
            for step in range(LENGTHS[n][r]):
                opt.zero_grad()
                _loss(model, r, step).backward()
                opt.step()
                steps += 1
    except RuntimeError as exc:
        caught = [type(exc).__name__, str(exc)]
    return {"caught": _gather(caught), "steps": _gather(steps)}


def _count_collectives(fn: Callable[[], None]) -> dict[str, int]:
    """Run ``fn`` counting this rank's all_reduce and broadcast calls."""
    counts = {"all_reduce": 0, "broadcast": 0}
    originals = {k: getattr(dist, k) for k in counts}

    def counting(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return originals[name](*args, **kwargs)

        return call

    try:
        for k in counts:
            setattr(dist, k, counting(k))
        fn()
    finally:
        for k, v in originals.items():
            setattr(dist, k, v)
    return counts


def disabled() -> dict[str, Any]:
    """Even inputs, 3 steps: no Join, ``join(enable=False)`` and ``join()``; collectives issued and parameters."""
    r = dist.get_rank()
    results: dict[str, Any] = {}
    for how in ("none", "disabled", "enabled"):
        base = _model()
        model = DDP(base, deterministic=True)
        opt = _sgd(model)

        def loop(model: DDP = model, opt: Any = opt) -> None:
            for step in range(3):
                opt.zero_grad()
                _loss(model, r, step).backward()
                opt.step()

        def run(how: str = how, model: DDP = model, loop: Callable[[], None] = loop) -> None:
            if how == "none":
                loop()
                return
            with model.join(enable=how == "enabled") as entered:
                results[f"enter_{how}"] = repr(entered)
                loop()

        results[how] = _count_collectives(run)
        results[f"params_{how}"] = [a.tolist() for a in _params(base)]
    passed = None
    try:
        with model.join(enable=False):
            raise KeyError("inside")
    except KeyError as exc:
        passed = str(exc)
    results["exception_passes"] = passed
    results["bitwise_same"] = results["params_none"] == results["params_disabled"] == results["params_enabled"]
    for how in ("none", "disabled", "enabled"):
        del results[f"params_{how}"]
    return results


def main() -> None:
    run_scenarios(globals(), deterministic=True)


if __name__ == "__main__":
    main()
