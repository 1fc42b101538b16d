"""Strided views and constructors against torch: as_strided (values, strides, offsets, gradients, version
counter), as_strided_, as_strided_scatter, empty_strided, new_empty_strided, Tensor.new, unsafe_split_with_sizes."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the parity checks compare against it")

GEOMETRIES = [
    ((2, 2), (1, 2), None),
    ((3, 3), (1, 1), 1),  # overlapping windows: output elements share memory
    ((4, 3), (1, 4), 0),  # a transpose
    ((2, 2, 2), (0, 3, 1), 2),  # a zero stride
    ((0, 3), (3, 1), 5),
    ((), (), 7),
]


@pytest.mark.parametrize(("size", "stride", "offset"), GEOMETRIES)
def test_as_strided_values_and_gradients(size: tuple, stride: tuple, offset: int | None) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    x, tx = bp.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x.as_strided(size, stride, offset), tx.as_strided(size, stride, offset)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    assert y.shape == tuple(ty.shape) and y.stride() == ty.stride()
    assert y.storage_offset() == ty.storage_offset()
    w = rng.standard_normal(size)
    (y * bp.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_as_strided_of_a_view_reads_the_allocation() -> None:
    """The default offset is the view's own; an explicit one counts from the allocation's start."""
    x, tx = bp.arange(12.0).reshape(3, 4)[1:, 1:], torch.arange(12.0).reshape(3, 4)[1:, 1:]
    for args in [((2, 2), (1, 1)), ((2, 2), (1, 1), 0), ((3,), (4,), 1)]:
        np.testing.assert_array_equal(x.as_strided(*args).numpy(), tx.as_strided(*args).numpy())
        assert x.as_strided(*args).storage_offset() == tx.as_strided(*args).storage_offset()
    y = bp.arange(6.0).reshape(2, 3).t()
    ty = torch.arange(6.0).reshape(2, 3).t()
    np.testing.assert_array_equal(y.as_strided((3, 2), (2, 1)).numpy(), ty.as_strided((3, 2), (2, 1)).numpy())


def test_as_strided_gradient_of_expanded_and_sliced_inputs() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal(3)
    x, tx = bp.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = rng.standard_normal((2, 2))
    (x.expand(4, 3).as_strided((2, 2), (1, 1)) * bp.tensor(w)).sum().backward()
    (tx.expand(4, 3).as_strided((2, 2), (1, 1)) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    b = rng.standard_normal((4, 4))
    x, tx = bp.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    w = rng.standard_normal((3, 2))
    (x[1:].as_strided((3, 2), (2, 3)) * bp.tensor(w)).sum().backward()
    (tx[1:].as_strided((3, 2), (2, 3)) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_as_strided_gradcheck_and_double_backward() -> None:
    x = bp.tensor(np.random.default_rng(2).standard_normal((3, 4)), requires_grad=True)

    def windows(t: bp.Tensor) -> bp.Tensor:
        return t.as_strided((3, 3), (2, 1), 1) ** 2  # overlapping reads, squared: a non-linear function

    assert bp.gradcheck(windows, [x])
    assert bp.gradgradcheck(windows, [x])


def test_as_strided_is_a_view() -> None:
    x, tx = bp.arange(12.0), torch.arange(12.0)
    v, tv = x.as_strided((2, 2), (5, 1), 1), tx.as_strided((2, 2), (5, 1), 1)
    v.mul_(10)
    tv.mul_(10)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    assert x._version == tx._version == 1  # the write through the view bumped the shared counter
    x.add_(1)
    tx.add_(1)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())  # and writes to the base are seen by the view


def test_as_strided_saved_tensor_check() -> None:
    """A write through an as_strided view invalidates what backward saved from the base, as torch."""
    x = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = (y * y).sum()
    with bp.no_grad():
        y.as_strided((1,), (1,), 2).mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_as_strided_errors() -> None:
    x, tx = bp.zeros(3, 4), torch.zeros(3, 4)
    for args in [((13,), (1,)), ((2, 2), (8, 5)), ((2,), (1,), 11)]:
        with pytest.raises(RuntimeError) as theirs:
            tx.as_strided(*args)
        with pytest.raises(RuntimeError) as ours:
            x.as_strided(*args)
        assert "out of bounds for storage of size 48" in str(theirs.value)
        assert str(theirs.value).split(" are out")[0] in str(ours.value)
    with pytest.raises(RuntimeError, match="Negative strides"):
        x.as_strided((2,), (-1,))
    with pytest.raises(RuntimeError, match="mismatch in length"):
        x.as_strided((2, 2), (1,))


def test_as_strided_without_torch_reference() -> None:
    """Sliding windows equal NumPy's sliding_window_view (a closed form)."""
    a = np.arange(10.0)
    got = bp.tensor(a).as_strided((8, 3), (1, 1)).numpy()
    np.testing.assert_array_equal(got, np.lib.stride_tricks.sliding_window_view(a, 3))
    assert bp.as_strided(bp.tensor(a), (5,), (2,)).numpy().tolist() == a[::2].tolist()


