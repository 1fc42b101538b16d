"""Torch cross-checks of the nn losses, padding, distances, normalisation and attention (F functions
and modules): values, dtypes, shapes and gradients, module arguments, buffers and state_dict keys."""

# ruff: noqa: B023 - the lambdas built in loops are called at once, inside the same iteration

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
tnn = torch.nn
TF = torch.nn.functional

RNG = np.random.default_rng(0)


def _check(fn_ours, fn_theirs, grads, consts=(), rtol=1e-6, atol=1e-8, grad_mask=None):
    """Run both with tensors made from ``grads`` (require grad) and ``consts`` (do not); compare the
    outputs (value, shape, dtype) and the gradients of sum(out * c) for a fixed random c."""
    ours = [bp.tensor(a, requires_grad=True) for a in grads]
    theirs = [torch.tensor(a, requires_grad=True) for a in grads]
    co = [bp.tensor(c) if isinstance(c, np.ndarray) else c for c in consts]
    ct = [torch.tensor(c) if isinstance(c, np.ndarray) else c for c in consts]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        o = fn_ours(*ours, *co)
        t = fn_theirs(*theirs, *ct)
    assert tuple(o.shape) == tuple(t.shape)
    assert str(o.dtype) == str(t.dtype).removeprefix("torch."), (o.dtype, t.dtype)
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
    c = np.random.default_rng(1).standard_normal(tuple(t.shape)).astype(str(t.dtype).removeprefix("torch."))
    (o * bp.tensor(c)).sum().backward()
    (t * torch.tensor(c)).sum().backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        ga, gb = a.grad.numpy(), b.grad.numpy()
        if grad_mask is not None and grad_mask[i] is not None:
            ga, gb = ga[grad_mask[i]], gb[grad_mask[i]]
        np.testing.assert_allclose(ga, gb, rtol=max(rtol, 1e-5), atol=max(atol, 1e-7))


X = RNG.standard_normal((5, 4))
T = np.array([0, 3, 1, -100, 2])
W = RNG.uniform(0.5, 2, 4)
X4 = RNG.standard_normal((2, 4, 3, 2))
T4 = RNG.integers(0, 4, (2, 3, 2))
T4[0, 0, 0] = -100
P4 = RNG.dirichlet(np.ones(4), (2, 3, 2)).transpose(0, 3, 1, 2).copy()


# ---------------------------------------------------------------- classification losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_weights_and_smoothing(reduction, smoothing, weighted):
    consts = [T, W] if weighted else [T]
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    _check(lambda x, *c: F.cross_entropy(x, *c, **kw), lambda x, *c: TF.cross_entropy(x, *c, **kw), [X], consts)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_nd_and_probability_targets(reduction):
    kw = {"reduction": reduction, "label_smoothing": 0.1}
    _check(
        lambda x, t, w: F.cross_entropy(x, t, w, **kw), lambda x, t, w: TF.cross_entropy(x, t, w, **kw), [X4], [T4, W]
    )
    _check(lambda x, t: F.cross_entropy(x, t, **kw), lambda x, t: TF.cross_entropy(x, t, **kw), [X4], [T4])
    _check(
        lambda x, t, w: F.cross_entropy(x, t, w, **kw), lambda x, t, w: TF.cross_entropy(x, t, w, **kw), [X4], [P4, W]
    )
    _check(
        lambda x, t: F.cross_entropy(x, t, **kw),
        lambda x, t: TF.cross_entropy(x, t, **kw),
        [X4[0, :, 0, 0]],
        [P4[0, :, 0, 0]],
    )
    _check(lambda x, t: F.cross_entropy(x, t, **kw), lambda x, t: TF.cross_entropy(x, t, **kw), [X[0]], [np.array(2)])


