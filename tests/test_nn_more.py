"""``bp.nn.modules`` (torch.nn.modules' submodules and private bases), ``nn.common_types``, ``nn.grad``, the
legacy ``Container``/``NLLLoss2d``/``CrossMapLRN2d``, fractional max pooling and
``F.multi_head_attention_forward``: against torch where it is installed, closed forms otherwise."""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F
from backprop.nn import grad as nn_grad
from backprop.nn.modules.batchnorm import _BatchNorm, _NormBase
from backprop.nn.modules.conv import _ConvNd, _ConvTransposeNd
from backprop.nn.modules.lazy import LazyModuleMixin
from backprop.nn.modules.loss import _Loss, _WeightedLoss
from backprop.nn.modules.utils import (
    _list_with_default,
    _ntuple,
    _pair,
    _reverse_repeat_tuple,
    _single,
    _triple,
    consume_prefix_in_state_dict_if_present,
)

try:
    import torch
except ImportError:  # pragma: no cover - the torch cross-checks are skipped
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the torch cross-checks need it")

RNG = np.random.default_rng(0)


def _grad(t: Any) -> np.ndarray:
    """The gradient of a backprop or torch tensor, as an array."""
    assert t.grad is not None
    return t.grad.numpy()


SUBMODULES = (
    "module loss batchnorm conv utils activation linear container dropout pooling normalization rnn transformer "
    "sparse flatten padding pixelshuffle upsampling distance instancenorm channelshuffle fold adaptive lazy"
).split()


# ---------------------------------------------------------------- nn.modules: names and class relations


@pytest.mark.parametrize("sub", SUBMODULES)
def test_every_submodule_imports(sub: str) -> None:
    mod = importlib.import_module(f"backprop.nn.modules.{sub}")
    assert getattr(nn.modules, sub) is mod
    for name in mod.__all__:
        assert hasattr(mod, name), (sub, name)


def test_private_bases_hold_without_torch() -> None:
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LazyBatchNorm2d):
        assert issubclass(cls, _BatchNorm) and issubclass(cls, _NormBase)
    for norm in (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LazyInstanceNorm1d):
        assert issubclass(norm, _NormBase) and not issubclass(norm, _BatchNorm)
    assert isinstance(nn.Conv2d(2, 3, 3), _ConvNd) and isinstance(nn.ConvTranspose1d(2, 3, 3), _ConvTransposeNd)
    assert not isinstance(nn.Conv2d(2, 3, 3), _ConvTransposeNd)
    assert isinstance(nn.CTCLoss(), _Loss) and isinstance(nn.NLLLoss(), _WeightedLoss)
    assert isinstance(nn.Dropout(), nn.modules.dropout._DropoutNd)
    assert isinstance(nn.AvgPool1d(2), nn.modules.pooling._AvgPoolNd)
    assert isinstance(nn.ReLU6(), nn.Hardtanh) and nn.ReLU6()(bp.tensor([-1.0, 7.0])).tolist() == [0.0, 6.0]
    assert isinstance(nn.LazyConv2d(3, 3), LazyModuleMixin)
    assert isinstance(nn.ReflectionPad2d(1), nn.modules.padding._ReflectionPadNd)
    assert not isinstance(nn.ReflectionPad2d(1), nn.ReflectionPad1d)


def _our_classes() -> list[tuple[str, str, type]]:
    out = []
    for sub in SUBMODULES:
        mod = importlib.import_module(f"backprop.nn.modules.{sub}")
        out += [(sub, n, getattr(mod, n)) for n in mod.__all__ if inspect.isclass(getattr(mod, n))]
    return out


@needs_torch
def test_submodules_export_torchs_names() -> None:
    for sub in SUBMODULES:
        theirs = set(importlib.import_module(f"torch.nn.modules.{sub}").__all__)
        ours = set(importlib.import_module(f"backprop.nn.modules.{sub}").__all__)
        # not here yet: torch 2.13's fused LinearCrossEntropyLoss, and the global module hooks
        # (register_module_forward_hook & co.), which need Module.__call__'s support
        missing = {m for m in theirs - ours if not m.startswith("register_module_")} - {"LinearCrossEntropyLoss"}
        assert not missing, (sub, missing)


