"""The rest of torch's shape, indexing, sorting and counting functions against torch: values, dtypes,
shapes and gradients (``unique``, ``bincount``, ``searchsorted``, ``index_put``, ``masked_scatter``,
``*_scatter``, ``quantile``, ``mode``, ``rot90``, ``block_diag``, the in-place shape methods, ...),
edge cases included (empty inputs, negative dims and indices, ties, NaN)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)


def _pair(data: Any, dtype: str = "float64", grad: bool = True) -> tuple[bp.Tensor, Any]:
    a = np.asarray(data, dtype=dtype)
    return bp.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _ints(data: Any, dtype: str = "int64") -> tuple[bp.Tensor, Any]:
    a = np.asarray(data, dtype=dtype)
    return bp.tensor(a), torch.tensor(a)


def _same(got: Any, want: Any, dtype: bool = True, tol: float = 1e-6) -> None:
    w = want.detach().numpy()
    g = np.asarray(got.detach().numpy() if hasattr(got, "grad_fn") else got)
    assert g.shape == w.shape, (g.shape, w.shape)
    if dtype:
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=tol, atol=1e-9, equal_nan=True)


def _grads_same(y: Any, u: Any, pairs: list) -> None:
    """Backward with one random upstream gradient through both; the leaves' gradients agree."""
    g = RNG.standard_normal(tuple(u.shape))
    y.backward(bp.tensor(g, dtype=y.dtype))
    u.backward(torch.tensor(g, dtype=u.dtype))
    for x, t in pairs:
        if t.grad is None:
            assert x.grad is None or not np.any(x.grad.numpy())
        else:
            _same(x.grad, t.grad)


# ---------------------------------------------------------------- unique, bincount, histc, histogram
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("consecutive", [False, True])
def test_unique(dim: Any, consecutive: bool) -> None:
    a = np.array([[2, 1, 2], [2, 1, 2], [0, 1, 1], [0, 1, 1], [2, 1, 2]])
    x, t = _ints(a)
    if consecutive:
        got = bp.unique_consecutive(x, return_inverse=True, return_counts=True, dim=dim)
        want = torch.unique_consecutive(t, return_inverse=True, return_counts=True, dim=dim)
    else:
        got = bp.unique(x, return_inverse=True, return_counts=True, dim=dim)
        want = torch.unique(t, return_inverse=True, return_counts=True, dim=dim)
    for g, w in zip(got, want):
        _same(g, w)
    _same(x.unique(), t.unique())


def test_unique_floats_empty_and_single_outputs() -> None:
    x, t = _ints([3.5, -1.0, 3.5, 0.0], "float32")
    _same(bp.unique(x), torch.unique(t))
    v, c = bp.unique(x, return_counts=True)
    _same(c, torch.unique(t, return_counts=True)[1])
    e, te = _ints(np.zeros(0, np.int64))
    for g, w in zip(bp.unique(e, return_inverse=True, return_counts=True), torch.unique(te, True, True, True)):
        _same(g, w)


@pytest.mark.parametrize("weights", [None, "float32", "float64"])
def test_bincount(weights: Any) -> None:
    a = np.array([3, 1, 2, 3, 1, 0, 7])
    x, t = _ints(a)
    w = RNG.standard_normal(7).astype(weights) if weights else None
    bw, tw = (None, None) if w is None else (bp.tensor(w), torch.tensor(w))
    _same(bp.bincount(x, bw), torch.bincount(t, tw), tol=1e-5)
    _same(x.bincount(bw, minlength=10), t.bincount(tw, minlength=10), tol=1e-5)
    with pytest.raises(RuntimeError):
        bp.bincount(bp.tensor([1, -1]))
    with pytest.raises(RuntimeError):
        bp.bincount(bp.tensor([[1]]))
    _same(bp.bincount(bp.tensor(np.zeros(0, np.int64))), torch.bincount(torch.zeros(0, dtype=torch.int64)))


