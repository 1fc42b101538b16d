# The program keeps its original's spelling (config classes, the FSDP name).
# ruff: noqa: N801, N817
"""pytorch/examples distributed/FSDP (T5_training.py's ``fsdp_main``, utils/train_utils.py's ``train`` and
``validation``, policies/wrapping.py's transformer wrapper, model_checkpointing's ``save_model_checkpoint``) on a
small transformer, under torchrun on the CPU.

Edits: HF's T5 and the wikihow download are replaced by ``TinyT5`` (an embedding, 2 pre-norm blocks of self-
attention and an MLP, a head; called as T5 is, ``model(input_ids=, attention_mask=, labels=)["loss"]``) and
synthetic batches; backend "gloo", no ``cuda.set_device``, ``device_id`` is the CPU (torch's FSDP wants a device
where no accelerator is) and the batches stay there (``.to(local_rank)`` would name a GPU); no tqdm bars, no memory
tracking; ``bfloat_support()`` is False (no CUDA: the original's FP32 path); the model checkpoint is saved every
epoch the validation loss improves (``save_model=True``) in ``EX_OUT``. Each step's loss is recorded, the initial
weights are torch's on every rank (T5's come from ``from_pretrained``), and rank 0 writes the saved full state dict.
The checkpoint's ``FullStateDictConfig(offload_to_cpu=True, rank0_only=True)`` is the original's under backprop;
torch's run has ``offload_to_cpu=False`` (torch's CPU-only FSDP fails with it, pytorch/pytorch#188989; the tensors
are on the CPU either way).
"""

import argparse
import functools
import os
from dataclasses import dataclass

import _common
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributed.fsdp import FullStateDictConfig, ShardingStrategy, StateDictType
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

V, T, D = 16, 8, 16  # vocabulary, tokens, width


class Block(nn.Module):  # (T5Block's place)
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, 2, batch_first=True)
        self.ln2 = nn.LayerNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.ReLU(), nn.Linear(2 * D, D))

    def forward(self, x, pad):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.ff(self.ln2(x))


class TinyT5(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(V, D)
        self.block = nn.ModuleList([Block(), Block()])
        self.final_layer_norm = nn.LayerNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)

    def forward(self, input_ids, attention_mask, labels):
        x = self.shared(input_ids)
        for b in self.block:
            x = b(x, attention_mask == 0)
        logits = self.lm_head(self.final_layer_norm(x))
        return {"loss": F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100), "logits": logits}


class Synthetic(Dataset):  # (wikihow's place: token ids, a padding mask, targets -100 at the padding)
    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.ids = rng.integers(1, V, (n, T))
        lengths = rng.integers(T // 2, T + 1, n)
        self.mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
        self.ids = self.ids * self.mask
        self.targets = np.where(self.mask == 1, (self.ids * 3 + 1) % V, -100)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {
            "source_ids": torch.from_numpy(self.ids[i]),
            "source_mask": torch.from_numpy(self.mask[i]),
            "target_ids": torch.from_numpy(self.targets[i]),
        }


# ------------------------------------------------------------------ configs


@dataclass
class fsdp_config:
    mixed_precision: bool = True
    use_fp16: bool = False
    seed: int = 42
    fsdp_activation_checkpointing: bool = False
    limit_all_gathers: bool = True
    sharding_strategy: ShardingStrategy = ShardingStrategy.FULL_SHARD  # HYBRID_SHARD, SHARD_GRAD_OP
    checkpoint_type: StateDictType = StateDictType.FULL_STATE_DICT  # alternatively can use SHARDED_STATE_DICT
    save_optimizer: bool = False
    checkpoint_folder: str = "fsdp_checkpoints"
    model_save_name: str = "tiny-t5"
    verbose: bool = True


@dataclass
class train_config:
    model_name: str = "tiny-t5"
    run_validation: bool = True
    batch_size_training: int = 4
    num_workers_dataloader: int = 2
    lr: float = 0.002
    weight_decay: float = 0.0
    gamma: float = 0.85
    use_fp16: bool = False
    mixed_precision: bool = True
    save_model: bool = True


# ------------------------------------------------------------------ utils, policies, checkpointing


def setup():
    # initialize the process group
    dist.init_process_group("gloo")


def cleanup():
    dist.destroy_process_group()


def bfloat_support():
    return torch.version.cuda and torch.cuda.is_bf16_supported()


def get_t5_wrapper():
    return functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={Block})


