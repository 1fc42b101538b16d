"""torch.nn.modules.container: the containers and the deprecated ``Container``."""

from backprop.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from backprop.nn.legacy import Container
from backprop.nn.modules.module import _addindent

__all__ = ["Container", "ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Sequential", "_addindent"]
