"""``bp.save`` / ``bp.load`` with torch's names and torch's file format: ``save`` writes the zip archive
``torch.save`` writes (``_torch_format``), so ``torch.load(weights_only=True)`` reads our files, and ``load``
reads torch's files (zip, or the pre-1.6 stream) and the plain pickles older backprop wrote. Saves are
atomic; loading refuses anything but tensors, numbers, dtypes and containers by default (``weights_only``,
torch's default since 2.6), with torch's error. ``load(..., weights_only=True)`` takes torch's allow-list
(tensors, Parameters, storages, dtypes, ``Size``, ``device``, ``OrderedDict``, ...) plus NumPy arrays,
dtypes and scalars (bfloat16 included); a file holding anything else raises ``UnpicklingError`` naming it.
For checkpoints of training runs, ``backprop train-lm`` uses safetensors (no pickle at all):
``save_safetensors`` / ``load_safetensors`` read and write that format with every dtype it shares with
torch, BF16 included (``safetensors.numpy`` cannot load BF16), so files move between torch and here.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import copy
import enum
import functools
import importlib
import io
import mmap as _mmap
import os
import pickle
import pickletools
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import numpy as np
import safetensors
import safetensors.numpy

from backprop import _torch_format, dtypes
from backprop._torch_format import (
    archive_name,
    is_legacy,
    is_zip,
    load_legacy,
    load_zip,
    place_with,
    save_legacy,
    save_zip,
    torch_global,
)
from backprop.tensor import Tensor, _restore_location

__all__ = [
    "add_safe_globals",
    "check_module_version_greater_or_equal",
    "clear_safe_globals",
    "default_restore_location",
    "get_crc32_options",
    "get_default_load_endianness",
    "get_default_mmap_options",
    "get_safe_globals",
    "get_unsafe_globals_in_checkpoint",
    "load",
    "load_safetensors",
    "location_tag",
    "mkdtemp",
    "normalize_storage_type",
    "register_package",
    "safe_globals",
    "save",
    "save_safetensors",
    "set_crc32_options",
    "set_default_load_endianness",
    "set_default_mmap_options",
    "skip_data",
    "storage_to_tensor_type",
    "validate_cuda_device",
    "DEFAULT_PROTOCOL",
    "LoadEndianness",
    "SourceChangeWarning",
    "StorageType",
]

DEFAULT_PROTOCOL = 2  # (torch's: the pickle protocol ``save`` writes by default)


class SourceChangeWarning(Warning):
    """torch's warning class for a pickled module whose source changed (never raised here: modules are loaded
    by state_dict); code filtering it (``warnings.filterwarnings(..., category=SourceChangeWarning)``) runs."""


# what weights_only unpickling may construct: tensors (as Tensor.__reduce_ex__ writes them), NumPy
# arrays, dtypes and scalars, and builtin containers
_ALLOWED = {
    ("backprop.tensor", "_rebuild_tensor"),
    ("backprop.tensor", "_rebuild_meta"),
    ("backprop.tensor", "Tensor"),
    ("backprop.nn.parameter", "Parameter"),
    ("backprop.sparse._tensor", "_rebuild_sparse"),
    ("backprop._quantized", "_rebuild"),  # (quantized tensors, their dtypes and schemes)
    *(("backprop._quantized", n) for n in ("quint8", "qint8", "qint32", "quint4x2", "per_tensor_affine")),
    *(("backprop._quantized", n) for n in ("per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric")),
    ("backprop._quantized", "per_channel_affine_float_qparams"),
    ("backprop.size", "Size"),  # (torch's weights-only loader takes torch.Size and torch.device too)
    ("backprop.devices", "Device"),
    ("backprop.devices", "public_device"),  # (how a device that cannot run here pickles)
    ("collections", "OrderedDict"),
    ("collections", "Counter"),  # (these two torch's weights-only loader takes as well)
    ("builtins", "bytearray"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("ml_dtypes", "bfloat16"),  # the scalar type a bfloat16 array's dtype pickles by
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("_codecs", "encode"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("builtins", "bytes"),  # (protocol 2 writes an empty array's b"" as bytes(): a 0-element tensor)
}


# what the user allowed on top (torch.serialization's add_safe_globals / safe_globals): classes and
# functions, or (object, "module.name") pairs, found by the "module.name" pickle writes for them
_USER_SAFE: list[Any] = []


def _backend_tag(kind: str, obj: Any) -> str | None:
    """torch's tagger: ``obj``'s device name when it is a ``kind`` device ("cuda:1", "cpu", "meta")."""
    device = obj.device
    if device.type != kind:
        return None
    return kind if device.index is None or kind in ("cpu", "meta") else f"{kind}:{device.index}"


def _backend_deserialize(kind: str, obj: Any, location: str) -> Any:
    """torch's deserializer: ``obj`` (here a tensor) on ``location`` when it names a ``kind`` device."""
    if location.split(":")[0] == kind:
        return obj.to(location)
    return None


