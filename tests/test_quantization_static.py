"""Static post-training quantization against torch 2.13 (x86/fbgemm): fuse/prepare/convert, quantized Linear and
Conv2d kernels, QFunctional, HistogramObserver, Tensor.dequantize and saving quantized state."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.ao.quantization as bq
from backprop import _quantized as Q

torch = pytest.importorskip("torch")
tq = torch.ao.quantization
pytestmark = pytest.mark.filterwarnings("ignore")


def _tq(x: np.ndarray, s: float, z: int) -> tuple:
    return (
        torch.quantize_per_tensor(torch.from_numpy(x), s, z, torch.quint8),
        bp.quantize_per_tensor(bp.tensor(x), s, z, bp.quint8),
    )


def _weights(w: np.ndarray, per_channel: bool) -> tuple:
    if not per_channel:
        return (torch.quantize_per_tensor(torch.from_numpy(w), 0.01, 0, torch.qint8),
                bp.quantize_per_tensor(bp.tensor(w), 0.01, 0, bp.qint8))  # fmt: skip
    s = (np.abs(w).reshape(len(w), -1).max(1) / 127 + 1e-6).astype(np.float64)
    z = np.zeros(len(w), np.int64)
    return (
        torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(s), torch.from_numpy(z), 0, torch.qint8),
        bp.quantize_per_channel(bp.tensor(w), bp.tensor(s), bp.tensor(z), 0, bp.qint8),
    )


def test_linear_and_conv_kernels_bitwise() -> None:
    rng = np.random.default_rng(0)
    for t in range(60):
        sx, zx = float(10 ** rng.uniform(-2, -1)), int(rng.integers(0, 128))
        so, zo, relu = float(10 ** rng.uniform(-2, 0)), int(rng.integers(0, 128)), t % 3 == 0
        k, n = int(rng.integers(1, 40)), int(rng.integers(1, 20))
        tx, bx = _tq(rng.standard_normal((int(rng.integers(1, 6)), k)).astype(np.float32), sx, zx)
        tw, bw = _weights((rng.standard_normal((n, k)) * 0.3).astype(np.float32), t % 2 == 0)
        b = rng.standard_normal(n).astype(np.float32)
        op = torch.ops.quantized.linear_relu if relu else torch.ops.quantized.linear
        ty = op(tx, torch.ops.quantized.linear_prepack(tw, torch.from_numpy(b)), so, zo)
        assert np.array_equal(ty.int_repr().numpy(), Q.qlinear(bx, bw, b, so, zo, relu).int_repr().numpy())
        c, o, h = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(4, 9))
        g = c if t % 4 == 0 and c == o else 1
        ks, st, pd, dl = (
            int(rng.integers(1, 4)),
            int(rng.integers(1, 3)),
            int(rng.integers(0, 2)),
            int(rng.integers(1, 3)),
        )
        if (ks - 1) * dl + 1 > h + 2 * pd:
            continue
        tx, bx = _tq(rng.standard_normal((2, c, h, h)).astype(np.float32), sx, zx)
        tw, bw = _weights((rng.standard_normal((o, c // g, ks, ks)) * 0.3).astype(np.float32), True)
        b = rng.standard_normal(o).astype(np.float32)
        pk = torch.ops.quantized.conv2d_prepack(tw, torch.from_numpy(b), [st] * 2, [pd] * 2, [dl] * 2, g)
        ty = (torch.ops.quantized.conv2d_relu if relu else torch.ops.quantized.conv2d)(tx, pk, so, zo)
        by = Q.qconv2d(bx, bw, b, (st, st), (pd, pd), (dl, dl), g, so, zo, relu)
        assert np.array_equal(ty.int_repr().numpy(), by.int_repr().numpy()), (t, g, ks, st, pd, dl)


def _model(lib: object, quant: object) -> object:
    nn = lib.nn  # type: ignore[attr-defined]

    class M(nn.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = quant.QuantStub(), quant.DeQuantStub()  # type: ignore[attr-defined]
            self.conv, self.bn, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
            self.fc, self.relu2, self.fc2 = nn.Linear(4 * 36, 5), nn.ReLU(), nn.Linear(5, 3)
            self.ff = quant.__dict__.get("_ff", None) or lib.ao.nn.quantized.FloatFunctional()  # type: ignore[attr-defined]

        def forward(self, x: object) -> object:
            x = self.relu(self.bn(self.conv(self.quant(x))))
            y = self.fc2(self.relu2(self.fc(x.flatten(1))))  # type: ignore[attr-defined]
            return self.dequant(self.ff.add(y, y))

    return M()


def _to_bp(v: object) -> object:
    """A torch state_dict value as backprop's (quantized tensors through their integers and qparams)."""
    if isinstance(v, tuple):
        return tuple(_to_bp(a) for a in v)
    if not isinstance(v, torch.Tensor):
        return getattr(bp, str(v).split(".")[-1])
    if not v.is_quantized:
        return bp.tensor(v.detach().numpy())
    f = bp.tensor(v.dequantize().numpy())
    dt = getattr(bp, str(v.dtype).split(".")[-1])
    if v.qscheme() == torch.per_tensor_affine:
        return bp.quantize_per_tensor(f, v.q_scale(), v.q_zero_point(), dt)
    s, z = v.q_per_channel_scales().numpy(), v.q_per_channel_zero_points().numpy()
    return bp.quantize_per_channel(f, bp.tensor(s), bp.tensor(z), v.q_per_channel_axis(), dt)


