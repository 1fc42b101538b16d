"""``backprop.distributed``: collectives with torch.distributed's names, on MPI (mpi4py) and NCCL (CuPy).

One process per CPU worker or per GPU, all started by an MPI launcher (``mpiexec -n 2 python train.py``;
``pip install 'backprop-autodiff[mpi]'`` brings mpi4py and MPICH's ``mpiexec``). MPI starts the job and
carries host (NumPy) arrays and Python objects; with the ``nccl`` backend, CUDA arrays go through NCCL
(``cupy.cuda.nccl``, on the current stream) and never through MPI, whose only GPU-side job is to hand
NCCL's unique id from rank 0 to the others. Without a launcher, ``init_process_group()`` makes a world
of one process at no cost (mpi4py is not even imported), so the same script runs alone or in a job.

Sums are reduced by the engine's own algorithm (fast; for two ranks ``a + b`` is exact and the same on
both, for more ranks the summation order is the engine's). ``deterministic=True`` gathers every rank's
array and adds them in rank order instead, ``((x_0 + x_1) + x_2) + ...``: the same bits on every rank and
in every run, the result one process gets by adding the ranks' arrays itself.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from backprop import dtypes as _dtypes
from backprop.autograd.function import bump_version, check_inplace
from backprop.tensor import Tensor

__all__ = [
    "LaunchInfo",
    "ReduceOp",
    "abort",
    "all_gather",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "device_for_rank",
    "get_backend",
    "get_local_rank",
    "get_local_world_size",
    "get_rank",
    "get_world_size",
    "init_from_launcher",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_main_process",
    "is_mpi_available",
    "is_nccl_available",
    "job_info",
    "launch_info",
    "limit_blas_threads",
    "local_batch",
    "local_slice",
]

BACKENDS = ("mpi", "nccl")


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values (torch.distributed.ReduceOp's members)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"  # the sum, then divided by the world size (floating tensors only)


# ------------------------------------------------------------------------------------------ launcher
class LaunchInfo(NamedTuple):
    """Where an MPI launcher placed this process: global and per-node rank and size."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


# (rank, size, local rank, local size) variables of the launchers we know: Open MPI, MPICH/Intel MPI's
# Hydra (also MPICH's pip wheel), MVAPICH; PMIx-based launchers (Open MPI 5, Slurm) set PMIX_RANK
_LAUNCHERS = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"),
    ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE"),
)


def launch_info(environ: Mapping[str, str] | None = None) -> LaunchInfo | None:
    """The rank and sizes an MPI launcher (``mpiexec``, ``mpirun``) put in the environment; None without one.

    Read from environment variables only (nothing is imported), so a program can decide before it
    loads anything heavy. A size the launcher does not give is -1 (MPI tells it after initialising).
    """
    env = os.environ if environ is None else environ
    for rank_var, size_var, local_rank_var, local_size_var in _LAUNCHERS:
        if rank_var in env:
            rank = int(env[rank_var])
            size = int(env.get(size_var, -1))
            local_rank = int(env.get(local_rank_var, -1))
            local_size = int(env.get(local_size_var, -1))
            return LaunchInfo(rank, size, local_rank, local_size)
    return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_blas_limiter: Any = None  # threadpoolctl's limiter, kept alive while the limit holds


