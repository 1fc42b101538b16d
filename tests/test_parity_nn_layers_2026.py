"""nn layer and loss options as ordinary torch code uses them, against torch 2.13: the errors (class and
message) of norms, losses and ``Unflatten``, the broadcast warning of the elementwise losses (whose start a
``warnings.filterwarnings(message=...)`` matches), and the values where a shape rule differed."""

import re
import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity checks compare against torch")


def _raises_like(fn):
    """``fn(torch)`` and ``fn(bp)`` both raise: the same message, bp's error an instance of torch's class."""
    with pytest.raises(Exception) as want:
        fn(torch)
    with pytest.raises(want.type, match=f"^{re.escape(str(want.value))}$"):
        fn(bp)


def _close(a, b, **kw):
    np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6, **kw)


# -- reductions and the broadcast warning ---------------------------------------------------------------------

_LOSSES = {
    "l1_loss": lambda m: m.nn.functional.l1_loss(m.ones(2), m.ones(2), reduction="foo"),
    "mse_loss": lambda m: m.nn.MSELoss(reduction="avg")(m.ones(2), m.ones(2)),
    "smooth_l1_loss": lambda m: m.nn.functional.smooth_l1_loss(m.ones(2), m.ones(2), reduction="foo"),
    "huber_loss": lambda m: m.nn.functional.huber_loss(m.ones(2), m.ones(2), reduction="foo"),
    "cross_entropy": lambda m: m.nn.functional.cross_entropy(m.zeros(2, 3), m.tensor([0, 1]), reduction="foo"),
    "nll_loss": lambda m: m.nn.functional.nll_loss(m.zeros(2, 3), m.tensor([0, 1]), reduction="foo"),
    "bce": lambda m: m.nn.functional.binary_cross_entropy(m.full((2,), 0.5), m.ones(2), reduction="foo"),
    "bce_logits": lambda m: m.nn.functional.binary_cross_entropy_with_logits(m.ones(2), m.ones(2), reduction="foo"),
    "kl_div": lambda m: m.nn.functional.kl_div(m.zeros(2), m.ones(2), reduction="foo"),
    "margin_ranking": lambda m: m.nn.functional.margin_ranking_loss(m.ones(2), m.ones(2), m.ones(2), reduction="x"),
    "hinge_embedding": lambda m: m.nn.functional.hinge_embedding_loss(m.ones(2), m.ones(2), reduction="foo"),
    "soft_margin": lambda m: m.nn.functional.soft_margin_loss(m.ones(2), m.ones(2), reduction="foo"),
    "multilabel_soft_margin": lambda m: m.nn.functional.multilabel_soft_margin_loss(
        m.ones(2, 2), m.ones(2, 2), reduction="foo"
    ),
    "cosine_embedding": lambda m: m.nn.functional.cosine_embedding_loss(
        m.ones(2, 2), m.ones(2, 2), m.ones(2), reduction="foo"
    ),
    "poisson_nll": lambda m: m.nn.functional.poisson_nll_loss(m.ones(2), m.ones(2), reduction="foo"),
    "multi_margin": lambda m: m.nn.functional.multi_margin_loss(m.zeros(2, 3), m.tensor([0, 1]), reduction="foo"),
    "triplet_margin": lambda m: m.nn.functional.triplet_margin_loss(
        m.ones(2, 2), m.ones(2, 2), m.ones(2, 2), reduction="foo"
    ),
}


@pytest.mark.parametrize("name", sorted(_LOSSES))
def test_invalid_reduction_is_torchs_value_error(name):
    _raises_like(_LOSSES[name])


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"])
def test_size_mismatch_warning_is_torchs_text(name):
    def warned(m):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            getattr(m.nn.functional, name)(m.ones(3, 1), m.zeros(3))
        return [str(x.message) for x in w]

    assert warned(bp) == warned(torch)
    with warnings.catch_warnings():  # the filter a torch user writes: it matches the message's start
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="Using a target size")
        getattr(bp.nn.functional, name)(bp.ones(3, 1), bp.zeros(3))


def test_probability_targets_refuse_ignore_index_with_runtime_error():
    _raises_like(lambda m: m.nn.CrossEntropyLoss(ignore_index=1)(m.zeros(2, 3), m.full((2, 3), 1 / 3)))


def test_empty_mean_is_nan_without_numpy_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "Mean of empty slice" escaped the engine's quiet re-run
        got = bp.nn.functional.mse_loss(bp.zeros(0), bp.zeros(0))
        assert np.isnan(got.item()) and np.isnan(bp.zeros(0, 3).mean(0).numpy()).all()


# -- cosine_embedding_loss: torch's shape rules ---------------------------------------------------------------


def test_cosine_embedding_loss_one_target_for_the_batch():
    a = np.sin(np.arange(12.0, dtype=np.float32)).reshape(3, 4)
    b = np.cos(np.arange(12.0, dtype=np.float32)).reshape(3, 4)
    out = {}
    for m in (torch, bp):
        x = m.tensor(a, requires_grad=True)
        loss = m.nn.CosineEmbeddingLoss(margin=0.1)(x, m.tensor(b), m.tensor([-1.0]))  # (1,) target: broadcast
        loss.backward()
        out[m] = (loss, x.grad)
    _close(out[torch][0], out[bp][0])
    _close(out[torch][1], out[bp][1])


