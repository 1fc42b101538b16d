"""The feedforward neural language model of Bengio et al. (2003)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from backprop import nn
from backprop.autograd.grad_mode import no_grad
from backprop.creation import tensor
from backprop.data.text import EOS_ID
from backprop.data.windows import Windows
from backprop.lm.ngram import KneserNey
from backprop.nn import functional as F
from backprop.tensor import Tensor

# the hidden-layer nonlinearities by name: the model, TrainConfig and ``train-lm --activation`` all read this
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


@dataclass
class LMConfig:
    """Everything needed to rebuild a FeedForwardLM (stored in checkpoints)."""

    vocab_size: int
    context: int = 3
    embed_dim: int = 32
    hidden_dim: int = 128
    activation: str = "tanh"
    dropout: float = 0.0
    tie_weights: bool = False
    direct: bool = False  # Bengio's direct connections: a linear map from e to the logits (old checkpoints: off)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return asdict(self)


class FeedForwardLM(nn.Module):
    """P(w_t | w_{t-n+1} .. w_{t-1}) = softmax(U f(W e + b) + c), e = [E x_{t-n+1}; ...; E x_{t-1}].

    ``context`` is n - 1 words of history; ``tie_weights`` shares E with U (needs hidden_dim ==
    embed_dim); ``direct`` adds Bengio's direct connections, a matrix D (V, context * embed_dim) with
    logits U f(W e + b) + c + D e.
    """

    def __init__(
        self,
        vocab_size: int,
        context: int = LMConfig.context,
        embed_dim: int = LMConfig.embed_dim,
        hidden_dim: int = LMConfig.hidden_dim,
        activation: str = LMConfig.activation,
        dropout: float = LMConfig.dropout,
        tie_weights: bool = LMConfig.tie_weights,
        direct: bool = LMConfig.direct,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if tie_weights and hidden_dim != embed_dim:
            raise ValueError(
                f"tie_weights needs hidden_dim == embed_dim (the output matrix is the embedding "
                f"matrix), got hidden_dim={hidden_dim}, embed_dim={embed_dim}"
            )
        self.config = LMConfig(vocab_size, context, embed_dim, hidden_dim, activation, dropout, tie_weights, direct)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.hidden = nn.Linear(context * embed_dim, hidden_dim)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_dim, vocab_size)
        if tie_weights:  # one matrix: N(0, 1/embed_dim), so the logits U h start small (N(0, 1) gives std ~sqrt(H))
            nn.init.normal_(self.embedding.weight, 0.0, embed_dim**-0.5)
            self.output.weight = self.embedding.weight
        if direct:  # registered only when on: the state_dict keys of models without it are unchanged
            self.direct = nn.Linear(context * embed_dim, vocab_size, bias=False)
            nn.init.zeros_(self.direct.weight)  # starts as the plain model; learns the n-gram-like shortcut

    @classmethod
    def from_config(cls, config: LMConfig | dict[str, Any]) -> FeedForwardLM:
        """A fresh model (untrained weights) of the shape ``config`` describes."""
        c = config if isinstance(config, LMConfig) else LMConfig(**config)
        return cls(**c.to_dict())

    def forward(self, context_ids: Tensor) -> Tensor:
        """Logits (B, V) for contexts (B, context) of word ids."""
        b, n = context_ids.shape
        if n != self.config.context:
            raise ValueError(f"FeedForwardLM: expected contexts of {self.config.context} words, got shape {(b, n)}")
        e = self.dropout(self.embedding(context_ids).reshape(b, n * self.config.embed_dim))
        logits = self.output(self.dropout(self.activation(self.hidden(e))))
        return logits + self.direct(e) if self.config.direct else logits

    @no_grad()
    def sample(
        self,
        prompt_ids: list[int],
        num_words: int,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int | None = None,
        stop_id: int | None = None,
        ngram: KneserNey | None = None,
        weight: float = 1.0,
    ) -> list[int]:
        """Sample continuation ids (stops early at ``stop_id``); with ``ngram``, from the mixture
        ``weight * P_model + (1 - weight) * P_ngram``."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        n = self.config.context
        ids = [EOS_ID] * n + list(prompt_ids)  # <eos> padding, as the training windows
        out: list[int] = []
        dev = self.embedding.weight.device
        for _ in range(num_words):
            ctx = tensor(np.asarray([ids[-n:]], dtype=np.int64), device=dev)
            logits = self.forward(ctx).detach().numpy()[0].astype(np.float64)
            if ngram is not None:
                p_nn = np.exp(logits - logits.max())
                p_mix = weight * p_nn / p_nn.sum() + (1 - weight) * ngram.distribution(np.asarray([ids[-n:]]))[0]
                logits = np.log(np.maximum(p_mix, 1e-300))
            logits = logits / temperature
            if top_k is not None and 0 < top_k < logits.size:
                cut = np.partition(logits, -top_k)[-top_k]
                logits = np.where(logits >= cut, logits, -np.inf)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            w = int(rng.choice(p.size, p=p))
            out.append(w)
            ids.append(w)
            if stop_id is not None and w == stop_id:
                break
        return out


@no_grad()
def evaluate_perplexity(model: FeedForwardLM, windows: Any, batch_size: int = 1024) -> float:
    """exp(mean cross-entropy) over every window of ``windows`` (every <eos> counted)."""
    was_training = model.training
    model.eval()
    dev = model.embedding.weight.device
    total = 0.0
    for ctx, tgt in windows.batches(batch_size):
        logits = model(tensor(ctx, device=dev))
        total += F.cross_entropy(logits, tensor(tgt, device=dev), reduction="sum").item()
    model.train(was_training)
    return float(np.exp(total / max(1, len(windows))))


@no_grad()
def token_log_probs(model: FeedForwardLM, windows: Windows, batch_size: int = 1024) -> np.ndarray:
    """ln P(target | context) under ``model`` for every window of ``windows``: (len(windows),) float64."""
    was_training = model.training
    model.eval()
    dev = model.embedding.weight.device
    parts = [np.zeros(0)]
    for ctx, tgt in windows.batches(batch_size):
        nll = F.cross_entropy(model(tensor(ctx, device=dev)), tensor(tgt, device=dev), reduction="none")
        parts.append(-nll.numpy().astype(np.float64))
    model.train(was_training)
    return np.concatenate(parts)
