"""bp.distributions' transforms and the distributions built with them, against torch.distributions:
values and parameter gradients (float64, same parameters) of log_prob, entropy, moments, cdf/icdf and
kl_divergence; transforms' forward, inverse and log |det J|; biject_to/transform_to round trips; shapes
and validation errors; sample moments against closed forms (the random streams differ from torch's)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
import backprop.distributions as D
from backprop.distributions import constraints
from backprop.distributions import transforms as T

try:
    import torch
except ImportError:  # the closed-form tests below still run
    torch = None
TD = None if torch is None else torch.distributions
TT = None if torch is None else torch.distributions.transforms
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")

RNG = np.random.default_rng(1)


def R(*shape):  # real numbers
    return RNG.standard_normal(shape)


def P(*shape, low=0.5, high=2.0):  # positive numbers
    return RNG.uniform(low, high, shape)


def U(*shape, low=0.1, high=0.9):  # in (0, 1)
    return RNG.uniform(low, high, shape)


def S(*shape):  # rows on the simplex
    x = RNG.uniform(0.2, 1.0, shape)
    return x / x.sum(-1, keepdims=True)


def _b(a, grad=False):
    return bp.tensor(a, dtype=bp.float64, requires_grad=grad)


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _close(ours, theirs, what, rtol=1e-10, atol=1e-12):
    a = ours._data if isinstance(ours, bp.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert tuple(a.shape) == tuple(b.shape), f"{what}: shape {a.shape} vs torch {b.shape}"
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
        try:
            (gt,) = torch.autograd.grad(loss_t, [pt], allow_unused=True, retain_graph=True)
        except (RuntimeError, NotImplementedError):  # torch has no derivative here (igamma in the shape)
            continue
        (gb,) = bp.autograd.grad(loss_b, [pb], allow_unused=True, retain_graph=True)
        if gt is None:
            assert gb is None or np.all(gb._data == 0), f"{what}: grad of parameter {i} should be none or zero"
        else:
            _close(gb, gt, f"{what}: grad of parameter {i}", rtol=max(rtol, 1e-8), atol=max(atol, 1e-10))


# name: (parameter arrays, builder(module, params), values inside the support)
CASES = {
    "Cauchy": (lambda: [R(4), P(4)], lambda M, p: M.Cauchy(*p), lambda: R(4)),
    "HalfCauchy": (lambda: [P(4)], lambda M, p: M.HalfCauchy(*p), lambda: P(4)),
    "HalfNormal": (lambda: [P(2, 3)], lambda M, p: M.HalfNormal(*p), lambda: P(2, 3)),
    "Gumbel": (lambda: [R(4), P(4)], lambda M, p: M.Gumbel(*p), lambda: R(4)),
    "Pareto": (lambda: [P(4), P(4, low=2.5, high=4)], lambda M, p: M.Pareto(*p), lambda: P(4, low=2.1, high=4)),
    "Weibull": (lambda: [P(4), P(4, low=1.1, high=3)], lambda M, p: M.Weibull(*p), lambda: P(4)),
    "Kumaraswamy": (lambda: [P(4, low=1.1), P(4, low=1.1)], lambda M, p: M.Kumaraswamy(*p), lambda: U(4)),
    "InverseGamma": (lambda: [P(4, low=2.5, high=4), P(4)], lambda M, p: M.InverseGamma(*p), lambda: P(4)),
    "FisherSnedecor": (lambda: [P(4, low=3, high=6), P(4, low=5, high=9)], lambda M, p: M.FisherSnedecor(*p),
                       lambda: P(4)),
    "GeneralizedPareto": (lambda: [-P(4), P(4), np.array([0.2, -0.3, 0.0, 0.4])],
                          lambda M, p: M.GeneralizedPareto(*p), lambda: np.array([0.5, 0.3, 1.0, 2.0])),
    "NegativeBinomial": (lambda: [P(4, low=1, high=5), U(4)], lambda M, p: M.NegativeBinomial(p[0], probs=p[1]),
                         lambda: np.array([0.0, 1, 3, 7])),
    "NegativeBinomial-logits": (lambda: [P(4, low=1, high=5), R(4)],
                                lambda M, p: M.NegativeBinomial(p[0], logits=p[1]), lambda: np.array([2.0, 0, 5, 1])),
    "ContinuousBernoulli": (lambda: [np.array([0.1, 0.3, 0.4995, 0.8])],
                            lambda M, p: M.ContinuousBernoulli(probs=p[0]), lambda: U(4)),
    "ContinuousBernoulli-logits": (lambda: [R(4)], lambda M, p: M.ContinuousBernoulli(logits=p[0]), lambda: U(4)),
    "RelaxedBernoulli": (lambda: [np.array(0.7), U(4)], lambda M, p: M.RelaxedBernoulli(p[0], probs=p[1]),
                         lambda: U(4)),
    "RelaxedOneHotCategorical": (lambda: [np.array(0.6), R(2, 3)],
                                 lambda M, p: M.RelaxedOneHotCategorical(p[0], logits=p[1]), lambda: S(2, 3)),
    "LogisticNormal": (lambda: [R(2, 3), P(2, 3)], lambda M, p: M.LogisticNormal(*p), lambda: S(2, 4)),
    "VonMises": (lambda: [R(4), P(4, low=0.5, high=6)], lambda M, p: M.VonMises(*p), lambda: R(4)),
    "LowRankMultivariateNormal": (lambda: [R(2, 3), R(2, 3, 2), P(2, 3)],
                                  lambda M, p: M.LowRankMultivariateNormal(*p), lambda: R(5, 2, 3)),
    "MixtureSameFamily": (lambda: [R(2, 3), R(2, 3), P(2, 3)],
                          lambda M, p: M.MixtureSameFamily(M.Categorical(logits=p[0]), M.Normal(p[1], p[2])),
                          lambda: R(4, 2)),
    "MixtureSameFamily-mvn": (lambda: [R(3), R(3, 2), P(3, 2)],
                              lambda M, p: M.MixtureSameFamily(M.Categorical(logits=p[0]),
                                                               M.Independent(M.Normal(p[1], p[2]), 1)),
                              lambda: R(5, 2)),
    "TransformedDistribution": (lambda: [R(3), P(3), R(3), P(3)],
                                lambda M, p: M.TransformedDistribution(
                                    M.Normal(p[0], p[1]),
                                    [M.transforms.AffineTransform(p[2], p[3]), M.transforms.ExpTransform()]),
                                lambda: P(3)),
    "TransformedDistribution-decreasing": (lambda: [R(3), P(3)],
                                           lambda M, p: M.TransformedDistribution(
                                               M.Normal(p[0], p[1]), M.transforms.AffineTransform(1.0, -2.0)),
                                           lambda: R(3)),
    "OneHotCategoricalStraightThrough": (lambda: [S(2, 4)],
                                         lambda M, p: M.OneHotCategoricalStraightThrough(probs=p[0]),
                                         lambda: np.eye(4)[[1, 3]]),
}  # fmt: skip
METHODS = ["log_prob", "entropy", "mean", "variance", "stddev", "mode", "cdf", "icdf"]
# torch's VonMises uses polynomial Bessel approximations (relative error ~1e-7); ours are exact
RTOL = {"VonMises": 1e-5}


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(name):
    make, build, value = CASES[name]
    arrays = make()
    params_b, params_t = [_b(a, True) for a in arrays], [_t(a, True) for a in arrays]
    db, dt = build(D, params_b), build(TD, params_t)
    assert db.batch_shape == tuple(dt.batch_shape) and db.event_shape == tuple(dt.event_shape)
    assert db.has_rsample == dt.has_rsample, name
    v = value()
    q = U(*dt.batch_shape)
    checked = 0
    for method in METHODS:
        try:
            if method in ("log_prob", "cdf"):
                out_t = getattr(dt, method)(_t(v))
            elif method == "icdf":
                out_t = dt.icdf(_t(q))
            elif method == "entropy":
                out_t = dt.entropy()
            else:
                out_t = getattr(dt, method)
        except (NotImplementedError, AttributeError):
            continue
        except RuntimeError:  # torch's GeneralizedPareto.log_prob compares float64 with a float32 zero
            assert name == "GeneralizedPareto", name
            continue
        if method in ("log_prob", "cdf"):
            out_b = getattr(db, method)(_b(v))
        elif method == "icdf":
            out_b = db.icdf(_b(q))
        elif method == "entropy":
            out_b = db.entropy()
        else:
            out_b = getattr(db, method)
        rtol = RTOL.get(name, 1e-10)
        _check(out_b, out_t, params_b, params_t, f"{name}.{method}", rtol=rtol, atol=rtol * 1e-2)
        checked += 1
    assert checked >= 1, f"{name}: only {checked} methods compared"
    sample = db.sample((7,))
    assert tuple(sample.shape) == tuple(dt.sample((7,)).shape)
    assert bool(db.support.check(sample).all()), f"{name}: samples outside the support"
    expanded_b, expanded_t = db.expand((5,) + tuple(db.batch_shape)), dt.expand((5,) + tuple(dt.batch_shape))
    assert expanded_b.batch_shape == tuple(expanded_t.batch_shape) and type(expanded_b) is type(db)
    if name != "GeneralizedPareto":  # torch's log_prob fails in float64 (above)
        x = expanded_b.sample()
        lp_b, lp_t = expanded_b.log_prob(x), expanded_t.log_prob(_t(x._data))
        _close(lp_b, lp_t, f"{name}.expand.log_prob", rtol=RTOL.get(name, 1e-10), atol=1e-10)


def test_module_names_and_exports_match_torch():
    from backprop.distributions.half_cauchy import HalfCauchy
    from backprop.distributions.one_hot_categorical import OneHotCategorical, OneHotCategoricalStraightThrough
    from backprop.distributions.studentT import StudentT

    assert HalfCauchy is D.HalfCauchy and StudentT is D.StudentT and OneHotCategorical is D.OneHotCategorical
    assert issubclass(OneHotCategoricalStraightThrough, OneHotCategorical)
    assert D.beta.Beta is D.Beta and D.transforms.ExpTransform is D.ExpTransform
    if torch is not None:
        ours = set(dir(D))
        missing = {n for n in dir(TD) if not n.startswith("_")} - ours
        assert not missing, missing


# ---------------------------------------------------------------- transforms

AFFINE = (R(2), R(2))  # fixed, so that both libraries get the same parameters
# name: (builder(transforms module), input maker)
TRANSFORMS = {
    "Exp": (lambda M: M.ExpTransform(), lambda: R(3, 2)),
    "Power": (lambda M: M.PowerTransform(2.5), lambda: P(3, 2)),
    "Power-tensor": (lambda M: M.PowerTransform(M._tensor(np.array([0.5, -1.5]))), lambda: P(3, 2)),
    "Sigmoid": (lambda M: M.SigmoidTransform(), lambda: R(3, 2) * 5),
    "Tanh": (lambda M: M.TanhTransform(), lambda: R(3, 2) * 3),
    "Softplus": (lambda M: M.SoftplusTransform(), lambda: R(3, 2) * 5),
    "Affine": (lambda M: M.AffineTransform(M._tensor(AFFINE[0]), M._tensor(AFFINE[1])), lambda: R(3, 2)),
    "Affine-event": (lambda M: M.AffineTransform(1.0, M._tensor(AFFINE[1]), event_dim=1), lambda: R(3, 2)),
    "Affine-number": (lambda M: M.AffineTransform(0.5, -3.0), lambda: R(3, 2)),
    "StickBreaking": (lambda M: M.StickBreakingTransform(), lambda: R(3, 4)),
    "LowerCholesky": (lambda M: M.LowerCholeskyTransform(), lambda: R(2, 3, 3)),
    "PositiveDefinite": (lambda M: M.PositiveDefiniteTransform(), lambda: R(2, 3, 3)),
    "CorrCholesky": (lambda M: M.CorrCholeskyTransform(), lambda: R(2, 6)),
    "Compose": (lambda M: M.ComposeTransform([M.AffineTransform(0.3, 2.0), M.ExpTransform(), M.PowerTransform(0.5)]),
                lambda: R(3, 2)),
    "Compose-events": (lambda M: M.ComposeTransform([M.ExpTransform(), M.StickBreakingTransform()]), lambda: R(3, 4)),
    "Independent": (lambda M: M.IndependentTransform(M.SigmoidTransform(), 1), lambda: R(3, 2)),
    "Reshape": (lambda M: M.ReshapeTransform((2, 3), (6,)), lambda: R(4, 2, 3)),
    "Cat": (lambda M: M.CatTransform([M.ExpTransform(), M.identity_transform, M.SigmoidTransform()], dim=1,
                                     lengths=[1, 2, 1]), lambda: R(3, 4)),
    "Cat-events": (lambda M: M.CatTransform([M.StickBreakingTransform(), M.StickBreakingTransform()], dim=0,
                                            lengths=[2, 3]), lambda: R(5, 3)),
    "Stack": (lambda M: M.StackTransform([M.ExpTransform(), M.TanhTransform()], dim=1), lambda: R(3, 2)),
    "Inverse": (lambda M: M.SigmoidTransform().inv, lambda: U(3, 2)),
    "Softmax": (lambda M: M.SoftmaxTransform(), lambda: R(3, 4)),
    "Abs": (lambda M: M.AbsTransform(), lambda: R(3, 4)),
}  # fmt: skip


class _Ours:
    """backprop's transforms module, with a tensor maker, so that one builder serves both libraries."""

    def __getattr__(self, name):
        return getattr(T, name)

    @staticmethod
    def _tensor(a):
        return _b(a)


