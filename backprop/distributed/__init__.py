"""``backprop.distributed``: collectives with torch.distributed's names, on MPI (mpi4py), TCP and NCCL (CuPy).

One process per CPU worker or per GPU, started either by an MPI launcher (``mpiexec -n 2 python train.py``;
``pip install 'backprop-autodiff[mpi]'`` brings mpi4py and MPICH's ``mpiexec``), or as torch's jobs are
(``torchrun`` or ``python -m backprop.run --nproc-per-node 2 train.py``: ``MASTER_ADDR``, ``MASTER_PORT``,
``RANK``, ``WORLD_SIZE``), whose ranks meet through a ``TCPStore`` and talk over sockets (the ``gloo``
backend, ``backprop._tcp``, which adds in rank order always). MPI or TCP carries host (NumPy) arrays and
Python objects; with the ``nccl`` backend, CUDA arrays go through NCCL
(``cupy.cuda.nccl``, on the current stream) and never through MPI, whose only GPU-side job is to hand
NCCL's unique id from rank 0 to the others. Without a launcher, ``init_process_group()`` makes a world
of one process at no cost (mpi4py is not even imported), so the same script runs alone or in a job.

Sums are reduced by the engine's own algorithm (fast; for two ranks ``a + b`` is exact and the same on
both, for more ranks the summation order is the engine's). ``deterministic=True`` gathers every rank's
array and adds them in rank order instead, ``((x_0 + x_1) + x_2) + ...``: the same bits on every rank and
in every run, the result one process gets by adding the ranks' arrays itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _datetime
import enum
import importlib.util
import os
import pdb
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, NewType

import numpy as np

from backprop import dtypes as _dtypes
from backprop._tcp import (
    DistBackendError,
    DistError,
    DistNetworkError,
    DistStoreError,
    FileStore,
    HashStore,
    PrefixStore,
    Store,
    TCPStore,
)
from backprop.autograd.function import bump_version, check_inplace
from backprop.distributed import rendezvous as _rdzv
from backprop.distributed.rendezvous import register_rendezvous_handler, rendezvous
from backprop.futures import Future
from backprop.tensor import Tensor

__all__ = [
    "AllToAllOptions",
    "AllreduceCoalescedOptions",
    "AllreduceOptions",
    "BarrierOptions",
    "BroadcastOptions",
    "DebugLevel",
    "GatherOptions",
    "GroupName",
    "QueueEmptyError",
    "ReduceOptions",
    "ReduceScatterOptions",
    "ScatterOptions",
    "all_gather_coalesced",
    "all_reduce_coalesced",
    "breakpoint",
    "get_debug_level",
    "get_pg_count",
    "reduce_op",
    "register_rendezvous_handler",
    "rendezvous",
    "set_debug_level",
    "set_debug_level_from_env",
    "split_group",
    "supports_complex",
    "Backend",
    "DistBackendError",
    "DistError",
    "DistNetworkError",
    "DistStoreError",
    "FileStore",
    "GradBucket",
    "GroupMember",
    "HashStore",
    "LaunchInfo",
    "P2POp",
    "PrefixStore",
    "ProcessGroup",
    "ReduceOp",
    "Store",
    "TCPStore",
    "Work",
    "all_gather_into_tensor",
    "all_to_all",
    "all_to_all_single",
    "batch_isend_irecv",
    "default_pg_timeout",
    "gather",
    "gather_object",
    "get_default_backend_for_device",
    "get_global_rank",
    "get_group_rank",
    "get_node_local_rank",
    "get_process_group_ranks",
    "group",
    "irecv",
    "is_backend_available",
    "is_gloo_available",
    "is_torchelastic_launched",
    "is_ucc_available",
    "is_xccl_available",
    "isend",
    "monitored_barrier",
    "new_group",
    "new_subgroups",
    "new_subgroups_by_enumeration",
    "DeviceMesh",
    "init_device_mesh",
    "recv",
    "recv_object_list",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
    "send_object_list",
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
    "torch_launch_info",
]

BACKENDS = ("mpi", "nccl", "gloo")


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values (torch.distributed.ReduceOp's members)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"  # the sum, then divided by the world size (floating tensors only)
    BAND = "band"  # bitwise and, or, xor (integer and bool tensors only)
    BOR = "bor"
    BXOR = "bxor"


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


def torch_launch_info(environ: Mapping[str, str] | None = None) -> LaunchInfo | None:
    """The rank and sizes a torch-style launcher (``torchrun``, ``python -m backprop.run``) put in the
    environment (``RANK`` and ``WORLD_SIZE``; ``LOCAL_RANK``/``LOCAL_WORLD_SIZE`` or -1); None without them."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    return LaunchInfo(
        int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", -1)), int(env.get("LOCAL_WORLD_SIZE", -1))
    )


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
    """``out = parts[0] (op) parts[1] (op) ...``, left to right: the deterministic reduction. ``out`` may be
    ``parts[0]`` or ``parts[1]`` itself (the first step reads both before writing), not a later part."""
    xp = _xp_of(out)
    if len(parts) == 1:
        out[...] = parts[0]
        return
    boolean = out.dtype.kind == "b"
    if op is ReduceOp.SUM or op is ReduceOp.AVG:
        fn = xp.add  # for booleans: or
    elif op is ReduceOp.PRODUCT:
        fn = xp.multiply  # for booleans: and
    elif op is ReduceOp.MIN:
        fn = xp.logical_and if boolean else xp.minimum
    elif op is ReduceOp.MAX:
        fn = xp.logical_or if boolean else xp.maximum
    else:
        fn = {ReduceOp.BAND: xp.bitwise_and, ReduceOp.BOR: xp.bitwise_or, ReduceOp.BXOR: xp.bitwise_xor}[op]
    fn(parts[0], parts[1], out=out)
    for p in parts[2:]:
        fn(out, p, out=out)


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

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """Operations that must be in flight together (NCCL's group calls); nothing to do by default."""
        yield


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

    def alltoall_arrays(self, arrays: list[Any]) -> list[Any]:
        return [arrays[0].copy()]

    def gather_object(self, obj: Any, dst: int) -> list[Any] | None:
        return [obj]

    def scatter_object(self, objs: list[Any] | None, src: int) -> Any:
        assert objs is not None
        return objs[0]


def _wire(arr: np.ndarray) -> np.ndarray:
    """What MPI carries: booleans and ml_dtypes' bfloat16 (kind "V", no buffer format) as bytes."""
    return arr.view(np.uint8) if arr.dtype.kind in "bV" else arr


class _MPIComm(_Comm):
    """Host arrays and objects over an mpi4py communicator."""

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm, self.mpi = comm, mpi
        self.size, self.rank = comm.Get_size(), comm.Get_rank()
        self._ops = {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD}
        self._ops.update({ReduceOp.MIN: mpi.MIN, ReduceOp.MAX: mpi.MAX})
        self._ops.update({ReduceOp.BAND: mpi.BAND, ReduceOp.BOR: mpi.BOR, ReduceOp.BXOR: mpi.BXOR})

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
        self.comm.Bcast(_wire(arr), root=src)

    def allgather(self, arr: Any) -> Any:
        self._host(arr)
        out = np.empty((self.size, *arr.shape), dtype=arr.dtype)
        if arr.dtype.kind in "bV":
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
        # what this rank printed last (the failing rank's traceback) goes through the launcher's output
        # forwarding, which MPI_Abort can cut off: flush, and give it a moment first
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.2)
        self.comm.Abort(code)

    def isend(self, arr: Any, dst: int, tag: int) -> _MPIRequest:
        self._host(arr)
        req = self.comm.Isend(_wire(arr), dest=dst, tag=tag)
        return _MPIRequest(req, self.mpi)

    def irecv(self, arr: Any, src: int | None, tag: int) -> _MPIRequest:
        self._host(arr)
        source = self.mpi.ANY_SOURCE if src is None else src
        req = self.comm.Irecv(_wire(arr), source=source, tag=tag)
        return _MPIRequest(req, self.mpi)

    def alltoall_arrays(self, arrays: list[Any]) -> list[Any]:
        """Rank r's ``arrays[j]`` goes to rank j; returns the arrays each rank sent here (pickled: any shapes)."""
        for a in arrays:
            self._host(a)
        return list(self.comm.alltoall(arrays))

    def gather_object(self, obj: Any, dst: int) -> list[Any] | None:
        return self.comm.gather(obj, root=dst)

    def scatter_object(self, objs: list[Any] | None, src: int) -> Any:
        return self.comm.scatter(objs, root=src)

    def send_object(self, obj: Any, dst: int) -> None:
        self.comm.send(obj, dest=dst)

    def recv_object(self, src: int | None) -> tuple[Any, int]:
        status = self.mpi.Status()
        obj = self.comm.recv(source=self.mpi.ANY_SOURCE if src is None else src, status=status)
        return obj, status.Get_source()


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
        exact = deterministic and op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT)
        if arr.dtype.kind == "b" or exact or op not in self._ops:  # (NCCL has no bitwise reductions)
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

    # point-to-point (NCCL 2.7+): enqueued on the current stream, so later work on it is ordered after them;
    # NCCL has no tags. A send and its receive must be in flight together: ``grouped`` (batch_isend_irecv,
    # all_to_all) lets a rank post both directions before either blocks.
    def isend(self, arr: Any, dst: int, tag: int) -> _StreamRequest:
        self.comm.send(self._ptr(arr), arr.size, self._type(arr), dst, self._stream())
        return _StreamRequest(None)

    def irecv(self, arr: Any, src: int | None, tag: int) -> _StreamRequest:
        if src is None:
            raise RuntimeError("irecv/recv over NCCL needs the source rank (NCCL cannot receive from any rank)")
        self.comm.recv(self._ptr(arr), arr.size, self._type(arr), src, self._stream())
        return _StreamRequest(src)

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """NCCL's group calls (``groupStart``/``groupEnd``) around the block."""
        self.nccl.groupStart()
        try:
            yield
        finally:
            self.nccl.groupEnd()

    def alltoall_into(self, sends: list[Any], recvs: list[Any]) -> None:
        """``sends[j]`` to rank j, ``recvs[i]`` from rank i (contiguous device arrays), in one NCCL group."""
        with self.grouped():
            for peer in range(self.size):
                if peer == self.rank:
                    recvs[peer][...] = sends[peer]
                    continue
                self.isend(sends[peer], peer, 0)
                self.irecv(recvs[peer], peer, 0)


