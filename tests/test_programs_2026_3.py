"""Sequence, tabular/recommender and data-pipeline programs as torch users write them in 2025-26, run once with
torch and once with ``backprop`` standing in for ``torch`` (each program is a function of the module): values,
dtypes, shapes, printed reprs and exceptions (class and message) agree.

Covered: LSTM/GRU (bidirectional, stacked, ``batch_first``, ``proj_size``) on packed input with
``enforce_sorted=False``, ``unpad_sequence``/``unpack_sequence``, left padding, a BiLSTM-CRF (forward algorithm and
Viterbi), CTC, a Transformer forecaster with padding and causal masks, a causal dilated TCN, sliding windows with
``unfold``, seq2seq with teacher forcing; ``EmbeddingBag`` modes and errors, wide & deep, DLRM interactions,
factorisation machines, sparse matrix factorisation with ``SparseAdam``, ``one_hot``/``bucketize`` features,
``BatchNorm1d`` on tabular rows, imbalance losses, NDCG, ``unique``; datasets, samplers, collation and loaders
(workers included), ``DistributedSampler``, ``StackDataset``, ``random_split`` with fractions and ``save``/``load``.

Weights are copied from torch into backprop where a model is built (random streams are never torch's: README).
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")

pytestmark = pytest.mark.filterwarnings(
    "ignore:enable_nested_tensor is True:UserWarning",
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning",
)


def _np(x: Any) -> Any:
    return x.detach().cpu().numpy()


def _picture(x: Any) -> Any:
    """Tensors as (shape, dtype name, values, layout flags); containers item by item; other values as they are."""
    if isinstance(x, (backprop.Tensor, torch.Tensor)):
        if x.is_sparse:
            x = x.to_dense()
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), _np(x))
    if isinstance(x, dict):
        return {k: _picture(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_picture(v) for v in x]
    if isinstance(x, (backprop.Size, torch.Size)):
        return ("Size", tuple(x))
    return x


def _compare(ours: Any, theirs: Any, rtol: float, path: str) -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), (path, ours, theirs)
        for k in theirs:
            _compare(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (path, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _compare(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, tuple) and theirs and theirs[0] == "T":
        assert isinstance(ours, tuple) and ours[0] == "T", (path, ours)
        assert ours[1] == theirs[1], (path, "shape", ours[1], theirs[1])
        assert ours[2] == theirs[2], (path, "dtype", ours[2], theirs[2])
        a, b = ours[3], theirs[3]
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=path)
        else:
            np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(theirs, BaseException):  # torch's class (backprop's subclass it) and message
        assert isinstance(ours, type(theirs)), (path, ours, theirs)
        clean = str(ours).split(" at 0x")[0].replace("backprop.tensor.Tensor", "torch.Tensor")
        assert clean == str(theirs).split(" at 0x")[0], (path, str(ours), str(theirs))
    elif isinstance(theirs, float):
        assert isinstance(ours, float), (path, ours)
        assert math.isclose(ours, theirs, rel_tol=rtol, abs_tol=rtol) or (math.isnan(ours) and math.isnan(theirs))
    else:
        assert type(ours) is type(theirs) and ours == theirs, (path, ours, theirs)


def _run(program: Callable[[Any], Any], lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        backprop.manual_seed(0)
        try:
            return ("ok", _picture(program(lib)))
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return ("raises", e)


def _same(program: Callable[[Any], Any], rtol: float = 1e-5, message: bool = True) -> None:
    """The program gives torch's result under backprop; where torch raises, backprop raises torch's class (and
    message when ``message``)."""
    theirs = _run(program, torch)
    ours = _run(program, backprop)
    if theirs[0] == "raises":
        assert ours[0] == "raises", f"torch raises {theirs[1]!r}, backprop gives {ours[1]!r}"
        assert isinstance(ours[1], type(theirs[1])), (ours[1], theirs[1])
        if message:
            assert str(ours[1]) == str(theirs[1])
        return
    if ours[0] == "raises":
        raise ours[1]
    _compare(ours[1], theirs[1], rtol, "result")


class _Mirror:
    """Records torch modules' initial states in build order and replays them into backprop's modules."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []
        self.i = 0

    def __call__(self, lib: Any, module: Any) -> Any:
        if lib is torch:
            self.states.append({k: v.detach().clone() for k, v in module.state_dict().items()})
        else:
            state = self.states[self.i]
            self.i += 1
            module.load_state_dict({k: backprop.tensor(v.numpy()) for k, v in state.items()})
        return module


def _same_model(program: Callable[[Any, _Mirror], Any], rtol: float = 1e-5) -> None:
    """``_same`` for programs that build modules: ``mirror(lib, module)`` copies torch's initial weights over."""
    mirror = _Mirror()
    _same(lambda lib: program(lib, mirror), rtol)


# ---------------------------------------------------------------------------------------------- sequences
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_packed_bidirectional_stacked_rnn_unsorted(cell: str) -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        from_rnn = L.nn.utils.rnn
        kw = {"proj_size": 3} if cell == "LSTM" else {}
        rnn = mirror(L, getattr(L.nn, cell)(4, 5, num_layers=2, bidirectional=True, batch_first=True, **kw))
        seqs = [L.arange(n * 4, dtype=L.float32).reshape(n, 4).sin() for n in (3, 5, 2)]
        padded = from_rnn.pad_sequence(seqs, batch_first=True)
        lengths = L.tensor([3, 5, 2])
        packed = from_rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        out, hidden = rnn(packed)
        unpacked, out_lengths = from_rnn.pad_packed_sequence(out, batch_first=True, total_length=6)
        pieces = from_rnn.unpad_sequence(unpacked, out_lengths, batch_first=True)
        again = from_rnn.unpack_sequence(out)
        h = hidden[0] if cell == "LSTM" else hidden
        loss = unpacked.pow(2).sum() + h.sum()
        loss.backward()
        grads = {n: p.grad for n, p in rnn.named_parameters()}
        return {
            "batch_sizes": packed.batch_sizes,
            "sorted": packed.sorted_indices,
            "unsorted": packed.unsorted_indices,
            "unpacked": unpacked,
            "lengths": out_lengths,
            "pieces": pieces,
            "again": again,
            "hidden": hidden,
            "loss": loss,
            "grads": grads,
        }

    _same_model(program, rtol=1e-5)


def test_pack_sequence_left_padding_and_errors() -> None:
    def program(L: Any) -> Any:
        rnn = L.nn.utils.rnn
        seqs = [L.tensor([1, 2, 3]), L.tensor([4]), L.tensor([5, 6])]
        packed = rnn.pack_sequence(seqs, enforce_sorted=False)
        left = rnn.pad_sequence(seqs, batch_first=True, padding_value=-1, padding_side="left")
        right = rnn.pad_sequence(seqs, padding_value=0)
        out = {"data": packed.data, "bs": packed.batch_sizes, "left": left, "right": right}
        out["is_packed"] = isinstance(packed, rnn.PackedSequence)
        out["n_fields"] = len(packed)
        try:
            rnn.pack_sequence(seqs, enforce_sorted=True)
        except RuntimeError as e:
            out["unsorted_error"] = str(e)
        try:
            rnn.pack_padded_sequence(right, L.tensor([3, 0, 2]), enforce_sorted=False)
        except RuntimeError as e:
            out["zero_length_error"] = str(e)
        return out

    _same(program)


