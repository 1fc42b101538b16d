"""Checkpoints: tensors in safetensors files (no pickle), everything else in one JSON file.

``DIR/checkpoint.json`` names the weight files it belongs to (``model-<step>-<hash>.safetensors``,
``optim-...``, ``best-...``, and ``ngram-...``: the training ids that the Kneser-Ney model of a
mixture is rebuilt from, deterministically, its settings in the JSON's ``ngram`` entry) and records
the SHA-256 of each, checked on every load. A save writes the
new files first, each through a temporary file, ``fsync`` and ``os.replace`` (a file's name includes
its hash, so a save never overwrites a file the current JSON names with different bytes), then
replaces the JSON the same way, then deletes files no longer named: a save killed at any moment, or
failing on a full disk, leaves the previous checkpoint whole and loadable.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as load_bytes
from safetensors.numpy import save as save_bytes

from backprop.data.text import DataError

FORMAT = "backprop-lm-checkpoint/2"
FORMATS = (FORMAT, "backprop-lm-checkpoint/1")  # /1: no SHA-256 sums, still readable
META = "checkpoint.json"
_CHUNK = 1 << 20
# what checkpoint.json must hold, besides format, files and sha256 (train-lm writes all of these)
REQUIRED = {"step": int, "vocab": list, "model_config": dict, "train_config": dict, "progress": dict, "rng": dict}
_PREFIXES = ("model", "optim", "best", "ngram")  # the files a save writes, and deletes once unused
_TYPE_NAMES = {int: "an integer", list: "a list", dict: "an object", str: "a string"}


class CheckpointError(DataError):
    """A checkpoint cannot be written (full disk, no permission); the previous one is left as it was."""


def _write_file(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` in chunks, then ``fsync`` it (the one place bytes are written)."""
    view = memoryview(data)
    with open(path, "wb") as f:
        for start in range(0, len(view), _CHUNK):
            f.write(view[start : start + _CHUNK])
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, whatever happens: a temporary file, then ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def _tensor_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    return save_bytes({k: np.ascontiguousarray(v) for k, v in tensors.items()})


def _load_tensors(path: Path, expected_sha256: str | None) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, after checking its SHA-256 against the one the JSON recorded."""
    if not path.is_file():
        raise DataError(f"{path}: missing checkpoint file")
    data = path.read_bytes()
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise DataError(
            f"{path}: corrupt or truncated checkpoint file: SHA-256 mismatch, it changed since the checkpoint "
            f"was saved (recorded {expected_sha256[:16]}..., found {sha256(data)[:16]}...)"
        )
    try:
        return load_bytes(data)
    except Exception as exc:  # safetensors raises its own error types for bad headers/lengths
        raise DataError(f"{path}: corrupt or truncated checkpoint file ({exc})") from None


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an optimizer state dict into arrays (safetensors) and JSON-able scalars."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for i, st in state["state"].items():
        for k, v in st.items():
            if hasattr(v, "grad_fn"):  # a Tensor of the optimizer's state: its values, on the host
                v = np.array(v.detach().cpu().numpy())
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
    ngram_state: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a checkpoint into ``directory`` atomically; returns the JSON's path.

    An ``OSError`` (full disk, no permission) becomes a ``CheckpointError`` naming the file; the previous
    checkpoint in ``directory`` is then intact (its files are only deleted once the new JSON is in place)."""
    d = Path(directory)
    blobs = {"weights": ("model", _tensor_bytes(model_state))}
    body = dict(meta, format=FORMAT, step=step)
    if optimizer_state is not None:
        arrays, scalars = flatten_optimizer(optimizer_state)
        blobs["optimizer"] = ("optim", _tensor_bytes(arrays))
        body["optimizer"] = scalars
    if best_state is not None:
        blobs["best_weights"] = ("best", _tensor_bytes(best_state))
    if ngram_state is not None:
        blobs["ngram"] = ("ngram", _tensor_bytes(ngram_state))
    sums = {key: sha256(data) for key, (_, data) in blobs.items()}
    files = {key: f"{prefix}-{step:08d}-{sums[key][:12]}.safetensors" for key, (prefix, _) in blobs.items()}
    body["files"] = files
    body["sha256"] = {files[key]: sums[key] for key in files}
    text = json.dumps(body, indent=1, sort_keys=True)
    target = d
    try:
        d.mkdir(parents=True, exist_ok=True)
        for key, (_, data) in blobs.items():
            target = d / files[key]
            _atomic_write(target, data)
        target = d / META
        _atomic_write(target, text.encode("utf-8"))
    except OSError as exc:
        raise CheckpointError(
            f"{target}: cannot save the checkpoint of step {step} ({exc.strerror or exc}); "
            f"the previous checkpoint in {d} is unchanged"
        ) from exc
    _fsync_dir(d)
    keep = set(files.values())
    for f in d.glob("*.safetensors"):
        if f.name not in keep and f.name.split("-")[0] in _PREFIXES:
            f.unlink(missing_ok=True)
    return d / META


