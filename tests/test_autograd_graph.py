"""``bp.autograd.graph``: saved-tensor hooks (counts and gradients against torch's), ``save_on_cpu``,
``disable_saved_tensors_hooks``, multi-gradient hooks, gradient edges, ``Node`` and ``increment_version``."""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop.autograd import function, graph

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = None
    TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")

A = np.random.default_rng(1).standard_normal((3, 4))
B = np.random.default_rng(2).standard_normal((3, 4))


class Counter:
    """A pack/unpack pair that counts its calls and keeps the values apart from the graph."""

    def __init__(self) -> None:
        self.packs = 0
        self.unpacks = 0
        self.packed: list = []

    def pack(self, t):
        self.packs += 1
        self.packed.append(t)
        return t.detach()

    def unpack(self, t):
        self.unpacks += 1
        return t


# (name, function of (library, functional module, a, b)); every op here saves what torch's saves
CASES = [
    ("mul", lambda L, F_, a, b: a * b),
    ("add", lambda L, F_, a, b: a + b),
    ("mul_scalar", lambda L, F_, a, b: a * 2),
    ("exp", lambda L, F_, a, b: a.exp()),
    ("sin", lambda L, F_, a, b: a.sin()),
    ("tanh", lambda L, F_, a, b: a.tanh()),
    ("relu", lambda L, F_, a, b: a.relu()),
    ("div", lambda L, F_, a, b: a / b),
    ("pow", lambda L, F_, a, b: a.pow(2)),
    ("matmul", lambda L, F_, a, b: a @ b.T),
    ("linear", lambda L, F_, a, b: F_.linear(a, b)),
    ("softmax", lambda L, F_, a, b: L.softmax(a, -1)),
    ("log_softmax", lambda L, F_, a, b: L.log_softmax(a, -1)),
    ("sum_of_square", lambda L, F_, a, b: (a * a).sum()),
    ("mse_loss", lambda L, F_, a, b: F_.mse_loss(a, b)),
    ("logsumexp", lambda L, F_, a, b: a.logsumexp(-1)),
    ("gelu", lambda L, F_, a, b: F_.gelu(a)),
    ("where", lambda L, F_, a, b: L.where(a > 0, a, b)),
    ("prod", lambda L, F_, a, b: a.prod(-1)),
    ("cat", lambda L, F_, a, b: L.cat([a, b])),
]


def _run(lib, fn_module, fn, counter):
    a = lib.tensor(A, requires_grad=True)
    b = lib.tensor(B, requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        y = fn(lib, fn_module, a, b)
    y.sum().backward()
    return a.grad.numpy(), b.grad


# ---------------------------------------------------------------- saved_tensors_hooks
@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_hooks_gradients_equal_plain_ones(name, fn) -> None:
    counter = Counter()
    got, _ = _run(bp, F, fn, counter)
    a = bp.tensor(A, requires_grad=True)
    b = bp.tensor(B, requires_grad=True)
    fn(bp, F, a, b).sum().backward()
    np.testing.assert_array_equal(got, a.grad.numpy())
    assert counter.packs == counter.unpacks


@needs_torch
@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_hook_counts_and_gradients_match_torch(name, fn) -> None:
    ours, theirs = Counter(), Counter()
    got, _ = _run(bp, F, fn, ours)
    want, _ = _run(torch, TF, fn, theirs)
    assert (ours.packs, ours.unpacks) == (theirs.packs, theirs.unpacks)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_pack_sees_the_saved_tensor_itself() -> None:
    x = bp.tensor(A, requires_grad=True)
    counter = Counter()
    with graph.saved_tensors_hooks(counter.pack, counter.unpack):
        y = x * x  # saves x twice
        z = x.exp()  # saves its output
    assert counter.packed[0] is x and counter.packed[1] is x
    assert counter.packed[2] is z and counter.packed[2].grad_fn is z.grad_fn
    (y + z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * A + np.exp(A))


def test_compress_decompress_hooks_give_identical_gradients() -> None:
    def pack(t):
        data = t.detach().numpy()
        return data.shape, data.dtype, zlib.compress(data.tobytes())

    def unpack(packed):
        shape, dtype, blob = packed
        return bp.tensor(np.frombuffer(zlib.decompress(blob), dtype=dtype).reshape(shape))

    def model(x, w1, w2):
        return F.cross_entropy(F.gelu(x @ w1).tanh() @ w2, bp.tensor([0, 2, 1]))

    rng = np.random.default_rng(0)
    x = bp.tensor(rng.standard_normal((3, 5)))
    w = [bp.tensor(rng.standard_normal(s), requires_grad=True) for s in ((5, 6), (6, 3))]
    v = [bp.tensor(p.detach().numpy(), requires_grad=True) for p in w]
    with graph.saved_tensors_hooks(pack, unpack):
        loss = model(x, *w)
    loss.backward()
    model(x, *v).backward()
    for p, q in zip(w, v):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_retained_graph_unpacks_once_per_backward_and_frees_after() -> None:
    x = bp.tensor(A, requires_grad=True)
    counter = Counter()
    with graph.saved_tensors_hooks(counter.pack, counter.unpack):
        y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert (counter.packs, counter.unpacks) == (2, 4)  # torch's counts
    np.testing.assert_allclose(x.grad.numpy(), 4 * A)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_double_backward_through_unpacked_values() -> None:
    x = bp.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t.detach() * 1, lambda t: t):
        y = (x.sin() * x).sum()
    (g,) = bp.autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    # d/dx of (cos x * x + sin x) = 2 cos x - x sin x
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(A) - A * np.sin(A), rtol=1e-12)


