"""Sparse COO tensors (``backprop.sparse``): a 2-layer GCN against torch, coalescing, dense round trips,
gradients w.r.t. the values, and torch's errors for dense-only ops."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import sparse
from backprop._sparse_toplevel import sparse_coo, sparse_coo_tensor, spmm
from backprop.sparse import SparseTensor

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (the comparison needs it)")

IDX = [[0, 1, 1, 2, 0], [0, 0, 2, 1, 0]]  # (0, 0) twice
VAL = [1.0, 2.0, 3.0, 4.0, 5.0]
DENSE = np.array([[6.0, 0, 0], [2, 0, 3], [0, 4, 0]])


def _dense(t: bp.Tensor) -> np.ndarray:
    """A sparse result's dense values (and a check that it is sparse)."""
    assert isinstance(t, SparseTensor), type(t)
    return t.to_dense().detach().numpy()


def _adjacency(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """pygcn's normalised adjacency D^-1 (A + I) of a random graph, as COO indices and values."""
    a = (rng.random((n, n)) < 0.3).astype(np.float64)
    a = np.maximum(a, a.T) + np.eye(n)
    a = a / a.sum(1, keepdims=True)
    rows, cols = np.nonzero(a)
    return np.stack([rows, cols]).astype(np.int64), a[rows, cols]


def test_construction_attributes_and_coalesce() -> None:
    s = sparse_coo_tensor(IDX, bp.tensor(VAL), (3, 3))
    assert isinstance(s, bp.Tensor) and isinstance(s, SparseTensor)
    assert s.is_sparse and s.layout is sparse_coo and s.layout is not bp.strided
    assert s.shape == (3, 3) and s.size() == (3, 3) and s.size(1) == 3 and s.dim() == 2 and s.numel() == 9
    assert s.dtype == np.float32 and s._nnz() == 5 and not s.is_coalesced()
    with pytest.raises(RuntimeError, match="uncoalesced"):
        s.indices()
    c = s.coalesce()
    assert c.is_coalesced() and c._nnz() == 4
    np.testing.assert_array_equal(c.indices().numpy(), [[0, 1, 1, 2], [0, 0, 2, 1]])
    np.testing.assert_array_equal(c.values().numpy(), [6.0, 2.0, 3.0, 4.0])  # the duplicate (0, 0) summed
    np.testing.assert_array_equal(s.to_dense().numpy(), DENSE)
    assert sparse_coo_tensor([[0, 3], [1, 0]], [1.0, 2.0]).shape == (4, 2)  # size inferred
    with pytest.warns(UserWarning, match="deprecated"):
        legacy = sparse.FloatTensor(bp.tensor(IDX), bp.tensor(VAL, dtype=bp.float64), bp.Size([3, 3]))
    assert legacy.dtype == np.float32 and legacy.shape == (3, 3)
    np.testing.assert_array_equal(legacy.to_dense().numpy(), DENSE)


def test_dense_round_trips_and_transpose() -> None:
    x = bp.tensor(DENSE)
    s = sparse.from_dense(x)
    assert s.is_coalesced() and s._nnz() == 4 and s.dtype == np.float64
    np.testing.assert_array_equal(s.to_dense().numpy(), DENSE)
    np.testing.assert_array_equal(s.t().to_dense().numpy(), DENSE.T)
    np.testing.assert_array_equal(s.transpose(0, 1).coalesce().to_dense().numpy(), DENSE.T)
    np.testing.assert_array_equal((2 * s).to_dense().numpy(), 2 * DENSE)
    np.testing.assert_array_equal((s * 3.0 / 2).to_dense().numpy(), 1.5 * DENSE)
    np.testing.assert_array_equal((s - s).to_dense().numpy(), np.zeros((3, 3)))
    np.testing.assert_array_equal((-s + s.double()).coalesce().values().numpy(), np.zeros(4))
    # gradients flow from the dense result back to the dense source through to_sparse
    x.requires_grad_()
    (sparse.from_dense(x).to_dense() * bp.tensor(DENSE)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), DENSE * (DENSE != 0))


