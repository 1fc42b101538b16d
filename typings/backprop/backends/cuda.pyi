# The type checkers' view of backprop.backends.cuda: the module in the top-level backends/ folder
# (backprop/__init__.py loads that folder as backprop.backends; see pyproject.toml [tool.mypy]).
from backends.cuda import *  # noqa: F403