def _connect_nccl(host: Any, nccl: Any, stream: Callable[[], int]) -> _NcclComm:
    """An NCCL communicator over the job's GPUs: rank 0's unique id reaches the others through MPI."""
    uid = nccl.get_unique_id() if host.rank == 0 else None
    uid = host.bcast_object(uid, 0)
    comm = nccl.NcclCommunicator(host.size, uid, host.rank)
    return _NcclComm(comm, nccl, host.size, host.rank, stream)


# ------------------------------------------------------------------------------------------ the group
class _Group:
    """A process group (the default one, or one of ``new_group``): its backend, where this process sits in it,
    its communicators, and the global ranks of its members in group order (``ranks[group_rank]``)."""

    def __init__(
        self,
        backend: str,
        host: Any,
        device: _NcclComm | None,
        local_rank: int,
        local_size: int,
        deterministic: bool,
        ranks: list[int] | None = None,
    ) -> None:
        self.backend, self.host, self.device = backend, host, device
        self.rank, self.size = host.rank, host.size
        self.local_rank, self.local_size = local_rank, local_size
        self.deterministic = deterministic
        self.ranks = list(range(self.size)) if ranks is None else ranks
        self.nccl_connect: Callable[[Any], _NcclComm] | None = None  # (how a subgroup gets its own NCCL comm)
        self.store: Any = None  # (a TCP job's rendezvous store, kept open while the group lives)

    def group_rank_of(self, global_rank: int) -> int:
        """``global_rank``'s rank in this group (torch's error when it is not a member)."""
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(f"Global rank {global_rank} is not part of group {self}") from None

    def __repr__(self) -> str:
        return f"<backprop.distributed group of ranks {self.ranks} ({self.backend})>"

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


def _resolve(group: Any) -> _Group | None:
    """The group a call names: the default one for None, a ``new_group``, or None for ``NON_GROUP_MEMBER`` (this
    rank is not in that group: the call does nothing here, as torch's)."""
    g = _require()
    if group is None or group is g:
        return g
    if isinstance(group, _Group):
        return group
    if group == _NON_GROUP_MEMBER:
        return None
    raise TypeError(f"expected a process group from new_group() (or None), got {type(group).__name__}")


_NON_GROUP_MEMBER = -100
ProcessGroup = _Group  # torch.distributed.ProcessGroup: what group.WORLD and new_group() are (isinstance, hints)


def _rank_not_in_group(group: Any) -> bool:
    """torch's helper: True for ``GroupMember.NON_GROUP_MEMBER`` (new_group's answer on a rank outside it)."""
    return group is not None and not isinstance(group, _Group) and group == _NON_GROUP_MEMBER


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
    """Join the job (torch's name): ``"mpi"`` or ``"gloo"`` for CPU processes, ``"nccl"`` for one GPU per process.

    Under an MPI launcher (see ``launch_info``) the job's engine is MPI. Under a torch-style launcher
    (``torchrun``, ``python -m backprop.run``: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), or
    with torch's ``init_method="tcp://host:port"`` or ``store=`` and ``rank``/``world_size``, the ranks meet
    through a ``TCPStore`` and talk over TCP (``backprop._tcp``; ``nccl`` adds NCCL for CUDA tensors on top).
    ``backend=None`` picks ``nccl`` when CUDA is usable, else ``mpi`` under MPI and ``gloo`` otherwise.
    Without any launcher, ``init_process_group()`` (or with ``"mpi"``/``"nccl"``) makes a world of one process
    without importing mpi4py; ``"gloo"`` needs a rendezvous, as torch's. ``mpi=True`` initialises MPI
    regardless (an MPI launcher we do not recognise), ``mpi=False`` never does. ``deterministic=True``
    makes every sum gather and add in rank order (module docstring; TCP always does). With more than one
    process, an uncaught exception on any rank prints its traceback with the rank and ends the whole job
    instead of leaving the others waiting. torch's ``init_method``, ``world_size``, ``rank``, ``timeout`` and
    ``store`` are accepted (under MPI they must agree with the launcher's).
    """
    global _group, _pg_count
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)} (or None)")
    unknown = set(torch_kwargs) - {"init_method", "world_size", "rank", "timeout", "store", "group_name", "device_id"}
    if unknown:
        raise TypeError(f"init_process_group() got unexpected keyword argument(s) {sorted(unknown)}")
    info, tinfo = launch_info(), torch_launch_info()
    rendezvous = torch_kwargs.get("store") is not None or bool(torch_kwargs.get("init_method"))
    if mpi is None:
        mpi = info is not None and info.world_size != 1
    if not mpi and (
        backend == "gloo" or (backend != "mpi" and (rendezvous or (tinfo is not None and tinfo.world_size != 1)))
    ):
        _group = _tcp_group(backend, deterministic, torch_kwargs)
        _pg_count = 1
        return
    if not mpi and backend == "mpi" and tinfo is not None and tinfo.world_size != 1:
        raise RuntimeError(
            f"init_process_group('mpi'): this process was started by a torch-style launcher (RANK={tinfo.rank}, "
            f"WORLD_SIZE={tinfo.world_size}), not by mpiexec: use backend 'gloo' (or 'nccl'), or start the job "
            "with mpiexec"
        )
    if not mpi:
        _group = _Group(backend or "mpi", _SingleComm(), None, 0, 1, deterministic)
    else:
        _group = _mpi_group(backend, deterministic, info)
    _pg_count = 1
    for key in ("world_size", "rank"):
        want = torch_kwargs.get(key)
        if want is not None and want not in (-1, getattr(_group, "size" if key == "world_size" else "rank")):
            got = _group.size if key == "world_size" else _group.rank
            destroy_process_group()
            raise ValueError(f"init_process_group({key}={want}): the launcher started this process with {key} {got}")


def _rendezvous_value(torch_kwargs: dict[str, Any], key: str, env_var: str, query: dict[str, list[str]]) -> int:
    """``rank`` or ``world_size``: the argument, else the ``tcp://`` URL's query, else the launcher's variable."""
    value = torch_kwargs.get(key)
    if value is not None and value != -1:
        return int(value)
    if key in query:
        return int(query[key][0])
    if env_var in os.environ:
        return int(os.environ[env_var])
    raise ValueError(
        f"Error initializing torch.distributed using env:// rendezvous: environment variable {env_var} expected, "
        f"but not set (start the job with torchrun or python -m backprop.run, or pass {key}=)"
    )


