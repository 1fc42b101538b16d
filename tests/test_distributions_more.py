"""bp.distributions' Wishart, LKJCholesky, LogNormal-as-TransformedDistribution and the ExponentialFamily
fallbacks (Bregman entropy and same-family KL), against torch.distributions where torch is installed
(values and parameter gradients in float64) and against closed forms otherwise (densities integrating
to one, SciPy's Wishart density, sample moments; the random streams differ from torch's)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from scipy import special, stats

import backprop as bp
import backprop.distributions as D

try:
    import torch
except ImportError:  # the closed-form tests below still run
    torch = None  # type: ignore[assignment]
TD = None if torch is None else torch.distributions
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")

RNG = np.random.default_rng(7)


def SPD(*batch, n=3):  # symmetric positive definite
    a = RNG.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _b(a, grad=False):
    return bp.tensor(a, dtype=bp.float64, requires_grad=grad)


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _close(ours, theirs, what, rtol=1e-10, atol=1e-12):
    a = ours._data if isinstance(ours, bp.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if torch is not None and isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert tuple(a.shape) == tuple(b.shape), f"{what}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _check(out_b, out_t, params_b, params_t, what, rtol=1e-10, atol=1e-12):
    """Values, dtype and the gradient of sum(out * w) with respect to every parameter, as torch's."""
    _close(out_b, out_t, what, rtol, atol)
    assert str(out_b.dtype) == str(out_t.dtype).replace("torch.", ""), what
    finite = np.isfinite(out_t.detach().numpy())
    if not out_t.requires_grad or not finite.any():
        return
    w = np.where(finite, RNG.uniform(0.5, 1.5, finite.shape), 0.0)
    loss_t = (torch.where(torch.tensor(finite), out_t, 0) * torch.tensor(w)).sum()
    loss_b = (bp.where(bp.tensor(finite), out_b, 0.0) * bp.tensor(w)).sum()
    for i, (pb, pt) in enumerate(zip(params_b, params_t)):
        (gt,) = torch.autograd.grad(loss_t, [pt], allow_unused=True, retain_graph=True)
        (gb,) = bp.autograd.grad(loss_b, [pb], allow_unused=True, retain_graph=True)
        if gt is None:
            assert gb is None or np.all(gb._data == 0), f"{what}: grad of parameter {i} should be none or zero"
        else:
            _close(gb, gt, f"{what}: grad of parameter {i}", rtol=max(rtol, 1e-8), atol=max(atol, 1e-10))


# ---------------------------------------------------------------- Wishart


def _wishart_matrix(kind, m):
    """The parameter matrix of a Wishart for the covariance ``m``: as given, its inverse or its Cholesky factor."""
    if kind == "precision_matrix":
        return np.linalg.inv(m)
    if kind == "scale_tril":
        return np.linalg.cholesky(m)
    return m


WISHART_KINDS = ["covariance_matrix", "precision_matrix", "scale_tril"]
WISHART_METHODS = ["log_prob", "entropy", "mean", "mode", "variance", "covariance_matrix", "precision_matrix",
                   "scale_tril"]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("kind", WISHART_KINDS)
