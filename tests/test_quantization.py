"""Quantized tensors, fake quantization, observers, QAT preparation and dynamic quantization against torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.ao.quantization as bq
import backprop.nn.quantized.dynamic

torch = pytest.importorskip("torch")
tq = torch.ao.quantization
pytestmark = pytest.mark.filterwarnings("ignore")

QD = [("quint8", 0, 255), ("qint8", -128, 127), ("qint32", -1000, 1000)]


def _inputs(rng: np.random.Generator, n: int, scale: float, trial: int) -> np.ndarray:
    """Random values of many magnitudes; every third draw on the half-steps (ties of the rounding)."""
    if trial % 3 == 0:
        return (rng.integers(-600, 600, n) * np.float32(scale) / 2).astype(np.float32)
    return (rng.standard_normal(n) * 10 ** rng.uniform(-3, 3)).astype(np.float32)


def test_quantize_per_tensor_bitwise() -> None:
    rng = np.random.default_rng(0)
    for trial in range(150):
        n, scale = int(rng.integers(1, 40)), float(10 ** rng.uniform(-4, 1))
        x = _inputs(rng, n, scale, trial)
        for name, lo, hi in QD:
            zp = int(rng.integers(lo, hi + 1))
            a = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, getattr(torch, name))
            b = bp.quantize_per_tensor(bp.tensor(x), scale, zp, getattr(bp, name))
            assert np.array_equal(a.int_repr().numpy(), b.int_repr().numpy()), (name, scale, zp)
            assert a.int_repr().numpy().dtype == b.int_repr().numpy().dtype
            assert np.array_equal(a.dequantize().numpy().view(np.int32), b.dequantize().numpy().view(np.int32))
            assert (a.q_scale(), a.q_zero_point()) == (b.q_scale(), b.q_zero_point())


def test_quantize_edge_values() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 0, -0.0, 1e30, -1e30, 3e9, -3e9, 0.5, 1.5, 2.5, -0.5, -2.5] * 2, np.float32)
    for n in (len(x), 5):
        for name, _, _ in QD:
            a = torch.quantize_per_tensor(torch.from_numpy(x[:n]), 1.0, 3, getattr(torch, name)).int_repr()
            b = bp.quantize_per_tensor(bp.tensor(x[:n]), 1.0, 3, getattr(bp, name)).int_repr()
            assert a.tolist() == b.tolist(), name


def test_quantize_per_channel_and_dynamic_bitwise() -> None:
    rng = np.random.default_rng(1)
    for _ in range(60):
        shape = tuple(int(v) for v in rng.integers(1, 6, 3))
        axis = int(rng.integers(0, 3))
        s = 10 ** rng.uniform(-3, 0, shape[axis])
        sh = [1, 1, 1]
        sh[axis] = -1
        x = (rng.integers(-300, 300, shape) * s.astype(np.float32).reshape(sh) / 2).astype(np.float32)
        for name, lo, hi in QD:
            z = rng.integers(lo, hi + 1, shape[axis])
            a = torch.quantize_per_channel(
                torch.from_numpy(x), torch.from_numpy(s), torch.from_numpy(z), axis, getattr(torch, name)
            )
            b = bp.quantize_per_channel(bp.tensor(x), bp.tensor(s), bp.tensor(z), axis, getattr(bp, name))
            assert np.array_equal(a.int_repr().numpy(), b.int_repr().numpy())
            assert np.array_equal(a.dequantize().numpy(), b.dequantize().numpy())
            assert b.q_per_channel_axis() == axis and b.qscheme() is bp.per_channel_affine
            assert np.array_equal(a.q_per_channel_scales().numpy(), b.q_per_channel_scales().numpy())
        v = (rng.standard_normal(int(rng.integers(1, 30))) * 10 ** rng.uniform(-6, 3)).astype(np.float32)
        for name in ("quint8", "qint8"):
            for rr in (False, True):
                a = torch.quantize_per_tensor_dynamic(torch.from_numpy(v), getattr(torch, name), rr)
                b = bp.quantize_per_tensor_dynamic(bp.tensor(v), getattr(bp, name), rr)
                assert (a.q_scale(), a.q_zero_point()) == (b.q_scale(), b.q_zero_point())
                assert np.array_equal(a.int_repr().numpy(), b.int_repr().numpy())


def test_repr_attributes_and_refusals() -> None:
    x = [-1.0, 0.0, 0.5, 1.26, 300.0]
    a = torch.quantize_per_tensor(torch.tensor(x), 0.1, 10, torch.quint8)
    b = bp.quantize_per_tensor(bp.tensor(x), 0.1, 10, bp.quint8)
    assert repr(b) == repr(a)
    assert repr(b[1:3]) == repr(a[1:3]) and repr(b.reshape(5, 1)) == repr(a.reshape(5, 1))
    m = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    s, z = np.array([0.1, 0.2]), np.array([0, 1])
    pa = torch.quantize_per_channel(torch.from_numpy(m), torch.from_numpy(s), torch.from_numpy(z), 0, torch.qint8)
    pb = bp.quantize_per_channel(bp.tensor(m), bp.tensor(s), bp.tensor(z), 0, bp.qint8)
    assert repr(pb) == repr(pa)
    assert repr(b.dtype) == "torch.quint8" and repr(b.qscheme()) == "torch.per_tensor_affine"
    assert b.is_quantized and not bp.tensor(x).is_quantized and isinstance(b.qscheme(), bp.qscheme)
    assert tuple(b.shape) == (5,) and b.dim() == 1 and b.numel() == 5 and b.element_size() == 1
    assert bp.qint32.itemsize == 4 and not bp.qint8.is_floating_point
    assert bp.dequantize(b).tolist() == bp.tensor(a.dequantize().numpy()).tolist()
    assert np.array_equal(b.relu().int_repr().numpy(), torch.relu(a).int_repr().numpy())
    for f in (lambda t: t + t, lambda t: t.sum(), lambda t: t @ t, lambda t: t * 2, lambda t: t.numpy()):
        with pytest.raises(Exception) as ea:
            f(a)
        with pytest.raises(type(ea.value)) as eb:
            f(b)
        assert str(eb.value).split(" backend")[0] == str(ea.value).split(" backend")[0]
    with pytest.raises(RuntimeError, match="Expected quantizer->qscheme"):
        pb.q_scale()
    with pytest.raises(RuntimeError, match="Quantize only works on Float Tensor, got Double"):
        bp.quantize_per_tensor(bp.tensor(x, dtype=bp.float64), 0.1, 10, bp.quint8)
    with pytest.raises(RuntimeError, match="zero_point 300 is above upper bound"):
        bp.quantize_per_tensor(bp.tensor(x), 0.1, 300, bp.quint8)


def test_fake_quantize_values_and_straight_through_gradient() -> None:
    rng = np.random.default_rng(3)
    for trial in range(40):
        scale = float(10 ** rng.uniform(-2, 0))
        x = _inputs(rng, 33, scale, trial).reshape(3, 11)
        qmin, qmax = [(0, 255), (-128, 127), (0, 127)][trial % 3]
        zp = int(rng.integers(qmin, qmax + 1))
        ta = torch.from_numpy(x).requires_grad_()
        ya = torch.fake_quantize_per_tensor_affine(ta, scale, zp, qmin, qmax)
        ba = bp.tensor(x, requires_grad=True)
        yb = bp.fake_quantize_per_tensor_affine(ba, scale, zp, qmin, qmax)
        assert np.array_equal(ya.detach().numpy(), yb.detach().numpy())
        g = rng.standard_normal(x.shape).astype(np.float32)
        ya.backward(torch.from_numpy(g))
        yb.backward(bp.tensor(g))
        assert np.array_equal(ta.grad.numpy(), ba.grad.numpy())
        s = (10 ** rng.uniform(-2, 0, 11)).astype(np.float32)
        z = rng.integers(qmin, qmax + 1, 11).astype(np.int32)
        ta.grad = None
        pa = torch.fake_quantize_per_channel_affine(ta, torch.from_numpy(s), torch.from_numpy(z), 1, qmin, qmax)
        bb = bp.tensor(x, requires_grad=True)
        pbv = bp.fake_quantize_per_channel_affine(bb, bp.tensor(s), bp.tensor(z), 1, qmin, qmax)
        assert np.array_equal(pa.detach().numpy(), pbv.detach().numpy())
        pa.sum().backward()
        pbv.sum().backward()
        assert np.array_equal(ta.grad.numpy(), bb.grad.numpy())


def _same_qparams(a: tuple, b: tuple) -> None:
    assert str(a[0].dtype) == f"torch.{b[0].dtype}" and str(a[1].dtype) == f"torch.{b[1].dtype}"
    assert np.array_equal(a[0].numpy(), b[0].numpy()) and np.array_equal(a[1].numpy(), b[1].numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.MinMaxObserver(),
        lambda m: m.MinMaxObserver(dtype=_d(m, "qint8"), qscheme=_d(m, "per_tensor_symmetric")),
        lambda m: m.MinMaxObserver(quant_min=0, quant_max=127),
        lambda m: m.MovingAverageMinMaxObserver(averaging_constant=0.3),
        lambda m: m.PerChannelMinMaxObserver(ch_axis=1),
        lambda m: m.PerChannelMinMaxObserver(dtype=_d(m, "qint8"), qscheme=_d(m, "per_channel_symmetric")),
        lambda m: m.MovingAveragePerChannelMinMaxObserver(averaging_constant=0.2),
    ],
)
def test_observers_bitwise(make) -> None:  # noqa: ANN001
    a, b = make(tq), make(bq)
    rng = np.random.default_rng(4)
    for _ in range(4):
        x = (rng.standard_normal((4, 6)) * rng.uniform(0.01, 5) + rng.uniform(-2, 2)).astype(np.float32)
        a(torch.from_numpy(x))
        b(bp.tensor(x))
        _same_qparams(a.calculate_qparams(), b.calculate_qparams())
    assert repr(b).split("(")[0] == repr(a).split("(")[0]


def _d(module, name: str):  # noqa: ANN001, ANN202
    """torch's or backprop's dtype / qscheme of that name (the observer factories take the library's own)."""
    return getattr(torch if module is tq else bp, name)


class _TorchM(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.fc, self.relu, self.dequant = (
            tq.QuantStub(),
            torch.nn.Linear(6, 4),
            torch.nn.ReLU(),
            tq.DeQuantStub(),
        )

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.dequant(self.relu(self.fc(self.quant(x))))


class _BpM(bp.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.fc, self.relu, self.dequant = (
            bq.QuantStub(),
            bp.nn.Linear(6, 4),
            bp.nn.ReLU(),
            bq.DeQuantStub(),
        )

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.dequant(self.relu(self.fc(self.quant(x))))


@pytest.mark.parametrize("version", [0, 1])
def test_prepare_qat_forward_and_gradients(version: int) -> None:
    torch.manual_seed(0)
    tm, bm = _TorchM(), _BpM()
    bm.fc.weight.data = bp.tensor(tm.fc.weight.detach().numpy())
    bm.fc.bias.data = bp.tensor(tm.fc.bias.detach().numpy())
    tm.qconfig = tq.get_default_qat_qconfig("x86", version)
    bm.qconfig = bq.get_default_qat_qconfig("x86", version)
    tp, bpm = tq.prepare_qat(tm), bq.prepare_qat(bm)
    assert type(bpm.fc).__name__ == "Linear" and hasattr(bpm.fc, "weight_fake_quant")
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = (rng.standard_normal((5, 6)) * 2).astype(np.float32)
        ya, yb = tp(torch.from_numpy(x)), bpm(bp.tensor(x))
        assert np.array_equal(ya.detach().numpy(), yb.detach().numpy())
        ya.sum().backward()
        yb.sum().backward()
        assert np.array_equal(tp.fc.weight.grad.numpy(), bpm.fc.weight.grad.numpy())
        assert np.array_equal(tp.fc.bias.grad.numpy(), bpm.fc.bias.grad.numpy())
    assert set(bpm.state_dict()) == set(tp.state_dict())


def test_quantize_dynamic_linear_bitwise() -> None:
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    bm = bp.nn.Sequential(bp.nn.Linear(16, 8), bp.nn.ReLU(), bp.nn.Linear(8, 4))
    bm.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tqm = tq.quantize_dynamic(tm, {torch.nn.Linear}, dtype=torch.qint8)
    bqm = bp.quantization.quantize_dynamic(bm, {bp.nn.Linear}, dtype=bp.qint8)
    assert repr(bqm) == repr(tqm)
    assert list(bqm.state_dict()) == list(tqm.state_dict())
    assert isinstance(bqm[0], bp.nn.quantized.dynamic.Linear)
    for i in range(20):
        x = np.random.default_rng(i).standard_normal((2, 5, 16)).astype(np.float32) * (i + 1) / 10
        assert np.array_equal(tqm(torch.from_numpy(x)).numpy(), bqm(bp.tensor(x)).numpy())
    with pytest.raises(NotImplementedError):
        bq.quantize_dynamic(bm, {bp.nn.Conv2d}, dtype=bp.qint8)
