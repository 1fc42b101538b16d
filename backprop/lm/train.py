"""Training a feedforward LM end to end: data, model, optimizer, early stopping, checkpoints."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from backprop import distributed as dist
from backprop import optim
from backprop.autograd.grad_mode import no_grad
from backprop.compile import compile as compile_step
from backprop.creation import manual_seed, tensor
from backprop.data import corpus
from backprop.data.text import DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows
from backprop.devices import Device
from backprop.devices import device as to_device
from backprop.lm import checkpoint, mixture
from backprop.lm.config import DEFAULT_LR, RESUME_OVERRIDABLE, TrainConfig, validate
from backprop.lm.model import FeedForwardLM, evaluate_perplexity, token_log_probs
from backprop.lm.ngram import KneserNey
from backprop.nn import functional as F
from backprop.nn.parallel import DistributedDataParallel
from backprop.nn.utils import clip_grad_norm_
from backprop.tensor import Tensor

__all__ = ["Interrupted", "NonFiniteLoss", "Progress", "TrainConfig", "load_splits", "train"]

# why a run ended, the "stopped" entry of metrics.json
STOP_REASONS = ("epochs", "early_stopping", "max_steps", "interrupted", "non_finite_loss")


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
    stopped: str | None = None  # one of STOP_REASONS once the run (or this part of it) has ended


class Interrupted(Exception):
    """Training stopped by Ctrl-C; a checkpoint was saved to ``directory``."""

    def __init__(self, directory: str | None) -> None:
        super().__init__(directory)
        self.directory = directory


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite at ``step``; the checkpoint in ``directory`` (if any) is the
    last one saved before it (``saved_step``), the weights of the run are not."""

    def __init__(
        self, step: int, directory: str | None, saved_step: int | None, what: str = "the training loss is"
    ) -> None:
        if directory is None:
            where = "no --out given, nothing saved"
        elif saved_step is None:
            where = f"no checkpoint was saved to {directory} before it"
        else:
            where = f"the last good checkpoint (step {saved_step}) is in {directory}"
        super().__init__(
            f"{what} not finite (nan or inf) at step {step}; training stopped, {where}; "
            "a lower --lr or a --clip-grad may help"
        )
        self.step, self.directory, self.saved_step = step, directory, saved_step


class _LossWatch:
    """Notes the first step whose training loss is not finite, on the device: no host read per step
    (``first_step`` reads it back; ``_fit`` calls it where the loop already syncs: at the loss logs and
    at the end of an epoch, before validation and before any checkpoint)."""

    def __init__(self) -> None:
        self._first: Any = None  # a 0-d device array: the step, or -1 while every loss was finite

    def update(self, loss: Tensor, step: int) -> None:
        """Record ``step`` if ``loss`` is not finite and no earlier step was (a few device ops, no sync)."""
        xp = loss.device.xp
        if self._first is None:
            self._first = xp.asarray(-1, dtype=xp.int64)
        self._first = xp.where(~xp.isfinite(loss._data) & (self._first < 0), step, self._first)

    def first_step(self) -> int | None:
        """The first step with a non-finite loss, or None (a host read)."""
        if self._first is None:
            return None
        step = int(self._first)
        return step if step >= 0 else None


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
    """One line on stderr (rank 0 only, when several processes train)."""
    if not dist.is_main_process():
        return
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
    saved_step: int | None = None  # the step of the last checkpoint in ``out``
    watch: _LossWatch = field(default_factory=_LossWatch)
    ddp: DistributedDataParallel | None = None  # the model wrapped, when several processes train it
    ngram: KneserNey | None = None  # fitted at the end (rank 0), saved with the checkpoint with ``mixture_weight``
    mixture_weight: float | None = None
    step_fn: Any = None  # the training step on device tensors (under bp.compile unless --no-compile)


