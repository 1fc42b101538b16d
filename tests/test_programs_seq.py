"""Sequence / NLP training programs as a PyTorch user writes them, run once with torch and once with
``backprop`` standing in for ``torch`` (the same code, the library passed in), from the same initial weights:
losses, gradient norms, parameters, decoded tokens, state_dict keys and reprs agree.

Covered: word-level LMs (LSTM/GRU/RNN, batch_first both ways, bidirectional, ``proj_size``, weight tying,
truncated BPTT with detached hidden states, ``flatten_parameters``), packed sequences (``pack_sequence`` /
``pack_padded_sequence`` with ``enforce_sorted=False``, ``pad_packed_sequence(total_length=...)``, manual
sort / argsort un-sort), ``Embedding`` (``padding_idx``, ``max_norm``) and ``EmbeddingBag`` (offsets,
``per_sample_weights``), RNN cells, ``nn.Transformer`` seq2seq with padding and causal masks and greedy
decoding, ``MultiheadAttention`` / ``scaled_dot_product_attention`` masks, losses over (N, C, T) with
``ignore_index`` / ``label_smoothing`` / class weights, CTC, beam search and top-k / top-p sampling, a
nanoGPT-style model, a GRU encoder-decoder with additive attention, a char-RNN, and a Transformer text
classifier evaluated under ``no_grad`` (torch's nested-tensor inference path).

Dropout is 0 and nothing random is compared (README: random streams are never torch's).
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import backprop

real_torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")

pytestmark = pytest.mark.filterwarnings(
    "ignore:enable_nested_tensor is True:UserWarning",  # torch's note on its nested-tensor fast path
    "ignore:The PyTorch API of nested tensors:UserWarning",
    "ignore:Support for mismatched:UserWarning",
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning",  # torch's CPU kernel note
)


def _copy_weights(ours, theirs) -> None:
    ours.load_state_dict({k: backprop.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


def _np(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _same(ours, theirs, rtol: float, path: str = "result") -> None:
    """Nested results compared: dicts by keys, sequences item by item, strings exactly, tensors by shape, dtype
    and values."""
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), path
        for k in theirs:
            _same(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, (str, bool)) or theirs is None:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    else:
        a, b = np.asarray(_np(ours)), np.asarray(_np(theirs))
        assert a.shape == b.shape, (path, a.shape, b.shape)
        assert a.dtype == b.dtype, (path, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=path)


def _run_both(build, run, rtol: float) -> None:
    real_torch.manual_seed(0)
    theirs = build(real_torch)
    ours = build(backprop)
    if theirs is not None:
        _copy_weights(ours, theirs)
    _same(run(backprop, ours), run(real_torch, theirs), rtol)


def _params(model, drop_key_bias: bool = False) -> dict:
    """Named parameters as arrays; with ``drop_key_bias`` the key third of attention ``in_proj_bias`` is left out:
    its gradient is zero up to rounding (softmax ignores a per-query constant), which Adam scales to full steps."""
    out = {}
    for name, p in model.named_parameters():
        a = _np(p)
        if drop_key_bias and name.endswith("in_proj_bias"):
            e = a.shape[0] // 3
            a = np.concatenate([a[:e], a[2 * e :]])
        out[name] = a
    return out


# ------------------------------------------------------------------ word-level language models (TBPTT)
V = 11


def _build_lm(L, cell: str, batch_first: bool, bidirectional: bool = False, proj: int = 0):
    nn = L.nn

    class RNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(V, 8)
            kw = {"num_layers": 2, "dropout": 0.0, "batch_first": batch_first, "bidirectional": bidirectional}
            if proj:
                kw["proj_size"] = proj
            self.rnn = getattr(nn, cell)(8, 8, **kw)
            self.decoder = nn.Linear((proj or 8) * (2 if bidirectional else 1), V)
            if not bidirectional and not proj:
                self.decoder.weight = self.encoder.weight  # weight tying
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)

        def forward(self, x, hidden):
            self.rnn.flatten_parameters()
            out, hidden = self.rnn(self.encoder(x), hidden)
            return self.decoder(out), hidden

        def init_hidden(self, bsz):
            w = next(self.parameters())
            d = 2 if bidirectional else 1
            if cell == "LSTM":
                return (w.new_zeros(2 * d, bsz, proj or 8), w.new_zeros(2 * d, bsz, 8))
            return w.new_zeros(2 * d, bsz, 8)

    return RNNModel()


def _repackage(h):
    return h.detach() if hasattr(h, "detach") else tuple(_repackage(v) for v in h)


def _train_lm(batch_first: bool):
    data = np.random.default_rng(0).integers(0, V, (7, 3))  # (T, B)

    def run(L, model):
        x = L.tensor(data)
        x = x.t().contiguous() if batch_first else x
        opt = L.optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
        sched = L.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 3))  # warmup
        crit = L.nn.CrossEntropyLoss(label_smoothing=0.1)
        hidden = model.init_hidden(3)
        losses, norms = [], []
        for i in range(0, 5, 2):
            inp, tgt = (x[:, i : i + 2], x[:, i + 1 : i + 3]) if batch_first else (x[i : i + 2], x[i + 1 : i + 3])
            hidden = _repackage(hidden)
            model.zero_grad()
            out, hidden = model(inp, hidden)
            loss = crit(out.reshape(-1, V), tgt.reshape(-1))
            loss.backward()
            norm = L.nn.utils.clip_grad_norm_(model.parameters(), 0.25, error_if_nonfinite=True, foreach=True)
            opt.step()
            sched.step()
            losses.append(loss.item())
            norms.append(norm.item())
        return {
            "losses": losses,
            "norms": norms,
            "ppl": math.exp(losses[-1]),
            "lr": sched.get_last_lr(),
            "params": dict(model.named_parameters()),
            "keys": list(model.state_dict().keys()),
            "repr": repr(model),
        }

    return run


@pytest.mark.parametrize(
    "cell, batch_first, bidirectional, proj",
    [("LSTM", False, False, 0), ("LSTM", True, False, 0), ("GRU", False, False, 0), ("GRU", True, False, 0),
     ("RNN", True, False, 0), ("LSTM", False, True, 0), ("LSTM", True, False, 5), ("LSTM", True, True, 5)],
)  # fmt: skip
def test_word_language_model_tbptt(cell: str, batch_first: bool, bidirectional: bool, proj: int) -> None:
    _run_both(lambda L: _build_lm(L, cell, batch_first, bidirectional, proj), _train_lm(batch_first), rtol=1e-4)


# ------------------------------------------------------------------ packed sequences
def test_packed_bidirectional_gru_sort_and_unsort() -> None:
    rng = np.random.default_rng(1)
    lens = [4, 2, 5, 1]
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in lens]

    def run(L, gru):
        R = L.nn.utils.rnn
        xs = [L.tensor(s, requires_grad=True) for s in seqs]
        packed = R.pack_sequence(xs, enforce_sorted=False)
        out = {"data": packed.data, "batch_sizes": packed.batch_sizes, "sorted": packed.sorted_indices}
        out["unsorted"] = packed.unsorted_indices
        o, h = gru(packed)
        pad, lengths = R.pad_packed_sequence(o, batch_first=True, padding_value=-1.0, total_length=6)
        out.update(pad=pad, lengths=lengths, h=h)
        pad.clamp(min=0).sum().backward()
        out["grads"] = [x.grad for x in xs]
        # the manual way: sort by length, pack, run, un-sort with argsort
        sorted_lens, perm = L.tensor(lens).sort(descending=True)
        padded = R.pad_sequence(xs)
        o2, h2 = gru(R.pack_padded_sequence(padded[:, perm], sorted_lens.tolist()))
        unperm = perm.argsort()
        out.update(h2=h2[:, unperm], o2=R.pad_packed_sequence(o2)[0][:, unperm], padded=padded)
        out["unpacked"] = R.unpack_sequence(packed)
        out["left"] = R.pad_sequence(xs, batch_first=True, padding_side="left")
        return out

    _run_both(lambda L: L.nn.GRU(3, 4, num_layers=2, bidirectional=True), run, rtol=1e-5)


def test_lstm_on_packed_input_with_initial_state() -> None:
    def run(L, _):
        R = L.nn.utils.rnn
        xs = [L.arange(float(n)).unsqueeze(1).repeat(1, 2) for n in (2, 4, 3)]
        packed = R.pack_sequence(xs, enforce_sorted=False)
        lstm = L.nn.LSTM(2, 4, batch_first=True)
        for p in lstm.parameters():
            L.nn.init.constant_(p, 0.1)
        h0 = L.arange(24.0).view(2, 3, 4) / 24
        o, (h, c) = lstm(packed, (h0[:1], h0[1:]))
        lin = L.nn.Linear(4, 2)
        L.nn.init.constant_(lin.weight, 0.5)
        L.nn.init.zeros_(lin.bias)
        projected = packed._replace(data=L.relu(lin(o.data)))  # a layer applied to the packed rows
        return {
            "h": h,
            "c": c,
            "o": R.pad_packed_sequence(o, batch_first=True),
            "proj": R.pad_packed_sequence(projected),
        }

    _run_both(lambda L: None, run, rtol=1e-6)


# ------------------------------------------------------------------ embeddings and cells
def test_embedding_padding_max_norm_and_embedding_bag() -> None:
    def build(L):
        nn = L.nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(10, 4, padding_idx=0, max_norm=1.0)
                self.bag = nn.EmbeddingBag(10, 4, mode="sum")
                self.bag_mean = nn.EmbeddingBag(10, 4, mode="mean", padding_idx=0)
                self.bag_max = nn.EmbeddingBag(10, 4, mode="max")

        return M()

    def run(L, m):
        x = L.tensor([[0, 3, 5, 5], [2, 0, 0, 9]])
        e = m.emb(x)
        e.sum().backward()
        flat, offsets, psw = L.tensor([1, 2, 4, 5, 4, 3, 2, 9]), L.tensor([0, 4]), L.linspace(0.1, 0.8, 8)
        bag = m.bag(flat, offsets, per_sample_weights=psw)
        bag.sum().backward()
        return {
            "e": e,
            "renormed": m.emb.weight,  # max_norm renormalises the looked-up rows in place
            "grad": m.emb.weight.grad,
            "bag": bag,
            "bag_grad": m.bag.weight.grad,
            "mean": m.bag_mean(L.tensor([[0, 2, 3], [4, 0, 0]])),
            "max": m.bag_max(flat, offsets),
            "last_offset": L.nn.functional.embedding_bag(
                flat, m.bag.weight, L.tensor([0, 4, 8]), include_last_offset=True
            ),
            "repr": repr(m),
        }

    _run_both(build, run, rtol=1e-5)


def test_rnn_cell_loops() -> None:
    def build(L):
        nn = L.nn
        return nn.ModuleDict(
            {"a": nn.RNNCell(3, 4, nonlinearity="relu"), "b": nn.LSTMCell(4, 4), "c": nn.GRUCell(4, 4, bias=False)}
        )

    def run(L, m):
        x = L.tensor(np.random.default_rng(3).standard_normal((5, 2, 3)).astype(np.float32))
        h, hc, g, outs = L.zeros(2, 4), (L.zeros(2, 4), L.zeros(2, 4)), None, []
        for t in range(x.size(0)):
            h = m["a"](x[t], h)
            hc = m["b"](h, hc)
            g = m["c"](hc[0], g)
            outs.append(g)
        y = L.stack(outs, dim=0)
        y.pow(2).mean().backward()
        return {"y": y, "grads": {k: p.grad for k, p in m.named_parameters()}, "unbatched": m["a"](x[0, 0])}

    _run_both(build, run, rtol=1e-5)


# ------------------------------------------------------------------ nn.Transformer seq2seq
def _build_seq2seq(L, norm_first: bool, activation: str, batch_first: bool):
    nn = L.nn

    class PositionalEncoding(nn.Module):
        def __init__(self, d, max_len=32):
            super().__init__()
            pos = L.arange(0, max_len, dtype=L.float).unsqueeze(1)
            div = L.exp(L.arange(0, d, 2).float() * (-math.log(10000.0) / d))
            pe = L.zeros(max_len, d)
            pe[:, 0::2] = L.sin(pos * div)
            pe[:, 1::2] = L.cos(pos * div)
            self.register_buffer("pe", pe.unsqueeze(0), persistent=False)

        def forward(self, x):
            return x + self.pe[:, : x.size(1)]

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb = nn.Embedding(13, 16, padding_idx=0)
            self.tgt_emb = nn.Embedding(13, 16, padding_idx=0)
            self.pe = PositionalEncoding(16)
            self.tf = nn.Transformer(16, 2, 2, 2, 32, dropout=0.0, activation=activation, batch_first=batch_first,
                                     norm_first=norm_first)  # fmt: skip
            self.gen = nn.Linear(16, 13)

        def forward(self, src, tgt):
            causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
            s, t = self.pe(self.src_emb(src)), self.pe(self.tgt_emb(tgt))
            if not batch_first:
                s, t = s.transpose(0, 1), t.transpose(0, 1)
            o = self.tf(s, t, tgt_mask=causal, src_key_padding_mask=src == 0, tgt_key_padding_mask=tgt == 0,
                        memory_key_padding_mask=src == 0, tgt_is_causal=True)  # fmt: skip
            return self.gen(o if batch_first else o.transpose(0, 1))

    return Seq2Seq()


def _train_seq2seq(L, m):
    rng = np.random.default_rng(2)
    src, tgt = rng.integers(1, 13, (3, 7)), rng.integers(1, 13, (3, 6))
    src[0, 5:], src[2, 3:], tgt[1, 4:] = 0, 0, 0
    src, tgt = L.tensor(src), L.tensor(tgt)
    crit = L.nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)
    opt = L.optim.AdamW(m.parameters(), lr=1e-3)
    sched = L.optim.lr_scheduler.LambdaLR(opt, lambda step: min((step + 1) ** -0.5, (step + 1) * 4**-1.5))  # Noam
    losses = []
    for _ in range(3):
        logits = m(src, tgt[:, :-1])
        loss = crit(logits.permute(0, 2, 1), tgt[:, 1:])  # (N, C, T) logits
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    out = {"losses": losses, "params": _params(m, drop_key_bias=True), "keys": list(m.state_dict()), "repr": repr(m)}
    if m.tf.batch_first:  # greedy decoding with the encoder and decoder called apart
        m.eval()
        with L.no_grad():
            memory = m.tf.encoder(m.pe(m.src_emb(src)), src_key_padding_mask=src == 0)
            ys = L.ones(3, 1, dtype=L.long)
            for _ in range(4):
                mask = m.tf.generate_square_subsequent_mask(ys.size(1))
                dec = m.tf.decoder(m.pe(m.tgt_emb(ys)), memory, tgt_mask=mask, memory_key_padding_mask=src == 0)
                _, nxt = L.max(m.gen(dec[:, -1]), dim=1)
                ys = L.cat([ys, nxt.unsqueeze(1)], dim=1)
        out["decoded"] = ys
    return out


@pytest.mark.parametrize(
    "norm_first, activation, batch_first", [(False, "gelu", True), (True, "relu", True), (False, "relu", False)]
)
def test_transformer_seq2seq_with_masks_and_greedy_decoding(
    norm_first: bool, activation: str, batch_first: bool
) -> None:
    _run_both(lambda L: _build_seq2seq(L, norm_first, activation, batch_first), _train_seq2seq, rtol=1e-4)


def test_transformer_text_classifier_inference_with_padding() -> None:
    """Mean-pooling a batch_first encoder's output in eval under no_grad: torch's nested-tensor path zeroes the
    padded positions, which the pooled features (and so the predictions) see."""

    def build(L):
        nn = L.nn

        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(20, 8, padding_idx=0)
                layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
                self.encoder = nn.TransformerEncoder(layer, 2)
                self.head = nn.Linear(8, 3)

            def forward(self, ids):
                h = self.encoder(self.emb(ids), src_key_padding_mask=ids == 0)
                return self.head(h.mean(dim=1))

        return Classifier()

    def run(L, m):
        ids = L.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0], [11, 0, 0, 0, 0]])
        train_logits = m(ids)
        m.eval()
        with L.no_grad():
            eval_logits = m(ids)
            preds = eval_logits.argmax(-1)
        return {"train": train_logits, "eval": eval_logits, "preds": preds, "nested": m.encoder.use_nested_tensor}

    _run_both(build, run, rtol=1e-5)


# ------------------------------------------------------------------ attention
def test_multihead_attention_masks_and_weights() -> None:
    def build(L):
        nn = L.nn
        return nn.ModuleDict({
            "a": nn.MultiheadAttention(8, 2, batch_first=True),
            "b": nn.MultiheadAttention(8, 4, kdim=5, vdim=3, bias=False, add_bias_kv=True, add_zero_attn=True),
        })  # fmt: skip

    def run(L, m):
        r = np.random.default_rng(3)
        q = L.tensor(r.standard_normal((2, 4, 8)).astype(np.float32), requires_grad=True)
        kv = L.tensor(r.standard_normal((2, 5, 8)).astype(np.float32))
        kpm = L.tensor([[False, False, True, True, True], [False] * 5])
        out = {}
        out["o"], out["w"] = m["a"](q, kv, kv, key_padding_mask=kpm)
        out["w_heads"] = m["a"](q, kv, kv, key_padding_mask=kpm, average_attn_weights=False)[1]
        causal_bool = L.triu(L.ones(4, 4, dtype=L.bool), diagonal=1)
        out["o_bool"], out["none"] = m["a"](q, q, q, need_weights=False, attn_mask=causal_bool)
        causal = L.zeros(4, 4).masked_fill(causal_bool, float("-inf"))
        out["o_float"], out["w_float"] = m["a"](q, q, q, attn_mask=causal)
        out["o_causal"] = m["a"](q, q, q, attn_mask=causal, is_causal=True)[0]
        (out["o_float"].sum() + out["o_bool"].sum()).backward()
        out["q_grad"] = q.grad
        per_head = L.zeros(4, 4, 5)
        per_head[:, :, -1] = float("-inf")
        out["o_3d"] = m["a"](q, kv, kv, attn_mask=per_head)[0]
        qq = L.tensor(r.standard_normal((4, 2, 8)).astype(np.float32))
        kk, vv = (
            L.tensor(r.standard_normal((6, 2, 5)).astype(np.float32)),
            L.tensor(r.standard_normal((6, 2, 3)).astype(np.float32)),
        )
        out["o_kv"], out["w_kv"] = m["b"](qq, kk, vv, key_padding_mask=L.zeros(2, 6, dtype=L.bool))
        out["unbatched"] = m["a"](q[0], q[0], q[0])
        out["repr"], out["keys"] = repr(m), list(m.state_dict())
        return out

    _run_both(build, run, rtol=1e-5)


def test_scaled_dot_product_attention_and_fully_masked_rows() -> None:
    def run(L, _):
        r = np.random.default_rng(4)
        F = L.nn.functional
        q = L.tensor(r.standard_normal((2, 3, 4, 8)).astype(np.float32), requires_grad=True)
        k = L.tensor(r.standard_normal((2, 3, 6, 8)).astype(np.float32))
        v = L.tensor(r.standard_normal((2, 3, 6, 8)).astype(np.float32))
        out = {"plain": F.scaled_dot_product_attention(q, k, v)}
        out["causal"] = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out["bool"] = F.scaled_dot_product_attention(q, k, v, attn_mask=L.ones(4, 6, dtype=L.bool).tril())
        bias = L.zeros(2, 1, 4, 6)
        bias[..., -2:] = -1e9
        out["float"] = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.3)
        rows = L.zeros(4, 6, dtype=L.bool)
        rows[0] = True  # rows 1..3 attend to nothing
        out["fully_masked"] = F.scaled_dot_product_attention(q, k, v, attn_mask=rows)
        out["gqa"] = F.scaled_dot_product_attention(q, k[:, :1], v[:, :1], enable_gqa=True)
        (out["causal"].sum() + out["bool"].sum()).backward()
        out["q_grad"] = q.grad
        s = L.tensor(r.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
        mask = L.tensor([[True, False, False, True], [True] * 4, [False] * 4])
        p = s.masked_fill(mask, float("-inf")).softmax(-1)  # the all -inf row is NaN
        L.nan_to_num(p).sum().backward()
        out.update(p=p, s_grad=s.grad)
        return out

    _run_both(lambda L: None, run, rtol=1e-5)


# ------------------------------------------------------------------ losses
def test_sequence_losses_over_time() -> None:
    def run(L, _):
        r = np.random.default_rng(5)
        F = L.nn.functional
        logits = L.tensor(r.standard_normal((3, 5, 4)), requires_grad=True)  # (N, C, T) float64
        tgt = L.tensor([[0, 1, -100, 4], [2, 2, 3, -100], [-100] * 4])
        out = {r_: F.cross_entropy(logits, tgt, label_smoothing=0.2, reduction=r_) for r_ in ("mean", "sum", "none")}
        w = L.tensor([1.0, 2.0, 0.5, 1.0, 3.0], dtype=L.float64)
        out["weighted"] = L.nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(logits, tgt)
        out["nll"] = L.nn.NLLLoss(weight=w, ignore_index=-100)(F.log_softmax(logits, dim=1), tgt)
        (out["mean"] + out["weighted"] + out["nll"]).backward()
        out["grad"] = logits.grad
        out["all_ignored"] = F.cross_entropy(logits[2:], tgt[2:])  # NaN, as torch
        out["soft"] = F.cross_entropy(logits, L.softmax(L.tensor(r.standard_normal((3, 5, 4))), 1), label_smoothing=0.3)
        lp = L.tensor(r.standard_normal((10, 3, 6)), requires_grad=True)
        lps = lp.log_softmax(2)
        targets = L.tensor(r.integers(1, 6, (3, 4)))
        il, tl = L.tensor([10, 9, 7]), L.tensor([4, 2, 3])
        out["ctc"] = L.nn.CTCLoss(blank=0, zero_infinity=True)(lps, targets, il, tl)
        out["ctc_none"] = F.ctc_loss(lps, targets, il, tl, reduction="none")
        flat = L.cat([targets[0, :4], targets[1, :2], targets[2, :3]])
        out["ctc_concat"] = F.ctc_loss(lps, flat, (10, 9, 7), (4, 2, 3))
        out["ctc"].backward()
        out["ctc_grad"] = lp.grad
        impossible = L.tensor([[1, 1, 1, 1]] * 3)
        out["ctc_inf"] = F.ctc_loss(lps, impossible, L.tensor([3, 3, 3]), L.tensor([4, 4, 4]), reduction="none")
        out["greedy"] = [[int(c) for c in L.unique_consecutive(b) if c != 0] for b in lps.argmax(-1).t()]
        return out

    _run_both(lambda L: None, run, rtol=1e-10)


# ------------------------------------------------------------------ decoding
def test_beam_search_and_sampling_filters() -> None:
    def run(L, _):
        logits = L.tensor(np.random.default_rng(6).standard_normal((2, 6, 7)).astype(np.float32))
        lp = logits.log_softmax(-1)
        beam = 3
        scores, idx = lp[:, 0].topk(beam, dim=-1)
        seqs = idx.unsqueeze(-1)
        for t in range(1, 6):
            cand = (scores.unsqueeze(-1) + lp[:, t].unsqueeze(1)).view(2, -1)
            scores, flat = cand.topk(beam, dim=-1)
            prev, tok = L.div(flat, 7, rounding_mode="floor"), flat % 7
            seqs = L.cat([seqs.gather(1, prev.unsqueeze(-1).expand(-1, -1, seqs.size(-1))), tok.unsqueeze(-1)], -1)
        finished = (seqs == 3).cumsum(-1) > 0
        out = {"beams": seqs, "scores": scores, "lengths": (~finished).sum(-1), "masked": seqs.masked_fill(finished, 0)}
        out["onehot"] = L.zeros(2, 3, 7).scatter_(2, seqs[..., :1], 1.0)
        out["counts"] = L.zeros(2, 7).scatter_add(1, seqs[:, 0], L.ones(2, 6))
        last = logits[:, -1] / 0.7  # temperature
        v, _ = L.topk(last, 3)
        top_k = last.masked_fill(last < v[:, [-1]], -float("inf"))
        sorted_logits, sorted_idx = L.sort(last, descending=True)
        remove = L.cumsum(L.softmax(sorted_logits, -1), -1) > 0.8
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = False
        top_p = last.masked_fill(remove.scatter(1, sorted_idx, remove), float("-inf"))
        probs = L.softmax(top_k, -1)
        L.manual_seed(0)
        one, many = L.multinomial(probs, 1), L.multinomial(probs, 5, replacement=True)
        out.update(top_k=top_k, top_p=top_p, probs=probs)
        out["shapes"] = [tuple(one.shape), tuple(many.shape), tuple(L.multinomial(probs[0], 3).shape)]
        out["in_support"] = bool((probs.gather(1, many) > 0).all())  # the samples themselves differ (README)
        return out

    _run_both(lambda L: None, run, rtol=1e-5)


# ------------------------------------------------------------------ a nanoGPT-style model
def _build_gpt(L, flash: bool):
    nn, F = L.nn, L.nn.functional
    vocab, block, C, n_head, n_layer = 17, 8, 16, 2, 2

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
            self.flash = flash and hasattr(F, "scaled_dot_product_attention")
            if not self.flash:
                self.register_buffer("bias", L.tril(L.ones(block, block)).view(1, 1, block, block))

        def forward(self, x):
            B, T, _ = x.size()
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
            if self.flash:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = F.softmax(att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf")), dim=-1)
                y = att @ v
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(C), CausalSelfAttention(), nn.LayerNorm(C, bias=False)
            self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(approximate="tanh"), nn.Linear(4 * C, C))

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict({"wte": nn.Embedding(vocab, C), "wpe": nn.Embedding(block, C),
                                              "h": nn.ModuleList([Block() for _ in range(n_layer)]),
                                              "ln_f": nn.LayerNorm(C)})  # fmt: skip
            self.lm_head = nn.Linear(C, vocab, bias=False)
            self.transformer.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            pos = L.arange(0, idx.size(1), dtype=L.long, device=idx.device)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for blk in self.transformer.h:
                x = blk(x)
            x = self.transformer.ln_f(x)
            if targets is None:
                return self.lm_head(x[:, [-1], :]), None
            logits = self.lm_head(x)
            return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

        def configure_optimizers(self, weight_decay, lr):
            params = [p for p in self.parameters() if p.requires_grad]
            groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                      {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
            fused = "fused" in inspect.signature(L.optim.AdamW).parameters
            return L.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95)), fused

        @L.no_grad()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
            for _ in range(max_new_tokens):
                logits, _ = self(idx if idx.size(1) <= block else idx[:, -block:])
                logits = logits[:, -1, :] / temperature
                v, _ = L.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
                idx = L.cat((idx, L.argmax(F.softmax(logits, dim=-1), dim=-1, keepdim=True)), dim=1)
            return idx

    return GPT()


def _train_gpt(L, model):
    data = np.random.default_rng(0).integers(0, 17, 200)

    def get_batch(i):
        ix = [3 + 7 * i, 50 + i, 100 + 3 * i]
        x = L.stack([L.from_numpy(data[j : j + 8].astype(np.int64)) for j in ix])
        return x, L.stack([L.from_numpy(data[j + 1 : j + 9].astype(np.int64)) for j in ix])

    def get_lr(it, warmup=2, decay_iters=6, lr=6e-3, min_lr=6e-4):
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * (it - warmup) / (decay_iters - warmup))) * (lr - min_lr)

    opt, fused = model.configure_optimizers(0.1, 6e-3)
    scaler = L.amp.GradScaler("cpu", enabled=False)
    losses = []
    for it in range(4):
        for g in opt.param_groups:
            g["lr"] = get_lr(it)
        for micro in range(2):  # gradient accumulation
            X, Y = get_batch(2 * it + micro)
            with L.autocast(device_type="cpu", dtype=L.bfloat16, enabled=False):
                _, loss = model(X, Y)
                loss = loss / 2
            scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norm = L.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        losses.append((2 * loss.item(), norm.item()))
    model.eval()
    generated = model.generate(L.tensor([[1, 2, 3]]), 7, temperature=0.8, top_k=5)
    n_params = sum(p.numel() for p in model.parameters())
    return {"losses": losses, "generated": generated, "n_params": n_params, "fused": fused,
            "params": dict(model.named_parameters()), "keys": list(model.state_dict())}  # fmt: skip


@pytest.mark.parametrize("flash", [True, False])
def test_nanogpt_style_training_and_generation(flash: bool) -> None:
    _run_both(lambda L: _build_gpt(L, flash), _train_gpt, rtol=1e-4)


# ------------------------------------------------------------------ GRU encoder-decoder with additive attention
def _build_attn_seq2seq(L):
    nn, F = L.nn, L.nn.functional
    V2, H = 12, 6

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.gru, self.fc = (
                nn.Embedding(V2, 5),
                nn.GRU(5, H, batch_first=True, bidirectional=True),
                nn.Linear(2 * H, H),
            )

        def forward(self, src, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(
                self.embedding(src), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, h = self.gru(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
            return out, L.tanh(self.fc(L.cat((h[-2, :, :], h[-1, :, :]), dim=1)))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.v = nn.Linear(3 * H, H), nn.Linear(H, 1, bias=False)
            self.embedding, self.rnn, self.fc_out = (
                nn.Embedding(V2, 5),
                nn.GRUCell(5 + 2 * H, H),
                nn.Linear(3 * H + 5, V2),
            )

        def forward(self, inp, hidden, enc, mask):
            emb = self.embedding(inp)
            energy = L.tanh(self.attn(L.cat((hidden.unsqueeze(1).repeat(1, enc.shape[1], 1), enc), dim=2)))
            a = F.softmax(self.v(energy).squeeze(2).masked_fill(mask == 0, -1e10), dim=1).unsqueeze(1)
            weighted = L.bmm(a, enc).squeeze(1)
            hidden = self.rnn(L.cat((emb, weighted), dim=1), hidden)
            return self.fc_out(L.cat((hidden, weighted, emb), dim=1)), hidden, a.squeeze(1)

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Encoder(), Decoder()
            for name, param in self.named_parameters():
                if "weight" in name and param.dim() > 1:
                    nn.init.normal_(param.data, mean=0, std=0.1)
                else:
                    nn.init.constant_(param.data, 0)
            self.encoder.gru.bias_ih_l0.data[H : 2 * H].fill_(1.0)

        def forward(self, src, lengths, trg, teacher_forcing):
            outputs = L.zeros(trg.shape[0], trg.shape[1], V2)
            enc, hidden = self.encoder(src, lengths)
            inp, attentions = trg[:, 0], []
            for t in range(1, trg.shape[1]):
                out, hidden, a = self.decoder(inp, hidden, enc, src != 0)
                outputs[:, t] = out
                attentions.append(a)
                inp = trg[:, t] if teacher_forcing[t] else out.argmax(1)
            return outputs, L.stack(attentions, 1)

    return Seq2Seq()


def test_gru_encoder_decoder_with_additive_attention() -> None:
    def run(L, m):
        rng = np.random.default_rng(0)
        src = rng.integers(1, 12, (3, 6))
        src[1, 4:], src[2, 2:] = 0, 0
        src, lengths, trg = L.tensor(src), L.tensor([6, 4, 2]), L.tensor(rng.integers(1, 12, (3, 5)))
        opt = L.optim.SGD(filter(lambda p: p.requires_grad, m.parameters()), lr=0.5, momentum=0.9, nesterov=True)
        crit = L.nn.CrossEntropyLoss(ignore_index=0)
        losses = []
        for _ in range(3):
            out, att = m(src, lengths, trg, [True, True, False, True, False])
            loss = crit(out[:, 1:].reshape(-1, 12), trg[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            L.nn.utils.clip_grad_value_(m.parameters(), 0.5)
            opt.step()
            losses.append(loss.item())
        return {"losses": losses, "attention": att, "params": dict(m.named_parameters())}

    _run_both(_build_attn_seq2seq, run, rtol=1e-4)


# ------------------------------------------------------------------ char-RNN with frozen pretrained embeddings
def test_char_rnn_with_frozen_embeddings_and_sampling() -> None:
    V3, H = 12, 6

    def build(L):
        nn = L.nn

        class CharRNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding.from_pretrained(L.linspace(-1, 1, V3 * 4).view(V3, 4), freeze=True)
                self.lstm, self.fc = nn.LSTM(4, H, 2, batch_first=True), nn.Linear(H, V3)

            def forward(self, x, hc):
                out, hc = self.lstm(self.emb(x), hc)
                return self.fc(out.contiguous().view(-1, H)), hc

        return CharRNN()

    def run(L, m):
        text = L.from_numpy(np.random.default_rng(1).integers(0, V3, 40))
        arr = text[:40].view(2, -1)
        opt = L.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=0.01)
        h, losses = (L.zeros(2, 2, H), L.zeros(2, 2, H)), []
        for n in range(0, arr.size(1) - 5, 5):
            x, y = arr[:, n : n + 5], arr[:, n + 1 : n + 6]
            h = tuple([each.data for each in h])
            m.zero_grad()
            out, h = m(x, h)
            loss = -L.log_softmax(out, dim=-1).gather(1, y.reshape(-1, 1)).mean()
            loss.backward()
            L.nn.utils.clip_grad_norm_(m.parameters(), 5)
            opt.step()
            losses.append(loss.item())
        m.eval()
        chars, x, h = [], L.tensor([[1]]), None
        with L.no_grad():
            for _ in range(5):
                out, h = m(x, h)
                _, top = L.softmax(out / 0.8, dim=1).squeeze().topk(3)
                chars.append(int(top.numpy().squeeze()[0]))
                x = L.tensor([[chars[-1]]])
        return {
            "losses": losses,
            "chars": chars,
            "frozen": m.emb.weight.requires_grad,
            "params": dict(m.named_parameters()),
        }

    _run_both(build, run, rtol=1e-4)
