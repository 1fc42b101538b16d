"""Indexing, scatters/gathers, views and small in-place methods where torch's OpInfo samples
(``python -m tests.opinfo_harness``) found backprop differing: 0-d tensors in the gathers and scatters,
empty gather indices of any dtype, take_along_dim's wrapping indices, as_strided over overlapping
inputs, torch.fill's gradient, sum_to_size(()) and the in-place sign_/sgn_/float_power_/conj_physical_.

Each test checks a closed-form expectation first (meaningful without torch), then torch's result when
torch is installed: values, dtypes, shapes and gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp

pytestmark = pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta")


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)


def _same(got: Any, want: Any) -> None:
    """backprop's ``got`` equals torch's ``want``: shape, dtype and values."""
    g, w = _np(got), want.detach().resolve_conj().numpy()
    assert g.shape == w.shape, (g.shape, w.shape)
    assert g.dtype == w.dtype, (g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-12)


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


# ---------------------------------------------------------------- 0-d self in the scatters and index ops


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("index_fill_", (0, [0], 5.0), 5.0),
        ("index_copy_", (0, [0], "src"), 7.0),
        ("index_add_", (0, [0], "src"), 2.0 + 2 * 7.0),
        ("scatter_", (0, 0, "src"), 7.0),
        ("scatter_add_", (0, 0, "src"), 9.0),
        ("scatter_reduce_", (0, 0, "src", "prod"), 14.0),
        ("index_reduce_", (0, [0], "src", "amax"), 7.0),
    ],
)
def test_in_place_into_a_0d_tensor(name: str, args: tuple, expected: float) -> None:
    """torch reads a 0-d self (and a 0-d index or src) as a 1-element tensor (ensure_nonempty_dim)."""

    def run(lib: Any) -> Any:
        x = lib.tensor(2.0, dtype=lib.float64)
        dim, idx, src, *rest = args
        index = lib.tensor(idx)
        s = lib.tensor(7.0, dtype=lib.float64) if src == "src" else src
        kw = {"alpha": 2} if name == "index_add_" else {}
        out = getattr(x, name)(dim, index, s, *rest, **kw)
        assert out is x
        return x

    got = run(bp)
    assert got.shape == () and got.item() == expected
    _same(got, run(_torch()))


@pytest.mark.parametrize("name", ["index_fill", "index_copy", "index_add", "scatter", "scatter_add", "index_reduce"])
def test_0d_self_gradients(name: str) -> None:
    """Out of place on a 0-d self: the written element's gradient goes to the source, none to self
    (index_add: both get it; index_reduce prod: the product rule)."""

    def run(lib: Any) -> tuple:
        x = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
        s = lib.tensor(3.0, dtype=lib.float64, requires_grad=True)
        i1, i0 = lib.tensor([0]), lib.tensor(0)
        y = {
            "index_fill": lambda: x.index_fill(0, i1, s),
            "index_copy": lambda: x.index_copy(0, i1, s),
            "index_add": lambda: x.index_add(0, i1, s, alpha=2),
            "scatter": lambda: x.scatter(0, i0, s),
            "scatter_add": lambda: x.scatter_add(0, i0, s),
            "index_reduce": lambda: x.index_reduce(0, i1, s, "prod"),
        }[name]()
        gx, gs = lib.autograd.grad(y, (x, s), lib.tensor(5.0, dtype=lib.float64), allow_unused=True)
        return y, gx, gs

    y, gx, gs = run(bp)
    want = {
        "index_fill": (3.0, 0.0, 5.0),
        "index_copy": (3.0, 0.0, 5.0),
        "index_add": (8.0, 5.0, 10.0),
        "scatter": (3.0, 0.0, 5.0),
        "scatter_add": (5.0, 5.0, 5.0),
        "index_reduce": (6.0, 15.0, 10.0),
    }[name]
    got = (y.item(), 0.0 if gx is None else gx.item(), 0.0 if gs is None else gs.item())
    assert got == pytest.approx(want)
    assert y.shape == ()
    torch = _torch()
    ty, tgx, tgs = run(torch)
    _same(y, ty)
    _same(bp.zeros(()).double() if gx is None else gx, torch.zeros((), dtype=torch.float64) if tgx is None else tgx)
    _same(gs, tgs)


def test_scatter_ops_on_0d_pass_gradcheck() -> None:
    x = bp.tensor(2.0, dtype=bp.float64, requires_grad=True)
    s = bp.tensor(3.0, dtype=bp.float64, requires_grad=True)
    i0, i1 = bp.tensor(0), bp.tensor([0])
    for fn in (
        lambda x, s: x.scatter_add(0, i0, s),
        lambda x, s: x.scatter(0, i0, s),
        lambda x, s: x.index_copy(0, i1, s),
        lambda x, s: x.index_add(0, i1, s, alpha=-1),
        lambda x, s: x.scatter_reduce(0, i0, s, "prod"),
        lambda x, s: x.scatter_reduce(0, i0, s, "mean", include_self=False),
    ):
        assert bp.autograd.gradcheck(fn, (x, s))
        assert bp.autograd.gradgradcheck(fn, (x, s))


# ---------------------------------------------------------------- gather with an empty index


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "bool", "int64"])
def test_gather_takes_an_empty_index_of_any_dtype(dtype: str) -> None:
    def run(lib: Any) -> tuple:
        x = lib.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=lib.float64, requires_grad=True)
        y = lib.gather(x, 0, lib.zeros((0, 3), dtype=getattr(lib, dtype)))
        (g,) = lib.autograd.grad(y.sum(), x)
        return y, g

    y, g = run(bp)
    assert y.shape == (0, 3) and y.dtype == bp.float64 and y.requires_grad
    assert not g.numpy().any()
    ty, tg = run(_torch())
    _same(y, ty)
    _same(g, tg)


def test_gather_still_refuses_a_non_empty_uint8_index() -> None:
    with pytest.raises(Exception, match="int32/int64"):
        bp.gather(bp.ones(5), 0, bp.zeros(2, dtype=bp.uint8))


# ---------------------------------------------------------------- take_along_dim wraps its indices


def test_take_along_dim_wraps_indices_modulo_the_dim() -> None:
    """torch >= 2.8 takes the indices modulo the dim's size when ``dim`` is given (-1: the last)."""
    rows = np.arange(10.0).reshape(2, 5)
    idx = [[-1, -5, -6, 7, 12]] * 2
    expected = rows[:, [4, 0, 4, 2, 2]]

    def run(lib: Any) -> tuple:
        x = lib.tensor(rows, requires_grad=True)
        y = lib.take_along_dim(x, lib.tensor(idx), 1)
        (g,) = lib.autograd.grad(y.sum(), x)
        return y, g

    y, g = run(bp)
    np.testing.assert_array_equal(_np(y), expected)
    np.testing.assert_array_equal(g.numpy(), [[1, 0, 2, 0, 2]] * 2)
    torch = _torch()
    ty, tg = run(torch)
    _same(y, ty)
    _same(g, tg)
    with pytest.raises(IndexError):  # without dim, no wrapping (torch raises too)
        bp.take_along_dim(bp.arange(5.0), bp.tensor([-1]))