def test_sums_and_softmax_closed_form() -> None:
    s = sparse_coo_tensor(IDX, bp.tensor(VAL, dtype=bp.float64), (3, 3))
    assert float(sparse.sum(s)) == 15.0 and float(s.sum()) == 15.0
    np.testing.assert_array_equal(_dense(sparse.sum(s, 0)), DENSE.sum(0))
    np.testing.assert_array_equal(_dense(sparse.sum(s, 1)), DENSE.sum(1))
    assert sparse.sum(s, [0, 1]).ndim == 0 and float(sparse.sum(s, (0, 1))) == 15.0
    sm = sparse.softmax(s, 1).to_dense().numpy()
    row1 = np.exp([2.0, 3.0]) / np.exp([2.0, 3.0]).sum()
    np.testing.assert_allclose(sm[1], [row1[0], 0.0, row1[1]])
    np.testing.assert_allclose(sm[0], [1.0, 0.0, 0.0])  # the only stored entry of its row
    lsm = sparse.log_softmax(s, 1).coalesce().values().numpy()
    np.testing.assert_allclose(lsm, np.log(sparse.softmax(s, 1).values().numpy()))
    np.testing.assert_allclose(
        sparse.addmm(bp.ones(3, 1, dtype=bp.float64), s, bp.ones(3, 1, dtype=bp.float64), beta=2, alpha=0.5).numpy()[
            :, 0
        ],
        2 + 0.5 * DENSE.sum(1),
    )


def test_mm_gradients_closed_form() -> None:
    rng = np.random.default_rng(0)
    s = sparse_coo_tensor(IDX, bp.tensor(VAL, dtype=bp.float64), (3, 3), requires_grad=True)
    assert s.requires_grad and s.is_leaf and s.grad is None
    d = bp.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    gy = rng.standard_normal((3, 2))
    y = sparse.mm(s, d)
    np.testing.assert_allclose(y.detach().numpy(), DENSE @ d.detach().numpy())
    (y * bp.tensor(gy)).sum().backward()
    np.testing.assert_allclose(d.grad.numpy(), DENSE.T @ gy)
    full = gy @ d.detach().numpy().T  # dL/dS on S's pattern
    g = s.grad
    assert isinstance(g, SparseTensor) and not g.is_coalesced()  # (torch marks a leaf's sparse gradient so)
    np.testing.assert_allclose(g.to_dense().numpy(), full * (DENSE != 0))
    np.testing.assert_allclose((s @ bp.ones(3, dtype=bp.float64)).detach().numpy(), DENSE.sum(1))
    # finite differences, double backward included
    v = bp.tensor(VAL, dtype=bp.float64, requires_grad=True)
    x = bp.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    fn = lambda v, x: spmm(sparse_coo_tensor(IDX, v, (3, 3)), x)  # noqa: E731
    assert bp.gradcheck(fn, (v, x)) and bp.gradgradcheck(fn, (v, x))


def test_errors_for_dense_only_ops() -> None:
    s = sparse_coo_tensor(IDX, bp.tensor(VAL), (3, 3))
    with pytest.raises(NotImplementedError, match="aten::exp.*SparseCPU"):
        s.exp()
    with pytest.raises(NotImplementedError, match="SparseCPU"):
        s.view(9)
    with pytest.raises(TypeError, match="can't convert Sparse layout tensor to numpy"):
        s.numpy()
    with pytest.raises(RuntimeError, match=r"add\(sparse, dense\) is not supported. Use add\(dense, sparse\) instead."):
        s + bp.ones(3, 3)
    with pytest.raises(RuntimeError, match=r"addmm: Argument #3 \(dense\): Expected dim 0 size 3, got 2"):
        sparse.mm(s, bp.ones(2, 2))
    with pytest.raises(RuntimeError, match="same nnz"):
        sparse_coo_tensor(IDX, [1.0, 2.0], (3, 3))
    with pytest.raises(RuntimeError, match="size is inconsistent with indices: for dim 0, size is 2 but found index 2"):
        sparse_coo_tensor(IDX, VAL, (2, 3))
    with pytest.raises(RuntimeError, match="found negative index -1 for dim 1"):
        sparse_coo_tensor([[0], [-1]], [1.0], (2, 2))


