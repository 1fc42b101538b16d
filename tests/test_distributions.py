"""bp.distributions against torch.distributions: values and parameter gradients of log_prob,
entropy, moments, cdf/icdf and kl_divergence (float64, same parameters), shapes, validation errors,
and sample moments against closed forms (the random streams differ from torch's)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
import backprop.distributions as D

try:
    import torch
except ImportError:  # the closed-form tests below still run
    torch = None
TD = None if torch is None else torch.distributions
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")

RNG = np.random.default_rng(0)


def R(*shape):  # real numbers
    return RNG.standard_normal(shape)


def P(*shape, low=0.5, high=2.0):  # positive numbers
    return RNG.uniform(low, high, shape)


def U(*shape):  # in (0, 1)
    return RNG.uniform(0.1, 0.9, shape)


def S(*shape):  # rows on the simplex
    x = RNG.uniform(0.2, 1.0, shape)
    return x / x.sum(-1, keepdims=True)


def C(*shape, n=4):  # counts / categories
    return RNG.integers(0, n, shape).astype(np.float64)


def SPD(*batch, n=3):  # symmetric positive definite
    a = RNG.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def TRIL(*batch, n=3):
    return np.linalg.cholesky(SPD(*batch, n=n))


def _pair(arrays, grad=True):
    ours = [bp.tensor(a, dtype=bp.float64, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=grad) for a in arrays]
    return ours, theirs


def _close(ours, theirs, what, rtol=1e-10, atol=1e-12):
    a = ours._data if isinstance(ours, bp.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy()
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
        if not pt.requires_grad:
            continue
        try:
            (gt,) = torch.autograd.grad(loss_t, [pt], allow_unused=True, retain_graph=True)
        except RuntimeError:  # torch has no derivative here (Gamma.cdf in the concentration)
            continue
        (gb,) = bp.autograd.grad(loss_b, [pb], allow_unused=True, retain_graph=True)
        if gt is None:
            assert gb is None or np.all(gb._data == 0), f"{what}: grad of parameter {i} should be none or zero"
        else:  # through digamma/polygamma SciPy's and torch's values differ in the last ~9 digits
            _close(gb, gt, f"{what}: grad of parameter {i}", rtol=max(rtol, 1e-8), atol=max(atol, 1e-10))


# name: (parameter maker, keyword names or None for positional, value maker)
CASES = {
    "Normal": (lambda: [R(2, 3), P(2, 3)], None, lambda: R(2, 3)),
    "Normal-bcast": (lambda: [R(3), P(2, 1)], None, lambda: R(4, 2, 3)),
    "Uniform": (lambda: [-P(3), 1 + P(3)], None, lambda: U(3)),
    "Exponential": (lambda: [P(4)], None, lambda: P(4)),
    "Laplace": (lambda: [R(4), P(4)], None, lambda: R(4)),
    "LogNormal": (lambda: [R(4) * 0.3, P(4)], None, lambda: P(4)),
    "Gamma": (lambda: [P(4, low=0.5, high=3), P(4)], None, lambda: P(4)),
    "Chi2": (lambda: [P(4, low=1, high=5)], None, lambda: P(4)),
    "Beta": (lambda: [P(4), P(4)], None, lambda: U(4)),
    "Dirichlet": (lambda: [P(2, 4)], None, lambda: S(2, 4)),
    "StudentT": (lambda: [P(5, low=0.5, high=4), R(5), P(5)], None, lambda: R(5)),
    "Poisson": (lambda: [P(4)], None, lambda: C(4)),
    "Bernoulli": (lambda: [U(4)], ["probs"], lambda: C(4, n=2)),
    "Bernoulli-logits": (lambda: [R(4)], ["logits"], lambda: C(4, n=2)),
    "Geometric": (lambda: [U(4)], ["probs"], lambda: C(4, n=5)),
    "Geometric-logits": (lambda: [R(4)], ["logits"], lambda: C(4, n=5)),
    "Categorical": (lambda: [P(2, 4)], ["probs"], lambda: C(3, 2)),
    "Categorical-logits": (lambda: [R(2, 4)], ["logits"], lambda: C(3, 2)),
    "OneHotCategorical": (lambda: [S(2, 4)], ["probs"], lambda: np.eye(4)[C(3, 2).astype(int)]),
    "Multinomial": (lambda: [S(2, 3)], ["probs"], lambda: np.array([[2.0, 1, 2], [0, 5, 0]])),
    "Binomial": (lambda: [S(4) * 0 + 6.0, U(4)], ["total_count", "probs"], lambda: C(4, n=7)),
    "Binomial-logits": (lambda: [S(4) * 0 + 6.0, R(4)], ["total_count", "logits"], lambda: C(4, n=7)),
    "MultivariateNormal-cov": (lambda: [R(2, 3), SPD(2)], ["loc", "covariance_matrix"], lambda: R(4, 2, 3)),
    "MultivariateNormal-tril": (lambda: [R(3), TRIL(2)], ["loc", "scale_tril"], lambda: R(2, 3)),
    "MultivariateNormal-prec": (lambda: [R(3), SPD()], ["loc", "precision_matrix"], lambda: R(5, 3)),
}
NO_GRAD = {"Binomial": {0}, "Binomial-logits": {0}}  # total_count is a count
METHODS = ["log_prob", "entropy", "mean", "variance", "stddev", "mode", "cdf", "icdf"]


def _make(name, module, params, kw):
    cls = getattr(module, name.split("-")[0])
    if name.startswith("Multinomial"):
        return cls(5, **dict(zip(kw, params)))
    return cls(**dict(zip(kw, params))) if kw else cls(*params)


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(name):
    make, kw, value = CASES[name]
    arrays = make()
    params_b, params_t = _pair(arrays)
    for i in NO_GRAD.get(name, ()):
        params_b[i] = params_b[i].detach()
        params_t[i] = params_t[i].detach()
    db, dt = _make(name, D, params_b, kw), _make(name, TD, params_t, kw)
    assert db.batch_shape == tuple(dt.batch_shape) and db.event_shape == tuple(dt.event_shape)
    assert isinstance(db.batch_shape, bp.Size)
    v = value()
    vb, vt = bp.tensor(v, dtype=bp.float64), torch.tensor(v, dtype=torch.float64)
    checked = 0
    for method in METHODS:
        try:
            if method in ("log_prob", "cdf"):
                out_t = getattr(dt, method)(vt)
            elif method == "icdf":
                out_t = dt.icdf(torch.tensor(U(*dt.batch_shape)))
            elif method == "entropy":
                out_t = dt.entropy()
            else:
                out_t = getattr(dt, method)
        except NotImplementedError:
            continue
        if method in ("log_prob", "cdf"):
            out_b = getattr(db, method)(vb)
        elif method == "icdf":
            out_b = db.icdf(bp.tensor(out_t.detach().numpy() * 0 + _LAST_U[0]))
        elif method == "entropy":
            out_b = db.entropy()
        else:
            out_b = getattr(db, method)
        # torch's Multinomial.entropy takes lgamma(n + 1) of an int64 tensor, in float32
        rtol = 1e-7 if (name, method) == ("Multinomial", "entropy") else 1e-10
        _check(out_b, out_t, params_b, params_t, f"{name}.{method}", rtol=rtol)
        checked += 1
    assert checked >= 4, f"{name}: only {checked} methods compared"


_LAST_U: list = [None]
_U = U


def U(*shape):  # noqa: F811 - remember the last uniform array, so icdf gets the same input on both sides
    _LAST_U[0] = _U(*shape)
    return _LAST_U[0]


KL_CASES = {
    ("Normal", "Normal"): (lambda: [R(3), P(3)], lambda: [R(3), P(3)], None),
    ("Uniform", "Uniform"): (lambda: [-P(3), P(3)], lambda: [-P(3) - 2, P(3) + 2], None),
    ("Bernoulli", "Bernoulli"): (lambda: [U(4)], lambda: [U(4)], ["probs"]),
    ("Categorical", "Categorical"): (lambda: [S(2, 4)], lambda: [S(2, 4)], ["probs"]),
    ("OneHotCategorical", "OneHotCategorical"): (lambda: [S(2, 4)], lambda: [S(2, 4)], ["probs"]),
    ("Exponential", "Exponential"): (lambda: [P(3)], lambda: [P(3)], None),
    ("Gamma", "Gamma"): (lambda: [P(3), P(3)], lambda: [P(3), P(3)], None),
    ("Beta", "Beta"): (lambda: [P(3), P(3)], lambda: [P(3), P(3)], None),
    ("Dirichlet", "Dirichlet"): (lambda: [P(2, 3)], lambda: [P(2, 3)], None),
    ("Laplace", "Laplace"): (lambda: [R(3), P(3)], lambda: [R(3), P(3)], None),
    ("Poisson", "Poisson"): (lambda: [P(3)], lambda: [P(3)], None),
    ("Geometric", "Geometric"): (lambda: [U(3)], lambda: [U(3)], ["probs"]),
    ("LogNormal", "LogNormal"): (lambda: [R(3), P(3)], lambda: [R(3), P(3)], None),
    ("MultivariateNormal", "MultivariateNormal"): (
        lambda: [R(2, 3), TRIL(2)],
        lambda: [R(3), TRIL()],
        ["loc", "scale_tril"],
    ),
    ("Gamma", "Exponential"): (lambda: [P(3), P(3)], lambda: [P(3)], None),
    ("Exponential", "Gamma"): (lambda: [P(3)], lambda: [P(3), P(3)], None),
    ("Uniform", "Normal"): (lambda: [-P(3), P(3)], lambda: [R(3), P(3)], None),
    ("Normal", "Laplace"): (lambda: [R(3), P(3)], lambda: [R(3), P(3)], None),
    ("Laplace", "Normal"): (lambda: [R(3), P(3)], lambda: [R(3), P(3)], None),
    ("Beta", "Normal"): (lambda: [P(3), P(3)], lambda: [R(3), P(3)], None),
    ("Uniform", "Gamma"): (lambda: [P(3) * 0.2, P(3) + 1], lambda: [P(3), P(3)], None),
}


@needs_torch
@pytest.mark.parametrize("pair", sorted(KL_CASES), ids="-".join)
def test_kl_against_torch(pair):
    make_p, make_q, kw = KL_CASES[pair]
    ap, aq = make_p(), make_q()
    kw_q = kw if kw else None
    pb, pt = _pair(ap)
    qb, qt = _pair(aq)
    kl_b = D.kl_divergence(_make(pair[0], D, pb, kw), _make(pair[1], D, qb, kw_q if pair[0] == pair[1] else None))
    kl_t = TD.kl_divergence(_make(pair[0], TD, pt, kw), _make(pair[1], TD, qt, kw_q if pair[0] == pair[1] else None))
    _check(kl_b, kl_t, pb + qb, pt + qt, f"kl{pair}")


@needs_torch
def test_kl_independent_and_infinite_cases():
    loc, scale = R(2, 3), P(2, 3)
    p = D.Independent(D.Normal(bp.tensor(loc), bp.tensor(scale)), 1)
    q = D.Independent(D.Normal(bp.tensor(loc * 0), bp.tensor(scale * 0 + 1)), 1)
    pt = TD.Independent(TD.Normal(torch.tensor(loc), torch.tensor(scale)), 1)
    qt = TD.Independent(TD.Normal(torch.tensor(loc * 0), torch.tensor(scale * 0 + 1)), 1)
    _close(D.kl_divergence(p, q), TD.kl_divergence(pt, qt), "Independent")
    # q does not cover p: infinite, as torch
    kl = D.kl_divergence(
        D.Uniform(bp.tensor([0.0, 0.0]), bp.tensor([1.0, 1.0])), D.Uniform(bp.tensor([0.5, -1.0]), 2.0)
    )
    assert math.isinf(kl[0].item()) and math.isfinite(kl[1].item())
    kl = D.kl_divergence(D.Bernoulli(probs=bp.tensor([0.3, 0.0])), D.Bernoulli(probs=bp.tensor([0.0, 0.5])))
    assert math.isinf(kl[0].item()) and kl[1].item() == pytest.approx(math.log(2))
    with pytest.raises(
        NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type Poisson"
    ):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Poisson(1.0))


def test_register_kl_most_specific_wins():
    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return bp.tensor(123.0)

    try:
        assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 2.0)).item() == 123.0
        assert D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 0.0
    finally:
        from backprop.distributions import kl

        del kl._KL_REGISTRY[MyNormal, D.Normal]
        kl._KL_MEMOIZE.clear()
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)


# ---------------------------------------------------------------- shapes


SHAPE_CASES = {
    "Normal": lambda m, t: m.Normal(t(R(2, 3)), t(P(2, 3))),
    "Uniform": lambda m, t: m.Uniform(t(-P(2, 3)), t(P(2, 3))),
    "Bernoulli": lambda m, t: m.Bernoulli(probs=t(U(2, 3))),
    "Categorical": lambda m, t: m.Categorical(logits=t(R(2, 3, 4))),
    "OneHotCategorical": lambda m, t: m.OneHotCategorical(probs=t(S(2, 3, 4))),
    "Multinomial": lambda m, t: m.Multinomial(7, probs=t(S(2, 3, 4))),
    "Beta": lambda m, t: m.Beta(t(P(2, 3)), t(P(2, 3))),
    "Gamma": lambda m, t: m.Gamma(t(P(2, 3)), t(P(2, 3))),
    "Dirichlet": lambda m, t: m.Dirichlet(t(P(2, 3, 4))),
    "Exponential": lambda m, t: m.Exponential(t(P(2, 3))),
    "Laplace": lambda m, t: m.Laplace(t(R(2, 3)), t(P(2, 3))),
    "LogNormal": lambda m, t: m.LogNormal(t(R(2, 3)), t(P(2, 3))),
    "Poisson": lambda m, t: m.Poisson(t(P(2, 3))),
    "Geometric": lambda m, t: m.Geometric(probs=t(U(2, 3))),
    "Binomial": lambda m, t: m.Binomial(t(C(2, 3, n=1) + 9), probs=t(U(2, 3))),
    "StudentT": lambda m, t: m.StudentT(t(P(2, 3)), t(R(2, 3)), t(P(2, 3))),
    "MultivariateNormal": lambda m, t: m.MultivariateNormal(t(R(2, 3, 4)), scale_tril=t(TRIL(3, n=4))),
    "Independent": lambda m, t: m.Independent(m.Normal(t(R(2, 3)), t(P(2, 3))), 1),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shapes_as_torch(name):
    seed = int(RNG.integers(1 << 30))
    db = SHAPE_CASES[name](D, lambda a: bp.tensor(a, dtype=bp.float64))
    np.random.seed(seed)
    dt = SHAPE_CASES[name](TD, lambda a: torch.tensor(a, dtype=torch.float64))
    assert (db.batch_shape, db.event_shape) == (tuple(dt.batch_shape), tuple(dt.event_shape))
    for shape in [(), (5,), (2, 1)]:
        sb, st = db.sample(shape), dt.sample(shape)
        assert tuple(sb.shape) == tuple(st.shape), (name, shape)
        assert str(sb.dtype) == str(st.dtype).replace("torch.", ""), (name, shape)
        assert not sb.requires_grad
        assert tuple(db.log_prob(sb).shape) == tuple(dt.log_prob(st).shape)
    assert db.has_rsample == dt.has_rsample
    if db.has_rsample:
        assert tuple(db.rsample((4,)).shape) == tuple(dt.rsample((4,)).shape)
    ex_b = db.expand((5,) + tuple(db.batch_shape))
    ex_t = dt.expand((5,) + tuple(dt.batch_shape))
    assert (ex_b.batch_shape, ex_b.event_shape) == (tuple(ex_t.batch_shape), tuple(ex_t.event_shape))
    assert tuple(ex_b.sample((2,)).shape) == tuple(ex_t.sample((2,)).shape)
    try:
        entropy_t = ex_t.entropy()
    except (NotImplementedError, AttributeError):  # torch: no Poisson entropy; Multinomial.expand drops _binomial
        entropy_t = None
    if entropy_t is None and name == "Poisson":
        with pytest.raises(NotImplementedError):
            ex_b.entropy()
    elif entropy_t is not None:
        assert tuple(ex_b.entropy().shape) == tuple(entropy_t.shape)
    assert type(ex_b) is type(db)


def test_scalar_parameters_and_broadcasting():
    n = D.Normal(0.0, 1.0)
    assert n.batch_shape == () and n.loc.dtype == bp.float32 and n.sample().shape == ()
    n = D.Normal(bp.tensor([0.0, 1.0], dtype=bp.float64), 2.0)
    assert n.batch_shape == (2,) and n.scale.dtype == bp.float64
    assert D.Normal(bp.zeros(3, 1), bp.ones(4)).batch_shape == (3, 4)
    assert D.Categorical(probs=bp.tensor([1.0, 3.0])).probs.tolist() == [0.25, 0.75]
    c = D.Categorical(logits=bp.tensor([0.0, math.log(3.0)], dtype=bp.float64))
    np.testing.assert_allclose(c.probs._data, [0.25, 0.75])
    np.testing.assert_allclose(c.logits.logsumexp(-1)._data, 0.0, atol=1e-15)
    assert D.Categorical(probs=bp.ones(2, 3)).enumerate_support().shape == (3, 2)
    assert D.Bernoulli(0.3).enumerate_support().tolist() == [0.0, 1.0]


# ---------------------------------------------------------------- validation


def _message(exc_info):
    return str(exc_info.value).split(" of distribution")[0]


@needs_torch
@pytest.mark.parametrize(
    "make",
    [
        lambda m, t: m.Normal(t([0.0, 1.0]), t([1.0, -1.0])),
        lambda m, t: m.Bernoulli(probs=t([0.5, 1.5])),
        lambda m, t: m.Categorical(probs=t([0.5, -0.5])),
        lambda m, t: m.Uniform(t([0.0]), t([0.0])),
        lambda m, t: m.Gamma(t([1.0]), t([0.0])),
        lambda m, t: m.Dirichlet(t([[1.0, -1.0]])),
        lambda m, t: m.MultivariateNormal(t([0.0, 0.0]), scale_tril=t([[1.0, 0.0], [0.0, -1.0]])),
        lambda m, t: m.Poisson(t([-1.0])),
    ],
)
def test_invalid_parameters_raise_as_torch(make):
    with pytest.raises(ValueError) as theirs:
        make(TD, lambda a: torch.tensor(a))
    with pytest.raises(ValueError) as ours:
        make(D, lambda a: bp.tensor(a))
    assert _message(ours) == _message(theirs)
    assert "but found invalid values" in str(ours.value)


def test_validation_of_values_and_switches():
    n = D.Normal(bp.tensor([0.0, 1.0]), bp.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
        n.log_prob(0.5)
    with pytest.raises(ValueError, match=r"Value is not broadcastable with batch_shape\+event_shape"):
        n.log_prob(bp.zeros(3))
    with pytest.raises(ValueError, match=r"The right-most size of value must match event_shape"):
        D.Dirichlet(bp.ones(3)).log_prob(bp.ones(2) / 2)
    with pytest.raises(ValueError, match=r"to be within the support \(Boolean\(\)\)"):
        D.Bernoulli(probs=bp.tensor([0.5])).log_prob(bp.tensor([0.5]))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        D.Bernoulli(probs=bp.tensor([0.5]), logits=bp.tensor([0.0]))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.MultivariateNormal(bp.zeros(2))
    # validate_args=False skips the checks; set_default_validate_args switches the default, as torch
    assert math.isnan(D.Normal(0.0, -1.0, validate_args=False).log_prob(bp.tensor(0.0)).item())
    D.Distribution.set_default_validate_args(False)
    try:
        D.Normal(0.0, -1.0)
        with pytest.raises(ValueError):
            D.Normal(0.0, -1.0, validate_args=True)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")
    assert repr(D.constraints.positive) == "GreaterThan(lower_bound=0.0)"  # torch's repr
    assert repr(D.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"


# ---------------------------------------------------------------- sampling


def _f64(*a):
    return [bp.tensor(np.asarray(x, dtype=np.float64)) for x in a]


SAMPLE_MOMENTS = [  # distribution, closed-form mean, closed-form variance
    (lambda: D.Normal(*_f64([1.0, -2.0], [0.5, 2.0])), [1.0, -2.0], [0.25, 4.0]),
    (lambda: D.Uniform(*_f64([0.0, -1.0], [1.0, 3.0])), [0.5, 1.0], [1 / 12, 16 / 12]),
    (lambda: D.Exponential(*_f64([0.5, 2.0])), [2.0, 0.5], [4.0, 0.25]),
    (lambda: D.Laplace(*_f64([1.0], [0.5])), [1.0], [0.5]),
    (lambda: D.Gamma(*_f64([0.5, 3.0], [1.0, 2.0])), [0.5, 1.5], [0.5, 0.75]),
    (lambda: D.Beta(*_f64([2.0, 0.5], [3.0, 0.5])), [0.4, 0.5], [6 / 150, 0.125]),
    (lambda: D.Poisson(*_f64([0.5, 4.0])), [0.5, 4.0], [0.5, 4.0]),
    (lambda: D.Bernoulli(*_f64([0.2, 0.7])), [0.2, 0.7], [0.16, 0.21]),
    (lambda: D.Geometric(*_f64([0.3])), [7 / 3], [0.7 / 0.09]),
    (lambda: D.Binomial(*_f64([10.0, 3.0], [0.3, 0.5])), [3.0, 1.5], [2.1, 0.75]),
    (lambda: D.LogNormal(*_f64([0.0], [0.5])), [math.exp(0.125)], [(math.exp(0.25) - 1) * math.exp(0.25)]),
    (lambda: D.StudentT(*_f64([5.0], [1.0], [2.0])), [1.0], [4 * 5 / 3]),
    (lambda: D.Categorical(probs=_f64([0.2, 0.3, 0.5])[0]), [1.3], [0.61]),
    (lambda: D.Dirichlet(*_f64([1.0, 2.0, 3.0])), [1 / 6, 2 / 6, 3 / 6], [5 / 252, 8 / 252, 9 / 252]),
    (lambda: D.Multinomial(6, probs=_f64([0.2, 0.8])[0]), [1.2, 4.8], [0.96, 0.96]),
    (lambda: D.OneHotCategorical(probs=_f64([0.2, 0.8])[0]), [0.2, 0.8], [0.16, 0.16]),
    (
        lambda: D.MultivariateNormal(*_f64([1.0, -1.0]), covariance_matrix=_f64([[2.0, 0.5], [0.5, 1.0]])[0]),
        [1.0, -1.0],
        [2.0, 1.0],
    ),
]


@pytest.mark.parametrize("case", range(len(SAMPLE_MOMENTS)))
def test_sample_moments_match_closed_forms(case):
    make, mean, var = SAMPLE_MOMENTS[case]
    bp.manual_seed(case)
    d = make()
    n = 40000
    x = d.sample((n,))._data
    mean, var = np.array(mean), np.array(var)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / n)), (x.mean(0), mean)
    assert np.all(np.abs(x.var(0) / var - 1) < 0.1), (x.var(0), var)
    if not isinstance(d, (D.Categorical, D.Multinomial, D.OneHotCategorical, D.StudentT)):
        np.testing.assert_allclose(d.mean._data, mean, rtol=1e-12)
        np.testing.assert_allclose(d.variance._data, var, rtol=1e-12)


def test_samples_are_deterministic_under_manual_seed():
    def draw():
        bp.manual_seed(7)
        return [
            d.sample((3,))._data.copy()
            for d in (D.Normal(0.0, 1.0), D.Gamma(2.0, 1.0), D.Categorical(logits=bp.zeros(4)), D.Poisson(3.0))
        ]

    for a, b in zip(draw(), draw()):
        np.testing.assert_array_equal(a, b)
    bp.manual_seed(8)
    assert not np.array_equal(D.Normal(0.0, 1.0).sample((3,))._data, draw()[0])


def test_rsample_gradients_flow_to_parameters():
    bp.manual_seed(0)
    loc = bp.tensor([1.0, -1.0], dtype=bp.float64, requires_grad=True)
    scale = bp.tensor([0.5, 2.0], dtype=bp.float64, requires_grad=True)
    x = D.Normal(loc, scale).rsample((1000,))
    x.sum().backward()
    np.testing.assert_allclose(loc.grad._data, [1000.0, 1000.0])  # d/dloc of each draw is 1
    np.testing.assert_allclose(scale.grad._data, ((x.detach() - loc.detach()) / scale.detach()).sum(0)._data)
    # Uniform: x = low + u (high - low), so d mean(x)/d low + d mean(x)/d high = 1
    low = bp.tensor(0.0, dtype=bp.float64, requires_grad=True)
    high = bp.tensor(2.0, dtype=bp.float64, requires_grad=True)
    D.Uniform(low, high).rsample((20000,)).mean().backward()
    assert low.grad.item() + high.grad.item() == pytest.approx(1.0)
    assert high.grad.item() == pytest.approx(0.5, abs=0.02)
    # Exponential: x = e / rate, d E[x]/d rate = -1/rate^2
    rate = bp.tensor(2.0, dtype=bp.float64, requires_grad=True)
    D.Exponential(rate).rsample((40000,)).mean().backward()
    assert rate.grad.item() == pytest.approx(-0.25, rel=0.03)
    # MultivariateNormal: x = loc + L eps
    mloc = bp.tensor([0.0, 0.0], dtype=bp.float64, requires_grad=True)
    D.MultivariateNormal(mloc, scale_tril=bp.eye(2, dtype=bp.float64)).rsample((10,)).sum().backward()
    np.testing.assert_allclose(mloc.grad._data, [10.0, 10.0])


@needs_torch
def test_gamma_rsample_implicit_gradient_as_torch():
    alpha = np.array([0.3, 1.0, 2.5, 10.0])
    bp.manual_seed(3)
    a = bp.tensor(alpha, dtype=bp.float64, requires_grad=True)
    x = D.Gamma(a, bp.ones(4, dtype=bp.float64)).rsample((50,))
    (ga,) = bp.autograd.grad(x.sum(), [a])
    # torch's implicit-reparameterisation derivative at the same draws (torch's series approximations
    # are accurate to about 1e-4; ours is a difference of SciPy's gammainc, about 1e-9)
    xt = torch.tensor(x.detach()._data)
    expected = torch._standard_gamma_grad(torch.tensor(alpha).expand(50, 4), xt).sum(0)
    np.testing.assert_allclose(ga._data, expected.numpy(), rtol=2e-4)
    # and E[dx/da] = d E[x]/d a = 1 for Gamma(a, 1)
    a2 = bp.tensor([2.0], dtype=bp.float64, requires_grad=True)
    D.Gamma(a2, 1.0).rsample((40000,)).mean().backward()
    assert a2.grad.item() == pytest.approx(1.0, abs=0.03)
    # Beta/Dirichlet rsample: d E[x_0]/d a_0 = (a0 + a1 - a0) / (a0 + a1)^2
    c1 = bp.tensor(2.0, dtype=bp.float64, requires_grad=True)
    D.Beta(c1, bp.tensor(3.0, dtype=bp.float64)).rsample((40000,)).mean().backward()
    assert c1.grad.item() == pytest.approx(3 / 25, abs=0.01)


def test_gamma_cdf_gradient_in_the_concentration():
    a = bp.tensor([0.7, 2.0, 5.0], dtype=bp.float64, requires_grad=True)
    rate = bp.tensor([1.0, 0.5, 2.0], dtype=bp.float64, requires_grad=True)
    value = bp.tensor([0.4, 3.0, 2.5], dtype=bp.float64)
    assert bp.gradcheck(lambda a, r: D.Gamma(a, r).cdf(value), (a, rate), eps=1e-6, atol=1e-6)
    assert bp.gradgradcheck(lambda r: D.Gamma(a.detach(), r).cdf(value), (rate,), eps=1e-6, atol=1e-6)


def test_log_prob_double_backward():
    loc = bp.tensor([0.3, -0.2], dtype=bp.float64, requires_grad=True)
    scale = bp.tensor([1.5, 0.7], dtype=bp.float64, requires_grad=True)
    value = bp.tensor([0.1, 0.4], dtype=bp.float64)
    assert bp.gradgradcheck(lambda m, s: D.Normal(m, s).log_prob(value), (loc, scale))
    conc = bp.tensor([[1.5, 0.7, 2.0]], dtype=bp.float64, requires_grad=True)
    assert bp.gradgradcheck(lambda c: D.Dirichlet(c).entropy(), (conc,))
