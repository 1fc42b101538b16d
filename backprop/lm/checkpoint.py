"""Checkpoints: tensors in safetensors files (no pickle), everything else in one JSON file.

``DIR/checkpoint.json`` names the weight files it belongs to (``model-<step>.safetensors``,
``optim-<step>.safetensors``, ``best-<step>.safetensors``). A save writes the new files first, each
through a temporary file and ``os.replace``, then replaces the JSON, then deletes files no longer
named: an interrupted save leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from backprop.data.text import DataError

FORMAT = "backprop-lm-checkpoint/1"
META = "checkpoint.json"


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _save_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    _atomic_write(path, lambda tmp: save_file(arrays, tmp))


def _load_tensors(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: missing checkpoint file")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for bad headers/lengths
        raise DataError(f"{path}: corrupt or truncated checkpoint file ({exc})") from None


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an optimizer state dict into arrays (safetensors) and JSON-able scalars."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for i, st in state["state"].items():
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                arrays[f"state.{i}.{k}"] = v
            else:
                scalars.setdefault(str(i), {})[k] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return arrays, {"scalars": scalars, "param_groups": groups}


def unflatten_optimizer(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, v in arrays.items():
        _, i, name = key.split(".", 2)
        state.setdefault(int(i), {})[name] = v
    for i, sc in meta["scalars"].items():
        state.setdefault(int(i), {}).update(sc)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def save(
    directory: str | os.PathLike,
    *,
    step: int,
    model_state: dict[str, np.ndarray],
    optimizer_state: dict[str, Any] | None,
    meta: dict[str, Any],
    best_state: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a checkpoint into ``directory`` atomically; returns the JSON's path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = {"weights": f"model-{step:08d}.safetensors"}
    _save_tensors(d / files["weights"], model_state)
    body = dict(meta, format=FORMAT, step=step)
    if optimizer_state is not None:
        arrays, scalars = flatten_optimizer(optimizer_state)
        files["optimizer"] = f"optim-{step:08d}.safetensors"
        _save_tensors(d / files["optimizer"], arrays)
        body["optimizer"] = scalars
    if best_state is not None:
        files["best_weights"] = f"best-{step:08d}.safetensors"
        _save_tensors(d / files["best_weights"], best_state)
    body["files"] = files
    text = json.dumps(body, indent=1, sort_keys=True)
    _atomic_write(d / META, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    keep = set(files.values())
    for f in d.glob("*.safetensors"):
        if f.name not in keep and f.name.split("-")[0] in ("model", "optim", "best"):
            f.unlink(missing_ok=True)
    return d / META


def load(directory: str | os.PathLike, *, best: bool = False) -> dict[str, Any]:
    """Read a checkpoint: its JSON plus ``model_state`` (and ``optimizer_state`` when present)."""
    d = Path(directory)
    meta_path = d / META
    if not d.exists():
        raise DataError(f"{d}: no such checkpoint directory")
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: missing (is {d} a checkpoint directory written by train-lm?)")
    try:
        body = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{meta_path}: corrupt checkpoint metadata ({exc})") from None
    if body.get("format") != FORMAT:
        raise DataError(f"{meta_path}: not a {FORMAT} file (format {body.get('format')!r})")
    files = body["files"]
    key = "best_weights" if best and "best_weights" in files else "weights"
    body["model_state"] = _load_tensors(d / files[key])
    if "optimizer" in files:
        body["optimizer_state"] = unflatten_optimizer(_load_tensors(d / files["optimizer"]), body["optimizer"])
    return body
