"""torch's remaining top-level names, ``bp.special``'s Bessel/zeta/polynomial functions and the extra Tensor
methods, checked against torch where it is installed and against closed forms everywhere."""

from __future__ import annotations

import array
import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _np(t: object) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---------------------------------------------------------------- constants, version, random
def test_constants() -> None:
    assert bp.pi == math.pi and bp.e == math.e and bp.inf == math.inf and math.isnan(bp.nan)
    assert bp.newaxis is None
    assert bp.zeros(3)[bp.newaxis].shape == (1, 3)


def test_version_module() -> None:
    assert bp.version.__version__ == bp.__version__
    assert bp.version.cuda is None or isinstance(bp.version.cuda, str)
    assert isinstance(bp.version.git_version, str) and bp.version.git_version
    with pytest.raises(AttributeError):
        bp.version.nothing  # noqa: B018


def test_random_module_and_fork_rng() -> None:
    bp.random.manual_seed(3)
    assert bp.random.initial_seed() == 3
    state = bp.random.get_rng_state()
    a = bp.rand(4)
    bp.random.set_rng_state(state)
    assert np.array_equal(_np(bp.rand(4)), _np(a))
    before = bp.random.get_rng_state()
    with bp.random.fork_rng():
        bp.rand(10)
    assert np.array_equal(_np(bp.random.get_rng_state()), _np(before))
    with bp.random.fork_rng(enabled=False):
        bp.rand(10)
    assert not np.array_equal(_np(bp.random.get_rng_state()), _np(before))


def test_out_of_memory_error_and_gradscaler() -> None:
    assert bp.OutOfMemoryError is bp.cuda.OutOfMemoryError
    assert bp.GradScaler is bp.amp.GradScaler


# ---------------------------------------------------------------- small functions
@needs_torch
def test_typename_and_predicates() -> None:
    x = bp.zeros(2)
    assert bp.typename(x) == torch.typename(torch.zeros(2)) == "torch.FloatTensor"
    assert bp.typename(bp.zeros(2, dtype=bp.int64)) == "torch.LongTensor"
    assert bp.typename(3) == torch.typename(3) == "int"
    assert bp.typename(bp.nn.Linear(2, 2)).endswith(".Linear")
    assert bp.is_signed(bp.zeros(1, dtype=bp.uint8)) is torch.is_signed(torch.zeros(1, dtype=torch.uint8)) is False
    assert bp.is_signed(x) and not bp.is_inference(x) and bp.get_device(x) == -1


@needs_torch
@pytest.mark.parametrize("s, dtype", [(3, None), (True, None), (2.5, bp.float64), (7, bp.int64)])
def test_scalar_tensor(s: Any, dtype: Any) -> None:
    tdt = None if dtype is None else getattr(torch, str(np.dtype(dtype)))
    ours, theirs = bp.scalar_tensor(s, dtype=dtype), torch.scalar_tensor(s, dtype=tdt)
    assert ours.shape == () and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    assert ours.item() == theirs.item()


@needs_torch
def test_rsub() -> None:
    assert _np(bp.rsub(bp.tensor([1, 2]), 5, alpha=2)).tolist() == torch.rsub(torch.tensor([1, 2]), 5, alpha=2).tolist()
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = bp.rsub(x, bp.tensor([3.0, 4.0]), alpha=3)
    assert _np(y).tolist() == [0.0, -2.0]
    y.sum().backward()
    assert _np(x.grad).tolist() == [-3.0, -3.0]


@needs_torch
@pytest.mark.parametrize("args, kw", [((0, 3), {}), ((1, 2, 0.5), {}), ((0, 1, 0.3), {}), ((0, 3), {"dtype": "int64"})])
def test_range_is_inclusive_and_deprecated(args: tuple, kw: dict) -> None:
    ours_kw = {k: getattr(bp, v) for k, v in kw.items()}
    theirs_kw = {k: getattr(torch, v) for k, v in kw.items()}
    with pytest.warns(UserWarning, match="torch.range is deprecated"):
        ours = bp.range(*args, **ours_kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.range(*args, **theirs_kw)
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-6)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_fill_and_zero() -> None:
    x = bp.zeros(2, dtype=bp.int64)
    assert _np(bp.fill(x, 2.7)).tolist() == [2, 2] and _np(x).tolist() == [0, 0]
    v = bp.tensor(3.0, requires_grad=True)
    out = bp.fill(bp.zeros(4), v)
    out.sum().backward()
    assert _np(out).tolist() == [3.0] * 4 and v.grad.item() == 4.0
    y = bp.ones(3)
    assert bp.zero_(y) is y and _np(y).tolist() == [0.0] * 3


