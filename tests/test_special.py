"""``bp.special`` against torch.special (values, dtypes, gradients) and against SciPy's closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special as sp

import backprop as bp

try:
    import torch
except ImportError:
    torch = None

X = np.array([-2.7, -0.5, 0.25, 0.3, 2.5])  # no zero (kinks of entr, xlogy), no pole of psi
P = np.array([0.01, 0.3, 0.5, 0.9])
SCIPY = {
    "i0e": sp.i0e, "i1e": sp.i1e, "i1": sp.i1, "ndtr": sp.ndtr, "log_ndtr": sp.log_ndtr, "expit": sp.expit,
    "gammaln": sp.gammaln, "psi": sp.psi, "erfc": sp.erfc, "i0": sp.i0,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_against_scipy(name: str) -> None:
    x = np.abs(X) if name in ("gammaln", "psi") else X
    np.testing.assert_allclose(getattr(bp.special, name)(bp.tensor(x)).numpy(), SCIPY[name](x), rtol=1e-12)


def test_composites_against_scipy() -> None:
    np.testing.assert_allclose(bp.special.ndtri(bp.tensor(P)).numpy(), sp.ndtri(P), rtol=1e-10)
    np.testing.assert_allclose(bp.special.entr(bp.tensor(np.abs(X))).numpy(), sp.entr(np.abs(X)), rtol=1e-12)
    assert bp.special.entr(bp.tensor([-1.0, 0.0])).tolist() == [-np.inf, 0.0]
    y = np.array([0.5, 1.0, 2.0, 0.1, 3.0])
    np.testing.assert_allclose(bp.special.xlog1py(bp.tensor(X), bp.tensor(y)).numpy(), sp.xlog1py(X, y), rtol=1e-12)
    assert bp.special.xlog1py(0.0, bp.tensor([2.0])).tolist() == [0.0]


@pytest.mark.parametrize("name", ["i0e", "i1e", "ndtr", "log_ndtr", "ndtri", "entr", "expit", "i1"])
def test_gradients(name: str) -> None:
    x = P if name == "ndtri" else np.abs(X) if name == "entr" else X
    assert bp.gradcheck(getattr(bp.special, name), (bp.tensor(x, requires_grad=True),))


@pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
@pytest.mark.parametrize(
    "name", ["i0e", "i1e", "i1", "ndtr", "log_ndtr", "entr", "expit", "gammaln", "psi", "erf", "erfinv", "sinc"]
)
def test_matches_torch(name: str) -> None:
    x = X / 4 if name == "erfinv" else np.abs(X) if name == "entr" else X  # (entr: torch's gradient is NaN below 0)
    for dtype in ("float32", "float64"):
        ours = bp.tensor(x.astype(dtype), requires_grad=True)
        theirs = torch.tensor(x.astype(dtype), requires_grad=True)
        a, b = getattr(bp.special, name)(ours), getattr(torch.special, name)(theirs)
        assert str(a.dtype) == str(b.dtype)[6:]
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5 if dtype == "float32" else 1e-10)
        a.sum().backward()
        b.sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=2e-5 if dtype == "float32" else 1e-9)


@pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")
def test_softmax_family_matches_torch() -> None:
    x = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    for name in ("softmax", "log_softmax"):
        a = getattr(bp.special, name)(bp.tensor(x), 1, dtype=bp.float32)
        b = getattr(torch.special, name)(torch.tensor(x), 1, dtype=torch.float32)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        bp.special.logsumexp(bp.tensor(x), 1).numpy(), torch.special.logsumexp(torch.tensor(x), 1).numpy()
    )
