"""Transformer/LLM-era programs as torch users write them in 2025-26, run once with torch and once with ``backprop``
standing in for ``torch`` (each program is a function of the module): values, dtypes, shapes, warnings and exceptions
(class and message) agree.

Covered: a small pre-LN GPT built from ``nn.TransformerEncoderLayer(batch_first=True)`` with dropout, weight tying,
AdamW param groups, cosine warmup through ``LambdaLR``, grad clipping, gradient accumulation and ``ignore_index``,
trained after ``manual_seed`` (dropout masks are torch's, also where the input is a transposed view, as attention's
``batch_first`` output is); the mask-type and nested-tensor warnings of ``nn.MultiheadAttention`` and the
Transformer modules; ``F.scaled_dot_product_attention``'s input checks and ``is_causal`` with an ``attn_mask``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")


def _np(x: Any) -> Any:
    return x.detach().cpu().numpy()


def _picture(x: Any) -> Any:
    """Tensors as (shape, dtype name, values); containers item by item; other values as they are."""
    if isinstance(x, (backprop.Tensor, torch.Tensor)):
        return ("T", tuple(x.shape), str(x.dtype).removeprefix("torch."), _np(x))
    if isinstance(x, dict):
        return {k: _picture(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_picture(v) for v in x]
    return x


def _compare(ours: Any, theirs: Any, rtol: float, path: str) -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), (path, ours, theirs)
        for k in theirs:
            _compare(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (path, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _compare(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, tuple) and theirs and theirs[0] == "T":
        assert isinstance(ours, tuple) and ours[0] == "T", (path, ours)
        assert ours[1:3] == theirs[1:3], (path, ours[1:3], theirs[1:3])
        if ours[3].dtype.kind in "fc":
            np.testing.assert_allclose(ours[3], theirs[3], rtol=rtol, atol=rtol, err_msg=path)
        else:
            np.testing.assert_array_equal(ours[3], theirs[3], err_msg=path)
    elif isinstance(theirs, float):
        assert isinstance(ours, float) and math.isclose(ours, theirs, rel_tol=rtol, abs_tol=rtol), (path, ours, theirs)
    else:
        assert type(ours) is type(theirs) and ours == theirs, (path, ours, theirs)


def _run(program: Callable[[Any], Any], lib: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib.manual_seed(0)
        try:
            return ("ok", _picture(program(lib)))
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return ("raises", e)


def _same(program: Callable[[Any], Any], rtol: float = 1e-5, raises: bool = False) -> None:
    """The program gives torch's result under backprop; where torch raises (``raises``: it must), backprop raises
    torch's class and message."""
    theirs = _run(program, torch)
    ours = _run(program, backprop)
    assert (theirs[0] == "raises") == raises, theirs[1]
    if theirs[0] == "raises":
        assert ours[0] == "raises", f"torch raises {theirs[1]!r}, backprop gives {ours[1]!r}"
        assert isinstance(ours[1], type(theirs[1])), (ours[1], theirs[1])
        assert str(ours[1]) == str(theirs[1])
        return
    if ours[0] == "raises":
        raise ours[1]
    _compare(ours[1], theirs[1], rtol, "result")