def test_pickle_save_load_and_copy(tmp_path: Path) -> None:
    s = sparse_coo_tensor(IDX, bp.tensor(VAL), (3, 3), requires_grad=True)
    back = pickle.loads(pickle.dumps(s))
    assert isinstance(back, SparseTensor) and back.requires_grad and not back.is_coalesced()
    np.testing.assert_array_equal(back.detach().to_dense().numpy(), DENSE)
    path = tmp_path / "adj.pt"
    bp.save({"adj": s.detach().coalesce()}, path)
    loaded = bp.load(path, weights_only=False)["adj"]
    assert loaded.is_coalesced() and loaded.layout is sparse_coo
    np.testing.assert_array_equal(loaded.to_dense().numpy(), DENSE)
    dup = copy.deepcopy(s)
    assert dup.requires_grad and dup._values() is not s._values()
    assert "layout=sparse_coo" in repr(s) and "nnz=5" in repr(s)


@needs_torch
def test_gcn_two_layers_match_torch() -> None:
    """pygcn's model, relu(A relu(A X W1) W2) with log_softmax and nll, on the same weights and adjacency."""
    rng = np.random.default_rng(3)
    n, f, h, c = 12, 5, 4, 3
    idx, val = _adjacency(n, rng)
    x = rng.standard_normal((n, f)).astype(np.float32)
    w1 = (rng.standard_normal((f, h)) * 0.5).astype(np.float32)
    w2 = (rng.standard_normal((h, c)) * 0.5).astype(np.float32)
    labels = rng.integers(0, c, n)

    def run(lib, make_adj, mm):
        adj = make_adj(idx, val)
        p1 = lib.tensor(w1, requires_grad=True)
        p2 = lib.tensor(w2, requires_grad=True)
        hid = lib.relu(mm(adj, lib.tensor(x) @ p1))
        out = mm(adj, hid @ p2)
        loss = lib.nn.functional.nll_loss(lib.log_softmax(out, 1), lib.tensor(labels))
        loss.backward()
        return out.detach().numpy(), loss.item(), p1.grad.numpy(), p2.grad.numpy(), adj

    def torch_adj(i, v):
        return torch.sparse_coo_tensor(
            torch.from_numpy(i), torch.from_numpy(v.astype(np.float32)), (n, n), check_invariants=True
        )

    def bp_adj(i, v):
        return sparse_coo_tensor(i, bp.tensor(v.astype(np.float32)), (n, n), check_invariants=True)

    want = run(torch, torch_adj, torch.spmm)
    got = run(bp, bp_adj, spmm)
    for a, b in zip(got[:4], want[:4]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert got[4].layout is sparse_coo and got[4].dtype == np.float32


@needs_torch
def test_values_gradient_matches_torch() -> None:
    rng = np.random.default_rng(5)
    idx, val = _adjacency(6, rng)
    d = rng.standard_normal((6, 3))
    gy = rng.standard_normal((6, 3))
    ts = torch.sparse_coo_tensor(
        torch.from_numpy(idx), torch.from_numpy(val), (6, 6), requires_grad=True, check_invariants=True
    )
    td = torch.tensor(d, requires_grad=True)
    (torch.sparse.mm(ts, td) * torch.from_numpy(gy)).sum().backward()
    bs = sparse_coo_tensor(idx, bp.tensor(val), (6, 6), requires_grad=True, check_invariants=True)
    bd = bp.tensor(d, requires_grad=True)
    (sparse.mm(bs, bd) * bp.tensor(gy)).sum().backward()
    assert bd.grad is not None and td.grad is not None and ts.grad is not None
    np.testing.assert_allclose(bd.grad.numpy(), td.grad.numpy(), rtol=1e-12)
    g = bs.grad
    assert isinstance(g, SparseTensor)
    np.testing.assert_allclose(_dense(g), ts.grad.to_dense().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(g.coalesce().indices().numpy(), ts.grad.coalesce().indices().numpy())
    for dim in (0, 1):
        np.testing.assert_allclose(
            sparse.softmax(bs.detach(), dim).to_dense().numpy(),
            torch.sparse.softmax(ts.detach(), dim).to_dense().numpy(),
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            _dense(sparse.sum(bs.detach(), dim)),
            torch.sparse.sum(ts.detach(), dim).to_dense().numpy(),
            rtol=1e-12,
        )