def test_cross_entropy_float32_and_positional_weight():
    x = X.astype(np.float32)
    _check(
        lambda a, t, w: F.cross_entropy(a, t, w),
        lambda a, t, w: TF.cross_entropy(a, t, w),
        [x],
        [T, W.astype(np.float32)],
        rtol=1e-5,
    )
    # the third positional argument is the class weight (torch), never ignore_index
    out = F.cross_entropy(bp.tensor(x), bp.tensor(np.array([0, 1, 1, 2, 3])), bp.tensor(W.astype(np.float32)))
    ref = TF.cross_entropy(torch.tensor(x), torch.tensor(np.array([0, 1, 1, 2, 3])), torch.tensor(W.astype(np.float32)))
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-6)


def test_legacy_size_average_and_reduce():
    for sa, red in [(False, None), (None, False), (True, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check(
                lambda x, t: F.cross_entropy(x, t, None, sa, -100, red),
                lambda x, t: TF.cross_entropy(x, t, None, sa, -100, red),
                [X],
                [T],
            )
            _check(lambda x, y: F.mse_loss(x, y, sa, red), lambda x, y: TF.mse_loss(x, y, sa, red), [X, X[::-1].copy()])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        F.nll_loss(bp.tensor(X), bp.tensor(T), None, False)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weight(reduction):
    _check(
        lambda x, t, w: F.nll_loss(x, t, w, reduction=reduction),
        lambda x, t, w: TF.nll_loss(x, t, w, reduction=reduction),
        [X],
        [T, W],
    )
    _check(
        lambda x, t, w: F.nll_loss(x, t, w, ignore_index=1, reduction=reduction),
        lambda x, t, w: TF.nll_loss(x, t, w, ignore_index=1, reduction=reduction),
        [X4],
        [np.maximum(T4, 0), W],
    )


def test_binary_cross_entropy_weights():
    p = RNG.uniform(0.05, 0.95, (3, 4))
    y = RNG.uniform(0, 1, (3, 4))
    w = RNG.uniform(0.5, 2, (3, 4))
    pw = RNG.uniform(0.5, 2, 4)
    for red in ["mean", "sum", "none"]:
        _check(
            lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=red),
            lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=red),
            [p, y],
            [w[0]],
        )
        _check(
            lambda a, b, d, c: F.binary_cross_entropy_with_logits(a, b, c, reduction=red, pos_weight=d),
            lambda a, b, d, c: TF.binary_cross_entropy_with_logits(a, b, c, reduction=red, pos_weight=d),
            [X[:3] * 4, y],
            [pw, w],
        )
        _check(
            lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, c, reduction=red),
            lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, c, reduction=red),
            [X[:3], y],
            [w],
        )


# ---------------------------------------------------------------- regression losses

Z, Z2, EW = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4)), RNG.uniform(0.5, 2, (3, 4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction):
    r = {"reduction": reduction}
    _check(lambda a, b: F.l1_loss(a, b, **r), lambda a, b: TF.l1_loss(a, b, **r), [Z, Z2])
    _check(lambda a, b, w: F.l1_loss(a, b, **r, weight=w), lambda a, b, w: TF.l1_loss(a, b, **r, weight=w), [Z, Z2, EW])
    _check(
        lambda a, b, w: F.mse_loss(a, b, **r, weight=w), lambda a, b, w: TF.mse_loss(a, b, **r, weight=w), [Z, Z2, EW]
    )
    for beta in (0.0, 0.6, 1.0):
        _check(
            lambda a, b: F.smooth_l1_loss(a, b, **r, beta=beta),
            lambda a, b: TF.smooth_l1_loss(a, b, **r, beta=beta),
            [Z, Z2],
        )
    for delta in (0.7, 1.0):
        _check(
            lambda a, b: F.huber_loss(a, b, **r, delta=delta),
            lambda a, b: TF.huber_loss(a, b, **r, delta=delta),
            [Z, Z2],
        )
        _check(
            lambda a, b, w: F.huber_loss(a, b, **r, delta=delta, weight=w),
            lambda a, b, w: TF.huber_loss(a, b, **r, delta=delta, weight=w),
            [Z, Z2, EW],
        )


def test_regression_losses_broadcast_warning_and_float32():
    a, b = Z.astype(np.float32), Z2[0].astype(np.float32)
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(bp.tensor(a), bp.tensor(b))
    _check(lambda x, y: F.smooth_l1_loss(x, y), lambda x, y: TF.smooth_l1_loss(x, y), [a, b], rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div(reduction):
    lp = np.log(RNG.dirichlet(np.ones(4), 3))
    tg = RNG.dirichlet(np.ones(4), 3)
    tg[0, 1] = 0.0
    # at target == 0 torch's target gradient is NaN (xlogy's derivative); ours is finite: compare elsewhere
    _check(
        lambda a, b: F.kl_div(a, b, reduction=reduction),
        lambda a, b: TF.kl_div(a, b, reduction=reduction),
        [lp, tg],
        grad_mask=[None, tg > 0],
    )
    _check(
        lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True),
        lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=True),
        [lp, lp[::-1].copy()],
    )


