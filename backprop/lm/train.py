"""Training a feedforward LM end to end: data, model, optimizer, early stopping, checkpoints."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from backprop import optim
from backprop.creation import manual_seed, tensor
from backprop.data import corpus
from backprop.data.text import DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows
from backprop.devices import Device
from backprop.devices import device as to_device
from backprop.lm import checkpoint
from backprop.lm.config import DEFAULT_LR, RESUME_OVERRIDABLE, TrainConfig
from backprop.lm.model import FeedForwardLM, evaluate_perplexity
from backprop.lm.ngram import KneserNey
from backprop.nn import functional as F
from backprop.nn.utils import clip_grad_norm_
from backprop.tensor import Tensor

__all__ = ["Interrupted", "Progress", "TrainConfig", "load_splits", "train"]


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
    """``cfg.optimizer`` over the model's parameters, at ``cfg.lr`` or the optimizer's default rate."""
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
    """A host (NumPy) copy of the model's weights."""
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _log(msg: str) -> None:
    """One line on stderr."""
    print(msg, file=sys.stderr, flush=True)


@dataclass
class _Run:
    """Everything one training run works on, shared by its phases."""

    cfg: TrainConfig
    dev: Device
    vocab: Vocab
    windows: dict[str, Windows]
    model: FeedForwardLM
    opt: optim.Optimizer
    sched: optim.lr_scheduler.ExponentialLR
    prog: Progress
    best_state: dict[str, np.ndarray] | None
    out: Path | None
    meta: dict[str, Any]


def train(cfg: TrainConfig, given: Collection[str] | None = None) -> dict[str, Any]:
    """Train (or resume) and return the metrics written to ``out/metrics.json``.

    ``given``: the settings the caller chose (the command passes the flags typed). Resuming, the
    checkpoint's own values stand for everything else, so ``--resume DIR`` alone finishes the run as
    it was started; None takes the fields that differ from ``TrainConfig()``'s defaults.
    """
    run = _setup(cfg, given)
    _fit(run)
    metrics = _final_metrics(run)
    if run.out is not None:
        _write_outputs(run.out, metrics)
    return metrics


def _setup(cfg: TrainConfig, given: Collection[str] | None) -> _Run:
    """Device, data, model, optimizer and schedule: fresh, or restored from ``cfg.resume``."""
    resumed = _merge_resumed_config(cfg, given)
    dev = to_device(cfg.device)
    vocab, windows = _load_data(cfg, resumed)
    manual_seed(cfg.seed)
    model = FeedForwardLM(
        len(vocab), cfg.context, cfg.embed_dim, cfg.hidden_dim, cfg.activation, cfg.dropout, cfg.tie_weights
    ).to(dev)
    opt = _make_optimizer(cfg, model)
    prog, best_state = Progress(), None
    if resumed is not None:
        prog, best_state = _restore(cfg, resumed, model, opt, dev)
    meta = {"train_config": asdict(cfg), "vocab": vocab.itos, "model_config": model.config.to_dict()}
    out = Path(cfg.out) if cfg.out else None
    sched = _make_scheduler(opt, cfg.lr_decay, prog.epoch)
    return _Run(cfg, dev, vocab, windows, model, opt, sched, prog, best_state, out, meta)