def test_bilstm_crf_forward_algorithm_and_viterbi() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn
        n_tags, start, stop = 5, 3, 4

        class CRF(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding(20, 6)
                self.lstm = nn.LSTM(6, 4, bidirectional=True, batch_first=True)
                self.fc = nn.Linear(8, n_tags)
                self.transitions = nn.Parameter(L.randn(n_tags, n_tags))

            def emissions(self, x: Any) -> Any:
                return self.fc(self.lstm(self.emb(x))[0])

            def log_partition(self, feats: Any, mask: Any) -> Any:
                alpha = L.full((feats.shape[0], n_tags), -10000.0)
                alpha[:, start] = 0.0
                for t in range(feats.shape[1]):
                    scores = alpha.unsqueeze(1) + self.transitions.unsqueeze(0) + feats[:, t].unsqueeze(2)
                    new = L.logsumexp(scores, dim=2)
                    m = mask[:, t].unsqueeze(1)
                    alpha = L.where(m, new, alpha)
                return L.logsumexp(alpha + self.transitions[stop], dim=1)

            def gold(self, feats: Any, tags: Any, mask: Any) -> Any:
                b = feats.shape[0]
                prev = L.full((b, 1), start, dtype=L.long)
                tags2 = L.cat([prev, tags], dim=1)
                trans = self.transitions[tags2[:, 1:], tags2[:, :-1]]
                emit = feats.gather(2, tags.unsqueeze(2)).squeeze(2)
                score = ((trans + emit) * mask).sum(1)
                last = tags2.gather(1, mask.long().sum(1, keepdim=True)).squeeze(1)
                return score + self.transitions[stop, last]

            def viterbi(self, feats: Any) -> Any:
                paths = []
                v = L.full((feats.shape[0], n_tags), -10000.0)
                v[:, start] = 0
                for t in range(feats.shape[1]):
                    best, idx = (v.unsqueeze(1) + self.transitions).max(dim=2)
                    paths.append(idx)
                    v = best + feats[:, t]
                v = v + self.transitions[stop]
                score, last = v.max(1)
                tags = [last]
                for idx in reversed(paths[1:]):
                    last = idx.gather(1, last.unsqueeze(1)).squeeze(1)
                    tags.append(last)
                return score, L.stack(tags[::-1], dim=1)

        model = mirror(L, CRF())
        x = L.tensor([[1, 5, 7, 2, 0], [3, 3, 9, 0, 0]])
        mask = x != 0
        tags = L.tensor([[0, 1, 2, 1, 0], [2, 2, 1, 0, 0]])
        feats = model.emissions(x)
        nll = (model.log_partition(feats, mask) - model.gold(feats, tags, mask)).mean()
        nll.backward()
        with L.no_grad():
            score, path = model.viterbi(feats)
        return {"nll": nll, "score": score, "path": path, "gT": model.transitions.grad, "gE": model.emb.weight.grad}

    _same_model(program, rtol=1e-4)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_with_tensor_and_tuple_lengths(reduction: str) -> None:
    def program(L: Any) -> Any:
        T, N, C = 12, 3, 6
        logits = L.linspace(-2, 2, T * N * C).reshape(T, N, C).sin().requires_grad_()
        log_probs = logits.log_softmax(2)
        targets = L.tensor([[1, 2, 2, 3], [4, 1, 0, 0], [5, 5, 5, 0]])
        in_lens = L.tensor([12, 10, 7])
        tgt_lens = L.tensor([4, 2, 3])
        ctc = L.nn.CTCLoss(blank=0, reduction=reduction, zero_infinity=True)
        loss = ctc(log_probs, targets, in_lens, tgt_lens)
        loss2 = L.nn.functional.ctc_loss(log_probs, targets, (12, 10, 7), (4, 2, 3), reduction=reduction)
        flat = L.cat([targets[0, :4], targets[1, :2], targets[2, :3]])
        loss3 = L.nn.functional.ctc_loss(log_probs, flat, in_lens, tgt_lens, reduction=reduction)
        loss.sum().backward()
        # an impossible alignment: 3 repeated labels need 5 frames
        inf = L.nn.functional.ctc_loss(log_probs[:3], targets, L.tensor([3, 3, 3]), tgt_lens, reduction="none")
        return {"loss": loss, "loss2": loss2, "loss3": loss3, "grad": logits.grad, "inf": inf}

    _same(program, rtol=1e-5)


def test_transformer_forecaster_with_masks() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn

        class Forecaster(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inp = nn.Linear(3, 16)
                layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True)
                self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
                self.head = nn.Linear(16, 1)

            def forward(self, x: Any, pad: Any) -> Any:
                causal = nn.Transformer.generate_square_subsequent_mask(x.size(1))
                h = self.enc(self.inp(x), mask=causal, src_key_padding_mask=pad, is_causal=True)
                return self.head(h).squeeze(-1)

        model = mirror(L, Forecaster())
        t = L.arange(2 * 8 * 3, dtype=L.float32).reshape(2, 8, 3)
        x = (t / 7).cos()
        pad = L.zeros(2, 8, dtype=L.bool)
        pad[1, 6:] = True
        opt = L.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        losses = []
        for _ in range(3):
            y = model(x, pad)
            loss = ((y - x[..., 0]) ** 2).masked_fill(pad, 0).sum() / (~pad).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        mask = nn.Transformer.generate_square_subsequent_mask(4)
        return {"losses": losses, "mask": mask, "pred": model(x, pad).detach()}

    _same_model(program, rtol=1e-4)


def test_tcn_with_causal_dilated_convolutions_and_weight_norm() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn, F = L.nn, L.nn.functional

        class Block(nn.Module):
            def __init__(self, cin: int, cout: int, dilation: int) -> None:
                super().__init__()
                self.pad = (3 - 1) * dilation
                self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(cin, cout, 3, dilation=dilation))
                self.down = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

            def forward(self, x: Any) -> Any:
                y = F.relu(self.conv(F.pad(x, (self.pad, 0))))
                return F.relu(y + self.down(x))

        tcn = mirror(L, nn.Sequential(Block(2, 4, 1), Block(4, 4, 2), Block(4, 4, 4)))
        x = L.linspace(0, 6, 2 * 2 * 20).reshape(2, 2, 20).sin()
        y = tcn(x)
        # causality: changing the future does not change the past
        x2 = x.clone()
        x2[..., 15:] = 5.0
        y2 = tcn(x2)
        y.mean().backward()
        names = sorted(n for n, _ in tcn.named_parameters())
        return {"y": y, "causal": L.equal(y[..., :15], y2[..., :15]), "names": names, "g": tcn[0].conv.bias.grad}

    _same_model(program, rtol=1e-5)


def test_sliding_windows_with_unfold_and_normalisation() -> None:
    def program(L: Any) -> Any:
        series = L.arange(30, dtype=L.float64).sin() * 10 + 3
        windows = series.unfold(0, 7, 2)
        x, y = windows[:, :-1], windows[:, -1]
        mu = x.mean(dim=1, keepdim=True)
        sd = x.std(dim=1, keepdim=True, unbiased=True)
        z = (x - mu) / (sd + 1e-8)
        multi = L.stack([series, series.cos()], dim=1)  # (T, features)
        mw = multi.unfold(0, 5, 5)  # (n, features, 5)
        f = L.nn.functional.unfold(series.reshape(1, 1, 1, 30), kernel_size=(1, 4), stride=(1, 3))
        stats = multi.std(dim=0, correction=0), multi.var_mean(dim=0)
        return {"windows": windows.shape, "z": z, "y": y, "mw": mw, "F": f, "stats": stats}

    _same(program, rtol=1e-12)


def test_seq2seq_with_attention_and_teacher_forcing() -> None:
    import random

    def program(L: Any, mirror: _Mirror) -> Any:
        nn, F = L.nn, L.nn.functional
        V, H, sos = 12, 8, 1

        class Seq2Seq(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding(V, H, padding_idx=0)
                self.enc = nn.GRU(H, H, batch_first=True, bidirectional=True)
                self.bridge = nn.Linear(2 * H, H)
                self.dec = nn.GRUCell(2 * H, H)
                self.attn = nn.Linear(H, 2 * H, bias=False)
                self.out = nn.Linear(3 * H, V)

            def forward(self, src: Any, tgt: Any, ratio: float) -> Any:
                enc, h = self.enc(self.emb(src))
                h = L.tanh(self.bridge(L.cat([h[0], h[1]], dim=1)))
                mask = src == 0
                tok = L.full((src.size(0),), sos, dtype=L.long)
                logits = []
                for t in range(tgt.size(1)):
                    scores = L.bmm(enc, self.attn(h).unsqueeze(2)).squeeze(2).masked_fill(mask, float("-inf"))
                    a = F.softmax(scores, dim=1)
                    ctx = L.bmm(a.unsqueeze(1), enc).squeeze(1)
                    h = self.dec(L.cat([self.emb(tok)[:, :H], ctx[:, H:], ctx[:, :H] * 0], dim=1)[:, : 2 * H], h)
                    step = self.out(L.cat([h, ctx], dim=1))
                    logits.append(step)
                    tok = tgt[:, t] if random.random() < ratio else step.argmax(1)
                return L.stack(logits, dim=1)

        random.seed(3)
        model = mirror(L, Seq2Seq())
        src = L.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
        tgt = L.tensor([[4, 5, 6, 2], [8, 7, 2, 0]])
        opt = L.optim.Adam(model.parameters(), lr=0.01)
        losses = []
        for _ in range(3):
            logits = model(src, tgt, 0.5)
            loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=0)
            opt.zero_grad()
            loss.backward()
            L.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        return losses

    _same_model(program, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- tabular / recsys
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_modes_padding_and_last_offset(mode: str) -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        bag = mirror(L, L.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=0))
        bag2 = mirror(L, L.nn.EmbeddingBag(10, 3, mode=mode, include_last_offset=True))
        flat = L.tensor([1, 2, 0, 4, 5, 0, 0, 9])
        offsets = L.tensor([0, 3, 3, 6])  # an empty bag and a bag of padding only
        a = bag(flat, offsets)
        b = bag2(flat, L.tensor([0, 3, 3, 6, 8]))
        c = bag(L.tensor([[1, 2, 0], [0, 0, 0], [7, 7, 8]]))
        (a.sum() + b.sum() + c.sum()).backward()
        return {"a": a, "b": b, "c": c, "g": bag.weight.grad, "g2": bag2.weight.grad, "repr": repr(bag)}

    _same_model(program)


