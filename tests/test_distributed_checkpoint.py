"""backprop.distributed.checkpoint (DCP) and its state_dict API: torch's key layout (checked against torch in one
process), saved by FSDP on 2 ranks and loaded by FSDP on 2 and 3 ranks, DDP and one process (bitwise), errors,
atomic metadata, format_utils."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_distributed import ENGINES, _run

import backprop as bp
import backprop.distributed.checkpoint as dcp
from backprop.distributed.checkpoint.format_utils import dcp_to_torch_save, torch_save_to_dcp
from backprop.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_dcp_worker.py"


def _mlp(lib: Any) -> Any:
    return lib.nn.Sequential(lib.nn.Linear(4, 3), lib.nn.ReLU(), lib.nn.Linear(3, 2))


def _trained(steps: int = 2, seed: int = 0) -> tuple[Any, Any]:
    bp.manual_seed(seed)
    m = _mlp(bp)
    o = bp.optim.Adam(m.parameters(), lr=0.01)
    x = bp.tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))
    for _ in range(steps):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    return m, o


@pytest.mark.parametrize("engine", ENGINES)
def test_fsdp_save_reshard_load(tmp_path: Path, engine: str) -> None:
    """Saved by FSDP on 2 ranks (flat shards: save; use_orig_params: async_save): each rank wrote its half, the
    fresh 2-rank model resumes bitwise 10 uninterrupted steps; 3 ranks (FSDP and DDP), 2 ranks under DDP and one
    process (a plain module, no process group) load bitwise its full state; 3-rank FSDP continues bitwise."""
    proc = _run([str(WORKER), str(tmp_path), "dcp_save"], timeout=240, engine=engine, n=2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saved = json.loads((tmp_path / "dcp_save.json").read_text())
    assert "error" not in saved, saved.get("error")
    proc = _run([str(WORKER), str(tmp_path), "dcp_load"], timeout=240, engine=engine, n=3)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    loaded = json.loads((tmp_path / "dcp_load.json").read_text())
    assert "error" not in loaded, loaded.get("error")
    for variant in ("flat", "orig"):
        s, r = saved[variant], loaded[variant]
        assert s["local_numel"] == [702, 701]  # (each rank's parts of the 1403 parameters)
        assert [f for f in s["files"] if f.endswith(".distcp")] and ".metadata" in s["files"]
        assert len([f for f in s["files"] if f.endswith(".distcp")]) == 2
        assert s["loaded_bitwise"] and s["resumed_bitwise"] and s["ddp_loaded_bitwise"], s
        assert r["loaded_bitwise"] and r["resumed_bitwise"] and r["ddp_loaded_bitwise"], r
        # one process, no process group: a plain module and optimizer
        sys.path.insert(0, str(HERE))
        import distributed_dcp_worker as worker

        ref = {k.replace("|", "/"): v for k, v in np.load(tmp_path / f"ref_{variant}.npz").items()}
        model, opt = worker._plain(variant, ddp=False)
        worker._load_into(model, opt, tmp_path / f"ckpt_{variant}")
        assert worker._same(worker.full_arrays(model, opt), ref)


def test_state_dict_layout_matches_torch() -> None:
    """get_state_dict of the same weights after the same Adam steps: torch's keys, shapes, dtypes and values."""
    torch = pytest.importorskip("torch")
    from torch.distributed.checkpoint.state_dict import get_state_dict as torch_get_state_dict

    m, o = _trained(steps=0)
    tm = _mlp(torch)
    with torch.no_grad():
        for tp, p in zip(tm.parameters(), m.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy().copy()))
    to = torch.optim.Adam(tm.parameters(), lr=0.01)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    for _ in range(2):
        o.zero_grad()
        m(bp.tensor(x)).square().sum().backward()
        o.step()
        to.zero_grad()
        tm(torch.from_numpy(x)).square().sum().backward()
        to.step()
    msd, osd = get_state_dict(m, o)
    tmsd, tosd = torch_get_state_dict(tm, to)
    assert list(msd) == list(tmsd)
    for k in msd:
        assert tuple(msd[k].shape) == tuple(tmsd[k].shape) and str(msd[k].dtype).endswith(str(tmsd[k].dtype)[6:])
        np.testing.assert_allclose(msd[k].numpy(), tmsd[k].numpy(), rtol=1e-5, atol=1e-6)
    assert list(osd["state"]) == list(tosd["state"])
    for fqn, st in osd["state"].items():
        assert list(st) == list(tosd["state"][fqn])
        for k, v in st.items():
            tv = tosd["state"][fqn][k]
            assert tuple(v.shape) == tuple(tv.shape) and str(v.dtype).endswith(str(tv.dtype)[6:])
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-4, atol=1e-7)
    assert osd["param_groups"] == tosd["param_groups"]
    # a fresh optimizer: both make its state by a zero step (torch's _init_optim_state)
    fm = _mlp(bp)
    fo = bp.optim.Adam(fm.parameters())
    tfm = _mlp(torch)
    _, tfresh = torch_get_state_dict(tfm, torch.optim.Adam(tfm.parameters()))
    _, fresh = get_state_dict(fm, fo)
    assert {k: sorted(v) for k, v in fresh["state"].items()} == {k: sorted(v) for k, v in tfresh["state"].items()}
    assert [float(v["step"]) for v in fresh["state"].values()] == [float(v["step"]) for v in tfresh["state"].values()]
    assert all(np.all(v["exp_avg"].numpy() == 0) for v in fresh["state"].values())