def _tcp_group(backend: str | None, deterministic: bool, torch_kwargs: dict[str, Any]) -> _Group:
    """The group of a torch-style job: the ranks meet through a ``TCPStore`` and talk over TCP (``_tcp``)."""
    import socket
    import urllib.parse

    from backprop import _tcp

    timeout = torch_kwargs.get("timeout") or default_pg_timeout
    seconds = timeout.total_seconds() if isinstance(timeout, _datetime.timedelta) else float(timeout)
    store = torch_kwargs.get("store")
    method = torch_kwargs.get("init_method") or "env://"
    url = urllib.parse.urlparse(method)
    query = urllib.parse.parse_qs(url.query)
    if store is None and url.scheme not in ("env", "tcp", "file") and url.scheme in _rdzv._rendezvous_handlers:
        # a scheme of register_rendezvous_handler: its generator gives the store, rank and size
        want = [torch_kwargs.get(k) for k in ("rank", "world_size")]
        ranks = [-1 if v is None else int(v) for v in want]
        rdzv = _rdzv.rendezvous(method, *ranks, timeout=_datetime.timedelta(seconds=seconds))
        store, rank_, size_ = next(rdzv)
        torch_kwargs = {**torch_kwargs, "rank": rank_, "world_size": size_}
    rank = _rendezvous_value(torch_kwargs, "rank", "RANK", query)
    size = _rendezvous_value(torch_kwargs, "world_size", "WORLD_SIZE", query)
    if not 0 <= rank < size:
        raise ValueError(f"init_process_group: rank {rank} is not in 0 .. world_size - 1 = {size - 1}")
    if store is None:
        if url.scheme == "env":
            missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
            if missing:
                raise ValueError(
                    "Error initializing torch.distributed using env:// rendezvous: environment variable "
                    f"{missing[0]} expected, but not set"
                )
            host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
        elif url.scheme == "tcp":
            if url.hostname is None or url.port is None:
                raise ValueError(f"init_method {method!r}: expected tcp://host:port")
            host, port = url.hostname, url.port
        elif url.scheme == "file":
            _tcp.FileStore(url.path)  # (raises: not implemented, with the alternatives)
            raise AssertionError("unreachable")
        else:
            raise ValueError(
                f"init_method {method!r}: expected env://, tcp://host:port, a scheme of "
                "register_rendezvous_handler (or store=)"
            )
        store = _tcp.TCPStore(host, port, size, is_master=rank == 0, timeout=_datetime.timedelta(seconds=seconds))
    mesh = _tcp.Mesh(_tcp.PrefixStore("default_pg", store), rank, size, seconds)
    host_comm = _tcp.TcpComm(mesh, 0, list(range(size)), _combine_in_rank_order, _exit_now)
    names = host_comm.allgather_object(socket.gethostname()) if size > 1 else [socket.gethostname()]
    local_rank, local_size = names[:rank].count(names[rank]), names.count(names[rank])
    if size > 1:
        _install_abort_hook(host_comm)
    if backend is None:
        from backprop import cuda

        backend = "nccl" if cuda.is_available() else "gloo"
    limit_blas_threads(local_size)
    device = None
    connect = None
    if backend == "nccl" and size > 1:
        import cupy
        from cupy.cuda import nccl

        from backprop import cuda

        cupy.cuda.Device(local_rank % max(1, cuda.device_count())).use()  # one GPU per process on a node

        def connect(sub: Any) -> _NcclComm:
            return _connect_nccl(sub, nccl, lambda: cupy.cuda.get_current_stream().ptr)

        device = connect(host_comm)
    made = _Group(backend, host_comm, device, local_rank, local_size, deterministic)
    made.nccl_connect = connect
    made.store = store
    return made


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
        made = _Group(backend, host, device, local_rank, local_size, deterministic)
        made.nccl_connect = lambda sub: _connect_nccl(sub, nccl, lambda: cupy.cuda.get_current_stream().ptr)
        return made
    return _Group(backend, host, device, local_rank, local_size, deterministic)


def _install_abort_hook(host: Any) -> None:
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


def destroy_process_group(group: Any = None) -> None:
    """Leave the default group (MPI itself is finalised by mpi4py when the process exits), or free the
    communicators of a ``new_group``."""
    global _group, _previous_excepthook, _pg_count
    if isinstance(group, _Group) and group is not _group:
        if group.device is not None:
            group.device.comm.destroy()
        if isinstance(group.host, _MPIComm):
            group.host.comm.Free()
        return
    if _group is None:
        return
    if _group.device is not None:
        _group.device.comm.destroy()
    if hasattr(_group.host, "close"):  # (TCP: the connections to the other ranks, then the store)
        _group.host.close()
        if hasattr(_group.store, "close"):  # (a HashStore of store= or a rendezvous handler: nothing to close)
            _group.store.close()
    if _previous_excepthook is not None:
        sys.excepthook, _previous_excepthook = _previous_excepthook, None
    _group = None
    _pg_count = 0


def get_backend(group: Any = None) -> str:
    """``"mpi"`` or ``"nccl"``."""
    g = _resolve(group)
    if g is None:
        raise ValueError("Invalid process group specified")
    return g.backend


def get_rank(group: Any = None) -> int:
    """This process's rank, 0 .. world size - 1 (in ``group``: its rank there, -1 outside it)."""
    g = _resolve(group)
    return -1 if g is None else g.rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the job (in ``group``: its size, -1 on a rank outside it)."""
    g = _resolve(group)
    return -1 if g is None else g.size


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
class _MPIRequest:
    """A non-blocking MPI send or receive; ``wait_source()`` completes it and gives the sender's rank."""

    def __init__(self, request: Any, mpi: Any) -> None:
        self.request, self.mpi = request, mpi

    def wait_source(self) -> int | None:
        status = self.mpi.Status()
        self.request.Wait(status)
        return int(status.Get_source())

    def test(self) -> bool:
        return bool(self.request.Test())


class _StreamRequest:
    """An NCCL send or receive: queued on the current stream, which orders every later use of the buffer."""

    def __init__(self, source: int | None) -> None:
        self.source = source

    def wait_source(self) -> int | None:
        return self.source

    def test(self) -> bool:
        return True


