"""nn.utils.parametrize, nn.utils.parametrizations (weight_norm, spectral_norm, orthogonal) and the
pre-hook forms nn.utils.weight_norm / spectral_norm. Closed forms and NumPy run everywhere; tests
taking the ``torch`` fixture compare values, gradients, state_dict keys and optimizer steps with torch
(skipped without it)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
from backprop.nn.utils import parametrizations as PZ
from backprop.nn.utils import parametrize as P


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the parametrization parity checks compare with it")


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


class Symmetric(nn.Module):
    def forward(self, x: bp.Tensor) -> bp.Tensor:
        return x.triu() + x.triu(1).mT

    def right_inverse(self, a: bp.Tensor) -> bp.Tensor:
        return a.triu()


class Scale(nn.Module):
    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c
        self.calls = 0

    def forward(self, x: bp.Tensor) -> bp.Tensor:
        self.calls += 1
        return x * self.c

    def right_inverse(self, x: bp.Tensor) -> bp.Tensor:
        return x / self.c


class RankOne(nn.Module):
    def forward(self, x: bp.Tensor, y: bp.Tensor) -> bp.Tensor:
        return x.unsqueeze(-1) @ y.unsqueeze(-2)

    def right_inverse(self, z: bp.Tensor) -> tuple[bp.Tensor, bp.Tensor]:
        return z[:, 0].clone(), bp.ones(z.shape[1], dtype=z.dtype)


def _linear(n_in: int, n_out: int, seed: int = 0) -> nn.Linear:
    m = nn.Linear(n_in, n_out).double()
    rng = np.random.default_rng(seed)
    with bp.no_grad():
        m.weight.copy_(bp.tensor(rng.standard_normal((n_out, n_in))))
        m.bias.copy_(bp.tensor(rng.standard_normal(n_out)))
    return m


# ------------------------------------------------------------ parametrize, closed forms
def test_register_swaps_class_keeps_parameter_and_recomputes() -> None:
    m = _linear(3, 3)
    w0 = m.weight
    P.register_parametrization(m, "weight", Symmetric())
    assert type(m).__name__ == "ParametrizedLinear" and isinstance(m, nn.Linear)
    assert P.type_before_parametrizations(m) is nn.Linear
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    assert m.parametrizations.weight.original is w0  # the optimizer's Parameter object is kept
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in m.named_parameters()] == ["bias", "parametrizations.weight.original"]
    w = _np(m.weight)
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_allclose(np.triu(w), np.triu(_np(w0)))
    with bp.no_grad():
        w0.mul_(2.0)
    np.testing.assert_allclose(_np(m.weight), 2 * w)  # recomputed on every access
    y = m(bp.ones(1, 3, dtype=bp.float64))
    y.sum().backward()
    g = np.triu(np.ones((3, 3))) + np.triu(np.ones((3, 3)), 1)  # d sum(W @ 1) / d original
    np.testing.assert_allclose(_np(w0.grad), g)


def test_assignment_calls_right_inverse_and_parameter_assignment_is_refused() -> None:
    m = _linear(3, 3)
    P.register_parametrization(m, "weight", Symmetric())
    a = np.arange(9.0).reshape(3, 3)
    a = a + a.T
    m.weight = bp.tensor(a)
    np.testing.assert_allclose(_np(m.weight), a)
    np.testing.assert_allclose(_np(m.parametrizations.weight.original), np.triu(a))
    with pytest.raises(KeyError, match="already exists"):
        m.weight = nn.Parameter(bp.tensor(a))
    n = _linear(3, 3)
    P.register_parametrization(n, "weight", Scale(2.0))

    class NoInverse(nn.Module):
        def forward(self, x: bp.Tensor) -> bp.Tensor:
            return x

    k = _linear(2, 2)
    P.register_parametrization(k, "weight", NoInverse())
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        k.weight = bp.zeros(2, 2, dtype=bp.float64)


def test_chained_parametrizations_apply_in_order_and_invert_in_reverse() -> None:
    m = _linear(3, 3)
    w = _np(m.weight).copy()
    P.register_parametrization(m, "weight", Scale(2.0))
    P.register_parametrization(m, "weight", Symmetric())
    np.testing.assert_allclose(_np(m.parametrizations.weight.original), w / 2)
    expect = np.triu(w) + np.triu(w, 1).T  # Symmetric(Scale(w / 2))
    np.testing.assert_allclose(_np(m.weight), expect)
    assert len(m.parametrizations.weight) == 2
    a = np.ones((3, 3)) * 4.0
    m.weight = bp.tensor(a)
    np.testing.assert_allclose(_np(m.parametrizations.weight.original), np.triu(a) / 2)
    np.testing.assert_allclose(_np(m.weight), a)


def test_sequence_right_inverse_registers_original0_original1() -> None:
    m = _linear(3, 4)
    P.register_parametrization(m, "weight", RankOne())
    pl = m.parametrizations.weight
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert isinstance(pl.original0, nn.Parameter) and isinstance(pl.original1, nn.Parameter)
    assert np.linalg.matrix_rank(_np(m.weight)) == 1
    with pytest.raises(ValueError, match="sequence of tensors"):
        P.remove_parametrizations(m, "weight", leave_parametrized=False)
    w = _np(m.weight)
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(_np(m.weight), w)


def test_remove_parametrizations_leave_or_restore() -> None:
    m = _linear(3, 3)
    w = _np(m.weight).copy()
    P.register_parametrization(m, "weight", Scale(3.0))
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    assert type(m) is nn.Linear and not hasattr(m, "parametrizations")
    np.testing.assert_allclose(_np(m.weight), w / 3)
    assert list(m.state_dict()) == ["weight", "bias"] or list(m.state_dict()) == ["bias", "weight"]
    P.register_parametrization(m, "weight", Scale(3.0))
    P.register_parametrization(m, "bias", Scale(2.0))
    P.remove_parametrizations(m, "weight")
    assert type(m).__name__ == "ParametrizedLinear"  # bias is still parametrized
    np.testing.assert_allclose(_np(m.weight), w / 3)
    P.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear
    with pytest.raises(ValueError, match="does not have a parametrization"):
        P.remove_parametrizations(m, "weight")


def test_registration_checks_shape_dtype_and_name() -> None:
    class Grow(nn.Module):
        def forward(self, x: bp.Tensor) -> bp.Tensor:
            return bp.cat([x, x], dim=0)

    m = _linear(2, 2)
    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(m, "weight", Grow())
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    P.register_parametrization(m, "weight", Grow(), unsafe=True)
    assert tuple(m.weight.shape) == (4, 2)
    with pytest.raises(ValueError, match="does not have a parameter"):
        P.register_parametrization(_linear(2, 2), "nope", Scale(1.0))


def test_buffer_parametrization_stays_a_buffer() -> None:
    m = nn.Module()
    m.register_buffer("b", bp.arange(4.0))
    P.register_parametrization(m, "b", Scale(2.0))
    assert list(m.state_dict()) == ["parametrizations.b.original"]
    assert list(m.parameters()) == []
    np.testing.assert_allclose(_np(m.b), np.arange(4.0))
    np.testing.assert_allclose(_np(m.parametrizations.b.original), np.arange(4.0) / 2)


def test_cached_computes_once_per_block() -> None:
    m = _linear(3, 3)
    p = Scale(2.0)
    P.register_parametrization(m, "weight", p)
    p.calls = 0
    m.weight, m.weight  # noqa: B018
    assert p.calls == 2
    with P.cached():
        a, b = m.weight, m.weight
        with P.cached():
            assert m.weight is a
    assert a is b and p.calls == 3
    m.weight  # noqa: B018
    assert p.calls == 4


def test_deepcopy_keeps_class_and_pickle_is_refused() -> None:
    m = _linear(3, 3)
    P.register_parametrization(m, "weight", Symmetric())
    c = copy.deepcopy(m)
    assert type(c) is type(m)
    assert c.parametrizations.weight.original is not m.parametrizations.weight.original
    np.testing.assert_allclose(_np(c.weight), _np(m.weight))
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m)


def test_state_dict_round_trip_and_training_mode() -> None:
    m, n = _linear(3, 3, seed=0), _linear(3, 3, seed=1)
    m.eval()
    s = Symmetric()
    P.register_parametrization(m, "weight", s)
    assert not s.training  # the parametrization takes the module's mode, as torch
    P.register_parametrization(n, "weight", Symmetric())
    n.load_state_dict(m.state_dict())
    np.testing.assert_allclose(_np(n.weight), _np(m.weight))


def test_transfer_parametrizations_and_params_shares_originals() -> None:
    a, b = _linear(3, 3, seed=0), _linear(3, 3, seed=1)
    P.register_parametrization(a, "weight", Symmetric())
    P.transfer_parametrizations_and_params(a, b)
    assert b.parametrizations.weight.original is a.parametrizations.weight.original
    np.testing.assert_allclose(_np(b.weight), _np(a.weight))


# ------------------------------------------------------------ parametrizations, closed forms
def _wn_ref(v: np.ndarray, g: np.ndarray, dim: int | None) -> np.ndarray:
    if dim is None or dim == -1:
        return v * g / np.linalg.norm(v)
    axes = tuple(d for d in range(v.ndim) if d != dim % v.ndim)
    return v * g / np.sqrt((v * v).sum(axis=axes, keepdims=True))


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_closed_form_and_gradcheck(dim: int | None) -> None:
    m = _linear(4, 3)
    w = _np(m.weight).copy()
    PZ.weight_norm(m, dim=dim)
    pl = m.parametrizations.weight
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    g, v = _np(pl.original0).copy(), _np(pl.original1).copy()
    np.testing.assert_allclose(v, w)
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-12)  # g * v / ||v|| = w initially
    expect_g_shape = {0: (3, 1), 1: (1, 4), None: ()}[dim]
    assert g.shape == expect_g_shape
    with bp.no_grad():
        pl.original0.mul_(1.5)
    np.testing.assert_allclose(_np(m.weight), _wn_ref(v, g * 1.5, dim), rtol=1e-12)
    param = PZ._WeightNorm(dim)
    gi = bp.tensor(g + 0.3, requires_grad=True)
    vi = bp.tensor(v, requires_grad=True)
    assert bp.gradcheck(lambda a, b: param(a, b), (gi, vi))


def test_spectral_norm_converges_to_unit_spectral_norm() -> None:
    m = _linear(6, 4)
    w = _np(m.weight).copy()
    PZ.spectral_norm(m, n_power_iterations=5)
    for _ in range(20):
        wn = _np(m.weight)
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(wn, w / sigma, rtol=1e-8)
    assert list(m.state_dict()) == [
        "bias",
        "parametrizations.weight.original",
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    ]
    m.eval()
    u = _np(m.parametrizations.weight[0]._u).copy()
    m.weight  # noqa: B018
    np.testing.assert_array_equal(_np(m.parametrizations.weight[0]._u), u)  # no power iteration in eval
    with pytest.raises(ValueError, match="n_power_iterations"):
        PZ.spectral_norm(_linear(2, 2), n_power_iterations=0)
    k = _linear(3, 4)
    b = _np(k.bias).copy()
    PZ.spectral_norm(k, "bias")  # a vector is just normalized (no u/v buffers), as torch
    assert list(k.state_dict()) == ["weight", "parametrizations.bias.original"]
    np.testing.assert_allclose(_np(k.bias), b / np.linalg.norm(b), rtol=1e-12)


@pytest.mark.parametrize("orthogonal_map", [None, "matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("use_trivialization", [True, False])
def test_orthogonal_is_orthogonal(orthogonal_map: str | None, shape: tuple, use_trivialization: bool) -> None:
    m = _linear(shape[1], shape[0])
    PZ.orthogonal(m, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    q = _np(m.weight)
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    m(bp.ones(2, shape[1], dtype=bp.float64)).sum().backward()
    assert m.parametrizations.weight.original.grad is not None
    with pytest.raises(ValueError, match="orthogonal_map"):
        PZ.orthogonal(_linear(2, 2), orthogonal_map="qr")


def test_orthogonal_keeps_an_orthogonal_weight_and_can_be_assigned() -> None:
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))
    m = _linear(4, 4)
    with bp.no_grad():
        m.weight.copy_(bp.tensor(q))
    PZ.orthogonal(m)
    np.testing.assert_allclose(_np(m.weight), q, atol=1e-12)
    q2, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 4)))
    m.weight = bp.tensor(q2)
    np.testing.assert_allclose(_np(m.weight), q2, atol=1e-12)
    n = _linear(4, 4)
    PZ.orthogonal(n, orthogonal_map="cayley", use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        n.weight = bp.tensor(q2)


def test_householder_product_matches_numpy_qr() -> None:
    a = np.random.default_rng(0).standard_normal((5, 3))
    h, tau = np.linalg.qr(a, mode="raw")
    q_np, _ = np.linalg.qr(a)
    q = PZ._householder_product(bp.tensor(h.T.copy()), bp.tensor(tau))
    np.testing.assert_allclose(_np(q), q_np, atol=1e-12)


def test_compiled_training_step_replays_bitwise_eager() -> None:
    """bp.compile replays a step through all three parametrizations (spectral norm's in-place power
    iteration included) with the eager step's losses, parameters and u buffer, bit for bit."""
    import backprop.nn.functional as F

    rng = np.random.default_rng(0)
    batches = [
        (bp.tensor(rng.standard_normal((4, 6)).astype(np.float32)), bp.tensor(rng.integers(0, 3, 4))) for _ in range(12)
    ]
    results = []
    for compiled in (False, True):
        bp.manual_seed(0)
        m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
        PZ.spectral_norm(m[0])
        PZ.weight_norm(m[2])
        PZ.orthogonal(m[4])
        opt = bp.optim.Adam(m.parameters(), lr=0.01)

        def step(x: bp.Tensor, y: bp.Tensor, m: Any = m, opt: Any = opt) -> bp.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = bp.compile(step) if compiled else step
        losses = [fn(x, y).item() for x, y in batches]
        if compiled:
            assert fn.replays == len(batches) - 2
        results.append((losses, [_np(p).copy() for p in m.parameters()], _np(m[0].parametrizations.weight[0]._u)))
    (le, pe, ue), (lc, pc, uc) = results
    assert le == lc
    assert all(np.array_equal(a, b) for a, b in zip(pe, pc)) and np.array_equal(ue, uc)