def train(cfg: TrainConfig, given: Collection[str] | None = None) -> dict[str, Any]:
    """Train (or resume) and return the metrics written to ``out/metrics.json``.

    ``given``: the settings the caller chose (the command passes the flags typed). Resuming, the
    checkpoint's own values stand for everything else, so ``--resume DIR`` alone finishes the run as
    it was started; None takes the fields that differ from ``TrainConfig()``'s defaults.

    A value out of its field's range raises ValueError. A run ends by its epochs, early stopping or
    ``max_steps`` (the weights are then evaluated on valid and test), or raises ``Interrupted`` (Ctrl-C)
    or ``NonFiniteLoss``; each writes ``metrics.json`` with a ``stopped`` entry (``STOP_REASONS``).
    """
    validate(cfg)
    dist.init_from_launcher(force=cfg.distributed, device=cfg.device)  # mpiexec: join the job
    run = _setup(cfg, given)
    if dist.is_initialized() and dist.get_world_size() > 1:
        run.ddp = DistributedDataParallel(run.model)
    run.step_fn = _make_step(run)
    try:
        _fit(run)
        replays = getattr(run.step_fn, "replays", None)
        if replays is not None:
            _log(f"bp.compile: {replays} of this session's training steps were replays of the recorded step")
    except (Interrupted, NonFiniteLoss):
        if run.out is not None:
            _write_outputs(run.out, _final_metrics(run, evaluate=False))
        raise
    final_state = _host_state(run.model) if run.out is not None and cfg.ngram and dist.is_main_process() else None
    metrics = _final_metrics(run)  # may load the best weights into the model
    if final_state is not None and run.ngram is not None:
        _save_checkpoint(run, final_state)  # the same checkpoint, now with the n-gram model and the mixture weight
    if run.out is not None:
        _write_outputs(run.out, metrics)
    return _finite_json(metrics)


def _setup(cfg: TrainConfig, given: Collection[str] | None) -> _Run:
    """Device, data, model, optimizer and schedule: fresh, or restored from ``cfg.resume``."""
    resumed = _merge_resumed_config(cfg, given)
    if cfg.out:
        _check_out(Path(cfg.out))
    dev = dist.device_for_rank(to_device(cfg.device))  # several processes: one GPU each
    vocab, windows = _load_data(cfg, resumed)
    manual_seed(cfg.seed)
    model = FeedForwardLM(
        len(vocab),
        cfg.context,
        cfg.embed_dim,
        cfg.hidden_dim,
        cfg.activation,
        cfg.dropout,
        cfg.tie_weights,
        cfg.direct,
    )
    model.to(dev)  # in place (Module.to is typed as returning a Module)
    opt = _make_optimizer(cfg, model)
    prog, best_state = Progress(), None
    if resumed is not None:
        prog, best_state = _restore(cfg, resumed, model, opt, dev)
    meta = {"train_config": asdict(cfg), "vocab": vocab.itos, "model_config": model.config.to_dict()}
    out = Path(cfg.out) if cfg.out else None
    sched = _make_scheduler(opt, cfg.lr_decay, prog.epoch)
    saved_step = prog.step if resumed is not None and cfg.resume and out == Path(cfg.resume) else None
    return _Run(cfg, dev, vocab, windows, model, opt, sched, prog, best_state, out, meta, saved_step)