class _Work:
    """What ``async_op=True`` returns: the collective has already completed; ``get_future()`` holds its outputs."""

    def __init__(self, result: list[Any] | None = None) -> None:
        self._result = [] if result is None else list(result)

    def wait(self, timeout: Any = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True

    def is_success(self) -> bool:
        return True

    def exception(self) -> None:
        return None

    def result(self) -> list[Any]:
        """The collective's output tensors (torch's: ``[tensor]`` for ``all_reduce``)."""
        return list(self._result)

    def get_future(self) -> Future[list[Any]]:
        """A completed ``backprop.futures.Future`` of the output tensor list (``[tensor]`` for ``all_reduce``)."""
        fut: Future[list[Any]] = Future()
        fut.set_result(list(self._result))
        return fut


Work = _Work  # torch.distributed.Work: what async operations return


class _P2PWork(_Work):
    """A pending ``isend``/``irecv`` (an MPI request); ``wait()`` completes it (a receive then lands in the
    tensor, through a contiguous buffer when the tensor is not contiguous)."""

    def __init__(self, request: Any, done: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._request, self._done, self._finished = request, done, False
        self.source: int | None = None

    def wait(self, timeout: Any = None) -> bool:
        if not self._finished:
            self.source = self._request.wait_source()
            if self._done is not None:
                self._done()
            self._finished = True
        return True

    def is_completed(self) -> bool:
        if not self._finished and self._request.test():
            self.wait()
        return self._finished

    def get_future(self) -> Future[list[Any]]:
        """Not for point-to-point operations, as torch's MPI and gloo backends."""
        raise RuntimeError("get_future() is not supported for point-to-point operations (isend/irecv), as torch's")


class GradBucket:
    """One bucket of ``DistributedDataParallel`` handed to a communication hook (torch.distributed.GradBucket):
    the flat buffer of its parameters' local gradients (not yet divided by the world size) and their views."""

    def __init__(
        self, index: int, buffer: Tensor, parameters: Sequence[Tensor], offsets: Sequence[int], is_last: bool
    ) -> None:
        self._index, self._buffer, self._params = index, buffer, list(parameters)
        self._offsets, self._is_last = list(offsets), is_last

    def index(self) -> int:
        """The bucket's index (0 holds the last parameters: roughly the first gradients of backward)."""
        return self._index

    def buffer(self) -> Tensor:
        """The flat 1-D buffer of the bucket's gradients (``set_buffer``'s tensor once one is set)."""
        return self._buffer

    def gradients(self) -> list[Tensor]:
        """Each parameter's gradient: a view of ``buffer()`` in the parameter's shape."""
        return [self._buffer[off : off + p.numel()].reshape(p.shape) for p, off in zip(self._params, self._offsets)]

    def parameters(self) -> list[Tensor]:
        """The bucket's parameters, in buffer order."""
        return list(self._params)

    def is_last(self) -> bool:
        """Whether this is the last bucket of the iteration to be reduced."""
        return self._is_last

    def set_buffer(self, buffer: Tensor) -> None:
        """Make ``buffer`` this bucket's buffer (what ``buffer()`` and ``gradients()`` return from now on)."""
        if not isinstance(buffer, Tensor):
            raise TypeError(f"GradBucket.set_buffer: expected a Tensor, got {type(buffer).__name__}")
        self._buffer = buffer


def _check_op(op: ReduceOp, arr: Any, name: str, dtype: Any) -> None:
    """torch's dtype rules of the reductions: AVG averages floats, the bitwise ones take integers and booleans."""
    if op is ReduceOp.AVG and not _is_float(arr):
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and _dtypes.kind(arr.dtype) not in "iub":
        raise TypeError(f"{name}: ReduceOp.{op.name} needs an integer or bool tensor, got {dtype}")


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


def _contiguous(t: Tensor) -> Any:
    arr = t._data
    return arr if arr.flags.c_contiguous else _xp_of(arr).ascontiguousarray(arr)


def _write(t: Tensor, value: Any) -> None:
    t._data[...] = value
    bump_version(t)


def _same_layout(ts: list[Tensor], ref: Tensor, name: str, what: str) -> None:
    for i, t in enumerate(ts):
        _check(t, name)
        if tuple(t.shape) != tuple(ref.shape) or t.dtype != ref.dtype or t.device != ref.device:
            raise ValueError(
                f"{name}: {what}[{i}] has shape {tuple(t.shape)}, dtype {t.dtype} on {t.device}; expected those "
                f"of the input: {tuple(ref.shape)}, {ref.dtype} on {ref.device}"
            )


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
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    det = g.deterministic if deterministic is None else deterministic
    _check_op(op, tensor._data, "all_reduce", tensor.dtype)
    if g.size > 1:
        comm = g.comm_for(tensor)

        def reduce(arr: Any) -> None:
            comm.allreduce(arr, op, det)
            if op is ReduceOp.AVG:
                arr /= g.size

        _in_place(tensor, reduce)
    return _Work([tensor]) if async_op else None


def broadcast(tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False) -> Any:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``, in place."""
    _check(tensor, "broadcast")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    if src not in g.ranks:
        raise ValueError(f"broadcast: src {src} is not a rank of this group (global ranks {g.ranks})")
    root = g.group_rank_of(src)
    if g.size > 1:
        comm = g.comm_for(tensor)
        _in_place(tensor, lambda arr: comm.broadcast(arr, root))
    return _Work([tensor]) if async_op else None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Any:
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (a list of world-size tensors of its shape)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"all_gather: expected a Tensor, got {type(tensor).__name__}")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the world has {g.size} ranks")
    _same_layout(tensor_list, tensor, "all_gather", "tensor_list")
    parts = g.comm_for(tensor).allgather(_contiguous(tensor))
    for t, part in zip(tensor_list, parts):
        _write(t, part)
    return _Work(list(tensor_list)) if async_op else None


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """Fill ``object_list[r]`` with rank r's ``obj`` (picklable Python objects, through MPI)."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    if len(object_list) != g.size:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} items, the world has {g.size}")
    object_list[:] = g.host.allgather_object(obj)


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None, device: Any = None) -> None:
    """Replace every rank's ``object_list`` items with rank ``src``'s (in place, through MPI)."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    object_list[:] = g.host.bcast_object(list(object_list), g.group_rank_of(src))


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Any:
    """Wait until every rank (of ``group``) gets here."""
    g = _resolve(group)
    if g is not None:
        g.host.barrier()
    return _Work([]) if async_op else None


# ------------------------------------------------------------------------------------------ more of torch's collectives
# Built on the primitives above (allgather, allreduce, broadcast) so they run on both communicators; sums keep
# the rank order of ``_combine_in_rank_order`` where a rank combines the parts itself.


def _root(rank: int | None, group_rank: int | None, name: str, g: _Group, what: str = "dst") -> int:
    """torch's ``dst``/``group_dst`` (or ``src``/``group_src``) pair as a rank in ``g``: ``dst`` is a global
    rank, ``group_dst`` one in the group; neither means the group's first."""
    if rank is not None and group_rank is not None:
        raise ValueError(f"{name}: give {what} or group_{what}, not both")
    if rank is not None:
        if rank not in g.ranks:
            raise ValueError(f"{name}: {what} {rank} is not a rank of this group (global ranks {g.ranks})")
        return g.group_rank_of(rank)
    r = 0 if group_rank is None else group_rank
    if not 0 <= r < g.size:
        raise ValueError(f"{name}: group_{what} {r} is not a rank of this group of {g.size}")
    return r


def reduce(
    tensor: Tensor, dst: int | None = None, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False,
    group_dst: int | None = None,
) -> Any:  # fmt: skip
    """Combine ``tensor`` across ranks into rank ``dst``'s ``tensor`` (in rank order); the others keep theirs."""
    _check(tensor, "reduce")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    root = _root(dst, group_dst, "reduce", g)
    _check_op(op, tensor._data, "reduce", tensor.dtype)
    if g.size > 1:
        parts = g.comm_for(tensor).allgather(_contiguous(tensor))
        if g.rank == root:
            out = _xp_of(parts).empty_like(parts[0])
            _combine_in_rank_order(out, parts, op)
            if op is ReduceOp.AVG:
                out /= g.size
            _write(tensor, out)
    return _Work([tensor]) if async_op else None


def gather(
    tensor: Tensor, gather_list: list[Tensor] | None = None, dst: int | None = None, group: Any = None,
    async_op: bool = False, group_dst: int | None = None,
) -> Any:  # fmt: skip
    """Rank ``dst`` gets every rank's ``tensor`` in ``gather_list`` (world-size tensors); the others pass none."""
    _check(tensor, "gather")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    root = _root(dst, group_dst, "gather", g)
    if g.rank == root:
        if gather_list is None or len(gather_list) != g.size:
            raise ValueError(f"gather: the destination rank needs a gather_list of {g.size} tensors")
        _same_layout(gather_list, tensor, "gather", "gather_list")
    elif gather_list:
        raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
    parts = g.comm_for(tensor).allgather(_contiguous(tensor))
    if g.rank == root:
        assert gather_list is not None
        for t, part in zip(gather_list, parts):
            _write(t, part)
    return _Work(list(gather_list or [])) if async_op else None


def scatter(
    tensor: Tensor, scatter_list: list[Tensor] | None = None, src: int | None = None, group: Any = None,
    async_op: bool = False, group_src: int | None = None,
) -> Any:  # fmt: skip
    """Rank r's ``tensor`` becomes rank ``src``'s ``scatter_list[r]`` (world-size tensors of its shape)."""
    _check(tensor, "scatter")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    root = _root(src, group_src, "scatter", g, "src")
    xp = _xp_of(tensor._data)
    if g.rank == root:
        if scatter_list is None or len(scatter_list) != g.size:
            raise ValueError(f"scatter: the source rank needs a scatter_list of {g.size} tensors")
        _same_layout(scatter_list, tensor, "scatter", "scatter_list")
        stacked = xp.stack([_contiguous(t) for t in scatter_list])
    else:
        if scatter_list:
            raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
        stacked = xp.empty((g.size, *tensor._data.shape), dtype=tensor._data.dtype)
    if g.size > 1:
        g.comm_for(tensor).broadcast(stacked, root)
    _write(tensor, stacked[g.rank])
    return _Work([tensor]) if async_op else None


def _reduced_stack(
    g: _Group, stacked: Any, op: ReduceOp, ref: Tensor, name: str, deterministic: bool | None = None
) -> Any:
    _check_op(op, stacked, name, ref.dtype)
    if g.size > 1:
        g.comm_for(ref).allreduce(stacked, op, g.deterministic if deterministic is None else deterministic)
        if op is ReduceOp.AVG:
            stacked /= g.size
    return stacked[g.rank]


def reduce_scatter(
    output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Any:
    """``output`` on rank r becomes ``input_list[r]`` combined across ranks (world-size inputs of its shape)."""
    _check(output, "reduce_scatter")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    if len(input_list) != g.size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors, the world has {g.size} ranks")
    _same_layout(input_list, output, "reduce_scatter", "input_list")
    stacked = _xp_of(output._data).stack([_contiguous(t) for t in input_list])
    _write(output, _reduced_stack(g, stacked, op, output, "reduce_scatter"))
    return _Work([output]) if async_op else None


def reduce_scatter_tensor(
    output: Tensor,
    input: Tensor,
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    *,
    deterministic: bool | None = None,
) -> Any:
    """``reduce_scatter`` with the inputs as one tensor: ``input`` is world-size ``output``s, concatenated on
    dim 0 or stacked; rank r gets the r-th one combined across ranks (``deterministic``: as ``all_reduce``'s)."""
    _check(output, "reduce_scatter_tensor")
    _check(input, "reduce_scatter_tensor")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    if input._data.size != g.size * output._data.size or input.dtype != output.dtype:
        raise ValueError(
            f"reduce_scatter_tensor: input of shape {tuple(input.shape)} ({input.dtype}) must hold world size "
            f"({g.size}) outputs of shape {tuple(output.shape)} ({output.dtype})"
        )
    stacked = _contiguous(input).reshape(g.size, *output._data.shape).copy()
    _write(output, _reduced_stack(g, stacked, op, output, "reduce_scatter_tensor", deterministic))
    return _Work([output]) if async_op else None


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group: Any = None, async_op: bool = False
) -> Any:
    """Every rank's ``input_tensor`` into ``output_tensor``, in rank order: concatenated on dim 0 or stacked."""
    _check(output_tensor, "all_gather_into_tensor")
    if not isinstance(input_tensor, Tensor):
        raise TypeError(f"all_gather_into_tensor: expected a Tensor, got {type(input_tensor).__name__}")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    if output_tensor._data.size != g.size * input_tensor._data.size or output_tensor.dtype != input_tensor.dtype:
        raise ValueError(
            f"all_gather_into_tensor: output of shape {tuple(output_tensor.shape)} ({output_tensor.dtype}) must "
            f"hold world size ({g.size}) inputs of shape {tuple(input_tensor.shape)} ({input_tensor.dtype})"
        )
    parts = g.comm_for(input_tensor).allgather(_contiguous(input_tensor))
    _write(output_tensor, parts.reshape(output_tensor._data.shape))
    return _Work([output_tensor]) if async_op else None


def all_to_all(
    output_tensor_list: list[Tensor], input_tensor_list: list[Tensor], group: Any = None, async_op: bool = False
) -> Any:
    """Rank r's ``input_tensor_list[j]`` lands in rank j's ``output_tensor_list[r]`` (shapes may differ by pair)."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    for name, lst in (("output_tensor_list", output_tensor_list), ("input_tensor_list", input_tensor_list)):
        if len(lst) != g.size:
            raise ValueError(f"all_to_all: {name} has {len(lst)} tensors, the world has {g.size} ranks")
        for t in lst:
            _check(t, "all_to_all")
    on_device = any(t.device.type != "cpu" for t in (*output_tensor_list, *input_tensor_list))
    if on_device and g.size > 1:  # NCCL: every pair's send and receive in one group, into the outputs' memory
        comm = _p2p_comm(g, input_tensor_list[0], "all_to_all")
        recvs = [_contiguous(t) for t in output_tensor_list]
        comm.alltoall_into([_contiguous(t) for t in input_tensor_list], recvs)
        for t, arr in zip(output_tensor_list, recvs):
            if arr is not t._data:
                t._data[...] = arr
            bump_version(t)
        return _Work(list(output_tensor_list)) if async_op else None
    got = g.host.alltoall_arrays([_contiguous(t) for t in input_tensor_list])
    for i, (t, arr) in enumerate(zip(output_tensor_list, got)):
        if tuple(arr.shape) != tuple(t._data.shape) or arr.dtype != t._data.dtype:
            raise ValueError(
                f"all_to_all: rank {i} sent shape {tuple(arr.shape)} ({arr.dtype}) for output_tensor_list[{i}] of "
                f"shape {tuple(t.shape)} ({t.dtype})"
            )
        _write(t, arr)
    return _Work(list(output_tensor_list)) if async_op else None


def all_to_all_single(
    output: Tensor, input: Tensor, output_split_sizes: list[int] | None = None,
    input_split_sizes: list[int] | None = None, group: Any = None, async_op: bool = False,
) -> Any:  # fmt: skip
    """``all_to_all`` on dim-0 slices of one tensor: ``input`` split by ``input_split_sizes`` (equal parts by
    default) goes out, ``output`` is filled by ``output_split_sizes`` from the ranks in order."""
    _check(output, "all_to_all_single")
    _check(input, "all_to_all_single")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None

    def splits(t: Tensor, sizes: list[int] | None, name: str) -> list[int]:
        n = t.shape[0] if t.ndim else 1
        if sizes is None:
            if n % g.size:
                raise ValueError(f"all_to_all_single: {name} dim 0 ({n}) must divide by the world size ({g.size})")
            return [n // g.size] * g.size
        if len(sizes) != g.size or sum(sizes) != n:
            raise ValueError(
                f"all_to_all_single: {name}_split_sizes {list(sizes)} must be {g.size} sizes summing to {n}"
            )
        return [int(k) for k in sizes]

    ins, outs = splits(input, input_split_sizes, "input"), splits(output, output_split_sizes, "output")
    src = _contiguous(input)
    bounds = np.cumsum([0, *ins])
    if g.size > 1 and input.device.type != "cpu":  # NCCL: dim-0 slices of contiguous arrays are contiguous
        comm = _p2p_comm(g, input, "all_to_all_single")
        dst = _contiguous(output)
        out_bounds = np.cumsum([0, *outs])
        comm.alltoall_into(
            [src[bounds[j] : bounds[j + 1]] for j in range(g.size)],
            [dst[out_bounds[i] : out_bounds[i + 1]] for i in range(g.size)],
        )
        if dst is not output._data:
            output._data[...] = dst
        bump_version(output)
        return _Work([output]) if async_op else None
    pieces_in = [src[bounds[j] : bounds[j + 1]].copy() for j in range(g.size)]
    got = g.host.alltoall_arrays(pieces_in)
    bounds = np.cumsum([0, *outs])
    for i, arr in enumerate(got):
        if arr.shape[0] != outs[i]:
            raise ValueError(f"all_to_all_single: rank {i} sent {arr.shape[0]} rows where {outs[i]} were expected")
        output._data[bounds[i] : bounds[i + 1]] = arr
    bump_version(output)
    return _Work([output]) if async_op else None


def _peer(
    rank: int | None, group_rank: int | None, name: str, what: str, g: _Group, any_ok: bool = False
) -> int | None:
    """The peer as a rank in ``g`` (``rank`` global, ``group_rank`` in the group); None: any (receives)."""
    if rank is not None and rank in g.ranks:
        r: int | None = g.group_rank_of(rank)
    elif rank is not None:
        raise ValueError(f"{name}: {what} {rank} is not a rank of this group (global ranks {g.ranks})")
    else:
        r = group_rank
    if r is None and any_ok:
        return None
    if r is None or not 0 <= r < g.size:
        raise ValueError(f"{name}: {what} {r} is not a rank of this group of {g.size}")
    if r == g.rank:
        raise ValueError(f"Invalid {what} rank: should not be the same as rank of current process.")
    return r


def _p2p_comm(g: _Group, t: Tensor, name: str) -> Any:
    """The communicator of a point-to-point call: NCCL for device tensors under ``nccl``, MPI for host ones."""
    if t.device.type != "cpu":
        if g.device is None:
            raise RuntimeError(
                f"{name}: backend {g.backend!r} carries CPU tensors only, got a tensor on {t.device}: "
                "init_process_group('nccl') for CUDA tensors"
            )
        return g.device
    return g.host


def isend(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None) -> Any:
    """Start sending ``tensor`` to rank ``dst``; the returned work's ``wait()`` finishes it."""
    _check(tensor, "isend")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    peer = _peer(dst, group_dst, "isend", "destination", g)
    buf = _contiguous(tensor).copy()  # (the caller may change the tensor before the send completes)
    return _P2PWork(_p2p_comm(g, tensor, "isend").isend(buf, peer, tag))


def irecv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None) -> Any:
    """Start receiving into ``tensor`` from rank ``src`` (any rank when None); ``wait()`` finishes it."""
    _check(tensor, "irecv")
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    peer = _peer(src, group_src, "irecv", "source", g, any_ok=True)
    arr = tensor._data
    buf = arr if arr.flags.c_contiguous else _xp_of(arr).empty(arr.shape, arr.dtype)

    def done() -> None:
        if buf is not arr:
            arr[...] = buf
        bump_version(tensor)

    return _P2PWork(_p2p_comm(g, tensor, "irecv").irecv(buf, peer, tag), done)


