"""Reductions, sorting and searching at NaN, infinities, ties, empty tensors and integer/bool dtypes,
against torch 2.13: values (NaN positions too), indices, dtypes, gradients and error classes/messages."""

from __future__ import annotations

import os
import subprocess
import sys
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


# ---------------------------------------------------------------- gradients at NaN and infinities
def _grads(fn: Any, data: Any, gy: Any = None) -> None:
    """Value and gradient of ``fn(module, x)`` (its first output if a tuple) agree with torch's."""
    got = []
    for m in (torch, bp):
        x = m.tensor(data, dtype=m.float64, requires_grad=True)
        y = fn(m, x)
        y = y[0] if isinstance(y, tuple) else y
        y.backward(m.full_like(y, 0.5) if gy is None else m.tensor(gy, dtype=m.float64))
        got.append((y, x.grad))
    (ut, gt), (ub, gb) = got
    _same(ub, ut)
    _same(gb, gt)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_prod_of_a_0d_tensor_passes_gy_through(value: float) -> None:
    _grads(lambda m, x: x.prod(), value)  # torch: d prod = gy for one element (not prod / x = nan)
    _grads(lambda m, x: x.prod(0), value)


@pytest.mark.parametrize("data", [INF, [INF], [-INF]])
def test_var_std_gradient_with_no_degrees_of_freedom_at_an_infinite_mean(data: Any) -> None:
    # torch: where(x == mean, nan, inf): inf == inf, so nan (x - mean = nan was read as "not at the mean")
    with pytest.warns(UserWarning):
        _grads(lambda m, x: x.var(), data)
    with pytest.warns(UserWarning):
        _grads(lambda m, x: x.std(), data)


@pytest.mark.parametrize("data", [NAN, [NAN], [NAN, NAN, NAN]])
def test_nanmedian_of_all_nan_shares_the_gradient_among_the_nans(data: Any) -> None:
    _grads(lambda m, x: x.nanmedian(), data)
    _grads(lambda m, x: x.median(), data)


@pytest.mark.parametrize(
    "data",
    [
        [INF, 0.0, -1.0, 2.0, 1.0],
        [1.0, -INF, 0.0, 3.0, 0.0, 2.0],
        [[INF, 0.0, -1.0, 2.0], [2.0, -INF, 0.0, 3.0]],
        [-INF, 0.0, 2.0, 0.0, 1.0],
    ],
)
def test_cumprod_gradient_at_a_zero_after_an_infinity(data: Any) -> None:
    # the first zero's gradient is y_{z-1} * (a finite sum), as torch's: not a sum of inf - inf = NaN
    _grads(lambda m, x: x.cumprod(-1), data, gy=np.ones(np.shape(data)))
    _grads(lambda m, x: x.cumprod(-1), data)


# ---------------------------------------------------------------- no NumPy warnings where torch is silent
_CALLS = {
    "prod": lambda m, x: x.prod(),
    "prod0": lambda m, x: x.prod(0),
    "cumsum": lambda m, x: x.cumsum(1),
    "cumprod": lambda m, x: x.cumprod(1),
    "mean": lambda m, x: x.mean(),
    "mean0": lambda m, x: x.mean(0),
    "var": lambda m, x: x.var(0, correction=0),
    "var0": lambda m, x: x.var(1),
    "std": lambda m, x: x.std(1),
    "nansum": lambda m, x: x.nansum(),
    "nanmean": lambda m, x: x.nanmean(1),
    "var_mean": lambda m, x: m.var_mean(x, 1)[0],
}
_DATA = (
    np.array([[INF, 0.0, -INF, NAN], [0.0, 0.0, INF, 1.0], [-INF, -INF, 2.0, 3.0]]),
    np.zeros((0, 3)),
    np.zeros((3, 0)),
)

# A user's process: Python's default warning filters plus backprop's own (installed at import, which silences NumPy's
# inf/NaN warnings raised in backprop's modules). Under pytest neither holds (its "error" filter; backprop's import
# during collection happened inside a catch_warnings block), so the calls run in a fresh interpreter.
_SCRIPT = """
import numpy as np
import backprop as bp
inf, nan = float("inf"), float("nan")
a = np.array([[inf, 0.0, -inf, nan], [0.0, 0.0, inf, 1.0], [-inf, -inf, 2.0, 3.0]])
for data in (a, np.zeros((0, 3)), np.zeros((3, 0))):
    x = bp.tensor(data)
    x.prod(), x.prod(0), x.cumsum(1), x.cumprod(1), x.mean(), x.mean(0), x.var(0, correction=0), x.var(1)
    x.std(1), x.nansum(), x.nanmean(1), bp.var_mean(x, 1)
"""


def test_reductions_of_infinities_and_empty_tensors_do_not_warn() -> None:
    """NumPy's Python wrappers (``np.mean``, ``np.cumsum``, ``np.prod``) raised their inf/NaN and "Mean of empty slice"
    RuntimeWarnings in their own module's name, so backprop's filter missed them; torch is silent."""
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # (every warning shown once: Python's defaults, made explicit)
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "RuntimeWarning" not in out.stderr, out.stderr  # (var's "degrees of freedom" UserWarning is torch's too)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # (torch's own, wanted: both give it)
@pytest.mark.parametrize("name", list(_CALLS))
def test_reductions_of_infinities_and_empty_tensors_as_torch(name: str) -> None:
    for data in _DATA:
        x, t = bp.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        y, u = _CALLS[name](bp, x), _CALLS[name](torch, t)
        _same(y, u)
        y.sum().backward()
        u.sum().backward()
        _same(x.grad, t.grad)


# ---------------------------------------------------------------- errors: classes and messages as torch's
BOOLS = np.array([True, False, True])


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: x.argmax(),
        lambda m, x: x.argmin(0),
        lambda m, x: m.argmax(x, 0, True),
        lambda m, x: x.median(),
        lambda m, x: x.median(0),
        lambda m, x: x.nanmedian(),
        lambda m, x: m.nanmedian(x, 0),
        lambda m, x: x.topk(1),
        lambda m, x: x.kthvalue(1),
    ],
)
def test_bool_inputs_are_refused_as_torch_refuses_them(call: Any) -> None:
    _raises_as_torch(call, BOOLS)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: x.amax(-1),
        lambda m, x: x.amin((-1, 0)),
        lambda m, x: m.amin(x, -1),
    ],
)
def test_empty_reduction_dim_is_named_as_given(call: Any) -> None:
    _raises_as_torch(call, np.zeros((2, 0)))


@pytest.mark.parametrize("k, dim", [(4, -1), (0, 0), (3, 0), (0, -2)])
def test_kthvalue_out_of_range_message(k: int, dim: int) -> None:
    _raises_as_torch(lambda m, x: x.kthvalue(k, dim), np.zeros((2, 3)))
    _raises_as_torch(lambda m, x: x.kthvalue(2), np.float64(1.0))


@pytest.mark.parametrize("dtype", ["int64", "bool"])  # (float32 was right)
def test_quantile_of_an_empty_tensor_says_non_empty_first(dtype: str) -> None:
    _raises_as_torch(lambda m, x: m.quantile(x, 0.5), np.zeros(0, dtype))
    _raises_as_torch(lambda m, x: m.nanquantile(x, 0.5, dim=0), np.zeros(0, dtype))
    _raises_as_torch(lambda m, x: m.quantile(x, 2.0), np.zeros(0, dtype))  # (the range of a number q first)


def test_aminmax_takes_one_int_dim() -> None:
    _raises_as_torch(lambda m, x: m.aminmax(x, dim=(0, 1)), np.zeros((2, 3)))
