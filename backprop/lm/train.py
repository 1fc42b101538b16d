"""Training a feedforward LM end to end: data, model, optimizer, early stopping, checkpoints."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from backprop import optim
from backprop.creation import manual_seed, tensor
from backprop.data import corpus
from backprop.data.text import DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows
from backprop.devices import device as to_device
from backprop.lm import checkpoint
from backprop.lm.model import FeedForwardLM, evaluate_perplexity
from backprop.lm.ngram import KneserNey
from backprop.nn import functional as F
from backprop.nn.utils import clip_grad_norm_

DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
# what a user may change when resuming; everything else comes from the checkpoint
RESUME_OVERRIDABLE = frozenset(
    {
        "train",
        "valid",
        "test",
        "resume",
        "out",
        "epochs",
        "max_steps",
        "patience",
        "device",
        "log_every",
        "ngram",
        "progress",
    }
)


@dataclass
class TrainConfig:
    """Options of ``backprop train-lm`` (same names, with dashes there)."""

    train: str | None = None
    valid: str | None = None
    test: str | None = None
    context: int = 3
    embed_dim: int = 32
    hidden_dim: int = 128
    activation: str = "tanh"
    dropout: float = 0.0
    tie_weights: bool = False
    optimizer: str = "adam"
    lr: float | None = None
    lr_decay: float = 1.0
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    max_steps: int | None = None
    patience: int = 3
    clip_grad: float | None = None
    min_freq: int = 1
    max_vocab: int | None = None
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    resume: str | None = None
    log_every: int = 50
    ngram: bool = True
    progress: bool = True


@dataclass
class Progress:
    """Where training is, saved in checkpoints so ``--resume`` continues exactly."""

    epoch: int = 0
    batch: int = 0  # batches already done in ``epoch``
    step: int = 0
    best_valid: float = math.inf
    bad_epochs: int = 0
    valid_ppl: list[float] = field(default_factory=list)
    train_loss: list[list[float]] = field(default_factory=list)  # [step, loss] at each log
    tokens: int = 0
    seconds: float = 0.0
    done: bool = False


class Interrupted(Exception):
    """Training stopped by Ctrl-C; a checkpoint was saved to ``directory``."""

    def __init__(self, directory: str | None) -> None:
        super().__init__(directory)
        self.directory = directory


def load_splits(cfg: TrainConfig) -> tuple[dict[str, list[str]], str]:
    """Sentences per split: from files, or the embedded grammar corpus when no --train is given."""
    if cfg.train is None:
        if cfg.valid or cfg.test:
            raise DataError("--valid/--test need --train (without --train the embedded corpus is used)")
        return corpus.generate(seed=0), "embedded grammar corpus (test = unseen word combinations)"
    splits = {"train": read_lines(cfg.train)}
    for name in ("valid", "test"):
        path = getattr(cfg, name)
        if path is not None:
            splits[name] = read_lines(path)
    return splits, f"files: {cfg.train}"


def _make_optimizer(cfg: TrainConfig, model: FeedForwardLM) -> optim.Optimizer:
    lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.optimizer]
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose sgd, adam or adamw")


def _host_state(model: FeedForwardLM) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train (or resume) and return the metrics written to ``out/metrics.json``."""
    dev = to_device(cfg.device)
    resumed = checkpoint.load(cfg.resume) if cfg.resume else None
    if resumed is not None:
        saved = resumed["train_config"]
        for k, v in saved.items():  # the run's own settings win, except how long and where to run
            if k not in RESUME_OVERRIDABLE:
                setattr(cfg, k, v)
        cfg.train = cfg.train or saved["train"]
        cfg.valid = cfg.valid or saved["valid"]
        cfg.test = cfg.test or saved["test"]
        cfg.out = cfg.out or cfg.resume
    splits, source = load_splits(cfg)
    tokens = {k: tokenize(v) for k, v in splits.items()}
    vocab = Vocab(resumed["vocab"]) if resumed else Vocab.build(tokens["train"], cfg.min_freq, cfg.max_vocab)
    windows = {k: Windows(vocab.encode(t), cfg.context) for k, t in tokens.items()}
    _log(f"data: {source}; vocab {len(vocab)}; windows " + ", ".join(f"{k} {len(w)}" for k, w in windows.items()))

    manual_seed(cfg.seed)
    model = FeedForwardLM(
        len(vocab), cfg.context, cfg.embed_dim, cfg.hidden_dim, cfg.activation, cfg.dropout, cfg.tie_weights
    ).to(dev)
    opt = _make_optimizer(cfg, model)
    prog = Progress()
    best_state = None
    if resumed is not None:
        try:
            model.load_state_dict({k: tensor(v) for k, v in resumed["model_state"].items()})
        except RuntimeError as exc:
            raise DataError(f"{cfg.resume}: checkpoint does not match the model ({exc})") from None
        opt.load_state_dict(resumed["optimizer_state"])
        prog = Progress(**resumed["progress"])
        dev.backend.set_rng_state(resumed["rng"])
        best = checkpoint.load(cfg.resume, best=True)["model_state"] if "best_weights" in resumed["files"] else None
        best_state = best

    # lr = base * lr_decay ** epoch, the closed form: a resumed run lands on the same value
    base_lr = opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"])
    sched = optim.lr_scheduler.ExponentialLR(opt, cfg.lr_decay)
    sched.load_state_dict({"last_epoch": prog.epoch, "base_lrs": [base_lr]})

    out = Path(cfg.out) if cfg.out else None
    meta = {"train_config": asdict(cfg), "vocab": vocab.itos, "model_config": model.config.to_dict()}

    def save_checkpoint() -> None:
        if out is None:
            return
        m = dict(meta, progress=asdict(prog), rng=dev.backend.get_rng_state())
        checkpoint.save(
            out,
            step=prog.step,
            model_state=_host_state(model),
            optimizer_state=opt.state_dict(),
            meta=m,
            best_state=best_state,
        )

    train_w = windows["train"]
    n_batches = train_w.num_batches(cfg.batch_size)
    stop = False
    try:
        while prog.epoch < cfg.epochs and not prog.done and not stop:
            model.train()
            t0 = time.perf_counter()
            bar = tqdm(
                total=n_batches,
                initial=prog.batch,
                desc=f"epoch {prog.epoch + 1}/{cfg.epochs}",
                disable=not cfg.progress,
                unit="batch",
                leave=False,
            )
            epoch_tokens = 0
            for ctx, tgt in train_w.batches(
                cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=prog.epoch, start=prog.batch
            ):
                logits = model(tensor(ctx, device=dev))
                loss = F.cross_entropy(logits, tensor(tgt, device=dev))
                opt.zero_grad()
                loss.backward()
                if cfg.clip_grad:
                    clip_grad_norm_(model.parameters(), cfg.clip_grad)
                opt.step()
                prog.batch += 1
                prog.step += 1
                epoch_tokens += len(tgt)
                if prog.step % cfg.log_every == 0:
                    value = loss.item()  # the only host read-back in the loop, once per log
                    prog.train_loss.append([prog.step, value])
                    rate = epoch_tokens / max(1e-9, time.perf_counter() - t0)
                    bar.set_postfix(loss=f"{value:.3f}", tok_s=f"{rate:,.0f}")
                bar.update(1)
                if cfg.max_steps is not None and prog.step >= cfg.max_steps:
                    stop = True
                    break
            bar.close()
            prog.seconds += time.perf_counter() - t0
            prog.tokens += epoch_tokens
            if stop and prog.batch < n_batches:
                break  # stopped mid-epoch by --max-steps: resume continues this epoch
            prog.epoch += 1
            prog.batch = 0
            sched.step()
            if "valid" in windows:
                ppl = evaluate_perplexity(model, windows["valid"])
                prog.valid_ppl.append(ppl)
                _log(f"epoch {prog.epoch}: valid perplexity {ppl:.2f} (step {prog.step})")
                if ppl < prog.best_valid:
                    prog.best_valid, prog.bad_epochs = ppl, 0
                    best_state = _host_state(model)
                else:
                    prog.bad_epochs += 1
                    if prog.bad_epochs >= cfg.patience:
                        _log(f"early stopping: no improvement for {cfg.patience} epochs")
                        prog.done = True
            save_checkpoint()
    except KeyboardInterrupt:
        save_checkpoint()
        raise Interrupted(cfg.out) from None
    if prog.epoch >= cfg.epochs:
        prog.done = True
    save_checkpoint()

    if best_state is not None:
        model.load_state_dict({k: tensor(v) for k, v in best_state.items()})
    metrics: dict[str, Any] = {
        "valid_ppl": prog.valid_ppl,
        "best_valid_ppl": None if math.isinf(prog.best_valid) else prog.best_valid,
        "steps": prog.step,
        "epochs": prog.epoch,
        "tokens_per_s": prog.tokens / prog.seconds if prog.seconds else None,
        "seconds": prog.seconds,
        "train_loss": prog.train_loss,
        "vocab_size": len(vocab),
        "device": str(dev),
        "finished": prog.done,
        "config": asdict(cfg),
    }
    if "test" in windows and prog.done:
        metrics["test_ppl"] = evaluate_perplexity(model, windows["test"])
        _log(f"test perplexity {metrics['test_ppl']:.2f}")
    if cfg.ngram and prog.done:
        kn = KneserNey(cfg.context + 1, len(vocab)).fit(train_w)
        metrics["ngram"] = {"model": f"interpolated Kneser-Ney, order {cfg.context + 1}"}
        for split in ("valid", "test"):
            if split in windows:
                metrics["ngram"][f"{split}_ppl"] = kn.perplexity(windows[split])
        _log(_comparison(metrics))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(metrics, indent=1)
        tmp = out / ".metrics.json.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / "metrics.json")
        _plot(metrics, out / "loss.png")
    return metrics


def _comparison(m: dict[str, Any]) -> str:
    rows = ["perplexity        neural LM   n-gram (" + m["ngram"]["model"] + ")"]
    for split, ours in (("valid", m.get("best_valid_ppl")), ("test", m.get("test_ppl"))):
        theirs = m["ngram"].get(f"{split}_ppl")
        if ours is not None and theirs is not None:
            rows.append(f"{split:<16}{ours:>11.2f}   {theirs:.2f}")
    return "\n".join(rows)


def _plot(metrics: dict[str, Any], path: Path) -> None:
    """Training loss and validation perplexity curves, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    if metrics["train_loss"]:
        steps, losses = zip(*metrics["train_loss"])
        ax[0].plot(steps, losses)
    ax[0].set(xlabel="step", ylabel="training loss (nats/word)", title="training loss")
    if metrics["valid_ppl"]:
        ax[1].plot(range(1, len(metrics["valid_ppl"]) + 1), metrics["valid_ppl"], marker="o")
    ax[1].set(xlabel="epoch", ylabel="perplexity", title="validation perplexity")
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
