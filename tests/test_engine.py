"""Engine semantics: accumulation, forks, retain_graph, no_grad, deep graphs, hooks, versions."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import backprop as bp


def test_leaf_grads_accumulate_across_backward_calls(device: str) -> None:
    x = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_fork_sums_gradients_of_every_path(device: str) -> None:
    x = bp.tensor(2.0, device=device, requires_grad=True)
    a = x * 3
    y = a * a + a.exp() + x  # a used twice, x used at two depths
    y.backward()
    expected = 2 * 3 * 6 + 3 * np.exp(6) + 1
    assert x.grad.item() == pytest.approx(expected)


def test_shared_gradient_arrays_do_not_alias_between_leaves(device: str) -> None:
    a = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    (a + b).sum().backward()  # add's backward hands the same array to both leaves
    a.grad._data[...] = 0 if device == "cpu" else a.grad._data * 0
    (a + b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1, 1])
    np.testing.assert_allclose(b.grad.numpy(), [2, 2])


def test_broadcast_gradients_reduce_to_input_shape(device: str) -> None:
    x = bp.ones(3, 1, device=device, requires_grad=True)
    y = bp.ones(4, device=device, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,)
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_allclose(y.grad.numpy(), np.full(4, 3.0))


def test_second_backward_through_freed_graph_mentions_retain_graph(device: str) -> None:
    x = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward(device: str) -> None:
    x = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_saved_arrays_are_released_after_backward() -> None:
    x = bp.tensor(np.ones(4), requires_grad=True)
    y = x.exp()
    z = (y * x).sum()
    node = y.grad_fn
    assert node._out is not None
    z.backward()
    assert node._out is None and z.grad_fn._saved in ((), None)


def test_no_grad_records_nothing_and_is_thread_local() -> None:
    x = bp.tensor([1.0], requires_grad=True)
    seen = {}

    def other_thread() -> None:
        seen["enabled"] = bp.is_grad_enabled()
        seen["requires_grad"] = (x * 2).requires_grad

    with bp.no_grad():
        y = x * 2
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        with bp.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    assert seen == {"enabled": True, "requires_grad": True}


def test_no_grad_as_decorator() -> None:
    @bp.no_grad()
    def f(t: bp.Tensor) -> bp.Tensor:
        return t * 2

    assert not f(bp.tensor([1.0], requires_grad=True)).requires_grad
    assert bp.is_grad_enabled()


def test_deep_chain_of_100k_ops_has_no_recursion_error() -> None:
    x = bp.tensor(1.0, dtype=bp.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_hooks_see_and_replace_gradients(device: str) -> None:
    x = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
    h = x.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    np.testing.assert_allclose(seen[0], [4.0, 8.0])  # dL/dy = 2y
    np.testing.assert_allclose(x.grad.numpy(), [80.0, 160.0])  # hook multiplied by 10
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_retain_grad_keeps_non_leaf_grad() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 12.0])


def test_modified_saved_tensor_raises_version_error() -> None:
    w = bp.tensor([1.0, 2.0], requires_grad=True)
    x = bp.tensor([3.0, 4.0])
    y = (w * x).sum()  # mul saved x
    x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_modified_saved_output_raises_version_error() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp saves its output
    with bp.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="inplace operation"):
        y.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises() -> None:
    w = bp.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1.0)
    with bp.no_grad():
        w.add_(1.0)
    assert w.item() == 2.0 and w._version == 1


def test_inplace_on_non_leaf_is_recorded() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.mul_(x)  # y = x * x
    y.add_(1.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_detect_anomaly_names_the_op() -> None:
    x = bp.tensor([-1.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):  # (torch's warning)
        anomaly = bp.detect_anomaly()
    with anomaly, pytest.raises(FloatingPointError, match="'sqrt'"):
        with np.errstate(invalid="ignore"):
            x.sqrt()
    z = bp.tensor([0.0, 1.0], requires_grad=True)
    y = z.sqrt().sum()  # forward finite, backward 1/(2*0) = inf
    with pytest.warns(UserWarning, match="Anomaly Detection"):
        anomaly = bp.detect_anomaly()
    with anomaly, pytest.raises(FloatingPointError, match="'sqrt'.*backward"):
        with np.errstate(divide="ignore"):
            y.backward()


def test_autograd_grad_returns_without_touching_dot_grad(device: str) -> None:
    x = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = bp.tensor([3.0, 4.0], device=device, requires_grad=True)
    y = (x * w).sum()
    (gx,) = bp.autograd.grad(y, [x])
    np.testing.assert_allclose(gx.detach().numpy(), [3.0, 4.0])
    assert x.grad is None and w.grad is None


def test_autograd_grad_of_non_leaf_and_unused() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    unused = bp.tensor([1.0], requires_grad=True)
    gh, gu = bp.autograd.grad(y, [h, unused], allow_unused=True)
    np.testing.assert_allclose(gh.detach().numpy(), [4.0, 8.0])
    assert gu is None
    with pytest.raises(RuntimeError, match="allow_unused"):
        bp.autograd.grad((x * 2).sum(), [unused])


def test_create_graph_gives_second_derivatives() -> None:
    x = bp.tensor([0.5, -1.0], dtype=bp.float64, requires_grad=True)
    y = (x.tanh() * x**3).sum()
    (g,) = bp.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    xv = x.detach().numpy()
    t = np.tanh(xv)
    s2 = 1 - t**2
    # y = tanh(x) x^3: y'' = -2 t s2 x^3 + 6 s2 x^2 + 6 t x
    expected = -2 * t * s2 * xv**3 + 6 * s2 * xv**2 + 6 * t * xv
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_backward_without_create_graph_builds_no_graph() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_nonscalar_backward_needs_gradient() -> None:
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    y.backward(bp.tensor([1.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -2.0])
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(bp.tensor([1.0, 2.0, 3.0]))


def test_fused_cross_entropy_has_a_second_derivative() -> None:
    """The fused cross-entropy under create_graph: its gradient is recorded (the Hessian of the mean loss
    in the logits is (diag(p) - p p^T) / N per row), where it used to refuse."""
    x = bp.randn(3, 4, dtype=bp.float64, requires_grad=True)
    t = bp.tensor([0, 1, 2])
    (g,) = bp.autograd.grad(bp.nn.functional.cross_entropy(x, t), x, create_graph=True)
    u = bp.randn(3, 4, dtype=bp.float64)
    (hu,) = bp.autograd.grad((g * u).sum(), x)
    p = np.exp(x.detach().numpy())
    p /= p.sum(1, keepdims=True)
    expected = (p * u.numpy() - p * (p * u.numpy()).sum(1, keepdims=True)) / 3
    np.testing.assert_allclose(hu.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_gradcheck_detects_a_wrong_gradient() -> None:
    x = bp.tensor(np.array([0.3, 0.7]), requires_grad=True)

    def wrong(t: bp.Tensor) -> bp.Tensor:
        y = t * 2.0
        y.register_hook(lambda g: g * 1.5)  # corrupts the analytical gradient only
        return y

    with pytest.raises(bp.GradcheckError, match="analytical"):
        bp.gradcheck(wrong, [x])


def test_training_loop_memory_stays_flat() -> None:
    import gc
    import tracemalloc

    bp.manual_seed(0)
    model = bp.nn.Sequential(bp.nn.Linear(32, 64), bp.nn.Tanh(), bp.nn.Linear(64, 10))
    opt = bp.optim.Adam(model.parameters(), lr=1e-3)
    x, y = bp.randn(128, 32), bp.randint(0, 10, (128,))

    def step() -> None:
        loss = bp.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    gc.collect()
    tracemalloc.start()
    step()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(200):
        step()
    now, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert now - base < 64 * 1024, f"memory grew by {now - base} bytes over 200 steps"


def test_writes_into_a_recorded_tensor_are_recorded_as_torchs() -> None:
    """``y[i] = v``, ``fill_``, ``zero_`` and ``copy_`` on a tensor of a graph: the overwritten entries
    pass no gradient to the old values and the value receives theirs (torch's CopySlices)."""
    x = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = bp.tensor(10.0, requires_grad=True)
    y = x * 2
    y[1] = v
    (y * bp.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.tolist() == [2.0, 10.0, 6.0] and x.grad.tolist() == [2.0, 0.0, 6.0] and v.grad.item() == 2.0
    for op, expected in ((lambda t: t.zero_(), [0.0, 0.0]), (lambda t: t.fill_(3.0), [0.0, 0.0])):
        a = bp.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        op(b)
        (b * 5).sum().backward()
        assert a.grad.tolist() == expected
    a, src = bp.tensor([1.0, 2.0], requires_grad=True), bp.tensor([4.0], requires_grad=True)
    b = a * 1
    b.copy_(src)  # broadcast: src's gradient is summed back
    b.sum().backward()
    assert a.grad.tolist() == [0.0, 0.0] and src.grad.tolist() == [2.0]
    buf = bp.zeros(3)  # a constant that takes a value requiring grad joins the graph, as in torch
    buf[0] = v
    assert buf.requires_grad
    z = x * 1
    view = z[:2]
    z[2] = 0.0  # the base of a view: written; the old view is now stale and refuses to be used
    with pytest.raises(RuntimeError, match="taken before an assignment"):
        view * 1
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0
    with bp.no_grad():
        y.zero_()  # outside recording it is a plain write
    assert y.tolist() == [0.0, 0.0, 0.0]


def test_cross_entropy_backward_reuses_its_buffer_only_on_the_last_backward() -> None:
    """The fused cross-entropy writes its gradient into the forward's (N, C) buffer when the graph is
    not retained; with ``retain_graph=True`` a second backward still sees the forward's values."""
    rng = np.random.default_rng(0)
    x = bp.tensor(rng.standard_normal((5, 7)), requires_grad=True)
    t = bp.tensor(rng.integers(0, 7, 5))
    loss = bp.nn.functional.cross_entropy(x, t)
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-14)
    p = np.exp(x.detach().numpy()) / np.exp(x.detach().numpy()).sum(1, keepdims=True)
    p[np.arange(5), t.numpy()] -= 1
    np.testing.assert_allclose(first, p / 5, rtol=1e-12)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "remainder", "atan2", "maximum", "fmod"])
