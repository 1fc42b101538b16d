"""Private torch names that ordinary torch code uses anyway (``t._version`` of a view, ``t._base``,
``torch._C._get_tracing_state()``, ``torch._dynamo.mark_dynamic``, ``torch._inductor.config``, conv's
``_reversed_padding_repeated_twice``, ``nn.init._no_grad_trunc_normal_`` ...), checked against torch."""

from __future__ import annotations

import importlib

import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the private-name cross-checks need it")


def _views(L):
    a = L.zeros(4)
    b = a[1:]
    c = b.view(3)
    b.mul_(2)
    d = a.detach()
    out = [a._version, b._version, c._version, d._version]
    c.add_(1)
    out += [a._version, b._version, d._version]
    out += [a._base is None, b._base is a, c._base is a, a.reshape(2, 2)._base is a, a.t()._base is a]
    out += [a.clone()._base is None, d._base is None, a.data._base is None]
    out += [b._is_view(), c._is_view(), a._is_view(), d._is_view(), a.clone()._is_view()]
    return out


def test_view_version_and_base_match_torch() -> None:
    assert _views(bp) == _views(torch)


def test_view_version_write_counts_on_base() -> None:
    a = bp.zeros(3)
    v = a.view(3)
    v._version += 1  # (what in-place helpers do) counts on the shared counter
    assert (a._version, v._version) == (1, 1)


def test_c_names() -> None:
    assert bp._C._get_tracing_state() is None
    bp._C._set_grad_enabled(False)
    try:
        assert not bp.is_grad_enabled()
    finally:
        bp._C._set_grad_enabled(True)
    assert bp.is_grad_enabled()
    assert bp._C._log_api_usage_once("x") is None
    assert isinstance(bp.ones(1), bp._C.TensorBase) and bp._C._TensorBase is bp.Tensor
    assert bp._C.Generator is bp.Generator
    assert bp._C._get_cudnn_enabled() is torch._C._get_cudnn_enabled()
    assert bp._C._disabled_torch_function_impl is bp.overrides._disabled_torch_function_impl
    for name in ("_jit_set_profiling_executor", "_jit_set_profiling_mode", "_jit_override_can_fuse_on_cpu"):
        assert getattr(bp._C, name)(False) == getattr(torch._C, name)(False)
        getattr(torch._C, name)(True)
    with pytest.raises(AttributeError, match="torch._C"):
        _ = bp._C._no_such_binding
    assert importlib.import_module("backprop._C._nn") is bp._C._nn
    assert bp._C._nn.gelu(bp.tensor([1.0])).item() == pytest.approx(torch._C._nn.gelu(torch.tensor([1.0])).item())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("cpu",), {}),
        (("float64",), {}),
        (("cpu", "float16"), {"non_blocking": True}),
        ((), {"device": "cpu", "dtype": "float16"}),
        (("tensor",), {}),
    ],
)
def test_parse_to(args, kwargs) -> None:
    def conv(L, a):
        if a == "tensor":
            return L.ones(1, dtype=L.int64)
        return getattr(L, a) if a in ("float64", "float16") else a

    ours = bp._C._nn._parse_to(*[conv(bp, a) for a in args], **{k: conv(bp, v) for k, v in kwargs.items()})
    theirs = torch._C._nn._parse_to(*[conv(torch, a) for a in args], **{k: conv(torch, v) for k, v in kwargs.items()})
    assert [str(x).replace("torch.", "") for x in ours] == [str(x).replace("torch.", "") for x in theirs]


def test_dynamo_marks_and_patch() -> None:
    x = bp.ones(2, 3)
    for L, t in ((bp, x), (torch, torch.ones(2, 3))):
        assert L._dynamo.mark_dynamic(t, 0) is None
        assert L._dynamo.maybe_mark_dynamic(t, 1) is None
        assert L._dynamo.mark_static(t, 0) is None
        assert L._dynamo.graph_break() is None
    assert bp._dynamo.mark_static_address(x) is None
    for L in (bp, torch):
        with L._dynamo.config.patch(cache_size_limit=3):
            assert L._dynamo.config.cache_size_limit == 3
        assert L._dynamo.config.cache_size_limit == 8

        @L._dynamo.config.patch("suppress_errors", True)
        def f(L=L):
            return L._dynamo.config.suppress_errors

        assert f() is True and L._dynamo.config.suppress_errors is False
        with pytest.raises(AttributeError, match="does not exist"), L._dynamo.config.patch(no_such_option=1):
            pass


def test_inductor_config_records() -> None:
    cfg = importlib.import_module("backprop._inductor.config")
    assert cfg is bp._inductor.config
    for name in ("coordinate_descent_tuning", "max_autotune", "fx_graph_cache", "freezing"):
        assert getattr(cfg, name) == getattr(torch._inductor.config, name)
    assert cfg.triton.cudagraphs == torch._inductor.config.triton.cudagraphs
    with cfg.patch(max_autotune=True):
        assert cfg.max_autotune is True
    assert cfg.max_autotune is False
    cfg.triton.unique_kernel_names = False
    cfg.some_new_option = 3  # any switch may be set: nothing reads it
    assert cfg.some_new_option == 3 and cfg.triton.unique_kernel_names is False
    with pytest.raises(AttributeError, match="torch._inductor.config.never_set does not exist"):
        _ = cfg.never_set


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": 3, "padding": "valid"},
        {"kernel_size": (3, 4), "padding": "same", "dilation": (1, 2)},
        {"kernel_size": 3, "padding": (1, 2)},
        {"kernel_size": 2, "padding": "same"},
    ],
)
def test_conv_reversed_padding_attribute(kwargs) -> None:
    ours = bp.nn.Conv2d(1, 1, **kwargs)._reversed_padding_repeated_twice
    theirs = torch.nn.Conv2d(1, 1, **kwargs)._reversed_padding_repeated_twice
    assert type(ours) is type(theirs) and list(ours) == list(theirs)
    assert bp.nn.ConvTranspose1d(1, 1, 3, padding=2)._reversed_padding_repeated_twice == (2, 2)


def test_conv_padding_mode_uses_attribute() -> None:
    m = bp.nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
    bp.nn.init.ones_(m.weight)
    m._reversed_padding_repeated_twice = (2, 2)  # (subclasses set it, as torch's forward reads it)
    assert m(bp.arange(4.0).view(1, 1, 4)).shape == (1, 1, 6)


def test_no_grad_init_helpers() -> None:
    from backprop.nn import init

    w = bp.empty(1000, requires_grad=True)
    assert init._no_grad_trunc_normal_(w, 0.0, 1.0, -0.5, 0.5) is w
    assert w.grad_fn is None and float(w.min()) >= -0.5 and float(w.max()) <= 0.5
    assert init._no_grad_uniform_(w, 2.0, 3.0) is w and float(w.min()) >= 2.0
    assert init._no_grad_fill_(w, 4.0) is w and float(w.sum()) == 4000.0
    assert init._no_grad_zero_(w) is w and float(w.abs().sum()) == 0.0
    init._no_grad_normal_(w, 10.0, 0.1)
    assert abs(float(w.mean()) - 10.0) < 0.1


def test_tensor_module_and_restore_location() -> None:
    assert importlib.import_module("backprop._tensor").Tensor is bp.Tensor
    t = bp.serialization.default_restore_location(bp.ones(2), "cpu")
    assert t.device.type == "cpu" and t.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError) as ours:
        bp.serialization.default_restore_location(bp.ones(1), "xyz")
    with pytest.raises(RuntimeError) as theirs:
        torch.serialization.default_restore_location(torch.ones(1), "xyz")
    assert str(ours.value) == str(theirs.value)
