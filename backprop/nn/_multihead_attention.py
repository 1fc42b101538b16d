"""``MultiheadAttention`` (torch.nn's name, parameters and forward), a composite of linear, matmul and softmax.

Masks follow torch's ``nn.MultiheadAttention`` (not ``scaled_dot_product_attention``'s): a bool
``attn_mask`` or ``key_padding_mask`` marks with True the positions that may NOT be attended to; a float
mask is added to the scores. With ``need_weights=False`` the heads go through
``F.scaled_dot_product_attention``; with ``need_weights=True`` the weights are computed explicitly
(softmax(q k^T / sqrt(head_dim) + mask)) and returned, averaged over heads by default.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from backprop import creation
from backprop import dtypes as _dtypes
from backprop import functions as fn
from backprop.nn import functional as F
from backprop.nn import init
from backprop.nn.layers import Linear
from backprop.nn.module import Module
from backprop.nn.parameter import Parameter
from backprop.tensor import Tensor


class NonDynamicallyQuantizableLinear(Linear):
    """``Linear`` under the name torch gives ``MultiheadAttention.out_proj`` (same parameters and forward)."""


def _canonical_mask(
    mask: Tensor | None, name: str, dtype: Any, other: Tensor | None = None, other_name: str = ""
) -> Tensor | None:
    """A bool mask (True = masked out) as an additive float mask (-inf / 0); a float mask as given. With
    ``other`` (the mask it is combined with), torch's deprecation warning when their dtypes differ."""
    if mask is None:
        return None
    if other is not None and mask.dtype != other.dtype and (mask.dtype.kind == "b" or _dtypes.kind(mask.dtype) == "f"):
        warnings.warn(
            f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both instead.",
            stacklevel=2,
        )
    if mask.dtype.kind == "b":
        return creation.zeros(*mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, -math.inf)
    if _dtypes.kind(mask.dtype) != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask


