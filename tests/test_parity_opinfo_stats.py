"""Regressions from torch's OpInfo samples (``python -m tests.opinfo_harness``) for factories, statistics,
reductions and a few nn.functional losses/norms: each test states the expected values (so it means
something without torch) and, where torch is installed, compares values, dtypes, shapes and gradients."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.autograd.gradcheck import gradcheck


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _np(t: Any) -> np.ndarray:
    if hasattr(t, "resolve_conj"):  # torch
        return t.detach().resolve_conj().resolve_neg().numpy()
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)


def _cgradcheck(fn: Any, a: np.ndarray) -> bool:
    """gradcheck of a complex function through its real and imaginary parts (both ways real)."""

    def real_fn(re: bp.Tensor, im: bp.Tensor) -> bp.Tensor:
        return bp.view_as_real(fn(bp.complex(re, im)))

    parts = (bp.tensor(a.real.copy(), requires_grad=True), bp.tensor(a.imag.copy(), requires_grad=True))
    return gradcheck(real_fn, parts)


def _same(got: Any, want: Any, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    g, w = _np(got), _np(want)
    assert g.shape == w.shape, (g.shape, w.shape)
    assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


# ---------------------------------------------------------------- arange
ARANGE_INT = [
    ((0.0, -8.000001, -4.0), "int64", [0, -4]),  # torch truncates the bounds first for int64: 2 elements
    ((0.0, -8.000001, -4.0), "int32", [0, -4, -8]),  # other integers: the length from the float bounds
    ((0.5, 5.7, 1.5), "int64", [0, 1, 2, 3, 4]),
    ((0.5, 5.7, 1.5), "int32", [0, 1, 2, 3]),
    ((0.5, 5.7, 0.9), "int16", [0, 0, 0, 0, 0, 0]),  # trunc(0.9) = 0 steps, six of them
    ((-2.5, 3.2, 1.3), "uint8", [254, 255, 0, 1, 2]),  # wrapped
    ((1.9, 7.9, 2.9), "int64", [1, 3, 5]),
    ((10, 0, -3), "int64", [10, 7, 4, 1]),
]


@pytest.mark.parametrize(("bounds", "dtype", "want"), ARANGE_INT)
def test_arange_integer_dtype_with_float_bounds(bounds: tuple, dtype: str, want: list) -> None:
    got = bp.arange(*bounds, dtype=getattr(bp, dtype))
    assert got.dtype == np.dtype(dtype)
    assert got.tolist() == want
    torch = _torch()
    _same(got, torch.arange(*bounds, dtype=getattr(torch, dtype)))


def test_arange_int64_step_truncated_to_zero_is_refused() -> None:
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        bp.arange(0.5, 5.7, 0.9, dtype=bp.int64)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        bp.arange(0.0, 5.0, -1.0, dtype=bp.int32)


# ---------------------------------------------------------------- linspace / logspace
def test_linspace_complex() -> None:
    got = bp.linspace(-2.0, 3 + 1j, 5, dtype=bp.complex128)
    want = [-2, -0.75 + 0.25j, 0.5 + 0.5j, 1.75 + 0.75j, 3 + 1j]
    assert got.dtype == bp.complex128
    np.testing.assert_allclose(_np(got), want)
    default = bp.linspace(1j, 2 + 3j, 3)  # a complex bound: the default complex dtype
    assert default.dtype == bp.complex64
    np.testing.assert_allclose(_np(default), [1j, 1 + 2j, 2 + 3j])
    assert bp.linspace(-2.0, -3, 0, dtype=bp.complex128).shape == (0,)
    torch = _torch()
    _same(got, torch.linspace(-2.0, 3 + 1j, 5, dtype=torch.complex128))
    _same(default, torch.linspace(1j, 2 + 3j, 3), rtol=1e-6)
    for steps in (1, 2, 6, 7):
        _same(
            bp.linspace(-2.5, 3 + 1.5j, steps, dtype=bp.complex64),
            torch.linspace(-2.5, 3 + 1.5j, steps, dtype=torch.complex64),
        )


def test_linspace_logspace_tensor_bounds() -> None:
    start, end = bp.tensor(2.7), bp.tensor(-3.9)
    lin = bp.linspace(start, end, 5, dtype=bp.int64)
    assert lin.dtype == bp.int64 and lin.tolist() == [2, 0, 0, -1, -3]  # bounds truncated: 2 .. -3
    log = bp.logspace(start, end, 5, dtype=bp.int64)
    assert log.tolist() == [100, 5, 0, 0, 0]
    c = bp.logspace(start, end, 5, base=2, dtype=bp.complex128)
    assert c.dtype == bp.complex128
    np.testing.assert_allclose(_np(c), 2.0 ** np.linspace(2.7, -3.9, 5))
    with pytest.raises(RuntimeError, match="0-dimensional start and end"):
        bp.linspace(bp.tensor([2.0]), 3, 4)
    torch = _torch()
    ts, te = torch.tensor(2.7), torch.tensor(-3.9)
    _same(lin, torch.linspace(ts, te, 5, dtype=torch.int64))
    _same(log, torch.logspace(ts, te, 5, dtype=torch.int64))
    _same(c, torch.logspace(ts, te, 5, base=2, dtype=torch.complex128))
    _same(bp.logspace(1, 3j, 5), torch.logspace(1, 3j, 5), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- random fills of complex tensors
def test_normal_and_uniform_fill_complex_tensors() -> None:
    bp.manual_seed(0)
    z = bp.empty(200_000, dtype=bp.complex128).normal_(3.0, 2.0)
    assert z.dtype == bp.complex128
    re, im = _np(z).real, _np(z).imag  # torch: each part N(mean, std^2 / 2)
    for part in (re, im):
        assert abs(part.mean() - 3.0) < 0.02 and abs(part.std() - math.sqrt(2.0)) < 0.02
    u = bp.empty(200_000, dtype=bp.complex64).uniform_(-100, 100)
    assert u.dtype == bp.complex64
    for part in (_np(u).real, _np(u).imag):  # each part U[-100, 100)
        assert part.min() >= -100 and part.max() < 100 and abs(part.mean()) < 1.0
    c = bp.normal(2.0, 1.0, (50_000,), dtype=bp.complex64, layout=bp.strided)
    assert c.dtype == bp.complex64 and abs(_np(c).imag.mean() - 2.0) < 0.03
    m = bp.normal(bp.zeros(50_000, dtype=bp.complex128), 2.0)
    assert m.dtype == bp.complex128 and abs(_np(m).imag.std() - math.sqrt(2.0)) < 0.03


def test_normal_number_mean_layout_keyword() -> None:
    x = bp.normal(1.6, 0.3, [2, 2, 2], dtype=bp.float64, layout=bp.strided)
    assert x.shape == (2, 2, 2) and x.dtype == bp.float64
    with pytest.raises(TypeError, match="layout"):
        bp.normal(bp.zeros(3), 1.0, layout=bp.strided)


# ---------------------------------------------------------------- cov / corrcoef
def test_cov_corrcoef_of_one_row_are_0d() -> None:
    a = np.array([[1.0, 4.0]])
    c, r = bp.cov(bp.tensor(a)), bp.corrcoef(bp.tensor(a))
    assert c.shape == () and c.item() == pytest.approx(4.5)
    assert r.shape == () and r.item() == 1.0
    ci = bp.cov(bp.tensor([[1, 4]]))
    assert ci.shape == () and ci.dtype == bp.float32
    torch = _torch()
    _same(c, torch.cov(torch.tensor(a)))
    _same(r, torch.corrcoef(torch.tensor(a)))
    _same(ci, torch.cov(torch.tensor([[1, 4]])))


def test_cov_corrcoef_complex() -> None:
    a = np.array([[1 + 2j, 3 - 1j, 0.5j], [2 - 1j, -1 + 1j, 4 + 0j]])
    x = bp.tensor(a, requires_grad=True)
    c = bp.cov(x)
    want = np.cov(a)  # NumPy's is conj in the second factor too: x_m @ x_m^H / (n - 1)
    np.testing.assert_allclose(_np(c), want)
    aw = np.array([0.5, 1.0, 2.0])
    c_w = bp.cov(bp.tensor(a), correction=0, aweights=bp.tensor(aw))
    np.testing.assert_allclose(_np(c_w), np.cov(a, aweights=aw, ddof=0))
    r = bp.corrcoef(x)
    assert r.dtype == bp.complex128 and np.allclose(np.diag(_np(r)), 1.0)
    assert _cgradcheck(bp.cov, a)
    assert _cgradcheck(bp.corrcoef, a)
    torch = _torch()
    t = torch.tensor(a, requires_grad=True)
    _same(c, torch.cov(t))
    _same(c_w, torch.cov(torch.tensor(a), correction=0, aweights=torch.tensor(aw)))
    u = torch.corrcoef(t)
    _same(r, u)
    g = np.random.default_rng(0).standard_normal((2, 2)) + 1j
    (r * bp.tensor(g)).sum().abs().backward()
    (u * torch.tensor(g)).sum().abs().backward()
    _same(x.grad, t.grad)


# ---------------------------------------------------------------- gradient, quantile
def test_gradient_keeps_complex() -> None:
    a = np.array([1 + 1j, 2 - 1j, 4 + 0.5j, 7 + 2j, 11 - 3j])
    (g,) = bp.gradient(bp.tensor(a))
    assert g.dtype == bp.complex128
    np.testing.assert_allclose(_np(g), np.gradient(a))
    torch = _torch()
    _same(g, torch.gradient(torch.tensor(a))[0])


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
def test_quantile_of_0d_input_keepdim_stays_0d(name: str) -> None:
    x = bp.tensor(2.5, dtype=bp.float64)
    got = getattr(bp, name)(x, 0.5, dim=0, keepdim=True)
    assert got.shape == () and got.item() == 2.5
    qs = getattr(bp, name)(x, bp.tensor([0.2, 0.5], dtype=bp.float64), dim=0, keepdim=True)
    assert qs.shape == (2,)
    torch = _torch()
    t = torch.tensor(2.5, dtype=torch.float64)
    _same(got, getattr(torch, name)(t, 0.5, dim=0, keepdim=True))
    _same(qs, getattr(torch, name)(t, torch.tensor([0.2, 0.5], dtype=torch.float64), dim=0, keepdim=True))


# ---------------------------------------------------------------- histogramdd with unsorted edges
def test_histogramdd_unsorted_edges_follow_torchs_binary_search() -> None:
    pts = np.array([[0.4963, 0.7682], [0.0885, 0.1320], [0.3074, 0.6341], [0.4901, 0.8964], [0.4556, 0.6323]])
    x = bp.tensor(pts, dtype=bp.float32)
    h = bp.histogramdd(x, [bp.tensor([0.7, 0.2]), bp.tensor([0.1, 0.9])])
    assert h.hist.tolist() == [[0.0]]  # no point is >= 0.7 and <= 0.2
    h = bp.histogramdd(x, [bp.tensor([0.1, 0.7, 0.2, 0.9]), bp.tensor([0.1, 0.9])])
    assert h.hist.tolist() == [[0.0], [0.0], [4.0]]  # upper_bound's path through [0.1, 0.7, 0.2, 0.9]
    with pytest.raises(RuntimeError, match="same dtype"):
        bp.histogramdd(x, [bp.tensor([0.1, 0.7], dtype=bp.float64), bp.tensor([0.1, 0.9])])
    torch = _torch()
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.standard_normal((20, 2)).astype(np.float32)
        edges = [
            rng.standard_normal(int(rng.integers(2, 7))).astype(np.float32),
            np.sort(rng.standard_normal(4)).astype(np.float32),
        ]
        w = rng.random(20).astype(np.float32)
        for density in (False, True):
            got = bp.histogramdd(bp.tensor(p), [bp.tensor(e) for e in edges], weight=bp.tensor(w), density=density)
            want = torch.histogramdd(
                torch.tensor(p), [torch.tensor(e) for e in edges], weight=torch.tensor(w), density=density
            )
            _same(got.hist, want.hist, rtol=1e-5, atol=1e-6)


def test_histogram_unsorted_edges_as_torch() -> None:
    x = bp.tensor([0.4963, 0.0885, 0.3074, 0.4901, 0.4556, 0.95])
    h = bp.histogram(x, bp.tensor([0.1, 0.7, 0.2, 0.9]), weight=bp.ones(6) * 2)
    assert h.hist.tolist() == [0.0, 0.0, 8.0] and h.hist.dtype == bp.float32
    d = bp.histogram(x, bp.tensor([0.1, 0.7, 0.2, 0.9]), density=True)
    np.testing.assert_allclose(_np(d.hist), [0.0, 0.0, 1 / 0.7], rtol=1e-6)  # 0 / (negative width) is -0.0
    with pytest.raises(RuntimeError, match="same dtype"):
        bp.histogram(x, bp.tensor([0.1, 0.7], dtype=bp.float64))
    torch = _torch()
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.standard_normal(20).astype(np.float32)
        e = rng.standard_normal(int(rng.integers(2, 7))).astype(np.float32)
        w = rng.random(20).astype(np.float32)
        for density in (False, True):
            got = bp.histogram(bp.tensor(v), bp.tensor(e), weight=bp.tensor(w), density=density)
            want = torch.histogram(torch.tensor(v), torch.tensor(e), weight=torch.tensor(w), density=density)
            _same(got.hist, want.hist, rtol=1e-5, atol=1e-6)
            _same(got.bin_edges, want.bin_edges)


# ---------------------------------------------------------------- logcumsumexp, logsumexp (complex)
def test_logcumsumexp_complex_accumulates_the_phase() -> None:
    a = np.array([1 + 5j, 2 - 7j, 0.5 + 1j, -1 + 4j])
    x = bp.tensor(a, requires_grad=True)
    y = bp.logcumsumexp(x, 0)
    # torch's running max + log1p(exp(min - max)): the imaginary part is not wrapped to (-pi, pi]
    np.testing.assert_allclose(_np(y)[:2], [1 + 5j, 2.2816 - 7.1495j], atol=1e-4)
    np.testing.assert_allclose(np.exp(_np(y)), np.cumsum(np.exp(a)))
    assert _cgradcheck(lambda t: bp.logcumsumexp(t, 0), a)
    b = np.random.default_rng(1).standard_normal((3, 4, 2)) + 1j * np.random.default_rng(2).standard_normal((3, 4, 2))
    assert _cgradcheck(lambda t: bp.logcumsumexp(t, 1), b)
    torch = _torch()
    t = torch.tensor(a, requires_grad=True)
    u = torch.logcumsumexp(t, 0)
    _same(y, u)
    g = np.array([1 - 1j, 0.5j, 2.0, -1 + 0.5j])
    y.backward(bp.tensor(g))
    u.backward(torch.tensor(g))
    _same(x.grad, t.grad)
    _same(bp.logcumsumexp(bp.tensor(b), 1), torch.logcumsumexp(torch.tensor(b), 1))


def test_logsumexp_complex_principal_branch() -> None:
    x = bp.tensor(1 + 5j, dtype=bp.complex128)
    y = bp.logsumexp(x, 0, True)
    assert y.shape == () and y.item() == pytest.approx(1 + (5 - 2 * math.pi) * 1j)
    torch = _torch()
    _same(y, torch.logsumexp(torch.tensor(1 + 5j, dtype=torch.complex128), 0, True))


# ---------------------------------------------------------------- nn.functional
def test_poisson_nll_loss_integer_inputs_give_float32() -> None:
    i, t = bp.tensor([0, 1, 2, 3]), bp.tensor([1, 2, 3, 0])
    got = bp.nn.functional.poisson_nll_loss(i, t, log_input=True, full=True, reduction="none")
    assert got.dtype == bp.float32
    stirling = [
        0.0,
        2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi),
        3 * math.log(3) - 3 + 0.5 * math.log(6 * math.pi),
        0,
    ]
    want = np.exp([0, 1, 2, 3]) - np.array([0, 2, 6, 0]) + stirling
    np.testing.assert_allclose(_np(got), want, rtol=1e-6)
    torch = _torch()
    ti, tt = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0])
    _same(got, torch.nn.functional.poisson_nll_loss(ti, tt, log_input=True, full=True, reduction="none"), rtol=1e-6)


def test_local_response_norm_integer_input_averages_in_integers() -> None:
    a = np.array([[[1], [2], [4]]])
    got = bp.nn.functional.local_response_norm(bp.tensor(a), 2, alpha=1.0, beta=1.0, k=1.0)
    # torch's avg_pool of the int64 squares truncates: windows (0+1)/2 -> 0, (1+4)/2 -> 2, (4+16)/2 -> 10
    want = np.array([[[1 / 1.0], [2 / 3.0], [4 / 11.0]]], dtype=np.float32)
    assert got.dtype == bp.float32
    np.testing.assert_allclose(_np(got), want)
    torch = _torch()
    x = np.random.default_rng(0).integers(-5, 5, (1, 6, 3))
    _same(
        bp.nn.functional.local_response_norm(bp.tensor(x), 2, beta=0.5, k=1.25),
        torch.nn.functional.local_response_norm(torch.tensor(x), 2, beta=0.5, k=1.25),
    )


def test_batch_norm_of_an_empty_input_is_a_copy() -> None:
    for shape in ((0,), (0, 3), (0, 3, 4)):
        x = bp.zeros(shape, requires_grad=True)
        y = bp.nn.functional.batch_norm(x, bp.zeros(0), bp.ones(0), None, None, training=True)
        assert y.shape == shape and y.dtype == bp.float32
        y.sum().backward()
        assert x.grad.shape == shape
    w = bp.ones(3, requires_grad=True)
    y = bp.nn.functional.batch_norm(bp.zeros(0, 3), None, None, w, bp.zeros(3), training=True)
    assert y.shape == (0, 3)
    torch = _torch()
    u = torch.nn.functional.batch_norm(torch.zeros(0), torch.zeros(0), torch.ones(0), None, None, training=True)
    _same(bp.nn.functional.batch_norm(bp.zeros(0), bp.zeros(0), bp.ones(0), None, None, training=True), u)


def test_normalize_complex_p0() -> None:
    a = np.array([[1 + 1j, 0, 2 - 1j], [0, 0, 3j]])
    got = bp.nn.functional.normalize(bp.tensor(a), p=0.0, dim=-1)
    np.testing.assert_allclose(_np(got), a / np.array([[2.0], [1.0]]))
    assert got.dtype == bp.complex128
    torch = _torch()
    _same(got, torch.nn.functional.normalize(torch.tensor(a), p=0.0, dim=-1))
