"""Training-infrastructure names as torch code uses them (selective checkpointing, checkpoint_sequential,
torch.serialization's options, torch._utils' rebuild functions, LR schedulers' state_dicts, unpickled conv
modules), run under torch and under backprop. Each case here was missing or different before its fix."""

from __future__ import annotations

import collections
import io
import mmap
import pickle
import warnings
import zipfile
from functools import partial
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the training-infrastructure cross-checks need it")


# ---------------------------------------------------------------- selective activation checkpointing
def _sac_run(L: Any, policy: Any) -> tuple[list[float], list[float], list[float]]:
    x = L.tensor([0.5, -1.0, 2.0], requires_grad=True)
    w = L.tensor([[1.0, 2.0, 0.5], [0.1, -0.3, 1.2], [0.7, 0.2, -1.0]], requires_grad=True)

    def fn(x: Any, w: Any) -> Any:
        return L.sigmoid(L.matmul(L.matmul(w, x), w)) * x

    cp = L.utils.checkpoint
    context_fn = partial(cp.create_selective_checkpoint_contexts, policy) if policy is not None else cp.noop_context_fn
    out = cp.checkpoint(fn, x, w, use_reentrant=False, context_fn=context_fn)
    out.sum().backward()
    return out.tolist(), x.grad.tolist(), w.grad.flatten().tolist()


@pytest.mark.parametrize("policy", ["function", "list", "empty list"])
def test_selective_checkpoint_values_and_grads_match_torch(policy: str) -> None:
    def pick(L: Any) -> Any:
        if policy == "function":
            return lambda ctx, op, *a, **k: L.utils.checkpoint.CheckpointPolicy.PREFER_RECOMPUTE
        return [torch.ops.aten.sigmoid.default] if policy == "list" and L is torch else []

    ref = _sac_run(torch, pick(torch))
    plain = _sac_run(bp, None)
    got = _sac_run(bp, pick(bp))
    for a, b, c in zip(ref, got, plain):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        assert b == c  # (the same as without selective checkpointing)


def test_checkpoint_policy_enum_as_torch() -> None:
    ours = [(p.name, p.value) for p in bp.utils.checkpoint.CheckpointPolicy]
    assert ours == [(p.name, p.value) for p in torch.utils.checkpoint.CheckpointPolicy]
    ctx = bp.utils.checkpoint.SelectiveCheckpointContext(is_recompute=False)
    assert ctx.is_recompute is False and ctx.op_output is None


def _selective_checkpoint_errors(L: Any) -> None:
    cp = L.utils.checkpoint
    with pytest.raises(TypeError, match="^policy_fn_or_list must be either a function or a list of ops.$"):
        cp.create_selective_checkpoint_contexts(3)
    fwd, rec = cp.create_selective_checkpoint_contexts(lambda *a, **k: cp.CheckpointPolicy.MUST_SAVE)
    with fwd, rec:  # (two context managers)
        pass
    x = L.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="Passing `context_fn` or `debug` is only supported when use_reentrant=False"):
        cp.checkpoint(L.sin, x, use_reentrant=True, context_fn=partial(cp.create_selective_checkpoint_contexts, []))


def test_selective_checkpoint_errors() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _selective_checkpoint_errors(L)


def _device_state_helpers_on_cpu(L: Any) -> None:
    cp = L.utils.checkpoint
    assert cp.get_device_states(L.ones(2), [L.zeros(1)], 3) == ([], [])
    cp.set_device_states([], [])  # (nothing to set)
    assert cp.DefaultDeviceType.get_device_type() == ("cuda" if L.cuda.is_available() else "cpu")


def test_device_state_helpers_on_cpu() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _device_state_helpers_on_cpu(L)


