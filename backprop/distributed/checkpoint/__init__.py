"""``torch.distributed.checkpoint`` (DCP): every rank saves what it owns, and loads reshard.

``save(state_dict, checkpoint_id=dir)`` writes one file per rank, ``__<rank>_<save id>.distcp``: its parts of
sharded values (``state_dict.get_state_dict``'s FSDP values, each the part of a raveled parameter that the rank's
flat shard holds) and the replicated values assigned to it (each written once, by the lowest rank that holds it:
rank 0 unless it lacks the key, torch's deduplication). Rank 0 then writes ``.metadata`` (each key's global shape,
dtype and chunks: file, byte offset, raveled start and length) last and atomically (a temporary file, ``fsync``,
rename), so a save interrupted before it leaves the previous checkpoint loadable and never a half-written one;
the data files of the checkpoint it replaces are removed after. ``load(state_dict, checkpoint_id=dir)`` reads the
metadata and fills the state dict's tensors in place, each rank reading the chunks that overlap its part, so a
checkpoint loads under another world size, FSDP, DDP or one process. Non-tensor values are pickled and replaced
on load, as torch's. The format is ours (raw array bytes and a pickle of plain Python types): a directory is not
exchangeable with torch's, whose ``.metadata`` pickles torch classes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import pickle
import secrets
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.autograd.function import bump_version
from backprop.distributed.checkpoint import _shards
from backprop.distributed.checkpoint.stateful import Stateful
from backprop.dtypes import to_dtype
from backprop.size import Size
from backprop.tensor import Tensor

__all__ = [
    "CheckpointException",
    "FileSystemReader",
    "FileSystemWriter",
    "Metadata",
    "Stateful",
    "async_save",
    "load",
    "load_state_dict",
    "save",
    "save_state_dict",
]

METADATA = ".metadata"
_VERSION = "backprop-dcp-1"


class CheckpointException(BaseException):
    """A save or load failed on some ranks (torch's): ``failures`` maps each failed rank to its error and
    formatted traceback; every rank raises it."""

    def __init__(self, msg: str, failures: dict[int, Any]) -> None:
        super().__init__(msg, failures)
        self._failures = failures

    @property
    def failures(self) -> dict[int, Any]:
        """Rank -> (exception, formatted traceback)."""
        return self._failures

    def __str__(self) -> str:
        out = f"CheckpointException ranks:{self._failures.keys()}\n"
        for rank, (exc, trace) in self._failures.items():
            out += f"Traceback (most recent call last): (RANK {rank})\n{trace or ''}"
            out += "".join(traceback.format_exception_only(type(exc), exc))
        return out


@dataclasses.dataclass
class FileSystemWriter:
    """Where ``save`` writes (torch's ``storage_writer``): a directory, made if absent. The other options are
    accepted for torch's signature (one file per rank, files always ``fsync``'d)."""

    path: str | os.PathLike
    single_file_per_rank: bool = True
    sync_files: bool = True
    thread_count: int = 1
    per_thread_copy_ahead: int = 10_000_000
    cache_staged_state_dict: bool = False
    overwrite: bool = True


@dataclasses.dataclass
class FileSystemReader:
    """Where ``load`` reads (torch's ``storage_reader``): a directory ``save`` wrote."""

    path: str | os.PathLike

    def read_metadata(self) -> Metadata:
        """The checkpoint's metadata (what ``save`` returned)."""
        return _read_metadata(os.fspath(self.path))


@dataclasses.dataclass
class Metadata:
    """A checkpoint's contents: ``state_dict_metadata`` maps each flattened key to ``{"kind": "tensor", "size",
    "dtype", "chunks": [(file, byte offset, raveled start, numel)]}`` or ``{"kind": "bytes", "chunks": [(file,
    byte offset, length)]}``; ``paths`` maps it to its place in the nested state dict."""

    state_dict_metadata: dict[str, dict[str, Any]]
    paths: dict[str, tuple[Any, ...]]
    save_id: str = ""
    version: str = _VERSION


# ------------------------------------------------------------------------------------------ the state dict's leaves
def _stateful_to_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level Stateful objects replaced by their ``state_dict()`` (torch's, before saving)."""
    return {k: v.state_dict() if isinstance(v, Stateful) else v for k, v in state_dict.items()}


def _is_container(v: Any) -> bool:
    if isinstance(v, Mapping):
        return True
    if isinstance(v, (list, tuple)):
        return any(isinstance(x, (Tensor, Mapping, list, tuple)) for x in v)
    return False


def _flatten(obj: Any, path: tuple[Any, ...], out: dict[str, tuple[tuple[Any, ...], Any, Any, Any]]) -> None:
    """Every leaf of ``obj`` by its dotted key: (path, parent container, key in it, value), torch's flattening."""
    items = obj.items() if isinstance(obj, Mapping) else enumerate(obj)
    for k, v in items:
        p = (*path, k)
        if _is_container(v):
            _flatten(v, p, out)
        else:
            out[".".join(str(x) for x in p)] = (p, obj, k, v)


def _leaves(state_dict: Mapping[str, Any]) -> dict[str, tuple[tuple[Any, ...], Any, Any, Any]]:
    out: dict[str, tuple[tuple[Any, ...], Any, Any, Any]] = {}
    _flatten(state_dict, (), out)
    return out


def _host(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())


# ------------------------------------------------------------------------------------------ process-group helpers
class _World:
    """The ranks taking part: a process group, or this process alone (``no_dist`` or no process group)."""

    def __init__(self, process_group: Any, no_dist: bool) -> None:
        self.group = process_group
        self.alone = no_dist or not dist.is_initialized()
        self.rank = 0 if self.alone else dist.get_rank(process_group)
        self.size = 1 if self.alone else dist.get_world_size(process_group)

    def all_gather(self, obj: Any) -> list[Any]:
        if self.alone:
            return [obj]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def broadcast(self, obj: Any) -> Any:
        if self.alone:
            return obj
        holder = [obj]
        src = dist.get_global_rank(self.group, 0) if self.group is not None else 0
        dist.broadcast_object_list(holder, src=src, group=self.group)
        return holder[0]


def _failure(e: BaseException) -> tuple[BaseException, str]:
    trace = "".join(traceback.format_list(traceback.extract_tb(e.__traceback__)))
    try:
        pickle.dumps(e)
    except Exception:
        e = RuntimeError(f"{type(e).__name__}: {e}")
    return e, trace


def _raise_failures(results: list[Any], what: str) -> None:
    failures = {r: res[1] for r, res in enumerate(results) if res[0] == "error"}
    if failures:
        raise CheckpointException(what, failures)


def _directory(checkpoint_id: Any, storage: Any, what: str) -> str:
    if storage is not None:
        return os.fspath(storage.path)
    if checkpoint_id is None:
        raise RuntimeError(
            f"{what}: pass checkpoint_id= (a directory) or a storage_{'writer' if what == 'save' else 'reader'}"
        )
    return os.fspath(checkpoint_id)


# ------------------------------------------------------------------------------------------ save
def _local_items(leaves: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """This rank's items: (key, "shard" | "tensor" | "bytes", (global shape, dtype, start, numel) or None)."""
    items: list[tuple[str, str, Any]] = []
    for key, (_path, _parent, _k, v) in leaves.items():
        if isinstance(v, Tensor):
            part = _shards.info(v)
            dtype = str(v._data.dtype)
            if part is None:
                items.append((key, "tensor", (tuple(v.shape), dtype, 0, v.numel())))
            else:
                items.append((key, "shard", (part.global_shape, dtype, part.start, v.numel())))
        else:
            items.append((key, "bytes", None))
    return items


def _assign(all_items: list[list[tuple[str, str, Any]]]) -> dict[str, int]:
    """Replicated keys -> the rank that writes them (the lowest that holds each); checks the sharded ones agree."""
    owner: dict[str, int] = {}
    shapes: dict[str, tuple[Any, Any]] = {}
    for rank, items in enumerate(all_items):
        for key, kind, desc in items:
            if kind == "shard":
                seen = shapes.setdefault(key, (desc[0], desc[1]))
                if seen != (desc[0], desc[1]):
                    raise ValueError(
                        f"save: the ranks' parts of {key} disagree on shape or dtype: {seen} and {desc[:2]}"
                    )
            else:
                owner.setdefault(key, rank)
    return owner


def _write_file(directory: str, name: str, payloads: list[tuple[str, Any]]) -> list[tuple[str, int, int]]:
    """Write ``payloads`` (key, bytes-like) one after the other into ``name`` (a temporary file renamed into place
    after ``fsync``); returns (key, byte offset, length) each."""
    placed = []
    handle, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            offset = 0
            for key, data in payloads:
                view = memoryview(data).cast("B")
                out.write(view)
                placed.append((key, offset, len(view)))
                offset += len(view)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return placed


def _stage(leaves: Mapping[str, Any], items: list[tuple[str, str, Any]], owner: Mapping[str, int], rank: int) -> Any:
    """What this rank writes: (key, kind, desc, host bytes) for its shards and its replicated keys."""
    out = []
    for key, kind, desc in items:
        if kind != "shard" and owner.get(key) != rank:
            continue
        v = leaves[key][3]
        data: Any = _host(v).copy() if kind != "bytes" else pickle.dumps(v)
        out.append((key, kind, desc, data))
    return out


def _write(directory: str, sid: str, rank: int, staged: Any) -> list[tuple[str, str, Any, str, int, int]]:
    name = f"__{rank}_{sid}.distcp"
    placed = _write_file(
        directory,
        name,
        [(key, data if kind == "bytes" else data.reshape(-1).view(np.uint8)) for key, kind, _d, data in staged],
    )
    return [(key, kind, desc, name, off, n) for (key, kind, desc, _), (_, off, n) in zip(staged, placed)]


def _build_metadata(results: list[Any], paths: dict[str, tuple[Any, ...]], sid: str) -> Metadata:
    md: dict[str, dict[str, Any]] = {}
    for written in results:
        for key, kind, desc, name, off, _n in written:
            if kind == "bytes":
                md[key] = {"kind": "bytes", "chunks": [(name, off, _n)]}
                continue
            entry = md.setdefault(key, {"kind": "tensor", "size": tuple(desc[0]), "dtype": desc[1], "chunks": []})
            entry["chunks"].append((name, off, desc[2], desc[3]))
    for key, entry in md.items():
        if entry["kind"] != "tensor":
            continue
        entry["chunks"].sort(key=lambda c: c[2])
        at, total = 0, int(np.prod(entry["size"], dtype=np.int64))
        for c in entry["chunks"]:
            if c[3] == 0:
                continue
            if c[2] != at:
                raise ValueError(f"save: the ranks' parts of {key} do not tile it (a gap or overlap at element {at})")
            at += c[3]
        if at != total:
            raise ValueError(f"save: the ranks' parts of {key} cover {at} of its {total} elements")
    return Metadata(md, paths, sid)


def _commit(directory: str, metadata: Metadata) -> None:
    """Write ``.metadata`` atomically, then remove the data files of the checkpoint it replaces."""
    old: set[str] = set()
    try:
        previous = _read_metadata(directory)
        old = {c[0] for e in previous.state_dict_metadata.values() for c in e["chunks"]}
    except Exception:
        pass
    _write_file(directory, METADATA, [("", pickle.dumps(metadata))])
    keep = {c[0] for e in metadata.state_dict_metadata.values() for c in e["chunks"]}
    for name in old - keep:
        with _Suppress():
            os.unlink(os.path.join(directory, name))


class _Suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def _plan(state_dict: Mapping[str, Any], directory: str, world: _World) -> tuple[Any, Any, str, dict[str, Any]]:
    """The collective part of a save: every rank's items, the deduplication, the save id; this rank's staged
    (host-copied) data."""
    leaves = _leaves(_stateful_to_state_dict(state_dict))
    try:
        if world.rank == 0:
            os.makedirs(directory, exist_ok=True)
        items = _local_items(leaves)
        result: Any = ("ok", items)
    except Exception as e:
        result = ("error", _failure(e))
    gathered = world.all_gather(result)
    _raise_failures(gathered, "save")
    all_items = [g[1] for g in gathered]
    owner = _assign(all_items)
    sid = world.broadcast(secrets.token_hex(4) if world.rank == 0 else None)
    staged = _stage(leaves, all_items[world.rank], owner, world.rank)
    paths = {key: leaves[key][0] for key in leaves}
    return staged, all_items, sid, paths


def save(
    state_dict: Mapping[str, Any],
    *,
    checkpoint_id: str | os.PathLike | None = None,
    storage_writer: FileSystemWriter | None = None,
    planner: Any = None,
    process_group: Any = None,
    no_dist: bool = False,
    use_collectives: bool = True,
) -> Metadata:
    """Save ``state_dict`` (nested dicts and lists of tensors and picklable values; top-level ``Stateful`` objects
    give their ``state_dict()``) into the directory, every rank its own part (a collective over
    ``process_group``); returns the checkpoint's ``Metadata`` once ``.metadata`` is written."""
    if planner is not None:
        raise NotImplementedError("save: custom planners are not supported")
    directory = _directory(checkpoint_id, storage_writer, "save")
    world = _World(process_group, no_dist)
    staged, _items, sid, paths = _plan(state_dict, directory, world)
    try:
        result: Any = ("ok", _write(directory, sid, world.rank, staged))
    except Exception as e:
        result = ("error", _failure(e))
    gathered = world.all_gather(result)
    _raise_failures(gathered, "save")
    metadata = _build_metadata([g[1] for g in gathered], paths, sid)
    status: Any = None
    if world.rank == 0:
        try:
            _commit(directory, metadata)
            status = ("ok", None)
        except Exception as e:
            status = ("error", _failure(e))
    status = world.broadcast(status)
    if status[0] == "error":
        raise CheckpointException("save", {0: status[1]})
    return metadata


def save_state_dict(state_dict: Mapping[str, Any], storage_writer: FileSystemWriter, process_group: Any = None,
                    coordinator_rank: int = 0, no_dist: bool = False, planner: Any = None) -> Metadata:  # fmt: skip
    """torch's deprecated name for ``save``."""
    return save(
        state_dict, storage_writer=storage_writer, process_group=process_group, no_dist=no_dist, planner=planner
    )


class _PeerFailed(RuntimeError):
    """Another rank's failure marker ended this rank's wait in ``async_save``."""


def async_save(
    state_dict: Mapping[str, Any],
    *,
    checkpoint_id: str | os.PathLike | None = None,
    storage_writer: FileSystemWriter | None = None,
    planner: Any = None,
    process_group: Any = None,
    async_checkpointer_type: Any = None,
    async_stager: Any = None,
    no_dist: bool = False,
    use_collectives: bool = True,
    timeout: float = 600.0,
) -> concurrent.futures.Future:
    """``save`` whose writing happens in a thread: the plan (a collective) and the copy of every value to the
    host happen now, so training may go on and change the tensors; the returned future's result is the
    ``Metadata``. The thread uses no collectives: rank 0's writes ``.metadata`` once every rank's data file is in
    place (a shared directory, as torch's loads assume); the others finish when it appears. A rank whose writing
    fails leaves a ``.failed_<rank>_<id>`` marker next to the done markers: the others' futures then fail at once
    (RuntimeError naming the rank and its error) instead of waiting for ``timeout``."""
    if planner is not None or async_stager is not None:
        raise NotImplementedError("async_save: custom planners and stagers are not supported")
    directory = _directory(checkpoint_id, storage_writer, "save")
    world = _World(process_group, no_dist)
    staged, all_items, sid, paths = _plan(state_dict, directory, world)
    future: concurrent.futures.Future = concurrent.futures.Future()

    def failed_elsewhere() -> None:
        """Raise when another rank left a failure marker for this save (it will never finish its part)."""
        for r in range(world.size):
            path = os.path.join(directory, f".failed_{r}_{sid}")
            if r != world.rank and os.path.exists(path):
                with _Suppress(), open(path, "rb") as f:
                    reason = pickle.load(f)
                    raise _PeerFailed(f"async_save: rank {r} failed to write its part: {reason}")
                raise _PeerFailed(f"async_save: rank {r} failed to write its part")

    def run() -> None:
        try:
            written = _write(directory, sid, world.rank, staged)
            _write_file(directory, f".done_{world.rank}_{sid}", [("", pickle.dumps(written))])
            deadline = time.monotonic() + timeout
            if world.rank == 0:
                done = [os.path.join(directory, f".done_{r}_{sid}") for r in range(world.size)]
                while not all(os.path.exists(p) for p in done):
                    failed_elsewhere()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"async_save: not every rank wrote its part within {timeout} s")
                    time.sleep(0.01)
                results = []
                for p in done:
                    with open(p, "rb") as f:
                        results.append(pickle.load(f))
                metadata = _build_metadata(results, paths, sid)
                _commit(directory, metadata)
                for p in done:
                    with _Suppress():
                        os.unlink(p)
            else:
                while True:
                    with _Suppress():
                        metadata = _read_metadata(directory)
                        if metadata.save_id == sid:
                            break
                    failed_elsewhere()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"async_save: rank 0 did not write the metadata within {timeout} s")
                    time.sleep(0.01)
            future.set_result(metadata)
        except BaseException as e:
            if not isinstance(e, _PeerFailed):
                # (this rank's own failure: a marker next to the done markers ends the others' waits at once)
                with _Suppress():
                    reason = f"{type(e).__name__}: {e}"
                    _write_file(directory, f".failed_{world.rank}_{sid}", [("", pickle.dumps(reason))])
            future.set_exception(e)

    threading.Thread(target=run, name="dcp-async-save", daemon=True).start()
    return future


# ------------------------------------------------------------------------------------------ load
def _read_metadata(directory: str) -> Metadata:
    path = os.path.join(directory, METADATA)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint metadata at {path} (an unfinished or absent checkpoint)")
    with open(path, "rb") as f:
        md = pickle.load(f)
    if not isinstance(md, Metadata) or md.version != _VERSION:
        raise ValueError(f"{path} is not a backprop checkpoint (torch's DCP directories are not readable here)")
    return md


def _read_range(directory: str, entry: Mapping[str, Any], start: int, numel: int) -> np.ndarray:
    """Elements ``[start, start + numel)`` of the raveled saved tensor, from the chunks that overlap them."""
    dtype = to_dtype(entry["dtype"])
    assert dtype is not None
    out = np.empty(numel, dtype=dtype)
    stop = start + numel
    for name, offset, c_start, c_numel in entry["chunks"]:
        lo, hi = max(start, c_start), min(stop, c_start + c_numel)
        if hi <= lo:
            continue
        with open(os.path.join(directory, name), "rb") as f:
            f.seek(offset + (lo - c_start) * dtype.itemsize)
            raw = f.read((hi - lo) * dtype.itemsize)
        out[lo - start : hi - start] = np.frombuffer(raw, dtype=dtype)
    return out


def _read_bytes(directory: str, entry: Mapping[str, Any]) -> Any:
    name, offset, length = entry["chunks"][0]
    with open(os.path.join(directory, name), "rb") as f:
        f.seek(offset)
        return pickle.loads(f.read(length))


def _fill(directory: str, metadata: Metadata, state_dict: dict[str, Any], strict: bool) -> None:
    """Every leaf of ``state_dict`` from the checkpoint: tensors in place, other values replaced."""
    md = metadata.state_dict_metadata
    for key, (_path, parent, k, v) in _leaves(state_dict).items():
        if key not in md:
            if strict:
                raise RuntimeError(f"Missing key in checkpoint state_dict: {key}.")
            continue
        entry = md[key]
        if entry["kind"] == "bytes" or not isinstance(v, Tensor):
            if entry["kind"] == "bytes":
                parent[k] = _read_bytes(directory, entry)
            else:
                parent[k] = Tensor._of(
                    _read_range(directory, entry, 0, int(np.prod(entry["size"]))).reshape(entry["size"])
                )
            continue
        part = _shards.info(v)
        shape, start = (part.global_shape, part.start) if part is not None else (tuple(v.shape), 0)
        if tuple(entry["size"]) != tuple(shape):
            raise ValueError(f"Size mismatch between saved {Size(entry['size'])} and current: {Size(shape)} for {key}")
        host = _read_range(directory, entry, start, v.numel())
        v._data[...] = v.device.xp.asarray(host.reshape(v.shape)).astype(v._data.dtype, copy=False)
        bump_version(v)


def load(
    state_dict: dict[str, Any],
    *,
    checkpoint_id: str | os.PathLike | None = None,
    storage_reader: FileSystemReader | None = None,
    planner: Any = None,
    process_group: Any = None,
    no_dist: bool = False,
) -> None:
    """Fill ``state_dict`` from the checkpoint in place (a collective: a failure on any rank raises
    ``CheckpointException`` on all): each tensor gets its part (sharded values: the elements of the parameter
    they hold, under any world size), non-tensor values are replaced, top-level ``Stateful`` objects get
    ``load_state_dict`` of their filled ``state_dict()``. A key the checkpoint lacks is an error (torch's)."""
    strict = not getattr(planner, "allow_partial_load", False)
    if planner is not None and not hasattr(planner, "allow_partial_load"):
        raise NotImplementedError("load: custom planners are not supported (DefaultLoadPlanner only)")
    directory = _directory(checkpoint_id, storage_reader, "load")
    world = _World(process_group, no_dist)
    stateful = {k: v for k, v in state_dict.items() if isinstance(v, Stateful)}
    inner = {k: v.state_dict() if k in stateful else v for k, v in state_dict.items()}
    try:
        _fill(directory, _read_metadata(directory), inner, strict)
        result: Any = ("ok", None)
    except Exception as e:
        result = ("error", _failure(e))
    _raise_failures(world.all_gather(result), "load")
    for k, v in inner.items():
        if k in stateful:
            stateful[k].load_state_dict(v)
        else:
            state_dict[k] = v


def load_state_dict(state_dict: dict[str, Any], storage_reader: FileSystemReader, process_group: Any = None,
                    coordinator_rank: int = 0, no_dist: bool = False, planner: Any = None) -> None:  # fmt: skip
    """torch's deprecated name for ``load``."""
    load(state_dict, storage_reader=storage_reader, process_group=process_group, no_dist=no_dist, planner=planner)


@dataclasses.dataclass
class DefaultLoadPlanner:
    """torch's default load planner: only ``allow_partial_load`` (keys absent from the checkpoint are skipped)
    has an effect here."""

    flatten_state_dict: bool = True
    flatten_sharded_tensors: bool = True
    allow_partial_load: bool = False