@pytest.mark.parametrize("args", [(4, 0.0, 3.0), (5, 0.0, 0.0), (3, -1.0, 0.5)])
def test_histc(args: tuple) -> None:
    a = np.array([1.0, 2.0, 1.0, 0.0, 3.0, -0.7, 2.99, 5.0], dtype=np.float32)
    x, t = _ints(a, "float32")
    _same(bp.histc(x, *args), torch.histc(t, *args))
    _same(x.histc(bins=args[0], min=args[1], max=args[2]), t.histc(bins=args[0], min=args[1], max=args[2]))
    with pytest.raises(NotImplementedError):
        bp.histc(bp.tensor([1, 2]))


def test_histogram() -> None:
    x, t = _ints([1.0, 2.0, 1.0, 2.5], "float32")
    w, tw = _ints([1.0, 2.0, 4.0, 0.5], "float32")
    got, want = bp.histogram(x, 4, range=(0.0, 3.0), weight=w), torch.histogram(t, 4, range=(0.0, 3.0), weight=tw)
    _same(got.hist, want.hist)
    _same(got.bin_edges, want.bin_edges)


# ---------------------------------------------------------------- searchsorted, bucketize, isin
@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_and_bucketize(right: bool) -> None:
    s, ts = _ints([1, 3, 5, 7])
    v, tv = _ints([[3, 6, 9], [0, 1, 7]])
    _same(bp.searchsorted(s, v, right=right), torch.searchsorted(ts, tv, right=right))
    _same(bp.searchsorted(s, v, side="right" if right else "left"), torch.searchsorted(ts, tv, right=right))
    _same(bp.searchsorted(s, 3, right=right), torch.searchsorted(ts, 3, right=right))
    _same(bp.searchsorted(s, v, out_int32=True), torch.searchsorted(ts, tv, out_int32=True))
    s2, ts2 = _ints([[1, 3, 5], [2, 4, 6]])
    v2, tv2 = _ints([[3, 0], [6, 7]])
    _same(bp.searchsorted(s2, v2, right=right), torch.searchsorted(ts2, tv2, right=right))
    u, tu = _ints([7, 1, 5, 3])
    order, torder = _ints([1, 3, 2, 0])
    _same(bp.searchsorted(u, v, sorter=order), torch.searchsorted(tu, tv, sorter=torder))
    _same(bp.bucketize(v, s, right=right), torch.bucketize(tv, ts, right=right))
    with pytest.raises(RuntimeError):
        bp.searchsorted(s, v, right=True, side="left")


def test_isin() -> None:
    e, te = _ints([[1, 2, 3], [4, 5, 6]])
    t, tt = _ints([2, 6, 9])
    _same(bp.isin(e, t), torch.isin(te, tt))
    _same(bp.isin(e, t, invert=True), torch.isin(te, tt, invert=True))
    _same(bp.isin(e, 2), torch.isin(te, 2))
    _same(bp.isin(3, t), torch.isin(3, tt))


# ---------------------------------------------------------------- take, select, rot90, narrow_copy, ravel, ...
def test_take_and_select() -> None:
    x, t = _pair(RNG.standard_normal((3, 4)))
    i, ti = _ints([[0, -1], [5, 5]])
    y, u = bp.take(x, i), torch.take(t, ti)
    _same(y, u)
    _grads_same(y, u, [(x, t)])  # repeated indices accumulate
    with pytest.raises(IndexError):
        x.take(bp.tensor([12]))
    x, t = _pair(RNG.standard_normal((3, 4)))
    y, u = x.select(-1, -2), t.select(-1, -2)
    _same(y, u)
    _grads_same(y * 2, u * 2, [(x, t)])
    _same(bp.select(x, 0, 1), torch.select(t, 0, 1))
    with pytest.raises(IndexError):
        x.select(0, 3)


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, 0), (0, 2)])
def test_rot90(k: int, dims: tuple) -> None:
    x, t = _pair(RNG.standard_normal((2, 3, 4)))
    y, u = bp.rot90(x, k, dims), torch.rot90(t, k, dims)
    _same(y, u)
    _grads_same(y, u, [(x, t)])


def test_rot90_errors() -> None:
    with pytest.raises(RuntimeError):
        bp.rot90(bp.ones(3), 1, (0, 1))
    with pytest.raises(RuntimeError):
        bp.rot90(bp.ones(3, 3), 1, (0, 0))


