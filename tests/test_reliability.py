"""Issue 16, the library part: objects that copy and pickle as torch's do, errors in torch's words that
name the op once, hyper-parameter errors that name the bad value."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import backprop as bp
from backprop import nn

try:
    import torch
except ImportError:
    torch = None

LIBS = [bp] if torch is None else [bp, torch]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_deepcopy_of_tensors(lib) -> None:
    x = lib.ones(2, requires_grad=True)
    x.grad = lib.full((2,), 3.0)
    c = copy.deepcopy(x)
    assert c.requires_grad and c.is_leaf and c.grad.tolist() == [3.0, 3.0]
    with lib.no_grad():
        c.mul_(5)
    assert x.tolist() == [1.0, 1.0]  # new memory
    with pytest.raises(RuntimeError, match="leaves"):
        copy.deepcopy(x * 2)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_pickle_of_tensors(lib) -> None:
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
    x.grad = lib.ones(2, 2, dtype=lib.float64)
    y = pickle.loads(pickle.dumps(x))
    assert y.tolist() == x.tolist() and y.dtype == lib.float64 and y.requires_grad and y.grad is None
    z = pickle.loads(pickle.dumps(x * 2))  # a non-leaf comes back as a leaf
    assert z.is_leaf and z.requires_grad and z.tolist() == [[2.0, 4.0], [6.0, 8.0]]
    t = pickle.loads(pickle.dumps(x.detach().T))  # a transposed view keeps its values
    assert t.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_unpickling_a_tensor_from_an_unusable_device_lands_on_the_cpu() -> None:
    from backprop.tensor import _rebuild_tensor

    if bp.cuda.is_available():
        pytest.skip("CUDA is usable here: the fallback is for machines without it")
    with pytest.warns(UserWarning, match="on the CPU"):
        t = _rebuild_tensor(bp.Tensor, np.array([1.0, 2.0], np.float32), "cuda:0", True)
    assert t.device == "cpu" and t.requires_grad and t.tolist() == [1.0, 2.0]


def test_modules_deepcopy_and_pickle() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert list(clone.state_dict()) == list(model.state_dict())
        for (k, a), b in zip(model.state_dict().items(), clone.state_dict().values()):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=k)
        assert isinstance(clone[0].weight, nn.Parameter) and clone[0].weight is not model[0].weight
        clone(bp.ones(4, 2)).sum().backward()
        assert clone[0].weight.grad is not None and model[0].weight.grad is None
    shared = nn.Linear(2, 2)
    pair = copy.deepcopy(nn.Sequential(shared, shared))
    assert pair[0].weight is pair[1].weight  # sharing survives the copy, as in torch


def test_kernel_errors_name_the_op_once() -> None:
    with pytest.raises(IndexError) as info:
        bp.nn.functional.cross_entropy(bp.ones(2, 3), bp.tensor([0, 5]))
    assert str(info.value).count("cross_entropy:") == 1


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_max_and_min_of_an_empty_dim_raise(lib) -> None:
    with pytest.raises(IndexError, match="non-zero size"):
        lib.ones(0, 3).amax(0)
    with pytest.raises((IndexError, RuntimeError), match="numel"):
        lib.ones(0).max()
    assert tuple(lib.ones(0, 3).amin(1).shape) == (0,)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: bp.optim.SGD(p, lr=-1.0), "^Invalid learning rate: -1.0$"),
        (lambda p: bp.optim.SGD(p, lr=0.1, momentum=-0.5), "^Invalid momentum value: -0.5$"),
        (lambda p: bp.optim.Adam(p, betas=(0.9, 1.5)), "^Invalid beta parameter at index 1: 1.5$"),
        (lambda p: bp.optim.AdamW(p, eps=-1.0), "^Invalid epsilon value: -1.0$"),
        (lambda p: bp.optim.RMSprop(p, alpha=-0.1), "^Invalid alpha value: -0.1$"),
    ],
)
def test_optimizer_errors_name_the_bad_hyper_parameter(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(bp.ones(2))])


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_bad_layer_sizes_and_state_dicts(lib) -> None:
    with pytest.raises(TypeError):
        lib.nn.Linear(2.5, 3)
    with pytest.raises((ValueError, RuntimeError)):
        lib.nn.Linear(-1, 3)
    with pytest.raises(TypeError, match="dict-like"):
        lib.nn.Linear(2, 3).load_state_dict([1, 2])


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_losses_at_their_edges(lib) -> None:
    import warnings

    F = lib.nn.functional  # noqa: N806 - torch's alias
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(lib.tensor([1.5, 0.5]), lib.tensor([1.0, 0.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning reaches the user
        at_edges = F.binary_cross_entropy(lib.tensor([1.0, 0.0, 0.3]), lib.tensor([0.0, 1.0, 1.0]))
        assert float(at_edges) == pytest.approx((200 - np.log(0.3)) / 3, rel=1e-5)  # logs clamped at -100
        x = lib.ones(2, 3, requires_grad=True)
        loss = F.cross_entropy(x, lib.tensor([-100, -100]))  # every target ignored: nan, silently
        loss.backward()
    assert np.isnan(float(loss.detach())) and x.grad.tolist() == [[0.0] * 3] * 2
    with pytest.warns(UserWarning, match="target size"):
        F.mse_loss(lib.zeros(3), lib.ones(3, 1))


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_softmax_along_an_empty_dim(lib) -> None:
    assert tuple(lib.zeros(0, 3).softmax(0).shape) == (0, 3)
    assert tuple(lib.zeros(0, 3).log_softmax(1).shape) == (0, 3)


def test_large_cross_entropy_buffer_is_reused_only_when_nothing_holds_it() -> None:
    """cross_entropy keeps its softmax buffer when it is 32 MiB or more (fresh mmaps fault every page on
    first touch) and takes it again next call, but never while a gradient, view or saved value still
    holds it; values are those of a fresh buffer."""
    from backprop.ops import _util

    _util.release_reusable()
    x = bp.randn(1024, 8192, requires_grad=True)  # 32 MiB of float32 logits
    t = bp.randint(0, 8192, (1024,))
    ids, grads = [], []
    for _ in range(3):
        x.grad = None
        loss = bp.nn.functional.cross_entropy(x, t)
        ids.append(id(_util._reusable["cross_entropy"]))
        loss.backward()
        grads.append(x.grad._data.copy())
    assert ids[0] == ids[1] == ids[2]  # nothing else held it between steps: taken again
    assert all(np.array_equal(g, grads[0]) for g in grads)
    held = x.grad  # the gradient is that buffer: the next call must not write into it
    before = held._data.copy()
    y = (x * 2).detach().requires_grad_()
    bp.nn.functional.cross_entropy(y, t).backward()  # (its gradient goes to y, not into x.grad)
    assert id(_util._reusable["cross_entropy"]) != ids[0]
    assert np.array_equal(before, held._data)
    small = bp.randn(8, 5)
    bp.nn.functional.cross_entropy(small, bp.tensor([0, 1, 2, 3, 4, 0, 1, 2]))
    _util.release_reusable()
    assert not _util._reusable


def test_import_and_float_work_without_ml_dtypes() -> None:
    """An environment without ml_dtypes (set up before bfloat16 arrived) imports backprop and runs; only
    bfloat16 is refused, naming the package, and CPU autocast without a dtype warns and stays off."""
    import subprocess
    import sys

    code = """
