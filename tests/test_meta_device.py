"""The "meta" device (shape-and-dtype tensors, as torch's) and ``with bp.device(...)`` blocks.

Each behaviour is written once against a module ``L`` (torch or backprop) and compared with torch
where it is installed: results as shapes, dtypes and reprs, refusals as the exception's class (and
message where torch's is plain text). Without torch the backprop half still runs its own checks.
"""

from __future__ import annotations

import copy
import io
import pickle
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # the comparisons skip; the backprop-only checks still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: the meta-device cases compare with it")


def _picture(x: Any) -> Any:
    """A library-neutral picture of a result: tensors by device type, shape, dtype name, requires_grad and
    repr (``torch.`` prefixes dropped: backprop's dtypes are NumPy's); containers item by item."""
    if type(x).__name__ in ("Tensor", "Parameter"):
        return ("T", x.device.type, tuple(x.shape), str(x.dtype).removeprefix("torch."), x.requires_grad,
                repr(x).replace("torch.", ""))  # fmt: skip
    if isinstance(x, (list, tuple)):
        return [_picture(v) for v in x]
    if type(x).__name__ in ("device",) or type(x).__name__ == "Device":
        return ("device", str(x))
    return x


def _run(case: Any, lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ("ok", _picture(case(lib)))
        except Exception as e:  # noqa: BLE001 - the class (and message) are what is compared
            return ("raises", type(e).__name__, str(e).split("\n")[0])


def _linear(L: Any) -> Any:
    with L.device("meta"):
        return L.nn.Linear(4, 5)


CASES: dict[str, Any] = {
    "empty": lambda L: L.empty(2, 3, device="meta"),
    "zeros_int": lambda L: L.zeros(2, dtype=L.int64, device="meta"),
    "randn": lambda L: L.randn(2, 2, device="meta"),
    "arange": lambda L: L.arange(5, device="meta"),
    "tensor": lambda L: L.tensor([1.0, 2.0], device="meta"),
    "to_meta": lambda L: L.ones(2, 3).to("meta"),
    "scalar": lambda L: L.empty((), device="meta"),
    "float64": lambda L: L.empty(2, device="meta", dtype=L.float64),
    "bfloat16": lambda L: L.ones(2, dtype=L.bfloat16).to("meta"),
    "attrs": lambda L: (
        lambda x: (
            x.is_meta,
            x.is_cpu,
            x.numel(),
            x.stride(),
            x.get_device(),
            x.data_ptr(),
            x.nbytes,
            x.is_contiguous(),
            str(x.device),
            repr(x.device),
        )
    )(L.empty(2, 3, device="meta")),  # fmt: skip
    "add": lambda L: L.empty(2, 3, device="meta") + 1,
    "matmul": lambda L: L.empty(2, 3, device="meta") @ L.empty(3, 4, device="meta"),
    "sum": lambda L: L.empty(2, 3, device="meta").sum(),
    "eq": lambda L: L.zeros(2, device="meta") == 0,
    "to_dtype": lambda L: L.empty(2, device="meta").to(L.float64),
    "clone": lambda L: L.empty(2, device="meta").clone(),
    "sort": lambda L: tuple(L.empty(2, 3, device="meta").sort()),
    "max_dim": lambda L: tuple(L.empty(2, 3, device="meta").max(dim=1)),
    "add_": lambda L: L.empty(2, device="meta").add_(1),
    "fill_": lambda L: L.empty(2, device="meta").fill_(3),
    "normal_": lambda L: L.nn.init.normal_(L.empty(2, 3, device="meta")),
    "kaiming": lambda L: L.nn.init.kaiming_uniform_(L.empty(4, 3, device="meta")),
    "copy_from_cpu": lambda L: L.empty(2, 3, device="meta").copy_(L.ones(2, 3)),
    "cpu_scalar_joins": lambda L: L.empty(2, 3, device="meta") * L.tensor(2.0),
    "cpu_scalar_first": lambda L: L.tensor(2.0) + L.empty(2, device="meta"),
    "cross_entropy": lambda L: L.nn.functional.cross_entropy(
        L.empty(4, 5, device="meta"), L.empty(4, dtype=L.long, device="meta")
    ),
    "embedding": lambda L: L.nn.functional.embedding(
        L.empty(2, dtype=L.long, device="meta"), L.empty(4, 3, device="meta")
    ),
    "one_hot_n": lambda L: L.nn.functional.one_hot(L.empty(2, dtype=L.long, device="meta"), 4),
    "multinomial": lambda L: L.multinomial(L.empty(3, 4, device="meta"), 2),
    "dropout": lambda L: L.nn.functional.dropout(L.empty(3, device="meta"), 0.5),
    "repeat_interleave_int": lambda L: L.empty(3, device="meta").repeat_interleave(2),
    "grad_fn_repr": lambda L: L.empty(3, device="meta", requires_grad=True) * 2,
    "parameter": lambda L: L.nn.Parameter(L.empty(2, device="meta")),
    "linear_in_block": lambda L: (_linear(L).weight, _linear(L).bias),
    "module_to_meta": lambda L: L.nn.Linear(2, 3).to("meta").weight,
    "to_empty": lambda L: L.nn.Linear(2, 3).to("meta").to_empty(device="cpu").weight.shape,
    "assert_close": lambda L: L.testing.assert_close(L.empty(3, device="meta"), L.empty(3, device="meta")),
    "deepcopy": lambda L: copy.deepcopy(L.empty(2, 3, device="meta")),
    "pickle": lambda L: pickle.loads(pickle.dumps(L.empty(2, 3, device="meta", dtype=L.float64))),
    # refusals: reading values that do not exist
    "item": lambda L: L.empty(1, device="meta").item(),
    "bool": lambda L: bool(L.empty(1, device="meta")),
    "float": lambda L: float(L.empty((), device="meta")),
    "tolist": lambda L: L.empty(2, device="meta").tolist(),
    "numpy": lambda L: L.empty(2, device="meta").numpy(),
    "cpu": lambda L: L.empty(2, device="meta").cpu(),
    "to_cpu": lambda L: L.empty(2, device="meta").to("cpu"),
    "copy_into_cpu": lambda L: L.ones(2, 3).copy_(L.empty(2, 3, device="meta")),
    "allclose": lambda L: L.allclose(L.empty(2, device="meta"), L.empty(2, device="meta")),
    "module_to_cpu": lambda L: L.nn.Linear(2, 3).to("meta").to("cpu"),
    "one_hot_infer": lambda L: L.nn.functional.one_hot(L.empty(2, dtype=L.long, device="meta")),
    "cpu_tensor_with_dims": lambda L: L.empty(2, 3, device="meta") + L.ones(2, 3),
    # refusals: results whose shape depends on values
    "nonzero": lambda L: L.nonzero(L.empty(3, device="meta")),
    "bool_mask": lambda L: (lambda x: x[x > 0])(L.empty(3, device="meta")),
    "masked_select": lambda L: (lambda x: L.masked_select(x, x > 0))(L.empty(3, device="meta")),
    "unique": lambda L: L.unique(L.empty(3, device="meta")),
    "bincount": lambda L: L.bincount(L.empty(2, dtype=L.long, device="meta")),
    "equal": lambda L: L.equal(L.empty(2, device="meta"), L.empty(2, device="meta")),
}
# where backprop's message differs from torch's on purpose (torch names its internal aten op)
_CLASS_ONLY = {"nonzero", "bool_mask", "masked_select", "unique", "bincount", "equal", "cpu_tensor_with_dims"}


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_meta_case_as_torch(name: str) -> None:
    ours, theirs = _run(CASES[name], bp), _run(CASES[name], torch)
    if name in _CLASS_ONLY:
        assert ours[:2] == theirs[:2] == ("raises", theirs[1]), (ours, theirs)
    else:
        assert ours == theirs


def test_meta_tensors_hold_one_element_whatever_their_shape() -> None:
    """A 4096 x 4096 Linear (64 MiB of float32) built and initialised on meta allocates almost nothing;
    an op on meta tensors computes its result once on the placeholders (here 1 MiB) and keeps none of it."""
    tracemalloc.start()
    try:
        with bp.device("meta"):
            layer = bp.nn.Linear(4096, 4096)
            x = bp.randn(64, 4096)
        built = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        y = layer(x)
        ran, kept = tracemalloc.get_traced_memory()[1], tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert layer.weight.is_meta and tuple(y.shape) == (64, 4096) and y.is_meta
    assert built < 64 << 10, built
    assert ran < 2 << 20 and kept < 64 << 10, (ran, kept)


def test_skeleton_then_to_empty_and_assign() -> None:
    """The LLM-loading pattern: build on meta, then real memory (to_empty) or the checkpoint's (assign)."""
    bp.manual_seed(0)
    real = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.Tanh(), bp.nn.Linear(8, 3))
    x = bp.randn(5, 4)
    with bp.device("meta"):
        skeleton = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.Tanh(), bp.nn.Linear(8, 3))
    assert all(p.is_meta for p in skeleton.parameters())
    with pytest.warns(UserWarning, match="copying from a non-meta parameter"):
        skeleton.load_state_dict(real.state_dict())  # a no-op on meta, as torch
    assert all(p.is_meta for p in skeleton.parameters())
    skeleton.load_state_dict(real.state_dict(), assign=True)
    np.testing.assert_array_equal(skeleton(x).detach().numpy(), real(x).detach().numpy())
    with bp.device("meta"):
        other = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.Tanh(), bp.nn.Linear(8, 3))
    other.to_empty(device="cpu")
    with bp.no_grad():
        for p, q in zip(other.parameters(), real.parameters()):
            p.copy_(q)
    np.testing.assert_array_equal(other(x).detach().numpy(), real(x).detach().numpy())