def test_embedding_bag_per_sample_weights_and_errors() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        w = L.arange(30, dtype=L.float32).reshape(10, 3) / 10
        w.requires_grad_()
        idx = L.tensor([1, 2, 4, 5, 4, 3, 2, 9])
        offs = L.tensor([0, 4])
        psw = L.linspace(0.1, 0.8, 8).requires_grad_()
        y = F.embedding_bag(idx, w, offs, mode="sum", per_sample_weights=psw)
        y.pow(2).sum().backward()
        out: dict[str, Any] = {"y": y, "gw": w.grad, "gp": psw.grad}
        for name, call in {
            "psw_mean": lambda: F.embedding_bag(idx, w, offs, mode="mean", per_sample_weights=psw),
            "offsets_2d": lambda: F.embedding_bag(idx.reshape(2, 4), w, offs),  # (message names the class)
            "no_offsets": lambda: F.embedding_bag(idx, w),
            "float_idx": lambda: F.embedding_bag(idx.float(), w, offs),
        }.items():
            try:
                call()
                out[name] = "ok"
            except (ValueError, RuntimeError) as e:
                out[name] = (type(e).__name__, str(e).replace("backprop.tensor.Tensor", "torch.Tensor"))
        out["pretrained"] = L.nn.EmbeddingBag.from_pretrained(w.detach(), mode="max")(idx, offs)
        return out

    _same(program)


def test_wide_and_deep_training() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn

        class WideDeep(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.wide = nn.Linear(12, 1)
                self.embs = nn.ModuleList([nn.Embedding(n, 4) for n in (5, 7)])
                self.deep = nn.Sequential(
                    nn.Linear(8 + 3, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1)
                )

            def forward(self, cat: Any, num: Any) -> Any:
                onehot = L.cat([nn.functional.one_hot(cat[:, i], n) for i, n in enumerate((5, 7))], 1).float()
                emb = L.cat([e(cat[:, i]) for i, e in enumerate(self.embs)], dim=1)
                return (self.wide(onehot) + self.deep(L.cat([emb, num], 1))).squeeze(1)

        model = mirror(L, WideDeep())
        cat = L.stack([L.arange(16) % 5, (L.arange(16) * 3) % 7], dim=1)
        num = L.linspace(-1, 1, 48).reshape(16, 3).exp()
        y = (L.arange(16) % 3 == 0).float()
        crit = nn.BCEWithLogitsLoss(pos_weight=L.tensor(2.0))
        opt = L.optim.Adam(model.parameters(), lr=0.01)
        losses = []
        for _ in range(4):
            loss = crit(model(cat, num), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        with L.no_grad():
            p = L.sigmoid(model(cat, num))
        bn = model.deep[1]
        return {"losses": losses, "p": p, "rm": bn.running_mean, "rv": bn.running_var, "nbt": bn.num_batches_tracked}

    _same_model(program, rtol=1e-4)


def test_dlrm_dot_interactions_with_triu_indices() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn
        bottom = mirror(L, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)))
        tables = mirror(L, nn.ModuleList([nn.EmbeddingBag(6, 3, mode="sum") for _ in range(3)]))
        top = mirror(L, nn.Linear(3 + 6, 1))
        dense = L.linspace(-1, 1, 20).reshape(5, 4)
        idx = [L.tensor([0, 1, 2, 3, 4, 5, 1]), L.tensor([5, 4, 3, 2, 1]), L.tensor([0, 0, 0, 0, 0, 1, 2, 3])]
        offs = [L.tensor([0, 2, 3, 5, 6]), L.arange(5), L.tensor([0, 1, 3, 5, 7])]
        x = bottom(dense)
        feats = L.stack([x] + [t(i, o) for t, i, o in zip(tables, idx, offs)], dim=1)  # (B, 4, d)
        z = L.bmm(feats, feats.transpose(1, 2))
        li, lj = L.triu_indices(4, 4, offset=1)
        inter = z[:, li, lj]
        tri = L.tril_indices(4, 4, -1)
        logit = top(L.cat([x, inter], dim=1))
        logit.sum().backward()
        return {"inter": inter, "li": li, "tril": tri, "logit": logit, "g": tables[2].weight.grad}

    _same_model(program)


def test_factorisation_machine_and_sparse_matrix_factorisation() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn
        users = mirror(L, nn.Embedding(6, 4, sparse=True))
        items = mirror(L, nn.Embedding(5, 4, sparse=True))
        bias = mirror(L, nn.Linear(4, 1))
        u = L.tensor([0, 1, 2, 2, 5, 1])
        i = L.tensor([4, 3, 3, 0, 1, 3])
        r = L.tensor([5.0, 3.0, 4.0, 1.0, 2.0, 4.0])
        sparse_opt = L.optim.SparseAdam(list(users.parameters()) + list(items.parameters()), lr=0.05)
        dense_opt = L.optim.Adam(bias.parameters(), lr=0.05)
        losses = []
        for _ in range(3):
            eu, ei = users(u), items(i)
            v = L.stack([eu, ei], dim=1)  # FM over two fields
            pair = 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(1)
            pred = pair + bias(eu * ei).squeeze(1)
            loss = nn.functional.mse_loss(pred, r)
            sparse_opt.zero_grad()
            dense_opt.zero_grad()
            loss.backward()
            sparse_opt.step()
            dense_opt.step()
            losses.append(loss.item())
        # README "Where we differ": sparse=True gives a dense gradient here, so its layout is not compared;
        # its values (densified by _picture) and SparseAdam's lazy row updates are
        return {"losses": losses, "grad": users.weight.grad, "users": users.weight, "items": items.weight}

    _same_model(program, rtol=1e-4)


def test_feature_binning_one_hot_and_target_encoding() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        age = L.tensor([18.0, 25.0, 33.5, 47.0, 65.0, 80.0, 25.0, 41.0])
        edges = L.tensor([25.0, 40.0, 60.0])
        left = L.bucketize(age, edges)
        right = L.bucketize(age, edges, right=True)
        b32 = L.bucketize(age, edges, out_int32=True)
        ss = L.searchsorted(edges, age.reshape(2, 4).contiguous(), side="right")
        oh = F.one_hot(left)
        oh4 = F.one_hot(left, num_classes=6)
        y = L.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
        sums = L.zeros(4).scatter_add_(0, left, y)
        counts = L.bincount(left, minlength=4)
        enc = (sums + 0.5) / (counts + 1)
        wsum = L.bincount(left, weights=y)
        q = L.quantile(age, L.tensor([0.25, 0.5, 0.75]))
        hist = L.histc(age, bins=4, min=0, max=80)
        out: dict[str, Any] = {
            "left": left, "right": right, "b32": b32, "ss": ss, "oh": oh, "oh4": oh4,
            "enc": enc, "counts": counts, "wsum": wsum, "q": q, "hist": hist, "te": enc[left],
        }  # fmt: skip
        for name, call in {
            "oh_small": lambda: F.one_hot(left, num_classes=2),
            "oh_neg": lambda: F.one_hot(L.tensor([-1, 0])),
            "oh_float": lambda: F.one_hot(age),
            "bucket_2d": lambda: L.bucketize(age, edges.reshape(1, 3)),
        }.items():
            try:
                call()
                out[name] = "ok"
            except RuntimeError as e:
                out[name] = str(e)
        return out

    _same(program)


def test_batchnorm1d_on_tabular_features() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        bn = mirror(L, L.nn.BatchNorm1d(3, momentum=None))
        bn_seq = mirror(L, L.nn.BatchNorm1d(3, affine=False, track_running_stats=True))
        x = L.linspace(-3, 5, 24).reshape(8, 3) ** 2
        outs = [bn(x), bn(x * 2 + 1)]
        seq = bn_seq(x.reshape(2, 4, 3).transpose(1, 2))  # (N, C, L) input
        bn.eval()
        ev = bn(x[:2])
        single = None
        bn.train()
        try:
            bn(x[:1])
        except ValueError as e:
            single = str(e)
        return {
            "outs": outs, "seq": seq, "ev": ev, "rm": bn.running_mean, "rv": bn.running_var,
            "n": bn.num_batches_tracked, "single": single, "repr": repr(bn), "srv": bn_seq.running_var,
        }  # fmt: skip

    _same_model(program)


