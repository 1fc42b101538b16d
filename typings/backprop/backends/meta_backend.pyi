# The type checkers' view of backprop.backends.meta_backend: the module in the top-level backends/ folder
# (backprop/__init__.py loads that folder as backprop.backends; see pyproject.toml [tool.mypy]).
from backends.meta_backend import *  # noqa: F403
