"""``F.multi_head_attention_forward``: torch's functional form of ``nn.MultiheadAttention``, on the module's
own code path (its shape checks, projections, masks and attention), fed from the function's arguments.

Attached to ``backprop.nn.functional`` by ``backprop.nn`` (not imported by it: no import cycle);
``backprop.nn._multihead_attention`` is imported at the first call (it imports ``functional`` itself).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from backprop.tensor import Tensor

__all__ = ["multi_head_attention_forward"]


@functools.cache
def _heads_class() -> type:
    """A plain class carrying ``MultiheadAttention``'s forward methods, for attributes set per call."""
    from backprop.nn._multihead_attention import MultiheadAttention

    names = ("forward", "_check_shapes", "_project", "_attend")
    return type("_FunctionalHeads", (), {name: getattr(MultiheadAttention, name) for name in names})


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """``nn.MultiheadAttention``'s forward with its weights passed in: time-major (L, N, E) or unbatched
    (L, E) query, (S, N, kdim/vdim) key and value; returns (output, weights or None)."""
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k / static_v are not supported")
    embed_dim = query.shape[-1]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError(
                "multi_head_attention_forward: use_separate_proj_weight is True but q_proj_weight, k_proj_weight "
                "or v_proj_weight is None"
            )
    elif in_proj_weight is None:
        raise AssertionError(
            "multi_head_attention_forward: use_separate_proj_weight is False but in_proj_weight is None"
        )
    if (bias_k is None) != (bias_v is None):
        raise AssertionError("multi_head_attention_forward: bias_k and bias_v must both be given or both be None")
    heads: Any = _heads_class()()
    heads.__dict__.update(
        embed_dim=embed_dim,
        num_heads=num_heads,
        head_dim=head_dim,
        batch_first=False,
        training=training,
        dropout=dropout_p,
        _qkv_same_embed_dim=not use_separate_proj_weight,
        in_proj_weight=in_proj_weight,
        q_proj_weight=q_proj_weight,
        k_proj_weight=k_proj_weight,
        v_proj_weight=v_proj_weight,
        in_proj_bias=in_proj_bias,
        bias_k=bias_k,
        bias_v=bias_v,
        add_zero_attn=add_zero_attn,
        out_proj=SimpleNamespace(weight=out_proj_weight, bias=out_proj_bias),
    )
    return heads.forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal)