class _Theirs:
    def __getattr__(self, name):
        return getattr(TT, name)

    @staticmethod
    def _tensor(a):
        return _t(a)


@needs_torch
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_against_torch(name):
    build, make = TRANSFORMS[name]
    tb, tt = build(_Ours()), build(_Theirs())
    x = make()
    xb, xt = _b(x, True), _t(x, True)
    yb, yt = tb(xb), tt(xt)
    _close(yb, yt, f"{name} forward")
    assert tb.bijective == tt.bijective and tb.domain.event_dim == tt.domain.event_dim
    assert tb.codomain.event_dim == tt.codomain.event_dim
    assert bool(tb.codomain.check(yb.detach()).all())
    ybd, ytd = yb.detach(), yt.detach()
    _close(tb.inv(ybd), tt.inv(ytd), f"{name} inverse", rtol=1e-9, atol=1e-10)
    assert tuple(tb.forward_shape(xb.shape)) == tuple(tt.forward_shape(xt.shape))
    assert tuple(tb.inverse_shape(yb.shape)) == tuple(tt.inverse_shape(yt.shape))
    if name in ("Softmax", "Abs", "LowerCholesky", "PositiveDefinite"):  # no log-det in torch either
        return
    _check(tb.log_abs_det_jacobian(xb, yb), tt.log_abs_det_jacobian(xt, yt), [xb], [xt], f"{name} log|det J|")
    if name in ("StickBreaking", "LowerCholesky", "Compose"):
        sign_b, sign_t = tb.sign if name == "Compose" else 1, tt.sign if name == "Compose" else 1
        assert int(sign_b) == int(sign_t)


