"""The ``backprop`` command: ``train-lm``, ``eval`` and ``generate``.

Errors in what the user gave us (a missing or empty corpus, non-UTF-8 text, a corrupt checkpoint,
a CUDA device that is not there, a value out of its range) are one line on stderr and exit code 2,
never a traceback. A training loss that becomes NaN or infinite is exit code 3, Ctrl-C 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from backprop.backends import BackendUnavailable
from backprop.data.text import EOS, EOS_ID, UNK, DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows
from backprop.lm.config import DEVICES, POSITIVE, POSITIVE_REAL, Range, TrainConfig, device_problem, problem

EXIT_NON_FINITE = 3  # train-lm: the training loss became NaN or infinite (2: bad input, 130: Ctrl-C)
# `backprop eval` warns when more than this share of the text's words are outside the checkpoint's vocabulary
OOV_WARNING = 0.05


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


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


def _converter(kind: type, name: str, check: Callable[[str, Any], str | None] | None) -> Callable[[str], Any]:
    """argparse ``type=``: ``kind(text)``, checked by ``check(name, value)``; a bad value is an argparse error
    naming the flag, the value and what is allowed (``argparse.ArgumentTypeError``)."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = text  # the wrong type: ``check`` says what is expected
        issue = check(name, value) if check else None
        if issue is None and isinstance(value, str) and kind is not str:
            issue = f"invalid {kind.__name__} value: {text!r}"
        if issue:
            raise argparse.ArgumentTypeError(issue)
        return value

    convert.__name__ = kind.__name__
    return convert


def _range_check(rng: Range, kind: type[int] | type[float]) -> Callable[[str, Any], str | None]:
    """A ``check`` for ``_converter``: a ``kind`` in ``rng``."""
    what = "an integer" if kind is int else "a finite number"

    def check(name: str, value: Any) -> str | None:
        return None if isinstance(value, kind) and value in rng else f"expected {what} {rng}, got {value!r}"

    return check


def add_dataclass_options(
    parser: argparse.ArgumentParser, cls: type, check: Callable[[str, Any], str | None] | None = None
) -> None:
    """One option per field of the dataclass ``cls``: its type and metadata (help, choices, metavar).

    An option the user does not type is absent from the parsed namespace (``argparse.SUPPRESS``), so
    the command can tell a typed value from a default (``--resume`` keeps the checkpoint's values for
    every flag not typed); ``cli_defaults(cls)`` gives the defaults, which the help text shows.
    ``check(name, value)``, when given, says what is wrong with a value (None when it is allowed): the
    parser rejects such a value with one line naming the flag, the value and what is allowed."""
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
        if meta.get("range") is not None and str(meta["range"]):
            help_text += f" (allowed: {meta['range']})"
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            type=_converter(kind, f.name, check),
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
    add_dataclass_options(p, TrainConfig, check=problem)


_DEVICE_ARG = _converter(str, "device", lambda name, value: device_problem(value))
_DEVICE_METAVAR = "{" + ",".join(DEVICES) + "}"
_MIXTURE_HELP = (
    "use the mixture weight * P_neural + (1 - weight) * P_kneser-ney that train-lm stored in the checkpoint "
    "(the n-gram model is rebuilt from the checkpoint's training ids, SHA-256 checked)"
)


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="perplexity of a checkpoint on a text file")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--device", default="auto", type=_DEVICE_ARG, metavar=_DEVICE_METAVAR)
    p.add_argument("--mixture", action="store_true", help=_MIXTURE_HELP)


