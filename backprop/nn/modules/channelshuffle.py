"""torch.nn.modules.channelshuffle: ``ChannelShuffle``."""

from backprop.nn.layers import ChannelShuffle

__all__ = ["ChannelShuffle"]