# torch's registry of (priority, tagger, deserializer), lowest priority first (``register_package``)
_package_registry: list[tuple[int, Callable[[Any], str | None], Callable[[Any, str], Any]]] = [
    (priority, functools.partial(_backend_tag, kind), functools.partial(_backend_deserialize, kind))
    for priority, kind in ((10, "cpu"), (20, "cuda"), (22, "meta"))
]


def register_package(
    priority: int, tagger: Callable[[Any], str | None], deserializer: Callable[[Any, str], Any]
) -> None:
    """torch's hook for another device: ``tagger(obj)`` names an object's location (or None), and
    ``deserializer(obj, location)`` moves it there (or None), tried in ``priority`` order."""
    _package_registry.append((priority, tagger, deserializer))
    _package_registry.sort(key=lambda entry: entry[0])


def location_tag(storage: Any) -> str:
    """The location name ``save`` records for ``storage`` (a tensor or a storage): "cpu", "cuda:0", ..."""
    for _, tagger, _ in _package_registry:
        location = tagger(storage)
        if location:
            return location
    raise RuntimeError("don't know how to determine data location of " + _typename(storage))


def _typename(obj: Any) -> str:
    from backprop import typename

    return str(typename(obj))


def default_restore_location(storage: Any, location: str) -> Any:
    """torch's default ``map_location`` step: ``storage`` (here a tensor) on the device ``location`` names
    ("cpu", "cuda:1", ...), by the first deserializer of ``register_package``'s registry that takes it;
    custom ``map_location`` functions call it as their fallback."""
    for _, _, deserializer in _package_registry:
        result = deserializer(storage, location)
        if result is not None:
            return result
    raise RuntimeError(f"don't know how to restore data location of {storage.type()} (tagged with {location})")


def validate_cuda_device(location: Any) -> int:
    """The CUDA device index ``location`` names (torch's errors when CUDA is unusable or the index too big)."""
    from backprop import cuda, device

    dev = device(location)
    if not cuda.is_available():
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False. If you are "
            "running on a CPU-only machine, please use torch.load with map_location=torch.device('cpu') to map "
            "your storages to the CPU."
        )
    index = dev.index or 0
    count = cuda.device_count()
    if index >= count:
        raise RuntimeError(
            f"Attempting to deserialize object on CUDA device {index} but torch.cuda.device_count() is {count}. "
            "Please use torch.load with map_location to map your storages to an existing device."
        )
    return index


def normalize_storage_type(storage_type: type) -> Any:
    """``torch.<its name>``: the public storage class of that name."""
    import backprop

    return getattr(backprop, storage_type.__name__)


def storage_to_tensor_type(storage: Any) -> Any:
    """The legacy tensor type of a legacy storage (``FloatStorage`` -> ``FloatTensor``), looked up as torch's."""
    storage_type = type(storage)
    module = importlib.import_module(storage_type.__module__)
    return getattr(module, storage_type.__name__.replace("Storage", "Tensor"))