@needs_torch
def test_double_backward_with_hooks_matches_torch() -> None:
    results = []
    for lib in (bp, torch):
        x = lib.tensor(A, requires_grad=True)
        w = lib.tensor(B, requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
            y = (lib.tanh(x @ w.T).exp() * x[:, :3]).sum()
        gx, gw = lib.autograd.grad(y, (x, w), create_graph=True)
        (gx.pow(2).sum() + gw.sum()).backward()
        results.append((x.grad.detach().numpy(), w.grad.detach().numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_innermost_hooks_apply_and_nesting_restores() -> None:
    x = bp.tensor(A, requires_grad=True)
    outer, inner = Counter(), Counter()
    with graph.saved_tensors_hooks(outer.pack, outer.unpack):
        with graph.saved_tensors_hooks(inner.pack, inner.unpack):
            y = x * x
        z = x.sin()
    (y + z).sum().backward()
    assert (outer.packs, inner.packs) == (1, 2)
    assert (outer.unpacks, inner.unpacks) == (1, 2)


def test_ops_inside_a_pack_hook_are_not_packed_again() -> None:
    x = bp.tensor(A, requires_grad=True)
    calls = []

    def pack(t):
        calls.append(t.shape)
        return (t * t).sum(), t.detach()  # records a mul that saves t twice: not packed

    with graph.saved_tensors_hooks(pack, lambda packed: packed[1]):
        y = x.exp()
    assert len(calls) == 1  # torch's count too
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(A))


def test_no_cost_when_unused_record_is_rebound_only_while_active() -> None:
    plain = function._record
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        assert function._record is not plain
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            pass
        assert function._record is not plain
    assert function._record is plain


def test_hooks_are_thread_local() -> None:
    counter = Counter()
    started, release = threading.Event(), threading.Event()
    seen: list = []

    def other() -> None:
        started.wait()
        x = bp.tensor(A, requires_grad=True)
        y = x * x  # the main thread's hooks are not this thread's
        seen.append(y.grad_fn._saved is not None)
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with graph.saved_tensors_hooks(counter.pack, counter.unpack):
        started.set()
        release.wait()
    thread.join()
    assert seen == [True] and counter.packs == 0


def test_unpack_must_return_a_matching_tensor() -> None:
    x = bp.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: 3):
        y = x * x
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor.*int.*'mul'"):
        y.sum().backward()
    with graph.saved_tensors_hooks(lambda t: t, lambda t: bp.zeros(5, dtype=bp.float64)):
        y = x * x
    with pytest.raises(RuntimeError, match=r"shape \(5,\).*'mul'.*expected shape \(3, 4\)"):
        y.sum().backward()


def test_ops_with_an_aux_value_keep_their_saved_tensors() -> None:
    """Documented difference: the fused cross_entropy (an aux op) does not call the hooks, and its
    gradient is the plain one."""
    logits = bp.tensor(A, requires_grad=True)
    counter = Counter()
    with graph.saved_tensors_hooks(counter.pack, counter.unpack):
        loss = F.cross_entropy(logits, bp.tensor([0, 3, 1]))
    loss.backward()
    assert counter.packs == 0
    p = np.exp(A) / np.exp(A).sum(1, keepdims=True)
    p[[0, 1, 2], [0, 3, 1]] -= 1
    np.testing.assert_allclose(logits.grad.numpy(), p / 3, rtol=1e-12)


def test_compiled_step_with_hooks_runs_eagerly() -> None:
    w = bp.tensor(B[:, :2].copy(), requires_grad=True)
    counter = Counter()

    @bp.compile
    def step(x):
        w.grad = None
        with graph.saved_tensors_hooks(counter.pack, counter.unpack):
            loss = (x @ w).tanh().sum()
        loss.backward()
        return loss

    x = bp.tensor(A.T.copy())
    with pytest.warns(RuntimeWarning, match="saved-tensor hooks"):
        for _ in range(3):
            step(x)
    assert counter.packs == 3 * 3  # matmul's two inputs and tanh's output, at every (eager) call
    t = np.tanh(A.T @ B[:, :2])
    np.testing.assert_allclose(w.grad.numpy(), A @ (1 - t**2), rtol=1e-12)


# ---------------------------------------------------------------- save_on_cpu, disable
def test_save_on_cpu_on_cpu_keeps_the_memory_and_the_gradients() -> None:
    x = bp.tensor(A, requires_grad=True)
    with graph.save_on_cpu(pin_memory=True):
        y = (x.exp() * x).sum()
    node = y.grad_fn.next_functions[0][0]  # mul: it saved exp's output and x
    (_, _), (device, kept) = node.aux.items
    assert device == x.device and kept._data is x._data and not kept.requires_grad  # no copy on CPU
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(A) * (1 + A), rtol=1e-12)


