"""The ``backprop`` command: ``train-lm``, ``eval`` and ``generate``.

Errors in what the user gave us (a missing or empty corpus, non-UTF-8 text, a corrupt checkpoint,
a CUDA device that is not there) are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop.backends import BackendUnavailable
from backprop.data.text import DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-lm",
        help="train a feedforward neural LM (the embedded corpus by default)",
        description="Train a feedforward neural language model (Bengio et al. 2003). With no "
        "data arguments it trains on the embedded grammar corpus and compares with an n-gram.",
    )
    p.add_argument("--train", metavar="FILE", help="training text, UTF-8, one sentence per line")
    p.add_argument("--valid", metavar="FILE", help="validation text (early stopping, per-epoch perplexity)")
    p.add_argument("--test", metavar="FILE", help="test text (final perplexity)")
    p.add_argument("--context", type=int, default=3, metavar="N", help="words of history (n-gram order - 1)")
    p.add_argument("--embed-dim", type=int, default=32)
    p.add_argument("--hidden-dim", type=int, default=128)
    p.add_argument("--activation", default="tanh", choices=["tanh", "relu", "gelu", "silu", "sigmoid"])
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--tie-weights", action="store_true", help="share embedding and output matrices")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw"])
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.1 sgd, 1e-3 adam/adamw)")
    p.add_argument("--lr-decay", type=float, default=1.0, help="multiply the learning rate by this every epoch")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resumable)")
    p.add_argument("--patience", type=int, default=3, help="epochs without improvement before stopping")
    p.add_argument("--clip-grad", type=float, default=None, help="clip the gradient norm to this value")
    p.add_argument("--min-freq", type=int, default=1, help="rarer words become <unk>")
    p.add_argument("--max-vocab", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", metavar="DIR", default="runs/lm", help="checkpoints, metrics.json, loss.png (runs/lm)")
    p.add_argument("--resume", metavar="DIR", help="continue the run checkpointed in DIR")
    p.add_argument("--log-every", type=int, default=50, metavar="STEPS")
    p.add_argument("--no-ngram", dest="ngram", action="store_false", help="skip the n-gram baseline")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="perplexity of a checkpoint on a text file")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="sample text from a checkpoint")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("--prompt", default="", help="words to start from")
    p.add_argument("--num-words", type=int, default=30)
    p.add_argument("--num-samples", type=int, default=3)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backprop", description="backprop: autodiff on NumPy/CuPy, and LMs")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _eval_parser(sub)
    _generate_parser(sub)
    return parser


def _load_model(directory: str, device: str):  # noqa: ANN202 - returns (model, vocab)
    from backprop.creation import tensor
    from backprop.lm import checkpoint
    from backprop.lm.model import FeedForwardLM

    ck = checkpoint.load(directory, best=True)
    vocab = Vocab(ck["vocab"])
    model = FeedForwardLM.from_config(ck["model_config"])
    if model.config.vocab_size != len(vocab):
        raise DataError(
            f"{directory}: the checkpoint's model has {model.config.vocab_size} words but its "
            f"vocabulary has {len(vocab)}"
        )
    try:
        model.load_state_dict({k: tensor(v) for k, v in ck["model_state"].items()})
    except RuntimeError as exc:
        raise DataError(f"{directory}: weights do not match the model configuration ({exc})") from None
    return model.to(device).eval(), vocab


def _cmd_train(args: argparse.Namespace) -> int:
    from backprop.lm.train import Interrupted, TrainConfig, train

    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k != "command"})
    try:
        metrics = train(cfg)
    except Interrupted as stop:
        where = (
            f"checkpoint saved to {stop.directory}; resume with --resume {stop.directory}"
            if stop.directory
            else "no --out given, nothing saved"
        )
        print(f"backprop: interrupted: {where}", file=sys.stderr)
        return 130
    summary = {k: metrics.get(k) for k in ("best_valid_ppl", "test_ppl", "steps", "tokens_per_s", "seconds")}
    if "ngram" in metrics:
        summary["ngram"] = metrics["ngram"]
    print(json.dumps(summary, indent=1))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from backprop.lm.model import evaluate_perplexity

    model, vocab = _load_model(args.checkpoint, args.device)
    windows = Windows(vocab.encode(tokenize(read_lines(args.file))), model.config.context)
    print(json.dumps({"file": args.file, "perplexity": evaluate_perplexity(model, windows), "tokens": len(windows)}))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    model, vocab = _load_model(args.checkpoint, args.device)
    rng = np.random.default_rng(args.seed)
    prompt = vocab.encode(args.prompt.split()).tolist()
    for _ in range(args.num_samples):
        ids = model.sample(prompt, args.num_words, rng, args.temperature, args.top_k, stop_id=vocab.stoi["<eos>"])
        words = [w for w in vocab.decode(ids) if w != "<eos>"]
        print(" ".join(args.prompt.split() + words))
    return 0


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message (it may be redirected)."""

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``backprop`` console script and ``python -m backprop``."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger("backprop").handlers:  # show the library's one-line notices (device choice)
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("backprop").addHandler(handler)
        logging.getLogger("backprop").setLevel(logging.INFO)
    commands = {"train-lm": _cmd_train, "eval": _cmd_eval, "generate": _cmd_generate}
    try:
        return commands[args.command](args)
    except (DataError, BackendUnavailable) as exc:
        print(f"backprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("backprop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