# ------------------------------------------------------------ pre-hook forms, closed forms
def test_old_weight_norm_hook_keys_and_remove() -> None:
    m = _linear(4, 3)
    w = _np(m.weight).copy()
    with pytest.warns(FutureWarning, match="deprecated"):
        nn.utils.weight_norm(m)
    assert list(m.state_dict()) == ["bias", "weight_g", "weight_v"]
    np.testing.assert_allclose(_np(m.weight_g), np.linalg.norm(w, axis=1, keepdims=True))
    with bp.no_grad():
        m.weight_g.mul_(2.0)
    m(bp.ones(1, 4, dtype=bp.float64))
    np.testing.assert_allclose(_np(m.weight), 2 * w, rtol=1e-12)  # the pre-hook recomputed it
    with pytest.raises(RuntimeError, match="two weight_norm hooks"), pytest.warns(FutureWarning):
        nn.utils.weight_norm(m)
    nn.utils.remove_weight_norm(m)
    assert list(m.state_dict()) == ["bias", "weight"] and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(_np(m.weight), 2 * w, rtol=1e-12)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        nn.utils.remove_weight_norm(m)


def test_old_spectral_norm_hook_keys_and_remove() -> None:
    m = _linear(5, 3)
    w = _np(m.weight).copy()
    nn.utils.spectral_norm(m, n_power_iterations=30)
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    m(bp.ones(1, 5, dtype=bp.float64))
    np.testing.assert_allclose(_np(m.weight), w / np.linalg.svd(w, compute_uv=False)[0], rtol=1e-8)
    nn.utils.remove_spectral_norm(m)
    assert list(m.state_dict()) == ["bias", "weight"] and isinstance(m.weight, nn.Parameter)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        nn.utils.remove_spectral_norm(m)