def test_backward_on_meta_gives_meta_gradients() -> None:
    w = bp.empty(3, 4, device="meta", requires_grad=True)
    b = bp.empty(4, device="meta", requires_grad=True)
    x = bp.randn(5, 3).to("meta")
    (x @ w + b).tanh().sum().backward()
    assert w.grad.is_meta and tuple(w.grad.shape) == (3, 4) and b.grad.is_meta and tuple(b.grad.shape) == (4,)
    assert not any(w.grad._data.strides)  # a placeholder too: no memory the size of the gradient


def test_save_and_load_keep_meta() -> None:
    buf = io.BytesIO()
    bp.save({"w": bp.empty(3, 2, device="meta", dtype=bp.float64, requires_grad=True)}, buf)
    buf.seek(0)
    w = bp.load(buf)["w"]
    assert w.is_meta and tuple(w.shape) == (3, 2) and w.dtype == bp.float64 and w.requires_grad


def test_device_block_sets_and_restores_the_default() -> None:
    before = bp.get_default_device()
    with bp.device("meta") as dev:
        assert dev == bp.device("meta") and bp.ones(1).is_meta
        with bp.device("cpu"):
            assert bp.ones(1).device.type == "cpu"
        assert bp.zeros(1).is_meta
        assert bp.ones(1, device="cpu").device.type == "cpu"  # an explicit device wins
    assert bp.get_default_device() is before
    with pytest.raises(KeyError), bp.device("meta"):
        raise KeyError("restored on the way out too")
    assert bp.get_default_device() is before