def limit_blas_threads(processes_per_node: int) -> int | None:
    """Give each of ``processes_per_node`` processes its share of this node's cores for BLAS/OpenMP.

    The user's own ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` win. Applied to the
    loaded BLAS through threadpoolctl when it is installed (the ``mpi`` extra brings it), and written
    to the environment for libraries loaded later. Returns the threads per process, or None when the
    user's setting was kept.
    """
    global _blas_limiter
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    if any(n in os.environ for n in names):
        return None
    threads = max(1, _cores() // max(1, processes_per_node))
    for n in names:
        os.environ[n] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return threads
    _blas_limiter = threadpool_limits(limits=threads)
    return threads


def local_slice(n: int, rank: int | None = None, world_size: int | None = None) -> slice:
    """This rank's contiguous part of ``n`` items, the ranks in order, sizes differing by at most one.

    ``--batch-size`` stays the global batch: rank r trains on ``batch[local_slice(len(batch))]``, so
    the ranks together see exactly the batches one process would (as ``numpy.array_split``).
    """
    r = get_rank() if rank is None else rank
    w = get_world_size() if world_size is None else world_size
    base, extra = divmod(n, w)
    start = r * base + min(r, extra)
    return slice(start, start + base + (1 if r < extra else 0))


# ------------------------------------------------------------------------------------------ communicators
def _is_float(arr: Any) -> bool:
    return _dtypes.kind(arr.dtype) in "fc"


def _combine_in_rank_order(out: Any, parts: Any, op: ReduceOp) -> None:
    """``out = parts[0] (op) parts[1] (op) ...``, left to right: the deterministic reduction."""
    xp = _xp_of(out)
    out[...] = parts[0]
    boolean = out.dtype.kind == "b"
    for p in parts[1:]:
        if op is ReduceOp.SUM or op is ReduceOp.AVG:
            out += p  # for booleans: or
        elif op is ReduceOp.PRODUCT:
            out *= p  # for booleans: and
        elif op is ReduceOp.MIN:
            (xp.logical_and if boolean else xp.minimum)(out, p, out=out)
        else:
            (xp.logical_or if boolean else xp.maximum)(out, p, out=out)


def _xp_of(arr: Any) -> Any:
    """The array's namespace: numpy, or cupy for device arrays."""
    if isinstance(arr, np.ndarray):
        return np
    import cupy  # only device arrays get here

    return cupy


class _Comm:
    """Collectives on one kind of array (host or device), each in place; objects via pickling."""

    size: int
    rank: int

    def allreduce(self, arr: Any, op: ReduceOp, deterministic: bool) -> None:
        raise NotImplementedError

    def broadcast(self, arr: Any, src: int) -> None:
        raise NotImplementedError

    def allgather(self, arr: Any) -> Any:
        """A new array (world size, *arr.shape): every rank's ``arr``, in rank order."""
        raise NotImplementedError

    def _reduce_by_gathering(self, arr: Any, op: ReduceOp) -> None:
        _combine_in_rank_order(arr, self.allgather(arr), op)


class _SingleComm(_Comm):
    """The world of one process: every collective is the identity."""

    size, rank = 1, 0

    def allreduce(self, arr: Any, op: ReduceOp, deterministic: bool) -> None:
        pass

    def broadcast(self, arr: Any, src: int) -> None:
        pass

    def allgather(self, arr: Any) -> Any:
        return arr[None].copy()

    def bcast_object(self, obj: Any, src: int) -> Any:
        return obj

    def allgather_object(self, obj: Any) -> list[Any]:
        return [obj]

    def barrier(self) -> None:
        pass

    def abort(self, code: int) -> None:
        _exit_now(code)


class _MPIComm(_Comm):
    """Host arrays and objects over an mpi4py communicator."""

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm, self.mpi = comm, mpi
        self.size, self.rank = comm.Get_size(), comm.Get_rank()
        self._ops = {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD}
        self._ops.update({ReduceOp.MIN: mpi.MIN, ReduceOp.MAX: mpi.MAX})

    @staticmethod
    def _host(arr: Any) -> None:
        if not isinstance(arr, np.ndarray):
            raise RuntimeError(
                "the mpi backend carries host (CPU) tensors only: device arrays never go through MPI; "
                "use init_process_group('nccl') for CUDA tensors"
            )

    def allreduce(self, arr: Any, op: ReduceOp, deterministic: bool) -> None:
        self._host(arr)
        native = arr.dtype.kind in "iufc" and arr.dtype != np.float16  # float16 sums: not in every MPI
        if native and not (deterministic and op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT)):
            self.comm.Allreduce(self.mpi.IN_PLACE, arr, op=self._ops[op])
        else:
            self._reduce_by_gathering(arr, op)

    def broadcast(self, arr: Any, src: int) -> None:
        self._host(arr)
        self.comm.Bcast(arr.view(np.uint8) if arr.dtype.kind == "b" else arr, root=src)

    def allgather(self, arr: Any) -> Any:
        self._host(arr)
        out = np.empty((self.size, *arr.shape), dtype=arr.dtype)
        if arr.dtype.kind == "b":
            self.comm.Allgather(arr.view(np.uint8), out.view(np.uint8))
        else:
            self.comm.Allgather(arr, out)
        return out

    def bcast_object(self, obj: Any, src: int) -> Any:
        return self.comm.bcast(obj, root=src)

    def allgather_object(self, obj: Any) -> list[Any]:
        return self.comm.allgather(obj)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int) -> None:
        self.comm.Abort(code)