# ------------------------------------------------------------ against torch
def _pair(torch: Any, n_in: int, n_out: int, seed: int = 0) -> tuple[Any, nn.Linear]:
    m = _linear(n_in, n_out, seed)
    tm = torch.nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(_np(m.weight)))
        tm.bias.copy_(torch.tensor(_np(m.bias)))
    return tm, m


def _close(a: Any, b: Any, tol: float = 1e-10) -> None:
    a = _np(a) if hasattr(a, "detach") else a
    b = _np(b) if hasattr(b, "detach") else b
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _train_both(torch: Any, tm: Any, m: Any, steps: int = 3, n_in: int = 3, opt: str = "Adam") -> None:
    """A few optimizer steps through the parametrization in both libraries; parameters stay equal."""
    rng = np.random.default_rng(5)
    topt = getattr(torch.optim, opt)(tm.parameters(), lr=0.05)
    bopt = getattr(bp.optim, opt)(m.parameters(), lr=0.05)
    for _ in range(steps):
        x = rng.standard_normal((4, n_in))
        topt.zero_grad()
        bopt.zero_grad()
        (tm(torch.tensor(x)) ** 2).sum().backward()
        (m(bp.tensor(x)) ** 2).sum().backward()
        topt.step()
        bopt.step()
    tsd, bsd = tm.state_dict(), m.state_dict()
    assert list(tsd) == list(bsd)
    for k in tsd:
        _close(tsd[k], bsd[k], 1e-9)