def test_round_trip_stateful_and_errors(tmp_path: Path) -> None:
    """One process: the tutorial's AppState (Stateful) round trip; torch's errors for a missing key and a shape
    mismatch (CheckpointException naming the key); a checkpoint without metadata does not load."""
    m, o = _trained()

    class AppState:
        def __init__(self, model: Any, optimizer: Any) -> None:
            self.model, self.optimizer = model, optimizer

        def state_dict(self) -> dict[str, Any]:
            msd, osd = get_state_dict(self.model, self.optimizer)
            return {"model": msd, "optim": osd}

        def load_state_dict(self, sd: dict[str, Any]) -> None:
            set_state_dict(self.model, self.optimizer, model_state_dict=sd["model"], optim_state_dict=sd["optim"])

    dcp.save({"app": AppState(m, o), "epoch": 3}, checkpoint_id=tmp_path / "c")
    m2, o2 = _trained(steps=0, seed=1)
    state = {"app": AppState(m2, o2), "epoch": 0}
    dcp.load(state, checkpoint_id=tmp_path / "c")
    assert state["epoch"] == 3
    for a, b in zip(m.parameters(), m2.parameters()):
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()
    for a, b in zip(o.state_dict()["state"].values(), o2.state_dict()["state"].values()):
        assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    with pytest.raises(dcp.CheckpointException, match=r"Missing key in checkpoint state_dict: app\.model\.nope\."):
        dcp.load({"app": {"model": {"nope": bp.zeros(2)}}}, checkpoint_id=tmp_path / "c")
    with pytest.raises(
        dcp.CheckpointException, match=r"Size mismatch between saved .*\[3, 4\].* for app\.model\.0\.weight"
    ):
        dcp.load({"app": {"model": {"0.weight": bp.zeros(2)}}}, checkpoint_id=tmp_path / "c")
    dcp.load({"app": {"model": {"nope": bp.zeros(2)}}}, checkpoint_id=tmp_path / "c",
             planner=dcp.DefaultLoadPlanner(allow_partial_load=True))  # fmt: skip
    (tmp_path / "c" / ".metadata").unlink()
    with pytest.raises(dcp.CheckpointException, match="no checkpoint metadata"):
        dcp.load({"epoch": 0}, checkpoint_id=tmp_path / "c")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that dies before its metadata is written leaves the previous checkpoint loadable (its own data
    files are new names); a completed save removes the files of the one it replaced."""
    d = tmp_path / "c"
    dcp.save({"w": bp.ones(3)}, checkpoint_id=d)
    first = sorted(p.name for p in d.iterdir())

    def crash(*a: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(dcp, "_commit", crash)
    with pytest.raises(dcp.CheckpointException, match="disk gone"):
        dcp.save({"w": bp.full((3,), 2.0)}, checkpoint_id=d)
    monkeypatch.undo()
    got = {"w": bp.zeros(3)}
    dcp.load(got, checkpoint_id=d)
    assert got["w"].tolist() == [1.0, 1.0, 1.0]
    dcp.save({"w": bp.full((3,), 5.0)}, checkpoint_id=d)
    dcp.load(got, checkpoint_id=d)
    assert got["w"].tolist() == [5.0, 5.0, 5.0]
    names = {p.name for p in d.iterdir()}
    assert not set(first) - {".metadata"} & names  # (the replaced checkpoint's data file is gone)


def test_format_utils_round_trip(tmp_path: Path) -> None:
    """dcp_to_torch_save gives the nested state dict whole (a bp.save file); torch_save_to_dcp goes back."""
    m, o = _trained()
    msd, osd = get_state_dict(m, o, options=StateDictOptions(full_state_dict=True))
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=tmp_path / "c")
    dcp_to_torch_save(tmp_path / "c", tmp_path / "sd.pt")
    sd = bp.load(tmp_path / "sd.pt", weights_only=False)
    assert list(sd["model"]) == list(msd) and sd["optim"]["param_groups"] == osd["param_groups"]
    assert all(np.array_equal(sd["model"][k].numpy(), msd[k].numpy()) for k in msd)
    torch_save_to_dcp(tmp_path / "sd.pt", tmp_path / "d")
    back = {"model": {k: bp.zeros_like(v) for k, v in msd.items()}}
    dcp.load(back, checkpoint_id=tmp_path / "d", planner=dcp.DefaultLoadPlanner(allow_partial_load=True))
    assert all(np.array_equal(back["model"][k].numpy(), msd[k].numpy()) for k in msd)
