"""Classic NLP programs as torch users write them, run with torch 2.13 and with ``backprop`` standing in for it
(the same code, the library passed in): vocab building and numericalisation into ``pad_sequence`` (and the slip
of handing it Python lists), and word2vec skip-gram with negative sampling on ``sparse=True`` embeddings
(``multinomial`` over unigram^0.75 after ``manual_seed``, ``logsigmoid``, ``SparseAdam``), where clipping the
sparse gradients is torch's error naming its missing kernel.

Already covered elsewhere and not repeated: BiLSTM-CRF (tests/test_programs_2026_3.py), beam search and sampling
filters, char-RNN, GRU seq2seq with attention (tests/test_programs_seq.py).
"""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any

import numpy as np
import pytest

import backprop

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")

SENTS = ["the cat sat on the mat", "a dog ran", "the dog sat", "cats and dogs ran on the mat today"]


def _rnn(L: Any) -> Any:
    return importlib.import_module(L.__name__ + ".nn.utils.rnn")


def _same(ours: Any, theirs: Any, rtol: float = 1e-5) -> None:
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k], rtol)
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, rtol)
    elif isinstance(theirs, torch.Tensor):
        b = (theirs.to_dense() if theirs.is_sparse else theirs).detach().numpy()
        a = (ours.to_dense() if ours.is_sparse else ours).detach().numpy()
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=rtol)
    else:
        assert ours == theirs


def _raises(f: Any) -> tuple[type, str]:
    """The exception each library raises for ``f(L)``: torch's class (ours may subclass it) and message."""
    with pytest.raises(Exception) as theirs:
        f(torch)
    with pytest.raises(type(theirs.value)) as ours:
        f(backprop)
    return type(theirs.value), str(ours.value)


# ------------------------------------------------------------------ vocab, numericalisation, pad_sequence
def _numericalise(L: Any, as_tensors: bool) -> Any:
    counts = Counter(w for s in SENTS for w in s.split())
    itos = ["<pad>", "<unk>", "<bos>", "<eos>"] + [w for w, _ in counts.most_common()]
    stoi = {w: i for i, w in enumerate(itos)}
    ids = [[stoi["<bos>"]] + [stoi.get(w, 1) for w in s.split()] + [stoi["<eos>"]] for s in SENTS]
    seqs = [L.tensor(x) for x in ids] if as_tensors else ids
    return _rnn(L).pad_sequence(seqs, batch_first=True, padding_value=stoi["<pad>"]), L.tensor([len(x) for x in ids])


def test_vocab_numericalisation_into_pad_sequence_and_the_list_slip() -> None:
    def program(L: Any) -> Any:
        padded, lengths = _numericalise(L, as_tensors=True)
        packed = _rnn(L).pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        return {"padded": padded, "repr": repr(padded), "batch_sizes": packed.batch_sizes, "data": packed.data}

    _same(program(backprop), program(torch))
    # the slip: lists of ids handed to pad_sequence (torch's argument check, not an AttributeError)
    cls, msg = _raises(lambda L: _numericalise(L, as_tensors=False))
    assert cls is TypeError
    assert msg == "expected Tensor as element 0 in argument 0, but got list"
    cls, msg = _raises(lambda L: _rnn(L).pad_sequence([L.tensor([1, 2]), (3, 4)]))
    assert cls is TypeError and msg == "expected Tensor as element 1 in argument 0, but got tuple"


def test_pad_sequence_of_zero_dim_tensors_is_torchs_error() -> None:
    # one id per sentence made with torch.tensor(id) has no time dim
    cls, _ = _raises(lambda L: _rnn(L).pad_sequence([L.tensor(3), L.tensor([1, 2])]))
    assert cls is RuntimeError
    cls, msg = _raises(lambda L: _rnn(L).pad_sequence([L.tensor([1, 2]), L.tensor(3)]))
    assert cls is IndexError and msg == "Dimension specified as 0 but tensor has no dimensions"


# ------------------------------------------------------------------ word2vec SGNS with sparse embeddings
W_IN = np.random.default_rng(3).uniform(-0.1, 0.1, (10, 6)).astype(np.float32)
W_OUT = np.random.default_rng(4).uniform(-0.1, 0.1, (10, 6)).astype(np.float32)


def _skipgram(L: Any, steps: int) -> Any:
    nn, F = L.nn, L.nn.functional

    class SkipGram(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Embedding(10, 6, sparse=True)
            self.outp = nn.Embedding(10, 6, sparse=True)
            self.inp.weight.data.copy_(L.from_numpy(W_IN))
            self.outp.weight.data.copy_(L.from_numpy(W_OUT))

        def forward(self, c: Any, o: Any, neg: Any) -> Any:
            v, u, un = self.inp(c), self.outp(o), self.outp(neg)
            pos = F.logsigmoid((v * u).sum(1))
            negs = F.logsigmoid(-L.bmm(un, v.unsqueeze(2)).squeeze(2)).sum(1)
            return -(pos + negs).mean()

    L.manual_seed(3)
    counts = L.tensor([50.0, 20.0, 10.0, 5.0, 5.0, 3.0, 2.0, 1.0, 1.0, 1.0])
    noise = counts.pow(0.75)
    noise = noise / noise.sum()
    model = SkipGram()
    opt = L.optim.SparseAdam(model.parameters(), lr=0.05)
    losses, negatives = [], []
    for _ in range(steps):
        c, o = L.randint(0, 10, (5,)), L.randint(0, 10, (5,))
        neg = L.multinomial(noise, 5 * 4, replacement=True).view(5, 4)
        opt.zero_grad()
        loss = model(c, o, neg)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        negatives.append(neg)
    return model, {"losses": losses, "negatives": negatives, "w_in": model.inp.weight, "w_out": model.outp.weight}


def test_word2vec_negative_sampling_with_sparse_adam_and_clipping() -> None:
    ours, theirs = _skipgram(backprop, 3), _skipgram(torch, 3)
    _same(ours[1], theirs[1], rtol=1e-5)
    assert ours[0].inp.weight.grad.is_sparse and theirs[0].inp.weight.grad.is_sparse
    _same(ours[0].inp.weight.grad.coalesce(), theirs[0].inp.weight.grad.coalesce())

    # clipping sparse gradients: torch has no sparse kernel, and its error names the one missing
    def clip(L: Any, how: str) -> Any:
        model = _skipgram(L, 1)[0]
        if how == "norm":
            return L.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        return L.nn.utils.clip_grad_value_(model.parameters(), 0.1)

    for how, kernel in [("norm", "linalg_vector_norm"), ("value", "clamp_min_")]:
        cls, msg = _raises(lambda L, how=how: clip(L, how))
        assert cls is NotImplementedError
        assert msg.startswith(f"Could not run 'aten::{kernel}' with arguments from the 'SparseCPU' backend."), msg