def test_set_default_device_none_restores_the_process_default() -> None:
    before = bp.get_default_device()
    try:
        bp.set_default_device("meta")
        assert bp.empty(2).is_meta
        bp.set_default_device(None)
        assert bp.get_default_device() is before
    finally:
        bp.set_default_device(before)


def test_cpu_scalar_tensors_join_a_device_tensor_under_the_cuda_standin() -> None:
    """torch lets 0-d CPU tensors act as numbers with a tensor on any device (and gives them gradients)."""
    from cupy_standin import use_standin

    with use_standin():
        x = bp.arange(3.0, device="cuda").requires_grad_()
        s = bp.tensor(2.0, device="cpu", requires_grad=True)
        y = x * s
        assert y.device.type == "cuda"
        y.sum().backward()
        assert s.grad.device.type == "cpu" and float(s.grad) == 3.0
        np.testing.assert_array_equal(x.grad.cpu().numpy(), [2.0, 2.0, 2.0])
        with pytest.raises(RuntimeError, match="same device"):
            x + bp.ones(3, device="cpu")  # a CPU tensor with dims does not
        y = bp.ones(3, device="cuda")
        y.add_(bp.tensor(2.0, device="cpu"))  # in place too, into the device tensor
        y.detach().requires_grad_().mul(1).add_(bp.tensor(1.0, device="cpu"))  # (the recorded in-place path)
        assert y._data.__class__.__module__.startswith("cupy") and y.tolist() == [3.0, 3.0, 3.0]
        for target in (bp.tensor(1.0, device="cpu"), bp.tensor(1.0, device="cpu", requires_grad=True).mul(1)):
            with pytest.raises(RuntimeError, match="same device"):  # but a CPU target never moves, as torch
                target.add_(bp.tensor(2.0, device="cuda"))
            assert target.device.type == "cpu" and isinstance(target._data, np.ndarray)


def test_a_gpt2_sized_skeleton_on_meta() -> None:
    """nanoGPT's GPT at GPT-2 small's size (124M parameters, 475 MiB of float32) built on meta: the count
    every LLM script prints, tied weights, and a forward's shapes, in well under 4 MiB; as torch's."""
    from test_famous_programs import GPTConfig, build

    cfg = GPTConfig(block_size=1024, vocab_size=50304, n_layer=12, n_head=12, n_embd=768)
    tracemalloc.start()
    try:
        with bp.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (nanoGPT prints its parameter count)
            model = build(bp)(cfg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    x = bp.randint(0, cfg.vocab_size, (2, 8), device="meta")
    logits, loss = model(x, x)
    got = (sum(p.numel() for p in model.parameters()), tuple(logits.shape), tuple(loss.shape), logits.device.type)
    assert model.transformer.wte.weight is model.lm_head.weight and peak < 4 << 20, peak
    if torch is not None:
        with torch.device("meta"):
            theirs = build(torch)(cfg)
        t_x = torch.randint(0, cfg.vocab_size, (2, 8), device="meta")
        t_logits, t_loss = theirs(t_x, t_x)
        n = sum(p.numel() for p in theirs.parameters())
        assert got == (n, tuple(t_logits.shape), tuple(t_loss.shape), t_logits.device.type)
    else:
        assert got == (124475904, (2, 8, cfg.vocab_size), (), "meta")