def test_imbalance_losses_pos_weight_and_focal() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        logits = L.linspace(-3, 3, 12).reshape(4, 3).requires_grad_()
        targets = L.tensor([[1.0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
        pw = L.tensor([1.0, 3.0, 0.5])
        bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw)
        bce_w = F.binary_cross_entropy_with_logits(logits, targets, weight=L.tensor([2.0, 1, 1]), reduction="sum")
        p = L.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        alpha_t = 0.25 * targets + 0.75 * (1 - targets)
        focal = (alpha_t * ce * (1 - p_t) ** 2).mean()
        cls = L.tensor([0, 1, 1, 2])
        counts = L.bincount(cls, minlength=3).float()
        w = counts.sum() / (3 * counts)
        wce = F.cross_entropy(logits, cls, weight=w, label_smoothing=0.1)
        (bce + bce_w + focal + wce).backward()
        try:
            F.binary_cross_entropy_with_logits(logits, targets[:, :2])
            shape_err = None
        except ValueError as e:
            shape_err = str(e)
        return {"bce": bce, "bce_w": bce_w, "focal": focal, "wce": wce, "g": logits.grad, "err": shape_err}

    _same(program)


def test_ndcg_and_ranking_metrics() -> None:
    def program(L: Any) -> Any:
        scores = L.tensor([[0.1, 0.9, 0.4, 0.3, 0.8], [0.5, 0.2, 0.7, 0.9, 0.1]])
        rel = L.tensor([[0, 3, 1, 0, 2], [1, 0, 2, 3, 0]], dtype=L.float32)
        k = 3
        _, top = scores.topk(k, dim=1)
        gains = (2 ** rel.gather(1, top) - 1) / L.log2(L.arange(2, k + 2, dtype=L.float32))
        ideal, _ = rel.sort(dim=1, descending=True)
        idcg = ((2 ** ideal[:, :k] - 1) / L.log2(L.arange(2, k + 2).float())).sum(1)
        ndcg = gains.sum(1) / idcg
        ranks = scores.argsort(dim=1, descending=True).argsort(dim=1) + 1
        mrr = (1.0 / ranks.float()).masked_fill(rel < 3, 0).sum(1)
        hit = (top == rel.argmax(1, keepdim=True)).any(1)
        recall = (rel.gather(1, top) > 0).sum(1) / (rel > 0).sum(1)
        return {"ndcg": ndcg, "ranks": ranks, "mrr": mrr, "hit": hit, "recall": recall, "top": top}

    _same(program)


def test_unique_counts_inverse_and_consecutive() -> None:
    def program(L: Any) -> Any:
        ids = L.tensor([5, 3, 5, 1, 3, 3, 9])
        u, inv, cnt = L.unique(ids, return_inverse=True, return_counts=True)
        u2, inv2 = ids.unique(sorted=True, return_inverse=True)
        rows = L.tensor([[1, 2], [3, 4], [1, 2], [0, 0]])
        ur, ir, cr = L.unique(rows, dim=0, return_inverse=True, return_counts=True)
        uc = L.unique_consecutive(L.tensor([1, 1, 2, 2, 3, 1, 1]), return_counts=True, return_inverse=True)
        remap = L.zeros(10, dtype=L.long)
        remap[u] = L.arange(len(u))
        freq = L.zeros(len(u)).index_add_(0, inv, L.ones(len(ids)))
        uf = L.unique(L.tensor([2.5, float("nan"), 1.0, 2.5]))
        return {"u": u, "inv": inv, "cnt": cnt, "u2": u2, "inv2": inv2, "ur": ur, "ir": ir, "cr": cr,
                "uc": list(uc), "remap": remap[ids], "freq": freq, "uf": uf, "repr": repr(u)}  # fmt: skip

    _same(program)


# ---------------------------------------------------------------------------------------------- data pipelines
Row = collections.namedtuple("Row", ["x", "y"])


def test_default_collate_on_dicts_namedtuples_and_numbers() -> None:
    def program(L: Any) -> Any:
        from_data = L.utils.data
        batch = [
            {"x": L.tensor([1.0, 2.0]), "n": 3, "f": 0.5, "name": "a", "np": np.array([1, 2]), "t": (1, 2.0)},
            {"x": L.tensor([3.0, 4.0]), "n": 4, "f": 1.5, "name": "b", "np": np.array([3, 4]), "t": (3, 4.0)},
        ]
        d = from_data.default_collate(batch)
        rows = from_data.default_collate([Row(L.tensor(1), 2.0), Row(L.tensor(3), 4.0)])
        out = {"d": d, "rows_type": type(rows).__name__, "rows": list(rows), "x_of": rows.x}
        out["conv"] = from_data.default_convert({"a": np.arange(3.0), "b": [np.int32(1)]})
        out["bools"] = from_data.default_collate([True, False])
        out["np_scalars"] = from_data.default_collate([np.float32(1.5), np.float32(2.5)])
        for name, bad in {"ragged": [L.ones(2), L.ones(3)], "lens": [[1, 2], [3]], "obj": [object(), object()]}.items():
            try:
                from_data.default_collate(bad)
                out[name] = "ok"
            except (RuntimeError, TypeError) as e:
                out[name] = (type(e).__name__, str(e).split(" at 0x")[0].replace("backprop", "torch"))
        return out

    _same(program)


def test_datasets_concat_subset_stack_chain_and_tensor_dataset() -> None:
    def program(L: Any) -> Any:
        D = L.utils.data
        a = D.TensorDataset(L.arange(6).reshape(3, 2), L.tensor([0, 1, 0]))
        b = D.TensorDataset(L.arange(10, 14).reshape(2, 2), L.tensor([1, 1]))
        cat = D.ConcatDataset([a, b])
        sub = D.Subset(cat, [4, 0, 2])
        stack_t = D.StackDataset(a, a)
        stack_d = D.StackDataset(feat=a, label=D.TensorDataset(L.tensor([7, 8, 9])))

        class Stream(D.IterableDataset):
            def __init__(self, n: int) -> None:
                self.n = n

            def __iter__(self):  # type: ignore[no-untyped-def]
                return iter(range(self.n))

        chain = D.ChainDataset([Stream(2), Stream(3)])
        out: dict[str, Any] = {
            "len": len(cat), "cum": cat.cumulative_sizes, "last": cat[-1], "sub": [sub[i] for i in range(3)],
            "sub_len": len(sub), "st": stack_t[1], "sd": stack_d[2], "sd_len": len(stack_d), "chain": list(chain),
            "tensors": a.tensors, "add": len(a + b),
            "sub_many": sub.__getitems__([0, 1]),
        }  # fmt: skip
        for name, call in {
            "mismatch": lambda: D.TensorDataset(L.ones(3), L.ones(2)),
            "stack_mismatch": lambda: D.StackDataset(a, b),
            "stack_mixed": lambda: D.StackDataset(a, x=b),
            "concat_iterable": lambda: D.ConcatDataset([a, Stream(2)]),
            "concat_empty": lambda: D.ConcatDataset([]),
            "oob": lambda: cat[5],
            "neg_oob": lambda: cat[-6],
        }.items():
            try:
                call()
                out[name] = "ok"
            except (AssertionError, ValueError, IndexError, TypeError) as e:
                out[name] = (type(e).__name__, str(e))
        return out

    _same(program)


def test_random_split_fractions_and_samplers() -> None:
    def program(L: Any) -> Any:
        D = L.utils.data
        ds = D.TensorDataset(L.arange(10))
        g = L.Generator().manual_seed(42)
        parts = D.random_split(ds, [0.7, 0.2, 0.1], generator=g)
        parts2 = D.random_split(range(7), [0.5, 0.5])
        # the permutations come from different random streams (README): sizes and coverage are compared
        seen = sorted(int(i) for p in parts for i in p.indices)
        bs = list(D.BatchSampler(D.SequentialSampler(range(10)), batch_size=4, drop_last=False))
        bs_drop = list(D.BatchSampler(range(10), batch_size=4, drop_last=True))
        srs = D.SubsetRandomSampler([3, 5, 7], generator=L.Generator().manual_seed(0))
        wrs = D.WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=5, replacement=True)
        out: dict[str, Any] = {
            "sizes": [len(p) for p in parts], "sizes2": [len(p) for p in parts2], "seen": seen,
            "bs": bs, "bs_drop": bs_drop, "len_bs": len(D.BatchSampler(range(10), 3, False)),
            "srs": sorted(srs), "srs_len": len(srs), "wrs": list(wrs),
            "rs_len": len(D.RandomSampler(range(4), num_samples=9)),
        }  # fmt: skip
        for name, call in {
            "bad_fractions": lambda: D.random_split(ds, [0.5, 0.6]),
            "bad_lengths": lambda: D.random_split(ds, [3, 3]),
            "bad_batch": lambda: D.BatchSampler(range(3), 0, False),
            "bad_drop": lambda: D.BatchSampler(range(3), 2, drop_last=1),
            "wrs_no_repl": lambda: (
                D.WeightedRandomSampler([1.0, 1.0], num_samples=3, replacement=False).__iter__().__next__()
            ),
            "rs_bad": lambda: D.RandomSampler(range(3), num_samples=0),
        }.items():
            try:
                call()
                out[name] = "ok"
            except (ValueError, RuntimeError) as e:
                out[name] = (type(e).__name__, str(e))
        return out

    _same(program)


def test_distributed_sampler_epochs_padding_and_drop_last() -> None:
    def program(L: Any) -> Any:
        D = L.utils.data
        ds = list(range(10))
        out: dict[str, Any] = {}
        for drop in (False, True):
            for rank in range(3):
                s = D.distributed.DistributedSampler(ds, num_replicas=3, rank=rank, shuffle=False, drop_last=drop)
                out[f"{drop}{rank}"] = (list(s), len(s), s.num_samples, s.total_size)
        s = D.DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=3)
        epochs = []
        for epoch in range(2):
            s.set_epoch(epoch)
            epochs.append(sorted(s))
        # shuffled orders differ (README: random streams); each epoch's share is compared as a set of 5 of 10
        out["shares"] = [len(set(e)) for e in epochs]
        s0 = D.DistributedSampler(ds, num_replicas=2, rank=0, shuffle=True, seed=3)
        s0.set_epoch(1)
        out["cover"] = sorted(set(s0) | set(epochs[1]))
        for name, call in {
            "bad_rank": lambda: D.DistributedSampler(ds, num_replicas=2, rank=2),
            "no_group": lambda: D.DistributedSampler(ds),
        }.items():
            try:
                call()
                out[name] = "ok"
            except (ValueError, RuntimeError) as e:
                out[name] = (type(e).__name__, str(e))
        loader = D.DataLoader(ds, batch_size=2, sampler=D.DistributedSampler(ds, 2, 0, shuffle=False))
        out["loader"] = list(loader)
        return out

    _same(program)