def get_policies(cfg, rank):
    """establish current policies for mixed precision and fsdp wrapping"""
    mixed_precision_policy = None
    if cfg.mixed_precision:
        if bfloat_support() and not cfg.use_fp16:
            raise AssertionError("(not on the CPU)")
        else:
            print("bFloat16 support not present. Will use FP32, and not mixed precision")
    wrapping_policy = get_t5_wrapper()
    return mixed_precision_policy, wrapping_policy


# torch's FSDP on the CPU frees the flat parameter it "offloads" to the CPU, and the state dict fails
# (pytorch/pytorch#188989, "setStorage: ... out of bounds for storage of size 0"): torch's run leaves it off
OFFLOAD = torch.__name__ != "torch" or torch.cuda.is_available()
fullstate_save_policy = FullStateDictConfig(offload_to_cpu=OFFLOAD, rank0_only=True)


def save_model_checkpoint(model, optimizer, rank, cfg, epoch=1):
    """saving model via rank0 cpu streaming and full_state_dict"""
    with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, fullstate_save_policy):
        cpu_state = model.state_dict()
    if cfg.verbose:
        print(f"saving process: rank {rank}  done w model state_dict\n")
    _common.record("fsdp-state", rank=rank, keys=len(cpu_state))

    if rank == 0:
        print("--> saving model ...")
        save_dir = _common.OUT / cfg.checkpoint_folder
        save_dir.mkdir(parents=True, exist_ok=True)
        save_name = cfg.model_save_name + "-" + str(epoch) + ".pt"
        save_full_path = str(save_dir) + "/" + save_name
        torch.save(cpu_state, save_full_path)
        if cfg.verbose:
            print(f"model checkpoint saved for epoch {epoch} at {save_full_path}\n")
        # (the comparison's copy: the saved file read back, as NumPy arrays)
        saved = torch.load(save_full_path)
        np.savez(_common.OUT / "fsdp-final-rank0.npz", **{k: v.cpu().numpy() for k, v in saved.items()})


def train(args, model, rank, world_size, train_loader, optimizer, epoch, sampler=None):
    model.train()
    local_rank = int(os.environ["LOCAL_RANK"])
    fsdp_loss = torch.zeros(2)

    if sampler:
        sampler.set_epoch(epoch)
    for batch in train_loader:
        for key in batch.keys():
            batch[key] = batch[key].to("cpu")
        optimizer.zero_grad()
        output = model(input_ids=batch["source_ids"], attention_mask=batch["source_mask"], labels=batch["target_ids"])
        loss = output["loss"]
        loss.backward()
        optimizer.step()
        fsdp_loss[0] += loss.item()
        fsdp_loss[1] += len(batch)
        _common.record("fsdp", local_rank=local_rank, epoch=epoch, loss=loss.item())

    dist.all_reduce(fsdp_loss, op=dist.ReduceOp.SUM)
    train_accuracy = fsdp_loss[0] / fsdp_loss[1]

    if rank == 0:
        print(f"Train Epoch: \t{epoch}, Loss: \t{train_accuracy:.4f}")
    return train_accuracy