def _check_out(out: Path) -> None:
    """Create ``out`` and write a file there: a bad --out fails now, not at the first save after training."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except FileExistsError:
        raise DataError(f"--out {out}: exists and is not a directory") from None
    except NotADirectoryError:
        raise DataError(f"--out {out}: a part of the path is a file, not a directory") from None
    except OSError as exc:
        raise DataError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def _merge_resumed_config(cfg: TrainConfig, given: Collection[str] | None) -> dict[str, Any] | None:
    """Load ``cfg.resume``'s checkpoint (or None) and take its settings, except those ``given`` that a
    resumed run may change (``RESUME_OVERRIDABLE``: how long, where, what to log); a given setting that
    would change the model or the optimisation raises."""
    if not cfg.resume:
        return None
    if given is None:
        defaults = TrainConfig()
        given = {f.name for f in fields(cfg) if getattr(cfg, f.name) != getattr(defaults, f.name)}
    resumed = checkpoint.load(cfg.resume)  # every file's SHA-256 checked, before any other work
    best = checkpoint.load(cfg.resume, best=True) if "best_weights" in resumed["files"] else None
    resumed["best_state"] = None if best is None else best["model_state"]
    saved = resumed["train_config"]
    fixed = sorted(
        name for name in given if name in saved and name not in RESUME_OVERRIDABLE and getattr(cfg, name) != saved[name]
    )
    if fixed:
        flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise DataError(
            f"--resume {cfg.resume}: {flags} cannot change when resuming (the checkpoint's run used "
            + ", ".join(f"{name}={saved[name]!r}" for name in fixed)
            + "); start a new run with --out to change them"
        )
    for f in fields(cfg):  # the run's own settings, except the ones the caller chose and may change
        if f.name in saved and f.name not in ("resume", "out") and f.name not in given:
            setattr(cfg, f.name, saved[f.name])
    if "out" not in given:
        cfg.out = cfg.resume  # continue in the checkpoint's directory
    try:
        validate(cfg)
    except ValueError as exc:
        raise DataError(f"{cfg.resume}: the checkpoint's settings are not valid ({exc})") from None
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
    try:
        opt.load_state_dict(resumed["optimizer_state"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(f"{cfg.resume}: the checkpoint's optimizer state does not fit ({exc!r})") from None
    try:
        prog = Progress(**resumed["progress"])
        if prog.best_valid is None:
            prog.best_valid = math.inf  # saved as null: strict JSON has no Infinity
        dev.backend.set_rng_state(resumed["rng"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{cfg.resume}: checkpoint.json: bad 'progress' or 'rng' entry ({exc!r})") from None
    return prog, resumed["best_state"]


def _make_scheduler(opt: optim.Optimizer, lr_decay: float, epoch: int) -> optim.lr_scheduler.ExponentialLR:
    """lr = base * lr_decay ** epoch, in closed form, so that a resumed run lands on the same value."""
    base_lr = opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"])
    sched = optim.lr_scheduler.ExponentialLR(opt, lr_decay)
    sched.load_state_dict({"last_epoch": epoch, "base_lrs": [base_lr]})
    return sched


def _save_checkpoint(run: _Run, state: dict[str, np.ndarray] | None = None) -> None:
    """Checkpoint weights, optimizer, progress and RNG into ``out`` (nothing without one; rank 0 only).

    Weights that are not finite (a step whose loss was finite but whose gradient was not) are never
    saved: ``NonFiniteLoss`` is raised instead, on every rank, and the previous checkpoint stays."""
    if run.out is None:
        return
    state = _host_state(run.model) if state is None else state  # the run's weights (not the best ones)
    if not all(np.isfinite(v).all() for v in state.values()):
        run.prog.stopped = "non_finite_loss"
        raise NonFiniteLoss(run.prog.step, str(run.out), run.saved_step, what="the weights are")
    if not dist.is_main_process():
        return
    progress = asdict(run.prog)
    if math.isinf(run.prog.best_valid):
        progress["best_valid"] = None  # strict JSON has no Infinity
    meta = dict(run.meta, progress=progress, rng=run.dev.backend.get_rng_state())
    ngram_state = None
    if run.ngram is not None and run.mixture_weight is not None:
        ngram_state, settings = run.ngram.state()
        meta["ngram"] = dict(settings, weight=run.mixture_weight)
    checkpoint.save(
        run.out,
        step=run.prog.step,
        model_state=state,
        optimizer_state=run.opt.state_dict(),
        meta=meta,
        best_state=run.best_state,
        ngram_state=ngram_state,
    )
    run.saved_step = run.prog.step


def _check_finite(run: _Run) -> None:
    """Raise ``NonFiniteLoss`` if a training loss since the start was NaN or infinite (one host read)."""
    step = run.watch.first_step()
    if step is not None:
        run.prog.stopped = "non_finite_loss"
        raise NonFiniteLoss(step, str(run.out) if run.out else None, run.saved_step)


def _fit(run: _Run) -> None:
    """The epoch loop: train, validate, checkpoint; Ctrl-C checkpoints and raises ``Interrupted``; a
    non-finite training loss raises ``NonFiniteLoss`` before the broken weights are validated or saved."""
    cfg, prog = run.cfg, run.prog
    n_batches = run.windows["train"].num_batches(cfg.batch_size)
    stop = False
    try:
        while prog.epoch < cfg.epochs and not prog.done and not stop:
            stop = _train_epoch(run, n_batches)
            _check_finite(run)  # once per epoch (and where a max-steps stop or a non-finite logged loss ended it)
            if stop and prog.batch < n_batches:
                break  # stopped mid-epoch by --max-steps: resume continues this epoch
            prog.epoch += 1
            prog.batch = 0
            run.sched.step()
            if "valid" in run.windows:
                _validate(run)
            _save_checkpoint(run)
    except KeyboardInterrupt:
        _check_finite(run)
        prog.stopped = "interrupted"
        _save_checkpoint(run)
        raise Interrupted(cfg.out) from None
    if prog.done:
        pass  # early stopping (this run, or the resumed checkpoint's) said why
    elif prog.epoch >= cfg.epochs:
        prog.done, prog.stopped = True, "epochs"
    else:
        prog.stopped = "max_steps"
    _save_checkpoint(run)


def _train_epoch(run: _Run, n_batches: int) -> bool:
    """The rest of the current epoch's steps; True when ``--max-steps`` (or a non-finite logged loss) stopped it."""
    cfg, prog = run.cfg, run.prog
    if cfg.max_steps is not None and prog.step >= cfg.max_steps:
        return True  # resumed at (or past) the cap: not one step more
    run.model.train()
    t0 = time.perf_counter()
    bar = tqdm(
        total=n_batches,
        initial=prog.batch,
        desc=f"epoch {prog.epoch + 1}/{cfg.epochs}",
        disable=not cfg.progress or not dist.is_main_process(),
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
        run.watch.update(loss, prog.step)  # on the device: no host read here
        epoch_tokens += len(tgt)
        if prog.step % cfg.log_every == 0:
            value = loss.item()  # the only host read-back in the loop, once per log
            prog.train_loss.append([prog.step, value])
            rate = epoch_tokens / max(1e-9, time.perf_counter() - t0)
            bar.set_postfix(loss=f"{value:.3f}", tok_s=f"{rate:,.0f}")
            if not math.isfinite(value):
                stop = True  # ``_fit`` raises NonFiniteLoss, naming the first bad step
                break
        bar.update(1)
        if cfg.max_steps is not None and prog.step >= cfg.max_steps:
            stop = True
            break
    bar.close()
    prog.seconds += time.perf_counter() - t0
    prog.tokens += epoch_tokens
    return stop


def _step(run: _Run, ctx: np.ndarray, tgt: np.ndarray) -> Tensor:
    """One optimizer step on a batch of contexts and targets; the loss, still on the device.

    With several processes each trains on its part of the batch (the wrapper averages the gradients)
    and the loss returned is the whole batch's, the same on every rank."""
    if run.ddp is None:
        return run.step_fn(tensor(ctx, device=run.dev), tensor(tgt, device=run.dev))
    (ctx, tgt), weight = dist.local_batch(ctx, tgt)
    logits = run.ddp(tensor(ctx, device=run.dev))
    loss = F.cross_entropy(logits, tensor(tgt, device=run.dev))
    if weight != 1.0:
        loss = loss * weight  # uneven parts: the ranks' average stays the global batch's mean
    run.opt.zero_grad()
    loss.backward()
    if run.cfg.clip_grad:
        clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
    run.opt.step()
    loss = loss.detach()
    dist.all_reduce(loss, dist.ReduceOp.AVG)
    return loss


def _make_step(run: _Run) -> Any:
    """The one-process training step ``(contexts, targets) -> loss``; under ``bp.compile`` unless
    ``--no-compile`` or several processes train (DDP reduces gradients in hooks, which a replay cannot run)."""

    def train_step(ctx: Tensor, tgt: Tensor) -> Tensor:
        loss = F.cross_entropy(run.model(ctx), tgt)
        run.opt.zero_grad()
        loss.backward()
        if run.cfg.clip_grad:
            clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
        run.opt.step()
        return loss

    return compile_step(train_step) if run.cfg.compile and run.ddp is None else train_step


@no_grad()
def _evaluate(run: _Run, windows: Windows, batch_size: int = 1024) -> float:
    """Perplexity of the model on ``windows``; with several processes each scores its part and the
    log-likelihood sums are added in rank order, so every rank gets the same value (early stopping agrees)."""
    if run.ddp is None:
        return evaluate_perplexity(run.model, windows)
    was_training = run.model.training
    run.model.eval()
    part = dist.local_slice(len(windows))
    total = 0.0
    for i in range(part.start, part.stop, batch_size):
        ctx, tgt = windows.batch(np.arange(i, min(i + batch_size, part.stop)))
        logits = run.model(tensor(ctx, device=run.dev))
        total += F.cross_entropy(logits, tensor(tgt, device=run.dev), reduction="sum").item()
    run.model.train(was_training)
    summed = tensor([total], dtype="float64", device="cpu")  # a host number: through MPI under either backend
    dist.all_reduce(summed, deterministic=True)
    return float(np.exp(summed.item() / max(1, len(windows))))


def _validate(run: _Run) -> None:
    """Validation perplexity after an epoch: keep the best weights, stop after ``patience`` bad epochs."""
    prog, patience = run.prog, run.cfg.patience
    ppl = _evaluate(run, run.windows["valid"])
    prog.valid_ppl.append(ppl)
    _log(f"epoch {prog.epoch}: valid perplexity {ppl:.2f} (step {prog.step})")
    if ppl < prog.best_valid:
        prog.best_valid, prog.bad_epochs = ppl, 0
        run.best_state = _host_state(run.model)
    else:
        prog.bad_epochs += 1
        if prog.bad_epochs >= patience:
            _log(f"early stopping: no improvement for {patience} epochs")
            prog.done, prog.stopped = True, "early_stopping"


def _final_metrics(run: _Run, evaluate: bool = True) -> dict[str, Any]:
    """The metrics: progress, and (``evaluate``) the test perplexity of the best weights and the n-gram's.

    The best weights are those of the epoch with the lowest validation perplexity; a run stopped by
    ``max_steps`` inside an epoch validates its final weights too (``final_valid_ppl``), and tests them
    when they are better. Nothing here changes the run's progress or RNG state: a capped run resumed
    to the end writes the same metrics as an uninterrupted one."""
    cfg, prog, windows = run.cfg, run.prog, run.windows
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
        "distributed": dist.job_info(),  # world size and engine
        "finished": prog.done,
        "stopped": prog.stopped,
        "config": asdict(cfg),
    }
    if not evaluate:
        return metrics
    use_final = run.best_state is None
    if prog.batch > 0 and "valid" in windows:  # stopped inside an epoch: the final weights were never validated
        metrics["final_valid_ppl"] = _evaluate(run, windows["valid"])
        _log(f"step {prog.step} (stopped by --max-steps): valid perplexity {metrics['final_valid_ppl']:.2f}")
        use_final = use_final or metrics["final_valid_ppl"] < prog.best_valid
    if not use_final and run.best_state is not None:
        run.model.load_state_dict({k: tensor(v) for k, v in run.best_state.items()})
    metrics["test_weights"] = "final" if use_final else "best_valid"
    if "test" in windows:
        metrics["test_ppl"] = _evaluate(run, windows["test"])
        _log(f"test perplexity {metrics['test_ppl']:.2f}")
    if cfg.ngram and dist.is_main_process():
        _ngram_metrics(run, metrics)
        _log(_comparison(metrics))
    return metrics


