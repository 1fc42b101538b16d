"""The ``backprop`` command: ``train-lm``, ``eval`` and ``generate``.

Errors in what the user gave us (a missing or empty corpus, non-UTF-8 text, a corrupt checkpoint,
a CUDA device that is not there) are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop.backends import BackendUnavailable
from backprop.data.text import EOS, EOS_ID, DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows
from backprop.lm.config import DEVICES, TrainConfig


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option_type(annotation: Any) -> type:
    """``int`` for ``int`` and ``int | None``, and so on; what argparse converts the value with."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    kind = args[0] if len(args) == 1 else annotation
    if kind not in (str, int, float, bool):
        raise TypeError(f"no command-line option for a field of type {annotation!r}")
    return kind


def cli_defaults(cls: type) -> dict[str, Any]:
    """The command's default for each field of ``cls``: ``cli_default`` where the metadata gives one."""
    return {f.name: f.metadata.get("cli_default", f.default) for f in dataclasses.fields(cls)}


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per field of the dataclass ``cls``: its type and metadata (help, choices, metavar).

    An option the user does not type is absent from the parsed namespace (``argparse.SUPPRESS``), so
    the command can tell a typed value from a default (``--resume`` keeps the checkpoint's values for
    every flag not typed); ``cli_defaults(cls)`` gives the defaults, which the help text shows."""
    hints = typing.get_type_hints(cls)
    defaults = cli_defaults(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = defaults[f.name]
        kind = _option_type(hints[f.name])
        help_text = meta.get("help", "")
        if kind is bool:
            if default:
                parser.add_argument(
                    _flag("no_" + f.name),
                    dest=f.name,
                    action="store_false",
                    default=argparse.SUPPRESS,
                    help=f"turn off {help_text}",
                )
            else:
                parser.add_argument(
                    _flag(f.name), dest=f.name, action="store_true", default=argparse.SUPPRESS, help=help_text
                )
            continue
        if default is not None and "default:" not in help_text:
            help_text += f" (default: {default})"
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            type=kind,
            default=argparse.SUPPRESS,
            choices=meta.get("choices"),
            metavar=meta.get("metavar"),
            help=help_text,
        )


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-lm",
        help="train a feedforward neural LM (the embedded corpus by default)",
        description="Train a feedforward neural language model (Bengio et al. 2003). With no "
        "data arguments it trains on the embedded grammar corpus and compares with an n-gram.",
    )
    add_dataclass_options(p, TrainConfig)


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="perplexity of a checkpoint on a text file")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--device", default="auto", choices=DEVICES)


def _generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="sample text from a checkpoint")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("--prompt", default="", help="words to start from")
    p.add_argument("--num-words", type=int, default=30)
    p.add_argument("--num-samples", type=int, default=3)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=DEVICES)


def build_parser() -> argparse.ArgumentParser:
    """The ``backprop`` parser with its ``train-lm``, ``eval`` and ``generate`` subcommands."""
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
    from backprop.lm.train import Interrupted, train

    given = {f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}  # the flags typed
    cfg = TrainConfig(**{**cli_defaults(TrainConfig), **{name: getattr(args, name) for name in given}})
    try:
        metrics = train(cfg, given=given)
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
        ids = model.sample(prompt, args.num_words, rng, args.temperature, args.top_k, stop_id=EOS_ID)
        words = [w for w in vocab.decode(ids) if w != EOS]
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
