"""torch.utils.data._utils's import paths, which older code and libraries spell out
(``from torch.utils.data._utils.collate import default_collate``, ``..._utils.worker.get_worker_info``):
the very modules ``bp.utils.data.collate`` and ``bp.utils.data.worker`` (so a change to
``default_collate_fn_map`` made through either name is seen by the DataLoader)."""

from __future__ import annotations

import sys as _sys

from backprop.utils.data import collate, worker

_sys.modules[__name__ + ".collate"] = collate
_sys.modules[__name__ + ".worker"] = worker

__all__ = ["collate", "worker"]