@needs_torch
def test_class_relations_match_torchs() -> None:
    """For every pair of classes both sides export, issubclass agrees with torch's."""
    ours = {name: cls for _, name, cls in _our_classes()}
    theirs = {}
    for sub in SUBMODULES:
        tmod = importlib.import_module(f"torch.nn.modules.{sub}")
        theirs.update({n: c for n, c in vars(tmod).items() if inspect.isclass(c) and n in ours})
    # our CELU reuses ELU's code (torch's does not derive from it); LazyLinear does not derive from the
    # lazy mixin (it is in layers.py, which lazy.py imports)
    known = {("CELU", "ELU"), ("LazyLinear", "LazyModuleMixin")}
    mixins = {"_LazyNormBase", "_LazyConvXdMixin", "LazyModuleMixin"}  # plain mixins here, not Modules
    wrong = []
    for name, cls in theirs.items():
        for base_name, base in theirs.items():
            if name == base_name or (name, base_name) in known or name in mixins:
                continue
            if base_name.startswith("Lazy") and not name.startswith("Lazy"):
                continue
            if name.startswith("Lazy") and not base_name.startswith(("Lazy", "_")):
                continue  # our lazy classes derive from the class they become; torch's from its base
            if issubclass(ours[name], ours[base_name]) != issubclass(cls, base):
                wrong.append((name, base_name, issubclass(cls, base)))
    assert not wrong, wrong


def test_custom_loss_on_loss_base() -> None:
    class MyLoss(_Loss):
        def forward(self, x: bp.Tensor, y: bp.Tensor) -> bp.Tensor:
            d = (x - y).abs()
            return d.sum() if self.reduction == "sum" else d.mean() if self.reduction == "mean" else d

    x, y = bp.tensor([1.0, 2.0, 4.0]), bp.tensor([0.0, 0.0, 0.0])
    assert MyLoss()(x, y).item() == pytest.approx(7 / 3)
    assert MyLoss(reduction="none")(x, y).tolist() == [1.0, 2.0, 4.0]
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = MyLoss(size_average=False)
    assert loss.reduction == "sum" and loss(x, y).item() == 7.0
    w = _WeightedLoss(weight=bp.tensor([1.0, 2.0]))
    assert list(w.state_dict()) == ["weight"]


