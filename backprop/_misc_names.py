"""Small top-level names of torch: ``empty_permuted``, ``is_distributed``, the ``has_*`` build flags,
``get_device_module``, ``to_dlpack``, ``lobpcg``, ``segment_reduce``, the symbolic-shape names (``SymInt``,
``sym_int``, ...), device-generic ``Stream``/``Event`` and ``from_file``."""

# ruff: noqa: N803, N806 - torch.lobpcg's argument names (A, B, X, iK) and matrix names
from __future__ import annotations

import types
from typing import Any, Literal

from backprop import creation
from backprop import functions as F
from backprop import linalg as _linalg
from backprop.autograd.function import not_a_tensor_here
from backprop.autograd.node_names import name_node
from backprop.devices import Device
from backprop.tensor import Tensor

__all__ = [
    "Event",
    "Stream",
    "SymBool",
    "SymFloat",
    "SymInt",
    "from_file",
    "init_num_threads",
    "is_vulkan_available",
    "sym_constrain_range",
    "sym_constrain_range_for_size",
    "sym_float",
    "sym_fresh_size",
    "sym_int",
    "sym_ite",
    "sym_max",
    "sym_min",
    "sym_not",
    "sym_sqrt",
    "sym_sum",
    "empty_permuted",
    "get_device_module",
    "has_lapack",
    "has_mkl",
    "has_openmp",
    "has_spectral",
    "is_distributed",
    "lobpcg",
    "segment_reduce",
    "to_dlpack",
]

has_lapack = True  # NumPy and CuPy ship LAPACK (cuSOLVER) routines
has_spectral = True  # FFTs: numpy.fft / cupy.fft
has_mkl = False  # backprop's CPU kernels are NumPy's, whatever BLAS NumPy was built with
has_openmp = False  # no OpenMP parallel loops of backprop's own


def is_distributed(input: Tensor) -> bool:  # noqa: A002 - torch's name
    """False: tensors are never distributed (torch answers False for ordinary tensors too)."""
    return False


def empty_permuted(
    size: Any, physical_layout: Any, *, dtype: Any = None, layout: Any = None, device: Any = None,
    requires_grad: bool = False, pin_memory: bool = False,
) -> Tensor:  # fmt: skip
    """An uninitialised tensor of shape ``size`` whose dimensions lie in memory in ``physical_layout`` order."""
    size, order = tuple(size), tuple(physical_layout)
    if sorted(order) != list(range(len(size))):
        raise RuntimeError(f"physical_layout must be a permutation of the dimensions, got {order} for {size}")
    inverse = [order.index(i) for i in range(len(order))]
    raw = creation.empty(*[size[i] for i in order], dtype=dtype, device=device)
    out = raw.permute(tuple(inverse))
    if requires_grad:
        out.requires_grad_(True)
    return out


