"""Sparse COO leftovers against torch: ``zeros_like``/``empty_like``/``new_zeros`` and ``layout=`` factories
(sparse, not dense), indexing and ``select``/``narrow_copy``, ``unsqueeze``/``cat``/``stack``, torch's errors for
the views its sparse backend lacks, ``sparse.mm`` of vectors, leaf gradients' coalesced flag and
``sparse.as_sparse_gradcheck``."""

import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare against torch")

# torch's own beta-state and invariant-check UserWarnings
pytestmark = pytest.mark.filterwarnings("ignore:Sparse (CSR tensor support|invariant checks):UserWarning")

IX = [[0, 1, 3, 1, 1], [2, 0, 2, 1, 0]]
VALS = [3.0, 4.0, 5.0, 6.0, 7.0]


def _pair(coalesce: bool = False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's "invariant checks are implicitly disabled")
        t = torch.sparse_coo_tensor(torch.tensor(IX), torch.tensor(VALS), (4, 3))
    s = bp.sparse_coo_tensor(bp.tensor(IX), bp.tensor(VALS), (4, 3))
    return (t.coalesce(), s.coalesce()) if coalesce else (t, s)


def _same(t, s):
    assert str(s.layout) == str(t.layout).removeprefix("torch.")
    assert tuple(s.shape) == tuple(t.shape)
    assert str(s.dtype) == str(t.dtype).removeprefix("torch.")
    if str(t.layout) == "torch.sparse_coo":
        assert s.is_coalesced() == t.is_coalesced()
        assert s._nnz() == t._nnz()
        np.testing.assert_array_equal(s._indices().numpy(), t._indices().numpy())
        np.testing.assert_allclose(s._values().detach().numpy(), t._values().detach().numpy())
    np.testing.assert_allclose(s.to_dense().detach().numpy(), t.to_dense().detach().numpy())


def _errors_alike(ft, fs):
    with pytest.raises(Exception) as et:
        ft()
    with pytest.raises(Exception) as es:
        fs()
    assert isinstance(es.value, type(et.value)), (type(es.value), type(et.value))
    assert str(et.value).split(". ")[0] in str(es.value)


@pytest.mark.parametrize("coalesce", [False, True])
@pytest.mark.parametrize("make", ["zeros_like", "empty_like"])
def test_zeros_like_of_sparse_is_sparse(make, coalesce):
    t, s = _pair(coalesce)
    _same(getattr(torch, make)(t), getattr(bp, make)(s))
    out = getattr(bp, make)(s, dtype=bp.float64, requires_grad=True)
    assert out.layout == bp.sparse_coo and out.dtype == bp.float64 and out.requires_grad


def test_zeros_like_layout_arguments():
    t, s = _pair()
    _same(torch.zeros_like(t, layout=torch.strided), bp.zeros_like(s, layout=bp.strided))
    _same(
        torch.zeros_like(torch.ones(2, 3), layout=torch.sparse_coo), bp.zeros_like(bp.ones(2, 3), layout=bp.sparse_coo)
    )
    _same(torch.zeros_like(t.to_sparse_csr()), bp.zeros_like(s.to_sparse_csr()))
    _same(torch.ones_like(t.to_sparse_csr()), bp.ones_like(s.to_sparse_csr()))


@pytest.mark.parametrize("name", ["ones_like", "rand_like", "randn_like", "full_like"])
def test_filled_like_of_sparse_refuses_as_torch(name):
    t, s = _pair()
    args = (2.0,) if name == "full_like" else ()
    _errors_alike(lambda: getattr(torch, name)(t, *args), lambda: getattr(bp, name)(s, *args))


def test_new_zeros_and_new_ones_of_sparse():
    t, s = _pair()
    _same(t.new_zeros(2, 2), s.new_zeros(2, 2))
    _same(t.new_empty((2, 5)), s.new_empty((2, 5)))
    _errors_alike(lambda: t.new_ones(2, 2), lambda: s.new_ones(2, 2))


@pytest.mark.parametrize("layout", ["sparse_coo", "sparse_csr", "sparse_csc"])
def test_factories_with_sparse_layout(layout):
    kw_t = {"layout": getattr(torch, layout), "dtype": torch.float64}
    kw_s = {"layout": getattr(bp, layout), "dtype": bp.float64}
    _same(torch.zeros(2, 3, **kw_t), bp.zeros(2, 3, **kw_s))
    _same(torch.empty(3, 2, **kw_t), bp.empty(3, 2, **kw_s))
    if layout == "sparse_coo":
        _errors_alike(lambda: torch.ones(2, 3, **kw_t), lambda: bp.ones(2, 3, **kw_s))
        _errors_alike(lambda: torch.full((2, 3), 1.0, **kw_t), lambda: bp.full((2, 3), 1.0, **kw_s))


def test_factory_errors_for_sparse_layout():
    _errors_alike(lambda: torch.rand(2, 3, layout=torch.sparse_coo), lambda: bp.rand(2, 3, layout=bp.sparse_coo))
    _errors_alike(lambda: torch.randn(2, layout=torch.sparse_coo), lambda: bp.randn(2, layout=bp.sparse_coo))
    _errors_alike(lambda: torch.zeros(3, layout=torch.sparse_csr), lambda: bp.zeros(3, layout=bp.sparse_csr))
    assert bp.zeros(2, 3, layout=bp.sparse_coo, requires_grad=True).requires_grad


@pytest.mark.parametrize("coalesce", [False, True])
@pytest.mark.parametrize(
    "index", [1, -1, 0, (slice(None), 0), (Ellipsis, 2), (1, 0), (3, 2), None, (None, 1)], ids=repr
)
def test_indexing(index, coalesce):
    t, s = _pair(coalesce)
    _same(t[index], s[index])


@pytest.mark.parametrize("coalesce", [False, True])
def test_select_and_narrow_copy(coalesce):
    t, s = _pair(coalesce)
    for dim, i in [(0, 1), (1, 2), (-1, 0), (0, -1)]:
        _same(t.select(dim, i), s.select(dim, i))
    for dim, start, length in [(0, 1, 2), (1, 0, 2), (0, 0, 4), (1, 3, 0)]:
        _same(t.narrow_copy(dim, start, length), s.narrow_copy(dim, start, length))
    v_t, v_s = t[:, 0], s[:, 0]
    _same(v_t.select(0, 1), v_s.select(0, 1))  # a vector's entry: a 0-d dense tensor (duplicates summed)


def test_indexing_errors():
    t, s = _pair()
    for f in [
        lambda x: x[4],
        lambda x: x[1:3],
        lambda x: x[:],
        lambda x: x.select(1, 3),
        lambda x: x.select(2, 0),
        lambda x: x.narrow_copy(0, 3, 2),
        lambda x: x.narrow(0, 1, 2),
    ]:
        _errors_alike(lambda f=f: f(t), lambda f=f: f(s))
    _errors_alike(lambda: t[torch.tensor([0, 1])], lambda: s[bp.tensor([0, 1])])


def test_select_gradient_reaches_values():
    # torch has no sparse select_backward; ours is the gather's: each entry of row 1 gets its column's weight
    _, s = _pair()
    s.requires_grad_()
    (s[1].to_dense() * bp.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(s.grad.coalesce().to_dense().numpy(), [[0, 0, 0], [1, 2, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("coalesce", [False, True])
def test_unsqueeze_cat_stack(coalesce):
    t, s = _pair(coalesce)
    t2, s2 = _pair(not coalesce)
    for d in (0, 1, 2, -1):
        _same(t.unsqueeze(d), s.unsqueeze(d))
        _same(torch.unsqueeze(t, d), bp.unsqueeze(s, d))
    for d in (0, 1, -1):
        _same(torch.cat([t, t2], d), bp.cat([s, s2], d))
        _same(torch.stack([t, t2], d), bp.stack([s, s2], d))
    _same(torch.cat([t]), bp.cat([s]))
    _same(torch.cat([t, t2, t]), bp.cat([s, s2, s]))


def test_cat_errors_and_gradient():
    t, s = _pair(True)
    _errors_alike(lambda: torch.cat([t, t.t()], 1), lambda: bp.cat([s, s.t()], 1))
    _errors_alike(lambda: torch.stack([t, t.t()]), lambda: bp.stack([s, s.t()]))
    _errors_alike(lambda: torch.cat([t, torch.ones(4, 3)]), lambda: bp.cat([s, bp.ones(4, 3)]))
    # torch cannot differentiate through a sparse cat (as_strided); ours gives each entry both copies' weights
    s.requires_grad_()
    w = bp.arange(24.0).reshape(8, 3)
    (bp.cat([s, s]).to_dense() * w).sum().backward()
    expected = (w[:4] + w[4:]).numpy() * (s.detach().to_dense().numpy() != 0)
    np.testing.assert_allclose(s.grad.to_dense().numpy(), expected)


@pytest.mark.parametrize("op", ["squeeze", "reshape", "flatten", "view"])
def test_views_torch_refuses(op):
    t, s = _pair(True)
    args = {"squeeze": (), "reshape": (12,), "flatten": (), "view": (12,)}[op]
    _errors_alike(lambda: getattr(t, op)(*args), lambda: getattr(s, op)(*args))


def test_function_forms():
    t, s = _pair()
    _same(torch.narrow_copy(t, 0, 1, 2), bp.narrow_copy(s, 0, 1, 2))
    _same(torch.select(t, 1, 0), bp.select(s, 1, 0))
    _errors_alike(lambda: torch.squeeze(t), lambda: bp.squeeze(s))
    _errors_alike(lambda: torch.reshape(t, (12,)), lambda: bp.reshape(s, (12,)))
    _errors_alike(lambda: torch.flatten(t), lambda: bp.flatten(s))


def test_sparse_mm_of_vectors_and_batches():
    t, s = _pair(True)
    _errors_alike(lambda: torch.sparse.mm(t, torch.ones(3)), lambda: bp.sparse.mm(s, bp.ones(3)))
    _errors_alike(lambda: torch.sparse.mm(t[:, 0], torch.ones(4, 2)), lambda: bp.sparse.mm(s[:, 0], bp.ones(4, 2)))
    _errors_alike(lambda: torch.sparse.mm(torch.ones(4), t), lambda: bp.sparse.mm(bp.ones(4), s))
    _errors_alike(lambda: torch.sparse.mm(t, torch.ones(3, 2, 2)), lambda: bp.sparse.mm(s, bp.ones(3, 2, 2)))


@pytest.mark.parametrize("coalesce", [False, True])
def test_leaf_gradient_is_uncoalesced_as_torch(coalesce):
    t, s = _pair(coalesce)
    t.requires_grad_()
    s.requires_grad_()
    torch.sparse.mm(t, torch.ones(3, 2)).sum().backward()
    bp.sparse.mm(s, bp.ones(3, 2)).sum().backward()
    _same(t.grad, s.grad)
    assert not s.grad.is_coalesced()
    _same(t.grad.coalesce(), s.grad.coalesce())


def test_as_sparse_gradcheck():
    t, s = _pair(True)
    s = s.double().requires_grad_()
    check = bp.sparse.as_sparse_gradcheck(bp.autograd.gradcheck)
    assert check(lambda x: bp.sparse.mm(x, bp.ones(3, 2, dtype=bp.float64)), (s,))
    assert check(lambda x: x * 2.0, s)
    assert check(lambda x: x.to_dense().sum(), (s.detach().to_sparse_csr().requires_grad_(),))