def _merge_resumed_config(cfg: TrainConfig, given: Collection[str] | None) -> dict[str, Any] | None:
    """Load ``cfg.resume``'s checkpoint (or None) and take its settings, except those ``given`` that a
    resumed run may change (``RESUME_OVERRIDABLE``: how long, where, what to log); a given setting that
    would change the model or the optimisation raises."""
    if not cfg.resume:
        return None
    if given is None:
        defaults = TrainConfig()
        given = {f.name for f in fields(cfg) if getattr(cfg, f.name) != getattr(defaults, f.name)}
    resumed = checkpoint.load(cfg.resume)
    saved = resumed["train_config"]
    fixed = sorted(
        name for name in given if name in saved and name not in RESUME_OVERRIDABLE and getattr(cfg, name) != saved[name]
    )
    if fixed:
        flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise ValueError(
            f"--resume {cfg.resume}: {flags} cannot change when resuming (the checkpoint's run used "
            + ", ".join(f"{name}={saved[name]!r}" for name in fixed)
            + "); start a new run with --out to change them"
        )
    for f in fields(cfg):  # the run's own settings, except the ones the caller chose and may change
        if f.name in saved and f.name not in ("resume", "out") and f.name not in given:
            setattr(cfg, f.name, saved[f.name])
    if "out" not in given:
        cfg.out = cfg.resume  # continue in the checkpoint's directory
    return resumed


def _load_data(cfg: TrainConfig, resumed: dict[str, Any] | None) -> tuple[Vocab, dict[str, Windows]]:
    """The vocabulary (the checkpoint's when resuming) and the windows of every split."""
    splits, source = load_splits(cfg)
    tokens = {k: tokenize(v) for k, v in splits.items()}
    vocab = Vocab(resumed["vocab"]) if resumed else Vocab.build(tokens["train"], cfg.min_freq, cfg.max_vocab)
    windows = {k: Windows(vocab.encode(t), cfg.context) for k, t in tokens.items()}
    _log(f"data: {source}; vocab {len(vocab)}; windows " + ", ".join(f"{k} {len(w)}" for k, w in windows.items()))
    return vocab, windows


def _restore(
    cfg: TrainConfig, resumed: dict[str, Any], model: FeedForwardLM, opt: optim.Optimizer, dev: Device
) -> tuple[Progress, dict[str, np.ndarray] | None]:
    """Put the checkpoint's weights, optimizer state and RNG state back; its progress and best weights."""
    try:
        model.load_state_dict({k: tensor(v) for k, v in resumed["model_state"].items()})
    except RuntimeError as exc:
        raise DataError(f"{cfg.resume}: checkpoint does not match the model ({exc})") from None
    opt.load_state_dict(resumed["optimizer_state"])
    prog = Progress(**resumed["progress"])
    dev.backend.set_rng_state(resumed["rng"])
    best = checkpoint.load(cfg.resume, best=True)["model_state"] if "best_weights" in resumed["files"] else None
    return prog, best


def _make_scheduler(opt: optim.Optimizer, lr_decay: float, epoch: int) -> optim.lr_scheduler.ExponentialLR:
    """lr = base * lr_decay ** epoch, in closed form, so that a resumed run lands on the same value."""
    base_lr = opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"])
    sched = optim.lr_scheduler.ExponentialLR(opt, lr_decay)
    sched.load_state_dict({"last_epoch": epoch, "base_lrs": [base_lr]})
    return sched


def _save_checkpoint(run: _Run) -> None:
    """Checkpoint weights, optimizer, progress and RNG into ``out`` (nothing without one)."""
    if run.out is None:
        return
    meta = dict(run.meta, progress=asdict(run.prog), rng=run.dev.backend.get_rng_state())
    checkpoint.save(
        run.out,
        step=run.prog.step,
        model_state=_host_state(run.model),
        optimizer_state=run.opt.state_dict(),
        meta=meta,
        best_state=run.best_state,
    )


def _fit(run: _Run) -> None:
    """The epoch loop: train, validate, checkpoint; Ctrl-C checkpoints and raises ``Interrupted``."""
    cfg, prog = run.cfg, run.prog
    n_batches = run.windows["train"].num_batches(cfg.batch_size)
    stop = False
    try:
        while prog.epoch < cfg.epochs and not prog.done and not stop:
            stop = _train_epoch(run, n_batches)
            if stop and prog.batch < n_batches:
                break  # stopped mid-epoch by --max-steps: resume continues this epoch
            prog.epoch += 1
            prog.batch = 0
            run.sched.step()
            if "valid" in run.windows:
                _validate(run)
            _save_checkpoint(run)
    except KeyboardInterrupt:
        _save_checkpoint(run)
        raise Interrupted(cfg.out) from None
    if prog.epoch >= cfg.epochs:
        prog.done = True
    _save_checkpoint(run)