def send(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None) -> None:
    """Send ``tensor`` to rank ``dst`` and wait until it has gone."""
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None) -> int:
    """Receive into ``tensor`` from rank ``src`` (any when None); returns the sender's global rank (-1 on a rank
    outside ``group``)."""
    g = _resolve(group)
    if g is None:
        return -1
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    if work.source is not None:
        return g.ranks[work.source]
    return int(src) if src is not None else g.ranks[group_src or 0]


class P2POp:
    """One point-to-point operation for ``batch_isend_irecv``: ``op`` is ``isend`` or ``irecv``."""

    def __init__(
        self, op: Callable[..., Any], tensor: Tensor, peer: int | None = None, group: Any = None, tag: int = 0,
        group_peer: int | None = None,
    ) -> None:  # fmt: skip
        if op not in (isend, irecv):
            raise ValueError("Invalid ``op``. Expected ``op`` to be of type ``torch.distributed.isend`` or "
                             "``torch.distributed.irecv``.")  # fmt: skip
        self.op, self.tensor, self.peer, self.group, self.tag, self.group_peer = (
            op,
            tensor,
            peer,
            group,
            tag,
            group_peer,
        )


def batch_isend_irecv(p2p_op_list: list[P2POp]) -> list[Any]:
    """Start every operation of the list (all non-blocking, so pairs cannot deadlock); returns their works."""
    if not p2p_op_list or not all(isinstance(p, P2POp) for p in p2p_op_list):
        raise ValueError("Invalid ``p2p_op_list``. Each op is expected to to be of type ``torch.distributed.P2POp``.")
    first = p2p_op_list[0]
    g = _resolve(first.group)
    if g is None:
        return []
    comm = _p2p_comm(g, first.tensor, "batch_isend_irecv")
    with comm.grouped():  # (NCCL: one group, so the sends and receives of both sides are in flight together)
        return [p.op(p.tensor, p.peer, p.group, p.tag) for p in p2p_op_list]


