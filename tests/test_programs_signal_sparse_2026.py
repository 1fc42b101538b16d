"""Signal and sparse programs as torch users write them, against torch 2.13: stft's missing-window warning,
``hann_window``'s errors, and sparse COO tensors in a GCN layer (``abs`` of duplicates, ``A + B`` of coalesced
adjacencies, ``is_coalesced`` of one entry, ``torch.mv``, reprs)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")

IDX = [[0, 1, 1, 2], [2, 0, 2, 1]]
VAL = [3.0, 4.0, 5.0, 6.0]


def _np(x: Any) -> Any:
    return x.detach().numpy() if hasattr(x, "detach") else x


def _both(fn: Any) -> tuple[Any, Any]:
    """fn(torch), fn(bp); torch's warnings about unchecked sparse invariants are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = fn(torch)
    return want, fn(bp)


def _warned(fn: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            fn()
        except RuntimeError:
            pass
    return [str(w.message).split(" (Triggered internally")[0] for w in seen]


# ---------------------------------------------------------------- stft and windows


def test_stft_without_a_window_warns_as_torch() -> None:
    """torch warns once per process; the first call in a fresh torch process gives this message."""
    x = bp.tensor(np.sin(np.arange(400) * 0.3))
    msg = (
        "A window was not provided. A rectangular window will be applied,which is known to cause spectral leakage. "
        "Other windows such as torch.hann_window or torch.hamming_window are recommended to reduce spectral "
        "leakage.To suppress this warning and use a rectangular window, explicitly set "
        "`window=torch.ones(n_fft, device=<device>)`."
    )
    assert _warned(lambda: bp.stft(x, 64, return_complex=True)) == [msg]
    assert _warned(lambda: bp.stft(x, 64)) == [msg]  # (before the return_complex error, as torch)
    assert _warned(lambda: bp.stft(x, 64, window=bp.hann_window(64, dtype=bp.float64), return_complex=True)) == []
    assert _warned(lambda: bp.stft(x, 64, window=bp.ones(64, dtype=bp.float64), return_complex=True)) == []


@pytest.mark.parametrize("bad", [-1, "int"])
def test_hann_window_errors_name_hann_window(bad: Any) -> None:
    def make(L: Any) -> Any:
        return L.hann_window(8, dtype=L.int64) if bad == "int" else L.hann_window(bad)

    for L in (torch, bp):
        with pytest.raises(RuntimeError, match="^hann_window "):
            make(L)


# ---------------------------------------------------------------- sparse COO


def test_abs_of_an_uncoalesced_tensor_sums_duplicates_first() -> None:
    """|-3 + 1| = 2 at index 0 (torch coalesces before abs), not |-3| + |1| = 4; the gradient too."""

    def run(L: Any) -> Any:
        s = L.sparse_coo_tensor([[0, 0, 1]], [-3.0, 1.0, -2.0], (3,), requires_grad=True)
        y = s.abs()
        (y.to_dense() * L.tensor([1.0, 2.0, 3.0])).sum().backward()
        return y.to_dense(), y.is_coalesced(), y._nnz(), s.grad.to_dense()

    want, got = _both(run)
    np.testing.assert_allclose(_np(got[0]), [2.0, 2.0, 0.0])
    np.testing.assert_allclose(_np(got[0]), _np(want[0]))
    assert got[1:3] == want[1:3] == (True, 2)
    np.testing.assert_allclose(_np(got[3]), _np(want[3]))


def test_sum_of_coalesced_adjacencies_is_coalesced() -> None:
    """(A + I).indices() works in torch when both are coalesced: the sum is merged, sorted, zeros kept."""

    def run(L: Any) -> Any:
        a = L.sparse_coo_tensor(IDX, VAL, (3, 3)).coalesce()
        eye = L.sparse_coo_tensor([[0, 1, 2], [0, 1, 2]], [1.0, 1.0, 1.0], (3, 3)).coalesce()
        b = L.sparse_coo_tensor([[0, 1], [2, 0]], [-3.0, 1.0], (3, 3)).coalesce()
        s, d = a + eye, a - b
        return s.is_coalesced(), s.indices(), s.values(), d.indices(), d.values(), d._nnz(), repr(a + b)

    want, got = _both(run)
    assert got[0] is want[0] is True
    for w, g in zip(want[1:5], got[1:5]):
        np.testing.assert_array_equal(_np(g), _np(w))
    assert got[5] == want[5] == 4
    assert got[6] == want[6].replace("torch.", "")


def test_one_entry_and_empty_tensors_are_coalesced() -> None:
    def run(L: Any) -> Any:
        one = L.sparse_coo_tensor([[1]], [2.0], (3,))
        empty = L.sparse_coo_tensor(L.empty(2, 0, dtype=L.int64), L.empty(0), (2, 3))
        two = L.sparse_coo_tensor([[1, 0]], [2.0, 1.0], (3,))
        return one.is_coalesced(), empty.is_coalesced(), two.is_coalesced(), one.indices().tolist(), one.t()._nnz()

    want, got = _both(run)
    assert got == want == (True, True, False, [[1]], 1)


def test_mv_of_a_sparse_matrix() -> None:
    x = np.array([1.0, -2.0, 0.5])

    def run(L: Any) -> Any:
        a = L.sparse_coo_tensor(IDX, VAL, (3, 3), dtype=L.float64, requires_grad=True)
        v = L.tensor(x, requires_grad=True)
        y = L.mv(a, v) + a.mv(v)
        (y * y).sum().backward()
        return y, v.grad, L.mv(a.detach().to_sparse_csr(), v.detach())  # (a.grad: unmasked in torch, README)

    want, got = _both(run)
    for w, g in zip(want, got):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-12)