def _train_epoch(run: _Run, n_batches: int) -> bool:
    """The rest of the current epoch's steps; True when ``--max-steps`` stopped it."""
    cfg, prog = run.cfg, run.prog
    run.model.train()
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
    stop = False
    for ctx, tgt in run.windows["train"].batches(
        cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=prog.epoch, start=prog.batch
    ):
        loss = _step(run, ctx, tgt)
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
    return stop


def _step(run: _Run, ctx: np.ndarray, tgt: np.ndarray) -> Tensor:
    """One optimizer step on a batch of contexts and targets; the loss, still on the device."""
    logits = run.model(tensor(ctx, device=run.dev))
    loss = F.cross_entropy(logits, tensor(tgt, device=run.dev))
    run.opt.zero_grad()
    loss.backward()
    if run.cfg.clip_grad:
        clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
    run.opt.step()
    return loss


def _validate(run: _Run) -> None:
    """Validation perplexity after an epoch: keep the best weights, stop after ``patience`` bad epochs."""
    prog, patience = run.prog, run.cfg.patience
    ppl = evaluate_perplexity(run.model, run.windows["valid"])
    prog.valid_ppl.append(ppl)
    _log(f"epoch {prog.epoch}: valid perplexity {ppl:.2f} (step {prog.step})")
    if ppl < prog.best_valid:
        prog.best_valid, prog.bad_epochs = ppl, 0
        run.best_state = _host_state(run.model)
    else:
        prog.bad_epochs += 1
        if prog.bad_epochs >= patience:
            _log(f"early stopping: no improvement for {patience} epochs")
            prog.done = True


def _final_metrics(run: _Run) -> dict[str, Any]:
    """The metrics: progress, and for a finished run the best weights' test perplexity and the n-gram's."""
    cfg, prog, windows = run.cfg, run.prog, run.windows
    if run.best_state is not None:
        run.model.load_state_dict({k: tensor(v) for k, v in run.best_state.items()})
    metrics: dict[str, Any] = {
        "valid_ppl": prog.valid_ppl,
        "best_valid_ppl": None if math.isinf(prog.best_valid) else prog.best_valid,
        "steps": prog.step,
        "epochs": prog.epoch,
        "tokens_per_s": prog.tokens / prog.seconds if prog.seconds else None,
        "seconds": prog.seconds,
        "train_loss": prog.train_loss,
        "vocab_size": len(run.vocab),
        "device": str(run.dev),
        "finished": prog.done,
        "config": asdict(cfg),
    }
    if "test" in windows and prog.done:
        metrics["test_ppl"] = evaluate_perplexity(run.model, windows["test"])
        _log(f"test perplexity {metrics['test_ppl']:.2f}")
    if cfg.ngram and prog.done:
        kn = KneserNey(cfg.context + 1, len(run.vocab)).fit(windows["train"])
        metrics["ngram"] = {"model": f"interpolated Kneser-Ney, order {cfg.context + 1}"}
        for split in ("valid", "test"):
            if split in windows:
                metrics["ngram"][f"{split}_ppl"] = kn.perplexity(windows[split])
        _log(_comparison(metrics))
    return metrics


def _write_outputs(out: Path, metrics: dict[str, Any]) -> None:
    """``out/metrics.json`` (atomically) and ``out/loss.png`` (when matplotlib is installed)."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metrics, indent=1)
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / "metrics.json")
    _plot(metrics, out / "loss.png")


def _comparison(m: dict[str, Any]) -> str:
    """The neural LM's perplexities next to the n-gram's, as a small table."""
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
