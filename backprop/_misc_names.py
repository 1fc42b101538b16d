"""Small top-level names of torch: ``empty_permuted``, ``is_distributed``, the ``has_*`` build flags,
``get_device_module``, ``to_dlpack``, ``lobpcg`` and ``segment_reduce``."""

# ruff: noqa: N803, N806 - torch.lobpcg's argument names (A, B, X, iK) and matrix names
from __future__ import annotations

import types
from typing import Any

from backprop import creation
from backprop import functions as F
from backprop import linalg as _linalg
from backprop.devices import Device
from backprop.tensor import Tensor

__all__ = [
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
    out = raw.permute(*inverse)
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
    kind = device.type if isinstance(device, Device) else str(device).partition(":")[0]
    if kind not in modules:
        raise RuntimeError(f"Device '{kind}' does not have a corresponding module registered as 'torch.{kind}'.")
    return modules[kind]


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule sharing the tensor's memory (``bp.from_dlpack`` reads it back)."""
    return tensor.detach().__dlpack__()


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


_REDUCTIONS = ("sum", "mean", "max", "min", "prod")


def segment_reduce(
    data: Tensor, reduce: str, *, lengths: Tensor | None = None, indices: Tensor | None = None,
    offsets: Tensor | None = None, axis: int = 0, unsafe: bool = False, initial: Any = None,
) -> Tensor:  # fmt: skip
    """Reduce consecutive segments of ``data`` along ``axis`` (sizes from 1-D ``lengths`` or ``offsets``)."""
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, max, min, mean or prod, got {reduce!r}")
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
        raise RuntimeError("Expected axis to be the last dimension of lengths/offsets")
    bounds = [int(v) for v in spec.tolist()]
    if lengths is not None:
        starts = [sum(bounds[:i]) for i in range(len(bounds))]
        pairs = [(s, s + n) for s, n in zip(starts, bounds)]
    else:
        pairs = list(zip(bounds[:-1], bounds[1:]))
    if not unsafe and (any(e < s for s, e in pairs) or (pairs and pairs[-1][1] > data.shape[axis])):
        raise RuntimeError("segment_reduce: segment lengths must be non-negative and sum to at most data.size(axis)")
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
    return F.stack(pieces).movedim(0, axis)