class _Shards:
    """An IterableDataset body that splits its range across workers with get_worker_info (torch's docs' recipe)."""

    def __init__(self, lib: Any, start: int, end: int) -> None:
        self.lib, self.start, self.end = lib, start, end

    def __iter__(self):  # type: ignore[no-untyped-def]
        info = self.lib.utils.data.get_worker_info()
        if info is None:
            lo, hi = self.start, self.end
        else:
            per = int(math.ceil((self.end - self.start) / float(info.num_workers)))
            lo = self.start + info.id * per
            hi = min(lo + per, self.end)
        return iter(self.lib.tensor([i, i * i]) for i in range(lo, hi))


def _worker_seed(worker_id: int) -> None:
    np.random.seed(1000 + worker_id)


def test_iterable_dataset_sharded_over_two_workers() -> None:
    def program(L: Any) -> Any:
        D = L.utils.data
        Shards = type("Shards", (_Shards, D.IterableDataset), {})
        ds = Shards(L, 3, 10)
        out: dict[str, Any] = {"main": list(D.DataLoader(ds, batch_size=None)), "info": D.get_worker_info()}
        loader = D.DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=_worker_seed)
        out["workers"] = list(loader)
        loader2 = D.DataLoader(ds, batch_size=2, num_workers=2, drop_last=True, persistent_workers=True)
        out["drop"] = [b for _ in range(2) for b in loader2]
        for name, call in {
            "len": lambda: len(D.DataLoader(ds)),
            "shuffle": lambda: D.DataLoader(ds, shuffle=True),
            "sampler": lambda: D.DataLoader(ds, sampler=[0, 1]),
            "prefetch": lambda: D.DataLoader(ds, prefetch_factor=2),
            "persistent": lambda: D.DataLoader(ds, persistent_workers=True),
            "workers_neg": lambda: D.DataLoader(ds, num_workers=-1),
        }.items():
            try:
                call()
                out[name] = "ok"
            except (TypeError, ValueError) as e:
                out[name] = (type(e).__name__, str(e))
        return out

    _same(program)


def _pad_collate(lib: Any) -> Callable[[list], Any]:
    def collate(batch: list) -> Any:
        seqs, labels = zip(*batch)
        lengths = lib.tensor([len(s) for s in seqs])
        padded = lib.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True)
        return padded, lengths, lib.tensor(labels)

    return collate


def test_dataloader_with_collate_fn_batch_sampler_and_map_dataset_workers() -> None:
    def program(L: Any) -> Any:
        D = L.utils.data

        class Reviews(D.Dataset):
            def __init__(self) -> None:
                self.data = [(L.arange(1, n + 1), n % 2) for n in (3, 1, 4, 2, 5, 2, 1)]

            def __len__(self) -> int:
                return len(self.data)

            def __getitem__(self, i: int) -> Any:
                return self.data[i]

        ds = Reviews()
        # bucket by length: a batch sampler of index lists
        order = sorted(range(len(ds)), key=lambda i: len(ds[i][0]))
        buckets = [order[i : i + 3] for i in range(0, len(order), 3)]
        out: dict[str, Any] = {}
        out["bucketed"] = list(D.DataLoader(ds, batch_sampler=buckets, collate_fn=_pad_collate(L)))
        out["plain"] = list(D.DataLoader(ds, batch_size=3, drop_last=True, collate_fn=_pad_collate(L)))
        out["len"] = (len(D.DataLoader(ds, batch_size=3)), len(D.DataLoader(ds, batch_size=3, drop_last=True)))
        tab = D.TensorDataset(L.arange(12.0).reshape(6, 2), L.arange(6))
        out["workers"] = list(D.DataLoader(tab, batch_size=4, num_workers=2))
        out["seq_sampler"] = list(D.DataLoader(tab, sampler=D.SequentialSampler(tab), batch_size=5))
        g = L.Generator().manual_seed(7)
        shuffled = [b[1] for b in D.DataLoader(tab, batch_size=2, shuffle=True, generator=g)]
        out["shuffled_cover"] = L.cat(shuffled).sort().values  # the order is a random stream's (README)
        for name, call in {
            "bs_and_batch_sampler": lambda: D.DataLoader(ds, batch_size=2, batch_sampler=buckets),
            "shuffle_and_sampler": lambda: D.DataLoader(ds, shuffle=True, sampler=[0]),
            "no_batch_drop_last": lambda: D.DataLoader(ds, batch_size=None, drop_last=True),
        }.items():
            try:
                call()
                out[name] = "ok"
            except ValueError as e:
                out[name] = str(e)
        return out

    _same(program)


def test_save_and_load_a_dataset_of_tensors(tmp_path: Any) -> None:
    def program(L: Any) -> Any:
        feats = L.linspace(0, 1, 12).reshape(4, 3)
        data = {
            "x": feats,
            "y": L.tensor([0, 1, 1, 0]),
            "meta": {"n": 4, "names": ["a", "b", "c"]},
            "rows": [feats[0], feats[1:3]],
        }
        path = tmp_path / f"{L.__name__}.pt"
        L.save(data, path)
        back = L.load(path)
        ds = L.utils.data.TensorDataset(back["x"], back["y"])
        mean, std = back["x"].mean(0), back["x"].std(0)
        norm = (back["x"] - mean) / std
        return {"back": back, "ds1": ds[1], "norm": norm}

    _same(program)