def gather_object(
    obj: Any, object_gather_list: list[Any] | None = None, dst: int | None = None, group: Any = None,
    group_dst: int | None = None,
) -> None:  # fmt: skip
    """Rank ``dst`` gets every rank's ``obj`` in ``object_gather_list`` (picklable objects, through MPI)."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    root = _root(dst, group_dst, "gather_object", g)
    if g.rank == root and (object_gather_list is None or len(object_gather_list) != g.size):
        raise ValueError(f"gather_object: the destination rank needs an object_gather_list of {g.size} items")
    got = g.host.gather_object(obj, root)
    if g.rank == root:
        assert object_gather_list is not None and got is not None
        object_gather_list[:] = got


def scatter_object_list(
    scatter_object_output_list: list[Any], scatter_object_input_list: list[Any] | None = None, src: int | None = None,
    group: Any = None, group_src: int | None = None,
) -> None:  # fmt: skip
    """Rank r's ``scatter_object_output_list[0]`` becomes rank ``src``'s ``scatter_object_input_list[r]``."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    root = _root(src, group_src, "scatter_object_list", g, "src")
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at least 1.")
    if g.rank == root and (scatter_object_input_list is None or len(scatter_object_input_list) != g.size):
        raise ValueError(f"scatter_object_list: the source rank needs {g.size} input objects")
    mine = list(scatter_object_input_list) if g.rank == root and scatter_object_input_list is not None else None
    scatter_object_output_list[0] = g.host.scatter_object(mine, root)


