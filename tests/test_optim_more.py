"""``optim.Adafactor`` and ``optim.Muon``: step-by-step against torch on the same parameters and
gradients where torch is installed (Adafactor to float rounding; Muon to torch's bfloat16 Newton-Schulz
precision), closed forms otherwise, state_dict round trips and argument errors."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - the torch cross-checks are skipped
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)


def _problem(shapes: list[tuple[int, ...]], steps: int, dtype: type) -> tuple[list, list]:
    init: list[np.ndarray] = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    grads: list[list[np.ndarray]] = [[RNG.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def _run_ours(cls: type, init: list, grads: list, **kw: Any) -> tuple[list, Any]:
    params = [bp.nn.Parameter(bp.tensor(a)) for a in init]
    opt = cls(params, **kw)
    history = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = bp.tensor(g)
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history, opt


def _run_torch(cls: type, init: list, grads: list, **kw: Any) -> tuple[list, Any]:
    params = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    opt = cls(params, **kw)
    history = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g)
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history, opt


# ---------------------------------------------------------------- Adafactor

ADAFACTOR_CASES = [
    ({}, np.float32),
    ({"lr": 0.1, "weight_decay": 0.1, "maximize": True}, np.float32),
    ({"lr": 0.3, "eps": (1e-4, 1e-2), "d": 1.5, "beta2_decay": -0.5}, np.float32),
    ({"lr": 0.05, "weight_decay": 0.01}, np.float64),
]


@needs_torch
@pytest.mark.parametrize("kw,dtype", ADAFACTOR_CASES)
def test_adafactor_matches_torch_step_by_step(kw: dict, dtype: type) -> None:
    shapes = [(5, 7), (7,), (2, 3, 4), (), (1, 6)]  # factored 2-D and 3-D, a vector, a scalar
    init, grads = _problem(shapes, 8, dtype)
    ours, opt = _run_ours(bp.optim.Adafactor, init, grads, **kw)
    theirs, topt = _run_torch(torch.optim.Adafactor, init, grads, **kw)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol, err_msg=f"step {step + 1}")
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    for i, st in tsd["state"].items():
        assert set(sd["state"][i]) == set(st)
        assert float(sd["state"][i]["step"]) == float(st["step"])
        for name in set(st) - {"step"}:
            assert tuple(sd["state"][i][name].shape) == tuple(st[name].shape)
            np.testing.assert_allclose(sd["state"][i][name].numpy(), st[name].numpy(), rtol=10 * rtol, atol=1e-12)


def test_adafactor_first_step_closed_form() -> None:
    # at t = 1: v = g^2 exactly, u = g / |g| = sign(g), rms(u) = 1, alpha = max(eps2, rms(p)) min(lr, 1)
    p0 = RNG.standard_normal((4, 6))
    g = RNG.standard_normal((4, 6))
    v0 = RNG.standard_normal(5)
    gv = RNG.standard_normal(5)
    w, v = bp.nn.Parameter(bp.tensor(p0)), bp.nn.Parameter(bp.tensor(v0))
    opt = bp.optim.Adafactor([w, v], lr=0.1)
    w.grad, v.grad = bp.tensor(g), bp.tensor(gv)
    opt.step()
    rms = np.sqrt(np.mean(v0**2))
    np.testing.assert_allclose(v.detach().numpy(), v0 - 0.1 * rms * np.sign(gv), rtol=1e-12)
    # factored: v_hat = r c / mean(r), with r, c the row / column means of g^2
    r, c = (g**2).mean(1, keepdims=True), (g**2).mean(0, keepdims=True)
    u = g / np.sqrt(r @ c / r.mean())
    alpha = 0.1 * np.sqrt(np.mean(p0**2)) / max(1.0, np.sqrt(np.mean(u**2)))
    np.testing.assert_allclose(w.detach().numpy(), p0 - alpha * u, rtol=1e-12)
    st = opt.state[w]
    assert st["step"] == 1.0 and tuple(st["row_var"].shape) == (4, 1) and tuple(st["col_var"].shape) == (1, 6)
    assert "variance" in opt.state[v] and "row_var" not in opt.state[v]


def test_adafactor_state_dict_round_trip() -> None:
    init, grads = _problem([(3, 5), (5,)], 6, np.float32)
    straight, _ = _run_ours(bp.optim.Adafactor, init, grads, lr=0.05, weight_decay=0.01)
    first, opt = _run_ours(bp.optim.Adafactor, init, grads[:3], lr=0.05, weight_decay=0.01)
    saved = copy.deepcopy(opt.state_dict())
    params = [bp.nn.Parameter(bp.tensor(a)) for a in first[-1]]
    resumed = bp.optim.Adafactor(params, lr=0.5)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.05
    for gs in grads[3:]:
        for p, g in zip(params, gs):
            p.grad = bp.tensor(g)
        resumed.step()
    for p, want in zip(params, straight[-1]):
        np.testing.assert_array_equal(p.detach().numpy(), want)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"lr": -1.0}, "Learning rate should be >= 0"),
        ({"beta2_decay": 0.5}, "beta2_decay should be <= 0"),
        ({"eps": (-1.0, 1e-3)}, "epsilon1 should be >= 0"),
        ({"eps": (None, -1.0)}, "epsilon2 should be >= 0"),
        ({"d": 0.5}, "Clipping threshold d should be >= 1"),
        ({"weight_decay": -0.1}, "weight_decay should be >= 0"),
    ],
)
def test_adafactor_argument_errors(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bp.optim.Adafactor([bp.nn.Parameter(bp.zeros(2))], **kw)


@needs_torch
def test_adafactor_repr_matches_torch() -> None:
    ours = bp.optim.Adafactor([bp.nn.Parameter(bp.zeros(2))], lr=0.1)
    theirs = torch.optim.Adafactor([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------- Muon


def test_newton_schulz_keeps_singular_vectors() -> None:
    from backprop.optim.muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, zeropower_via_newtonschulz

    for shape in ((8, 5), (5, 8), (6, 6)):
        g = RNG.standard_normal(shape)
        o = zeropower_via_newtonschulz(np, g, (DEFAULT_A, DEFAULT_B, DEFAULT_C), 5, 1e-7)
        u, s, vt = np.linalg.svd(g, full_matrices=False)
        core = u.T @ o @ vt.T  # diagonal: O = U f(S) V^T
        off = core - np.diag(np.diag(core))
        assert np.abs(off).max() < 1e-10
        assert np.all((np.diag(core) > 0.5) & (np.diag(core) < 1.5))  # torch's documented S' ~ U(0.5, 1.5)
        plain = zeropower_via_newtonschulz(np, g, (1.5, -0.5, 0.0), 60, 1e-7)  # cubic NS: converges to U V^T
        np.testing.assert_allclose(plain, u @ vt, atol=1e-8)


def test_muon_first_step_closed_form() -> None:
    from backprop.optim.muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, zeropower_via_newtonschulz

    p0, g = RNG.standard_normal((6, 3)), RNG.standard_normal((6, 3))
    w = bp.nn.Parameter(bp.tensor(p0))
    opt = bp.optim.Muon([w], lr=0.02, weight_decay=0.1, momentum=0.9, nesterov=True)
    w.grad = bp.tensor(g)
    opt.step()
    buf = 0.1 * g  # lerp(0, g, 1 - momentum)
    update = g + 0.9 * (buf - g)  # lerp(g, buf, momentum)
    o = zeropower_via_newtonschulz(np, update, (DEFAULT_A, DEFAULT_B, DEFAULT_C), 5, 1e-7)
    want = p0 * (1 - 0.02 * 0.1) - 0.02 * np.sqrt(6 / 3) * o
    np.testing.assert_allclose(w.detach().numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(opt.state[w]["momentum_buffer"].numpy(), buf, rtol=1e-12)


MUON_CASES = [
    {"lr": 0.02},
    {"lr": 0.02, "nesterov": False, "weight_decay": 0.0},
    {"lr": 0.01, "momentum": 0.8, "adjust_lr_fn": "match_rms_adamw"},
    {"lr": 0.05, "adjust_lr_fn": "original", "ns_steps": 3},
]


@needs_torch
@pytest.mark.parametrize("kw", MUON_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_muon_matches_torch_step_by_step(kw: dict, dtype: type) -> None:
    init, grads = _problem([(5, 7), (9, 4), (6, 6)], 6, dtype)
    ours, opt = _run_ours(bp.optim.Muon, init, grads, **kw)
    theirs, topt = _run_torch(torch.optim.Muon, init, grads, **kw)
    ours_before, theirs_before = init, init
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y, x0, y0 in zip(a, b, ours_before, theirs_before):
            delta = y - y0  # torch's step; ours may differ by torch's bfloat16 Newton-Schulz rounding only
            np.testing.assert_allclose(x - x0, delta, atol=0.1 * np.abs(delta).max(), err_msg=f"step {step + 1}")
        ours_before, theirs_before = a, b
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert all(set(sd["state"][i]) == set(st) == {"momentum_buffer"} for i, st in tsd["state"].items())
    for i, st in tsd["state"].items():  # the momentum buffers see only gradients: equal to rounding
        np.testing.assert_allclose(
            sd["state"][i]["momentum_buffer"].numpy(), st["momentum_buffer"].numpy(), rtol=1e-5, atol=1e-6
        )


@needs_torch
@pytest.mark.parametrize("kw", MUON_CASES)
def test_muon_matches_torch_without_bfloat16(kw: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """With torch's bfloat16 cast made a plain copy, its Newton-Schulz runs in float64 as ours: equal steps."""
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self, *args, **kwargs: self.clone())
    init, grads = _problem([(5, 7), (9, 4), (6, 6)], 6, np.float64)
    ours, _ = _run_ours(bp.optim.Muon, init, grads, **kw)
    theirs, _ = _run_torch(torch.optim.Muon, init, grads, **kw)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=f"step {step + 1}")