@needs_torch
def test_cumulative_distribution_transform_against_torch():
    loc, scale, x = R(3), P(3), R(3)
    tb = T.CumulativeDistributionTransform(D.Normal(_b(loc), _b(scale)))
    tt = TT.CumulativeDistributionTransform(TD.Normal(_t(loc), _t(scale)))
    _close(tb(_b(x)), tt(_t(x)), "cdf transform")
    _close(tb.inv(tb(_b(x))), _t(x), "cdf transform inverse", rtol=1e-9)
    _close(tb.log_abs_det_jacobian(_b(x), tb(_b(x))), tt.log_abs_det_jacobian(_t(x), tt(_t(x))), "log-det")
    assert tb.domain is D.constraints.real and tb.codomain is D.constraints.unit_interval


def test_log_det_is_log_of_the_numerical_derivative():
    # closed-form check without torch: log |dy/dx| from a central difference, elementwise transforms
    x = np.array([-2.0, -0.3, 0.4, 1.7])
    for t, xs in ((T.ExpTransform(), x), (T.SigmoidTransform(), x), (T.TanhTransform(), x), (T.SoftplusTransform(), x),
                  (T.PowerTransform(1.7), np.abs(x)), (T.AffineTransform(0.2, -3.0), x)):  # fmt: skip
        h = 1e-6
        numeric = (t(_b(xs + h))._data - t(_b(xs - h))._data) / (2 * h)
        got = t.log_abs_det_jacobian(_b(xs), t(_b(xs)))._data
        np.testing.assert_allclose(got, np.log(np.abs(numeric)), rtol=1e-6, err_msg=repr(t))


