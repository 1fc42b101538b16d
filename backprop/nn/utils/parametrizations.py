"""torch.nn.utils.parametrizations: ``weight_norm``, ``spectral_norm`` and ``orthogonal`` as parametrizations.

Each registers a small module with ``register_parametrization`` and composes existing
differentiable ops, so gradients (and double backward) reach the original tensors for free.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Any

import numpy as np

from backprop.autograd.grad_mode import no_grad
from backprop.creation import eye, randn
from backprop.functions import cat
from backprop.linalg import qr, solve, vector_norm
from backprop.nn import functional as F  # noqa: N812 - torch's alias
from backprop.nn.module import Module
from backprop.nn.utils.parametrize import register_parametrization
from backprop.tensor import Tensor

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# ------------------------------------------------------------ weight norm
def _norm_except_dim(v: Tensor, pow: float, dim: int) -> Tensor:
    """||v||_pow over every dim but ``dim``, kept as size-1 dims (torch.norm_except_dim); ``dim=-1``
    is the norm of the whole tensor (a 0-d tensor), as in torch."""
    if dim == -1:
        return vector_norm(v, pow)
    if not -v.ndim <= dim < v.ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-v.ndim}, {v.ndim - 1}], but got {dim})"
        )
    dim = dim + v.ndim if dim < 0 else dim
    axes = tuple(d for d in range(v.ndim) if d != dim)
    return vector_norm(v, pow, dim=axes, keepdim=True) if axes else v.abs()


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """v * g / ||v|| (the norm over every dim but ``dim``): torch._weight_norm, composed."""
    return v * (g / _norm_except_dim(v, 2, dim))


class _WeightNorm(Module):
    """weight = g * v / ||v||, from ``original0 = g`` and ``original1 = v``."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` as g * v / ||v|| (torch's new-style weight norm: the state_dict
    keys are ``parametrizations.<name>.original0`` (g) and ``original1`` (v)); a state_dict saved with the old
    ``nn.utils.weight_norm`` (``<name>_g``, ``<name>_v``) loads into it, as in torch."""
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


# ------------------------------------------------------------ spectral norm
class _SpectralNorm(Module):
    """weight / sigma, sigma the largest singular value estimated by power iteration on buffers ``_u``, ``_v``
    (one more iteration per forward in training mode, none in eval mode)."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(
                f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight)
                h, w = weight_mat.shape
                u = weight_mat.new_empty(h).normal_(0, 1)
                v = weight_mat.new_empty(w).normal_(0, 1)
                self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """``dim`` first, the rest flattened: (size[dim], -1)."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        """u <- W v / |W v|, v <- W^T u / |W^T u|, written into the buffers (no graph)."""
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.H.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()  # later in-place updates must not touch the graph
        sigma = u.vdot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def _transposed_conv_types() -> tuple[type, ...]:
    import backprop.nn as nn

    names = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
    return tuple(getattr(nn, n) for n in names if hasattr(nn, n))


def spectral_norm(
    module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> Module:
    """Reparametrize ``module.<name>`` as weight / sigma(weight) (torch's new-style spectral norm); ``dim``
    defaults to 1 for transposed convolutions and 0 otherwise."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, _transposed_conv_types()) else 0
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ------------------------------------------------------------ orthogonal
def _is_orthogonal(q: Tensor) -> bool:
    n, k = q.shape[-2], q.shape[-1]
    eye = _eye_like(q, k)
    eps = 10.0 * n * float(np.finfo(q._data.dtype).eps)
    return bool((q.mH @ q).allclose(eye, atol=eps))


def _eye_like(x: Tensor, n: int) -> Tensor:
    return eye(n, dtype=x.dtype, device=x.device)


def _make_orthogonal(a: Tensor) -> Tensor:
    """The Q of A = QR with R's diagonal made positive (torch's geqrf + householder_product + sign fix)."""
    q, r = qr(a)
    return q * r.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _householder_product(a: Tensor, tau: Tensor) -> Tensor:
    """The first k columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^H with v_i = e_i + (the part of
    column i of ``a`` below the diagonal): torch.linalg.householder_product, composed of matmuls."""
    n, k = a.shape[-2], a.shape[-1]
    vs = a.tril(-1) + _eye_like(a, n)[:, :k]
    q = _eye_like(a, n).expand(*a.shape[:-2], n, n)
    for i in range(k):
        v = vs[..., :, i]
        q = q - tau[..., i, None, None] * (q @ v.unsqueeze(-1)) * v.conj().unsqueeze(-2)
    return q[..., :, :k]


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    """An orthogonal (n, k) matrix (or batch) from an unconstrained one through ``orthogonal_map``, times
    the buffer ``base`` with the trivialization (dynamic trivialization of Lezcano-Casado & Martinez-Rubio)."""

    base: Tensor

    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            x = x.tril()
            if n != k:
                x = cat([x, x.new_zeros(n, n - k).expand(*x.shape[:-2], -1, -1)], dim=-1)
            a = x - x.mH  # skew-symmetric
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                q = a.matrix_exp()
            else:  # Cayley map: (I - A/2)^{-1} (I + A/2)
                eye = _eye_like(a, n)
                q = solve(eye - 0.5 * a, eye + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (a * a).sum(dim=-2))
            q = _householder_product(a, tau)
            q = q * x.diagonal(dim1=-2, dim2=-1).detach().int().unsqueeze(-2)  # int(): no gradient, as torch
        if hasattr(self, "base"):
            q = self.base @ q
        return q.mT if transposed else q

    def right_inverse(self, q: Tensor) -> Tensor:
        """An unconstrained tensor whose image is ``q`` (``q`` made orthogonal first if it is not)."""
        if q.shape != self.shape:
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape {q.shape}."
            )
        with no_grad():
            q_init = q
            n, k = q.shape[-2], q.shape[-1]
            transpose = n < k
            if transpose:
                q = q.mT
                n, k = k, n
            if not hasattr(self, "base"):
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError(
                        "It is not possible to assign to the matrix exponential "
                        "or the Cayley parametrizations when use_trivialization=False."
                    )
                a = _geqrf_reflectors(q)
                return a.mT if transpose else a
            if n == k:
                q = _make_orthogonal(q) if not _is_orthogonal(q) else q.clone()
            else:  # complete to a square matrix with random columns, as torch
                extra = randn(*q.shape[:-2], n, n - k, dtype=q.dtype, device=q.device)
                q = _make_orthogonal(cat([q, extra], dim=-1))
            self.base = q
            rows, cols = q_init.shape[-2], q_init.shape[-1]
            neg_id = -eye(rows, cols, dtype=q_init.dtype, device=q_init.device)
            return neg_id.expand(q_init.shape).clone()