def test_kl_div_mean_warns_like_torch():
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(bp.tensor(Z), bp.tensor(EW))


def test_cosine_embedding_loss():
    a, b = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3))
    y = np.array([1, -1, 1, -1, -1])
    for red in ["mean", "none"]:
        _check(
            lambda p, q, t: F.cosine_embedding_loss(p, q, t, margin=-0.2, reduction=red),
            lambda p, q, t: TF.cosine_embedding_loss(p, q, t, margin=-0.2, reduction=red),
            [a, b],
            [y],
        )


# ---------------------------------------------------------------- distances


def test_cosine_similarity_normalize_pairwise_distance():
    a = RNG.standard_normal((2, 3, 5))
    b = RNG.standard_normal((2, 3, 5))
    b[0, :, 0] = 0.0  # a zero vector: the norm is clamped at eps
    _check(lambda x, y: F.cosine_similarity(x, y), lambda x, y: TF.cosine_similarity(x, y), [a, b])
    _check(lambda x, y: F.cosine_similarity(x, y, -1, 0.5), lambda x, y: TF.cosine_similarity(x, y, -1, 0.5), [a, b])
    _check(lambda x, y: F.cosine_similarity(x, y, dim=-1), lambda x, y: TF.cosine_similarity(x, y, dim=-1), [a[:1], b])
    _check(lambda x: F.normalize(x), lambda x: TF.normalize(x), [a])
    _check(lambda x: F.normalize(x, p=1, dim=-1), lambda x: TF.normalize(x, p=1, dim=-1), [a])
    _check(lambda x, y: F.pairwise_distance(x, y), lambda x, y: TF.pairwise_distance(x, y), [a, b])
    _check(
        lambda x, y: F.pairwise_distance(x, y, 3, keepdim=True),
        lambda x, y: TF.pairwise_distance(x, y, 3, keepdim=True),
        [a, b],
    )
    _check(lambda x, y: nn.CosineSimilarity(dim=2)(x, y), lambda x, y: tnn.CosineSimilarity(dim=2)(x, y), [a, b])
    _check(lambda x, y: nn.PairwiseDistance(1.0)(x, y), lambda x, y: tnn.PairwiseDistance(1.0)(x, y), [a, b])


# ---------------------------------------------------------------- pad

PAD_INPUTS = {
    2: RNG.standard_normal((2, 3, 5)),
    4: RNG.standard_normal((2, 3, 4, 5)),
    6: RNG.standard_normal((1, 2, 3, 4, 5)),
}


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 1, 1, 3), (0, -1), (-1, 2, 3, 0), (1, 1, 2, 0, 1, 1)])
def test_pad(mode, pad):
    x = PAD_INPUTS[len(pad)]
    _check(lambda a: F.pad(a, pad, mode), lambda a: TF.pad(a, pad, mode), [x])


def test_pad_constant_value_crop_and_errors():
    x = PAD_INPUTS[4]
    _check(lambda a: F.pad(a, (1, -2, 3, 0), value=2.5), lambda a: TF.pad(a, (1, -2, 3, 0), value=2.5), [x])
    _check(lambda a: F.pad(a, [1, 1, 1, 1, 1, 1, 1, 1]), lambda a: TF.pad(a, [1, 1, 1, 1, 1, 1, 1, 1]), [x])
    t = bp.tensor(x)
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.pad(t, (1, 2, 3))
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(bp.tensor(PAD_INPUTS[2]), (5, 0), "reflect")
    with pytest.raises(RuntimeError, match="value argument"):
        F.pad(bp.tensor(PAD_INPUTS[2]), (1, 0), "reflect", value=1.0)
    with pytest.raises(NotImplementedError):
        F.pad(t, (1, 1), "reflect")  # torch: a 1-dim reflect pad needs a 2-d or 3-d input