@pytest.mark.parametrize("dim", [0, 1, -1, None])
def test_weight_norm_matches_torch(torch: Any, dim: int | None) -> None:
    tm, m = _pair(torch, 3, 4)
    torch.nn.utils.parametrizations.weight_norm(tm, dim=dim)
    PZ.weight_norm(m, dim=dim)
    assert list(tm.state_dict()) == list(m.state_dict())
    for k in ("original0", "original1"):
        _close(getattr(tm.parametrizations.weight, k), getattr(m.parametrizations.weight, k))
    x = np.random.default_rng(1).standard_normal((5, 3))
    y, t = m(bp.tensor(x)), tm(torch.tensor(x))
    _close(t, y)
    (t**3).sum().backward()
    (y**3).sum().backward()
    for k in ("original0", "original1"):
        _close(getattr(tm.parametrizations.weight, k).grad, getattr(m.parametrizations.weight, k).grad)
    _train_both(torch, tm, m)


def test_spectral_norm_matches_torch(torch: Any) -> None:
    tm, m = _pair(torch, 5, 4)
    torch.nn.utils.parametrizations.spectral_norm(tm, n_power_iterations=2)
    PZ.spectral_norm(m, n_power_iterations=2)
    tsn, bsn = tm.parametrizations.weight[0], m.parametrizations.weight[0]
    with bp.no_grad():  # u and v start random: take torch's
        bsn._u.copy_(bp.tensor(_np(tsn._u)))
        bsn._v.copy_(bp.tensor(_np(tsn._v)))
    assert list(tm.state_dict()) == list(m.state_dict())
    x = np.random.default_rng(1).standard_normal((3, 5))
    for _ in range(3):
        y, t = m(bp.tensor(x)), tm(torch.tensor(x))
        _close(t, y)
        _close(tsn._u, bsn._u)
    (t**2).sum().backward()
    (y**2).sum().backward()
    _close(tm.parametrizations.weight.original.grad, m.parametrizations.weight.original.grad)
    tm.eval()
    m.eval()
    _close(tm.weight, m.weight)
    tm.train()
    m.train()
    _train_both(torch, tm, m, n_in=5, opt="SGD")


