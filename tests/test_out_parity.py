"""torch's ``out=`` keyword (``backprop/_out.py``): every wrapped function, called with ``out=`` against torch
(values, dtype, shape, the returned object, the version counter, writing through a view), and torch's rules for
it (autograd refused, dtype casts, resizing with its warning, tuples of outs). The torch cases skip without
torch; the cases with written-out values run everywhere.

The table: one call per function, ``name: builder`` where ``builder()`` returns ``(args, kwargs)``; NumPy
arrays (also inside lists and tuples) become tensors of the library under test, ``D("int64")`` its dtype.
``RANDOM`` names give random draws: only their shapes and dtypes are compared."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import _out

_rng = np.random.default_rng(1234)


class D:
    """A dtype by name, resolved in the library under test."""

    def __init__(self, name: str) -> None:
        self.name = name


def U(*shape: int, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    """float32 values in (lo, hi): inside every elementwise function's domain."""
    return _rng.uniform(lo, hi, shape).astype(np.float32)


def N(*shape: int) -> np.ndarray:
    return _rng.standard_normal(shape).astype(np.float32)


def I(*shape: int, lo: int = 1, hi: int = 9) -> np.ndarray:  # noqa: E743 - int64 values in [lo, hi)
    return _rng.integers(lo, hi, shape).astype(np.int64)


def SPD(n: int) -> np.ndarray:
    a = _rng.standard_normal((n, n))
    return (a @ a.T + n * np.eye(n)).astype(np.float32)


def TRI(n: int) -> np.ndarray:
    return (np.triu(_rng.standard_normal((n, n))) + 3 * np.eye(n)).astype(np.float32)