def _strip(text: str) -> str:
    return text.replace("torch.", "")  # (dtypes and layouts print under NumPy's names here: README)


@pytest.mark.parametrize("case", ["float64", "empty", "int", "long_values"])
def test_sparse_reprs_match_torch(case: str) -> None:
    def make(L: Any) -> Any:
        if case == "float64":
            return L.sparse_coo_tensor(IDX, VAL, (3, 4), dtype=L.float64)
        if case == "empty":
            return L.sparse_coo_tensor(L.empty(2, 0, dtype=L.int64), L.empty(0), (2, 3))
        if case == "int":
            return L.sparse_coo_tensor(IDX, [1, 2, 3, 4], (3, 3), dtype=L.int32)
        n = 40
        return L.sparse_coo_tensor([list(range(n))], [float(i) + 0.5 for i in range(n)], (n,), dtype=L.float64)

    want, got = _both(lambda L: repr(make(L)))
    assert got == _strip(want)


# ---------------------------------------------------------------- a GCN layer on a normalised adjacency


def test_gcn_layer_with_degree_normalisation() -> None:
    """D^-1/2 (A + I) D^-1/2 X W with the self loops added as a sparse identity (a coalesced sum) and the degrees
    from ``A.abs()`` of an adjacency built with duplicate edges."""
    edges = np.array([[0, 1, 1, 2, 2, 3, 3, 4, 0], [1, 0, 2, 1, 3, 2, 4, 3, 1]])  # (0, 1) twice
    xs = np.arange(15, dtype=np.float64).reshape(5, 3) / 10
    ws = np.linspace(-1, 1, 6).reshape(3, 2)

    def run(L: Any) -> Any:
        n = 5
        a = L.sparse_coo_tensor(L.tensor(edges), -L.ones(edges.shape[1], dtype=L.float64), (n, n))
        a = a.abs() + L.sparse_coo_tensor([list(range(n))] * 2, L.ones(n, dtype=L.float64), (n, n)).coalesce()
        deg = L.sparse.sum(a, dim=1).to_dense()
        dinv = deg.pow(-0.5)
        r, c = a.indices()
        ahat = L.sparse_coo_tensor(a.indices(), dinv[r] * a.values() * dinv[c], (n, n))
        w = L.tensor(ws, requires_grad=True)
        h = L.relu(L.sparse.mm(ahat, L.tensor(xs) @ w))
        h.pow(2).sum().backward()
        return deg, h, w.grad

    want, got = _both(run)
    for w_, g in zip(want, got):
        np.testing.assert_allclose(_np(g), _np(w_), rtol=1e-12)
