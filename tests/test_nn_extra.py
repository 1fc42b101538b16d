"""Torch cross-checks of the extra nn.functional losses, normalisations, layers, dropouts, shuffles,
padding modules and nn.utils norms (values, dtypes, shapes, gradients, module arguments, errors);
random-mask functions are checked for structure, scaling, rates and gradients instead of values."""

# ruff: noqa: B023 - the lambdas built in loops are called at once, inside the same iteration

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
tnn = torch.nn
TF = torch.nn.functional

RNG = np.random.default_rng(0)


def _check(fn_ours, fn_theirs, grads, consts=(), rtol=1e-6, atol=1e-8):
    """Both functions on tensors made from ``grads`` (requiring grad) and ``consts``: same values, shape,
    dtype, and gradients of sum(out * c) for a fixed random c."""
    ours = [bp.tensor(a, requires_grad=True) for a in grads]
    theirs = [torch.tensor(a, requires_grad=True) for a in grads]
    co = [bp.tensor(c) if isinstance(c, np.ndarray) else c for c in consts]
    ct = [torch.tensor(c) if isinstance(c, np.ndarray) else c for c in consts]
    o = fn_ours(*ours, *co)
    t = fn_theirs(*theirs, *ct)
    assert tuple(o.shape) == tuple(t.shape)
    assert str(o.dtype) == str(t.dtype).removeprefix("torch."), (o.dtype, t.dtype)
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
    c = np.random.default_rng(1).standard_normal(tuple(t.shape)).astype(str(t.dtype).removeprefix("torch."))
    (o * bp.tensor(c)).sum().backward()
    (t * torch.tensor(c)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=max(rtol, 1e-5), atol=max(atol, 1e-7))