# ---------------------------------------------------------------- as_strided


def test_as_strided_of_a_partial_view_addresses_the_base_storage() -> None:
    """The OpInfo sample as_strided.partial_views: a view at offset 5 of a 20-element base; an explicit
    storage_offset counts from the base's start, as torch's (the probe copies the view, losing the base)."""

    def run(lib: Any, off: Any) -> tuple:
        base = lib.arange(20.0, dtype=lib.float64)
        x = base[5:15].requires_grad_()
        y = x.as_strided((2, 2), (1, 2), off) if off is not None else x.as_strided((2, 2), (1, 2))
        (g,) = lib.autograd.grad(y, x, lib.arange(4.0, dtype=lib.float64).reshape(2, 2))
        return y, g

    for off, first in ((None, 5.0), (0, 0.0), (10, 10.0)):
        y, g = run(bp, off)
        np.testing.assert_array_equal(_np(y), [[first, first + 2], [first + 1, first + 3]])
    torch = _torch()
    for off in (None, 0, 10):
        y, g = run(bp, off)
        ty, tg = run(torch, off)
        _same(y, ty)
        _same(g, tg)


def test_as_strided_gradient_shares_overlapping_input_memory_evenly() -> None:
    """An input whose elements share memory (unfold with step < size) gets each storage position's
    gradient divided among the elements sharing it, as torch's as_strided_backward."""

    def run(lib: Any) -> tuple:
        x = lib.arange(8.0, dtype=lib.float64).unfold(0, 4, 2).requires_grad_()  # windows share 2 elements
        y = x.as_strided((3,), (2,), 1)  # storage positions 1, 3, 5
        (g,) = lib.autograd.grad(y, x, lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64))
        return y, g

    y, g = run(bp)
    np.testing.assert_array_equal(_np(y), [1.0, 3.0, 5.0])
    # position 3 is x[0, 3] and x[1, 1]: 2.0 shared in halves; 1 is x[0, 1] only, 5 is x[1, 3] and x[2, 1]
    np.testing.assert_array_equal(g.numpy(), [[0, 1, 0, 1], [0, 1, 0, 1.5], [0, 1.5, 0, 0]])
    ty, tg = run(_torch())
    _same(y, ty)
    _same(g, tg)


