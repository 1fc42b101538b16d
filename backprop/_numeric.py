"""torch's top-level numerical helpers we lacked: ``gradient`` (finite differences), ``histogramdd``,
``frombuffer``, the deprecated ``nuclear_norm``/``frobenius_norm``, the randomized ``svd_lowrank`` and
``pca_lowrank`` (Halko et al.), and ``binomial`` sampling. Everything differentiable is a composition of Tensor
ops, so gradients come free."""

from __future__ import annotations

import builtins
import functools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop import dtypes
from backprop import linalg as la
from backprop.autograd import trace
from backprop.autograd.function import not_a_tensor_here
from backprop.devices import device as to_device
from backprop.methods import structseqs as rt
from backprop.methods.random import generator_rng, on_device, zero_grad_from
from backprop.methods.structseqs import HistogramDD
from backprop.ops._histogram import histogram_edges
from backprop.ops._util import ShapeError, wrap_dim
from backprop.tensor import Tensor

_NORM_WARNING = (
    "at::{name} is deprecated and it is just left for JIT compatibility. It will be removed in a future PyTorch "
    "release. Please use `{use}` instead"
)


# ---------------------------------------------------------------- gradient
def _dims(input: Tensor, dim: Any) -> list[int]:
    nd = input.dim()
    if dim is None:
        return list(range(nd))
    out = [wrap_dim(int(d), nd, "gradient") for d in ([dim] if isinstance(dim, int) else dim)]
    if nd == 0 and out:  # (0 and -1 are in range for a 0-d tensor, which has no size to difference along)
        d = dim if isinstance(dim, int) else list(dim)[0]
        raise IndexError(f"Dimension specified as {d} but tensor has no dimensions")
    for d in out:
        if out.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return out


def _spacings(spacing: Any, n: int, nd: int, dim: Any) -> list[Any]:
    """One spacing per differentiated dim: a number (uniform step) or a 1-D coordinate tensor (torch's length
    checks: against the input's rank when ``dim`` is not given, else against ``dim``'s length)."""
    if spacing is None:
        return [1.0] * n
    if isinstance(spacing, Tensor) and spacing.ndim == 0:  # torch reads a 0-d tensor as its Number
        spacing = spacing.item()
    if isinstance(spacing, (int, float)):
        return [float(spacing)] * n
    items = list(spacing)
    if dim is None and len(items) != nd:
        raise RuntimeError(
            "torch.gradient expected spacing to be unspecified, a scalar, or a list of length equal to "
            f"'self.dim() = {nd}', since dim argument was not given, but got a list of length {len(items)}"
        )
    if len(items) != n:
        raise RuntimeError(
            "torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim arguments to have "
            f"the same length, but got a spacing argument of length {len(items)} and a dim argument of length {n}."
        )
    if builtins.any(isinstance(s, Tensor) and s.ndim != 1 for s in items):
        d = next(s.ndim for s in items if isinstance(s, Tensor) and s.ndim != 1)
        raise RuntimeError(
            f"torch.gradient expected each element of spacing to have one dimension, but got an element with {d} "
            "dimensions!"
        )
    return [s if isinstance(s, Tensor) else float(s) for s in items]


def _along(t: Tensor, d: int, nd: int) -> Tensor:
    """A 1-D tensor shaped to broadcast along dim ``d`` of an ``nd``-D tensor."""
    return t.reshape([-1 if i == d else 1 for i in range(nd)])


