"""Run torch's own optimizer configurations (``torch.testing._internal.common_optimizers.optim_db``) through
backprop's optimizers and compare with torch.

For each optimizer and each configuration of its ``optim_inputs_func(device="cpu")`` (and, where torch has
them on the CPU, the ``foreach=True`` and ``fused=True`` implementations of it): the same parameters start
from the same values in both libraries and take ``STEPS`` steps on the same small loss (a quadratic plus a
small cubic term per parameter, the gradient from each library's own autograd; LBFGS steps with a closure).
Compared after every step: the parameters (rtol 1e-10 in float64) and the loss a closure step returns; at
the end: ``state_dict()`` (the per-parameter state's keys, tensor shapes, dtypes and values, the param
groups' hyper-parameters). Then torch's ``state_dict`` is loaded into a fresh backprop optimizer and both
take ``STEPS`` more steps (backprop resumes torch's saved state). float64, float32 and, for the
optimizers torch lists as supporting complex parameters, complex128.

Not run, with the reason: ``capturable=True`` (CUDA and XLA only in torch; ``optim_inputs_func`` on the
CPU lists no such configuration), ``differentiable=True`` (autograd through the update needs non-leaf
parameters: another test), and fused implementations torch has only on CUDA/MPS.

Needs torch and ``expecttest``. Shared by ``tests/test_parity_optiminfo.py`` and the probe
``python -m tests.optiminfo_harness [names]``, which prints every disagreement.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

import backprop as bp

try:  # (as a module of the tests package, or from the tests directory as pytest imports it)
    from tests import opinfo_harness as oh
except ImportError:  # pragma: no cover
    import opinfo_harness as oh  # type: ignore[no-redef]

torch: Any = None
optim_db: list[Any] = []

STEPS = 6
# the state's values are compared 100 times looser than the parameters: some are sums of cancelling terms
# (LBFGS's 1/ys and two-loop coefficients) whose last digits follow the order of a dot product
STATE_SCALE = 100.0
DTYPES = ("float64", "float32", "complex128")


def load() -> bool:
    """Import torch and its optimizer database; False when either is missing."""
    global torch, optim_db
    if torch is not None:
        return True
    try:
        import torch as _torch
        from torch.testing._internal.common_optimizers import optim_db as _optim_db
    except ImportError:
        return False
    oh.unfreeze_flags(_torch)
    torch, optim_db = _torch, list(_optim_db)
    return True


def key_of(oi: Any) -> str:
    return oi.optim_cls.__name__


# ------------------------------------------------------------------ the problem


def _shapes(name: str) -> list[tuple[int, ...]]:
    if name == "Muon":
        return [(3, 4), (4, 2)]  # 2-d parameters only
    if name == "SparseAdam":
        return [(6, 3)]  # an embedding table
    return [(3, 4), (5,), ()]


IDS = [0, 2, 2, 5]  # the rows SparseAdam's embedding looks up


class _Problem:
    """The same parameters, constants and loss in one library (``lib`` is torch or backprop)."""

    def __init__(self, lib: Any, name: str, dname: str) -> None:
        rng = np.random.default_rng(0)
        self.lib, self.name = lib, name
        dt = getattr(lib, dname)
        complex_ = dname.startswith("complex")

        def arr(shape: tuple[int, ...], lo: float, hi: float) -> Any:
            a = rng.uniform(lo, hi, shape)
            if complex_:
                a = a + 1j * rng.uniform(lo, hi, shape)
            return lib.tensor(a, dtype=dt)

        self.params = [arr(s, -1, 1).requires_grad_(True) for s in _shapes(name)]
        fshapes = [(len(IDS), 3)] if name == "SparseAdam" else _shapes(name)
        real = lib.float32 if dname == "float32" else lib.float64
        self.c = [lib.tensor(rng.uniform(0.5, 2, s), dtype=real) for s in fshapes]
        self.d = [arr(s, -1, 1) for s in fshapes]
        self.e = [lib.tensor(rng.uniform(-0.2, 0.2, s), dtype=real) for s in fshapes]
        self.ids = lib.tensor(IDS)

    def loss(self) -> Any:
        total = 0
        xs = self.params
        if self.name == "SparseAdam":
            xs = [self.lib.nn.functional.embedding(self.ids, self.params[0], sparse=True)]
        for x, c, d, e in zip(xs, self.c, self.d, self.e):
            sq = (x * x.conj()).real if x.is_complex() else x * x
            lin = (d * x).real if x.is_complex() else d * x
            total = total + (c * sq).sum() + lin.sum() + (e * sq * sq.sqrt()).sum()
        return total

    def closure(self, opt: Any) -> Any:
        def closure() -> Any:
            opt.zero_grad()
            loss = self.loss()
            loss.backward()
            return loss

        return closure


def _to_bp(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        a = x.detach().numpy().copy()
        return bp.tensor(a, dtype=getattr(bp, str(x.dtype).removeprefix("torch.")))
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_to_bp(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_bp(v) for k, v in x.items()}
    return x


# ------------------------------------------------------------------ comparing


def tolerance(dname: str) -> tuple[float, float]:
    return (1e-10, 1e-12) if dname != "float32" else (1e-5, 1e-6)


def _close(t: Any, b: Any, dname: str, scale: float = 1.0) -> str | None:
    x = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    y = b.detach().numpy() if isinstance(b, bp.Tensor) else np.asarray(b)
    if x.shape != y.shape:
        return f"shape {y.shape}, torch {x.shape}"
    rtol, atol = tolerance(dname)
    if not np.allclose(x, y, rtol * scale, atol * scale, equal_nan=True):
        with np.errstate(all="ignore"):
            err = np.abs(x - y)
        return f"values differ, max abs error {float(np.nanmax(err, initial=0)):.3g}"
    return None


def _compare_value(where: str, t: Any, b: Any, dname: str) -> str | None:
    if isinstance(t, torch.Tensor):
        if not isinstance(b, bp.Tensor):
            return f"{where}: {type(b).__name__} {b!r}, torch a Tensor {t.dtype} {tuple(t.shape)}"
        if str(t.dtype).removeprefix("torch.") != str(b.dtype).split(".")[-1]:
            return f"{where}: dtype {b.dtype}, torch {t.dtype}"
        problem = _close(t, b, dname, STATE_SCALE)
        return f"{where}: {problem}" if problem else None
    if isinstance(b, bp.Tensor):
        return f"{where}: a Tensor {b.dtype}, torch {type(t).__name__} {t!r}"
    if isinstance(t, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(t) != len(b):
            return f"{where}: {b!r}, torch {t!r}"
        for i, (u, v) in enumerate(zip(t, b)):
            problem = _compare_value(f"{where}[{i}]", u, v, dname)
            if problem:
                return problem
        return None
    if type(t) is not type(b) and not (isinstance(t, (int, float)) and isinstance(b, (int, float))):
        return f"{where}: {type(b).__name__} {b!r}, torch {type(t).__name__} {t!r}"
    if t != b and not (t != t and b != b):
        if isinstance(t, float) and isinstance(b, (int, float)) and np.isclose(t, b, *tolerance(dname)):
            return None
        return f"{where}: {b!r}, torch {t!r}"
    return None


def _compare_state(tsd: Any, bsd: Any, dname: str) -> str | None:
    if set(tsd) != set(bsd):
        return f"state_dict keys {sorted(bsd)}, torch {sorted(tsd)}"
    ts, bs = tsd["state"], bsd["state"]
    if sorted(ts) != sorted(bs):
        return f"state_dict['state'] indices {sorted(bs)}, torch {sorted(ts)}"
    for i in ts:
        if set(ts[i]) != set(bs[i]):
            return f"state[{i}] keys {sorted(bs[i])}, torch {sorted(ts[i])}"
        for k in ts[i]:
            problem = _compare_value(f"state[{i}][{k!r}]", ts[i][k], bs[i][k], dname)
            if problem:
                return problem
    tg, bg = tsd["param_groups"], bsd["param_groups"]
    if len(tg) != len(bg):
        return f"{len(bg)} param_groups, torch {len(tg)}"
    for j, (x, y) in enumerate(zip(tg, bg)):
        if set(x) != set(y):
            missing, extra = sorted(set(x) - set(y)), sorted(set(y) - set(x))
            return f"param_groups[{j}] keys: missing {missing}, extra {extra}"
        for k in x:
            problem = _compare_value(f"param_groups[{j}][{k!r}]", x[k], y[k], dname)
            if problem:
                return problem
    return None


# ------------------------------------------------------------------ running


def variants(oi: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, extra kwargs) of the implementations compared: the default one, foreach, fused on the CPU."""
    yield "", {}
    if "foreach" in oi.supported_impls:
        yield "foreach", {"foreach": True}
    if "fused" in oi.supported_impls and "cpu" in oi.supports_fused_on:
        yield "fused", {"fused": True}