def test_as_strided_scatter_gradient_of_self_is_zero_where_written() -> None:
    """backprop's gradient is the true one (gradcheck passes); torch's differs here: its own OpInfo marks
    as_strided_scatter's test_fn_grad as an expected failure (it returns the gradient at the written
    positions instead of elsewhere), so only the values and src's gradient are compared with torch."""
    x = bp.tensor([1.0, 2.0, 3.0, 4.0], dtype=bp.float64, requires_grad=True)
    s = bp.tensor([9.0, 8.0], dtype=bp.float64, requires_grad=True)
    y = bp.as_strided_scatter(x, s, (2,), (2,), 1)
    gx, gs = bp.autograd.grad(y, (x, s), bp.tensor([10.0, 11.0, 12.0, 13.0], dtype=bp.float64))
    np.testing.assert_array_equal(y.detach().numpy(), [1, 9, 3, 8])
    np.testing.assert_array_equal(gx.numpy(), [10, 0, 12, 0])
    np.testing.assert_array_equal(gs.numpy(), [11, 13])
    assert bp.autograd.gradcheck(lambda x, s: bp.as_strided_scatter(x, s, (2,), (2,), 1), (x, s))
    x0, s0 = (
        bp.tensor([1.5], dtype=bp.float64, requires_grad=True),
        bp.tensor(2.5, dtype=bp.float64, requires_grad=True),
    )
    assert bp.autograd.gradcheck(lambda x, s: bp.as_strided_scatter(x, s, (), (), 0), (x0, s0))
    torch = _torch()
    tx = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, requires_grad=True)
    ts = torch.tensor([9.0, 8.0], dtype=torch.float64, requires_grad=True)
    ty = torch.as_strided_scatter(tx, ts, (2,), (2,), 1)
    _, tgs = torch.autograd.grad(ty, (tx, ts), torch.tensor([10.0, 11.0, 12.0, 13.0], dtype=torch.float64))
    _same(y, ty)
    _same(gs, tgs)


# ---------------------------------------------------------------- torch.fill