def test_wishart_against_torch(kind):
    df = np.array([3.5, 6.0])  # the first has no mode (df <= p + 1): NaN as torch's
    arrays = [df, _wishart_matrix(kind, SPD(2))]
    pb, pt = [_b(a, True) for a in arrays], [_t(a, True) for a in arrays]
    db, dt = D.Wishart(pb[0], **{kind: pb[1]}), TD.Wishart(pt[0], **{kind: pt[1]})
    assert db.batch_shape == tuple(dt.batch_shape) == (2,) and db.event_shape == tuple(dt.event_shape) == (3, 3)
    assert isinstance(db, D.ExponentialFamily) and db.has_rsample
    value = SPD(4, 2)
    for method in WISHART_METHODS:
        if method == "log_prob":
            out_b, out_t = db.log_prob(_b(value)), dt.log_prob(_t(value))
        elif method == "entropy":
            out_b, out_t = db.entropy(), dt.entropy()
        else:
            out_b, out_t = getattr(db, method), getattr(dt, method)
        _check(out_b, out_t, pb, pt, f"Wishart({kind}).{method}", rtol=1e-9, atol=1e-11)
    assert np.isnan(db.mode._data[0]).all() and np.isfinite(db.mode._data[1]).all()
    # the Bregman-divergence entropy of the exponential family agrees with the closed form
    _close(D.ExponentialFamily.entropy(db), dt.entropy(), "Wishart Bregman entropy", rtol=1e-10)
    expanded = db.expand((5, 2))
    assert expanded.batch_shape == (5, 2) and type(expanded) is D.Wishart
    x = expanded.sample()
    _close(expanded.log_prob(x), dt.expand((5, 2)).log_prob(_t(x._data)), "Wishart.expand.log_prob", rtol=1e-9)


@needs_torch
def test_wishart_scalar_df_and_broadcast_batch_against_torch():
    cov = SPD(n=2)
    for df in (2.5, np.array([2.2, 4.0, 9.0])):
        pb = _b(df) if isinstance(df, np.ndarray) else df
        pt = _t(df) if isinstance(df, np.ndarray) else df
        db, dt = D.Wishart(pb, covariance_matrix=_b(cov)), TD.Wishart(pt, covariance_matrix=_t(cov))
        assert db.batch_shape == tuple(dt.batch_shape) and str(db.df.dtype) == "float64"
        value = SPD(3, n=2)[:, None] if db.batch_shape else SPD(n=2)
        _close(db.log_prob(_b(value)), dt.log_prob(_t(value)), "Wishart.log_prob broadcast", rtol=1e-10)
        _close(db.entropy(), dt.entropy(), "Wishart.entropy broadcast", rtol=1e-10)


@needs_torch
def test_wishart_kl_against_torch():
    # unbatched, through the exponential-family Bregman fallback (torch has no closed form either)
    arrays = [np.array(4.2), SPD(), np.array(5.5), SPD()]
    pb, pt = [_b(a, True) for a in arrays], [_t(a, True) for a in arrays]
    kl_b = D.kl_divergence(D.Wishart(pb[0], pb[1]), D.Wishart(pb[2], pb[3]))
    kl_t = TD.kl_divergence(TD.Wishart(pt[0], pt[1]), TD.Wishart(pt[2], pt[3]))
    _check(kl_b, kl_t, pb, pt, "kl Wishart", rtol=1e-9)
    assert kl_b.item() > 0


def _wishart_kl(n_p, s_p, n_q, s_q):
    """KL(W(n_p, s_p) || W(n_q, s_q)) in closed form."""
    p = s_p.shape[-1]
    mvdigamma = sum(special.digamma(n_p / 2 - i / 2) for i in range(p))
    return (
        n_q / 2 * (np.linalg.slogdet(s_q)[1] - np.linalg.slogdet(s_p)[1])
        + n_p / 2 * (np.trace(np.linalg.solve(s_q, s_p)) - p)
        + special.multigammaln(n_q / 2, p)
        - special.multigammaln(n_p / 2, p)
        + (n_p - n_q) / 2 * mvdigamma
    )


def test_wishart_kl_closed_form_batched():
    # torch sums the df term over the batch here; ours is per batch element
    n_p, n_q, s_p, s_q = np.array([3.0, 7.5]), np.array([4.5, 5.0]), SPD(2), SPD(2)
    kl = D.kl_divergence(D.Wishart(_b(n_p), _b(s_p)), D.Wishart(_b(n_q), precision_matrix=_b(np.linalg.inv(s_q))))
    expected = [_wishart_kl(n_p[i], s_p[i], n_q[i], s_q[i]) for i in range(2)]
    _close(kl, np.array(expected), "kl Wishart batched", rtol=1e-9)
    same = D.kl_divergence(D.Wishart(_b(n_p), _b(s_p)), D.Wishart(_b(n_p), scale_tril=_b(np.linalg.cholesky(s_p))))
    _close(same, np.zeros(2), "kl Wishart to itself", atol=1e-10)


