"""``torch._inductor``: only ``torch._inductor.config``, whose switches training scripts set before
``torch.compile`` (``config.coordinate_descent_tuning = True``). backprop has no Inductor, so any option may be
set and reads back as set (backprop/_inductor/config.py); nothing reads them."""

from backprop._inductor import config

__all__ = ["config"]