def send_object_list(
    object_list: list[Any], dst: int | None = None, group: Any = None, device: Any = None,
    group_dst: int | None = None, use_batch: bool = False,
) -> None:  # fmt: skip
    """Send the picklable ``object_list`` to rank ``dst`` (through MPI)."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return None
    peer = _peer(dst, group_dst, "send_object_list", "destination", g)
    assert peer is not None
    g.host.send_object(list(object_list), peer)


def recv_object_list(
    object_list: list[Any], src: int | None = None, group: Any = None, device: Any = None,
    group_src: int | None = None, use_batch: bool = False,
) -> int:  # fmt: skip
    """Fill ``object_list`` in place with the objects rank ``src`` (any when None) sent; returns the sender."""
    g = _resolve(group)
    if g is None:  # (not a member of ``group``)
        return -1
    peer = _peer(src, group_src, "recv_object_list", "source", g, any_ok=True)
    got, sender = g.host.recv_object(peer)
    if len(got) != len(object_list):
        raise ValueError(f"recv_object_list: {len(got)} objects arrived for a list of {len(object_list)}")
    object_list[:] = got
    return g.ranks[sender]


def monitored_barrier(group: Any = None, timeout: Any = None, wait_all_ranks: bool = False) -> None:
    """``barrier`` (torch's gloo-only debugging barrier; MPI's barrier reports no per-rank timeouts)."""
    barrier(group)


# ---- groups: the world (``group.WORLD``) and ``new_group``'s subgroups, each with its own communicators
class _WorldName:
    """``group.WORLD`` / ``GroupMember.WORLD``: the default group once initialised, else None (as torch)."""

    NON_GROUP_MEMBER = _NON_GROUP_MEMBER

    @property
    def WORLD(self) -> Any:  # noqa: N802 - torch's name
        return _group


group = _WorldName()
GroupMember = group


def new_group(
    ranks: Any = None, timeout: Any = None, backend: Any = None, pg_options: Any = None,
    use_local_synchronization: bool = False, group_desc: Any = None, device_id: Any = None, sort_ranks: bool = True,
) -> Any:  # fmt: skip
    """A group of the global ``ranks`` (all when None) with its own MPI communicator (split from the world's;
    and its own NCCL communicator under ``nccl``). Every process of the job must call it, as torch's; ranks
    outside the group get ``GroupMember.NON_GROUP_MEMBER``, on which collectives do nothing."""
    global _pg_count
    g = _require()
    _pg_count += 1  # (torch counts every call, on every rank)
    members = list(range(g.size)) if ranks is None else [int(r) for r in ranks]
    if sort_ranks:
        members = sorted(members)
    if len(set(members)) != len(members) or any(not 0 <= r < g.size for r in members):
        raise ValueError(f"new_group: ranks {members} must be distinct ranks of this world of {g.size}")
    if members == list(range(g.size)):
        return g
    host = g.host
    member = g.rank in members
    if hasattr(host, "split"):  # TCP: a new communicator id over the same connections
        tcp = host.split([g.ranks.index(r) if r in g.ranks else r for r in members])
        if tcp is None:
            return _NON_GROUP_MEMBER
        device = g.nccl_connect(tcp) if g.nccl_connect is not None and len(members) > 1 else None
        return _Group(g.backend, tcp, device, g.local_rank, g.local_size, g.deterministic, members)
    if not isinstance(host, _MPIComm):  # (a world of one: the only non-empty group is the world itself)
        return g if member else _NON_GROUP_MEMBER
    color = 0 if member else host.mpi.UNDEFINED
    sub = host.comm.Split(color, members.index(g.rank) if member else 0)  # (collective over the world)
    if not member:
        return _NON_GROUP_MEMBER
    subhost = _MPIComm(sub, host.mpi)
    device = g.nccl_connect(subhost) if g.nccl_connect is not None and len(members) > 1 else None
    return _Group(g.backend, subhost, device, g.local_rank, g.local_size, g.deterministic, members)


def new_subgroups(
    group_size: int | None = None, group: Any = None, timeout: Any = None, backend: Any = None,
    pg_options: Any = None, group_desc: Any = None,
) -> tuple[Any, list[Any]]:  # fmt: skip
    """Split ``group`` (the world) into consecutive subgroups of ``group_size`` ranks (default: the CUDA devices
    per node); returns (this rank's subgroup, all of them). Every rank must call it, as torch's."""
    if group_size is None:
        from backprop import cuda

        if not cuda.is_available():
            raise ValueError(
                "Default group size only takes effect when CUDA is available.If your subgroup using a backend that "
                "does not depend on CUDA,please pass in 'group_size' correctly."
            )
        group_size = cuda.device_count()
    if group_size <= 0:
        raise ValueError(f"The arg 'group_size' ({group_size}) must be positive")
    world_size = get_world_size(group=group)
    if world_size < group_size:
        raise ValueError(f"The arg 'group_size' ({group_size}) must not exceed the world size ({world_size})")
    if world_size % group_size != 0:
        raise ValueError(f"The world size ({world_size}) must be divisible by '{group_size=}'")
    ranks = get_process_group_ranks(group=group)
    lists = [ranks[i : i + group_size] for i in range(0, len(ranks), group_size)]
    return new_subgroups_by_enumeration(
        lists, timeout=timeout, backend=backend, pg_options=pg_options, group_desc=group_desc
    )


def new_subgroups_by_enumeration(
    ranks_per_subgroup_list: Any, timeout: Any = None, backend: Any = None, pg_options: Any = None,
    group_desc: Any = None,
) -> tuple[Any, list[Any]]:  # fmt: skip
    """One ``new_group`` per list of global ranks (lists must not overlap; a rank may be in none); returns (this
    rank's subgroup or None, all of them). Every rank must call it, as torch's."""
    if ranks_per_subgroup_list is None or len(ranks_per_subgroup_list) == 0:
        raise ValueError("The arg 'ranks_per_subgroup_list' cannot be empty")
    subgroups: list[Any] = []
    cur_subgroup = None
    seen: dict[int, Any] = {}
    my_rank = get_rank()
    for ranks in ranks_per_subgroup_list:
        subgroup = new_group(
            ranks=ranks, timeout=timeout, backend=backend, pg_options=pg_options, group_desc=group_desc
        )
        subgroups.append(subgroup)
        for rank in ranks:
            if rank in seen:
                raise ValueError(f"Rank {rank} has appeared in both subgroup {seen[rank]} and {ranks}")
            seen[rank] = ranks
            if my_rank == rank:
                cur_subgroup = subgroup
    return cur_subgroup, subgroups


def get_process_group_ranks(group: Any) -> list[int]:
    """The global ranks of ``group``, in group order."""
    g = _resolve(group)
    if g is None:
        raise ValueError("get_process_group_ranks: this rank is not a member of the group")
    return list(g.ranks)


def get_global_rank(group: Any, group_rank: int) -> int:
    """The global rank of ``group_rank`` in ``group``."""
    g = _resolve(group)
    if g is None or not 0 <= group_rank < g.size:
        raise ValueError(f"Group rank {group_rank} is not part of group {group}")
    return g.ranks[group_rank]


def get_group_rank(group: Any, global_rank: int) -> int:
    """``global_rank``'s rank in ``group``."""
    g = _resolve(group)
    if g is None or global_rank not in g.ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group}")
    return g.group_rank_of(global_rank)


class Backend(str):
    """torch's backend names (``Backend("MPI") == "mpi"``); backprop runs ``mpi`` and ``nccl``."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    UCC = "ucc"
    MPI = "mpi"
    XCCL = "xccl"

    def __new__(cls, name: str) -> Backend:
        if not isinstance(name, str):
            raise ValueError(f"Backend constructor parameter must be string-ish, but got: {type(name)}")
        value = name.lower()
        if value not in ("undefined", "gloo", "nccl", "ucc", "mpi", "xccl"):
            raise ValueError(f"Unknown c10d backend type {name.upper()}")
        return super().__new__(cls, value)


default_pg_timeout = _datetime.timedelta(minutes=30)


def is_backend_available(backend: str) -> bool:
    """Whether ``backend`` can run here: ``gloo`` always, ``mpi`` with mpi4py, ``nccl`` with CUDA and NCCL."""
    name = backend.lower()
    return {"mpi": is_mpi_available, "nccl": is_nccl_available, "gloo": is_gloo_available}.get(name, lambda: False)()


def is_gloo_available() -> bool:
    """True: ``gloo`` is backprop's TCP transport (``backprop._tcp``), always there."""
    return True


def is_ucc_available() -> bool:
    """False: no UCC backend."""
    return False


def is_xccl_available() -> bool:
    """False: no XCCL backend."""
    return False


def is_torchelastic_launched() -> bool:
    """True inside a ``torchrun`` job (its ``TORCHELASTIC_RUN_ID`` is set), as torch checks."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """This process's rank on its node (the launcher's ``LOCAL_RANK``), else ``fallback_rank``."""
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError(
        "LOCAL_RANK is not in the environment. Consider passing fallback_rank to allow `get_node_local_rank` to "
        "work, assuming you are not running in a multi-device context and want the code to run locally instead."
    )


def get_default_backend_for_device(device: Any) -> str:
    """``nccl`` for CUDA devices, ``gloo`` for the CPU (torch's answers)."""
    kind = device.type if hasattr(device, "type") else str(device).partition(":")[0]
    if kind == "cuda":
        return "nccl"
    if kind == "cpu":
        return "gloo"
    raise ValueError(f"Default backend not registered for device : {device}")


# ------------------------------------------------------------------------------------------ torch's other names
class QueueEmptyError(DistStoreError):
    """torch's error of a store queue's pop with nothing queued (a ``DistStoreError``)."""


GroupName = NewType("GroupName", str)  # torch's type of a process group's name


class DebugLevel(enum.Enum):
    """``TORCH_DISTRIBUTED_DEBUG``'s levels (torch.distributed.DebugLevel); ``int()`` gives torch's values."""

    OFF = 0
    INFO = 1
    DETAIL = 2

    def __int__(self) -> int:
        return int(self.value)


_debug_level: DebugLevel | None = None  # (None: not read from the environment yet)


def set_debug_level(level: DebugLevel) -> None:
    """Set the package's debug level (recorded for code that asks ``get_debug_level``; see the README)."""
    global _debug_level
    if not isinstance(level, DebugLevel):
        raise TypeError(
            "set_debug_level(): incompatible function arguments. The following argument types are supported:\n"
            f"    1. (arg0: DebugLevel) -> None\n\nInvoked with: {level!r}"
        )
    _debug_level = level


def set_debug_level_from_env() -> None:
    """Set the debug level from ``TORCH_DISTRIBUTED_DEBUG`` (OFF, INFO or DETAIL in any case; unset: OFF)."""
    value = os.environ.get("TORCH_DISTRIBUTED_DEBUG", "OFF").upper()
    if value not in DebugLevel.__members__:
        raise ValueError("The value of TORCH_DISTRIBUTED_DEBUG must be OFF, INFO, or DETAIL.")
    set_debug_level(DebugLevel[value])


def get_debug_level() -> DebugLevel:
    """The debug level: ``set_debug_level``'s, else ``TORCH_DISTRIBUTED_DEBUG``'s (read on the first call)."""
    if _debug_level is None:
        set_debug_level_from_env()
    assert _debug_level is not None
    return _debug_level


def supports_complex(reduceOp: ReduceOp) -> bool:  # noqa: N803 - torch's name
    """Whether ``reduceOp`` is defined on complex tensors (not MAX, MIN, PRODUCT or the bitwise ones, as torch)."""
    deny = (ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT, ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR)
    return reduceOp not in deny


_pg_count = 0  # torch's group count: the default group and every new_group call since init_process_group


def get_pg_count() -> int:
    """How many process groups were made: 1 for the default group, plus one per ``new_group`` call (torch's count;
    0 again after ``destroy_process_group()``)."""
    return _pg_count


class _ReduceOpAlias:
    """``reduce_op``: torch's deprecated spelling of ``ReduceOp`` (every attribute read warns, as torch's)."""

    def __init__(self) -> None:
        for k, v in ReduceOp.__members__.items():
            setattr(self, k, v)
        self.__members__ = ReduceOp.__members__

    def __getattribute__(self, key: str) -> Any:
        warnings.warn(
            "`torch.distributed.reduce_op` is deprecated, please use `torch.distributed.ReduceOp` instead",
            FutureWarning,
            stacklevel=2,
        )
        return object.__getattribute__(self, key)


reduce_op = _ReduceOpAlias()


def all_reduce_coalesced(tensors: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Any:
    """``all_reduce`` of each tensor of ``tensors`` (one dtype); torch deprecates it, with this FutureWarning.
    ``async_op=True`` returns a Future of the tensors, as torch's."""
    warnings.warn(
        "`torch.distributed.all_reduce_coalesced` will be deprecated. If you must use it, please revisit our "
        "documentation later at https://pytorch.org/docs/main/distributed.html#collective-functions",
        FutureWarning,
        stacklevel=2,
    )
    ts = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    _same_dtype(ts, "tensors")
    if _rank_not_in_group(group):
        return None
    if any(_dtypes.kind(t._data.dtype) == "c" for t in ts) and not supports_complex(op):
        raise ValueError(f"all_reduce does not support {op} on complex tensors")
    for t in ts:
        all_reduce(t, op, group)
    return _Work(ts).get_future() if async_op else None


def all_gather_coalesced(
    output_tensor_lists: Any, input_tensor_list: Any, group: Any = None, async_op: bool = False
) -> Any:
    """``all_gather`` of each tensor of ``input_tensor_list``: ``output_tensor_lists[r][i]`` gets rank r's tensor
    i. torch deprecates it, with this FutureWarning; ``async_op=True`` returns a Future."""
    warnings.warn(
        "`torch.distributed.all_gather_coalesced` will be deprecated. If you must use it, please revisit our "
        "documentation later at https://pytorch.org/docs/main/distributed.html#collective-functions",
        FutureWarning,
        stacklevel=2,
    )
    if _rank_not_in_group(group):
        return None
    _same_dtype(list(input_tensor_list), "input_tensor_list")
    if not isinstance(output_tensor_lists, list):
        raise TypeError("Invalid function argument: output_tensor_lists should be a list")
    for lst in output_tensor_lists:
        _same_dtype(list(lst), "output_tensor_lists")
    for i, t in enumerate(input_tensor_list):
        all_gather([lst[i] for lst in output_tensor_lists], t, group)
    return _Work(list(output_tensor_lists)).get_future() if async_op else None


def _same_dtype(ts: list[Any], name: str) -> None:
    """torch's checks of a tensor list: Tensors only, all of one dtype."""
    if not all(isinstance(t, Tensor) for t in ts):
        raise TypeError(f"Invalid function argument. Expected parameter `{name}` of type List[torch.Tensor]")
    if any(t.dtype != ts[0].dtype for t in ts[1:]):
        raise ValueError("Invalid usage of tensors with different dtypes" + f"Found {ts[0].dtype} and  {ts[-1].dtype}")


def split_group(
    parent_pg: Any = None, split_ranks: list | None = None, timeout: Any = None, pg_options: Any = None,
    group_desc: str | None = None, backend: Any = None,
) -> Any:  # fmt: skip
    """Split ``parent_pg`` (the default group) into the disjoint groups of ``split_ranks`` (ranks *in the parent*);
    this rank's group, or None when it is in none. Every rank of the parent calls it with the same lists. torch
    allows it for NCCL only; here every engine splits (see the README)."""
    if split_ranks is None or len(split_ranks) == 0:
        raise ValueError("split_ranks cannot be None or empty")
    parent = _resolve(parent_pg)
    if parent is None:
        raise ValueError(f"Global rank {get_rank()} is not part of the parent group {parent_pg}")
    if backend is not None and str(backend) != parent.backend:
        raise ValueError(
            f"Backend mismatch: parent has '{parent.backend}', requested '{backend}'. Backend names must match "
            "exactly when filtering split_group backends."
        )
    world = _require().size
    lists: list[list[int]] = []
    for ranks in split_ranks:
        if len(ranks) == 0:
            raise ValueError("the split group cannot be empty")
        if len(ranks) > world:
            raise ValueError(
                "the split group's size should be less or equal to the world_size set by init_process_group"
            )
        if len(ranks) != len(set(ranks)):
            raise ValueError("the split group cannot have duplicate ranks")
        if any(not 0 <= r < parent.size for r in ranks):
            raise ValueError(f"split_group: ranks {list(ranks)} must be ranks of the parent group of {parent.size}")
        lists.append(sorted(int(r) for r in ranks))
    mine = next((lst for lst in lists if parent.rank in lst), None)
    host = parent.host
    sub: Any = None
    if hasattr(host, "split"):  # TCP: one new communicator per split, made in the same order on every rank
        for lst in lists:
            made = host.split(lst)
            sub = made if lst is mine else sub
    elif isinstance(host, _MPIComm):  # one MPI split of the parent: color = the list this rank is in
        color = lists.index(mine) if mine is not None else host.mpi.UNDEFINED
        made = host.comm.Split(color, mine.index(parent.rank) if mine is not None else 0)
        sub = _MPIComm(made, host.mpi) if mine is not None else None
    else:  # (a world of one)
        sub = host if mine is not None else None
    if sub is None:
        return None
    assert mine is not None
    device = parent.nccl_connect(sub) if parent.nccl_connect is not None and len(mine) > 1 else None
    made_group = _Group(
        parent.backend, sub, device, parent.local_rank, parent.local_size, parent.deterministic,
        [parent.ranks[r] for r in mine],
    )  # fmt: skip
    made_group.nccl_connect = parent.nccl_connect
    return made_group


_breakpoint_counts: dict[tuple[str, int], int] = {}


class _StdinPdb(pdb.Pdb):
    """pdb reading the terminal through ``/dev/stdin``: a launcher's worker has no usable ``sys.stdin``."""

    def interaction(self, *args: Any, **kwargs: Any) -> None:
        saved = sys.stdin
        try:
            with open("/dev/stdin") as tty:
                sys.stdin = tty
                super().interaction(*args, **kwargs)
        finally:
            sys.stdin = saved


def breakpoint(rank: int = 0, skip: int = 0, timeout_s: Any = 3600) -> None:  # noqa: A001 - torch's name
    """Stop in pdb on rank ``rank`` only (reading ``/dev/stdin``, as torch's); every other rank waits in a barrier
    until it continues. ``skip``: pass this call site's first ``skip`` calls. Every rank must call it."""
    if skip > 0:
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        _breakpoint_counts[key] = count = _breakpoint_counts.get(key, 0) + 1
        if count <= skip:
            warnings.warn(f"Skip the breakpoint, counter={count}", stacklevel=2)
            return
    if get_rank() == rank:
        if not os.path.exists("/dev/stdin"):
            raise RuntimeError("breakpoint: this system has no /dev/stdin for pdb to read the terminal from")
        debugger = _StdinPdb()
        debugger.message(
            f"\n!!! ATTENTION !!!\n\nType 'up' to get to the frame that called dist.breakpoint(rank={rank})\n"
        )
        debugger.set_trace(sys._getframe(1))
    barrier()


@dataclasses.dataclass
class AllreduceOptions:
    """torch's options of a process group's allreduce (fields as torch's; nothing here reads them)."""

    reduceOp: ReduceOp = ReduceOp.SUM  # noqa: N815 - torch's field names
    timeout: _datetime.timedelta = _datetime.timedelta(milliseconds=-1)
    asyncOp: bool = True  # noqa: N815


@dataclasses.dataclass
class AllreduceCoalescedOptions(AllreduceOptions):
    """torch's options of allreduce_coalesced."""


@dataclasses.dataclass
class ReduceScatterOptions(AllreduceOptions):
    """torch's options of reduce_scatter."""


@dataclasses.dataclass
class BroadcastOptions:
    """torch's options of broadcast."""

    rootRank: int = 0  # noqa: N815
    rootTensor: int = 0  # noqa: N815
    timeout: _datetime.timedelta = _datetime.timedelta(milliseconds=-1)
    asyncOp: bool = True  # noqa: N815


@dataclasses.dataclass
class ReduceOptions:
    """torch's options of reduce."""

    reduceOp: ReduceOp = ReduceOp.SUM  # noqa: N815
    rootRank: int = 0  # noqa: N815
    rootTensor: int = 0  # noqa: N815
    timeout: _datetime.timedelta = _datetime.timedelta(milliseconds=-1)
    asyncOp: bool = True  # noqa: N815


@dataclasses.dataclass
class GatherOptions:
    """torch's options of gather."""

    rootRank: int = 0  # noqa: N815
    timeout: _datetime.timedelta = _datetime.timedelta(milliseconds=-1)
    asyncOp: bool = True  # noqa: N815


@dataclasses.dataclass
class ScatterOptions(GatherOptions):
    """torch's options of scatter."""


@dataclasses.dataclass
class AllToAllOptions:
    """torch's options of alltoall."""

    timeout: _datetime.timedelta = _datetime.timedelta(milliseconds=-1)
    asyncOp: bool = True  # noqa: N815


@dataclasses.dataclass
class BarrierOptions:
    """torch's options of barrier."""

    device_ids: list[int] = dataclasses.field(default_factory=list)
    device: Any = None
    timeout: _datetime.timedelta = _datetime.timedelta(milliseconds=-1)
    asyncOp: bool = True  # noqa: N815


# ------------------------------------------------------------------------------------------ for training loops
def init_from_launcher(force: bool = False, device: str = "auto") -> bool:
    """Join the MPI job this process was started in; True when the job has more than one process.

    Without a launcher (a single process) nothing is initialised and nothing imported, unless
    ``force`` (an MPI launcher we do not recognise); an initialised group is kept as it is. The
    backend is ``mpi`` for ``device="cpu"``, else chosen by ``init_process_group`` (``backprop
    train-lm`` calls this with its ``--distributed`` and ``--device``).
    """
    if not is_initialized():
        info, tinfo = launch_info(), torch_launch_info()
        if info is None and tinfo is not None and tinfo.world_size != 1:  # torchrun, python -m backprop.run
            init_process_group("gloo" if device == "cpu" else None)
            return get_world_size() > 1
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


def __dir__() -> list[str]:
    """The module's names with the lazily imported ``DeviceMesh`` and ``init_device_mesh`` (torch's ``dir``)."""
    return sorted({*globals(), "DeviceMesh", "init_device_mesh"})


def __getattr__(name: str) -> Any:
    """``DeviceMesh`` and ``init_device_mesh`` (torch re-exports them here), imported on first use: the module
    ``backprop.distributed.device_mesh`` builds on this one."""
    if name in ("DeviceMesh", "init_device_mesh"):
        from backprop.distributed import device_mesh

        return getattr(device_mesh, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
