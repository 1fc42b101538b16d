"""nn.MultiheadAttention and the Transformer modules: a NumPy reference and gradchecks (no torch needed),
then torch cross-checks with torch's weights copied in (eval mode: outputs, attention weights, every
parameter's gradient) over masks, batch_first, unbatched input, kdim/vdim, bias_kv, zero_attn, norm_first."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn

RNG = np.random.default_rng(0)
pytestmark = pytest.mark.filterwarnings(
    "ignore:enable_nested_tensor is True:UserWarning",  # torch's note on its nested-tensor fast path
    "ignore:Support for mismatched:DeprecationWarning",
    "ignore:Support for mismatched:UserWarning",
    "ignore:The PyTorch API of nested tensors:UserWarning",  # torch's own encoder inference path
)


@pytest.fixture(scope="module")
def torch():  # type: ignore[no-untyped-def]
    return pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")


def _np_mha(m: nn.MultiheadAttention, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray) -> tuple:
    """softmax((x W_q)(x W_k)^T / sqrt(d) + mask) (x W_v) per head, then out_proj; time-major (L, N, E)."""
    w = m.in_proj_weight.detach().numpy()
    b = m.in_proj_bias.detach().numpy()
    e, h = m.embed_dim, m.num_heads
    d = e // h
    qp, kp, vp = (x @ w[i * e : (i + 1) * e].T + b[i * e : (i + 1) * e] for i, x in enumerate((q, k, v)))
    split = lambda x: x.reshape(x.shape[0], x.shape[1], h, d).transpose(1, 2, 0, 3)  # noqa: E731 (N, h, L, d)
    scores = split(qp) @ split(kp).transpose(0, 1, 3, 2) / math.sqrt(d) + mask
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = (weights @ split(vp)).transpose(2, 0, 1, 3).reshape(q.shape[0], q.shape[1], e)
    out = heads @ m.out_proj.weight.detach().numpy().T + m.out_proj.bias.detach().numpy()
    return out, weights.mean(1)


def test_mha_matches_numpy_with_bool_mask() -> None:
    m = nn.MultiheadAttention(8, 2).double()
    with bp.no_grad():
        m.in_proj_bias.copy_(bp.tensor(RNG.standard_normal(24)))
        m.out_proj.bias.copy_(bp.tensor(RNG.standard_normal(8)))
    q, k, v = RNG.standard_normal((4, 3, 8)), RNG.standard_normal((5, 3, 8)), RNG.standard_normal((5, 3, 8))
    blocked = RNG.random((4, 5)) > 0.6
    blocked[:, 0] = False
    out, weights = m(bp.tensor(q), bp.tensor(k), bp.tensor(v), attn_mask=bp.tensor(blocked))
    ref_out, ref_w = _np_mha(m, q, k, v, np.where(blocked, -np.inf, 0.0))
    np.testing.assert_allclose(out.detach().numpy(), ref_out, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w, atol=1e-12)
    assert (weights.detach().numpy()[:, blocked] == 0).all()  # True = may not attend (torch's MHA convention)
    out2, none = m(bp.tensor(q), bp.tensor(k), bp.tensor(v), attn_mask=bp.tensor(blocked), need_weights=False)
    assert none is None
    np.testing.assert_allclose(out2.detach().numpy(), ref_out, atol=1e-12)


def test_mha_parameters_and_init() -> None:
    m = nn.MultiheadAttention(6, 3, add_bias_kv=True)
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert list(shapes) == ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"]
    assert shapes["in_proj_weight"] == (18, 6) and shapes["bias_k"] == (1, 1, 6)
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    assert np.abs(m.in_proj_weight.detach().numpy()).max() <= math.sqrt(6 / 24)  # xavier_uniform bound
    m = nn.MultiheadAttention(6, 3, kdim=2, vdim=4, bias=False)
    assert {k: tuple(v.shape) for k, v in m.named_parameters()} == {
        "q_proj_weight": (6, 6), "k_proj_weight": (6, 2), "v_proj_weight": (6, 4), "out_proj.weight": (6, 6)
    }  # fmt: skip
    assert m.in_proj_weight is None and m.in_proj_bias is None
    assert "NonDynamicallyQuantizableLinear" in repr(m)


def test_mha_gradcheck_float64() -> None:
    m = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, kdim=3).double()
    q = bp.tensor(RNG.standard_normal((3, 2, 4)), requires_grad=True)
    k = bp.tensor(RNG.standard_normal((5, 2, 3)), requires_grad=True)
    v = bp.tensor(RNG.standard_normal((5, 2, 4)), requires_grad=True)
    pad = bp.tensor(np.array([[False] * 5, [False, False, False, True, True]]))
    assert bp.gradcheck(lambda q, k, v: m(q, k, v, key_padding_mask=pad)[0], [q, k, v])
    assert bp.gradcheck(lambda q, w: m(q, k, v, need_weights=False)[0] * 1.0 + 0 * w.sum(), [q, m.q_proj_weight])
    assert bp.gradgradcheck(lambda q: m(q, k, v)[0], [q])


def test_mha_errors() -> None:
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(5, 2)
    m = nn.MultiheadAttention(4, 2)
    x = bp.randn(3, 2, 4)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(
        RuntimeError, match=r"The shape of the 2D attn_mask is torch.Size\(\[2, 3\]\), but should be \(3, 3\)"
    ):
        m(x, x, x, attn_mask=bp.zeros(2, 3))
    with pytest.raises(AssertionError, match=r"Expected key_padded_mask.shape\[1\] to be 3, but got 4"):
        m(x, x, x, key_padding_mask=bp.zeros(2, 4, dtype=bp.bool))
    with pytest.raises(AssertionError, match="only bool and floating types"):
        m(x, x, x, attn_mask=bp.zeros(3, 3, dtype=bp.int64))


def test_square_subsequent_mask_and_layers_without_torch() -> None:
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    np.testing.assert_array_equal(mask.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert mask.dtype == bp.float32
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0).double()
    enc = nn.TransformerEncoder(layer, 2)
    assert enc.layers[0] is not enc.layers[1] and enc.layers[0].linear1.weight is not layer.linear1.weight
    x = bp.tensor(RNG.standard_normal((4, 2, 8)), requires_grad=True)
    # causality: a change at the last position leaves the earlier outputs unchanged
    y = enc(x, mask=nn.Transformer.generate_square_subsequent_mask(4, dtype=bp.float64)).detach().numpy()
    x2 = x.detach().numpy().copy()
    x2[3] += 1.0
    y2 = enc(bp.tensor(x2), is_causal=True, mask=nn.Transformer.generate_square_subsequent_mask(4, dtype=bp.float64))
    np.testing.assert_allclose(y2.detach().numpy()[:3], y[:3], atol=1e-12)
    assert not np.allclose(y2.detach().numpy()[3], y[3])
    assert bp.gradcheck(lambda x: enc(x).sum(-1), [x])
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(bp.randn(4, 2, 8), bp.randn(3, 3, 8))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        model(bp.randn(4, 2, 8), bp.randn(3, 2, 6))
    assert all(abs(float(p.detach().numpy().std())) > 0 for p in model.parameters() if p.ndim > 1)


# ---------------------------------------------------------------- torch cross-checks


def _copy(tm, bm) -> None:  # type: ignore[no-untyped-def]
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in bm.named_parameters()]
    bm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _close(ours, theirs, tol) -> None:  # type: ignore[no-untyped-def]
    if theirs is None:
        assert ours is None
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), atol=tol, rtol=tol)


def _grads(torch, tm, bm, out_t, out_b, inputs, tol) -> None:  # type: ignore[no-untyped-def]
    w = np.random.default_rng(5).standard_normal(tuple(out_t.shape)).astype(str(out_b.dtype))
    (out_t * torch.tensor(w)).sum().backward()
    (out_b * bp.tensor(w)).sum().backward()
    for (name, p), (_, q) in zip(tm.named_parameters(), bm.named_parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), atol=tol, rtol=tol, err_msg=name)
    for a, b in inputs:
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=tol, rtol=tol)


MHA_CONFIGS = [
    {},
    {"batch_first": True},
    {"bias": False},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"kdim": 3, "vdim": 6},
    {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3},
]
L, S, N = 4, 5, 3


def _masks(torch):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(0)
    blocked = torch.rand(L, S, generator=gen) > 0.6
    blocked[:, 0] = False
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[1, 3:] = True
    additive = torch.randn(L, S, dtype=torch.float64, generator=gen)
    return [
        {},
        {"need_weights": False},
        {"attn_mask": blocked},
        {"attn_mask": additive, "need_weights": False},
        {"key_padding_mask": pad, "average_attn_weights": False},
        {"key_padding_mask": pad.double().masked_fill(pad, -math.inf), "attn_mask": additive, "need_weights": False},
        {"attn_mask": torch.randn(N * 2, L, S, dtype=torch.float64, generator=gen)},
    ]


@pytest.mark.parametrize("config", range(len(MHA_CONFIGS)))
@pytest.mark.parametrize("masks", range(7))
def test_mha_matches_torch(torch, config: int, masks: int) -> None:  # type: ignore[no-untyped-def]
    kw, fkw = MHA_CONFIGS[config], _masks(torch)[masks]
    torch.manual_seed(config)
    tm, bm = torch.nn.MultiheadAttention(8, 2, **kw).double(), nn.MultiheadAttention(8, 2, **kw).double()
    _copy(tm, bm)
    bf = kw.get("batch_first", False)
    dims = (8, kw.get("kdim") or 8, kw.get("vdim") or 8)
    arrays = [RNG.standard_normal((N, n, e) if bf else (n, N, e)) for n, e in zip((L, S, S), dims)]
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    xb = [bp.tensor(a, requires_grad=True) for a in arrays]
    fb = {k: bp.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v for k, v in fkw.items()}
    out_t, w_t = tm(*xt, **fkw)
    out_b, w_b = bm(*xb, **fb)
    _close(out_b, out_t, 1e-10)
    _close(w_b, w_t, 1e-10)
    _grads(torch, tm, bm, out_t, out_b, zip(xt, xb), 1e-9)


def test_mha_unbatched_causal_and_float32_match_torch(torch) -> None:  # type: ignore[no-untyped-def]
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    pad = torch.tensor([False, False, True, False])
    cases = [
        ((4, 8), {"key_padding_mask": pad}, torch.float64),
        ((4, 8), {"need_weights": False}, torch.float64),
        ((4, 2, 8), {"attn_mask": causal, "is_causal": True, "need_weights": False}, torch.float64),
        ((4, 2, 8), {"attn_mask": causal, "is_causal": True}, torch.float64),
        ((4, 2, 8), {"attn_mask": causal.float()}, torch.float32),
    ]
    for shape, fkw, dtype in cases:
        torch.manual_seed(0)
        tm = torch.nn.MultiheadAttention(8, 2).to(dtype)
        bm = nn.MultiheadAttention(8, 2).to(dtype=str(dtype).removeprefix("torch."))
        _copy(tm, bm)
        a = RNG.standard_normal(shape).astype(str(dtype).removeprefix("torch."))
        xt, xb = torch.tensor(a, requires_grad=True), bp.tensor(a, requires_grad=True)
        fb = {k: bp.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v for k, v in fkw.items()}
        out_t, w_t = tm(xt, xt, xt, **fkw)
        out_b, w_b = bm(xb, xb, xb, **fb)
        tol = 1e-10 if dtype == torch.float64 else 2e-5
        _close(out_b, out_t, tol)
        _close(w_b, w_t, tol)
        _grads(torch, tm, bm, out_t, out_b, [(xt, xb)], 10 * tol)


LAYER_CONFIGS = [
    {},
    {"norm_first": True, "activation": "gelu"},
    {"batch_first": True},
    {"bias": False, "layer_norm_eps": 1e-3},
]


def _build(lib, cls: str, kw: dict):  # type: ignore[no-untyped-def]
    if cls in ("TransformerEncoder", "TransformerDecoder"):
        layer = getattr(lib.nn, cls + "Layer")(8, 2, 16, **kw)
        extra = {"enable_nested_tensor": False} if cls == "TransformerEncoder" and lib is not bp else {}
        return getattr(lib.nn, cls)(layer, 2, norm=lib.nn.LayerNorm(8), **extra)
    if cls == "Transformer":
        return lib.nn.Transformer(8, 2, 2, 2, 16, **kw)
    return getattr(lib.nn, cls)(8, 2, 16, **kw)


@pytest.mark.parametrize("config", range(len(LAYER_CONFIGS)))
@pytest.mark.parametrize(
    "cls", ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
            "Transformer"]
)  # fmt: skip
def test_transformer_modules_match_torch(torch, cls: str, config: int) -> None:  # type: ignore[no-untyped-def]
    kw = LAYER_CONFIGS[config]
    torch.manual_seed(config)
    tm, bm = _build(torch, cls, kw).double().eval(), _build(bp, cls, kw).double().eval()
    _copy(tm, bm)
    bf = kw.get("batch_first", False)
    src = RNG.standard_normal((3, 5, 8) if bf else (5, 3, 8))
    tgt = RNG.standard_normal((3, 4, 8) if bf else (4, 3, 8))
    pad = np.zeros((3, 5), dtype=bool)
    pad[0, 3:] = True
    causal_t = torch.nn.Transformer.generate_square_subsequent_mask(
        4 if "Decoder" in cls or cls == "Transformer" else 5
    )
    if cls.startswith("TransformerEncoder"):
        arrays, kwargs = [src], {("mask" if cls == "TransformerEncoder" else "src_mask"): causal_t.double()}
        kwargs["src_key_padding_mask"] = torch.tensor(pad)
    elif cls.startswith("TransformerDecoder"):
        arrays, kwargs = [tgt, src], {"tgt_mask": causal_t.double(), "memory_key_padding_mask": torch.tensor(pad)}
        kwargs["tgt_is_causal"] = True
    else:
        arrays = [src, tgt]
        kwargs = {"tgt_mask": causal_t.double(), "src_key_padding_mask": torch.tensor(pad),
                  "memory_key_padding_mask": torch.tensor(pad)}  # fmt: skip
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    xb = [bp.tensor(a, requires_grad=True) for a in arrays]
    fb = {k: bp.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    out_t, out_b = tm(*xt, **kwargs), bm(*xb, **fb)
    _close(out_b, out_t, 1e-9)
    _grads(torch, tm, bm, out_t, out_b, zip(xt, xb), 1e-8)


def test_unbatched_transformer_and_float32_match_torch(torch) -> None:  # type: ignore[no-untyped-def]
    for dtype, tol, shape_src, shape_tgt in (
        (torch.float64, 1e-9, (5, 8), (4, 8)),
        (torch.float32, 1e-4, (5, 2, 8), (4, 2, 8)),
    ):
        torch.manual_seed(0)
        np_dtype = str(dtype).removeprefix("torch.")
        tm = torch.nn.Transformer(8, 2, 1, 2, 16, activation="gelu").to(dtype).eval()
        bm = nn.Transformer(8, 2, 1, 2, 16, activation="gelu").to(dtype=np_dtype).eval()
        _copy(tm, bm)
        src, tgt = RNG.standard_normal(shape_src).astype(np_dtype), RNG.standard_normal(shape_tgt).astype(np_dtype)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=dtype)
        xt = [torch.tensor(a, requires_grad=True) for a in (src, tgt)]
        xb = [bp.tensor(a, requires_grad=True) for a in (src, tgt)]
        out_t, out_b = tm(*xt, tgt_mask=mask), bm(*xb, tgt_mask=bp.tensor(mask.numpy()))
        _close(out_b, out_t, tol)
        _grads(torch, tm, bm, out_t, out_b, zip(xt, xb), 10 * tol)


def test_generate_square_subsequent_mask_matches_torch(torch) -> None:  # type: ignore[no-untyped-def]
    t = torch.nn.Transformer.generate_square_subsequent_mask(5)
    b = nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(b.numpy(), t.numpy())
    assert str(b.dtype) == str(t.dtype).removeprefix("torch.")


# ---------------------------------------------------------------- TransformerEncoder's nested-tensor inference path
def _encoder(lib, layer_kw: dict, **kw):  # type: ignore[no-untyped-def]
    layer = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **{"batch_first": True, **layer_kw})
    return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8), **kw)


def test_encoder_inference_zeroes_padded_positions_without_torch() -> None:
    enc = _encoder(bp, {}).double().eval()
    x = bp.tensor(RNG.standard_normal((3, 5, 8)))
    pad = bp.tensor([[False] * 5, [False, False, False, True, True], [True] * 5])
    with bp.no_grad():
        out = enc.layers[1](enc.layers[0](x, src_key_padding_mask=pad), src_key_padding_mask=pad)
        fast = enc(x, src_key_padding_mask=pad)
    # padded positions hold zeros before the final norm (LayerNorm(0) is its bias), the rest is the padded path's
    np.testing.assert_allclose(fast[1, 3:].numpy(), np.broadcast_to(enc.norm.bias.detach().numpy(), (2, 8)))
    np.testing.assert_allclose(fast[2].numpy(), np.broadcast_to(enc.norm.bias.detach().numpy(), (5, 8)))
    np.testing.assert_allclose(fast[:2, :3].numpy(), enc.norm(out)[:2, :3].detach().numpy(), rtol=1e-12, atol=1e-12)
    assert enc.use_nested_tensor and enc.layers[0].activation_relu_or_gelu == 1
    assert not enc(x, src_key_padding_mask=pad)[1, 3:].eq(enc.norm.bias).all()  # grad enabled: padded path
    assert not _encoder(bp, {"norm_first": True}).use_nested_tensor
    assert not _encoder(bp, {"batch_first": False}).use_nested_tensor
    assert not _encoder(bp, {}, enable_nested_tensor=False).use_nested_tensor


@pytest.mark.parametrize(
    "layer_kw, enc_kw",
    [({}, {}), ({}, {"mask_check": False}), ({"activation": "gelu"}, {}), ({"norm_first": True}, {}),
     ({"batch_first": False}, {}), ({"activation": nn.functional.silu}, {}), ({}, {"enable_nested_tensor": False})],
)  # fmt: skip
def test_encoder_inference_fast_path_matches_torch(torch, layer_kw: dict, enc_kw: dict) -> None:  # type: ignore[no-untyped-def]
    torch_kw = {**layer_kw, "activation": torch.nn.functional.silu} if "activation" in layer_kw else layer_kw
    torch_kw = layer_kw if layer_kw.get("activation") == "gelu" else torch_kw
    torch.manual_seed(0)
    tm, bm = _encoder(torch, torch_kw, **enc_kw), _encoder(bp, layer_kw, **enc_kw)
    _copy(tm, bm)
    assert bm.use_nested_tensor == tm.use_nested_tensor
    assert bm.layers[0].activation_relu_or_gelu == tm.layers[0].activation_relu_or_gelu
    bf = layer_kw.get("batch_first", True)
    x = RNG.standard_normal((3, 5, 8)).astype(np.float32)
    x = x if bf else x.transpose(1, 0, 2)
    left = np.array([[False] * 5, [False, False, False, True, True], [False, True, True, True, True]])
    right = np.array([[False] * 5, [True, True, False, False, False], [False, True, False, True, False]])
    # torch's nested path reads any non-zero as padding (its layer fast path too, which is not emulated: checked
    # only where the nested path runs)
    soft = np.where(left, -5.0, 0.0).astype(np.float32)
    tm.eval(), bm.eval()
    with torch.no_grad(), bp.no_grad():
        for pad in (left, right, soft) if tm.use_nested_tensor else (left, right):
            out_t = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(pad))
            out_b = bm(bp.tensor(x), src_key_padding_mask=bp.tensor(pad))
            np.testing.assert_allclose(out_b.numpy(), out_t.numpy(), rtol=1e-5, atol=1e-5)
        torch.backends.mha.set_fastpath_enabled(False)
        bp.backends.mha.set_fastpath_enabled(False)
        try:
            out_t = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(left))
            out_b = bm(bp.tensor(x), src_key_padding_mask=bp.tensor(left))
            np.testing.assert_allclose(out_b.numpy(), out_t.numpy(), rtol=1e-5, atol=1e-5)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
            bp.backends.mha.set_fastpath_enabled(True)
    # eval with grad enabled: torch keeps the padded path, padded positions are not zeroed
    out_t = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(left))
    out_b = bm(bp.tensor(x), src_key_padding_mask=bp.tensor(left))
    np.testing.assert_allclose(out_b.detach().numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-5)
