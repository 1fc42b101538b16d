"""Block sparse matrices: torch's ``layout=torch.sparse_bsr``/``sparse_bsc`` (2-D, no batch or dense
dimensions). A ``SparseBlockTensor`` is a compressed tensor whose values are (nnz, R, C) blocks: block row
offsets and block columns (BSR), or block column offsets and block rows (BSC). It converts to and from dense
tensors (``to_sparse_bsr(blocksize)``, ``to_dense``, both differentiable through the values), to COO, and
multiplies dense matrices through its dense form; the other compressed-tensor ops refuse, as torch's CPU
kernels do for most of them."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from backprop.methods.attributes import Layout
from backprop.sparse._compressed import SparseCompressedTensor, _expand, _host, _index_tensor, _layout_name
from backprop.sparse._tensor import SparseTensor, sparse_bsc, sparse_bsr
from backprop.tensor import Tensor

__all__ = ["SparseBlockTensor", "sparse_bsc_tensor", "sparse_bsr_tensor", "to_block"]


class SparseBlockTensor(SparseCompressedTensor):
    """A BSR or BSC matrix: compressed block indices, plain block indices and (nnz, R, C) value blocks."""

    __slots__ = ()

    @property
    def _csr(self) -> builtins.bool:  # (row-compressed: BSR; the repr and index names follow)
        return self._lay is sparse_bsr

    def _like(self, values: Tensor) -> SparseBlockTensor:
        return _new(self._cidx, self._pidx, values, tuple(self.shape), self._lay)

    def _grad_from_values(self, g: Tensor) -> SparseBlockTensor:
        return self._like(g)

    def _index(self, name: str, want: Layout, kind: str, compressed: builtins.bool) -> Tensor:
        row = want.name == "sparse_csr"
        if self._csr != row:
            raise RuntimeError(f"{name} expected sparse {kind} compressed tensor layout but got {self._word}")
        return self._cidx if compressed else self._pidx

    def clone(self, *, memory_format: Any = None) -> SparseBlockTensor:
        return _new(self._cidx.clone(), self._pidx.clone(), self._vals.clone(), tuple(self.shape), self._lay)

    def to(self, *args: Any, **kwargs: Any) -> SparseBlockTensor:
        values = self._vals.to(*args, **kwargs)
        return self if values is self._vals else self._like(values)

    def _element_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Each stored element's (row, column), block by block, row-major within a block."""
        r, c = (int(s) for s in self._vals.shape[1:])
        major, minor = _expand(_host(self._cidx)), _host(self._pidx).astype(np.int64)
        brow, bcol = (major, minor) if self._csr else (minor, major)
        rows = (brow[:, None, None] * r + np.arange(r)[None, :, None]) + np.zeros((1, 1, c), np.int64)
        cols = (bcol[:, None, None] * c + np.arange(c)[None, None, :]) + np.zeros((1, r, 1), np.int64)
        return rows.reshape(-1), cols.reshape(-1)

    def to_sparse_coo(self) -> SparseTensor:
        """The COO tensor of every stored element (zeros inside blocks included), coalesced, as torch's."""
        rows, cols = self._element_coords()
        order = np.lexsort((cols, rows))
        ix = Tensor._of(np.stack([rows[order], cols[order]]), device=self.device)
        vals = self._vals.reshape(-1)[Tensor._of(order.astype(np.int64), device=self.device)]
        return SparseTensor._make(ix, vals, tuple(self.shape), True)

    def to_sparse(
        self, sparse_dim: Any = None, *, layout: Any = None, blocksize: Any = None, dense_dim: Any = None
    ) -> Tensor:
        if layout is not None and _layout_name(layout) != "sparse_coo":
            return to_block(self.to_dense(), layout, blocksize)
        return self.to_sparse_coo()

    def to_sparse_csr(self, dense_dim: builtins.int | None = None) -> SparseCompressedTensor:
        raise RuntimeError(
            f"sparse_compressed_to_sparse_csr: expected SparseCsr or SparseCsc layout but got {self._word}"
        )

    def to_sparse_csc(self, dense_dim: builtins.int | None = None) -> SparseCompressedTensor:
        raise RuntimeError(
            f"sparse_compressed_to_sparse_csc: expected SparseCsr or SparseCsc layout but got {self._word}"
        )

    def to_dense(self, dtype: Any = None, *, masked_grad: builtins.bool | None = None) -> Tensor:
        """The dense matrix; differentiable w.r.t. the value blocks."""
        if dtype is not None:
            raise RuntimeError(f"dtype argument is not supported by sparse_{self._lay.name[7:]}_to_dense")
        rows, cols = self._element_coords()
        m, n = (int(s) for s in self.shape)
        lin = Tensor._of(rows * n + cols, device=self.device)
        return self._vals.new_zeros(m * n).index_add(0, lin, self._vals.reshape(-1)).reshape(m, n)

    def t(self) -> SparseBlockTensor:
        """The transpose: BSR's block arrays read as BSC (and back), each block transposed, as torch's."""
        n, m = self.shape
        other = sparse_bsc if self._csr else sparse_bsr
        return _new(self._cidx, self._pidx, self._vals.transpose(-2, -1), (m, n), other)

    def mm(self, mat2: Any) -> Tensor:
        """The product with a dense matrix (through the dense form; differentiable)."""
        return self.to_dense() @ mat2

    def matmul(self, other: Any) -> Tensor:
        return self.to_dense() @ other

    def __matmul__(self, other: Any) -> Tensor:
        return self.to_dense() @ other

    def __mul__(self, other: Any) -> SparseBlockTensor:
        """Times a number: the blocks scaled (other operands: multiply the dense forms)."""
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self._like(self._vals * other)
        raise NotImplementedError(f"mul of a {self._word} tensor by a {type(other).__name__}: use .to_dense()")

    def __add__(self, other: Any) -> Tensor:
        """The sum with a block tensor of the same pattern and layout (the blocks added)."""
        if isinstance(other, SparseBlockTensor) and other._lay is self._lay and tuple(other.shape) == tuple(self.shape):
            same = np.array_equal(_host(self._cidx), _host(other._cidx)) and np.array_equal(
                _host(self._pidx), _host(other._pidx)
            )
            if same:
                return self._like(self._vals + other._vals)
        raise NotImplementedError(f"add of {self._word} tensors with different patterns: use .to_dense()")