def test_top_level_in_place_functions_are_the_methods() -> None:
    x = bp.tensor([0.0, 1.0])
    assert bp.exp_(x) is x
    np.testing.assert_allclose(_np(x), [1.0, math.e], rtol=1e-6)
    bp.sin_(x)
    np.testing.assert_allclose(_np(x), np.sin([1.0, math.e]), rtol=1e-6)
    assert bp.clamp_min_(x, 0.5) is x and float(_np(x).min()) >= 0.5
    leaf = bp.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        bp.sqrt_(leaf)


@needs_torch
def test_removed_functions_raise_torchs_errors() -> None:
    a = bp.eye(3)
    for name, args in [("matrix_rank", (a,)), ("lstsq", (a, a)), ("solve", (a, a)), ("eig", (a,)), ("symeig", (a,))]:
        with pytest.raises(RuntimeError) as ours:
            getattr(bp, name)(*args)
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch, name)(*(torch.eye(3) for _ in args))
        assert str(ours.value) == str(theirs.value)
    for name in ("lstsq", "solve", "eig", "symeig"):
        with pytest.raises(RuntimeError, match="deprecated since version 1.9"):
            getattr(a, name)(a) if name in ("lstsq", "solve") else getattr(a, name)()


def test_switches() -> None:
    assert not bp.is_warn_always_enabled()
    bp.set_warn_always(True)
    assert bp.is_warn_always_enabled()
    bp.set_warn_always(False)
    assert not bp.is_anomaly_enabled() and bp.is_anomaly_check_nan_enabled()
    bp.set_anomaly_enabled(True, False)
    try:
        assert bp.is_anomaly_enabled() and bp.autograd.is_anomaly_enabled() and not bp.is_anomaly_check_nan_enabled()
    finally:
        bp.set_anomaly_enabled(False)
    assert not bp.is_anomaly_enabled() and bp.is_anomaly_check_nan_enabled()
    assert bp.set_flush_denormal(True) is False


def test_set_default_tensor_type() -> None:
    try:
        with pytest.warns(UserWarning, match="set_default_tensor_type"):
            bp.set_default_tensor_type(bp.DoubleTensor)
        assert bp.get_default_dtype() == bp.float64 and bp.tensor([1.0]).dtype == bp.float64
        with pytest.warns(UserWarning):
            bp.set_default_tensor_type("torch.FloatTensor")
        assert bp.get_default_dtype() == bp.float32
        with pytest.warns(UserWarning), pytest.raises(TypeError, match="floating"):
            bp.set_default_tensor_type(bp.LongTensor)
        with pytest.warns(UserWarning), pytest.raises(TypeError, match="invalid type"):
            bp.set_default_tensor_type("torch.NoSuchTensor")
    finally:
        bp.set_default_dtype(bp.float32)


def test_deprecated_autocast_switches() -> None:
    with pytest.warns(DeprecationWarning, match="get_autocast_dtype\\('cpu'\\)"):
        assert bp.get_autocast_cpu_dtype() == bp.get_autocast_dtype("cpu")
    with pytest.warns(DeprecationWarning):
        assert bp.get_autocast_gpu_dtype() == bp.get_autocast_dtype("cuda")
    with pytest.warns(DeprecationWarning):
        assert bp.is_autocast_cpu_enabled() is False
    with pytest.warns(DeprecationWarning):
        bp.set_autocast_cpu_enabled(True)
    try:
        assert bp.is_autocast_enabled("cpu")
    finally:
        bp.set_autocast_enabled("cpu", False)
    before = bp.get_autocast_dtype("cuda")
    with pytest.warns(DeprecationWarning):
        bp.set_autocast_gpu_dtype(bp.float16)
    assert bp.get_autocast_dtype("cuda") == bp.float16
    with pytest.warns(DeprecationWarning):
        bp.set_autocast_cpu_dtype(bp.float16)
    bp.set_autocast_dtype("cuda", before)


