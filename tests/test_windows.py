"""Window functions against torch (and NumPy's symmetric windows), and torch's top-level aliases of
``nn.functional`` (``bp.conv2d``, ``bp.layer_norm``, ...), which share F's signatures."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:
    torch = None

WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


def test_symmetric_windows_are_numpys() -> None:
    np.testing.assert_allclose(bp.hann_window(9, periodic=False).numpy(), np.hanning(9), atol=1e-7)
    np.testing.assert_allclose(bp.hamming_window(9, False).numpy(), np.hamming(9), atol=1e-7)
    np.testing.assert_allclose(bp.blackman_window(9, False).numpy(), np.blackman(9), atol=1e-6)
    np.testing.assert_allclose(bp.bartlett_window(9, False).numpy(), np.bartlett(9), atol=1e-7)
    np.testing.assert_allclose(bp.kaiser_window(9, False, beta=5.0).numpy(), np.kaiser(9, 5.0), atol=1e-6)
    periodic = bp.hann_window(8, dtype=bp.float64).numpy()  # the symmetric window of 9, last sample dropped
    np.testing.assert_allclose(periodic, np.hanning(9)[:8], atol=1e-12)
    with pytest.raises(RuntimeError, match="non-negative"):
        bp.hann_window(-1)
    with pytest.raises(RuntimeError, match="floating point"):
        bp.hann_window(4, dtype=bp.int64)


@pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
@pytest.mark.parametrize("name", WINDOWS)
def test_windows_match_torch(name: str) -> None:
    for n in (0, 1, 2, 7, 10):
        for periodic in (True, False):
            ours, theirs = getattr(bp, name)(n, periodic), getattr(torch, name)(n, periodic)
            assert ours.shape == tuple(theirs.shape) and ours.dtype.name == str(theirs.dtype)[6:]
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)


@pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
def test_top_level_functional_aliases_match_torch() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    xb, xt = bp.tensor(x), torch.tensor(x)
    cases = [
        (lambda m, a, b: m.conv2d(a, b, None, 1, 1), (xb, bp.tensor(w)), (xt, torch.tensor(w))),
        (lambda m, a: m.layer_norm(a, (8,)), (xb,), (xt,)),
        (lambda m, a: m.max_pool2d(a, 2), (xb,), (xt,)),
        (lambda m, a: m.pixel_shuffle(a[:, :2].reshape(2, 8, 4, 4), 2), (xb,), (xt,)),
        (lambda m, a: m.pdist(a[0, 0]), (xb,), (xt,)),
        (lambda m, a: m.cosine_similarity(a[0], a[1]), (xb,), (xt,)),
        (lambda m, a: m.dropout(a, 0.3, False), (xb,), (xt,)),
    ]
    for fn, ours, theirs in cases:
        np.testing.assert_allclose(fn(bp, *ours).numpy(), fn(torch, *theirs).numpy(), rtol=1e-10, atol=1e-12)
