"""``backprop.distributed.tensor.parallel`` (tensor parallelism) and DTensor sharding propagation.

One 2-rank job per engine (MPI, skipped without mpi4py/mpiexec, and TCP "gloo") runs
``tests/distributed_tp_worker.py``: every op case's output placement and local shapes must be real torch's
(computed here on torch's ``fake`` process group, rank by rank), its full value and the inputs' gradients the
one-process op's; the tutorial's Llama-style model trained with AdamW under the TP plan (with and without
``loss_parallel``) must equal the model trained in one process. Not bitwise: a rowwise Linear sums its two
halves of the inner product and then all-reduces, where one process sums along the whole row (float64: 1e-12).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed_tp_worker import CASES, EXTRA, placement, run_op
from test_distributed import ENGINES, _run

WORKER = Path(__file__).resolve().parent / "distributed_tp_worker.py"
SCENARIOS = ["ops", "llama", "llama_loss_parallel"]


@pytest.fixture(scope="module", params=ENGINES)
def job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One two-process job per engine running every scenario; rank 0's results by scenario."""
    out = tmp_path_factory.mktemp(str(request.param))
    proc = _run([str(WORKER), str(out), *SCENARIOS], timeout=240, engine=request.param, n=2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {s: json.loads((out / f"{s}.json").read_text()) for s in SCENARIOS}
    for name in ("llama", "llama_loss_parallel"):
        assert "error" not in results[name], results[name]["error"]
    return results


def _torch_layouts() -> dict[str, tuple[str, list[list[int]]]]:
    """Each case on torch's fake 2-rank process group: the output placement and both ranks' local shapes."""
    torch = pytest.importorskip("torch")
    import torch.distributed as tdist
    import torch.nn.functional as tF
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor as TDTensor
    from torch.distributed.tensor import Partial as TPartial
    from torch.distributed.tensor import Replicate as TReplicate
    from torch.distributed.tensor import Shard as TShard
    from torch.distributed.tensor import distribute_tensor
    from torch.testing._internal.distributed.fake_pg import FakeStore

    out: dict[str, tuple[str, list[list[int]]]] = {}
    for rank in range(2):
        if tdist.is_initialized():
            tdist.destroy_process_group()
        tdist.init_process_group("fake", rank=rank, world_size=2, store=FakeStore())
        mesh = init_device_mesh("cpu", (2,))
        for name, op, case in CASES:
            xs = []
            for spec in case:
                p = placement(spec[-1] if spec[0] == "I" else spec[1])
                t = torch.randint(0, spec[2], spec[1]) if spec[0] == "I" else torch.randn(*spec[0], dtype=torch.float64)
                if p.is_partial():
                    xs.append(TDTensor.from_local(t, mesh, [TPartial()], shape=t.shape, stride=t.stride()))
                else:
                    tp = TReplicate() if p.is_replicate() else TShard(p.dim)
                    xs.append(distribute_tensor(t, mesh, [tp], src_data_rank=None))  # (fake: no data moves)
            try:
                res = run_op(torch, tF, op, xs)
            except RuntimeError as e:  # (the fake group's limits: _MaskPartial's buffer)
                out[name] = (f"error: {e}", [[], []])
                continue
            shapes = out.get(name, (None, [[], []]))[1]
            shapes[rank] = list(res.to_local().shape)
            out[name] = (repr(res.placements[0]), shapes)
    tdist.destroy_process_group()
    return out


@pytest.fixture(scope="module")
def torch_layouts() -> dict[str, tuple[str, list[list[int]]]]:
    return _torch_layouts()


# differences on purpose (README): torch's Partial(avg) and _MaskPartial are Partial(sum) here
RENAMED = {"Partial(avg)": "Partial(sum)"}


def test_op_layouts_are_torchs(job: dict[str, Any], torch_layouts: dict[str, Any]) -> None:
    mine = job["ops"]
    for name, _, _ in CASES:
        assert "error" not in mine[name], (name, mine[name])
        placement_, shapes = torch_layouts[name]
        if placement_.startswith("error"):
            continue
        if placement_.startswith("_MaskPartial"):
            placement_ = "Partial(sum)"
        assert (mine[name]["placement"], mine[name]["local_shapes"]) == (RENAMED.get(placement_, placement_), shapes), (
            name
        )


def test_op_values_and_gradients(job: dict[str, Any]) -> None:
    for name, _, _ in CASES + EXTRA:
        r = job["ops"][name]
        assert r["value_ok"] and all(r["grads_ok"]), (name, r)
    heads = job["ops"]["sdpa S1 heads"]
    assert heads["placement"] == "Shard(dim=1)" and heads["local_shapes"] == [[2, 2, 5, 6]] * 2


@pytest.mark.parametrize("name", ["llama", "llama_loss_parallel"])
def test_tp_training_equals_one_process(job: dict[str, Any], name: str) -> None:
    r = job[name]
    assert r["same_keys"] and r["moved"] > 1e-2
    assert r["max_diff"] < 1e-12, r["max_diff"]
    np.testing.assert_allclose(r["losses"], r["ref_losses"], rtol=1e-13)
    pl, local = r["placements"], r["local_shapes"]
    assert pl["tok_embeddings.weight"] == "Shard(dim=0)" and local["tok_embeddings.weight"] == [8, 8]
    assert pl["layers.0.attention.wq.weight"] == "Shard(dim=0)" and local["layers.0.attention.wq.weight"] == [4, 8]
    assert pl["layers.0.attention.wo.weight"] == "Shard(dim=1)" and local["layers.0.attention.wo.weight"] == [8, 4]
    assert (
        pl["layers.0.feed_forward.w1.bias"] == "Shard(dim=0)" and pl["layers.0.feed_forward.w2.bias"] == "Replicate()"
    )
    assert pl["layers.0.attention_norm.weight"] == "Replicate()" and pl["output.weight"] == "Shard(dim=0)"


def test_style_reprs_are_torchs() -> None:
    pytest.importorskip("torch")
    import torch.distributed.tensor.parallel as tpar
    from torch.distributed.tensor import Replicate as TReplicate
    from torch.distributed.tensor import Shard as TShard

    from backprop.distributed.tensor import Replicate, Shard
    from backprop.distributed.tensor import parallel as mine

    pairs = [
        (mine.ColwiseParallel(), tpar.ColwiseParallel()),
        (mine.RowwiseParallel(output_layouts=Shard(1)), tpar.RowwiseParallel(output_layouts=TShard(1))),
        (mine.SequenceParallel(), tpar.SequenceParallel()),
        (
            mine.PrepareModuleInput(input_layouts=(Shard(1), None), desired_input_layouts=(Replicate(), None)),
            tpar.PrepareModuleInput(input_layouts=(TShard(1), None), desired_input_layouts=(TReplicate(), None)),
        ),
        (
            mine.PrepareModuleOutput(output_layouts=Replicate(), desired_output_layouts=Shard(0)),
            tpar.PrepareModuleOutput(output_layouts=TReplicate(), desired_output_layouts=TShard(0)),
        ),
    ]
    for a, b in pairs:
        assert repr(a) == repr(b)


def test_world_of_one_plan_and_errors() -> None:
    """A world of one: the plan shards nothing away, the outputs are the plain model's; torch's errors."""
    import backprop as bp
    from backprop import distributed as dist
    from backprop import nn
    from backprop.distributed.device_mesh import init_device_mesh
    from backprop.distributed.tensor import DTensor, Replicate, distribute_tensor
    from backprop.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    dist.init_process_group(mpi=False)
    try:
        mesh = init_device_mesh("cpu", (1,))
        bp.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
        ref = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
        ref.load_state_dict(model.state_dict())
        parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
        assert isinstance(model[0].weight, DTensor) and isinstance(model[0].weight, nn.Parameter)
        x = bp.randn(5, 4)
        assert np.allclose(model(x).detach().numpy(), ref(x).detach().numpy(), atol=1e-6)
        with pytest.warns(UserWarning, match="could not be resolved"):
            parallelize_module(model, mesh, {"nope": ColwiseParallel()})
        with pytest.raises(NotImplementedError, match="only support nn.Linear and nn.Embedding"):
            parallelize_module(nn.ReLU(), mesh, ColwiseParallel())
        with pytest.raises(TypeError, match="Expect Union"):
            parallelize_module(model, mesh, [ColwiseParallel()])  # type: ignore[arg-type]
        d = distribute_tensor(bp.ones(2, 3), mesh, [Replicate()])
        with pytest.raises(RuntimeError, match="got mixed torch.Tensor and DTensor"):
            d + bp.ones(2, 3)
    finally:
        dist.destroy_process_group()
