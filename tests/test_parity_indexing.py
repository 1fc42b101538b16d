"""Indexing, gathers, scatters, masks and sorting against torch: values, dtypes, shapes and gradients
of the public API (Tensor methods, in-place variants and ``bp.*`` functions), edge cases included
(ints mixed with advanced indices, repeated indices, ties, zeros in products, 0-d tensors, errors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

X = np.random.default_rng(0).standard_normal((5, 6, 4))


def _pair(data: Any, dtype: str = "float64", grad: bool = True) -> tuple[bp.Tensor, Any]:
    a = np.asarray(data, dtype=dtype)
    return bp.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _idx(data: Any, dtype: str = "int64") -> tuple[bp.Tensor, Any]:
    a = np.asarray(data, dtype=dtype)
    return bp.tensor(a), torch.tensor(a)


def _same(got: Any, want: Any, dtype: bool = True) -> None:
    w = want.detach().numpy()
    g = np.asarray(got.detach().numpy() if hasattr(got, "grad_fn") else got)
    assert g.shape == w.shape, (g.shape, w.shape)
    if dtype:
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9, equal_nan=True)


def _backward_same(y: Any, u: Any, pairs: list) -> None:
    """Backward with one random upstream gradient through both; the leaves' gradients agree."""
    g = np.random.default_rng(1).standard_normal(tuple(u.shape))
    y.backward(bp.tensor(g))
    u.backward(torch.tensor(g))
    for x, t in pairs:
        if t.grad is None:
            assert x.grad is None or not np.any(x.grad.numpy())
        else:
            _same(x.grad, t.grad)


# ---------------------------------------------------------------- the silent difference: ints with advanced indices
def _pieces(x_bp: Any, x_t: Any) -> Any:
    """Index patterns as (bp index, torch index) pairs."""
    b1, t1 = _idx([1, 3])
    m, tm = _idx([True, False, True, True], "bool")
    m2, tm2 = _idx(np.random.default_rng(3).random((5, 6)) < 0.5, "bool")
    return [
        ((3, slice(2, None), [1, 3]), (3, slice(2, None), [1, 3])),  # torch (4, 2); NumPy (2, 4)
        ((3, slice(2, None), b1), (3, slice(2, None), t1)),
        ((bp.tensor(3), slice(2, None), [1, 3]), (torch.tensor(3), slice(2, None), [1, 3])),
        ((slice(None), 2, [1, 3]), (slice(None), 2, [1, 3])),
        (([0, 1], slice(None), 2), ([0, 1], slice(None), 2)),
        (([0, 4], 1, [1, 2]), ([0, 4], 1, [1, 2])),
        ((1, [0, 1], slice(None)), (1, [0, 1], slice(None))),
        ((-1, slice(None, None, 2), [[0, 3], [1, 1]]), (-1, slice(None, None, 2), [[0, 3], [1, 1]])),
        ((Ellipsis, 1, [0, 0, 2]), (Ellipsis, 1, [0, 0, 2])),
        ((2, Ellipsis, [3, 0]), (2, Ellipsis, [3, 0])),
        ((None, 2, slice(1, 4), [0, 2]), (None, 2, slice(1, 4), [0, 2])),
        ((2, None, slice(None), [0, 2]), (2, None, slice(None), [0, 2])),
        (([1, 2], None, 0, slice(None)), ([1, 2], None, 0, slice(None))),
        ((slice(None), 2, m), (slice(None), 2, tm)),
        ((1, slice(None), m), (1, slice(None), tm)),
        ((m2, 3), (tm2, 3)),
        ((True, 2, slice(None), [1, 1]), (True, 2, slice(None), [1, 1])),
        ((0, False, slice(None), [1]), (0, False, slice(None), [1])),
        (([[0], [4]], 3, [1, 2]), ([[0], [4]], 3, [1, 2])),
        (([0, 1], [2, 3]), ([0, 1], [2, 3])),
        (([0, 1], slice(None), [2, 3]), ([0, 1], slice(None), [2, 3])),
        ((m2,), (tm2,)),
        ((4, 5, 3), (4, 5, 3)),
        ((slice(1, 3), None, Ellipsis), (slice(1, 3), None, Ellipsis)),
        (([], 2), ([], 2)),
    ]


@pytest.mark.parametrize("k", range(25))
def test_getitem_follows_torch_with_ints_and_advanced_indices(k: int) -> None:
    x, t = _pair(X)
    ib, it = _pieces(x, t)[k]
    y, u = x[ib], t[it]
    _same(y, u)
    _backward_same(y, u, [(x, t)])


