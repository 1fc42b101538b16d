"""The configuration of ``backprop train-lm``: one dataclass, from which the command's options are built.

Each field of ``TrainConfig`` is a ``--flag`` of ``train-lm`` (underscores become dashes) with the
field's default, type and ``metadata``: ``help``, and optionally ``choices``, ``metavar`` and
``cli_default`` (a different default for the command only) and ``range`` (a ``Range``: the values a
number may take; numbers are always finite; ``device`` takes the forms of ``DEVICES``).
The parser checks each value as it reads it and ``train()`` checks a whole ``TrainConfig`` (``validate``),
both with ``problem``. A ``bool`` field that defaults to False
is a ``--flag`` that turns it on; one that defaults to True is a ``--no-flag`` that turns it off.
Adding a field here adds the option; nothing else lists them.
"""

from __future__ import annotations

import math
import re
import typing
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any

from backprop.data.text import SPECIALS, UNK
from backprop.lm.model import ACTIVATIONS, LMConfig

DEVICES = ("auto", "cpu", "cuda", "cuda:N")  # the forms --device accepts (N: a CUDA device index)
_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
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
        "compile",
        "distributed",  # a checkpoint resumes under any number of processes
    }
)


@dataclass(frozen=True)
class Range:
    """The finite numbers from ``lo`` to ``hi`` (None: unbounded), each end included unless ``*_open``."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo}, {self.hi}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi}"
        return ""


POSITIVE = Range(1)  # counts and sizes: 1, 2, ...
NON_NEGATIVE = Range(0)
POSITIVE_REAL = Range(0, lo_open=True)


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
    context: int = option(LMConfig.context, "words of history (n-gram order - 1)", metavar="N", range=POSITIVE)
    embed_dim: int = option(LMConfig.embed_dim, "size of the word embeddings", range=POSITIVE)
    hidden_dim: int = option(LMConfig.hidden_dim, "size of the hidden layer", range=POSITIVE)
    activation: str = option(LMConfig.activation, "hidden-layer nonlinearity", choices=tuple(ACTIVATIONS))
    dropout: float = option(
        LMConfig.dropout, "dropout probability on the embeddings and the hidden layer", range=Range(0, 1, hi_open=True)
    )
    tie_weights: bool = option(LMConfig.tie_weights, "share embedding and output matrices (hidden-dim == embed-dim)")
    direct: bool = option(
        LMConfig.direct, "Bengio's direct connections: a linear map from the context embeddings to the logits"
    )
    optimizer: str = option("adam", "optimizer", choices=tuple(DEFAULT_LR))
    lr: float | None = option(
        None,
        "learning rate (default: " + ", ".join(f"{lr:g} {name}" for name, lr in DEFAULT_LR.items()) + ")",
        range=POSITIVE_REAL,
    )
    lr_decay: float = option(1.0, "multiply the learning rate by this every epoch", range=POSITIVE_REAL)
    weight_decay: float = option(0.0, "weight decay (decoupled for adamw)", range=NON_NEGATIVE)
    batch_size: int = option(128, "windows per training step", range=POSITIVE)
    # 15: `backprop train-lm` on the embedded corpus stops early after 14 (the README's measured run)
    epochs: int = option(15, "at most this many passes over the training data", range=POSITIVE)
    max_steps: int | None = option(None, "stop after this many steps (resumable)", range=POSITIVE)
    patience: int = option(3, "epochs without improvement before stopping", range=POSITIVE)
    clip_grad: float | None = option(None, "clip the gradient norm to this value", range=POSITIVE_REAL)
    min_freq: int = option(1, f"rarer words become {UNK}", range=POSITIVE)
    max_vocab: int | None = option(
        None, "keep only the most frequent words, this many in all", range=Range(len(SPECIALS) + 1)
    )
    seed: int = option(0, "seed of the initial weights, dropout and batch order", range=Range(0, 2**32 - 1))
    device: str = option(
        "auto",
        "where to train (auto: CUDA when usable)",
        metavar="{" + ",".join(DEVICES) + "}",
    )
    # None: the library writes nothing (or, resuming, into the resumed directory); the command writes runs/lm
    out: str | None = option(None, "checkpoints, metrics.json, loss.png", metavar="DIR", cli_default="runs/lm")
    resume: str | None = option(None, "continue the run checkpointed in DIR", metavar="DIR")
    log_every: int = option(50, "record the training loss every this many steps", metavar="STEPS", range=POSITIVE)
    ngram: bool = option(
        True,
        "the interpolated Kneser-Ney model (order context+1) on the same windows, for comparison, and its "
        "mixture with the neural LM (weight fitted on --valid; stored in the checkpoint for eval/generate --mixture)",
    )
    progress: bool = option(True, "the progress bar")
    compile: bool = option(
        True,
        "replay the training step with bp.compile after two recorded steps (bitwise the same results, less "
        "Python per step); --no-compile runs every step eagerly",
    )
    distributed: bool = option(
        False,
        "join an MPI job even when no launcher is detected (mpiexec/mpirun are detected without it; "
        "--batch-size stays the global batch, split among the processes)",
    )


def device_problem(spec: Any) -> str | None:
    """What is wrong with a device string (None when it has one of the forms of ``DEVICES``)."""
    if isinstance(spec, str) and _DEVICE_PATTERN.fullmatch(spec):
        return None
    return f"expected {', '.join(DEVICES[:-1])} or {DEVICES[-1]}, got {spec!r}"


def expected(name: str) -> str:
    """What the field ``name`` of TrainConfig takes, in words ("an integer >= 1")."""
    f = _FIELDS[name]
    kind = _KINDS[name]
    if kind is bool:
        return "True or False"
    if kind is str:
        return "one of " + ", ".join(f.metadata["choices"]) if "choices" in f.metadata else "a string"
    what = "an integer" if kind is int else "a finite number"
    bounds = str(f.metadata.get("range", ""))
    return f"{what} {bounds}" if bounds else what


def problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the TrainConfig field ``name`` (its type, range, choices), or None."""
    f = _FIELDS[name]
    kind = _KINDS[name]
    if value is None and _NULLABLE[name]:
        return None
    if name == "device":
        return device_problem(value)
    ok_type = {
        bool: isinstance(value, bool),
        int: isinstance(value, Integral) and not isinstance(value, bool),
        float: isinstance(value, Real) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[kind]
    bad = not ok_type
    if ok_type and kind in (int, float):
        bad = value not in f.metadata.get("range", Range())
    elif ok_type and kind is str:
        bad = "choices" in f.metadata and value not in f.metadata["choices"]
    return f"expected {expected(name)}, got {value!r}" if bad else None


def validate(cfg: TrainConfig) -> None:
    """Raise ValueError naming the first field of ``cfg`` whose value is not allowed (type, range, choices)."""
    for f in fields(cfg):
        issue = problem(f.name, getattr(cfg, f.name))
        if issue:
            raise ValueError(f"TrainConfig.{f.name}: {issue}")


_FIELDS = {f.name: f for f in fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)
_NULLABLE = {name: type(None) in typing.get_args(hint) for name, hint in _HINTS.items()}
_KINDS = {
    name: next((a for a in typing.get_args(hint) if a is not type(None)), hint) if _NULLABLE[name] else hint
    for name, hint in _HINTS.items()
}