def test_stick_breaking_log_det_is_the_jacobian_determinant():
    x = R(3)
    t = T.StickBreakingTransform()
    jac = bp.autograd.functional.jacobian(lambda v: t(v)[:-1], _b(x))._data  # y without its last coordinate
    got = t.log_abs_det_jacobian(_b(x), t(_b(x))).item()
    assert got == pytest.approx(np.log(abs(np.linalg.det(jac))), rel=1e-9)


def test_caching_inverse_and_equality():
    t = T.ExpTransform(cache_size=1)
    x = _b(R(3))
    y = t(x)
    assert t(x) is y and t.inv(y) is x  # cached pair
    assert T.ExpTransform().inv(y) is not x
    assert t.inv.inv is t and T.ExpTransform() == T.ExpTransform() and T.ExpTransform() != T.SigmoidTransform()
    assert T.AffineTransform(1.0, 2.0) == T.AffineTransform(1.0, 2.0) != T.AffineTransform(1.0, 3.0)
    compose = T.ComposeTransform([T.ExpTransform(), T.AffineTransform(0.0, -1.0)])
    assert compose.inv.inv is compose and compose.sign == -1 and compose.bijective
    assert T.identity_transform(x) is x and T.identity_transform.domain is constraints.real
    assert t.with_cache(0)._cache_size == 0 and compose.with_cache(1).parts[0]._cache_size == 1
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        T.ExpTransform(cache_size=2)
    with pytest.raises(ValueError, match="in_shape, out_shape have different numbers of elements"):
        T.ReshapeTransform((2, 3), (5,))
    with pytest.raises(ValueError, match="Please use either .domain.event_dim or .codomain.event_dim"):
        _ = T.CorrCholeskyTransform().event_dim


# ---------------------------------------------------------------- biject_to / transform_to

REGISTRY_CASES = [
    (constraints.real, lambda: R(3)),
    (constraints.positive, lambda: R(3)),
    (constraints.greater_than(1.5), lambda: R(3)),
    (constraints.greater_than_eq(-2.0), lambda: R(3)),
    (constraints.less_than(0.5), lambda: R(3)),
    (constraints.unit_interval, lambda: R(3)),
    (constraints.interval(-1.0, 3.0), lambda: R(3)),
    (constraints.half_open_interval(2.0, 5.0), lambda: R(3)),
    (constraints.simplex, lambda: R(2, 3)),
    (constraints.real_vector, lambda: R(2, 3)),
    (constraints.independent(constraints.positive, 1), lambda: R(2, 3)),
    (T.CorrCholeskyTransform.codomain, lambda: R(2, 3)),
    (constraints.cat([constraints.positive, constraints.real], 0, [2, 1]), lambda: R(3)),
    (constraints.stack([constraints.positive, constraints.unit_interval], 0), lambda: R(2)),
]


