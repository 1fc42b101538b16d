"""Probabilistic programs against torch.distributions where they had drifted: the structured transforms'
shape arithmetic (StickBreaking/CorrCholesky/Reshape ``forward_shape``/``inverse_shape``), the scaled Bessel
functions behind VonMises at sharp concentrations, the divisor's gradient of a collapsing Normal scale,
scoring an empty MultivariateNormal draw, and ``special.entr`` at 0; each test fails before its fix."""

from __future__ import annotations

import math

import pytest

import backprop as bp
import backprop.distributions as D

torch = pytest.importorskip("torch", reason="torch not installed: these tests compare with torch.distributions")
TD = torch.distributions


def _same_shape(ours, theirs):
    assert tuple(ours) == tuple(theirs)
    assert isinstance(ours, bp.Size) == isinstance(theirs, torch.Size)  # tuple in, tuple out, as torch


@pytest.mark.parametrize(
    ("name", "method", "shape"),
    [
        ("StickBreakingTransform", "forward_shape", (3,)),
        ("StickBreakingTransform", "forward_shape", (2, 3)),
        ("StickBreakingTransform", "inverse_shape", (4,)),
        ("CorrCholeskyTransform", "forward_shape", (3,)),
        ("CorrCholeskyTransform", "forward_shape", (5, 6)),
        ("CorrCholeskyTransform", "inverse_shape", (2, 3, 3)),
    ],
)
def test_structured_shapes_keep_the_callers_type(name, method, shape):
    ours, theirs = getattr(D.transforms, name)(), getattr(TD.transforms, name)()
    _same_shape(getattr(ours, method)(shape), getattr(theirs, method)(shape))
    _same_shape(getattr(ours, method)(bp.Size(shape)), getattr(theirs, method)(torch.Size(shape)))


def test_compose_of_stick_breaking_shapes_as_torch():
    ours = D.transforms.ComposeTransform([D.transforms.ExpTransform(), D.transforms.StickBreakingTransform()])
    theirs = TD.transforms.ComposeTransform([TD.transforms.ExpTransform(), TD.transforms.StickBreakingTransform()])
    _same_shape(ours.forward_shape((7, 3)), theirs.forward_shape((7, 3)))
    _same_shape(ours.inv.forward_shape((7, 4)), theirs.inv.forward_shape((7, 4)))


def _message(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value).replace("torch.Size", "Size")  # bp.Size prints as Size([...]) (README)


@pytest.mark.parametrize(
    ("method", "shape"), [("forward_shape", (5, 3)), ("inverse_shape", (5, 3)), ("forward_shape", (4, 2, 7))]
)
@pytest.mark.parametrize("as_size", [False, True])
def test_reshape_mismatch_message_as_torch(method, shape, as_size):
    ours, theirs = D.transforms.ReshapeTransform((2,), (2, 1)), TD.transforms.ReshapeTransform((2,), (2, 1))
    s_ours, s_theirs = (bp.Size(shape), torch.Size(shape)) if as_size else (shape, shape)
    expected = _message(lambda: getattr(theirs, method)(s_theirs))
    assert _message(lambda: getattr(ours, method)(s_ours)) == expected
    assert "Size([2" in expected  # the transform's own shape prints as a Size


def test_transformed_distribution_with_reshape_mismatch_as_torch():
    def build(M):
        reshape = M.distributions.transforms.ReshapeTransform((2,), (2, 1))
        return M.distributions.TransformedDistribution(M.distributions.Normal(M.zeros(3), 1.0), [reshape])

    assert _message(lambda: build(bp)) == _message(lambda: build(torch))


# --- exponentially scaled Bessel functions: VonMises with a sharp concentration -------------------------------

_BESSEL_X = [-1000.0, -3.0, 0.0, 0.5, 50.0, 90.0, 100.0, 500.0, 1000.0, float("inf"), float("-inf")]


