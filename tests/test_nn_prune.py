"""bp.nn.utils.prune against torch.nn.utils.prune (masks, state_dict keys, hooks, remove), plus
closed-form checks (counts of pruned entries, masked gradients) that run without torch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.nn.utils import prune

try:
    import torch
    import torch.nn.utils.prune as tprune
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _distinct(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values with distinct magnitudes and norms (no ties at the cut, where torch's topk order is open)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    mags = rng.permutation(n).astype(np.float32) + 1.0
    return (mags * rng.choice([-1.0, 1.0], n)).reshape(shape).astype(np.float32) / n


def _pair(shape: tuple[int, ...]) -> tuple[Any, Any]:
    """A backprop and a torch module with the same weight of ``shape`` (Linear for 2-D, Conv2d for 4-D)."""
    w = _distinct(shape)
    ours: Any
    theirs: Any
    if len(shape) == 2:
        ours, theirs = bp.nn.Linear(shape[1], shape[0]), torch.nn.Linear(shape[1], shape[0])
    else:
        kernel = (shape[2], shape[3])
        ours, theirs = bp.nn.Conv2d(shape[1], shape[0], kernel), torch.nn.Conv2d(shape[1], shape[0], kernel)
    with bp.no_grad():
        ours.weight.copy_(bp.tensor(w))
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
    return ours, theirs


def _same_mask(ours: Any, theirs: Any, name: str = "weight") -> None:
    np.testing.assert_array_equal(getattr(ours, name + "_mask").numpy(), getattr(theirs, name + "_mask").numpy())
    np.testing.assert_allclose(getattr(ours, name).detach().numpy(), getattr(theirs, name).detach().numpy())


@needs_torch
@pytest.mark.parametrize("amount", [0, 3, 0.3, 0.5, 1.0, 20])
def test_l1_unstructured_matches_torch(amount: float) -> None:
    ours, theirs = _pair((4, 5))
    prune.l1_unstructured(ours, "weight", amount=amount)
    tprune.l1_unstructured(theirs, "weight", amount=amount)
    _same_mask(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


@needs_torch
@pytest.mark.parametrize("n", [1, 2, 3.5, math.inf, -math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [1, 0.5])
def test_ln_structured_matches_torch(n: object, dim: int, amount: float) -> None:
    ours, theirs = _pair((4, 3, 2, 2))
    prune.ln_structured(ours, "weight", amount=amount, n=n, dim=dim)
    tprune.ln_structured(theirs, "weight", amount=amount, n=n, dim=dim)
    _same_mask(ours, theirs)


@needs_torch
@needs_torch
@pytest.mark.parametrize("dim", [0, 1])
def test_ln_structured_fro_matches_torch(dim: int) -> None:
    ours, theirs = _pair((5, 4))
    prune.ln_structured(ours, "weight", amount=2, n="fro", dim=dim)
    tprune.ln_structured(theirs, "weight", amount=2, n="fro", dim=dim)
    _same_mask(ours, theirs)


@needs_torch
def test_iterative_pruning_composes_as_torch() -> None:
    ours, theirs = _pair((6, 4, 3, 3))
    for mod, P in ((ours, prune), (theirs, tprune)):
        P.l1_unstructured(mod, "weight", amount=0.2)
        P.ln_structured(mod, "weight", amount=2, n=1, dim=0)
        P.l1_unstructured(mod, "weight", amount=10)
        P.ln_structured(mod, "weight", amount=0.34, n=2, dim=1)
    _same_mask(ours, theirs)
    hooks = [h for h, _ in ours._hooks["forward_pre"].values()]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer) and len(hooks[0]) == 4
    assert [type(m).__name__ for m in hooks[0]] == ["L1Unstructured", "LnStructured", "L1Unstructured", "LnStructured"]


@needs_torch
def test_importance_scores_match_torch() -> None:
    ours, theirs = _pair((5, 4))
    scores = _distinct((5, 4), seed=3)
    prune.l1_unstructured(ours, "weight", amount=7, importance_scores=bp.tensor(scores))
    tprune.l1_unstructured(theirs, "weight", amount=7, importance_scores=torch.tensor(scores))
    prune.ln_structured(ours, "weight", amount=1, n=2, dim=1, importance_scores=bp.tensor(scores))
    tprune.ln_structured(theirs, "weight", amount=1, n=2, dim=1, importance_scores=torch.tensor(scores))
    _same_mask(ours, theirs)


@needs_torch
def test_global_unstructured_matches_torch() -> None:
    a, ta = _pair((4, 5))
    b, tb = _pair((3, 2, 2, 2))
    with bp.no_grad():
        b.weight.mul_(3.0)
    with torch.no_grad():
        tb.weight.mul_(3.0)
    prune.l1_unstructured(a, "weight", amount=2)  # an earlier mask is respected
    tprune.l1_unstructured(ta, "weight", amount=2)
    prune.global_unstructured([(a, "weight"), (b, "weight")], prune.L1Unstructured, amount=0.4)
    tprune.global_unstructured([(ta, "weight"), (tb, "weight")], tprune.L1Unstructured, amount=0.4)
    _same_mask(a, ta)
    _same_mask(b, tb)


@needs_torch
def test_custom_from_mask_and_remove_match_torch() -> None:
    ours, theirs = _pair((3, 4))
    mask = (_distinct((3, 4), seed=5) > 0).astype(np.float32)
    prune.custom_from_mask(ours, "weight", mask=bp.tensor(mask))
    tprune.custom_from_mask(theirs, "weight", mask=torch.tensor(mask))
    _same_mask(ours, theirs)
    prune.remove(ours, "weight")
    tprune.remove(theirs, "weight")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert isinstance(ours.weight, bp.nn.Parameter)
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    assert not prune.is_pruned(ours)


def test_forward_hook_and_masked_gradient() -> None:
    bp.manual_seed(0)
    lin = bp.nn.Linear(6, 4)
    prune.l1_unstructured(lin, "weight", amount=10)
    mask = lin.weight_mask.numpy()
    assert int((mask == 0).sum()) == 10
    assert isinstance(lin.weight_orig, bp.nn.Parameter) and not isinstance(lin.weight, bp.nn.Parameter)
    with bp.no_grad():  # the pre-hook recomputes weight from the (changed) original
        lin.weight_orig.add_(1.0)
    x = bp.randn(3, 6)
    y = lin(x)
    np.testing.assert_allclose(lin.weight.detach().numpy(), lin.weight_orig.detach().numpy() * mask)
    np.testing.assert_allclose(y.detach().numpy(), x.numpy() @ (lin.weight_orig.detach().numpy() * mask).T
                               + lin.bias.detach().numpy(), rtol=1e-5)  # fmt: skip
    y.sum().backward()
    assert np.all(lin.weight_orig.grad.numpy()[mask == 0] == 0)
    assert np.all(lin.weight_orig.grad.numpy()[mask == 1] != 0)
    assert prune.is_pruned(bp.nn.Sequential(bp.nn.ReLU(), lin))


def _random_run(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random unstructured then random structured pruning of a conv weight: (first mask, final mask, weight)."""
    bp.manual_seed(seed)
    conv = bp.nn.Conv2d(3, 8, 3)
    prune.random_unstructured(conv, "weight", amount=0.25)
    first = conv.weight_mask.numpy().copy()
    prune.random_structured(conv, "weight", amount=3, dim=0)
    return first, conv.weight_mask.numpy(), conv.weight.detach().numpy()