@pytest.mark.parametrize("qconfig", ["x86", "minmax"])
def test_fuse_prepare_convert_matches_torch(qconfig: str) -> None:
    torch.manual_seed(0)
    tm, bm = _model(torch, tq), _model(bp, bq)
    with torch.no_grad():
        tm.bn.running_mean.uniform_(-1, 1), tm.bn.running_var.uniform_(0.5, 2), tm.bn.weight.uniform_(0.5, 1.5)
    bm.load_state_dict({k: bp.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    tm.eval(), bm.eval()
    if qconfig == "x86":
        tm.qconfig, bm.qconfig = tq.get_default_qconfig("x86"), bq.get_default_qconfig("x86")
    else:
        tm.qconfig = tq.QConfig(tq.MinMaxObserver.with_args(reduce_range=True), tq.default_per_channel_weight_observer)
        bm.qconfig = bq.QConfig(bq.MinMaxObserver.with_args(reduce_range=True), bq.default_per_channel_weight_observer)
    groups = [["conv", "bn", "relu"], ["fc", "relu2"]]
    tf, bf = tq.fuse_modules(tm, groups), bq.fuse_modules(bm, groups)
    assert str(tf) == str(bf)
    assert np.array_equal(tf.conv[0].weight.detach().numpy(), bf.conv[0].weight.detach().numpy())  # BN folded
    assert np.array_equal(tf.conv[0].bias.detach().numpy(), bf.conv[0].bias.detach().numpy())
    tp, bpm = tq.prepare(tf), bq.prepare(bf)
    assert str(tp).replace("MinMax", "Histogram") == str(bpm).replace("MinMax", "Histogram")
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
        tp(torch.from_numpy(x)), bpm(bp.tensor(x))
    tc, bc = tq.convert(tp), bq.convert(bpm)
    assert list(tc.state_dict()) == list(bc.state_dict())
    # (the float convolution's calibration may differ from torch's by an ulp: take torch's qparams to compare kernels)
    bc.load_state_dict({k: _to_bp(v) for k, v in tc.state_dict().items()})
    assert str(tc) == str(bc)
    for _ in range(4):
        x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
        assert np.array_equal(tc(torch.from_numpy(x)).numpy(), bc(bp.tensor(x)).numpy())
    buf = io.BytesIO()
    bp.save(bc.state_dict(), buf)
    buf.seek(0)
    again = bq.convert(bpm)
    again.load_state_dict(bp.load(buf))
    x = bp.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    assert np.array_equal(again(x).numpy(), bc(x).numpy())


def test_qfunctional_add_mul_cat_bitwise() -> None:
    rng = np.random.default_rng(2)
    for n in (5, 127, 128, 300, 1000):
        for _ in range(4):
            sa, sb, so = (float(10 ** rng.uniform(-2, 0)) for _ in range(3))
            za, zb, zo = (int(v) for v in rng.integers(0, 256, 3))
            ta, ba = _tq((rng.standard_normal(n) * 2).astype(np.float32), sa, za)
            tb, bb = _tq((rng.standard_normal(n) * 2).astype(np.float32), sb, zb)
            tf, bf = torch.ao.nn.quantized.QFunctional(), bp.ao.nn.quantized.QFunctional()
            tf.scale, tf.zero_point, bf.scale, bf.zero_point = so, zo, so, zo
            for op in ("add", "add_relu", "mul"):
                a, b = getattr(tf, op)(ta, tb), getattr(bf, op)(ba, bb)
                assert np.array_equal(a.int_repr().numpy(), b.int_repr().numpy()), (op, n)
            a, b = tf.cat([ta, tb]), bf.cat([ba, bb])
            assert np.array_equal(a.int_repr().numpy(), b.int_repr().numpy())
            assert (a.q_scale(), a.q_zero_point()) == (b.q_scale(), b.q_zero_point())
    assert repr(bf) == repr(tf)


def test_histogram_observer_qparams_bitwise() -> None:
    rng = np.random.default_rng(0)
    for t in range(12):
        kw: dict = dict(reduce_range=bool(t % 2)) if t % 3 else dict(quant_min=0, quant_max=127)
        bkw = dict(kw)
        if t % 4 == 3:
            kw, bkw = (
                dict(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric),
                dict(dtype=bp.qint8, qscheme=bp.per_tensor_symmetric),
            )
        to, bo = tq.HistogramObserver(**kw), bq.HistogramObserver(**bkw)
        for _ in range(int(rng.integers(1, 4))):
            x = rng.standard_normal(int(rng.integers(1, 3000))) * 10 ** rng.uniform(-2, 1) + rng.uniform(-1, 1)
            to(torch.from_numpy(x.astype(np.float32))), bo(bp.tensor(x.astype(np.float32)))
        (ts, tz), (bs, bz) = to.calculate_qparams(), bo.calculate_qparams()
        assert np.array_equal(ts.numpy(), bs.numpy()) and np.array_equal(tz.numpy(), bz.numpy()), t
        assert (to.min_val.item(), to.max_val.item()) == (bo.min_val.item(), bo.max_val.item())


def test_dequantize_float_and_save_quantized(tmp_path: object) -> None:
    x = bp.randn(3)
    assert x.dequantize() is x
    assert bp.tensor([1, 2]).dequantize().dtype == bp.float32 == _dt(torch.tensor([1, 2]).dequantize().dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = bp.quantize_per_channel(bp.randn(3, 2), bp.tensor([0.1, 0.2, 0.3]), bp.tensor([0, 1, 2]), 0, bp.qint8)
    path = os.path.join(str(tmp_path), "q.pt")
    bp.save({"q": q}, path)
    assert os.path.getsize(path) > 0
    assert bp.load(path)["q"].equal(q)  # (weights_only=True, torch's default, takes quantized tensors)


def _dt(d: object) -> object:
    return getattr(bp, str(d).split(".")[-1])


def test_activation_and_norm_kernels_bitwise() -> None:
    """hardswish/elu/leaky_relu/sigmoid (vector part: fused dequantize; tail: the scalar quantizer), batch_norm2d
    and layer_norm equal torch's x86 kernels on tie-prone scales (output scale 2x or 1x the input's)."""
    from backprop.ao.nn.quantized import _activations as A

    rng = np.random.default_rng(0)
    for _ in range(12):
        s = float(rng.choice([8 / 255, 0.05, 0.01, 1 / 64, 0.1, 0.037]))
        z = int(rng.integers(0, 256))
        x = rng.uniform(-5, 5, (int(rng.integers(1, 700)),)).astype(np.float32)
        tx, bx = _tq(x, s, z)
        for os_, oz in [(2 * s, z // 2), (s, z), (0.013, 7)]:
            pairs = [
                (torch.ops.quantized.hardswish(tx, os_, oz), A.hardswish(bx, os_, oz)),
                (torch.ao.nn.quantized.functional.elu(tx, os_, oz, 0.7), A.elu(bx, os_, oz, 0.7)),
                (torch.ops.quantized.leaky_relu(tx, 0.1, False, os_, oz), A.leaky_relu(bx, 0.1, False, os_, oz)),
                (torch.ops.quantized.sigmoid(tx, os_, oz), A.sigmoid(bx, os_, oz)),
            ]
            for t, b in pairs:
                assert np.array_equal(t.int_repr().numpy(), b.int_repr().numpy())
                assert (t.q_scale(), t.q_zero_point()) == (b.q_scale(), b.q_zero_point())
        t, b = torch.sigmoid(tx), bp.nn.functional.sigmoid(bx)
        assert np.array_equal(t.int_repr().numpy(), b.int_repr().numpy()) and t.q_scale() == b.q_scale()
        c, n = int(rng.choice([3, 8, 13, 40])), int(rng.choice([20, 32, 45]))
        os_, oz = float(rng.choice([0.02, 0.05, 2 * s])), int(rng.integers(0, 256))
        tx, bx = _tq((rng.standard_normal((2, c, 3, 4)) * 2).astype(np.float32), s, z)
        w, bb, m = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
        v = rng.uniform(0.1, 3, c).astype(np.float32)
        t = torch.ops.quantized.batch_norm2d(tx, *(torch.from_numpy(a) for a in (w, bb, m, v)), 1e-5, os_, oz)
        assert np.array_equal(t.int_repr().numpy(), Q.qbatch_norm(bx, w, bb, m, v, 1e-5, os_, oz)._int)
        tx, bx = _tq((rng.standard_normal((3, 2, n)) * 2).astype(np.float32), s, z)
        g, bb = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        t = torch.ops.quantized.layer_norm(tx, [n], torch.from_numpy(g), torch.from_numpy(bb), 1e-5, os_, oz)
        assert np.array_equal(t.int_repr().numpy(), Q.qlayer_norm(bx, n, g, bb, 1e-5, os_, oz)._int)


def _act_model(lib: object, quant: object) -> object:
    nn = lib.nn  # type: ignore[attr-defined]

    class M(nn.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = quant.QuantStub(), quant.DeQuantStub()  # type: ignore[attr-defined]
            self.conv, self.bn, self.hs = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Hardswish()
            self.leaky, self.elu, self.ln, self.sig = nn.LeakyReLU(0.2), nn.ELU(0.5), nn.LayerNorm(6), nn.Sigmoid()

        def forward(self, x: object) -> object:
            x = self.elu(self.leaky(self.hs(self.bn(self.conv(self.quant(x))))))
            return self.dequant(self.sig(self.ln(x)))

    return M()


def test_convert_norms_and_activations_match_torch() -> None:
    """prepare/convert swap BatchNorm2d, Hardswish, LeakyReLU, ELU and LayerNorm for torch's quantized modules (a
    float Sigmoid then runs on the quantized tensor at 1/256), with torch's reprs, state_dict keys and values."""
    torch.manual_seed(0)
    tm, bm = _act_model(torch, tq), _act_model(bp, bq)
    with torch.no_grad():
        tm.bn.running_mean.uniform_(-1, 1), tm.bn.running_var.uniform_(0.5, 2), tm.ln.weight.uniform_(0.5, 1.5)
    bm.load_state_dict({k: bp.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    tm.eval(), bm.eval()
    tm.qconfig = tq.QConfig(tq.MinMaxObserver.with_args(reduce_range=True), tq.default_weight_observer)
    bm.qconfig = bq.QConfig(bq.MinMaxObserver.with_args(reduce_range=True), bq.default_weight_observer)
    tp, bpm = tq.prepare(tm), bq.prepare(bm)
    assert str(tp) == str(bpm)
    rng = np.random.default_rng(3)
    for _ in range(2):
        x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
        tp(torch.from_numpy(x)), bpm(bp.tensor(x))
    tc, bc = tq.convert(tp), bq.convert(bpm)
    assert str(tc) == str(bc)
    assert list(tc.state_dict()) == list(bc.state_dict())
    bc.load_state_dict({k: _to_bp(v) for k, v in tc.state_dict().items()})  # (float calibration: ulps apart)
    bc.elu.scale, bc.elu.zero_point = tc.elu.scale, tc.elu.zero_point  # (ELU keeps them as attributes)
    for _ in range(3):
        x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
        assert np.array_equal(tc(torch.from_numpy(x)).numpy(), bc(bp.tensor(x)).numpy())


def _qat_model(lib: object, quant: object) -> object:
    nn = lib.nn  # type: ignore[attr-defined]

    class M(nn.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = quant.QuantStub(), quant.DeQuantStub()  # type: ignore[attr-defined]
            self.conv, self.bn, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, bias=False), nn.BatchNorm2d(4)
            self.fc, self.relu2 = nn.Linear(4 * 16, 5), nn.ReLU()

        def forward(self, x: object) -> object:
            x = self.bn2(self.conv2(self.relu(self.bn(self.conv(self.quant(x))))))
            return self.dequant(self.relu2(self.fc(x.flatten(1))))  # type: ignore[attr-defined]

    return M()


def test_fuse_modules_qat_conv_bn_folding_matches_torch() -> None:
    """fuse_modules_qat + prepare_qat give torch's ConvBnReLU2d/ConvBn2d/LinearReLU QAT modules (reprs, state_dict
    keys); training steps with the BatchNorm folded into the fake-quantized weight follow torch's forward values,
    gradients and running statistics (to float32 rounding of the convolution); after freeze_bn_stats and convert
    the quantized model is torch's (BN folded into the int8 weights) and, on torch's qparams, bit for bit."""
    torch.manual_seed(0)
    tm, bm = _qat_model(torch, tq), _qat_model(bp, bq)
    bm.load_state_dict({k: bp.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    groups = [["conv", "bn", "relu"], ["conv2", "bn2"], ["fc", "relu2"]]
    tf, bf = tq.fuse_modules_qat(tm.train(), groups), bq.fuse_modules_qat(bm.train(), groups)
    assert str(tf) == str(bf)
    tf.qconfig, bf.qconfig = tq.get_default_qat_qconfig("x86"), bq.get_default_qat_qconfig("x86")
    tp, bpm = tq.prepare_qat(tf), bq.prepare_qat(bf)
    assert str(tp) == str(bpm)
    assert list(tp.state_dict()) == list(bpm.state_dict())
    assert type(bpm.conv) is bp.ao.nn.intrinsic.qat.ConvBnReLU2d
    topt, bopt = torch.optim.SGD(tp.parameters(), lr=0.1), bp.optim.SGD(bpm.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for step in range(3):
        if step == 2:
            tp.apply(torch.ao.nn.intrinsic.qat.freeze_bn_stats), bpm.apply(bp.ao.nn.intrinsic.qat.freeze_bn_stats)
        x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
        yt, yb = tp(torch.from_numpy(x)), bpm(bp.tensor(x))
        np.testing.assert_allclose(yb.detach().numpy(), yt.detach().numpy(), rtol=0, atol=1e-5)
        yt.square().sum().backward(), yb.square().sum().backward()
        for name in ("conv.weight", "conv.bn.weight", "conv2.weight", "fc.weight"):
            gt = tp.get_parameter(name).grad.numpy()
            np.testing.assert_allclose(bpm.get_parameter(name).grad.numpy(), gt, rtol=1e-4, atol=1e-5)
        for name in ("conv.bn.running_mean", "conv.bn.running_var", "conv2.bn.running_var"):
            np.testing.assert_allclose(bpm.get_buffer(name).numpy(), tp.get_buffer(name).numpy(), atol=1e-6)
        topt.step(), bopt.step(), topt.zero_grad(), bopt.zero_grad()
    assert not bpm.conv.bn.training and bpm.conv.freeze_bn
    tc, bc = tq.convert(tp.eval()), bq.convert(bpm.eval())
    assert list(tc.state_dict()) == list(bc.state_dict())
    assert np.array_equal(tc.conv.weight().int_repr().numpy(), bc.conv.weight().int_repr().numpy())
    bc.load_state_dict({k: _to_bp(v) for k, v in tc.state_dict().items()})
    assert str(tc) == str(bc)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    assert np.array_equal(tc(torch.from_numpy(x)).numpy(), bc(bp.tensor(x)).numpy())