def _new(cidx: Tensor, pidx: Tensor, values: Tensor, size: tuple[int, ...], layout: Layout) -> SparseBlockTensor:
    """A block tensor around the three tensors (no checks, no copies)."""
    t = SparseBlockTensor._make(cidx, pidx, values, size, layout)
    assert isinstance(t, SparseBlockTensor)
    return t


def _blocks(values: Tensor) -> tuple[int, int]:
    if values.dim() != 3:
        raise RuntimeError(
            f"Expected values of a block sparse tensor to have 3 dimensions (nnz, R, C), got {values.dim()}"
        )
    return int(values.shape[1]), int(values.shape[2])


def _block_tensor(cidx: Any, pidx: Any, values: Any, size: Any, dtype: Any, device: Any, requires_grad: bool,
                  layout: Layout) -> SparseBlockTensor:  # fmt: skip
    c, p = _index_tensor(cidx), _index_tensor(pidx)
    v = values if isinstance(values, Tensor) else Tensor._of(values)
    if dtype is not None or device is not None:
        v = v.to(device=device, dtype=dtype)
    if c.device is not v.device:
        c, p = c.to(v.device), p.to(v.device)
    r, col = _blocks(v)
    if size is None:
        n_major = int(c.shape[0]) - 1
        n_minor = int(_host(p).max()) + 1 if p.numel() else 0
        size = (n_major * r, n_minor * col) if layout is sparse_bsr else (n_minor * r, n_major * col)
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise NotImplementedError("block sparse tensors here are 2-D (no batch or dense dimensions)")
    if size[0] % r or size[1] % col:
        raise RuntimeError(f"tensor shape {size} must be divisible by the block size ({r}, {col})")
    if int(p.shape[0]) != int(v.shape[0]):
        raise RuntimeError(
            f"plain indices ({int(p.shape[0])}) and values ({int(v.shape[0])}) must have one entry per block"
        )
    out = _new(c, p, v, size, layout)
    if requires_grad:
        out.requires_grad_(True)
    return out