def _both(name, *args, **kwargs):
    """(ours, torch's) of ``F.<name>`` with fixed extra arguments (numpy arrays become tensors)."""

    def conv(mod, wrap):
        return lambda *xs: getattr(mod, name)(
            *xs,
            *[wrap(a) if isinstance(a, np.ndarray) else a for a in args],
            **{k: wrap(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()},
        )

    return conv(F, bp.tensor), conv(TF, torch.tensor)


X = RNG.standard_normal((5, 4))
Y = RNG.standard_normal((5, 4))
V = RNG.uniform(0.1, 2.0, (5, 4))
S = np.sign(RNG.standard_normal((5, 4)))
W4 = RNG.uniform(0.5, 2.0, 4)
REDUCTIONS = ["mean", "sum", "none"]


# ---------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var", [V, V[:, 0], V[:, :1], V[:1]], ids=["full", "last-dim-dropped", "ones-last", "ones-0"])
def test_gaussian_nll_loss(reduction, var):
    for full in (False, True):
        _check(*_both("gaussian_nll_loss", full=full, reduction=reduction), [X, Y, var])


def test_gaussian_nll_loss_eps_clamp_float_var_and_errors():
    small = V.copy()
    small[0, 0] = 1e-9  # clamped to eps in value; the gradient passes as for the unclamped var
    _check(*_both("gaussian_nll_loss", eps=1e-3), [X, Y, small])
    _check(lambda a, b: F.gaussian_nll_loss(a, b, 0.5), lambda a, b: TF.gaussian_nll_loss(a, b, 0.5), [X, Y])
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(bp.tensor(X), bp.tensor(Y), bp.tensor(-V))
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(bp.tensor(X), bp.tensor(Y), bp.tensor(np.ones((5, 3))))
    with pytest.raises(ValueError, match="not valid"):
        F.gaussian_nll_loss(bp.tensor(X), bp.tensor(Y), bp.tensor(V), reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_loss(reduction):
    counts = np.floor(np.abs(Y) * 3)  # 0, 1 and larger counts: Stirling's term is masked where target <= 1
    _check(*_both("poisson_nll_loss", reduction=reduction), [X], [counts])
    _check(*_both("poisson_nll_loss", log_input=False, full=True, eps=1e-4, reduction=reduction), [V], [counts])
    _check(*_both("poisson_nll_loss", full=True, reduction=reduction), [X], [counts])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_hinge_and_soft_margin_losses(reduction):
    _check(*_both("margin_ranking_loss", S, margin=0.3, reduction=reduction), [X, Y])
    _check(*_both("hinge_embedding_loss", S, margin=0.5, reduction=reduction), [X])
    _check(*_both("soft_margin_loss", S, reduction=reduction), [X])
    _check(*_both("soft_margin_loss", reduction=reduction), [X.astype(np.float32)], [S.astype(np.float32)])


def test_margin_losses_errors_and_large_inputs():
    with pytest.raises(RuntimeError, match="same dimension"):
        F.margin_ranking_loss(bp.tensor(X), bp.tensor(Y), bp.tensor(S[:, :1, None]))
    big = bp.tensor([1000.0, -1000.0])  # torch's log1p(exp(1000)) overflows to inf, and so does ours
    np.testing.assert_array_equal(
        F.soft_margin_loss(big, bp.tensor([-1.0, 1.0]), reduction="none").numpy(), [np.inf] * 2
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_loss(reduction):
    target = (RNG.random((5, 4)) > 0.5) * 1.0
    _check(*_both("multilabel_soft_margin_loss", target, reduction=reduction), [X])
    _check(*_both("multilabel_soft_margin_loss", target, weight=W4, reduction=reduction), [X])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss(reduction, p):
    target = np.array([0, 3, 1, 2, 3])
    _check(*_both("multi_margin_loss", target, p=p, margin=0.7, reduction=reduction), [X])
    _check(*_both("multi_margin_loss", target, p=p, weight=W4, reduction=reduction), [X])
    _check(*_both("multi_margin_loss", np.array(2), p=p, reduction=reduction), [X[0]])  # unbatched: 0-d target
    _check(*_both("multi_margin_loss", np.array([2]), p=p, reduction=reduction), [X[0]])


def test_multi_margin_loss_errors():
    x = bp.tensor(X)
    with pytest.raises(RuntimeError, match="out of range"):
        F.multi_margin_loss(x, bp.tensor([0, 1, 2, 3, 4]))
    with pytest.raises(RuntimeError, match="target size"):
        F.multi_margin_loss(x, bp.tensor([0, 1]))
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        F.multi_margin_loss(x, bp.tensor([0, 1, 2, 3, 0]), p=3)
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction):
    # each row lists its classes up to the first -1 (what follows is ignored); repeats count once as targets
    target = np.array([[3, 0, -1, 1], [0, 1, 2, 3], [1, -1, 2, 2], [-1, 0, 0, 0], [2, 2, -1, 3]])
    _check(*_both("multilabel_margin_loss", target, reduction=reduction), [X])
    _check(*_both("multilabel_margin_loss", np.array([1, 2, -1, 0]), reduction=reduction), [X[0]])
    for bad in (4, -2):  # torch checks every entry, also those after the first -1
        with pytest.raises(RuntimeError, match="out of range"):
            F.multilabel_margin_loss(bp.tensor(X), bp.tensor(np.array([[0, -1, bad, 0]] * 5)))
    with pytest.raises(RuntimeError, match="target size"):
        F.multilabel_margin_loss(bp.tensor(X), bp.tensor(np.zeros((5, 3), dtype=np.int64)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_losses(reduction, swap):
    _check(*_both("triplet_margin_loss", margin=2.0, p=1.5, swap=swap, reduction=reduction), [X, Y, V])
    _check(*_both("triplet_margin_loss", swap=swap, reduction=reduction), [X[0], Y[0], V[0]])
    _check(
        lambda a, p, n: F.triplet_margin_with_distance_loss(
            a, p, n, distance_function=lambda u, w: 1 - F.cosine_similarity(u, w), margin=1.5, swap=swap,
            reduction=reduction,
        ),
        lambda a, p, n: TF.triplet_margin_with_distance_loss(
            a, p, n, distance_function=lambda u, w: 1 - TF.cosine_similarity(u, w), margin=1.5, swap=swap,
            reduction=reduction,
        ),
        [X, Y, V],
    )  # fmt: skip
    _check(*_both("triplet_margin_with_distance_loss", swap=swap, reduction=reduction), [X, Y, V])


def test_triplet_errors():
    a = bp.tensor(X)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_loss(a, a, a, margin=0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_loss(a, a, bp.tensor(X[0]))
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginWithDistanceLoss(margin=-1.0)


def test_legacy_reduction_arguments_warn():
    with pytest.warns(UserWarning, match="size_average and reduce"):
        out = F.soft_margin_loss(bp.tensor(X), bp.tensor(S), size_average=False)
    np.testing.assert_allclose(
        out.item(), TF.soft_margin_loss(torch.tensor(X), torch.tensor(S), reduction="sum").item()
    )
    with pytest.warns(UserWarning, match="size_average and reduce"):
        m = nn.HingeEmbeddingLoss(reduce=False)
    assert m.reduction == "none"


def _loss_modules():
    target = np.array([0, 3, 1, 2, 3])
    ml = np.array([[3, 0, -1, 1], [0, 1, 2, 3], [1, -1, 2, 2], [-1, 0, 0, 0], [2, 2, -1, 0]])
    w = W4
    return [
        ("GaussianNLLLoss", {"full": True, "eps": 1e-3}, (X, Y, V)),
        ("PoissonNLLLoss", {"log_input": False, "full": True}, (V, np.floor(np.abs(Y) * 3))),
        ("MarginRankingLoss", {"margin": 0.2}, (X, Y, S)),
        ("HingeEmbeddingLoss", {"margin": 0.4, "reduction": "sum"}, (X, S)),
        ("SoftMarginLoss", {"reduction": "none"}, (X, S)),
        ("MultiLabelSoftMarginLoss", {"weight": w}, (X, (S > 0) * 1.0)),
        ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": w}, (X, target)),
        ("MultiLabelMarginLoss", {}, (X, ml)),
        ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}, (X, Y, V)),
        ("TripletMarginWithDistanceLoss", {"margin": 0.5, "swap": True}, (X, Y, V)),
    ]


@pytest.mark.parametrize(("name", "kwargs", "args"), _loss_modules(), ids=[c[0] for c in _loss_modules()])
def test_loss_modules(name, kwargs, args):
    ours = getattr(nn, name)(**{k: bp.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    theirs = getattr(tnn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    x = bp.tensor(args[0], requires_grad=True)
    xt = torch.tensor(args[0], requires_grad=True)
    o = ours(x, *[bp.tensor(a) for a in args[1:]])
    t = theirs(xt, *[torch.tensor(a) for a in args[1:]])
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-10)
    o.sum().backward()
    t.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-10)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_loss_gradcheck_float64():
    a, p, n = (bp.tensor(v, requires_grad=True) for v in (X, Y, V))
    target = bp.tensor(np.array([0, 3, 1, 2, 3]))
    assert bp.gradcheck(lambda x: F.multi_margin_loss(x, target, p=2, margin=0.7), (a,))
    assert bp.gradcheck(lambda x, v: F.gaussian_nll_loss(x, p, v, full=True), (a, n))
    assert bp.gradcheck(lambda x, y, z: F.triplet_margin_loss(x, y, z, margin=2.0, swap=True), (a, p, n))


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_rms_norm(shape):
    x = RNG.standard_normal((2, 3, 4))
    w = RNG.uniform(0.5, 2, shape)
    _check(*_both("rms_norm", shape), [x])
    _check(lambda a, b: F.rms_norm(a, shape, b), lambda a, b: TF.rms_norm(a, shape, b), [x, w])
    _check(lambda a, b: F.rms_norm(a, shape, b, 0.1), lambda a, b: TF.rms_norm(a, shape, b, 0.1), [x, w])
    tiny = x * 1e-9  # eps=None is finfo(dtype).eps, visible at this scale
    _check(*_both("rms_norm", shape), [tiny.astype(np.float32)], rtol=1e-5)


def test_rms_norm_float16_errors_and_module():
    x = RNG.standard_normal((2, 3)).astype(np.float16)
    o, t = F.rms_norm(bp.tensor(x), (3,)), TF.rms_norm(torch.tensor(x), (3,))
    assert o.dtype == bp.float16
    np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-3)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.rms_norm(bp.tensor(X), (3,))
    with pytest.raises(RuntimeError, match="weight"):
        F.rms_norm(bp.tensor(X), (4,), bp.ones(3))
    for kwargs in ({}, {"eps": 1e-3}, {"elementwise_affine": False}):
        ours, theirs = nn.RMSNorm(4, **kwargs), tnn.RMSNorm(4, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        x = X.astype(np.float32)
        np.testing.assert_allclose(ours(bp.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy())
    assert nn.RMSNorm([2, 4]).weight.shape == (2, 4)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
def test_instance_norm_functional(shape):
    x = RNG.standard_normal(shape)
    w, b = RNG.uniform(0.5, 2, 3), RNG.standard_normal(3)
    _check(*_both("instance_norm"), [x])
    _check(
        lambda a, ww, bb: F.instance_norm(a, weight=ww, bias=bb),
        lambda a, ww, bb: TF.instance_norm(a, weight=ww, bias=bb),
        [x, w, b],
    )
    rm, rv = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
    ours = [bp.tensor(rm), bp.tensor(rv)]
    theirs = [torch.tensor(rm), torch.tensor(rv)]
    o = F.instance_norm(bp.tensor(x), *ours, momentum=0.3)
    t = TF.instance_norm(torch.tensor(x), *theirs, momentum=0.3)
    np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-6, atol=1e-10)
    for a, c in zip(ours, theirs):  # running statistics updated as torch's
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-6)
    _check(*_both("instance_norm", rm, rv, use_input_stats=False), [x])
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(bp.tensor(np.ones((2, 3, 1))))


@pytest.mark.parametrize(
    ("cls", "shape"), [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm1d", (3, 5)), ("InstanceNorm2d", (2, 3, 4, 4)),
                       ("InstanceNorm3d", (3, 2, 3, 2))],
)  # fmt: skip
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"track_running_stats": True, "momentum": 0.2}])
def test_instance_norm_modules(cls, shape, kwargs):
    ours, theirs = getattr(nn, cls)(3, **kwargs), getattr(tnn, cls)(3, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = RNG.standard_normal(shape).astype(np.float32)
    for _ in range(2):
        xo, xt = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        o, t = ours(xo), theirs(xt)
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
        c = RNG.standard_normal(shape).astype(np.float32)
        (o * bp.tensor(c)).sum().backward()
        (t * torch.tensor(c)).sum().backward()
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, atol=1e-7)
        ours.eval()
        theirs.eval()