def test_random_methods_counts_and_seed() -> None:
    first, mask, w = _random_run(1)
    assert int((first == 0).sum()) == round(0.25 * 8 * 27)
    kept = (mask != 0).reshape(8, -1).any(1)
    assert int(kept.sum()) == 5  # 3 of the 8 output channels pruned whole
    np.testing.assert_array_equal(mask.reshape(8, -1)[kept], first.reshape(8, -1)[kept])  # the rest kept as was
    assert np.all(mask.reshape(8, -1)[~kept] == 0)
    np.testing.assert_array_equal(_random_run(1)[1], mask)  # same seed, same mask
    assert not np.array_equal(_random_run(2)[1], mask)
    assert np.all(w[mask == 0] == 0)


def test_prune_method_and_identity() -> None:
    t = bp.tensor([[0.1, -3.0], [2.0, -0.5]])
    out = prune.L1Unstructured(amount=2).prune(t)
    np.testing.assert_array_equal(out.numpy(), [[0.0, -3.0], [2.0, 0.0]])
    lin = bp.nn.Linear(2, 2)
    prune.identity(lin, "bias")
    np.testing.assert_array_equal(lin.bias_mask.numpy(), [1.0, 1.0])
    assert list(lin.state_dict()) == ["weight", "bias_orig", "bias_mask"]


