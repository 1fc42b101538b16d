"""Reductions, sorting and searching at NaN, infinities, ties, empty tensors and integer/bool dtypes,
against torch 2.13: values (NaN positions too), indices, dtypes, gradients and error classes/messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")

NAN, INF = float("nan"), float("inf")


def _np(r: Any) -> Any:
    return r.detach().numpy() if hasattr(r, "detach") else np.asarray(r)


def _same(got: Any, want: Any) -> None:
    g, w = _np(got), _np(want)
    assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
    np.testing.assert_array_equal(g, w)  # NaN equals NaN here


def _raises_as_torch(fn: Any, *arrays: Any) -> None:
    """``fn(module, *tensors)`` raises the same class with the same message in both libraries."""
    with pytest.raises(Exception) as want:
        fn(torch, *[torch.tensor(a) for a in arrays])
    with pytest.raises(Exception) as got:
        fn(bp, *[bp.tensor(a) for a in arrays])
    assert isinstance(got.value, type(want.value)), (type(got.value), type(want.value))
    assert str(got.value) == str(want.value)


# ---------------------------------------------------------------- searchsorted / bucketize at NaN
@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_follows_torchs_bisection_over_a_sequence_with_nans(right: bool) -> None:
    # sort puts NaN last; torch's binary search then answers by the mids it visits (1 -> 6, not 5)
    seq = np.array([-3.0, -2.0, -1.0, 0.0, 1.0, NAN])
    vals = np.array([0.0, NAN, -2.0, INF, 1.0, -3.0, 7.0])
    _same(
        bp.searchsorted(bp.tensor(seq), bp.tensor(vals), right=right),
        torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right),
    )
    _same(
        bp.bucketize(bp.tensor(vals), bp.tensor(seq), right=right),
        torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right),
    )
    _same(
        bp.searchsorted(bp.tensor(seq), 1.0, side="right" if right else "left"),
        torch.searchsorted(torch.tensor(seq), 1.0, side="right" if right else "left"),
    )


def test_searchsorted_with_sorter_over_nans() -> None:
    seq = np.array([NAN, -1.0, 0.0, -1.0, -1.0, -3.0])
    vals = np.array([2.0, 3.0, NAN, 1.0, -1.0])
    for right in (False, True):
        _same(
            bp.searchsorted(bp.tensor(seq), bp.tensor(vals), right=right, sorter=bp.argsort(bp.tensor(seq))),
            torch.searchsorted(
                torch.tensor(seq), torch.tensor(vals), right=right, sorter=torch.argsort(torch.tensor(seq))
            ),
        )


@pytest.mark.parametrize("seed", range(4))
def test_searchsorted_batched_rows_fuzz(seed: int) -> None:
    # rows of boundaries: a NaN value goes past every boundary in torch (it compares False), not before them
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n, m = int(rng.integers(0, 9)), int(rng.integers(0, 5))
        lead = tuple(int(k) for k in rng.integers(1, 3, size=int(rng.integers(0, 3))))
        seq = rng.integers(-3, 4, size=lead + (n,)).astype("float64")
        seq[rng.random(seq.shape) < 0.3] = NAN
        seq = np.sort(seq, -1)
        vals = rng.integers(-4, 5, size=lead + (m,)).astype("float64")
        vals[rng.random(vals.shape) < 0.25] = NAN
        vals[rng.random(vals.shape) < 0.1] = INF
        for right in (False, True):
            for out_int32 in (False, True):
                _same(
                    bp.searchsorted(bp.tensor(seq), bp.tensor(vals), right=right, out_int32=out_int32),
                    torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right, out_int32=out_int32),
                )