def test_small_shape_methods() -> None:
    x, t = _pair(RNG.standard_normal((2, 3, 4)))
    _same(x.ravel(), t.ravel())
    _same(bp.ravel(x), torch.ravel(t))
    o, to = _pair(np.zeros((4, 6)))
    _same(x.reshape_as(o), t.reshape_as(to))
    y, u = x.narrow_copy(1, 1, 2), t.narrow_copy(1, 1, 2)
    _same(y, u)
    assert not np.shares_memory(y.detach().numpy(), x.detach().numpy())
    for a, b in zip(x.split_with_sizes([1, 3], -1), t.split_with_sizes([1, 3], -1)):
        _same(a, b)
    with pytest.raises(RuntimeError):
        x.split_with_sizes([1, 2], 0)
    for a, b in zip(bp.unsafe_split(x, 2, 2), torch.unsafe_split(t, 2, 2)):
        _same(a, b)
    for a, b in zip(bp.unsafe_chunk(x, 2, 1), torch.unsafe_chunk(t, 2, 1)):
        _same(a, b)
    s, ts = x.sum_to_size(1, 4), t.sum_to_size(1, 4)
    _same(s, ts)
    _grads_same(s, ts, [(x, t)])
    _same(x.sum_to_size(3, 1), t.sum_to_size(3, 1))
    with pytest.raises(RuntimeError):
        x.sum_to_size(2, 2)


@pytest.mark.parametrize("offset", [0, 1, -2])
def test_diagflat(offset: int) -> None:
    x, t = _pair(RNG.standard_normal((2, 2)))
    y, u = bp.diagflat(x, offset), torch.diagflat(t, offset)
    _same(y, u)
    _grads_same(y, u, [(x, t)])
    _same(bp.diagflat(bp.tensor(3.0)), torch.diagflat(torch.tensor(3.0)))


# ---------------------------------------------------------------- in place: shapes, triangles, scans, diagonals
def test_inplace_shape_methods() -> None:
    x, t = _pair(RNG.standard_normal((2, 3)))
    a, b = x * 1, t * 1
    a.t_()
    b.t_()
    a.unsqueeze_(0)
    b.unsqueeze_(0)
    a.transpose_(0, 2)
    b.transpose_(0, 2)
    a.swapdims_(0, 1)
    b.swapdims_(0, 1)
    a.squeeze_()
    b.squeeze_()
    a.swapaxes_(0, 1)
    b.swapaxes_(0, 1)
    _same(a, b)
    _grads_same(a, b, [(x, t)])
    with pytest.raises(RuntimeError):
        x.t_()  # a leaf that requires grad, as torch
    plain = bp.ones(2, 1)
    assert plain.squeeze_(1) is plain and plain.shape == (2,)


def test_inplace_triangles_and_scans() -> None:
    x, t = _pair(RNG.standard_normal((3, 4)))
    a, b = x * 1, t * 1
    a.tril_(1).triu_(-1).cumsum_(1).cumprod_(0)
    b.tril_(1).triu_(-1).cumsum_(1).cumprod_(0)
    _same(a, b)
    _grads_same(a, b, [(x, t)])
    i, ti = _ints([[1, 2], [3, 4]], "int32")
    i.cumsum_(0)
    ti.cumsum_(0)
    _same(i, ti)


@pytest.mark.parametrize(
    "shape,wrap", [((3, 3), False), ((5, 3), True), ((5, 3), False), ((2, 4), True), ((3, 3, 3), False)]
)
def test_fill_diagonal(shape: tuple, wrap: bool) -> None:
    x, t = _pair(RNG.standard_normal(shape))
    a, b = x * 1, t * 1
    a.fill_diagonal_(7.5, wrap)
    b.fill_diagonal_(7.5, wrap)
    _same(a, b)
    _grads_same(a, b, [(x, t)])
    with pytest.raises(RuntimeError):
        bp.zeros(2, 3, 2).fill_diagonal_(1)


