"""torch.nn.modules.transformer: the Transformer modules and torch's private helpers' names."""

from backprop.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    _detect_is_causal_mask,
    _generate_square_subsequent_mask,
)
from backprop.nn.transformer import _activation as _get_activation_fn
from backprop.nn.transformer import _clones as _get_clones
from backprop.nn.transformer import _seq_len as _get_seq_len

__all__ = [
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
    "_detect_is_causal_mask", "_generate_square_subsequent_mask", "_get_activation_fn", "_get_clones", "_get_seq_len",
]  # fmt: skip