class _NcclComm(_Comm):
    """Device arrays over an NCCL communicator (``cupy.cuda.nccl``), on the current stream.

    ``nccl`` is the module with NCCL's constants and ``NcclCommunicator``; ``stream`` returns the raw
    pointer of the stream to enqueue on. Both are parameters so that the logic is tested on the CPU
    with a stand-in communicator.
    """

    def __init__(self, comm: Any, nccl: Any, size: int, rank: int, stream: Callable[[], int]) -> None:
        self.comm, self.nccl, self.size, self.rank, self._stream = comm, nccl, size, rank, stream
        self._ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.PRODUCT: nccl.NCCL_PROD}
        self._ops.update({ReduceOp.MIN: nccl.NCCL_MIN, ReduceOp.MAX: nccl.NCCL_MAX})
        names = {
            "e": "NCCL_FLOAT16", "f": "NCCL_FLOAT32", "d": "NCCL_FLOAT64", "b": "NCCL_INT8", "B": "NCCL_UINT8",
            "?": "NCCL_UINT8", "i": "NCCL_INT32", "I": "NCCL_UINT32", "l": "NCCL_INT64", "L": "NCCL_UINT64",
            "q": "NCCL_INT64", "Q": "NCCL_UINT64",
        }  # fmt: skip
        self._types = {char: getattr(nccl, name) for char, name in names.items()}

    @staticmethod
    def _ptr(arr: Any) -> int:
        return arr.data.ptr if hasattr(arr.data, "ptr") else arr.ctypes.data  # cupy / numpy (the tests)

    def _type(self, arr: Any) -> int:
        t = self._types.get(arr.dtype.char)
        if t is None:
            raise TypeError(f"NCCL cannot carry {arr.dtype} arrays")
        return t

    def allreduce(self, arr: Any, op: ReduceOp, deterministic: bool) -> None:
        if arr.dtype.kind == "b" or (deterministic and op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT)):
            self._reduce_by_gathering(arr, op)
            return
        p, t = self._ptr(arr), self._type(arr)
        self.comm.allReduce(p, p, arr.size, t, self._ops[op], self._stream())

    def broadcast(self, arr: Any, src: int) -> None:
        p, t = self._ptr(arr), self._type(arr)
        self.comm.broadcast(p, p, arr.size, t, src, self._stream())

    def allgather(self, arr: Any) -> Any:
        out = _xp_of(arr).empty((self.size, *arr.shape), dtype=arr.dtype)
        self.comm.allGather(self._ptr(arr), self._ptr(out), arr.size, self._type(arr), self._stream())
        return out


def _connect_nccl(host: Any, nccl: Any, stream: Callable[[], int]) -> _NcclComm:
    """An NCCL communicator over the job's GPUs: rank 0's unique id reaches the others through MPI."""
    uid = nccl.get_unique_id() if host.rank == 0 else None
    uid = host.bcast_object(uid, 0)
    comm = nccl.NcclCommunicator(host.size, uid, host.rank)
    return _NcclComm(comm, nccl, host.size, host.rank, stream)


# ------------------------------------------------------------------------------------------ the group
class _Group:
    """The default process group: its backend, where this process sits, and its communicators."""

    def __init__(
        self,
        backend: str,
        host: Any,
        device: _NcclComm | None,
        local_rank: int,
        local_size: int,
        deterministic: bool,
    ) -> None:
        self.backend, self.host, self.device = backend, host, device
        self.rank, self.size = host.rank, host.size
        self.local_rank, self.local_size = local_rank, local_size
        self.deterministic = deterministic

    def comm_for(self, t: Tensor) -> _Comm:
        """The communicator that carries ``t``: NCCL for device tensors under ``nccl``, else MPI."""
        if t.device.type != "cpu" and self.device is not None:
            return self.device
        if t.device.type != "cpu" and self.size > 1:
            raise RuntimeError(
                f"backend {self.backend!r} carries CPU tensors only, got a tensor on {t.device}: "
                "init_process_group('nccl') for CUDA tensors (device gradients never go through MPI)"
            )
        return self.host


