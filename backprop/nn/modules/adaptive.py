"""torch.nn.modules.adaptive: ``AdaptiveLogSoftmaxWithLoss`` and its ``_ASMoutput`` result."""

from backprop.nn.adaptive import AdaptiveLogSoftmaxWithLoss, _ASMoutput

__all__ = ["AdaptiveLogSoftmaxWithLoss", "_ASMoutput"]
