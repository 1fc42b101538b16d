"""The feedforward LM: exact gradients against hand-written backprop, data pipeline, n-gram."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop.data import EOS, EOS_ID, UNK, UNK_ID, Vocab, Windows, corpus, tokenize
from backprop.lm import FeedForwardLM, KneserNey


def _manual_step(E, W, b, U, c, ctx, tgt):
    """Forward and backward of the Bengio LM by hand, from the course formulas (float64)."""
    B, n = ctx.shape
    e = E[ctx].reshape(B, -1)  # concatenated context embeddings
    a = e @ W.T + b
    h = np.tanh(a)
    z = h @ U.T + c
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    loss = -np.log(p[np.arange(B), tgt]).mean()
    dz = p.copy()
    dz[np.arange(B), tgt] -= 1
    dz /= B  # dL/dz = (softmax - onehot) / B
    dU, dc = dz.T @ h, dz.sum(0)
    dh = dz @ U
    da = dh * (1 - h**2)  # tanh'
    dW, db = da.T @ e, da.sum(0)
    de = (da @ W).reshape(B, n, -1)
    dE = np.zeros_like(E)
    np.add.at(dE, ctx, de)  # repeated words accumulate
    return loss, dict(E=dE, W=dW, b=db, U=dU, c=dc)


def test_lm_step_matches_hand_written_backprop() -> None:
    bp.manual_seed(0)
    V, n, d, H, B = 50, 3, 8, 16, 32
    model = FeedForwardLM(V, n, d, H).to(bp.float64)
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, V, (B, n))
    ctx[0, :] = 7  # a repeated word inside one context
    tgt = rng.integers(0, V, B)
    loss = F.cross_entropy(model(bp.tensor(ctx)), bp.tensor(tgt))
    loss.backward()
    params = dict(
        E=model.embedding.weight,
        W=model.hidden.weight,
        b=model.hidden.bias,
        U=model.output.weight,
        c=model.output.bias,
    )
    ref_loss, ref_grads = _manual_step(*(params[k].detach().numpy() for k in "EWbUc"), ctx, tgt)
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-10)
    for k, p in params.items():
        np.testing.assert_allclose(p.grad.numpy(), ref_grads[k], rtol=1e-10, atol=1e-14, err_msg=k)


def test_tied_weights_share_one_matrix() -> None:
    m = FeedForwardLM(20, 2, 8, 8, tie_weights=True)
    assert m.output.weight is m.embedding.weight
    assert len(list(m.parameters())) == 4  # E (=U), W, b, c
    big = FeedForwardLM(2000, 2, 64, 64, tie_weights=True)  # N(0, 1/embed_dim): the first logits are small
    assert big.embedding.weight.detach().numpy().std() == pytest.approx(64**-0.5, rel=0.05)
    with pytest.raises(ValueError, match="hidden_dim == embed_dim"):
        FeedForwardLM(20, 2, 8, 16, tie_weights=True)


def test_tokens_vocab_and_windows_cover_every_token() -> None:
    toks = tokenize(["a b a", "c a"])
    assert toks == ["a", "b", "a", "<eos>", "c", "a", "<eos>"]
    vocab = Vocab.build(toks)
    assert vocab.itos[:3] == ["<unk>", "<eos>", "a"] and vocab.encode(["zzz"]).tolist() == [0]
    assert Vocab.build(toks, min_freq=2).itos == ["<unk>", "<eos>", "a"]
    w = Windows(vocab.encode(toks), context=2)
    assert len(w) == len(toks)  # every token, every <eos>, is predicted once
    ctx, tgt = w.batch(np.array([0, 1, 6]))
    assert ctx.tolist() == [[1, 1], [1, vocab.stoi["a"]], [vocab.stoi["c"], vocab.stoi["a"]]]
    assert tgt.tolist() == [vocab.stoi["a"], vocab.stoi["b"], 1]


def test_eos_and_unk_are_defined_once() -> None:
    vocab = Vocab.build(["x", EOS, UNK])
    assert vocab.itos[UNK_ID] == UNK and vocab.itos[EOS_ID] == EOS and len(vocab) == 3
    assert tokenize(["x"])[-1] == EOS
    assert Windows(np.array([5]), context=3).stream[:3].tolist() == [EOS_ID] * 3
    with pytest.raises(ValueError, match="a Vocab starts with"):
        Vocab([EOS, UNK, "x"])


def test_batches_are_seeded_permutations_without_copying_the_corpus() -> None:
    w = Windows(np.arange(2, 102), context=3)
    stream = w.stream
    a = np.concatenate([t for _, t in w.batches(16, shuffle=True, seed=5, epoch=1)])
    b = np.concatenate([t for _, t in w.batches(16, shuffle=True, seed=5, epoch=1)])
    c = np.concatenate([t for _, t in w.batches(16, shuffle=True, seed=5, epoch=2)])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and sorted(a.tolist()) == list(range(2, 102))
    assert w.stream is stream
    rest = np.concatenate([t for _, t in w.batches(16, shuffle=True, seed=5, epoch=1, start=2)])
    np.testing.assert_array_equal(rest, a[32:])


def test_kneser_ney_is_a_distribution() -> None:
    toks = tokenize(corpus.generate(n_train=300, n_valid=10, n_test=10)["train"])
    vocab = Vocab.build(toks)
    w = Windows(vocab.encode(toks), 2)
    kn = KneserNey(3, len(vocab)).fit(w)
    for ctx in [(1, 1), tuple(w.stream[10:12].tolist()), (0, 0)]:
        assert sum(kn.prob(ctx, i) for i in range(len(vocab))) == pytest.approx(1.0, abs=1e-9)
    assert kn.perplexity(w) < len(vocab)


def test_embedded_corpus_is_deterministic_and_test_pairs_are_unseen() -> None:
    a, b = (
        corpus.generate(n_train=200, n_valid=20, n_test=50),
        corpus.generate(n_train=200, n_valid=20, n_test=50),
    )
    assert a == b
    held = corpus.held_out_pairs()
    train_bigrams = {(s.split()[i], s.split()[i + 1]) for s in a["train"] for i in range(len(s.split()) - 1)}
    assert not held & train_bigrams
    for s in a["test"]:  # every test sentence uses one held-out (noun, verb) pair
        words = s.split()
        pairs = {(x, y) for x, y in zip(words, words[1:])} | {(x, y) for x, y in zip(words, words[2:])}
        assert pairs & held, s


def test_sample_is_seeded() -> None:
    bp.manual_seed(0)
    m = FeedForwardLM(30, 2, 4, 8)
    a = m.sample([3], 10, np.random.default_rng(1), temperature=0.8, top_k=5)
    b = m.sample([3], 10, np.random.default_rng(1), temperature=0.8, top_k=5)
    assert a == b and len(a) == 10


def test_sentiment_classifier_with_mean_pooled_embeddings() -> None:
    """The course's bag-of-embeddings classifier: average word vectors, then logistic regression."""
    pos, neg = ["good", "great", "fine", "happy", "nice"], ["bad", "awful", "sad", "poor", "ugly"]
    filler = ["the", "film", "was", "a", "story", "very", "and"]
    words = pos + neg + filler
    ids = {w: i for i, w in enumerate(words)}
    rng = np.random.default_rng(0)

    def sentences(n, label_words, label):
        out = []
        for _ in range(n):
            s = list(rng.choice(filler, 3)) + [rng.choice(label_words)] + list(rng.choice(filler, 2))
            out.append(([ids[w] for w in s], label))
        return out

    data = sentences(100, pos[:4], 1.0) + sentences(100, neg[:4], 0.0)
    bp.manual_seed(0)
    emb = bp.nn.Embedding(len(words), 8)
    clf = bp.nn.Linear(8, 1)
    opt = bp.optim.Adam(list(emb.parameters()) + list(clf.parameters()), lr=0.05)
    x = bp.tensor(np.array([s for s, _ in data]))
    y = bp.tensor(np.array([[lab] for _, lab in data], dtype=np.float32))
    for _ in range(150):
        logits = clf(emb(x).mean(dim=1))  # mean-pooled embeddings
        loss = F.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = (clf(emb(x).mean(dim=1)).sigmoid() > 0.5).detach().numpy()
    assert (pred == (y.detach().numpy() > 0.5)).mean() == 1.0
    assert loss.item() < 0.1
