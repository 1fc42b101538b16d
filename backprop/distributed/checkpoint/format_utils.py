"""``torch.distributed.checkpoint.format_utils``: a DCP directory to one ``bp.save`` file and back (one process)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from backprop import serialization
from backprop.distributed.checkpoint import _read_bytes, _read_metadata, _read_range, save
from backprop.tensor import Tensor

__all__ = ["dcp_to_torch_save", "torch_save_to_dcp"]


def dcp_to_torch_save(dcp_checkpoint_dir: str | os.PathLike, torch_save_path: str | os.PathLike) -> None:
    """Every value of the checkpoint, whole, in its nested place, written with ``bp.save`` (torch's ``torch.save``
    file; ours is a ``bp.save`` pickle)."""
    directory = os.fspath(dcp_checkpoint_dir)
    md = _read_metadata(directory)
    sd: dict[Any, Any] = {}
    for key, entry in md.state_dict_metadata.items():
        if entry["kind"] == "bytes":
            value: Any = _read_bytes(directory, entry)
        else:
            n = int(np.prod(entry["size"], dtype=np.int64))
            value = Tensor._of(_read_range(directory, entry, 0, n).reshape(entry["size"]))
        path = md.paths[key]
        node = sd
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    serialization.save(_lists(sd), torch_save_path)


def _lists(node: Any) -> Any:
    """Containers whose keys are 0..n-1 integers back to lists (the flattening turned lists into indices)."""
    if not isinstance(node, dict):
        return node
    out = {k: _lists(v) for k, v in node.items()}
    if out and all(isinstance(k, int) for k in out) and sorted(out) == list(range(len(out))):
        return [out[i] for i in range(len(out))]
    return out


def torch_save_to_dcp(torch_save_path: str | os.PathLike, dcp_checkpoint_dir: str | os.PathLike) -> None:
    """A ``bp.save`` file's state dict as a DCP checkpoint (one process)."""
    save(serialization.load(torch_save_path, weights_only=False), checkpoint_id=dcp_checkpoint_dir, no_dist=True)
