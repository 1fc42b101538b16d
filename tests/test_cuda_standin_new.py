"""The features that landed without a GPU run (``out=``, stft/istft, the Hermitian FFTs, LDL and the
Householder ops, the half-precision and complex first-use paths, integer pow and Python-int wrapping,
``view(dtype)``, bicubic/antialiased resampling, ``linear_cross_entropy``, ``make_tensor``,
``SobolEngine``, ``lobpcg``, ``segment_reduce``, ``accelerator``, KL pairs, optimizer fixes, ``nn``
factory kwargs, views) on ``device="cuda"`` under the NumPy-backed CuPy stand-in (see
``tests/test_cuda_standin.py`` for what the stand-in does and does not model), compared with
``device="cpu"``; device-only steps must not read device memory back to the host.

Host-only by design (they move data explicitly and say so): ``linalg.ldl_factor(_ex)``/``ldl_solve``
(SciPy's LAPACK on the host, results copied back), ``SobolEngine`` (host direction numbers; move its
draws with ``.to``), ``segment_reduce`` (reads the segment sizes), ``istft`` (torch's window-envelope
check reads one flag, as torch does), distribution argument validation (torch's too; off with
``validate_args=False``).
"""

from __future__ import annotations

import numpy as np
import pytest
from cupy_standin import use_standin

import backprop as bp

F = bp.nn.functional


@pytest.fixture(scope="module")
def cp():
    with use_standin() as module:
        yield module


@pytest.fixture
def reads(cp):
    cp.HOST_READS.clear()
    cp.HOST_READS["count"] = 0
    return cp.HOST_READS


def _np(r):
    if isinstance(r, bp.Tensor):
        return r.detach().numpy()
    if isinstance(r, (tuple, list)):
        return [_np(x) for x in r]
    return r


def _both(cp, fn, max_reads: int = 0, rtol: float = 1e-10, atol: float = 1e-12, grad: bool = True):
    """``fn(dev)`` -> (output, inputs needing grad) on cpu and cuda: equal values, dtypes, gradients;
    at most ``max_reads`` host read-backs for the cuda forward and backward together."""
    res = {}
    for dev in ("cpu", "cuda"):
        cp.HOST_READS.clear()
        cp.HOST_READS["count"] = 0
        out, inputs = fn(dev)
        grads = []
        if grad and inputs:
            outs = out if isinstance(out, (tuple, list)) else [out]
            total = sum(o.abs().sum() if o.is_complex() else o.sum() for o in outs if o.requires_grad)
            grads = list(bp.autograd.grad(total, inputs, allow_unused=True))
        if dev == "cuda":
            n = cp.HOST_READS["count"]
            assert n <= max_reads, f"host read-backs on cuda: {dict(cp.HOST_READS)}"
            for o in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(o, bp.Tensor):
                    assert o.device.type == "cuda" and isinstance(o._data, cp.ndarray), o.device
        res[dev] = (out, grads)
    (oc, gc), (og, gg) = res["cpu"], res["cuda"]
    for a, b in zip(oc if isinstance(oc, (tuple, list)) else [oc], og if isinstance(og, (tuple, list)) else [og]):
        assert b.dtype == a.dtype
        np.testing.assert_allclose(_np(b), _np(a), rtol=rtol, atol=atol)
    for a, b in zip(gc, gg):
        assert (a is None) == (b is None)
        if a is not None:
            assert b.device.type == "cuda" and b.dtype == a.dtype
            np.testing.assert_allclose(_np(b), _np(a), rtol=rtol, atol=atol)


RNG = np.random.default_rng(0)
X64 = RNG.standard_normal(64)
IMG = RNG.standard_normal((1, 2, 6, 6))
GRID = RNG.uniform(-1, 1, (1, 4, 4, 2))
C45 = RNG.standard_normal((4, 5)) + 1j * RNG.standard_normal((4, 5))


def _leaf(a, dev, grad=True):
    return bp.tensor(np.asarray(a), device=dev, requires_grad=grad)


# ---------------------------------------------------------------- out=


