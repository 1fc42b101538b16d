"""``bp.special``'s Bessel, Airy, erfcx, incomplete-gamma, zeta and polynomial functions, and the extra Tensor
methods (storages, ``set_``, ``as_subclass``, ``igamma``, ``nonzero_static``, ...), against torch and closed forms."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

UNARY = [
    "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0", "modified_bessel_i1",
    "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
    "spherical_bessel_j0", "airy_ai",
]  # fmt: skip
POLYNOMIALS = [
    "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
    "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
    "legendre_polynomial_p",
]  # fmt: skip


def _np(t: object) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---------------------------------------------------------------- bp.special
@needs_torch
@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_special_match_torch_without_gradient(name: str, dtype: str) -> None:
    x = np.array([0.0, 0.3, 1.0, 2.5, 7.0, -1.5], dtype=dtype)
    if "_k" in name or "_y" in name:
        x = np.abs(x) + 0.1
    ours = getattr(bp.special, name)(bp.tensor(x, requires_grad=True))
    theirs = getattr(torch.special, name)(torch.tensor(x, requires_grad=True))
    assert str(ours.dtype) == dtype and not ours.requires_grad and theirs.grad_fn is None
    rtol = (
        1e-5 if dtype == "float32" else 1e-8
    )  # torch's float64 Bessel kernels err by up to ~3e-8 near zeros (SciPy: 1e-16)
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=rtol, atol=1e-6 if dtype == "float32" else 5e-8)


def test_unary_special_closed_forms() -> None:
    x = bp.tensor([0.0, 1.0, 2.0], dtype=bp.float64)
    np.testing.assert_allclose(_np(bp.special.spherical_bessel_j0(x)), [1.0, math.sin(1.0), math.sin(2.0) / 2])
    assert bp.special.bessel_j0(bp.tensor([0.0])).item() == 1.0
    assert bp.special.bessel_j0(bp.tensor([7.0], dtype=bp.float64)).item() == pytest.approx(0.30007927051955560, 1e-14)
    assert bp.special.bessel_j1(bp.tensor([7.0], dtype=bp.float64)).item() == pytest.approx(-0.00468282348234583, 1e-12)
    np.testing.assert_allclose(_np(bp.special.modified_bessel_i0(x)), _np(bp.special.i0(x)), rtol=1e-12)
    k0 = _np(bp.special.modified_bessel_k0(x[1:]))
    np.testing.assert_allclose(_np(bp.special.scaled_modified_bessel_k0(x[1:])), k0 * np.exp([1.0, 2.0]), rtol=1e-12)
    np.testing.assert_allclose(bp.special.airy_ai(bp.tensor([0.0], dtype=bp.float64)).item(), 0.355028053887817)
    assert bp.special.bessel_j1(bp.tensor([1, 2])).dtype == bp.float32  # integers give the default float dtype
    with pytest.raises(TypeError, match="must be Tensor"):
        bp.special.bessel_j0(1.0)  # type: ignore[arg-type]


@needs_torch
@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_match_torch(name: str) -> None:
    x = np.array([-0.9, -0.3, 0.0, 0.25, 0.5, 1.0, 1.7], dtype=np.float64)
    for n in (0, 1, 2, 3, 5, 8, -1, 3.7):
        ours = getattr(bp.special, name)(bp.tensor(x), n)
        theirs = getattr(torch.special, name)(torch.tensor(x), n)
        np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-9, atol=1e-9, err_msg=f"n={n}")
    ns = np.array([0.0, 1.0, 2.0, 4.0, 6.0, 3.0, 2.0])
    ours = getattr(bp.special, name)(bp.tensor(x), bp.tensor(ns))
    theirs = getattr(torch.special, name)(torch.tensor(x), torch.tensor(ns))
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-9, atol=1e-9)
    f32 = getattr(bp.special, name)(bp.tensor(x.astype(np.float32), requires_grad=True), 3)
    assert f32.dtype == bp.float32 and not f32.requires_grad


def test_polynomial_closed_forms() -> None:
    x = bp.tensor([0.5], dtype=bp.float64)
    assert bp.special.chebyshev_polynomial_t(x, 3).item() == pytest.approx(4 * 0.125 - 3 * 0.5)
    assert bp.special.hermite_polynomial_h(x, 3.5).item() == pytest.approx(-5.0)  # n truncates to 3
    assert bp.special.legendre_polynomial_p(bp.tensor([1.0, -1.0]), 3).tolist() == [1.0, -1.0]
    assert bp.special.laguerre_polynomial_l(x, 2).item() == pytest.approx(0.5 * 0.25 - 2 * 0.5 + 1)
    assert bp.special.chebyshev_polynomial_t(x, -2).item() == 0.0


@needs_torch
def test_erfcx_values_and_gradients() -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.7, 3.0, 30.0])
    ours_x, theirs_x = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = bp.special.erfcx(ours_x), torch.special.erfcx(theirs_x)
    np.testing.assert_allclose(_np(ours), theirs.detach().numpy(), rtol=1e-12)
    (g,) = bp.autograd.grad(ours.sum(), ours_x, create_graph=True)
    (tg,) = torch.autograd.grad(theirs.sum(), theirs_x, create_graph=True)
    np.testing.assert_allclose(_np(g), tg.detach().numpy(), rtol=1e-10)
    g.sum().backward()
    tg.sum().backward()
    np.testing.assert_allclose(_np(ours_x.grad), _np(theirs_x.grad), rtol=1e-8)
    assert bp.gradcheck(bp.special.erfcx, (bp.tensor([0.3, -1.2, 2.0], dtype=bp.float64, requires_grad=True),))


@needs_torch
@pytest.mark.parametrize("name, method", [("gammainc", "igamma"), ("gammaincc", "igammac")])
def test_incomplete_gamma(name: str, method: str) -> None:
    a, x = np.array([0.5, 1.0, 2.5, 4.0]), np.array([0.3, 1.0, 2.0, 6.0])
    oa, ox = bp.tensor(a), bp.tensor(x, requires_grad=True)
    ta, tx = torch.tensor(a), torch.tensor(x, requires_grad=True)
    ours, theirs = getattr(bp.special, name)(oa, ox), getattr(torch.special, name)(ta, tx)
    np.testing.assert_allclose(_np(ours), theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(getattr(oa, method)(ox)), _np(ours))
    np.testing.assert_allclose(_np(getattr(bp, method)(oa, ox)), _np(ours))
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(_np(ox.grad), _np(tx.grad), rtol=1e-10)
    grad_in_a = getattr(bp.special, name)(bp.tensor(a, requires_grad=True), bp.tensor(x))
    with pytest.raises(NotImplementedError, match=f"the derivative for '{method}: input' is not implemented"):
        grad_in_a.sum().backward()
    with pytest.raises(TypeError, match="expected Tensor"):
        getattr(bp.special, name)(oa, 3)
    inplace = bp.tensor(a)
    assert getattr(inplace, method + "_")(bp.tensor(x)) is inplace
    np.testing.assert_allclose(_np(inplace), _np(ours))


def test_incomplete_gamma_closed_form() -> None:
    x = bp.tensor([0.5, 2.0], dtype=bp.float64)
    np.testing.assert_allclose(_np(bp.special.gammainc(bp.ones_like(x), x)), 1 - np.exp([-0.5, -2.0]), rtol=1e-12)
    p, q = bp.special.gammainc(x + 1, x), bp.special.gammaincc(x + 1, x)
    np.testing.assert_allclose(_np(p + q), [1.0, 1.0], rtol=1e-12)


@needs_torch
def test_zeta() -> None:
    s, q = np.array([2.0, 3.0, 4.5]), np.array([1.0, 0.5, 2.0])
    oq, tq = bp.tensor(q, requires_grad=True), torch.tensor(q, requires_grad=True)
    ours, theirs = bp.special.zeta(bp.tensor(s), oq), torch.special.zeta(torch.tensor(s), tq)
    np.testing.assert_allclose(_np(ours), theirs.detach().numpy(), rtol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(_np(oq.grad), _np(tq.grad), rtol=1e-10)
    assert bp.special.zeta(2.0, bp.tensor([1.0])).item() == pytest.approx(math.pi**2 / 6)
    assert bp.special.zeta(bp.tensor([2.0]), 1.0).dtype == bp.float32
    with pytest.raises(NotImplementedError, match="the derivative for 'zeta' is not implemented"):
        bp.special.zeta(bp.tensor([2.0], requires_grad=True), bp.tensor([1.0])).sum().backward()


# ---------------------------------------------------------------- storages and memory identity
def test_untyped_storage_and_storage() -> None:
    a = bp.arange(6.0).reshape(2, 3)
    s = a.untyped_storage()
    assert s.size() == s.nbytes() == len(s) == 24 and s.element_size() == 1 and s.data_ptr() == a.data_ptr()
    assert a[1].untyped_storage().data_ptr() == s.data_ptr()  # views share the storage
    assert a.clone().untyped_storage().data_ptr() != s.data_ptr()
    assert bp.is_storage(s) and not bp.is_storage(a)
    with pytest.warns(UserWarning, match="TypedStorage is deprecated"):
        st = a[1].storage()
    assert st.size() == len(st) == 6 and st.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert st.element_size() == 4 and st.nbytes() == 24 and st.dtype == bp.float32 and st[4] == 4.0
    assert s.tolist()[4:8] == list(np.float32(1.0).tobytes())


@needs_torch
def test_storage_matches_torch() -> None:
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    ours, theirs = bp.tensor(data).t()[1:], torch.tensor(data).t()[1:]
    assert ours.untyped_storage().size() == theirs.untyped_storage().size()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours.storage().tolist() == theirs.storage().tolist()
        assert ours.storage().size() == theirs.storage().size()


def test_set_and_is_set_to() -> None:
    a = bp.arange(6.0).reshape(2, 3)
    d = bp.zeros(2)
    assert d.set_(a) is d and tuple(d.shape) == (2, 3) and d.data_ptr() == a.data_ptr() and d.is_set_to(a)
    e = bp.zeros(2)
    e.set_(a.untyped_storage(), 2, (2,), (2,))
    assert e.tolist() == [2.0, 4.0] and e.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
    e[0] = 9.0
    assert a[0, 2].item() == 9.0  # the same memory
    f = bp.zeros(3)
    assert tuple(f.set_().shape) == (0,)
    assert a.is_set_to(a) and not a.is_set_to(a.view(6)) and not a.is_set_to(a.clone())
    with pytest.raises(RuntimeError, match="leaf"):
        bp.ones(2, requires_grad=True).set_(a)
    with pytest.raises(RuntimeError, match="out of bounds"):
        bp.zeros(1).set_(a.untyped_storage(), 4, (3,), (1,))


# ---------------------------------------------------------------- other methods
def test_as_subclass() -> None:
    class Mine(bp.Tensor):
        pass

    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).as_subclass(Mine)
    assert type(y) is Mine and y.requires_grad
    (y * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    plain = bp.arange(3.0)
    view = plain.as_subclass(Mine)
    assert view.data_ptr() == plain.data_ptr()
    with pytest.raises(TypeError, match="does not inherit from Tensor"):
        plain.as_subclass(int)


@needs_torch
def test_metadata_methods_match_torch() -> None:
    data = np.arange(6.0).reshape(2, 3)
    for ours, theirs in ((bp.tensor(data), torch.tensor(data)), (bp.tensor(data).t(), torch.tensor(data).t())):
        assert ours.dim_order() == theirs.dim_order()
        assert ours.const_data_ptr() == ours.data_ptr()
    x = bp.ones(3, requires_grad=True)
    assert x.output_nr == 0 and (x * 2).output_nr == 0 and x.name is None
    assert bp.zeros(1).is_mps is False and bp.zeros(1).is_distributed() is False
    assert bp.zeros(2).conj_physical().tolist() == [0.0, 0.0]
    with pytest.raises(TypeError, match="complex32"):
        bp.zeros(2).chalf()
    with pytest.raises(RuntimeError, match="unique dim order"):
        bp.zeros(2, 1).dim_order(ambiguity_check=True)


@needs_torch
def test_histogram_and_nonzero_static_match_torch() -> None:
    data = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]], dtype=np.float32)
    a, ta = bp.tensor(data), torch.tensor(data)
    for bins in (3, None):
        ours = a.histogram(bins=3) if bins else a.histogram(bp.tensor([0.0, 2.0, 6.0]))
        theirs = ta.histogram(bins=3) if bins else ta.histogram(torch.tensor([0.0, 2.0, 6.0]))
        np.testing.assert_allclose(_np(ours.hist), theirs.hist.numpy())
        np.testing.assert_allclose(_np(ours.bin_edges), theirs.bin_edges.numpy())
    for size, fill in ((5, -1), (2, 0), (0, -1)):
        ours_nz = a.nonzero_static(size=size, fill_value=fill)
        theirs_nz = ta.nonzero_static(size=size, fill_value=fill)
        assert ours_nz.dtype == bp.int64 and _np(ours_nz).tolist() == theirs_nz.tolist()
    assert _np(bp.nonzero_static(a, size=4)).tolist() == torch.nonzero_static(ta, size=4).tolist()


def test_map2_and_resize() -> None:
    c = bp.zeros(3)
    c.map2_(bp.ones(3), bp.full((3,), 2.0), lambda p, q, r: p + q * r)
    assert c.tolist() == [2.0, 2.0, 2.0]
    x = bp.arange(6.0, requires_grad=True)
    with pytest.warns(UserWarning, match="non-inplace resize is deprecated"):
        y = x.resize(2, 3)
    assert tuple(y.shape) == (2, 3)
    (y * bp.arange(6.0).reshape(2, 3)).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.warns(UserWarning, match="resize_as is deprecated"), pytest.raises(RuntimeError, match="preserving"):
        x.resize_as(bp.zeros(4))


def test_module_load() -> None:
    p, src = bp.zeros(3), bp.ones(3)
    out = p.module_load(src)
    assert out.tolist() == [1.0] * 3 and p.tolist() == [1.0] * 3 and out is not p
    assert p.module_load(src, assign=True).data_ptr() == src.data_ptr()
