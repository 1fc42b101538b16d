"""Dynamic quantization of recurrent models against torch 2.13 (x86/fbgemm): ``quantize_dynamic`` of LSTM, GRU and
the cells (qint8 and float16), PackedSequence input, the word-language-model tutorial flow, fbgemm's FP16 linear
bit for bit, reprs, state_dict keys, saving and torch's errors.

The recurrent outputs agree with torch's to a few float32 ulps, not bitwise: every gate projection is torch's
kernel bit for bit, but torch's sigmoid/tanh run SLEEF's vectorized approximations (1-ulp differences from
NumPy's), and such an ulp can move a dynamically quantized hidden state by one rounding step."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.ao.quantization as bq

torch = pytest.importorskip("torch")
tq = torch.ao.quantization
pytestmark = pytest.mark.filterwarnings("ignore")
DTYPES = {"qint8": (torch.qint8, bp.qint8), "float16": (torch.float16, bp.float16)}
ATOL = 2e-6  # (a few ulps of values in [-1, 1]: see the module docstring)


def _pair(tm: torch.nn.Module, bm: bp.nn.Module) -> tuple:
    """The same float weights in both models."""
    bm.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, bm


def _quantize(tm: torch.nn.Module, bm: bp.nn.Module, dtype: str, spec: set | None = None) -> tuple:
    td, bd = DTYPES[dtype]
    tspec = None if spec is None else {getattr(torch.nn, n) for n in spec}
    bspec = None if spec is None else {getattr(bp.nn, n) for n in spec}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tqm = tq.quantize_dynamic(tm, tspec, dtype=td)
    return tqm, bq.quantize_dynamic(bm, bspec, dtype=bd)


def _close(t: object, b: object, atol: float = ATOL) -> None:
    """Same structure, shapes and dtypes; values within ``atol``."""
    if isinstance(t, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(t) == len(b)
        for x, y in zip(t, b):
            _close(x, y, atol)
        return
    if isinstance(t, torch.nn.utils.rnn.PackedSequence):
        assert isinstance(b, bp.nn.utils.rnn.PackedSequence)
        assert np.array_equal(t.batch_sizes.numpy(), np.asarray(b.batch_sizes.numpy()))
        t, b = t.data, b.data
    a, c = t.detach().numpy(), b.numpy()  # type: ignore[union-attr]
    assert a.shape == c.shape and a.dtype == c.dtype
    np.testing.assert_allclose(c, a, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", ["qint8", "float16"])
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_dynamic_rnn_matches_torch(mode: str, dtype: str) -> None:
    rng = np.random.default_rng(0)
    configs = [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True, "num_layers": 2}]
    for i, kw in enumerate(configs):
        torch.manual_seed(i)
        tm, bm = _pair(torch.nn.Sequential(getattr(torch.nn, mode)(6, 10, **kw)),
                       bp.nn.Sequential(getattr(bp.nn, mode)(6, 10, **kw)))  # fmt: skip
        tqm, bqm = _quantize(tm, bm, dtype, {mode, "Linear"})
        assert repr(bqm) == repr(tqm)
        assert list(bqm.state_dict()) == list(tqm.state_dict())
        assert type(bqm[0]) is getattr(bp.ao.nn.quantized.dynamic, mode)
        x = (rng.standard_normal((7, 3, 6)) * (i + 1)).astype(np.float32)  # (time-major)
        bf = kw.get("batch_first", False)
        xp = np.ascontiguousarray(x.transpose(1, 0, 2)) if bf else x
        _close(tqm(torch.from_numpy(xp)), bqm(bp.tensor(xp)))
        d = 2 if kw.get("bidirectional") else 1
        h = rng.standard_normal((kw.get("num_layers", 1) * d, 3, 10)).astype(np.float32)
        hx_t = (torch.from_numpy(h), torch.from_numpy(h * 0.5)) if mode == "LSTM" else torch.from_numpy(h)
        hx_b = (bp.tensor(h), bp.tensor(h * 0.5)) if mode == "LSTM" else bp.tensor(h)
        _close(tqm[0](torch.from_numpy(xp), hx_t), bqm[0](bp.tensor(xp), hx_b))
        # packed sequences (unsorted lengths: the states are permuted in and out as torch's)
        lens = [4, 7, 2]
        tp = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(xp), lens, bf, enforce_sorted=False)
        bpk = bp.nn.utils.rnn.pack_padded_sequence(bp.tensor(xp), lens, bf, enforce_sorted=False)
        _close(tqm[0](tp, hx_t), bqm[0](bpk, hx_b))


@pytest.mark.parametrize("dtype", ["qint8", "float16"])
def test_dynamic_cells_match_torch(dtype: str) -> None:
    rng = np.random.default_rng(1)
    for name, kw in [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"})]:
        torch.manual_seed(0)
        tm, bm = _pair(torch.nn.Sequential(getattr(torch.nn, name)(6, 10, **kw)),
                       bp.nn.Sequential(getattr(bp.nn, name)(6, 10, **kw)))  # fmt: skip
        tqm, bqm = _quantize(tm, bm, dtype)
        assert repr(bqm) == repr(tqm)
        assert list(bqm.state_dict()) == list(tqm.state_dict())
        x = rng.standard_normal((3, 6)).astype(np.float32)
        h = rng.standard_normal((3, 10)).astype(np.float32)
        if name == "LSTMCell":
            _close(tqm[0](torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(-h))),
                   bqm[0](bp.tensor(x), (bp.tensor(h), bp.tensor(-h))))  # fmt: skip
        else:
            _close(tqm[0](torch.from_numpy(x), torch.from_numpy(h)), bqm[0](bp.tensor(x), bp.tensor(h)))
        _close(tqm[0](torch.from_numpy(x)), bqm[0](bp.tensor(x)))  # (hx defaults to zeros)


class _TorchLM(torch.nn.Module):
    """The tutorial's LSTMModel: encoder, LSTM, decoder, with dropout."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int) -> None:
        super().__init__()
        nn = torch.nn
        self.drop, self.encoder = nn.Dropout(0.5), nn.Embedding(ntoken, ninp)
        self.rnn, self.decoder = nn.LSTM(ninp, nhid, nlayers, dropout=0.5), nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):  # noqa: ANN001, ANN201
        output, hidden = self.rnn(self.drop(self.encoder(input)), hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz: int) -> tuple:
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))