@pytest.mark.parametrize("name", ["i0e", "i1e"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scaled_bessel_does_not_overflow(name, dtype):
    ours = getattr(bp.special, name)(bp.tensor(_BESSEL_X, dtype=getattr(bp, dtype)))
    theirs = getattr(torch.special, name)(torch.tensor(_BESSEL_X, dtype=getattr(torch, dtype)))
    assert not ours.isnan().any()  # was i0(x) * exp(-|x|): inf past |x| ~ 90 in float32, NaN at inf
    torch.testing.assert_close(torch.from_numpy(ours.numpy()), theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["i0e", "i1e"])
def test_scaled_bessel_gradients_as_torch(name):
    xs = [-3.0, 0.0, 0.5, 100.0, 800.0, -2000.0]  # i0(800) overflows float64
    ours = bp.tensor(xs, dtype=bp.float64, requires_grad=True)
    theirs = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    g_ours = bp.autograd.grad(getattr(bp.special, name)(ours).sum(), ours, create_graph=True)[0]
    g_theirs = torch.autograd.grad(getattr(torch.special, name)(theirs).sum(), theirs, create_graph=True)[0]
    torch.testing.assert_close(torch.from_numpy(g_ours.detach().numpy()), g_theirs.detach())
    h_ours = bp.autograd.grad(g_ours.sum(), ours)[0]
    h_theirs = torch.autograd.grad(g_theirs.sum(), theirs)[0]
    torch.testing.assert_close(torch.from_numpy(h_ours.numpy()), h_theirs)


def test_von_mises_with_a_sharp_concentration_as_torch():
    def run(M):
        kappa = M.tensor([1.0, 100.0, 500.0, 2000.0], requires_grad=True)
        d = M.distributions.VonMises(M.tensor(0.3), kappa)
        lp = d.log_prob(M.tensor([0.35, 0.31, 0.3, 0.29]))
        lp.sum().backward()
        return lp.detach(), kappa.grad, d.variance.detach()

    (lp, grad, var), (t_lp, t_grad, t_var) = run(bp), run(torch)
    for ours in (lp, grad, var):
        assert not ours.isnan().any() and not ours.isinf().any()  # were -inf / NaN from kappa ~ 90 on
    # k cos(x - loc) - log I0(k), two numbers near k = 2000: float32 keeps them to about 1.2e-4, as torch's
    torch.testing.assert_close(torch.from_numpy(lp.numpy()), t_lp, rtol=1e-5, atol=3e-4)
    torch.testing.assert_close(torch.from_numpy(grad.numpy()), t_grad, rtol=1e-4, atol=1e-7)
    # 1 - I1/I0 through log I1 - log I0 ~ k cancels in float32 (torch's too): within its rounding of k
    torch.testing.assert_close(torch.from_numpy(var.numpy()), t_var, rtol=0, atol=5e-5)


def test_spherical_bessel_j0_at_infinity():
    x = [float("inf"), float("-inf"), 0.0, 2.0]
    ours = bp.special.spherical_bessel_j0(bp.tensor(x))
    torch.testing.assert_close(torch.from_numpy(ours.numpy()), torch.special.spherical_bessel_j0(torch.tensor(x)))


# --- the divisor's gradient in torch's order: a collapsing Normal's scale gradient ----------------------------


def test_normal_log_prob_gradient_at_a_collapsed_scale():
    def run(M):
        scale = M.tensor([1e-20, 1e-3, 1e20], requires_grad=True)
        M.distributions.Normal(0.0, scale).log_prob(M.tensor([0.0, 1e-3, 1.0])).sum().backward()
        return scale.grad

    ours, theirs = run(bp), run(torch)
    assert not ours.isnan().any()  # was NaN: -gy * x / (y * y) with y * y underflowing to 0 at x == 0
    torch.testing.assert_close(torch.from_numpy(ours.numpy()), theirs)


def test_division_gradient_bits_as_torch():
    xs, ys = [0.0, 1.0, 3.0, 1e-30, 1e30, 2.0], [1e-25, 1e-25, 7.0, 1e-30, 1e30, 1e-30]
    x, y = bp.tensor(xs, requires_grad=True), bp.tensor(ys, requires_grad=True)
    tx, ty = torch.tensor(xs, requires_grad=True), torch.tensor(ys, requires_grad=True)
    (x / y).sum().backward()
    (tx / ty).sum().backward()
    assert y.grad.tolist() == ty.grad.tolist()  # -g * ((x / y) / y): 0 (not NaN) at x == 0, -inf past overflow
    assert x.grad.tolist() == tx.grad.tolist()


# --- scoring an empty MultivariateNormal draw: torch's reshape error -----------------------------------------


def _error(fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value)


def test_log_prob_of_an_empty_multivariate_normal_draw_errors_as_torch():
    def score(M):
        d = M.distributions.MultivariateNormal(M.zeros(2), M.eye(2))
        draw = d.sample((0,))
        assert tuple(draw.shape) == (0, 2)
        return d.log_prob(draw)

    assert _error(lambda: score(bp)) == _error(lambda: score(torch))


@pytest.mark.parametrize("shape", [(0, -1), (-1, 0), (0, 3, -1)])
def test_reshape_of_nothing_with_an_inferred_dim_beside_a_zero_as_torch(shape):
    assert _error(lambda: bp.zeros(0).reshape(shape)) == _error(lambda: torch.zeros(0).reshape(shape))


def test_entr_at_zero_is_positive_zero_as_torch():
    # an entropy term -p log p with p == 0 prints tensor([0.]) in torch, not tensor([-0.])
    for dtype in ("float32", "float64"):
        ours = bp.special.entr(bp.tensor([0.0, 1.0, 0.5], dtype=getattr(bp, dtype)))
        theirs = torch.special.entr(torch.tensor([0.0, 1.0, 0.5], dtype=getattr(torch, dtype)))
        assert repr(ours).split("]")[0] == repr(theirs).split("]")[0]
        assert [math.copysign(1.0, v) for v in ours.tolist()] == [math.copysign(1.0, v) for v in theirs.tolist()]