def test_wishart_log_prob_matches_scipy_and_entropy_is_minus_mean_log_prob():
    df, cov = 5.5, SPD()
    x = SPD(3)
    d = D.Wishart(_b(df), covariance_matrix=_b(cov))
    _close(d.log_prob(_b(x)), [stats.wishart(df, cov).logpdf(xi) for xi in x], "Wishart.log_prob vs scipy", 1e-10)
    _close(d.entropy(), stats.wishart(df, cov).entropy(), "Wishart.entropy vs scipy", rtol=1e-10)


def test_wishart_sample_moments_match_closed_forms():
    bp.manual_seed(0)
    df, cov = 6.0, np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
    d = D.Wishart(_b(df), covariance_matrix=_b(cov))
    s = d.sample((40000,))._data
    assert s.shape == (40000, 3, 3) and bool(d.support.check(_b(s)).all())
    np.testing.assert_allclose(s.mean(0), df * cov, atol=0.05 * df)  # E[W] = df Sigma
    var = df * (cov**2 + np.outer(np.diag(cov), np.diag(cov)))  # Var(W_ij) = df (S_ij^2 + S_ii S_jj)
    np.testing.assert_allclose(s.var(0), var, rtol=0.06)
    np.testing.assert_allclose(d.variance._data, var, rtol=1e-12)
    np.testing.assert_allclose(d.mean._data, df * cov, rtol=1e-12)


def test_wishart_rsample_is_differentiable():
    bp.manual_seed(1)
    df, scale_tril = _b(5.0, True), _b(np.linalg.cholesky(SPD(n=2)), True)
    w = D.Wishart(df, scale_tril=scale_tril).rsample((20000,))
    w.mean(0)[0, 0].backward()
    sigma = scale_tril._data @ scale_tril._data.T
    # d E[W_00] / d df = Sigma_00 (pathwise, so only approximately)
    assert df.grad.item() == pytest.approx(sigma[0, 0], rel=0.05)
    assert scale_tril.grad is not None and np.all(np.isfinite(scale_tril.grad._data))


def test_wishart_singular_samples_are_redrawn():
    d = D.Wishart(_b([4.0, 5.0]), covariance_matrix=_b(np.eye(2)))
    good, singular = _b(np.stack([np.eye(2), 2 * np.eye(2)])), _b(np.stack([np.eye(2), np.zeros((2, 2))]))
    draws = iter([singular, singular, good])
    d._bartlett_sampling = lambda shape: next(draws)  # the second batch element is singular twice
    with pytest.warns(UserWarning, match="Singular sample detected."):
        s = d.rsample()
    np.testing.assert_array_equal(s._data, [np.eye(2), 2 * np.eye(2)])  # only the singular one replaced
    draws = iter([singular] * 3)
    with pytest.warns(UserWarning, match="Singular sample detected."):
        s = d.rsample(max_try_correction=2)  # gives up: the singular draw is returned
    assert not bool(d.support.check(s)[1])