def _warned(program: Callable[[Any], Any], lib: Any) -> list[tuple[str, str]]:
    """The (class name, message) of each warning ``program(lib)`` gives (each call's, none deduplicated)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        program(lib)
    return [(w.category.__name__, str(w.message)) for w in caught]


def _same_warnings(program: Callable[[Any], Any]) -> list[tuple[str, str]]:
    theirs = _warned(program, torch)
    assert _warned(program, backprop) == theirs
    return theirs


def _arr(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------- a small GPT
V, T, D, H = 13, 8, 16, 2


def _gpt(L: Any) -> Any:
    """nanoGPT's shape from torch's layers: token + position embeddings, pre-LN ``TransformerEncoderLayer`` blocks
    (batch_first, gelu, dropout) under a causal mask, a final LayerNorm and an lm_head tied to the embedding."""
    nn = L.nn

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
            self.drop = nn.Dropout(0.1)
            layer = nn.TransformerEncoderLayer(D, H, 4 * D, dropout=0.1, activation="gelu", batch_first=True,
                                               norm_first=True)  # fmt: skip
            self.blocks = nn.TransformerEncoder(layer, 2)
            self.ln_f = nn.LayerNorm(D)
            self.lm_head = nn.Linear(D, V, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, idx: Any, targets: Any = None) -> Any:
            t = idx.size(1)
            x = self.drop(self.wte(idx) + self.wpe(L.arange(t, device=idx.device)))
            mask = nn.Transformer.generate_square_subsequent_mask(t, device=idx.device)
            logits = self.lm_head(self.ln_f(self.blocks(x, mask=mask, is_causal=True)))
            if targets is None:
                return logits, None
            loss = nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
            return logits, loss

    return GPT()


def test_gpt_with_dropout_trains_as_torch_after_manual_seed() -> None:
    """The GPT built and trained after ``manual_seed(0)`` in train mode (dropout 0.1 in the embeddings, attention,
    residuals and MLP): the same initial weights, dropout masks and so losses, grad norms, learning rates, final
    weights and eval perplexity as torch. (The attention output of a ``batch_first`` MultiheadAttention is a
    transposed view: torch draws its dropout mask in that memory order.)"""

    def program(L: Any) -> Any:
        model = _gpt(L)
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        opt = L.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95))  # fmt: skip
        warm, total = 2, 6

        def lr_lambda(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))

        sched = L.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        rng = np.random.default_rng(0)
        losses, norms, lrs = [], [], []
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            for _ in range(2):  # gradient accumulation
                x = L.tensor(rng.integers(0, V, (3, T)))
                y = L.tensor(rng.integers(0, V, (3, T)))
                y[:, :2] = -1  # prompt positions take no loss
                _, loss = model(x, y)
                (loss / 2).backward()
                losses.append(loss.item())
            norms.append(L.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        model.eval()
        with L.no_grad():
            x = L.tensor(rng.integers(0, V, (2, T)))
            _, loss = model(x[:, :-1], x[:, 1:])
        # the key projection's bias gets no gradient (softmax ignores a shift shared by a row), so AdamW turns its
        # rounding noise into lr-sized steps in either library: left out
        state = {k: v for k, v in model.state_dict().items() if not k.endswith("in_proj_bias")}
        return losses, norms, lrs, L.exp(loss), state

    _same(program, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- dropout masks
@pytest.mark.parametrize(
    "layout",
    ["transpose", "permute", "slices", "batch_first attention", "alpha", "native", "functional_"],
)
def test_dropout_masks_follow_the_inputs_memory_order(layout: str) -> None:
    """torch draws dropout's mask into ``empty_like(input)``, which keeps a dense input's strides (and a strided
    one's dim order): the mask is filled in the input's memory order. The stream after the draw is torch's too."""

    def program(L: Any) -> Any:
        F = L.nn.functional
        L.manual_seed(3)
        base = L.ones(5, 2, 8)
        if layout == "transpose":
            out = F.dropout(base.transpose(0, 1), 0.3)
        elif layout == "permute":
            out = L.nn.Dropout(0.5)(L.ones(2, 3, 4, 5).permute(0, 2, 3, 1))
        elif layout == "slices":  # (a strided input keeps its dims' order; an expanded one is drawn in C order)
            out = [F.dropout(L.ones(6, 6).t()[::2, 1:], 0.5), F.dropout(L.ones(4).expand(3, 4), 0.5)]
        elif layout == "batch_first attention":
            mha = L.nn.MultiheadAttention(8, 2, batch_first=True)
            x = L.randn(2, 5, 8)
            out = L.nn.Dropout(0.2)(mha(x, x, x, need_weights=False)[0])
        elif layout == "alpha":
            out = F.alpha_dropout(base.transpose(0, 1), 0.5, True)
        elif layout == "native":
            out = L.native_dropout(base.transpose(0, 1), 0.5, True)[1]
        else:
            out = F.dropout(base.transpose(0, 1) * 1, 0.5, inplace=True)
        return out, L.rand(3)

    _same(program)


def test_rand_like_and_randn_like_of_transposed_inputs_draw_torchs_values() -> None:
    """``randn_like(x)`` for a transposed or permuted ``x`` (noise for a (B, T, D) view, a channels-last image):
    torch draws into ``empty_like(x)`` in its memory order (``normal_``'s scalar path: the memory is not C order);
    the values at each index are torch's (ours come back in C order: README)."""

    def program(L: Any) -> Any:
        g = L.Generator().manual_seed(5)
        return [
            L.rand_like(L.ones(5, 2, 8).transpose(0, 1)),
            L.randn_like(L.ones(5, 2, 8).transpose(0, 1)),
            L.randn_like(L.ones(3, 4).t(), dtype=L.float64),
            L.randn_like(L.ones(2, 3, 4, 5).permute(0, 2, 3, 1), generator=g),
            L.rand_like(L.ones(6, 6).t()[::2, 1:]),
            L.rand(3),
        ]

    _same(program)


def test_transformer_encoder_layer_batch_first_training_with_dropout() -> None:
    """nn.TransformerEncoderLayer(batch_first=True) in training after ``manual_seed``: torch's output and input
    gradient (post-norm and pre-norm, with a key padding mask)."""

    def program(L: Any) -> Any:
        out = []
        for norm_first in (False, True):
            layer = L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True, norm_first=norm_first)
            x = L.randn(2, 5, 8, requires_grad=True)
            kpm = L.tensor([[False] * 4 + [True], [False] * 5])
            y = layer(x, src_key_padding_mask=kpm)
            y.pow(2).sum().backward()
            out += [y, x.grad]
        return out

    _same(program, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- warnings
def test_mismatched_mask_types_warn_as_torch() -> None:
    """A bool key padding mask with a float attention mask (the causal mask from
    ``generate_square_subsequent_mask``): torch's deprecation warning from MultiheadAttention, TransformerEncoder
    and TransformerEncoderLayer, and from each decoder layer's self-attention in nn.Transformer."""
    x = _arr(2, 4, 8)

    def mha(L: Any) -> Any:
        m = L.nn.MultiheadAttention(8, 2, batch_first=True)
        kpm = L.tensor([[False, False, False, True], [False] * 4])
        causal = L.nn.Transformer.generate_square_subsequent_mask(4)
        m(L.tensor(x), L.tensor(x), L.tensor(x), key_padding_mask=kpm, attn_mask=causal)
        m(L.tensor(x), L.tensor(x), L.tensor(x), key_padding_mask=kpm.float(), attn_mask=causal > 0)
        m(L.tensor(x), L.tensor(x), L.tensor(x), key_padding_mask=kpm.float(), attn_mask=causal)  # (same types)

    assert len(_same_warnings(mha)) == 2

    def encoder(L: Any) -> Any:
        layer = L.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        enc = L.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        kpm = L.tensor([[False, False, False, True], [False] * 4])
        causal = L.nn.Transformer.generate_square_subsequent_mask(4)
        enc(L.tensor(x), mask=causal, src_key_padding_mask=kpm)
        layer(L.tensor(x), src_mask=causal, src_key_padding_mask=kpm)

    assert len(_same_warnings(encoder)) == 2

    def transformer(L: Any) -> Any:
        model = L.nn.Transformer(8, 2, 1, 2, 16, batch_first=True)
        tgt_kpm = L.tensor([[False, False, True], [False] * 3])
        model(L.tensor(x), L.tensor(x[:, :3]), tgt_mask=model.generate_square_subsequent_mask(3),
              tgt_key_padding_mask=tgt_kpm)  # fmt: skip

    assert len(_same_warnings(transformer)) == 2  # one per decoder layer


def test_enable_nested_tensor_warnings_as_torch() -> None:
    """TransformerEncoder (and nn.Transformer, whose encoder is one) says why it will not use nested tensors:
    ``batch_first=False`` (the default), ``norm_first``, odd head counts, ... and nothing when it will."""

    def program(L: Any) -> Any:
        nn = L.nn
        nn.Transformer(8, 2, 1, 1, 16)
        nn.Transformer(8, 2, 1, 1, 16, batch_first=True, norm_first=True)
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 1, 16, batch_first=True), 1)
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, bias=False), 1)
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, activation=nn.functional.silu, batch_first=True), 1)
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1)  # (silent)
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1, enable_nested_tensor=False)  # (silent)

    assert len(_same_warnings(program)) == 5