def sparse_bsr_tensor(crow_indices: Any, col_indices: Any, values: Any, size: Any = None, *, dtype: Any = None,
                      device: Any = None, pin_memory: bool = False, requires_grad: bool = False,
                      check_invariants: bool | None = None) -> SparseBlockTensor:  # fmt: skip
    """torch's ``sparse_bsr_tensor``: block row offsets, block columns and (nnz, R, C) value blocks of a 2-D
    matrix (the size defaults to (blocks rows * R, (largest block column + 1) * C))."""
    return _block_tensor(crow_indices, col_indices, values, size, dtype, device, requires_grad, sparse_bsr)


def sparse_bsc_tensor(ccol_indices: Any, row_indices: Any, values: Any, size: Any = None, *, dtype: Any = None,
                      device: Any = None, pin_memory: bool = False, requires_grad: bool = False,
                      check_invariants: bool | None = None) -> SparseBlockTensor:  # fmt: skip
    """torch's ``sparse_bsc_tensor``: block column offsets, block rows and (nnz, R, C) value blocks."""
    return _block_tensor(ccol_indices, row_indices, values, size, dtype, device, requires_grad, sparse_bsc)


def to_block(x: Tensor, layout: Any, blocksize: Any) -> SparseBlockTensor:
    """``x.to_sparse_bsr(blocksize)``/``to_sparse_bsc``: the (R, C) blocks of a dense matrix that hold a
    non-zero, in block-row (BSR) or block-column (BSC) order; differentiable through the gathered blocks."""
    name = _layout_name(layout)
    if isinstance(x, SparseCompressedTensor) or isinstance(x, SparseTensor):
        x = x.to_dense()
    if blocksize is None:
        raise RuntimeError(f"to_sparse: {name} layout requires blocksize= (R, C)")
    r, c = (int(b) for b in blocksize)
    if x.dim() != 2:
        raise NotImplementedError("to_sparse_bsr/bsc: 2-D tensors only here (no batch or dense dimensions)")
    m, n = (int(s) for s in x.shape)
    if m % r or n % c:
        fn = "dense_to_sparse_bsr" if name == "sparse_bsr" else "dense_to_sparse_bsc"
        raise RuntimeError(f"{fn}: tensor sparse size ({m},{n}) must be divisible by given blocksize ({r},{c})")
    blocks = x.reshape(m // r, r, n // c, c).permute(0, 2, 1, 3)  # (block row, block col, R, C)
    host = np.asarray(blocks.detach()._host())
    nz = host.reshape(m // r, n // c, -1).any(axis=-1)
    bsr = name == "sparse_bsr"
    brow, bcol = np.nonzero(nz if bsr else nz.T)
    if not bsr:
        brow, bcol = bcol, brow
    major, minor = (brow, bcol) if bsr else (bcol, brow)
    n_major = m // r if bsr else n // c
    offsets = np.concatenate([[0], np.cumsum(np.bincount(major, minlength=n_major))]).astype(np.int64)
    values = blocks[
        Tensor._of(brow.astype(np.int64), device=x.device), Tensor._of(bcol.astype(np.int64), device=x.device)
    ]
    lay = sparse_bsr if bsr else sparse_bsc
    return _new(
        Tensor._of(offsets, device=x.device), Tensor._of(minor.astype(np.int64), device=x.device), values, (m, n), lay
    )