def _generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="sample text from a checkpoint")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("--prompt", default="", help="words to start from")
    p.add_argument("--num-words", type=_converter(int, "num_words", _range_check(POSITIVE, int)), default=30)
    p.add_argument("--num-samples", type=_converter(int, "num_samples", _range_check(POSITIVE, int)), default=3)
    p.add_argument(
        "--temperature", type=_converter(float, "temperature", _range_check(POSITIVE_REAL, float)), default=1.0
    )
    p.add_argument("--top-k", type=_converter(int, "top_k", _range_check(POSITIVE, int)), default=None)
    p.add_argument("--seed", type=_converter(int, "seed", lambda name, value: problem(name, value)), default=0)
    p.add_argument("--device", default="auto", type=_DEVICE_ARG, metavar=_DEVICE_METAVAR)
    p.add_argument("--mixture", action="store_true", help=_MIXTURE_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The ``backprop`` parser with its ``train-lm``, ``eval`` and ``generate`` subcommands."""
    parser = _Parser(prog="backprop", description="backprop: autodiff on NumPy/CuPy, and LMs")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _eval_parser(sub)
    _generate_parser(sub)
    return parser


def _load_model(directory: str, device: str, mixture: bool = False):  # noqa: ANN202
    """(model, vocab, ngram, weight) of a checkpoint; ngram and weight are None without ``mixture``."""
    from backprop.creation import tensor
    from backprop.lm import checkpoint
    from backprop.lm.model import FeedForwardLM
    from backprop.lm.ngram import KneserNey

    ck = checkpoint.load(directory, best=True, ngram=mixture)
    try:
        vocab = Vocab(ck["vocab"])
    except ValueError as exc:
        raise DataError(f"{directory}: the checkpoint's 'vocab' is not a vocabulary ({exc})") from None
    try:
        model = FeedForwardLM.from_config(ck["model_config"])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{directory}: the checkpoint's 'model_config' is not a model configuration ({exc})") from None
    if model.config.vocab_size != len(vocab):
        raise DataError(
            f"{directory}: the checkpoint's model has {model.config.vocab_size} words but its "
            f"vocabulary has {len(vocab)}"
        )
    try:
        model.load_state_dict({k: tensor(v) for k, v in ck["model_state"].items()})
    except RuntimeError as exc:
        raise DataError(f"{directory}: weights do not match the model configuration ({exc})") from None
    ngram, weight = None, None
    if mixture:
        try:
            ngram = KneserNey.from_state(ck["ngram_state"], ck["ngram"])
            weight = float(ck["ngram"]["weight"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{directory}: the checkpoint's n-gram model cannot be rebuilt ({exc})") from None
        if ngram.vocab_size != len(vocab) or ngram.order != model.config.context + 1 or not 0 <= weight <= 1:
            raise DataError(
                f"{directory}: the checkpoint's n-gram model (order {ngram.order}, {ngram.vocab_size} words, "
                f"weight {weight}) does not fit its neural model (context {model.config.context}, {len(vocab)} words)"
            )
    return model.to(device).eval(), vocab, ngram, weight


def _cmd_train(args: argparse.Namespace) -> int:
    from backprop import distributed as dist
    from backprop.lm.train import Interrupted, NonFiniteLoss, train

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
    except NonFiniteLoss as exc:
        print(f"backprop: error: {exc}", file=sys.stderr)
        return EXIT_NON_FINITE
    keys = ("best_valid_ppl", "test_ppl", "steps", "tokens_per_s", "seconds", "stopped")
    summary = {k: metrics.get(k) for k in keys}
    for key in ("ngram", "mixture"):
        if key in metrics:
            summary[key] = metrics[key]
    if dist.is_main_process():  # one summary for a job of several processes
        print(json.dumps(summary, indent=1, allow_nan=False))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from backprop.lm import mixture
    from backprop.lm.model import evaluate_perplexity, token_log_probs

    model, vocab, ngram, weight = _load_model(args.checkpoint, args.device, args.mixture)
    tokens = tokenize(read_lines(args.file))
    oov = sum(1 for t in tokens if t not in vocab.stoi)
    oov_rate = oov / len(tokens)
    if oov_rate > OOV_WARNING:
        print(
            f"backprop: warning: {args.file}: {oov_rate:.1%} of the words are not in the checkpoint's vocabulary "
            f"(each counts as {UNK}), so this perplexity says little about the text",
            file=sys.stderr,
        )
    windows = Windows(vocab.encode(tokens), model.config.context)
    if ngram is None or weight is None:
        ppl = evaluate_perplexity(model, windows)
        print(json.dumps({"file": args.file, "perplexity": ppl, "tokens": len(windows), "oov_rate": oov_rate}))
        return 0
    nn_logp, kn_logp = token_log_probs(model, windows), ngram.log_probs(windows)
    result = {
        "file": args.file,
        "perplexity": mixture.perplexity(nn_logp, kn_logp, weight),  # the mixture's
        "tokens": len(windows),
        "oov_rate": oov_rate,
        "mixture_weight": weight,
        "neural_perplexity": float(np.exp(-nn_logp.mean())),
        "ngram_perplexity": float(np.exp(-kn_logp.mean())),
    }
    print(json.dumps(result))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    model, vocab, ngram, weight = _load_model(args.checkpoint, args.device, args.mixture)
    rng = np.random.default_rng(args.seed)
    prompt = vocab.encode(args.prompt.split()).tolist()
    for _ in range(args.num_samples):
        ids = model.sample(
            prompt,
            args.num_words,
            rng,
            args.temperature,
            args.top_k,
            stop_id=EOS_ID,
            ngram=ngram,
            weight=1.0 if weight is None else weight,
        )
        words = [w for w in vocab.decode(ids) if w != EOS]
        print(" ".join(args.prompt.split() + words))
    return 0


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message (it may be redirected)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``backprop`` console script and ``python -m backprop``."""
    args = build_parser().parse_args(argv)
    env_device = os.environ.get("BACKPROP_DEVICE")
    if env_device and device_problem(env_device):  # the default device, read where a tensor is first made
        print(f"backprop: error: BACKPROP_DEVICE: {device_problem(env_device)}", file=sys.stderr)
        return 2
    if not logging.getLogger("backprop").handlers:  # show the library's one-line notices (device choice)
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("backprop").addHandler(handler)
        logging.getLogger("backprop").setLevel(logging.INFO)
    commands = {"train-lm": _cmd_train, "eval": _cmd_eval, "generate": _cmd_generate}
    try:
        code = commands[args.command](args)
    except (DataError, BackendUnavailable) as exc:
        print(f"backprop: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("backprop: interrupted", file=sys.stderr)
        code = 130
    return _job_exit(code)


def _job_exit(code: int) -> int:
    """``code``; in a job of several processes (``mpiexec -n N backprop ...``) a rank that fails ends them
    all (``MPI_Abort``) rather than leave the others waiting for it. Uncaught exceptions do the same
    (``backprop.distributed`` installs the hook)."""
    from backprop import distributed as dist

    if code and dist.is_initialized() and dist.get_world_size() > 1:
        rank, size = dist.get_rank(), dist.get_world_size()
        print(f"backprop: rank {rank} of {size} failed (exit code {code}); aborting the job", file=sys.stderr)
        dist.abort(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
