"""Shape and linear-algebra functions against torch: values, dtypes, shapes and gradients of the public
API (Tensor methods and ``bp.*`` functions), and torch's error conditions raising here too."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)


def _flat(out: Any, lib: Any) -> Any:
    """A tuple of outputs (split, meshgrid, atleast_*) as one flat tensor, to compare and backward through."""
    if isinstance(out, (tuple, list)):
        return lib.cat([o.reshape(-1) for o in out]) if out else None
    return out


def _check(fn_bp: Callable, fn_torch: Callable, *shapes: Any, dtype: str = "float64", grad: bool = True) -> None:
    """Same values, dtype and shape (each output of a tuple too), and the same gradients of a weighted sum."""
    arrays = [
        s
        if isinstance(s, np.ndarray)
        else RNG.standard_normal(s).astype(dtype)
        if dtype.startswith("float")
        else RNG.integers(-5, 5, s).astype(dtype)
        for s in shapes
    ]
    grad = grad and dtype.startswith("float")
    ours = [bp.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    out_bp, out_t = fn_bp(*ours), fn_torch(*theirs)
    if isinstance(out_t, (tuple, list)):
        assert isinstance(out_bp, tuple) and len(out_bp) == len(out_t)
        pairs = list(zip(out_bp, out_t))
    else:
        pairs = [(out_bp, out_t)]
    for b, t in pairs:
        assert isinstance(b, bp.Tensor), type(b)
        assert b.dtype.name == str(t.dtype).removeprefix("torch."), (b.dtype, t.dtype)
        assert tuple(b.shape) == tuple(t.shape), (b.shape, t.shape)
        np.testing.assert_allclose(b.detach().numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-12)
    fb, ft = _flat(out_bp, bp), _flat(out_t, torch)
    if grad and ft is not None and ft.requires_grad:
        w = RNG.standard_normal(tuple(ft.shape))
        (ft * torch.tensor(w)).sum().backward()
        (fb * bp.tensor(w)).sum().backward()
        for b, t in zip(ours, theirs):
            assert (b.grad is None) == (t.grad is None)
            if t.grad is not None:
                np.testing.assert_allclose(b.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def _both_raise(fn_bp: Callable, fn_torch: Callable, *arrays: Any, match: str | None = None) -> None:
    """torch raises for these inputs, and so does backprop (a RuntimeError, ValueError or TypeError)."""
    errors = (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError)
    with pytest.raises(errors):
        fn_torch(*[torch.tensor(a) for a in arrays])
    with pytest.raises(errors, match=match):
        fn_bp(*[bp.tensor(a) for a in arrays])


def _z(*shape: int, dtype: str = "float32") -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


# ---------------------------------------------------------------- shape
SHAPE_CASES: dict[str, tuple] = {
    "flip": (lambda m: lambda x: m.flip(x, (0, 2)), (2, 3, 4)),
    "flip_method": (lambda m: lambda x: x.flip(-1), (2, 3)),
    "flip_dims_kw": (lambda m: lambda x: x.flip(dims=(0, 1)), (2, 3)),
    "flip_0d": (lambda m: lambda x: x.flip(0), ()),
    "fliplr": (lambda m: lambda x: m.fliplr(x), (2, 3, 2)),
    "flipud": (lambda m: lambda x: m.flipud(x), (4,)),
    "roll": (lambda m: lambda x: m.roll(x, (1, -2), (0, 2)), (2, 3, 4)),
    "roll_flat": (lambda m: lambda x: m.roll(x, 5), (2, 3)),
    "roll_neg_dim": (lambda m: lambda x: x.roll(-7, -1), (2, 5)),
    "tril": (lambda m: lambda x: m.tril(x), (3, 4)),
    "tril_batched": (lambda m: lambda x: m.tril(x, -1), (2, 3, 4)),
    "triu": (lambda m: lambda x: m.triu(x, 1), (2, 4, 3)),
    "triu_far": (lambda m: lambda x: x.triu(-5), (2, 3)),
    "diagonal": (lambda m: lambda x: m.diagonal(x), (3, 4)),
    "diagonal_dims": (lambda m: lambda x: m.diagonal(x, 1, 2, 0), (3, 2, 4)),
    "diagonal_neg": (lambda m: lambda x: x.diagonal(-1, -1, 0), (3, 2, 4)),
    "diagonal_empty": (lambda m: lambda x: x.diagonal(5), (2, 3)),
    "diag_embed": (lambda m: lambda x: m.diag_embed(x), (2, 3)),
    "diag_embed_dims": (lambda m: lambda x: m.diag_embed(x, 1, 0, 2), (2, 3)),
    "diag_embed_rev": (lambda m: lambda x: m.diag_embed(x, -1, 2, 0), (2, 3)),
    "diag_vec": (lambda m: lambda x: m.diag(x, -2), (3,)),
    "diag_mat": (lambda m: lambda x: m.diag(x, 1), (3, 4)),
    "trace": (lambda m: lambda x: m.trace(x), (3, 4)),
    "t": (lambda m: lambda x: m.t(x), (2, 3)),
    "t_1d": (lambda m: lambda x: x.t(), (3,)),
    "t_0d": (lambda m: lambda x: x.t(), ()),
    "swapaxes": (lambda m: lambda x: m.swapaxes(x, 0, -1), (2, 3, 4)),
    "swapdims": (lambda m: lambda x: x.swapdims(1, 2), (2, 3, 4)),
    "movedim": (lambda m: lambda x: m.movedim(x, (0, 1), (2, 0)), (2, 3, 4)),
    "moveaxis": (lambda m: lambda x: m.moveaxis(x, -1, 0), (2, 3, 4)),
    "unflatten": (lambda m: lambda x: m.unflatten(x, -1, (2, -1)), (3, 4)),
    "narrow": (lambda m: lambda x: m.narrow(x, 1, -3, 2), (3, 4)),
    "narrow_axis": (lambda m: lambda x: x.narrow(0, 1, 2), (3, 4)),
    "repeat": (lambda m: lambda x: x.repeat(2, 1, 3), (3, 2)),
    "repeat_same": (lambda m: lambda x: x.repeat((2, 2)), (3, 2)),
    "repeat_zero": (lambda m: lambda x: x.repeat(0, 2), (3,)),
    "tile": (lambda m: lambda x: m.tile(x, (2,)), (3, 2)),
    "tile_more": (lambda m: lambda x: x.tile((2, 1, 2)), (3,)),
    "repeat_interleave": (lambda m: lambda x: m.repeat_interleave(x, 2, dim=1), (3, 2)),
    "repeat_interleave_flat": (lambda m: lambda x: x.repeat_interleave(3), (3, 2)),
    "repeat_interleave_neg": (lambda m: lambda x: x.repeat_interleave(2, dim=-2), (3, 2)),
    "repeat_interleave_0d": (lambda m: lambda x: x.repeat_interleave(2), ()),
    "unfold": (lambda m: lambda x: x.unfold(1, 3, 2), (2, 7, 3)),
    "unfold_last": (lambda m: lambda x: x.unfold(-1, 2, 1), (2, 5)),
    "unfold_big_step": (lambda m: lambda x: x.unfold(0, 2, 5), (6,)),
    "unfold_0d": (lambda m: lambda x: x.unfold(0, 1, 1), ()),
    "broadcast_to": (lambda m: lambda x: m.broadcast_to(x, (2, -1, 3)), (4, 1)),
    "squeeze_tuple": (lambda m: lambda x: m.squeeze(x, (0, 2, -1)), (1, 3, 1, 2)),
    "squeeze_neg": (lambda m: lambda x: x.squeeze(-2), (2, 1, 3)),
    "tensor_split": (lambda m: lambda x: m.tensor_split(x, 3, 1), (2, 7)),
    "tensor_split_idx": (lambda m: lambda x: m.tensor_split(x, [1, 5, 3, 9, -2], 1), (2, 7)),
    "tensor_split_many": (lambda m: lambda x: x.tensor_split(5), (3,)),
    "hsplit": (lambda m: lambda x: m.hsplit(x, [1, 3]), (2, 7)),
    "hsplit_1d": (lambda m: lambda x: m.hsplit(x, 2), (6,)),
    "vsplit": (lambda m: lambda x: m.vsplit(x, 2), (4, 3)),
    "dsplit": (lambda m: lambda x: m.dsplit(x, 2), (2, 2, 4)),
    "hstack": (lambda m: lambda x, y: m.hstack([x, y]), (2, 3), (2, 1)),
    "hstack_1d": (lambda m: lambda x, y: m.hstack((x, y)), (), (3,)),
    "vstack": (lambda m: lambda x, y: m.vstack([x, y]), (3,), (2, 3)),
    "row_stack": (lambda m: lambda x, y: m.row_stack([x, y]), (3,), (3,)),
    "dstack": (lambda m: lambda x, y: m.dstack([x, y]), (3,), (1, 3, 2)),
    "column_stack": (lambda m: lambda x, y, z: m.column_stack([x, y, z]), (3,), (3, 2), (3,)),
    "atleast_1d": (lambda m: lambda x: m.atleast_1d(x), ()),
    "atleast_2d": (lambda m: lambda x, y: m.atleast_2d(x, y), (3,), (2, 3, 4)),
    "atleast_3d": (lambda m: lambda x, y, z: m.atleast_3d([x, y, z]), (), (3,), (2, 3)),
    "meshgrid_ij": (lambda m: lambda x, y, z: m.meshgrid(x, y, z, indexing="ij"), (3,), (2,), ()),
    "meshgrid_xy": (lambda m: lambda x, y, z: m.meshgrid([x, y, z], indexing="xy"), (3,), (2,), (4,)),
    "broadcast_tensors": (lambda m: lambda x, y: m.broadcast_tensors(x, y), (3, 1), (2,)),
}

# ---------------------------------------------------------------- linear algebra
LINALG_CASES: dict[str, tuple] = {
    "mm": (lambda m: lambda x, y: m.mm(x, y), (3, 2), (2, 4)),
    "mm_method": (lambda m: lambda x, y: x.mm(y), (1, 2), (2, 1)),
    "bmm": (lambda m: lambda x, y: m.bmm(x, y), (2, 3, 2), (2, 2, 4)),
    "mv": (lambda m: lambda x, y: m.mv(x, y), (3, 2), (2,)),
    "dot": (lambda m: lambda x, y: m.dot(x, y), (3,), (3,)),
    "vdot": (lambda m: lambda x, y: m.vdot(x, y), (3,), (3,)),
    "addmm": (lambda m: lambda z, x, y: m.addmm(z, x, y), (3, 4), (3, 2), (2, 4)),
    "addmm_scaled": (lambda m: lambda z, x, y: m.addmm(z, x, y, beta=0.5, alpha=2), (4,), (3, 2), (2, 4)),
    "addmm_beta0": (lambda m: lambda z, x, y: z.addmm(x, y, beta=0, alpha=-1.5), (1, 4), (3, 2), (2, 4)),
    "baddbmm": (lambda m: lambda z, x, y: m.baddbmm(z, x, y, beta=0.5, alpha=2), (3, 1), (2, 3, 2), (2, 2, 4)),
    "outer": (lambda m: lambda x, y: m.outer(x, y), (3,), (4,)),
    "ger": (lambda m: lambda x, y: m.ger(x, y), (3,), (2,)),
    "inner": (lambda m: lambda x, y: m.inner(x, y), (2, 3), (4, 3)),
    "inner_1d": (lambda m: lambda x, y: m.inner(x, y), (3,), (3,)),
    "inner_0d": (lambda m: lambda x, y: m.inner(x, y), (), (2, 3)),
    "tensordot_pairs": (lambda m: lambda x, y: m.tensordot(x, y, ([0, 2], [1, 0])), (2, 3, 4), (4, 2, 5)),
    "tensordot_int": (lambda m: lambda x, y: m.tensordot(x, y, 1), (2, 3), (3, 5)),
    "tensordot_default": (lambda m: lambda x, y: m.tensordot(x, y), (2, 3, 4), (3, 4, 2)),
    "tensordot_zero": (lambda m: lambda x, y: m.tensordot(x, y, dims=0), (2,), (3,)),
    "tensordot_neg": (lambda m: lambda x, y: m.tensordot(x, y, dims=([-1], [0])), (2, 3), (3, 4)),
    "kron": (lambda m: lambda x, y: m.kron(x, y), (2, 3), (4,)),
    "kron_3d": (lambda m: lambda x, y: m.kron(x, y), (2, 1, 2), (2, 3)),
    "kron_0d": (lambda m: lambda x, y: m.kron(x, y), (), (3,)),
}

EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),
    ("b i j, b j k -> b i k", [(2, 2, 3), (2, 3, 4)]),
    ("bij,bjk,bkl->bil", [(2, 2, 3), (2, 3, 4), (2, 4, 2)]),
    ("i,j,k", [(2,), (3,), (2,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("ij,k->", [(2, 3), (4,)]),
    ("ba,ab->", [(3, 2), (2, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("Ab,bA", [(2, 3), (3, 2)]),
    ("i...->...", [(2, 3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ij,j->i", [(2, 3), (1,)]),
]


@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_functions(name: str) -> None:
    make, *shapes = SHAPE_CASES[name]
    _check(make(bp), make(torch), *shapes)


@pytest.mark.parametrize("name", sorted(LINALG_CASES))
def test_linalg_functions(name: str) -> None:
    make, *shapes = LINALG_CASES[name]
    _check(make(bp), make(torch), *shapes)


@pytest.mark.parametrize(("equation", "shapes"), EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum(equation: str, shapes: list) -> None:
    _check(lambda *xs: bp.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), *shapes)


def test_einsum_list_and_sublist_forms() -> None:
    _check(lambda x, y: bp.einsum("ij,jk", [x, y]), lambda x, y: torch.einsum("ij,jk", [x, y]), (2, 3), (3, 4))
    _check(
        lambda x, y: bp.einsum(x, [0, 1], y, [1, 2], [0, 2]),
        lambda x, y: torch.einsum(x, [0, 1], y, [1, 2], [0, 2]),
        (2, 3),
        (3, 4),
    )
    _check(
        lambda x, y: bp.einsum(x, [0, 1], y, [1, 0]), lambda x, y: torch.einsum(x, [0, 1], y, [1, 0]), (2, 3), (3, 2)
    )


@pytest.mark.parametrize(("equation", "shapes"), [("ij,jk->ik", [(2, 3), (3, 4)]), ("iij,j->i", [(3, 3, 2), (2,)])])
def test_einsum_double_backward(equation: str, shapes: list) -> None:
    """create_graph=True: the backward is itself einsum (and diag_embed), so second derivatives match torch."""
    arrays = [RNG.standard_normal(s) for s in shapes]
    ours = [bp.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    gb = bp.autograd.grad((bp.einsum(equation, *ours) ** 2).sum(), ours, create_graph=True)
    gt = torch.autograd.grad((torch.einsum(equation, *theirs) ** 2).sum(), theirs, create_graph=True)
    sum(g.sum() for g in gb).backward()
    sum(g.sum() for g in gt).backward()
    for b, t in zip(ours, theirs):
        np.testing.assert_allclose(b.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("fn", "specs"),
    [
        (lambda m: lambda x, y: m.mm(x, y), [((3, 3), "int64"), ((3, 2), "int64")]),
        (lambda m: lambda x, y: m.outer(x, y), [((3,), "int32"), ((2,), "int64")]),
        (lambda m: lambda x, y: m.outer(x, y), [((3,), "float32"), ((2,), "float64")]),
        (lambda m: lambda x, y: m.kron(x, y), [((2, 2), "int32"), ((3,), "float32")]),
        (lambda m: lambda x, y: m.inner(x, y), [((2, 3), "int32"), ((3,), "int32")]),
        (lambda m: lambda x, y: m.tensordot(x, y, 1), [((2, 3), "int64"), ((3,), "int64")]),
        (lambda m: lambda x, y: m.einsum("ij,jk->ik", x, y), [((2, 3), "int32"), ((3, 2), "int32")]),
        (lambda m: lambda x, y: m.hstack([x, y]), [((3,), "float32"), ((2,), "float64")]),
        (lambda m: lambda x, y: m.vstack([x, y]), [((3,), "int64"), ((3,), "float32")]),
        (lambda m: lambda x, y: m.stack([x, y], 1), [((3,), "int32"), ((3,), "int64")]),
        (lambda m: lambda x, y: m.cat([x, y], axis=0), [((3,), "bool"), ((3,), "float64")]),
    ],
)
def test_dtypes(fn: Callable, specs: list) -> None:
    """Integer products stay integer, and mixed dtypes promote where torch promotes."""
    arrays = [RNG.integers(-3, 3, shape).astype(dtype) for shape, dtype in specs]
    out_b = fn(bp)(*[bp.tensor(a) for a in arrays])
    out_t = fn(torch)(*[torch.tensor(a) for a in arrays])
    assert out_b.dtype.name == str(out_t.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out_b.detach().numpy(), out_t.detach().numpy())


def test_trace_dtypes() -> None:
    for dtype in ("int32", "int64", "float32"):
        a = RNG.integers(-3, 3, (3, 4)).astype(dtype)
        ours, theirs = bp.trace(bp.tensor(a)), torch.trace(torch.tensor(a))
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        assert ours.item() == theirs.item()


def test_repeat_interleave_tensor_repeats() -> None:
    x = RNG.standard_normal((3, 2))
    for reps, dim in (([1, 0, 3], 0), ([2, 1], 1), ([2], 0)):
        _check(
            lambda t, r=reps, d=dim: t.repeat_interleave(bp.tensor(r), dim=d),
            lambda t, r=reps, d=dim: t.repeat_interleave(torch.tensor(r), dim=d),
            x,
        )
    ours, theirs = bp.repeat_interleave(bp.tensor([2, 0, 1])), torch.repeat_interleave(torch.tensor([2, 0, 1]))
    assert ours.tolist() == theirs.tolist() and ours.dtype.name == "int64"


def test_meshgrid_default_is_ij() -> None:
    x, y = np.arange(3.0), np.arange(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.meshgrid(torch.tensor(x), torch.tensor(y))
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        ours = bp.meshgrid(bp.tensor(x), bp.tensor(y))
    for b, t in zip(ours, theirs):
        np.testing.assert_array_equal(b.detach().numpy(), t.detach().numpy())


def test_axis_aliases() -> None:
    x = RNG.standard_normal((1, 4, 1))
    assert bp.tensor(x).squeeze(axis=(0, 2)).shape == (4,)
    assert bp.tensor(x).narrow(axis=1, start=1, length=2).shape == (1, 2, 1)
    assert [t.shape for t in bp.tensor_split(bp.tensor(x), 2, axis=1)] == [(1, 2, 1), (1, 2, 1)]
    assert bp.tensor(x).repeat_interleave(2, axis=1).shape == (1, 8, 1)


ERRORS: dict[str, tuple] = {
    "t_3d": (lambda m: lambda x: m.t(x), [_z(2, 3, 4)]),
    "mm_1d": (lambda m: lambda x, y: m.mm(x, y), [_z(3), _z(3, 4)]),
    "mm_3d": (lambda m: lambda x, y: m.mm(x, y), [_z(2, 2, 3), _z(3, 4)]),
    "mm_shapes": (lambda m: lambda x, y: m.mm(x, y), [_z(2, 3), _z(4, 5)]),
    "mm_dtypes": (lambda m: lambda x, y: m.mm(x, y), [_z(2, 3), _z(3, 4, dtype="float64")]),
    "bmm_2d": (lambda m: lambda x, y: m.bmm(x, y), [_z(2, 3), _z(3, 4)]),
    "bmm_batch": (lambda m: lambda x, y: m.bmm(x, y), [_z(2, 2, 3), _z(3, 3, 4)]),
    "bmm_broadcast": (lambda m: lambda x, y: m.bmm(x, y), [_z(1, 2, 3), _z(2, 3, 4)]),
    "bmm_dtypes": (lambda m: lambda x, y: m.bmm(x, y), [_z(2, 2, 3), _z(2, 3, 4, dtype="float64")]),
    "dot_2d": (lambda m: lambda x, y: m.dot(x, y), [_z(3, 1), _z(3)]),
    "dot_sizes": (lambda m: lambda x, y: m.dot(x, y), [_z(3), _z(4)]),
    "dot_dtypes": (lambda m: lambda x, y: m.dot(x, y), [_z(3), _z(3, dtype="float64")]),
    "addmm_shape": (lambda m: lambda z, x, y: m.addmm(z, x, y), [_z(3, 3), _z(2, 3), _z(3, 3)]),
    "addmm_dtype": (lambda m: lambda z, x, y: m.addmm(z, x, y), [_z(2, 3, dtype="float64"), _z(2, 3), _z(3, 3)]),
    "baddbmm_2d": (lambda m: lambda z, x, y: m.baddbmm(z, x, y), [_z(2, 2), _z(2, 3), _z(3, 2)]),
    "outer_2d": (lambda m: lambda x, y: m.outer(x, y), [_z(3, 1), _z(3)]),
    "inner_dtypes": (lambda m: lambda x, y: m.inner(x, y), [_z(3), _z(3, dtype="float64")]),
    "inner_sizes": (lambda m: lambda x, y: m.inner(x, y), [_z(2, 3), _z(4)]),
    "tensordot_dtypes": (lambda m: lambda x, y: m.tensordot(x, y, 1), [_z(3, 4), _z(4, 5, dtype="float64")]),
    "tensordot_sizes": (lambda m: lambda x, y: m.tensordot(x, y, 1), [_z(3, 4), _z(5, 5)]),
    "tensordot_lists": (lambda m: lambda x, y: m.tensordot(x, y, ([0, 1], [0])), [_z(3, 4), _z(3, 4)]),
    "einsum_dtypes": (lambda m: lambda x, y: m.einsum("ij,jk->ik", x, y), [_z(3, 4), _z(4, 5, dtype="float64")]),
    "einsum_repeat_size": (lambda m: lambda x: m.einsum("ii->i", x), [_z(3, 4)]),
    "einsum_sizes": (lambda m: lambda x, y: m.einsum("i,i", x, y), [_z(3), _z(4)]),
    "einsum_ndim": (lambda m: lambda x: m.einsum("ij->", x), [_z(3)]),
    "einsum_operands": (lambda m: lambda x: m.einsum("ij,jk->ik", x), [_z(3, 3)]),
    "einsum_output_unknown": (lambda m: lambda x: m.einsum("ij->k", x), [_z(3, 3)]),
    "einsum_output_twice": (lambda m: lambda x: m.einsum("ij->ii", x), [_z(3, 3)]),
    "trace_3d": (lambda m: lambda x: m.trace(x), [_z(3, 4, 5)]),
    "trace_bool": (lambda m: lambda x: m.trace(x), [_z(3, 3, dtype="bool")]),
    "repeat_fewer": (lambda m: lambda x: x.repeat(2), [_z(2, 3)]),
    "unfold_size": (lambda m: lambda x: x.unfold(1, 4, 1), [_z(2, 3)]),
    "unfold_step": (lambda m: lambda x: x.unfold(1, 2, 0), [_z(2, 3)]),
    "hsplit_divisible": (lambda m: lambda x: m.hsplit(x, 3), [_z(2, 4)]),
    "vsplit_1d": (lambda m: lambda x: m.vsplit(x, 2), [_z(4)]),
    "dsplit_2d": (lambda m: lambda x: m.dsplit(x, 2), [_z(4, 2)]),
    "diag_3d": (lambda m: lambda x: m.diag(x), [_z(2, 3, 4)]),
    "diagonal_same_dims": (lambda m: lambda x: m.diagonal(x, 0, 1, 1), [_z(2, 3)]),
    "diagonal_dim_range": (lambda m: lambda x: m.diagonal(x, 0, 0, 2), [_z(2, 3)]),
    "narrow_past_end": (lambda m: lambda x: x.narrow(1, 2, 2), [_z(2, 3)]),
    "narrow_start": (lambda m: lambda x: x.narrow(1, 4, 0), [_z(2, 3)]),
    "meshgrid_2d": (lambda m: lambda x, y: m.meshgrid(x, y, indexing="ij"), [_z(2, 2), _z(3)]),
    "meshgrid_indexing": (lambda m: lambda x: m.meshgrid(x, indexing="yx"), [_z(2)]),
    "repeat_interleave_size": (lambda m: lambda x, r: m.repeat_interleave(x, r, dim=1), [_z(2, 3), np.array([1, 2])]),
    "repeat_interleave_negative": (lambda m: lambda r: m.repeat_interleave(r), [np.array([1, -1])]),
    "roll_align": (lambda m: lambda x: m.roll(x, (1, 2), (0,)), [_z(2, 3)]),
    "movedim_counts": (lambda m: lambda x: m.movedim(x, (0, 1), (1,)), [_z(2, 3)]),
    "movedim_repeat": (lambda m: lambda x: m.movedim(x, (0, 0), (1, 0)), [_z(2, 3)]),
    "tril_1d": (lambda m: lambda x: m.tril(x), [_z(3)]),
    "triu_0d": (lambda m: lambda x: m.triu(x), [_z()]),
    "flip_repeat": (lambda m: lambda x: m.flip(x, (0, 0)), [_z(2, 3)]),
    "squeeze_repeat": (lambda m: lambda x: x.squeeze((0, 0)), [_z(1, 3)]),
    "unflatten_sizes": (lambda m: lambda x: x.unflatten(1, (2, 2)), [_z(2, 3)]),
    "broadcast_to": (lambda m: lambda x: m.broadcast_to(x, (2, 3)), [_z(3, 3)]),
    "tensor_split_0": (lambda m: lambda x: m.tensor_split(x, 0), [_z(3)]),
    "kron_none": (lambda m: lambda x: m.kron(x, None), [_z(3)]),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_as_torch(name: str) -> None:
    make, arrays = ERRORS[name]
    _both_raise(make(bp), make(torch), *arrays)


def test_error_messages_name_the_op() -> None:
    with pytest.raises(RuntimeError, match=r"^mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)$"):
        bp.mm(bp.zeros(2, 3), bp.zeros(4, 5))
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):  # torch's
        bp.einsum("ij,jk", bp.zeros(2, 3), bp.zeros(3, 4, dtype=bp.float64))
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions, but self is 3D"):
        bp.zeros(2, 3, 4).t()


def test_einsum_triple_subscript_gradient_is_not_implemented() -> None:
    x = bp.tensor(RNG.standard_normal((2, 2, 2)), requires_grad=True)
    y = bp.einsum("iii->i", x)
    np.testing.assert_allclose(y.detach().numpy(), np.einsum("iii->i", x.detach().numpy()))
    with pytest.raises(NotImplementedError, match="appears 3 times"):
        y.sum().backward()