# ---------------------------------------------------------------- normalisation

GX = RNG.standard_normal((2, 6, 3, 2))
GW, GB = RNG.standard_normal(6), RNG.standard_normal(6)


def test_group_norm_and_layer_norm():
    _check(lambda x, w, b: F.group_norm(x, 3, w, b), lambda x, w, b: TF.group_norm(x, 3, w, b), [GX, GW, GB])
    _check(lambda x: F.group_norm(x, 6), lambda x: TF.group_norm(x, 6), [GX])
    _check(
        lambda x, w, b: F.layer_norm(x, (3, 2), w.reshape(3, 2), b.reshape(3, 2)),
        lambda x, w, b: TF.layer_norm(x, (3, 2), w.reshape(3, 2), b.reshape(3, 2)),
        [GX, GW, GB],
    )
    with pytest.raises(ValueError, match="divisible by num_groups"):
        F.group_norm(bp.tensor(GX), 4)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_functional_updates_running_stats(training):
    rm, rv = RNG.standard_normal(6), RNG.uniform(0.5, 2, 6)
    o_rm, o_rv = bp.tensor(rm.copy()), bp.tensor(rv.copy())
    t_rm, t_rv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    _check(
        lambda x, w, b: F.batch_norm(x, o_rm, o_rv, w, b, training=training, momentum=0.3),
        lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, training=training, momentum=0.3),
        [GX, GW, GB],
    )
    np.testing.assert_allclose(o_rm.detach().numpy(), t_rm.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(o_rv.detach().numpy(), t_rv.detach().numpy(), rtol=1e-12)
    _check(
        lambda x: F.batch_norm(x, None, None, training=True),
        lambda x: TF.batch_norm(x, None, None, training=True),
        [GX],
    )
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(bp.randn(1, 3), None, None, training=True)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize(
    "cls,shape", [("BatchNorm1d", (4, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (2, 3, 4, 2))]
)
def test_batch_norm_module_train_eval(cls, shape, momentum):
    ours, theirs = getattr(nn, cls)(3, momentum=momentum), getattr(tnn, cls)(3, momentum=momentum)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    for step in range(3):
        x = RNG.standard_normal(shape).astype(np.float32) * (step + 1) + step
        _check(ours, theirs, [x], rtol=1e-5, atol=1e-6)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].detach().numpy(), v.detach().numpy(), rtol=1e-5, err_msg=k)
    assert ours.num_batches_tracked.dtype == bp.int64 and ours.num_batches_tracked.item() == 3
    ours.eval()
    theirs.eval()
    _check(ours, theirs, [RNG.standard_normal(shape).astype(np.float32)], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        ours(bp.randn(*shape, 2, 2))


def test_batch_norm_module_options_and_load_state_dict():
    ours, theirs = (
        nn.BatchNorm1d(4, affine=False, track_running_stats=False),
        tnn.BatchNorm1d(4, affine=False, track_running_stats=False),
    )
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ours.eval()
    theirs.eval()
    _check(ours, theirs, [RNG.standard_normal((5, 4))])  # no running stats: batch statistics even in eval
    a, b = nn.BatchNorm2d(3), tnn.BatchNorm2d(3)
    b.train()(torch.randn(2, 3, 4, 4))
    a.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in b.state_dict().items()})
    a.eval()
    b.eval()
    _check(a, b, [RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)], rtol=1e-5, atol=1e-6)
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    a.to(bp.float64)
    assert a.running_mean.dtype == bp.float64 and a.num_batches_tracked.dtype == bp.int64


