"""torch's checkpoint formats without torch: the zip archive ``torch.save`` writes (since torch 1.6) and the
legacy stream before it, read and written here so files move both ways (``bp.save`` / ``bp.load`` use this).

A zip archive holds ``<name>/data.pkl`` (the object, pickled with protocol 2), ``<name>/data/<key>`` (each
storage's raw little-endian bytes, 64-byte aligned), ``<name>/byteorder`` and ``<name>/version``. The pickle
names torch's globals (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``, ``torch.float32``,
``torch.Size``, ...) and refers to storages by persistent id ``("storage", storage_type, key, location,
numel)``; a tensor is a strided view of one (offset, size, stride in elements), so tensors sharing a storage
share memory. Reading maps those names to backprop's objects (``find_class``); writing names them through
``_Global`` markers, so torch need not be importable for either.
"""

from __future__ import annotations

import importlib
import io
import mmap
import os
import pickle
import struct
import sys
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import numpy as np

from backprop import dtypes
from backprop.devices import Device
from backprop.ops.linalg import _address, storage_of, strided_view
from backprop.size import Size
from backprop.tensor import Tensor, _device_or_cpu, _rebuild_meta, _set_python_state

# torch's legacy storage classes: the dtype of their elements (a tensor of any other dtype has an untyped
# storage, its dtype written beside it: ``_rebuild_tensor_v3``)
_STORAGES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "UntypedStorage": "uint8",
}  # fmt: skip
_STORAGE_OF = {v: k for k, v in _STORAGES.items() if k != "UntypedStorage"}
# torch's dtypes that backprop has, by the name both give them (``torch.float32`` in a pickle)
_DTYPE_NAMES = (
    *_STORAGE_OF, "uint16", "uint32", "uint64", *dtypes.FLOAT8_NAMES
)  # fmt: skip

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # the legacy stream's first pickle, then 1001 and the system's sizes
PROTOCOL_VERSION = 1001


def _dtype(name: str) -> np.dtype:
    return dtypes.bool_ if name == "bool" else getattr(dtypes, name)


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def is_legacy(head: bytes) -> bool:
    """``head`` (a file's first bytes) starts with the pickled magic number of torch's pre-1.6 format."""
    return any(head.startswith(pickle.dumps(MAGIC_NUMBER, protocol=p)[:12]) for p in (2, 3))