def _ngram_metrics(run: _Run, metrics: dict[str, Any]) -> None:
    """The Kneser-Ney model's perplexities (and its fit and scoring times), and the mixture
    lambda * p_nn + (1 - lambda) * p_kn with lambda fitted on the validation tokens (never the test's):
    ``metrics["ngram"]``, ``metrics["mixture"]``; keeps the n-gram and lambda in ``run`` for the checkpoint."""
    windows = run.windows
    t0 = time.perf_counter()
    kn = KneserNey(run.cfg.context + 1, len(run.vocab)).fit(windows["train"])
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    kn_logp = {split: kn.log_probs(windows[split]) for split in ("valid", "test") if split in windows}
    score_seconds = time.perf_counter() - t0
    info: dict[str, Any] = {"model": f"interpolated Kneser-Ney, order {run.cfg.context + 1}"}
    for split, logp in kn_logp.items():
        info[f"{split}_ppl"] = float(np.exp(-logp.mean()))
    info["fit_seconds"], info["score_seconds"] = fit_seconds, score_seconds
    info["tokens_scored"] = int(sum(logp.size for logp in kn_logp.values()))
    metrics["ngram"] = info
    _log(
        f"n-gram: fitted on {len(windows['train']):,} windows in {fit_seconds:.2f} s, "
        f"scored {info['tokens_scored']:,} tokens in {score_seconds:.2f} s"
    )
    if "valid" not in kn_logp:
        return  # no validation text to fit the mixture weight on
    nn_logp = {split: token_log_probs(run.model, windows[split]) for split in kn_logp}
    weight = mixture.fit_weight(nn_logp["valid"], kn_logp["valid"])
    metrics["mixture"] = {"weight": weight, "fitted_on": "valid"}
    for split in kn_logp:
        metrics["mixture"][f"{split}_ppl"] = mixture.perplexity(nn_logp[split], kn_logp[split], weight)
    run.ngram, run.mixture_weight = kn, weight