def check_module_version_greater_or_equal(
    module: Any, req_version_tuple: tuple[Any, ...], error_if_malformed: bool = True
) -> bool:
    """Whether ``module.__version__`` is at least ``req_version_tuple`` (each field compared as the requirement's
    type); a version that cannot be compared raises, or with ``error_if_malformed=False`` warns and passes."""
    try:
        fields = module.__version__.split(".")
        version = tuple(type(req)(fields[i]) for i, req in enumerate(req_version_tuple))
        return bool(version >= req_version_tuple)
    except Exception as exc:
        message = (
            f"'{module.__name__}' module version string is malformed '{module.__version__}' and cannot be compared"
            f" with tuple {str(req_version_tuple)}"
        )
        if error_if_malformed:
            raise RuntimeError(message) from exc
        warnings.warn(message + ", but continuing assuming that requirement is met", stacklevel=2)
        return True


@contextlib.contextmanager
def mkdtemp() -> Iterator[str]:
    """A temporary directory's path, removed with everything in it on exit."""
    path = tempfile.mkdtemp()
    try:
        yield path
    finally:
        shutil.rmtree(path)


class StorageType:
    """A storage class as a pickle names it (``StorageType("FloatStorage").dtype`` is float32)."""

    def __init__(self, name: str) -> None:
        if name not in _torch_format._STORAGES:
            raise KeyError(name)
        self._dtype = _torch_format._dtype(_torch_format._STORAGES[name])

    @property
    def dtype(self) -> Any:
        return self._dtype

    def __str__(self) -> str:
        return f"StorageType(dtype={self.dtype})"


class LoadEndianness(enum.Enum):
    """The byte order ``load`` assumes for a file with no byteorder record (``set_default_load_endianness``)."""

    NATIVE = 1
    LITTLE = 2
    BIG = 3


def get_default_load_endianness() -> LoadEndianness | None:
    """The byte order assumed for files without a byteorder record (None, torch's default: little-endian)."""
    return _torch_format.config["endianness"]


def set_default_load_endianness(endianness: LoadEndianness | None) -> None:
    """Set the byte order ``load`` assumes for files without a byteorder record."""
    if not isinstance(endianness, LoadEndianness) and endianness is not None:
        raise TypeError("Invalid argument type in function set_default_load_endianness")
    _torch_format.config["endianness"] = endianness


def get_crc32_options() -> bool:
    """Whether ``save`` computes the CRC-32 of each record (True, torch's default)."""
    return bool(_torch_format.config["compute_crc32"])


def set_crc32_options(compute_crc32: bool) -> None:
    """torch's switch for skipping the records' CRC-32 in ``save``: kept, and the files written here always
    carry it (every zip reader checks it, so a file without one would be refused outside torch)."""
    _torch_format.config["compute_crc32"] = compute_crc32


def get_default_mmap_options() -> int | None:
    """The flags ``load(mmap=True)`` maps with (``mmap.MAP_PRIVATE``, torch's default)."""
    return _torch_format.config["mmap_flags"]


class set_default_mmap_options:  # noqa: N801 - torch's name (a context manager that also sets on call)
    """Set the flags ``load(mmap=True)`` maps with: ``mmap.MAP_PRIVATE`` (copy-on-write) or ``mmap.MAP_SHARED``
    (writes to the loaded tensors reach the file); as a context manager, the previous flags come back on exit."""

    def __init__(self, flags: int) -> None:
        if os.name == "nt":
            raise RuntimeError("Changing the default mmap options is currently not supported for Windows")
        if flags != _mmap.MAP_PRIVATE and flags != _mmap.MAP_SHARED:
            raise ValueError(
                "Invalid argument in function set_default_mmap_options, "
                f"expected mmap.MAP_PRIVATE or mmap.MAP_SHARED, but got {flags}"
            )
        self.prev = _torch_format.config["mmap_flags"]
        _torch_format.config["mmap_flags"] = flags

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _torch_format.config["mmap_flags"] = self.prev