def test_spectral_norm_conv_weight_dims_match_torch(torch: Any) -> None:
    w = np.random.default_rng(2).standard_normal((4, 3, 2, 2))
    for dim in (0, 1, -1):
        tm = torch.nn.Module()
        tm.weight = torch.nn.Parameter(torch.tensor(w))
        m = nn.Module()
        m.weight = nn.Parameter(bp.tensor(w))
        torch.nn.utils.parametrizations.spectral_norm(tm, dim=dim)
        PZ.spectral_norm(m, dim=dim)
        tsn, bsn = tm.parametrizations.weight[0], m.parametrizations.weight[0]
        assert tuple(bsn._u.shape) == tuple(tsn._u.shape) and tuple(bsn._v.shape) == tuple(tsn._v.shape)
        with bp.no_grad():
            bsn._u.copy_(bp.tensor(_np(tsn._u)))
            bsn._v.copy_(bp.tensor(_np(tsn._v)))
        t, y = tm.weight, m.weight
        _close(t, y)
        (t * torch.tensor(w)).sum().backward()
        (y * bp.tensor(w)).sum().backward()
        _close(tm.parametrizations.weight.original.grad, m.parametrizations.weight.original.grad)


def test_spectral_norm_transposed_conv_default_dim(torch: Any) -> None:
    if not hasattr(nn, "ConvTranspose2d"):
        pytest.skip("nn.ConvTranspose2d not available")
    m = PZ.spectral_norm(nn.ConvTranspose2d(3, 5, 2))
    assert m.parametrizations.weight[0].dim == 1
    tm = torch.nn.utils.parametrizations.spectral_norm(torch.nn.ConvTranspose2d(3, 5, 2))
    assert tuple(m.parametrizations.weight[0]._u.shape) == tuple(tm.parametrizations.weight[0]._u.shape)


