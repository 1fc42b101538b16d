"""``python -m backprop.distributed.run``: ``torch.distributed.run`` (torchrun), i.e. ``python -m backprop.run``:
the same flags, variables, restarts and failure summary."""

from __future__ import annotations

import sys

from backprop.run import get_args_parser, main, parse_args, run

__all__ = ["get_args_parser", "main", "parse_args", "run"]

if __name__ == "__main__":
    sys.exit(main())