class skip_data:  # noqa: N801 - torch's name
    """Inside it ``save`` writes every storage's record at its size but without its bytes (zeros), and ``load``
    reads no storage bytes (the tensors' values are unspecified, as torch's ``empty``): the layout of a
    checkpoint without its data. ``materialize_fake_tensors`` is accepted (there are no fake tensors here)."""

    def __init__(self, materialize_fake_tensors: bool = False) -> None:
        self.materialize_fake_tensors = materialize_fake_tensors

    def __enter__(self) -> None:
        self._old_skip_data = _torch_format.skipping.skip_data
        _torch_format.skipping.skip_data = True

    def __exit__(self, *exc: Any) -> None:
        _torch_format.skipping.skip_data = self._old_skip_data


def _safe_name(entry: Any) -> tuple[tuple[str, str], Any]:
    if isinstance(entry, tuple):
        obj, qualified = entry
        module, _, name = qualified.rpartition(".")
        return (module, name), obj
    return (entry.__module__, entry.__qualname__), entry


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allow these classes and functions (or ``(obj, "module.name")`` pairs) in ``load(weights_only=True)``."""
    for entry in safe_globals:
        _safe_name(entry)  # (a malformed entry raises here, not at load)
        _USER_SAFE.append(entry)


def get_safe_globals() -> list[Any]:
    """What ``add_safe_globals`` allowed, in order."""
    return list(_USER_SAFE)


def clear_safe_globals() -> None:
    """Forget what ``add_safe_globals`` allowed."""
    _USER_SAFE.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list[Any]) -> Iterator[None]:
    """``add_safe_globals`` for the ``with`` block only (torch's context manager)."""
    saved = list(_USER_SAFE)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _USER_SAFE[:] = saved


_BLOCKED = ("sys", "os", "posix", "nt")  # (modules torch's weights-only loader refuses even when allowlisted)
_UNSAFE = (
    "In PyTorch 2.6, we changed the default value of the `weights_only` argument in `torch.load` from `False` to "
    "`True`. Re-running `torch.load` with `weights_only` set to `False` will likely succeed, but it can result in "
    "arbitrary code execution. Do it only if you got the file from a trusted source."
)
_DOCS = (
    "\n\nCheck the documentation of torch.load to learn more about types accepted by default with weights_only "
    "https://pytorch.org/docs/stable/generated/torch.load.html."
)


def _refusal(module: str, name: str) -> str:
    """torch's weights-only error for a file naming the global ``module.name``."""
    if module in _BLOCKED:
        return (
            f"Weights only load failed. {_UNSAFE}\n\n\nTrying to load unsupported GLOBAL {module}.{name} whose "
            f"module {module} is blocked.{_DOCS}"
        )
    shown = name if module == "builtins" else f"{module}.{name}"
    return (
        "Weights only load failed. This file can still be loaded, to do so you have two options, \033[1mdo those "
        f"steps only if you trust the source of the checkpoint\033[0m. \n\t(1) {_UNSAFE}\n\t(2) Alternatively, to "
        "load with `weights_only=True` please check the recommended steps in the following error message.\n\t"
        f"WeightsUnpickler error: Unsupported global: GLOBAL {shown} was not an allowed global by default. Please "
        f"use `torch.serialization.add_safe_globals([{shown}])` or the `torch.serialization.safe_globals([{shown}])` "
        f"context manager to allowlist this global if you trust this class/function.{_DOCS}"
    )


class _Names:
    """An unpickler's ``find_class`` (mixed into ``pickle.Unpickler`` or a ``pickle_module``'s): torch's globals
    as backprop's objects; under ``weights_only`` only those, the allowed ones and the user's, else torch's error."""

    weights_only = False

    def find_class(self, module: str, name: str) -> Any:
        # protocol 2 (what save writes) names Python 2's modules (``__builtin__.set``): check Python 3's
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        from_torch = module == "torch" or module.startswith("torch.")
        if from_torch and (obj := torch_global(module, name)) is not None:
            return obj
        if self.weights_only:
            if module not in _BLOCKED:
                for entry in _USER_SAFE:
                    key, obj = _safe_name(entry)
                    if key == (module, name):
                        return obj
                if (module, name) in _ALLOWED or (module.startswith("numpy.dtypes") and name.endswith("DType")):
                    return super().find_class(module, name)  # type: ignore[misc]
            raise pickle.UnpicklingError(_refusal(module, name))
        if from_torch:
            raise pickle.UnpicklingError(
                f"load: the file pickles {module}.{name}, a torch object backprop cannot rebuild; save the "
                "state_dict()s of modules and optimizers with torch.save and load them into backprop's"
            )
        return super().find_class(module, name)  # type: ignore[misc]


def get_unsafe_globals_in_checkpoint(f: str | os.PathLike | IO[bytes]) -> list[str]:
    """The ``module.name`` globals a ``save``/``torch.save`` checkpoint pickles that ``load(weights_only=True)``
    would refuse (neither allowed by default nor by ``add_safe_globals``), read from the pickle without loading
    it, as torch's; the names in the order the file first gives them."""
    check = type("Unpickler", (_Names, pickle.Unpickler), {"weights_only": True})(io.BytesIO())
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(f, "rb")) if isinstance(f, (str, os.PathLike)) else f
        start = stream.tell() if _seekable(stream) else 0
        if not is_zip(stream.read(16)):
            raise ValueError("Expected input to be a checkpoint returned by torch.save")
        stream.seek(start)
        archive = stack.enter_context(zipfile.ZipFile(stream))
        records = archive.namelist()
        if any(name.endswith("/constants.pkl") for name in records):
            raise ValueError(
                "Expected input to be a checkpoint returned by torch.save but got a torchscript checkpoint"
            )
        data = archive.read(next(name for name in records if name.endswith("data.pkl")))
    unsafe: list[str] = []
    strings: list[str] = []  # (the last strings pushed: STACK_GLOBAL's module and name, protocol 4+)
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            module, name = str(arg).split(" ", 1)
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            module, name = strings[-2:]
        else:
            if isinstance(arg, str):
                strings.append(arg)
            continue
        try:
            check.find_class(module, name)
        except (pickle.UnpicklingError, ImportError, AttributeError):
            if f"{module}.{name}" not in unsafe:
                unsafe.append(f"{module}.{name}")
    return unsafe


