"""``bp.autograd.anomaly_mode`` (torch.autograd.anomaly_mode): the module that holds ``detect_anomaly`` and
``set_detect_anomaly``, so ``from torch.autograd.anomaly_mode import detect_anomaly`` runs unchanged; both
live in ``grad_mode`` here (the flag is one of the grad-mode switches)."""

from backprop.autograd.grad_mode import detect_anomaly, set_detect_anomaly

__all__ = ["detect_anomaly", "set_detect_anomaly"]
