"""torch API gaps closed: ``size=`` on the factories, ``arange(end=)``, ``result_type``'s keywords, ``lu_unpack``'s
names, ``geqrf``/``orgqr``/``ormqr``, ``F.rrelu_(generator=)``, ``testing.make_tensor``, ``nn.utils`` fusion and
memory-format names, ``F.linear_cross_entropy``/``nn.LinearCrossEntropyLoss``, ``PackedSequence``'s casts,
``gradcheck(check_forward_ad=, check_batched_grad=)``, ``func.functionalize`` and
``func.replace_all_batch_norm_modules_``; each against torch 2.13 (the module skips without torch)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch")
# (torch's own notices: its forward AD loads jit-scripted decompositions, which warn)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")

R = np.random.default_rng(0)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _dt(d) -> str:
    return str(d).rsplit(".", 1)[-1]


# ------------------------------------------------------------------ 1. factories
@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_take_size_keyword(name: str) -> None:
    for kw in ({"size": (2, 3)}, {"size": [4]}, {"size": ()}, {"size": (2,), "dtype": "float64"}):
        t_kw = {k: (getattr(torch, v) if k == "dtype" else v) for k, v in kw.items()}
        b_kw = {k: (getattr(bp, v) if k == "dtype" else v) for k, v in kw.items()}
        want, got = getattr(torch, name)(**t_kw), getattr(bp, name)(**b_kw)
        assert tuple(got.shape) == tuple(want.shape) and _dt(got.dtype) == _dt(want.dtype)
        if name in ("zeros", "ones"):
            np.testing.assert_array_equal(_np(got), want.numpy())
    for bad, err in (({"size": 5}, "must be tuple of ints"), ({"foo": 1}, "unexpected keyword")):
        with pytest.raises(TypeError, match=err):
            getattr(bp, name)(**bad)
    with pytest.raises(TypeError, match="multiple values"):
        getattr(bp, name)(2, size=(2, 3))


def test_arange_keywords() -> None:
    for kw in ({"end": 5}, {"start": 1, "end": 5, "step": 2}, {"end": 5.0}, {"end": 4, "dtype": "float64"}):
        t_kw = {k: (getattr(torch, v) if k == "dtype" else v) for k, v in kw.items()}
        b_kw = {k: (getattr(bp, v) if k == "dtype" else v) for k, v in kw.items()}
        want, got = torch.arange(**t_kw), bp.arange(**b_kw)
        assert _dt(got.dtype) == _dt(want.dtype)
        np.testing.assert_array_equal(_np(got), want.numpy())
    np.testing.assert_array_equal(_np(bp.arange(1, end=5)), torch.arange(1, end=5).numpy())
    with pytest.raises(TypeError):
        bp.arange()


# ------------------------------------------------------------------ 2. linalg names, result_type, rrelu_
def test_result_type_keywords() -> None:
    for lib in (torch, bp):
        i = lib.ones(2, dtype=lib.int32)
        got = [
            lib.result_type(tensor=i, other=1.0),
            lib.result_type(i, other=2),
            lib.result_type(scalar=1.0, tensor=i),
            lib.result_type(scalar1=1, scalar2=2.0),
            lib.result_type(i, i.double()),
        ]
        if lib is torch:
            want = [_dt(d) for d in got]
        else:
            assert [_dt(d) for d in got] == want


def test_lu_unpack_keywords() -> None:
    a = R.normal(size=(2, 4, 4))
    for lib in (torch, bp):
        lu, piv = lib.linalg.lu_factor(lib.tensor(a))
        out = lib.lu_unpack(LU_data=lu, LU_pivots=piv, unpack_data=True, unpack_pivots=True)
        if lib is torch:
            want = [o.numpy() for o in out]
        else:
            for g, w in zip(out, want):
                np.testing.assert_allclose(_np(g), w, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_geqrf_orgqr_ormqr_match_torch(dtype) -> None:
    a = R.normal(size=(2, 5, 3)).astype(dtype)
    if dtype == np.complex128:
        a = a + 1j * R.normal(size=a.shape)
    ta, ttau = torch.geqrf(torch.tensor(a))
    ba, btau = bp.geqrf(bp.tensor(a))
    assert isinstance(bp.geqrf(bp.tensor(a)), bp.return_types.geqrf)
    np.testing.assert_allclose(_np(ba), ta.numpy(), atol=1e-12)
    np.testing.assert_allclose(_np(btau), ttau.numpy(), atol=1e-12)
    np.testing.assert_allclose(_np(bp.orgqr(ba, input2=btau)), torch.orgqr(ta, ttau).numpy(), atol=1e-12)
    np.testing.assert_allclose(_np(ba.orgqr(btau)), torch.orgqr(ta, ttau).numpy(), atol=1e-12)
    for left in (True, False):
        for transpose in (True, False):
            c = R.normal(size=(2, 5, 4) if left else (2, 4, 5)).astype(dtype)
            want = torch.ormqr(ta, ttau, torch.tensor(c), left=left, transpose=transpose).numpy()
            got = bp.ormqr(ba, btau, bp.tensor(c), left=left, transpose=transpose)
            np.testing.assert_allclose(_np(got), want, atol=1e-12)
            np.testing.assert_allclose(_np(ba.ormqr(btau, bp.tensor(c), left, transpose)), want, atol=1e-12)


def test_ormqr_and_orgqr_gradients_match_torch() -> None:
    a, c = R.normal(size=(4, 3)), R.normal(size=(4, 2))
    ta0, ttau0 = torch.geqrf(torch.tensor(a))
    grads = []
    for lib, (a0, tau0) in ((torch, (ta0.numpy(), ttau0.numpy())), (bp, (ta0.numpy(), ttau0.numpy()))):
        A, T, C = (lib.tensor(v, requires_grad=True) for v in (a0, tau0, c))
        (lib.ormqr(A, T, C, transpose=True).sin().sum() + lib.orgqr(A, T).cos().sum()).backward()
        grads.append([_np(v.grad) for v in (A, T, C)])
    for g, w in zip(*grads[::-1]):
        np.testing.assert_allclose(g, w, atol=1e-10)


def test_rrelu_generator() -> None:
    x = -bp.ones(6)
    outs = [bp.nn.functional.rrelu_(x.clone(), 0.1, 0.3, True, bp.Generator().manual_seed(5)) for _ in range(2)]
    np.testing.assert_array_equal(_np(outs[0]), _np(outs[1]))
    assert np.all((_np(outs[0]) <= -0.1) & (_np(outs[0]) >= -0.3))
    y = -bp.ones(3)
    assert bp.nn.functional.rrelu_(y, training=True, generator=bp.Generator()) is y
    torch.nn.functional.rrelu_(-torch.ones(3), training=True, generator=torch.Generator())  # (torch takes it too)


# ------------------------------------------------------------------ 3. make_tensor
_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64", "complex64",
           "complex128"]  # fmt: skip


@pytest.mark.parametrize("dtype", _DTYPES)
def test_make_tensor_ranges_and_flags(dtype: str) -> None:
    def values(t):
        a = t.detach().float().numpy() if dtype == "bfloat16" else _np(t)
        return np.concatenate([a.real.ravel(), a.imag.ravel()]) if np.iscomplexobj(a) else a.astype(np.float64)

    bt = bp.testing.make_tensor(500, dtype=getattr(bp, dtype), device="cpu")
    tt = torch.testing.make_tensor(500, dtype=getattr(torch, dtype), device="cpu")
    assert _dt(bt.dtype) == _dt(tt.dtype) and tuple(bt.shape) == tuple(tt.shape)
    lo, hi = {"bool": (0, 1), "uint8": (0, 9)}.get(dtype, (-9, 9))
    for v in (values(bt), values(tt)):
        assert v.min() >= lo and v.max() <= hi and v.min() < lo + 2 and v.max() > hi - 2
    floating = dtype.startswith(("float", "bfloat", "complex"))
    if floating:
        for lib in (torch, bp):
            t = lib.testing.make_tensor((2, 3), dtype=getattr(lib, dtype), device="cpu", low=-1, high=1,
                                        requires_grad=True, noncontiguous=True)  # fmt: skip
            assert tuple(t.shape) == (2, 3) and t.requires_grad and not t.is_contiguous()
            assert np.abs(values(t)).max() <= 1
    else:
        with pytest.raises(ValueError, match="requires_grad"):
            bp.testing.make_tensor(2, dtype=getattr(bp, dtype), device="cpu", requires_grad=True)
    if dtype not in ("bool", "uint8"):
        for lib in (torch, bp):
            t = lib.testing.make_tensor(3, 4, dtype=getattr(lib, dtype), device="cpu", low=0, high=1, exclude_zero=True)
            v = values(t)
            assert np.all(v != 0) if "complex" not in dtype else np.all(v[:12] != 0)


def test_make_tensor_errors_and_clamping() -> None:
    for lib in (torch, bp):
        with pytest.raises(ValueError, match="mutually exclusive"):
            lib.testing.make_tensor(2, 2, dtype=lib.float32, device="cpu", noncontiguous=True,
                                    memory_format=lib.contiguous_format)  # fmt: skip
        with pytest.raises(ValueError, match="less than"):
            lib.testing.make_tensor(2, dtype=lib.int64, device="cpu", low=3, high=1)
        t = lib.testing.make_tensor((4,), dtype=lib.uint8, device="cpu", low=-100, high=1000)
        assert t.dtype == lib.uint8
        big = lib.testing.make_tensor(100, dtype=lib.float32, device="cpu", low=-1e40, high=1e40)
        assert np.isfinite(_np(big)).all()


# ------------------------------------------------------------------ 4. nn.utils names
def test_nn_utils_fusion_and_memory_format_names() -> None:
    for n in ("fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"):
        assert getattr(bp.nn.utils, n) is getattr(bp.nn.utils.fusion, n)
    assert bp.nn.utils.convert_parameters.parameters_to_vector is bp.nn.utils.parameters_to_vector
    m = bp.nn.Sequential(bp.nn.Conv2d(2, 3, 3), bp.nn.Conv3d(3, 1, 1))
    w = m[0].weight
    assert bp.nn.utils.convert_conv2d_weight_memory_format(m, bp.channels_last) is m and m[0].weight is w
    assert bp.nn.utils.convert_conv3d_weight_memory_format(m, bp.channels_last_3d) is m
    lin, bn = bp.nn.Linear(3, 4).double().eval(), bp.nn.BatchNorm1d(4).double().eval()
    bn.running_mean = bp.tensor(R.normal(size=4))
    x = bp.tensor(R.normal(size=(5, 3)))
    np.testing.assert_allclose(_np(bp.nn.utils.fuse_linear_bn_eval(lin, bn)(x)), _np(bn(lin(x))), atol=1e-12)


# ------------------------------------------------------------------ 5. linear_cross_entropy
@pytest.mark.parametrize(
    "kw",
    [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1, "weight": True}, {"ignore_index": 2}],
    ids=["mean", "sum", "none", "smooth-weight", "ignore"],
)
def test_linear_cross_entropy_values_and_grads(kw) -> None:
    x, w, b, cw = R.normal(size=(6, 5)), R.normal(size=(7, 5)), R.normal(size=7), R.random(7)
    target = R.integers(0, 7, 6)
    target[1] = 2
    res = []
    for lib in (torch, bp):
        X, W, B = (lib.tensor(v, requires_grad=True) for v in (x, w, b))
        k = dict(kw)
        if k.pop("weight", None):
            k["weight"] = lib.tensor(cw)
        out = lib.nn.functional.linear_cross_entropy(X, W, lib.tensor(target), linear_bias=B, **k)
        out.sum().backward()
        res.append([_np(out), *(_np(v.grad) for v in (X, W, B))])
    for g, want in zip(res[1], res[0]):
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)


def test_linear_cross_entropy_kdim_probs_options_and_module() -> None:
    x, w2, t2 = R.normal(size=(6, 5)), R.normal(size=(4, 3, 5)), R.integers(0, 4, (6, 3))
    p = R.random((6, 7))
    p /= p.sum(1, keepdims=True)
    w = R.normal(size=(7, 5))
    vals = []
    for lib in (torch, bp):
        F = lib.nn.functional
        opts = lib.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
        v = [
            F.linear_cross_entropy(lib.tensor(x), lib.tensor(w2), lib.tensor(t2)).item(),
            F.linear_cross_entropy(lib.tensor(x), lib.tensor(w), lib.tensor(p)).item(),
            F.linear_cross_entropy(lib.tensor(x[0]), lib.tensor(w), lib.tensor(3), options=opts).item(),
        ]
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            F.linear_cross_entropy(
                lib.tensor(x), lib.tensor(w), lib.tensor(t2[:, 0]), label_smoothing=0.1, options=opts
            )
        assert any("options`` ignored" in str(r.message) for r in rec)
        with pytest.raises(RuntimeError, match="ignore_index cannot be specified"):
            F.linear_cross_entropy(lib.tensor(x), lib.tensor(w), lib.tensor(p), ignore_index=1)
        with pytest.raises(ValueError, match="invalid acc_policy"):
            lib.nn.LinearCrossEntropyOptions(acc_policy="fast")
        m = lib.nn.LinearCrossEntropyLoss(5, 4, out_features=(3,), bias=True, dtype=lib.float64)
        assert [(n, tuple(q.shape)) for n, q in m.named_parameters()] == [
            ("linear.weight", (12, 5)),
            ("linear.bias", (12,)),
        ]
        with lib.no_grad():
            m.linear.weight.copy_(lib.tensor(w2.reshape(12, 5)))
            m.linear.bias.zero_()
        v.append(m(lib.tensor(x), lib.tensor(t2)).item())
        vals.append(v)
    np.testing.assert_allclose(vals[1], vals[0], rtol=1e-12)


# ------------------------------------------------------------------ 6. PackedSequence
def test_packed_sequence_casts() -> None:
    seqs = [R.normal(size=(3, 2)), R.normal(size=(1, 2)), R.normal(size=(2, 2))]
    for lib in (torch, bp):
        ps = lib.nn.utils.rnn.pack_sequence([lib.tensor(s) for s in seqs], enforce_sorted=False)
        assert ps.to("cpu") is ps and ps.cpu() is ps and not ps.is_cuda and not ps.is_pinned()
        for m, dt in (("half", "float16"), ("float", "float32"), ("double", "float64"), ("long", "int64"),
                      ("int", "int32"), ("short", "int16"), ("char", "int8"), ("byte", "uint8")):  # fmt: skip
            out = getattr(ps, m)()
            assert type(out) is type(ps) and _dt(out.data.dtype) == dt
            assert _dt(out.batch_sizes.dtype) == "int64"
        back = lib.nn.utils.rnn.unpack_sequence(ps)
        for s, b in zip(seqs, back):
            np.testing.assert_allclose(_np(b), s)


# ------------------------------------------------------------------ 7. gradcheck modes
def test_gradcheck_forward_ad_and_batched_grad() -> None:
    x = bp.tensor(R.normal(size=3), requires_grad=True)
    y = bp.tensor(R.normal(size=3), requires_grad=True)
    fn = lambda a, b: (a.sin() * b, (a * b).exp().sum())  # noqa: E731
    assert bp.autograd.gradcheck(fn, (x, y), check_forward_ad=True, check_batched_grad=True)
    assert bp.autograd.gradcheck(fn, (x, y), check_forward_ad=True, check_backward_ad=False)
    assert bp.autograd.gradgradcheck(lambda a: (a * a).sin(), (x,), check_fwd_over_rev=True, check_batched_grad=True)

    class WrongGrad(bp.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    with pytest.raises(RuntimeError, match="forward mode"):  # (GradcheckError, as torch's)
        bp.autograd.gradcheck(WrongGrad.apply, (x,), check_forward_ad=True, check_backward_ad=False)
    assert not bp.autograd.gradcheck(WrongGrad.apply, (x,), check_forward_ad=True, raise_exception=False)
    tx = torch.tensor(R.normal(size=3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: a.sin() * a, (tx,), check_forward_ad=True, check_batched_grad=True)


# ------------------------------------------------------------------ 8. func
def test_functionalize_matches_torch_results() -> None:
    def f(a):
        b = a + 1
        c = b.view(-1)
        c.add_(1)
        return b

    def g(a):
        a.mul_(2)
        return a.view(-1)

    for lib in (torch, bp):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        np.testing.assert_array_equal(_np(lib.func.functionalize(f)(x)), [[3.0, 4.0], [5.0, 6.0]])
        out = lib.func.functionalize(g)(x)
        np.testing.assert_array_equal(_np(x), [[2.0, 4.0], [6.0, 8.0]])  # (input mutations are kept)
        np.testing.assert_array_equal(_np(out), [2.0, 4.0, 6.0, 8.0])
        y = lib.func.functionalize(lambda a: a.view(-1), remove="mutations_and_views")(x)
        y[0] = 100.0
        assert _np(x)[0, 0] == 2.0  # (no aliasing of the input)
        with pytest.raises(RuntimeError, match="received invalid argument"):
            lib.func.functionalize(f, remove="views")


def test_replace_all_batch_norm_modules() -> None:
    got = []
    for lib in (torch, bp):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3), lib.nn.Sequential(lib.nn.BatchNorm1d(3)))
        assert lib.func.replace_all_batch_norm_modules_(m) is m
        got.append([(type(b).__name__, b.running_mean, b.running_var, b.num_batches_tracked, b.track_running_stats)
                    for b in m.modules() if "BatchNorm" in type(b).__name__])  # fmt: skip
        assert [n for n, _ in m.named_buffers()] == []
    assert got[0] == got[1]