def _unpickler(pickle_module: Any, weights_only: bool, **pickle_load_args: Any) -> Callable[[IO[bytes]], Any]:
    """A factory of unpicklers of a binary file, reading torch's names (see ``_Names``)."""
    base = (pickle_module or pickle).Unpickler
    cls = type("Unpickler", (_Names, base), {"weights_only": weights_only})
    return lambda f: cls(f, **pickle_load_args)


def save(
    obj: Any,
    f: str | os.PathLike | IO[bytes],
    pickle_module: Any = pickle,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """Write ``obj`` to ``f`` (a path, or a binary file object) in torch's zip format, which ``torch.load``
    reads: tensors as torch's (views of one memory share one storage), Parameters, dtypes, ``Size`` and
    devices as torch's; ``_use_new_zipfile_serialization=False`` writes torch's pre-1.6 format. A path is
    written atomically: a temporary file in the same directory, ``fsync``, then renamed over ``f``, so an
    interrupted save leaves the previous file as it was."""

    def write(out: IO[bytes]) -> None:
        if _use_new_zipfile_serialization:
            save_zip(obj, out, archive_name(f), pickle_module, pickle_protocol, not _disable_byteorder_record)
        else:
            save_legacy(obj, out, pickle_module, pickle_protocol)

    if not isinstance(f, (str, os.PathLike)):
        if _seekable(f) or not _use_new_zipfile_serialization:
            write(f)
        else:  # (a zip is written with seeks: a pipe or socket gets it whole)
            buf = io.BytesIO()
            write(buf)
            f.write(buf.getbuffer())
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def load(
    f: str | os.PathLike | IO[bytes],
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """The object ``save`` or ``torch.save`` wrote to ``f`` (torch's zip format, its pre-1.6 format, or the
    plain pickle older backprop wrote); tensors on ``map_location`` when given, else where they were saved
    (the CPU if that device is unusable here, with a warning). ``map_location`` is torch's: a device or its
    name; a dict from saved device names to others (``{"cuda:0": "cuda:1"}``; a device not in it stays); or a
    function ``(storage, location) -> storage`` of a CPU tensor standing for torch's storage and the saved
    device name, giving a tensor on the device wanted (``lambda storage, loc: storage``: the CPU) or None (where
    it was saved). ``weights_only=None`` is True (torch's default since 2.6) unless a ``pickle_module`` is
    given, as torch's. ``mmap=True`` (a path to a zip file only) maps the storages copy-on-write."""
    if weights_only is None:
        weights_only = pickle_module is None
    elif weights_only and pickle_module is not None:
        raise RuntimeError("load: can not safely load weights when an explicit pickle_module is given")
    relocate: Callable[[np.ndarray, str], Any] | None = None  # (dicts and functions: applied as tensors unpickle)
    if isinstance(map_location, Mapping):
        names = {str(k): v for k, v in map_location.items()}

        def by_name(data: np.ndarray, saved: str) -> Any:
            return names.get(saved, saved)

        relocate = by_name
    elif callable(map_location) and not isinstance(map_location, str) and not hasattr(map_location, "type"):

        def by_function(data: np.ndarray, saved: str) -> Any:
            where = map_location(Tensor._of(np.array(data)), saved)
            return saved if where is None else where

        relocate = by_function
    elif map_location is not None and not isinstance(map_location, str) and not hasattr(map_location, "type"):
        raise TypeError(
            "load: map_location must be a device, a device name, a dict or a function, "
            f"got {type(map_location).__name__}"
        )
    if isinstance(f, (str, os.PathLike)) and str(os.fspath(f)).endswith(".safetensors"):  # (torch 2.13 reads these)
        if relocate is not None:
            kind = "dict" if isinstance(map_location, Mapping) else "callable"
            raise RuntimeError(
                f"Loading safetensors file with {kind} map_location is not supported. "
                "Use a device string or torch.device instead."
            )
        with open(f, "rb") as stream:
            return load_safetensors(stream.read(), "cpu" if map_location is None else map_location)
    pickle_load_args.setdefault("encoding", "utf-8")
    unpickler = _unpickler(pickle_module, weights_only, **pickle_load_args)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as stream:
            return _load(stream, f, map_location, relocate, unpickler, bool(mmap))
    return _load(f, None, map_location, relocate, unpickler, bool(mmap))


def _load(
    f: IO[bytes],
    path: str | os.PathLike | None,
    map_location: Any,
    relocate: Callable[[np.ndarray, str], Any] | None,
    unpickler: Callable[[IO[bytes]], Any],
    mmap: bool,
) -> Any:
    if not _seekable(f):
        f = io.BytesIO(f.read())
    start = f.tell()
    head = f.read(16)
    f.seek(start)
    if mmap and not is_zip(head):
        shown = f"{path}, " if isinstance(path, str) else ""
        raise RuntimeError(
            f"mmap can only be used with files saved with `torch.save({shown}_use_new_zipfile_serialization=True), "
            "please torch.save your checkpoint with this option in order to use mmap."
        )
    if mmap and path is None:
        raise ValueError("f must be a file path in order to use the mmap argument")
    token = _restore_location.set(relocate)  # (backprop's own tensor pickles: quantized, sparse, older files)
    try:
        if is_zip(head):
            return load_zip(f, unpickler, place_with(map_location), path if mmap else None)
        if is_legacy(head):
            return load_legacy(f, unpickler, place_with(map_location))
        obj = unpickler(f).load()  # (a plain pickle: what backprop wrote before it wrote torch's format)
    finally:
        _restore_location.reset(token)
    return obj if map_location is None or relocate is not None else _to(obj, map_location)


def _to(obj: Any, device: Any, memo: dict[int, Any] | None = None) -> Any:
    """``obj`` with every tensor in it (in dicts, lists, tuples, namedtuples) moved to ``device``; a tensor
    met twice is moved once (tied weights stay one tensor, as torch's ``map_location`` keeps storages)."""
    memo = {} if memo is None else memo
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, Tensor):
        moved = obj.detach().to(device)
        if type(obj) is not Tensor:  # (a Parameter: its class and flag)
            out: Any = type(obj)(moved, obj.requires_grad)
        else:
            out = moved.requires_grad_(obj.requires_grad)
    elif isinstance(obj, dict):
        out = copy.copy(obj)  # (its class and attributes: OrderedDict's, a state dict's _metadata)
        for k, v in obj.items():
            out[k] = _to(v, device, memo)
    elif isinstance(obj, tuple) and hasattr(obj, "_fields"):
        out = type(obj)(*(_to(v, device, memo) for v in obj))
    elif isinstance(obj, (list, tuple)):
        out = type(obj)(_to(v, device, memo) for v in obj)
    else:
        return obj
    memo[id(obj)] = out
    return out


# safetensors' dtype names, for the dtypes torch and backprop share (safetensors.numpy lacks BF16, which is
# ``dtypes.bfloat16``: looked up only when met, as that imports ml_dtypes)
_SAFETENSORS_DTYPES = {
    "BOOL": dtypes.bool_,
    "U8": dtypes.uint8,
    "I8": dtypes.int8,
    "U16": dtypes.uint16,
    "I16": dtypes.int16,
    "F16": dtypes.float16,
    "U32": dtypes.uint32,
    "I32": dtypes.int32,
    "F32": dtypes.float32,
    "U64": dtypes.uint64,
    "I64": dtypes.int64,
    "F64": dtypes.float64,
}


def save_safetensors(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (name -> Tensor or array, any device), as
    ``safetensors.torch.save`` writes them: torch reads bfloat16 entries back as ``torch.bfloat16``."""
    arrays = {}
    for name, value in tensors.items():
        arr = np.asarray(value.detach().cpu()) if isinstance(value, Tensor) else np.asarray(value)
        if not dtypes.is_bfloat16(arr.dtype) and arr.dtype not in _SAFETENSORS_DTYPES.values():
            raise TypeError(f"save_safetensors: {name!r} has dtype {arr.dtype}, which safetensors cannot store")
        arrays[name] = np.ascontiguousarray(arr)
    return safetensors.numpy.save(arrays, metadata=None if metadata is None else dict(metadata))


def load_safetensors(data: bytes, device: Any = None) -> dict[str, Tensor]:
    """The tensors in safetensors ``data`` (what ``save_safetensors`` or ``safetensors.torch.save``
    wrote), with their dtypes, BF16 as ``bp.bfloat16``; on ``device`` when given, else the CPU."""
    out: dict[str, Tensor] = {}
    for name, entry in safetensors.deserialize(data):
        dtype = dtypes.bfloat16 if entry["dtype"] == "BF16" else _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise TypeError(f"load_safetensors: {name!r} has safetensors dtype {entry['dtype']}, which backprop lacks")
        stored = dtype if dtypes.is_bfloat16(dtype) else dtype.newbyteorder("<")  # (the format is little-endian)
        arr = np.frombuffer(entry["data"], dtype=stored).reshape(entry["shape"])
        t = Tensor._of(arr.astype(dtype), dtype=dtype)
        out[name] = t if device is None else t.to(device)
    return out
