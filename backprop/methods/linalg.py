"""Linear-algebra methods: ``mm``, ``bmm``, ``dot``, ``addmm``, ``outer``, ``inner``, ``kron``, ...

All compositions of ``matmul``, ``mul``, ``reshape`` and ``permute`` (their gradients follow), with
torch's own shape and dtype checks in front; ``einsum`` (in ``functions.py``) is its own op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from backprop.autograd.function import apply
from backprop.ops import elementwise as ew
from backprop.ops import linalg
from backprop.ops._util import DTypeError, ShapeError

if TYPE_CHECKING:
    from backprop.tensor import Tensor


def _dtype_name(t: Any) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int"}.get(
        t.dtype.name, t.dtype.name
    )


def _tensors(name: str, *xs: Any) -> None:
    """Raise torch's TypeError for an argument that is not a Tensor."""
    for x in xs:
        if not hasattr(x, "grad_fn"):
            raise TypeError(f"{name}(): argument must be a Tensor, not {type(x).__name__}")


def _plus_ignored(prod: Any, base: Any) -> Any:
    """``prod`` with ``base`` attached at weight zero: torch's beta=0 ignores self's values (nan and inf
    included) but still gives it a zero gradient."""
    never = type(base)(np.zeros((), dtype=bool), device=base.device)
    return prod + apply(ew.where, never, base, 0)


def _scaled(x: Any, s: Any) -> Any:
    """``s * x`` without a multiply when s is 1 (torch's alpha/beta fast path)."""
    return x if isinstance(s, (int, float)) and s == 1 else x * s


