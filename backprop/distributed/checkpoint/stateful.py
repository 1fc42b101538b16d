"""``torch.distributed.checkpoint.stateful``: objects that ``save``/``load`` ask for their state."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Stateful", "StatefulT"]


@runtime_checkable
class Stateful(Protocol):
    """An object with ``state_dict()`` and ``load_state_dict(sd)`` (torch's protocol): a top-level value of a
    state dict given to ``save``/``load`` is replaced by its state dict, and loaded back through it."""

    def state_dict(self) -> dict[str, Any]:
        """The object's state to save."""
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the object from ``state_dict`` (filled by ``load``)."""
        ...


StatefulT = Stateful
