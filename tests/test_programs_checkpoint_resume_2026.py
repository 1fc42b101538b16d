"""Checkpoint programs as torch users write them, run with torch 2.13 and with backprop standing in for it:
inspecting a checkpoint before a ``weights_only`` load (``torch.serialization.get_unsafe_globals_in_checkpoint``)
and the module's constants and warning class that old checkpoint code names."""

from __future__ import annotations

import collections
import io
import warnings
from pathlib import Path
from typing import Any

import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs compare against torch")


def _unsafe_globals(T: Any, obj: Any, allow: list[Any] | None = None) -> list[str]:
    """The program: save ``obj``, then ask which globals a weights-only load would refuse."""
    buf = io.BytesIO()
    T.save(obj, buf)
    buf.seek(0)
    with T.serialization.safe_globals(allow or []):
        return sorted(T.serialization.get_unsafe_globals_in_checkpoint(buf))


def _checkpoint(T: Any) -> dict[str, Any]:
    T.manual_seed(0)
    model = T.nn.Sequential(T.nn.Linear(3, 4), T.nn.BatchNorm1d(4))
    opt = T.optim.AdamW(model.parameters(), lr=1e-2)
    sched = T.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    scaler = T.amp.GradScaler("cpu")
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": 3,
        "rng": T.get_rng_state(),
        "extra": collections.OrderedDict(best=0.5, tags={"a", "b"}),
    }


def test_a_full_checkpoint_has_no_unsafe_globals() -> None:
    assert _unsafe_globals(bp, _checkpoint(bp)) == _unsafe_globals(torch, _checkpoint(torch)) == []


def test_a_pickled_module_is_named_until_allowed() -> None:
    ours = _unsafe_globals(bp, {"model": bp.nn.Linear(2, 2)})
    theirs = _unsafe_globals(torch, {"model": torch.nn.Linear(2, 2)})
    assert len(ours) == len(theirs) == 1
    assert ours[0].endswith(".Linear") and ours[0].startswith("backprop.")
    assert _unsafe_globals(bp, {"model": bp.nn.Linear(2, 2)}, [bp.nn.Linear]) == []
    assert _unsafe_globals(torch, {"model": torch.nn.Linear(2, 2)}, [torch.nn.Linear]) == []


def test_the_names_are_those_load_refuses() -> None:
    buf = io.BytesIO()
    bp.save({"model": bp.nn.Linear(2, 2)}, buf)
    (name,) = bp.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(buf.getvalue()))
    with pytest.raises(bp.serialization.pickle.UnpicklingError, match=f"GLOBAL {name} was not an allowed global"):
        bp.load(io.BytesIO(buf.getvalue()), weights_only=True)


def test_a_path_and_a_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save({"w": torch.ones(2), "fn": torch.nn.functional.relu}, path)
    assert bp.serialization.get_unsafe_globals_in_checkpoint(path) == ["torch.nn.functional.relu"]
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == ["torch.nn.functional.relu"]


@pytest.mark.parametrize("data", [b"not a checkpoint at all", b""])
def test_not_a_checkpoint(data: bytes) -> None:
    with pytest.raises(ValueError) as theirs:
        torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    with pytest.raises(ValueError) as ours:
        bp.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    assert str(ours.value) == str(theirs.value)


def test_default_protocol_and_source_change_warning() -> None:
    assert bp.serialization.DEFAULT_PROTOCOL == torch.serialization.DEFAULT_PROTOCOL == 2
    for T in (torch, bp):  # old checkpoint code silences this class before loading whole modules
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=T.serialization.SourceChangeWarning)
            buf = io.BytesIO()
            T.save({"w": T.ones(2)}, buf, pickle_protocol=T.serialization.DEFAULT_PROTOCOL)
            buf.seek(0)
            assert T.load(buf, weights_only=True)["w"].tolist() == [1.0, 1.0]
        assert issubclass(T.serialization.SourceChangeWarning, Warning)