@pytest.mark.parametrize(
    "call,err,msg",
    [
        (lambda m: prune.l1_unstructured(m, "weight", amount=-1), ValueError, "non-negative integer"),
        (lambda m: prune.l1_unstructured(m, "weight", amount=1.5), ValueError, r"range \[0, 1\]"),
        (lambda m: prune.l1_unstructured(m, "weight", amount="a"), TypeError, "Invalid type for amount"),  # type: ignore[arg-type]
        (lambda m: prune.l1_unstructured(m, "weight", amount=13), ValueError, "should be smaller than"),
        (lambda m: prune.ln_structured(m, "bias", amount=1, n=2, dim=0), ValueError, "multidimensional"),
        (lambda m: prune.ln_structured(m, "weight", amount=1, n=2, dim=2), IndexError, "invalid index 2"),
        (lambda m: prune.remove(m, "weight"), ValueError, "has to be pruned before"),
        (lambda m: prune.custom_from_mask(m, "weight", bp.ones(2)), ValueError, "CustomFromMask"),
        (
            lambda m: prune.global_unstructured([(m, "weight")], prune.LnStructured, amount=1, n=2),
            TypeError,
            'Only "unstructured"',
        ),  # fmt: skip
    ],
)
def test_errors_and_rollback(call: object, err: type, msg: str) -> None:
    lin = bp.nn.Linear(4, 3)
    with pytest.raises(err, match=msg):
        call(lin)  # type: ignore[operator]
    assert sorted(lin.state_dict()) == [
        "bias",
        "weight",
    ]  # a failed pruning rolls back (the order may change, as torch)
    assert isinstance(lin.weight, bp.nn.Parameter)
    assert not prune.is_pruned(lin)