def test_norm_except_dim() -> None:
    v = bp.tensor(np.arange(1.0, 7.0).reshape(2, 3))
    np.testing.assert_allclose(_np(bp.norm_except_dim(v, 2, 0)), np.linalg.norm(_np(v), axis=1, keepdims=True))
    np.testing.assert_allclose(_np(bp.norm_except_dim(v, 2, -1)), np.linalg.norm(_np(v)))


# ---------------------------------------------------------------- *_copy
@needs_torch
@pytest.mark.parametrize(
    "name, args",
    [
        ("view_copy", ((6, 4),)), ("permute_copy", ((2, 0, 1),)), ("transpose_copy", (0, 2)), ("t_copy", None),
        ("expand_copy", ((2, 2, 3, 4),)), ("squeeze_copy", ()), ("unsqueeze_copy", (1,)), ("diagonal_copy", (0, 1, 2)),
        ("select_copy", (1, 2)), ("slice_copy", (2, 1, 4, 2)), ("split_copy", (1, 1)), ("unbind_copy", (0,)),
        ("unfold_copy", (2, 2, 1)), ("alias_copy", ()), ("as_strided_copy", ((3, 2), (1, 3))),
        ("split_with_sizes_copy", ([1, 2], 1)), ("detach_copy", ()),
    ],
)  # fmt: skip
def test_copy_variants(name: str, args: tuple | None) -> None:
    data = np.random.default_rng(0).standard_normal((2, 3, 4) if args is not None else (3, 4))
    x, tx = bp.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = getattr(bp, name)(x, *(args or ())), getattr(torch, name)(tx, *(args or ()))
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, (tuple, list)) else (theirs,)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(_np(o), t.detach().numpy())
        assert o.data_ptr() != x.data_ptr() or o.numel() == 0
    if name == "detach_copy":
        assert not ours[0].requires_grad
        return
    w = np.random.default_rng(1).standard_normal(tuple(ours[0].shape))
    (ours[0] * bp.tensor(w)).sum().backward()
    (theirs[0] * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(_np(x.grad), _np(tx.grad))


# ---------------------------------------------------------------- gradient, histogramdd, frombuffer
@needs_torch
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"spacing": 2.0}, {"dim": 1, "edge_order": 2}, {"spacing": [0.5, 3.0]}, {"dim": [0], "edge_order": 2},
     {"spacing": "coords", "dim": 1}, {"spacing": "coords", "dim": 1, "edge_order": 2}],
)  # fmt: skip
def test_gradient(kwargs: dict) -> None:
    data = np.random.default_rng(2).standard_normal((4, 5))
    tkw, okw = dict(kwargs), dict(kwargs)
    if kwargs.get("spacing") == "coords":
        coords = np.array([0.0, 0.5, 1.7, 2.0, 3.5])
        tkw["spacing"], okw["spacing"] = (torch.tensor(coords),), (bp.tensor(coords),)
    x, tx = bp.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = bp.gradient(x, **okw), torch.gradient(tx, **tkw)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(_np(o), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    bp.stack([o.sum() for o in ours]).sum().backward()
    torch.stack([t.sum() for t in theirs]).sum().backward()
    np.testing.assert_allclose(_np(x.grad), _np(tx.grad), rtol=1e-10, atol=1e-12)


def test_gradient_closed_forms_and_errors() -> None:
    (g,) = bp.gradient(bp.tensor([1, 4, 9, 16, 25]))
    assert g.dtype == bp.float32 and _np(g).tolist() == [3.0, 4.0, 6.0, 8.0, 9.0]
    (g2,) = bp.gradient(bp.tensor([1.0, 4.0, 9.0, 16.0]), edge_order=2)  # exact for a quadratic
    np.testing.assert_allclose(_np(g2), [2.0, 4.0, 6.0, 8.0])
    with pytest.raises(RuntimeError, match="edge_order"):
        bp.gradient(bp.ones(2), edge_order=2)
    with pytest.raises(RuntimeError, match="edge_order=1 and edge_order=2"):
        bp.gradient(bp.ones(5), edge_order=3)


@needs_torch
def test_histogramdd() -> None:
    pts = np.random.default_rng(3).random((50, 2)).astype(np.float32)
    w = np.random.default_rng(4).random(50).astype(np.float32)
    for kw in ({"bins": 4}, {"bins": [3, 5], "range": [0.0, 1.0, 0.0, 2.0]}, {"bins": 3, "density": True}):
        ours = bp.histogramdd(bp.tensor(pts), weight=bp.tensor(w), **kw)
        theirs = torch.histogramdd(torch.tensor(pts), weight=torch.tensor(w), **kw)
        np.testing.assert_allclose(_np(ours.hist), theirs.hist.numpy(), rtol=1e-5)
        for o, t in zip(ours.bin_edges, theirs.bin_edges):
            np.testing.assert_allclose(_np(o), t.numpy(), rtol=1e-6)
        assert ours.hist.dtype == bp.float32
    edges = [bp.tensor([0.0, 0.5, 1.0]), bp.tensor([0.0, 1.0])]
    assert bp.histogramdd(bp.tensor(pts), bins=edges).hist.sum().item() == 50


def test_frombuffer() -> None:
    buf = array.array("i", [1, 2, 3])
    t = bp.frombuffer(buf, dtype=bp.int32)
    assert t.dtype == bp.int32 and _np(t).tolist() == [1, 2, 3]
    t[0] = 7
    assert buf[0] == 7  # shares the memory
    raw = bytearray(b"\x01\x02\x03\x04")
    assert _np(bp.frombuffer(raw, dtype=bp.uint8, count=2, offset=1)).tolist() == [2, 3]
    with pytest.raises(ValueError, match="must not be 0"):
        bp.frombuffer(bytearray(), dtype=bp.int32)
    with pytest.raises(ValueError, match="multiple of element size"):
        bp.frombuffer(bytearray(5), dtype=bp.int32)


# ---------------------------------------------------------------- norms, low rank, binomial
@needs_torch
def test_nuclear_and_frobenius_norm() -> None:
    data = np.random.default_rng(5).standard_normal((3, 4))
    x, tx = bp.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    with pytest.warns(UserWarning, match="nuclear_norm is deprecated"):
        ours = bp.nuclear_norm(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nuclear_norm(tx)
        theirs_f = torch.frobenius_norm(tx, dim=[1], keepdim=True)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-10)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(_np(x.grad), _np(tx.grad), rtol=1e-8)
    with pytest.warns(UserWarning, match="frobenius_norm is deprecated"):
        ours_f = bp.frobenius_norm(x, dim=[1], keepdim=True)
    np.testing.assert_allclose(_np(ours_f), theirs_f.detach().numpy(), rtol=1e-10)


def test_svd_and_pca_lowrank_recover_low_rank_matrices() -> None:
    rng = np.random.default_rng(6)
    for m, n in ((20, 8), (8, 20)):
        a = bp.tensor(rng.standard_normal((m, 3)) @ rng.standard_normal((3, n)))
        u, s, v = bp.svd_lowrank(a, q=4)
        assert tuple(u.shape) == (m, 4) and tuple(s.shape) == (4,) and tuple(v.shape) == (n, 4)
        np.testing.assert_allclose(_np(u @ bp.diag(s) @ v.T), _np(a), atol=1e-4)
        np.testing.assert_allclose(_np(s)[:3], np.linalg.svd(_np(a), compute_uv=False)[:3], rtol=1e-4)
    data = rng.standard_normal((30, 2)) @ np.array([[3.0, 0.0, 1.0], [0.0, 1.0, 0.0]]) + 5.0
    u, s, v = bp.pca_lowrank(bp.tensor(data), q=2)
    centered = data - data.mean(0)
    np.testing.assert_allclose(_np(s), np.linalg.svd(centered, compute_uv=False)[:2], rtol=1e-6)
    with pytest.raises(ValueError, match="q"):
        bp.pca_lowrank(bp.tensor(data), q=4)


def test_svd_lowrank_is_differentiable() -> None:
    a = bp.tensor(np.random.default_rng(7).standard_normal((6, 4)), requires_grad=True)
    _, s, _ = bp.svd_lowrank(a, q=4)
    s.sum().backward()  # the nuclear norm: its gradient is U V^T
    u, _, vt = np.linalg.svd(_np(a), full_matrices=False)
    np.testing.assert_allclose(_np(a.grad), u @ vt, atol=1e-8)


def test_binomial() -> None:
    bp.manual_seed(0)
    count = bp.full((20000,), 10.0)
    draws = bp.binomial(count, bp.full((20000,), 0.3))
    assert draws.dtype == bp.float32 and float(_np(draws).max()) <= 10.0
    assert abs(draws.mean().item() - 3.0) < 0.05
    assert _np(bp.binomial(bp.tensor([5.0, 4.0]), bp.tensor([1.0, 0.0]))).tolist() == [5.0, 0.0]
    with pytest.raises(ValueError, match="floating-point"):
        bp.binomial(bp.tensor([10, 5]), bp.tensor([0.5, 1.0]))


# ---------------------------------------------------------------- ATen-signature nn functions
@needs_torch
def test_nn_aliases_match_torch() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    t = torch.tensor
    pairs = [
        (bp.batch_norm(bp.tensor(x), bp.tensor(w), bp.tensor(b), bp.tensor(rm), bp.tensor(rv), True, 0.1, 1e-5, False),
         torch.batch_norm(t(x), t(w), t(b), t(rm), t(rv), True, 0.1, 1e-5, False)),
        (bp.instance_norm(bp.tensor(x), bp.tensor(w), bp.tensor(b), None, None, True, 0.1, 1e-5, False),
         torch.instance_norm(t(x), t(w), t(b), None, None, True, 0.1, 1e-5, False)),
        (bp.rms_norm(bp.tensor(x), [5]), torch.rms_norm(t(x), [5])),
        (bp.embedding(bp.tensor(x[0]), bp.tensor([[0, 2], [1, 1]])), torch.embedding(t(x[0]), t([[0, 2], [1, 1]]))),
        (bp.constant_pad_nd(bp.tensor(x), [1, 2], 3.0), torch.constant_pad_nd(t(x), [1, 2], 3.0)),
        (bp.adaptive_max_pool1d(bp.tensor(x), 2)[0], torch.adaptive_max_pool1d(t(x), 2)[0]),
    ]  # fmt: skip
    logp = np.log(np.full((4, 3), 1 / 3, np.float32))
    tgt = rng.random((4, 3)).astype(np.float32)
    sign = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    o3 = [bp.tensor(x[:, i]) for i in range(3)]
    for red in (0, 1, 2):
        pairs += [
            (bp.kl_div(bp.tensor(logp), bp.tensor(tgt), red), torch.kl_div(t(logp), t(tgt), red)),
            (bp.hinge_embedding_loss(bp.tensor(x[:, 0, 0]), bp.tensor(sign), 1.0, red),
             torch.hinge_embedding_loss(t(x[:, 0, 0]), t(sign), 1.0, red)),
            (bp.margin_ranking_loss(bp.tensor(x[:, 0, 0]), bp.tensor(x[:, 1, 0]), bp.tensor(sign), 0.1, red),
             torch.margin_ranking_loss(t(x[:, 0, 0]), t(x[:, 1, 0]), t(sign), 0.1, red)),
            (bp.cosine_embedding_loss(bp.tensor(x[:, 0]), bp.tensor(x[:, 1]), bp.tensor(sign), 0.0, red),
             torch.cosine_embedding_loss(t(x[:, 0]), t(x[:, 1]), t(sign), 0.0, red)),
            (bp.triplet_margin_loss(o3[0], o3[1], o3[2], 1.0, 2, 1e-6, False, red),
             torch.triplet_margin_loss(t(x[:, 0]), t(x[:, 1]), t(x[:, 2]), 1.0, 2, 1e-6, False, red)),
            (bp.poisson_nll_loss(bp.tensor(x[:, 0]), bp.tensor(tgt[:, :1] * 3), True, True, 1e-8, red),
             torch.poisson_nll_loss(t(x[:, 0]), t(tgt[:, :1] * 3), True, True, 1e-8, red)),
            (bp.binary_cross_entropy_with_logits(bp.tensor(logp), bp.tensor(tgt), None, bp.tensor(w), red),
             torch.binary_cross_entropy_with_logits(t(logp), t(tgt), None, t(w), red)),
        ]  # fmt: skip
    log_probs = np.log(rng.dirichlet(np.ones(4), size=(6, 2))).astype(np.float32)
    targets = np.array([[1, 2], [3, 1]])
    pairs.append(
        (bp.ctc_loss(bp.tensor(log_probs), bp.tensor(targets), [6, 5], [2, 1], 0, 1, False),
         torch.ctc_loss(t(log_probs), t(targets), [6, 5], [2, 1], 0, 1, False))
    )  # fmt: skip
    for ours, theirs in pairs:
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-4, atol=1e-5)


