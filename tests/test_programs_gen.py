"""Generative, probabilistic and scientific programs as a new user writes them (a VAE, a GAN step, WGAN-GP,
flows, a mixture density network, a PINN, a Gaussian process, ...), run once with PyTorch and once with
``backprop`` standing in for ``torch`` (the module is passed in), from the same initial weights and the same
noise (made with NumPy): outputs, losses and gradients agree. Then focused regressions for the gaps these
programs found (each checked against torch or a closed form).
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")


def _np(x):
    """Tensors (nested in lists, tuples and dicts) as NumPy arrays; Sizes as tuples; dtypes by name."""
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not type(x).__name__ == "Size":
        return [_np(v) for v in x]
    if type(x).__name__ == "Size":
        return tuple(x)
    if hasattr(x, "detach"):
        return np.asarray(x.detach().numpy())
    if "dtype" in type(x).__name__:
        return str(x).removeprefix("torch.")
    return x


def _close(ours, theirs, rtol: float, path: str = "out") -> None:
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), path
        for k in theirs:
            _close(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), path
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), path
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=rtol), path
    else:
        assert ours == theirs, path


def same_as_torch(program, rtol: float) -> None:
    """``program(lib)`` run with backprop and with torch gives the same results (to ``rtol``)."""
    _close(_np(program(bp)), _np(program(torch)), rtol)


def raises_as_torch(call) -> None:
    """``call(lib)`` raises with torch and with backprop: an instance of torch's class, with torch's message."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(theirs.type) as ours:
        call(bp)
    assert str(ours.value) == str(theirs.value)


def _state(module) -> dict:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _load(lib, module, state: dict):
    module.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return module


# ====================================================================== regressions for the gaps found


# ---------------------------------------------------------------- trapezoid / cumulative_trapezoid


TRAP_Y = np.random.default_rng(0).standard_normal((6, 4))
TRAP_T = np.sort(np.random.default_rng(1).random(6))


@pytest.mark.parametrize("name", ["trapezoid", "cumulative_trapezoid"])
def test_trapezoid_sample_points_along_dim(name):
    """A 1-D ``x`` holds the sample points along ``dim`` (not only the last dim), and the gradient flows."""

    def program(lib):
        y = lib.tensor(TRAP_Y, requires_grad=True)
        t = lib.tensor(TRAP_T)
        f = getattr(lib, name)
        outs = [f(y, t, dim=0), f(y, t[:4]), f(y, t[:4], dim=-1), f(y, t[:, None] * lib.ones(4, dtype=t.dtype), dim=0)]
        outs.append(f(y, lib.tensor([[0.0], [2.0]], dtype=t.dtype).expand(2, 4).contiguous()[:, :1], dim=0)[..., :1])
        (g,) = lib.autograd.grad(sum(o.sum() for o in outs), y)
        return outs + [g]

    same_as_torch(program, 1e-12)


def test_trapezoid_dx_and_edge_cases_as_torch():
    def program(lib):
        y = lib.tensor([[1.0, 2.0, 4.0], [0.0, 1.0, 3.0]])
        yi = lib.arange(6).reshape(2, 3)
        return [
            lib.trapezoid(y, dx=2),
            lib.trapezoid(yi),
            lib.trapezoid(yi, dx=0.5),
            lib.cumulative_trapezoid(yi),
            lib.cumulative_trapezoid(y, dx=0.5, dim=0),
            lib.trapezoid(lib.ones(2, 0), dx=3),
            lib.trapezoid(lib.ones(2, 0), lib.arange(0.0)),
            lib.cumulative_trapezoid(lib.ones(2, 0)),
            lib.cumulative_trapezoid(lib.ones(2, 0), lib.arange(0.0)),
            lib.trapz(y, lib.tensor([0.0, 1.0, 3.0])),
        ]

    same_as_torch(program, 1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.trapezoid(lib.ones(3, 4), lib.arange(3.0)),
        lambda lib: lib.cumulative_trapezoid(lib.ones(3, 4), lib.arange(3.0)),
        lambda lib: lib.trapezoid(lib.ones(3, 4), dx=True),
        lambda lib: lib.cumulative_trapezoid(lib.ones(3, 4), dx=True),
        lambda lib: lib.trapezoid(lib.ones(3, 4).bool()),
        lambda lib: lib.cumulative_trapezoid(lib.ones(3), lib.tensor([True, False, True])),
        lambda lib: lib.trapezoid(lib.ones(3), lib.arange(3.0), dx=2),
        lambda lib: lib.trapezoid(lib.ones(3), 2.0),
    ],
)
def test_trapezoid_errors_as_torch(call):
    raises_as_torch(call)


# ---------------------------------------------------------------- expand: torch's errors (Distribution.expand too)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.zeros(2).expand(3, 3),
        lambda lib: lib.zeros(2).expand(-1, 3),
        lambda lib: lib.zeros(2).expand(-1, 2),
        lambda lib: lib.zeros(3, 2).expand_as(lib.zeros(4, 4)),
        lambda lib: lib.zeros(0).expand(2, 3),
        lambda lib: lib.distributions.Normal(lib.zeros(2), 1.0).expand((3, 3)),
        lambda lib: lib.distributions.Categorical(logits=lib.zeros(2, 3)).expand((4,)),
    ],
)
def test_expand_errors_as_torch(call):
    raises_as_torch(call)


def test_expand_still_broadcasts():
    same_as_torch(
        lambda lib: [
            lib.zeros(2, 1).expand(-1, 5).shape,
            lib.ones(1).expand(2, -1),
            lib.zeros(0).expand(2, 0).shape,
            lib.distributions.Normal(lib.zeros(1, 2), 1.0).expand((3, 2)).sample().shape,
        ],
        0,
    )