# ---------------------------------------------------------------------------------------------- slips and reprs
def _outcomes(calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Each call's result, or the exception it raised."""
    out: dict[str, Any] = {}
    for name, call in calls.items():
        try:
            out[name] = call()
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            out[name] = e
    return out


def test_rnn_shape_slips_raise_as_torch() -> None:
    def program(L: Any) -> Any:
        nn = L.nn
        lstm = nn.LSTM(4, 3, num_layers=2, batch_first=True)
        proj = nn.LSTM(4, 3, proj_size=2, bidirectional=True)
        gru = nn.GRU(4, 3)
        x = L.ones(2, 5, 4)
        return _outcomes(
            {
                "in_size": lambda: lstm(L.ones(2, 5, 3)),
                "h_shape": lambda: lstm(x, (L.zeros(1, 2, 3), L.zeros(2, 2, 3))),
                "c_shape": lambda: lstm(x, (L.zeros(2, 2, 3), L.zeros(2, 2, 4))),
                "proj_h": lambda: proj(L.ones(5, 2, 4), (L.zeros(2, 2, 3), L.zeros(2, 2, 3))),
                "gru_h": lambda: gru(L.ones(5, 2, 4), L.zeros(1, 3, 3)),
                "gru_tuple": lambda: gru(L.ones(5, 2, 4), (L.zeros(1, 2, 3),)),
                "4d": lambda: gru(L.ones(1, 5, 2, 4)),
                "unbatched_h": lambda: gru(L.ones(5, 4), L.zeros(1, 2, 3)),
                "proj_big": lambda: nn.LSTM(4, 3, proj_size=3),
                "proj_gru": lambda: nn.GRU(4, 3, proj_size=2),
                "dropout_warn": lambda: nn.GRU(4, 3, dropout=0.5).dropout,
                "bad_dropout": lambda: nn.LSTM(4, 3, dropout=1.5),
                "bad_nonlin": lambda: nn.RNN(4, 3, nonlinearity="gelu"),
                "zero_hidden": lambda: nn.LSTM(4, 0),
                "cell_in": lambda: nn.LSTMCell(4, 3)(L.ones(2, 5)),
                "cell_h": lambda: nn.GRUCell(4, 3)(L.ones(2, 4), L.ones(3, 3)),
                "cell_3d": lambda: nn.RNNCell(4, 3)(L.ones(1, 2, 4)),
                "int_input": lambda: gru(L.ones(5, 2, 4, dtype=L.long)),
            }
        )

    _same(program)


def test_packing_slips_raise_as_torch() -> None:
    def program(L: Any) -> Any:
        rnn = L.nn.utils.rnn
        x = L.ones(4, 3, 2)
        return _outcomes(
            {
                "unsorted": lambda: rnn.pack_padded_sequence(x, L.tensor([2, 4, 3])),
                # (a length past the padded steps: torch packs beyond the tensor, backprop raises a ValueError)
                "zero": lambda: rnn.pack_padded_sequence(x, [4, 3, 0]),
                "count": lambda: rnn.pack_padded_sequence(x, [4, 3]),
                "lengths_2d": lambda: rnn.pack_padded_sequence(x, L.tensor([[4, 3, 2]])),
                "total_short": lambda: rnn.pad_packed_sequence(rnn.pack_padded_sequence(x, [4, 3, 2]), total_length=3),
                "empty_list": lambda: rnn.pad_sequence([]),
                "ragged_feat": lambda: rnn.pad_sequence([L.ones(2, 3), L.ones(2, 4)]),
                "bad_side": lambda: rnn.pad_sequence([L.ones(2)], padding_side="middle"),
                "float_lengths": lambda: rnn.pack_padded_sequence(x, L.tensor([4.0, 3.0, 2.0])).batch_sizes,
            }
        )

    _same(program)


def test_rnn_and_packed_sequence_reprs_and_names() -> None:
    def program(L: Any) -> Any:
        nn = L.nn
        lstm = nn.LSTM(4, 6, num_layers=2, proj_size=3, bidirectional=True, batch_first=True, dropout=0.1)
        enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2, enable_nested_tensor=False
        )
        packed = nn.utils.rnn.pack_sequence([L.tensor([1.0, 2.0]), L.tensor([3.0])])
        return {
            "lstm": repr(lstm),
            "gru": repr(nn.GRU(3, 5, bias=False)),
            "rnn": repr(nn.RNN(3, 5, nonlinearity="relu")),
            "cells": [repr(nn.LSTMCell(2, 3)), repr(nn.GRUCell(2, 3, bias=False)), repr(nn.RNNCell(2, 3))],
            "enc": repr(enc),
            "bag": repr(nn.EmbeddingBag(5, 2, mode="max", padding_idx=1)),
            "emb": repr(nn.Embedding(5, 2, max_norm=1.0, sparse=True)),
            "names": list(lstm.state_dict()),
            "flat": lstm._flat_weights_names,
            "all_weights": [[tuple(w.shape) for w in ws] for ws in lstm.all_weights],
            "packed": repr(packed).replace("torch.", ""),
            "packed_fields": packed._fields,
            "packed_double": packed.double().data.dtype == L.float64,
            "packed_cuda": packed.is_cuda,
        }

    _same(program)


def test_ctc_slips_raise_as_torch() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        lp = L.randn(6, 2, 5).log_softmax(2)
        t = L.tensor([[1, 2], [3, 4]])
        return _outcomes(
            {
                "in_len_big": lambda: F.ctc_loss(lp, t, [7, 6], [2, 2]),
                "tgt_len_big": lambda: F.ctc_loss(lp, t, [6, 6], [3, 2]),
                "batch": lambda: F.ctc_loss(lp, t, [6, 6, 6], [2, 2, 2]),
                "lp_2d": lambda: F.ctc_loss(lp[:, 0], t[0], [6], [2]).shape,
                "blank_big": lambda: F.ctc_loss(lp, t, [6, 6], [2, 2], blank=5),
                "neg_len": lambda: F.ctc_loss(lp, t, [6, -1], [2, 2]),
                "neg_and_big": lambda: F.ctc_loss(lp, t, [7, -1], [2, 2]),
                "tgt_neg": lambda: F.ctc_loss(lp, t, [6, 6], [2, -1]),
                "rows": lambda: F.ctc_loss(lp, t[:1], [6, 6], [2, 2]),
                "tgt_batch": lambda: F.ctc_loss(lp, t, [6, 6], [2, 2, 2]),
                "flat": lambda: F.ctc_loss(lp, t.flatten(), [6, 6], [2, 3]),
                "targets_3d": lambda: F.ctc_loss(lp, t[None], [6, 6], [2, 2]),
                "blank_first": lambda: F.ctc_loss(lp, t, [6], [2, 2], blank=9),
            }
        )

    _same(program)


# ---------------------------------------------------------------------------------------------- more features
def test_groupby_aggregations_with_scatter_reduce_and_index_reduce() -> None:
    def program(L: Any) -> Any:
        store = L.tensor([0, 2, 1, 2, 0, 2, 3])
        sales = L.tensor([5.0, 1.0, 3.0, 7.0, 2.0, float("nan"), 4.0])
        clean = L.nan_to_num(sales, nan=0.0)
        out: dict[str, Any] = {}
        for how in ("sum", "prod", "mean", "amax", "amin"):
            for inc in (True, False):
                out[f"{how}{inc}"] = L.zeros(5).scatter_reduce(0, store, clean, reduce=how, include_self=inc)
        out["index_reduce"] = L.ones(5).index_reduce_(0, store, clean, "mean", include_self=False)
        out["nanmean"] = sales.nanmean()
        out["nansum"] = L.nansum(sales)
        out["isnan"] = L.isnan(sales).nonzero().squeeze(1)
        out["filled"] = L.where(L.isnan(sales), sales.nanmedian(), sales)
        out["isin"] = L.isin(store, L.tensor([2, 3]))
        out["isin_inv"] = L.isin(store, L.tensor([2, 3]), invert=True)
        out["masked"] = L.masked_select(clean, store == 2)
        out["argwhere"] = L.argwhere(clean.reshape(7, 1) > 2)
        cm, ci = L.cummax(clean, dim=0)
        out["cummax"] = (cm, ci)
        out["cumsum_int"] = L.cumsum(store, 0)
        out["counts"] = L.bincount(store)
        vals, idx = L.sort(clean, stable=True, descending=True)
        out["sorted"] = (vals, idx)
        out["rank"] = L.argsort(L.argsort(clean)) + 1
        out["kth"] = L.kthvalue(clean, 3)
        out["mode"] = L.mode(store)
        return out

    _same(program)


def test_time_series_features_and_rolling_windows() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        t = L.arange(24, dtype=L.float32)
        y = 10 + 0.5 * t + 3 * L.sin(2 * math.pi * t / 12)
        lag1 = L.roll(y, 1)
        lag1[0] = float("nan")
        diff = L.diff(y)
        diff2 = L.diff(y, n=2, prepend=y[:1])
        roll_mean = F.avg_pool1d(y.view(1, 1, -1), kernel_size=4, stride=1)
        roll_conv = F.conv1d(F.pad(y.view(1, 1, -1), (3, 0), mode="replicate"), L.ones(1, 1, 4) / 4)
        ema = [y[0]]
        for v in y[1:]:
            ema.append(0.3 * v + 0.7 * ema[-1])
        up = F.interpolate(y.view(1, 1, -1), scale_factor=2, mode="linear", align_corners=False)
        up_ac = F.interpolate(y.view(1, 1, -1), size=30, mode="linear", align_corners=True)
        pct = (y[1:] - y[:-1]) / y[:-1]
        z = (y - y.mean()) / y.std()
        mm = (y - y.min()) / (y.max() - y.min())
        cal = L.stack([L.sin(2 * math.pi * (t % 12) / 12), L.cos(2 * math.pi * (t % 12) / 12)], -1)
        return {
            "lag1": lag1, "diff": diff, "diff2": diff2, "roll_mean": roll_mean, "roll_conv": roll_conv,
            "ema": L.stack(ema), "up": up, "up_ac": up_ac, "pct": pct, "z": z, "mm": mm, "cal": cal,
            "trapz": L.trapezoid(y, t), "cumtrapz": L.cumulative_trapezoid(y, dx=0.5),
        }  # fmt: skip

    _same(program, rtol=1e-5)