@needs_torch
def test_recurrent_cells_and_convolution_match_torch() -> None:
    rng = np.random.default_rng(9)
    x, h, c = (rng.standard_normal((2, k)).astype(np.float32) for k in (3, 4, 4))
    t = torch.tensor
    for name, gates in (("rnn_tanh_cell", 1), ("rnn_relu_cell", 1), ("gru_cell", 3), ("lstm_cell", 4)):
        w_ih, w_hh = rng.standard_normal((gates * 4, 3)), rng.standard_normal((gates * 4, 4))
        b_ih, b_hh = rng.standard_normal(gates * 4), rng.standard_normal(gates * 4)
        ws = [a.astype(np.float32) for a in (w_ih, w_hh, b_ih, b_hh)]
        hx_ours = (bp.tensor(h), bp.tensor(c)) if name == "lstm_cell" else bp.tensor(h)
        hx_theirs = (t(h), t(c)) if name == "lstm_cell" else t(h)
        ours = getattr(bp, name)(bp.tensor(x), hx_ours, *map(bp.tensor, ws))
        theirs = getattr(torch, name)(t(x), hx_theirs, *map(t, ws))
        for o, th in zip(
            ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)
        ):
            np.testing.assert_allclose(_np(o), th.numpy(), rtol=1e-5, atol=1e-5)
    img, k = rng.standard_normal((1, 2, 5, 5)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    for transposed in (False, True):
        kk = k.transpose(1, 0, 2, 3).copy() if transposed else k
        ours = bp.convolution(bp.tensor(img), bp.tensor(kk), None, [2, 1], [1, 0], [1, 1], transposed, [1, 0], 1)
        theirs = torch.convolution(t(img), t(kk), None, [2, 1], [1, 0], [1, 1], transposed, [1, 0], 1)
        np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-4, atol=1e-5)


def test_dropout_variants() -> None:
    bp.manual_seed(1)
    x = bp.ones(200, 10, 3)
    out = bp.feature_dropout(x, 0.5, True)
    per_channel = _np(out)[:, :, 0]
    assert np.all(_np(out) == per_channel[:, :, None])  # whole channels
    assert set(np.unique(per_channel)) <= {0.0, 2.0} and 0.3 < (per_channel == 0).mean() < 0.7
    assert bp.feature_dropout(x, 0.5, False) is x
    y = bp.ones(1000)
    assert bp.dropout_(y, 0.5, True) is y and set(np.unique(_np(y))) <= {0.0, 2.0}
    z = bp.ones(4, 3, 2)
    assert bp.feature_dropout_(z, 0.5, True) is z
    draws = [bp.rrelu(-bp.ones(5), training=True, generator=bp.Generator().manual_seed(3)) for _ in range(2)]
    assert np.array_equal(_np(draws[0]), _np(draws[1]))  # (the generator's stream)
    assert np.array_equal(_np(bp.rrelu(bp.tensor([-1.0, 2.0]))), _np(F.rrelu(bp.tensor([-1.0, 2.0]))))