def c(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def _unary(**ranges: float) -> Callable[[], Any]:
    return lambda: c(U(3, 4, **ranges))


def _binary() -> Callable[[], Any]:
    return lambda: c(U(3, 4), U(4))


CASES: dict[str, Callable[[], Any]] = {}

for _n in (
    "abs acos asin atan asinh atanh ceil cos cosh deg2rad digamma erf erfc erfinv exp exp2 expm1 fix floor frac "
    "i0 lgamma log log10 log1p log2 logit neg negative rad2deg reciprocal round rsqrt sgn sigmoid sign signbit "
    "sin sinc sinh sqrt square tan tanh trunc isneginf isposinf nan_to_num conj_physical angle msort "
    "special.airy_ai special.bessel_j0 special.bessel_j1 special.bessel_y0 special.bessel_y1 special.digamma "
    "special.entr special.erf special.erfc special.erfcx special.erfinv special.exp2 special.expit special.expm1 "
    "special.gammaln special.i0 special.i0e special.i1 special.i1e special.log1p special.log_ndtr special.logit "
    "special.modified_bessel_i0 special.modified_bessel_i1 special.modified_bessel_k0 special.modified_bessel_k1 "
    "special.ndtr special.ndtri special.psi special.round special.scaled_modified_bessel_k0 "
    "special.scaled_modified_bessel_k1 special.sinc special.spherical_bessel_j0"
).split():
    CASES[_n] = _unary()
CASES["acosh"] = _unary(lo=1.1, hi=3.0)

for _n in (
    "add sub subtract mul multiply div divide atan2 copysign fmax fmin fmod float_power floor_divide hypot igamma "
    "igammac logaddexp logaddexp2 maximum minimum nextafter pow remainder xlogy heaviside special.xlog1py "
    "special.xlogy special.zeta special.gammainc special.gammaincc eq ne lt le gt ge less less_equal greater "
    "greater_equal not_equal logical_and logical_or logical_xor complex polar"
).split():
    CASES[_n] = _binary()
CASES["logical_not"] = lambda: c(U(3, 4) > 0.5)
CASES["ldexp"] = lambda: c(U(3, 4), I(4, lo=0, hi=4))
CASES["bitwise_not"] = lambda: c(I(3, 4))
for _n in "bitwise_and bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift gcd lcm".split():
    CASES[_n] = lambda: c(I(3, 4), I(4, lo=1, hi=4))
for _n in (
    "chebyshev_polynomial_t chebyshev_polynomial_u chebyshev_polynomial_v chebyshev_polynomial_w "
    "hermite_polynomial_h hermite_polynomial_he laguerre_polynomial_l legendre_polynomial_p "
    "shifted_chebyshev_polynomial_t shifted_chebyshev_polynomial_u shifted_chebyshev_polynomial_v "
    "shifted_chebyshev_polynomial_w"
).split():
    CASES["special." + _n] = lambda: c(U(3, 4), I(4, lo=0, hi=5).astype(np.float32))
CASES["polygamma"] = lambda: c(2, U(3, 4))
CASES["special.polygamma"] = lambda: c(2, U(3, 4))
CASES["mvlgamma"] = lambda: c(U(3, 4, lo=2.0, hi=3.0), 2)
CASES["special.multigammaln"] = lambda: c(U(3, 4, lo=2.0, hi=3.0), 2)

CASES.update(
    {
        "addcdiv": lambda: c(U(3, 4), U(3, 4), U(4), value=0.5),
        "addcmul": lambda: c(U(3, 4), U(3, 4), U(4), value=0.5),
        "lerp": lambda: c(U(3, 4), U(3, 4), 0.25),
        "clamp": lambda: c(U(3, 4), 0.3, 0.6),
        "clip": lambda: c(U(3, 4), 0.3, 0.6),
        "clamp_min": lambda: c(U(3, 4), 0.5),
        "clamp_max": lambda: c(U(3, 4), 0.5),
        "where": lambda: c(U(3, 4) > 0.5, U(3, 4), U(4)),
        # products
        "matmul": lambda: c(N(3, 4), N(4, 2)),
        "mm": lambda: c(N(3, 4), N(4, 2)),
        "bmm": lambda: c(N(2, 3, 4), N(2, 4, 2)),
        "mv": lambda: c(N(3, 4), N(4)),
        "dot": lambda: c(N(4), N(4)),
        "vdot": lambda: c(N(4), N(4)),
        "inner": lambda: c(N(3, 4), N(2, 4)),
        "outer": lambda: c(N(3), N(4)),
        "ger": lambda: c(N(3), N(4)),
        "kron": lambda: c(N(2, 3), N(2, 2)),
        "addmm": lambda: c(N(3, 2), N(3, 4), N(4, 2), beta=0.5, alpha=2.0),
        "addmv": lambda: c(N(3), N(3, 4), N(4)),
        "addr": lambda: c(N(3, 4), N(3), N(4)),
        "addbmm": lambda: c(N(3, 2), N(2, 3, 4), N(2, 4, 2)),
        "baddbmm": lambda: c(N(2, 3, 2), N(2, 3, 4), N(2, 4, 2)),
        "chain_matmul": lambda: c(N(3, 4), N(4, 2), N(2, 5)),
        "tensordot": lambda: c(N(3, 4), N(4, 2), dims=1),
        "cross": lambda: c(N(4, 3), N(4, 3), dim=1),
        "matrix_power": lambda: c(N(3, 3), 3),
        # reductions
        "sum": lambda: c(N(3, 4), 1),
        "nansum": lambda: c(N(3, 4), 1),
        "prod": lambda: c(N(3, 4), 1),
        "mean": lambda: c(N(3, 4), 1),
        "nanmean": lambda: c(N(3, 4), 1),
        "all": lambda: c(N(3, 4) > 0, 1),
        "any": lambda: c(N(3, 4) > 0, 1),
        "amax": lambda: c(N(3, 4), 1),
        "amin": lambda: c(N(3, 4), 1),
        "argmax": lambda: c(N(3, 4), 1),
        "argmin": lambda: c(N(3, 4), 1),
        "aminmax": lambda: c(N(3, 4), dim=1),
        "max": lambda: c(N(3, 4), 1),
        "min": lambda: c(N(3, 4), 1),
        "median": lambda: c(N(3, 5), 1),
        "nanmedian": lambda: c(N(3, 5), 1),
        "mode": lambda: c(I(3, 6, lo=0, hi=3).astype(np.float32), 1),
        "kthvalue": lambda: c(N(3, 5), 2, 1),
        "sort": lambda: c(N(3, 5), 1),
        "topk": lambda: c(N(3, 5), 2),
        "cummax": lambda: c(N(3, 4), 1),
        "cummin": lambda: c(N(3, 4), 1),
        "cumsum": lambda: c(N(3, 4), 1),
        "cumprod": lambda: c(N(3, 4), 1),
        "logcumsumexp": lambda: c(N(3, 4), 1),
        "logsumexp": lambda: c(N(3, 4), 1),
        "special.logsumexp": lambda: c(N(3, 4), 1),
        "std": lambda: c(N(3, 4), 1),
        "var": lambda: c(N(3, 4), 1),
        "norm": lambda: c(N(3, 4), 2, 1),
        "quantile": lambda: c(N(3, 5), 0.3, dim=1),
        "nanquantile": lambda: c(N(3, 5), 0.3, dim=1),
        "softmax": lambda: c(N(3, 4), 1),
        "log_softmax": lambda: c(N(3, 4), 1),
        "frexp": lambda: c(N(3, 4)),
        # shape, indexing, joining
        "cat": lambda: c([N(2, 3), N(1, 3)]),
        "concat": lambda: c([N(2, 3), N(1, 3)]),
        "concatenate": lambda: c([N(2, 3), N(1, 3)]),
        "stack": lambda: c([N(2, 3), N(2, 3)], 1),
        "hstack": lambda: c([N(2, 3), N(2, 1)]),
        "vstack": lambda: c([N(2, 3), N(1, 3)]),
        "row_stack": lambda: c([N(2, 3), N(1, 3)]),
        "dstack": lambda: c([N(2, 3), N(2, 3)]),
        "column_stack": lambda: c([N(3), N(3, 2)]),
        "diag": lambda: c(N(3, 4), 1),
        "diff": lambda: c(N(3, 4), dim=1),
        "tril": lambda: c(N(4, 4), -1),
        "triu": lambda: c(N(4, 4), 1),
        "gather": lambda: c(N(3, 4), 1, I(3, 2, lo=0, hi=4)),
        "index_select": lambda: c(N(3, 4), 1, I(2, lo=0, hi=4)),
        "index_add": lambda: c(N(3, 4), 0, np.array([0, 2]), N(2, 4)),
        "index_copy": lambda: c(N(3, 4), 0, np.array([0, 2]), N(2, 4)),
        "scatter": lambda: c(N(3, 4), 0, I(1, 4, lo=0, hi=3), N(1, 4)),
        "scatter_add": lambda: c(N(3, 4), 0, I(2, 4, lo=0, hi=3), N(2, 4)),
        "masked_select": lambda: c(N(3, 4), N(4) > 0),
        "take_along_dim": lambda: c(N(3, 4), I(3, 2, lo=0, hi=4), dim=1),
        "narrow_copy": lambda: c(N(3, 4), 1, 1, 2),
        "nonzero": lambda: c(N(3, 4) > 0),
        "isin": lambda: c(I(3, 4, lo=0, hi=6), I(3, lo=0, hi=6)),
        "searchsorted": lambda: c(np.array([0.1, 0.4, 0.7], np.float32), U(5)),
        "bucketize": lambda: c(U(5), np.array([0.1, 0.4, 0.7], np.float32)),
        "histc": lambda: c(U(20), bins=4, min=0, max=1),
        "histogram": lambda: c(U(20), bins=4),
        "renorm": lambda: c(N(3, 4), 2, 0, 1.0),
        # linear algebra (top level)
        "cholesky": lambda: c(SPD(3)),
        "cholesky_inverse": lambda: c(np.linalg.cholesky(SPD(3)).astype(np.float32)),
        "cholesky_solve": lambda: c(N(3, 2), np.linalg.cholesky(SPD(3)).astype(np.float32)),
        "inverse": lambda: c(SPD(3)),
        "lu_solve": None,  # filled below (needs lu factors)
        "lu_unpack": None,
        "qr": lambda: c(N(4, 3)),
        "svd": lambda: c(N(4, 3)),
        "triangular_solve": lambda: c(N(3, 2), TRI(3)),
        "lu": None,
        # creation
        "zeros": lambda: c(2, 3),
        "ones": lambda: c(2, 3),
        "empty": lambda: c(2, 3),
        "full": lambda: c((2, 3), 1.5),
        "arange": lambda: c(0, 5),
        "range": lambda: c(0, 4),
        "linspace": lambda: c(0, 1, 5),
        "logspace": lambda: c(0, 1, 5),
        "eye": lambda: c(3, 4),
        "rand": lambda: c(2, 3),
        "randn": lambda: c(2, 3),
        "randint": lambda: c(0, 5, (2, 3)),
        "randperm": lambda: c(6),
        "normal": lambda: c(U(2, 3), U(2, 3)),
        "bernoulli": lambda: c(U(2, 3)),
        "multinomial": lambda: c(U(2, 4), 2),
        # torch.linalg
        "linalg.cholesky": lambda: c(SPD(3)),
        "linalg.cholesky_ex": lambda: c(SPD(3)),
        "linalg.cond": lambda: c(SPD(3)),
        "linalg.cross": lambda: c(N(4, 3), N(4, 3)),
        "linalg.det": lambda: c(SPD(3)),
        "linalg.eig": lambda: c(SPD(3)),
        "linalg.eigh": lambda: c(SPD(3)),
        "linalg.eigvals": lambda: c(SPD(3)),
        "linalg.eigvalsh": lambda: c(SPD(3)),
        "linalg.householder_product": lambda: c(N(4, 3), N(2)),
        "linalg.inv": lambda: c(SPD(3)),
        "linalg.inv_ex": lambda: c(SPD(3)),
        "linalg.lu": lambda: c(SPD(3)),
        "linalg.lu_factor": lambda: c(SPD(3)),
        "linalg.lu_factor_ex": lambda: c(SPD(3)),
        "linalg.lu_solve": None,
        "linalg.matrix_norm": lambda: c(N(3, 4)),
        "linalg.matrix_power": lambda: c(N(3, 3), 2),
        "linalg.matrix_rank": lambda: c(N(3, 4)),
        "linalg.multi_dot": lambda: c([N(3, 4), N(4, 2), N(2, 5)]),
        "linalg.norm": lambda: c(N(3, 4)),
        "linalg.pinv": lambda: c(N(3, 4)),
        "linalg.qr": lambda: c(N(4, 3)),
        "linalg.slogdet": lambda: c(SPD(3)),
        "linalg.solve": lambda: c(SPD(3), N(3, 2)),
        "linalg.solve_ex": lambda: c(SPD(3), N(3, 2)),
        "linalg.solve_triangular": lambda: c(TRI(3), N(3, 2), upper=True),
        "linalg.svd": lambda: c(N(4, 3), full_matrices=False),
        "linalg.svdvals": lambda: c(N(4, 3)),
        "linalg.tensorinv": lambda: c(SPD(4).reshape(4, 2, 2), ind=1),
        "linalg.tensorsolve": lambda: c(SPD(4).reshape(2, 2, 4), N(2, 2)),
        "linalg.vecdot": lambda: c(N(3, 4), N(3, 4)),
        "linalg.vector_norm": lambda: c(N(3, 4)),
        # torch.fft
        "fft.fft": lambda: c(N(4, 6)),
        "fft.fft2": lambda: c(N(4, 6)),
        "fft.fftn": lambda: c(N(4, 6)),
        "fft.ifft": lambda: c(N(4, 6)),
        "fft.ifft2": lambda: c(N(4, 6)),
        "fft.ifftn": lambda: c(N(4, 6)),
        "fft.rfft": lambda: c(N(4, 6)),
        "fft.rfft2": lambda: c(N(4, 6)),
        "fft.rfftn": lambda: c(N(4, 6)),
        "fft.irfft": lambda: c(N(4, 6)),
        "fft.irfft2": lambda: c(N(4, 6)),
        "fft.irfftn": lambda: c(N(4, 6)),
        "fft.hfft": lambda: c(N(4, 6)),
        "fft.ihfft": lambda: c(N(4, 6)),
        "fft.fftfreq": lambda: c(6),
        "fft.rfftfreq": lambda: c(6),
    }
)


def _lu_parts() -> tuple[np.ndarray, np.ndarray]:
    import scipy.linalg

    a = SPD(3) + np.triu(N(3, 3))
    lu, piv = scipy.linalg.lu_factor(a)
    return lu.astype(np.float32), (piv + 1).astype(np.int32)


def _lu_solve() -> Any:
    lu, piv = _lu_parts()
    return c(N(3, 2), lu, piv)


def _lu_unpack() -> Any:
    lu, piv = _lu_parts()
    return c(lu, piv)


def _linalg_lu_solve() -> Any:
    lu, piv = _lu_parts()
    return c(lu, piv, N(3, 2))


CASES["lu_solve"] = _lu_solve
CASES["lu_unpack"] = _lu_unpack
CASES["linalg.lu_solve"] = _linalg_lu_solve
CASES["lu"] = lambda: c(SPD(3) + np.triu(N(3, 3)))

RANDOM = {
    "empty", "rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
}  # fmt: skip


def convert(value: Any, lib: Any) -> Any:
    """NumPy arrays as ``lib`` tensors, ``D`` as ``lib`` dtypes (recursively in lists and tuples)."""
    if isinstance(value, np.ndarray):
        return lib.tensor(value)
    if isinstance(value, D):
        return getattr(lib, value.name)
    if isinstance(value, list):
        return [convert(v, lib) for v in value]
    if isinstance(value, tuple):
        return tuple(convert(v, lib) for v in value)
    return value


def resolve(lib: Any, name: str) -> Any:
    """``lib.linalg.solve`` for ``"linalg.solve"``; None when ``lib`` lacks it."""
    obj = lib
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


# ---------------------------------------------------------------- the table covers what _out wraps
SIGN_AMBIGUOUS = {"linalg.eig", "linalg.eigh", "linalg.svd", "svd", "qr", "linalg.qr"}  # compared by shape only


def test_every_wrapped_function_has_a_case() -> None:
    assert set(_out.OUT_FUNCTIONS) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrapped_and_signature(name: str) -> None:
    import inspect

    fn = resolve(bp, name)
    assert fn is not None and hasattr(fn, "__wrapped_out__"), name
    params = inspect.signature(fn).parameters
    assert "out" in params and params["out"].default is None
    assert fn.__doc__ == fn.__wrapped_out__.__doc__


# ---------------------------------------------------------------- against torch
def _np(t: Any) -> np.ndarray:
    if hasattr(t, "resolve_conj"):
        t = t.resolve_conj()
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)