# ---------------------------------------------------------------- writes at indices
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_copy(dim: int) -> None:
    x, t = _pair(RNG.standard_normal((3, 4, 2)))
    idx = [2, 0] if dim == 0 else [3, 0] if dim == 1 else [1, 0]
    shape = list(x.shape)
    shape[dim] = 2
    s, ts = _pair(RNG.standard_normal(shape))
    i, ti = _ints(idx)
    y, u = bp.index_copy(x, dim, i, s), torch.index_copy(t, dim, ti, ts)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    a, b = x.detach().clone(), t.detach().clone()
    a.index_copy_(dim, i, s.detach())
    b.index_copy_(dim, ti, ts.detach())
    _same(a, b)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put(accumulate: bool) -> None:
    x, t = _pair(RNG.standard_normal((4, 3, 2)))
    i0, ti0 = _ints([0, -1, 2])
    i1, ti1 = _ints([[1], [2]])
    v, tv = _pair(RNG.standard_normal((2, 3, 2)))
    y, u = x.index_put((i0, i1), v, accumulate), t.index_put((ti0, ti1), tv, accumulate)
    _same(y, u)
    _grads_same(y, u, [(x, t), (v, tv)])
    # broadcast values, a bool mask, repeated positions accumulating
    x, t = _pair(RNG.standard_normal((4, 3)))
    m, tm = _ints([True, False, True, True], "bool")
    v, tv = _pair(RNG.standard_normal(3))
    y, u = bp.index_put(x, (m,), v, accumulate), torch.index_put(t, (tm,), tv, accumulate)
    _same(y, u)
    _grads_same(y, u, [(x, t), (v, tv)])
    if accumulate:
        r, tr = _ints([1, 1, 3])
        y, u = x.index_put((r,), v, True), t.index_put((tr,), tv, True)
        _same(y, u)
        _grads_same(y, u, [(x, t), (v, tv)])
    a, b = x.detach().clone(), t.detach().clone()
    a.index_put_((i0[:2], bp.tensor([0, 2])), bp.tensor(5.0, dtype=bp.float64), accumulate)
    b.index_put_((ti0[:2], torch.tensor([0, 2])), torch.tensor(5.0, dtype=torch.float64), accumulate)
    _same(a, b)
    with pytest.raises(IndexError):
        x.index_put((bp.tensor([4]),), bp.tensor(1.0, dtype=bp.float64))


@pytest.mark.parametrize("accumulate", [False, True])
def test_put(accumulate: bool) -> None:
    x, t = _pair(RNG.standard_normal((3, 4)))
    i, ti = _ints([[1, -1], [5, 0]])
    s, ts = _pair(RNG.standard_normal((2, 2)))
    y, u = bp.put(x, i, s, accumulate), torch.put(t, ti, ts, accumulate)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    a, b = x.detach().clone(), t.detach().clone()
    a.put_(i, s.detach(), accumulate)
    b.put_(ti, ts.detach(), accumulate)
    _same(a, b)


@pytest.mark.parametrize("mshape", [(3, 4), (4,), (3, 1)])
def test_masked_scatter(mshape: tuple) -> None:
    x, t = _pair(RNG.standard_normal((3, 4)))
    m, tm = _ints(RNG.random(mshape) < 0.5, "bool")
    s, ts = _pair(RNG.standard_normal((4, 4)))
    y, u = x.masked_scatter(m, s), t.masked_scatter(tm, ts)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    a, b = x * 1, t * 1
    a.masked_scatter_(m, s)
    b.masked_scatter_(tm, ts)
    _same(a, b)
    with pytest.raises(RuntimeError):
        x.masked_scatter(bp.ones(3, 4, dtype=bp.bool), bp.ones(3, dtype=bp.float64))


