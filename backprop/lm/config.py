"""The configuration of ``backprop train-lm``: one dataclass, from which the command's options are built.

Each field of ``TrainConfig`` is a ``--flag`` of ``train-lm`` (underscores become dashes) with the
field's default, type and ``metadata``: ``help``, and optionally ``choices``, ``metavar`` and
``cli_default`` (a different default for the command only). A ``bool`` field that defaults to False
is a ``--flag`` that turns it on; one that defaults to True is a ``--no-flag`` that turns it off.
Adding a field here adds the option; nothing else lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backprop.data.text import UNK
from backprop.lm.model import ACTIVATIONS, LMConfig

DEVICES = ("auto", "cpu", "cuda")
# the optimizers ``--optimizer`` offers, with the learning rate each uses when ``--lr`` is not given
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
# what a user may change when resuming; everything else comes from the checkpoint
RESUME_OVERRIDABLE = frozenset(
    {
        "train",
        "valid",
        "test",
        "resume",
        "out",
        "epochs",
        "max_steps",
        "patience",
        "device",
        "log_every",
        "ngram",
        "progress",
    }
)


def option(default: Any, help: str, **cli: Any) -> Any:
    """A dataclass field with ``default`` whose metadata describes its command-line option."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Options of ``backprop train-lm`` (same names, with dashes there); the command's parser is built from this."""

    train: str | None = option(
        None, "training text, UTF-8, one sentence per line (default: the embedded grammar corpus)", metavar="FILE"
    )
    valid: str | None = option(None, "validation text (early stopping, per-epoch perplexity)", metavar="FILE")
    test: str | None = option(None, "test text (final perplexity)", metavar="FILE")
    context: int = option(LMConfig.context, "words of history (n-gram order - 1)", metavar="N")
    embed_dim: int = option(LMConfig.embed_dim, "size of the word embeddings")
    hidden_dim: int = option(LMConfig.hidden_dim, "size of the hidden layer")
    activation: str = option(LMConfig.activation, "hidden-layer nonlinearity", choices=tuple(ACTIVATIONS))
    dropout: float = option(LMConfig.dropout, "dropout probability on the embeddings and the hidden layer")
    tie_weights: bool = option(LMConfig.tie_weights, "share embedding and output matrices (hidden-dim == embed-dim)")
    optimizer: str = option("adam", "optimizer", choices=tuple(DEFAULT_LR))
    lr: float | None = option(
        None, "learning rate (default: " + ", ".join(f"{lr:g} {name}" for name, lr in DEFAULT_LR.items()) + ")"
    )
    lr_decay: float = option(1.0, "multiply the learning rate by this every epoch")
    weight_decay: float = option(0.0, "weight decay (decoupled for adamw)")
    batch_size: int = option(128, "windows per training step")
    # 15: `backprop train-lm` on the embedded corpus stops early after 14 (the README's measured run)
    epochs: int = option(15, "at most this many passes over the training data")
    max_steps: int | None = option(None, "stop after this many steps (resumable)")
    patience: int = option(3, "epochs without improvement before stopping")
    clip_grad: float | None = option(None, "clip the gradient norm to this value")
    min_freq: int = option(1, f"rarer words become {UNK}")
    max_vocab: int | None = option(None, "keep only the most frequent words, this many in all")
    seed: int = option(0, "seed of the initial weights, dropout and batch order")
    device: str = option("auto", "where to train (auto: CUDA when usable)", choices=DEVICES)
    # None: the library writes nothing (or, resuming, into the resumed directory); the command writes runs/lm
    out: str | None = option(None, "checkpoints, metrics.json, loss.png", metavar="DIR", cli_default="runs/lm")
    resume: str | None = option(None, "continue the run checkpointed in DIR", metavar="DIR")
    log_every: int = option(50, "record the training loss every this many steps", metavar="STEPS")
    ngram: bool = option(True, "the interpolated Kneser-Ney baseline on the same windows, for comparison")
    progress: bool = option(True, "the progress bar")
