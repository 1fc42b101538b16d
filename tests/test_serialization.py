"""``bp.save`` / ``bp.load``: state dicts and tensors round trip, saves are atomic, and loading refuses
arbitrary objects unless told the file is trusted (torch's ``weights_only`` default)."""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import pytest

import backprop as bp


def test_save_and_load_round_trip_state_dicts_atomically(tmp_path: Any) -> None:
    bp.manual_seed(0)
    model = bp.nn.Sequential(bp.nn.Linear(3, 4), bp.nn.ReLU(), bp.nn.Linear(4, 2))
    opt = bp.optim.Adam(model.parameters(), lr=0.1)
    model(bp.randn(5, 3)).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.pt"
    bp.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3, "w": model[0].weight}, path)
    got = bp.load(path)
    assert got["epoch"] == 3 and list(got["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert np.array_equal(got["model"][k].numpy(), v.numpy()) and got["model"][k].dtype == v.dtype
    assert type(got["w"]) is bp.nn.Parameter and got["w"].requires_grad
    again = bp.nn.Sequential(bp.nn.Linear(3, 4), bp.nn.ReLU(), bp.nn.Linear(4, 2))
    again.load_state_dict(got["model"])
    bp.optim.Adam(again.parameters(), lr=0.1).load_state_dict(got["opt"])
    assert bp.load(path, map_location="cpu")["w"].device == bp.device("cpu")
    # a file holding arbitrary objects is refused by default, and loads when trusted
    bp.save({"f": os.getcwd}, tmp_path / "code.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"posix\.getcwd|nt\.getcwd"):
        bp.load(tmp_path / "code.pt")
    assert bp.load(tmp_path / "code.pt", weights_only=False)["f"] is os.getcwd
    # an interrupted save leaves the previous file whole, and no temporary file behind
    before = path.read_bytes()

    class Unpicklable:
        def __reduce__(self) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        bp.save({"x": Unpicklable()}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "code.pt"]
    with pytest.raises(TypeError, match="map_location must be a device or a device name"):
        bp.load(path, map_location={"cuda:0": "cpu"})