@pytest.mark.parametrize("case", range(len(REGISTRY_CASES)))
def test_biject_to_round_trips(case):
    constraint, make = REGISTRY_CASES[case]
    t = D.biject_to(constraint)
    x = _b(make())
    y = t(x)
    assert bool(constraint.check(y).all()), f"{constraint!r}: image outside the constraint"
    np.testing.assert_allclose(t.inv(y)._data, x._data, rtol=1e-8, atol=1e-10)
    assert t.bijective
    assert bool(constraint.check(D.transform_to(constraint)(x)).all())


def test_transform_to_non_bijective_targets_and_errors():
    for c, x in ((constraints.simplex, R(2, 4)), (constraints.lower_cholesky, R(3, 3)),
                 (constraints.positive_definite, R(3, 3))):  # fmt: skip
        y = D.transform_to(c)(_b(x))
        assert bool(c.check(y).all()), repr(c)
    with pytest.raises(NotImplementedError, match="Cannot transform _Boolean constraints"):
        D.biject_to(constraints.boolean)
    with pytest.raises(TypeError, match="Expected constraint to be either a Constraint subclass or instance"):
        D.biject_to.register(3, lambda c: T.identity_transform)


@needs_torch
def test_biject_to_matches_torch():
    for c_b, c_t, x in ((constraints.positive, TD.constraints.positive, R(3)),
                        (constraints.interval(-1.0, 3.0), TD.constraints.interval(-1.0, 3.0), R(3)),
                        (constraints.simplex, TD.constraints.simplex, R(2, 3)),
                        (constraints.less_than(0.5), TD.constraints.less_than(0.5), R(3))):  # fmt: skip
        tb, tt = D.biject_to(c_b), TD.biject_to(c_t)
        _close(tb(_b(x)), tt(_t(x)), repr(c_b))
        _close(tb.log_abs_det_jacobian(_b(x), tb(_b(x))), tt.log_abs_det_jacobian(_t(x), tt(_t(x))), repr(c_b))


# ---------------------------------------------------------------- KL divergences

