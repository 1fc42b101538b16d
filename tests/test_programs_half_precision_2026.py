"""Half-precision training programs on the CPU, each written once as a function of the library module and
run with torch 2.13 and with backprop standing in for it, from the same NumPy-made weights:

- a bfloat16/float16 classifier's cross-entropy (``model.half()``/``.to(torch.bfloat16)`` logits), its
  ``reduction="sum"``/weighted/``ignore_index`` variants and ``F.nll_loss(F.log_softmax(...))``: torch's
  CPU kernels sum the rows' losses in the half dtype (a cascade of partial sums) and divide by the count
  rounded to it, so the printed loss is torch's bit for bit;
- cumulative sums as training code writes them (running means, ``cumsum(dtype=torch.float32)`` of a half
  tensor, float32 prefix sums): torch's CPU scans accumulate float32 in double and halves in float32;
- the common slip of ``model.half()`` fed a float32 batch (and its float64 twin) through LayerNorm,
  GroupNorm and BatchNorm: torch's "mixed dtype (CPU)" errors, and the mixed type it does allow;
- ``torch.autocast("cpu", dtype=torch.float64)``: torch's warning, word for word;
- a short bfloat16 training loop (Linear, GELU, LayerNorm, AdamW) whose losses follow torch's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are checked against torch")

HALF = ["float16", "bfloat16"]


def _np(t):
    return t.detach().float().numpy()


def _both(program, *args):
    """The program's result under torch and under backprop, as float32 arrays."""
    return [[_np(t) for t in program(m, *args)] for m in (torch, bp)]


def _logits(n, c, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)).astype(np.float32) * 3, np.arange(n) % c


# ---------------------------------------------------------------- losses in the half dtypes


def _ce_program(m, dtype, n, kwargs):
    x_np, y_np = _logits(n, 10)
    kw = dict(kwargs)
    if kw.pop("ignore", False):
        y_np = y_np.copy()
        y_np[::3] = -100  # (rows 0, 48, 144, 256, ...: some would end a run of the cascade)
    if kw.pop("weighted", False):
        kw["weight"] = m.tensor(np.linspace(0.2, 2.0, 10, dtype=np.float32)).to(getattr(m, dtype))
    x = m.tensor(x_np).to(getattr(m, dtype)).requires_grad_()
    loss = m.nn.functional.cross_entropy(x, m.tensor(y_np), **kw)
    loss.sum().backward()
    return loss, x.grad


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reduction": "sum"}, {"ignore": True}, {"weighted": True}, {"weighted": True, "ignore": True}],
    ids=["mean", "sum", "ignore_index", "weight", "weight-ignore_index"],
)
def test_cross_entropy_half_loss_is_torchs_bit_for_bit(dtype, kwargs):
    for n in (16, 17, 100, 257, 1500, 5000, 20000):
        (loss_t, grad_t), (loss_b, grad_b) = _both(_ce_program, dtype, n, kwargs)
        assert loss_b.tobytes() == loss_t.tobytes(), (n, loss_t, loss_b)
        tol = 1e-2 if dtype == "bfloat16" else 2e-3
        np.testing.assert_allclose(grad_b, grad_t, atol=tol * max(1.0, np.abs(grad_t).max()), rtol=0)


def test_cross_entropy_half_closed_form_of_the_cascade():
    # 17 rows of loss 1/3 in float16: torch adds rows 1..16 one by one in float16 (each sum rounded), then
    # adds that run into the next level, where row 0 waits; row 16 ends the run, so 17 is row 0 + 16 rows
    x = np.zeros((17, 3), np.float32)  # log_softmax of equal logits: -log 3 in every class
    for m in (torch, bp):
        out = m.nn.functional.cross_entropy(m.tensor(x).half(), m.tensor(np.zeros(17, np.int64)), reduction="sum")
        h = np.float16(np.log(np.float32(3)))
        acc = np.float16(0)
        for _ in range(16):
            acc = np.float16(np.float32(acc) + np.float32(h))
        expected = np.float16(np.float32(np.float16(np.float32(0) + np.float32(acc))) + np.float32(h))
        assert out.item() == float(expected)


def _nll_program(m, dtype, n, kwargs):
    x_np, y_np = _logits(n, 10, seed=1)
    kw = dict(kwargs)
    if kw.pop("weighted", False):
        kw["weight"] = m.tensor(np.linspace(0.2, 2.0, 10, dtype=np.float32)).to(getattr(m, dtype))
    x = m.tensor(x_np).to(getattr(m, dtype)).requires_grad_()
    loss = m.nn.functional.nll_loss(m.nn.functional.log_softmax(x, dim=1), m.tensor(y_np), **kw)
    loss.backward()
    return loss, x.grad


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"weighted": True}], ids=["mean", "sum", "weight"])
def test_nll_loss_of_log_softmax_half_is_torchs_bit_for_bit(kwargs):
    for dtype, n in ((d, n) for d in HALF for n in (17, 100, 1500, 5000)):
        (loss_t, grad_t), (loss_b, grad_b) = _both(_nll_program, dtype, n, kwargs)
        assert loss_b.tobytes() == loss_t.tobytes(), (dtype, n, loss_t, loss_b)
        np.testing.assert_allclose(grad_b, grad_t, atol=1e-2 * max(1.0, np.abs(grad_t).max()), rtol=0)


