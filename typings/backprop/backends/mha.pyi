# The type checkers' view of backprop.backends.mha: the module in the top-level backends/ folder
# (backprop/__init__.py loads that folder as backprop.backends; see pyproject.toml [tool.mypy]).
from backends.mha import *  # noqa: F403