class LinalgMethods:
    """``x.mm(y)``, ``x.bmm(y)``, ``x.dot(y)``, ``x.addmm(a, b)``, ``x.outer(y)``, ``x.kron(y)``, ..."""

    __slots__ = ()

    def mm(self: Any, mat2: Any) -> Tensor:
        """Matrix product of two 2-D tensors of one dtype (no broadcasting)."""
        _tensors("mm", self, mat2)
        if self.ndim != 2:
            raise ShapeError(f"mm: self must be a matrix, got shape {tuple(self.shape)}")
        if mat2.ndim != 2:
            raise ShapeError(f"mm: mat2 must be a matrix, got shape {tuple(mat2.shape)}")
        if self.dtype != mat2.dtype:
            raise DTypeError(f"mm: expected m1 and m2 to have the same dtype, but got: {self.dtype} != {mat2.dtype}")
        if self.shape[1] != mat2.shape[0]:
            (a, b), (c, d) = self.shape, mat2.shape
            raise ShapeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({a}x{b} and {c}x{d})")
        return apply(linalg.matmul, self, mat2)

    def bmm(self: Any, mat2: Any) -> Tensor:
        """Batched matrix product of (b, n, m) and (b, m, p) tensors of one dtype (no broadcasting)."""
        _tensors("bmm", self, mat2)
        if self.ndim != 3:
            raise ShapeError(f"bmm: batch1 must be a 3D tensor, got shape {tuple(self.shape)}")
        if mat2.ndim != 3:
            raise ShapeError(f"bmm: batch2 must be a 3D tensor, got shape {tuple(mat2.shape)}")
        if self.dtype != mat2.dtype:
            raise DTypeError(
                f"bmm: expected batch1 and batch2 to have the same dtype, got {self.dtype} and {mat2.dtype}"
            )
        want = [self.shape[0], self.shape[2]]
        if list(mat2.shape[:2]) != want:
            raise ShapeError(
                f"bmm: Expected size for first two dimensions of batch2 tensor to be: {want} but got: "
                f"{list(mat2.shape[:2])}."
            )
        return apply(linalg.matmul, self, mat2)

    def dot(self: Any, other: Any) -> Tensor:
        """Inner product of two 1-D tensors of one dtype and length."""
        _tensors("dot", self, other)
        if self.ndim != 1 or other.ndim != 1:
            raise ShapeError(f"dot: 1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        if self.shape[0] != other.shape[0]:
            n, m = self.shape[0], other.shape[0]
            raise ShapeError(
                f"dot: inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same number of "
                f"elements, but got {n} and {m} elements respectively"
            )
        if self.dtype != other.dtype:
            raise DTypeError(
                f"dot : expected both vectors to have same dtype, but found {_dtype_name(self)} and "
                f"{_dtype_name(other)}"
            )
        return apply(linalg.matmul, self, other)

    vdot = dot  # real tensors only: no conjugate to take

    def mv(self: Any, vec: Any) -> Tensor:
        """Matrix-vector product of a 2-D and a 1-D tensor."""
        _tensors("mv", self, vec)
        if self.ndim != 2 or vec.ndim != 1:
            raise ShapeError(f"mv: vector + matrix @ vector expected, got {self.ndim}D, {vec.ndim}D")
        if self.dtype != vec.dtype:
            raise DTypeError(f"mv: expected the same dtype, got {self.dtype} and {vec.dtype}")
        return apply(linalg.matmul, self, vec)

    def addmm(self: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * (mat1 @ mat2)``; self broadcasts to the product's shape (beta=0 ignores it)."""
        _tensors("addmm", self, mat1, mat2)
        prod = mat1.mm(mat2)
        if self.dtype != prod.dtype:
            raise DTypeError(f"addmm: self and mat2 must have the same dtype, but got {self.dtype} and {prod.dtype}")
        base = self.expand(prod.shape)  # raises as torch when self does not broadcast
        if beta == 0:  # torch ignores self (nan and inf included) when beta is 0
            return _plus_ignored(_scaled(prod, alpha), base) if base.requires_grad else _scaled(prod, alpha)
        return _scaled(base, beta) + _scaled(prod, alpha)

    def baddbmm(self: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``beta * self + alpha * (batch1 @ batch2)`` over a batch; self broadcasts (beta=0 ignores it)."""
        _tensors("baddbmm", self, batch1, batch2)
        prod = batch1.bmm(batch2)
        if self.dtype != prod.dtype:
            raise DTypeError(
                f"baddbmm: self and batch2 must have the same dtype, but got {self.dtype} and {prod.dtype}"
            )
        base = self.expand(prod.shape)
        if beta == 0:
            return _plus_ignored(_scaled(prod, alpha), base) if base.requires_grad else _scaled(prod, alpha)
        return _scaled(base, beta) + _scaled(prod, alpha)

    def outer(self: Any, vec2: Any) -> Tensor:
        """Outer product of two 1-D tensors (dtypes promote, as torch)."""
        _tensors("outer", self, vec2)
        if self.ndim != 1:
            raise ShapeError(f"outer: Expected 1-D argument self, but got {self.ndim}-D")
        if vec2.ndim != 1:
            raise ShapeError(f"outer: Expected 1-D argument vec2, but got {vec2.ndim}-D")
        return self.reshape(-1, 1) * vec2

    ger = outer

    def inner(self: Any, other: Any) -> Tensor:
        """Sum over the last dims of both (a product when either is 0-d); same dtype."""
        _tensors("inner", self, other)
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        if self.dtype != other.dtype:
            raise DTypeError(f"inner: both inputs should have same dtype, got {self.dtype} and {other.dtype}")
        if self.shape[-1] != other.shape[-1]:
            raise ShapeError(
                f"inner() the last dimension must match on both input tensors but got shapes "
                f"{list(self.shape)} and {list(other.shape)}"
            )
        return tensordot(self, other, ([self.ndim - 1], [other.ndim - 1]))

    def kron(self: Any, other: Any) -> Tensor:
        """Kronecker product: block (i, j) is self[i, j] * other (dims padded to equal count; dtypes promote)."""
        _tensors("kron", self, other)
        nd = max(self.ndim, other.ndim)
        a_shape = (1,) * (nd - self.ndim) + tuple(self.shape)
        b_shape = (1,) * (nd - other.ndim) + tuple(other.shape)
        a = self.reshape(tuple(v for n in a_shape for v in (n, 1)))
        b = other.reshape(tuple(v for n in b_shape for v in (1, n)))
        return (a * b).reshape(tuple(m * n for m, n in zip(a_shape, b_shape)))


def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first of ``b``, or the dims in ``(dims_a, dims_b)``."""
    _tensors("tensordot", a, b)
    if hasattr(dims, "grad_fn"):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise ShapeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise ShapeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
        if len(da) != len(db):
            raise ShapeError(f"tensordot: both dimension lists should have same length, got {da} and {db}")
        da = [d % max(a.ndim, 1) for d in da]
        db = [d % max(b.ndim, 1) for d in db]
    if a.dtype != b.dtype:
        raise DTypeError(f"tensordot: expected scalar type {a.dtype} but found {b.dtype}")
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"tensordot: contracted dimensions need to match, but first has size {a.shape[i]} in dim {i} "
                f"and second has size {b.shape[j]} in dim {j}"
            )
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = m = n = 1
    for d in da:
        k *= a.shape[d]
    for d in free_a:
        m *= a.shape[d]
    for d in free_b:
        n *= b.shape[d]
    out_shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    a2 = a.permute(free_a + da).reshape(m, k)
    b2 = b.permute(db + free_b).reshape(k, n)
    return apply(linalg.matmul, a2, b2).reshape(out_shape)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_args(args: tuple) -> tuple[str, list]:
    """``(equation, *tensors)``, ``(equation, [tensors])`` or the sublist form ``(t0, [0, 1], t1, [1, 2], [0, 2])``."""
    if args and isinstance(args[0], str):
        eq = args[0]
        ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        return eq, ops
    out = args[-1] if len(args) % 2 == 1 else None  # an odd count ends with the output sublist
    body = args[:-1] if out is not None else args
    ops, subs = list(body[0::2]), list(body[1::2])

    def word(sub: Any) -> str:
        return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sub)

    eq = ",".join(word(s) for s in subs) + ("" if out is None else "->" + word(out))
    return eq, ops


def _normalize(eq: str, shapes: list[tuple[int, ...]]) -> tuple[str, list[str], str]:
    """An explicit equation without ellipsis: ``...`` becomes letters unused elsewhere, an implicit output
    the letters seen once, sorted (after the ellipsis dims), as torch and NumPy."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        raise ShapeError(f"einsum(): {len(subs)} operands in the equation {eq!r} but {len(shapes)} tensors given")
    for c in eq.replace("...", "").replace(",", "").replace("->", ""):
        if c not in _LETTERS:
            raise ShapeError(
                f"einsum(): invalid subscript given at index {eq.index(c)} in the equation string, "
                f"subscripts must be in [a-zA-Z]"
            )
    free = [c for c in _LETTERS if c not in eq]
    ell_n = 0
    for k, (s, shape) in enumerate(zip(subs, shapes)):
        n_letters = len(s.replace("...", ""))
        if "..." in s:
            if n_letters > len(shape):
                raise ShapeError(
                    f"einsum(): the number of subscripts in the equation ({n_letters}) is more than the "
                    f"number of dimensions ({len(shape)}) for operand {k}"
                )
            ell_n = max(ell_n, len(shape) - n_letters)
        elif n_letters != len(shape):
            raise ShapeError(
                f"einsum(): the number of subscripts in the equation ({n_letters}) does not match the "
                f"number of dimensions ({len(shape)}) for operand {k} and no ellipsis was given"
            )
    ell = "".join(free[:ell_n])
    new_subs = []
    for s, shape in zip(subs, shapes):
        if "..." in s:
            k = len(shape) - len(s.replace("...", ""))
            s = s.replace("...", ell[ell_n - k :])
        new_subs.append(s)
    if arrow:
        if rhs.count("...") and not ell_n and "..." not in lhs:
            raise ShapeError("einsum(): ellipsis in the output but none in the inputs")
        rhs = rhs.replace("...", ell)
        for c in rhs:
            if rhs.count(c) > 1:
                raise ShapeError(f"einsum(): output subscript {c} appears more than once in the output")
            if c not in "".join(new_subs):
                raise ShapeError(
                    f"einsum(): output subscript {c} does not appear in the equation for any input operand"
                )
    else:
        joined = "".join(s for s in subs).replace("...", "")
        rhs = ell + "".join(sorted({c for c in joined if joined.count(c) == 1}))  # ASCII order, as torch
    return ",".join(new_subs), new_subs, rhs


def einsum(*args: Any) -> Tensor:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)``, with ``...``, implicit outputs and the sublist form;
    more than two operands are contracted pairwise, left to right."""
    eq, ops = _einsum_args(args)
    if not ops:
        raise ShapeError("einsum(): must provide at least one operand")
    _, subs, rhs = _normalize(eq, [tuple(t.shape) for t in ops])
    cur, cur_sub = ops[0], subs[0]
    if len(ops) == 1:
        return apply(linalg.einsum, cur, None, equation=f"{cur_sub}->{rhs}")
    for k in range(1, len(ops)):
        later = set(rhs).union(*subs[k + 1 :])
        both = cur_sub + subs[k]
        keep = "".join(dict.fromkeys(c for c in both if c in later)) if k < len(ops) - 1 else rhs
        cur = apply(linalg.einsum, cur, ops[k], equation=f"{cur_sub},{subs[k]}->{keep}")
        cur_sub = keep
    return cur