class _BpLM(bp.nn.Module):
    """The same model, written for backprop as a torch user would."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int) -> None:
        super().__init__()
        nn = bp.nn
        self.drop, self.encoder = nn.Dropout(0.5), nn.Embedding(ntoken, ninp)
        self.rnn, self.decoder = nn.LSTM(ninp, nhid, nlayers, dropout=0.5), nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):  # noqa: ANN001, ANN201
        output, hidden = self.rnn(self.drop(self.encoder(input)), hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz: int) -> tuple:
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))


@pytest.mark.parametrize("dtype", ["qint8", "float16"])
def test_word_language_model_tutorial(dtype: str) -> None:
    torch.manual_seed(0)
    tm, bm = _pair(_TorchLM(100, 32, 48, 2).eval(), _BpLM(100, 32, 48, 2).eval())
    tqm, bqm = _quantize(tm, bm, dtype, {"LSTM", "Linear"})
    assert repr(bqm).replace("_BpLM", "LM") == repr(tqm).replace("_TorchLM", "LM")
    assert list(bqm.state_dict()) == list(tqm.state_dict())
    tokens = np.random.default_rng(2).integers(0, 100, (12, 4))
    th, bh = tqm.init_hidden(4), bqm.init_hidden(4)
    for chunk in (tokens[:6], tokens[6:]):  # (the tutorial's evaluate: the hidden state carried over)
        tout, th = tqm(torch.from_numpy(chunk), th)
        bout, bh = bqm(bp.tensor(chunk), bh)
        _close(tout, bout, 2e-5)  # (logits: sums of 48 products, so a few ulps of a larger value)
        _close(th, bh)
    lt = torch.nn.functional.cross_entropy(tout.view(-1, 100), torch.from_numpy(tokens[6:]).reshape(-1))
    lb = bp.nn.functional.cross_entropy(bout.view(-1, 100), bp.tensor(tokens[6:]).reshape(-1))
    assert abs(float(lt) - float(lb)) < 1e-5
    # saved and loaded into a freshly quantized model: the same outputs
    buf = io.BytesIO()
    bp.save(bqm.state_dict(), buf)
    buf.seek(0)
    fresh = bq.quantize_dynamic(_BpLM(100, 32, 48, 2).eval(), {bp.nn.LSTM, bp.nn.Linear}, dtype=DTYPES[dtype][1])
    fresh.load_state_dict(bp.load(buf, weights_only=False))
    x = bp.tensor(tokens[:5])
    assert np.array_equal(fresh(x, fresh.init_hidden(4))[0].numpy(), bqm(x, bqm.init_hidden(4))[0].numpy())


def test_float16_linear_bitwise() -> None:
    """fbgemm's FP16 GEMM order (blocks of 512 along K, fused multiply-adds in order) is matched bit for bit."""
    for k, n in [(40, 7), (700, 9), (1100, 3)]:
        torch.manual_seed(k)
        tm, bm = _pair(torch.nn.Sequential(torch.nn.Linear(k, n)), bp.nn.Sequential(bp.nn.Linear(k, n)))
        tqm, bqm = _quantize(tm, bm, "float16")
        assert repr(bqm) == repr(tqm)
        assert list(bqm.state_dict()) == list(tqm.state_dict())
        assert np.array_equal(bqm[0].weight().numpy(), tqm[0].weight().numpy())
        x = np.random.default_rng(k).standard_normal((5, k)).astype(np.float32)
        assert np.array_equal(bqm(bp.tensor(x)).numpy(), tqm(torch.from_numpy(x)).detach().numpy())


