"""Edge values against torch 2.13: gradients at zeros and infinities (div's rounding modes, pow, reciprocal,
rsqrt, cumprod, logit, norm(p=0)), lgamma at float64 subnormals, binary_cross_entropy_with_logits at infinite
logits (with pos_weight and weight), the layout of softmax / norms / one_hot of a transposed input, and
sort's overloads."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare with torch")

INF = math.inf


def _both(fn, *values, gy=None):
    """fn(lib, *tensors) in backprop and torch (float64, all requiring grad): the outputs, then the
    gradients (None where torch's autograd.grad gives None)."""
    out = []
    for lib in (bp, torch):
        ts = [lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in values]
        y = fn(lib, *ts)
        g = lib.ones_like(y) if gy is None else lib.tensor(gy, dtype=lib.float64)
        grads = lib.autograd.grad(y, ts, g, allow_unused=True)
        out.append([y.detach().numpy()] + [None if q is None else q.numpy() for q in grads])
    return out


def _same(fn, *values, gy=None):
    ours, theirs = _both(fn, *values, gy=gy)
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
        else:
            np.testing.assert_array_equal(a, b)  # (NaNs equal, and the sign of zeros checked)
            assert np.array_equal(np.signbit(a[a == a]), np.signbit(b[b == b]))


# ---------------------------------------------------------------- gradients at zeros and infinities


def test_div_rounding_gradient_is_zero_everywhere() -> None:
    for mode in ("trunc", "floor"):
        _same(
            lambda L, x, y, m=mode: L.div(x, y, rounding_mode=m), [1.0, 2.0, 3.0, 0.0, -7.0], [0.0, INF, 2.0, 0.0, -INF]
        )


def test_div_trunc_values_and_in_place() -> None:
    x, t = bp.tensor([7.0, -7.0, 5.5]), torch.tensor([7.0, -7.0, 5.5])
    assert x.div(2, rounding_mode="trunc").tolist() == t.div(2, rounding_mode="trunc").tolist() == [3.0, -3.0, 2.0]
    x.div_(-2.0, rounding_mode="trunc")
    t.div_(-2.0, rounding_mode="trunc")
    assert x.tolist() == t.tolist()
    assert bp.div(bp.tensor([7, -7]), 2, rounding_mode="trunc").tolist() == [3, -3]
    with pytest.raises(NotImplementedError, match="div_trunc_cpu"):
        bp.div(bp.tensor([1 + 2j]), bp.tensor([1 + 1j]), rounding_mode="trunc")


def test_pow_half_gradient_at_negative_zero_and_inf() -> None:
    _same(lambda L, x: L.pow(x, 0.5), [-0.0, -INF, 0.0, 4.0])  # torch's x^-0.5 is an rsqrt: -inf at -0


def test_reciprocal_and_rsqrt_with_an_infinite_gy() -> None:
    _same(lambda L, x: L.reciprocal(x), [1e300, -1e300, 0.0, 1e-300], gy=[INF] * 4)
    _same(lambda L, x: L.rsqrt(x), [1e300, 0.0, 1e-300, INF], gy=[INF] * 4)


def test_cumprod_gradient_before_a_zero_with_an_infinite_gy() -> None:
    _same(lambda L, x: L.cumprod(x, 0), [2.0, 0.0, 3.0], gy=[1.0, INF, 1.0])
    _same(lambda L, x: L.cumprod(x, 0), [2.0, 0.0, 3.0, 0.0], gy=[1.0, 1.0, INF, 2.0])


def test_logit_gradient_at_zero_and_one() -> None:
    _same(lambda L, x: L.logit(x), [-0.0, 0.0, 1.0, -0.0, 0.0, 0.5, 2.0], gy=[1.0, -1.0, -1.0, 0.0, INF, 1.0, 1.0])


def test_norm_p0_has_no_gradient() -> None:
    _same(lambda L, x: L.linalg.vector_norm(x, 0), [1.0, 0.0, 2.0])
    _same(lambda L, x: L.norm(x, p=0) + x.sum(), [1.0, 0.0, 2.0])
    x = bp.tensor([1.0, 0.0], requires_grad=True)
    bp.norm(x, p=0).backward()
    assert x.grad is None  # (torch: None too)


# ---------------------------------------------------------------- lgamma at subnormals


def test_lgamma_at_float64_subnormals() -> None:
    v = [1e-310, -1e-310, 5e-324, 2.2e-308, 0.0, -0.0, 3.0]
    ours, theirs = bp.lgamma(bp.tensor(v, dtype=bp.float64)), torch.lgamma(torch.tensor(v, dtype=torch.float64))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-15)
    assert ours[0].item() == pytest.approx(-math.log(1e-310), rel=1e-15)  # closed form: -log|x|
    v32 = [1e-40, -1e-40]
    np.testing.assert_allclose(bp.lgamma(bp.tensor(v32)).numpy(), torch.lgamma(torch.tensor(v32)).numpy())