KL_CASES = {
    "Cauchy-Cauchy": (lambda M, p: (M.Cauchy(p[0], p[1]), M.Cauchy(p[2], p[3])), lambda: [R(3), P(3), R(3), P(3)]),
    "Gumbel-Gumbel": (lambda M, p: (M.Gumbel(p[0], p[1]), M.Gumbel(p[2], p[3])), lambda: [R(3), P(3), R(3), P(3)]),
    "HalfNormal-HalfNormal": (lambda M, p: (M.HalfNormal(p[0]), M.HalfNormal(p[1])), lambda: [P(3), P(3)]),
    "Pareto-Pareto": (lambda M, p: (M.Pareto(p[0], p[1]), M.Pareto(p[2], p[3])),
                      lambda: [P(3, low=1.5, high=2), P(3), P(3, low=0.5, high=1.0), P(3)]),
    "CB-CB": (lambda M, p: (M.ContinuousBernoulli(p[0]), M.ContinuousBernoulli(p[1])), lambda: [U(3), U(3)]),
    "LowRank-LowRank": (lambda M, p: (M.LowRankMultivariateNormal(p[0], p[1], p[2]),
                                      M.LowRankMultivariateNormal(p[3], p[4], p[5])),
                        lambda: [R(2, 3), R(2, 3, 2), P(2, 3), R(3), R(3, 1), P(3)]),
    "MVN-LowRank": (lambda M, p: (M.MultivariateNormal(p[0], scale_tril=p[1]),
                                  M.LowRankMultivariateNormal(p[2], p[3], p[4])),
                    lambda: [R(3), np.linalg.cholesky(np.eye(3) * 2 + 0.3), R(2, 3), R(2, 3, 2), P(2, 3)]),
    "LowRank-MVN": (lambda M, p: (M.LowRankMultivariateNormal(p[0], p[1], p[2]),
                                  M.MultivariateNormal(p[3], scale_tril=p[4])),
                    lambda: [R(2, 3), R(2, 3, 2), P(2, 3), R(3), np.linalg.cholesky(np.eye(3) * 2 + 0.3)]),
    "Transformed-Transformed": (lambda M, p: (M.TransformedDistribution(M.Normal(p[0], p[1]), M.ExpTransform()),
                                              M.TransformedDistribution(M.Normal(p[2], p[3]), M.ExpTransform())),
                                lambda: [R(3), P(3), R(3), P(3)]),
    "Exponential-Gumbel": (lambda M, p: (M.Exponential(p[0]), M.Gumbel(p[1], p[2])), lambda: [P(3), R(3), P(3)]),
    "Gamma-Gumbel": (lambda M, p: (M.Gamma(p[0], p[1]), M.Gumbel(p[2], p[3])), lambda: [P(3), P(3), R(3), P(3)]),
    "Gumbel-Normal": (lambda M, p: (M.Gumbel(p[0], p[1]), M.Normal(p[2], p[3])), lambda: [R(3), P(3), R(3), P(3)]),
    "Normal-Gumbel": (lambda M, p: (M.Normal(p[0], p[1]), M.Gumbel(p[2], p[3])), lambda: [R(3), P(3), R(3), P(3)]),
    "Uniform-Gumbel": (lambda M, p: (M.Uniform(p[0], p[1]), M.Gumbel(p[2], p[3])),
                       lambda: [-P(3), P(3), R(3), P(3)]),
    "Pareto-Exponential": (lambda M, p: (M.Pareto(p[0], p[1]), M.Exponential(p[2])),
                           lambda: [P(3), np.array([0.5, 1.5, 3.0]), P(3)]),
    "Pareto-Gamma": (lambda M, p: (M.Pareto(p[0], p[1]), M.Gamma(p[2], p[3])),
                     lambda: [P(3), np.array([0.5, 1.5, 3.0]), P(3), P(3)]),
    "Pareto-Normal": (lambda M, p: (M.Pareto(p[0], p[1]), M.Normal(p[2], p[3])),
                      lambda: [P(3), np.array([1.5, 2.5, 3.0]), R(3), P(3)]),
    "Uniform-Pareto": (lambda M, p: (M.Uniform(p[0], p[1]), M.Pareto(p[2], p[3])),
                       lambda: [P(3, low=1.0, high=2.0), P(3, low=2.5, high=3), P(3, low=0.5, high=1.5), P(3)]),
    "Beta-CB": (lambda M, p: (M.Beta(p[0], p[1]), M.ContinuousBernoulli(p[2])), lambda: [P(3), P(3), U(3)]),
    "CB-Exponential": (lambda M, p: (M.ContinuousBernoulli(p[0]), M.Exponential(p[1])), lambda: [U(3), P(3)]),
    "CB-Normal": (lambda M, p: (M.ContinuousBernoulli(p[0]), M.Normal(p[1], p[2])), lambda: [U(3), R(3), P(3)]),
    "Uniform-CB": (lambda M, p: (M.Uniform(p[0], p[1]), M.ContinuousBernoulli(p[2])),
                   lambda: [U(3, high=0.4), U(3, low=0.5), U(3)]),
    "Normal-Pareto": (lambda M, p: (M.Normal(p[0], p[1]), M.Pareto(p[2], p[3])), lambda: [R(3), P(3), P(3), P(3)]),
    "Gumbel-Uniform": (lambda M, p: (M.Gumbel(p[0], p[1]), M.Uniform(p[2], p[3])), lambda: [R(3), P(3), -P(3), P(3)]),
}  # fmt: skip


@needs_torch
@pytest.mark.parametrize("pair", sorted(KL_CASES))
def test_kl_against_torch(pair):
    build, make = KL_CASES[pair]
    arrays = make()
    pb, pt = [_b(a, True) for a in arrays], [_t(a, True) for a in arrays]
    _check(D.kl_divergence(*build(D, pb)), TD.kl_divergence(*build(TD, pt)), pb, pt, f"kl {pair}", rtol=1e-9)


def test_kl_closed_forms():
    # KL(Cauchy(0, 1) || Cauchy(0, 2)) = log(9 / 8); a Gumbel or HalfNormal from itself is 0
    kl = D.kl_divergence(D.Cauchy(_b(0.0), _b(1.0)), D.Cauchy(_b(0.0), _b(2.0)))
    assert kl.item() == pytest.approx(math.log(9 / 8), rel=1e-12)
    assert D.kl_divergence(D.Gumbel(_b([0.3]), _b([2.0])), D.Gumbel(_b([0.3]), _b([2.0]))).item() == pytest.approx(
        0.0, abs=1e-12
    )
    assert D.kl_divergence(D.HalfNormal(_b([1.5])), D.HalfNormal(_b([1.5]))).item() == pytest.approx(0.0, abs=1e-12)
    assert math.isinf(D.kl_divergence(D.Normal(_b([0.0]), 1.0), D.Pareto(_b([1.0]), 2.0)).item())
    with pytest.raises(NotImplementedError):
        D.kl_divergence(
            D.TransformedDistribution(D.Normal(0.0, 1.0), T.ExpTransform()),
            D.TransformedDistribution(D.Normal(0.0, 1.0), T.SigmoidTransform()),
        )


# ---------------------------------------------------------------- validation and closed forms