def test_instance_norm_module_checks():
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.InstanceNorm1d(3)(bp.ones(3))
    with pytest.raises(ValueError, match="num_features"):
        nn.InstanceNorm1d(3, affine=True)(bp.ones(2, 4, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(3)(bp.ones(2, 4, 5))


@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 6, 3, 4), (1, 5, 2, 2, 3)])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm(shape, size):
    x = RNG.standard_normal(shape)
    _check(*_both("local_response_norm", size, alpha=0.3, beta=0.6, k=1.5), [x])
    ours, theirs = nn.LocalResponseNorm(size), tnn.LocalResponseNorm(size)
    assert repr(ours) == repr(theirs)
    np.testing.assert_allclose(ours(bp.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(bp.tensor(X), 2)


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize(("s1", "s2"), [((5, 3), (5, 4)), ((3,), (4,)), ((2, 5, 3), (2, 5, 4))])
def test_bilinear(s1, s2):
    x1, x2 = RNG.standard_normal(s1), RNG.standard_normal(s2)
    w, b = RNG.standard_normal((6, 3, 4)), RNG.standard_normal(6)
    _check(
        lambda a, c, ww, bb: F.bilinear(a, c, ww, bb), lambda a, c, ww, bb: TF.bilinear(a, c, ww, bb), [x1, x2, w, b]
    )
    _check(lambda a, c, ww: F.bilinear(a, c, ww), lambda a, c, ww: TF.bilinear(a, c, ww), [x1, x2, w])


def test_bilinear_errors_and_module():
    with pytest.raises(RuntimeError, match="batch dimensions do not match"):
        F.bilinear(bp.ones(2, 3), bp.ones(4, 4), bp.ones(5, 3, 4))
    with pytest.raises(RuntimeError, match="input1 size does not match"):
        F.bilinear(bp.ones(2, 3), bp.ones(2, 4), bp.ones(5, 4, 4))
    with pytest.raises(RuntimeError, match="bias size"):
        F.bilinear(bp.ones(2, 3), bp.ones(2, 4), bp.ones(5, 3, 4), bp.ones(4))
    m, mt = nn.Bilinear(30, 40, 5), tnn.Bilinear(30, 40, 5)
    assert repr(m) == repr(mt)
    assert list(m.state_dict()) == list(mt.state_dict())
    assert m.weight.shape == (5, 30, 40) and m.bias.shape == (5,)
    bound = 1 / math.sqrt(30)  # torch's init: U(-1/sqrt(in1), 1/sqrt(in1)) for weight and bias
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.weight.detach().numpy()).max() > 0.9 * bound
    assert nn.Bilinear(3, 4, 5, bias=False).bias is None
    x1, x2 = bp.ones(7, 30), bp.ones(7, 40)
    assert m(x1, x2).shape == (7, 5)


def test_lazy_linear():
    m = nn.LazyLinear(3)
    assert m.in_features == 0
    assert isinstance(m.weight, nn.UninitializedParameter) and m.has_uninitialized_params()
    opt = bp.optim.SGD(m.parameters(), lr=0.1)  # built before the first call: holds the same objects
    w_obj = m.weight
    x = bp.tensor(RNG.standard_normal((2, 5)).astype(np.float32))
    y = m(x)
    assert type(m) is nn.Linear and m.in_features == 5
    assert m.weight is w_obj and type(m.weight) is nn.Parameter and m.weight.shape == (3, 5)
    assert m.bias.shape == (3,) and m.weight.dtype == bp.float32
    assert np.abs(m.weight.detach().numpy()).max() <= 1 / math.sqrt(5)
    np.testing.assert_allclose(
        y.detach().numpy(), x.numpy() @ m.weight.detach().numpy().T + m.bias.detach().numpy(), rtol=1e-6
    )
    y.sum().backward()
    opt.step()
    assert repr(m) == repr(tnn.Linear(5, 3))
    assert nn.LazyLinear(2, bias=False, dtype=bp.float64)(bp.ones(4, 3, dtype=bp.float64)).dtype == bp.float64


def test_buffer():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Buffer(bp.ones(2))
            self.b = nn.Buffer(bp.zeros(3), persistent=False)
            self.c = bp.ones(4)  # a plain tensor attribute: not a buffer

    m = M()
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    assert isinstance(m.a, bp.Tensor) and isinstance(m.a, nn.Buffer)
    m.a = bp.full((2,), 5.0)  # reassigning keeps it a buffer
    assert list(m.state_dict()) == ["a"] and m.state_dict()["a"].tolist() == [5.0, 5.0]
    m.double()
    assert m.b.dtype == bp.float64
    t = bp.ones(2)
    buf = nn.Buffer(t)
    buf._data[0] = 7.0
    assert t.tolist() == [7.0, 1.0]  # shares memory, as torch's Buffer(t)
    assert nn.Buffer(bp.ones(2, requires_grad=True)).requires_grad

    class T(tnn.Module):
        def __init__(self):
            super().__init__()
            self.a = tnn.Buffer(torch.ones(2))
            self.b = tnn.Buffer(torch.zeros(3), persistent=False)

    assert list(T().state_dict()) == ["a"]


@pytest.mark.parametrize("shape", [(2, 8, 3, 2), (8, 2, 3), (2, 1, 12, 2, 3)])
def test_pixel_shuffle_and_unshuffle(shape):
    r = 2
    x = RNG.standard_normal(shape)
    _check(*_both("pixel_shuffle", r), [x])
    up = TF.pixel_shuffle(torch.tensor(x), r).numpy()
    _check(*_both("pixel_unshuffle", r), [up])
    ours, theirs = nn.PixelShuffle(r), tnn.PixelShuffle(r)
    assert repr(ours) == repr(theirs) and repr(nn.PixelUnshuffle(3)) == repr(tnn.PixelUnshuffle(3))
    np.testing.assert_array_equal(nn.PixelUnshuffle(r)(ours(bp.tensor(x))).numpy(), x)


def test_pixel_and_channel_shuffle_errors():
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        F.pixel_shuffle(bp.ones(4, 2), 2)
    with pytest.raises(RuntimeError, match="divisible by the square"):
        F.pixel_shuffle(bp.ones(5, 2, 2), 2)
    with pytest.raises(RuntimeError, match="height to be divisible"):
        F.pixel_unshuffle(bp.ones(1, 3, 2), 2)
    with pytest.raises(RuntimeError, match="> 2 dims"):
        F.channel_shuffle(bp.ones(2, 6), 2)
    with pytest.raises(RuntimeError, match="divisible by groups"):
        F.channel_shuffle(bp.ones(2, 6, 3), 4)


@pytest.mark.parametrize("shape", [(2, 6, 3), (1, 6, 2, 2), (3, 6, 2, 1, 2)])
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_channel_shuffle(shape, groups):
    x = RNG.standard_normal(shape)
    _check(*_both("channel_shuffle", groups), [x])
    assert repr(nn.ChannelShuffle(groups)) == repr(tnn.ChannelShuffle(groups))
    np.testing.assert_array_equal(
        nn.ChannelShuffle(groups)(bp.tensor(x)).numpy(), tnn.ChannelShuffle(groups)(torch.tensor(x)).numpy()
    )


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf")])
def test_pdist(p):
    x = RNG.standard_normal((5, 3))
    _check(*_both("pdist", p), [x])
    assert F.pdist(bp.ones(1, 3)).shape == (0,)


def test_pdist_coincident_rows_and_errors():
    x = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]])  # rows 0 and 1 coincide: torch's gradient there is 0
    _check(*_both("pdist"), [x])
    with pytest.raises(RuntimeError, match="2D"):
        F.pdist(bp.ones(2, 3, 3))
    with pytest.raises(RuntimeError, match="non-negative"):
        F.pdist(bp.ones(3, 3), -1)