def test_out_keyword_writes_the_device_buffer(cp, reads) -> None:
    for dev in ("cpu", "cuda"):
        o = bp.empty(2, 2, dtype=bp.float64, device=dev)
        r = bp.matmul(bp.tensor(np.eye(2), device=dev), bp.tensor(np.full((2, 2), 3.0), device=dev), out=o)
        a = bp.empty(2, device=dev)
        bp.add(bp.tensor([1.0, 2.0], device=dev), bp.tensor([3.0, 4.0], device=dev), out=a)
        if dev == "cuda":
            assert reads["count"] == 0 and r is o and isinstance(o._data, cp.ndarray)
        np.testing.assert_array_equal(o.numpy(), np.full((2, 2), 3.0))
        np.testing.assert_array_equal(a.numpy(), [4.0, 6.0])


# ---------------------------------------------------------------- signal and FFTs


def test_stft_forward_and_gradient(cp) -> None:
    def f(dev):
        x = _leaf(X64, dev)
        s = bp.stft(x, 16, hop_length=4, window=bp.hann_window(16, dtype=bp.float64, device=dev), return_complex=True)
        return s, [x]

    _both(cp, f)


def test_istft_round_trip_reads_only_the_envelope_flag(cp) -> None:
    def f(dev):
        x = _leaf(X64, dev)
        w = bp.hann_window(16, dtype=bp.float64, device=dev)
        s = bp.stft(x, 16, hop_length=4, window=w, return_complex=True)
        return bp.istft(s, 16, hop_length=4, window=w, length=64), [x]

    _both(cp, f, max_reads=2)  # torch's envelope check (one .item()), and the deferred range flag with it


@pytest.mark.parametrize("name", ["hfft2", "hfftn", "ihfft2", "ihfftn"])
def test_hermitian_ffts(cp, name: str) -> None:
    def f(dev):
        x = _leaf(C45 if name.startswith("h") else C45.real, dev)
        return getattr(bp.fft, name)(x), [x]

    _both(cp, f)


# ---------------------------------------------------------------- linear algebra


def test_householder_ops_stay_on_the_device(cp) -> None:
    m = RNG.standard_normal((5, 3))

    def f(dev):
        a = _leaf(m, dev)
        qr, tau = bp.geqrf(a.detach())
        q = bp.orgqr(qr, tau)
        y = bp.ormqr(qr, tau, bp.tensor(np.ones((5, 2)), device=dev))
        return (qr, tau, q, y), []

    _both(cp, f)


def test_ldl_is_host_only_and_moves_data_explicitly(cp) -> None:
    a = RNG.standard_normal((4, 4))
    a = a + a.T
    b = RNG.standard_normal((4, 2))

    def f(dev):
        ld, piv = bp.linalg.ldl_factor(bp.tensor(a, device=dev))
        x = bp.linalg.ldl_solve(ld, piv, bp.tensor(b, device=dev))
        return (ld, piv, x), []

    _both(cp, f, max_reads=8)  # LAPACK on the host: the inputs are copied over, the results back


# ---------------------------------------------------------------- dtypes: half, complex, ints, views


def test_float16_ops_and_python_scalars_compute_as_on_cpu(cp, reads) -> None:
    a = RNG.standard_normal((3, 4)).astype(np.float16)
    for fn in (lambda x: x / 1e5, lambda x: x * 1e-5, lambda x: 2**-10 * x, lambda x: x.exp(), lambda x: x + x):
        out = {dev: fn(bp.tensor(a, device=dev)) for dev in ("cpu", "cuda")}
        assert out["cuda"].dtype == bp.float16
        np.testing.assert_allclose(out["cuda"].numpy(), out["cpu"].numpy(), rtol=1e-3)
    # reductions and matmul: CuPy accumulates float16 its own way (not the CPU's float32 path): close
    for fn in (lambda x: x.sum(), lambda x: x @ x.T, lambda x: x.softmax(-1)):
        out = {dev: fn(bp.tensor(a, device=dev)) for dev in ("cpu", "cuda")}
        assert out["cuda"].dtype == bp.float16
        np.testing.assert_allclose(out["cuda"].numpy().astype(np.float32), out["cpu"].numpy(), rtol=5e-3, atol=5e-3)