@needs_torch
@pytest.mark.parametrize(
    "make",
    [
        lambda M, t: M.Cauchy(t([0.0]), t([-1.0])),
        lambda M, t: M.HalfNormal(t([0.0])),
        lambda M, t: M.Pareto(t([1.0]), t([-2.0])),
        lambda M, t: M.Weibull(t([0.0]), t([1.0])),
        lambda M, t: M.Kumaraswamy(t([1.0]), t([-1.0])),
        lambda M, t: M.InverseGamma(t([-1.0]), t([1.0])),
        lambda M, t: M.FisherSnedecor(t([1.0]), t([0.0])),
        lambda M, t: M.GeneralizedPareto(t([0.0]), t([-1.0]), t([0.1])),
        lambda M, t: M.NegativeBinomial(t([-1.0]), probs=t([0.5])),
        lambda M, t: M.NegativeBinomial(t([2.0]), probs=t([1.0])),
        lambda M, t: M.VonMises(t([0.0]), t([-1.0])),
        lambda M, t: M.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [1.0]]), t([1.0, -1.0])),
    ],
)
def test_invalid_parameters_raise_as_torch(make):
    with pytest.raises(ValueError) as theirs:
        make(TD, lambda v: torch.tensor(v, dtype=torch.float64))
    with pytest.raises(ValueError) as ours:
        make(D, lambda v: bp.tensor(v, dtype=bp.float64))
    head = str(theirs.value).split(" of distribution")[0]
    assert str(ours.value).startswith(head.replace("Tensor", "Tensor")), (str(ours.value), head)


def test_shape_errors_and_values_outside_the_support():
    with pytest.raises(ValueError, match="cov_factor must be a batch of matrices with shape 3 x m"):
        D.LowRankMultivariateNormal(_b(R(3)), _b(R(2, 2)), _b(P(3)))
    with pytest.raises(ValueError, match="does not equal `component_distribution.batch_shape\\[-1\\]`"):
        D.MixtureSameFamily(D.Categorical(logits=_b(R(3))), D.Normal(_b(R(4)), _b(P(4))))
    with pytest.raises(ValueError, match="The Mixture distribution needs to be an"):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), D.Normal(_b(R(4)), _b(P(4))))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        D.ContinuousBernoulli()
    with pytest.raises(ValueError, match="to be within the support"):
        D.HalfNormal(_b([1.0])).log_prob(_b([-1.0]))
    with pytest.raises(ValueError, match="to be within the support"):
        D.Pareto(_b([2.0]), _b([1.0])).log_prob(_b([1.0]))
    with pytest.raises(ValueError, match="transforms must be a Transform or list"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), "exp")
    assert D.HalfNormal(_b([1.0]), validate_args=False).log_prob(_b([-1.0])).item() == -math.inf


def test_closed_form_values():
    x = _b([0.5, 1.0, 3.0])
    # HalfNormal(1): sqrt(2 / pi) e^(-x^2 / 2); Cauchy cdf at loc is 1/2; Gumbel(0, 1): e^(-x - e^-x)
    np.testing.assert_allclose(D.HalfNormal(1.0).log_prob(x)._data, 0.5 * np.log(2 / np.pi) - x._data**2 / 2)
    assert D.Cauchy(_b([2.0]), _b([3.0])).cdf(_b([2.0])).item() == pytest.approx(0.5)
    np.testing.assert_allclose(D.Gumbel(0.0, 1.0).log_prob(x)._data, -x._data - np.exp(-x._data), rtol=1e-12)
    # Pareto(1, 3): 3 / x^4 on x >= 1; Weibull(1, 1) is Exponential(1)
    np.testing.assert_allclose(D.Pareto(1.0, 3.0).log_prob(_b([1.5, 2.0]))._data, np.log(3 / np.array([1.5, 2.0]) ** 4))
    np.testing.assert_allclose(D.Weibull(1.0, 1.0).log_prob(x)._data, -x._data, atol=1e-12)
    # Kumaraswamy(1, 1) is Uniform(0, 1); InverseGamma(1, 1): x^-2 e^(-1/x)
    np.testing.assert_allclose(D.Kumaraswamy(1.0, 1.0).log_prob(_b([0.2, 0.7]))._data, 0.0, atol=1e-12)
    np.testing.assert_allclose(D.InverseGamma(1.0, 1.0).log_prob(x)._data, -2 * np.log(x._data) - 1 / x._data)
    # GeneralizedPareto with concentration 0 is the exponential; ContinuousBernoulli(1/2) is uniform
    np.testing.assert_allclose(D.GeneralizedPareto(0.0, 2.0, 0.0).cdf(x)._data, 1 - np.exp(-x._data / 2))
    assert D.ContinuousBernoulli(_b([0.5])).log_prob(_b([0.3])).item() == pytest.approx(0.0, abs=1e-12)
    # NegativeBinomial(1, p) is geometric: P(k) = p^k (1 - p)
    k = _b([0.0, 1.0, 4.0])
    np.testing.assert_allclose(D.NegativeBinomial(1.0, probs=0.3).log_prob(k)._data, np.log(0.3**k._data * 0.7))
    # VonMises integrates to 1 over the circle
    grid = np.linspace(-np.pi, np.pi, 20001)
    density = np.exp(D.VonMises(0.4, 2.5).log_prob(_b(grid))._data)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-6)


