"""``bp.save`` / ``bp.load``: state dicts and tensors round trip, saves are atomic, and loading refuses
arbitrary objects unless told the file is trusted (torch's ``weights_only`` default)."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.tensor import _rebuild_tensor


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
    with pytest.raises(TypeError, match="map_location must be a device, a device name, a dict or a function"):
        bp.load(path, map_location=3)


class _SavedOnCuda:
    """Pickles as a tensor saved on cuda:0 (what a GPU job's ``torch.save`` leaves), with no GPU here."""

    def __reduce__(self) -> Any:
        return (_rebuild_tensor, (bp.Tensor, np.arange(3, dtype=np.float32), "cuda:0", False))


def test_load_map_location_dict_and_function(tmp_path: Path) -> None:
    """torch's other two forms: a dict of device names (pytorch/examples' DDP checkpoint demo passes
    ``{"cuda:0": "cuda:%d" % rank}``) and a function of (storage, saved location)."""
    path = tmp_path / "gpu.pt"
    bp.save({"w": _SavedOnCuda(), "b": bp.ones(2)}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mapped away from the GPU: no "unusable here" warning
        got = bp.load(path, map_location={"cuda:0": "cpu", bp.device("cuda:1"): "cpu"})
    assert got["w"].device == bp.device("cpu") and got["w"].tolist() == [0.0, 1.0, 2.0] and got["b"].tolist() == [1, 1]
    seen: list[str] = []

    def keep_on_cpu(storage: Any, location: str) -> Any:
        seen.append(location)
        return storage

    got = bp.load(path, map_location=keep_on_cpu)
    assert seen == ["cuda:0", "cpu"] and got["w"].device == bp.device("cpu") and got["w"].tolist() == [0, 1, 2]
    got = bp.load(path, map_location=lambda storage, loc: None if loc == "cpu" else storage * 2)
    assert got["w"].tolist() == [0, 2, 4] and got["b"].tolist() == [1, 1]
    with pytest.warns(UserWarning, match="saved on cuda:0, which is unusable here"):  # (not in the dict: stays)
        got = bp.load(path, map_location={"cuda:1": "cpu"})
    assert got["w"].device == got["b"].device == bp.device("cpu")


def test_empty_tensors_load_weights_only(tmp_path: Path) -> None:
    """A 0-element tensor (an FSDP rank's empty shard of a parameter) loads under weights_only=True: protocol 2
    pickles its empty bytes as ``bytes()``."""
    bp.save({"a": bp.zeros(0), "b": bp.zeros(4)[4:4].clone()}, tmp_path / "e.pt")
    out = bp.load(tmp_path / "e.pt")
    assert [tuple(v.shape) for v in out.values()] == [(0,), (0,)]