def test_select_slice_diagonal_scatter() -> None:
    x, t = _pair(RNG.standard_normal((4, 5)))
    s, ts = _pair(RNG.standard_normal(4))
    y, u = bp.select_scatter(x, s, 1, -2), torch.select_scatter(t, ts, 1, -2)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    x, t = _pair(RNG.standard_normal((4, 5)))
    s, ts = _pair(RNG.standard_normal((4, 2)))
    y, u = x.slice_scatter(s, 1, 1, None, 2), t.slice_scatter(ts, 1, 1, None, 2)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    x, t = _pair(RNG.standard_normal((2, 4, 3)))
    s, ts = _pair(RNG.standard_normal((4, 1)))
    y, u = bp.diagonal_scatter(x, s, -1, 0, 2), torch.diagonal_scatter(t, ts, -1, 0, 2)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    x, t = _pair(RNG.standard_normal((3, 5)))
    s, ts = _pair(RNG.standard_normal(3))
    y, u = x.diagonal_scatter(s, 1), t.diagonal_scatter(ts, 1)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])
    with pytest.raises(RuntimeError):
        bp.diagonal_scatter(x, bp.ones(2, dtype=bp.float64))


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta")
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce(reduce: str, include_self: bool) -> None:
    x, t = _pair(RNG.standard_normal((4, 3)))
    s, ts = _pair(RNG.standard_normal((5, 3)))
    i, ti = _ints([0, 2, 0, 3, 2])
    y = x.index_reduce(0, i, s, reduce, include_self=include_self)
    u = t.index_reduce(0, ti, ts, reduce, include_self=include_self)
    _same(y, u)
    _grads_same(y, u, [(x, t), (s, ts)])


def test_unravel_index() -> None:
    i, ti = _ints([[4, 1], [0, 23]])
    for g, w in zip(bp.unravel_index(i, (2, 3, 4)), torch.unravel_index(ti, (2, 3, 4))):
        _same(g, w)
    for g, w in zip(bp.unravel_index(bp.tensor(5), 6), torch.unravel_index(torch.tensor(5), 6)):
        _same(g, w)


# ---------------------------------------------------------------- functions of several tensors, factories
def test_block_diag_cartesian_prod_combinations() -> None:
    a, ta = _pair(RNG.standard_normal((2, 3)))
    b, tb = _pair(RNG.standard_normal(2))
    c, tc = _pair(1.5)
    y, u = bp.block_diag(a, b, c), torch.block_diag(ta, tb, tc)
    _same(y, u)
    _grads_same(y, u, [(a, ta), (b, tb), (c, tc)])
    _same(
        bp.block_diag(bp.ones(1, 2, dtype=bp.int64), bp.tensor(3.0)),
        torch.block_diag(torch.ones(1, 2, dtype=torch.int64), torch.tensor(3.0)),
    )
    a, ta = _pair([1.0, 2.0, 3.0])
    b, tb = _pair([4.0, 5.0])
    y, u = bp.cartesian_prod(a, b), torch.cartesian_prod(ta, tb)
    _same(y, u)
    _grads_same(y, u, [(a, ta), (b, tb)])
    _same(bp.cartesian_prod(a), torch.cartesian_prod(ta))
    for r in (0, 2, 3, 4):
        for rep in (False, True):
            y, u = bp.combinations(a, r, rep), torch.combinations(ta, r, rep)
            _same(y, u)
    y, u = bp.combinations(a, 2, True), torch.combinations(ta, 2, True)
    _grads_same(y, u, [(a, ta)])


def test_factories_and_broadcast_shapes() -> None:
    for args in [(3, 3), (3, 4, 1), (4, 3, -1), (0, 2)]:
        _same(bp.tril_indices(*args), torch.tril_indices(*args))
        _same(bp.triu_indices(*args), torch.triu_indices(*args))
    _same(bp.logspace(0, 2, 3), torch.logspace(0, 2, 3))
    _same(bp.logspace(-1, 3, 5, base=2, dtype=bp.float64), torch.logspace(-1, 3, 5, base=2, dtype=torch.float64))
    assert bp.broadcast_shapes((2, 1), (3,), 1) == tuple(torch.broadcast_shapes((2, 1), (3,), 1))
    with pytest.raises(RuntimeError):
        bp.broadcast_shapes((2,), (3,))


# ---------------------------------------------------------------- diff, quantile, nanmedian, mode, aminmax, renorm
@pytest.mark.parametrize("n,dim", [(1, -1), (2, 0), (3, 1), (0, 0)])
def test_diff(n: int, dim: int) -> None:
    x, t = _pair(RNG.standard_normal((3, 4)))
    y, u = bp.diff(x, n, dim), torch.diff(t, n, dim)
    _same(y, u)
    if u.numel():
        _grads_same(y, u, [(x, t)])
    p, tp = _pair(RNG.standard_normal((3, 4)))
    y, u = x.diff(n, dim, prepend=p, append=p), t.diff(n, dim, prepend=tp, append=tp)
    _same(y, u)


