"""Ordinary torch code runs unchanged after ``import backprop as torch`` and gives torch's numbers.

Each snippet is written once, against a module called ``torch``, and run twice: with PyTorch and
with backprop standing in for it, from the same initial weights. Only the names the torch-parity
issue lists are used (nn.CrossEntropyLoss, masked_fill/softmax/bmm attention, clip_grad_norm_).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop

real_torch = pytest.importorskip("torch", reason="torch not installed: the snippets are compared with it")


def _same_weights(ours, theirs) -> None:
    ours.load_state_dict({k: backprop.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


# ------------------------------------------------------------------ an MLP classifier


def mlp_classifier(torch, model=None):
    nn = torch.nn
    torch.manual_seed(0)
    if model is None:
        model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.0), nn.Linear(32, 3))
    return model


def train_classifier(torch, model, x_np, y_np, steps=5):
    nn = torch.nn
    x = torch.tensor(x_np, dtype=torch.float32)
    y = torch.tensor(y_np, dtype=torch.long)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logits = model(x)
        loss = criterion(logits, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        acc = (model(x).argmax(dim=1) == y).float().mean().item()
    return losses, acc


def test_mlp_classifier_with_cross_entropy_loss() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    theirs = mlp_classifier(real_torch)
    ours = mlp_classifier(backprop)
    _same_weights(ours, theirs)
    l_theirs, acc_theirs = train_classifier(real_torch, theirs, x, y)
    l_ours, acc_ours = train_classifier(backprop, ours, x, y)
    np.testing.assert_allclose(l_ours, l_theirs, rtol=1e-4)
    assert acc_ours == pytest.approx(acc_theirs)


# ------------------------------------------------------------------ a masked attention block


def attention_block(torch, q, k, v, pad_mask):
    """Scaled dot-product attention with a padding mask and a causal mask, written by hand."""
    b, t, d = q.shape
    scores = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(d)
    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(causal, float("-inf"))
    scores = scores.masked_fill(pad_mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = torch.bmm(weights, v)
    return out.contiguous().view(b, t * d), weights


def test_masked_attention_block() -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 5, 4)) for _ in range(3)]
    pad = np.zeros((2, 5), dtype=bool)
    pad[1, 3:] = True  # the second sequence has two padding positions
    results = {}
    for torch in (real_torch, backprop):
        q, k, v = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays)
        out, weights = attention_block(torch, q, k, v, torch.tensor(pad))
        (out * out).sum().backward()
        results[torch.__name__] = [out.detach().numpy(), weights.detach().numpy()] + [t.grad.numpy() for t in (q, k, v)]
    for ours, theirs in zip(results["backprop"], results["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ a training loop with clipping


def regression_loop(torch, model, x_np, y_np, steps=8):
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    norms, losses = [], []
    model.train()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        pred = model(x).squeeze(-1)
        loss = torch.nn.functional.mse_loss(pred, y)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, norms


def test_training_loop_with_clip_grad_norm() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = (x @ rng.standard_normal(6) + 0.1).astype(np.float32)
    models = {}
    for torch in (real_torch, backprop):
        nn = torch.nn
        models[torch.__name__] = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
    _same_weights(models["backprop"], models["torch"])
    l_theirs, n_theirs = regression_loop(real_torch, models["torch"], x, y)
    l_ours, n_ours = regression_loop(backprop, models["backprop"], x, y)
    np.testing.assert_allclose(n_ours, n_theirs, rtol=1e-4)
    np.testing.assert_allclose(l_ours, l_theirs, rtol=1e-4)


# ------------------------------------------------------------------ a small causal tagger


def make_tagger(torch, vocab=11, dim=8, tags=4):
    nn = torch.nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim, padding_idx=0)
            self.norm = nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, tags))

        def forward(self, tokens):
            h = self.norm(self.embed(tokens))
            q, k, v = self.qkv(h).chunk(3, dim=-1)
            h = h + torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.head(h)

    return Tagger()


def train_tagger(torch, model, tokens_np, tags_np, steps=6):
    F = torch.nn.functional  # noqa: N806 - torch's alias
    tokens = torch.from_numpy(tokens_np)
    tags = torch.from_numpy(tags_np)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logp = F.log_softmax(model(tokens), dim=-1)
        picked = logp.gather(-1, tags.unsqueeze(-1)).squeeze(-1)  # (B, T)
        picked = picked.masked_fill(tokens == 0, 0.0)  # padding does not count
        loss = -picked.sum() / (tokens != 0).sum()
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    with torch.no_grad():
        top2 = model(tokens).topk(2, dim=-1).indices
        hit = (top2 == tags.unsqueeze(-1)).any(dim=-1).float().mean().item()
    return losses, hit


def test_causal_tagger_with_gather_masked_fill_and_topk() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 11, size=(3, 7))
    tokens[2, 5:] = 0  # padding
    tags = rng.integers(0, 4, size=(3, 7))
    models = {torch.__name__: make_tagger(torch) for torch in (real_torch, backprop)}
    _same_weights(models["backprop"], models["torch"])
    l_theirs, hit_theirs = train_tagger(real_torch, models["torch"], tokens, tags)
    l_ours, hit_ours = train_tagger(backprop, models["backprop"], tokens, tags)
    np.testing.assert_allclose(l_ours, l_theirs, rtol=1e-4)
    assert hit_ours == pytest.approx(hit_theirs)