# ---------------------------------------------------------------- scans


def _scan_program(m):
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((3, 4000)) * 3 + 1).astype(np.float32)
    x = m.tensor(a, requires_grad=True)
    running_mean = x.cumsum(1) / m.arange(1, 4001)
    running_mean.backward(m.tensor(a[:, ::-1].copy()))
    h = m.tensor(a).half()
    return (
        running_mean,
        x.grad,
        m.tensor(a[:, :40] / 2).cumprod(1),
        h.cumsum(1),
        m.tensor(a).bfloat16().cumsum(1),
        h.cumsum(1, dtype=m.float32),
        m.tensor(a).to(m.complex64).cumsum(1).real,
    )


def test_cumsum_accumulates_as_torchs_cpu_scans():
    want, got = _both(_scan_program)
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert g.tobytes() == w.tobytes(), f"output {i}: max diff {np.abs(w - g).max()}"


def test_float32_cumsum_is_the_double_sum_rounded_once():
    a = np.random.default_rng(3).standard_normal(10_000).astype(np.float32)
    got = bp.tensor(a).cumsum(0).numpy()
    np.testing.assert_array_equal(got, a.astype(np.float64).cumsum().astype(np.float32))


# ---------------------------------------------------------------- the mixed-dtype slips of norms


def _norm(kind, x_dtype, p_dtype):
    def program(m):
        x = m.ones(2, 4, 3, dtype=getattr(m, x_dtype))
        p = {"dtype": getattr(m, p_dtype)}
        if kind == "LayerNorm":
            mod = m.nn.LayerNorm(3).to(**p)
        elif kind == "GroupNorm":
            mod = m.nn.GroupNorm(2, 4).to(**p)
        else:
            mod = m.nn.BatchNorm1d(4).to(**p)
        return mod(x)

    return program


SLIPS = [
    ("float32", "float16", "mixed dtype (CPU): expect parameter to have scalar type of Float"),  # model.half()
    ("float32", "bfloat16", "mixed dtype (CPU): expect parameter to have scalar type of Float"),
    ("bfloat16", "float16", "mixed dtype (CPU): expect parameter to have scalar type of Float"),
    ("float64", "float32", "mixed dtype (CPU): all inputs must share same datatype."),
]


@pytest.mark.parametrize("kind", ["LayerNorm", "GroupNorm", "BatchNorm1d"])
def test_norm_of_a_mismatched_input_raises_torchs_error(kind):
    for x_dtype, p_dtype, message in SLIPS:
        for m in (torch, bp):
            with pytest.raises(RuntimeError) as info:
                _norm(kind, x_dtype, p_dtype)(m)
            assert str(info.value) == message, (m.__name__, x_dtype, p_dtype)
    for x_dtype in HALF:  # the mixed type torch does allow: a half input, float32 parameters
        want, got = (_np(_norm(kind, x_dtype, "float32")(m)) for m in (torch, bp))
        np.testing.assert_array_equal(got, want)


def test_layer_norm_parameters_of_two_dtypes_raise_torchs_error():
    for m in (torch, bp):
        with pytest.raises(RuntimeError, match="^expected scalar type Float but found Half$"):
            m.nn.functional.layer_norm(m.ones(2, 4), (4,), m.ones(4), m.ones(4).half())


# ---------------------------------------------------------------- autocast


def test_cpu_autocast_to_an_unsupported_dtype_warns_in_torchs_words():
    for m in (torch, bp):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with m.autocast("cpu", dtype=m.float64):
                y = m.mm(m.ones(2, 2), m.ones(2, 2))
        assert str(y.dtype).endswith("float32")
        assert [str(w.message) for w in caught] == [
            "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
            "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently."
        ], m.__name__


# ---------------------------------------------------------------- a bfloat16 training loop


def _bf16_training(m):
    rng = np.random.default_rng(4)
    w1 = rng.standard_normal((32, 16)).astype(np.float32) * 0.25
    w2 = rng.standard_normal((10, 32)).astype(np.float32) * 0.25
    x_np = rng.standard_normal((200, 16)).astype(np.float32)
    y = m.tensor(rng.integers(0, 10, 200))
    net = m.nn.Sequential(m.nn.Linear(16, 32), m.nn.GELU(), m.nn.LayerNorm(32), m.nn.Linear(32, 10, bias=False))
    with m.no_grad():
        net[0].weight.copy_(m.tensor(w1))
        net[0].bias.zero_()
        net[3].weight.copy_(m.tensor(w2))
    net = net.to(m.bfloat16)
    opt = m.optim.AdamW(net.parameters(), lr=1e-2)
    x = m.tensor(x_np).to(m.bfloat16)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = m.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return (m.stack(losses), opt.state[net[0].weight]["exp_avg_sq"])


def test_bfloat16_training_loop_losses_follow_torch():
    (losses_t, v_t), (losses_b, v_b) = _both(_bf16_training)
    assert losses_b[0] == losses_t[0]  # the first step's loss: the same weights, torch's roundings and sums
    np.testing.assert_allclose(losses_b, losses_t, atol=0.02, rtol=0)
    np.testing.assert_allclose(v_b, v_t, rtol=0.05, atol=1e-6)
