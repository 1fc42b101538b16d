"""``bp.autograd.forward_ad``: dual tensors, exact JVPs (torch's forward AD where torch is installed,
closed forms and central differences otherwise), levels and errors."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop.autograd import forward_ad as fwAD

try:
    import warnings

    import torch
    import torch.autograd.forward_ad as t_fwad
    import torch.nn.functional as TF

    with warnings.catch_warnings():  # torch's forward AD loads its decompositions through torch.jit.script once
        warnings.simplefilter("ignore", DeprecationWarning)
        t_fwad._maybe_load_decompositions()
except ImportError:
    torch = None
    t_fwad = None
    TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(3)
X = RNG.standard_normal((4, 5))
T = RNG.standard_normal((4, 5))
W = RNG.standard_normal((3, 5))
TW = RNG.standard_normal((3, 5))

# (name, function of (library, functional module, x, w)) with x (4, 5) and w (3, 5)
FUNCTIONS = [
    ("elementwise", lambda L, F_, x, w: (x.sin() * x.exp() + x.tanh() / (1 + x * x)).sqrt()),
    ("pow_and_div", lambda L, F_, x, w: x.pow(3) / (x.abs() + 1)),
    ("matmul", lambda L, F_, x, w: x @ w.T),
    ("linear_relu", lambda L, F_, x, w: F_.relu(F_.linear(x, w))),
    ("sum_mean", lambda L, F_, x, w: x.sum(0) * x.mean(1, keepdim=True)),
    ("var_norm", lambda L, F_, x, w: x.var(1) + x.norm(dim=0).sum()),
    ("logsumexp_amax", lambda L, F_, x, w: x.logsumexp(1) + x.amax(0).sum()),
    ("softmax", lambda L, F_, x, w: L.softmax(x @ w.T, dim=-1)),
    ("log_softmax", lambda L, F_, x, w: F_.log_softmax(x, dim=0)),
    ("layer_norm_gelu", lambda L, F_, x, w: F_.gelu(F_.layer_norm(x, (5,)))),
    ("mse_loss", lambda L, F_, x, w: F_.mse_loss(x[:3], w)),
    ("shape_ops", lambda L, F_, x, w: L.cat([x.T.reshape(-1), w[1:].flatten()]).cumsum(0)),
    ("where_clamp", lambda L, F_, x, w: L.where(x > 0, x.clamp(max=0.5), x.sigmoid())),
]


def _bp_jvp(fn, tangent_w: bool):
    x, w = bp.tensor(X), bp.tensor(W)
    with fwAD.dual_level():
        dx = fwAD.make_dual(x, bp.tensor(T))
        dw = fwAD.make_dual(w, bp.tensor(TW)) if tangent_w else w
        primal, tangent = fwAD.unpack_dual(fn(bp, F, dx, dw))
    return primal.numpy(), tangent.numpy()


def _fd_jvp(fn, tangent_w: bool, eps: float = 1e-6):
    def at(s):
        x = bp.tensor(X + s * T)
        w = bp.tensor(W + s * TW) if tangent_w else bp.tensor(W)
        return fn(bp, F, x, w).numpy()

    return (at(eps) - at(-eps)) / (2 * eps)


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_jvp_matches_central_differences(name, fn) -> None:
    for tangent_w in (False, True):
        primal, tangent = _bp_jvp(fn, tangent_w)
        np.testing.assert_allclose(primal, fn(bp, F, bp.tensor(X), bp.tensor(W)).numpy())
        np.testing.assert_allclose(tangent, _fd_jvp(fn, tangent_w), rtol=1e-6, atol=1e-7)


@needs_torch
@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_jvp_matches_torch_forward_ad(name, fn) -> None:
    for tangent_w in (False, True):
        primal, tangent = _bp_jvp(fn, tangent_w)
        with t_fwad.dual_level():
            dx = t_fwad.make_dual(torch.tensor(X), torch.tensor(T))
            dw = t_fwad.make_dual(torch.tensor(W), torch.tensor(TW)) if tangent_w else torch.tensor(W)
            want = t_fwad.unpack_dual(fn(torch, TF, dx, dw))
        np.testing.assert_allclose(primal, want.primal.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tangent, want.tangent.numpy(), rtol=1e-10, atol=1e-12)


def test_closed_form_jvp() -> None:
    x, t = bp.tensor(X), bp.tensor(T)
    with fwAD.dual_level():
        y = (fwAD.make_dual(x, t).exp() * 2).sum(1)
        primal, tangent = fwAD.unpack_dual(y)
    np.testing.assert_allclose(tangent.numpy(), (2 * np.exp(X) * T).sum(1), rtol=1e-12)
    assert not primal.requires_grad and tangent.shape == (4,) and tangent.dtype == bp.float64


def _modules(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(
        lib.nn.Conv1d(2, 3, 3, padding=1),
        lib.nn.Tanh(),
        lib.nn.Flatten(),
        lib.nn.Linear(15, 6),
        lib.nn.LayerNorm(6),
        lib.nn.GELU(),
        lib.nn.Linear(6, 2),
    ).double()


@needs_torch
def test_jvp_through_nn_layers_matches_torch() -> None:
    ours, theirs = _modules(bp), _modules(torch)
    theirs.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    x, t = RNG.standard_normal((4, 2, 5)), RNG.standard_normal((4, 2, 5))
    with fwAD.dual_level():
        got = fwAD.unpack_dual(ours(fwAD.make_dual(bp.tensor(x), bp.tensor(t))))
    with t_fwad.dual_level():
        want = t_fwad.unpack_dual(theirs(t_fwad.make_dual(torch.tensor(x), torch.tensor(t))))
    np.testing.assert_allclose(got.tangent.detach().numpy(), want.tangent.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert got.primal.requires_grad == want.primal.requires_grad  # the parameters require grad
    assert got.tangent.requires_grad == want.tangent.requires_grad  # (and so does the tangent: it depends on them)
    np.testing.assert_allclose(got.primal.detach().numpy(), want.primal.detach().numpy(), rtol=1e-12)


def test_jvp_through_nn_layers_matches_central_differences() -> None:
    model = _modules(bp)
    x, t = RNG.standard_normal((4, 2, 5)), RNG.standard_normal((4, 2, 5))
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(model(fwAD.make_dual(bp.tensor(x), bp.tensor(t)))).tangent
    with bp.no_grad():
        eps = 1e-6
        fd = (model(bp.tensor(x + eps * t)) - model(bp.tensor(x - eps * t))).numpy() / (2 * eps)
    np.testing.assert_allclose(tangent.detach().numpy(), fd, rtol=1e-6, atol=1e-8)


def test_dual_of_a_tensor_that_requires_grad_keeps_reverse_mode() -> None:
    x = bp.tensor(X, requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, bp.tensor(T))
        assert d.grad_fn is not None
        y = (d * d).sum()
        primal, tangent = fwAD.unpack_dual(y)
        assert primal.requires_grad
        np.testing.assert_allclose(tangent.item(), (2 * X * T).sum(), rtol=1e-12)
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * X, rtol=1e-12)


def test_dual_itself_and_plain_tensors() -> None:
    x, t = bp.tensor(X), bp.tensor(T)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, t)
        own = fwAD.unpack_dual(d)
        assert isinstance(own, fwAD.UnpackedDualTensor)
        assert own.tangent is t and not own.primal.requires_grad
        np.testing.assert_array_equal(own.primal.numpy(), X)
        assert fwAD.unpack_dual(x).tangent is None  # the original is not dual
        assert fwAD.unpack_dual(d.argmax()).tangent is None  # integer results have none
        assert fwAD.unpack_dual(bp.tensor(W) * 2).tangent is None
        zero = fwAD.unpack_dual(d.floor() + bp.tensor(W[:1, :1])).tangent  # reached, derivative 0
        np.testing.assert_array_equal(zero.numpy(), np.zeros_like(X))
        y = d.exp()
    assert fwAD.unpack_dual(y).tangent is None  # the level is gone, and its tangents with it
    assert fwAD.unpack_dual(y).primal is y


def test_in_place_on_a_copy_of_a_dual() -> None:
    with fwAD.dual_level():
        d = fwAD.make_dual(bp.tensor(X), bp.tensor(T))
        c = d.clone()
        c.mul_(2)
        np.testing.assert_allclose(fwAD.unpack_dual(c).tangent.numpy(), 2 * T)


def test_enter_and_exit_levels() -> None:
    level = fwAD.enter_dual_level()
    assert level == 0
    with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
        fwAD.enter_dual_level()
    with pytest.raises(RuntimeError, match="not the last one"):
        fwAD.exit_dual_level(level=3)
    fwAD.exit_dual_level(level=level)
    with pytest.raises(RuntimeError, match="Dual level must be a positive number"):
        fwAD.exit_dual_level()

    @fwAD.dual_level()
    def jvp_of_square(x, t):
        return fwAD.unpack_dual(fwAD.make_dual(x, t) ** 2).tangent

    np.testing.assert_allclose(jvp_of_square(bp.tensor(X), bp.tensor(T)).numpy(), 2 * X * T)


def test_make_dual_errors() -> None:
    x, t = bp.tensor(X), bp.tensor(T)
    with pytest.raises(RuntimeError, match="no level exists"):
        fwAD.make_dual(x, t)
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match=r"size \[4, 5\] while the given forward gradient is of size \[5\]"):
            fwAD.make_dual(x, bp.tensor(X[0]))
        with pytest.raises(ValueError, match="primal to be floating point"):
            fwAD.make_dual(bp.arange(3), bp.tensor([1.0, 2.0, 3.0]))
        with pytest.raises(ValueError, match="tangent to be floating point"):
            fwAD.make_dual(bp.tensor([1.0, 2.0]), bp.tensor([1, 2]))
        d = fwAD.make_dual(x, t)
        with pytest.raises(RuntimeError, match="already has a forward gradient"):
            fwAD.make_dual(d * 2, t)
        with pytest.raises(TypeError, match="make_dual: tangent must be a Tensor"):
            fwAD.make_dual(x, T)


@needs_torch
def test_several_duals_and_partial_tangents_match_torch() -> None:
    def f(L, a, b, c):
        return (a @ b.T).tanh() * c.sum()

    c = RNG.standard_normal(2)
    tc = RNG.standard_normal(2)
    results = []
    for L, ad in ((bp, fwAD), (torch, t_fwad)):
        with ad.dual_level():
            a = ad.make_dual(L.tensor(X), L.tensor(T))
            b = L.tensor(W)
            cc = ad.make_dual(L.tensor(c), L.tensor(tc))
            results.append(ad.unpack_dual(f(L, a, b, cc)).tangent.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