def test_dynamic_rnn_weights_and_errors() -> None:
    torch.manual_seed(0)
    tm, bm = _pair(torch.nn.Sequential(torch.nn.LSTM(4, 5, 2)), bp.nn.Sequential(bp.nn.LSTM(4, 5, 2)))
    tqm, bqm = _quantize(tm, bm, "qint8")
    tw, bw = tqm[0].get_weight(), bqm[0].get_weight()
    assert list(tw) == list(bw)
    for name in tw:  # (the per-tensor qint8 weights: same integers and qparams)
        assert np.array_equal(tw[name].int_repr().numpy(), bw[name].int_repr().numpy())
        assert tw[name].q_scale() == bw[name].q_scale() and tw[name].q_zero_point() == bw[name].q_zero_point()
    assert list(tqm[0].get_bias()) == list(bqm[0].get_bias())
    x = np.zeros((3, 2, 4), np.float32)
    for bad_t, bad_b in [
        ((torch.zeros(3, 4),), (bp.zeros(3, 4),)),
        ((torch.zeros(3, 2, 5),), (bp.zeros(3, 2, 5),)),
        ((torch.from_numpy(x), (torch.zeros(2, 3, 5), torch.zeros(2, 3, 5))),
         (bp.tensor(x), (bp.zeros(2, 3, 5), bp.zeros(2, 3, 5)))),
    ]:  # fmt: skip
        with pytest.raises(RuntimeError) as te:
            tqm[0](*bad_t)
        with pytest.raises(RuntimeError) as be:
            bqm[0](*bad_b)
        assert str(be.value) == str(te.value)
    # the root module is not swapped (torch's convert only swaps children), and unknown dtypes are refused
    assert type(bq.quantize_dynamic(bp.nn.GRU(3, 4), {bp.nn.GRU})) is bp.nn.GRU
    with pytest.raises(ValueError, match="Don't know how to quantize"):
        bq.quantize_dynamic(bm, dtype=bp.float32)