def test_int_first_example_from_the_docs() -> None:
    x = bp.randn(5, 6, 4)
    assert x[3, 2:, [1, 3]].shape == (4, 2)
    np.testing.assert_array_equal(x[3, 2:, [1, 3]].detach().numpy(), x[3][2:, [1, 3]].detach().numpy())


@pytest.mark.parametrize("k", [0, 3, 5, 7, 9, 11, 13, 15, 16, 18])
def test_setitem_follows_torch(k: int) -> None:
    x, t = _pair(X, grad=False)
    ib, it = _pieces(x, t)[k]
    shape = tuple(t[it].shape)
    v = np.arange(int(np.prod(shape)), dtype="float64").reshape(shape) + 100
    x[ib] = bp.tensor(v)
    t[it] = torch.tensor(v)
    _same(x, t)
    x[ib] = 7.0
    t[it] = 7.0
    _same(x, t)


def test_getitem_double_backward_with_split_index() -> None:
    x, t = _pair(X)
    g = bp.tensor(np.ones((4, 2)), requires_grad=True)
    tg = torch.ones(4, 2, dtype=torch.float64, requires_grad=True)
    (gx,) = bp.autograd.grad(x[3, 2:, [1, 3]], [x], g, create_graph=True)
    (tgx,) = torch.autograd.grad(t[3, 2:, [1, 3]], [t], tg, create_graph=True)
    _same(gx, tgx)
    (gx * bp.tensor(X)).sum().backward()
    (tgx * torch.tensor(X)).sum().backward()
    _same(g.grad, tg.grad)


# ---------------------------------------------------------------- gather / scatter family
I2 = [[0, 2, 2], [3, 0, 1]]  # (2, 3): repeats along dim 1, smaller than (3, 4) in dim 0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim: int) -> None:
    x, t = _pair(np.random.default_rng(2).standard_normal((3, 4)))
    i, ti = _idx(np.array(I2) % (3 if dim == 0 else 4))
    y, u = x.gather(dim, i), torch.gather(t, dim, ti)
    _same(y, u)
    _same(bp.gather(x, dim, i), u)
    _backward_same(y, u, [(x, t)])


def test_gather_int32_index_and_0d() -> None:
    x, t = _pair([[1.0, 2.0], [3.0, 4.0]])
    i, ti = _idx([[1, 1], [0, 1]], "int32")
    _same(x.gather(1, i), t.gather(1, ti))
    s, ts = _pair(5.0)
    for idx in ([0, 0], 0):
        j, tj = _idx(idx)
        y, u = s.gather(0, j), ts.gather(0, tj)
        _same(y, u)


def test_gather_double_backward() -> None:
    x, t = _pair(np.random.default_rng(2).standard_normal((3, 4)))
    i, ti = _idx(I2)
    y, u = (x.gather(1, i) ** 2).sum(), (t.gather(1, ti) ** 2).sum()
    (g,), (tg,) = bp.autograd.grad(y, [x], create_graph=True), torch.autograd.grad(u, [t], create_graph=True)
    _same(g, tg)
    (g**2).sum().backward()
    (tg**2).sum().backward()
    _same(x.grad, t.grad)