def test_muon_state_dict_round_trip() -> None:
    init, grads = _problem([(4, 6), (6, 2)], 5, np.float32)
    straight, _ = _run_ours(bp.optim.Muon, init, grads, lr=0.02)
    first, opt = _run_ours(bp.optim.Muon, init, grads[:2], lr=0.02)
    saved = copy.deepcopy(opt.state_dict())
    params = [bp.nn.Parameter(bp.tensor(a)) for a in first[-1]]
    resumed = bp.optim.Muon(params)
    resumed.load_state_dict(saved)
    for gs in grads[2:]:
        for p, g in zip(params, gs):
            p.grad = bp.tensor(g)
        resumed.step()
    for p, want in zip(params, straight[-1]):
        np.testing.assert_array_equal(p.detach().numpy(), want)


def test_muon_argument_errors() -> None:
    w = bp.nn.Parameter(bp.zeros(3, 3))
    with pytest.raises(ValueError, match=r"Muon only supports 2D parameters .* size: \(3,\)"):
        bp.optim.Muon([w, bp.nn.Parameter(bp.zeros(3))])
    with pytest.raises(ValueError, match="adjust_lr_fn 'sqrt' is not supported"):
        bp.optim.Muon([w], adjust_lr_fn="sqrt")
    with pytest.raises(ValueError, match="momentum should be >= 0"):
        bp.optim.Muon([w], momentum=-0.5)
    with pytest.raises(ValueError, match="learning rate should be >= 0"):
        bp.optim.Muon([w], lr=-1.0)
    w.grad = bp.ones(3, 3)
    with pytest.raises(ValueError, match="ns_steps must be less than 100"):
        bp.optim.Muon([w], ns_steps=100).step()


@needs_torch
def test_muon_repr_matches_torch() -> None:
    ours = bp.optim.Muon([bp.nn.Parameter(bp.zeros(2, 2))], lr=0.1)
    theirs = torch.optim.Muon([torch.nn.Parameter(torch.zeros(2, 2))], lr=0.1)
    assert repr(ours) == repr(theirs)
