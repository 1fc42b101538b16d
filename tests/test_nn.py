"""nn.Module semantics (registration, state_dict, modes, devices) and the layers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
from backprop import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.body = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Dropout(0.5))
        self.heads = nn.ModuleList([nn.Linear(6, 3), nn.Linear(6, 2, bias=False)])
        self.norm = nn.LayerNorm(6)

    def forward(self, ids: bp.Tensor) -> bp.Tensor:
        h = self.norm(self.body(self.emb(ids).reshape(ids.shape[0], -1)))
        return self.heads[0](h).sum() + self.heads[1](h).sum()


def test_parameters_registered_with_torch_style_keys() -> None:
    net = Net()
    assert list(net.state_dict()) == [  # torch's pre-order keys
        "emb.weight",
        "body.0.weight",
        "body.0.bias",
        "heads.0.weight",
        "heads.0.bias",
        "heads.1.weight",
        "norm.weight",
        "norm.bias",
    ]
    assert len(list(net.parameters())) == 8
    assert [n for n, _ in net.named_children()] == ["emb", "body", "heads", "norm"]
    assert net.body[0].weight.shape == (6, 8)  # (out, in)
    assert "Linear(in_features=8, out_features=6, bias=True)" in repr(net)


def test_train_eval_and_zero_grad() -> None:
    net = Net()
    net.eval()
    assert not net.body[2].training
    ids = bp.tensor([[1, 2], [3, 4]])
    a, b = net(ids).item(), net(ids).item()
    assert a == b  # dropout off in eval
    net.train()
    net(ids).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_and_strictness() -> None:
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    sd = a.state_dict()
    del sd["emb.weight"]
    with pytest.raises(RuntimeError, match="missing keys: \\['emb.weight'\\]"):
        b.load_state_dict(sd)
    assert b.load_state_dict(sd, strict=False).missing_keys == ["emb.weight"]
    sd["emb.weight"] = bp.zeros(11, 4)
    with pytest.raises(RuntimeError, match="size mismatch for emb.weight"):
        b.load_state_dict(sd)


def test_linear_default_init_bounds_and_functional_equivalence() -> None:
    lin = nn.Linear(50, 20)
    bound = 1 / math.sqrt(50)
    assert np.abs(lin.weight.numpy()).max() <= bound and np.abs(lin.bias.numpy()).max() <= bound
    assert np.abs(lin.weight.numpy()).max() > 0.8 * bound
    x = bp.randn(3, 50)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-5)


def test_embedding_out_of_range_error_names_id_and_vocab() -> None:
    emb = nn.Embedding(5, 3)
    with pytest.raises(IndexError, match="id 7 is out of range for a vocabulary of 5"):
        emb(bp.tensor([1, 7]))


def test_module_to_dtype_keeps_parameter_objects() -> None:
    lin = nn.Linear(3, 2)
    w = lin.weight
    lin.to(bp.float64)
    assert lin.weight is w and w.dtype == bp.float64


def test_activation_modules() -> None:
    x = bp.tensor([-1.0, 0.5])
    for mod, fn in [
        (nn.ReLU(), bp.relu),
        (nn.Tanh(), bp.tanh),
        (nn.Sigmoid(), bp.sigmoid),
        (nn.Softmax(0), lambda t: bp.softmax(t, 0)),
        (nn.GELU(), nn.functional.gelu),
        (nn.SiLU(), nn.functional.silu),
        (nn.LeakyReLU(0.2), lambda t: nn.functional.leaky_relu(t, 0.2)),
    ]:
        np.testing.assert_allclose(mod(x).numpy(), fn(x).numpy())


def test_clip_grad_norm_and_value() -> None:
    p = nn.Parameter(bp.zeros(4))
    q = nn.Parameter(bp.zeros(3))
    p.grad, q.grad = bp.full((4,), 3.0), bp.full((3,), 4.0)
    total = nn.utils.clip_grad_norm_([p, q], 1.0)
    assert float(total) == pytest.approx(math.sqrt(4 * 9 + 3 * 16))
    joint = math.sqrt(float((p.grad.numpy() ** 2).sum() + (q.grad.numpy() ** 2).sum()))
    assert joint == pytest.approx(1.0, rel=1e-5)
    nn.utils.clip_grad_value_([p], 0.1)
    assert p.grad.numpy().max() <= 0.1


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_the_formula(norm_type: float) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params = [nn.Parameter(bp.zeros(*a.shape, dtype=bp.float64)) for a in arrays]
    for p, a in zip(params, arrays):
        p.grad = bp.tensor(a)
    flat = np.concatenate([a.ravel() for a in arrays])
    expected = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    total = nn.utils.clip_grad_norm_(params, 0.5, norm_type)
    assert isinstance(total, bp.Tensor) and total.shape == () and total.dtype == bp.float64
    assert float(total) == pytest.approx(expected)
    for p, a in zip(params, arrays):
        np.testing.assert_allclose(p.grad.numpy(), a * 0.5 / (expected + 1e-6))
    small = nn.utils.clip_grad_norm_(params, 100.0, norm_type)  # under the limit: untouched
    for p, a in zip(params, arrays):
        np.testing.assert_allclose(p.grad.numpy(), a * 0.5 / (expected + 1e-6))
    assert float(small) == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_norm_nonfinite() -> None:
    p = nn.Parameter(bp.zeros(2))
    p.grad = bp.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite|inf"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isinf(float(nn.utils.clip_grad_norm_([p], 1.0)))
