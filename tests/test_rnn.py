"""Recurrent layers (nn.RNN / LSTM / GRU and cells) and nn.utils.rnn: NumPy references and gradchecks (no
torch needed), then torch cross-checks with torch's weights copied in (outputs, final states, every
parameter's gradient) over multi-layer, bidirectional, batch_first, unbatched, h0 and packed inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
from backprop.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def torch():  # type: ignore[no-untyped-def]
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _sig(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _np_cell(mode: str, p: dict, x: np.ndarray, state: tuple) -> tuple:
    """The textbook recurrences, gate order as torch documents them (LSTM i, f, g, o; GRU r, z, n)."""
    gi = x @ p["weight_ih"].T + p.get("bias_ih", 0)
    gh = state[0] @ p["weight_hh"].T + p.get("bias_hh", 0)
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, -1)
        c = _sig(f) * state[1] + _sig(i) * np.tanh(g)
        return (_sig(o) * np.tanh(c), c)
    if mode == "GRU":
        (i_r, i_z, i_n), (h_r, h_z, h_n) = np.split(gi, 3, -1), np.split(gh, 3, -1)
        r, z = _sig(i_r + h_r), _sig(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        return ((1 - z) * n + z * state[0],)
    return (np.tanh(gi + gh),)


def _np_layer_params(m: nn.Module, suffix: str) -> dict:
    return {k.removesuffix(suffix): v.detach().numpy() for k, v in m.named_parameters() if k.endswith(suffix)}


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_bidirectional_two_layer_matches_numpy_recurrence(mode: str) -> None:
    m = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True).double()
    x = RNG.standard_normal((5, 2, 3))
    out, hn = m(bp.tensor(x))
    layer_in, finals = x, []
    for layer in range(2):
        outs = []
        for suffix, order in ((f"_l{layer}", range(5)), (f"_l{layer}_reverse", reversed(range(5)))):
            p = _np_layer_params(m, suffix)
            state = tuple(np.zeros((2, 4)) for _ in range(2 if mode == "LSTM" else 1))
            hs = [None] * 5
            for t in order:
                state = _np_cell(mode, p, layer_in[t], state)
                hs[t] = state[0]
            outs.append(np.stack(hs))
            finals.append(state)
        layer_in = np.concatenate(outs, -1)
    np.testing.assert_allclose(out.detach().numpy(), layer_in, atol=1e-12)
    h_n = hn[0] if mode == "LSTM" else hn
    np.testing.assert_allclose(h_n.detach().numpy(), np.stack([s[0] for s in finals]), atol=1e-12)
    if mode == "LSTM":
        np.testing.assert_allclose(hn[1].detach().numpy(), np.stack([s[1] for s in finals]), atol=1e-12)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_gradcheck_and_gradgradcheck_float64(mode: str) -> None:
    m = getattr(nn, mode)(2, 3, num_layers=2, bidirectional=True, batch_first=True).double()
    x = bp.tensor(RNG.standard_normal((2, 3, 2)), requires_grad=True)
    h0 = bp.tensor(RNG.standard_normal((4, 2, 3)), requires_grad=True)
    w = m.weight_hh_l1_reverse

    def f(x: bp.Tensor, h0: bp.Tensor, w: bp.Tensor) -> bp.Tensor:
        hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
        out, hn = m(x, hx)
        return out.sum() + (hn[0] if mode == "LSTM" else hn).sum()

    assert bp.gradcheck(f, [x, h0, w])
    assert bp.gradgradcheck(lambda x: m(x)[0].sum(-1), [x])


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_numpy_step(cls: str) -> None:
    mode = cls.removesuffix("Cell")
    m = getattr(nn, cls)(3, 4).double()
    x, h = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4))
    p = {k: v.detach().numpy() for k, v in m.named_parameters()}
    state = (h, 2 * h) if mode == "LSTM" else (h,)
    ours = m(bp.tensor(x), tuple(bp.tensor(s) for s in state) if mode == "LSTM" else bp.tensor(h))
    ours = ours if isinstance(ours, tuple) else (ours,)
    for a, b in zip(ours, _np_cell(mode, p, x, state)):
        np.testing.assert_allclose(a.detach().numpy(), b, atol=1e-12)
    unbatched = m(bp.tensor(x[0]))  # no state: zeros; 1-D input: 1-D outputs
    first = unbatched[0] if mode == "LSTM" else unbatched
    assert first.shape == (4,)


def test_parameters_names_shapes_and_init_range() -> None:
    m = nn.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=2)
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert shapes["weight_ih_l0"] == (32, 3) and shapes["weight_hh_l0"] == (32, 2)
    assert shapes["weight_ih_l1_reverse"] == (32, 4) and shapes["weight_hr_l1_reverse"] == (2, 8)
    assert len(shapes) == 20 and len(m.all_weights) == 4
    k = 1 / np.sqrt(8)
    assert all(np.abs(p.detach().numpy()).max() <= k for p in m.parameters())
    assert list(dict(nn.GRU(2, 3, bias=False).named_parameters())) == ["weight_ih_l0", "weight_hh_l0"]
    assert repr(nn.GRU(3, 4, 2, batch_first=True)) == "GRU(3, 4, num_layers=2, batch_first=True)"


def test_errors_and_warnings() -> None:
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size has to be smaller"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="dropout should be a number"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.5)
    m = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        m(bp.randn(2, 1, 5))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
        m(bp.randn(2, 1, 1, 3))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 4\), got \[1, 3, 4\]"):
        m(bp.randn(5, 2, 3), (bp.zeros(1, 3, 4), bp.zeros(1, 2, 4)))
    with pytest.raises(RuntimeError, match="hx should also be 2-D"):
        nn.GRU(3, 4)(bp.randn(5, 3), bp.zeros(1, 1, 4))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        nn.GRU(3, 4)(bp.randn(5, 3, dtype=bp.float64))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        nn.GRUCell(3, 4)(bp.randn(2, 5))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        nn.RNNCell(3, 4)(bp.randn(2, 3), bp.randn(3, 4))


def test_dropout_between_layers_only_in_training() -> None:
    m = nn.GRU(3, 5, num_layers=2, dropout=0.5).double()
    x = bp.tensor(RNG.standard_normal((4, 2, 3)))
    m.eval()
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(m(x)[0].detach().numpy(), a)


def test_pad_sequence_closed_form() -> None:
    seqs = [bp.tensor([1.0, 2.0]), bp.tensor([3.0]), bp.tensor([4.0, 5.0, 6.0])]
    np.testing.assert_array_equal(
        pad_sequence(seqs, batch_first=True, padding_value=-1).numpy(),
        [[1, 2, -1], [3, -1, -1], [4, 5, 6]],
    )
    np.testing.assert_array_equal(pad_sequence(seqs, padding_side="left").numpy().T, [[0, 1, 2], [0, 0, 3], [4, 5, 6]])
    assert pad_sequence([bp.zeros(2, 5), bp.zeros(4, 5)]).shape == (4, 2, 5)
    with pytest.raises(RuntimeError, match="padding_side"):
        pad_sequence(seqs, padding_side="middle")
    x = bp.tensor(RNG.standard_normal((3, 2)), requires_grad=True)
    pad_sequence([x, x[:1]]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [1, 1], [1, 1]])


def test_pack_and_pad_round_trip_and_gradient() -> None:
    x = bp.tensor(RNG.standard_normal((4, 3, 2)), requires_grad=True)
    packed = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
    assert isinstance(packed, PackedSequence)
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), [3, 2, 1, 1])
    np.testing.assert_array_equal(packed.sorted_indices.numpy(), [1, 0, 2])
    np.testing.assert_array_equal(packed.data.detach().numpy()[:3], x.detach().numpy()[0, [1, 0, 2]])
    padded, lengths = pad_packed_sequence(packed, padding_value=9.0)
    np.testing.assert_array_equal(lengths.numpy(), [2, 4, 1])
    keep = np.arange(4)[:, None] < np.array([2, 4, 1])
    np.testing.assert_array_equal(padded.detach().numpy()[keep], x.detach().numpy()[keep])
    assert (padded.detach().numpy()[~keep] == 9.0).all()
    padded.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[..., 0], keep.astype(float))
    seqs = [bp.randn(n, 2) for n in (3, 1, 2)]
    for a, b in zip(unpack_sequence(pack_sequence(seqs, enforce_sorted=False)), seqs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(unpad_sequence(pad_sequence(seqs), [3, 1, 2]), seqs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(x, [2, 0, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match="total_length=2"):
        pad_packed_sequence(packed, total_length=2)


def test_packed_input_equals_per_sequence_runs() -> None:
    m = nn.LSTM(2, 3, bidirectional=True).double()
    seqs = [bp.tensor(RNG.standard_normal((n, 2))) for n in (2, 4, 3)]
    with bp.no_grad():
        out, (h, c) = m(pack_sequence(seqs, enforce_sorted=False))
        padded, _ = pad_packed_sequence(out)
    for i, s in enumerate(seqs):
        with bp.no_grad():
            o_i, (h_i, c_i) = m(s)
        np.testing.assert_allclose(padded.numpy()[: s.shape[0], i], o_i.numpy(), atol=1e-12)
        np.testing.assert_allclose(h.numpy()[:, i], h_i.numpy(), atol=1e-12)
        np.testing.assert_allclose(c.numpy()[:, i], c_i.numpy(), atol=1e-12)


# ---------------------------------------------------------------- torch cross-checks


def _copy(tm, bm) -> None:  # type: ignore[no-untyped-def]
    bm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _compare(torch, tm, bm, args_t, args_b, out_t, out_b, tol):  # type: ignore[no-untyped-def]
    """Outputs and states equal, then the gradients of one loss over all of them (parameters and inputs)."""
    flat_t, flat_b = [], []
    for a, b in zip(out_t, out_b):
        a, b = (list(a), list(b)) if isinstance(a, tuple) else ([a], [b])
        flat_t += a
        flat_b += b
    loss_t, loss_b = 0, 0
    for i, (a, b) in enumerate(zip(flat_t, flat_b)):
        assert tuple(b.shape) == tuple(a.shape)
        assert str(b.dtype) == str(a.dtype).removeprefix("torch.")
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=tol, rtol=tol)
        w = np.random.default_rng(i).standard_normal(tuple(a.shape)).astype(str(b.dtype))
        loss_t = loss_t + (a * torch.tensor(w)).sum()
        loss_b = loss_b + (b * bp.tensor(w)).sum()
    loss_t.backward()
    loss_b.backward()
    for (name, p), (name_b, q) in zip(tm.named_parameters(), bm.named_parameters()):
        assert name == name_b
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), atol=10 * tol, rtol=10 * tol, err_msg=name)
    for a, b in zip(args_t, args_b):
        for at, ab in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_allclose(ab.grad.numpy(), at.grad.numpy(), atol=10 * tol, rtol=10 * tol)


CONFIGS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"num_layers": 3, "batch_first": True},
    {"bias": False, "bidirectional": True, "batch_first": True},
]


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("config", range(len(CONFIGS)))
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_torch_float64(torch, mode: str, config: int, batched: bool, with_h0: bool) -> None:  # type: ignore[no-untyped-def]
    kw = CONFIGS[config]
    torch.manual_seed(config)
    tm = getattr(torch.nn, mode)(4, 5, **kw).double()
    bm = getattr(nn, mode)(4, 5, **kw).double()
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in bm.named_parameters()]
    _copy(tm, bm)
    shape = ((3, 6, 4) if kw.get("batch_first") else (6, 3, 4)) if batched else (6, 4)
    x = np.random.default_rng(config).standard_normal(shape)
    args_t = [torch.tensor(x, requires_grad=True)]
    args_b = [bp.tensor(x, requires_grad=True)]
    if with_h0:
        layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        hs = [
            np.random.default_rng(9 + i).standard_normal((layers, 3, 5) if batched else (layers, 5)) for i in range(2)
        ]
        if mode == "LSTM":
            args_t.append(tuple(torch.tensor(h, requires_grad=True) for h in hs))
            args_b.append(tuple(bp.tensor(h, requires_grad=True) for h in hs))
        else:
            args_t.append(torch.tensor(hs[0], requires_grad=True))
            args_b.append(bp.tensor(hs[0], requires_grad=True))
    _compare(torch, tm, bm, args_t, args_b, tm(*args_t), bm(*args_b), 1e-10)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_matches_torch_float32(torch, mode: str) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    tm, bm = getattr(torch.nn, mode)(4, 6, num_layers=2, bidirectional=True), getattr(nn, mode)(4, 6, 2)
    bm = getattr(nn, mode)(4, 6, num_layers=2, bidirectional=True)
    _copy(tm, bm)
    x = RNG.standard_normal((7, 3, 4)).astype(np.float32)
    args_t, args_b = [torch.tensor(x, requires_grad=True)], [bp.tensor(x, requires_grad=True)]
    _compare(torch, tm, bm, args_t, args_b, tm(*args_t), bm(*args_b), 2e-5)


def test_relu_rnn_and_lstm_projection_match_torch(torch) -> None:  # type: ignore[no-untyped-def]
    for make in (
        lambda lib: lib.nn.RNN(3, 5, num_layers=2, nonlinearity="relu", bidirectional=True),
        lambda lib: lib.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=True, batch_first=True),
    ):
        torch.manual_seed(1)
        tm, bm = make(torch).double(), make(bp).double()
        _copy(tm, bm)
        x = RNG.standard_normal((3, 4, 3))
        args_t, args_b = [torch.tensor(x, requires_grad=True)], [bp.tensor(x, requires_grad=True)]
        _compare(torch, tm, bm, args_t, args_b, tm(*args_t), bm(*args_b), 1e-10)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(torch, cls: str, batched: bool) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    tm, bm = getattr(torch.nn, cls)(3, 4).double(), getattr(nn, cls)(3, 4).double()
    _copy(tm, bm)
    x = RNG.standard_normal((2, 3) if batched else (3,))
    h = RNG.standard_normal((2, 4) if batched else (4,))
    if cls == "LSTMCell":
        args_t = [torch.tensor(x, requires_grad=True), (torch.tensor(h, requires_grad=True), torch.tensor(h * 2))]
        args_b = [bp.tensor(x, requires_grad=True), (bp.tensor(h, requires_grad=True), bp.tensor(h * 2))]
        args_t[1][1].requires_grad_(True)
        args_b[1][1].requires_grad_(True)
    else:
        args_t = [torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)]
        args_b = [bp.tensor(x, requires_grad=True), bp.tensor(h, requires_grad=True)]
    _compare(torch, tm, bm, args_t, args_b, [tm(*args_t)], [bm(*args_b)], 1e-12)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequences_match_torch(torch, mode: str, enforce_sorted: bool) -> None:  # type: ignore[no-untyped-def]
    tr = torch.nn.utils.rnn
    torch.manual_seed(2)
    kw = {"num_layers": 2, "bidirectional": True, "batch_first": True}
    tm, bm = getattr(torch.nn, mode)(3, 5, **kw).double(), getattr(nn, mode)(3, 5, **kw).double()
    _copy(tm, bm)
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    x = RNG.standard_normal((4, 5, 3))
    xt, xb = torch.tensor(x, requires_grad=True), bp.tensor(x, requires_grad=True)
    pt = tr.pack_padded_sequence(xt, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    pb = pack_padded_sequence(xb, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(pb.data.detach().numpy(), pt.data.detach().numpy())
    np.testing.assert_array_equal(pb.batch_sizes.numpy(), pt.batch_sizes.numpy())
    for a, b in ((pb.sorted_indices, pt.sorted_indices), (pb.unsorted_indices, pt.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    out_t, h_t = tm(pt)
    out_b, h_b = bm(pb)
    padded_t, len_t = tr.pad_packed_sequence(out_t, batch_first=True, padding_value=-2.0, total_length=6)
    padded_b, len_b = pad_packed_sequence(out_b, batch_first=True, padding_value=-2.0, total_length=6)
    np.testing.assert_array_equal(len_b.numpy(), len_t.numpy())
    assert len_b.dtype == np.int64
    _compare(torch, tm, bm, [xt], [xb], [padded_t, h_t], [padded_b, h_b], 1e-10)


def test_pad_sequence_matches_torch(torch) -> None:  # type: ignore[no-untyped-def]
    seqs = [RNG.standard_normal((n, 2)) for n in (2, 4, 3)]
    for batch_first in (False, True):
        for side in ("left", "right"):
            t = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first, 7.0, side)
            b = pad_sequence([bp.tensor(s) for s in seqs], batch_first, 7.0, side)
            np.testing.assert_array_equal(b.numpy(), t.numpy())


def test_rnn_module_import_paths() -> None:
    import backprop.nn.utils.rnn as rnn_utils

    assert bp.nn.utils.rnn is rnn_utils
    assert rnn_utils.pad_sequence is pad_sequence
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.LSTM(2, 2).flatten_parameters()
