"""Whole torch programs as a new user writes them (the tutorials' CNN, word-language-model
Transformer and LSTM tagger), run once with PyTorch and once with ``backprop`` standing in for
``torch``, from the same initial weights: the losses of every step and the final parameters agree.

Dropout is 0 and loaders do not shuffle, so nothing random differs; everything else (DataLoader,
schedulers, clipping, packed sequences, masks, ``.data`` initialisation idioms) is the real thing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop

real_torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")


def _copy_weights(ours, theirs) -> None:
    ours.load_state_dict({k: backprop.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


def _params_close(ours, theirs, rtol: float, skip: tuple[str, ...] = ()) -> None:
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if name in skip:
            continue
        np.testing.assert_allclose(mine[name].detach().numpy(), p.detach().numpy(), rtol=rtol, atol=rtol, err_msg=name)


# ------------------------------------------------------------------ a CNN with a DataLoader


def make_cnn(torch):
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(4)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(4, 8, 3, padding="same")
            self.dropout = nn.Dropout(0.0)
            self.fc1 = nn.Linear(8 * 3 * 3, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.bn1(self.conv1(x))))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)
            x = self.dropout(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    torch.manual_seed(0)
    return Net()


def train_cnn(torch, model, x_np, y_np):
    F = torch.nn.functional
    from_data = torch.utils.data
    ds = from_data.TensorDataset(torch.tensor(x_np), torch.tensor(y_np))
    loader = from_data.DataLoader(ds, batch_size=16, shuffle=False, drop_last=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, steps_per_epoch=len(loader), epochs=2)
    losses = []
    for _ in range(2):
        model.train()
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            loss = F.nll_loss(model(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        correct = (model(torch.tensor(x_np)).argmax(dim=1) == torch.tensor(y_np)).sum().item()
    return losses, correct


def test_cnn_with_dataloader_adamw_onecycle() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 1, 12, 12)).astype(np.float32)
    y = rng.integers(0, 10, 48)
    theirs, ours = make_cnn(real_torch), make_cnn(backprop)
    _copy_weights(ours, theirs)
    l_t, c_t = train_cnn(real_torch, theirs, x, y)
    l_b, c_b = train_cnn(backprop, ours, x, y)
    np.testing.assert_allclose(l_b, l_t, rtol=2e-4)
    assert c_b == c_t
    # conv1.bias feeds a BatchNorm, which removes it: its gradient is rounding noise, which Adam
    # scales up to full steps, so it drifts differently in any two libraries
    _params_close(ours, theirs, rtol=2e-3, skip=("conv1.bias",))
    for name in ("bn1.running_var",):  # (the running mean carries conv1.bias's drift)
        np.testing.assert_allclose(
            ours.state_dict()[name].numpy(), theirs.state_dict()[name].numpy(), rtol=1e-4, atol=1e-5
        )


# ------------------------------------------------------------------ the word-language-model Transformer


def make_transformer(torch, ntokens=30, d_model=16):
    nn = torch.nn

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, max_len=64):
            super().__init__()
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, 1, d_model)
            pe[:, 0, 0::2] = torch.sin(position * div_term)
            pe[:, 0, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe)

        def forward(self, x):
            return x + self.pe[: x.size(0)]

    class TransformerModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos_encoder = PositionalEncoding(d_model)
            layer = nn.TransformerEncoderLayer(d_model, 2, 32, dropout=0.0)
            self.transformer_encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.embedding = nn.Embedding(ntokens, d_model)
            self.linear = nn.Linear(d_model, ntokens)
            self.embedding.weight.data.uniform_(-0.1, 0.1)  # the tutorial's init_weights idiom
            self.linear.bias.data.zero_()

        def forward(self, src):
            src = self.pos_encoder(self.embedding(src) * math.sqrt(d_model))
            mask = nn.Transformer.generate_square_subsequent_mask(len(src))
            return self.linear(self.transformer_encoder(src, mask))

    torch.manual_seed(0)
    return TransformerModel()


def train_transformer(torch, model, data_np, ntokens=30):
    criterion = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1.0, gamma=0.95)
    data = torch.tensor(data_np)
    losses = []
    for _ in range(4):
        out = model(data[:-1])
        loss = criterion(out.view(-1, ntokens), data[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, sched.get_last_lr()[0]


def test_transformer_language_model_tutorial() -> None:
    data = np.random.default_rng(1).integers(0, 30, (12, 4))
    theirs, ours = make_transformer(real_torch), make_transformer(backprop)
    _copy_weights(ours, theirs)
    (l_t, lr_t), (l_b, lr_b) = train_transformer(real_torch, theirs, data), train_transformer(backprop, ours, data)
    np.testing.assert_allclose(l_b, l_t, rtol=1e-4)
    assert lr_b == pytest.approx(lr_t, rel=1e-12)
    _params_close(ours, theirs, rtol=1e-3)


# ------------------------------------------------------------------ an LSTM tagger on packed sequences


def make_tagger(torch):
    nn = torch.nn
    rnn = torch.nn.utils.rnn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8, padding_idx=0)
            self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=True, bidirectional=True)
            self.out = nn.Linear(24, 4)

        def forward(self, x, lengths):
            packed = rnn.pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
            o, (h, c) = self.lstm(packed)
            o, _ = rnn.pad_packed_sequence(o, batch_first=True)
            return self.out(o)

    torch.manual_seed(0)
    return Tagger()


def train_tagger(torch, model, seqs_np, tags_np):
    rnn = torch.nn.utils.rnn
    seqs = [torch.tensor(s) for s in seqs_np]
    lengths = torch.tensor([len(s) for s in seqs_np])
    x = rnn.pad_sequence(seqs, batch_first=True)
    tags = rnn.pad_sequence([torch.tensor(t) for t in tags_np], batch_first=True, padding_value=-100)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(4):
        logits = model(x, lengths)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), tags.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_lstm_tagger_on_packed_sequences() -> None:
    rng = np.random.default_rng(2)
    lengths = (5, 3, 7, 2)
    seqs = [rng.integers(1, 20, n) for n in lengths]
    tags = [rng.integers(0, 4, n) for n in lengths]
    theirs, ours = make_tagger(real_torch), make_tagger(backprop)
    _copy_weights(ours, theirs)
    np.testing.assert_allclose(
        train_tagger(backprop, ours, seqs, tags), train_tagger(real_torch, theirs, seqs, tags), rtol=1e-4
    )
    _params_close(ours, theirs, rtol=1e-3)
