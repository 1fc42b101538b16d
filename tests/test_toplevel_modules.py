"""torch's top-level modules and names backprop adds: accelerator, compiler, cpu, return_types, functional,
library, quasirandom, cond/while_loop and the small names. Written-out expectations run everywhere; the
torch cross-checks skip when torch is absent."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp
from backprop import Tensor

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
HAS_CUDA = bp.cuda.is_available()


def _np(t: object) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---------------------------------------------------------------- accelerator
def test_tutorial_opening_line() -> None:
    device = bp.accelerator.current_accelerator().type if bp.accelerator.is_available() else "cpu"
    assert device == ("cuda" if HAS_CUDA else "cpu")
    x = bp.ones(2, device=device)
    assert x.device.type == device


@pytest.mark.skipif(HAS_CUDA, reason="the CPU-only answers")
def test_accelerator_without_one() -> None:
    A = bp.accelerator
    assert A.is_available() is False and A.current_accelerator() is None
    assert A.current_accelerator(check_available=True) is None and A.device_count() == 0
    msg = "Cannot access accelerator device when none is available."
    for fn in (A.current_device_index, A.synchronize, A.current_stream, A.empty_cache, A.memory_allocated):
        with pytest.raises(RuntimeError, match=msg):
            fn()
    with pytest.raises(RuntimeError, match=msg):
        A.set_device_index(0)
    with pytest.raises(RuntimeError, match="Accelerator expected"):
        A.synchronize("cpu")
    A.set_device_index(-1)  # negative: a no-op
    with A.device_index(None):
        pass
    with pytest.raises(RuntimeError, match=msg), A.device_index(0):
        pass
    with pytest.warns(FutureWarning, match="current_device_index"), pytest.raises(RuntimeError):
        A.current_device_idx()


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_accelerator_with_cuda() -> None:
    A = bp.accelerator
    assert A.is_available() and A.current_accelerator().type == "cuda"
    assert A.device_count() == bp.cuda.device_count() >= 1
    assert A.current_device_index() == bp.cuda.current_device()
    with A.device_index(0):
        assert A.current_device_index() == 0
    x = bp.ones(1000, device="cuda")
    A.synchronize()
    assert A.memory_allocated() >= x.numel() * 4
    assert A.max_memory_allocated() >= A.memory_allocated()
    free, total = A.get_memory_info()
    assert 0 < free <= total
    assert "allocated_bytes.all.current" in A.memory_stats()
    s = A.current_stream()
    A.set_stream(s)
    with pytest.raises(ValueError, match="doesn't match"):
        A.synchronize("cpu")


@needs_torch
def test_accelerator_matches_torch() -> None:
    assert bp.accelerator.is_available() == torch.accelerator.is_available() or HAS_CUDA
    assert set(bp.accelerator.__all__) <= set(torch.accelerator.__all__)
    if not torch.accelerator.is_available() and not HAS_CUDA:
        assert bp.accelerator.current_accelerator() is torch.accelerator.current_accelerator() is None
        assert bp.accelerator.device_count() == torch.accelerator.device_count() == 0


# ---------------------------------------------------------------- compiler
def test_compiler_no_ops() -> None:
    C = bp.compiler
    assert not C.is_compiling() and not C.is_dynamo_compiling() and not C.is_exporting()

    def f(x: int) -> int:
        return x + 1

    assert C.disable(f)(1) == 2 and C.disable(recursive=False)(f)(2) == 3 and C.disable(f).__name__ == "f"

    @C.disable
    def g(x: int) -> int:
        return x * 2

    assert g(3) == 6
    assert C.allow_in_graph(f) is f and C.assume_constant_result(f) is f and C.wrap_numpy(f) is f
    assert C.reset() is None and C.cudagraph_mark_step_begin() is None
    with C.set_stance("force_eager"):
        assert C.get_stance() == "force_eager"
    assert C.get_stance() == "default"

    @C.set_stance("force_eager")
    def h(x: int) -> str:
        return C.get_stance()

    assert h(1) == "force_eager" and C.get_stance() == "default"
    assert C.compile is not bp.compile and callable(C.compile)
    lin = bp.nn.Linear(2, 2)
    assert isinstance(C.compile(lin), bp.nn.Module)


@needs_torch
def test_compiler_matches_torch() -> None:
    for name in ("is_compiling", "is_dynamo_compiling", "is_exporting"):
        assert getattr(bp.compiler, name)() == getattr(torch.compiler, name)()
    assert set(bp.compiler.__all__) - {"get_stance"} <= set(torch.compiler.__all__)


# ---------------------------------------------------------------- cpu
def test_cpu_module() -> None:
    P = bp.cpu
    assert P.is_available() and P.is_initialized() and P.device_count() == 1 and P.current_device() == "cpu"
    assert P.synchronize() is None and P.set_device("cpu") is None
    s = P.Stream()
    assert P.current_stream() is not s
    with P.stream(s):
        assert P.current_stream() is s
    assert P.current_stream() is not s
    with P.StreamContext(None):
        pass
    e = P.Event()
    assert e.query() and e.record() is None
    assert "architecture" in P.get_capabilities()


def test_cpu_amp_autocast_deprecated() -> None:
    with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
        ctx = bp.cpu.amp.autocast()
    with ctx:
        assert bp.is_autocast_enabled("cpu")
        y = bp.ones(2, 2) @ bp.ones(2, 2)
        assert y.dtype == bp.bfloat16
    assert not bp.is_autocast_enabled("cpu")
    with pytest.warns(FutureWarning, match="GradScaler"):
        bp.cpu.amp.GradScaler()
    import backprop.cpu.amp as cpu_amp

    assert cpu_amp is bp.cpu.amp


@needs_torch
def test_cpu_matches_torch() -> None:
    assert set(bp.cpu.__all__) == set(torch.cpu.__all__)
    for name in ("is_available", "is_initialized", "device_count", "current_device"):
        assert getattr(bp.cpu, name)() == getattr(torch.cpu, name)()


# ---------------------------------------------------------------- return_types, functional
def test_return_types_are_what_ops_return() -> None:
    R = bp.return_types
    x = bp.randn(3, 4)
    assert isinstance(x.max(0), R.max) and isinstance(bp.sort(x), R.sort) and isinstance(x.topk(2), R.topk)
    assert isinstance(bp.aminmax(x), R.aminmax) and isinstance(bp.frexp(x), R.frexp)
    assert isinstance(bp.linalg.svd(bp.randn(3, 3)), R.linalg_svd) and R.linalg_svd._fields == ("U", "S", "Vh")
    assert R.svd._fields == ("U", "S", "V") and R.max_out is not R.max and not isinstance(x.sort(), R.max)
    assert R.geqrf._fields == ("a", "tau") and R.linalg_ldl_factor_ex._fields == ("LD", "pivots", "info")
    assert all(isinstance(t, type) for t in R.all_return_types)


@needs_torch
def test_return_types_match_torch_names_and_fields() -> None:
    torch_names = {n for n in dir(torch.return_types) if not n.startswith("_")} - {
        "SequenceKey", "all_return_types", "inspect", "name", "pytree_register_structseq", "register_pytree_node",
        "return_types", "torch",
    }  # fmt: skip
    assert torch_names <= set(bp.return_types.__all__)
    x = torch.randn(3, 4)
    assert torch.return_types.max.__match_args__ == bp.return_types.max._fields
    for name in ("aminmax", "frexp", "linalg_svd", "svd", "slogdet", "linalg_eigh", "histogram", "geqrf"):
        assert getattr(torch.return_types, name).__match_args__ == getattr(bp.return_types, name)._fields, name
    assert x.max(0)._fields if hasattr(x.max(0), "_fields") else True


def test_functional_module() -> None:
    F = bp.functional
    assert F.einsum is bp.einsum and F.meshgrid is bp.meshgrid and F.unique is bp.unique
    from backprop.functional import broadcast_shapes

    assert broadcast_shapes((2, 1), (3,)) == (2, 3)
    with pytest.raises(AttributeError):
        F.nothing  # noqa: B018
    assert set(F.__all__) <= set(dir(F))


@needs_torch
def test_functional_matches_torch() -> None:
    assert set(bp.functional.__all__) == set(torch.functional.__all__)
    for name in bp.functional.__all__:
        assert callable(getattr(bp.functional, name)), name


# ---------------------------------------------------------------- library
def test_custom_op_autograd_and_kernels() -> None:
    @bp.library.custom_op("bptest::sin2", mutates_args=())
    def sin2(x: Tensor) -> Tensor:
        return x.sin() * 2

    assert repr(sin2) == "<CustomOpDef(bptest::sin2)>" and sin2._schema == "(Tensor x) -> Tensor"
    x = bp.tensor([0.1, 0.5, 1.0], requires_grad=True)
    y = sin2(x)
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="no autograd formula was registered"):
        y.sum().backward()

    def setup_context(ctx, inputs, output):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(inputs[0])

    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return 2 * g * x.cos()

    sin2.register_autograd(backward, setup_context=setup_context)
    y = sin2(x)
    assert "GeneratedBackwardFor_bptest_sin2_default" in type(y.grad_fn).__name__ or "sin2" in str(y.grad_fn)
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), 2 * np.cos(_np(x)), rtol=1e-6)
    assert bp.library.ops.bptest.sin2 is sin2

    @sin2.register_fake
    def _(x: Tensor) -> Tensor:
        return bp.empty_like(x)

    assert bp.library.opcheck(sin2, (bp.randn(3),))["test_faketensor"] == "SUCCESS"

    @sin2.register_kernel("cpu")
    def _(x: Tensor) -> Tensor:
        return x * 100

    assert _np(sin2(bp.ones(1))).tolist() == [100.0]


def test_custom_op_schema_mutation_and_errors() -> None:
    with pytest.raises(ValueError, match="not enough values"):
        bp.library.custom_op("nonamespace", mutates_args=())(lambda x: x)
    with pytest.raises(ValueError, match="must have a type annotation"):

        @bp.library.custom_op("bptest::noann", mutates_args=())
        def noann(x):  # type: ignore[no-untyped-def]
            return x

    @bp.library.custom_op("bptest::same", mutates_args=())
    def same(x: Tensor) -> Tensor:
        return x

    with pytest.raises(RuntimeError, match="must not also be an input"):
        same(bp.ones(2))

    @bp.library.custom_op("bptest::addi", mutates_args={"x"})
    def addi(x: Tensor, y: Tensor) -> None:
        x.add_(y)

    a = bp.ones(2)
    addi(a, bp.ones(2))
    assert _np(a).tolist() == [2.0, 2.0]
    assert addi._schema == "(Tensor(a0!) x, Tensor y) -> ()"

    def q(x: Tensor, n: int, *, s: float = 1.0) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    assert bp.library.infer_schema(q, mutates_args=()) == "(Tensor x, SymInt n, *, float s=1.0) -> (Tensor, Tensor)"


def test_library_define_impl() -> None:
    lib = bp.library.Library("bptestlib", "FRAGMENT")
    lib.define("twice(Tensor x) -> Tensor")
    lib.impl("twice", lambda x: x * 2, "CPU")
    assert _np(bp.library.ops.bptestlib.twice(bp.ones(2))).tolist() == [2.0, 2.0]
    bp.library.define("bptestlib::thrice", "(Tensor x) -> Tensor")

    @bp.library.impl("bptestlib::thrice", "cpu")
    def thrice(x: Tensor) -> Tensor:
        return x * 3

    assert _np(bp.library.ops.bptestlib.thrice(bp.ones(1))).tolist() == [3.0]


@needs_torch
def test_infer_schema_matches_torch() -> None:
    def q(x: Tensor, n: int, *, s: float = 1.0) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def tq(x: torch.Tensor, n: int, *, s: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    assert bp.library.infer_schema(q, mutates_args=()) == torch.library.infer_schema(tq, mutates_args=())


# ---------------------------------------------------------------- quasirandom
def test_sobol_written_out() -> None:
    e = bp.quasirandom.SobolEngine(dimension=5)
    first = e.draw(3)
    assert first.dtype == bp.float32 and tuple(first.shape) == (3, 5)
    assert _np(first).tolist() == [[0.0] * 5, [0.5] * 5, [0.75, 0.25, 0.25, 0.25, 0.75]]
    assert e.num_generated == 3 and repr(e) == "SobolEngine(dimension=5)"
    assert e.draw(2, dtype=bp.float64).dtype == bp.float64
    with pytest.raises(ValueError, match="power of 2"):
        e.draw_base2(2)
    with pytest.raises(ValueError, match=r"\[1, 21201\]"):
        bp.quasirandom.SobolEngine(0)


def test_sobol_scrambled_deterministic_and_uniform() -> None:
    a = bp.quasirandom.SobolEngine(3, scramble=True, seed=7).draw(256)
    b = bp.quasirandom.SobolEngine(3, scramble=True, seed=7).draw(256)
    c = bp.quasirandom.SobolEngine(3, scramble=True, seed=8).draw(256)
    assert np.array_equal(_np(a), _np(b)) and not np.array_equal(_np(a), _np(c))
    pts = _np(a)
    assert pts.min() >= 0 and pts.max() < 1
    # a (scrambled) Sobol net: each of the 16 equal bins of every coordinate holds 256/16 points
    for d in range(3):
        assert np.all(np.bincount((pts[:, d] * 16).astype(int), minlength=16) == 16)
    bp.manual_seed(0)
    u = bp.quasirandom.SobolEngine(2, scramble=True).draw(4)
    bp.manual_seed(0)
    assert np.array_equal(_np(u), _np(bp.quasirandom.SobolEngine(2, scramble=True).draw(4)))


@needs_torch
@pytest.mark.parametrize("dim", range(1, 11))
def test_sobol_equals_torch(dim: int) -> None:
    t = torch.quasirandom.SobolEngine(dim)
    b = bp.quasirandom.SobolEngine(dim)
    for n in (1, 1, 5, 100, 1000, 3):
        np.testing.assert_array_equal(_np(b.draw(n)), t.draw(n).numpy())
    t.fast_forward(37)
    b.fast_forward(37)
    np.testing.assert_array_equal(_np(b.draw(10, dtype=bp.float64)), t.draw(10, dtype=torch.float64).numpy())
    t.reset()
    b.reset()
    t.fast_forward(5)
    b.fast_forward(5)
    np.testing.assert_array_equal(_np(b.draw(4)), t.draw(4).numpy())
    t.reset()
    b.reset()
    np.testing.assert_array_equal(_np(b.draw_base2(4)), t.draw_base2(4).numpy())
    assert b.num_generated == t.num_generated


@needs_torch
def test_sobol_high_dimension_equals_torch() -> None:
    np.testing.assert_array_equal(
        _np(bp.quasirandom.SobolEngine(1000).draw(1024)), torch.quasirandom.SobolEngine(1000).draw(1024).numpy()
    )


# ---------------------------------------------------------------- cond, while_loop
def test_cond_and_while_loop() -> None:
    x = bp.tensor([0.5, -1.0], requires_grad=True)
    y = bp.cond(x.sum() > 0, lambda v: v.sin(), lambda v: v.cos(), (x,))
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), -np.sin(_np(x)), rtol=1e-6)
    assert isinstance(bp.cond(True, lambda v: (v + 1, v * 2), lambda v: (v, v), (x,)), tuple)
    assert _np(bp.cond(1, lambda: bp.ones(2), lambda: bp.zeros(2))).tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="single-element tensor"):
        bp.cond(bp.tensor([True, False]), lambda v: v, lambda v: v, (x,))
    i, s = bp.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s * 2), (bp.tensor(0), bp.ones(2)))
    assert int(i) == 5 and _np(s).tolist() == [32.0, 32.0]
    (j,) = bp.while_loop(lambda i: i < 3, lambda i: i + 1, (bp.tensor(0),))
    assert int(j) == 3


@needs_torch
def test_cond_while_loop_match_torch() -> None:
    tx = torch.randn(3)
    bx = bp.tensor(tx.numpy())
    tr = torch.cond(tx.sum() > 0, lambda v: v.sin(), lambda v: v.cos(), (tx,))
    br = bp.cond(bx.sum() > 0, lambda v: v.sin(), lambda v: v.cos(), (bx,))
    np.testing.assert_allclose(_np(br), tr.numpy(), rtol=1e-6)
    tw = torch.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 3), (torch.tensor(0), torch.ones(2)))
    bw = bp.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 3), (bp.tensor(0), bp.ones(2)))
    assert type(tw) is type(bw) is tuple
    np.testing.assert_array_equal(_np(bw[1]), tw[1].numpy())


# ---------------------------------------------------------------- small names
def test_small_names() -> None:
    x = bp.empty_permuted((2, 3, 4), (0, 2, 1))
    assert tuple(x.shape) == (2, 3, 4) and tuple(x.stride()) == (12, 1, 3)
    assert bp.is_distributed(bp.ones(1)) is False
    assert bp.has_lapack is True and bp.has_spectral is True
    assert bp.get_device_module("cpu") is bp.cpu and bp.get_device_module("cuda:0") is bp.cuda
    assert bp.get_device_module() is (bp.cuda if HAS_CUDA else bp.cpu)
    assert bp.get_device_module(bp.device("cpu")) is bp.cpu
    with pytest.raises(RuntimeError, match="does not have a corresponding module"):
        bp.get_device_module("foo")
    capsule = bp.to_dlpack(bp.arange(3.0))
    assert type(capsule).__name__ == "PyCapsule"
    for name in ("accelerator", "cond", "segment_reduce", "quasirandom"):
        assert name in bp.__all__ and name in dir(bp)


def test_segment_reduce_written_out() -> None:
    d = bp.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    lengths = bp.tensor([2, 0, 3])
    expected = {
        "sum": ([3.0, 0.0, 12.0], [13.0, 10.0, 22.0]),
        "max": ([2.0, -np.inf, 5.0], [10.0, 10.0, 10.0]),
        "min": ([1.0, np.inf, 3.0], [1.0, 10.0, 3.0]),
        "prod": ([2.0, 1.0, 60.0], [20.0, 10.0, 600.0]),
    }
    for reduce, (plain, with_initial) in expected.items():
        assert _np(bp.segment_reduce(d, reduce, lengths=lengths)).tolist() == plain
        assert _np(bp.segment_reduce(d, reduce, lengths=lengths, initial=10.0)).tolist() == with_initial
    mean = _np(bp.segment_reduce(d, "mean", lengths=lengths))
    assert mean[0] == 1.5 and np.isnan(mean[1]) and mean[2] == 4.0
    two = bp.segment_reduce(bp.arange(12.0).reshape(6, 2), "sum", offsets=bp.tensor([0, 2, 6]))
    assert _np(two).tolist() == [[2.0, 4.0], [28.0, 32.0]]
    w = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    bp.segment_reduce(w, "prod", lengths=bp.tensor([1, 2])).sum().backward()
    assert _np(w.grad).tolist() == [1.0, 3.0, 2.0]


@needs_torch
def test_segment_reduce_and_lobpcg_match_torch() -> None:
    data = np.random.default_rng(0).standard_normal((7, 3))
    for reduce in ("sum", "mean", "max", "min", "prod"):
        for initial in (None, 0.5):
            t = torch.segment_reduce(torch.tensor(data), reduce, lengths=torch.tensor([3, 0, 4]), initial=initial)
            b = bp.segment_reduce(bp.tensor(data), reduce, lengths=bp.tensor([3, 0, 4]), initial=initial)
            np.testing.assert_allclose(_np(b), t.numpy(), rtol=1e-12)
    a = np.random.default_rng(1).standard_normal((12, 12))
    a = a @ a.T + np.eye(12)
    for largest in (True, False):
        te, _ = torch.lobpcg(torch.tensor(a), k=3, largest=largest)
        be, bx = bp.lobpcg(bp.tensor(a), k=3, largest=largest)
        np.testing.assert_allclose(_np(be), te.numpy(), rtol=1e-6)
        np.testing.assert_allclose(a @ _np(bx), _np(bx) * _np(be), atol=1e-8)
    with pytest.raises(ValueError, match="3 x the number"):
        bp.lobpcg(bp.tensor(a[:5, :5]), k=2)


def test_lobpcg_gradient() -> None:
    rng = np.random.default_rng(2)
    m = rng.standard_normal((9, 9))
    A = bp.tensor(m @ m.T + np.eye(9), requires_grad=True)
    e, _ = bp.lobpcg(A, k=1)
    e.sum().backward()
    v = np.linalg.eigh(_np(A))[1][:, -1]
    np.testing.assert_allclose(_np(A.grad), np.outer(v, v), atol=1e-8)


def test_no_warnings_at_import_of_the_new_modules() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import backprop.compiler  # noqa: F401
        import backprop.quasirandom  # noqa: F401