def validation(model, rank, world_size, val_loader):
    model.eval()
    fsdp_loss = torch.zeros(2)
    with torch.no_grad():
        for batch in val_loader:
            for key in batch.keys():
                batch[key] = batch[key].to("cpu")
            output = model(
                input_ids=batch["source_ids"], attention_mask=batch["source_mask"], labels=batch["target_ids"]
            )
            fsdp_loss[0] += output["loss"].item()  # sum up batch loss
            fsdp_loss[1] += len(batch)

    dist.all_reduce(fsdp_loss, op=dist.ReduceOp.SUM)
    val_loss = fsdp_loss[0] / fsdp_loss[1]
    if rank == 0:
        print(f"Validation Loss: {val_loss:.4f}")
    return val_loss


# ------------------------------------------------------------------ T5_training.py


def fsdp_main(args):
    model = TinyT5()
    _common.same_init(model, "fsdp", ranks="all")

    local_rank = int(os.environ["LOCAL_RANK"])  # noqa: F841 - (the original's; the CPU needs no device)
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])

    train_dataset = Synthetic(48, seed=1)
    val_dataset = Synthetic(16, seed=2)

    sampler1 = DistributedSampler(train_dataset, rank=rank, num_replicas=world_size, shuffle=True)
    sampler2 = DistributedSampler(val_dataset, rank=rank, num_replicas=world_size)

    setup()

    train_kwargs = {"batch_size": args.batch_size, "sampler": sampler1}
    test_kwargs = {"batch_size": args.test_batch_size, "sampler": sampler2}
    cuda_kwargs = {"num_workers": 2, "pin_memory": True, "shuffle": False}
    train_kwargs.update(cuda_kwargs)
    test_kwargs.update(cuda_kwargs)

    train_loader = torch.utils.data.DataLoader(train_dataset, **train_kwargs)
    val_loader = torch.utils.data.DataLoader(val_dataset, **test_kwargs)

    # Set up FSDP parameters
    mixed_precision_policy, t5_auto_wrap_policy = get_policies(train_config, rank)

    # Apply FSDP wrapping to the model
    model = FSDP(
        model,
        auto_wrap_policy=t5_auto_wrap_policy,
        mixed_precision=mixed_precision_policy,
        sharding_strategy=fsdp_config.sharding_strategy,
        device_id=torch.device("cpu"),
        limit_all_gathers=fsdp_config.limit_all_gathers,
    )

    # Set up optimizer and scheduler
    optimizer = optim.AdamW(model.parameters(), lr=train_config.lr)

    scheduler = StepLR(optimizer, step_size=1, gamma=train_config.gamma)
    best_val_loss = float("inf")
    curr_val_loss = float("inf")

    for epoch in range(1, args.epochs + 1):
        train_accuracy = train(args, model, rank, world_size, train_loader, optimizer, epoch, sampler=sampler1)
        if args.run_validation:
            curr_val_loss = validation(model, rank, world_size, val_loader)
        scheduler.step()
        _common.record("fsdp-epoch", epoch=epoch, loss=train_accuracy.item(), val=curr_val_loss.item())

        if rank == 0:
            print(f"--> epoch {epoch} completed...entering save and stats zone")

        if train_config.save_model and curr_val_loss < best_val_loss:
            if fsdp_config.checkpoint_type == StateDictType.FULL_STATE_DICT:
                save_model_checkpoint(model, optimizer, rank, fsdp_config, epoch=1)

        if curr_val_loss < best_val_loss:
            best_val_loss = curr_val_loss
            if rank == 0:
                print(f"-->>>> New Val Loss Record: {best_val_loss}")

    dist.barrier()
    cleanup()


if __name__ == "__main__":
    # Training settings
    parser = argparse.ArgumentParser(description="PyTorch T5 FSDP Example")
    parser.add_argument(
        "--batch-size", type=int, default=4, metavar="N", help="input batch size for training (default: 4)"
    )
    parser.add_argument(
        "--test-batch-size", type=int, default=4, metavar="N", help="input batch size for testing (default: 4)"
    )
    parser.add_argument("--epochs", type=int, default=2, metavar="N", help="number of epochs to train (default: 2)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: 1)")
    parser.add_argument("--run_validation", action="store_false", default=True, help="running the validation")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    fsdp_main(args)
