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
        np.testing.assert_array_equal(va.detach().numpy(), vb.detach().numpy())
    sd = a.state_dict()
    del sd["emb.weight"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "emb.weight"'):  # torch's message
        b.load_state_dict(sd)
    assert b.load_state_dict(sd, strict=False).missing_keys == ["emb.weight"]
    sd["emb.weight"] = bp.zeros(11, 4)
    with pytest.raises(RuntimeError, match="size mismatch for emb.weight"):
        b.load_state_dict(sd)


def test_linear_default_init_bounds_and_functional_equivalence() -> None:
    lin = nn.Linear(50, 20)
    bound = 1 / math.sqrt(50)
    assert np.abs(lin.weight.detach().numpy()).max() <= bound and np.abs(lin.bias.detach().numpy()).max() <= bound
    assert np.abs(lin.weight.detach().numpy()).max() > 0.8 * bound
    x = bp.randn(3, 50)
    np.testing.assert_allclose(
        lin(x).detach().numpy(),
        x.detach().numpy() @ lin.weight.detach().numpy().T + lin.bias.detach().numpy(),
        rtol=1e-5,
    )


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
        np.testing.assert_allclose(mod(x).detach().numpy(), fn(x).detach().numpy())


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


# ---------------------------------------------------------------- composed nn.functional: derivatives (no torch needed)


def _f64(*shape: int, seed: int = 0, low: float | None = None) -> bp.Tensor:
    rng = np.random.default_rng(seed)
    a = rng.uniform(low, 1.0, shape) if low is not None else rng.standard_normal(shape)
    return bp.tensor(a, dtype=bp.float64, requires_grad=True)


COMPOSED = {
    "pad_reflect": (lambda x: nn.functional.pad(x, (2, 1, 1, 0), "reflect"), [(2, 3, 4, 4)]),
    "pad_replicate": (lambda x: nn.functional.pad(x, (1, 2), "replicate"), [(2, 3, 4)]),
    "pad_circular": (lambda x: nn.functional.pad(x, (-1, 2), "circular"), [(2, 3, 4)]),
    "pad_constant": (lambda x: nn.functional.pad(x, (1, -1, 2, 0), value=0.5), [(2, 3, 4)]),
    "batch_norm": (
        lambda x, w, b: nn.functional.batch_norm(x, None, None, w, b, training=True),
        [(4, 3, 2), (3,), (3,)],
    ),
    "group_norm": (lambda x, w, b: nn.functional.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    "sdpa": (
        lambda q, k, v: nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True),
        [(2, 3, 4), (2, 3, 4), (2, 3, 5)],
    ),
    "cosine_similarity": (lambda a, b: nn.functional.cosine_similarity(a, b, dim=-1), [(3, 4), (3, 4)]),
    "normalize": (lambda a: nn.functional.normalize(a, dim=-1), [(3, 4)]),
    "smooth_l1": (lambda a, b: nn.functional.smooth_l1_loss(a, b, beta=0.5, reduction="none"), [(3, 4), (3, 4)]),
    "huber": (lambda a, b: nn.functional.huber_loss(a, b, delta=0.5), [(3, 4), (3, 4)]),
    "kl_div": (lambda a, b: nn.functional.kl_div(a, b, reduction="batchmean"), [(3, 4), (3, 4, "pos")]),
    "bce_logits_pos_weight": (
        lambda z, y: nn.functional.binary_cross_entropy_with_logits(z, y, pos_weight=bp.tensor([0.5, 2.0, 1.0, 3.0])),
        [(3, 4), (3, 4, "pos")],
    ),
    "nll_weight": (
        lambda x: nn.functional.nll_loss(x, bp.tensor([0, 2, 1]), bp.tensor([0.5, 2.0, 1.0], dtype=x.dtype)),
        [(3, 3)],
    ),
    "cross_entropy_probs": (
        lambda x, p: nn.functional.cross_entropy(x, p.softmax(1), label_smoothing=0.2),
        [(3, 4), (3, 4)],
    ),
}


@pytest.mark.parametrize("name", sorted(COMPOSED))
def test_composed_functional_gradcheck_and_gradgradcheck(name: str) -> None:
    fn, specs = COMPOSED[name]
    inputs = []
    for i, spec in enumerate(specs):
        pos = spec[-1] == "pos"
        shape = spec[:-1] if pos else spec
        inputs.append(_f64(*shape, seed=i, low=0.2 if pos else None))
    assert bp.gradcheck(fn, inputs)
    assert bp.gradgradcheck(fn, inputs)


def test_batch_norm_momentum_none_is_a_cumulative_average() -> None:
    m = nn.BatchNorm1d(2, momentum=None)
    batches = [np.random.default_rng(s).standard_normal((5, 2)) * (s + 1) for s in range(3)]
    for b in batches:
        m(bp.tensor(b, dtype=bp.float32))
    np.testing.assert_allclose(m.running_mean.detach().numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(
        m.running_var.detach().numpy(), np.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-5
    )
    assert m.num_batches_tracked.item() == 3
    m.eval()
    before = m.running_mean.detach().numpy().copy()
    m(bp.tensor(batches[0], dtype=bp.float32))
    np.testing.assert_array_equal(m.running_mean.detach().numpy(), before)  # eval: no update


def test_loss_signatures_take_weight_third() -> None:
    x = bp.tensor([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]])
    t = bp.tensor([1, 2])
    w = bp.tensor([1.0, 3.0, 0.5])
    manual = -(x.log_softmax(1)[bp.tensor([0, 1]), t] * w[t]).sum() / w[t].sum()
    assert nn.functional.cross_entropy(x, t, w).item() == pytest.approx(manual.item(), rel=1e-6)
    assert nn.functional.nll_loss(x.log_softmax(1), t, w).item() == pytest.approx(manual.item(), rel=1e-6)
    with pytest.raises(ValueError, match="weight tensor should be defined either for all 3 classes or no classes"):
        nn.functional.cross_entropy(x, t, bp.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        nn.functional.cross_entropy(x, t, w.requires_grad_())


def test_module_float_double_cpu_keep_buffers_and_int_counts() -> None:
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    m.double()
    assert {str(v.dtype) for k, v in m.state_dict().items() if "num_batches" not in k} == {"float64"}
    assert m[1].num_batches_tracked.dtype == bp.int64
    assert m.float() is m and m[1].running_var.dtype == bp.float32
    assert m.cpu() is m