def _xavier_normal_(t: Tensor) -> Tensor:
    """N(0, 2 / (fan_in + fan_out)) (torch's ``xavier_normal_``) for ``bias_k`` / ``bias_v``."""
    receptive = math.prod(t.shape[2:])
    fan_in, fan_out = t.shape[1] * receptive, t.shape[0] * receptive
    return init.normal_(t, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size ``embed_dim // num_heads`` with torch's projections:
    ``in_proj_weight`` (3E, E) (or ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ from E),
    ``in_proj_bias`` (3E), ``out_proj``, and optional ``bias_k``/``bias_v`` (1, 1, E)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                f"num_heads={num_heads} instead"
            )
        super().__init__()
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        factory = {"device": device, "dtype": dtype}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **factory))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        self.register_parameter("in_proj_bias", Parameter(creation.empty(3 * embed_dim, **factory)) if bias else None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, embed_dim, **factory))
            self.bias_v = Parameter(creation.empty(1, 1, embed_dim, **factory))
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's init: Xavier-uniform projections, zero biases, Xavier-normal ``bias_k``/``bias_v``."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                _xavier_normal_(b)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``(attn_output, attn_weights)`` for (L, N, E) queries and (S, N, kdim/vdim) keys/values
        (``batch_first``: (N, L, E)) or unbatched (L, E); weights (N, L, S), or (N, heads, L, S) when
        ``average_attn_weights=False``, or None when ``need_weights=False``."""
        if query.is_nested or key.is_nested or value.is_nested:
            raise AssertionError(
                "MultiheadAttention does not support NestedTensor outside of its fast path. The fast path was not "
                f"hit because {self._why_not_fast_path(query, key, value)}"
            )
        batched = query.ndim == 3
        key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype, attn_mask, "attn_mask")
        self._check_shapes(query, key, value, key_padding_mask, attn_mask)
        if self.batch_first and batched:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        out, weights = self._attend(query, key, value, key_padding_mask, need_weights, attn_mask, is_causal)
        if weights is not None and average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            return out.squeeze(1), (None if weights is None else weights.squeeze(0))
        return (out.transpose(0, 1) if self.batch_first else out), weights

    def _why_not_fast_path(self, query: Tensor, key: Tensor, value: Tensor) -> str:
        """torch's reason (its first, in its order) for not taking its inference fast path: nested inputs need
        it there (we have none, so they are refused with this reason)."""
        checks = (
            (query.dim() != 3, f"input not batched; expected query.dim() of 3 but got {query.dim()}"),
            (query is not key or key is not value, "non-self attention was used (query, key, and value are not the "
             "same Tensor)"),
            (self.training, "training is enabled"),
            (self.num_heads % 2 != 0, "self.num_heads is not even"),
            (not self.batch_first, "batch_first was not True"),
            (self.bias_k is not None, "self.bias_k was not None"),
            (self.bias_v is not None, "self.bias_v was not None"),
            (self.add_zero_attn, "add_zero_attn was enabled"),
            (not self._qkv_same_embed_dim, "_qkv_same_embed_dim was not True"),
        )  # fmt: skip
        return next((why for hit, why in checks if hit), "some Tensor argument has_torch_function")

    def _check_shapes(
        self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None, attn_mask: Tensor | None
    ) -> None:
        """torch's ``_mha_shape_check``: batched (3-D) or unbatched (2-D) inputs, masks to match."""
        if query.ndim == 3:
            if key.ndim != 3 or value.ndim != 3:
                raise AssertionError(
                    f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but found {key.ndim}-D and "
                    f"{value.ndim}-D tensors respectively"
                )
            if key_padding_mask is not None and key_padding_mask.ndim != 2:
                raise AssertionError(
                    f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found "
                    f"{key_padding_mask.ndim}-D tensor instead"
                )
            if attn_mask is not None and attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                    f"{attn_mask.ndim}-D tensor instead"
                )
        elif query.ndim == 2:
            if key.ndim != 2 or value.ndim != 2:
                raise AssertionError(
                    f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found {key.ndim}-D and "
                    f"{value.ndim}-D tensors respectively"
                )
            if key_padding_mask is not None and key_padding_mask.ndim != 1:
                raise AssertionError(
                    f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but found "
                    f"{key_padding_mask.ndim}-D tensor instead"
                )
            if attn_mask is not None and attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                    f"{attn_mask.ndim}-D tensor instead"
                )
        else:
            raise AssertionError(
                f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor"
            )

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v = the input projections (one weight (3E, E) or three, and the biases' thirds)."""
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3, 0)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3, 0)
        if query.shape[-1] != e:
            raise AssertionError(f"was expecting embedding dimension of {e}, but got {query.shape[-1]}")
        if not self._qkv_same_embed_dim:  # torch's _in_projection checks each weight against its input
            for what, w, x in (("key", w_k, key), ("value", w_v, value)):
                if tuple(w.shape) != (e, x.shape[-1]):
                    raise AssertionError(
                        f"expecting {what} weights shape of {(e, x.shape[-1])}, but got {tuple(w.shape)} "
                        f"({what} of shape {tuple(x.shape)}; {'kdim' if what == 'key' else 'vdim'} is {w.shape[1]})"
                    )
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)

    def _attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        need_weights: bool,
        attn_mask: Tensor | None,
        is_causal: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """torch's ``multi_head_attention_forward`` on time-major (L, N, E) inputs; weights per head."""
        tgt_len, bsz, embed_dim = query.shape
        src_len = key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim
        key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
                "`generate_square_subsequent_mask` to create this mask."
            )
        if is_causal and key_padding_mask is None and not need_weights:
            attn_mask = None  # scaled_dot_product_attention applies the causal mask itself
        else:
            attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
            is_causal = False if key_padding_mask is not None else is_causal
        if self._qkv_same_embed_dim and tuple(key.shape) != tuple(value.shape):
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(
                f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's {tuple(value.shape[:2])}"
            )
        q, k, v = self._project(query, key, value)
        if attn_mask is not None:
            if attn_mask.ndim == 2:
                if tuple(attn_mask.shape) != (tgt_len, src_len):
                    raise RuntimeError(
                        f"The shape of the 2D attn_mask is torch.Size({list(attn_mask.shape)}), but should be "
                        f"{(tgt_len, src_len)}."
                    )
                attn_mask = attn_mask.unsqueeze(0)
            elif tuple(attn_mask.shape) != (bsz * heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is torch.Size({list(attn_mask.shape)}), but should be "
                    f"{(bsz * heads, tgt_len, src_len)}."
                )
        if self.bias_k is not None and self.bias_v is not None:
            k = fn.cat([k, self.bias_k.expand(1, bsz, embed_dim)], 0)
            v = fn.cat([v, self.bias_v.expand(1, bsz, embed_dim)], 0)
            attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
            key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
        q = q.reshape(tgt_len, bsz * heads, head_dim).transpose(0, 1)  # (N * heads, L, head_dim)
        k = k.reshape(k.shape[0], bsz * heads, head_dim).transpose(0, 1)
        v = v.reshape(v.shape[0], bsz * heads, head_dim).transpose(0, 1)
        if self.add_zero_attn:
            zeros = creation.zeros(bsz * heads, 1, head_dim, dtype=k.dtype, device=k.device)
            k, v = fn.cat([k, zeros], 1), fn.cat([v, zeros], 1)
            attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
            key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
        src_len = k.shape[1]
        if key_padding_mask is not None:
            for i, want in enumerate((bsz, src_len)):  # torch's check and wording ("padded")
                if key_padding_mask.ndim <= i or key_padding_mask.shape[i] != want:
                    got = key_padding_mask.shape[i] if key_padding_mask.ndim > i else None
                    raise AssertionError(f"Expected key_padded_mask.shape[{i}] to be {want}, but got {got}")
            kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, heads, 1, src_len)
            kpm = kpm.reshape(bsz * heads, 1, src_len)
            attn_mask = kpm if attn_mask is None else attn_mask + kpm
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * math.sqrt(1.0 / head_dim)).matmul(k.transpose(-2, -1))
            if attn_mask is not None:
                scores = scores + attn_mask
            weights = F.softmax(scores, dim=-1)
            if dropout_p > 0.0:
                weights = F.dropout(weights, dropout_p)
            out = weights.matmul(v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
            out = F.linear(out, self.out_proj.weight, self.out_proj.bias).reshape(tgt_len, bsz, embed_dim)
            return out, weights.reshape(bsz, heads, tgt_len, src_len)
        if attn_mask is not None:
            attn_mask = attn_mask.reshape((1, 1, -1, src_len) if attn_mask.shape[0] == 1 else (bsz, heads, -1, src_len))
        q, k, v = (t.reshape(bsz, heads, t.shape[1], head_dim) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
        out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
        out = F.linear(out, self.out_proj.weight, self.out_proj.bias).reshape(tgt_len, bsz, embed_dim)
        return out, None


__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]