def get_device_module(device: Any = None) -> types.ModuleType:
    """The module of a device type: ``bp.cuda`` for "cuda", ``bp.cpu`` for "cpu", ``bp.mps`` for "mps";
    None: the current accelerator's, else ``bp.cpu``."""
    from backprop import accelerator, cpu, cuda, mps

    modules = {"cpu": cpu, "cuda": cuda, "mps": mps}
    if device is None:
        acc = accelerator.current_accelerator()
        return cpu if acc is None else modules[acc.type]
    kind = _device_kind(device)
    if kind not in modules:
        raise RuntimeError(f"Device '{kind}' does not have a corresponding module registered as 'torch.{kind}'.")
    return modules[kind]


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule sharing the tensor's memory (``bp.from_dlpack`` reads it back)."""
    try:
        return tensor.detach().__dlpack__()
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def lobpcg(
    A: Tensor, k: int | None = None, B: Tensor | None = None, X: Tensor | None = None, n: int | None = None,
    iK: Tensor | None = None, niter: int | None = None, tol: float | None = None, largest: bool | None = None,
    method: str | None = None, tracker: Any = None, ortho_iparams: Any = None, ortho_fparams: Any = None,
    ortho_bparams: Any = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The ``k`` largest (or smallest) eigenpairs of symmetric ``A`` (generalised: ``A x = λ B x``).

    The eigenpairs LOBPCG converges to, computed exactly with ``linalg.eigh`` (batched, differentiable);
    the iteration controls (``X``'s values, ``iK``, ``niter``, ``tol``, ``method``, ``tracker``) only
    steer convergence in torch and are accepted. Returns ``(E, X)`` with ``E`` in descending order for
    ``largest`` (the default), ascending otherwise, as torch.
    """
    if k is None:
        k = 1 if X is None else int(X.shape[-1])
    if n is None:
        n = k if X is None else int(X.shape[-1])
    m = int(A.shape[-1])
    if m < 3 * n:
        raise ValueError(
            f"LPBPCG algorithm is not applicable when the number of A rows (={m}) is smaller than 3 x the number "
            f"of requested eigenpairs (={n})"
        )
    largest = True if largest is None else largest
    if B is None:
        evals, evecs = _linalg.eigh(A)
    else:
        L = _linalg.cholesky(B)
        left = _linalg.solve_triangular(L, A, upper=False)
        C = _linalg.solve_triangular(L, left.mT, upper=False)
        evals, Y = _linalg.eigh(C)
        evecs = _linalg.solve_triangular(L.mT, Y, upper=True)
    if largest:
        evals, evecs = evals.flip(-1), evecs.flip(-1)
    return evals[..., :k], evecs[..., :k]


_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "min": "min", "prod": "prod", "amax": "max", "amin": "min"}


def segment_reduce(
    data: Tensor, reduce: str, *, lengths: Tensor | None = None, indices: Tensor | None = None,
    offsets: Tensor | None = None, axis: int = 0, unsafe: bool = False, initial: Any = None,
) -> Tensor:  # fmt: skip
    """Reduce consecutive segments of ``data`` along ``axis`` (sizes from 1-D ``lengths`` or ``offsets``)."""
    if reduce not in _REDUCTIONS:  # (torch's words)
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    reduce = _REDUCTIONS[reduce]
    if indices is not None:
        raise NotImplementedError("segment_reduce(indices=...) is not implemented (torch does not implement it either)")
    if (lengths is None) == (offsets is None):
        raise RuntimeError("segment_reduce: exactly one of lengths and offsets must be given")
    spec = lengths if lengths is not None else offsets
    assert spec is not None
    if spec.ndim != 1:
        raise NotImplementedError("segment_reduce: only 1-D lengths/offsets are supported")
    axis = axis % data.ndim
    if axis != spec.ndim - 1:
        name = "lengths" if lengths is not None else "offsets"
        raise RuntimeError(f"segment_reduce(): Expected axis to be the last dimension of {name} but got {axis}.")
    bounds = [int(v) for v in spec.tolist()]
    if lengths is not None and not unsafe:  # (torch's checks and words; offsets are not checked)
        if min(bounds, default=0) < 0:
            raise RuntimeError("lengths contains negative value!")
        if sum(bounds) != data.shape[axis]:
            raise RuntimeError(
                "segment_reduce(): Expected all rows of lengths along axis to sum to data.size(lengths.dim()-1) "
                "when !unsafe."
            )
    if lengths is not None:
        starts = [sum(bounds[:i]) for i in range(len(bounds))]
        pairs = [(s, s + n) for s, n in zip(starts, bounds)]
    else:
        pairs = list(zip(bounds[:-1], bounds[1:]))
    if any(e < s for s, e in pairs):  # (decreasing offsets, or unsafe negative lengths: torch's kernel check)
        raise RuntimeError(
            "Expected segment_length >= 0 to be true, but got false.  (Could this error message be improved?  "
            "If so, please report an enhancement request to PyTorch.)"
        )
    if pairs and pairs[-1][1] > data.shape[axis]:
        raise RuntimeError("segment_reduce: segments end past data.size(axis)")
    moved = data.movedim(axis, 0)
    empty_value = {"sum": 0.0, "mean": float("nan"), "max": float("-inf"), "min": float("inf"), "prod": 1.0}[reduce]
    pieces = []
    for s, e in pairs:
        seg = moved[s:e]
        count = e - s
        if count == 0:
            value = empty_value if initial is None else initial
            pieces.append(creation.full(tuple(moved.shape[1:]), value, dtype=data.dtype, device=data.device))
            continue
        if reduce == "sum":
            r = seg.sum(0) if initial is None else seg.sum(0) + initial
        elif reduce == "mean":
            r = seg.mean(0) if initial is None else (seg.sum(0) + initial) / count
        elif reduce == "prod":
            r = seg.prod(0) if initial is None else seg.prod(0) * initial
        elif reduce == "max":
            r = seg.amax(0) if initial is None else F.clamp(seg.amax(0), min=initial)
        else:
            r = seg.amin(0) if initial is None else F.clamp(seg.amin(0), max=initial)
        pieces.append(r)
    return name_node(F.stack(pieces).movedim(0, axis), "SegmentReduceBackward0")


# ---- symbolic-shape names (torch.fx / torch.export). Shapes here are always concrete Python ints, so the
# ---- Sym* classes have no instances and the sym_* functions act on plain numbers as torch's do on them.
class _NoSymbolicShapes:
    """Base of ``SymInt``/``SymFloat``/``SymBool``: symbolic values exist only while torch traces shapes,
    which backprop never does; the classes serve ``isinstance`` checks in library code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{type(self).__name__} cannot be created: backprop has no symbolic shapes (every size is a plain int)"
        )


class SymInt(_NoSymbolicShapes):
    """torch.SymInt: a symbolic int (never made here: ``isinstance(n, bp.SymInt)`` is False for ints)."""


class SymFloat(_NoSymbolicShapes):
    """torch.SymFloat: a symbolic float (never made here)."""


class SymBool(_NoSymbolicShapes):
    """torch.SymBool: a symbolic bool (never made here)."""


def sym_int(a: Any) -> int:
    """``int(a)`` (torch.sym_int on a concrete value)."""
    return int(a)


def sym_float(a: Any) -> float:
    """``float(a)`` (torch.sym_float on a concrete value)."""
    return float(a)


def sym_max(a: Any, b: Any) -> Any:
    """``max(a, b)``, a float when either is (torch.sym_max on concrete values)."""
    return float(max(a, b)) if _is_float(a) or _is_float(b) else max(a, b)


def sym_min(a: Any, b: Any) -> Any:
    """``min(a, b)``, a float when either is (torch.sym_min on concrete values)."""
    return float(min(a, b)) if _is_float(a) or _is_float(b) else min(a, b)


def _is_float(v: Any) -> bool:
    import numpy as np

    return isinstance(v, (float, np.floating))


def sym_not(a: Any) -> bool:
    """``not a`` (torch.sym_not on a concrete value)."""
    return not a


def sym_ite(b: Any, t: Any, f: Any) -> Any:
    """``t if b else f`` (torch.sym_ite); ``b`` must be a bool, as torch asserts."""
    if not isinstance(b, bool):
        raise AssertionError(f"expected SymBool or bool, got {type(b)}")
    return t if b else f


def sym_sqrt(a: Any) -> float:
    """``math.sqrt(a)`` (torch.sym_sqrt on a concrete value)."""
    import math

    return math.sqrt(a)


def sym_sum(args: Any) -> Any:
    """The sum of ``args`` (torch.sym_sum on concrete values; 0 for none)."""
    return sum(args)


def sym_fresh_size(expr: Any) -> Any:
    """``expr`` itself (torch.sym_fresh_size on a concrete size)."""
    return expr


def sym_constrain_range(size: Any, min: int | None = None, max: int | None = None) -> None:  # noqa: A002
    """Check a concrete ``size`` against ``[min, max]`` with torch's error (torch.sym_constrain_range)."""
    lo = -(2**63) if min is None else min
    hi = 2**63 - 1 if max is None else max
    if not lo <= size <= hi:
        raise RuntimeError(f"Invalid value range for {size} between [{lo}, {hi}].")


def sym_constrain_range_for_size(size: Any, min: int | None = None, max: int | None = None) -> None:  # noqa: A002
    """``sym_constrain_range`` for a size (torch.sym_constrain_range_for_size)."""
    sym_constrain_range(size, min=min, max=max)


def is_vulkan_available() -> bool:
    """False: there is no Vulkan backend (torch.is_vulkan_available)."""
    return False


def init_num_threads() -> None:
    """Nothing to do: NumPy's BLAS pool is process-wide, so a new thread already uses ``set_num_threads``'s
    count (torch.init_num_threads propagates it to a new thread)."""


# ---- device-generic streams and events (torch.Stream / torch.Event)
class Stream:
    """torch.Stream: a device's stream. On the CPU work runs in program order (torch's CPU stream: id 0,
    always idle); ``device="cuda"`` gives a ``bp.cuda.Stream``."""

    def __new__(cls, device: Any = None, *, priority: int = 0, **kwargs: Any) -> Any:
        kind = _device_kind(device)
        if kind == "cuda":
            from backprop import cuda

            return cuda.Stream(device, priority=priority)
        if kind != "cpu":
            raise RuntimeError(f"backprop has no {kind} backend for streams")
        return super().__new__(cls)

    def __init__(self, device: Any = None, *, priority: int = 0, **kwargs: Any) -> None:
        self.device = Device("cpu")
        self.device_index = -1
        self.device_type = 0  # (torch's DeviceType.CPU)
        self.stream_id = 0

    def query(self) -> bool:
        """True: the CPU stream has no pending work."""
        return True

    def synchronize(self) -> None:
        """Nothing to wait for on the CPU."""

    def wait_event(self, event: Event) -> None:
        """Nothing to wait for on the CPU."""

    def record_event(self, event: Event | None = None) -> Event:
        raise RuntimeError("cpu backend doesn't support events.")

    def wait_stream(self, stream: Stream) -> None:
        raise RuntimeError("cpu backend doesn't support events.")

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.device == self.device and other.stream_id == self.stream_id

    def __hash__(self) -> int:
        return hash(("cpu", self.stream_id))

    def __repr__(self) -> str:
        return "backprop.Stream device_type=cpu, device_index=-1, stream_id=0"


class Event:
    """torch.Event: a device's event. The CPU backend has none (torch's CPU events cannot be recorded:
    ``query`` is True and ``record`` raises its error); ``device="cuda"`` gives a ``bp.cuda.Event``."""

    def __new__(
        cls, device: Any = None, *, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False
    ) -> Any:
        kind = _device_kind(device)
        if kind == "cuda":
            from backprop import cuda

            return cuda.Event(enable_timing=enable_timing, blocking=blocking, interprocess=interprocess)
        if kind != "cpu":
            raise RuntimeError(f"backprop has no {kind} backend for events")
        return super().__new__(cls)

    def __init__(
        self, device: Any = None, *, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False
    ) -> None:
        self.device = Device("cpu")
        self.event_id = 0

    def record(self, stream: Stream | None = None) -> None:
        raise RuntimeError("cpu backend doesn't support events.")

    def query(self) -> bool:
        """True: nothing is pending on the CPU."""
        return True

    def synchronize(self) -> None:
        """Nothing to wait for on the CPU."""

    def wait(self, stream: Stream | None = None) -> None:
        """Nothing to wait for on the CPU."""

    def elapsed_time(self, end_event: Event) -> float:
        raise ValueError("Both events must be recorded before calculating elapsed time.")

    def __repr__(self) -> str:
        return "backprop.Event device_type=cpu, device_index=-1, event_flag=0, event_id=0"


def _device_kind(device: Any) -> str:
    if device is None:
        return "cpu"
    return device.type if isinstance(device, Device) else str(device).partition(":")[0]


def from_file(
    filename: str, shared: bool | None = None, size: int = 0, *, dtype: Any = None, layout: Any = None,
    device: Any = None, pin_memory: bool = False, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A CPU tensor of ``size`` elements on a memory map of ``filename`` (torch.from_file): ``shared=True``
    maps it shared (writes reach the file, which is created or grown to the size if needed), otherwise
    copy-on-write (the file must hold ``size`` elements; writes stay in the tensor)."""
    import os

    import numpy as np

    from backprop import dtypes

    if device is not None and _device_kind(device) != "cpu":
        raise RuntimeError("from_file: only CPU tensors can be mapped to files")
    dt = np.dtype(dtypes.get_default_dtype() if dtype is None else dtype)
    need = int(size) * dt.itemsize
    mode: Literal["r+", "c"] = "r+" if shared else "c"
    if shared:
        if not os.path.exists(filename) or os.path.getsize(filename) < need:
            with open(filename, "ab") as f:  # (created, or grown with zeros to the mapping's size)
                f.truncate(need)
    else:
        have = os.path.getsize(filename)
        if have < need:
            raise RuntimeError(f"file <{filename}> size <{have}> is smaller than the required mapping size <{need}>")
    data = np.memmap(filename, dtype=dt, mode=mode, shape=(int(size),)) if size else np.empty(0, dt)
    out = creation.as_tensor(data.view(np.ndarray) if size else data)
    if requires_grad:
        out.requires_grad_(True)
    return out