@needs_torch
@pytest.mark.parametrize(
    "make",
    [
        lambda M, t: M.Wishart(t(3.0), covariance_matrix=t([[1.0, 2.0], [2.0, 1.0]])),
        lambda M, t: M.Wishart(t(3.0), scale_tril=t([[1.0, 0.0], [0.5, -1.0]])),
        lambda M, t: M.Wishart(t(3.0), precision_matrix=t([[1.0, 0.0], [1.0, 1.0]])),
        lambda M, t: M.Wishart(t(1.0), covariance_matrix=t([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])),
        lambda M, t: M.Wishart(t([3.0, 0.5]), covariance_matrix=t([[1.0, 0.0], [0.0, 1.0]])),
        lambda M, t: M.Wishart(t(3.0), covariance_matrix=t([1.0, 2.0])),
        lambda M, t: M.LKJCholesky(3, t(-1.0)),
        lambda M, t: M.LKJCholesky(1, t(1.0)),
    ],
)
def test_invalid_parameters_raise_as_torch(make):
    with pytest.raises(ValueError) as theirs:
        make(TD, lambda v: torch.tensor(v, dtype=torch.float64))
    with pytest.raises(ValueError) as ours:
        make(D, lambda v: bp.tensor(v, dtype=bp.float64))
    head = str(theirs.value).split(" of distribution")[0].split("tensor(")[0]
    assert str(ours.value).startswith(head), (str(ours.value), head)


