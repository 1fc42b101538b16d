"""torch.masked's reductions and normalizations, the top-level native_* functions, the small
torch.backends modules (cpu, mkl, mkldnn, openmp, opt_einsum, nnpack, quantized), torch.utils.dlpack,
torch.utils.swap_tensors, torch.types and the storage classes. Written-out expectations run everywhere;
the torch cross-checks (values, dtypes, shapes, gradients) skip when torch is absent."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

X = np.array([[1.0, -2.0, 3.0, 0.5], [4.0, 5.0, -6.0, 2.0], [0.25, 7.0, 8.0, -9.0]])
M = np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]])


def _np(t: object) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---------------------------------------------------------------- masked: written-out values
def test_masked_sum_prod_and_their_identities() -> None:
    x, m = bp.tensor(X), bp.tensor(M)
    np.testing.assert_allclose(_np(bp.masked.sum(x, 1, mask=m)), [4.5, 0.0, 7.25 - 9.0 + 0.0 * 8])
    np.testing.assert_allclose(_np(bp.masked.prod(x, 1, mask=m)), [1.5, 1.0, 0.25 * 7.0 * -9.0])
    np.testing.assert_allclose(float(bp.masked.sum(x, mask=m)), X[M].sum())
    s = bp.masked.sum(bp.tensor([[1, 2], [3, 4]], dtype=bp.int32), 0, mask=bp.tensor([True, False]))
    assert s.dtype == bp.int64 and s.tolist() == [4, 0]  # int32 promotes to int64; broadcast mask


def test_masked_extrema_identities_and_indices() -> None:
    x, m = bp.tensor(X), bp.tensor(M)
    assert _np(bp.masked.amax(x, 1, mask=m)).tolist() == [3.0, -math.inf, 7.0]
    assert _np(bp.masked.amin(x, 1, mask=m)).tolist() == [0.5, math.inf, -9.0]
    i = bp.masked.argmax(x, 1, mask=m)
    assert i.dtype == bp.float64 and _np(i)[[0, 2]].tolist() == [2.0, 1.0]  # the input's dtype (torch)
    xi = bp.tensor([[3, 1], [2, 5]], dtype=bp.int64)
    assert bp.masked.amax(xi, 1, mask=bp.tensor([[False, False], [True, False]])).tolist() == [
        np.iinfo(np.int64).min,
        2,
    ]


def test_masked_mean_var_std_median_give_nan_for_empty_slices() -> None:
    x, m = bp.tensor(X), bp.tensor(M)
    mean = _np(bp.masked.mean(x, 1, mask=m))
    np.testing.assert_allclose(mean[[0, 2]], [X[0, M[0]].mean(), X[2, M[2]].mean()])
    assert np.isnan(mean[1])
    var = _np(bp.masked.var(x, 1, mask=m))
    np.testing.assert_allclose(var[[0, 2]], [X[0, M[0]].var(ddof=1), X[2, M[2]].var(ddof=1)])
    std = _np(bp.masked.std(x, 1, unbiased=False, mask=m))
    np.testing.assert_allclose(std[[0, 2]], [X[0, M[0]].std(), X[2, M[2]].std()])
    med = _np(bp.masked.median(x, 1, mask=m))
    np.testing.assert_allclose(med[[0, 2]], [1.0, 0.25])
    assert np.isnan(var[1]) and np.isnan(std[1]) and np.isnan(med[1])
    with pytest.raises(ValueError, match="Could not infer output dtype"):
        bp.masked.mean(bp.tensor([1, 2]), mask=bp.tensor([True, False]))


def test_masked_norms_and_softmaxes() -> None:
    x, m = bp.tensor(X), bp.tensor(M)
    np.testing.assert_allclose(_np(bp.masked.norm(x, 2, 1, mask=m))[0], math.sqrt(1 + 9 + 0.25))
    sm = _np(bp.masked.softmax(x, 1, mask=m))
    e = np.exp(X[0] - 3.0) * M[0]
    np.testing.assert_allclose(sm[0], e / e.sum())
    assert sm[0, 1] == 0.0 and np.isnan(sm[1]).all()  # fully masked row: nan, as torch
    lsm = _np(bp.masked.log_softmax(x, 1, mask=m))
    assert lsm[0, 1] == -math.inf
    smin = _np(bp.masked.softmin(x, 1, mask=m))
    np.testing.assert_allclose(smin[2].sum(), 1.0)
    nz = _np(bp.masked.normalize(x, 2.0, 1, mask=m))
    np.testing.assert_allclose(nz[0], X[0] * M[0] / math.sqrt(1 + 9 + 0.25))
    assert (nz[1] == 0).all()
    lse = _np(bp.masked.logsumexp(x, 1, mask=m))
    np.testing.assert_allclose(lse[0], np.log(np.exp(X[0, M[0]]).sum()))
    assert lse[1] == -math.inf
    lae = bp.masked.logaddexp(
        bp.tensor([-100.0, -200, -300]), bp.tensor([-1.0, -2, -3]), input_mask=bp.tensor([True, False, True]),
        other_mask=bp.tensor([True, False, True]),
    )  # fmt: skip
    np.testing.assert_allclose(_np(lae), [-1.0, -math.inf, -3.0])


def test_masked_scans() -> None:
    x, m = bp.tensor(X), bp.tensor(M)
    np.testing.assert_allclose(_np(bp.masked.cumsum(x, 1, mask=m))[0], [1.0, 1.0, 4.0, 4.5])
    np.testing.assert_allclose(_np(bp.masked.cumprod(x, 1, mask=m))[0], [1.0, 1.0, 3.0, 1.5])


def test_masked_gradients_reach_only_unmasked_elements() -> None:
    x, m = bp.tensor(X, requires_grad=True), bp.tensor(M)
    bp.masked.sum(x, 1, mask=m).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), M.astype(float))
    x.grad = None
    bp.masked.amax(x, 1, mask=m).sum().backward()
    assert _np(x.grad)[~M].tolist() == [0.0] * int((~M).sum())


def test_masked_mask_rules_and_masked_tensor() -> None:
    with pytest.raises(IndexError, match="mask dimensionality higher"):
        bp.masked.sum(bp.ones(3), mask=bp.ones(2, 3, dtype=bp.bool))
    assert float(bp.masked.sum(bp.ones(2, 3), mask=bp.tensor([1, 0, 1]))) == 4.0  # non-bool masks are read as bool
    for make in (bp.masked.masked_tensor, bp.masked.as_masked_tensor):
        with pytest.raises(NotImplementedError, match="MaskedTensor is not implemented"):
            make(bp.ones(2), bp.tensor([True, False]))
    assert bp.masked.is_masked_tensor(bp.ones(2)) is False


# ---------------------------------------------------------------- masked: against torch
def _pair(a: np.ndarray, grad: bool = False) -> tuple[object, object]:
    return torch.tensor(a, requires_grad=grad), bp.tensor(a, requires_grad=grad)


MASKED_CASES = [
    ("sum", (1,), {}),
    ("sum", (), {"keepdim": True}),
    ("prod", ((0, 1),), {}),
    ("cumsum", (1,), {}),
    ("cumprod", (0,), {}),
    ("amax", (1,), {"keepdim": True}),
    ("amin", (0,), {}),
    ("argmax", (1,), {}),
    ("argmin", (0,), {}),
    ("mean", (1,), {}),
    ("median", (1,), {}),
    ("norm", (3.0, 1), {}),
    ("norm", (-math.inf, 1), {}),
    ("var", (1,), {"correction": 0}),
    ("std", (0,), {"keepdim": True}),
    ("softmax", (1,), {}),
    ("log_softmax", (0,), {}),
    ("softmin", (1,), {}),
    ("normalize", (2.0, 1), {}),
    ("logsumexp", (1,), {}),
]


@needs_torch
@pytest.mark.parametrize(
    ("name", "args", "kwargs"), MASKED_CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(MASKED_CASES)]
)
def test_masked_matches_torch(name: str, args: tuple, kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    mask = rng.random((3, 5)) > 0.4
    mask[1] = False  # a fully masked row
    mask[:, 2] = True if name in ("median",) else mask[:, 2]  # (median: fully masked columns are fine too)
    tx, bx = _pair(x, grad=True)
    tm, bm = torch.tensor(mask), bp.tensor(mask)
    t = getattr(torch.masked, name)(tx, *args, mask=tm, **kwargs)
    b = getattr(bp.masked, name)(bx, *args, mask=bm, **kwargs)
    assert tuple(b.shape) == tuple(t.shape) and str(b.dtype) == str(t.dtype).removeprefix("torch.")
    np.testing.assert_allclose(_np(b), _np(t), rtol=1e-10, atol=1e-12, equal_nan=True)
    if t.requires_grad:
        cot = np.where(np.isfinite(_np(t)), rng.standard_normal(tuple(t.shape)), 0.0)
        live = torch.tensor(np.isfinite(_np(t)))
        (tg,) = torch.autograd.grad(torch.where(live, t, 0.0), tx, torch.tensor(cot), allow_unused=True)
        (bg,) = bp.autograd.grad(bp.where(bp.tensor(_np(live)), b, 0.0), bx, bp.tensor(cot), allow_unused=True)
        tg = np.zeros_like(x) if tg is None else _np(tg)
        bg = np.zeros_like(x) if bg is None else _np(bg)
        np.testing.assert_allclose(bg, tg, rtol=1e-9, atol=1e-12, equal_nan=True)


@needs_torch
@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool", "float32"])
def test_masked_dtype_rules_match_torch(dtype: str) -> None:
    x = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    mask = np.arange(4) % 2 == 0  # a broadcast mask
    tx, bx = torch.tensor(x), bp.tensor(x)
    tm, bm = torch.tensor(mask), bp.tensor(mask)
    for name, args in (("sum", (1,)), ("prod", (0,)), ("cumsum", (1,)), ("amax", (1,)), ("var", (1,))):
        if dtype == "bool" and name in ("amax", "var", "cumsum"):
            continue  # (torch refuses these for bool)
        t = getattr(torch.masked, name)(tx, *args, mask=tm)
        b = getattr(bp.masked, name)(bx, *args, mask=bm)
        assert str(b.dtype) == str(t.dtype).removeprefix("torch."), name
        np.testing.assert_allclose(_np(b).astype(float), _np(t).astype(float), rtol=1e-6)
    t = torch.masked.sum(tx, 1, mask=tm, dtype=torch.float64)
    b = bp.masked.sum(bx, 1, mask=bm, dtype=bp.float64)
    assert b.dtype == bp.float64 and np.allclose(_np(b), _np(t))


@needs_torch
def test_masked_logaddexp_and_complex_logsumexp_match_torch() -> None:
    rng = np.random.default_rng(1)
    a, o = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    ma, mo = rng.random((2, 3)) > 0.5, rng.random(3) > 0.3
    ta, ba = _pair(a, True)
    to, bo = _pair(o, True)
    t = torch.masked.logaddexp(ta, to, input_mask=torch.tensor(ma), other_mask=torch.tensor(mo))
    b = bp.masked.logaddexp(ba, bo, input_mask=bp.tensor(ma), other_mask=bp.tensor(mo))
    np.testing.assert_allclose(_np(b), _np(t))
    z = np.array([3 + 4j, 1 - 5j])  # the phase is log's, in (-pi, pi], as torch
    np.testing.assert_allclose(_np(bp.logsumexp(bp.tensor(z), 0)), _np(torch.logsumexp(torch.tensor(z), 0)))
    np.testing.assert_allclose(
        _np(bp.masked.logsumexp(bp.tensor(z[0]))), _np(torch.masked.logsumexp(torch.tensor(z[0])))
    )


# ---------------------------------------------------------------- native_*
def test_native_layer_norm_values_and_shapes() -> None:
    x = bp.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], requires_grad=True)
    out, mean, rstd = bp.native_layer_norm(x, [3], None, None, 0.0)
    assert tuple(mean.shape) == (2, 1) and tuple(rstd.shape) == (2, 1)
    np.testing.assert_allclose(_np(mean).ravel(), [2.0, 4.0])
    np.testing.assert_allclose(_np(rstd).ravel(), [1 / math.sqrt(2 / 3), 1 / math.sqrt(8 / 3)])
    np.testing.assert_allclose(_np(out)[0], [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], atol=1e-12)
    assert out.requires_grad and not mean.requires_grad and not rstd.requires_grad


def test_native_batch_and_group_norm_shapes() -> None:
    x = bp.randn(4, 3, 5, dtype=bp.float64)
    rm, rv = bp.zeros(3, dtype=bp.float64), bp.ones(3, dtype=bp.float64)
    out, m, s = bp.native_batch_norm(x, None, None, rm, rv, True, 0.1, 1e-5)
    assert tuple(m.shape) == (3,) and tuple(s.shape) == (3,)
    np.testing.assert_allclose(_np(rm), 0.1 * _np(m))  # the running mean moved
    out, m, s = bp.native_batch_norm(x, None, None, rm, rv, False, 0.1, 1e-5)
    assert tuple(m.shape) == (0,) and tuple(s.shape) == (0,)
    out, m, s = bp.native_group_norm(x.reshape(4, 3, 5).repeat(1, 2, 1), None, None, 4, 6, 5, 3, 1e-5)
    assert tuple(out.shape) == (4, 6, 5) and tuple(m.shape) == (4, 3) and tuple(s.shape) == (4, 3)


def test_native_dropout_norm_and_channel_shuffle() -> None:
    x = bp.ones(1000, dtype=bp.float64)
    out, mask = bp.native_dropout(x, 0.25, True)
    assert mask.dtype == bp.bool and 0.6 < float(mask.float().mean()) < 0.9
    np.testing.assert_allclose(_np(out), _np(mask) / 0.75)
    out, mask = bp.native_dropout(x, 0.25, False)
    assert bool(mask.all()) and np.array_equal(_np(out), _np(x))
    assert float(bp.native_norm(bp.tensor([3.0, 4.0]))) == 5.0
    assert bp.native_norm(bp.tensor([[3.0, 4.0]]), 1, [1], True, None).tolist() == [[7.0]]
    y = bp.native_channel_shuffle(bp.arange(4.0).reshape(1, 4, 1), 2)
    assert y.reshape(-1).tolist() == [0.0, 2.0, 1.0, 3.0]


@needs_torch
def test_native_norms_match_torch() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 5))
    w, bias = rng.standard_normal(5), rng.standard_normal(5)
    tx, bx = _pair(x, True)
    tw, bw = _pair(w, True)
    tb, bb = _pair(bias, True)
    cases = [
        (torch.native_layer_norm(tx, [5], tw, tb, 1e-5), bp.native_layer_norm(bx, [5], bw, bb, 1e-5)),
        (torch.native_layer_norm(tx, [6, 5], None, None, 1e-3), bp.native_layer_norm(bx, [6, 5], None, None, 1e-3)),
        (torch.native_group_norm(tx, None, None, 4, 6, 5, 3, 1e-5),
         bp.native_group_norm(bx, None, None, 4, 6, 5, 3, 1e-5)),
    ]  # fmt: skip
    trm, brm = torch.zeros(6, dtype=torch.float64), bp.zeros(6, dtype=bp.float64)
    trv, brv = torch.ones(6, dtype=torch.float64), bp.ones(6, dtype=bp.float64)
    cases.append(
        (
            torch.native_batch_norm(tx, None, None, trm, trv, True, 0.3, 1e-5),
            bp.native_batch_norm(bx, None, None, brm, brv, True, 0.3, 1e-5),
        )
    )
    cases.append(
        (
            torch.native_batch_norm(tx, None, None, trm, trv, False, 0.3, 1e-5),
            bp.native_batch_norm(bx, None, None, brm, brv, False, 0.3, 1e-5),
        )
    )
    np.testing.assert_allclose(_np(brm), _np(trm))
    np.testing.assert_allclose(_np(brv), _np(trv))
    for t, b in cases:
        assert len(t) == len(b) == 3
        for tt, bt in zip(t, b):
            assert tuple(tt.shape) == tuple(bt.shape) and tt.requires_grad == bt.requires_grad
            np.testing.assert_allclose(_np(bt), _np(tt), rtol=1e-9, atol=1e-12)
        touts = [tt for tt in t if tt.requires_grad]
        bouts = [bt for bt in b if bt.requires_grad]
        cots = [rng.standard_normal(tuple(tt.shape)) for tt in touts]
        tg = torch.autograd.grad(touts, [tx, tw, tb], [torch.tensor(c) for c in cots], allow_unused=True)
        bg = bp.autograd.grad(bouts, [bx, bw, bb], [bp.tensor(c) for c in cots], allow_unused=True)
        for g1, g2 in zip(tg, bg):
            assert (g1 is None) == (g2 is None)
            if g1 is not None:
                np.testing.assert_allclose(_np(g2), _np(g1), rtol=1e-8, atol=1e-10)


@needs_torch
def test_native_dropout_and_channel_shuffle_match_torch() -> None:
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    for train in (True, False, None):
        t = torch.native_dropout(x, 0.3, train)
        b = bp.native_dropout(bp.tensor(_np(x), requires_grad=True), 0.3, train)
        assert [(tuple(v.shape), str(v.dtype).removeprefix("torch."), v.requires_grad) for v in t] == [
            (tuple(v.shape), str(v.dtype), v.requires_grad) for v in b
        ]
    y = np.arange(24.0).reshape(1, 6, 2, 2)
    np.testing.assert_array_equal(
        _np(bp.native_channel_shuffle(bp.tensor(y), 3)), _np(torch.native_channel_shuffle(torch.tensor(y), 3))
    )


# ---------------------------------------------------------------- backends
def test_backends_answer_for_a_numpy_library() -> None:
    B = bp.backends
    assert B.cpu.get_cpu_capability() in ("DEFAULT", "VSX", "Z VECTOR", "NO AVX", "AVX2", "AVX512", "SVE256")
    assert B.mkl.is_available() is False and B.mkldnn.is_available() is False
    assert B.mkldnn.is_acl_available() is False and B.mkldnn.enabled is True
    assert B.openmp.is_available() is False and B.nnpack.is_available() is False
    assert B.opt_einsum.is_available() is False and B.opt_einsum.enabled is False
    assert B.opt_einsum.strategy is None and B.opt_einsum.get_opt_einsum() is None
    B.opt_einsum.enabled = False
    with pytest.raises(ValueError, match="opt_einsum is not available"):
        B.opt_einsum.enabled = True
    with pytest.raises(ValueError, match="opt_einsum is not available"):
        B.opt_einsum.set_flags(None, "greedy")
    with B.mkldnn.flags(enabled=False):
        assert B.mkldnn.enabled is False
    assert B.mkldnn.enabled is True
    with B.mkl.verbose(B.mkl.VERBOSE_ON), B.mkldnn.verbose(B.mkldnn.VERBOSE_ON), B.nnpack.flags(enabled=False):
        pass
    assert B.quantized.engine == "none" and B.quantized.supported_engines == ["none"]
    B.quantized.engine = "none"
    with pytest.raises(RuntimeError, match="not supported"):
        B.quantized.engine = "fbgemm"
    with pytest.raises(RuntimeError, match="not a valid value"):
        B.quantized.engine = "bogus"
    with pytest.raises(RuntimeError, match="Assignment not supported"):
        B.quantized.supported_engines = ["x86"]
    import backprop.backends.opt_einsum as oe

    assert oe is B.opt_einsum


@needs_torch
def test_backends_have_torchs_names() -> None:
    for name in ("cpu", "mha", "mkl", "mkldnn", "openmp", "opt_einsum", "nnpack", "quantized"):
        ours, theirs = getattr(bp.backends, name), getattr(torch.backends, name)
        public = {n for n in getattr(theirs, "__all__", dir(theirs)) if not n.startswith("_") and n not in ("torch",)}
        public -= {"sys", "warnings", "contextmanager", "Any", "ContextProp", "PropModule", "TYPE_CHECKING", "types"}
        public -= {"OptEinsumModule", "MkldnnModule", "QuantizedEngine", "matmul", "conv", "rnn", "m"}
        missing = sorted(n for n in public if not hasattr(ours, n))
        assert not missing, f"backends.{name} lacks {missing}"
    assert bp.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2", "AVX512", "VSX", "Z VECTOR", "SVE256")


# ---------------------------------------------------------------- utils.dlpack, swap_tensors, types, storages
def test_utils_dlpack_round_trip() -> None:
    from backprop.utils import dlpack

    x = bp.arange(4.0)
    y = dlpack.from_dlpack(dlpack.to_dlpack(x))
    assert y.tolist() == [0.0, 1.0, 2.0, 3.0] and y.data_ptr() == x.data_ptr()
    assert dlpack.from_dlpack(np.arange(3)).tolist() == [0, 1, 2]
    assert dlpack.DLDeviceType.kDLCPU == 1 and dlpack.DLDeviceType.kDLCUDA == 2
    assert bp.utils.dlpack is dlpack


@needs_torch
def test_utils_dlpack_with_torch() -> None:
    t = torch.arange(3.0)
    b = bp.utils.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(t))
    assert b.tolist() == [0.0, 1.0, 2.0] and b.dtype == bp.float32
    back = torch.utils.dlpack.from_dlpack(bp.utils.dlpack.to_dlpack(bp.arange(3)))
    assert back.tolist() == [0, 1, 2] and back.dtype == torch.int64


def test_swap_tensors() -> None:
    a = bp.ones(2, requires_grad=True)
    p = bp.nn.Parameter(bp.zeros(3))
    bp.utils.swap_tensors(a, p)
    assert type(a) is bp.nn.Parameter and a.tolist() == [0.0, 0.0, 0.0]
    assert type(p) is bp.Tensor and p.tolist() == [1.0, 1.0] and p.requires_grad
    x, y = bp.tensor([1.0]), bp.tensor([2, 3])
    bp.utils.swap_tensors(x, y)
    assert x.tolist() == [2, 3] and x.dtype == bp.int64 and y.tolist() == [1.0]
    import weakref

    ref = weakref.ref(x)
    with pytest.raises(RuntimeError, match="weakref"):
        bp.utils.swap_tensors(x, y)
    del ref


@needs_torch
def test_swap_tensors_as_torch() -> None:
    t1, t2 = torch.ones(2), torch.nn.Parameter(torch.zeros(3))
    b1, b2 = bp.ones(2), bp.nn.Parameter(bp.zeros(3))
    torch.utils.swap_tensors(t1, t2)
    bp.utils.swap_tensors(b1, b2)
    for t, b in ((t1, b1), (t2, b2)):
        assert type(t).__name__ == type(b).__name__ and t.tolist() == b.tolist() and t.requires_grad == b.requires_grad


def test_types_and_storages() -> None:
    T = bp.types
    assert set(T.__all__) == {"Number", "Device", "FileLike", "Storage"}
    assert int in T.Number.__args__ and bp.Device in T.Device.__args__ and bp.Size in T._size.__args__
    assert T._dtype is bp.dtype and T._int is int
    x = bp.arange(3.0)
    assert isinstance(x.untyped_storage(), bp.UntypedStorage) and isinstance(x.untyped_storage(), T.Storage)
    with pytest.warns(UserWarning, match="TypedStorage is deprecated"):
        s = x.storage()
    assert isinstance(s, bp.TypedStorage) and isinstance(s, bp.Storage)


@needs_torch
def test_types_names_match_torch() -> None:
    import torch.types as tt

    assert set(tt.__all__) <= set(bp.types.__all__)
    for name in ("_size", "_dtype", "_device", "_int", "_float", "_bool", "_complex", "_TensorOrTensors", "Number"):
        assert hasattr(bp.types, name), name


# ---------------------------------------------------------------- laziness
def test_new_modules_load_lazily() -> None:
    code = (
        "import sys, backprop\n"
        "mods = ['backprop.masked', 'backprop._native', 'backprop.types', 'backprop.utils.dlpack',"
        " 'backprop.backends.opt_einsum', 'backprop.backends.mkldnn', 'backprop._storage_names']\n"
        "print([m for m in mods if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
