"""Time-series and forecasting programs as torch users write them, each a function of the library module run
with torch 2.13 and with backprop from the same NumPy-made weights: a causal TCN whose weight-normed convolutions
load an old ``nn.utils.weight_norm`` checkpoint, per-series normalisation (RevIN, z-scores, ``correction=``) and
its wrong-dim slip, an LSTM forecaster fed ``torch.Tensor(float64_windows)`` through a DataLoader and trained with
clipping and Adam, ``from_numpy(X).type(torch.Tensor)``, and the 0.4-era tutorial with ``Variable`` and an
autoregressive rollout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")


def _np(x: Any) -> Any:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _fill(L: Any, module: Any, seed: int = 1) -> Any:
    """The same weights in both libraries: each parameter, in order, from one NumPy generator."""
    rng = np.random.default_rng(seed)
    with L.no_grad():
        for p in module.parameters():
            p.copy_(L.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    return module


X3 = np.random.default_rng(0).standard_normal((2, 3, 20)).astype(np.float32)


# ---------------------------------------------------------------- TCN with weight norm


def tcn(L: Any, wn: Any) -> Any:
    """Bai et al.'s temporal block stack: a dilated causal conv (padded both sides, chomped right), then one
    left-padded by ``F.pad``, each weight-normed, with a 1x1 residual where the channels change."""
    F = L.nn.functional

    class Chomp1d(L.nn.Module):
        def __init__(self, chomp: int) -> None:
            super().__init__()
            self.chomp = chomp

        def forward(self, x: Any) -> Any:
            return x[:, :, : -self.chomp].contiguous()

    class Block(L.nn.Module):
        def __init__(self, cin: int, cout: int, k: int, d: int) -> None:
            super().__init__()
            self.pad = (k - 1) * d
            self.conv1 = wn(L.nn.Conv1d(cin, cout, k, padding=self.pad, dilation=d))
            self.chomp = Chomp1d(self.pad)
            self.conv2 = wn(L.nn.Conv1d(cout, cout, k, dilation=d))
            self.down = L.nn.Conv1d(cin, cout, 1) if cin != cout else None

        def forward(self, x: Any) -> Any:
            y = F.relu(self.chomp(self.conv1(x)))
            y = F.relu(self.conv2(F.pad(y, (self.pad, 0))))
            return F.relu(y + (x if self.down is None else self.down(x)))

    return L.nn.Sequential(Block(3, 4, 3, 1), Block(4, 4, 3, 2), Block(4, 4, 3, 4))


def test_weight_norm_loads_an_old_weight_norm_checkpoint() -> None:
    """``parametrizations.weight_norm`` takes a state_dict saved with the deprecated ``nn.utils.weight_norm``
    (``conv1.weight_g``/``weight_v``), renaming the keys as torch's load hook does; it used to refuse them as
    missing and unexpected keys."""
    outs = []
    for L in (torch, bp):
        with pytest.warns(FutureWarning, match="is deprecated in favor of"):
            old = _fill(L, tcn(L, L.nn.utils.weight_norm))
        sd = old.state_dict()
        assert "0.conv1.weight_g" in sd and "0.conv1.weight_v" in sd
        new = tcn(L, L.nn.utils.parametrizations.weight_norm)
        result = new.load_state_dict(sd)
        assert list(result.missing_keys) == list(result.unexpected_keys) == []
        assert "0.conv1.parametrizations.weight.original0" in new.state_dict()
        x = L.tensor(X3)
        np.testing.assert_allclose(_np(new(x)), _np(old(x)), rtol=1e-6, atol=1e-7)
        outs.append(_np(new(x)))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- normalisation per series


SERIES = np.random.default_rng(2).standard_normal((4, 50)).astype(np.float32) * 3 + 1


def revin(L: Any, x: Any) -> tuple[Any, Any, Any]:
    """RevIN's instance normalisation: mean detached, the biased std over time with an eps."""
    mean = x.mean(dim=1, keepdim=True).detach()
    std = L.sqrt(L.var(x, dim=1, keepdim=True, unbiased=False) + 1e-5).detach()
    return (x - mean) / std, mean, std


def test_per_series_normalisation_matches_torch() -> None:
    """z-scores with keepdim, unbiased and ``correction=``, the legacy positional ``std(dim, unbiased, keepdim)``
    and ``std_mean``, and RevIN's normalise-denormalise round trip; then the slip of normalising a (series, time)
    batch over dim 2: torch's bare IndexError text (the kernel's message came back prefixed with the op's name and
    suffixed with its inputs and attrs)."""
    got, want = [], []
    for L, out in ((torch, want), (bp, got)):
        x = L.tensor(SERIES)
        z, mean, std = revin(L, x)
        out += [z, mean, std, z * std + mean]
        out += [(x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True), x.std(1, True, True), x.std(1, False)]
        out += [*L.std_mean(x, dim=1, keepdim=True, correction=0), *L.var_mean(x, 1, unbiased=True)]
        out += [x.var(dim=(0, 1), correction=2, keepdim=True), x.std(1, correction=0.5), L.std(x, False)]
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5, atol=1e-6)
    for op in ("mean", "std", "var", "logsumexp", "cumsum", "std_mean", "var_mean"):
        msgs = []
        for L in (torch, bp):
            with pytest.raises(IndexError) as e:
                getattr(L, op)(L.tensor(SERIES), 2)
            msgs.append(str(e.value))
        assert msgs[1] == msgs[0] == "Dimension out of range (expected to be in range of [-2, 1], but got 2)", op


# ---------------------------------------------------------------- windows and an LSTM forecaster