@pytest.mark.parametrize("name", ["gather", "scatter", "scatter_add"])
def test_index_errors(name: str) -> None:
    x = bp.zeros(3, 4)
    src = bp.ones(2, 3)
    call = {
        "gather": lambda i: x.gather(1, i),
        "scatter": lambda i: x.scatter(1, i, src),
        "scatter_add": lambda i: x.scatter_add(1, i, src),
    }[name]
    for bad in ([[0, 4, 1], [0, 0, 0]], [[0, -1, 1], [0, 0, 0]]):
        with pytest.raises(IndexError, match="out of bounds for dimension 1 with size 4"):
            call(bp.tensor(bad))
        with pytest.raises(RuntimeError):
            call(bp.tensor(bad))
    for dtype in (bp.float32, bp.bool, bp.int16):
        with pytest.raises(RuntimeError, match="int32/int64"):
            call(bp.tensor([[0, 1, 1], [0, 0, 0]]).to(dtype))
    with pytest.raises(RuntimeError, match="dimensions"):
        call(bp.tensor([0, 1]))


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_and_scatter_add(dim: int) -> None:
    base = np.random.default_rng(4).standard_normal((3, 4))
    srcd = np.random.default_rng(5).standard_normal((3, 4))  # larger than the index: only its (2, 3) block is used
    idx = np.array([[0, 1, 2], [2, 0, 1]]) if dim == 0 else np.array([[3, 0, 1], [2, 1, 0]])  # no repeats
    for name in ("scatter", "scatter_add"):
        x, t = _pair(base)
        s, ts = _pair(srcd)
        i, ti = _idx(idx)
        y, u = getattr(x, name)(dim, i, s), getattr(t, name)(dim, ti, ts)
        _same(y, u)
        _same(getattr(bp, name)(x, dim, i, s), u)
        # torch's backward refuses a src larger than the index; compare on the index's block
        g = np.random.default_rng(1).standard_normal((3, 4))
        y.backward(bp.tensor(g))
        s2 = ts.detach()[:2, :3].clone().requires_grad_()
        t2 = t.detach().clone().requires_grad_()
        getattr(t2, name)(dim, ti, s2).backward(torch.tensor(g))
        _same(x.grad, t2.grad)
        _same(s.grad[:2, :3], s2.grad)
        assert not np.any(s.grad.numpy()[2:]) and not np.any(s.grad.numpy()[:, 3:])


def test_scatter_add_accumulates_repeats_and_scatter_value() -> None:
    x, t = _pair(np.zeros((2, 5)))
    s, ts = _pair(np.arange(8.0).reshape(2, 4))
    i, ti = _idx([[0, 0, 4, 0], [1, 1, 1, 2]])
    y, u = x.scatter_add(1, i, s), t.scatter_add(1, ti, ts)
    _same(y, u)
    _backward_same(y, u, [(x, t), (s, ts)])
    x, t = _pair(np.ones((2, 5)))
    y, u = x.scatter(1, i, 2.5), t.scatter(1, ti, 2.5)
    _same(y, u)
    _same(x.scatter(1, i, value=-1.0), t.scatter(1, ti, value=-1.0))
    _backward_same(y, u, [(x, t)])
    _same(x.scatter(1, i, 2.0, reduce="add"), t.detach().scatter(1, ti, 2.0, reduce="add"))
    want = t.detach().scatter_reduce(1, ti, ts.detach(), "prod")  # torch's reduce= with a src tensor (deprecated)
    _same(x.scatter(1, i, s * 1, reduce="multiply"), want)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce: str, include_self: bool) -> None:
    rng = np.random.default_rng(6)
    base = rng.standard_normal((3, 5))
    srcd = rng.standard_normal((3, 6))
    srcd[0, 1] = srcd[0, 0] = 0.0  # two zeros into one position (prod)
    srcd[1, 2] = 0.0  # a single zero (prod)
    srcd[2, 3] = srcd[2, 4] = 9.0  # a tie for the max
    base[2, 2] = 9.0  # ... shared with self's own value
    base[1, 4] = 0.0
    idx = [[0, 0, 1, 1, 3, 3], [4, 0, 4, 2, 2, 4], [2, 2, 1, 2, 2, 0]]
    x, t = _pair(base)
    s, ts = _pair(srcd)
    i, ti = _idx(idx)
    y = x.scatter_reduce(1, i, s, reduce, include_self=include_self)
    u = t.scatter_reduce(1, ti, ts, reduce, include_self=include_self)
    _same(y, u)
    _same(bp.scatter_reduce(x, 1, i, s, reduce, include_self=include_self), u)
    _backward_same(y, u, [(x, t), (s, ts)])


def test_scatter_reduce_unknown_mode_is_an_error() -> None:
    x, i, s = bp.zeros(2, 3), bp.tensor([[0, 1]]), bp.ones(1, 2)
    for call in (x.scatter_reduce, x.scatter_reduce_):
        with pytest.raises(
            RuntimeError, match="^reduce argument must be either sum, prod, mean, amax or amin, got add$"
        ):
            call(1, i, s, "add")  # (torch's words; "max"/"min" are torch's aliases of "amax"/"amin")


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin", "prod"])
def test_scatter_reduce_integers(reduce: str) -> None:
    x, t = _idx([1, 2, 3, 4, -5])
    s, ts = _idx([4, 5, 7, -3])
    i, ti = _idx([0, 0, 1, 4])
    for inc in (True, False):
        y = x.scatter_reduce(0, i, s, reduce, include_self=inc)
        _same(y, t.scatter_reduce(0, ti, ts, reduce, include_self=inc))


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax"])
def test_scatter_reduce_double_backward(reduce: str) -> None:
    base = np.random.default_rng(7).uniform(0.5, 2, (2, 4))
    srcd = np.random.default_rng(8).uniform(0.5, 2, (2, 3))
    x, t = _pair(base)
    s, ts = _pair(srcd)
    i, ti = _idx([[0, 0, 3], [1, 2, 1]])
    y = (x.scatter_reduce(1, i, s, reduce) ** 2).sum()
    u = (t.scatter_reduce(1, ti, ts, reduce) ** 2).sum()
    gx, gs = bp.autograd.grad(y, [x, s], create_graph=True)
    tgx, tgs = torch.autograd.grad(u, [t, ts], create_graph=True)
    _same(gx, tgx)
    _same(gs, tgs)
    (gx.sum() + (gs**2).sum()).backward()
    (tgx.sum() + (tgs**2).sum()).backward()
    _same(x.grad, t.grad)
    _same(s.grad, ts.grad)


