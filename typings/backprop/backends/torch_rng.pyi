# The type checkers' view of backprop.backends.torch_rng: the module in the top-level backends/ folder
# (backprop/__init__.py loads that folder as backprop.backends; see pyproject.toml [tool.mypy]).
from backends.torch_rng import *  # noqa: F403