def _gradient_1d(f: Tensor, d: int, h: Any, edge_order: int) -> Tensor:
    n = f.shape[d]
    sl = functools.partial(f.narrow, d)
    if not isinstance(h, Tensor):  # uniform step h
        interior = (sl(2, n - 2) - sl(0, n - 2)) / h / 2  # (torch's order: the half dtype's overflow and subnormals)
        if edge_order == 1:
            first = (sl(1, 1) - sl(0, 1)) / h
            last = (sl(n - 1, 1) - sl(n - 2, 1)) / h
        else:
            first = (sl(0, 1) * -1.5 + sl(1, 1) * 2 - sl(2, 1) * 0.5) / h
            last = (sl(n - 3, 1) * 0.5 - sl(n - 2, 1) * 2 + sl(n - 1, 1) * 1.5) / h
        return _cat([first, interior, last], d)
    if h.shape[0] != n:
        if 1 not in (h.shape[0] - 2, n - 2):  # (torch's text: its weights, one per interior point, meet f's)
            raise ShapeError(
                f"The size of tensor a ({h.shape[0] - 2}) must match the size of tensor b ({n - 2}) at "
                f"non-singleton dimension {d}"
            )
        # (where one side has one interior point torch broadcasts them into a silent wrong answer: refused)
        raise RuntimeError(f"torch.gradient expected the coordinates along dim {d} to be 1-D of size {n}")
    nd = f.dim()
    x = h.to(f.dtype)
    dx = x[1:] - x[:-1]
    hd, hs = _along(dx[:-1], d, nd), _along(dx[1:], d, nd)  # the steps before and after each interior point
    # torch's weights, each op rounded to the dtype as its composition rounds (float16/bfloat16)
    a, b, c = -hs / (hd * (hd + hs)), (hs - hd) / (hd * hs), hd / (hs * (hd + hs))
    interior = a * sl(0, n - 2) + b * sl(1, n - 2) + c * sl(2, n - 2)
    if edge_order == 1:
        first = (sl(1, 1) - sl(0, 1)) / _along(dx[:1], d, nd)
        last = (sl(n - 1, 1) - sl(n - 2, 1)) / _along(dx[-1:], d, nd)
    else:  # second-order one-sided differences on uneven steps (the quadratic through three points)
        a1, a2 = _along(dx[:1], d, nd), _along(dx[1:2], d, nd)
        first = (
            -(2 * a1 + a2) / (a1 * (a1 + a2)) * sl(0, 1)
            + (a1 + a2) / (a1 * a2) * sl(1, 1)
            - a1 / (a2 * (a1 + a2)) * sl(2, 1)
        )
        b1, b2 = _along(dx[-2:-1], d, nd), _along(dx[-1:], d, nd)
        last = (
            b2 / (b1 * (b1 + b2)) * sl(n - 3, 1)
            - (b2 + b1) / (b1 * b2) * sl(n - 2, 1)
            + (2 * b2 + b1) / (b2 * (b1 + b2)) * sl(n - 1, 1)
        )
    return _cat([first, interior, last], d)


def _cat(parts: list[Tensor], d: int) -> Tensor:
    from backprop.functions import cat

    return cat(parts, d)


def gradient(input: Tensor, *, spacing: Any = None, dim: Any = None, edge_order: int = 1) -> tuple[Tensor, ...]:
    """Finite-difference derivatives of ``input`` along each of ``dim`` (default all): central differences
    inside, one-sided ones of ``edge_order`` (1 or 2) at the ends; ``spacing`` is a step (one, or one per dim)
    or the sample coordinates (1-D tensors, one per dim). Integer inputs give the default float dtype."""
    if not isinstance(input, Tensor):
        raise TypeError(f"torch.gradient(): argument 'input' must be Tensor, not {type(input).__name__}")
    # (torch's checks, in its order: uint8, spacing's length, edge_order, dims, sizes)
    if str(input.dtype) == "uint8":
        raise RuntimeError("torch.gradient does not support uint8 input.")
    n = len(input.shape) if dim is None else 1 if isinstance(dim, int) else len(dim)
    spacings = _spacings(spacing, n, input.dim(), dim)
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = _dims(input, dim)
    if any(input.shape[d] < edge_order + 1 for d in dims):
        raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
    f = input if dtypes.kind(input.dtype) in "fc" else input.to(dtypes.get_default_dtype())  # complex stays
    return tuple(_gradient_1d(f, d, h, edge_order) for d, h in zip(dims, spacings))


# ---------------------------------------------------------------- histograms