def test_in_place_scatters() -> None:
    i, ti = _idx([[0, 2], [1, 1]])
    for name, args in [
        ("scatter_", (1.5,)),
        ("scatter_add_", None),
        ("scatter_reduce_", "amax"),
    ]:
        x, t = _pair(np.zeros((2, 3)), grad=False)
        s, ts = _pair([[1.0, 2.0], [3.0, 4.0]], grad=False)
        if name == "scatter_":
            r = x.scatter_(1, i, *args)
            t.scatter_(1, ti, *args)
        elif name == "scatter_add_":
            r = x.scatter_add_(1, i, s)
            t.scatter_add_(1, ti, ts)
        else:
            r = x.scatter_reduce_(1, i, s, args)
            t.scatter_reduce_(1, ti, ts, args)
        assert r is x
        _same(x, t)
    # recorded in a graph: gradients through the in-place op, as torch
    a, ta = _pair(np.arange(6.0).reshape(2, 3))
    s, ts = _pair([[1.0, 2.0], [3.0, 4.0]])
    y, u = a * 2, ta * 2
    y.scatter_add_(1, i, s)
    u.scatter_add_(1, ti, ts)
    y.index_fill_(1, bp.tensor([2]), -1.0)
    u.index_fill_(1, torch.tensor([2]), -1.0)
    y.masked_fill_(bp.tensor([True, False, False]), 0.5)
    u.masked_fill_(torch.tensor([True, False, False]), 0.5)
    _same(y, u)
    _backward_same(y, u, [(a, ta), (s, ts)])


# ---------------------------------------------------------------- index_select, index_add, index_fill, take_along_dim
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_add_fill(dim: int) -> None:
    base = np.random.default_rng(9).standard_normal((3, 4))
    n = base.shape[dim]
    idx = [n - 1, 0, n - 1]
    x, t = _pair(base)
    i, ti = _idx(idx)
    y, u = x.index_select(dim, i), torch.index_select(t, dim, ti)
    _same(y, u)
    _same(bp.index_select(x, dim, i), u)
    _backward_same(y, u, [(x, t)])

    x, t = _pair(base)
    shape = list(base.shape)
    shape[dim] = 3
    s, ts = _pair(np.random.default_rng(10).standard_normal(shape))
    y, u = x.index_add(dim, i, s, alpha=2.0), t.index_add(dim, ti, ts, alpha=2.0)
    _same(y, u)
    _same(bp.index_add(x, dim, i, s), torch.index_add(t, dim, ti, ts))
    _backward_same(y, u, [(x, t), (s, ts)])

    x, t = _pair(base)
    v, tv = _pair(3.0)
    y, u = x.index_fill(dim, i, v), t.index_fill(dim, ti, tv)
    _same(y, u)
    _same(x.index_fill(dim, i, -2.0), t.index_fill(dim, ti, -2.0))
    _backward_same(y, u, [(x, t), (v, tv)])


