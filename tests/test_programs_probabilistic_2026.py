"""Shape arithmetic of the structured transforms as flows use it (``forward_shape``/``inverse_shape`` of
StickBreaking, CorrCholesky and Reshape transforms), against torch.distributions: the caller's tuple stays
a tuple, a Size stays a Size, and a mismatch names the shapes as torch prints them."""

from __future__ import annotations

import pytest

import backprop as bp
import backprop.distributions as D

torch = pytest.importorskip("torch", reason="torch not installed: these tests compare with torch.distributions")
TD = torch.distributions


def _same_shape(ours, theirs):
    assert tuple(ours) == tuple(theirs)
    assert isinstance(ours, bp.Size) == isinstance(theirs, torch.Size)  # tuple in, tuple out, as torch


@pytest.mark.parametrize(
    ("name", "method", "shape"),
    [
        ("StickBreakingTransform", "forward_shape", (3,)),
        ("StickBreakingTransform", "forward_shape", (2, 3)),
        ("StickBreakingTransform", "inverse_shape", (4,)),
        ("CorrCholeskyTransform", "forward_shape", (3,)),
        ("CorrCholeskyTransform", "forward_shape", (5, 6)),
        ("CorrCholeskyTransform", "inverse_shape", (2, 3, 3)),
    ],
)
def test_structured_shapes_keep_the_callers_type(name, method, shape):
    ours, theirs = getattr(D.transforms, name)(), getattr(TD.transforms, name)()
    _same_shape(getattr(ours, method)(shape), getattr(theirs, method)(shape))
    _same_shape(getattr(ours, method)(bp.Size(shape)), getattr(theirs, method)(torch.Size(shape)))


def test_compose_of_stick_breaking_shapes_as_torch():
    ours = D.transforms.ComposeTransform([D.transforms.ExpTransform(), D.transforms.StickBreakingTransform()])
    theirs = TD.transforms.ComposeTransform([TD.transforms.ExpTransform(), TD.transforms.StickBreakingTransform()])
    _same_shape(ours.forward_shape((7, 3)), theirs.forward_shape((7, 3)))
    _same_shape(ours.inv.forward_shape((7, 4)), theirs.inv.forward_shape((7, 4)))


def _message(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value).replace("torch.Size", "Size")  # bp.Size prints as Size([...]) (README)


@pytest.mark.parametrize(
    ("method", "shape"), [("forward_shape", (5, 3)), ("inverse_shape", (5, 3)), ("forward_shape", (4, 2, 7))]
)
@pytest.mark.parametrize("as_size", [False, True])
def test_reshape_mismatch_message_as_torch(method, shape, as_size):
    ours, theirs = D.transforms.ReshapeTransform((2,), (2, 1)), TD.transforms.ReshapeTransform((2,), (2, 1))
    s_ours, s_theirs = (bp.Size(shape), torch.Size(shape)) if as_size else (shape, shape)
    expected = _message(lambda: getattr(theirs, method)(s_theirs))
    assert _message(lambda: getattr(ours, method)(s_ours)) == expected
    assert "Size([2" in expected  # the transform's own shape prints as a Size


def test_transformed_distribution_with_reshape_mismatch_as_torch():
    def build(M):
        reshape = M.distributions.transforms.ReshapeTransform((2,), (2, 1))
        return M.distributions.TransformedDistribution(M.distributions.Normal(M.zeros(3), 1.0), [reshape])

    assert _message(lambda: build(bp)) == _message(lambda: build(torch))
