"""A differential fuzzer: every bp.distributions family against torch.distributions.

For random valid parameters (several batch shapes, broadcasting between parameters, Python-float and
tensor scalars, float32 and float64) it compares shapes, supports, constraints, moments, entropy,
log_prob (inside the support, on its boundary and, with validate_args=False, outside it), cdf/icdf,
enumerate_support, expand, sample/rsample shapes and dtypes, parameter gradients (float64), every
registered kl_divergence pair, validation errors, and transforms/constraints. Random streams differ
from torch's by design, so samples are compared by shape, dtype and support, never by value.
``python tests/test_parity_distributions_fuzz.py`` prints every difference found.
"""

# ruff: noqa: B023 - every lambda here is called at once, inside the loop iteration that made it
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.distributions as D

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: this test compares with torch")
T = None if torch is None else torch.distributions

# Differences we know of and keep, with the reason: (case or check prefix, substring of the difference).
KNOWN: dict[tuple[str, str], str] = {
    ("VonMises", ""): "torch's log I0/I1 are polynomial approximations (~1e-8 relative); ours are SciPy's i0e/i1e",
    ("GeneralizedPareto", "Double did not match Float"): "torch's log_prob/cdf fail for float64 parameters "
    "(torch.isclose against a float32 tensor(0.0)); ours compute in the parameters' dtype",
    ("Multinomial", "entropy: values"): "torch takes lgamma(n + 1) of int64 counts in float32; ours in float64",
    ("Multinomial", "perplexity: values"): "exp of the entropy above",
    ("Multinomial", "expand.entropy: torch raises"): "torch's expanded Multinomial lacks _binomial (torch bug)",
    ("kl(Wishart, Wishart)", ""): "README: torch's Bregman fallback sums the df term over the batch",
    ("LowRankMultivariateNormal:param", ""): "torch factors the capacitance before validating (LinAlgError); ours "
    "validate first (ValueError) or raise numpy's LinAlgError",
}


def _unknown(diffs):
    return [d for d in diffs if not any(d.startswith(c) and s in d for (c, s) in KNOWN)]


# ---------------------------------------------------------------------------------------------- parameters
def _r(rng, shape):
    return rng.standard_normal(shape)


def _p(rng, shape, lo=0.5, hi=2.0):
    return rng.uniform(lo, hi, shape)


def _u(rng, shape):
    return rng.uniform(0.15, 0.85, shape)


def _simplex(rng, shape):
    x = rng.uniform(0.2, 1.0, shape)
    return x / x.sum(-1, keepdims=True)