def test_two_tower_retrieval_with_in_batch_negatives() -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn, F = L.nn, L.nn.functional
        user_tower = mirror(L, nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8), nn.GELU(), nn.LayerNorm(8)))
        item_tower = mirror(L, nn.Sequential(nn.EmbeddingBag(20, 8, mode="mean"), nn.Linear(8, 8)))
        opt = L.optim.Adam(list(user_tower.parameters()) + list(item_tower.parameters()), lr=0.01)
        users = L.tensor([1, 3, 5, 7])
        items = L.tensor([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
        losses = []
        for _ in range(3):
            u = F.normalize(user_tower(users), dim=-1)
            v = F.normalize(item_tower[1](item_tower[0](items, L.tensor([0, 3, 6, 9]))), dim=-1)
            logits = u @ v.T / 0.07
            loss = F.cross_entropy(logits, L.arange(4))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        with L.no_grad():
            sims = F.cosine_similarity(u.unsqueeze(1), v.unsqueeze(0), dim=-1)
            dist = L.cdist(u, v)
            top = sims.topk(2, dim=1)
            recall = (top.indices == L.arange(4).unsqueeze(1)).any(1).float().mean()
            scores = L.einsum("bd,nd->bn", u, v)
        return {"losses": losses, "sims": sims, "dist": dist, "top": top.values, "recall": recall, "scores": scores}

    _same_model(program, rtol=1e-4)


def test_hashing_trick_and_integer_feature_crosses() -> None:
    def program(L: Any) -> Any:
        user = L.tensor([123456789, 42, 987654321, 7], dtype=L.int64)
        item = L.tensor([11, 22, 33, 44], dtype=L.int64)
        buckets = 1000
        h1 = L.remainder(user * 2654435761, buckets)
        cross = L.bitwise_xor(user, item << 16) % buckets
        fmod = L.fmod(user - 10**9, buckets)
        floor = L.div(user, 7, rounding_mode="floor")
        trunc = L.div(-user, 7, rounding_mode="trunc")
        true = user / 7
        i32 = (user % 97).to(L.int32)
        mixed = i32 + L.tensor(1, dtype=L.int64)
        u8 = L.tensor([250, 10], dtype=L.uint8) + 10
        return {"h1": h1, "cross": cross, "fmod": fmod, "floor": floor, "trunc": trunc, "true": true,
                "i32": i32, "mixed": mixed, "u8": u8, "fdiv": user // 7, "neg_mod": (-user) % 1000}  # fmt: skip

    _same(program)


def test_classification_metrics_auc_and_confusion_matrix() -> None:
    def program(L: Any) -> Any:
        scores = L.tensor([0.9, 0.8, 0.8, 0.4, 0.35, 0.3, 0.8, 0.1])
        labels = L.tensor([1, 1, 0, 1, 0, 0, 1, 0])
        order = L.argsort(scores, descending=True, stable=True)
        tps = L.cumsum(labels[order], 0)
        fps = L.cumsum(1 - labels[order], 0)
        tpr = L.cat([L.zeros(1), tps / tps[-1]])
        fpr = L.cat([L.zeros(1), fps / fps[-1]])
        auc = L.trapezoid(tpr, fpr)
        # rank-based AUC with ties: average ranks from unique's inverse
        uniq, inv, cnt = L.unique(scores, return_inverse=True, return_counts=True)
        first = L.cumsum(cnt, 0) - cnt + 1
        avg_rank = (first + (cnt - 1) / 2.0)[inv]
        npos = labels.sum()
        nneg = len(labels) - npos
        auc_rank = (avg_rank[labels == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)
        preds = (scores > 0.5).long()
        cm = L.bincount(labels * 2 + preds, minlength=4).reshape(2, 2)
        precision = cm[1, 1] / cm[:, 1].sum()
        f1 = 2 * cm[1, 1] / (2 * cm[1, 1] + cm[0, 1] + cm[1, 0])
        multi = L.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
        y = L.tensor([1, 2, 2, 0])
        top2 = (multi.topk(2, dim=1).indices == y[:, None]).any(1).float().mean()
        acc = (multi.argmax(1) == y).float().mean()
        return {"auc": auc, "auc_rank": auc_rank, "cm": cm, "precision": precision, "f1": f1, "top2": top2,
                "acc": acc, "tpr": tpr, "avg_rank": avg_rank}  # fmt: skip

    _same(program)


def test_missing_value_imputation_and_robust_scaling() -> None:
    def program(L: Any) -> Any:
        nan = float("nan")
        X = L.tensor([[1.0, nan, 3.0], [4.0, 5.0, nan], [nan, 8.0, 9.0], [10.0, 11.0, 12.0]], dtype=L.float64)
        mask = L.isnan(X)
        col_mean = L.nanmean(X, dim=0)
        col_med = L.nanmedian(X, dim=0)
        filled = L.where(mask, col_mean.expand_as(X), X)
        q = L.nanquantile(X, L.tensor([0.25, 0.75], dtype=L.float64), dim=0)
        robust = (filled - col_med.values) / (q[1] - q[0])
        clipped = L.clamp(robust, min=-1.0, max=1.0)
        lo, hi = L.tensor([0.0, 0.0, 5.0], dtype=L.float64), L.tensor([5.0, 6.0, 10.0], dtype=L.float64)
        clip_cols = L.clamp(filled, lo, hi)
        indicator = L.cat([filled, mask.to(L.float64)], dim=1)
        std, mean = L.std_mean(filled, dim=0, correction=0)
        log1p = L.log1p(filled.abs()) * filled.sign()
        return {"col_mean": col_mean, "col_med": col_med, "q": q, "robust": robust, "clipped": clipped,
                "clip_cols": clip_cols, "indicator": indicator, "std": std, "mean": mean, "log1p": log1p,
                "allnan": L.nanmean(L.full((2,), nan)), "count": (~mask).sum(0)}  # fmt: skip

    _same(program, rtol=1e-12)


def test_lstm_autoencoder_anomaly_scores_and_state_dict_round_trip(tmp_path: Any) -> None:
    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn

        class AE(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.enc = nn.LSTM(2, 6, batch_first=True)
                self.dec = nn.LSTM(6, 6, batch_first=True)
                self.out = nn.Linear(6, 2)

            def forward(self, x: Any) -> Any:
                _, (h, _) = self.enc(x)
                z = h[-1].unsqueeze(1).repeat(1, x.size(1), 1)
                y, _ = self.dec(z)
                return self.out(y)

        model = mirror(L, AE())
        t = L.linspace(0, 4 * math.pi, 16)
        x = L.stack([L.stack([L.sin(t + k), L.cos(t * 0.5 + k)], -1) for k in range(3)])
        x[2, 10] = 3.0  # an anomaly
        opt = L.optim.RMSprop(model.parameters(), lr=0.01)
        for _ in range(3):
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with L.no_grad():
            err = ((model(x) - x) ** 2).mean(-1)
        path = tmp_path / f"{L.__name__}.pt"
        L.save(model.state_dict(), path)
        again = AE()
        missing = again.load_state_dict(L.load(path, weights_only=True), strict=True)
        same = all(L.equal(a, b) for a, b in zip(again.parameters(), model.parameters()))
        thresh = err.mean() + 2 * err.std()
        return {"err": err, "flags": (err > thresh).nonzero(), "same": same, "missing": list(missing)}

    _same_model(program, rtol=1e-4)


def test_tabular_and_recsys_slips_raise_as_torch() -> None:
    def program(L: Any) -> Any:
        F = L.nn.functional
        w = L.arange(15.0).reshape(5, 3)
        x, t = L.zeros(2, 3), L.tensor([0, 1])
        return _outcomes(
            {
                "ce_batch": lambda: F.cross_entropy(x, L.tensor([0, 1, 1])),
                "ce_3d_batch": lambda: F.cross_entropy(L.zeros(2, 3, 4), L.zeros(3, 4, dtype=L.long)),
                "ce_3d_size": lambda: F.cross_entropy(L.zeros(2, 3, 4), L.zeros(2, 5, dtype=L.long)),
                "ce_1d": lambda: F.cross_entropy(L.zeros(3), t),
                "nll_batch": lambda: F.nll_loss(x, L.tensor([0, 1, 1])),
                "ce_weight": lambda: F.cross_entropy(x, t, weight=L.ones(2)),
                "nll_weight": lambda: F.nll_loss(x, t, weight=L.ones(4)),
                "ce_weight_3d": lambda: F.cross_entropy(
                    L.zeros(2, 3, 4), L.zeros(2, 4, dtype=L.long), weight=L.ones(2)
                ),
                "bce_range": lambda: F.binary_cross_entropy(L.tensor([1.5]), L.tensor([1.0])),
                "bce_size": lambda: F.binary_cross_entropy(L.tensor([0.5, 0.2]), L.tensor([[1.0, 0.0]])),
                "psw_shape": lambda: F.embedding_bag(
                    L.tensor([1, 2, 3]), w, L.tensor([0]), per_sample_weights=L.ones(2)
                ),
                "emb_padding": lambda: L.nn.Embedding(5, 3, padding_idx=-6),
                "emb_float_ids": lambda: F.embedding(L.tensor([1.0]), w),
                "emb_int16_ids": lambda: F.embedding(L.tensor([1], dtype=L.int16), w),
                "bn_4d": lambda: L.nn.BatchNorm1d(3)(L.ones(2, 3, 4, 5)),
                "bn_2d_input": lambda: L.nn.BatchNorm2d(3)(L.ones(3, 4)),
                "bn_features": lambda: L.nn.BatchNorm1d(3)(L.ones(2, 4)),
                "bn_weight": lambda: F.batch_norm(L.ones(2, 3), L.zeros(3), L.ones(3), weight=L.ones(4)),
                "bmm_2d": lambda: L.bmm(L.ones(3, 4), L.ones(4, 5)),
                "bmm_batch2": lambda: L.bmm(L.ones(2, 3, 4), L.ones(4, 5)),
                "bmm_sizes": lambda: L.bmm(L.ones(2, 3, 4), L.ones(3, 4, 5)),
                "topk": lambda: L.tensor([1.0, 2.0]).topk(3),
                "linear": lambda: L.nn.Linear(4, 1)(L.ones(1, 8)),
                "linear_3d": lambda: L.nn.functional.linear(L.ones(2, 3, 8), L.ones(5, 4)),
                "linear_1d": lambda: L.nn.functional.linear(L.ones(8), L.ones(5, 4)),
                "mha_kpm": lambda: L.nn.MultiheadAttention(4, 2)(
                    L.ones(3, 2, 4), L.ones(3, 2, 4), L.ones(3, 2, 4), key_padding_mask=L.zeros(3, 2, dtype=L.bool)
                ),
                "mha_mask": lambda: L.nn.MultiheadAttention(4, 2)(
                    L.ones(3, 2, 4), L.ones(3, 2, 4), L.ones(3, 2, 4), attn_mask=L.zeros(2, 3, dtype=L.bool)
                ),
                "rnn_empty": lambda: L.nn.LSTM(3, 2)(L.ones(0, 2, 3)),
                "pad_broadcast": lambda: L.nn.utils.rnn.pad_sequence([L.ones(2, 3), L.ones(1, 1)]),
                "pad_cast": lambda: L.nn.utils.rnn.pad_sequence([L.tensor([1, 2]), L.tensor([2.5])]),
                "pad_mismatch": lambda: L.nn.utils.rnn.pad_sequence([L.ones(2, 3), L.ones(1, 3, 2)]),
                "pad_extra_dim": lambda: L.nn.utils.rnn.pad_sequence([L.ones(2, 3, 1), L.ones(1, 3)]),
            }
        )

    _same(program)


def test_power_average_pooling_over_silent_windows() -> None:
    """A TCN head pools |activations| with LPPool1d after ReLU: windows of zeros get gradient 0 as torch (its
    ``sign * relu`` composition selects rather than multiplies the infinite slope of ``pow(1/p)`` at 0), and a
    rounded or signed feature passes a zero gradient even under an infinite one."""

    def program(L: Any, mirror: _Mirror) -> Any:
        nn = L.nn
        net = mirror(L, nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.LPPool1d(2, 3), nn.Flatten(), nn.Linear(8, 1)))
        x = L.tensor([[[-5.0, -4.0, -3.0, -2.0, 1.0, 2.0, 3.0, -1.0, 0.0, 0.5, 0.25, 1.5, 2.0]]], requires_grad=True)
        with L.no_grad():
            net[0].weight.copy_(L.tensor([[[1.0, 1.0]], [[-1.0, 0.5]]]))
            net[0].bias.zero_()
        y = net(x)
        y.sum().backward()
        pooled = L.nn.functional.lp_pool2d(L.relu(x[..., :12].reshape(1, 1, 3, 4)), 3, 2)
        z = L.tensor([0.0, 1.5, -2.0], requires_grad=True)
        inf = L.full((3,), float("inf"))
        grads = [L.autograd.grad(f(z), z, inf)[0] for f in (L.sign, L.round, L.floor, L.ceil, L.trunc)]
        return {"y": y, "gx": x.grad, "gw": net[0].weight.grad, "pooled": pooled, "zero_grads": grads}

    _same_model(program)


@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
def test_sparse_interaction_matrix_for_a_batch_of_users() -> None:
    """An implicit-feedback recommender keeps user-item interactions in a COO matrix, takes a batch's rows with
    ``index_select``, propagates item embeddings through it and normalises by degree."""

    def program(L: Any) -> Any:
        users = L.tensor([2, 0, 0, 1, 2, 2])
        items = L.tensor([1, 3, 1, 0, 2, 3])
        clicks = L.tensor([1.0, 2.0, 3.0, 4.0, 1.0, 1.0])
        R = L.sparse_coo_tensor(L.stack([users, items]), clicks, (3, 4))
        batch = R.index_select(0, L.tensor([2, 0, 0]))
        cols = R.coalesce().index_select(1, L.tensor([1, 1, 3]))
        item_emb = L.arange(8.0).reshape(4, 2).requires_grad_()
        deg = L.sparse.sum(batch, dim=1).to_dense().clamp(min=1)
        user_vec = L.sparse.mm(batch, item_emb) / deg.unsqueeze(1)
        user_vec.pow(2).sum().backward()
        top = L.index_select(R, 0, L.tensor([1])).to_dense()
        return {
            "indices": batch._indices(), "values": batch._values(), "coalesced": batch.is_coalesced(),
            "shape": tuple(batch.shape), "cols": cols.to_dense(), "cols_nnz": cols._nnz(), "user_vec": user_vec,
            "grad": item_emb.grad, "top": top,
            "bad": _outcomes({"oob": lambda: R.index_select(0, L.tensor([3])),
                              "dim": lambda: R.index_select(-3, L.tensor([0]))}),
        }  # fmt: skip

    _same(program)


def test_reduction_split_and_fill_slips_raise_as_torch() -> None:
    def program(L: Any) -> Any:
        counts = L.tensor([3, 0, 5])
        return _outcomes(
            {
                "mean_int": lambda: counts.mean(),
                "mean_bool": lambda: (counts > 0).mean(),
                "mean_int_dtype": lambda: counts.mean(dtype=L.int32),
                "mean_dtype_ok": lambda: counts.mean(dtype=L.float64),
                "nanmean_int": lambda: counts.nanmean(),
                # the attention-mask slip of mixed precision: -1e9 does not fit float16
                "mask_half": lambda: L.zeros(2, 3, dtype=L.float16).masked_fill(L.tensor([True, False, True]), -1e9),
                "mask_half_inf": lambda: L.zeros(3, dtype=L.float16).masked_fill(
                    L.tensor([True, False, True]), -math.inf
                ),
                "mask_bf16": lambda: (
                    L.zeros(3, dtype=L.bfloat16).masked_fill(L.tensor([True, False, True]), -1e9).float()
                ),
                "full_half": lambda: L.full((2,), 70000.0, dtype=L.float16),
                "fill_half": lambda: L.zeros(2, dtype=L.float16).fill_(-1e5),
                "clamp_half": lambda: L.zeros(2, dtype=L.float16).clamp(min=-1e9),
                "index_fill_half": lambda: L.zeros(2, dtype=L.float16).index_fill(0, L.tensor([0]), 1e9),
                "split": lambda: L.arange(5).split([2, 2]),
                "split_neg_dim": lambda: L.arange(6).reshape(2, 3).split([1, 1], dim=-1),
            }
        )

    _same(program)


def test_loader_warnings_for_pinning_and_too_many_workers() -> None:
    """``pin_memory=True`` without an accelerator and more workers than usable CPUs warn as torch's loader does
    (both are copied from notebooks written on GPU servers)."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def program(L: Any) -> Any:
        D = L.utils.data
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loader = D.DataLoader(D.TensorDataset(L.arange(4.0)), batch_size=2, num_workers=cpus + 1)
            batches = list(D.DataLoader(D.TensorDataset(L.arange(4.0)), batch_size=2, pin_memory=True))
        accelerator = L.accelerator.is_available()
        texts = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        # (with an accelerator torch does not warn about pinning: neither do we)
        return {"texts": [t for t in texts if accelerator is False or "pin_memory" not in t],
                "batches": batches, "workers": loader.num_workers}  # fmt: skip

    _same(program)