def _f64(*a):
    return [_b(v) for v in a]


MOMENT_CASES = {
    "Cauchy-median": (lambda: D.Cauchy(*_f64(1.5, 2.0)), lambda s: np.median(s), 1.5, 0.05),
    "HalfCauchy-median": (lambda: D.HalfCauchy(_b(2.0)), lambda s: np.median(s), 2.0, 0.05),
    "HalfNormal": (lambda: D.HalfNormal(_b(2.0)), np.mean, 2 * math.sqrt(2 / math.pi), 0.02),
    "Gumbel": (lambda: D.Gumbel(*_f64(1.0, 2.0)), np.mean, 1.0 + 2.0 * 0.5772156649, 0.03),
    "Pareto": (lambda: D.Pareto(*_f64(1.0, 4.0)), np.mean, 4 / 3, 0.01),
    "Weibull": (lambda: D.Weibull(*_f64(2.0, 1.5)), np.mean, 2.0 * math.gamma(1 + 1 / 1.5), 0.02),
    "Kumaraswamy": (lambda: D.Kumaraswamy(*_f64(2.0, 3.0)), np.mean,
                    3 * math.gamma(1.5) * math.gamma(3) / math.gamma(4.5), 0.005),
    "InverseGamma": (lambda: D.InverseGamma(*_f64(5.0, 2.0)), np.mean, 0.5, 0.01),
    "FisherSnedecor": (lambda: D.FisherSnedecor(*_f64(5.0, 10.0)), np.mean, 10 / 8, 0.03),
    "GeneralizedPareto": (lambda: D.GeneralizedPareto(*_f64(0.0, 1.0, 0.2)), np.mean, 1 / 0.8, 0.03),
    "NegativeBinomial": (lambda: D.NegativeBinomial(_b(3.0), probs=_b(0.4)), np.mean, 3 * 0.4 / 0.6, 0.05),
    "ContinuousBernoulli": (lambda: D.ContinuousBernoulli(_b(0.8)), np.mean,
                            0.8 / (2 * 0.8 - 1) + 1 / math.log(0.2 / 0.8), 0.005),
    "VonMises-cos": (lambda: D.VonMises(*_f64(0.0, 2.0)), lambda s: np.mean(np.cos(s)), 0.6977746579640, 0.01),
    "LowRankMVN-var": (lambda: D.LowRankMultivariateNormal(_b([0.0, 1.0]), _b([[1.0], [2.0]]), _b([0.5, 0.5])),
                       lambda s: np.var(s[:, 1]), 4.5, 0.1),
    "Mixture": (lambda: D.MixtureSameFamily(D.Categorical(probs=_b([0.25, 0.75])), D.Normal(_b([-2.0, 2.0]), 1.0)),
                np.mean, 1.0, 0.04),
    "RelaxedBernoulli-low-t": (lambda: D.RelaxedBernoulli(_b(1e-3), probs=_b(0.3)), lambda s: np.mean(s > 0.5),
                               0.3, 0.02),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MOMENT_CASES))
def test_sample_moments_match_closed_forms(case):
    make, stat, expected, tol = MOMENT_CASES[case]
    bp.manual_seed(0)
    samples = make().sample((40000,))._data
    assert stat(samples) == pytest.approx(expected, abs=tol)


def test_rsample_gradients_flow_and_straight_through():
    scale = _b(2.0, True)
    D.HalfNormal(scale).rsample((100,)).mean().backward()
    assert scale.grad is not None and scale.grad.item() > 0  # d/ds E|s Z| = sqrt(2 / pi) > 0
    probs = _b([0.2, 0.3, 0.5], True)
    bp.manual_seed(0)
    s = D.OneHotCategoricalStraightThrough(probs=probs).rsample()
    assert sorted(s._data.tolist()) == [0.0, 0.0, 1.0]
    (s * _b([1.0, 2.0, 3.0])).sum().backward()
    # the identity through the normalised probs: w - <w, p> (the probs sum to 1)
    np.testing.assert_allclose(probs.grad._data, np.array([1.0, 2.0, 3.0]) - 2.3, rtol=1e-12)
    logits = _b([0.1, -0.4], True)
    x = D.RelaxedOneHotCategorical(_b(0.5), logits=logits).rsample((3,))
    np.testing.assert_allclose(x._data.sum(-1), 1.0)
    x[:, 0].sum().backward()
    assert logits.grad is not None and np.all(np.isfinite(logits.grad._data))
