"""Sparse embedding gradients against torch: ``nn.Embedding(sparse=True)``/``F.embedding(..., sparse=True)`` give a
sparse COO ``.grad`` (a row per lookup, uncoalesced, padding rows left out), accumulation over two backward passes,
``zero_grad(set_to_none=False)``, and what SGD (with and without momentum), Adagrad, SparseAdam and the optimizers
that refuse sparse gradients do with them."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="the parity checks compare against torch")

W = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
IDS = [[1, 2, 1], [0, 4, 2]]  # (4 is the padding_idx -2 of 6 rows)


def _embedding(lib, **kw):
    e = lib.nn.Embedding(6, 3, sparse=True, **kw)
    with lib.no_grad():
        e.weight.copy_(lib.tensor(W))
    return e


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 0}, {"padding_idx": -2}], ids=["plain", "pad", "pad_negative"])
def test_embedding_sparse_grad_matches_torch(kw: dict) -> None:
    grads = []
    for lib in (torch, bp):
        e = _embedding(lib, **kw)
        c = lib.tensor(np.arange(18, dtype=np.float32).reshape(2, 3, 3))
        (e(lib.tensor(IDS)) * c).sum().backward()
        grads.append(e.weight.grad)
    t, o = grads
    assert o.is_sparse and o.layout == bp.sparse_coo and not o.is_coalesced()
    assert (o.sparse_dim(), o.dense_dim(), o._nnz()) == (t.sparse_dim(), t.dense_dim(), t._nnz())
    np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
    np.testing.assert_allclose(o._values().numpy(), t._values().numpy())
    tc, oc = t.coalesce(), o.coalesce()
    np.testing.assert_array_equal(oc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_allclose(oc.values().numpy(), tc.values().numpy())
    np.testing.assert_allclose(o.to_dense().numpy(), t.to_dense().numpy())


def test_scale_grad_by_freq_refuses_a_sparse_gradient() -> None:
    for lib in (torch, bp):
        out = _embedding(lib, scale_grad_by_freq=True)(lib.tensor(IDS)).sum()
        with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with sparse gradients"):
            out.backward()


def test_functional_sparse_and_two_backward_passes_accumulate() -> None:
    dense = []
    for lib in (torch, bp):
        w = lib.tensor(W, requires_grad=True)
        for k in (1.0, 2.0):
            (lib.nn.functional.embedding(lib.tensor(IDS), w, sparse=True) * k).sum().backward()
        assert w.grad.is_sparse
        dense.append(w.grad.to_dense().numpy())
    np.testing.assert_allclose(dense[1], dense[0])
    np.testing.assert_allclose(dense[1][1], [6.0, 6.0, 6.0])  # two lookups of row 1, gradients 1 and 2


def test_mixed_with_a_dense_use_of_the_weight() -> None:
    out = []
    for lib in (torch, bp):
        e = _embedding(lib)
        h = e(lib.tensor(IDS))
        (h @ e.weight.t()).sum().backward()  # (tied output projection: a dense gradient too)
        g = e.weight.grad
        out.append((g.is_sparse, g.to_dense().numpy() if g.is_sparse else g.numpy()))
    assert out[0][0] == out[1][0]
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-6)


def test_zero_grad_keeps_an_empty_sparse_grad() -> None:
    for lib in (torch, bp):
        e = _embedding(lib)
        e(lib.tensor(IDS)).sum().backward()
        e.zero_grad(set_to_none=False)
        g = e.weight.grad
        assert g.is_sparse and g._nnz() == 0 and tuple(g._values().shape) == (0, 3)
        assert not g.to_dense().numpy().any()


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("SGD", {"lr": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "maximize": True}),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
        ("SparseAdam", {"lr": 0.1}),
        ("SparseAdam", {"lr": 0.1, "maximize": True}),
    ],
)
@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")  # (torch's Adagrad)
def test_optimizers_on_sparse_gradients_match_torch(name: str, kw: dict) -> None:
    weights = []
    for lib in (torch, bp):
        e = _embedding(lib, padding_idx=0)
        opt = getattr(lib.optim, name)(e.parameters(), **kw)
        for _ in range(3):
            opt.zero_grad()
            (e(lib.tensor(IDS)) ** 2).sum().backward()
            opt.step()
        weights.append(e.weight.detach().numpy())
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-5, atol=1e-6)
    assert (weights[1][3] == W[3]).all()  # a row never looked up is never moved


@pytest.mark.parametrize(
    ("name", "kw"),
    [("Adam", {}), ("AdamW", {}), ("RMSprop", {}), ("Adamax", {}), ("Adadelta", {}), ("SGD", {"weight_decay": 0.1}),
     ("Adagrad", {"weight_decay": 0.1})],
)  # fmt: skip
def test_optimizers_refuse_sparse_gradients_as_torch(name: str, kw: dict) -> None:
    errors = []
    for lib in (torch, bp):
        e = _embedding(lib)
        opt = getattr(lib.optim, name)(e.parameters(), **kw)
        e(lib.tensor(IDS)).sum().backward()
        with pytest.raises(RuntimeError) as info:
            opt.step()
        errors.append(str(info.value))
    assert errors[1] == errors[0]


def test_clip_grad_norm_refuses_sparse_gradients() -> None:
    for lib in (torch, bp):
        e = _embedding(lib)
        e(lib.tensor(IDS)).sum().backward()
        with pytest.raises(NotImplementedError):  # torch has no norm of a sparse tensor
            lib.nn.utils.clip_grad_norm_(e.parameters(), 1.0)
