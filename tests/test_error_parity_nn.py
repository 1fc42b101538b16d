"""Common mistakes with nn layers and functional ops raise torch's exception class (ours may subclass
several builtins: ``ShapeError`` is a ValueError and a RuntimeError, ...), where torch also raises
(a silent acceptance could hide a bug); ``PREFIX`` lists the cases whose message starts as torch's.
Each case failed (another class, or no error) before the fix that added it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the error-class cross-checks need it")


def _activation_of_ints(name: str, L: Any) -> Any:
    return getattr(L.nn.functional, name)(L.tensor([-1, 2]))


def _packed(L: Any) -> Any:
    return L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 4), L.tensor([3, 2]))


def _lstm_output_into_linear(L: Any) -> Any:
    return L.nn.Linear(5, 2)(L.nn.LSTM(4, 5)(L.ones(3, 2, 4)))  # (output, (h, c)) is a tuple


def _mha_kdim(L: Any) -> Any:
    mha = L.nn.MultiheadAttention(4, 2, kdim=3, vdim=3)
    return mha(L.ones(3, 2, 4), L.ones(5, 2, 4), L.ones(5, 2, 3))


F = "nn.functional"
CASES: dict[str, Callable[[Any], Any]] = {
    # layers' sizes and weights
    "Linear negative in_features": lambda L: L.nn.Linear(-1, 2),
    "Bilinear negative out_features": lambda L: L.nn.Bilinear(2, 3, -4),
    "Embedding _weight of another shape": lambda L: L.nn.Embedding(5, 2, _weight=L.ones(4, 2)),
    "embedding of a 1-d weight": lambda L: L.nn.functional.embedding(L.tensor([1]), L.ones(5)),
    "embedding_bag id out of range": lambda L: L.nn.EmbeddingBag(5, 2)(L.tensor([1, 7, 3]), L.tensor([0, 1])),
    # convolutions
    "conv_transpose1d negative padding": lambda L: L.nn.ConvTranspose1d(3, 4, 3, padding=-1)(L.ones(1, 3, 5)),
    "conv_transpose2d negative padding": lambda L: L.nn.functional.conv_transpose2d(
        L.ones(1, 3, 5, 5), L.ones(3, 4, 3, 3), padding=-1
    ),
    "conv_transpose2d negative output_padding": lambda L: L.nn.ConvTranspose2d(3, 4, 3, output_padding=-1)(
        L.ones(1, 3, 5, 5)
    ),
    # too few dims: torch's dim wrap raises IndexError
    "avg_pool2d of a 1-d input": lambda L: L.nn.AvgPool2d(2)(L.ones(5)),
    "avg_pool2d of a 2-d input": lambda L: L.nn.functional.avg_pool2d(L.ones(5, 5), 2),
    "lp_pool2d of a 1-d input": lambda L: L.nn.LPPool2d(2, 2)(L.ones(5)),
    "unfold of a 2-d input": lambda L: L.nn.functional.unfold(L.ones(4, 4), 2),
    "batch_norm of a 1-d input": lambda L: L.nn.functional.batch_norm(L.ones(4), None, None, training=True),
    # norms' dtypes
    "BatchNorm1d of int64": lambda L: L.nn.BatchNorm1d(3)(L.ones(2, 3, dtype=L.int64)),
    "BatchNorm1d of float64 with float32 parameters": lambda L: L.nn.BatchNorm1d(3)(L.ones(2, 3, dtype=L.float64)),
    "BatchNorm2d eval of float64": lambda L: L.nn.BatchNorm2d(3).eval()(L.ones(2, 3, 2, 2, dtype=L.float64)),
    "batch_norm float32 input, float64 running stats": lambda L: L.nn.functional.batch_norm(
        L.ones(2, 3), L.zeros(3, dtype=L.float64), L.ones(3, dtype=L.float64)
    ),
    # dropout, flatten, glu
    "dropout of int64 in training": lambda L: L.nn.functional.dropout(L.ones(3, dtype=L.int64), 0.5),
    "Dropout of bool in training": lambda L: L.nn.Dropout(0.3)(L.ones(3, dtype=L.bool)),
    "Flatten start_dim after end_dim": lambda L: L.nn.Flatten(2, 1)(L.ones(2, 3, 4)),
    "flatten of a 0-d tensor, end_dim 1": lambda L: L.tensor(1.0).flatten(0, 1),
    "Flatten of a 0-d tensor": lambda L: L.nn.Flatten()(L.tensor(1.0)),
    "glu of an odd dim": lambda L: L.nn.functional.glu(L.ones(2, 3)),
    "glu of a 0-d tensor": lambda L: L.nn.functional.glu(L.tensor(1.0)),
    # recurrent layers and packed sequences
    "LSTM hx a tensor": lambda L: L.nn.LSTM(4, 5)(L.ones(3, 2, 4), L.ones(1, 2, 5)),
    "LSTM hx of three tensors": lambda L: L.nn.LSTM(4, 5)(
        L.ones(3, 2, 4), (L.ones(1, 2, 5), L.ones(1, 2, 5), L.ones(1, 2, 5))
    ),
    "pack_padded_sequence lengths count": lambda L: L.nn.utils.rnn.pack_padded_sequence(
        L.ones(3, 2, 4), L.tensor([3, 2, 1])
    ),
    "pack_padded_sequence 2-d lengths": lambda L: L.nn.utils.rnn.pack_padded_sequence(
        L.ones(3, 2, 4), L.tensor([[3, 2]])
    ),
    "PackedSequence into Linear": lambda L: L.nn.Linear(4, 3)(_packed(L)),
    "LSTM output tuple into Linear": _lstm_output_into_linear,
    "list into Linear": lambda L: L.nn.Linear(4, 3)([1.0] * 4),
    "MultiheadAttention key of another kdim": _mha_kdim,
    # interpolate, pad
    "interpolate size 0": lambda L: L.nn.functional.interpolate(L.ones(1, 1, 4, 4), size=0),
    "interpolate negative scale": lambda L: L.nn.functional.interpolate(L.ones(1, 1, 4, 4), scale_factor=-1.0),
    "interpolate scale to 0": lambda L: L.nn.functional.interpolate(L.ones(1, 1, 4), scale_factor=0.1, mode="linear"),
    "interpolate recompute_scale_factor with size": lambda L: L.nn.functional.interpolate(
        L.ones(1, 1, 4, 4), size=2, recompute_scale_factor=True
    ),
    "pad with a float": lambda L: L.nn.functional.pad(L.ones(2, 3), (1.5, 1)),
    "pad with a bool": lambda L: L.nn.functional.pad(L.ones(2, 3), (True, 1)),
    # broadcasting and distances
    "cosine_similarity of other sizes": lambda L: L.nn.functional.cosine_similarity(L.ones(2, 3), L.ones(2, 4)),
    "cosine_similarity batch mismatch": lambda L: L.nn.functional.cosine_similarity(L.ones(2, 3), L.ones(3, 3)),
    "broadcast_tensors mismatch": lambda L: L.broadcast_tensors(L.ones(3), L.ones(2)),
    "cdist negative p": lambda L: L.cdist(L.ones(2, 3), L.ones(2, 3), p=-1),
    "hstack of nothing": lambda L: L.hstack([]),
    "vstack of nothing": lambda L: L.vstack([]),
    "meshgrid indexing": lambda L: L.meshgrid(L.ones(2), L.ones(2), indexing="foo"),
    # device strings (torch: RuntimeError)
    "device of an unknown type": lambda L: L.device("bad"),
    "device of a bad index": lambda L: L.device("cpu:x"),
    "device of a negative index": lambda L: L.device("cuda", -2),
    "to an unknown device": lambda L: L.nn.Linear(2, 2).to("bad"),
    "to a dtype's name": lambda L: L.ones(2).to("float32"),
    # activations with no integer kernel in torch (we computed them in float64)
    **{
        f"{act} of int64": functools.partial(_activation_of_ints, act)
        for act in ("elu", "selu", "celu", "leaky_relu", "silu", "mish", "hardsigmoid", "hardswish", "softplus", "gelu")
    },
    "ELU module of bool": lambda L: L.nn.ELU()(L.tensor([True, False])),
    "gelu approximate": lambda L: L.nn.functional.gelu(L.ones(2), approximate="foo"),
    "Hardtanh min_val above max_val": lambda L: L.nn.Hardtanh(1.0, -1.0),
    "rrelu lower above upper": lambda L: L.nn.functional.rrelu(L.ones(2), 0.5, 0.1, training=True),
    "celu alpha 0": lambda L: L.nn.functional.celu(L.ones(2), alpha=0.0),
    "bilinear of a 2-d weight": lambda L: L.nn.functional.bilinear(L.ones(5, 2), L.ones(5, 3), L.ones(4, 2)),
    # init, utils
    "trunc_normal_ a above b": lambda L: L.nn.init.trunc_normal_(L.ones(3), a=2.0, b=-2.0),
    "weight_norm dim out of range": lambda L: L.nn.utils.parametrizations.weight_norm(L.nn.Linear(2, 2), dim=3),
    "vector_to_parameters length": lambda L: L.nn.utils.vector_to_parameters(L.ones(3), L.nn.Linear(2, 2).parameters()),
    # class weights in another dtype
    "cross_entropy float64 weight": lambda L: L.nn.functional.cross_entropy(
        L.ones(2, 3), L.tensor([0, 1]), weight=L.ones(3, dtype=L.float64)
    ),
    "cross_entropy int64 weight": lambda L: L.nn.functional.cross_entropy(
        L.ones(2, 3), L.tensor([0, 1]), weight=L.ones(3, dtype=L.int64)
    ),
    "nll_loss float64 input, float32 weight": lambda L: L.nn.functional.nll_loss(
        L.ones(2, 3, dtype=L.float64), L.tensor([0, 1]), weight=L.ones(3)
    ),
}

PREFIX = {  # the cases whose message starts as torch's does (up to its first ':' or '(' detail)
    "Embedding _weight of another shape": "Shape of weight does not match num_embeddings and embedding_dim",
    "conv_transpose1d negative padding": "negative padding is not supported",
    "conv_transpose2d negative output_padding": "negative output_padding is not supported",
    "Flatten start_dim after end_dim": "flatten() has invalid args: start_dim cannot come after end_dim",
    "glu of an odd dim": "Halving dimension must be even, but dimension 1 is size 3",
    "glu of a 0-d tensor": "glu does not support scalars because halving size must be even",
    "LSTM hx of three tensors": "lstm expects two hidden states",
    "interpolate size 0": "Input and output sizes should be greater than 0, but got input (H: 4, W: 4) output (H: 0,",
    "interpolate scale to 0": "Input and output sizes should be greater than 0, but got input (W: 4) and output (W: 0)",
    "interpolate recompute_scale_factor with size": "recompute_scale_factor is not meaningful with an explicit size.",
    "pad with a float": "pad(): argument 'pad' (position 2) must be tuple of ints, but found element of type float",
    "cosine_similarity of other sizes": "The size of tensor a (3) must match the size of tensor b (4) at non-singleton",
    "broadcast_tensors mismatch": "The size of tensor a (3) must match the size of tensor b (2) at non-singleton",
    "cdist negative p": "cdist only supports non-negative p values",
    "hstack of nothing": "hstack expects a non-empty TensorList",
    "meshgrid indexing": 'torch.meshgrid: indexing must be one of "xy" or "ij", but received: foo',
    "elu of int64": "\"elu_cpu\" not implemented for 'Long'",
    "gelu of int64": "\"GeluKernelImpl\" not implemented for 'Long'",
    "gelu approximate": "approximate argument must be either none or tanh.",
    "Hardtanh min_val above max_val": "max_val (-1.0) must be greater than min_val (1.0)",
    "rrelu lower above upper": "Lower bound should be less than or equal to the upper bound",
    "celu alpha 0": "ZeroDivisionError: alpha cannot be 0 for CELU",
    "trunc_normal_ a above b": "uniform_ expects to return a [from, to) range, but found from=",
    "cross_entropy float64 weight": "expected scalar type Float but found Double",
    "nll_loss float64 input, float32 weight": "expected scalar type Double but found Float",
}


def _raised(case: Callable[[Any], Any], lib: Any) -> BaseException | None:
    try:
        case(lib)
    except Exception as e:  # noqa: BLE001 - the exception's class is what is compared
        return e
    return None


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(CASES))
def test_error_class_as_torch(name: str) -> None:
    theirs = _raised(CASES[name], torch)
    assert theirs is not None, f"torch accepts {name!r} (the case is out of date)"
    ours = _raised(CASES[name], bp)
    assert ours is not None, f"{name}: torch raises {type(theirs).__name__}: {theirs}; backprop accepts it"
    assert isinstance(ours, type(theirs)), (
        f"{name}: torch raises {type(theirs).__name__} ({theirs}), backprop {type(ours).__name__} ({ours})"
    )
    if name in PREFIX:
        assert str(theirs).startswith(PREFIX[name]), str(theirs)
        assert str(ours).startswith(PREFIX[name]), str(ours)


def test_half_batch_norm_keeps_float32_parameters() -> None:
    """(Guard, passed before.) The dtype check leaves torch's mixed half/float32 batch norm alone
    (bfloat16 input, float32 weights)."""
    bn = bp.nn.BatchNorm1d(3)
    y = bn(bp.ones(4, 3).to(bp.bfloat16) * bp.arange(4.0).reshape(4, 1).to(bp.bfloat16))
    assert y.dtype == bp.bfloat16 and y.shape == (4, 3)


def test_interpolate_area_may_make_empty_dims() -> None:
    """(Guard, passed before.) mode='area' is an adaptive pool: torch (and we) give an empty output for
    size 0, not the upsample error."""
    assert bp.nn.functional.interpolate(bp.ones(1, 1, 4, 4), size=(2, 0), mode="area").shape == (1, 1, 2, 0)


def test_soft_target_cross_entropy_takes_any_weight_dtype() -> None:
    """(Guard, passed before.) Class-probability targets promote the weight, as torch's (only the
    class-index kernels refuse it)."""
    x = bp.ones(2, 3)
    loss = bp.nn.functional.cross_entropy(x, bp.ones(2, 3) / 3, weight=bp.ones(3, dtype=bp.float64))
    assert loss.shape == ()


def test_integer_activations_torch_has() -> None:
    """(Guard, passed before.) relu, hardtanh, relu6 and threshold keep integer inputs, as torch's."""
    x = bp.tensor([-2, 3])
    assert bp.nn.functional.relu(x).tolist() == [0, 3] and bp.nn.functional.hardtanh(x).tolist() == [-1, 1]
    assert bp.nn.functional.relu6(x).dtype == bp.int64


def test_lstm_hx_list_of_two_still_works() -> None:
    """(Guard, passed before.) A list [h_0, c_0] is still accepted after the hx form check."""
    out, (h, c) = bp.nn.LSTM(4, 5)(bp.ones(3, 2, 4), [bp.zeros(1, 2, 5), bp.zeros(1, 2, 5)])
    assert out.shape == (3, 2, 5) and h.shape == c.shape == (1, 2, 5)