def histogramdd(
    input: Tensor, bins: Any = 10, range: Sequence[float] | None = None, weight: Tensor | None = None,
    density: bool = False,
) -> HistogramDD:  # fmt: skip
    """The D-dimensional histogram of the points ``input`` (..., D): ``bins`` an int, one int per dim or one
    edges tensor per dim; ``range`` flat (lo0, hi0, lo1, hi1, ...). Counts in input's dtype (no gradient)."""
    if not isinstance(input, Tensor) or dtypes.kind(input.dtype) != "f" or input.dim() < 1:
        got = f"{input.dtype} of shape {tuple(input.shape)}" if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"torch.histogramdd: expected a floating tensor of points (..., D), got {got}")
    n_dims = int(input.shape[-1])
    points = input.detach().cpu().numpy().reshape(-1, n_dims)
    if isinstance(bins, int):
        np_bins: Any = [bins] * n_dims
    else:
        for d, b in enumerate(bins):
            if isinstance(b, Tensor) and b.dtype != input.dtype:
                raise RuntimeError(
                    f"torch.histogramdd: input tensor and bins tensors should have the same dtype, but got input "
                    f"with dtype {input.dtype} and bins for dimension {d} with dtype {b.dtype}"
                )
        np_bins = [b.detach().cpu().numpy() if isinstance(b, Tensor) else int(b) for b in bins]
    if len(np_bins) != n_dims:
        raise RuntimeError(
            f"torch.histogramdd: expected {n_dims} sequences of bin edges or bin counts, got {len(bins)}"
        )
    pairs = None
    if range is not None:
        if len(range) != 2 * n_dims:
            raise RuntimeError(f"torch.histogramdd: expected {2 * n_dims} values for range, got {len(range)}")
        pairs = [(float(range[2 * i]), float(range[2 * i + 1])) for i in builtins.range(n_dims)]
    w = None if weight is None else weight.detach().cpu().numpy().reshape(-1)
    edges: Any
    if builtins.any(not isinstance(b, int) for b in np_bins):  # edge tensors: torch's search, any order
        hist, edges = histogram_edges(points, [np.asarray(b, dtype=points.dtype) for b in np_bins], w, density)
    else:
        hist, edges = np.histogramdd(points, np_bins, range=pairs, weights=w, density=density)
    dev, dt = input.device, input.dtype
    return rt.histogramdd(
        Tensor._of(hist.astype(dt), device=dev), tuple(Tensor._of(e.astype(dt), device=dev) for e in edges)
    )


# ---------------------------------------------------------------- buffers
def frombuffer(
    buffer: Any, *, dtype: Any, count: int = -1, offset: int = 0, requires_grad: bool = False
) -> Tensor:  # fmt: skip
    """A 1-D CPU tensor sharing the memory of an object with the buffer protocol (``count`` elements of
    ``dtype`` from byte ``offset``; -1: to the end). Writes through the tensor change the buffer."""
    dt = dtypes.to_dtype(dtype)
    if dt is None:
        raise TypeError("frombuffer(): missing the required keyword argument 'dtype'")
    view = memoryview(buffer)
    if view.nbytes == 0 and count <= 0:
        raise ValueError(f"both buffer length (0) and count ({count}) must not be 0")
    if not 0 <= offset < max(view.nbytes, 1):
        raise ValueError(
            f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
            f"({view.nbytes} bytes) minus 1"
        )
    if view.readonly:
        warnings.warn(
            "The given buffer is not writable, and PyTorch does not support non-writable tensors. This means you can "
            "write to the underlying (supposedly non-writable) buffer using the tensor. You may want to copy the "
            "buffer to protect its data or make it writable before converting it to a tensor. This type of warning "
            "will be suppressed for the rest of this program.",
            UserWarning,
            stacklevel=2,
        )
    available = (view.nbytes - offset) // dt.itemsize
    if count < 0:
        if (view.nbytes - offset) % dt.itemsize:
            raise ValueError(
                f"buffer length ({view.nbytes - offset} bytes) after offset ({offset} bytes) must be a multiple of "
                f"element size ({dt.itemsize})"
            )
        count = available
    elif count > available:
        raise ValueError(f"requested buffer length ({count} * {dt.itemsize} bytes) after offset ({offset} bytes) "
                         f"must not be greater than actual buffer length ({view.nbytes} bytes)")  # fmt: skip
    array = np.frombuffer(view.cast("B"), dtype=dt, count=count, offset=offset)
    t = Tensor._wrap(array, to_device("cpu"), None)
    if requires_grad:
        t.requires_grad = True
    return t