def _save_on_cpu_round_trip(device: str) -> None:
    x = bp.tensor(A, device=device, requires_grad=True)
    w = bp.tensor(B.T.copy(), device=device, requires_grad=True)
    with graph.save_on_cpu():
        y = ((x @ w).tanh() * x.sum()).sum()
    kept = [item for node in (y.grad_fn.next_functions[0][0],) for item in node.aux.items]
    assert kept and all(dev.type == device and t.device.type == "cpu" for dev, t in kept)
    y.backward()
    assert x.grad.device.type == device
    t = np.tanh(A @ B.T)
    gw = A.T @ ((1 - t**2) * A.sum())
    np.testing.assert_allclose(w.grad.cpu().numpy(), gw, rtol=1e-12)


def test_save_on_cpu_brings_saved_tensors_back_to_their_device(device: str) -> None:
    _save_on_cpu_round_trip(device)


def test_save_on_cpu_copies_device_tensors_to_the_host_under_the_cupy_standin() -> None:
    from cupy_standin import use_standin

    with use_standin():
        _save_on_cpu_round_trip("cuda")


def test_save_on_cpu_pack_is_detached_host_data() -> None:
    x = bp.tensor(A, requires_grad=True)
    device, kept = graph._pack_to_cpu(x * 2)
    assert device.type == "cpu" and kept.device.type == "cpu" and not kept.requires_grad
    np.testing.assert_array_equal(graph._unpack_from_cpu((device, kept)).numpy(), 2 * A)


def test_disable_saved_tensors_hooks() -> None:
    with graph.disable_saved_tensors_hooks("no hooks here"):
        with pytest.raises(RuntimeError, match="no hooks here"):
            with graph.save_on_cpu():
                pass
        with graph.disable_saved_tensors_hooks("inner"):
            with pytest.raises(RuntimeError, match="inner"):
                with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                    pass
        with pytest.raises(RuntimeError, match="no hooks here"):
            with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):  # enabled again
        with pytest.raises(RuntimeError, match="active"):
            with graph.disable_saved_tensors_hooks("hooks are active"):
                pass
    assert function._record is graph._plain_record


# ---------------------------------------------------------------- multi-grad hooks
def _doc_example(lib, with_grad: bool = False):
    """torch's documentation example of register_multi_grad_hook (torch 2.13 cannot run the hook of a
    leaf inside autograd.grad: ``with_grad`` adds that case, for backprop alone)."""
    a = lib.tensor(A[:2, :3], requires_grad=True)
    b = lib.tensor(B[:2, :3], requires_grad=True)
    c, d = a * b, a * b
    seen: list = []
    handle = lib.autograd.graph.register_multi_grad_hook(
        (a, b, c, d), lambda gs: seen.append([g is not None for g in gs])
    )
    c.sum().backward(retain_graph=True)
    c.sum().backward(inputs=(a,), retain_graph=True)
    if with_grad:
        lib.autograd.grad(d.sum(), (a, b))
    handle.remove()
    c.sum().backward(retain_graph=True)  # removed: no call
    return seen


def test_multi_grad_hook_all() -> None:
    seen = _doc_example(bp, with_grad=True)
    assert seen == [[True, True, True, False], [True, False, True, False], [True, True, False, True]]


