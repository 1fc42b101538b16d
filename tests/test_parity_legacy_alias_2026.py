"""torch's legacy constructor given a tensor (``torch.Tensor(t)``, ``torch.FloatTensor(t)``) aliases it, and
the in-place activations that write into a tensor of a recorded graph (``rrelu_`` while training, ``elu_``,
``leaky_relu_``, ...): values, gradients, version counters, node names and errors, against torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity checks compare against PyTorch")

BF = bp.nn.functional
TF = torch.nn.functional


def _raises(fn, lib):
    with pytest.raises(Exception) as info:
        fn(lib)
    return type(info.value).__name__, str(info.value)


# ---------------------------------------------------------------- torch.Tensor(t): an alias of t
@pytest.mark.parametrize("ctor", ["Tensor", "FloatTensor"])
def test_alias_of_a_graph_tensor(ctor):
    def run(lib):
        a = lib.ones(3, requires_grad=True)
        b = a * 2
        t = getattr(lib, ctor)(b)
        facts = (t._base is b, t.data_ptr() == b.data_ptr(), t.grad_fn.name(), t.is_leaf, t.requires_grad)
        (t * 3).sum().backward()
        return facts, a.grad.numpy().tolist()

    assert run(bp) == run(torch) == ((True, True, "AliasBackward0", False, True), [6.0, 6.0, 6.0])


def test_alias_of_a_leaf_keeps_dtype_and_shares_writes():
    def run(lib):
        a = lib.ones(3, requires_grad=True)
        c = lib.Tensor(a)
        (c * c).sum().backward()
        x = lib.zeros(3, dtype=lib.float64)
        y = lib.Tensor(x)
        y[0] = 5
        x.add_(1)
        i = lib.Tensor(lib.arange(3))
        return (
            a.grad.numpy().tolist(), c.grad_fn.name(), str(y.dtype).split(".")[-1], y.numpy().tolist(),
            x._version, y._version, y._base is x, str(i.dtype).split(".")[-1],
        )  # fmt: skip

    assert run(bp) == run(torch)
    assert run(bp)[3] == [6.0, 1.0, 1.0]


def test_alias_of_a_view_and_a_transpose():
    def run(lib):
        x = lib.ones(2, 3).t()
        y = lib.Tensor(x)
        z = lib.Tensor(lib.ones(2, 3)[0])
        return tuple(y.stride()), y._is_view(), y.is_contiguous(), tuple(z._base.shape)

    assert run(bp) == run(torch)


def test_write_through_the_alias_is_copyslices():
    def run(lib):
        a = lib.ones(3, requires_grad=True)
        b = a * 1
        c = lib.Tensor(b)
        c.mul_(2)
        b.sum().backward()
        return b.grad_fn.name(), a.grad.numpy().tolist(), b.detach().numpy().tolist()

    assert run(bp) == run(torch)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.Tensor(lib.ones(2), dtype=lib.float32),
        lambda lib: lib.Tensor(lib.ones(2), requires_grad=True),
        lambda lib: lib.Tensor(lib.ones(2), device="cpu"),
        lambda lib: lib.FloatTensor(lib.ones(2), device="cpu"),
        lambda lib: lib.FloatTensor(lib.arange(3)),
        lambda lib: lib.DoubleTensor(lib.ones(2)),
        lambda lib: lib.LongTensor(lib.ones(2)),
        lambda lib: lib.IntTensor(lib.arange(2)),
        lambda lib: lib.HalfTensor(lib.ones(2, dtype=lib.complex64)),
        lambda lib: lib.ByteTensor(lib.ones(2, dtype=lib.uint16)),
        lambda lib: lib.FloatTensor(lib.ones(2, dtype=lib.float8_e5m2)),
        lambda lib: lib.FloatTensor(lib.ones(2, device="meta")),
    ],
)
def test_refusals_are_torchs(call):
    assert _raises(call, bp) == _raises(call, torch)


# ---------------------------------------------------------------- in-place activations on a recorded graph
_INPLACE = {
    "rrelu_": lambda F, h: F.rrelu_(h, training=True),
    "rrelu_inplace": lambda F, h: F.rrelu(h, 0.2, 0.4, training=True, inplace=True),
    "celu_": lambda F, h: F.celu_(h, 0.7),
    "elu_": lambda F, h: F.elu(h, inplace=True),
    "selu_": lambda F, h: F.selu_(h),
    "leaky_relu_": lambda F, h: F.leaky_relu_(h, 0.2),
    "threshold_": lambda F, h: F.threshold_(h, 0.1, -2.0),
}


def _inplace_run(lib, F, fn, dtype="float64"):
    lib.manual_seed(0)
    x = lib.tensor(np.linspace(-2, 2, 24), dtype=getattr(lib, dtype), requires_grad=True)
    h = x * 1.5
    y = fn(F, h)
    facts = (y is h, h._version, y.grad_fn.name())
    (y * lib.arange(24.0, dtype=getattr(lib, dtype))).sum().backward()
    return facts, y.detach().to(lib.float64).numpy(), x.grad.to(lib.float64).numpy()


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_inplace_activation_on_a_graph(name):
    mine, theirs = _inplace_run(bp, BF, _INPLACE[name]), _inplace_run(torch, TF, _INPLACE[name])
    assert mine[0] == theirs[0]
    np.testing.assert_allclose(mine[1], theirs[1], rtol=1e-12, atol=1e-12)
    # (celu's backward constants are float32 in torch's kernel: 1e-8 apart, as out of place)
    np.testing.assert_allclose(mine[2], theirs[2], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_rrelu_inplace_in_training_other_dtypes(dtype):
    fn = _INPLACE["rrelu_"]
    mine, theirs = _inplace_run(bp, BF, fn, dtype), _inplace_run(torch, TF, fn, dtype)
    assert mine[0] == theirs[0] == (True, 1, "RreluWithNoiseBackward1")
    np.testing.assert_array_equal(mine[1], theirs[1])
    # (torch keeps bfloat16 noise for the backward: one rounding apart at most, as the out-of-place rrelu here)
    np.testing.assert_allclose(mine[2], theirs[2], rtol=1e-2 if dtype == "bfloat16" else 0)


def test_rrelu_module_inplace_gradient_is_the_noise():
    def run(lib):
        lib.manual_seed(3)
        x = lib.linspace(-1, 1, 8, dtype=lib.float64, requires_grad=True)
        h = x * 2
        y = lib.nn.RReLU(inplace=True)(h)  # a module in training mode
        slope = (y / (x * 2)).detach()  # the noise: 1 where h > 0, U(1/8, 1/3) elsewhere
        y.sum().backward()
        return y.grad_fn.name(), h._version, slope.numpy(), x.grad.numpy()

    mine, theirs = run(bp), run(torch)
    assert mine[:2] == theirs[:2] == ("RreluWithNoiseBackward1", 1)
    np.testing.assert_array_equal(mine[2], theirs[2])
    np.testing.assert_allclose(mine[3], 2 * mine[2], rtol=1e-15)  # d/dx rrelu(2x) = 2 * noise
    np.testing.assert_array_equal(mine[3], theirs[3])


def test_rrelu_inplace_on_a_view_and_its_refusals():
    def run(lib):
        lib.manual_seed(1)
        x = lib.linspace(-1, 1, 8, requires_grad=True)
        h = x * 1.0
        lib.nn.functional.rrelu_(h[2:6], training=True)
        h.sum().backward()
        leaf = _raises(lambda L: L.nn.functional.rrelu_(L.ones(3, requires_grad=True), training=True), lib)
        return h.grad_fn.name(), h._version, x.grad.numpy().round(6).tolist(), leaf

    assert run(bp) == run(torch)


def test_rrelu_inplace_saved_input_is_caught():
    def run(lib):
        x = lib.linspace(-1, 1, 6, requires_grad=True)
        h = x * 2
        z = h * h
        lib.nn.functional.rrelu_(h, training=True)
        return _raises(lambda L: z.sum().backward(), lib)[0]

    assert run(bp) == run(torch)
