"""Tensor creation, dtypes, attributes, shape ops, indexing and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


def test_python_floats_default_to_float32_and_arrays_keep_dtype(device: str) -> None:
    assert bp.tensor([1.0, 2.0], device=device).dtype == bp.float32
    assert bp.tensor([1, 2], device=device).dtype == bp.int64
    assert bp.tensor([True], device=device).dtype == bp.bool
    assert bp.tensor(np.zeros(2, np.float64), device=device).dtype == bp.float64
    assert bp.tensor(np.zeros(2, np.float64), dtype=bp.float32, device=device).dtype == bp.float32


def test_python_scalars_do_not_promote(device: str) -> None:
    x = bp.ones(3, device=device)
    assert (x * 2.0).dtype == bp.float32
    assert (2.5 - x).dtype == bp.float32
    assert (x**2).dtype == bp.float32
    assert (x.double() + x).dtype == bp.float64


def test_factories(device: str) -> None:
    assert bp.zeros(2, 3, device=device).shape == (2, 3)
    assert bp.ones((4,), device=device).detach().numpy().sum() == 4
    assert bp.full((2,), 7.0, device=device).tolist() == [7.0, 7.0]
    assert bp.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert bp.arange(0, 1, 0.5, device=device).dtype == bp.float32
    x = bp.randn(3, 4, device=device, dtype=bp.float64)
    assert bp.zeros_like(x).dtype == bp.float64 and bp.ones_like(x).shape == (3, 4)
    assert bp.rand_like(x).detach().numpy().max() < 1
    assert bp.randn_like(x).shape == (3, 4)
    assert bp.full_like(x, 2).detach().numpy().max() == 2
    assert bp.eye(3, device=device).detach().numpy().trace() == 3


def test_manual_seed_reproduces_random_numbers() -> None:
    bp.manual_seed(123)
    a = bp.randn(5).detach().numpy()
    bp.manual_seed(123)
    np.testing.assert_array_equal(a, bp.randn(5).detach().numpy())


def test_attributes_and_conversions(device: str) -> None:
    x = bp.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    assert x.shape == (2, 2) and x.ndim == 2 and x.is_leaf and x.grad_fn is None
    assert str(x.device) == ("cpu" if device == "cpu" else "cuda:0") and x.device == device
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    assert y.detach().grad_fn is None and not y.detach().requires_grad
    assert bp.tensor(3.5).item() == 3.5 and x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(x.detach().numpy(), np.ndarray)
    assert "requires_grad=True" in repr(x) and "grad_fn=<MulBackward0>" in repr(y)


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(RuntimeError, match="floating point"):
        bp.tensor([1, 2], requires_grad=True)


def test_reductions_with_dim_and_keepdim(device: str, rng: np.random.Generator) -> None:
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x = bp.tensor(a, device=device)
    np.testing.assert_allclose(x.sum(dim=(0, -1)).detach().numpy(), a.sum(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(x.mean(1, keepdim=True).detach().numpy(), a.mean(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(x.amax(-1).detach().numpy(), a.max(-1))
    np.testing.assert_allclose(x.amin(dim=0).detach().numpy(), a.min(0))
    np.testing.assert_allclose(x.var(1).detach().numpy(), a.var(1, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(x.max().item(), a.max())
    values, idx = x.max(dim=2)
    np.testing.assert_array_equal(idx.detach().numpy(), a.argmax(2))
    np.testing.assert_allclose(values.detach().numpy(), a.max(2))
    ref = np.log(np.exp(a).sum(1))
    np.testing.assert_allclose(bp.logsumexp(x, dim=1).detach().numpy(), ref, rtol=1e-5)
    assert bp.sum(x, dim=1).shape == (2, 4)


def test_shape_ops(device: str) -> None:
    x = bp.arange(24, device=device).reshape(2, 3, 4)
    assert x.reshape(-1, 4).shape == (6, 4) and x.view(4, -1).shape == (4, 6)
    assert x.transpose(0, 2).shape == (4, 3, 2) and x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.T.shape == (4, 3, 2)
    assert x.unsqueeze(1).shape == (2, 1, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert x.unsqueeze(0).squeeze(0).shape == (2, 3, 4) and bp.ones(1, 3, 1).squeeze().shape == (3,)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert bp.ones(3, 1, device=device).expand(2, 3, 4).shape == (2, 3, 4)
    assert bp.ones(3, 1, device=device).expand(-1, 5).shape == (3, 5)
    parts = x.split(2, dim=2)
    assert [p.shape for p in parts] == [(2, 3, 2), (2, 3, 2)]
    assert [p.shape[1] for p in x.split([1, 2], dim=1)] == [1, 2]
    assert [c.shape[1] for c in bp.arange(10).reshape(1, 10).chunk(3, 1)] == [4, 4, 2]
    assert bp.cat([x, x], dim=1).shape == (2, 6, 4) and bp.stack([x, x], dim=-1).shape == (2, 3, 4, 2)


def test_split_and_chunk_gradients_reassemble() -> None:
    x = bp.randn(4, 6, dtype=bp.float64, requires_grad=True)
    a, b, c = x.chunk(3, dim=1)
    (a.sum() + 2 * b.sum() + 3 * c.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.repeat([[1.0, 1, 2, 2, 3, 3]], 4, 0))


def test_matmul_semantics(device: str, rng: np.random.Generator) -> None:
    for sa, sb in [
        ((3,), (3,)),
        ((2, 3), (3,)),
        ((3,), (3, 4)),
        ((5, 2, 3), (3, 4)),
        ((2, 1, 2, 3), (4, 3, 2)),
    ]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        out = bp.tensor(a, device=device) @ bp.tensor(b, device=device)
        np.testing.assert_allclose(out.detach().numpy(), a @ b, rtol=1e-12)
        assert bp.matmul(bp.tensor(a, device=device), bp.tensor(b, device=device)).shape == np.matmul(a, b).shape


def test_indexing_forward_and_repeated_index_gradients(device: str) -> None:
    a = np.arange(12.0).reshape(3, 4)
    x = bp.tensor(a, device=device, requires_grad=True)
    assert x[1].tolist() == a[1].tolist()
    assert x[:, ::2].tolist() == a[:, ::2].tolist()
    assert x[None, ..., -1].shape == (1, 3)
    idx = bp.tensor([0, 2, 0], device=device)
    assert x[idx].tolist() == a[[0, 2, 0]].tolist()
    mask = x > 5
    assert x[mask].tolist() == a[a > 5].tolist()
    x[idx].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [2.0, 0.0, 1.0])  # repeats accumulate


def test_comparisons_return_bool_without_grad(device: str) -> None:
    x = bp.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for r in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2):
        assert r.dtype == bp.bool and not r.requires_grad
    assert (x > 1.5).tolist() == [False, True, True]


def test_where_maximum_minimum_clamp(device: str) -> None:
    x = bp.tensor([-2.0, 0.5, 3.0], device=device)
    assert bp.where(x > 0, x, 0.0).tolist() == [0.0, 0.5, 3.0]
    assert bp.maximum(x, bp.zeros(3, device=device)).tolist() == [0.0, 0.5, 3.0]
    assert bp.minimum(x, 1.0).tolist() == [-2.0, 0.5, 1.0]
    assert x.clamp(-1, 1).tolist() == [-1.0, 0.5, 1.0] and x.clamp(min=0).tolist() == [0.0, 0.5, 3.0]


def test_ties_in_maximum_share_the_gradient() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = bp.tensor([1.0, 1.0], requires_grad=True)
    bp.maximum(x, y).sum().backward()
    assert x.grad.tolist() == [0.5, 1.0] and y.grad.tolist() == [0.5, 0.0]


def test_to_device_and_dtype_are_differentiable() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(bp.float64).to("cpu")
    assert y.dtype == bp.float64
    (y * y).sum().backward()
    assert x.grad.dtype == bp.float32 and x.grad.tolist() == [2.0, 4.0]


# ---------------------------------------------------------------- errors a user can act on


def test_shape_mismatch_names_op_and_shapes() -> None:
    """Torch's messages, which name the sizes that disagree."""
    with pytest.raises(
        ValueError, match=r"^The size of tensor a \(3\) must match the size of tensor b \(4\) at non-sing"
    ):
        bp.ones(2, 3) + bp.ones(4)
    with pytest.raises(ValueError, match=r"^mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)$"):
        bp.ones(2, 3) @ bp.ones(4, 5)
    with pytest.raises(ValueError, match=r"^shape '\[4, 2\]' is invalid for input of size 6$"):
        bp.ones(2, 3).reshape(4, 2)


def test_dtype_mismatch_in_matmul_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"^expected m1 and m2 to have the same dtype, but got: float != double$"):
        bp.ones(2, 3) @ bp.ones(3, 2, dtype=bp.float64)


def test_out_of_range_index_is_an_error() -> None:
    x = bp.ones(3, 2)
    with pytest.raises(IndexError, match=r"^index 5 is out of bounds for dimension 0 with size 3$"):  # torch's
        x[bp.tensor([0, 5])]
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[bp.tensor([0.0, 1.0])]


def test_explicit_cuda_when_unusable_says_why() -> None:
    if bp.cuda.is_available():
        pytest.skip("CUDA is usable here; the error path needs a machine without it")
    with pytest.raises(RuntimeError, match="not usable"):
        bp.ones(2, device="cuda")
    with pytest.raises(ValueError, match="unknown device type"):
        bp.ones(2, device="tpu")