def test_complex_refusals_name_the_op_on_cuda(cp) -> None:
    for dev in ("cpu", "cuda"):
        c = bp.tensor(C45, device=dev)
        with pytest.raises(NotImplementedError, match="clamp is not supported for complex types"):
            F.relu(c)
        with pytest.raises(NotImplementedError, match="floor is not supported for complex inputs"):
            c.floor()
        np.testing.assert_allclose(c.abs().numpy(), np.abs(C45))


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t**2,
        lambda t: t**t,
        lambda t: 2**t,
        lambda t: t.to(bp.int32) + 3,
        lambda t: t + 2**40,
        lambda t: t.float().view(bp.int32),
        lambda t: t.float().view(bp.float16),
    ],
    ids=["pow_int", "pow_tensor", "rpow", "int32_plus_int", "big_int", "view_int32", "view_float16"],
)
def test_integer_pow_python_ints_and_dtype_views(cp, fn) -> None:
    _both(cp, lambda dev: (fn(bp.arange(5, device=dev)), []), grad=False)


def test_views_share_device_memory(cp, reads) -> None:
    for dev in ("cpu", "cuda"):
        a = bp.arange(10.0, device=dev)
        v, u = a[0], a.unfold(0, 3, 2)
        a.add_(1)
        assert v.item() == 1.0
        np.testing.assert_array_equal(u.numpy(), np.arange(1.0, 11.0)[np.arange(4)[:, None] * 2 + np.arange(3)])
    # as_strided's backward sizes its storage from the positions' max (ops/linalg.py): one read-back
    _both(cp, lambda dev: (lambda x: (x.unfold(0, 3, 2) * 2, [x]))(_leaf(np.arange(10.0), dev)), max_reads=2)


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize(
    ("mode", "size", "aa"),
    [("bicubic", (9, 9), False), ("bicubic", (3, 4), True), ("bilinear", (3, 3), True)],
    ids=["bicubic", "bicubic_antialias", "bilinear_antialias"],
)
def test_interpolate_modes(cp, mode: str, size: tuple, aa: bool) -> None:
    def f(dev):
        x = _leaf(IMG, dev)
        return F.interpolate(x, size=size, mode=mode, antialias=aa, align_corners=False), [x]

    _both(cp, f)


def test_uint8_bilinear(cp) -> None:
    img = (np.abs(IMG) * 50).astype(np.uint8)
    _both(cp, lambda dev: (F.interpolate(bp.tensor(img, device=dev), size=(9, 9), mode="bilinear"), []), grad=False)


def test_grid_sample_bicubic_reads_nothing_back(cp) -> None:
    def f(dev):
        x, g = _leaf(IMG, dev), _leaf(GRID, dev)
        return F.grid_sample(x, g, mode="bicubic", align_corners=False), [x, g]

    _both(cp, f)


# ---------------------------------------------------------------- nn, losses, testing helpers


def test_linear_cross_entropy(cp) -> None:
    h, w = RNG.standard_normal((6, 4)), RNG.standard_normal((7, 4))
    y = np.array([0, 1, 2, 3, 4, 6])

    def f(dev):
        hh, ww = _leaf(h, dev), _leaf(w, dev)
        return F.linear_cross_entropy(hh, ww, bp.tensor(y, device=dev)), [hh, ww]

    _both(cp, f)


def test_module_factory_kwargs_allocate_on_the_device(cp, reads) -> None:
    mods = [
        bp.nn.Linear(3, 2, device="cuda"),
        bp.nn.Conv2d(3, 2, 3, device="cuda", dtype=bp.float64),
        bp.nn.BatchNorm1d(3, device="cuda"),
        bp.nn.Embedding(5, 3, device="cuda"),
        bp.nn.LSTM(3, 4, device="cuda"),
    ]
    for m in mods:
        for name, t in [*m.named_parameters(), *m.named_buffers()]:
            assert t.device.type == "cuda" and isinstance(t._data, cp.ndarray), (type(m).__name__, name)
    assert mods[1].weight.dtype == bp.float64
    assert reads["count"] == 0


def test_make_tensor_on_the_device(cp, reads) -> None:
    for dt, kw in ((bp.float32, {}), (bp.int64, {"low": 0, "high": 9}), (bp.bool, {})):
        t = bp.testing.make_tensor((3, 4), dtype=dt, device="cuda", **kw)
        assert t.device.type == "cuda" and t.dtype == dt and isinstance(t._data, cp.ndarray)
    assert reads["count"] == 0


def test_sobol_draws_on_the_host_and_moves_explicitly(cp) -> None:
    cpu = bp.quasirandom.SobolEngine(3, scramble=True, seed=0).draw(4)
    gpu = bp.quasirandom.SobolEngine(3, scramble=True, seed=0).draw(4).to("cuda")
    assert gpu.device.type == "cuda"
    np.testing.assert_array_equal(gpu.numpy(), cpu.numpy())