def test_index_select_int32_0d_and_errors() -> None:
    x, t = _pair([[1.0, 2.0, 3.0]])
    i, ti = _idx(2, "int32")
    _same(x.index_select(1, i), t.index_select(1, ti))
    s, ts = _pair(4.0)
    j, tj = _idx([0])
    _same(s.index_select(0, j), ts.index_select(0, tj))
    with pytest.raises(IndexError, match="^index out of range in self$"):
        x.index_select(1, bp.tensor([3]))
    with pytest.raises(RuntimeError, match="vector"):
        x.index_select(1, bp.tensor([[0]]))
    with pytest.raises(RuntimeError, match="int32/int64"):
        x.index_add(1, bp.tensor([0.0]), bp.ones(1, 1))
    with pytest.raises(RuntimeError, match=r"^index_add_\(\): self \(Double\) and source \(Float\) must have the same"):
        x.index_add(1, bp.tensor([0]), bp.ones(1, 2))  # (torch checks the dtypes first)
    with pytest.raises(RuntimeError, match=r"^index_add_\(\): Number of indices \(1\) should be equal to source"):
        x.index_add(1, bp.tensor([0]), bp.ones(1, 2, dtype=x.dtype))


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_take_along_dim(dim: Any) -> None:
    x, t = _pair(np.random.default_rng(11).standard_normal((3, 4)))
    if dim is None:
        idx = [[11, 0, 5]]
    else:
        idx = [[0], [2], [2]] if dim == 0 else [[3], [0], [3]]  # broadcast against x
    i, ti = _idx(idx)
    y, u = bp.take_along_dim(x, i, dim), torch.take_along_dim(t, ti, dim)
    _same(y, u)
    _backward_same(y, u, [(x, t)])
    sorted_ = torch.sort(t, 1).values
    _same(x.take_along_dim(x.argsort(1), 1), sorted_)
    with pytest.raises(RuntimeError, match="int64"):
        x.take_along_dim(bp.tensor([[0]], dtype=bp.int32), 1)
    with pytest.raises(RuntimeError, match="broadcast"):
        x.take_along_dim(bp.tensor([[0, 1, 1]]), 0)


# ---------------------------------------------------------------- masks, nonzero, where
@pytest.mark.parametrize("mshape", [(2, 3), (3,), (2, 1)])
def test_masked_fill_and_masked_select(mshape: tuple) -> None:
    base = np.random.default_rng(12).standard_normal((2, 3))
    m = np.random.default_rng(13).random(mshape) < 0.5
    m.reshape(-1)[0] = True
    x, t = _pair(base)
    mb, mt = _idx(m, "bool")
    y, u = x.masked_fill(mb, 2.0), t.masked_fill(mt, 2.0)
    _same(y, u)
    _same(bp.masked_fill(x, mb, 2.0), u)
    _backward_same(y, u, [(x, t)])
    x, t = _pair(base)
    v, tv = _pair(-1.5)
    y, u = x.masked_fill(mb, v), t.masked_fill(mt, tv)
    _same(y, u)
    _backward_same(y, u, [(x, t), (v, tv)])
    x, t = _pair(base)
    y, u = x.masked_select(mb), torch.masked_select(t, mt)
    _same(y, u)
    _same(bp.masked_select(x, mb), u)
    _backward_same(y, u, [(x, t)])