# ---------------------------------------------------------------------------------------------- attention checks
_SDPA_SLIPS = {
    "key double": lambda L: (L.ones(2, 2, 4, 8), L.ones(2, 2, 4, 8).double(), L.ones(2, 2, 4, 8)),
    "query half": lambda L: (L.ones(2, 2, 4, 8).half(), L.ones(2, 2, 4, 8), L.ones(2, 2, 4, 8)),
    "1-d": lambda L: (L.ones(8), L.ones(8), L.ones(8)),
    "long mask": lambda L: (*[L.ones(2, 2, 4, 8)] * 3, L.ones(4, 4, dtype=L.long)),
    "int mask": lambda L: (*[L.ones(2, 2, 4, 8)] * 3, L.ones(4, 4, dtype=L.int32)),
    "double mask": lambda L: (*[L.ones(2, 2, 4, 8)] * 3, L.zeros(4, 4, dtype=L.float64)),
}


@pytest.mark.parametrize("case", list(_SDPA_SLIPS))
def test_sdpa_input_slips_raise_torch_messages(case: str) -> None:
    """Mixed q/k/v dtypes, too few dims, an integer attn_mask (which would be added to the scores) or a float
    mask of another dtype than float32 and the query's: torch's RuntimeError and message."""
    _same(lambda L: L.nn.functional.scaled_dot_product_attention(*_SDPA_SLIPS[case](L)), raises=True)


def test_sdpa_is_causal_with_an_attn_mask_applies_both() -> None:
    """is_causal=True with an explicit (float or bool) mask, as torch's CPU kernel: both masks apply, the query
    and key lengths may differ (upper-left causal), gradients flow; a float32 mask with float64 queries is fine."""
    q, k, v = _arr(1, 2, 3, 8, seed=1), _arr(1, 2, 5, 8, seed=2), _arr(1, 2, 5, 8, seed=3)
    bias = _arr(3, 5, seed=4)

    def program(L: Any) -> Any:
        F = L.nn.functional
        qt = L.tensor(q, requires_grad=True)
        a = F.scaled_dot_product_attention(qt, L.tensor(k), L.tensor(v), attn_mask=L.tensor(bias), is_causal=True)
        b = F.scaled_dot_product_attention(qt, L.tensor(k), L.tensor(v), attn_mask=L.tensor(bias) > 0, is_causal=True)
        (a.sum() + b.pow(2).sum()).backward()
        c = F.scaled_dot_product_attention(
            L.tensor(q).double(), L.tensor(k).double(), L.tensor(v).double(), attn_mask=L.tensor(bias)
        )
        return a, b, qt.grad, c

    _same(program)
