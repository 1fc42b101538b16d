"""What the example programs add to their originals to be compared: logs, initial weights, final weights.

Every program runs under ``torchrun`` (real torch) and under ``python -m backprop.run`` with ``as_backprop.py``
(``torch`` is backprop), 2 processes each; ``EX_OUT`` is the folder they write to. ``record`` appends one JSON
line to ``EX_OUT/<name>-rank<R>.jsonl``; ``same_init`` writes rank 0's initial weights to ``EX_OUT/<name>-init.npz``
(torch's run) or loads them from ``EX_INIT/<name>-init.npz`` (backprop's run, when torch's file is given);
``save_final`` writes each rank's state_dict. The shuffles
(``DistributedSampler``, ``random_split`` with a seeded generator) are the same in both runs: backprop's CPU
``randperm`` is torch's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

OUT = Path(os.environ.get("EX_OUT", "."))
INIT = os.environ.get("EX_INIT")


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def record(name: str, **values: Any) -> None:
    """One line of this rank's log: losses as Python floats (``float(tensor)``), ints, strings."""
    with open(OUT / f"{name}-rank{rank()}.jsonl", "a") as f:
        f.write(json.dumps(values) + "\n")


def same_init(model: Any, name: str, ranks: str = "0") -> None:
    """Load torch's initial weights into ``model`` (on rank 0, or on every rank with ``ranks="all"``), or, in
    the run that makes them, write rank 0's."""
    if INIT is not None:
        if ranks == "all" or rank() == 0:
            sd = np.load(Path(INIT) / f"{name}-init.npz")
            model.load_state_dict({k: torch.from_numpy(sd[k]) for k in sd.files})
    elif rank() == 0 and not (OUT / f"{name}-init.npz").exists():  # (a resumed run keeps the first run's)
        np.savez(OUT / f"{name}-init.npz", **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def save_final(model: Any, name: str) -> None:
    """This rank's state_dict as ``EX_OUT/<name>-final-rank<R>.npz``."""
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    np.savez(OUT / f"{name}-final-rank{rank()}.npz", **state)


_RNG: dict[int, np.random.Generator] = {}


def randn(*size: int) -> Any:
    """``torch.randn(*size)`` from a NumPy stream seeded by the rank (the same in both runs)."""
    rng = _RNG.setdefault(rank(), np.random.default_rng(100 + rank()))
    return torch.from_numpy(rng.standard_normal(size).astype(np.float32))