def make_windows(series: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding (window, horizon) pairs as NumPy arrays, the way a pandas pipeline hands them over (float64)."""
    xs = [series[i : i + window] for i in range(len(series) - window - horizon + 1)]
    ys = [series[i + window : i + window + horizon] for i in range(len(series) - window - horizon + 1)]
    return np.array(xs)[..., None], np.array(ys)


def lstm_forecaster(L: Any, steps: int = 3) -> list[Any]:
    """``torch.Tensor(X_train)`` from float64 windows, a TensorDataset/DataLoader, a 2-layer LSTM taking
    ``h_n[-1]`` to a linear head, MSE, clipping and Adam."""
    t = np.arange(60, dtype=np.float64)
    X, Y = make_windows(np.sin(t / 4) + 0.1 * np.cos(t), 12, 3)
    X_train, y_train = L.Tensor(X), L.Tensor(Y)
    loader = L.utils.data.DataLoader(L.utils.data.TensorDataset(X_train, y_train), batch_size=16)

    class Forecaster(L.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = L.nn.LSTM(1, 8, num_layers=2, batch_first=True, dropout=0.2)
            self.head = L.nn.Linear(8, 3)

        def forward(self, x: Any) -> Any:
            out, (h_n, _) = self.lstm(x)
            return self.head(h_n[-1]), out, h_n

    model = _fill(L, Forecaster()).eval()  # eval: no dropout between the layers
    opt = L.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        for xb, yb in loader:
            opt.zero_grad()
            pred, out, h_n = model(xb)
            loss = L.nn.functional.mse_loss(pred, yb)
            loss.backward()
            L.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    return [X_train, y_train, pred, out[:, -1], h_n[-1], L.tensor(losses), *[p.detach() for p in model.parameters()]]


def test_lstm_forecaster_from_float64_windows_matches_torch() -> None:
    """``torch.Tensor(float64_array)`` is float32, as torch's legacy constructor makes it, so the batches meet
    float32 weights (it kept float64 and the LSTM refused the batch); losses and parameters after Adam steps
    are torch's, and the last output step is ``h_n[-1]``."""
    want, got = lstm_forecaster(torch), lstm_forecaster(bp)
    assert str(got[0].dtype) == str(want[0].dtype)[6:] == "float32"
    assert tuple(got[0].shape) == tuple(want[0].shape) == (46, 12, 1)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=2e-5)
    np.testing.assert_array_equal(_np(got[3]), _np(got[4]))  # the top layer's last output is its h_n
    for L in (torch, bp):
        for a in (np.array([1, 2]), np.ones(2, np.float16), np.array([True])):
            assert str(L.Tensor(a).dtype).replace("torch.", "") == "float32"


def test_from_numpy_type_tensor_is_the_default_float_type() -> None:
    """The older tutorials' ``torch.from_numpy(X).type(torch.Tensor)``: float32 (the default tensor type), as
    torch's (it gave a tensor of dtype object); a Python or NumPy type is torch's ValueError."""
    X, _ = make_windows(np.sin(np.arange(30.0)), 8, 2)
    for L in (torch, bp):
        x = L.from_numpy(X).type(L.Tensor)
        assert str(x.dtype).replace("torch.", "") == "float32"
        np.testing.assert_allclose(_np(x), X.astype(np.float32))
        assert str(L.arange(3).type(L.Tensor).dtype).replace("torch.", "") == "float32"
        for t, name in ((int, "int"), (np.float32, "numpy.float32"), (L.nn.Parameter, "Parameter")):
            with pytest.raises(ValueError, match=f"^invalid type: '{name}'$"):
                x.type(t)


def old_tutorial_forecaster(L: Any) -> list[Any]:
    """The airline-passengers tutorial as written for torch 0.4: ``Variable`` (once with ``volatile=True``),
    ``FloatTensor`` windows, an LSTM whose ``hidden_cell`` lives on the module, one window per Adam step, then an
    autoregressive rollout appending ``model(seq).item()``."""
    series = L.FloatTensor(np.sin(np.arange(40) / 3.0)).view(-1)
    tw = 12

    class Net(L.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = L.nn.LSTM(1, 10)
            self.linear = L.nn.Linear(10, 1)
            self.hidden_cell = (L.zeros(1, 1, 10), L.zeros(1, 1, 10))

        def forward(self, seq: Any) -> Any:
            out, self.hidden_cell = self.lstm(seq.view(len(seq), 1, -1), self.hidden_cell)
            return self.linear(out.view(len(seq), -1))[-1]

    model = _fill(L, Net())
    opt = L.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(10):
        seq = L.autograd.Variable(series[i : i + tw])
        opt.zero_grad()
        model.hidden_cell = (L.zeros(1, 1, 10), L.zeros(1, 1, 10))
        loss = L.nn.MSELoss()(model(seq), series[i + tw : i + tw + 1])
        loss.backward()
        opt.step()
    inputs = series[-tw:].tolist()
    model.eval()
    with pytest.warns(UserWarning, match="^volatile was removed and now has no effect"):
        L.autograd.Variable(L.FloatTensor(inputs), volatile=True)
    for _ in range(5):
        with L.no_grad():
            inputs.append(model(L.FloatTensor(inputs[-tw:])).item())
    return [L.tensor(inputs), loss, *[p.detach() for p in model.parameters()]]


def test_old_tutorial_forecaster_matches_torch() -> None:
    """The rollout, the last loss and the parameters are torch's; ``Variable(..., volatile=True)`` warns that
    volatile was removed, as torch's (it was silent)."""
    want, got = old_tutorial_forecaster(torch), old_tutorial_forecaster(bp)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-4, atol=1e-6)