def test_fill_is_recorded_with_torchs_gradients() -> None:
    def run(lib: Any) -> tuple:
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        v = lib.tensor(2.0, requires_grad=True)  # float32: its gradient keeps its dtype
        y1 = lib.fill(x, True)
        y2 = lib.fill(x, v)
        (g1,) = lib.autograd.grad(y1, x, lib.ones(3, dtype=lib.float64))
        gx, gv = lib.autograd.grad(y2, (x, v), lib.arange(3.0, dtype=lib.float64))
        return y1, y2, g1, gx, gv, lib.fill(lib.ones(2), 3).requires_grad

    y1, y2, g1, gx, gv, plain = run(bp)
    assert y1.requires_grad and y2.requires_grad and not plain
    np.testing.assert_array_equal(y1.detach().numpy(), [1, 1, 1])
    np.testing.assert_array_equal(g1.numpy(), [0, 0, 0])
    np.testing.assert_array_equal(gx.numpy(), [0, 0, 0])
    assert gv.item() == 3.0 and gv.dtype == bp.float32
    with pytest.raises(RuntimeError, match="0-dimension"):
        bp.fill(bp.ones(3), bp.ones(2))
    torch = _torch()
    t1, t2, tg1, tgx, tgv, tplain = run(torch)
    assert tplain == plain
    for a, b in ((y1, t1), (y2, t2), (g1, tg1), (gx, tgx), (gv, tgv)):
        _same(a, b)


# ---------------------------------------------------------------- small in-place methods and sum_to_size


def test_sign_and_sgn_in_place_on_bool() -> None:
    for name in ("sign_", "sgn_"):
        x = bp.tensor([True, False])
        assert getattr(x, name)() is x
        np.testing.assert_array_equal(x.numpy(), [True, False])
        t = _torch().tensor([True, False])
        _same(x, getattr(t, name)())


def test_float_power_in_place_on_complex128() -> None:
    """float_power's result is complex128 when either side is complex: a complex128 self may take it in place."""
    torch = None
    for exponent in (2, 2.0j, "tensor"):
        x = bp.tensor([1 + 1j, -2 + 0.5j], dtype=bp.complex128)
        e = bp.tensor(2.0) if exponent == "tensor" else exponent
        want = np.array([1 + 1j, -2 + 0.5j]) ** (2.0 if exponent == "tensor" else exponent)
        assert x.float_power_(e) is x
        np.testing.assert_allclose(x.numpy(), want)
        torch = torch or _torch()
        t = torch.tensor([1 + 1j, -2 + 0.5j], dtype=torch.complex128)
        _same(x, t.float_power_(torch.tensor(2.0) if exponent == "tensor" else exponent))
    with pytest.raises(Exception, match="complex128"):
        bp.tensor([2.0], dtype=bp.float64).float_power_(1j)
    with pytest.raises(Exception, match="float64"):
        bp.tensor([2.0]).float_power_(2)


def test_conj_physical_in_place_returns_self() -> None:
    x = bp.tensor([1 + 2j, 3 - 1j])
    assert x.conj_physical_() is x
    np.testing.assert_array_equal(x.numpy(), [1 - 2j, 3 + 1j])
    r = bp.tensor([1.0, -2.0])
    assert r.conj_physical_() is r
    t = _torch().tensor([1 + 2j, 3 - 1j])
    _same(x, t.conj_physical_())


def test_sum_to_size_of_nothing_is_sum() -> None:
    """torch's sum_to(shape=()) is ``sum()``: bools and ints become int64, and the result is new."""
    b = bp.tensor([[True, False, True], [True, True, False]])
    cases = [(b, ()), (b, (1, 3)), (b, (3,)), (b, (2, 3)), (bp.tensor(True), ()), (bp.tensor(2, dtype=bp.int32), ())]
    want = [("int64", ()), ("int64", (1, 3)), ("int64", (3,)), ("bool", (2, 3)), ("int64", ()), ("int64", ())]
    got = [(str(x.sum_to_size(s).dtype).split(".")[-1], tuple(x.sum_to_size(s).shape)) for x, s in cases]
    assert got == want
    assert b.sum_to_size(()).item() == 4
    torch = _torch()
    for x, s in cases:
        _same(x.sum_to_size(s), torch.tensor(x.numpy()).sum_to_size(s))