def test_lobpcg_runs_on_the_device(cp) -> None:
    b = RNG.standard_normal((10, 10))
    b = b @ b.T + 10 * np.eye(10)
    x0 = RNG.standard_normal((10, 2))
    _both(cp, lambda dev: (bp.lobpcg(bp.tensor(b, device=dev), k=2, X=bp.tensor(x0, device=dev)), []), rtol=1e-6)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_reads_only_the_lengths(cp, reduce: str) -> None:
    def f(dev):
        x = _leaf(np.arange(1.0, 7.0), dev)
        return bp.segment_reduce(x, reduce, lengths=bp.tensor([2, 1, 3], device=dev)), [x]

    # (prod's backward asks whether any factor is zero, one read per segment: ops/reduction.py)
    _both(cp, f, max_reads=4 if reduce == "prod" else 1)


def test_accelerator_and_device_module(cp) -> None:
    assert bp.accelerator.is_available()
    assert str(bp.accelerator.current_accelerator()).startswith("cuda")
    assert bp.get_device_module("cuda") is bp.cuda


# ---------------------------------------------------------------- distributions and optimizers


@pytest.mark.parametrize(
    "pair",
    [
        lambda d, t: (d.Normal(t([0.0]), t([1.0])), d.Laplace(t([0.5]), t([2.0]))),
        lambda d, t: (d.Gamma(t([2.0]), t([1.0])), d.Exponential(t([0.5]))),
        lambda d, t: (d.Beta(t([2.0]), t([3.0])), d.Uniform(t([0.0]), t([1.0]))),
    ],
    ids=["normal_laplace", "gamma_exponential", "beta_uniform"],
)
def test_kl_pairs(cp, reads, pair) -> None:
    out = {}
    for dev in ("cpu", "cuda"):
        d = bp.distributions
        p, q = pair(d, lambda v, dev=dev: bp.tensor(v, dtype=bp.float64, device=dev))
        p._validate_args = q._validate_args = False
        reads.clear()
        reads["count"] = 0
        out[dev] = d.kl_divergence(p, q)
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
    np.testing.assert_allclose(out["cuda"].numpy(), out["cpu"].numpy(), rtol=1e-10)


def test_device_sampling_of_gamma_family(cp) -> None:
    d = bp.distributions
    conc = bp.tensor([2.0, 3.0], dtype=bp.float64, device="cuda", requires_grad=True)
    x = d.Gamma(conc, bp.tensor([1.0, 2.0], dtype=bp.float64, device="cuda")).rsample((4,))
    x.sum().backward()  # the implicit gradient through cupyx.scipy.special.gammainc
    assert x.device.type == "cuda" and conc.grad.device.type == "cuda" and np.isfinite(conc.grad.numpy()).all()
    for dist in (
        d.NegativeBinomial(bp.tensor(3.0, device="cuda"), probs=bp.tensor(0.4, device="cuda")),
        d.Beta(bp.tensor([2.0], device="cuda"), bp.tensor([3.0], device="cuda")),
        d.Poisson(bp.tensor([3.0], device="cuda")),
    ):
        s = dist.sample((3,))
        assert s.device.type == "cuda" and isinstance(s._data, cp.ndarray)


@pytest.mark.parametrize(
    ("name", "kw"),
    [("Adam", {"lr": 0.1, "maximize": True}), ("SGD", {"lr": 0.1, "momentum": 0.9, "maximize": True})],
    ids=["Adam", "SGD"],
)
def test_maximize_on_0d_params(cp, reads, name: str, kw: dict) -> None:
    out = {}
    for dev in ("cpu", "cuda"):
        p = bp.nn.Parameter(bp.tensor(1.0, dtype=bp.float64, device=dev))
        opt = getattr(bp.optim, name)([p], **kw)
        reads.clear()
        reads["count"] = 0
        for g in (0.5, -0.25, 1.0):
            p.grad = bp.tensor(g, dtype=bp.float64, device=dev)
            opt.step()
        if dev == "cuda":
            assert reads["count"] == 0, dict(reads)
        out[dev] = p.item()
    assert out["cuda"] == pytest.approx(out["cpu"], rel=1e-12)