def _geqrf_reflectors(q: Tensor) -> Tensor:
    """torch.geqrf's reflectors of ``q`` with the diagonal replaced by sign(R_ii) (-1 where tau is 0):
    the householder map's preimage of ``q``'s orthogonal factor (LAPACK geqrf through ``xp.linalg.qr``)."""
    xp = q.device.xp
    h, tau = xp.linalg.qr(q._data, mode="raw")  # h is geqrf's output, transposed
    a = xp.ascontiguousarray(xp.swapaxes(h, -1, -2))
    sign = xp.sign(xp.diagonal(a, axis1=-2, axis2=-1))
    sign[tau == 0.0] *= -1
    idx = xp.arange(min(a.shape[-2:]))
    a[..., idx, idx] = sign
    return Tensor._of(a, device=q.device)


def orthogonal(
    module: Module, name: str = "weight", orthogonal_map: str | None = None, *, use_trivialization: bool = True
) -> Module:
    """Constrain ``module.<name>`` (a matrix or a batch of them) to be orthogonal: Q^H Q = I (or Q Q^H = I
    when it has more columns than rows). Maps: "matrix_exp", "cayley", "householder"; the default is
    "matrix_exp" for square matrices and "householder" otherwise, as torch."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    orth_enum: Any = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError(
            f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: {orthogonal_map}'
        )
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    register_parametrization(module, name, orth, unsafe=True)
    return module