import sys, warnings
sys.modules["ml_dtypes"] = None
import backprop as bp
assert not bp.dtypes.HAS_BFLOAT16 and (bp.ones(2) * 2).sum().item() == 4.0
try:
    bp.ones(2).to(bp.bfloat16)
except TypeError as e:
    assert "ml_dtypes" in str(e)
else:
    raise AssertionError("bfloat16 without ml_dtypes")
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    with bp.autocast("cpu"):
        y = bp.nn.Linear(2, 2)(bp.ones(1, 2))
assert y.dtype == bp.float32 and any("Disabling autocast" in str(x.message) for x in w)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_ml_dtypes_is_imported_only_when_bfloat16_is_used() -> None:
    """``import backprop`` and float32 training leave ml_dtypes unimported (its import costs 70-630 ms);
    the first use of bfloat16, by attribute, by name or through an array, brings it in and works."""
    import subprocess
    import sys

    pytest.importorskip("ml_dtypes")
    code = """
import sys
import backprop as bp
m = bp.nn.Linear(3, 2)
bp.optim.SGD(m.parameters(), lr=0.1).zero_grad()
m(bp.randn(4, 3)).sum().backward()
assert m.weight.grad.dtype == bp.float32 and bp.ones(2).is_floating_point()
assert "ml_dtypes" not in sys.modules, "imported without bfloat16"
assert bp.tensor([1.5], dtype="bfloat16").dtype == bp.bfloat16 and "ml_dtypes" in sys.modules
assert (bp.ones(2, dtype=bp.bfloat16) * 3).float().tolist() == [3.0, 3.0]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