# ---------------------------------------------------------------- distributions.utils: the tril <-> vector helpers


@pytest.mark.parametrize("diag", [0, -1, 1, -2])
def test_tril_matrix_vec_roundtrip_as_torch(diag):
    def program(lib):
        u = lib.distributions.utils
        m = lib.arange(18.0, dtype=lib.float64).reshape(2, 3, 3).requires_grad_()
        v = u.tril_matrix_to_vec(m, diag)
        back = u.vec_to_tril_matrix(v, diag)
        (g,) = lib.autograd.grad((back * lib.arange(9.0, dtype=lib.float64).reshape(3, 3)).sum(), m)
        return [v, back, g]

    same_as_torch(program, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.distributions.utils.vec_to_tril_matrix(lib.ones(2, 5)),
        lambda lib: lib.distributions.utils.tril_matrix_to_vec(lib.ones(3, 3), 3),
        lambda lib: lib.distributions.utils.tril_matrix_to_vec(lib.ones(3, 3), -4),
    ],
)
def test_tril_matrix_vec_errors_as_torch(call):
    raises_as_torch(call)


def test_distribution_utils_private_helpers():
    """``_sum_rightmost`` and ``_standard_normal``, which distributions written outside torch import."""
    u = bp.distributions.utils
    x = bp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(u._sum_rightmost(x, 2).numpy(), x.numpy().reshape(2, -1).sum(1))
    assert u._sum_rightmost(x, 0) is x
    z = u._standard_normal((2, 3), dtype=bp.float64, device="cpu")
    assert (tuple(z.shape), z.dtype) == ((2, 3), bp.float64)


# ---------------------------------------------------------------- special: log_ndtr, ndtri and entr in their tails


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_ndtr_lower_tail_as_torch(dtype):
    """log Phi(x) = log(ndtr(x)) underflowed to -inf below about -38 (float64; gradient NaN); torch's is finite."""

    def program(lib):
        x = lib.tensor([-100.0, -40.0, -5.0, 0.0, 3.0, 40.0], dtype=getattr(lib, dtype), requires_grad=True)
        y = lib.special.log_ndtr(x)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        return [y, g, gg]

    same_as_torch(program, 2e-6 if dtype == "float32" else 1e-12)
    assert bp.special.log_ndtr(bp.tensor([-100.0], dtype=bp.float64)).item() == pytest.approx(-5005.524208, rel=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ndtri_small_probabilities_as_torch(dtype):
    """sqrt(2) erfinv(2p - 1) gave -inf for p below the dtype's eps (2p - 1 rounds to -1); torch's is finite."""

    def program(lib):
        p = lib.tensor([0.0, 1e-30, 1e-10, 0.3, 1.0, -0.5, 1.5], dtype=getattr(lib, dtype), requires_grad=True)
        q = lib.special.ndtri(p)
        (g,) = lib.autograd.grad(q.sum(), p, create_graph=True)
        (gg,) = lib.autograd.grad(g[1:4].sum(), p)
        return [q, g[1:4], gg[1:4]]

    same_as_torch(program, 2e-5 if dtype == "float32" else 1e-12)  # (float32: exp(q^2 / 2) amplifies q's rounding)
    exact = -11.4640246884436157  # (mpmath, 80 digits)
    assert bp.special.ndtri(bp.tensor([1e-30], dtype=bp.float64)).item() == pytest.approx(exact, rel=1e-13)


def test_entr_gradient_at_zero_as_torch():
    """d(-x log x)/dx = -(1 + log x): +inf at 0 (xlogy's rule gave 0/0 = NaN), NaN below 0; second derivative -1/x."""

    def program(lib):
        x = lib.tensor([-1.0, 0.0, 1e-30, 0.5, 2.0], dtype=lib.float64, requires_grad=True)
        y = lib.special.entr(x)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g[1:].sum(), x)
        return [y, g, gg]

    same_as_torch(program, 1e-12)


# ---------------------------------------------------------------- sinc's derivative near 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sinc_gradient_near_zero(dtype):
    """The closed form (pi x cos(pi x) - sin(pi x)) / (pi x^2) is 0/0 = NaN once pi x^2 underflows (x = 1e-30 in
    float32) and cancels badly for small x; near 0 the derivative is its series -pi^2 x / 3 + pi^4 x^3 / 30 - ..."""
    xs = np.array([1e-30, 1e-5, 1e-3, 0.02, 0.1, 0.3, 2.5, -0.05])
    x = bp.tensor(xs, dtype=getattr(bp, dtype), requires_grad=True)
    (g,) = bp.autograd.grad(bp.sinc(x).sum(), x, create_graph=True)
    (gg,) = bp.autograd.grad(g.sum(), x)
    px = np.pi * xs  # the reference: four terms of the series below |pi x| = 0.1, the closed form in float64 above
    series = -(np.pi**2) * xs / 3 * (1 - px**2 / 10 + px**4 / 280 - px**6 / 15120)
    exact = np.where(np.abs(px) < 0.1, series, (px * np.cos(px) - np.sin(px)) / (px * xs))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(g.detach().numpy(), exact, rtol=rtol, atol=0)
    assert np.isfinite(gg.numpy()).all()
    np.testing.assert_allclose(gg.numpy()[:3], -(np.pi**2) / 3, rtol=1e-5)
    # torch's values where its closed form is accurate
    tx = torch.tensor(xs[4:], dtype=getattr(torch, dtype), requires_grad=True)
    (tg,) = torch.autograd.grad(torch.sinc(tx).sum(), tx)
    np.testing.assert_allclose(g.detach().numpy()[4:], tg.numpy(), rtol=10 * rtol)