def _spd(rng, shape, n=3):
    a = rng.standard_normal((*shape, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _tril(rng, shape, n=3):
    return np.linalg.cholesky(_spd(rng, shape, n))


# Each case: (class name, maker(rng, batch) -> (positional args, keyword args)); numpy arrays become
# tensors of the dtype under test, Python floats stay floats. ``b`` is a batch shape; ``b2`` a shape that
# broadcasts with it (used for a second parameter).
def _two(b):
    return b, (b[-1:] if b else b)


CASES = {
    "Normal": ("Normal", lambda g, b: ([_r(g, b), _p(g, _two(b)[1])], {})),
    "Normal-float": ("Normal", lambda g, b: ([0.3, 1.5], {})),
    "Normal-mixed": ("Normal", lambda g, b: ([_r(g, b), 2.0], {})),
    "Uniform": ("Uniform", lambda g, b: ([-_p(g, b), _p(g, _two(b)[1])], {})),
    "Exponential": ("Exponential", lambda g, b: ([_p(g, b)], {})),
    "Exponential-float": ("Exponential", lambda g, b: ([1.7], {})),
    "Laplace": ("Laplace", lambda g, b: ([_r(g, b), _p(g, b)], {})),
    "Cauchy": ("Cauchy", lambda g, b: ([_r(g, b), _p(g, b)], {})),
    "HalfCauchy": ("HalfCauchy", lambda g, b: ([_p(g, b)], {})),
    "HalfNormal": ("HalfNormal", lambda g, b: ([_p(g, b)], {})),
    "LogNormal": ("LogNormal", lambda g, b: ([_r(g, b) * 0.3, _p(g, b)], {})),
    "Gumbel": ("Gumbel", lambda g, b: ([_r(g, b), _p(g, b)], {})),
    "Gamma": ("Gamma", lambda g, b: ([_p(g, b, 0.5, 3), _p(g, _two(b)[1])], {})),
    "Gamma-float": ("Gamma", lambda g, b: ([2.0, 1.5], {})),
    "Chi2": ("Chi2", lambda g, b: ([_p(g, b, 1, 5)], {})),
    "InverseGamma": ("InverseGamma", lambda g, b: ([_p(g, b, 2.5, 4), _p(g, b)], {})),
    "Beta": ("Beta", lambda g, b: ([_p(g, b, 1.2, 3), _p(g, b, 1.2, 3)], {})),
    "Beta-float": ("Beta", lambda g, b: ([2.0, 3.0], {})),
    "Kumaraswamy": ("Kumaraswamy", lambda g, b: ([_p(g, b, 1.2, 3), _p(g, b, 1.2, 3)], {})),
    "Dirichlet": ("Dirichlet", lambda g, b: ([_p(g, (*b, 4), 1.1, 3)], {})),
    "StudentT": ("StudentT", lambda g, b: ([_p(g, b, 2.5, 6), _r(g, b), _p(g, b)], {})),
    "FisherSnedecor": ("FisherSnedecor", lambda g, b: ([_p(g, b, 2, 6), _p(g, b, 5, 9)], {})),
    "Pareto": ("Pareto", lambda g, b: ([_p(g, b), _p(g, b, 2.5, 4)], {})),
    "Weibull": ("Weibull", lambda g, b: ([_p(g, b), _p(g, b, 0.8, 3)], {})),
    "VonMises": ("VonMises", lambda g, b: ([_r(g, b), _p(g, b)], {})),
    "GeneralizedPareto": ("GeneralizedPareto", lambda g, b: ([_r(g, b), _p(g, b), _r(g, b) * 0.2], {})),
    "ContinuousBernoulli": ("ContinuousBernoulli", lambda g, b: ([_u(g, b)], {})),
    "ContinuousBernoulli-logits": ("ContinuousBernoulli", lambda g, b: ([], {"logits": _r(g, b)})),
    "Poisson": ("Poisson", lambda g, b: ([_p(g, b, 0.5, 5)], {})),
    "Bernoulli": ("Bernoulli", lambda g, b: ([_u(g, b)], {})),
    "Bernoulli-logits": ("Bernoulli", lambda g, b: ([], {"logits": _r(g, b)})),
    "Bernoulli-float": ("Bernoulli", lambda g, b: ([0.3], {})),
    "Geometric": ("Geometric", lambda g, b: ([_u(g, b)], {})),
    "Geometric-logits": ("Geometric", lambda g, b: ([], {"logits": _r(g, b)})),
    "Binomial": ("Binomial", lambda g, b: ([], {"total_count": 6, "probs": _u(g, b)})),
    "Binomial-tensor-n": ("Binomial", lambda g, b: ([], {"total_count": g.integers(1, 8, b) * 1.0, "probs": _u(g, b)})),
    "Binomial-logits": ("Binomial", lambda g, b: ([], {"total_count": 5, "logits": _r(g, b)})),
    "NegativeBinomial": ("NegativeBinomial", lambda g, b: ([], {"total_count": _p(g, b, 1, 5), "probs": _u(g, b)})),
    "NegativeBinomial-logits": ("NegativeBinomial", lambda g, b: ([], {"total_count": 3.0, "logits": _r(g, b)})),
    "Categorical": ("Categorical", lambda g, b: ([_p(g, (*b, 4))], {})),
    "Categorical-logits": ("Categorical", lambda g, b: ([], {"logits": _r(g, (*b, 4))})),
    "OneHotCategorical": ("OneHotCategorical", lambda g, b: ([_simplex(g, (*b, 4))], {})),
    "OneHotCategoricalStraightThrough": (
        "OneHotCategoricalStraightThrough",
        lambda g, b: ([], {"logits": _r(g, (*b, 3))}),
    ),
    "Multinomial": ("Multinomial", lambda g, b: ([5, _simplex(g, (*b, 3))], {})),
    "Multinomial-logits": ("Multinomial", lambda g, b: ([], {"total_count": 4, "logits": _r(g, (*b, 3))})),
    "RelaxedBernoulli": ("RelaxedBernoulli", lambda g, b: ([_p(g, b, 0.5, 2), _u(g, b)], {})),
    "RelaxedOneHotCategorical": (
        "RelaxedOneHotCategorical",
        lambda g, b: ([_p(g, b, 0.5, 2)], {"probs": _simplex(g, (*b, 3))}),
    ),
    "MultivariateNormal-cov": ("MultivariateNormal", lambda g, b: ([_r(g, (*b, 3)), _spd(g, b)], {})),
    "MultivariateNormal-tril": ("MultivariateNormal", lambda g, b: ([_r(g, 3)], {"scale_tril": _tril(g, b)})),
    "MultivariateNormal-prec": (
        "MultivariateNormal",
        lambda g, b: ([_r(g, (*b, 3))], {"precision_matrix": _spd(g, ())}),
    ),
    "LowRankMultivariateNormal": (
        "LowRankMultivariateNormal",
        lambda g, b: ([_r(g, (*b, 3)), _r(g, (*b, 3, 2)), _p(g, (*b, 3))], {}),
    ),
    "LogisticNormal": ("LogisticNormal", lambda g, b: ([_r(g, (*b, 3)), _p(g, (*b, 3))], {})),
    "Wishart": ("Wishart", lambda g, b: ([_p(g, b, 4, 6)], {"covariance_matrix": _spd(g, b)})),
    "Wishart-tril": ("Wishart", lambda g, b: ([5.0], {"scale_tril": _tril(g, b)})),
    "LKJCholesky": ("LKJCholesky", lambda g, b: ([3, _p(g, b, 0.5, 3)], {})),
    "Independent-Normal": (
        lambda m, loc, scale, **kw: m.Independent(m.Normal(loc, scale), 1, **kw),
        lambda g, b: ([_r(g, (*b, 2)), _p(g, (*b, 2))], {}),
    ),
    "Independent-Bernoulli": (
        lambda m, p, **kw: m.Independent(m.Bernoulli(p), 1, **kw),
        lambda g, b: ([_u(g, (*b, 2))], {}),
    ),
    "Transformed-ExpAffine": (
        lambda m, loc, scale, a, c, **kw: m.TransformedDistribution(
            m.Normal(loc, scale), [m.transforms.ExpTransform(), m.transforms.AffineTransform(a, c)], **kw
        ),
        lambda g, b: ([_r(g, b), _p(g, b), 0.5, 2.0], {}),
    ),
    "Transformed-Sigmoid": (
        lambda m, loc, scale, **kw: m.TransformedDistribution(
            m.Normal(loc, scale), m.transforms.SigmoidTransform(), **kw
        ),
        lambda g, b: ([_r(g, b), _p(g, b)], {}),
    ),
    "Transformed-StickBreaking": (
        lambda m, loc, scale, **kw: m.TransformedDistribution(
            m.Independent(m.Normal(loc, scale), 1), m.transforms.StickBreakingTransform(), **kw
        ),
        lambda g, b: ([_r(g, (*b, 3)), _p(g, (*b, 3))], {}),
    ),
    "MixtureSameFamily-Normal": (
        lambda m, logits, loc, scale, **kw: m.MixtureSameFamily(
            m.Categorical(logits=logits), m.Normal(loc, scale), **kw
        ),
        lambda g, b: ([_r(g, (*b, 3)), _r(g, (*b, 3)), _p(g, (*b, 3))], {}),
    ),
    "MixtureSameFamily-MVN": (
        lambda m, logits, loc, scale, **kw: m.MixtureSameFamily(
            m.Categorical(logits=logits), m.Independent(m.Normal(loc, scale), 1), **kw
        ),
        lambda g, b: ([_r(g, (*b, 3)), _r(g, (*b, 3, 2)), _p(g, (*b, 3, 2))], {}),
    ),
}
FLOAT_PARAMS = {c for c in CASES if c.endswith("-float")}  # Python floats: torch's default dtype, float32
SHAPES = [(), (3,), (2, 3)]
TOL = {"float64": (1e-9, 1e-11), "float32": (2e-4, 2e-5)}


# ------------------------------------------------------------------------------------------------- helpers
def _to(lib, x, dtype):
    if isinstance(x, np.ndarray):
        if lib is bp:
            return bp.tensor(x, dtype=getattr(bp, dtype))
        return torch.tensor(x, dtype=getattr(torch, dtype))
    return x


def _make(lib_mod, case, shape, dtype, seed, validate=None, grad=False):
    name, maker = CASES[case]
    args, kwargs = maker(np.random.default_rng(seed), shape)
    lib = bp if lib_mod is D else torch
    targs = [_to(lib, a, dtype) for a in args]
    tkw = {k: _to(lib, v, dtype) for k, v in kwargs.items()}
    params = []
    if grad:
        for t in [*targs, *tkw.values()]:
            if lib is bp and isinstance(t, bp.Tensor) or lib is torch and isinstance(t, torch.Tensor):
                if case.startswith(("Binomial", "Multinomial")) and t is tkw.get("total_count"):
                    continue
                t.requires_grad_(True)
                params.append(t)
    extra = {} if validate is None else {"validate_args": validate}
    cls = getattr(lib_mod, name) if isinstance(name, str) else lambda *a, **k: name(lib_mod, *a, **k)
    return cls(*targs, **tkw, **extra), params


def _arr(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, bp.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _dt(x):
    return str(x.dtype).replace("torch.", "")


def _call(f):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return True, f()
    except Exception as e:  # noqa: BLE001 - the class is what we compare
        return False, e


def _cmp(diffs, key, ob, ot, dtype, rtol=None, atol=None):
    """Compare two results of ``_call``: both raised the same kind, or values, shapes and dtypes agree."""
    okb, vb = ob
    okt, vt = ot
    if not okt:
        if okb and not isinstance(vt, NotImplementedError):
            diffs.append(f"{key}: torch raises {type(vt).__name__}({vt}), ours returns")
        elif not okb and isinstance(vt, ValueError) and not isinstance(vb, ValueError):
            diffs.append(f"{key}: torch raises {type(vt).__name__}, ours {type(vb).__name__}({vb})")
        return
    if not okb:
        diffs.append(f"{key}: ours raises {type(vb).__name__}({vb}), torch returns")
        return
    if isinstance(vt, torch.Size):
        if tuple(vt) != tuple(vb):
            diffs.append(f"{key}: {tuple(vb)} vs torch {tuple(vt)}")
        return
    if isinstance(vt, torch.Tensor):
        if not isinstance(vb, bp.Tensor):
            diffs.append(f"{key}: ours returns {type(vb).__name__}, torch a tensor")
            return
        if _dt(vb) != _dt(vt):
            diffs.append(f"{key}: dtype {_dt(vb)} vs torch {_dt(vt)}")
        a, b = _arr(vb), _arr(vt)
        if a.shape != b.shape:
            diffs.append(f"{key}: shape {a.shape} vs torch {b.shape}")
            return
        r, t = TOL["float32" if key.split("[")[0] in FLOAT_PARAMS else dtype]
        if not np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol or r, atol=atol or t, equal_nan=True):
            bad = ~np.isclose(
                a.astype(np.float64), b.astype(np.float64), rtol=rtol or r, atol=atol or t, equal_nan=True
            )
            diffs.append(f"{key}: values {a[bad][:3]} vs torch {b[bad][:3]}")
        return
    if vb != vt:
        diffs.append(f"{key}: {vb!r} vs torch {vt!r}")


def _constraint_sig(c):
    """A constraint's class name and bounds, comparable across the two libraries."""
    base = getattr(c, "base_constraint", None)
    sig = [type(c).__name__.lstrip("_"), getattr(c, "event_dim", None), getattr(c, "is_discrete", None)]
    for attr in ("lower_bound", "upper_bound", "reinterpreted_batch_ndims"):
        v = getattr(c, attr, None)
        if v is not None:
            a = _arr(v)
            sig.append((attr, a.shape, np.round(a.astype(np.float64), 6).tolist()))
    if base is not None:
        sig.append(_constraint_sig(base))
    return sig


# boundary and outside points by support kind
def _edge_points(support_sig, dtype):
    kind = support_sig[0]
    lo = hi = None
    for item in support_sig[3:]:
        if isinstance(item, tuple) and item[0] == "lower_bound":
            lo = item[2]
        if isinstance(item, tuple) and item[0] == "upper_bound":
            hi = item[2]
    if kind in ("Real",):
        return [-1e3, 1e3], [math.nan, math.inf, -math.inf]
    if kind in ("GreaterThan", "GreaterThanEq"):
        return ([lo if np.isscalar(lo) else None] if np.isscalar(lo) else []), [-1.0, -0.5]
    if kind in ("Interval", "HalfOpenInterval"):
        return [0.0, 1.0] if (lo, hi) == (0.0, 1.0) else [], [-0.5, 1.5]
    if kind in ("Boolean",):
        return [0.0, 1.0], [0.5, 2.0, -1.0]
    if kind in ("IntegerGreaterThan",):
        return [0.0], [-1.0, 0.5]
    if kind in ("IntegerInterval",):
        return [0.0], [-1.0, 0.5]
    return [], []


def _full(lib, value, shape, dtype):
    if lib is bp:
        return bp.full(tuple(shape), value, dtype=getattr(bp, dtype))
    return torch.full(tuple(shape), value, dtype=getattr(torch, dtype))


def fuzz_case(case, shape, dtype, seed=0):
    """Every difference between bp and torch for one case, batch shape and dtype, as strings."""
    diffs: list[str] = []
    key = f"{case}{list(shape)}:{dtype}"
    ob = _call(lambda: _make(D, case, shape, dtype, seed)[0])
    ot = _call(lambda: _make(T, case, shape, dtype, seed)[0])
    if not (ob[0] and ot[0]):
        _cmp(diffs, f"{key}:init", ob, ot, dtype)
        return diffs
    db, dt = ob[1], ot[1]
    for attr in ("batch_shape", "event_shape", "has_rsample", "has_enumerate_support"):
        _cmp(diffs, f"{key}:{attr}", _call(lambda a=attr: getattr(db, a)), _call(lambda a=attr: getattr(dt, a)), dtype)
    sb, st = _call(lambda: _constraint_sig(db.support)), _call(lambda: _constraint_sig(dt.support))
    _cmp(diffs, f"{key}:support", sb, st, dtype)
    ab = {k: _constraint_sig(v) for k, v in db.arg_constraints.items()}
    at = {k: _constraint_sig(v) for k, v in dt.arg_constraints.items()}
    if ab != at:
        diffs.append(f"{key}:arg_constraints: {ab} vs torch {at}")
    for attr in ("mean", "mode", "variance", "stddev"):
        _cmp(diffs, f"{key}:{attr}", _call(lambda a=attr: getattr(db, a)), _call(lambda a=attr: getattr(dt, a)), dtype)
    for meth in ("entropy", "perplexity"):
        _cmp(diffs, f"{key}:{meth}", _call(getattr(db, meth)), _call(getattr(dt, meth)), dtype)
    # samples: shape, dtype, inside our support
    for ss in [(), (2,), (2, 1)]:
        for meth in ("sample", "rsample"):
            xb, xt = _call(lambda m=meth, s=ss: getattr(db, m)(s)), _call(lambda m=meth, s=ss: getattr(dt, m)(s))
            if xb[0] and xt[0]:
                if tuple(xb[1].shape) != tuple(xt[1].shape) or _dt(xb[1]) != _dt(xt[1]):
                    diffs.append(
                        f"{key}:{meth}{ss}: {tuple(xb[1].shape)} {_dt(xb[1])} "
                        f"vs torch {tuple(xt[1].shape)} {_dt(xt[1])}"
                    )
                elif meth == "sample" and not bool(_call(lambda x=xb[1]: db.support.check(x).all())[1]):
                    diffs.append(f"{key}:{meth}{ss}: a sample outside the support")
                elif meth == "rsample" and xb[1].requires_grad != xt[1].requires_grad:
                    diffs.append(f"{key}:rsample requires_grad {xb[1].requires_grad} vs torch {xt[1].requires_grad}")
            elif xb[0] != xt[0]:
                _cmp(diffs, f"{key}:{meth}{ss}", (xb[0], xb[1] if not xb[0] else bp.tensor(0.0)), xt, dtype)
    ok, pts = _call(lambda: dt.sample((2,)))
    if ok:
        pts_np = _arr(pts)
        pb, pt = _to(bp, pts_np, dtype), _to(torch, pts_np, dtype)
        for meth in ("log_prob", "cdf"):
            _cmp(
                diffs,
                f"{key}:{meth}",
                _call(lambda m=meth: getattr(db, m)(pb)),
                _call(lambda m=meth: getattr(dt, m)(pt)),
                dtype,
            )
        u = np.random.default_rng(seed + 1).uniform(0.05, 0.95, (2, *dt.batch_shape, *dt.event_shape))
        _cmp(
            diffs,
            f"{key}:icdf",
            _call(lambda: db.icdf(_to(bp, u, dtype))),
            _call(lambda: dt.icdf(_to(torch, u, dtype))),
            dtype,
        )
    # boundary points (validated) and outside points (validate_args=False), broadcast to batch+event
    if st[0]:
        inside, outside = _edge_points(st[1], dtype)
        full_shape = (*dt.batch_shape, *dt.event_shape)
        nb = _make(D, case, shape, dtype, seed, validate=False)[0]
        nt = _make(T, case, shape, dtype, seed, validate=False)[0]
        for v in inside:
            if v is None:
                continue
            for meth in ("log_prob", "cdf"):
                _cmp(
                    diffs,
                    f"{key}:{meth}(edge {v})",
                    _call(lambda m=meth, v=v: getattr(db, m)(_full(bp, v, full_shape, dtype))),
                    _call(lambda m=meth, v=v: getattr(dt, m)(_full(torch, v, full_shape, dtype))),
                    dtype,
                )
        for v in outside:
            for meth in ("log_prob", "cdf"):
                _cmp(
                    diffs,
                    f"{key}:{meth}(outside {v}, no validation)",
                    _call(lambda m=meth, v=v: getattr(nb, m)(_full(bp, v, full_shape, dtype))),
                    _call(lambda m=meth, v=v: getattr(nt, m)(_full(torch, v, full_shape, dtype))),
                    dtype,
                )
                eb = _call(lambda m=meth, v=v: getattr(db, m)(_full(bp, v, full_shape, dtype)))
                et = _call(lambda m=meth, v=v: getattr(dt, m)(_full(torch, v, full_shape, dtype)))
                if eb[0] != et[0] or (not et[0] and type(eb[1]) is not type(et[1])):
                    diffs.append(
                        f"{key}:{meth}(outside {v}) validated: ours {'returns' if eb[0] else repr(eb[1])[:80]}, "
                        f"torch {'returns' if et[0] else repr(et[1])[:80]}"
                    )
    for expand in (True, False):
        _cmp(
            diffs,
            f"{key}:enumerate_support({expand})",
            _call(lambda e=expand: db.enumerate_support(e)),
            _call(lambda e=expand: dt.enumerate_support(e)),
            dtype,
        )
    new = (4, *dt.batch_shape)
    eb, et = _call(lambda: db.expand(new)), _call(lambda: dt.expand(new))
    if eb[0] and et[0]:
        _cmp(diffs, f"{key}:expand.batch_shape", (True, eb[1].batch_shape), (True, et[1].batch_shape), dtype)
        for attr in ("mean", "variance"):
            _cmp(
                diffs,
                f"{key}:expand.{attr}",
                _call(lambda a=attr: getattr(eb[1], a)),
                _call(lambda a=attr: getattr(et[1], a)),
                dtype,
            )
        _cmp(diffs, f"{key}:expand.entropy", _call(eb[1].entropy), _call(et[1].entropy), dtype)
        xb, xt = _call(lambda: eb[1].sample()), _call(lambda: et[1].sample())
        if xb[0] and xt[0] and tuple(xb[1].shape) != tuple(xt[1].shape):
            diffs.append(f"{key}:expand.sample shape {tuple(xb[1].shape)} vs torch {tuple(xt[1].shape)}")
    elif eb[0] != et[0]:
        diffs.append(f"{key}:expand: ours {eb[1]!r}, torch {et[1]!r}")
    if dtype == "float64":
        diffs += _grads(case, shape, seed, key)
    return diffs


def _grads(case, shape, seed, key):
    """d out / d params for log_prob, mean, variance, entropy, cdf (float64)."""
    diffs: list[str] = []
    g = np.random.default_rng(seed + 7)
    for what in ("log_prob", "mean", "variance", "entropy", "cdf"):
        db, pb = _make(D, case, shape, "float64", seed, grad=True)
        dt, pt = _make(T, case, shape, "float64", seed, grad=True)
        if not pt:
            return diffs
        if what in ("log_prob", "cdf"):
            ok, x = _call(lambda: dt.sample((2,)))
            if not ok:
                continue
            x = _arr(x)
            ob, ot = _call(lambda: getattr(db, what)(bp.tensor(x))), _call(lambda: getattr(dt, what)(torch.tensor(x)))
        elif what == "entropy":
            ob, ot = _call(db.entropy), _call(dt.entropy)
        else:
            ob, ot = _call(lambda: getattr(db, what)), _call(lambda: getattr(dt, what))
        if not (ob[0] and ot[0]) or not ot[1].requires_grad:
            continue
        finite = np.isfinite(_arr(ot[1]))
        w = np.where(finite, g.uniform(0.5, 1.5, finite.shape), 0.0)
        lt = (torch.where(torch.tensor(finite), ot[1], 0) * torch.tensor(w)).sum()
        lb = (bp.where(bp.tensor(finite), ob[1], 0.0) * bp.tensor(w)).sum()
        if not ob[1].requires_grad:
            diffs.append(f"{key}:grad {what}: ours has no graph")
            continue
        gt = _call(lambda: torch.autograd.grad(lt, pt, allow_unused=True))
        if not gt[0]:
            continue  # torch has no derivative here
        gb = _call(lambda: bp.autograd.grad(lb, pb, allow_unused=True))
        if not gb[0]:
            diffs.append(f"{key}:grad {what}: ours raises {gb[1]!r}")
            continue
        for i, (a, b) in enumerate(zip(gb[1], gt[1])):
            if b is None:
                if a is not None and np.any(_arr(a) != 0):
                    diffs.append(f"{key}:grad {what} param {i}: ours nonzero, torch none")
                continue
            a = np.zeros(_arr(b).shape) if a is None else _arr(a)
            if not np.allclose(a, _arr(b), rtol=1e-7, atol=1e-9, equal_nan=True):
                diffs.append(f"{key}:grad {what} param {i}: {a.ravel()[:3]} vs torch {_arr(b).ravel()[:3]}")
    return diffs


def all_differences():
    out = []
    for case in CASES:
        for shape in SHAPES:
            for dtype in ("float64", "float32"):
                bp.manual_seed(0)
                torch.manual_seed(0)
                out += fuzz_case(case, shape, dtype)
    return out


# ----------------------------------------------------------------------------------------------------- KL
def _kl_cases():
    """One case per family (string-named cases only), keyed by class name."""
    out: dict[str, str] = {}
    for case, (name, _) in CASES.items():
        if isinstance(name, str) and name not in out and case not in FLOAT_PARAMS:
            out[name] = case
    return out


def kl_differences(shape=(3,), dtype="float64"):
    diffs = []
    names_t = {(p.__name__, q.__name__) for p, q in T.kl._KL_REGISTRY}
    names_b = {(p.__name__, q.__name__) for p, q in D.kl._KL_REGISTRY}
    if names_t != names_b:
        diffs.append(f"kl registry: ours only {sorted(names_b - names_t)}, torch only {sorted(names_t - names_b)}")
    cases = _kl_cases()
    made = {}
    for name, case in cases.items():
        for seed in (1, 2):
            made[name, seed] = (_make(D, case, shape, dtype, seed)[0], _make(T, case, shape, dtype, seed)[0])
    for p in cases:
        for q in cases:
            (pb, pt), (qb, qt) = made[p, 1], made[q, 2]
            _cmp(
                diffs,
                f"kl({p}, {q}):{dtype}",
                _call(lambda: D.kl_divergence(pb, qb)),
                _call(lambda: T.kl_divergence(pt, qt)),
                dtype,
            )
    return diffs


# --------------------------------------------------------------------------------------------- validation
def _msg_head(e):
    """The first line of a validation error without the reprs (which differ in formatting)."""
    text = str(e).split("\n")[0]
    if " of distribution " in text and " to satisfy the constraint " in text:
        head, rest = text.split(" of distribution ", 1)
        text = head + " ... to satisfy the constraint " + rest.split(" to satisfy the constraint ", 1)[1]
    return f"{type(e).__name__}: {text}"


def validation_differences(shape=(3,), dtype="float64"):
    diffs = []
    for case, (name, maker) in CASES.items():
        args, kwargs = maker(np.random.default_rng(0), shape)
        slots = [(i, None) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
        slots += [(None, k) for k, v in kwargs.items() if isinstance(v, np.ndarray)]
        for i, k in slots:
            for bad in (math.nan, -1.0):
                a2, k2 = list(args), dict(kwargs)
                if k is None:
                    a2[i] = np.full_like(args[i], bad)
                else:
                    k2[k] = np.full_like(kwargs[k], bad)
                res = []
                for lib, mod in ((bp, D), (torch, T)):
                    cls = getattr(mod, name) if isinstance(name, str) else (lambda *a, m=mod, **kw: name(m, *a, **kw))
                    res.append(
                        _call(
                            lambda: cls(
                                *[_to(lib, x, dtype) for x in a2], **{q: _to(lib, v, dtype) for q, v in k2.items()}
                            )
                        )
                    )
                (okb, eb), (okt, et) = res
                where = f"{case}:param {i if k is None else k}={bad}"
                if okb != okt:
                    diffs.append(
                        f"{where}: ours {'accepts' if okb else _msg_head(eb)}, "
                        f"torch {'accepts' if okt else _msg_head(et)}"
                    )
                elif not okb and _msg_head(eb) != _msg_head(et).replace("torch.", ""):
                    diffs.append(f"{where}: ours {_msg_head(eb)!r}, torch {_msg_head(et)!r}")
    return diffs


# ----------------------------------------------------------------------------- transforms and constraints
def _transforms(m, lib, dtype):
    """(name, transform, input as numpy) for the library module ``m``."""
    tr, g = m.transforms, np.random.default_rng(3)
    t = lambda a: _to(lib, np.asarray(a, dtype=np.float64), dtype)  # noqa: E731
    x = g.standard_normal((2, 4))
    return [
        ("Exp", tr.ExpTransform(), x),
        ("Sigmoid", tr.SigmoidTransform(), x),
        ("Tanh", tr.TanhTransform(), x * 0.5),
        ("Softplus", tr.SoftplusTransform(), x),
        ("Abs", tr.AbsTransform(), x),
        ("Affine-float", tr.AffineTransform(0.5, -2.0), x),
        ("Affine-tensor", tr.AffineTransform(t(g.standard_normal(4)), t(g.uniform(0.5, 2, 4))), x),
        ("Affine-event1", tr.AffineTransform(t(g.standard_normal(4)), t(g.uniform(0.5, 2, 4)), event_dim=1), x),
        ("Affine-zero-scale", tr.AffineTransform(0.0, t(np.array([0.0, 1, -1, 2]))), x),
        ("Power", tr.PowerTransform(t(2.5)), np.abs(x) + 0.1),
        ("Softmax", tr.SoftmaxTransform(), x),
        ("StickBreaking", tr.StickBreakingTransform(), x),
        ("LowerCholesky", tr.LowerCholeskyTransform(), g.standard_normal((2, 3, 3))),
        ("PositiveDefinite", tr.PositiveDefiniteTransform(), g.standard_normal((2, 3, 3))),
        ("CorrCholesky", tr.CorrCholeskyTransform(), g.standard_normal((2, 3))),
        ("Compose", tr.ComposeTransform([tr.ExpTransform(), tr.AffineTransform(1.0, 3.0)]), x),
        ("Compose-empty", tr.ComposeTransform([]), x),
        ("Independent", tr.IndependentTransform(tr.ExpTransform(), 1), x),
        ("Reshape", tr.ReshapeTransform((4,), (2, 2)), x),
        ("Cat", tr.CatTransform([tr.ExpTransform(), tr.AffineTransform(1.0, 2.0)], dim=1, lengths=[2, 2]), x),
        ("Stack", tr.StackTransform([tr.ExpTransform(), tr.SigmoidTransform()], dim=0), x),
        ("CDF-Normal", tr.CumulativeDistributionTransform(m.Normal(t(0.0), t(1.0))), x),
        ("Exp.inv", tr.ExpTransform().inv, np.abs(x) + 0.1),
        ("Sigmoid.inv", tr.SigmoidTransform().inv, g.uniform(0.1, 0.9, (2, 4))),
        ("identity", tr.identity_transform, x),
    ]


def _plain(v):
    """A sign/flag as a Python value: a tensor becomes its list of numbers."""
    if isinstance(v, bp.Tensor) or torch is not None and isinstance(v, torch.Tensor):
        return _arr(v).tolist()
    return v


def transform_differences(dtype="float64"):
    diffs = []
    ours, theirs = _transforms(D, bp, dtype), _transforms(T, torch, dtype)
    for (name, tb, x), (_, tt, _) in zip(ours, theirs):
        key = f"transform {name}:{dtype}"
        xb, xt = _to(bp, x, dtype), _to(torch, x, dtype)
        yb, yt = _call(lambda: tb(xb)), _call(lambda: tt(xt))
        _cmp(diffs, f"{key}:forward", yb, yt, dtype)
        if not (yb[0] and yt[0]):
            continue
        y_np = _arr(yt[1])
        _cmp(
            diffs,
            f"{key}:inv",
            _call(lambda: tb.inv(_to(bp, y_np, dtype))),
            _call(lambda: tt.inv(_to(torch, y_np, dtype))),
            dtype,
        )
        _cmp(
            diffs,
            f"{key}:log_abs_det_jacobian",
            _call(lambda: tb.log_abs_det_jacobian(xb, _to(bp, y_np, dtype))),
            _call(lambda: tt.log_abs_det_jacobian(xt, _to(torch, y_np, dtype))),
            dtype,
        )
        for attr in ("domain", "codomain"):
            _cmp(
                diffs,
                f"{key}:{attr}",
                _call(lambda a=attr: _constraint_sig(getattr(tb, a))),
                _call(lambda a=attr: _constraint_sig(getattr(tt, a))),
                dtype,
            )
        for attr in ("sign", "bijective", "event_dim"):
            ob, ot = _call(lambda a=attr: getattr(tb, a)), _call(lambda a=attr: getattr(tt, a))
            ob, ot = (ob[0], _plain(ob[1])), (ot[0], _plain(ot[1]))
            _cmp(diffs, f"{key}:{attr}", ob, ot, dtype)
        for attr, arg in (("forward_shape", x.shape), ("inverse_shape", y_np.shape)):
            _cmp(
                diffs,
                f"{key}:{attr}",
                _call(lambda a=attr, s=arg: tuple(getattr(tb, a)(s))),
                _call(lambda a=attr, s=arg: tuple(getattr(tt, a)(s))),
                dtype,
            )
        # the cache: with cache_size=1, inv(forward(x)) returns x itself
        cb, ct = _call(lambda: tb.with_cache(1)), _call(lambda: tt.with_cache(1))
        if cb[0] and ct[0]:
            hit_b = cb[1].inv(cb[1](xb)) is xb
            hit_t = ct[1].inv(ct[1](xt)) is xt
            if hit_b != hit_t:
                diffs.append(f"{key}:cache hit {hit_b} vs torch {hit_t}")
        else:
            _cmp(
                diffs,
                f"{key}:with_cache",
                (cb[0], bp.tensor(0.0) if cb[0] else cb[1]),
                (ct[0], torch.tensor(0.0) if ct[0] else ct[1]),
                dtype,
            )
    return diffs


def _constraints(C, lib, dtype):
    t = lambda a: _to(lib, np.asarray(a, dtype=np.float64), dtype)  # noqa: E731
    return [
        ("real", C.real),
        ("positive", C.positive),
        ("nonnegative", C.nonnegative),
        ("greater_than", C.greater_than(1.5)),
        ("greater_than_eq", C.greater_than_eq(-1.0)),
        ("greater_than-tensor", C.greater_than(t([0.0, 1, 2, 3]))),
        ("less_than", C.less_than(2.0)),
        ("interval", C.interval(-1.0, 2.0)),
        ("interval-tensor", C.interval(t([0.0, -1, 0, 1]), t(3.0))),
        ("half_open_interval", C.half_open_interval(-1.0, 2.0)),
        ("unit_interval", C.unit_interval),
        ("simplex", C.simplex),
        ("real_vector", C.real_vector),
        ("independent", C.independent(C.positive, 1)),
        ("cat", C.cat([C.positive, C.real], dim=-1, lengths=[2, 2])),
        ("stack", C.stack([C.positive, C.unit_interval], dim=0)),
        ("lower_cholesky", C.lower_cholesky),
        ("corr_cholesky", C.corr_cholesky),
        ("positive_definite", C.positive_definite),
        ("boolean", C.boolean),
        ("nonnegative_integer", C.nonnegative_integer),
        ("positive_integer", C.positive_integer),
        ("integer_interval", C.integer_interval(0, 3)),
        ("one_hot", C.one_hot),
        ("multinomial", C.multinomial(3)),
        ("lower_triangular", C.lower_triangular),
        ("square", C.square),
        ("symmetric", C.symmetric),
        ("positive_semidefinite", C.positive_semidefinite),
    ]


def _constraint_inputs(g):
    v = np.array([-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.nan, math.inf, -math.inf])
    m = g.standard_normal((3, 3))
    return [
        v.reshape(-1, 1).repeat(4, 1),
        g.standard_normal((2, 4)),
        np.array([[0.25, 0.25, 0.5, 0.0], [0.5, 0.5, 0.1, 0]]),
        np.array([[0.0, 1, 0, 0], [1.0, 1, 1, 0], [2.0, 1, 0, 0]]),
        np.stack([np.tril(m), np.linalg.cholesky(m @ m.T + np.eye(3)), m @ m.T, np.eye(3), np.zeros((3, 3))]),
    ]


def constraint_differences(dtype="float64"):
    diffs = []
    g = np.random.default_rng(4)
    for (name, cb), (_, ct) in zip(_constraints(D.constraints, bp, dtype), _constraints(T.constraints, torch, dtype)):
        key = f"constraint {name}:{dtype}"
        _cmp(diffs, f"{key}:sig", _call(lambda: _constraint_sig(cb)), _call(lambda: _constraint_sig(ct)), dtype)
        rb, rt = repr(cb).replace("dtype=float", "dtype=torch.float"), repr(ct)
        if rb != rt:
            diffs.append(f"{key}:repr {rb} vs torch {rt}")
        for i, x in enumerate(_constraint_inputs(g)):
            ob = _call(lambda: cb.check(_to(bp, x, dtype)))
            ot = _call(lambda: ct.check(_to(torch, x, dtype)))
            if ot[0] and ob[0] and _dt(ob[1]) == "bool" and _dt(ot[1]) == "bool":
                if _arr(ob[1]).shape != _arr(ot[1]).shape or (_arr(ob[1]) != _arr(ot[1])).any():
                    diffs.append(f"{key}:check(input {i}) {_arr(ob[1]).tolist()} vs torch {_arr(ot[1]).tolist()}")
            else:
                _cmp(diffs, f"{key}:check(input {i})", ob, ot, dtype)
        for fname in ("biject_to", "transform_to"):
            fb, ft = _call(lambda f=fname: getattr(D, f)(cb)), _call(lambda f=fname: getattr(T, f)(ct))
            if not (fb[0] and ft[0]):
                _cmp(
                    diffs,
                    f"{key}:{fname}",
                    (fb[0], fb[1] if not fb[0] else bp.tensor(0.0)),
                    (ft[0], ft[1] if not ft[0] else torch.tensor(0.0)),
                    dtype,
                )
                continue
            if repr(fb[1]).split("(")[0] != repr(ft[1]).split("(")[0]:
                diffs.append(f"{key}:{fname} {fb[1]!r} vs torch {ft[1]!r}")
            x = (
                g.standard_normal((2, 4))
                if name not in ("lower_cholesky", "positive_definite")
                else g.standard_normal((2, 3, 3))
            )
            if name == "corr_cholesky":
                x = g.standard_normal((2, 3))
            yb, yt = _call(lambda: fb[1](_to(bp, x, dtype))), _call(lambda: ft[1](_to(torch, x, dtype)))
            _cmp(diffs, f"{key}:{fname}(x)", yb, yt, dtype)
            if yb[0] and yt[0]:
                _cmp(
                    diffs,
                    f"{key}:{fname} ladj",
                    _call(lambda: fb[1].log_abs_det_jacobian(_to(bp, x, dtype), yb[1])),
                    _call(lambda: ft[1].log_abs_det_jacobian(_to(torch, x, dtype), yt[1])),
                    dtype,
                )
                ok = _call(lambda: bool(cb.check(yb[1]).all()))
                if ft[0] and bool(ct.check(yt[1]).all()) and not (ok[0] and ok[1]):
                    diffs.append(f"{key}:{fname}(x) not inside the constraint (ours)")
    return diffs


# ------------------------------------------------------------------------------ rsample gradients (Monte Carlo)
def rsample_grad_differences(n=2000, shape=(3,)):
    """d E[sigmoid(x)] / d params by Monte Carlo through ``rsample``: ours against torch's estimate (the
    streams differ, so the tolerance is statistical), and d E[x] / d params against d mean / d params."""
    diffs = []
    bp.manual_seed(11)
    torch.manual_seed(11)
    for case in CASES:
        if case in FLOAT_PARAMS:
            continue
        db, pb = _make(D, case, shape, "float64", 5, grad=True)
        dt, pt = _make(T, case, shape, "float64", 5, grad=True)
        if not dt.has_rsample or not pt:
            continue
        xb, xt = _call(lambda: db.rsample((n,))), _call(lambda: dt.rsample((n,)))
        if not (xb[0] and xt[0]):
            _cmp(
                diffs,
                f"{case}:rsample",
                (xb[0], xb[1] if not xb[0] else bp.tensor(0.0)),
                (xt[0], xt[1] if not xt[0] else torch.tensor(0.0)),
                "float64",
            )
            continue
        gt = _call(lambda: torch.autograd.grad(xt[1].sigmoid().mean(), pt, allow_unused=True, retain_graph=True))
        if not gt[0]:
            continue  # torch's own backward fails here (Wishart's in-place mask)
        gt = gt[1]
        gb = bp.autograd.grad(xb[1].sigmoid().mean(), pb, allow_unused=True, retain_graph=True)
        for i, (a, b) in enumerate(zip(gb, gt)):
            a = np.zeros(_arr(b).shape) if a is None else _arr(a)
            b = np.zeros(a.shape) if b is None else _arr(b)
            if not np.allclose(a, b, rtol=0.15, atol=2 / math.sqrt(n)):
                diffs.append(
                    f"{case}:rsample grad of E[sigmoid(x)] param {i}: {a.ravel()[:4]} vs torch {b.ravel()[:4]}"
                )
        okm, mean_t = _call(lambda: dt.mean)
        if okm and bool(torch.isfinite(mean_t).all()) and case not in ("Pareto", "FisherSnedecor", "InverseGamma"):
            xb2 = db.rsample((n,))
            gb = bp.autograd.grad(xb2.mean(0).sum(), pb, allow_unused=True)
            gt = torch.autograd.grad(mean_t.sum(), pt, allow_unused=True)
            for i, (a, b) in enumerate(zip(gb, gt)):
                a = np.zeros(_arr(b).shape) if a is None else _arr(a)
                b = np.zeros(a.shape) if b is None else _arr(b)
                if not np.allclose(a, b, rtol=0.15, atol=5 / math.sqrt(n)):
                    diffs.append(f"{case}:rsample grad of E[x] param {i}: {a.ravel()[:4]} vs exact {b.ravel()[:4]}")
    return diffs


# ------------------------------------------------------------------------------------------------- tests
@needs_torch
@pytest.mark.parametrize("case", list(CASES))
def test_fuzz_distribution(case):
    diffs = []
    for shape in SHAPES:
        for dtype in ("float64", "float32"):
            bp.manual_seed(0)
            torch.manual_seed(0)
            diffs += fuzz_case(case, shape, dtype)
    assert not _unknown(diffs), "\n".join(_unknown(diffs))


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fuzz_kl_divergence(dtype):
    diffs = kl_differences((3,), dtype) + kl_differences((2, 3), dtype)
    assert not _unknown(diffs), "\n".join(_unknown(diffs))


@needs_torch
def test_fuzz_validation_errors():
    diffs = validation_differences((3,)) + validation_differences(())
    assert not _unknown(diffs), "\n".join(_unknown(diffs))


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fuzz_transforms_and_constraints(dtype):
    diffs = transform_differences(dtype) + constraint_differences(dtype)
    assert not _unknown(diffs), "\n".join(_unknown(diffs))


@needs_torch
def test_fuzz_rsample_gradients():
    diffs = rsample_grad_differences()
    assert not _unknown(diffs), "\n".join(_unknown(diffs))


@needs_torch
def test_set_default_validate_args_as_torch():
    for lib, mod in ((bp, D), (torch, T)):
        try:
            for bad in (None, 2, "yes"):  # 1 and 0 pass, as torch (1 == True)
                with pytest.raises(ValueError):
                    mod.Distribution.set_default_validate_args(bad)
            mod.Distribution.set_default_validate_args(False)
            mod.Normal(lib.tensor(0.0), lib.tensor(-1.0))  # not validated
            assert mod.Normal(lib.tensor(0.0), lib.tensor(1.0)).log_prob(lib.tensor(math.nan)).isnan()
            with pytest.raises(ValueError):
                mod.Normal(lib.tensor(0.0), lib.tensor(-1.0), validate_args=True)
        finally:
            mod.Distribution.set_default_validate_args(True)
        with pytest.raises(ValueError):
            mod.Normal(lib.tensor(0.0), lib.tensor(-1.0))


# --------------------------------------------------------------------- regressions of what the fuzzer found
def test_poisson_and_negative_binomial_sample_with_scalar_parameters():
    bp.manual_seed(0)
    for d in (D.Poisson(2.0), D.Poisson(bp.tensor(3.0)), D.NegativeBinomial(3.0, logits=0.2)):
        x = d.sample()
        assert x.shape == () and str(x.dtype) == "float32" or str(x.dtype) == "float64"
    assert bp.poisson(bp.tensor(2.0, dtype=bp.float64)).shape == ()


def test_log_prob_casts_the_value_to_the_parameters_dtype():
    x = bp.tensor([0.5, 1.5], dtype=bp.float64)
    assert D.Gamma(2.0, 1.5).log_prob(x).dtype == bp.float32  # torch.as_tensor(value, dtype=rate.dtype)
    assert D.HalfCauchy(bp.tensor(1.0)).log_prob(x).dtype == bp.float32


def test_cross_family_kl_pairs_torch_registers():
    u, b = D.Uniform(bp.tensor([0.2, -1.0]), bp.tensor([0.7, 0.5])), D.Beta(bp.tensor(2.0), bp.tensor(3.0))
    kl = D.kl_divergence(u, b)
    assert math.isinf(kl[1].item()) and 0 < kl[0].item() < math.inf
    assert math.isinf(D.kl_divergence(b, D.Uniform(0.2, 2.0)).item())
    assert math.isfinite(D.kl_divergence(b, D.Uniform(-1.0, 2.0)).item())
    assert math.isfinite(D.kl_divergence(b, D.Gamma(2.0, 1.0)).item())
    for p, q in [(D.Normal(0.0, 1.0), D.Uniform(0.0, 1.0)), (D.Poisson(1.0), D.Bernoulli(0.5)),
                 (D.Laplace(0.0, 1.0), D.Gamma(2.0, 1.0)), (D.Exponential(1.0), D.Beta(1.0, 1.0))]:  # fmt: skip
        assert math.isinf(D.kl_divergence(p, q).item())


@needs_torch
def test_cross_family_kl_values_as_torch():
    u = ([0.2, 0.1], [0.7, 0.95])
    ours = D.kl_divergence(D.Uniform(bp.tensor(u[0]), bp.tensor(u[1])), D.Beta(bp.tensor(2.0), bp.tensor(3.0)))
    theirs = T.kl_divergence(
        T.Uniform(torch.tensor(u[0]), torch.tensor(u[1])), T.Beta(torch.tensor(2.0), torch.tensor(3.0))
    )
    np.testing.assert_allclose(_arr(ours), _arr(theirs), rtol=1e-5)
    ours = D.kl_divergence(D.Beta(bp.tensor(2.0), bp.tensor(3.0)), D.Gamma(bp.tensor(2.0), bp.tensor(1.5)))
    theirs = T.kl_divergence(
        T.Beta(torch.tensor(2.0), torch.tensor(3.0)), T.Gamma(torch.tensor(2.0), torch.tensor(1.5))
    )
    np.testing.assert_allclose(_arr(ours), _arr(theirs), rtol=1e-5)


def test_mixture_same_family_constraint_in_constraints():
    c = D.constraints.MixtureSameFamilyConstraint(D.constraints.positive)
    assert c.event_dim == 0 and bool(c.check(bp.tensor([1.0, 2.0])).all())
    with pytest.raises(AssertionError):
        D.constraints.MixtureSameFamilyConstraint("positive")
    assert "MixtureSameFamilyConstraint" in D.constraints.__all__


if __name__ == "__main__":  # print every difference, known ones included
    for case in CASES:
        for shape in SHAPES:
            for dtype in ("float64", "float32"):
                print(*fuzz_case(case, shape, dtype), sep="\n") if fuzz_case(case, shape, dtype) else None
    for dtype in ("float64", "float32"):
        print(*kl_differences((3,), dtype), *transform_differences(dtype), *constraint_differences(dtype), sep="\n")
    print(*validation_differences(), *rsample_grad_differences(), sep="\n")