def configs(oi: Any) -> list[tuple[str, dict[str, Any]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = oi.optim_inputs_func(device="cpu")
    out = []
    for oin in inputs:
        for label, extra in variants(oi):
            kw = {**oin.kwargs, **extra}
            if kw.get("capturable") or kw.get("differentiable"):
                continue
            desc = oin.desc + (f" ({label})" if label else "")
            out.append((desc, kw))
    return out


def check_optimizer(oi: Any, *, dtypes: tuple[str, ...] = DTYPES, steps: int = STEPS) -> Iterator[str]:
    """Every disagreement between torch and backprop over ``oi``'s configurations, one line each."""
    name = key_of(oi)
    bcls = getattr(bp.optim, name, None)
    if bcls is None:
        yield f"{name}: no backprop counterpart"
        return
    for dname in dtypes:
        if dname.startswith("complex") and not oi.supports_complex:
            continue
        if name == "SparseAdam" and dname.startswith("complex"):
            continue
        for desc, kw in configs(oi):
            try:
                problem = _check_config(oi, name, bcls, kw, dname, steps)
            except Exception as e:  # noqa: BLE001 - a harness failure is reported, not hidden
                problem = f"harness error {type(e).__name__}: {str(e)[:200]}"
            if problem:
                yield f"{name} {dname} [{desc}: {kw}]: {problem}"


def _step(prob: _Problem, opt: Any, closure: bool) -> Any:
    if closure:
        return opt.step(prob.closure(opt))
    opt.zero_grad()
    prob.loss().backward()
    return opt.step()


def _check_config(oi: Any, name: str, bcls: Any, kw: dict[str, Any], dname: str, steps: int) -> str | None:
    closure = bool(oi.step_requires_closure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tp, bpp = _Problem(torch, name, dname), _Problem(bp, name, dname)
        try:
            topt = oi.optim_cls(tp.params, **kw)
            for _ in range(1):
                _step(tp, topt, closure)
        except Exception:  # noqa: BLE001 - configurations torch itself refuses are not compared
            return None
        tp, bpp = _Problem(torch, name, dname), _Problem(bp, name, dname)
        topt = oi.optim_cls(tp.params, **kw)
        try:
            bopt = bcls(bpp.params, **_to_bp(kw))
        except Exception as e:  # noqa: BLE001 - reported as the disagreement
            return f"constructor raises {type(e).__name__}: {str(e)[:200]}"
        problem = _run(tp, topt, bpp, bopt, closure, dname, steps, "")
        if problem:
            return problem
        problem = _compare_state(topt.state_dict(), bopt.state_dict(), dname)
        if problem:
            return f"after {steps} steps: {problem}"
        # resume: torch's saved state loaded into a fresh backprop optimizer over a copy of the parameters
        rp = _Problem(bp, name, dname)
        with bp.no_grad():
            for p, q in zip(rp.params, tp.params):
                p.copy_(_to_bp(q))
        ropt = bcls(rp.params, **_to_bp(kw))
        try:
            ropt.load_state_dict(_to_bp(topt.state_dict()))
        except Exception as e:  # noqa: BLE001
            return f"load_state_dict of torch's state raises {type(e).__name__}: {str(e)[:200]}"
        problem = _run(tp, topt, rp, ropt, closure, dname, steps, "resumed from torch's state_dict: ")
        if problem:
            return problem
        return None


def _run(
    tp: _Problem, topt: Any, bpp: _Problem, bopt: Any, closure: bool, dname: str, steps: int, what: str
) -> str | None:
    for k in range(steps):
        tl = _step(tp, topt, closure)
        try:
            bl = _step(bpp, bopt, closure)
        except Exception as e:  # noqa: BLE001
            return f"{what}step {k + 1} raises {type(e).__name__}: {str(e)[:200]}"
        if tl is not None:
            if bl is None:
                return f"{what}step {k + 1} returns None, torch the loss"
            problem = _close(tl, bl, dname)
            if problem:
                return f"{what}step {k + 1} returned loss: {problem}"
        for i, (x, y) in enumerate(zip(tp.params, bpp.params)):
            problem = _close(x, y, dname)
            if problem:
                return f"{what}step {k + 1}: parameter {i} {tuple(x.shape)}: {problem}"
    return None


def main(argv: list[str]) -> int:
    if not load():
        print("torch or expecttest missing")
        return 2
    names = set(argv)
    count = 0
    for oi in optim_db:
        if names and key_of(oi) not in names:
            continue
        for line in check_optimizer(oi):
            print(line, flush=True)
            count += 1
    print(f"{count} disagreements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