# ---------------------------------------------------------------- random masks


def _channels_all_or_nothing(out, x, scale):
    """Every (n, c) channel of ``out`` is either 0 or x * scale, as a whole."""
    o = out.reshape(out.shape[0], out.shape[1], -1)
    xi = x.reshape(x.shape[0], x.shape[1], -1)
    zero = np.all(o == 0, axis=-1)
    kept = np.all(np.isclose(o, xi * scale), axis=-1)
    assert np.all(zero | kept)
    return zero


@pytest.mark.parametrize(("fn", "shape"), [("dropout1d", (40, 50, 3)), ("dropout2d", (40, 50, 2, 2)),
                                           ("dropout3d", (40, 50, 2, 1, 2))])  # fmt: skip
def test_channel_dropout_structure_rate_and_gradient(fn, shape):
    bp.manual_seed(0)
    x = RNG.uniform(0.5, 1.5, shape)  # no zeros in the input: a zero output means a dropped channel
    xt = bp.tensor(x, requires_grad=True)
    out = getattr(F, fn)(xt, p=0.3)
    dropped = _channels_all_or_nothing(out.detach().numpy(), x, 1 / 0.7)
    assert abs(dropped.mean() - 0.3) < 0.05  # 2000 channels
    out.sum().backward()
    g = xt.grad.numpy().reshape(shape[0], shape[1], -1)
    np.testing.assert_allclose(g, np.where(dropped[..., None], 0.0, 1 / 0.7) * np.ones_like(g))
    assert getattr(F, fn)(xt, p=0.3, training=False) is xt
    assert getattr(F, fn)(xt, p=0.0) is xt
    np.testing.assert_array_equal(getattr(F, fn)(xt, p=1.0).detach().numpy(), 0)