@pytest.mark.parametrize("orthogonal_map", [None, "matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("use_trivialization", [True, False])
def test_orthogonal_matches_torch(
    torch: Any, orthogonal_map: str | None, shape: tuple, use_trivialization: bool
) -> None:
    tm, m = _pair(torch, shape[1], shape[0])
    torch.nn.utils.parametrizations.orthogonal(tm, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    PZ.orthogonal(m, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    if use_trivialization:  # a non-square base is completed with random columns: take torch's
        with bp.no_grad():
            m.parametrizations.weight[0].base.copy_(bp.tensor(_np(tm.parametrizations.weight[0].base)))
    assert list(tm.state_dict()) == list(m.state_dict())
    _close(tm.parametrizations.weight.original, m.parametrizations.weight.original)
    x = np.random.default_rng(1).standard_normal((2, shape[1]))
    y, t = m(bp.tensor(x)), tm(torch.tensor(x))
    _close(t, y)
    (t**3).sum().backward()
    (y**3).sum().backward()
    _close(tm.parametrizations.weight.original.grad, m.parametrizations.weight.original.grad, 1e-9)
    _train_both(torch, tm, m, n_in=shape[1])


def test_custom_parametrization_matches_torch(torch: Any) -> None:
    class TSymmetric(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x.triu() + x.triu(1).mT

        def right_inverse(self, a: Any) -> Any:
            return a.triu()

    tm, m = _pair(torch, 3, 3)
    torch.nn.utils.parametrize.register_parametrization(tm, "weight", TSymmetric())
    P.register_parametrization(m, "weight", Symmetric())
    assert type(tm).__name__ == type(m).__name__
    _close(tm.weight, m.weight)
    _train_both(torch, tm, m, opt="SGD")
    a = np.random.default_rng(3).standard_normal((3, 3))
    tm.weight = torch.tensor(a + a.T)
    m.weight = bp.tensor(a + a.T)
    _close(tm.parametrizations.weight.original, m.parametrizations.weight.original)
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight", leave_parametrized=False)
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    assert list(tm.state_dict()) == list(m.state_dict())
    _close(tm.weight, m.weight)


def test_old_weight_norm_matches_torch(torch: Any) -> None:
    for dim in (0, 1, None):
        tm, m = _pair(torch, 3, 4)
        with pytest.warns(FutureWarning):
            torch.nn.utils.weight_norm(tm, dim=dim)
        with pytest.warns(FutureWarning):
            nn.utils.weight_norm(m, dim=dim)
        assert list(tm.state_dict()) == list(m.state_dict())
        _close(tm.weight_g, m.weight_g)
        _close(tm.weight, m.weight)
        _train_both(torch, tm, m)
        tg = tm.weight_g.grad
        _close(tg, m.weight_g.grad)
        _close(tm.weight_v.grad, m.weight_v.grad)
        torch.nn.utils.remove_weight_norm(tm)
        nn.utils.remove_weight_norm(m)
        _close(tm.weight, m.weight, 1e-9)


def test_old_spectral_norm_matches_torch(torch: Any) -> None:
    tm, m = _pair(torch, 5, 3)
    torch.nn.utils.spectral_norm(tm)
    nn.utils.spectral_norm(m)
    with bp.no_grad():
        m.weight_u.copy_(bp.tensor(_np(tm.weight_u)))
        m.weight_v.copy_(bp.tensor(_np(tm.weight_v)))
    assert list(tm.state_dict()) == list(m.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 5))
    for _ in range(3):
        y, t = m(bp.tensor(x)), tm(torch.tensor(x))
        _close(t, y)
    _close(tm.weight_u, m.weight_u)
    (t**2).sum().backward()
    (y**2).sum().backward()
    _close(tm.weight_orig.grad, m.weight_orig.grad)
    _train_both(torch, tm, m, n_in=5, opt="SGD")
    torch.nn.utils.remove_spectral_norm(tm)
    nn.utils.remove_spectral_norm(m)
    assert list(tm.state_dict()) == list(m.state_dict())
    _close(tm.weight, m.weight, 1e-9)