@pytest.mark.parametrize("reflected", [False, True])
def test_tensor_and_python_float_fast_path_equals_the_general_apply(name: str, reflected: bool) -> None:
    """``x * 0.5`` runs through ``apply_scalar``: the same values, gradients, node name and saved inputs
    as the general ``apply`` of the same op."""
    from backprop import registry
    from backprop.autograd.function import apply, apply_scalar

    op = registry.get(name)
    base = np.random.default_rng(0).uniform(0.5, 2.0, (3, 4))
    results = []
    for fn in (apply, apply_scalar):
        x = bp.tensor(base, requires_grad=True)
        s = 1.5
        if fn is apply:
            y = apply(op, s, x) if reflected else apply(op, x, s)
        else:
            y = apply_scalar(op, x, s, reflected)
        y.backward(bp.ones_like(y))
        saved = [t is x for t in y.grad_fn._saved_tensors]
        results.append((y.detach().numpy(), x.grad.numpy(), y.grad_fn.name(), saved, y.dtype))
    (v0, g0, n0, s0, d0), (v1, g1, n1, s1, d1) = results
    np.testing.assert_array_equal(v0, v1)
    np.testing.assert_array_equal(g0, g1)
    assert (n0, s0, d0) == (n1, s1, d1)


def test_python_float_ops_keep_version_checks() -> None:
    """A saved input changed in place before backward is caught on the fast path too (x ** 2.0 saves x);
    ``x * 2.0`` saves nothing of x (torch), so changing x afterwards is legal."""
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h**2.0
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    h2 = x * 1.0
    z = h2 * 2.0
    h2.add_(1.0)
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    v = x.detach().clone().requires_grad_()[0:1]  # a view: its base's version counter
    w = (v * 1.0) ** 2.0
    assert w.grad_fn.name() == "PowBackward0"