_group: _Group | None = None
_previous_excepthook: Any = None


def _require() -> _Group:
    if _group is None:
        raise ValueError(  # torch's class
            "Default process group has not been initialized, please make sure to call init_process_group."
        )
    return _group


def is_available() -> bool:
    """True: the package is always there (``is_mpi_available`` tells whether a job can span processes)."""
    return True


def is_mpi_available() -> bool:
    """True when mpi4py is installed (``pip install 'backprop-autodiff[mpi]'``)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    """True when CuPy with its NCCL bindings imports."""
    try:
        from cupy.cuda import nccl
    except Exception:  # noqa: BLE001 - no CuPy, no CUDA, no NCCL: all mean "not available"
        return False
    return bool(getattr(nccl, "available", True))


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _group is not None


def init_process_group(
    backend: str | None = None, *, mpi: bool | None = None, deterministic: bool = False, **torch_kwargs: Any
) -> None:
    """Join the job (torch's name): ``"mpi"`` for CPU processes, ``"nccl"`` for one GPU per process.

    ``backend=None`` picks ``nccl`` when CUDA is usable, else ``mpi``. ``mpi=None`` joins an MPI job
    when a launcher's environment is found (see ``launch_info``) and otherwise makes a world of one
    process without importing mpi4py; ``mpi=True`` initialises MPI regardless (a launcher we do not
    recognise), ``mpi=False`` never does. ``deterministic=True`` makes every sum gather and add in rank
    order (module docstring). With more than one process, an uncaught exception on any rank prints its
    traceback with the rank and aborts the whole job (``MPI_Abort``) instead of leaving the others
    waiting. torch's ``init_method``, ``world_size``, ``rank`` and ``timeout`` are accepted and must
    agree with the launcher's.
    """
    global _group
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)} (or None)")
    unknown = set(torch_kwargs) - {"init_method", "world_size", "rank", "timeout", "store", "group_name"}
    if unknown:
        raise TypeError(f"init_process_group() got unexpected keyword argument(s) {sorted(unknown)}")
    info = launch_info()
    if mpi is None:
        mpi = info is not None and info.world_size != 1
    if not mpi:
        _group = _Group(backend or "mpi", _SingleComm(), None, 0, 1, deterministic)
    else:
        _group = _mpi_group(backend, deterministic, info)
    for key in ("world_size", "rank"):
        want = torch_kwargs.get(key)
        if want is not None and want not in (-1, getattr(_group, "size" if key == "world_size" else "rank")):
            got = _group.size if key == "world_size" else _group.rank
            destroy_process_group()
            raise ValueError(f"init_process_group({key}={want}): the launcher started this process with {key} {got}")


def _mpi_group(backend: str | None, deterministic: bool, info: LaunchInfo | None) -> _Group:
    """The group of an MPI job: MPI for host arrays, and NCCL for device arrays under ``nccl``."""
    if not is_mpi_available():
        raise RuntimeError(
            "this process was started by an MPI launcher but mpi4py is not installed: "
            "pip install 'backprop-autodiff[mpi]' (mpi4py and the mpich wheel, which brings mpiexec)"
        )
    # by name: mpi4py is optional, and mypy must not need it installed (typed Any here)
    mpi = importlib.import_module("mpi4py.MPI")  # initialises MPI (the launcher's job)
    host = _MPIComm(mpi.COMM_WORLD, mpi)
    if info is not None and info.world_size > 0 and info.world_size != host.size:
        raise RuntimeError(
            f"the launcher started {info.world_size} processes but MPI sees {host.size}: mpiexec and mpi4py use "
            f"different MPI libraries ({mpi.Get_library_version().splitlines()[0].strip()}); use the mpiexec of "
            "the MPI mpi4py was built for (with the mpi extra: the one installed next to python)"
        )
    if host.size > 1:
        _install_abort_hook(host)  # from here on, a failure on one rank ends the job
    node = mpi.COMM_WORLD.Split_type(mpi.COMM_TYPE_SHARED, key=host.rank)
    local_rank, local_size = node.Get_rank(), node.Get_size()
    node.Free()
    if backend is None:
        from backprop import cuda

        backend = "nccl" if cuda.is_available() else "mpi"
    limit_blas_threads(local_size)
    device = None
    if backend == "nccl" and host.size > 1:
        import cupy
        from cupy.cuda import nccl

        from backprop import cuda

        cupy.cuda.Device(local_rank % max(1, cuda.device_count())).use()  # one GPU per process on a node
        device = _connect_nccl(host, nccl, lambda: cupy.cuda.get_current_stream().ptr)
    return _Group(backend, host, device, local_rank, local_size, deterministic)


def _install_abort_hook(host: _MPIComm) -> None:
    """Uncaught exceptions print ``rank r of n`` with their traceback and abort every rank."""
    global _previous_excepthook
    _previous_excepthook = sys.excepthook

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        sys.stderr.write(
            f"backprop.distributed: rank {host.rank} of {host.size} raised {exc_type.__name__}; aborting the job\n"
            + "".join(traceback.format_exception(exc_type, exc, tb))
        )
        sys.stderr.flush()
        host.abort(1)

    sys.excepthook = hook


def destroy_process_group() -> None:
    """Leave the group (MPI itself is finalised by mpi4py when the process exits)."""
    global _group, _previous_excepthook
    if _group is None:
        return
    if _group.device is not None:
        _group.device.comm.destroy()
    if _previous_excepthook is not None:
        sys.excepthook, _previous_excepthook = _previous_excepthook, None
    _group = None


def get_backend() -> str:
    """``"mpi"`` or ``"nccl"``."""
    return _require().backend


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1."""
    return _require().rank


def get_world_size() -> int:
    """The number of processes in the job."""
    return _require().size


def get_local_rank() -> int:
    """This process's rank among those on its node (the GPU it uses under ``nccl``)."""
    return _require().local_rank


def get_local_world_size() -> int:
    """The number of processes on this node."""
    return _require().local_size


def abort(exit_code: int = 1) -> None:
    """End every process of the job now (``MPI_Abort``); alone, exit this process."""
    g = _group
    if g is None:
        _exit_now(exit_code)
    else:
        g.host.abort(exit_code)


def _exit_now(code: int) -> None:
    """Flush what this process printed and leave without running exit handlers."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ------------------------------------------------------------------------------------------ collectives
class _Work:
    """What ``async_op=True`` returns: the collective has already completed."""

    def wait(self, timeout: Any = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


def _check(t: Any, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")
    if check_inplace(name, t):
        raise RuntimeError(f"{name} on a tensor that is part of a graph is not differentiable; detach() it first")


def _in_place(t: Tensor, fn: Callable[[Any], None]) -> None:
    """Run ``fn`` on ``t``'s memory (on a contiguous copy written back when ``t`` is not contiguous)."""
    arr = t._data
    if arr.flags.c_contiguous:
        fn(arr)
    else:
        work = _xp_of(arr).ascontiguousarray(arr)
        fn(work)
        arr[...] = work
    bump_version(t)


def all_reduce(
    tensor: Tensor,
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    *,
    deterministic: bool | None = None,
) -> Any:
    """Combine ``tensor`` across all ranks, in place (every rank gets the result), as torch.

    ``deterministic`` (default: the group's, see ``init_process_group``) adds in rank order.
    """
    _check(tensor, "all_reduce")
    g = _require()
    det = g.deterministic if deterministic is None else deterministic
    if op is ReduceOp.AVG and not _is_float(tensor._data):
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}")
    if g.size > 1:
        comm = g.comm_for(tensor)

        def reduce(arr: Any) -> None:
            comm.allreduce(arr, op, det)
            if op is ReduceOp.AVG:
                arr /= g.size

        _in_place(tensor, reduce)
    return _Work() if async_op else None