def test_diff_bools_ints_and_errors() -> None:
    b, tb = _ints([True, False, False, True], "bool")
    _same(bp.diff(b), torch.diff(tb))
    i, ti = _ints([1, 4, 9], "int32")
    _same(
        bp.diff(i, prepend=bp.tensor([0], dtype=bp.int32)), torch.diff(ti, prepend=torch.tensor([0], dtype=torch.int32))
    )
    with pytest.raises(RuntimeError):
        bp.diff(bp.ones(2, 3), prepend=bp.tensor(1.0))


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (1, False), (-1, True), (0, False)])
def test_quantile(interpolation: str, dim: Any, keepdim: bool) -> None:
    a = RNG.standard_normal((3, 5))
    a[0, 1] = a[0, 3]  # a tie
    x, t = _pair(a)
    for q in (0.4, [0.0, 0.25, 0.5, 1.0]):
        qb = q if isinstance(q, float) else bp.tensor(q, dtype=bp.float64)
        qt = q if isinstance(q, float) else torch.tensor(q, dtype=torch.float64)
        y = bp.quantile(x, qb, dim, keepdim, interpolation=interpolation)
        u = torch.quantile(t, qt, dim, keepdim, interpolation=interpolation)
        _same(y, u)
    x.grad = t.grad = None
    _grads_same(y, u, [(x, t)])


@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_quantile_nan_and_nanquantile(interpolation: str) -> None:
    a = RNG.standard_normal((3, 6)).astype(np.float32)
    a[0, 2] = np.nan
    a[2, :] = np.nan
    x, t = _pair(a, "float32")
    for q in (0.3, [0.1, 0.9]):
        qb = q if isinstance(q, float) else bp.tensor(q)
        qt = q if isinstance(q, float) else torch.tensor(q)
        _same(x.quantile(qb, 1, interpolation=interpolation), t.quantile(qt, 1, interpolation=interpolation))
        y, u = x.nanquantile(qb, 1, interpolation=interpolation), t.nanquantile(qt, 1, interpolation=interpolation)
        _same(y, u)
    _same(bp.nanquantile(x, 0.5), torch.nanquantile(t, 0.5))
    with pytest.raises(RuntimeError):
        bp.quantile(x, 1.5)
    with pytest.raises(RuntimeError):
        bp.quantile(bp.tensor([1, 2]), 0.5)


def test_nanmedian() -> None:
    a = np.array([[1.0, np.nan, 2.0, 2.0], [3.0, 0.5, np.nan, np.nan], [4.0, 4.0, 1.0, 0.0]])
    x, t = _pair(a)
    y, u = x.nanmedian(), t.nanmedian()
    _same(y, u)
    _grads_same(y, u, [(x, t)])  # shared by the equal elements
    x, t = _pair(a)
    for dim, keepdim in [(1, False), (-1, True), (0, False)]:
        got, want = bp.nanmedian(x, dim, keepdim), torch.nanmedian(t, dim, keepdim)
        _same(got.values, want.values)
        _same(got.indices, want.indices)
    _grads_same(got.values, want.values, [(x, t)])
    x, t = _pair([1.0, 5.0, 3.0, 2.0])
    _same(x.nanmedian(), t.nanmedian())


def test_mode() -> None:
    a = np.array([[1, 2, 2, 1], [3, 3, 1, 1], [5, 4, 4, 4]], dtype=np.float64)
    x, t = _pair(a)
    for dim, keepdim in [(-1, False), (1, True), (0, False)]:
        got, want = bp.mode(x, dim, keepdim), torch.mode(t, dim, keepdim)
        _same(got.values, want.values)
        _same(got.indices, want.indices)
    _grads_same(got.values, want.values, [(x, t)])
    i, ti = _ints([[7, 7, 2], [2, 9, 9]])
    got, want = i.mode(), ti.mode()
    _same(got.values, want.values)
    _same(got.indices, want.indices)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (0, False), (-1, True)])
