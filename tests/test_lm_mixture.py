"""The neural + n-gram mixture: vectorised Kneser-Ney against a per-token reference, the fitted mixture
weight, direct connections, and the n-gram part of checkpoints through the command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop.data import Vocab, Windows, corpus, tokenize
from backprop.data.text import read_lines
from backprop.lm import FeedForwardLM, KneserNey, mixture
from backprop.lm.config import TrainConfig
from backprop.lm.model import evaluate_perplexity, token_log_probs
from backprop.lm.train import train

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"


class ReferenceKneserNey:
    """Interpolated Kneser-Ney one token at a time with dicts of tuples: the textbook recursion."""

    def __init__(self, order: int, vocab_size: int, windows: Windows) -> None:
        self.order, self.vocab_size = order, vocab_size
        stream = windows.stream.tolist()
        self.counts: list[dict[tuple, int]] = [defaultdict(int) for _ in range(order + 1)]
        for t in range(max(windows.context, order - 1), len(stream)):
            self.counts[order][tuple(stream[t - order + 1 : t + 1])] += 1
        for k in range(order - 1, 0, -1):  # continuation counts: distinct left extensions
            for gram in self.counts[k + 1]:
                self.counts[k][gram[1:]] += 1
        self.total: list[dict[tuple, int]] = [defaultdict(int) for _ in range(order + 1)]
        self.types: list[dict[tuple, int]] = [defaultdict(int) for _ in range(order + 1)]
        self.discount = [0.0] * (order + 1)
        for k in range(1, order + 1):
            for gram, c in self.counts[k].items():
                self.total[k][gram[:-1]] += c
                self.types[k][gram[:-1]] += 1
            n1 = sum(c == 1 for c in self.counts[k].values())
            n2 = sum(c == 2 for c in self.counts[k].values())
            self.discount[k] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.75

    def prob(self, context: tuple, word: int) -> float:
        p = 1.0 / self.vocab_size
        for k in range(1, self.order + 1):
            h = tuple(context[len(context) - k + 1 :]) if k > 1 else ()
            total = self.total[k].get(h, 0)
            if total:
                d = self.discount[k]
                c = self.counts[k].get((*h, word), 0)
                p = max(c - d, 0.0) / total + d * self.types[k][h] / total * p
        return p


def _windows(context: int, n_train: int = 400) -> tuple[Vocab, Windows, Windows]:
    splits = corpus.generate(n_train=n_train, n_valid=40, n_test=40, seed=1)
    tokens = {k: tokenize(v) for k, v in splits.items()}
    vocab = Vocab.build(tokens["train"], min_freq=2)  # some <unk>, and held-out pairs in "test"
    return vocab, Windows(vocab.encode(tokens["train"]), context), Windows(vocab.encode(tokens["test"]), context)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_vectorised_kneser_ney_equals_the_per_token_reference(order: int) -> None:
    vocab, train, test = _windows(context=3)
    kn = KneserNey(order, len(vocab)).fit(train)
    ref = ReferenceKneserNey(order, len(vocab), train)
    assert kn.discount == pytest.approx(ref.discount, abs=0)
    stream = test.stream.tolist()
    expected = [math.log(ref.prob(tuple(stream[t - 3 : t]), stream[t])) for t in range(3, len(stream))]
    np.testing.assert_allclose(kn.log_probs(test), expected, rtol=1e-12, atol=1e-12)
    assert kn.perplexity(test) == pytest.approx(math.exp(-np.mean(expected)), rel=1e-12)


def test_kneser_ney_distributions_sum_to_one_and_match_the_reference() -> None:
    vocab, train, test = _windows(context=3)
    kn = KneserNey(4, len(vocab)).fit(train)
    ref = ReferenceKneserNey(4, len(vocab), train)
    unseen = [vocab.stoi["<unk>"]] * 3
    contexts = np.array([train.stream[20:23].tolist(), test.stream[30:33].tolist(), [1, 1, 1], unseen])
    dist = kn.distribution(contexts)
    assert dist.shape == (4, len(vocab)) and (dist > 0).all()
    np.testing.assert_allclose(dist.sum(1), 1.0, rtol=1e-12)
    for row, ctx in zip(dist, contexts.tolist()):
        np.testing.assert_allclose(row, [ref.prob(tuple(ctx), w) for w in range(len(vocab))], rtol=1e-12)
    assert kn.prob(tuple(contexts[0]), 5) == pytest.approx(dist[0, 5], rel=1e-15)


def test_kneser_ney_state_rebuilds_the_same_model() -> None:
    vocab, train, test = _windows(context=2)
    kn = KneserNey(3, len(vocab)).fit(train)
    arrays, settings = kn.state()
    again = KneserNey.from_state(arrays, json.loads(json.dumps(settings)))  # through JSON, as in a checkpoint
    np.testing.assert_array_equal(again.log_probs(test), kn.log_probs(test))
    with pytest.raises(ValueError, match="discounts"):
        KneserNey.from_state({"ids": arrays["ids"][:-50]}, settings)
    with pytest.raises(ValueError, match="not a KneserNey state"):
        KneserNey.from_state({}, settings)


def _mixture_ppl(a: np.ndarray, b: np.ndarray, w: float) -> float:
    return float(np.exp(-np.mean(np.log(w * np.exp(a) + (1 - w) * np.exp(b)))))


def test_mixture_weight_is_the_optimum_and_beats_both_models() -> None:
    vocab, train, test = _windows(context=2, n_train=1500)
    kn2 = KneserNey(2, len(vocab)).fit(train).log_probs(test)  # two models that err differently
    kn3 = KneserNey(3, len(vocab)).fit(train).log_probs(test)
    w = mixture.fit_weight(kn3, kn2)
    assert 0 < w < 1
    best = mixture.perplexity(kn3, kn2, w)
    assert best == pytest.approx(_mixture_ppl(kn3, kn2, w), rel=1e-12)
    assert best < min(mixture.perplexity(kn3, kn2, 1.0), mixture.perplexity(kn3, kn2, 0.0))
    grid = np.linspace(0, 1, 201)
    assert best <= min(_mixture_ppl(kn3, kn2, g) for g in grid) * (1 + 1e-12)
    for g in (w - 1e-4, w + 1e-4):  # a local optimum of a convex function: the global one
        assert best <= _mixture_ppl(kn3, kn2, g)


def test_mixture_weight_at_the_ends() -> None:
    rng = np.random.default_rng(0)
    good = np.log(rng.uniform(0.5, 0.9, 1000))
    assert mixture.fit_weight(good, good - 1.0) == 1.0  # the first model is better on every token
    assert mixture.fit_weight(good - 1.0, good) == 0.0
    assert mixture.fit_weight(np.array([-800.0, -1.0]), np.array([-1.0, -800.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        mixture.log_probs(good, good, 1.5)
    with pytest.raises(ValueError, match="equal 1-D"):
        mixture.fit_weight(good, good[:-1])


def test_direct_connections_gradients_and_training() -> None:
    bp.manual_seed(0)
    V, n, d, H, B = 30, 3, 4, 8, 16
    model = FeedForwardLM(V, n, d, H, direct=True).to(bp.float64)
    assert (model.direct.weight.detach().numpy() == 0).all()  # starts as the model without it
    rng = np.random.default_rng(0)
    model.direct.weight._data[...] = rng.normal(0, 0.3, (V, n * d))
    ctx, tgt = rng.integers(0, V, (B, n)), rng.integers(0, V, B)
    plain = FeedForwardLM(V, n, d, H).to(bp.float64)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("direct")})
    e = model.embedding.weight.detach().numpy()[ctx].reshape(B, -1)
    with bp.no_grad():
        np.testing.assert_allclose(
            model(bp.tensor(ctx)).numpy(), plain(bp.tensor(ctx)).numpy() + e @ model.direct.weight.detach().numpy().T
        )

    def loss() -> bp.Tensor:
        return F.cross_entropy(model(bp.tensor(ctx)), bp.tensor(tgt))

    loss().backward()
    for p in (model.direct.weight, model.embedding.weight, model.hidden.weight):  # central differences
        g = p.grad.numpy()
        for idx in [tuple(rng.integers(0, s) for s in p.shape) for _ in range(4)] + [np.unravel_index(0, p.shape)]:
            if p is model.embedding.weight:
                idx = (int(ctx[0, 0]), int(rng.integers(0, d)))  # a row that is used
            old = float(p._data[idx])
            with bp.no_grad():
                p._data[idx] = old + 1e-6
                up = loss().item()
                p._data[idx] = old - 1e-6
                down = loss().item()
            p._data[idx] = old
            assert g[idx] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)
    opt = bp.optim.Adam(model.parameters(), lr=0.05)
    first = loss().item()
    for _ in range(30):
        opt.zero_grad()
        step = loss()
        step.backward()
        opt.step()
    assert loss().item() < 0.5 * first


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "backprop", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict]:
    """``train-lm`` on a small corpus, n-gram on (the default): the checkpoint holds the n-gram model."""
    d = tmp_path_factory.mktemp("mixture")
    data = {}
    for name, lines in corpus.generate(n_train=1500, n_valid=200, n_test=200, seed=3).items():
        data[name] = str(d / f"{name}.txt")
        Path(data[name]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = d / "run"
    flags = ["--context", "2", "--embed-dim", "8", "--hidden-dim", "16", "--batch-size", "64", "--epochs", "2"]
    proc = _run(
        "train-lm", "--train", data["train"], "--valid", data["valid"], "--test", data["test"],
        *flags, "--no-progress", "--device", "cpu", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert "mixture (weight" in proc.stderr and "n-gram: fitted on" in proc.stderr
    return out, data, summary


def test_train_lm_reports_the_mixture(mixed_run: tuple[Path, dict[str, str], dict]) -> None:
    out, _, summary = mixed_run
    metrics = json.loads((out / "metrics.json").read_text())
    mix, kn = metrics["mixture"], metrics["ngram"]
    assert summary["mixture"] == mix and summary["ngram"] == kn
    assert 0.0 <= mix["weight"] <= 1.0 and mix["fitted_on"] == "valid"
    assert kn["fit_seconds"] >= 0 and kn["score_seconds"] >= 0 and kn["tokens_scored"] > 0
    # lambda is optimal on the validation tokens, where 0 and 1 are the two models alone
    assert mix["valid_ppl"] <= min(metrics["best_valid_ppl"], kn["valid_ppl"]) * (1 + 1e-6)
    ck = json.loads((out / "checkpoint.json").read_text())
    assert ck["ngram"]["weight"] == mix["weight"] and ck["ngram"]["order"] == 3
    assert ck["files"]["ngram"] in ck["sha256"]


def test_eval_and_generate_with_mixture(mixed_run: tuple[Path, dict[str, str], dict]) -> None:
    out, data, summary = mixed_run
    proc = _run("eval", str(out), data["test"], "--mixture", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["perplexity"] == pytest.approx(summary["mixture"]["test_ppl"], rel=1e-6)
    assert result["ngram_perplexity"] == pytest.approx(summary["ngram"]["test_ppl"], rel=1e-12)
    assert result["neural_perplexity"] == pytest.approx(summary["test_ppl"], rel=1e-5)
    assert result["mixture_weight"] == summary["mixture"]["weight"]
    plain = json.loads(_run("eval", str(out), data["test"], "--device", "cpu").stdout)
    assert plain["perplexity"] == pytest.approx(summary["test_ppl"], rel=1e-5) and "mixture_weight" not in plain
    proc = _run("generate", str(out), "--mixture", "--prompt", "the cat", "--num-samples", "2", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("the cat") for line in lines)


def test_corrupt_ngram_file_is_detected(mixed_run: tuple[Path, dict[str, str], dict], tmp_path: Path) -> None:
    out, data, _ = mixed_run
    copy = tmp_path / "run"
    copy.mkdir()
    for f in out.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    ngram_file = copy / json.loads((copy / "checkpoint.json").read_text())["files"]["ngram"]
    blob = bytearray(ngram_file.read_bytes())
    blob[-3] ^= 1  # one bit of one training id
    ngram_file.write_bytes(bytes(blob))
    proc = _run("eval", str(copy), data["test"], "--mixture", "--device", "cpu")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr
    assert "SHA-256 mismatch" in lines[0] and ngram_file.name in lines[0]
    assert _run("eval", str(copy), data["test"], "--device", "cpu").returncode == 0  # the neural model alone


def test_mixture_needs_an_ngram_and_old_checkpoints_load(
    mixed_run: tuple[Path, dict[str, str], dict], tmp_path: Path
) -> None:
    """A checkpoint written before --direct and the n-gram file existed: no 'direct' in its model
    configuration, no n-gram entry; it loads and evaluates, and --mixture says what is missing."""
    out, data, summary = mixed_run
    old = tmp_path / "old"
    old.mkdir()
    body = json.loads((out / "checkpoint.json").read_text())
    for f in out.glob("*.safetensors"):
        if not f.name.startswith("ngram"):
            (old / f.name).write_bytes(f.read_bytes())
    del body["model_config"]["direct"], body["train_config"]["direct"], body["ngram"]
    body["sha256"].pop(body["files"].pop("ngram"))
    (old / "checkpoint.json").write_text(json.dumps(body))
    proc = _run("eval", str(old), data["test"], "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["perplexity"] == pytest.approx(summary["test_ppl"], rel=1e-5)
    proc = _run("eval", str(old), data["test"], "--mixture", "--device", "cpu")
    assert proc.returncode == 2 and "has no n-gram model" in proc.stderr and "Traceback" not in proc.stderr


def test_token_log_probs_match_the_perplexity() -> None:
    vocab, train, test = _windows(context=2)
    bp.manual_seed(0)
    model = FeedForwardLM(len(vocab), 2, 8, 16)
    logp = token_log_probs(model, test, batch_size=37)
    assert logp.shape == (len(test),) and logp.dtype == np.float64
    assert math.exp(-logp.mean()) == pytest.approx(evaluate_perplexity(model, test), rel=1e-5)


@pytest.mark.skipif(not (PTB / "ptb.train.txt").is_file(), reason="the PTB files are not in ../shared/data/ptb")
def test_ptb_kneser_ney_perplexity() -> None:
    """Order 5 on Mikolov's PTB split, every <eos> counted: the numbers the README reports."""
    tokens = {k: tokenize(read_lines(str(PTB / f"ptb.{k}.txt"))) for k in ("train", "valid", "test")}
    vocab = Vocab.build(tokens["train"])
    windows = {k: Windows(vocab.encode(t), 4) for k, t in tokens.items()}
    kn = KneserNey(5, len(vocab)).fit(windows["train"])
    assert len(vocab) == 10_000 and len(windows["test"]) == 82_430
    assert kn.perplexity(windows["valid"]) == pytest.approx(151.3897, abs=1e-3)
    assert kn.perplexity(windows["test"]) == pytest.approx(143.6631, abs=1e-3)


def test_train_lm_with_direct_connections_saves_and_evaluates(
    mixed_run: tuple[Path, dict[str, str], dict], tmp_path: Path
) -> None:
    _, data, _ = mixed_run
    out = tmp_path / "direct"
    cfg = TrainConfig(
        train=data["train"], valid=data["valid"], test=data["test"], out=str(out), context=2, embed_dim=8,
        hidden_dim=16, batch_size=64, epochs=1, direct=True, progress=False, device="cpu",
    )  # fmt: skip
    metrics = train(cfg)
    ck = json.loads((out / "checkpoint.json").read_text())
    assert ck["model_config"]["direct"] is True and metrics["config"]["direct"] is True
    assert metrics["test_ppl"] < 30 and 0 <= metrics["mixture"]["weight"] <= 1
    proc = _run("eval", str(out), data["test"], "--mixture", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["neural_perplexity"] == pytest.approx(metrics["test_ppl"], rel=1e-5)