def test_group_norm_module():
    ours, theirs = nn.GroupNorm(2, 6), tnn.GroupNorm(2, 6)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    _check(ours, theirs, [GX.astype(np.float32)], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        nn.GroupNorm(4, 6)


# ---------------------------------------------------------------- attention

Q, K, V = RNG.standard_normal((2, 3, 4, 8)), RNG.standard_normal((2, 3, 6, 8)), RNG.standard_normal((2, 3, 6, 5))


def test_scaled_dot_product_attention():
    sdpa, tsdpa = F.scaled_dot_product_attention, TF.scaled_dot_product_attention
    bool_mask = RNG.random((4, 6)) > 0.3
    bool_mask[:, 0] = True
    float_mask = RNG.standard_normal((4, 6))
    _check(sdpa, tsdpa, [Q, K, V])
    _check(
        lambda q, k, v: sdpa(q, k, v, is_causal=True, scale=0.3),
        lambda q, k, v: tsdpa(q, k, v, is_causal=True, scale=0.3),
        [Q, K, V],
    )
    _check(lambda q, k, v, m: sdpa(q, k, v, m), lambda q, k, v, m: tsdpa(q, k, v, m), [Q, K, V], [bool_mask])
    _check(lambda q, k, v, m: sdpa(q, k, v, m), lambda q, k, v, m: tsdpa(q, k, v, m), [Q, K, V, float_mask])
    _check(
        lambda q, k, v: sdpa(q, k, v, enable_gqa=True),
        lambda q, k, v: tsdpa(q, k, v, enable_gqa=True),
        [np.concatenate([Q, Q], 1), K, V],
    )
    _check(sdpa, tsdpa, [Q.astype(np.float32), K.astype(np.float32), V.astype(np.float32)], rtol=1e-5, atol=1e-6)
    dead = bool_mask.copy()
    dead[1] = False  # a query that may attend to nothing: torch's safe softmax gives 0, not NaN
    _check(lambda q, k, v, m: sdpa(q, k, v, m), lambda q, k, v, m: tsdpa(q, k, v, m), [Q, K, V], [dead])


def test_dropout_training_flag():
    x = bp.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.5, False) is x
    y = F.dropout(x, 0.5, training=True)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] * 2, rtol=1e-6)


# ---------------------------------------------------------------- loss modules


def _loss_pairs():
    w = RNG.uniform(0.5, 2, 4)
    return [
        ("CrossEntropyLoss", {"weight": w, "label_smoothing": 0.1, "ignore_index": 2}, X, np.maximum(T, 0)),
        ("CrossEntropyLoss", {"reduction": "sum"}, X4, T4),
        ("NLLLoss", {"weight": w, "reduction": "none"}, X, T),
        ("MSELoss", {}, Z, Z2),
        ("L1Loss", {"reduction": "sum"}, Z, Z2),
        ("BCELoss", {"weight": EW}, RNG.uniform(0.1, 0.9, (3, 4)), RNG.uniform(0, 1, (3, 4))),
        ("BCEWithLogitsLoss", {"weight": EW, "pos_weight": w}, Z, RNG.uniform(0, 1, (3, 4))),
        ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, Z, Z2),
        ("SmoothL1Loss", {"beta": 0.5}, Z, Z2),
        ("HuberLoss", {"delta": 0.5}, Z, Z2),
    ]


