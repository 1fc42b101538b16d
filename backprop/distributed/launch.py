"""``python -m backprop.distributed.launch``: torch's deprecated launcher, ``torch.distributed.launch``.

torchrun's flags (``python -m backprop.run``'s) and ``--use-env``: without it each process also gets
``--local-rank=<local rank>`` before its own arguments (``LOCAL_RANK`` is set either way); with ``--no-python``
``--use-env`` is required. Warns, as torch, with a ``FutureWarning`` that the module is deprecated.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from backprop.run import _main, get_args_parser

__all__ = ["launch", "main", "parse_args"]

_DEPRECATED = (
    "The module torch.distributed.launch is deprecated\n"
    "and will be removed in future. Use torchrun.\n"
    "Note that --use-env is set by default in torchrun.\n"
    "If your script expects `--local-rank` argument to be set, please\n"
    "change it to read from `os.environ['LOCAL_RANK']` instead. See \n"
    "https://pytorch.org/docs/stable/distributed.html#launch-utility for \n"
    "further instructions\n"
)


def parse_args(args: list[str] | None) -> argparse.Namespace:
    parser = get_args_parser()
    parser.prog = "python -m backprop.distributed.launch"
    parser.add_argument(
        "--use-env", "--use_env", default=False, action="store_true",
        help="pass the local rank in LOCAL_RANK only (the default also passes --local-rank=<local rank>)",
    )  # fmt: skip
    return parser.parse_args(args)


def launch(args: argparse.Namespace) -> int:
    if args.no_python and not args.use_env:
        raise ValueError("When using the '--no-python' flag, you must also set the '--use-env' flag.")
    args.local_rank_arg = not args.use_env
    return _main(args)


def main(args: list[str] | None = None) -> int:
    warnings.warn(_DEPRECATED, FutureWarning, stacklevel=2)
    return launch(parse_args(args))


if __name__ == "__main__":
    sys.exit(main())
