"""CuPy overrides: fused elementwise kernels and scatter-adds where CuPy differs from NumPy.

Imported only by ``CupyBackend.overrides()``, i.e. once CuPy itself imported. Every override takes
the generic kernel's arguments and returns the same result, or ``NotImplemented`` for dtypes and
modes it was not written for (then the registry runs the generic kernel). The fused kernels are
declared in ``KERNELS`` (parameters, C body, name): ``kernel(name)`` builds the CuPy object on first
use (CuPy compiles it on its first call), and ``tests/test_kernel_compile.py`` compiles every body
with NVRTC without a GPU. Importing this module does not import CuPy.

Keys: an op name replaces its forward kernel, ``"<op>.backward"`` its backward rule, and
``"optim.sgd_momentum"`` / ``"optim.adam"`` the optimizers' per-parameter updates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class KernelSpec(NamedTuple):
    """One ``cupy.ElementwiseKernel``: its parameters, C body and name, introspectable without CuPy."""

    in_params: str
    out_params: str
    operation: str
    name: str


#: every fused kernel of this module; ``tests/test_kernel_compile.py`` compiles each source with NVRTC
KERNELS: dict[str, KernelSpec] = {
    "bp_sigmoid": KernelSpec(
        "T x", "T y", "T e = exp(-fabs(x)); y = x >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e)", "bp_sigmoid"
    ),
    "bp_silu": KernelSpec(
        "T x", "T y", "T e = exp(-fabs(x)); T s = x >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e); y = x * s", "bp_silu"
    ),
    "bp_gelu": KernelSpec("T x", "T y", "y = (T)0.5 * x * ((T)1 + erf(x * (T)0.7071067811865476))", "bp_gelu"),
    "bp_gelu_tanh": KernelSpec(
        "T x",
        "T y",
        "y = (T)0.5 * x * ((T)1 + tanh((T)0.7978845608028654 * (x + (T)0.044715 * x * x * x)))",
        "bp_gelu_tanh",
    ),
    "bp_gelu_grad": KernelSpec(
        "T x",
        "T y",
        "y = (T)0.5 * ((T)1 + erf(x * (T)0.7071067811865476)) + x * exp((T)-0.5 * x * x) * (T)0.3989422804014327",
        "bp_gelu_grad",
    ),
    # backward of activations whose rule reads the saved output y: dx = gy * f'(y)
    "bp_sigmoid_bwd": KernelSpec("T gy, T y", "T gx", "gx = gy * y * ((T)1 - y)", "bp_sigmoid_bwd"),
    "bp_tanh_bwd": KernelSpec("T gy, T y", "T gx", "gx = gy * ((T)1 - y * y)", "bp_tanh_bwd"),
    "bp_relu_bwd": KernelSpec("T gy, T y", "T gx", "gx = y <= (T)0 ? (T)0 : gy", "bp_relu_bwd"),
    # softmax cross-entropy backward: (softmax - (1-eps) onehot - eps/C) * w_n, no one-hot matrix
    "bp_cross_entropy_grad": KernelSpec(
        "raw T e, raw T s, raw S t, raw T w, int32 C, T keep, T smooth",
        "T gx",
        "int n = i / C; T wn = w[n]; gx = e[i] * (wn / s[n]) - ((i % C) == t[n] ? keep * wn : (T)0) - smooth * wn",
        "bp_cross_entropy_grad",
    ),
    # optimizer updates, one kernel per parameter
    "bp_sgd_momentum": KernelSpec(
        "T g, T lr, T mu, T damp", "T p, T buf", "buf = mu * buf + ((T)1 - damp) * g; p -= lr * buf", "bp_sgd_momentum"
    ),
    "bp_adam": KernelSpec(
        "T g, T b1, T b2, T step, T inv_sqrt_bc2, T eps",
        "T p, T m, T v",
        """
    m = b1 * m + ((T)1 - b1) * g;
    v = b2 * v + ((T)1 - b2) * g * g;
    p -= step * m / (sqrt(v) * inv_sqrt_bc2 + eps);
    """,
        "bp_adam",
    ),
}

_FLOATS = (np.dtype("float32"), np.dtype("float64"))  # cupy.dtype is numpy.dtype
_BUILT: dict[str, tuple[Any, Any]] = {}  # name -> (the cupy module it was built with, the kernel)


def kernel(name: str) -> Any:
    """The ``cupy.ElementwiseKernel`` of ``KERNELS[name]``, built once per CuPy module (compiled on first call)."""
    import cupy

    built = _BUILT.get(name)
    if built is None or built[0] is not cupy:
        spec = KERNELS[name]
        built = _BUILT[name] = (
            cupy,
            cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name),
        )
    return built[1]


def _ok(*arrays: Any) -> bool:
    return all(getattr(a, "dtype", None) in _FLOATS for a in arrays)


def _one_float(*arrays: Any) -> bool:
    """All float32 or all float64: the fused kernels take one type parameter for every array."""
    dt = getattr(arrays[0], "dtype", None)
    return dt in _FLOATS and all(getattr(a, "dtype", None) == dt for a in arrays)


# ---------------------------------------------------------------- indexing


def getitem_grad(xp: Any, gy: Any, *, index: tuple, shape: tuple) -> Any:
    """zeros(shape) with gy added at ``index``; repeated integer indices accumulate.

    ``cupyx.scatter_add`` is CuPy's atomic scatter (NumPy's ``add.at``); plain assignment is
    enough when no integer array can repeat a position.
    """
    import cupyx

    gx = xp.zeros(shape, dtype=gy.dtype)
    if any(getattr(i, "dtype", None) is not None and i.dtype.kind in "iu" for i in index):
        cupyx.scatter_add(gx, index, gy)
    else:
        gx[index] = gy
    return gx


# ---------------------------------------------------------------- activations: one kernel each


def _unary(name: str) -> Any:
    def forward(xp: Any, x: Any, **attrs: Any) -> Any:
        return kernel(name)(x) if _ok(x) else NotImplemented

    return forward


def gelu(xp: Any, x: Any, *, approximate: str = "none") -> Any:
    if not _ok(x):
        return NotImplemented
    return kernel("bp_gelu_tanh" if approximate == "tanh" else "bp_gelu")(x)


def gelu_grad(xp: Any, x: Any, *, approximate: str = "none") -> Any:
    if not _ok(x) or approximate != "none":
        return NotImplemented
    return kernel("bp_gelu_grad")(x)


def _output_rule(name: str) -> Any:
    def rule(ctx: Any, gy: Any) -> Any:
        if ctx.create_graph:  # building a graph: the generic rule records differentiable ops
            return NotImplemented
        (y,) = ctx.saved
        if not _ok(gy, y) or gy.shape != y.shape or gy.dtype != y.dtype:
            return NotImplemented
        return (kernel(name)(gy, y),)

    return rule


# ---------------------------------------------------------------- softmax cross-entropy backward


def cross_entropy_backward(ctx: Any, gy: Any) -> Any:
    """(softmax - (1-eps) onehot - eps/C) * w_n in one kernel, no one-hot matrix."""
    if ctx.create_graph or len(ctx.aux) != 5:  # class weights (a longer aux): the generic rule
        return NotImplemented
    p, s, t, valid, cnt = ctx.aux  # p holds exp(x - max), s its row sums
    if not _ok(p) or not p.flags.c_contiguous:
        return NotImplemented
    reduction = ctx.attrs["reduction"]
    eps = ctx.attrs["label_smoothing"]
    w = gy / cnt if reduction == "mean" else gy
    xp = ctx.xp
    w = xp.ascontiguousarray(xp.broadcast_to(xp.where(valid, w, 0).astype(p.dtype, copy=False), valid.shape))
    n, c = p.shape
    gx = xp.empty_like(p)
    ce_grad = kernel("bp_cross_entropy_grad")
    ce_grad(p, s, xp.ascontiguousarray(t), w, np.int32(c), p.dtype.type(1 - eps), p.dtype.type(eps / c), gx)
    return gx, None


# ---------------------------------------------------------------- optimizer updates, one kernel per parameter


def sgd_momentum_update(p: Any, g: Any, buf: Any, lr: float, mu: float, dampening: float) -> Any:
    """buf = mu buf + (1 - dampening) g; p -= lr buf, in place (torch's update after step 1)."""
    if not _one_float(p, g, buf):
        return NotImplemented
    kernel("bp_sgd_momentum")(g, lr, mu, dampening, p, buf)
    return None


def adam_update(
    p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, step_size: float, inv_sqrt_bc2: float, eps: float
) -> Any:
    """Adam's moment updates and parameter step in one kernel, in place."""
    if not _one_float(p, g, m, v):
        return NotImplemented
    kernel("bp_adam")(g, b1, b2, step_size, inv_sqrt_bc2, eps, p, m, v)
    return None


OVERRIDES: dict[str, Any] = {
    "getitem_grad": getitem_grad,
    "sigmoid": _unary("bp_sigmoid"),
    "silu": _unary("bp_silu"),
    "gelu": gelu,
    "gelu_grad": gelu_grad,
    "sigmoid.backward": _output_rule("bp_sigmoid_bwd"),
    "tanh.backward": _output_rule("bp_tanh_bwd"),
    "relu.backward": _output_rule("bp_relu_bwd"),
    "cross_entropy.backward": cross_entropy_backward,
    "optim.sgd_momentum": sgd_momentum_update,
    "optim.adam": adam_update,
}