def test_channel_dropout_unbatched_rank_rules_and_warnings():
    bp.manual_seed(1)
    x = RNG.uniform(0.5, 1.5, (30, 4))  # (C, L): unbatched for dropout1d
    out = F.dropout1d(bp.tensor(x), 0.5).numpy()
    _channels_all_or_nothing(out[None], x[None], 2.0)
    x4 = RNG.uniform(0.5, 1.5, (30, 2, 2, 2))  # (C, D, H, W): unbatched for dropout3d
    out = F.dropout3d(bp.tensor(x4), 0.5).numpy()
    _channels_all_or_nothing(out[None], x4[None], 2.0)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(bp.ones(3))
    x3 = RNG.uniform(0.5, 1.5, (4, 30, 3))
    with pytest.warns(UserWarning, match="assuming that channel-wise 1D dropout"):
        out = F.dropout2d(bp.tensor(x3), 0.5)  # read as (N, C, L), as torch
    _channels_all_or_nothing(out.numpy(), x3, 2.0)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        F.dropout2d(bp.ones(3, 4), 0.5, training=False)
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        F.dropout3d(bp.ones(3, 4, 2), 0.5, training=False)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(bp.ones(2, 3, 4, 4), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout1d(-0.1)


def test_channel_dropout_inplace_and_modules():
    bp.manual_seed(2)
    x = bp.tensor(RNG.uniform(0.5, 1.5, (4, 20, 3)))
    ref = x.numpy().copy()
    out = F.dropout1d(x, 0.5, inplace=True)
    assert out is x
    _channels_all_or_nothing(x.numpy(), ref, 2.0)
    for name, ndim in (("Dropout1d", 3), ("Dropout2d", 4), ("Dropout3d", 5), ("AlphaDropout", 2),
                       ("FeatureAlphaDropout", 4)):  # fmt: skip
        m, mt = getattr(nn, name)(0.2), getattr(tnn, name)(0.2)
        assert repr(m) == repr(mt)
        t = bp.tensor(RNG.uniform(0.5, 1.5, (4, 30) + (2,) * (ndim - 2)))
        assert (m(t).numpy() != t.numpy()).any()
        m.eval()
        assert m(t) is t


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_values_statistics_and_gradient(p):
    bp.manual_seed(3)
    alpha = 1.7580993408473766
    a = 1 / math.sqrt((alpha**2 * p + 1) * (1 - p))
    x = RNG.standard_normal((200, 300))
    xt = bp.tensor(x, requires_grad=True)
    out = F.alpha_dropout(xt, p, training=True)
    o = out.detach().numpy()
    dropped = np.isclose(o, alpha * a * (p - 1))  # dropped elements: selu's saturation after the affine map
    np.testing.assert_allclose(o[~dropped], a * x[~dropped] + alpha * a * p)
    assert abs(dropped.mean() - p) < 0.01
    assert abs(o.mean()) < 0.02 and abs(o.std() - 1) < 0.02  # keeps zero mean, unit variance
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.where(dropped, 0.0, a))
    assert F.alpha_dropout(xt, p) is xt  # training=False by default, as torch
    np.testing.assert_array_equal(F.alpha_dropout(xt, 1.0, training=True).detach().numpy(), 0)