def test_masked_ops_broadcast_the_input_and_check_dtypes() -> None:
    x, t = _pair([1.0, 2.0, 3.0])
    mb, mt = _idx([[True, False, True], [False, False, True]], "bool")
    y, u = x.masked_select(mb), t.masked_select(mt)
    _same(y, u)
    _backward_same(y, u, [(x, t)])
    xi, ti = _idx([1, 2, 3])
    _same(xi.masked_fill(mb[0], 7.9), ti.masked_fill(mt[0], 7.9))  # cast to the input's dtype
    with pytest.raises(RuntimeError, match="bool"):
        x.masked_fill(bp.tensor([1, 0, 1]), 0.0)
    with pytest.raises(RuntimeError, match="0-dimensional"):
        x.masked_fill(mb[0], bp.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("data", [[[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]], [0, 3, 0, 0, 7], 3.0, 0.0, [[True, False]]])
def test_nonzero(data: Any) -> None:
    a = np.asarray(data)
    x, t = bp.tensor(a), torch.tensor(a)
    _same(x.nonzero(), t.nonzero())
    _same(bp.nonzero(x), torch.nonzero(t))
    _same(bp.argwhere(x), torch.argwhere(t))
    got, want = bp.nonzero(x, as_tuple=True), torch.nonzero(t, as_tuple=True)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _same(g, w)


def test_tensor_where_method() -> None:
    x, t = _pair([1.0, -2.0, 3.0])
    o, to = _pair([10.0, 20.0, 30.0])
    c, tc = _idx([True, False, True], "bool")
    y, u = x.where(c, o), t.where(tc, to)
    _same(y, u)
    _backward_same(y, u, [(x, t), (o, to)])
    _same(x.where(c, 0.0), t.where(tc, 0.0))


# ---------------------------------------------------------------- sorting
TIES = [[3.0, 1.0, 3.0, 2.0, 3.0, 1.0], [0.0, -1.0, 0.0, 0.0, 5.0, -1.0]]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_sort_stable_with_ties(descending: bool, dim: int) -> None:
    x, t = _pair(TIES)
    r = x.sort(dim=dim, descending=descending, stable=True)
    q = torch.sort(t, dim=dim, descending=descending, stable=True)
    _same(r.values, q.values)
    _same(r.indices, q.indices)
    v, i = bp.sort(x, dim=dim, descending=descending, stable=True)  # unpacks like torch's
    _same(i, q.indices)
    _same(
        x.argsort(dim=dim, descending=descending, stable=True),
        torch.argsort(t, dim=dim, descending=descending, stable=True),
    )
    _same(bp.argsort(x, dim, descending), q.indices)
    _backward_same(r.values, q.values, [(x, t)])


def test_sort_nans_ints_and_0d() -> None:
    for desc in (False, True):
        x, t = _pair([1.0, np.nan, 0.0, np.nan, -2.0])
        r, q = x.sort(descending=desc, stable=True), t.sort(descending=desc, stable=True)
        _same(r.values, q.values)
        _same(r.indices, q.indices)
        xi, ti = _idx([3, 1, 3, -2, 1])
        r, q = xi.sort(descending=desc, stable=True), ti.sort(descending=desc, stable=True)
        _same(r.values, q.values)
        _same(r.indices, q.indices)
    s, ts = _pair(2.0)
    r, q = s.sort(), ts.sort()
    _same(r.values, q.values)
    _same(r.indices, q.indices)
    _backward_same(r.values, q.values, [(s, ts)])
    _same(bp.msort(bp.tensor(TIES)), torch.msort(torch.tensor(TIES)))


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_topk(largest: bool, k: int) -> None:
    data = np.random.default_rng(14).standard_normal((3, 6))
    x, t = _pair(data)
    r, q = x.topk(k, largest=largest), torch.topk(t, k, largest=largest)
    _same(r.values, q.values)
    _same(r.indices, q.indices)
    v, i = bp.topk(x, k, dim=0 if k < 3 else 1, largest=largest)
    q0 = torch.topk(t, k, dim=0 if k < 3 else 1, largest=largest)
    _same(v, q0.values)
    _same(i, q0.indices)
    _backward_same(r.values, q.values, [(x, t)])


def test_topk_with_ties_sends_the_gradient_to_the_returned_indices() -> None:
    x, t = _pair(TIES)
    for largest in (True, False):
        r, q = x.topk(3, dim=1, largest=largest), t.topk(3, dim=1, largest=largest)
        _same(r.values, q.values)  # torch leaves the order of tied indices open: values agree
        np.testing.assert_array_equal(
            np.take_along_axis(np.asarray(TIES), r.indices.detach().numpy(), 1), r.values.detach().numpy()
        )
        assert len(set(r.indices.detach().numpy()[0].tolist())) == 3
    r = x.topk(3, dim=1)
    r.values.sum().backward()
    expect = np.zeros((2, 6))
    np.put_along_axis(expect, r.indices.detach().numpy(), 1.0, 1)
    np.testing.assert_array_equal(x.grad.numpy(), expect)
    assert x.grad.numpy().sum() == 6  # one unit per selected element, ties not shared
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(7)


def test_kthvalue() -> None:
    data = np.random.default_rng(15).standard_normal((3, 5))
    x, t = _pair(data)
    r, q = x.kthvalue(2, 1), t.kthvalue(2, 1)
    _same(r.values, q.values)
    _same(r.indices, q.indices)
    _backward_same(r.values, q.values, [(x, t)])
    r, q = bp.kthvalue(x, 3, 0, keepdim=True), torch.kthvalue(t.detach(), 3, 0, keepdim=True)
    _same(r.values, q.values)


def test_sort_gradient_and_double_backward() -> None:
    x, t = _pair(np.random.default_rng(16).standard_normal((2, 5)))
    y, u = (x.sort(1).values ** 3).sum(), (t.sort(1).values ** 3).sum()
    (g,), (tg,) = bp.autograd.grad(y, [x], create_graph=True), torch.autograd.grad(u, [t], create_graph=True)
    _same(g, tg)
    g.sum().backward()
    tg.sum().backward()
    _same(x.grad, t.grad)
