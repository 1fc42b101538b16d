"""Parity with torch 2.13 for the modules and names that were missing: ``autograd.anomaly_mode``,
``utils.module_tracker``, ``utils.deterministic``, ``__future__`` (and ``Module._apply``), storages,
``export``/``utils.cpp_extension`` refusals, float8 dtypes, ``nn.parallel``'s functions, sparse leftovers."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch")


def test_anomaly_mode_module() -> None:
    mod = importlib.import_module("backprop.autograd.anomaly_mode")
    assert mod.detect_anomaly is bp.autograd.detect_anomaly
    assert mod.set_detect_anomaly is bp.autograd.set_detect_anomaly
    assert sorted(mod.__all__) == sorted(torch.autograd.anomaly_mode.__all__)
    with mod.set_detect_anomaly(True):
        assert bp.is_anomaly_enabled()
    assert not bp.is_anomaly_enabled()


def test_deterministic_fill_uninitialized_memory() -> None:
    import torch.utils.deterministic as tdet

    import backprop.utils.deterministic as det

    assert det.fill_uninitialized_memory is tdet.fill_uninitialized_memory is True
    with pytest.raises(RuntimeError, match="expected a bool"):
        det.fill_uninitialized_memory = 1
    bp.use_deterministic_algorithms(True)
    torch.use_deterministic_algorithms(True)
    try:
        for dt in ("float32", "float64", "int32", "uint8", "bool", "complex64"):
            ours = bp.empty(3, dtype=getattr(bp, dt)).numpy()
            theirs = torch.empty(3, dtype=getattr(torch, dt)).numpy()
            np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(bp.empty_like(bp.ones(2)).numpy(), torch.empty_like(torch.ones(2)).numpy())
        det.fill_uninitialized_memory = False
        assert det.fill_uninitialized_memory is False
    finally:
        det.fill_uninitialized_memory = True
        bp.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


def _module_tracker_log(lib, tracker_cls) -> list:
    """What ``parents`` and ``is_bw`` say inside a nested module's forward and backward."""
    log: list = []

    class Rec(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, tag):
            ctx.tag = tag
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            log.append(("bw", ctx.tag, sorted(tr.parents), tr.is_bw))
            return g, None

    class Inner(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(2, 2)

        def forward(self, x):
            log.append(("fw", sorted(tr.parents), tr.is_bw))
            return Rec.apply(self.lin(x), "inner")

    class Outer(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Inner()
            self.b = lib.nn.ReLU()

        def forward(self, x):
            return Rec.apply(self.b(self.a(x)), "outer")

    m = Outer()
    with tracker_cls() as tr:
        y = m(lib.ones(1, 2, requires_grad=True))
        log.append(("after fw", sorted(tr.parents), tr.is_bw))
        y.sum().backward()
        log.append(("after bw", sorted(tr.parents), tr.is_bw))
    return log


def test_module_tracker() -> None:
    from torch.utils.module_tracker import ModuleTracker as TorchTracker

    from backprop.utils.module_tracker import ModuleTracker

    ours = _module_tracker_log(bp, ModuleTracker)
    assert ours == _module_tracker_log(torch, TorchTracker)
    assert ("bw", "inner", ["Global", "Outer", "Outer.a"], True) in ours


@pytest.mark.parametrize("mode", ["default", "overwrite", "swap"])
def test_future_module_conversion(mode: str) -> None:
    import backprop.__future__ as fut

    def run(lib, f) -> list:
        f.set_overwrite_module_params_on_conversion(mode == "overwrite")
        f.set_swap_module_params_on_conversion(mode == "swap")
        try:
            m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
            m(lib.ones(4, 2)).sum().backward()
            w, g, rm = m[0].weight, m[0].weight.grad, m[1].running_mean
            m.double()
            w2 = m[0].weight
            out = [w2 is w, type(w2).__name__, str(w2.dtype), str(w.dtype), w2.grad is g, str(w2.grad.dtype)]
            out += [str(g.dtype), m[1].running_mean is rm, str(rm.dtype), w2.requires_grad, w2.is_leaf]
            out += [next(iter(m.parameters())) is w2]
            m.to(lib.float64)
            out += [m[0].weight is w2, m[0].weight.grad is w2.grad]
            assert f.get_swap_module_params_on_conversion() is (mode == "swap")
            assert f.get_overwrite_module_params_on_conversion() is (mode == "overwrite")
            return [o.replace("torch.", "") if isinstance(o, str) else o for o in out]
        finally:
            f.set_overwrite_module_params_on_conversion(False)
            f.set_swap_module_params_on_conversion(False)

    ours = run(bp, fut)
    assert ours == run(torch, torch.__future__)
    assert ours[0] is (mode != "overwrite")


_LEGACY_STORAGES = [
    "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
    "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage",
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
@pytest.mark.parametrize("name", _LEGACY_STORAGES)
def test_legacy_storages(name: str) -> None:
    ours, theirs = getattr(bp, name), getattr(torch, name)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    data = [1, 0, 1] if name == "BoolStorage" else [1, 2, 3]
    s, ts = ours(data), theirs(data)
    assert type(s) is bp.TypedStorage and type(ts) is torch.TypedStorage
    assert s.tolist() == ts.tolist() and s.size() == ts.size() == len(s) == 3
    assert s.element_size() == ts.element_size() and s.nbytes() == ts.nbytes()
    assert s.dtype == ours.dtype and isinstance(s, ours) and isinstance(s, bp.storage._LegacyStorage) is False
    assert ours(4).size() == theirs(4).size() and ours().size() == theirs().size() == 0
    assert issubclass(ours, bp.storage._LegacyStorage) and issubclass(ours, bp.storage.TypedStorage)
    others = [n for n in _LEGACY_STORAGES if n != name]
    assert not any(isinstance(s, getattr(bp, n)) for n in others)
    s[0] = 0
    ts[0] = 0
    assert s.tolist() == ts.tolist()
    assert s.fill_(1).tolist() == ts.fill_(1).tolist()
    with pytest.raises(TypeError, match="new\\(\\): invalid data type 'str'"):
        ours("a")
    with pytest.raises(TypeError, match="new\\(\\): invalid data type 'str'"):
        theirs("a")


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_tensor_storage_isinstance() -> None:
    for dt in ("float32", "int64", "bool", "float16"):
        t, tt = bp.ones(2, dtype=getattr(bp, dt)), torch.ones(2, dtype=getattr(torch, dt))
        ours = [isinstance(t.storage(), getattr(bp, n)) for n in _LEGACY_STORAGES]
        assert ours == [isinstance(tt.storage(), getattr(torch, n)) for n in _LEGACY_STORAGES]
        assert t.storage().__class__ is bp.TypedStorage and tt.storage().__class__ is torch.TypedStorage
    assert bp.storage.TypedStorage is bp.TypedStorage and bp.storage.UntypedStorage is bp.UntypedStorage
    assert sorted(bp.storage.__all__) == sorted(torch.storage.__all__)
    t = bp.zeros(3)
    t.storage()[1] = 7.0  # a storage write lands in the tensor's memory, as torch's
    assert t.tolist() == [0.0, 7.0, 0.0]


def test_export_refusals() -> None:
    import torch.export as texport

    from backprop import export

    assert sorted(export.__all__) == sorted(texport.__all__)
    m = bp.nn.Linear(2, 2)
    for name, call in [
        ("export", lambda: export.export(m, (bp.ones(1, 2),))),
        ("draft_export", lambda: export.draft_export(m, (bp.ones(1, 2),))),
        ("save", lambda: export.save(None, "x.pt2")),
        ("load", lambda: export.load("x.pt2")),
        ("unflatten", lambda: export.unflatten(None)),
        ("ExportedProgram", lambda: export.ExportedProgram()),
    ]:
        with pytest.raises(NotImplementedError, match=f"torch.export.{name}: backprop cannot export"):
            call()
    assert not isinstance(m, export.ExportedProgram) and not isinstance(m, export.UnflattenedModule)
    assert repr(export.Dim("b", min=1, max=8)) == repr(texport.Dim("b", min=1, max=8))
    assert repr(export.Dim("b")) == repr(texport.Dim("b"))
    assert [repr(d) for d in export.dims("a", "c", max=4)] == [repr(d) for d in texport.dims("a", "c", max=4)]
    assert repr(export.Dim.AUTO) == repr(texport.Dim.AUTO) and repr(export.Dim.STATIC) == repr(texport.Dim.STATIC)
    for lib in (export, texport):
        with pytest.raises(AssertionError, match="inconsistent min=3, max=2"):
            lib.Dim("b", min=3, max=2)
        with pytest.raises(ValueError, match="as it is not a dataclass"):
            lib.register_dataclass(int)
    assert bp.export is export


def test_cpp_extension_refusals() -> None:
    import torch.utils.cpp_extension as tcpp

    from backprop.utils import cpp_extension as cpp

    assert sorted(cpp.__all__) == sorted(tcpp.__all__)
    for name in ("load", "load_inline", "CppExtension", "CUDAExtension", "BuildExtension"):
        with pytest.raises(NotImplementedError, match=f"cpp_extension.{name}: backprop has no C\\+\\+ API"):
            getattr(cpp, name)("ext", ["ext.cpp"])
    assert isinstance(cpp.BuildExtension, type) and not isinstance(object(), cpp.BuildExtension)
    assert cpp.BuildExtension.with_options(use_ninja=False) is cpp.BuildExtension
    assert cpp.is_ninja_available() == tcpp.is_ninja_available()
    assert cpp.get_default_build_root() == tcpp.get_default_build_root()
    assert bp.utils.cpp_extension is cpp


_FLOAT8 = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"]


def _float8_inputs() -> np.ndarray:
    """float32 values across every float8 range, with NaN, infinities, signed zeros, ties and overflow."""
    rng = np.random.default_rng(0)
    scales = (1e-9, 1e-6, 1e-3, 1.0, 30.0, 300.0, 1e4, 1e6, 1e38)
    with np.errstate(over="ignore"):
        parts = [(rng.standard_normal(3000) * s).astype(np.float32) for s in scales]
    special = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 448, 449, 464, 465, 480, 500, 57344, 61440, 61441]
    special += [240, 247, 248, 2.0**-127, 2.0**127, 3 * 2.0**126, 1.5 * 2.0**-9, 2.0**-10, 2.0**-16, 2.0**-17]
    return np.concatenate([*parts, np.array(special + [-v for v in special], np.float32)])


@pytest.mark.parametrize("name", _FLOAT8)
def test_float8_conversion_bits(name: str) -> None:
    ours, theirs = getattr(bp, name), getattr(torch, name)
    x = _float8_inputs()
    for src, bits in (("float32", "int32"), ("float64", "int64"), ("float16", "int16"), ("bfloat16", "int16")):
        tt = torch.from_numpy(x).to(getattr(torch, src))  # (the same source bits on both sides)
        t = bp.tensor(tt.view(getattr(torch, bits)).numpy()).view(getattr(bp, src))
        got = t.to(ours).view(bp.uint8).numpy()
        np.testing.assert_array_equal(got, tt.to(theirs).view(torch.uint8).numpy(), err_msg=f"{src} -> {name}")
    codes = np.arange(256, dtype=np.uint8)
    f8, tf8 = bp.tensor(codes).view(ours), torch.from_numpy(codes).view(theirs)
    for dst, bits in (("float32", "int32"), ("float64", "int64"), ("float16", "int16"), ("bfloat16", "int16")):
        got = f8.to(getattr(bp, dst)).view(getattr(bp, bits)).numpy()
        want = tf8.to(getattr(torch, dst)).view(getattr(torch, bits)).numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{name} -> {dst}")
    for other in _FLOAT8:  # float8 to float8 (through float32, as torch)
        got = f8.to(getattr(bp, other)).view(bp.uint8).numpy()
        np.testing.assert_array_equal(got, tf8.to(getattr(torch, other)).view(torch.uint8).numpy())
    vals = [1.0, 2.5, 500.0, -0.3, 1e-9, float("inf")]
    got = bp.tensor(vals, dtype=ours).view(bp.uint8).tolist()
    assert got == torch.tensor(vals, dtype=theirs).view(torch.uint8).tolist()
    for v in (500.0, 1e6, float("inf"), 3.0):  # one element: converted (saturating); more: checked, as torch
        got = bp.full((1,), v, dtype=ours).view(bp.uint8).tolist()
        assert got == torch.full((1,), v, dtype=theirs).view(torch.uint8).tolist()
        try:
            want = torch.full((2,), v, dtype=theirs).view(torch.uint8).tolist()
        except RuntimeError as e:
            with pytest.raises(RuntimeError, match=str(e)):
                bp.full((2,), v, dtype=ours)
        else:
            assert bp.full((2,), v, dtype=ours).view(bp.uint8).tolist() == want
    dst = bp.empty(3, dtype=ours).copy_(bp.tensor([500.0, -1e6, 0.1], dtype=bp.float64))
    tdst = torch.empty(3, dtype=theirs).copy_(torch.tensor([500.0, -1e6, 0.1], dtype=torch.float64))
    assert dst.view(bp.uint8).tolist() == tdst.view(torch.uint8).tolist()


@pytest.mark.parametrize("name", _FLOAT8)
def test_float8_dtype_properties(name: str) -> None:
    ours, theirs = getattr(bp, name), getattr(torch, name)
    f, tf = bp.finfo(ours), torch.finfo(theirs)
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(f, attr) == getattr(tf, attr), attr
    assert repr(f) == repr(tf)
    t, tt = bp.ones(3, dtype=ours), torch.ones(3, dtype=theirs)
    assert t.element_size() == tt.element_size() == 1 and t.is_floating_point() and tt.is_floating_point()
    assert ours.is_floating_point if hasattr(ours, "is_floating_point") else True
    assert repr(bp.tensor([1.5, 2.0], dtype=ours)) == repr(torch.tensor([1.5, 2.0], dtype=theirs)).replace("torch.", "")
    assert bp.tensor([2.0, 4.0], dtype=ours).tolist() == torch.tensor([2.0, 4.0], dtype=theirs).tolist()
    assert bp.zeros(2, dtype=ours).dtype == ours and bp.ones(2, 2, dtype=ours).t().contiguous().dtype == ours


def _float8_outcomes(lib) -> dict:
    """Which ops torch's CPU kernels run on float8 and which raise (and with which class)."""
    f8 = lib.float8_e4m3fn
    x = lib.tensor([1.0, 2.5, 448.0, -0.3], dtype=f8)
    c = lib.tensor([True, False, False, True])
    cases = {
        "add": lambda: x + x, "mul": lambda: x * 2, "neg": lambda: -x, "abs": lambda: x.abs(), "sum": lambda: x.sum(),
        "matmul": lambda: x @ x, "add_f32": lambda: x + lib.ones(4), "eq": lambda: x == x, "clone": lambda: x.clone(),
        "reshape": lambda: x.reshape(2, 2), "cat": lambda: lib.cat([x, x]), "index": lambda: x[1:],
        "relu": lambda: lib.relu(x), "to32": lambda: x.to(lib.float32), "max": lambda: x.max(),
        "where": lambda: lib.where(c, x, x), "gt": lambda: x > 0, "exp": lambda: x.exp(),
        "promote": lambda: lib.promote_types(f8, lib.float32), "result_type": lambda: lib.result_type(x, 1.0),
        "fill_": lambda: x.clone().fill_(2), "copy_": lambda: lib.empty(4, dtype=f8).copy_(lib.ones(4)),
        "transpose": lambda: x.reshape(2, 2).t().contiguous(), "eq_f32": lambda: x == lib.ones(4),
        "sum_f32": lambda: x.sum(dtype=lib.float32), "isnan": lambda: x.isnan(), "stack": lambda: lib.stack([x, x]),
        "flip": lambda: x.flip(0), "mean": lambda: x.mean(), "ne": lambda: x != x, "lt": lambda: x < x,
        "isinf": lambda: x.isinf(), "masked_fill": lambda: x.masked_fill(c, 1.0), "roll": lambda: x.roll(1),
        "index_select": lambda: x.index_select(0, lib.tensor([1, 0])), "getitem_mask": lambda: x[c],
        "any": lambda: x.any(), "eq_scalar": lambda: x == 1.0,
        "abs_e8m0": lambda: lib.ones(1, dtype=lib.float8_e8m0fnu).abs(),
        "eq_e5m2": lambda: x == x.to(lib.float8_e5m2), "cat_mixed": lambda: lib.cat([x, x.float()]),
        "mul_bool": lambda: x * c, "to_int": lambda: x.to(lib.int32), "unbind": lambda: x.unbind()[1],
    }  # fmt: skip
    out = {}
    for k, f in cases.items():
        try:
            r = f()
        except (RuntimeError, NotImplementedError, TypeError) as e:
            msg = str(e).split("\n")[0]
            out[k] = (type(e).__name__, msg if "Promotion" in msg else msg.split(" not implemented for ")[-1])
        else:
            out[k] = (
                (str(r.dtype).replace("torch.", ""), r.tolist())
                if hasattr(r, "tolist")
                else str(r).replace("torch.", "")
            )
    return out


def test_float8_op_support_matches_torch() -> None:
    ours = _float8_outcomes(bp)
    assert ours == _float8_outcomes(torch)
    assert ours["add"] == ("NotImplementedError", "'Float8_e4m3fn'")
    assert ours["add_f32"][0] == "RuntimeError"


def test_nn_parallel_functions() -> None:
    from torch.nn.parallel import parallel_apply as torch_parallel_apply
    from torch.nn.parallel import replicate as torch_replicate

    from backprop.nn.parallel import gather, parallel_apply, replicate, scatter, scatter_kwargs

    x = bp.arange(10.0).reshape(5, 2).requires_grad_()
    parts = scatter((x, 7, {"k": x}), ["cpu", "cpu", "cpu"])  # (torch's CPU build refuses: its kernels are CUDA's)
    assert len(parts) == 3 and [p[0].shape[0] for p in parts] == [c.shape[0] for c in torch.ones(5, 2).chunk(3)]
    assert all(p[1] == 7 and p[2]["k"].shape == p[0].shape for p in parts)
    back = gather([p[0] for p in parts], -1)
    np.testing.assert_array_equal(back.detach().numpy(), x.detach().numpy())
    (back * bp.arange(10.0).reshape(5, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(10.0).reshape(5, 2))
    assert gather([{"a": bp.ones(1), "b": None}, {"a": bp.zeros(2), "b": None}], "cpu")["a"].tolist() == [1, 0, 0]
    assert gather([bp.tensor(1.0), bp.tensor(2.0)], "cpu").tolist() == [1.0, 2.0]
    assert gather([bp.ones(2, 1), bp.zeros(2, 1)], "cpu", dim=1).shape == (2, 2)
    ins, kws = scatter_kwargs((x,), {"y": 1}, ["cpu", "cpu"])
    assert len(ins) == len(kws) == 2 and kws[1] == {"y": 1}

    lin = bp.nn.Sequential(bp.nn.Linear(2, 3), bp.nn.BatchNorm1d(3))
    assert replicate(lin, []) == [] and torch_replicate(torch.nn.Linear(2, 2), []) == []
    reps = replicate(lin, ["cpu", "cpu"])
    assert len(reps) == 2 and all(type(r) is bp.nn.Sequential and r is not lin for r in reps)
    assert reps[0][0] is not lin[0] and reps[0][0].weight is not lin[0].weight
    outs = parallel_apply(reps, [bp.ones(4, 2), (bp.ones(4, 2),)])
    expected = lin(bp.ones(4, 2)).detach().numpy()
    for o in outs:
        np.testing.assert_allclose(o.detach().numpy(), expected, rtol=1e-6)
    sum(o.sum() for o in outs).backward()  # gradients of both replicas reach the original parameters
    assert lin[0].weight.grad is not None and lin[0].weight.grad.shape == (3, 2)
    detached = replicate(lin, ["cpu"], detach=True)[0]
    assert not detached[0].weight.requires_grad

    msg = "The number of modules 1 is not equal to the number of inputs 2"
    for fn, mod in ((parallel_apply, bp.nn.Linear(2, 1)), (torch_parallel_apply, torch.nn.Linear(2, 1))):
        with pytest.raises(AssertionError, match=msg):
            fn([mod], [(1,), (2,)])
    if not bp.cuda.is_available():  # (both find no device type to run on without CUDA)
        with pytest.raises(RuntimeError, match="device type could not be determined"):
            bp.nn.parallel.data_parallel(bp.nn.Linear(2, 1), bp.ones(1, 2))
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device type could not be determined"):
            torch.nn.parallel.data_parallel(torch.nn.Linear(2, 1), torch.ones(1, 2))


def _sparse_parts(t) -> tuple:
    """A sparse tensor's layout name, pattern and values, for comparison with torch's."""
    layout = str(t.layout).replace("torch.", "")
    if layout == "sparse_coo":
        return layout, t._indices().tolist(), t._values().tolist(), t.is_coalesced()
    if layout == "sparse_csr":
        return layout, t.crow_indices().tolist(), t.col_indices().tolist(), t.values().tolist()
    return layout, t.ccol_indices().tolist(), t.row_indices().tolist(), t.values().tolist()


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.filterwarnings("ignore:Sparse CSC tensor support is in beta")
@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
def test_sparse_leftovers() -> None:
    pattern = [[0, 1, 0, 0], [1, 0, 0, 2], [0, 0, 3, 0]]
    d, td = bp.arange(12.0).reshape(3, 4), torch.arange(12.0).reshape(3, 4)
    m, tm = bp.tensor(pattern).to_sparse(), torch.tensor(pattern).to_sparse()
    for conv in (lambda s: s, lambda s: s.to_sparse_csr(), lambda s: s.to_sparse_csc()):
        assert _sparse_parts(d.sparse_mask(conv(m))) == _sparse_parts(td.sparse_mask(conv(tm)))
    unco, tunco = (lib.sparse_coo_tensor([[0, 0], [1, 1]], [1.0, 2.0], (3, 4)) for lib in (bp, torch))
    assert _sparse_parts(d.sparse_mask(unco)) == _sparse_parts(td.sparse_mask(tunco))
    x, tx = d.clone().requires_grad_(), td.clone().requires_grad_()
    x.sparse_mask(m).to_dense().sum().backward()
    tx.sparse_mask(tm).to_dense().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    for dense, mask in ((d, bp.ones(2, 2).to_sparse()), (td, torch.ones(2, 2).to_sparse())):
        with pytest.raises(RuntimeError, match=r"operands have incompatible sizes; self has size \[3, 4\]"):
            dense.sparse_mask(mask)
    with pytest.raises(NotImplementedError, match="Could not run 'aten::sparse_mask'"):
        d.sparse_mask(bp.ones(3, 4))

    cases = [
        ([[1.0, 2, 3, 4], [5, 6, 7, 8]], [0, -1], (3, 4), None),
        ([[1.0, 2, 3]], [1], (3, 3), "sparse_csc"),
        ([[1.0, 2, 3, 4], [5, 6, 7, 8]], [0, 1], (3, 4), "sparse_csr"),
        ([1.0, 2, 3], 0, (3, 3), None),
    ]
    for diags, offs, shape, layout in cases:
        kw = {} if layout is None else {"layout": getattr(bp, layout)}
        tkw = {} if layout is None else {"layout": getattr(torch, layout)}
        ours = bp.sparse.spdiags(bp.tensor(diags), bp.tensor(offs), shape, **kw)
        theirs = torch.sparse.spdiags(torch.tensor(diags), torch.tensor(offs), shape, **tkw)
        assert _sparse_parts(ours) == _sparse_parts(theirs)
    for lib in (bp, torch):
        with pytest.raises(RuntimeError, match="Offset tensor contains duplicate values"):
            lib.sparse.spdiags(lib.ones(2, 3), lib.tensor([0, 0]), (3, 3))
        with pytest.raises(RuntimeError, match=r"Number of diagonals \(1\) does not match the number of offsets"):
            lib.sparse.spdiags(lib.ones(1, 3), lib.tensor([0, 1]), (3, 3))
        with pytest.raises(RuntimeError, match="Only output layouts"):
            lib.sparse.spdiags(lib.ones(1, 3), lib.tensor([0]), (3, 3), layout=lib.strided)

    c, tc = m.to_sparse_csr().float(), tm.to_sparse_csr().float()
    cc, tcc = m.to_sparse_csc(), tm.to_sparse_csc()
    for name, a, ta in [
        ("crow_indices_copy", c, tc), ("col_indices_copy", c, tc), ("values_copy", c, tc),
        ("ccol_indices_copy", cc, tcc), ("row_indices_copy", cc, tcc),
    ]:  # fmt: skip
        got, want = getattr(bp, name)(a), getattr(torch, name)(ta)
        assert got.tolist() == want.tolist() and str(got.dtype) == str(want.dtype).replace("torch.", "")
    assert bp.values_copy(c).data_ptr() != c.values().data_ptr()
    for name in ("values_copy", "indices_copy"):
        for lib, coo in ((bp, m.coalesce()), (torch, tm.coalesce())):
            with pytest.raises(NotImplementedError, match=f"Could not run 'aten::{name}' with arguments from the"):
                getattr(lib, name)(coo)


def _swap_outcomes(lib) -> list:
    """load_state_dict under the swap switch (assign or not) and swap_tensors' exchanges, as plain values."""
    import weakref

    out: list = []
    fut = lib.__future__
    for swap in (False, True):
        for assign in (False, True):
            fut.set_swap_module_params_on_conversion(swap)
            try:
                m = lib.nn.Linear(2, 2)
                w = m.weight
                sd = {"weight": lib.ones(2, 2, dtype=lib.float64), "bias": lib.zeros(2, dtype=lib.float64)}
                m.load_state_dict(sd, assign=assign)
                out.append((m.weight is w, str(m.weight.dtype), str(w.dtype), type(m.weight).__name__))
                out.append((m.weight.requires_grad, m.weight.is_leaf, m.weight.tolist(), m.weight is sd["weight"]))
            finally:
                fut.set_swap_module_params_on_conversion(False)
    a, b = lib.nn.Parameter(lib.ones(2)), lib.zeros(3, dtype=lib.float64)
    a.grad = lib.full((2,), 5.0)
    a.foo = 1
    lib.utils.swap_tensors(a, b)
    out.append((type(a).__name__, type(b).__name__, tuple(a.shape), str(a.dtype), b.grad.tolist(), a.grad))
    out.append((getattr(b, "foo", None), a.requires_grad, b.requires_grad))
    c = lib.ones(1)
    ref = weakref.ref(c)
    with pytest.raises(RuntimeError, match="Cannot swap t1 because it has weakref associated with it"):
        lib.utils.swap_tensors(c, lib.ones(1))
    del ref
    return [tuple(str(v).replace("torch.", "") for v in o) for o in out]


def test_swap_tensors_and_load_state_dict_swap() -> None:
    assert _swap_outcomes(bp) == _swap_outcomes(torch)


def _block_sparse_transcript(lib) -> list[str]:
    """What BSR/BSC construction, conversion, products and gradients print, one string per step."""
    out: list[str] = []

    def step(name: str, f) -> None:
        try:
            r = f()
        except (RuntimeError, NotImplementedError) as e:
            r = f"{type(e).__name__}: {str(e).splitlines()[0]}"
        out.append(f"{name}: {r}".replace("torch.", ""))

    d = lib.tensor([[1.0, 2, 0, 0], [3, 4, 0, 0], [0, 0, 0, 5], [0, 0, 6, 0]])
    d2 = lib.tensor([[1.0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 0, 0], [0, 3, 4, 0, 0, 0], [0, 0, 0, 0, 0, 7]])
    b, c = d.to_sparse_bsr((2, 2)), d.to_sparse_bsc((2, 2))
    vals = lib.arange(8.0).reshape(2, 2, 2)
    step("bsr", lambda: b)
    step("parts", lambda: (tuple(b.values().shape), b.crow_indices(), b.col_indices(), b.layout, b._nnz()))
    step("dims", lambda: (b.dense_dim(), b.sparse_dim()))
    step("bsc", lambda: c)
    step("bsc_2x3", lambda: d2.to_sparse_bsc((2, 3)))
    step("bsr_1x2", lambda: d2.to_sparse_bsr((1, 2)))
    step("to_sparse_layout", lambda: d.to_sparse(layout=lib.sparse_bsr, blocksize=(2, 2)).layout)
    step(
        "bsr_tensor", lambda: lib.sparse_bsr_tensor(lib.tensor([0, 1, 2]), lib.tensor([0, 1]), vals, (4, 4)).to_dense()
    )
    step(
        "bsc_tensor", lambda: lib.sparse_bsc_tensor(lib.tensor([0, 1, 2]), lib.tensor([1, 0]), vals, (4, 4)).to_dense()
    )
    step("default_size", lambda: tuple(lib.sparse_bsr_tensor(lib.tensor([0, 1, 2]), lib.tensor([0, 1]), vals).shape))
    step("bad_blocksize", lambda: d.to_sparse_bsr((3, 3)))
    step("mm", lambda: b @ lib.ones(4, 1))
    step("add", lambda: b + b)
    step("mul", lambda: b * 2)
    v = lib.ones(2, 2, 2, requires_grad=True)
    s = lib.sparse_bsr_tensor(lib.tensor([0, 1, 2]), lib.tensor([0, 1]), v, (4, 4))
    s.to_dense().mul(lib.arange(16.0).reshape(4, 4)).sum().backward()
    step("values_grad", lambda: v.grad)
    x = d.clone().requires_grad_()
    x.to_sparse_bsr((2, 2)).values().sum().backward()
    step("dense_grad", lambda: x.grad)
    step("to_csr", lambda: b.to_sparse_csr())
    step("to_coo", lambda: b.to_sparse())
    step("values_copy", lambda: tuple(lib.values_copy(b).shape))
    step("crow_copy", lambda: lib.crow_indices_copy(b))
    step("crow_of_bsc", lambda: c.crow_indices())
    step("ccol", lambda: c.ccol_indices())
    step("transpose", lambda: b.t())
    step("empty", lambda: lib.zeros(4, 4).to_sparse_bsr((2, 2)))
    step("bsc_dense", lambda: c.to_dense())
    return out


@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
@pytest.mark.filterwarnings("ignore:Sparse BSR tensor support is in beta")
@pytest.mark.filterwarnings("ignore:Sparse BSC tensor support is in beta")
@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_block_sparse_matches_torch() -> None:
    ours, theirs = _block_sparse_transcript(bp), _block_sparse_transcript(torch)
    for a, b in zip(ours, theirs):
        assert a == b
    assert len(ours) == len(theirs) == 25


def _conversion_identities(lib) -> list:
    m = lib.nn.BatchNorm1d(3)
    rm, nb, w = m.running_mean, m.num_batches_tracked, m.weight
    out = []
    m.to("cpu")
    out += [m.running_mean is rm, m.weight is w]
    m.float()
    out += [m.running_mean is rm, m.num_batches_tracked is nb]
    m.double()
    out += [m.running_mean is rm, m.num_batches_tracked is nb, str(m.num_batches_tracked.dtype), m.weight is w]
    m.half()
    out += [str(m.running_mean.dtype), str(m.weight.dtype)]
    return [str(o).replace("torch.", "") for o in out]


def test_module_conversion_keeps_untouched_buffers() -> None:
    assert _conversion_identities(bp) == _conversion_identities(torch)
