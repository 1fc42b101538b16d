"""torch.ao.quantization: observers, fake quantization, qconfigs, QAT preparation and dynamic quantization."""

from backprop.ao.quantization.fake_quantize import *  # noqa: F403
from backprop.ao.quantization.fake_quantize import __all__ as _fq_all
from backprop.ao.quantization.observer import *  # noqa: F403
from backprop.ao.quantization.observer import __all__ as _obs_all
from backprop.ao.quantization.qconfig import *  # noqa: F403
from backprop.ao.quantization.qconfig import __all__ as _qc_all
from backprop.ao.quantization.quantize import *  # noqa: F403
from backprop.ao.quantization.quantize import __all__ as _q_all

__all__ = [*_fq_all, *_obs_all, *_qc_all, *_q_all]