# ---------------------------------------------------------------- checkpoint_sequential
@pytest.mark.parametrize("n,segments", [(5, 2), (7, 3), (9, 4)])  # (lengths that segments do not divide)
def test_checkpoint_sequential_recomputes_torch_s_chunks(n: int, segments: int) -> None:
    def run(L: Any) -> tuple[int, int, list[float]]:
        calls = [0]

        class Count(L.nn.Module):
            def forward(self, x: Any) -> Any:
                calls[0] += 1
                return L.tanh(x) * 2

        x = L.ones(3, dtype=L.float64, requires_grad=True)
        y = L.utils.checkpoint.checkpoint_sequential(
            L.nn.Sequential(*[Count() for _ in range(n)]), segments, x, use_reentrant=False
        )
        forward = calls[0]
        y.sum().backward()
        return forward, calls[0], x.grad.tolist()

    ref, got = run(torch), run(bp)
    assert got[:2] == ref[:2]  # (the modules run again in backward: torch's count)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-12)


def _checkpoint_sequential_warning_and_keywords(L: Any) -> None:
    seq = L.nn.Sequential(L.nn.Tanh(), L.nn.Tanh())
    x = L.ones(2, requires_grad=True)
    with pytest.warns(UserWarning) as record:
        L.utils.checkpoint.checkpoint_sequential(seq, 2, x)
    assert str(record[0].message).startswith(
        "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed explicitly. "
        "In version 2.9 we will raise an exception if use_reentrant is not passed."
    )
    with pytest.raises(ValueError, match="^Unexpected keyword arguments: foo$"):
        L.utils.checkpoint.checkpoint_sequential(seq, 2, x, use_reentrant=False, foo=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.utils.checkpoint.checkpoint_sequential(seq, 2, x, use_reentrant=False, preserve_rng_state=False)


def test_checkpoint_sequential_warning_and_keywords() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _checkpoint_sequential_warning_and_keywords(L)


# ---------------------------------------------------------------- torch.serialization options
def _serialization_option_defaults_and_errors(L: Any) -> None:
    S = L.serialization
    assert S.get_default_load_endianness() is None
    assert S.get_crc32_options() is True
    assert S.get_default_mmap_options() == mmap.MAP_PRIVATE
    assert [(e.name, e.value) for e in S.LoadEndianness] == [("NATIVE", 1), ("LITTLE", 2), ("BIG", 3)]
    with pytest.raises(TypeError, match="^Invalid argument type in function set_default_load_endianness$"):
        S.set_default_load_endianness("big")
    with pytest.raises(ValueError, match="expected mmap.MAP_PRIVATE or mmap.MAP_SHARED, but got 5$"):
        S.set_default_mmap_options(5)
    with S.set_default_mmap_options(mmap.MAP_SHARED):
        assert S.get_default_mmap_options() == mmap.MAP_SHARED
    assert S.get_default_mmap_options() == mmap.MAP_PRIVATE
    S.set_crc32_options(False)
    try:
        assert S.get_crc32_options() is False
    finally:
        S.set_crc32_options(True)


def test_serialization_option_defaults_and_errors() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _serialization_option_defaults_and_errors(L)


def _serialization_helpers(L: Any) -> None:
    S = L.serialization
    t = L.arange(6.0)
    assert S.location_tag(t) == "cpu" and S.location_tag(t.untyped_storage()) == "cpu"
    with pytest.raises(AttributeError, match="'int' object has no attribute 'device'"):
        S.location_tag(3)
    assert S.normalize_storage_type(L.FloatStorage) is L.FloatStorage
    assert S.check_module_version_greater_or_equal(np, (1, 0)) is True
    assert S.check_module_version_greater_or_equal(np, (99,)) is False

    class Odd:
        __name__ = "odd"
        __version__ = "x.y"

    with pytest.raises(RuntimeError, match=r"^'odd' module version string is malformed 'x.y' and cannot be compared"):
        S.check_module_version_greater_or_equal(Odd(), (1,))
    with pytest.warns(UserWarning, match="but continuing assuming that requirement is met"):
        assert S.check_module_version_greater_or_equal(Odd(), (1,), error_if_malformed=False) is True
    assert S.StorageType("LongStorage").dtype == L.int64
    assert str(S.default_restore_location(t, "cpu").tolist()) == str(t.tolist())
    with S.mkdtemp() as d:
        import os

        assert os.path.isdir(d)
    assert not os.path.exists(d)


def test_serialization_helpers() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _serialization_helpers(L)


def test_register_package_tags_and_restores() -> None:
    def run(L: Any) -> tuple[str, list[float]]:
        S = L.serialization
        entry = (
            5,
            lambda obj: "mine" if getattr(obj, "_mine", False) else None,
            lambda obj, loc: obj * 2 if loc == "mine" else None,
        )
        S.register_package(*entry)
        try:
            t = L.arange(3.0)
            t._mine = True
            return S.location_tag(t), S.default_restore_location(L.arange(3.0), "mine").tolist()
        finally:
            S._package_registry.remove(entry)

    assert run(bp) == run(torch)


def _skip_data_save_writes_record_sizes_without_data(L: Any) -> None:
    S = L.serialization
    t = L.arange(1.0, 7.0)
    buf = io.BytesIO()
    with S.skip_data():
        L.save({"w": t}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        (info,) = [i for i in z.infolist() if i.filename.endswith("data/0")]
        assert info.file_size == 24  # (the record's size; torch leaves its bytes unwritten, backprop zeros)
    buf.seek(0)
    loaded = L.load(buf)["w"]
    assert loaded.tolist() == [0.0] * 6 and tuple(loaded.shape) == (6,)
    buf.seek(0)
    with S.skip_data():
        assert tuple(L.load(buf)["w"].shape) == (6,)  # (the values are not read: unspecified)
    with S.skip_data(), pytest.raises(RuntimeError, match="^Cannot use skip_data=True with _use_new_zipfile"):
        L.save(t, io.BytesIO(), _use_new_zipfile_serialization=False)
    buf = io.BytesIO()
    L.save(t, buf)  # (outside the context: the data again)
    buf.seek(0)
    assert L.load(buf).tolist() == t.tolist()


def test_skip_data_save_writes_record_sizes_without_data() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _skip_data_save_writes_record_sizes_without_data(L)


def test_load_endianness_for_files_without_byteorder_record() -> None:
    buf = io.BytesIO()
    torch.save(torch.tensor([1.0, 2.0]), buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():  # (torch 2.13 writes the record even with _disable_byteorder_record)
            if not info.filename.endswith("/byteorder"):
                dst.writestr(info.filename, src.read(info))
    data = out.getvalue()
    for L in (torch, bp):
        S = L.serialization
        S.set_default_load_endianness(S.LoadEndianness.BIG)
        try:
            assert S.get_default_load_endianness() is S.LoadEndianness.BIG
            swapped = L.load(io.BytesIO(data)).tolist()
        finally:
            S.set_default_load_endianness(None)
        expected = np.array([1.0, 2.0], np.float32).byteswap().tolist()
        assert swapped == expected
        assert L.load(io.BytesIO(data)).tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- torch._utils rebuild functions
def _rebuild_tensor_v2_views_a_storage(L: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (TypedStorage's deprecation)
        t = L.arange(6.0)
        u = L._utils._rebuild_tensor_v2(t.storage(), 1, (2, 2), (2, 1), True, collections.OrderedDict())
        s = L.FloatStorage([1.0, 2.0, 3.0])
        v = L._utils._rebuild_tensor_v2(s, 0, (3,), (1,), False, collections.OrderedDict())
    assert u.tolist() == [[1.0, 2.0], [3.0, 4.0]] and u.requires_grad and u.is_leaf
    assert v.tolist() == [1.0, 2.0, 3.0] and v.dtype == L.float32
    with L.no_grad():
        u[0, 0] = 100.0
    assert t[1].item() == 100.0  # (a view of the storage)
    with pytest.raises(AttributeError, match="'list' object has no attribute 'dtype'"):
        L._utils._rebuild_tensor_v2([1, 2], 0, (1,), (1,), False, {})


def test_rebuild_tensor_v2_views_a_storage() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _rebuild_tensor_v2_views_a_storage(L)


def _rebuild_parameter(L: Any) -> None:
    p = L._utils._rebuild_parameter(L.ones(2), False, collections.OrderedDict())
    assert isinstance(p, L.nn.Parameter) and p.requires_grad is False and p.tolist() == [1.0, 1.0]
    q = L._utils._rebuild_parameter_with_state(L.ones(1), True, collections.OrderedDict(), {"tag": 3})
    assert isinstance(q, L.nn.Parameter) and q.requires_grad and q.tag == 3


def test_rebuild_parameter() -> None:
    for L in (torch, bp):  # (torch's behaviour, then ours)
        _rebuild_parameter(L)


# ---------------------------------------------------------------- LR schedulers' state_dict
def _schedulers(L: Any) -> dict[str, Any]:
    S = L.optim.lr_scheduler
    return {
        "StepLR": lambda o: S.StepLR(o, 3),
        "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, three_phase=True),
        "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 0.9**e),
        "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda e: 0.9),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, 10),
        "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, 3, 2),
        "ExponentialLR": lambda o: S.ExponentialLR(o, 0.9),
        "LinearLR": lambda o: S.LinearLR(o),
        "ConstantLR": lambda o: S.ConstantLR(o),
        "CyclicLR": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2),
        "MultiStepLR": lambda o: S.MultiStepLR(o, [2, 4, 4]),
        "PolynomialLR": lambda o: S.PolynomialLR(o),
    }


def _stepped(L: Any, name: str, steps: int = 4) -> tuple[Any, Any]:
    opt = L.optim.SGD([L.nn.Parameter(L.zeros(2))], lr=0.1, momentum=0.9)
    sched = _schedulers(L)[name](opt)
    for _ in range(steps):
        opt.step()
        sched.step()
    return opt, sched


SCHEDULERS = sorted(_schedulers(bp))


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_state_dict_keys_and_values_as_torch(name: str) -> None:
    ref, got = _stepped(torch, name)[1].state_dict(), _stepped(bp, name)[1].state_dict()
    assert sorted(got) == sorted(ref)
    for key, value in ref.items():
        if key == "_last_lr":  # (closed form here, torch's recursion there: a few ulps apart)
            np.testing.assert_allclose(got[key], value, rtol=1e-12)
        else:
            assert got[key] == value and type(got[key]) is type(value), key


@pytest.mark.parametrize("name", [n for n in SCHEDULERS if n != "CosineAnnealingWarmRestarts"])  # (loaded before)
def test_scheduler_loads_torch_state_dict(name: str) -> None:
    topt, tsched = _stepped(torch, name)
    bopt, bsched = _stepped(bp, name, steps=0)
    bsched.load_state_dict(tsched.state_dict())
    for group, tgroup in zip(bopt.param_groups, topt.param_groups):
        group.update({k: v for k, v in tgroup.items() if k != "params"})
    assert bsched._step_count == tsched._step_count
    for _ in range(3):
        topt.step()
        tsched.step()
        bopt.step()
        bsched.step()
    np.testing.assert_allclose(bsched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)


def test_scheduler_load_restores_hyper_parameters() -> None:
    src = _stepped(bp, "StepLR")[1]
    src.gamma, src.step_size = 0.5, 2
    state = src.state_dict()
    dst = _stepped(bp, "StepLR", steps=0)[1]
    dst.load_state_dict(state)
    assert (dst.gamma, dst.step_size, dst.last_epoch) == (0.5, 2, 4)
    ms = _stepped(bp, "MultiStepLR", steps=0)[1]
    ms.load_state_dict({**ms.state_dict(), "milestones": collections.Counter({3: 1, 6: 2})})
    assert ms.milestones == [3, 6, 6]


# ---------------------------------------------------------------- unpickling conv modules
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_conv_setstate_fills_padding_attributes(mode: str) -> None:
    conv = bp.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)
    state = dict(conv.__dict__)
    del state["_reversed_padding_repeated_twice"]  # (a pickle from older backprop)
    if mode == "zeros":
        del state["padding_mode"]  # (a pickle from before padding_mode, as torch's __setstate__ handles)
    old = bp.nn.Conv2d.__new__(bp.nn.Conv2d)
    old.__setstate__(state)
    assert old.padding_mode == mode and old._reversed_padding_repeated_twice == (1, 1, 1, 1)
    x = bp.ones(1, 2, 4, 4)
    assert old(x).tolist() == conv(x).tolist()
    again = pickle.loads(pickle.dumps(bp.nn.Conv1d(2, 3, 3, padding="same", padding_mode="circular")))
    assert again._reversed_padding_repeated_twice == [1, 1] and again.padding_mode == "circular"