def test_container_rejects_other_parameter() -> None:
    a = prune.L1Unstructured(1)
    a._tensor_name = "weight"
    b = prune.L1Unstructured(1)
    b._tensor_name = "bias"
    c = prune.PruningContainer(a)
    with pytest.raises(ValueError, match="acting on the parameter named 'weight'"):
        c.add_pruning_method(b)
    with pytest.raises(TypeError, match="not a BasePruningMethod"):
        c.add_pruning_method(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- nn.utils.fusion
def _trained_bn(bn: Any, channels: int, seed: int) -> None:
    """Give a BatchNorm non-trivial running statistics and affine parameters."""
    rng = np.random.default_rng(seed)
    with bp.no_grad():
        bn.running_mean.copy_(bp.tensor(rng.standard_normal(channels).astype(np.float32)))
        bn.running_var.copy_(bp.tensor(rng.uniform(0.5, 2.0, channels).astype(np.float32)))
        bn.weight.copy_(bp.tensor(rng.standard_normal(channels).astype(np.float32)))
        bn.bias.copy_(bp.tensor(rng.standard_normal(channels).astype(np.float32)))


@pytest.mark.parametrize("bias", [True, False])
def test_fuse_conv_bn_eval_equals_conv_then_bn(bias: bool) -> None:
    from backprop.nn.utils import fusion

    bp.manual_seed(0)
    conv, bn = bp.nn.Conv2d(3, 4, 3, bias=bias).eval(), bp.nn.BatchNorm2d(4).eval()
    _trained_bn(bn, 4, 1)
    fused = fusion.fuse_conv_bn_eval(conv, bn)
    x = bp.randn(2, 3, 6, 6)
    np.testing.assert_allclose(fused(x).detach().numpy(), bn(conv(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert fused is not conv and isinstance(fused.weight, bp.nn.Parameter) and fused.weight.is_leaf
    assert fused.bias is not None and tuple(fused.bias.shape) == (4,)
    if bias:
        assert conv.bias is not fused.bias  # the original is untouched


def test_fuse_conv_transpose_and_linear_bn() -> None:
    from backprop.nn.utils import fusion

    bp.manual_seed(0)
    convt, bn = bp.nn.ConvTranspose2d(3, 5, 2).eval(), bp.nn.BatchNorm2d(5).eval()
    _trained_bn(bn, 5, 2)
    fused = fusion.fuse_conv_bn_eval(convt, bn, transpose=True)
    x = bp.randn(2, 3, 4, 4)
    np.testing.assert_allclose(fused(x).detach().numpy(), bn(convt(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    lin, bn1 = bp.nn.Linear(6, 4).eval(), bp.nn.BatchNorm1d(4).eval()
    _trained_bn(bn1, 4, 3)
    fl = fusion.fuse_linear_bn_eval(lin, bn1)
    x = bp.randn(5, 6)
    np.testing.assert_allclose(fl(x).detach().numpy(), bn1(lin(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        fusion.fuse_linear_bn_eval(bp.nn.Linear(6, 4), bn1)
    with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
        fusion.fuse_linear_bn_eval(bp.nn.Linear(6, 3).eval(), bn1)


@needs_torch
def test_fuse_weights_match_torch() -> None:
    from torch.nn.utils import fusion as tfusion

    from backprop.nn.utils import fusion

    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    g, beta = rng.standard_normal(4), rng.standard_normal(4)
    T = [torch.tensor(a) for a in (w, b, rm, rv)]
    B = [bp.tensor(a) for a in (w, b, rm, rv)]
    wt = w.transpose(1, 0, 2, 3).copy()  # a transposed convolution's (in, out, kh, kw) weight
    for weight, transpose in ((w, False), (wt, True)):
        ours = fusion.fuse_conv_bn_weights(
            bp.tensor(weight), B[1], B[2], B[3], 1e-3, bp.tensor(g), bp.tensor(beta), transpose
        )
        ref = tfusion.fuse_conv_bn_weights(
            torch.tensor(weight), T[1], T[2], T[3], 1e-3, torch.tensor(g), torch.tensor(beta), transpose
        )
        for o, r in zip(ours, ref):
            assert o.dtype == bp.float64 and o.requires_grad == r.requires_grad
            np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-12)
    ours = fusion.fuse_conv_bn_weights(B[0], None, B[2], B[3], 1e-5, None, None)
    ref = tfusion.fuse_conv_bn_weights(T[0], None, T[2], T[3], 1e-5, None, None)
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-12)
    lw = rng.standard_normal((4, 7))
    ours = fusion.fuse_linear_bn_weights(bp.tensor(lw), None, B[2], B[3], 1e-5, bp.tensor(g), bp.tensor(beta))
    ref = tfusion.fuse_linear_bn_weights(torch.tensor(lw), None, T[2], T[3], 1e-5, torch.tensor(g), torch.tensor(beta))
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-12)


# ---------------------------------------------------------------- nn.attention (SDPBackend, sdpa_kernel, bias)
def test_sdpa_kernel_records_and_restores() -> None:
    import backprop.nn.functional as F
    from backprop.nn.attention import SDPBackend, _cur_sdpa_kernel_backends, sdpa_kernel

    before = _cur_sdpa_kernel_backends()
    assert SDPBackend.MATH in before and len(before) == 5
    q = bp.randn(2, 3, 4)
    plain = F.scaled_dot_product_attention(q, q, q)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        assert _cur_sdpa_kernel_backends() == [SDPBackend.FLASH_ATTENTION]
        with sdpa_kernel([SDPBackend.MATH, SDPBackend.CUDNN_ATTENTION], set_priority=True):
            assert _cur_sdpa_kernel_backends(with_priority=True) == [SDPBackend.MATH, SDPBackend.CUDNN_ATTENTION]
            out = F.scaled_dot_product_attention(q, q, q)
        assert _cur_sdpa_kernel_backends() == [SDPBackend.FLASH_ATTENTION]
    assert _cur_sdpa_kernel_backends() == before
    np.testing.assert_array_equal(out.numpy(), plain.numpy())  # one implementation whatever is chosen
    with pytest.raises(AssertionError, match="SDPBackend"):
        with sdpa_kernel("math"):  # type: ignore[arg-type]
            pass


@needs_torch
def test_sdp_backend_members_match_torch() -> None:
    from torch.nn.attention import SDPBackend as TSDPBackend

    from backprop.nn.attention import SDPBackend

    assert {m.name: int(m) for m in SDPBackend} == {n: int(getattr(TSDPBackend, n)) for n in TSDPBackend.__members__}
    assert str(SDPBackend.FLASH_ATTENTION) == str(TSDPBackend.FLASH_ATTENTION)


@needs_torch
@pytest.mark.parametrize("L,S", [(4, 4), (3, 6)])
@pytest.mark.parametrize("variant", ["causal_upper_left", "causal_lower_right"])
def test_causal_bias_matches_torch(L: int, S: int, variant: str) -> None:
    import torch.nn.attention.bias as tbias

    import backprop.nn.attention.bias as bias
    import backprop.nn.functional as F

    ours, theirs = getattr(bias, variant)(L, S), getattr(tbias, variant)(L, S)
    np.testing.assert_array_equal(ours.numpy(), theirs._materialize().numpy())
    assert ours.dtype == bp.bool and ours.variant == theirs.variant and ours.seq_len_kv == S
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 2, L, 8)), rng.standard_normal((2, 2, S, 8)), rng.standard_normal((2, 2, S, 8))
    out = F.scaled_dot_product_attention(bp.tensor(q), bp.tensor(k), bp.tensor(v), attn_mask=ours)
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=theirs
    )
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


def test_causal_bias_closed_form_and_warning() -> None:
    from backprop.nn.attention.bias import CausalVariant, causal_lower_right, causal_upper_left

    np.testing.assert_array_equal(causal_upper_left(2, 3).numpy(), [[1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(causal_lower_right(2, 3).numpy(), [[1, 1, 0], [1, 1, 1]])
    assert causal_lower_right(2, 3).variant is CausalVariant.LOWER_RIGHT
    with pytest.warns(UserWarning, match="produce NaNs"):
        causal_lower_right(3, 2)
    with pytest.raises(AssertionError, match="2D"):
        causal_upper_left(2, 3, 4)