@pytest.mark.parametrize("name,kwargs,x,y", _loss_pairs(), ids=lambda v: v if isinstance(v, str) else "")
def test_loss_modules(name, kwargs, x, y):
    ours = getattr(nn, name)(**{k: bp.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    theirs = getattr(tnn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.reduction == theirs.reduction
    _check(ours, theirs, [x], [y])


def test_loss_module_legacy_arguments_and_buffers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert nn.CrossEntropyLoss(None, False).reduction == tnn.CrossEntropyLoss(None, False).reduction == "sum"
        assert nn.MSELoss(reduce=False).reduction == "none"
    w = bp.tensor([1.0, 2.0, 3.0])
    loss = nn.CrossEntropyLoss(w)
    assert loss.weight is w and [n for n, _ in loss.named_buffers()] == ["weight"]
    loss.to(bp.float64)
    assert loss.weight.dtype == bp.float64


# ---------------------------------------------------------------- module buffers and layers


def test_register_buffer_persistent_and_assignment():
    m, tm = nn.Module(), tnn.Module()
    for mod, lib in ((m, bp), (tm, torch)):
        mod.register_buffer("a", lib.zeros(2))
        mod.register_buffer("b", lib.ones(3), persistent=False)
        mod.register_buffer("c", None)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["a"]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()] == ["a", "b"]
    m.a = bp.ones(2)  # assigning to a buffer's name replaces the buffer
    assert "a" in m._buffers and m.state_dict()["a"].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError):
        m.a = 3.0
    with pytest.raises(KeyError):
        m.register_buffer("x.y", bp.zeros(1))
    m.to(bp.float64)
    assert m.b.dtype == bp.float64


def test_unflatten():
    x = RNG.standard_normal((2, 12, 3))
    _check(nn.Unflatten(1, (3, 4)), tnn.Unflatten(1, (3, 4)), [x])
    _check(nn.Unflatten(-1, (1, -1)), tnn.Unflatten(-1, (1, -1)), [x])


def test_layer_norm_module_arguments():
    for args, kw in [((6,), {}), (((3, 2),), {"bias": False}), ((6, 1e-3, False), {})]:
        ours, theirs = nn.LayerNorm(*args, **kw), tnn.LayerNorm(*args, **kw)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        x = RNG.standard_normal((4, 3, 2) if args[0] == (3, 2) else (4, 6)).astype(np.float32)
        _check(ours, theirs, [x], rtol=1e-5, atol=1e-6)


def test_embedding_and_dropout_module_arguments():
    for args in [(10, 3), (10, 3, -1), (10, 3, 2)]:
        ours, theirs = nn.Embedding(*args), tnn.Embedding(*args)
        assert repr(ours) == repr(theirs)
        assert ours.padding_idx == theirs.padding_idx
    w = RNG.standard_normal((4, 2))
    frozen = nn.Embedding(4, 2, _weight=bp.tensor(w), _freeze=True)
    assert not frozen.weight.requires_grad and np.array_equal(frozen.weight.detach().numpy(), w)
    for args in [(), (0.2,), (0.3, True)]:
        assert repr(nn.Dropout(*args)) == repr(tnn.Dropout(*args))
    x = bp.ones(3, 4)
    out = nn.Dropout(0.5, inplace=True)(x)
    assert out is x and set(np.unique(x.detach().numpy())) <= {0.0, 2.0}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reduction": "sum", "ignore_index": 1},
        {"reduction": "none", "label_smoothing": 0.2},
        {"weight": [0.5, 1.0, 2.0, 1.5], "label_smoothing": 0.1},
        {"weight": [0.5, 1.0, 2.0, 1.5], "reduction": "none"},
    ],
)
def test_cross_entropy_double_backward_matches_torch(kwargs) -> None:
    """Second derivatives through the fused cross-entropy (MAML's inner step, gradient penalties), for
    the logits as a leaf and as an intermediate, against torch's and by bp.gradgradcheck."""
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    y0 = np.array([0, 3, 1, 1, 2])
    grads = []
    for lib in (bp, torch):
        kw = dict(kwargs)
        if "weight" in kw:
            kw["weight"] = lib.tensor(kw["weight"], dtype=lib.float64)
        w = lib.tensor(w0, requires_grad=True)
        x = lib.tensor(x0)
        loss = lib.nn.functional.cross_entropy(x @ w, lib.tensor(y0), **kw)
        (g,) = lib.autograd.grad(loss.sum(), w, create_graph=True)
        ((g * g).sum() + (g[:, 0] ** 3).sum()).backward()
        grads.append((g.detach().numpy(), w.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    kw = {k: (bp.tensor(v, dtype=bp.float64) if k == "weight" else v) for k, v in kwargs.items()}
    t = bp.tensor(y0)
    assert bp.gradgradcheck(
        lambda z: bp.nn.functional.cross_entropy(z, t, **kw), (bp.tensor(x0 @ w0, requires_grad=True),)
    )
