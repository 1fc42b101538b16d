"""Gradient clipping (torch.nn.utils names), parameters as one vector, ``skip_init``."""

from __future__ import annotations

from backprop.nn.utils import clip_grad as clip_grad  # noqa: E402  torch.nn.utils.clip_grad (the clipping functions)
from backprop.nn.utils import convert_parameters as convert_parameters  # noqa: E402  (parameters_to_vector, ...)
from backprop.nn.utils import fusion as fusion  # noqa: E402  torch.nn.utils.fusion (fuse_conv_bn_eval, ...)
from backprop.nn.utils import init as init  # noqa: E402  torch.nn.utils.init (skip_init)
from backprop.nn.utils import memory_format as memory_format  # noqa: E402  (layout no-ops: tensors stay C order)
from backprop.nn.utils import parametrizations as parametrizations  # noqa: E402  weight_norm, orthogonal, ...
from backprop.nn.utils import parametrize as parametrize  # noqa: E402  register_parametrization, cached, ...
from backprop.nn.utils import prune as prune  # noqa: E402  torch.nn.utils.prune (l1_unstructured, remove, ...)
from backprop.nn.utils import rnn as rnn  # noqa: E402  torch.nn.utils.rnn (pad_sequence, PackedSequence, ...)
from backprop.nn.utils import stateless as stateless  # noqa: E402  torch.nn.utils.stateless.functional_call
from backprop.nn.utils.clip_grad import clip_grad_norm as clip_grad_norm
from backprop.nn.utils.clip_grad import clip_grad_norm_ as clip_grad_norm_
from backprop.nn.utils.clip_grad import clip_grad_value_ as clip_grad_value_
from backprop.nn.utils.clip_grad import clip_grads_with_norm_ as clip_grads_with_norm_
from backprop.nn.utils.clip_grad import get_total_norm as get_total_norm
from backprop.nn.utils.convert_parameters import parameters_to_vector as parameters_to_vector  # noqa: E402
from backprop.nn.utils.convert_parameters import vector_to_parameters as vector_to_parameters  # noqa: E402
from backprop.nn.utils.fusion import fuse_conv_bn_eval as fuse_conv_bn_eval  # noqa: E402
from backprop.nn.utils.fusion import fuse_conv_bn_weights as fuse_conv_bn_weights  # noqa: E402
from backprop.nn.utils.fusion import fuse_linear_bn_eval as fuse_linear_bn_eval  # noqa: E402
from backprop.nn.utils.fusion import fuse_linear_bn_weights as fuse_linear_bn_weights  # noqa: E402
from backprop.nn.utils.init import skip_init as skip_init
from backprop.nn.utils.memory_format import convert_conv2d_weight_memory_format as convert_conv2d_weight_memory_format  # noqa: E402,E501
from backprop.nn.utils.memory_format import convert_conv3d_weight_memory_format as convert_conv3d_weight_memory_format  # noqa: E402,E501
from backprop.nn.utils.spectral_norm import remove_spectral_norm as remove_spectral_norm  # noqa: E402
from backprop.nn.utils.spectral_norm import spectral_norm as spectral_norm  # noqa: E402  (pre-hook form)
from backprop.nn.utils.weight_norm import remove_weight_norm as remove_weight_norm  # noqa: E402
from backprop.nn.utils.weight_norm import weight_norm as weight_norm  # noqa: E402  (deprecated pre-hook form)