# ---------------------------------------------------------------------------------------------------- reading
class _StorageType:
    """``torch.FloatStorage`` and its kin as a file names them: the dtype of the storage's elements."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype


class _Storage:
    """A storage ``persistent_load`` gave: its elements (1-D) on the device they were restored to."""

    __slots__ = ("data", "device")

    def __init__(self, data: Any, device: Device) -> None:
        self.data, self.device = data, device

    def tensor(self, dtype: np.dtype, offset: int, size: Any, stride: Any, requires_grad: bool) -> Tensor:
        """The view of this storage as ``dtype`` (an untyped storage's bytes reinterpreted), as torch's ``set_``."""
        if self.device.type == "meta":
            return _rebuild_meta(Tensor, tuple(size), dtype, requires_grad)
        flat = self.data if self.data.dtype == dtype else self.data.view(dtype)
        t = Tensor._wrap(strided_view(self.device.xp, flat, tuple(size), tuple(stride), offset), self.device, None)
        t._requires_grad = bool(requires_grad)
        return t


def _with_metadata(t: Tensor, metadata: Any) -> Tensor:
    """A saved conjugate or negative view (torch's ``conj``/``neg`` bits) with those applied to its values."""
    if metadata and metadata.get("conj"):
        t._data = t._data.conj()
    if metadata and metadata.get("neg"):
        t._data = -t._data
    return t


def _rebuild_tensor(storage: _Storage, offset: int, size: Any, stride: Any) -> Tensor:
    return storage.tensor(storage.data.dtype, offset, size, stride, False)


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, size: Any, stride: Any, requires_grad: bool, hooks: Any, metadata: Any = None
) -> Tensor:
    return _with_metadata(storage.tensor(storage.data.dtype, offset, size, stride, requires_grad), metadata)


def _rebuild_tensor_v3(
    storage: _Storage,
    offset: int,
    size: Any,
    stride: Any,
    requires_grad: bool,
    hooks: Any,
    dtype: np.dtype,
    metadata: Any = None,
) -> Tensor:
    return _with_metadata(storage.tensor(dtype, offset, size, stride, requires_grad), metadata)


def _rebuild_meta_tensor_no_storage(dtype: np.dtype, size: Any, stride: Any, requires_grad: bool) -> Tensor:
    return _rebuild_meta(Tensor, tuple(size), dtype, requires_grad)


def _set_state(t: Tensor, state: Any) -> Tensor:
    """Set a pickled Python state on ``t``: a dict, or torch's (dict, slots) pair."""
    if isinstance(state, tuple):
        state = {**(state[0] or {}), **(state[1] or {})}
    if state:
        _set_python_state(t, state)
    return t


def _nn_parameter() -> Any:
    """``backprop.nn.parameter`` (Parameter, Buffer), found by name as pickle finds classes: nn sits above this."""
    return importlib.import_module("backprop.nn.parameter")


def _rebuild_parameter(data: Tensor, requires_grad: bool, hooks: Any) -> Tensor:
    return _nn_parameter().Parameter(data, requires_grad)


def _rebuild_parameter_with_state(data: Tensor, requires_grad: bool, hooks: Any, state: Any) -> Tensor:
    return _set_state(_rebuild_parameter(data, requires_grad, hooks), state)


def _rebuild_from_type_v2(func: Callable[..., Tensor], new_type: type, args: tuple, state: Any) -> Tensor:
    t = func(*args)
    return _set_state(t if type(t) is new_type else t.as_subclass(new_type), state)


def _rebuild_sparse_tensor(layout: Any, data: tuple) -> Any:
    import backprop as bp

    if layout != "torch.sparse_coo":
        raise NotImplementedError(f"load: the file holds a sparse tensor of layout {layout}; backprop reads sparse_coo")
    indices, values, size = data[:3]
    return bp.sparse_coo_tensor(indices, values, size, is_coalesced=bool(data[3]) if len(data) > 3 else None)


_UTILS = {
    f.__name__: f
    for f in (
        _rebuild_tensor,
        _rebuild_tensor_v2,
        _rebuild_tensor_v3,
        _rebuild_meta_tensor_no_storage,
        _rebuild_parameter,
        _rebuild_parameter_with_state,
        _rebuild_sparse_tensor,
    )
}


def torch_global(module: str, name: str) -> Any:
    """The backprop object for torch's global ``module.name`` in a pickle, or None where there is none."""
    if module in ("torch", "torch.cuda", "torch.storage") and name in _STORAGES:
        return _StorageType(_dtype(_STORAGES[name]))
    if module == "torch._utils":
        return _UTILS.get(name)
    if module == "torch._tensor" and name == "_rebuild_from_type_v2":
        return _rebuild_from_type_v2
    if module == "torch.nn.parameter" and name == "Parameter":
        return _nn_parameter().Parameter
    if module == "torch.serialization" and name == "_get_layout":
        return str  # (a layout pickles as _get_layout("torch.sparse_coo"): its name is what is needed)
    if module != "torch":
        return None
    if name in _DTYPE_NAMES:
        return _dtype(name)
    if name in ("Size", "Tensor", "device"):
        from backprop.devices import public_device

        return {"Size": Size, "Tensor": Tensor, "device": public_device}[name]
    return None


def _ascii(x: Any) -> Any:
    return x.decode("ascii") if isinstance(x, bytes) else x


# how a storage's bytes come to be: (key, dtype, numel) -> a 1-D writable array on the host
ReadStorage = Callable[[str, np.dtype, int], np.ndarray]
# where a storage goes: (its host elements, the device name it was saved on) -> (its elements there, the device)
PlaceStorage = Callable[[np.ndarray, str], tuple[Any, Device]]


def storage_loader(read: ReadStorage, place: PlaceStorage, storages: dict[str, _Storage]) -> Callable[[Any], Any]:
    """``persistent_load`` for torch's storage ids: each key read and placed once (views share it)."""

    def persistent_load(pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or _ascii(pid[0]) != "storage":
            raise pickle.UnpicklingError(f"Only persistent_load of storage is allowed, but got {pid!r}")
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"load: unknown storage type {storage_type!r} in the file")
        key = _ascii(key)
        if key not in storages:
            data, device = place(read(key, storage_type.dtype, int(numel)), _ascii(location))
            storages[key] = _Storage(data, device)
        storage = storages[key]
        view = pid[5] if len(pid) > 5 else None  # (the legacy format's views of a storage: key, offset, size)
        if view is not None:
            view_key, offset, view_size = view
            if view_key not in storages:
                storages[view_key] = _Storage(storage.data[offset : offset + view_size], storage.device)
            storage = storages[view_key]
        return storage

    return persistent_load


def _swapped(host: np.ndarray, byteorder: str) -> np.ndarray:
    if byteorder != sys.byteorder and host.dtype.itemsize > 1:
        host.byteswap(inplace=True)
    return host


class _SkipData(threading.local):
    """``torch.serialization.skip_data``'s per-thread switch: ``save_zip`` writes storages as zeros of their
    size, ``load_zip`` reads none (the tensors' values are then unspecified, as torch's ``empty``)."""

    skip_data = False


skipping = _SkipData()
# torch.serialization's settings (torch.utils.serialization.config's load.endianness, load.mmap_flags and
# save.compute_crc32): the byte order of a file with no byteorder record (None: little, as torch's), how
# ``mmap=True`` maps (MAP_PRIVATE: copy-on-write; MAP_SHARED: writes reach the file)
config: dict[str, Any] = {"endianness": None, "mmap_flags": getattr(mmap, "MAP_PRIVATE", None), "compute_crc32": True}


def _default_byteorder() -> str:
    """The byte order assumed for an archive with no byteorder record (torch's ``LoadEndianness`` rule)."""
    name = getattr(config["endianness"], "name", None)
    return {"BIG": "big", "NATIVE": sys.byteorder}.get(name or "", "little")


def load_zip(
    f: IO[bytes], unpickler: Callable[[IO[bytes]], pickle.Unpickler], place: PlaceStorage, mmap_path: Any = None
) -> Any:
    """The object in the torch zip archive ``f`` (a seekable binary file). ``mmap_path``: the storages are
    copy-on-write maps of that file (torch's ``mmap=True``) instead of read into memory."""
    with zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        prefix = names[0].split("/", 1)[0] + "/" if names and "/" in names[0] else ""
        if prefix + "constants.pkl" in names:
            raise RuntimeError(
                "load: the file is a TorchScript archive (torch.jit.save), which backprop cannot run; "
                "save the model's state_dict() with torch.save and load that into the same module here"
            )
        byteorder = zf.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else _default_byteorder()
        if byteorder not in ("little", "big"):
            raise ValueError("Unknown endianness type: " + byteorder)
        shared = config["mmap_flags"] == getattr(mmap, "MAP_SHARED", object())
        mapped = None if mmap_path is None else np.memmap(mmap_path, dtype=np.uint8, mode="r+" if shared else "c")

        def read(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            info = zf.getinfo(f"{prefix}data/{key}")
            nbytes = numel * dtype.itemsize
            if skipping.skip_data:  # (torch.serialization.skip_data: the storage's bytes are not read)
                return np.zeros(numel, dtype)
            if mapped is not None:
                if info.compress_type != zipfile.ZIP_STORED:
                    raise RuntimeError(f"load(mmap=True): {info.filename} is compressed, so it cannot be mapped")
                name_len, extra_len = struct.unpack(
                    "<HH", bytes(mapped[info.header_offset + 26 : info.header_offset + 30])
                )
                start = info.header_offset + 30 + name_len + extra_len
                host = mapped[start : start + nbytes]
            else:
                host = np.empty(nbytes, np.uint8)
                with zf.open(info) as src:
                    _read_into(src, host)
            return _swapped(host.view(dtype), byteorder)

        storages: dict[str, _Storage] = {}
        p = unpickler(io.BytesIO(zf.read(prefix + "data.pkl")))
        p.persistent_load = storage_loader(read, place, storages)  # type: ignore[method-assign]
        return p.load()


def _read_into(src: Any, out: np.ndarray) -> None:
    view = out.reshape(-1).view(np.uint8).data
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            raise EOFError(f"load: the file ends {len(view) - got} bytes into a storage")
        got += n


def load_legacy(f: IO[bytes], unpickler: Callable[[IO[bytes]], pickle.Unpickler], place: PlaceStorage) -> Any:
    """The object in torch's pre-1.6 stream ``f``: magic number, protocol version, system info, the object's
    pickle, the list of storage keys, then each storage as its element count (int64) and its bytes."""

    class _NoGlobals(pickle.Unpickler):  # (the header pickles hold numbers, strings and dicts only)
        def find_class(self, module: str, name: str) -> Any:
            raise pickle.UnpicklingError(f"load: unexpected global {module}.{name} in a legacy torch file's header")

    if _NoGlobals(f).load() != MAGIC_NUMBER:
        raise RuntimeError("Invalid magic number; corrupt file?")
    version = _NoGlobals(f).load()
    if version != PROTOCOL_VERSION:
        raise RuntimeError(f"Invalid protocol version: {version}")
    info = _NoGlobals(f).load()
    byteorder = "little" if info.get("little_endian", True) else "big"
    hosts: dict[str, np.ndarray] = {}

    def read(key: str, dtype: np.dtype, numel: int) -> np.ndarray:  # (filled once the object is read)
        hosts[key] = np.empty(numel, dtype)
        return hosts[key]

    storages: dict[str, _Storage] = {}
    p = unpickler(f)
    p.persistent_load = storage_loader(read, place, storages)  # type: ignore[method-assign]
    obj = p.load()
    for key in _NoGlobals(f).load():
        key = _ascii(key)
        host = hosts[key]
        (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", f.read(8))
        if numel != host.size:
            raise RuntimeError(f"load: storage {key} holds {numel} elements in the file, its pickle says {host.size}")
        _read_into(f, host)
        _swapped(host, byteorder)
        storage = storages[key]
        if storage.data is not host and storage.device.type != "meta":
            storage.data[...] = host if storage.device.type == "cpu" else storage.device.asarray(host, host.dtype)
    return obj


# ---------------------------------------------------------------------------------------------------- writing
class _Global:
    """A global a torch pickle names (``torch._utils._rebuild_tensor_v2``), written by name: torch need not be
    importable. One object per name, so the pickle memoizes it as torch's does."""

    __slots__ = ("module", "name")
    module: str
    name: str
    _made: dict[str, _Global] = {}

    def __new__(cls, path: str) -> _Global:
        g = cls._made.get(path)
        if g is None:
            g = cls._made[path] = object.__new__(cls)
            g.module, _, g.name = path.rpartition(".")
        return g

    def __call__(self, *args: Any) -> Any:  # (pickle asks a reduce's function to be callable)
        raise TypeError(f"{self.module}.{self.name} is torch's; backprop only writes its name")


class _Reduced:
    """An object that pickles as ``func(*args)`` (a Parameter's inner tensor)."""

    __slots__ = ("rv",)

    def __init__(self, rv: tuple) -> None:
        self.rv = rv


class _StorageId:
    """A storage in the pickle: written as its persistent id."""

    __slots__ = ("pid",)

    def __init__(self, pid: tuple) -> None:
        self.pid = pid


_PurePickler: Any = pickle._Pickler  # (the pure-Python pickler, whose ``save`` a subclass can extend)


class _Pickler(_PurePickler):
    """A pickler writing backprop's tensors, dtypes, sizes and devices as torch's (the pure-Python pickler:
    its ``save`` can write a global by name without importing its module). The storages it met are in
    ``storages``: key -> (1-D elements, device), in the order met."""

    dispatch = dict(_PurePickler.dispatch)

    def __init__(self, file: IO[bytes], protocol: int, legacy: bool = False) -> None:
        super().__init__(file, protocol)
        self.legacy = legacy
        self.storages: dict[str, tuple[Any, Device]] = {}
        self._by_memory: dict[tuple[Device, int, int], str] = {}
        self._numpy = 0  # (inside a NumPy array or scalar: its dtype stays NumPy's)

    def persistent_id(self, obj: Any) -> Any:
        return obj.pid if type(obj) is _StorageId else None

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, np.dtype) and not self._numpy and obj.name in _DTYPE_NAMES:
            obj = _Global(f"torch.{obj.name}")
        if isinstance(obj, (np.ndarray, np.generic)):
            self._numpy += 1
            try:
                super().save(obj, save_persistent_id)
            finally:
                self._numpy -= 1
            return
        super().save(obj, save_persistent_id)

    def save_torch_global(self, obj: _Global) -> None:
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = save_torch_global

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            return self._reduce_tensor(obj)
        if type(obj) is _Reduced:
            return obj.rv
        if isinstance(obj, Size):
            return (_Global("torch.Size"), (tuple(obj),))
        if isinstance(obj, Device):
            return (_Global("torch.device"), (obj.type,) if obj.type in ("cpu", "meta") else (obj.type, obj.index))
        return NotImplemented

    def _reduce_tensor(self, t: Tensor) -> Any:
        nn = _nn_parameter()
        if type(t).__reduce_ex__ is not Tensor.__reduce_ex__:
            return NotImplemented  # (quantized, sparse, distributed: their own pickles, which backprop reads)
        if t.device.type == "meta":
            stride = tuple(t.stride())
            rebuild = (
                _Global("torch._utils._rebuild_meta_tensor_no_storage"),
                (t.dtype, tuple(t.shape), stride, t.requires_grad),
            )
        else:
            rebuild = self._strided(t)
        state = t._python_state()
        if isinstance(t, nn.Buffer):  # (torch's nn.Buffer is no tensor class: a module holds a plain tensor)
            state.pop("persistent", None)
        if isinstance(t, nn.Parameter):
            if state:
                return (
                    _Global("torch._utils._rebuild_parameter_with_state"),
                    (_Reduced(rebuild), t.requires_grad, OrderedDict(), state),
                )
            return (_Global("torch._utils._rebuild_parameter"), (_Reduced(rebuild), t.requires_grad, OrderedDict()))
        if state or type(t) not in (Tensor, nn.Buffer):
            cls = _Global("torch.Tensor") if type(t) in (Tensor, nn.Buffer) else type(t)
            return (_Global("torch._tensor._rebuild_from_type_v2"), (rebuild[0], cls, rebuild[1], state))
        return rebuild

    def _strided(self, t: Tensor) -> tuple:
        """``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` for ``t`` (v3, with the
        dtype after the hooks, for the dtypes torch has no typed storage for); ``t``'s storage is the memory
        it views, shared with the other tensors written that view it, as torch's."""
        data, dev = t._data, t.device
        if not data.dtype.isnative:
            data = data.astype(data.dtype.newbyteorder("="))
        item = data.dtype.itemsize
        if any(s < 0 or s % item for s in data.strides):  # (memory torch cannot describe: written contiguous)
            data = dev.xp.ascontiguousarray(data)
        flat, offset = storage_of(dev.xp, data)
        where = (dev, _address(flat), flat.nbytes)
        key = self._by_memory.get(where)
        if key is None:
            key = self._by_memory[where] = str(len(self.storages))
            self.storages[key] = (flat, dev)
        elif self.storages[key][0].dtype != flat.dtype:
            raise RuntimeError("Cannot save multiple tensors or storages that view the same data as different types")
        name = data.dtype.name
        if name not in _DTYPE_NAMES:
            raise TypeError(f"save: torch has no dtype for a tensor of dtype {data.dtype}")
        typed = name in _STORAGE_OF
        storage_type = _Global(f"torch.{_STORAGE_OF[name]}" if typed else "torch.storage.UntypedStorage")
        pid = ("storage", storage_type, key, str(dev), flat.size if typed else flat.nbytes)
        args: tuple = (_StorageId(pid + (None,) if self.legacy else pid), offset, tuple(data.shape))
        args += (tuple(s // item for s in data.strides), t.requires_grad, OrderedDict())
        if typed:
            return (_Global("torch._utils._rebuild_tensor_v2"), args)
        return (_Global("torch._utils._rebuild_tensor_v3"), (*args, t.dtype))


def _pickler(pickle_module: Any) -> type[_Pickler]:
    base = getattr(pickle_module, "Pickler", None)
    if pickle_module is pickle or base is None or not issubclass(base, _PurePickler) or issubclass(_Pickler, base):
        return _Pickler
    return type("_Pickler", (_Pickler, base), {})  # (dill's Pickler is a pure-Python one too)


def _host_bytes(flat: Any, dev: Device) -> memoryview:
    host = flat if dev.type == "cpu" else dev.backend.to_host(flat)
    return np.ascontiguousarray(host).reshape(-1).view(np.uint8).data


def save_zip(
    obj: Any, out: IO[bytes], archive: str, pickle_module: Any, protocol: int, byteorder_record: bool = True
) -> None:
    """Write ``obj`` to the seekable ``out`` as ``torch.save`` does (``archive``: the folder inside the zip)."""
    buf = io.BytesIO()
    pickler = _pickler(pickle_module)(buf, protocol)
    pickler.dump(obj)

    def records() -> Iterable[tuple[str, Any]]:
        yield "data.pkl", buf.getbuffer()
        if byteorder_record:
            yield "byteorder", sys.byteorder.encode()
        for key, (flat, dev) in pickler.storages.items():
            if skipping.skip_data:  # (torch.serialization.skip_data: the record's size, zeros for its bytes)
                yield f"data/{key}", memoryview(bytes(flat.nbytes))
            else:
                yield f"data/{key}", _host_bytes(flat, dev)  # (one storage on the host at a time)
        yield "version", b"3\n"

    start = out.tell()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in records():
            info = zipfile.ZipInfo(f"{archive}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            zip64 = 20 if len(data) * 1.05 > zipfile.ZIP64_LIMIT else 0  # (zipfile's zip64 extra, 4 + 16 bytes)
            pad = -(out.tell() - start + 30 + len(info.filename.encode()) + 4 + zip64) % 64
            info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # ("FB": torch's padding, data 64-aligned)
            zf.writestr(info, data)


def save_legacy(obj: Any, out: IO[bytes], pickle_module: Any, protocol: int) -> None:
    """Write ``obj`` to ``out`` in torch's pre-1.6 stream (``_use_new_zipfile_serialization=False``)."""
    if skipping.skip_data:
        raise RuntimeError("Cannot use skip_data=True with _use_new_zipfile_serialization=False")
    pickle.dump(MAGIC_NUMBER, out, protocol=protocol)
    pickle.dump(PROTOCOL_VERSION, out, protocol=protocol)
    sizes = {"short": struct.calcsize("=h"), "int": struct.calcsize("=i"), "long": struct.calcsize("=l")}
    info = {"protocol_version": PROTOCOL_VERSION, "little_endian": sys.byteorder == "little", "type_sizes": sizes}
    pickle.dump(info, out, protocol=protocol)
    pickler = _pickler(pickle_module)(out, protocol, legacy=True)
    pickler.dump(obj)
    keys = sorted(pickler.storages)
    pickle.dump(keys, out, protocol=protocol)
    for key in keys:
        flat, dev = pickler.storages[key]
        out.write(struct.pack("=q", flat.size if flat.dtype.name in _STORAGE_OF else flat.nbytes))  # (pid's numel)
        out.write(_host_bytes(flat, dev))


def archive_name(f: Any) -> str:
    """The folder ``torch.save`` names inside its zip: the file's name without its extension, or "archive"."""
    if isinstance(f, (str, os.PathLike)):
        return os.path.splitext(os.path.basename(os.fspath(f)))[0] or "archive"
    return "archive"


def place_with(map_location: Any) -> PlaceStorage:
    """Where ``load``'s ``map_location`` puts a storage saved on ``location`` (torch's forms: None, a device or
    its name, a dict of names, a function ``(storage, location) -> storage or None``); an unusable device
    gives the CPU with a warning."""

    def place(host: np.ndarray, location: str) -> tuple[Any, Device]:
        where: Any = location
        if isinstance(map_location, Mapping):
            where = {str(k): v for k, v in map_location.items()}.get(location, location)
        elif callable(map_location) and not isinstance(map_location, (str, Device)):
            got = map_location(Tensor._wrap(host, _device_or_cpu("cpu"), None), location)
            if isinstance(got, Tensor):
                return got.detach()._data.reshape(-1), got.device
            where = location if got is None else got
        elif map_location is not None:
            where = map_location
        dev = _device_or_cpu(str(where))
        return (host if dev.type in ("cpu", "meta") else dev.asarray(host, host.dtype)), dev

    return place