def test_aminmax(dim: Any, keepdim: bool) -> None:
    a = np.array([[1.0, 5.0, 1.0], [3.0, 5.0, 0.0]])
    x, t = _pair(a)
    got = bp.aminmax(x, dim=dim, keepdim=keepdim)
    want = torch.aminmax(t, dim=dim, keepdim=keepdim)
    _same(got.min, want.min)
    _same(got.max, want.max)
    _grads_same(got.min + got.max * 2, want.min + want.max * 2, [(x, t)])
    mn, mx = bp.aminmax(bp.tensor([3, 1, 2]))
    assert (mn.item(), mx.item()) == (1, 3)


@pytest.mark.parametrize("p,dim,maxnorm", [(2, 0, 1.0), (1, 1, 0.5), (3, -1, 2.0), (2, 0, 100.0)])
def test_renorm(p: float, dim: int, maxnorm: float) -> None:
    x, t = _pair(RNG.standard_normal((3, 4)))
    y, u = bp.renorm(x, p, dim, maxnorm), torch.renorm(t, p, dim, maxnorm)
    _same(y, u)
    _grads_same(y, u, [(x, t)])
    a, b = x * 1, t * 1
    a.renorm_(p, dim, maxnorm)
    b.renorm_(p, dim, maxnorm)
    _same(a, b)


def test_gradcheck_of_compositions() -> None:
    x = bp.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    v = bp.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    i = bp.tensor([2, 0])
    assert bp.gradcheck(lambda a, b: a.index_put((i,), b), (x, v))
    assert bp.gradgradcheck(lambda a, b: a.index_copy(0, i, b), (x, v))
    assert bp.gradcheck(lambda a: a.quantile(bp.tensor([0.3, 0.7], dtype=bp.float64), 1), (x,))
    assert bp.gradcheck(lambda a: a.renorm(2, 0, 1.0), (x,))


def test_resize() -> None:
    for shape in [(2, 2), (4, 2), (6,)]:
        a, b = bp.arange(6).reshape(2, 3), torch.arange(6).reshape(2, 3)
        a.resize_(*shape)
        b.resize_(*shape)
        assert tuple(a.shape) == tuple(b.shape)
        n = min(6, a.numel())
        np.testing.assert_array_equal(a.numpy().reshape(-1)[:n], b.numpy().reshape(-1)[:n])
    a, b = bp.zeros(5), torch.zeros(5)
    bp.resize_as_(a, bp.zeros(1, 3))
    torch.resize_as_(b, torch.zeros(1, 3))
    assert tuple(a.shape) == tuple(b.shape)
    with pytest.raises(RuntimeError):
        bp.zeros(2, requires_grad=True).resize_(3)


def test_empty_inputs_and_negative_dims() -> None:
    e, te = _pair(np.zeros((0, 3)))
    _same(e.diff(dim=0), te.diff(dim=0))
    _same(e.rot90(1, (-1, -2)), te.rot90(1, (-1, -2)))
    _same(bp.take(e, bp.tensor(np.zeros(0, np.int64))), torch.take(te, torch.zeros(0, dtype=torch.int64)))
    s, ts = _ints(np.zeros(0))
    _same(
        bp.searchsorted(bp.tensor([1.0, 2.0], dtype=bp.float64), s),
        torch.searchsorted(torch.tensor([1.0, 2.0], dtype=torch.float64), ts),
    )
    _same(bp.isin(s, s), torch.isin(ts, ts))
    x, t = _pair(RNG.standard_normal((2, 3, 4)))
    got, want = x.mode(-2), t.mode(-2)
    _same(got.values, want.values)
    _same(bp.quantile(x, 0.5, -3), torch.quantile(t, 0.5, -3))
    _same(bp.index_copy(x, -2, bp.tensor([1]), x[:, :1]), torch.index_copy(t, -2, torch.tensor([1]), t[:, :1]))
    with pytest.raises(IndexError):
        x.select(-4, 0)
    with pytest.raises(IndexError):
        bp.diff(x, dim=3)