def broadcast(tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False) -> Any:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``, in place."""
    _check(tensor, "broadcast")
    g = _require()
    if not 0 <= src < g.size:
        raise ValueError(f"broadcast: src {src} is not a rank of this world of {g.size}")
    if g.size > 1:
        comm = g.comm_for(tensor)
        _in_place(tensor, lambda arr: comm.broadcast(arr, src))
    return _Work() if async_op else None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Any:
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (a list of world-size tensors of its shape)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"all_gather: expected a Tensor, got {type(tensor).__name__}")
    g = _require()
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the world has {g.size} ranks")
    for i, t in enumerate(tensor_list):
        _check(t, "all_gather")
        if tuple(t.shape) != tuple(tensor.shape) or t.dtype != tensor.dtype or t.device != tensor.device:
            raise ValueError(
                f"all_gather: tensor_list[{i}] has shape {tuple(t.shape)}, dtype {t.dtype} on {t.device}; "
                f"expected those of the input: {tuple(tensor.shape)}, {tensor.dtype} on {tensor.device}"
            )
    src = tensor._data if tensor._data.flags.c_contiguous else _xp_of(tensor._data).ascontiguousarray(tensor._data)
    parts = g.comm_for(tensor).allgather(src)
    for t, part in zip(tensor_list, parts):
        t._data[...] = part
        bump_version(t)
    return _Work() if async_op else None


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """Fill ``object_list[r]`` with rank r's ``obj`` (picklable Python objects, through MPI)."""
    g = _require()
    if len(object_list) != g.size:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} items, the world has {g.size}")
    object_list[:] = g.host.allgather_object(obj)


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None, device: Any = None) -> None:
    """Replace every rank's ``object_list`` items with rank ``src``'s (in place, through MPI)."""
    g = _require()
    object_list[:] = g.host.bcast_object(list(object_list), src)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Any:
    """Wait until every rank gets here."""
    _require().host.barrier()
    return _Work() if async_op else None