# ---------------------------------------------------------------- deprecated norms
def nuclear_norm(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The sum of singular values over the two ``dim`` (default the last two); deprecated in torch, warns."""
    try:
        warnings.warn(
            _NORM_WARNING.format(name="nuclear_norm", use="linalg.matrix_norm(A, 'nuc', dim, keepdim)"), UserWarning, 2
        )
        if isinstance(dim, bool):  # nuclear_norm(A, True): keepdim given positionally
            dim, keepdim = None, dim
        if input.dim() < 2 and dim is None:
            raise RuntimeError(f"nuclear_norm: expected a tensor with 2 or more dimensions, got {input.dim()}")
        return la.matrix_norm(input, "nuc", dim=(-2, -1) if dim is None else tuple(dim), keepdim=keepdim)
    except AttributeError as e:  # a non-tensor argument: torch's TypeError
        not_a_tensor_here(e)
        raise


def frobenius_norm(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """The 2-norm of the elements over ``dim`` (one or two dims); deprecated in torch, warns."""
    warnings.warn(
        _NORM_WARNING.format(name="frobenius_norm", use="linalg.vector_norm(A, 2., dim, keepdim)"), UserWarning, 2
    )
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) > 2:
        raise RuntimeError(f"frobenius_norm: expected at most 2 dimensions, but got {len(dims)} dimensions instead.")
    return la.vector_norm(input, 2, dim=dims, keepdim=keepdim)


# ---------------------------------------------------------------- randomized low-rank SVD and PCA
def _approximate_basis(A: Tensor, q: int, niter: int, M: Tensor | None) -> Tensor:  # noqa: N803
    """An orthonormal (..., m, q) basis of A's range by subspace iteration from a Gaussian start."""
    from backprop.creation import randn

    R = randn(*A.shape[-1:], q, dtype=A.dtype, device=A.device)  # noqa: N806

    def apply_a(X: Tensor, adjoint: bool) -> Tensor:  # noqa: N803
        Y = (A.mT if adjoint else A).matmul(X)  # noqa: N806
        if M is not None:
            Y = Y - (M.mT if adjoint else M).matmul(X)  # noqa: N806
        return Y

    Q = la.qr(apply_a(R, False)).Q  # noqa: N806
    for _ in builtins.range(niter):
        Q = la.qr(apply_a(Q, True)).Q  # noqa: N806
        Q = la.qr(apply_a(Q, False)).Q  # noqa: N806
    return Q


def svd_lowrank(
    A: Tensor,  # noqa: N803
    q: int | None = 6,
    niter: int = 2,
    M: Tensor | None = None,  # noqa: N803
) -> tuple[Tensor, Tensor, Tensor]:
    """``(U, S, V)`` with A - M ~ U diag(S) V^T of rank ``q`` by randomized subspace iteration (exact, up to
    signs, when rank(A - M) <= q); differentiable as a composition of matmul, qr and svd."""
    q = 6 if q is None else int(q)
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(tuple(A.shape))  # noqa: N806
    if m < n:
        A = A.mT  # noqa: N806
        M = None if M is None else M.mT  # noqa: N806
    Q = _approximate_basis(A, q, niter, M)  # noqa: N806
    B = Q.mT.matmul(A)  # noqa: N806
    if M is not None:
        B = B - Q.mT.matmul(M)  # noqa: N806
    U, S, Vh = la.svd(B, full_matrices=False)  # noqa: N806
    U, V = Q.matmul(U), Vh.mT  # noqa: N806
    return (V, S, U) if m < n else (U, S, V)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2) -> tuple[Tensor, Tensor, Tensor]:  # noqa: N803
    """``(U, S, V)`` of the (centered, by column means) data ``A`` (..., m, n) at rank ``q`` (default
    min(6, m, n)): the principal directions are V's columns."""
    if not isinstance(A, Tensor):
        raise TypeError(f"pca_lowrank: expected a Tensor, got {type(A).__name__}")
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else int(q)
    if not (q >= 0 and q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if center:
        A = A - A.mean(dim=-2, keepdim=True)  # noqa: N806
    return svd_lowrank(A, q, niter=niter)


# ---------------------------------------------------------------- sampling
def binomial(count: Tensor, prob: Tensor, generator: Any = None) -> Tensor:
    """Binomial(count, prob) samples, elementwise (floating tensors of one shape; the result in their dtype)."""
    for name, t in (("count", count), ("prob", prob)):
        if not isinstance(t, Tensor):
            raise TypeError(f"binomial(): argument '{name}' must be Tensor, not {type(t).__name__}")
        if dtypes.kind(t.dtype) != "f":
            raise ValueError(f"binomial only supports floating-point dtypes for {name}, got: {t.dtype}")
    dev = count.device
    draw = functools.partial(_binomial_draw, dev=dev, generator=generator, dt=count.dtype)
    return zero_grad_from(Tensor._wrap(trace.record(draw, count, prob), dev, None), count)


def _binomial_draw(n: Any, p: Any, *, dev: Any, generator: Any, dt: Any) -> Any:
    with on_device(dev):
        rng = generator_rng(dev, generator)
        return rng.binomial(n.astype(np.int64), p.astype(np.float64)).astype(dt)


__all__ = [
    "binomial", "frobenius_norm", "frombuffer", "gradient", "histogramdd", "nuclear_norm", "pca_lowrank",
    "svd_lowrank",
]  # fmt: skip

from backprop.functions import name_first_input  # noqa: E402

name_first_input(globals(), __all__)  # torch.conj(input=x): the method aliases above, by torch's names