def _write_outputs(out: Path, metrics: dict[str, Any]) -> None:
    """``out/metrics.json`` (atomically) and ``out/loss.png`` (when matplotlib is installed); rank 0 only."""
    if not dist.is_main_process():
        return
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite_json(metrics), indent=1, allow_nan=False)
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / "metrics.json")
    _plot(metrics, out / "loss.png")


def _finite_json(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with every NaN or infinite number replaced by None (strict JSON has neither), and a
    ``notes`` entry saying which."""
    where: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            where.append(f"{path} ({float(value)})")
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    out = clean(metrics, "")
    if where:
        note = "not finite, written as null (JSON has no NaN or Infinity): " + ", ".join(where)
        out["notes"] = [*metrics.get("notes", []), note]
    return out


def _comparison(m: dict[str, Any]) -> str:
    """The neural LM's perplexities next to the n-gram's and the mixture's, as a small table."""
    mix = m.get("mixture")
    head = "perplexity        neural LM      n-gram"
    rows = [head + (f"     mixture (weight {mix['weight']:.3f} on the neural LM)" if mix else "")]
    valid = m.get("final_valid_ppl") if m.get("test_weights") == "final" else m.get("best_valid_ppl")
    for split, ours in (("valid", valid), ("test", m.get("test_ppl"))):  # the weights the mixture uses
        theirs = m["ngram"].get(f"{split}_ppl")
        if ours is not None and theirs is not None:
            row = f"{split:<16}{ours:>11.2f} {theirs:>11.2f}"
            rows.append(row + (f" {mix[f'{split}_ppl']:>11.2f}" if mix and f"{split}_ppl" in mix else ""))
    return "\n".join(rows) + "\n(n-gram: " + m["ngram"]["model"] + ")"


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
