"""Sparse gradients, follow-ups, against torch: ``EmbeddingBag(sparse=True)``'s sparse COO ``.grad``, optimizer steps
on it, SparseAdam's refusal of dense gradients, torch's sparse add (equal index runs merged) when a second backward
pass adds into a sparse ``.grad`` and for ``s + s``, hybrid ``to_sparse(1)``, and ``detect_anomaly``."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare against torch")

W = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
IDS = [1, 2, 1, 0, 4, 2, 5]

BAGS = [
    ((IDS, [0, 3, 5]), {"mode": "sum"}),
    ((IDS, [0, 3, 5]), {"mode": "mean"}),
    ((IDS, [0, 3, 3, 5]), {"mode": "mean", "padding_idx": 2}),  # (an empty bag)
    ((IDS, [0, 3, 7]), {"mode": "sum", "include_last_offset": True}),
    (([[1, 2], [2, 2]], None), {"mode": "mean", "padding_idx": 2}),  # (a bag of padding only)
    ((IDS, [0, 3]), {"mode": "sum", "per_sample_weights": np.arange(7, dtype=np.float32)}),
]


def _bag_grad(lib, args, kw):
    w = lib.tensor(W, requires_grad=True)
    inp, off = args
    kw = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    off = None if off is None else lib.tensor(off)
    out = lib.nn.functional.embedding_bag(lib.tensor(inp), w, off, sparse=True, **kw)
    (out * lib.arange(out.numel(), dtype=lib.float32).reshape(out.shape)).sum().backward()
    return w.grad


@pytest.mark.parametrize(("args", "kw"), BAGS, ids=["sum", "mean", "pad_empty", "last_offset", "2d_pad", "psw"])
def test_embedding_bag_sparse_grad_matches_torch(args, kw) -> None:
    t, o = _bag_grad(torch, args, kw), _bag_grad(bp, args, kw)
    assert o.is_sparse and not o.is_coalesced() == (not t.is_coalesced())
    assert (o.sparse_dim(), o.dense_dim(), o._nnz()) == (t.sparse_dim(), t.dense_dim(), t._nnz())
    np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
    np.testing.assert_allclose(o._values().numpy(), t._values().numpy(), rtol=1e-6)
    tc, oc = t.coalesce(), o.coalesce()
    np.testing.assert_array_equal(oc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_allclose(oc.values().numpy(), tc.values().numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "kw"),
    [("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adagrad", {"lr": 0.1}),
     ("SparseAdam", {"lr": 0.1})],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")  # (torch's Adagrad)
@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_module_steps_match_torch(name: str, kw: dict, mode: str) -> None:
    weights, grads = [], []
    for lib in (torch, bp):
        e = lib.nn.EmbeddingBag(6, 3, mode=mode, sparse=True, padding_idx=0)
        with lib.no_grad():
            e.weight.copy_(lib.tensor(W))
        opt = getattr(lib.optim, name)(e.parameters(), **kw)
        for _ in range(3):
            opt.zero_grad()
            (e(lib.tensor(IDS), lib.tensor([0, 2, 5])) ** 2).sum().backward()
            opt.step()
        grads.append(e.weight.grad)
        weights.append(e.weight.detach().numpy())
    assert grads[1].is_sparse and grads[1]._nnz() == grads[0]._nnz()
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-5, atol=1e-6)
    assert (weights[1][3] == W[3]).all() and (weights[1][0] == W[0]).all()  # never looked up / padding


def test_sparse_adam_refuses_dense_gradients_as_torch() -> None:
    for lib in (torch, bp):
        p, q = lib.nn.Parameter(lib.tensor(W)), lib.nn.Parameter(lib.tensor(W))
        opt = lib.optim.SparseAdam([p, q])
        lib.nn.functional.embedding(lib.tensor([1]), p, sparse=True).sum().backward()
        q.grad = lib.ones(6, 3)
        with pytest.raises(RuntimeError, match=r"^SparseAdam does not support dense gradients, please consider Adam"):
            opt.step()


@pytest.mark.parametrize("expanded", [False, True], ids=["contiguous", "expanded"])
def test_second_backward_adds_into_the_sparse_grad_as_torch(expanded: bool) -> None:
    """torch's AccumulateGrad adds in place with its sparse add: equal index runs of the two lookups merge when the
    new values are contiguous, they are appended when they view an expanded gradient (``.sum()`` right after)."""
    c = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    out = []
    for lib in (torch, bp):
        w = lib.tensor(W, requires_grad=True)
        first = None
        for ids in ([[1, 2, 1], [0, 4, 2]], [[2, 5, 0], [1, 1, 3]], [[1, 2, 1], [0, 4, 2]]):
            h = lib.nn.functional.embedding(lib.tensor(ids), w, sparse=True)
            (h if expanded else h * lib.tensor(c)).sum().backward()
            first = w.grad if first is None else first
        assert w.grad is first  # (in place)
        out.append(w.grad)
    t, o = out
    assert o._nnz() == t._nnz() == (18 if expanded else 11) and not o.is_coalesced()
    np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
    np.testing.assert_allclose(o._values().numpy(), t._values().numpy())


@pytest.mark.parametrize("coalesced", [(False, False), (True, False)])
def test_sparse_plus_sparse_merges_equal_index_runs_as_torch(coalesced: tuple[bool, bool]) -> None:
    a_ix, b_ix = [[1, 2, 1, 0], [0, 1, 0, 2]], [[1, 0, 2, 2], [0, 2, 1, 0]]
    out = []
    for lib in (torch, bp):
        a = lib.sparse_coo_tensor(a_ix, lib.tensor([1.0, 2.0, 3.0, 4.0]), (3, 3))
        b = lib.sparse_coo_tensor(b_ix, lib.tensor([10.0, 20.0, 30.0, 40.0]), (3, 3))
        a, b = (s.coalesce() if k else s for s, k in zip((a, b), coalesced))
        out.append((a + b, a - b))
    for t, o in zip(*out):
        assert o._nnz() == t._nnz() and o.is_coalesced() == t.is_coalesced()
        np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
        np.testing.assert_allclose(o._values().numpy(), t._values().numpy())


def test_to_sparse_hybrid_matches_torch() -> None:
    x = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]], np.float32)
    t, o = torch.tensor(x).to_sparse(1), bp.tensor(x).to_sparse(1)
    assert (o.sparse_dim(), o.dense_dim(), o.is_coalesced()) == (t.sparse_dim(), t.dense_dim(), t.is_coalesced())
    np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
    np.testing.assert_array_equal(o._values().numpy(), t._values().numpy())
    for k in (0, 3):
        with pytest.raises(RuntimeError) as want:
            torch.tensor(x).to_sparse(k)
        with pytest.raises(RuntimeError, match="dense_to_sparse") as got:
            bp.tensor(x).to_sparse(k)
        assert str(got.value) == str(want.value)


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled:UserWarning")
def test_detect_anomaly_with_a_sparse_gradient() -> None:
    for lib in (torch, bp):
        with lib.autograd.detect_anomaly():
            w = lib.tensor(W, requires_grad=True)
            lib.nn.functional.embedding(lib.tensor([[1, 2, 1]]), w, sparse=True).mul(2).sum().backward()
        assert w.grad.is_sparse and w.grad._nnz() == 3