# ------------------------------------------------------------------------------------------ for training loops
def init_from_launcher(force: bool = False, device: str = "auto") -> bool:
    """Join the MPI job this process was started in; True when the job has more than one process.

    Without a launcher (a single process) nothing is initialised and nothing imported, unless
    ``force`` (an MPI launcher we do not recognise); an initialised group is kept as it is. The
    backend is ``mpi`` for ``device="cpu"``, else chosen by ``init_process_group`` (``backprop
    train-lm`` calls this with its ``--distributed`` and ``--device``).
    """
    if not is_initialized():
        info = launch_info()
        if not force and (info is None or info.world_size == 1):
            return False
        init_process_group("mpi" if device == "cpu" else None, mpi=True)
    return get_world_size() > 1


def is_main_process() -> bool:
    """True on rank 0, and in a process that is not part of a job: the one that prints and writes files."""
    return _group is None or _group.rank == 0


def job_info() -> dict[str, Any]:
    """``{"world_size": n, "backend": "mpi" | "nccl" | None}``, for metrics (1 and None for one process)."""
    if _group is None or _group.size == 1:
        return {"world_size": 1, "backend": None}
    return {"world_size": _group.size, "backend": _group.backend, "deterministic": _group.deterministic}


def device_for_rank(dev: Any) -> Any:
    """``dev``, except that in a job of several processes a CUDA device becomes this rank's GPU (local rank)."""
    if _group is None or _group.size == 1 or dev.type != "cuda":
        return dev
    from backprop import cuda
    from backprop.devices import device

    return device(f"cuda:{_group.local_rank % max(1, cuda.device_count())}")


def local_batch(*arrays: Any) -> tuple[tuple[Any, ...], float]:
    """This rank's contiguous part of a global batch (``local_slice``), and the weight of its mean loss.

    The weight is ``world_size * n_local / n_global``: 1.0 when the batch divides evenly, and what
    makes the average over ranks of ``weight * local mean loss`` the mean over the global batch
    otherwise (the gradients DistributedDataParallel averages are then the global batch's). A rank
    whose part is empty (a last batch smaller than the world) takes one item with weight 0.
    """
    if _group is None or _group.size == 1:
        return arrays, 1.0
    n = len(arrays[0])
    sl = local_slice(n)
    if sl.stop == sl.start:
        return tuple(a[:1] for a in arrays), 0.0
    return tuple(a[sl] for a in arrays), _group.size * (sl.stop - sl.start) / n
