"""``bp.utils.model_zoo`` (torch.utils.model_zoo): ``load_url`` is ``bp.hub.load_state_dict_from_url``, which
reads checkpoints already in the hub's cache (nothing is downloaded here)."""

from __future__ import annotations

from backprop.hub import load_state_dict_from_url as load_url

__all__ = ["load_url"]