# ---------------------------------------------------------------- binary_cross_entropy_with_logits

_Z = [INF, -INF, INF, -INF, 0.0, 3.0, -700.0, 800.0]
_T = [0.0, 0.5, 1.0, 0.0, 0.3, 0.2, 1.0, 0.0]


@pytest.mark.parametrize(
    ("reduction", "extra"),
    [
        ("none", {}),
        ("none", {"pos_weight": [2.0] * 8}),
        ("none", {"pos_weight": [0.5] * 8}),
        ("sum", {"pos_weight": [0.5] * 8}),  # (sums of inf and NaN: the gradients still tell)
        ("none", {"weight": [0.0, 2, 2, 2, 0, 1, 1, 1]}),
        ("none", "both"),
        ("mean", "both"),
    ],
)
def test_bce_with_logits_at_infinite_logits(reduction: str, extra) -> None:
    if extra == "both":
        extra = {"weight": [0.0, 2, 2, 2, 0, 1, 1, 1], "pos_weight": [0.5] * 8}

    def f(L, z, t):
        kw = {k: L.tensor(v, dtype=L.float64) for k, v in extra.items()}
        return L.nn.functional.binary_cross_entropy_with_logits(z, t, reduction=reduction, **kw)

    _same(f, _Z, _T)


def test_bce_with_logits_closed_form() -> None:
    z, t = bp.tensor([INF, -INF]), bp.tensor([0.0, 0.5])
    loss = bp.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert loss[0].item() == INF and math.isnan(loss[1].item())  # (1 - y) z - log s(z): inf - 0; -inf + inf
    pw = bp.tensor([3.0, 1.0])  # a broadcast pos_weight: (1 + (w - 1) y) scales the log s(z) term
    z, t = bp.tensor([[0.5, -1.0]]), bp.tensor([[0.25, 1.0]])
    got = bp.nn.functional.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none")
    s = 1 / (1 + np.exp(-np.array([0.5, -1.0])))
    want = -(np.array([3.0, 1.0]) * np.array([0.25, 1.0]) * np.log(s) + np.array([0.75, 0.0]) * np.log1p(-s))
    np.testing.assert_allclose(got.numpy()[0], want, rtol=1e-6)


# ---------------------------------------------------------------- layouts of a transposed input

_LAYOUT = {
    "softmax": lambda L, x: L.softmax(x, 1),
    "softmax0": lambda L, x: L.nn.functional.softmax(x, 0),
    "log_softmax": lambda L, x: L.log_softmax(x, -1),
    "layer_norm": lambda L, x: L.nn.functional.layer_norm(x, (4,)),
    "group_norm": lambda L, x: L.nn.functional.group_norm(x, 2),
    "batch_norm": lambda L, x: L.nn.functional.batch_norm(x, None, None, training=True),
    "one_hot": lambda L, x: L.nn.functional.one_hot((x > 0).long(), 2),
}


@pytest.mark.parametrize("name", sorted(_LAYOUT))
def test_layout_of_a_transposed_input(name: str) -> None:
    a = np.random.default_rng(0).standard_normal((4, 6))
    ours, theirs = (_LAYOUT[name](L, L.tensor(a).T) for L in (bp, torch))
    assert ours.stride() == theirs.stride() and ours.is_contiguous() == theirs.is_contiguous()
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    if theirs.is_contiguous():
        assert ours.view(-1).shape == theirs.view(-1).shape


def test_log_softmax_half_of_a_transposed_input_is_contiguous() -> None:
    a = np.random.default_rng(1).standard_normal((4, 6))
    for dim in (0, 1):
        ours = bp.tensor(a, dtype=bp.float16).T.log_softmax(dim)
        theirs = torch.tensor(a, dtype=torch.float16).T.log_softmax(dim)
        assert ours.stride() == theirs.stride()


# ---------------------------------------------------------------- sort's overloads


@pytest.mark.parametrize("name", ["sort", "argsort"])
def test_sort_stable_with_a_positional_dim_is_a_type_error(name: str) -> None:
    for lib in (bp, torch):
        x = lib.tensor([[3.0, 1.0], [2.0, 0.0]])
        with pytest.raises(TypeError, match="invalid combination of arguments"):
            getattr(x, name)(1, stable=True)
        with pytest.raises(TypeError):  # (torch's words differ here: "takes from 1 to 0 positional arguments")
            getattr(x, name)(1, True, stable=True)
    x, t = bp.tensor([[3.0, 1.0], [2.0, 0.0]]), torch.tensor([[3.0, 1.0], [2.0, 0.0]])
    r, q = getattr(x, name)(stable=True, dim=1, descending=True), getattr(t, name)(stable=True, dim=1, descending=True)
    r, q = (r, q) if name == "argsort" else (r.indices, q.indices)
    assert r.tolist() == q.tolist()
    assert getattr(x, name)(0, True).__class__ is getattr(x, name)(dim=0).__class__
