# The program keeps its original's spelling (super(ToyModel, self), % formatting, DDP).
# ruff: noqa: N817, UP008, UP031
"""pytorch/examples distributed/ddp/example.py (``demo_basic``) and the ``demo_checkpoint`` of its former
``main.py``, under torchrun on the CPU.

Edits: backend "gloo" (no accelerator: torch's CPU build has no ``current_accelerator``), the model stays on
the CPU (DDP without ``device_ids``), ``torch.randn`` draws from a NumPy stream per rank (``_common.randn``),
losses recorded, rank 0's initial weights shared, each rank's final weights written; the checkpoint lives in
``EX_OUT`` instead of the temp folder. The Windows FileStore branch and the GPU-count check are left out.
"""

import os

import _common
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP


class ToyModel(nn.Module):
    def __init__(self):
        super(ToyModel, self).__init__()
        self.net1 = nn.Linear(10, 10)
        self.relu = nn.ReLU()
        self.net2 = nn.Linear(10, 5)

    def forward(self, x):
        return self.net2(self.relu(self.net1(x)))


def demo_basic(rank):
    print(f"[{os.getpid()}] rank = {dist.get_rank()}, " + f"world_size = {dist.get_world_size()}")

    model = ToyModel()
    _common.same_init(model, "basic")
    ddp_model = DDP(model)

    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(ddp_model.parameters(), lr=0.001)

    optimizer.zero_grad()
    outputs = ddp_model(_common.randn(20, 10))
    labels = _common.randn(20, 5)
    loss = loss_fn(outputs, labels)
    loss.backward()
    optimizer.step()
    _common.record("basic", loss=loss.item())
    _common.save_final(model, "basic")

    print(f"training completed in rank {rank}!")


def demo_checkpoint(rank):
    print(f"Running DDP checkpoint example on rank {rank}.")

    model = ToyModel()
    _common.same_init(model, "checkpoint")
    ddp_model = DDP(model)

    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(ddp_model.parameters(), lr=0.001)

    CHECKPOINT_PATH = str(_common.OUT / "model.checkpoint")
    if rank == 0:
        # All processes should see same parameters as they all start from same
        # random parameters and gradients are synchronized in backward passes.
        # Therefore, saving it in one process is sufficient.
        torch.save(ddp_model.state_dict(), CHECKPOINT_PATH)

    # Use a barrier() to make sure that process 1 loads the model after process
    # 0 saves it.
    dist.barrier()
    # configure map_location properly
    map_location = {"cuda:%d" % 0: "cuda:%d" % rank}
    ddp_model.load_state_dict(torch.load(CHECKPOINT_PATH, map_location=map_location))

    optimizer.zero_grad()
    outputs = ddp_model(_common.randn(20, 10))
    labels = _common.randn(20, 5)
    loss_fn = nn.MSELoss()
    loss = loss_fn(outputs, labels)
    loss.backward()
    optimizer.step()
    _common.record("checkpoint", loss=loss.item())
    _common.save_final(model, "checkpoint")

    # Use a barrier() to make sure that all processes have finished reading the
    # checkpoint
    dist.barrier()

    if rank == 0:
        os.remove(CHECKPOINT_PATH)


def main():
    # These are the parameters used to initialize the process group
    env_dict = {
        key: os.environ[key]
        for key in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
    }
    rank = int(env_dict["RANK"])

    print(f"[{os.getpid()}] Initializing process group with: {env_dict}")
    dist.init_process_group(backend="gloo")

    print(
        f"[{os.getpid()}]: world_size = {dist.get_world_size()}, "
        + f"rank = {dist.get_rank()}, backend={dist.get_backend()} \n",
        end="",
    )

    demo_basic(rank)
    demo_checkpoint(rank)

    # Tear down the process group
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