@needs_torch
def test_loss_base_reduction_matches_torch() -> None:
    from torch.nn.modules.loss import _Loss as TLoss

    for kw in ({}, {"reduction": "none"}, {"size_average": False}, {"reduce": False}, {"size_average": True}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert _Loss(**kw).reduction == TLoss(**kw).reduction, kw


def test_utils_helpers() -> None:
    assert _single(3) == (3,) and _pair(3) == (3, 3) and _triple(2) == (2, 2, 2) and _pair((1, 2)) == (1, 2)
    assert _ntuple(4)([5]) == (5,) and _pair.__name__ == "_pair"
    assert _reverse_repeat_tuple((1, 2), 2) == (2, 2, 1, 1)
    assert _list_with_default([None, 4], [1, 2, 7, 9]) == [7, 4] and _list_with_default(3, [1]) == 3
    with pytest.raises(ValueError, match="at least 3"):
        _list_with_default([None, 4], [1, 2])
    sd = {"module.a": 1, "module.b.c": 2, "d": 3}
    consume_prefix_in_state_dict_if_present(sd, "module.")
    assert sd == {"a": 1, "b.c": 2, "d": 3}


def test_common_types_and_transformer_helpers() -> None:
    from backprop.nn import common_types as ct
    from backprop.nn.modules.transformer import _generate_square_subsequent_mask, _get_clones

    assert ct._size_2_t is not None and ct._ratio_any_t is not None and ct._maybe_indices_t is not None
    mask = _generate_square_subsequent_mask(3)
    assert np.isinf(mask.numpy()[0, 1]) and mask.numpy()[1, 0] == 0
    clones = _get_clones(nn.Linear(2, 2), 3)
    assert len(clones) == 3 and clones[0].weight is not clones[1].weight


# ---------------------------------------------------------------- legacy modules


def test_container_and_nllloss2d_warn_and_work() -> None:
    with pytest.warns(FutureWarning, match="nn.Container` is deprecated"):
        c = nn.Container(a=nn.Linear(2, 3))
    assert [n for n, _ in c.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.warns(FutureWarning, match="NLLLoss2d` has been deprecated"):
        loss = nn.NLLLoss2d(reduction="sum")
    assert isinstance(loss, nn.NLLLoss)
    logp = F.log_softmax(bp.tensor(RNG.standard_normal((2, 3, 4, 5))), 1)
    target = bp.tensor(RNG.integers(0, 3, (2, 4, 5)))
    assert loss(logp, target).item() == pytest.approx(F.nll_loss(logp, target, reduction="sum").item())


@needs_torch
def test_legacy_reprs_match_torch() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        pairs = [
            (nn.Container(a=nn.Linear(2, 3)), torch.nn.Container(a=torch.nn.Linear(2, 3))),
            (nn.NLLLoss2d(), torch.nn.NLLLoss2d()),
        ]
    pairs += [
        (nn.CrossMapLRN2d(3), torch.nn.CrossMapLRN2d(3)),
        (nn.CrossMapLRN2d(5, 0.1, 0.5, 2.0), torch.nn.CrossMapLRN2d(5, 0.1, 0.5, 2.0)),
        (nn.FractionalMaxPool2d(3, output_ratio=0.5), torch.nn.FractionalMaxPool2d(3, output_ratio=0.5)),
        (nn.FractionalMaxPool3d(2, output_size=4), torch.nn.FractionalMaxPool3d(2, output_size=4)),
        (nn.ReLU6(inplace=True), torch.nn.ReLU6(inplace=True)),
        (nn.Dropout(0.3), torch.nn.Dropout(0.3)),
        (nn.AvgPool1d(3), torch.nn.AvgPool1d(3)),
        (nn.CTCLoss(), torch.nn.CTCLoss()),
        (nn.InstanceNorm2d(4), torch.nn.InstanceNorm2d(4)),
        (nn.ReflectionPad2d(1), torch.nn.ReflectionPad2d(1)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


def _lrn_reference(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """torch's CrossMapLRN2d forward written as its running-sum loop."""
    sq, c = x * x, x.shape[1]
    pre_pad = int((size - 1) / 2 + 1)
    scale = np.zeros_like(x)
    scale[:, 0] = sq[:, : min(pre_pad, c)].sum(1)
    for i in range(1, c):
        scale[:, i] = scale[:, i - 1]
        if i < c - pre_pad + 1:
            scale[:, i] += sq[:, i + pre_pad - 1]
        if i > pre_pad:
            scale[:, i] -= sq[:, i - pre_pad]
    return x * (scale * alpha / size + k) ** -beta


@pytest.mark.parametrize("channels,size", [(7, 5), (3, 5), (8, 3), (6, 4), (1, 3)])
def test_cross_map_lrn2d_forward_closed_form(channels: int, size: int) -> None:
    x = RNG.standard_normal((2, channels, 3, 4))
    y = nn.CrossMapLRN2d(size, 0.1, 0.75, 2.0)(bp.tensor(x))
    np.testing.assert_allclose(y.numpy(), _lrn_reference(x, size, 0.1, 0.75, 2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="Expected input to be 4D, got 3D"):
        nn.CrossMapLRN2d(3)(bp.tensor(x[0]))


@needs_torch
@pytest.mark.parametrize("channels,size", [(7, 5), (3, 5), (8, 3), (6, 4), (10, 2)])
def test_cross_map_lrn2d_matches_torch(channels: int, size: int) -> None:
    x, gy = RNG.standard_normal((2, channels, 3, 4)), RNG.standard_normal((2, channels, 3, 4))
    xo, xt = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = nn.CrossMapLRN2d(size, 0.1, 0.75, 2.0)(xo), torch.nn.CrossMapLRN2d(size, 0.1, 0.75, 2.0)(xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    yo.backward(bp.tensor(gy))
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(_grad(xo), _grad(xt), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- fractional max pooling


def test_fractional_max_pool_closed_forms() -> None:
    x = bp.tensor(RNG.standard_normal((2, 3, 6, 7)).astype(np.float32), requires_grad=True)
    y = F.fractional_max_pool2d(x, 1, output_size=(6, 7))  # every window a single element, in order
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
    y, idx = F.fractional_max_pool2d(x, (2, 3), output_size=1, return_indices=True)  # the last window only
    corner = x.detach().numpy()[:, :, 4:, 4:]
    np.testing.assert_array_equal(y.detach().numpy()[:, :, 0, 0], corner.max(axis=(2, 3)))
    assert idx.dtype == bp.int64 and tuple(idx.shape) == (2, 3, 1, 1)
    out, idx = F.fractional_max_pool2d_with_indices(x, 2, output_ratio=(0.5, 0.5))
    assert tuple(out.shape) == (2, 3, 3, 3) and out.dtype == bp.float32
    np.testing.assert_array_equal(
        out.detach().numpy(),
        np.take_along_axis(x.detach().numpy().reshape(2, 3, -1), idx.numpy().reshape(2, 3, -1), 2).reshape(2, 3, 3, 3),
    )
    out.sum().backward()
    assert _grad(x).sum() == 2 * 3 * 9  # each output's gradient lands on one input element
    y3 = F.fractional_max_pool3d(bp.tensor(RNG.standard_normal((2, 4, 5, 6))), 2, output_size=(3, 4, 5))
    assert tuple(y3.shape) == (2, 3, 4, 5)  # unbatched (C, T, H, W)


def test_fractional_max_pool_errors() -> None:
    x = bp.tensor(RNG.standard_normal((1, 1, 7, 9)).astype(np.float32))
    with pytest.raises(ValueError, match="either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(RuntimeError, match="pool height 4 too large relative to input height 7"):
        F.fractional_max_pool2d(x, 4, output_size=(6, 4))
    with pytest.raises(RuntimeError, match=r"_random_samples.size\(1\) equals to input channel size"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=bp.rand(1, 2, 2))
    with pytest.raises(ValueError, match="3D \\(unbatched\\) or 4D"):
        F.fractional_max_pool2d(x[0, 0], 2, output_size=3)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio"):
        nn.FractionalMaxPool3d(2, output_size=2, output_ratio=0.5)


def test_fractional_max_pool_module_samples_buffer() -> None:
    x = bp.tensor(RNG.standard_normal((2, 3, 9, 9)).astype(np.float32))
    samples = bp.rand(2, 3, 2)
    m = nn.FractionalMaxPool2d(3, output_size=4, return_indices=True, _random_samples=samples)
    assert "_random_samples" in dict(m.named_buffers())
    (a, ia), (b, ib) = m(x), m(x)
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@needs_torch
@pytest.mark.parametrize(
    "n,shape,kernel,out,dtype",
    [
        (2, (2, 3, 9, 11), (2, 3), (4, 5), np.float32),
        (2, (3, 7, 7), 2, 3, np.float32),
        (2, (4, 2, 25, 31), 3, (11, 14), np.float64),
        (2, (1, 2, 5, 5), 2, (4, 4), np.float32),
        (3, (2, 2, 6, 7, 8), (2, 2, 3), (3, 4, 3), np.float32),
        (3, (2, 5, 6, 7), 2, (3, 4, 5), np.float64),
    ],
)
def test_fractional_max_pool_matches_torch(n: int, shape: tuple, kernel: object, out: object, dtype: type) -> None:
    x: np.ndarray = RNG.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::17] = x.reshape(-1)[::17].round()  # ties
    x.reshape(-1)[5] = np.nan  # a NaN wins its windows (the last NaN, as torch's kernel)
    x.reshape(-1)[6] = np.nan
    batch = 1 if len(shape) == n + 1 else shape[0]
    samples: np.ndarray = RNG.random((batch, shape[-n - 1], n)).astype(dtype)
    xo, xt = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    fo, ft = getattr(F, f"fractional_max_pool{n}d"), getattr(torch.nn.functional, f"fractional_max_pool{n}d")
    yo, io = fo(xo, kernel, output_size=out, return_indices=True, _random_samples=bp.tensor(samples))
    yt, it = ft(xt, kernel, output_size=out, return_indices=True, _random_samples=torch.tensor(samples))
    np.testing.assert_array_equal(io.numpy(), it.numpy())
    np.testing.assert_array_equal(yo.detach().numpy(), yt.detach().numpy())
    assert str(yo.dtype) == str(yt.dtype).removeprefix("torch.")
    gy = RNG.standard_normal(yt.shape).astype(dtype)
    yo.backward(bp.tensor(gy))
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(_grad(xo), _grad(xt), rtol=1e-6)


@needs_torch
def test_fractional_max_pool_module_matches_torch() -> None:
    x = RNG.standard_normal((2, 3, 10, 12)).astype(np.float32)
    s = RNG.random((2, 3, 2)).astype(np.float32)
    ours = nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.6), _random_samples=bp.tensor(s))
    theirs = torch.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.6), _random_samples=torch.tensor(s))
    np.testing.assert_array_equal(ours(bp.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy())
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["_random_samples"]


# ---------------------------------------------------------------- nn.grad


@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_grad_functions_are_the_autograd_gradients(n: int) -> None:
    x = RNG.standard_normal((2, 4) + (7,) * n)
    w = RNG.standard_normal((6, 2) + (3,) * n)
    conv = getattr(F, f"conv{n}d")
    args = (2, 1, 1, 2)  # stride, padding, dilation, groups
    xo, wo = bp.tensor(x, requires_grad=True), bp.tensor(w, requires_grad=True)
    y = conv(xo, wo, None, *args)
    gy = bp.tensor(RNG.standard_normal(tuple(y.shape)))
    y.backward(gy)
    gx = getattr(nn_grad, f"conv{n}d_input")(x.shape, bp.tensor(w), gy, *args)
    gw = getattr(nn_grad, f"conv{n}d_weight")(bp.tensor(x), w.shape, gy, *args)
    np.testing.assert_allclose(gx.numpy(), _grad(xo), rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), _grad(wo), rtol=1e-12)
    assert not gx.requires_grad
    wr = bp.tensor(w, requires_grad=True)  # differentiable in the weight when it requires grad
    gxr = getattr(nn_grad, f"conv{n}d_input")(x.shape, wr, gy, *args)
    assert gxr.requires_grad
    gxr.sum().backward()
    assert wr.grad is not None and tuple(wr.grad.shape) == w.shape
    with pytest.raises(ValueError, match=f"conv{n}d_input: grad_output has shape"):
        getattr(nn_grad, f"conv{n}d_input")(x.shape, bp.tensor(w), bp.zeros(1, 6, *(2,) * n), *args)


@needs_torch
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_grad_functions_match_torch(n: int) -> None:
    x = RNG.standard_normal((2, 4) + (6,) * n)
    w = RNG.standard_normal((6, 2) + (2,) * n)
    args = (1, 2, 2, 2)
    y = getattr(torch.nn.functional, f"conv{n}d")(torch.tensor(x), torch.tensor(w), None, *args)
    gy = RNG.standard_normal(tuple(y.shape))
    tin = getattr(importlib.import_module("torch.nn.grad"), f"conv{n}d_input")(
        x.shape, torch.tensor(w), torch.tensor(gy), *args
    )
    tw = getattr(importlib.import_module("torch.nn.grad"), f"conv{n}d_weight")(
        torch.tensor(x), w.shape, torch.tensor(gy), *args
    )
    oin = getattr(nn_grad, f"conv{n}d_input")(x.shape, bp.tensor(w), bp.tensor(gy), *args)
    ow = getattr(nn_grad, f"conv{n}d_weight")(bp.tensor(x), w.shape, bp.tensor(gy), *args)
    np.testing.assert_allclose(oin.numpy(), tin.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ow.numpy(), tw.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- F.multi_head_attention_forward


def _mha_args(mha: Any) -> dict[str, Any]:
    return dict(
        embed_dim_to_check=mha.embed_dim,
        num_heads=mha.num_heads,
        in_proj_weight=mha.in_proj_weight,
        in_proj_bias=mha.in_proj_bias,
        bias_k=mha.bias_k,
        bias_v=mha.bias_v,
        add_zero_attn=mha.add_zero_attn,
        dropout_p=0.0,
        out_proj_weight=mha.out_proj.weight,
        out_proj_bias=mha.out_proj.bias,
        use_separate_proj_weight=not mha._qkv_same_embed_dim,
        q_proj_weight=mha.q_proj_weight,
        k_proj_weight=mha.k_proj_weight,
        v_proj_weight=mha.v_proj_weight,
    )


@pytest.mark.parametrize(
    "kw", [{}, {"add_bias_kv": True, "add_zero_attn": True}, {"kdim": 5, "vdim": 3}, {"bias": False}]
)
def test_multi_head_attention_forward_is_the_modules(kw: dict) -> None:
    bp.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, **kw)
    q = bp.tensor(RNG.standard_normal((4, 3, 8)).astype(np.float32))
    k = bp.tensor(RNG.standard_normal((5, 3, kw.get("kdim", 8))).astype(np.float32))
    v = bp.tensor(RNG.standard_normal((5, 3, kw.get("vdim", 8))).astype(np.float32))
    kpm = bp.tensor(np.array([[False] * 4 + [True]] * 3))
    for need_weights in (True, False):
        out, w = F.multi_head_attention_forward(
            q, k, v, **_mha_args(mha), key_padding_mask=kpm, need_weights=need_weights
        )
        ref, ref_w = mha(q, k, v, key_padding_mask=kpm, need_weights=need_weights)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6, atol=1e-7)
        assert (w is None) == (ref_w is None) == (not need_weights)
    out.sum().backward()
    assert all(p.grad is not None for p in mha.parameters())
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 6, but got 8"):
        F.multi_head_attention_forward(q, k, v, **dict(_mha_args(mha), embed_dim_to_check=6))
    with pytest.raises(NotImplementedError, match="static_k"):
        F.multi_head_attention_forward(q, k, v, **_mha_args(mha), static_k=k)


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"add_bias_kv": True, "add_zero_attn": True}, {"kdim": 5, "vdim": 3}])
@pytest.mark.parametrize("batched", [True, False])
def test_multi_head_attention_forward_matches_torch(kw: dict, batched: bool) -> None:
    bp.manual_seed(1)
    mha = nn.MultiheadAttention(8, 2, **kw).double()
    tmha = torch.nn.MultiheadAttention(8, 2, **kw).double()
    tmha.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mha.state_dict().items()})
    bs = (3,) if batched else ()
    q = RNG.standard_normal((4, *bs, 8))
    k = RNG.standard_normal((5, *bs, kw.get("kdim", 8)))
    v = RNG.standard_normal((5, *bs, kw.get("vdim", 8)))
    mask = RNG.standard_normal((4, 5))
    targs: dict[str, Any] = {
        n: (torch.tensor(a.detach().numpy()) if isinstance(a, bp.Tensor) else a) for n, a in _mha_args(mha).items()
    }
    for weights, avg in ((True, True), (True, False), (False, True)):
        qo, qt = bp.tensor(q, requires_grad=True), torch.tensor(q, requires_grad=True)
        out, w = F.multi_head_attention_forward(
            qo, bp.tensor(k), bp.tensor(v), **_mha_args(mha), attn_mask=bp.tensor(mask), need_weights=weights,
            average_attn_weights=avg,
        )  # fmt: skip
        tout, tw = torch.nn.functional.multi_head_attention_forward(
            qt, torch.tensor(k), torch.tensor(v), **targs, attn_mask=torch.tensor(mask), need_weights=weights,
            average_attn_weights=avg,
        )  # fmt: skip
        np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        if weights:
            assert w is not None and tw is not None
            np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(_grad(qo), _grad(qt), rtol=1e-9, atol=1e-12)