def test_wishart_errors_and_warnings():
    eye = _b(np.eye(2))
    with pytest.raises(AssertionError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.Wishart(_b(3.0))
    with pytest.raises(AssertionError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.Wishart(_b(3.0), covariance_matrix=eye, scale_tril=eye)
    with pytest.raises(ValueError, match=r"expected to be greater than ndim - 1 = 1"):
        D.Wishart(_b([2.0, 1.0]), covariance_matrix=eye)
    with pytest.raises(TypeError, match="Wishart: df must be a number or a Tensor"):
        D.Wishart("3", covariance_matrix=eye)
    with pytest.warns(UserWarning, match="Low df values detected"):
        D.Wishart(_b(1.5), covariance_matrix=eye)
    with pytest.raises(ValueError, match="to be within the support"):
        D.Wishart(_b(3.0), covariance_matrix=eye).log_prob(_b([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="The right-most size of value must match event_shape"):
        D.Wishart(_b(3.0), covariance_matrix=eye).log_prob(_b(np.eye(3)))


# ---------------------------------------------------------------- LKJCholesky


@needs_torch
@pytest.mark.parametrize("dim", [2, 4])
def test_lkj_cholesky_against_torch(dim):
    conc = np.array([0.5, 1.0, 3.0])
    pb, pt = [_b(conc, True)], [_t(conc, True)]
    db, dt = D.LKJCholesky(dim, pb[0]), TD.LKJCholesky(dim, pt[0])
    assert db.batch_shape == tuple(dt.batch_shape) and db.event_shape == tuple(dt.event_shape) == (dim, dim)
    assert db.has_rsample is dt.has_rsample is False
    value = db.sample((5,))
    assert tuple(value.shape) == tuple(dt.sample((5,)).shape) == (5, 3, dim, dim)
    assert bool(db.support.check(value).all()) and bool(dt.support.check(_t(value._data)).all())
    _check(db.log_prob(value), dt.log_prob(_t(value._data)), pb, pt, f"LKJCholesky({dim}).log_prob")
    expanded = db.expand((2, 3))
    assert expanded.batch_shape == (2, 3) and type(expanded) is D.LKJCholesky
    x = expanded.sample()
    _close(expanded.log_prob(x), dt.expand((2, 3)).log_prob(_t(x._data)), "LKJCholesky.expand.log_prob")
    scalar = D.LKJCholesky(dim)  # concentration 1 (uniform over correlation matrices), a float
    assert scalar.batch_shape == () and str(scalar.concentration.dtype) == str(bp.get_default_dtype())


@pytest.mark.parametrize("eta", [0.7, 1.0, 2.5])
def test_lkj_cholesky_2d_density_integrates_to_one(eta):
    # d = 2: L = [[1, 0], [r, sqrt(1 - r^2)]] and the density in r is (1 - r^2)^(eta - 1) / B(1/2, eta)
    r = np.linspace(-1 + 1e-9, 1 - 1e-9, 200001)
    value = np.zeros((r.size, 2, 2))
    value[:, 0, 0], value[:, 1, 0], value[:, 1, 1] = 1.0, r, np.sqrt(1 - r**2)
    lp = D.LKJCholesky(2, _b(eta)).log_prob(_b(value))._data
    expected = (eta - 1) * np.log1p(-(r**2)) - special.betaln(0.5, eta)
    np.testing.assert_allclose(lp, expected, rtol=1e-10, atol=1e-10)
    if eta >= 1:
        assert np.trapezoid(np.exp(lp), r) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("dim, eta", [(4, 2.0), (3, 1.0), (5, 0.5)])
def test_lkj_cholesky_sample_moments(dim, eta):
    # each off-diagonal correlation is 2 Beta(b, b) - 1 with b = eta - 1 + d / 2: mean 0, variance 1 / (2 eta + d - 1)
    # (torch's sampler gives a larger variance from the third row on: see LKJCholesky._onion_beta)
    bp.manual_seed(0)
    L = D.LKJCholesky(dim, _b(eta)).sample((20000,))._data  # noqa: N806
    corr = L @ np.swapaxes(L, -1, -2)
    np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0, atol=1e-12)
    off = corr[:, np.tril_indices(dim, -1)[0], np.tril_indices(dim, -1)[1]]
    np.testing.assert_allclose(off.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose(off.var(0), 1 / (2 * eta + dim - 1), rtol=0.05)


def test_lkj_cholesky_errors():
    with pytest.raises(ValueError, match="Expected dim to be an integer greater than or equal to 2. Found dim=1."):
        D.LKJCholesky(1)
    with pytest.raises(ValueError, match="to be within the support"):
        D.LKJCholesky(2, _b(1.0)).log_prob(_b([[1.0, 0.0], [0.5, 0.5]]))  # row 1 does not have unit norm
    with pytest.raises(ValueError, match="concentration"):
        D.LKJCholesky(3, _b([1.0, 0.0]))


# ---------------------------------------------------------------- LogNormal as a TransformedDistribution


def test_log_normal_is_a_transformed_normal():
    d = D.LogNormal(_b([0.2, -1.0]), _b([0.5, 2.0]))
    assert isinstance(d, D.TransformedDistribution) and isinstance(d.base_dist, D.Normal)
    assert len(d.transforms) == 1 and isinstance(d.transforms[0], D.ExpTransform)
    assert type(d.expand((3, 2))) is D.LogNormal and d.expand((3, 2)).batch_shape == (3, 2)
    x = _b([0.7, 3.0])
    np.testing.assert_allclose(
        d.log_prob(x)._data, stats.lognorm(s=[0.5, 2.0], scale=np.exp([0.2, -1.0])).logpdf(x._data)
    )
    np.testing.assert_allclose(d.icdf(d.cdf(x))._data, x._data, rtol=1e-12)
    assert D.log_normal.LogNormal is D.LogNormal
    # KL goes through the TransformedDistribution pair: that of the underlying Normals
    q = D.LogNormal(_b([0.0, 0.0]), _b([1.0, 1.0]))
    _close(D.kl_divergence(d, q), D.kl_divergence(d.base_dist, q.base_dist), "kl LogNormal")


@needs_torch
def test_log_normal_against_torch():
    arrays = [RNG.standard_normal(3), RNG.uniform(0.5, 2.0, 3)]
    pb, pt = [_b(a, True) for a in arrays], [_t(a, True) for a in arrays]
    db, dt = D.LogNormal(*pb), TD.LogNormal(*pt)
    assert repr(db) == repr(dt) and db.support is D.constraints.positive
    x, u = RNG.uniform(0.2, 3.0, 3), RNG.uniform(0.1, 0.9, 3)
    for what, out_b, out_t in [
        ("log_prob", db.log_prob(_b(x)), dt.log_prob(_t(x))),
        ("cdf", db.cdf(_b(x)), dt.cdf(_t(x))),
        ("icdf", db.icdf(_b(u)), dt.icdf(_t(u))),
        ("entropy", db.entropy(), dt.entropy()),
        ("mean", db.mean, dt.mean),
        ("mode", db.mode, dt.mode),
        ("variance", db.variance, dt.variance),
    ]:
        _check(out_b, out_t, pb, pt, f"LogNormal.{what}")
    q = [RNG.standard_normal(3), RNG.uniform(0.5, 2.0, 3)]
    _check(D.kl_divergence(db, D.LogNormal(*map(_b, q))), TD.kl_divergence(dt, TD.LogNormal(*map(_t, q))), pb, pt,
           "kl LogNormal")  # fmt: skip
    with pytest.raises(ValueError) as theirs:
        TD.LogNormal(_t([0.0]), _t([-1.0]))
    with pytest.raises(ValueError) as ours:
        D.LogNormal(_b([0.0]), _b([-1.0]))
    assert str(ours.value).split(" of distribution")[0] == str(theirs.value).split(" of distribution")[0]


# ---------------------------------------------------------------- ExponentialFamily


@needs_torch
def test_exponential_family_membership_matches_torch():
    compared = 0
    for name in dir(TD):
        theirs = getattr(TD, name)
        if not (inspect.isclass(theirs) and issubclass(theirs, TD.Distribution)):
            continue
        ours = getattr(D, name)
        assert issubclass(ours, D.ExponentialFamily) == issubclass(theirs, TD.ExponentialFamily), name
        compared += 1
    assert compared >= 40
    assert issubclass(D.LogNormal, D.TransformedDistribution)


class _Rate(D.ExponentialFamily):
    """Exponential(rate) through its natural parameter -rate only: t(x) = x, F(theta) = -log(-theta), k = 0."""

    arg_constraints = {"rate": D.constraints.positive}
    support = D.constraints.nonnegative
    _mean_carrier_measure = 0

    def __init__(self, rate, validate_args=None):
        self.rate = rate
        super().__init__(rate.shape, validate_args=validate_args)

    @property
    def _natural_params(self):
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -(-x).log()


class _OtherRate(_Rate):
    pass


def test_exponential_family_bregman_entropy_and_kl():
    rate_p, rate_q = _b([0.5, 2.0, 3.0]), _b([1.0, 1.0, 0.25])
    # H(Exponential(r)) = 1 - log r; KL(Exp(a) || Exp(b)) = log(a / b) + b / a - 1
    _close(_Rate(rate_p).entropy(), 1 - np.log(rate_p._data), "Bregman entropy", rtol=1e-12)
    kl = D.kl_divergence(_Rate(rate_p), _Rate(rate_q))
    a, b = rate_p._data, rate_q._data
    _close(kl, np.log(a / b) + b / a - 1, "Bregman KL", rtol=1e-12)
    # the gradient in q's parameter (p's natural parameters are detached, as torch's)
    rq = _b([1.0, 1.0, 0.25], True)
    D.kl_divergence(_Rate(rate_p), _Rate(rq)).sum().backward()
    np.testing.assert_allclose(rq.grad._data, -1 / b + 1 / a, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="cross KL-divergence between different exponential families"):
        D.kl_divergence(_Rate(rate_p), _OtherRate(rate_q))
    with pytest.raises(NotImplementedError, match="ExponentialFamily does not define _mean_carrier_measure"):
        D.ExponentialFamily.entropy(D.ExponentialFamily(validate_args=False))


@needs_torch
def test_bregman_entropy_matches_torch_fallback():
    # torch's Exponential defines its natural parameters: its fallback entropy against ours
    rate = RNG.uniform(0.5, 3.0, 4)
    theirs = TD.ExponentialFamily.entropy(TD.Exponential(_t(rate)))
    _close(_Rate(_b(rate)).entropy(), theirs, "Bregman entropy vs torch", rtol=1e-12)