@pytest.mark.parametrize(
    "shapes",
    [((3, 4), (3, 4), ()), ((2, 3, 4), (2, 3, 4), (2, 3)), ((3, 4), (3, 4), (2,)), ((3, 4), (2, 4), (3,))],
)
def test_cosine_embedding_loss_shape_errors(shapes):
    s1, s2, st = shapes
    _raises_like(lambda m: m.nn.functional.cosine_embedding_loss(m.ones(s1), m.ones(s2), m.ones(st)))


# -- the norms' errors ----------------------------------------------------------------------------------------

_NORM_ERRORS = {
    "layer_norm_shape": lambda m: m.nn.LayerNorm(4)(m.ones(3, 4, 5)),
    "layer_norm_shape2": lambda m: m.nn.functional.layer_norm(m.ones(3, 4, 5), (3, 5)),
    "layer_norm_empty_shape": lambda m: m.nn.functional.layer_norm(m.ones(3), ()),
    "layer_norm_weight": lambda m: m.nn.functional.layer_norm(m.ones(3, 5), (5,), weight=m.ones(1, 5)),
    "layer_norm_bias": lambda m: m.nn.functional.layer_norm(m.ones(3, 5), (5,), bias=m.ones(4)),
    "group_norm_divisible": lambda m: m.nn.GroupNorm(3, 4),
    "group_norm_input_channels": lambda m: m.nn.functional.group_norm(m.ones(3, 4, 5), 3),
    "group_norm_1d": lambda m: m.nn.GroupNorm(2, 4)(m.ones(4)),
    "group_norm_weight": lambda m: m.nn.GroupNorm(2, 4)(m.ones(2, 6, 3)),
    "rms_norm_shape": lambda m: m.nn.RMSNorm(4)(m.ones(3, 4, 5)),
    "rms_norm_weight": lambda m: m.nn.functional.rms_norm(m.ones(3, 4), (4,), weight=m.ones(3)),
}


@pytest.mark.parametrize("name", sorted(_NORM_ERRORS))
def test_norm_errors_are_torchs(name):
    _raises_like(_NORM_ERRORS[name])


# -- losses' target errors ------------------------------------------------------------------------------------

_LOSS_ERRORS = {
    "gaussian_nll_negative_var": lambda m: m.nn.GaussianNLLLoss()(m.ones(2), m.ones(2), -m.ones(2)),
    "multilabel_margin_target": lambda m: m.nn.MultiLabelMarginLoss()(m.ones(3, 4), m.ones(3, 3, dtype=m.long)),
    "multi_margin_target": lambda m: m.nn.MultiMarginLoss()(m.ones(3, 4), m.tensor([0, 1])),
}


@pytest.mark.parametrize("name", sorted(_LOSS_ERRORS))
def test_loss_target_errors_are_torchs(name):
    _raises_like(_LOSS_ERRORS[name])


def test_triplet_margin_with_distance_default_is_a_pairwise_distance_module():
    want = torch.nn.TripletMarginWithDistanceLoss()
    got = bp.nn.TripletMarginWithDistanceLoss()
    assert repr(got) == repr(want)
    assert [type(c).__name__ for c in got.children()] == ["PairwiseDistance"]
    a, p, n = (np.sin(np.arange(12.0, dtype=np.float32) * k).reshape(3, 4) for k in (1, 2, 3))
    _close(want(*map(torch.tensor, (a, p, n))), got(*map(bp.tensor, (a, p, n))))


# -- Unflatten ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [[2, 2], [-1, 2]])
def test_unflatten_keeps_the_given_size(size):
    assert repr(bp.nn.Unflatten(1, size)) == repr(torch.nn.Unflatten(1, size))
    assert bp.nn.Unflatten(1, size)(bp.ones(3, 4, 5)).shape == (3, 2, 2, 5)


_UNFLATTEN_ERRORS = {
    "float_entry": lambda m: m.nn.Unflatten(1, (2.0, 2)),
    "int_size": lambda m: m.nn.Unflatten(1, 4),
    "named_shape_needs_a_name": lambda m: m.nn.Unflatten("features", (("C", 2), ("H", 2))),
    "module_sizes": lambda m: m.nn.Unflatten(1, (2, 3))(m.ones(3, 4, 5)),
    "method_sizes": lambda m: m.ones(3, 4).unflatten(-1, (2, 3)),
    "method_inferred": lambda m: m.ones(3, 4).unflatten(1, (-1, 3)),
    "method_zero": lambda m: m.ones(3, 4).unflatten(1, (0, -1)),
}


@pytest.mark.parametrize("name", sorted(_UNFLATTEN_ERRORS))
def test_unflatten_errors_are_torchs(name):
    _raises_like(_UNFLATTEN_ERRORS[name])


# -- activations ----------------------------------------------------------------------------------------------

_ACTIVATION_ERRORS = {
    "prelu_channels": lambda m: m.nn.PReLU(3)(m.ones(3, 4, 5)),
    "prelu_weight_2d": lambda m: m.nn.functional.prelu(m.ones(3, 4, 5), m.ones(2, 2)),
    "softmax2d_rank": lambda m: m.nn.Softmax2d()(m.ones(3, 4)),
}


@pytest.mark.parametrize("name", sorted(_ACTIVATION_ERRORS))
def test_activation_errors_are_torchs(name):
    _raises_like(_ACTIVATION_ERRORS[name])