def test_feature_alpha_dropout_channels():
    bp.manual_seed(4)
    p, alpha = 0.4, 1.7580993408473766
    a = 1 / math.sqrt((alpha**2 * p + 1) * (1 - p))
    x = RNG.standard_normal((30, 40, 5))
    o = F.feature_alpha_dropout(bp.tensor(x), p, training=True).numpy()
    dropped = np.all(np.isclose(o, alpha * a * (p - 1)), axis=-1)
    kept = np.all(np.isclose(o, a * x + alpha * a * p), axis=-1)
    assert np.all(dropped ^ kept) and abs(dropped.mean() - p) < 0.05
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(bp.ones(3), 0.5, training=True)


def test_gumbel_softmax():
    bp.manual_seed(5)
    logits = bp.tensor(np.log([[0.1, 0.6, 0.3]] * 4000), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    hard = F.gumbel_softmax(logits, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and np.all(h.sum(-1) == 1)
    np.testing.assert_allclose(h.mean(0), [0.1, 0.6, 0.3], atol=0.03)  # argmax of logits + Gumbel ~ softmax
    (hard * bp.tensor(np.arange(3.0))).sum().backward()  # straight-through: the soft sample's gradient
    assert np.abs(logits.grad.numpy()).sum() > 0
    np.testing.assert_allclose(logits.grad.numpy().sum(-1), 0, atol=1e-12)
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(logits, eps=1e-5)
    assert F.gumbel_softmax(bp.ones(2, 3, 4), dim=1).detach().numpy().sum(1) == pytest.approx(np.ones((2, 4)))


# ---------------------------------------------------------------- padding modules

_PADS = [
    ("ZeroPad1d", (2, 1), (), (2, 3, 4)), ("ZeroPad2d", 1, (), (2, 3, 4)),
    ("ZeroPad3d", (1, 0, 2, 1, 0, 1), (), (2, 3, 4, 2)),
    ("ConstantPad1d", 2, (1.5,), (3, 4)), ("ConstantPad2d", (1, 2, 0, 1), (-2.0,), (2, 3, 4)),
    ("ConstantPad3d", 1, (0.5,), (1, 2, 2, 3, 2)),
    ("ReflectionPad1d", (2, 1), (), (2, 3, 4)), ("ReflectionPad2d", 1, (), (2, 3, 4)),
    ("ReflectionPad3d", (1, 0, 1, 1, 0, 1), (), (1, 2, 2, 3, 3)),
    ("ReplicationPad1d", 3, (), (3, 4)), ("ReplicationPad2d", (1, 2, 2, 0), (), (2, 2, 3, 4)),
    ("ReplicationPad3d", 1, (), (2, 2, 3, 2)),
    ("CircularPad1d", (1, 2), (), (2, 3, 4)), ("CircularPad2d", 1, (), (2, 2, 3, 4)),
    ("CircularPad3d", (1, 1, 0, 1, 1, 0), (), (2, 2, 3, 2)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "padding", "extra", "shape"), _PADS, ids=[p[0] for p in _PADS])
def test_padding_modules(name, padding, extra, shape):
    ours, theirs = getattr(nn, name)(padding, *extra), getattr(tnn, name)(padding, *extra)
    assert ours.padding == theirs.padding
    assert repr(ours) == repr(theirs)
    _check(ours, theirs, [RNG.standard_normal(shape)])


def test_circular_pad_checks_rank():
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        nn.CircularPad2d(1)(bp.ones(2, 2, 2, 2, 2))


# ---------------------------------------------------------------- nn.utils


def _grads(seed):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,), (2, 2, 2)]]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_get_total_norm_and_clip_grads_with_norm(norm_type):
    gs = _grads(0)
    ours = [bp.tensor(g) for g in gs]
    theirs = [torch.tensor(g) for g in gs]
    o = nn.utils.get_total_norm(ours, norm_type)
    t = tnn.utils.get_total_norm(theirs, norm_type)
    assert o.dtype == bp.float32 and o.shape == ()
    np.testing.assert_allclose(o.item(), t.item(), rtol=1e-6)
    po = [bp.zeros(g.shape, requires_grad=True) for g in gs]
    pt = [torch.zeros(g.shape, requires_grad=True) for g in gs]
    for p, g in zip(po, ours):
        p.grad = g
    for p, g in zip(pt, theirs):
        p.grad = g
    nn.utils.clip_grads_with_norm_(po, 1.0, o)
    tnn.utils.clip_grads_with_norm_(pt, 1.0, t)
    for a, b in zip(po, pt):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


def test_get_total_norm_is_differentiable_and_checks_finite():
    xs = [bp.tensor(g.astype(np.float64), requires_grad=True) for g in _grads(1)]
    assert bp.gradcheck(lambda *ts: nn.utils.get_total_norm(ts), tuple(xs))
    assert nn.utils.get_total_norm([]).item() == 0.0
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([bp.tensor([1.0, float("inf")])], error_if_nonfinite=True)


def test_clip_grad_norm_deprecated_and_skip_init():
    p = bp.zeros(3, requires_grad=True)
    p.grad = bp.tensor([3.0, 4.0, 0.0])
    with pytest.warns(FutureWarning, match="deprecated in favor of `torch.nn.utils.clip_grad_norm_`"):
        total = nn.utils.clip_grad_norm(p, 1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8, 0.0], rtol=1e-5)
    m = nn.utils.skip_init(nn.Linear, 3, 2, dtype=bp.float64)
    assert type(m) is nn.Linear and m.weight.shape == (2, 3) and m.weight.dtype == bp.float64
    with pytest.raises(RuntimeError, match="'device' arg"):
        nn.utils.skip_init(nn.LocalResponseNorm, 2)