def _dtype_name(dt: Any) -> str:
    return str(dt).replace("torch.", "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_out_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    args, kwargs = CASES[name]()
    tf, bf = resolve(torch, name), resolve(bp, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch.lu, chain_matmul: deprecated)
        expected = tf(*convert(args, torch), **convert(kwargs, torch))
        single = isinstance(expected, torch.Tensor)
        exp_list = [expected] if single else list(expected)
        t_outs = [torch.empty(0, dtype=e.dtype) for e in exp_list]
        t_res = tf(*convert(args, torch), **convert(kwargs, torch), out=t_outs[0] if single else tuple(t_outs))
        t_list = [t_res] if single else list(t_res)
        b_outs = [bp.zeros(tuple(e.shape), dtype=getattr(bp, _dtype_name(e.dtype))) for e in exp_list]
        versions = [o._version for o in b_outs]
        b_res = bf(*convert(args, bp), **convert(kwargs, bp), out=b_outs[0] if single else tuple(b_outs))
    if single:
        assert b_res is b_outs[0]
    else:
        assert isinstance(b_res, tuple) and len(b_res) == len(b_outs)
        assert all(r is o for r, o in zip(b_res, b_outs))
        plain = bf(*convert(args, bp), **convert(kwargs, bp))
        if type(t_res).__module__ == "torch.return_types":  # torch's <name>_out twin of the op's own type
            assert type(b_res).__name__ == type(t_res).__name__ and type(b_res)._fields == type(plain)._fields
        else:
            assert type(b_res) is type(plain)
    for t, b, v in zip(t_list, b_outs, versions):
        assert b._version == v + 1
        assert _dtype_name(b.dtype) == _dtype_name(t.dtype), name
        assert tuple(b.shape) == tuple(t.shape), name
        if name not in RANDOM and name not in SIGN_AMBIGUOUS:
            np.testing.assert_allclose(_np(b), _np(t), rtol=1e-3, atol=1e-4, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("name", sorted(n for n in CASES if n not in RANDOM))
def test_out_view_writes_through(name: str) -> None:
    """A strided view as ``out``: the values land in its base, whose version moves on; an empty ``out`` is
    resized without a warning."""
    args, kwargs = CASES[name]()
    bf = resolve(bp, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = bf(*convert(args, bp), **convert(kwargs, bp))
    results = [plain] if isinstance(plain, bp.Tensor) else list(plain)
    bases = [bp.zeros((*r.shape, 2), dtype=r.dtype) for r in results]
    views = [b[..., 1] for b in bases]
    before = [b._version for b in bases]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", "An output with one or more elements was resized")  # (shapes match)
        bf(*convert(args, bp), **convert(kwargs, bp), out=views[0] if len(views) == 1 else tuple(views))
        empties = [bp.empty(0, dtype=r.dtype) for r in results]
        bf(*convert(args, bp), **convert(kwargs, bp), out=empties[0] if len(empties) == 1 else tuple(empties))
    for r, base, v0, e in zip(results, bases, before, empties):
        assert base._version > v0
        if name not in SIGN_AMBIGUOUS:
            np.testing.assert_allclose(_np(base)[..., 1], _np(r), rtol=1e-5, atol=1e-6, equal_nan=True)
            np.testing.assert_allclose(_np(e), _np(r), rtol=1e-5, atol=1e-6, equal_nan=True)
        assert not _np(base)[..., 0].any()


# ---------------------------------------------------------------- torch's rules, with written-out values
def test_tensors_tutorial() -> None:
    """PyTorch's "Tensors" tutorial: ``matmul(tensor, tensor.T, out=y3)``, ``mul(tensor, tensor, out=z3)``."""
    tensor = bp.ones(4, 4)
    tensor[:, 1] = 0
    y1 = tensor @ tensor.T
    y3 = bp.rand_like(y1)
    assert bp.matmul(tensor, tensor.T, out=y3) is y3
    np.testing.assert_array_equal(y3.numpy(), np.full((4, 4), 3.0))
    z3 = bp.rand_like(tensor)
    bp.mul(tensor, tensor, out=z3)
    np.testing.assert_array_equal(z3.numpy(), tensor.numpy())


def test_autograd_is_refused_in_grad_mode() -> None:
    a = bp.ones(3, requires_grad=True)
    b = bp.ones(3)
    msg = r"add\(\): functions with out=\.\.\. arguments don't support automatic differentiation"
    with pytest.raises(RuntimeError, match=msg):
        bp.add(a, b, out=bp.empty(3))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        bp.add(b, b, out=bp.empty(3, requires_grad=True))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        bp.cat([b, a], out=bp.empty(6))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        bp.ones(2, out=bp.empty(2, requires_grad=True))
    with bp.no_grad():  # outside grad mode torch writes
        out = bp.empty(3)
        assert bp.add(a, b, out=out) is out
        leaf = bp.empty(3, requires_grad=True)
        bp.add(b, b, out=leaf)
    np.testing.assert_array_equal(out.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(leaf.detach().numpy(), [2.0, 2.0, 2.0])
    assert out.grad_fn is None and not out.requires_grad


def test_dtype_rules() -> None:
    b = bp.tensor([1.5, 2.5, 3.5])
    i = bp.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        bp.add(b, b, out=bp.empty(3, dtype=bp.int64))
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        bp.add(i, i, out=bp.empty(3, dtype=bp.bool))
    with pytest.raises(RuntimeError, match="result type ComplexDouble can't be cast to the desired output type Float"):
        bp.add(b.to(bp.complex128), b, out=bp.empty(3))
    out = bp.add(i, i, out=bp.empty(3))  # int into float: allowed
    assert out.dtype == bp.float32 and out.tolist() == [2.0, 4.0, 6.0]
    assert bp.add(b, b, out=bp.empty(3, dtype=bp.float64)).dtype == bp.float64
    assert bp.exp(i, out=bp.empty(3, dtype=bp.float64)).dtype == bp.float64
    assert bp.eq(b, b, out=bp.empty(3, dtype=bp.int64)).tolist() == [1, 1, 1]  # comparisons: any dtype
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype float, but got double instead"):
        bp.mm(bp.ones(2, 2), bp.ones(2, 2), out=bp.empty(2, 2, dtype=bp.float64))  # matmul & co.: exact
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype long int, but got int instead"):
        bp.max(bp.ones(2, 3), 1, out=(bp.empty(2), bp.empty(2, dtype=bp.int32)))
    with pytest.raises(RuntimeError, match="Expected out tensor"):
        bp.abs(i, out=bp.empty(3))
    # sum-like reductions compute in out's dtype (torch casts the input first: 0.6 + 0.6 -> 0)
    x = bp.tensor([[0.6, 0.6], [1.7, 1.7]])
    assert bp.sum(x, 1, out=bp.empty(0, dtype=bp.int64)).tolist() == [0, 2]
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype double, but got long int instead"):
        bp.sum(x, 1, dtype=bp.float64, out=bp.empty(0, dtype=bp.int64))


def test_creation_functions_take_outs_dtype() -> None:
    z = bp.zeros(2, 3, out=bp.empty(0, dtype=bp.int64))
    assert z.dtype == bp.int64 and z.shape == (2, 3)
    assert bp.arange(5, out=bp.empty(0)).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert bp.linspace(0, 3, 4, out=bp.empty(0, dtype=bp.int64)).tolist() == [0, 1, 2, 3]
    assert bp.full((2,), 1.5, out=bp.empty(0, dtype=bp.float64)).tolist() == [1.5, 1.5]
    assert bp.eye(2, out=bp.empty(0, dtype=bp.bool)).tolist() == [[True, False], [False, True]]
    assert bp.rand(2, out=bp.empty(0, dtype=bp.float64)).dtype == bp.float64
    r = bp.randperm(4, out=bp.empty(0, dtype=bp.float64))
    assert r.dtype == bp.float64 and sorted(r.tolist()) == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError, match=r"dtype Double does not match dtype of out parameter \(Long\)"):
        bp.arange(0, 5, dtype=bp.float64, out=bp.empty(0, dtype=bp.int64))


def test_resize() -> None:
    b = bp.ones(3)
    out = bp.empty(4)
    with pytest.warns(UserWarning, match=r"An output with one or more elements was resized since it had shape \[4\]"):
        bp.add(b, b, out=out)
    assert out.shape == (3,) and out.tolist() == [2.0, 2.0, 2.0] and out._version == 1
    empty = bp.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bp.add(b, b, out=empty) is empty
    assert empty.shape == (3,) and empty._version == 1
    col = bp.empty(3, 1)
    with pytest.warns(UserWarning, match="resized"):
        bp.add(b, b, out=col)
    assert col.shape == (3,)


def test_view_out_and_aliasing() -> None:
    base = bp.zeros(6)
    view = base[::2]
    bp.add(bp.ones(3), bp.ones(3), out=view)
    assert base.tolist() == [2.0, 0.0, 2.0, 0.0, 2.0, 0.0] and base._version == 1
    x = bp.tensor([1.0, 2.0, 3.0])
    assert bp.mul(x, x, out=x) is x and x.tolist() == [1.0, 4.0, 9.0]  # out is an input: fine, as torch


def test_tuple_outs() -> None:
    x = bp.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    v, i = bp.empty(0), bp.empty(0, dtype=bp.int64)
    res = bp.sort(x, 1, out=(v, i))
    assert res.values is v and res.indices is i and res[0] is v
    assert v.tolist() == [[1.0, 2.0, 3.0], [0.0, 4.0, 5.0]] and i.tolist() == [[1, 2, 0], [0, 2, 1]]
    res = bp.max(x, 1, out=[bp.empty(2), bp.empty(2, dtype=bp.int64)])  # a list works too
    assert res.values.tolist() == [3.0, 5.0] and res.indices.tolist() == [0, 1]
    m = bp.empty(())
    assert bp.max(x, out=m) is m and m.item() == 5.0  # max without dim: one tensor
    with pytest.raises(TypeError, match="argument 'out' must be"):
        bp.sort(x, out=bp.empty(0))
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not tuple"):
        bp.add(x, x, out=(bp.empty(0),))
    w, vec = bp.empty(0), bp.empty(0)
    res = bp.linalg.eigh(bp.tensor([[2.0, 0.0], [0.0, 1.0]]), out=(w, vec))
    assert res.eigenvalues is w and w.tolist() == [1.0, 2.0]


def test_without_out_nothing_changes() -> None:
    assert bp.add(bp.ones(2), 1).tolist() == [2.0, 2.0]
    assert bp.add(bp.ones(2), bp.ones(2), alpha=3).tolist() == [4.0, 4.0]
    assert bp.zeros(2, dtype=bp.int64).dtype == bp.int64
    assert bp.sum(bp.ones(2, 2), dim=1).tolist() == [2.0, 2.0]
    assert bp.add.__name__ == "add" and bp.linalg.inv.__name__ == "inv"