@needs_torch
def test_multi_grad_hook_all_matches_torch() -> None:
    assert _doc_example(bp) == _doc_example(torch)


def test_multi_grad_hook_all_passes_the_gradients() -> None:
    a = bp.tensor(A, requires_grad=True)
    b = bp.tensor(B, requires_grad=True)
    got: list = []
    with graph.register_multi_grad_hook((a, b), got.append):
        (a * b * 3).sum().backward()
    (a * 2).sum().backward()  # (the context removed the hook)
    assert len(got) == 1 and isinstance(got[0], list)
    np.testing.assert_allclose(got[0][0].numpy(), 3 * B)
    np.testing.assert_allclose(got[0][1].numpy(), 3 * A)


def test_multi_grad_hook_any_runs_once_per_backward() -> None:
    a = bp.tensor(A, requires_grad=True)
    b = bp.tensor(B, requires_grad=True)
    c = bp.tensor(A)  # no grad: skipped, as torch
    calls: list = []
    handle = graph.register_multi_grad_hook((a, b, c), calls.append, mode="any")
    (a * b).sum().backward()
    (a * 5).sum().backward()
    handle.remove()
    handle.remove()  # twice is fine
    (a * b).sum().backward()
    assert len(calls) == 2
    assert any(np.allclose(calls[0].numpy(), x) for x in (A, B))
    np.testing.assert_allclose(calls[1].numpy(), np.full_like(A, 5.0))


def test_multi_grad_hook_errors() -> None:
    a = bp.tensor(A, requires_grad=True)
    with pytest.raises(ValueError, match="mode to be one of"):
        graph.register_multi_grad_hook((a,), print, mode="some")
    with pytest.raises(RuntimeError, match=r"tensors\[1\].*doesn't require gradient"):
        graph.register_multi_grad_hook((a, bp.tensor(A)), print)


@needs_torch
def test_multi_grad_hook_any_matches_torch() -> None:
    firsts = []
    for lib in (bp, torch):
        a = lib.tensor(A, requires_grad=True)
        b = lib.tensor(B, requires_grad=True)
        seen: list = []
        lib.autograd.graph.register_multi_grad_hook(
            (a, b), lambda g, seen=seen: seen.append(g.detach().numpy()), mode="any"
        )
        (a.exp() * 2).sum().backward()
        firsts.append(seen)
    assert len(firsts[0]) == len(firsts[1]) == 1
    np.testing.assert_allclose(firsts[0][0], firsts[1][0])


# ---------------------------------------------------------------- edges, nodes, versions
def test_gradient_edges_as_grad_inputs() -> None:
    x = bp.tensor(A, requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    ex, eh = graph.get_gradient_edge(x), graph.get_gradient_edge(h)
    assert ex.output_nr == 0 and ex.node.name() == "torch::autograd::AccumulateGrad" and eh.node is h.grad_fn
    gx, gh = bp.autograd.grad(y, [ex, eh], retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), 18 * A)
    np.testing.assert_allclose(gh.numpy(), 6 * A)
    (single,) = bp.autograd.grad(y, eh)
    np.testing.assert_allclose(single.numpy(), 6 * A)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        graph.get_gradient_edge(bp.tensor(A))


@needs_torch
def test_gradient_edge_matches_torch() -> None:
    out = []
    for lib in (bp, torch):
        x = lib.tensor(A, requires_grad=True)
        h = x.sin()
        edge = lib.autograd.graph.get_gradient_edge(h)
        out.append([g.numpy() for g in lib.autograd.grad((h * h * x).sum(), [edge, x])])
    for ours, theirs in zip(*out):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_node_isinstance() -> None:
    x = bp.tensor(A, requires_grad=True)
    y = x.exp()
    assert isinstance(y.grad_fn, graph.Node)
    assert isinstance(graph.get_gradient_edge(x).node, graph.Node)
    assert isinstance(y.grad_fn.next_functions[0][0], graph.Node)
    assert not isinstance(3, graph.Node) and not isinstance(x, graph.Node)


def test_increment_version_is_caught_by_backward() -> None:
    x = bp.tensor(A, requires_grad=True)
    v = bp.tensor(B)
    before = v._version
    graph.increment_version(v)
    graph.increment_version([v, v])
    assert v._version == before + 3
    y = (x * v).sum()
    graph.increment_version(v)  # as if a kernel had written into v
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    with pytest.raises(TypeError, match="increment_version"):
        graph.increment_version([v, 3])