def _check_structure(body: Any, meta_path: Path) -> None:
    """Raise DataError naming the first missing or mistyped part of a checkpoint's JSON."""
    if not isinstance(body, dict):
        raise DataError(f"{meta_path}: not a checkpoint (a JSON {type(body).__name__}, expected an object)")
    if body.get("format") not in FORMATS:
        raise DataError(f"{meta_path}: not a {FORMAT} file (format {body.get('format')!r})")
    required = dict(REQUIRED, files=dict)
    if body["format"] == FORMAT:
        required["sha256"] = dict
    for key, kind in required.items():
        if key not in body:
            raise DataError(f"{meta_path}: not a complete checkpoint: no {key!r} entry")
        if not isinstance(body[key], kind) or isinstance(body[key], bool):
            raise DataError(
                f"{meta_path}: {key!r} should be {_TYPE_NAMES[kind]}, not {type(body[key]).__name__} in a checkpoint"
            )
    files = body["files"]
    if "weights" not in files:
        raise DataError(f"{meta_path}: not a complete checkpoint: no 'files.weights' entry")
    for key, name in files.items():
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise DataError(f"{meta_path}: 'files.{key}' should be a file name in {meta_path.parent}, not {name!r}")
        if "sha256" in body and not isinstance(body["sha256"].get(name), str):
            raise DataError(f"{meta_path}: not a complete checkpoint: no 'sha256' entry for {name}")
    if "ngram" in files and not isinstance(body.get("ngram"), dict):
        raise DataError(f"{meta_path}: not a complete checkpoint: no 'ngram' object for {files['ngram']}")
    if "optimizer" in files and not isinstance(body.get("optimizer"), dict):
        raise DataError(f"{meta_path}: not a complete checkpoint: no 'optimizer' object for {files['optimizer']}")
    if not all(isinstance(w, str) for w in body["vocab"]):
        raise DataError(f"{meta_path}: 'vocab' should be a list of words (strings)")


def load(directory: str | os.PathLike, *, best: bool = False, ngram: bool = False) -> dict[str, Any]:
    """Read a checkpoint: its JSON plus ``model_state`` (and ``optimizer_state`` when present; with
    ``ngram``, ``ngram_state``: the n-gram file's arrays, or a DataError when the checkpoint has none).

    The JSON's structure and every file's SHA-256 are checked; any problem is a one-line DataError
    naming the file and what is wrong."""
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
    _check_structure(body, meta_path)
    files, sums = body["files"], body.get("sha256", {})
    key = "best_weights" if best and "best_weights" in files else "weights"
    body["model_state"] = _load_tensors(d / files[key], sums.get(files[key]))
    if "optimizer" in files:
        arrays = _load_tensors(d / files["optimizer"], sums.get(files["optimizer"]))
        try:
            body["optimizer_state"] = unflatten_optimizer(arrays, body["optimizer"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"{meta_path}: bad 'optimizer' entry ({exc!r})") from None
    if ngram:
        if "ngram" not in files:
            raise DataError(
                f"{d}: the checkpoint has no n-gram model (train it with train-lm's n-gram on, the default, "
                "and a --valid file to fit the mixture weight on)"
            )
        body["ngram_state"] = _load_tensors(d / files["ngram"], sums.get(files["ngram"]))
    return body