def test_as_strided_in_place() -> None:
    x, tx = bp.arange(6.0), torch.arange(6.0)
    assert x.as_strided_((2, 2), (2, 1), 1) is x
    tx.as_strided_((2, 2), (2, 1), 1)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    assert x.stride() == tx.stride() and x.storage_offset() == tx.storage_offset()
    leaf = bp.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.as_strided_((2,), (1,))


@pytest.mark.parametrize(("size", "stride", "offset"), [((2, 2), (1, 2), 1), ((3,), (4,), None), ((2, 3), (4, 1), 4)])
def test_as_strided_scatter(size: tuple, stride: tuple, offset: int | None) -> None:
    rng = np.random.default_rng(3)
    a, s = rng.standard_normal((3, 4)), rng.standard_normal(size)
    x, tx = bp.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    src, tsrc = bp.tensor(s, requires_grad=True), torch.tensor(s, requires_grad=True)
    y, ty = (
        bp.as_strided_scatter(x, src, size, stride, offset),
        torch.as_strided_scatter(tx, tsrc, size, stride, offset),
    )
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    w = rng.standard_normal((3, 4))
    (y * bp.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(src.grad.numpy(), tsrc.grad.numpy())
    # self's overwritten elements get no gradient, the rest all of it (torch 2.13 returns the opposite mask,
    # a known bug in its as_strided_scatter_backward: its gradcheck fails)
    where = np.zeros(12)
    where[np.lib.stride_tricks.as_strided(np.arange(12)[offset or 0 :], size, tuple(8 * t for t in stride))] = 1
    np.testing.assert_allclose(x.grad.numpy(), w * (1 - where.reshape(3, 4)))
    assert bp.gradcheck(lambda t, u: t.as_strided_scatter(u, size, stride, offset), [x.detach().requires_grad_(), src])
    with pytest.raises(RuntimeError, match="expected src to have a size equal"):
        x.as_strided_scatter(bp.ones(5), size, stride, offset)


def test_empty_strided_and_new_empty_strided() -> None:
    for size, stride in [((2, 3), (1, 2)), ((2, 3), (3, 1)), ((4,), (2,)), ((0, 2), (2, 1))]:
        e, te = bp.empty_strided(size, stride), torch.empty_strided(size, stride)
        assert e.shape == tuple(te.shape) and e.stride() == te.stride() and e.dtype == bp.float32
        n = bp.ones(1, dtype=bp.float64).new_empty_strided(size, stride)
        assert n.stride() == te.stride() and n.dtype == bp.float64
    e = bp.empty_strided((2, 2), (1, 2), dtype=bp.float64, requires_grad=True)
    assert e.requires_grad and e.is_leaf and e.dtype == bp.float64
    assert not bp.empty_strided((2, 3), (1, 2)).is_contiguous()


def test_tensor_new() -> None:
    x, tx = bp.zeros(2, dtype=bp.float64), torch.zeros(2, dtype=torch.float64)
    for args in [(2, 3), ([1, 2],), ((2, 3),), ()]:
        ours, theirs = x.new(*args), tx.new(*args)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == bp.float64
        if theirs.numel() and args and not isinstance(args[0], int):
            assert ours.tolist() == theirs.tolist()
    assert x.new(bp.Size([4])).shape == (4,)
    t = bp.ones(3)
    assert x.new(t) is t


def test_unsafe_split_with_sizes() -> None:
    a = np.arange(10.0)
    ours, theirs = bp.tensor(a).unsafe_split_with_sizes([3, 7]), torch.tensor(a).unsafe_split_with_sizes([3, 7])
    assert [o.tolist() for o in ours] == [t.tolist() for t in theirs]
    assert [o.tolist() for o in bp.unsafe_split_with_sizes(bp.tensor(a), [5, 5])] == [a[:5].tolist(), a[5:].tolist()]
