"""``bp.compile``: replays give bitwise the results of eager execution, and whatever a record cannot
follow runs eagerly with one warning (never a silently different step)."""

from __future__ import annotations

import copy
import gc
import logging
import tracemalloc
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp
import backprop.nn.functional as F
from backprop.lm import FeedForwardLM

STEPS = 50


def _mlp() -> bp.nn.Module:
    bp.manual_seed(0)
    return bp.nn.Sequential(bp.nn.Linear(12, 32), bp.nn.ReLU(), bp.nn.Linear(32, 32), bp.nn.Tanh(), bp.nn.Linear(32, 5))


def _batches(n: int, batch: int = 16, width: int = 12, classes: int = 5, seed: int = 1) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [
        (
            bp.tensor(rng.standard_normal((batch, width)).astype(np.float32)),
            bp.tensor(rng.integers(0, classes, batch)),
        )
        for _ in range(n)
    ]


def _ce_step(model: bp.nn.Module, opt: bp.optim.Optimizer) -> Callable:
    """The classifier training step the tests compile: zero_grad, cross-entropy, backward, step."""

    def step(x: bp.Tensor, y: bp.Tensor) -> bp.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _run(model: bp.nn.Module, make_opt: Callable, batches: list, compiled: bool, **kw: Any) -> tuple:
    """Train ``model`` on ``batches``; returns (losses, the compiled step or None)."""
    opt = make_opt(model.parameters())
    sched = bp.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5) if kw.get("sched") else None

    def step(x: bp.Tensor, y: bp.Tensor) -> bp.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if kw.get("clip"):
            bp.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        if sched is not None:
            sched.step()
        return loss

    fn = bp.compile(step) if compiled else step
    losses = [fn(x, y).item() for x, y in batches]
    return losses, (fn if compiled else None)


def _assert_same_parameters(a: bp.nn.Module, b: bp.nn.Module) -> None:
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy()), name
        assert np.array_equal(p.grad.numpy(), q.grad.numpy()), f"{name}.grad"


@pytest.mark.parametrize(
    ("make_opt", "kw"),
    [
        (lambda ps: bp.optim.SGD(ps, lr=0.05, momentum=0.9), {}),
        (lambda ps: bp.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), {"clip": True}),
        (lambda ps: bp.optim.Adam(ps, lr=1e-2), {}),
        (lambda ps: bp.optim.AdamW(ps, lr=1e-2, weight_decay=0.1), {"clip": True, "sched": True}),
        (lambda ps: bp.optim.RMSprop(ps, lr=1e-3, momentum=0.5), {"sched": True}),
    ],
    ids=["sgd-momentum", "sgd-nesterov-clip", "adam", "adamw-clip-steplr", "rmsprop-steplr"],
)
def test_mlp_replay_is_bitwise_eager(make_opt: Callable, kw: dict) -> None:
    eager, compiled = _mlp(), _mlp()
    batches = _batches(STEPS)
    le, _ = _run(eager, make_opt, batches, compiled=False, **kw)
    lc, fn = _run(compiled, make_opt, batches, compiled=True, **kw)
    assert fn.replays == STEPS - 2 and fn.records() == 1  # two recorded calls, then replays
    assert le == lc  # the returned losses too, bit for bit
    _assert_same_parameters(eager, compiled)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_lm_replay_is_bitwise_eager_with_dropout(dropout: float, opt_name: str) -> None:
    """The LM (embedding lookup by the batch's ids, tanh, cross-entropy) with dropout: the masks are
    drawn from the generator at replay time, so the sequence of draws is eager's."""
    rng = np.random.default_rng(3)
    batches = [(bp.tensor(rng.integers(0, 50, (8, 3))), bp.tensor(rng.integers(0, 50, 8))) for _ in range(STEPS)]
    models = []
    for compiled in (False, True):
        bp.manual_seed(5)
        model = FeedForwardLM(50, context=3, embed_dim=6, hidden_dim=10, dropout=dropout)
        if opt_name == "sgd":
            opt = bp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        else:
            opt = bp.optim.Adam(model.parameters(), lr=1e-2)

        step = _ce_step(model, opt)
        fn = bp.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning: the LM step is replayable
            losses = [fn(c, t).item() for c, t in batches]
        if compiled:
            assert fn.replays == STEPS - 2
        models.append((model, losses))
    (m1, l1), (m2, l2) = models
    assert l1 == l2
    _assert_same_parameters(m1, m2)


def test_replay_matches_torch_style_manual_sgd_and_nll_loss_with_ignored_targets() -> None:
    """In-place parameter updates written by hand (``p -= lr * p.grad`` under no_grad), log_softmax +
    nll_loss with ignore_index (masks computed from the targets at every replay), ``.grad`` reads."""
    batches = _batches(12, classes=5)
    rng = np.random.default_rng(9)
    targets = []
    for _, y in batches:
        t = y.numpy().copy()
        t[rng.random(t.shape) < 0.3] = -100
        targets.append(bp.tensor(t))
    results = []
    for compiled in (False, True):
        model = _mlp()

        def step(x: bp.Tensor, y: bp.Tensor, model: Any = model) -> tuple:
            for p in model.parameters():
                p.grad = None
            loss = F.nll_loss(F.log_softmax(model(x), dim=1), y, ignore_index=-100)
            loss.backward()
            with bp.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            return loss, model[0].weight.grad * 1.0

        fn = bp.compile(step) if compiled else step
        outs = [fn(x, y) for (x, _), y in zip(batches, targets)]
        results.append((model, [(o[0].item(), o[1].numpy().copy()) for o in outs]))
        if compiled:
            assert fn.replays == len(batches) - 2
    (m1, r1), (m2, r2) = results
    for (l1, g1), (l2, g2) in zip(r1, r2):
        assert l1 == l2 and np.array_equal(g1, g2)
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_a_new_shape_records_again_and_both_replay() -> None:
    eager, compiled = _mlp(), _mlp()
    batches = [b for pair in zip(_batches(6, batch=16), _batches(6, batch=7, seed=2)) for b in pair]

    def sgd(ps: Any) -> bp.optim.Optimizer:
        return bp.optim.SGD(ps, lr=0.05, momentum=0.9)

    le, _ = _run(eager, sgd, batches, compiled=False)
    lc, fn = _run(compiled, sgd, batches, compiled=True)
    assert fn.records() == 2 and fn.replays == len(batches) - 4
    assert le == lc
    _assert_same_parameters(eager, compiled)


def _fallback(step: Callable, *args: Any, calls: int = 4) -> tuple[list, Any, list[str]]:
    fn = bp.compile(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = [fn(*args) for _ in range(calls)]
    msgs = [str(w.message) for w in caught if "bp.compile" in str(w.message)]
    return outs, fn, msgs


def test_host_reads_hooks_and_double_backward_fall_back_with_one_warning() -> None:
    w = bp.ones(3, requires_grad=True)
    x = bp.tensor([1.0, -2.0, 3.0])

    def branching(x: bp.Tensor) -> bp.Tensor:  # Python that depends on a value: must not be frozen
        y = x * w
        if y.sum().item() > 0:
            y = y * 2
        w.grad = None
        y.sum().backward()
        return w.grad * 1.0

    outs, fn, msgs = _fallback(branching, x)
    assert fn.replays == 0 and len(msgs) == 1 and "item()" in msgs[0] and "eagerly" in msgs[0]
    assert all(o.tolist() == [2.0, -4.0, 6.0] for o in outs)

    def hooked(x: bp.Tensor) -> bp.Tensor:
        y = x * w
        y.register_hook(lambda g: g * 3)
        w.grad = None
        y.sum().backward()
        return w.grad * 1.0

    outs, fn, msgs = _fallback(hooked, x)
    assert fn.replays == 0 and len(msgs) == 1 and "hook" in msgs[0]
    assert outs[-1].tolist() == [3.0, -6.0, 9.0]

    def second_order(x: bp.Tensor) -> bp.Tensor:
        (g,) = bp.autograd.grad((x * w * w).sum(), [w], create_graph=True)
        return g.sum()

    _, fn, msgs = _fallback(second_order, x)
    assert fn.replays == 0 and len(msgs) == 1 and ("create_graph" in msgs[0] or "autograd.grad" in msgs[0])


def test_a_step_whose_constants_change_between_calls_stays_eager() -> None:
    """A Python number the step reads from outside changes in each call: a replay would neither use the new value
    nor change it, so the step runs eagerly (the change is seen as the first record ends)."""
    w = bp.ones(3, requires_grad=True)
    scale = [1.0]

    def step(x: bp.Tensor) -> bp.Tensor:
        scale[0] += 1.0
        w.grad = None
        (x * w * scale[0]).sum().backward()
        return w.grad * 1.0

    outs, fn, msgs = _fallback(step, bp.tensor([1.0, 1.0, 1.0]))
    assert fn.replays == 0 and len(msgs) == 1 and "the step changes closure variable 'scale' from Python" in msgs[0]
    assert [o.tolist()[0] for o in outs] == [2.0, 3.0, 4.0, 5.0]


def test_random_factories_inside_the_step_draw_anew_at_each_replay() -> None:
    w = bp.ones(4, requires_grad=True)

    def step() -> bp.Tensor:
        w.grad = None
        noise = bp.randn(4)
        (w * noise).sum().backward()
        return w.grad * 1.0

    bp.manual_seed(11)
    eager = [step().tolist() for _ in range(6)]
    bp.manual_seed(11)
    fn = bp.compile(step)
    compiled = [fn().tolist() for _ in range(6)]
    assert fn.replays == 4 and eager == compiled and len({tuple(e) for e in eager}) == 6


def test_arguments_that_cannot_be_followed_run_eagerly() -> None:
    w = bp.ones(2, requires_grad=True)

    def step(xs: list) -> bp.Tensor:
        return (xs[0] * w).sum()

    outs, fn, msgs = _fallback(step, [bp.tensor([1.0, 2.0])])
    assert fn.replays == 0 and len(msgs) == 1 and "nested" in msgs[0]
    assert outs[0].item() == 3.0


def test_changing_a_parameter_records_again() -> None:
    lin = bp.nn.Linear(3, 2)
    x = bp.ones(4, 3)

    def step(x: bp.Tensor) -> bp.Tensor:
        lin.zero_grad()
        lin(x).sum().backward()
        return lin.weight.grad * 1.0

    fn = bp.compile(step)
    for _ in range(3):
        fn(x)
    assert fn.replays == 1
    lin.bias.requires_grad_(False)
    lin.bias.grad = None
    fn(x)
    assert fn.replays == 1 and lin.bias.grad is None  # recorded again, not replayed with a stale flag


def _peak(fn: Callable, *args: Any) -> int:
    """Peak traced memory of one call of ``fn`` after a first, untraced one."""
    fn(*args)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_replay_peak_memory_is_no_higher_than_eager() -> None:
    model = _mlp()
    opt = bp.optim.SGD(model.parameters(), lr=0.01)
    x, y = _batches(1, batch=256)[0]

    step = _ce_step(model, opt)
    eager = _peak(step, x, y)
    fn = bp.compile(step)
    fn(x, y)
    fn(x, y)
    replay = _peak(fn, x, y)
    assert fn.replays == 2
    assert replay <= eager, (replay, eager)


def test_the_replay_source_is_a_flat_list_of_calls() -> None:
    """What a record is: one line per kernel, rule, gradient sum and optimizer call, no graph."""
    model = bp.nn.Linear(4, 3)
    opt = bp.optim.SGD(model.parameters(), lr=0.1)

    def step(x: bp.Tensor) -> bp.Tensor:
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = bp.compile(step)
    for _ in range(3):
        fn(bp.ones(2, 4))
    (src,) = fn.source()
    assert src.startswith("def replay(a0):") and "Node" not in src and "grad_fn" not in src
    assert src.count(".saved = (") == 3  # the rules of linear, pow and mean
    assert "del " in src  # intermediate arrays are freed after their last use
    assert copy.copy(fn).fn is step


def test_a_backend_may_capture_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Backend.capture`` receives the replay function once and its result serves later calls."""
    calls = {"captured": 0, "runs": 0}
    backend = bp.device("cpu").backend

    def capture(replay: Callable) -> Callable:
        calls["captured"] += 1

        def captured(*args: Any) -> Any:
            calls["runs"] += 1
            return replay(*args)

        return captured

    monkeypatch.setattr(backend, "capture", capture)
    w = bp.ones(3, requires_grad=True)

    def step(x: bp.Tensor) -> bp.Tensor:
        w.grad = None
        (x * w).sum().backward()
        return w.grad * 2.0

    fn = bp.compile(step)
    outs = [fn(bp.tensor([1.0, 2.0, 3.0])).tolist() for _ in range(5)]
    assert calls == {"captured": 1, "runs": 3} and outs == [[2.0, 4.0, 6.0]] * 5


def test_module_state_changes_are_seen_train_eval_and_hyper_parameters() -> None:
    """Switching to eval(), changing a dropout probability or swapping a parameter object invalidates
    the record: the next calls are recorded again, so nothing stale is replayed."""
    results = []
    for compiled in (False, True):
        bp.manual_seed(3)
        model = bp.nn.Sequential(bp.nn.Linear(6, 8), bp.nn.Dropout(0.5), bp.nn.Linear(8, 2))
        opt = bp.optim.SGD(model.parameters(), lr=0.1)

        def step(x: bp.Tensor, model: Any = model, opt: Any = opt) -> bp.Tensor:
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = bp.compile(step) if compiled else step
        x = bp.ones(4, 6)
        losses = [fn(x).item() for _ in range(4)]
        model.eval()
        losses += [fn(x).item() for _ in range(4)]
        model.train()
        model[1].p = 0.9
        losses += [fn(x).item() for _ in range(4)]
        results.append(losses)
        if compiled:
            assert fn.replays == 3 * 2  # each phase: two recorded calls, then two replays
    assert results[0] == results[1]


def test_module_guard_sees_added_removed_and_retyped_attributes() -> None:
    """The replay's module guard (read with one itemgetter per module) notices a plain attribute
    changing value, a tensor taking a number's place, attributes added or removed, and a parameter
    object swapped; it holds again once the module is as recorded."""
    from backprop.autograd.trace import ModuleGuard, guard_function

    m = bp.nn.Dropout(0.25)
    guard = ModuleGuard(m)
    fast = guard_function([guard])  # (what a record checks before each replay: the same answers)

    def holds() -> bool:
        assert guard.holds() == fast()
        return fast()

    assert holds()
    m.p = 0.5
    assert not holds()
    m.p = bp.tensor([0.25, 0.25])  # a tensor where a number was: compared by type first, no ==
    assert not holds()
    m.p = 0.25
    assert holds()
    m.p = float("nan")
    nan_guard = guard_function([ModuleGuard(m)])
    assert nan_guard()  # (the same NaN object holds)
    m.p = 0.25
    m.extra = 1
    assert not holds()
    del m.extra
    assert holds()
    m.inplace = None
    assert not holds()
    m.inplace = False
    assert holds()
    del m.p
    assert not holds()
    lin = bp.nn.Linear(2, 2)
    g2 = guard_function([ModuleGuard(lin)], list(lin.parameters()))
    assert g2()
    lin.weight.requires_grad_(False)
    assert not g2()
    lin.weight.requires_grad_(True)
    lin.bias.data = bp.zeros(3)  # a bound tensor's shape changed
    assert not g2()
    lin.bias.data = bp.zeros(2)
    assert g2()
    lin.weight = bp.nn.Parameter(lin.weight.detach().clone())
    assert not g2()


def test_gradients_read_after_backward_are_this_steps() -> None:
    """A leaf whose gradient arrives as a view (here through ``expand``) gets a private copy in
    ``.grad``; code after ``backward()`` reading ``.grad`` reads this replay's copy."""
    w = bp.ones(1, 3, requires_grad=True)

    def step(x: bp.Tensor) -> bp.Tensor:
        w.grad = None
        (w.expand(4, 3) * x).sum().backward()
        return w.grad * 1.0

    fn = bp.compile(step)
    xs = [bp.full((4, 3), float(i)) for i in range(5)]
    assert [fn(x).tolist() for x in xs] == [[[4.0 * i] * 3] for i in range(5)]
    assert fn.replays == 3


def test_train_lm_compiles_its_step_by_default_with_the_same_results(tmp_path: Any, capsys: Any) -> None:
    """``train-lm`` replays its step (dropout, clipping and the epoch's lr decay included) and ends with
    bitwise the metrics and weights of ``--no-compile``."""
    from pathlib import Path

    from backprop.data import corpus
    from backprop.lm import checkpoint
    from backprop.lm.train import TrainConfig, train

    splits = corpus.generate(n_train=600, n_valid=80, n_test=80, seed=5)
    paths = {}
    for name, lines in splits.items():
        paths[name] = str(tmp_path / f"{name}.txt")
        Path(paths[name]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    runs = {}
    for compiled in (True, False):
        out = tmp_path / f"run-{compiled}"
        cfg = TrainConfig(
            train=paths["train"], valid=paths["valid"], test=paths["test"], out=str(out), context=2, embed_dim=8,
            hidden_dim=16, batch_size=32, epochs=2, dropout=0.2, clip_grad=1.0, log_every=1, progress=False,
            device="cpu", ngram=False, compile=compiled,
        )  # fmt: skip
        metrics = train(cfg)
        err = capsys.readouterr().err
        assert ("steps were replays" in err) == compiled
        if compiled:
            n = int(err.split("bp.compile: ")[1].split(" of")[0])
            assert n >= metrics["steps"] - 8  # a few recorded steps per epoch and for the last, short batch
        state = checkpoint.load(out)["model_state"]
        runs[compiled] = (metrics, {k: np.asarray(v) for k, v in state.items()})
    (m1, w1), (m2, w2) = runs[True], runs[False]
    assert m1["train_loss"] == m2["train_loss"] and m1["valid_ppl"] == m2["valid_ppl"]
    assert m1["test_ppl"] == m2["test_ppl"] and m1["steps"] == m2["steps"]
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)


def test_compile_decorates_methods() -> None:
    class Trainer:
        def __init__(self) -> None:
            self.w = bp.ones(2, requires_grad=True)

        @bp.compile
        def step(self, x: bp.Tensor) -> bp.Tensor:
            self.w.grad = None
            (self.w * x).sum().backward()
            return self.w.grad * 1.0

    a, b = Trainer(), Trainer()
    outs = [t.step(bp.tensor([float(i), 1.0])).tolist() for i in range(4) for t in (a, b)]
    assert outs == [[float(i), 1.0] for i in range(4) for _ in (a, b)]
    assert Trainer.step.replays == 4 and Trainer.step.records() == 2  # one record per instance


def test_an_inference_function_replays_under_no_grad() -> None:
    model = _mlp()

    @bp.compile
    def predict(x: bp.Tensor) -> tuple:
        with bp.no_grad():
            logits = model(x)
            return logits.argmax(dim=1), F.softmax(logits, dim=1).max(dim=1).values

    batches = _batches(6)
    for x, _ in batches:
        with bp.no_grad():
            ref = model(x)
        idx, conf = predict(x)
        assert idx.tolist() == ref.argmax(dim=1).tolist() and not conf.requires_grad
        assert np.array_equal(conf.numpy(), F.softmax(ref, dim=1).max(dim=1).values.numpy())
    assert predict.replays == 4


def test_attention_with_a_changing_boolean_mask_replays_this_steps_mask() -> None:
    """Masks computed from a step's tensors outside the registry (attention's additive mask, the
    fully-masked-row check) are recorded calls: each replay uses its own call's mask."""
    rng = np.random.default_rng(2)
    q = bp.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)

    def step(mask: bp.Tensor) -> tuple:
        q.grad = None
        out = F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        out.sum().backward()
        return out * 1.0, q.grad * 1.0

    masks = [bp.tensor(rng.random((3, 3)) > 0.4) for _ in range(6)]
    masks[4] = bp.tensor(np.zeros((3, 3), bool))  # every query masked: the safe softmax's zeros
    fn = bp.compile(step)
    for m in masks:
        got = fn(m)
        want = step(m)
        assert all(np.array_equal(g.detach().numpy(), w.detach().numpy(), equal_nan=True) for g, w in zip(got, want))
    assert fn.replays == 4


def test_data_dependent_shapes_run_eagerly() -> None:
    w = bp.ones(4, requires_grad=True)

    def by_mask(x: bp.Tensor) -> bp.Tensor:
        w.grad = None
        (w * x)[x > 0].sum().backward()
        return w.grad * 1.0

    def by_nonzero(x: bp.Tensor) -> bp.Tensor:
        return x.nonzero()

    x = bp.tensor([1.0, -1.0, 2.0, -3.0])
    outs, fn, msgs = _fallback(by_mask, x)
    assert fn.replays == 0 and len(msgs) == 1 and "boolean mask" in msgs[0]
    assert outs[-1].tolist() == [1.0, 0.0, 2.0, 0.0]
    _, fn, msgs = _fallback(by_nonzero, x)
    assert fn.replays == 0 and len(msgs) == 1 and "depends on the data" in msgs[0]


def _tagger(vocab: int = 11, dim: int = 8, tags: int = 4) -> bp.nn.Module:
    nn = bp.nn

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, dim, padding_idx=0)
            self.norm = nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, tags))

        def forward(self, tokens: bp.Tensor) -> bp.Tensor:
            h = self.norm(self.embed(tokens))
            q, k, v = self.qkv(h).chunk(3, dim=-1)
            h = h + F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=0.1)
            return self.head(h)

    bp.manual_seed(4)
    return Tagger()


def test_a_torch_style_tagger_step_replays_bitwise() -> None:
    """Embedding with padding_idx, LayerNorm, chunk, causal attention with dropout, GELU, gather,
    masked_fill, AdamW, cosine schedule, clip_grad_value_: eager and compiled agree bit for bit over
    batches of different tokens (padding included)."""
    rng = np.random.default_rng(6)
    batches = []
    for _ in range(10):
        tokens = rng.integers(1, 11, size=(3, 7))
        tokens[rng.integers(0, 3), rng.integers(3, 7) :] = 0
        batches.append((bp.tensor(tokens), bp.tensor(rng.integers(0, 4, size=(3, 7)))))
    results = []
    for compiled in (False, True):
        model = _tagger()
        opt = bp.optim.AdamW(model.parameters(), lr=5e-3)
        sched = bp.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)

        def step(tokens: bp.Tensor, tags: bp.Tensor, model: Any = model, opt: Any = opt, sched: Any = sched) -> Any:
            opt.zero_grad()
            logp = F.log_softmax(model(tokens), dim=-1)
            picked = logp.gather(-1, tags.unsqueeze(-1)).squeeze(-1)
            picked = picked.masked_fill(tokens == 0, 0.0)
            loss = -picked.sum() / (tokens != 0).sum()
            loss.backward()
            bp.nn.utils.clip_grad_value_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            return loss

        bp.manual_seed(9)
        fn = bp.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            losses = [fn(t, g).item() for t, g in batches]
        if compiled:
            assert fn.replays == 8
        results.append((losses, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}))
    (l1, s1), (l2, s2) = results
    assert l1 == l2
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)


def test_batch_norm_running_statistics_are_updated_by_replays() -> None:
    """BatchNorm's running mean/var and batch counter are written outside the graph: replays write
    them too, so train and eval behave as eagerly."""
    results = []
    for compiled in (False, True):
        bp.manual_seed(1)
        model = bp.nn.Sequential(bp.nn.Linear(5, 6), bp.nn.BatchNorm1d(6), bp.nn.ReLU(), bp.nn.Linear(6, 2))
        opt = bp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        step = _ce_step(model, opt)
        fn = bp.compile(step) if compiled else step
        losses = [fn(x, y).item() for x, y in _batches(8, batch=10, width=5, classes=2)]
        model.eval()
        with bp.no_grad():
            evals = model(_batches(1, batch=4, width=5, seed=7)[0][0]).numpy().copy()
        if compiled:
            assert fn.replays == 6
        results.append((losses, evals, {k: v.numpy().copy() for k, v in model.state_dict().items()}))
    (l1, e1, s1), (l2, e2, s2) = results
    assert l1 == l2 and np.array_equal(e1, e2)
    assert s1.keys() == s2.keys() and all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert int(s2["1.num_batches_tracked"]) == 8


def _lm_step_variants(model: bp.nn.Module, opt: bp.optim.Optimizer, variant: str) -> Callable:
    """LM steps whose logits or gradients are (or are not) read after the op that could reuse them."""

    def step(ctx: bp.Tensor, tgt: bp.Tensor) -> Any:
        opt.zero_grad()
        logits = model(ctx)
        loss = F.cross_entropy(logits, tgt)
        if variant == "logits-read-after":  # the logits live on past the loss: not overwritten
            loss = loss + 0.01 * logits[:, :3].square().mean()
        loss.backward()
        opt.step()
        if variant == "logits-returned":
            return loss, logits
        if variant == "accuracy-after":
            return loss, (logits.argmax(1) == tgt).float().mean()
        return loss

    return step


@pytest.mark.parametrize("variant", ["plain", "logits-returned", "logits-read-after", "accuracy-after"])
def test_buffer_donation_keeps_replays_bitwise_and_never_touches_live_arrays(variant: str) -> None:
    """The replay computes cross-entropy in the logits' buffer, and tanh/relu gradients in gy's, only
    where nothing reads that memory later: with the logits returned, read after the loss or used for
    an accuracy, every value is still eager's, bit for bit."""
    rng = np.random.default_rng(0)
    data = [(bp.tensor(rng.integers(0, 30, (16, 3))), bp.tensor(rng.integers(0, 30, 16))) for _ in range(6)]
    outs = []
    models = []
    for compiled in (False, True):
        bp.manual_seed(0)
        model = FeedForwardLM(30, 3, 8, 16)
        opt = bp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = _lm_step_variants(model, opt, variant)
        fn = bp.compile(step) if compiled else step
        res = [fn(c, t) for c, t in data]
        outs.append([[r.detach().numpy().copy() for r in (o if isinstance(o, tuple) else (o,))] for o in res])
        models.append(model)
        if compiled:
            assert fn.replays == len(data) - 2
    for a, b in zip(*outs):
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
    _assert_same_parameters(*models)


def test_a_gradient_shared_with_a_leaf_is_not_overwritten_by_a_rule() -> None:
    """z = w + tanh(v): add hands the same gradient array to the leaf w and to tanh's rule, which
    must not compute in it (w.grad would change)."""
    rng = np.random.default_rng(3)
    vals = rng.standard_normal((2, 5, 4)).astype(np.float32)
    grads = []
    for compiled in (False, True):
        w, v = (bp.tensor(a, requires_grad=True) for a in vals)

        def step(x: bp.Tensor, w: bp.Tensor = w, v: bp.Tensor = v) -> bp.Tensor:
            w.grad = v.grad = None
            loss = ((w + (v * x).tanh()) * x).sum()
            loss.backward()
            return loss

        fn = bp.compile(step) if compiled else step
        for k in range(4):
            fn(bp.tensor(np.full((5, 4), 0.5 + k, dtype=np.float32)))
        grads.append((w.grad.numpy().copy(), v.grad.numpy().copy()))
        if compiled:
            assert fn.replays == 2
    assert np.array_equal(grads[0][0], grads[1][0]) and np.array_equal(grads[0][1], grads[1][1])


def test_donation_lowers_the_replays_peak_memory_below_eager() -> None:
    """With the logits' buffer reused by cross-entropy, a replay of a large-vocabulary step peaks
    lower than eager execution by about one (B, V) array."""
    bp.manual_seed(0)
    model = FeedForwardLM(4000, 3, 8, 16)
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    ctx, tgt = bp.tensor(rng.integers(0, 4000, (256, 3))), bp.tensor(rng.integers(0, 4000, 256))
    step = _ce_step(model, opt)
    eager = _peak(step, ctx, tgt)
    fn = bp.compile(step)
    fn(ctx, tgt)
    replay = _peak(fn, ctx, tgt)
    assert fn.replays == 1
    logits_bytes = 256 * 4000 * 4
    assert replay <= eager - 0.9 * logits_bytes, (replay, eager)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("ignored", [False, True])
def test_the_donating_cross_entropy_gives_the_kernels_values(weighted: bool, smoothing: float, ignored: bool) -> None:
    from backprop.ops import nn as nn_ops

    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 6)).astype(np.float32) * 4
    t = rng.integers(0, 6, 9)
    if ignored:
        t[[1, 4]] = -100
    w = rng.uniform(0.5, 2, 6).astype(np.float32) if weighted else None
    attrs = dict(ignore_index=-100, reduction="mean", label_smoothing=smoothing)
    ref, ref_aux = nn_ops.cross_entropy.forward(np, x, t, w, **attrs)
    buf = x.copy()
    out, aux = nn_ops.cross_entropy.donating(np, buf, t, w, **attrs)
    assert np.array_equal(out, ref) and np.array_equal(aux[0], ref_aux[0])
    assert aux[0] is buf  # computed in the logits' buffer


@pytest.mark.parametrize(
    "name", ["relu", "tanh", "sigmoid", "exp", "clamp", "silu", "gelu", "activation.logsigmoid", "activation.mish"]
)
def test_rules_computing_in_gy_give_the_same_values(name: str) -> None:
    import importlib

    from backprop.autograd.function import apply
    from backprop.autograd.trace import ReplayCtx

    module, _, op_name = name.rpartition(".")
    op = getattr(importlib.import_module(f"backprop.ops.{module or 'elementwise'}"), op_name)
    rng = np.random.default_rng(2)
    x = bp.tensor(rng.standard_normal((7, 5)).astype(np.float32), requires_grad=True)
    y = apply(op, x, min=-0.5, max=0.7) if op_name == "clamp" else apply(op, x)
    gy = rng.standard_normal((7, 5)).astype(np.float32)
    ctx = ReplayCtx(y.grad_fn)
    ctx.saved = y.grad_fn.saved
    rule = y.grad_fn.op.backward
    (ref,) = rule(ctx, gy.copy())
    ctx.gy_consumable = True
    buf = gy.copy()
    (out,) = rule(ctx, buf)
    assert out is buf and np.array_equal(out, ref)


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_donating_elementwise_forwards_give_the_kernels_values(name: str) -> None:
    from backprop.ops import elementwise

    op = getattr(elementwise, name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 7)).astype(np.float32)
    x[0, :3] = [0.0, -0.0, np.nan]
    ref = op.forward(np, x)
    buf = x.copy()
    out = op.donating(np, buf)
    assert out is buf and np.array_equal(out, ref, equal_nan=True)
    view = np.broadcast_to(x[:1], (6, 7))  # read-only: a new array, the same values
    assert np.array_equal(op.donating(np, view), op.forward(np, view), equal_nan=True)
    ints = np.arange(-3, 3)
    assert np.array_equal(op.donating(np, ints), op.forward(np, ints)) and ints[0] == -3


def test_a_plateau_scheduler_inside_the_step_runs_it_eagerly() -> None:
    model = _mlp()
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    sched = bp.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)

    def step(x: bp.Tensor, y: bp.Tensor) -> bp.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step(1.0)  # a constant metric: reduces the lr at every step after the first
        return loss

    fn = bp.compile(step)
    x, y = _batches(1)[0]
    with pytest.warns(RuntimeWarning, match="ReduceLROnPlateau.step"):
        for _ in range(4):
            fn(x, y)
    assert fn.replays == 0 and opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1**3)


def test_compiled_model_trains_as_torch_compile_users_write_it() -> None:
    """``model = bp.compile(model)`` (torch 2's idiom): a module wrapper whose state_dict keys carry
    ``_orig_mod.``; with gradients its forward alone cannot replay (a backward outside it needs the
    graph), so it runs eagerly and training works, without a warning (torch's is silent: the idiom is expected
    to train); under no_grad it replays."""
    bp.manual_seed(0)
    model = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.ReLU(), bp.nn.Linear(8, 1))
    twin = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.ReLU(), bp.nn.Linear(8, 1))
    twin.load_state_dict(model.state_dict())
    compiled = bp.compile(model, mode="reduce-overhead", fullgraph=False)
    assert isinstance(compiled, bp.nn.Module) and compiled._orig_mod is model
    assert list(compiled.state_dict())[0] == "_orig_mod.0.weight" and len(list(compiled.parameters())) == 4
    x, y = bp.randn(16, 4), bp.randn(16, 1)
    opts = [bp.optim.SGD(m.parameters(), lr=0.1) for m in (compiled, twin)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "runs eagerly" warning for a compiled model's training forward)
        for _ in range(4):
            for m, opt in zip((compiled, twin), opts):
                loss = ((m(x) - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    with bp.no_grad():
        outs = [compiled(x) for _ in range(4)]
    inner = compiled.__dict__["_compiled"]
    assert inner.replays >= 1 and np.array_equal(outs[-1].numpy(), twin(x).detach().numpy())
    assert bp.compile(model, disable=True) is model


_T = bp.tensor
# (step body, a good argument, bad arguments eager refuses): value checks that ran only in eager Python before, so
# a replay wrapped a negative id silently (take's -1 is the last row) or accepted what eager refuses
_VALUE_CHECKS = {
    "embedding": (lambda w, a: F.embedding(a, w), _T([1, 2]), [_T([1, -1]), _T([1, 10])]),
    "nll_loss": (lambda w, a: F.nll_loss(w[:2].log_softmax(1), a), _T([0, 2]), [_T([0, -3]), _T([0, 3])]),
    "one_hot": (lambda w, a: F.one_hot(a, 3).float() * w[:2, :1], _T([0, 1]), [_T([0, -1]), _T([0, 3])]),
    "max_unpool1d": (lambda w, a: F.max_unpool1d(w[:1, :2].unsqueeze(0), a, 2), _T([[[0, 2]]]), [_T([[[0, 9]]])]),
    "normal": (lambda w, a: bp.normal(w[0, :2], a), _T([1.0, 2.0]), [_T([1.0, -1.0])]),
    "gaussian_nll_loss": (
        lambda w, a: F.gaussian_nll_loss(w[0, :2], w[1, :2].detach(), a),
        _T([1.0, 2.0]),
        [_T([1.0, -1.0])],
    ),
    "multi_margin_loss": (lambda w, a: F.multi_margin_loss(w[:2], a), _T([0, 1]), [_T([0, 3]), _T([-1, 0])]),
    "multilabel_margin_loss": (
        lambda w, a: F.multilabel_margin_loss(w[:2], a),
        _T([[0, -1, 0], [2, 1, -1]]),
        [_T([[0, -2, 0], [2, 1, -1]]), _T([[3, -1, 0], [2, 1, -1]])],
    ),
    "binary_cross_entropy": (
        lambda w, a: F.binary_cross_entropy(a, w[0, :2].sigmoid()),
        _T([0.5, 0.2]),
        [_T([0.5, 1.5]), _T([-0.1, 0.5])],
    ),
    "cov": (lambda w, a: bp.cov(w[:2, :2], aweights=a), _T([0.5, 1.0]), [_T([0.5, -1.0])]),
}


@pytest.mark.parametrize("name", list(_VALUE_CHECKS))
def test_a_replay_refuses_the_values_eager_refuses(name: str) -> None:
    body, good, bads = _VALUE_CHECKS[name]
    w = bp.randn(10, 3, requires_grad=True)

    @bp.compile
    def step(a: Any) -> Any:
        w.grad = None
        out = body(w, a)
        out.float().sum().backward()
        return out.detach()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (the step must replay: no fallback warning)
        for _ in range(3):
            step(good)
    assert step.replays == 1
    for bad in bads:
        with pytest.raises(Exception) as eager:
            body(w, bad)
        with pytest.raises(type(eager.value)) as replayed:
            step(bad)
        assert str(eager.value).split(" (")[0] == str(replayed.value).split(" (")[0]
    assert step.replays == 1 + len(bads)
    bp.manual_seed(1)  # (normal draws: the same numbers in both)
    replayed_out = step(good).numpy()  # (it still replays after an error)
    bp.manual_seed(1)
    assert np.array_equal(replayed_out, body(w, good).detach().numpy())


def test_a_kernels_index_error_in_a_replay_is_eagers_runtime_error_too() -> None:
    w = bp.randn(4, 3, requires_grad=True)

    @bp.compile
    def step(i: Any) -> Any:
        w.grad = None
        w.gather(1, i).sum().backward()

    for _ in range(3):
        step(_T([[0], [1], [2], [0]]))
    with pytest.raises(RuntimeError, match=r"^index 3 is out of bounds for dimension 1 with size 3$") as e:
        step(_T([[0], [1], [2], [3]]))  # (torch raises RuntimeError here; eager's OpIndexError is both)
    assert isinstance(e.value, IndexError) and step.replays == 2


def test_a_record_of_the_same_tensor_twice_is_not_replayed_for_two_tensors() -> None:
    """step(x, x) reads one variable for both arguments: its record must not serve step(x, y) (an autoencoder's
    step(x, x) next to a denoiser's step(noisy, clean) used to replay with y's values replaced by x's)."""
    w = bp.ones(3, requires_grad=True)

    @bp.compile
    def step(a: Any, b: Any) -> Any:
        w.grad = None
        loss = (w * a).sum() + (w * b * 2).sum()
        loss.backward()
        return loss.detach()

    a, b = bp.tensor([1.0, 2.0, 3.0]), bp.tensor([10.0, 20.0, 30.0])
    for _ in range(3):
        assert step(a, a).item() == 18.0
    for _ in range(3):
        assert step(a, b).item() == 126.0 and w.grad.tolist() == [21.0, 42.0, 63.0]
    assert step(b, b).item() == 180.0  # (the first record replays again for another aliased pair)
    assert step.replays == 3


def test_a_parameter_passed_as_an_argument_runs_eagerly() -> None:
    """The module's weight and the argument were one variable in the record: a replay with another tensor there
    read it for the weight as well (and gave it the weight's gradient)."""
    lin = bp.nn.Linear(3, 3, bias=False)
    opt = bp.optim.SGD(lin.parameters(), lr=0.1)
    x = bp.ones(3)

    @bp.compile
    def step(x: Any, w: Any) -> Any:
        opt.zero_grad()
        loss = (lin(x) * w.sum()).sum()
        loss.backward()
        opt.step()
        return loss.detach()

    with pytest.warns(RuntimeWarning, match="tensor argument 1 is a parameter or buffer of a module the step calls"):
        for _ in range(3):
            step(x, lin.weight)
    other = bp.full((3, 3), 2.0, requires_grad=True)
    weight = lin.weight.detach().clone()
    assert step(x, other).item() == pytest.approx(((x @ weight.T) * other.sum()).sum().item(), rel=1e-6)
    assert step.replays == 0 and np.allclose(other.grad.numpy(), (x @ weight.T).sum().item())


_SCALE = 1.0
_MASK = bp.ones(3)


def test_rebinding_a_global_or_closure_variable_the_step_reads_records_again() -> None:
    """A record bakes a global number in as a constant and reads a global tensor through its object: rebinding
    either between calls (``scale = 0.5``, ``mask = new_mask``) replayed the old one (as torch.compile, the
    step's globals and closure variables are guarded)."""
    global _SCALE, _MASK
    lin = bp.nn.Linear(3, 1)
    shift = bp.zeros(1)

    @bp.compile
    def step(x: Any) -> Any:
        lin.zero_grad()
        loss = ((lin(x * _MASK) + shift) * _SCALE).sum()
        loss.backward()
        return loss.detach()

    def eager(x: Any) -> float:
        return ((lin(x * _MASK) + shift) * _SCALE).sum().item()

    x = bp.ones(2, 3)
    try:
        for _ in range(3):
            assert step(x).item() == eager(x)
        assert step.replays == 1
        _SCALE = 0.5
        for _ in range(3):
            assert step(x).item() == eager(x)
        assert step.replays == 2
        _MASK = bp.zeros(3)
        for _ in range(3):
            assert step(x).item() == eager(x)
        assert step.replays == 3
        shift = bp.ones(1)  # (the closure cell the step reads)
        for _ in range(3):
            assert step(x).item() == eager(x)
        assert step.replays == 4
        _SCALE = 0.25 * 2  # (an equal number, another object: still replays)
        assert step(x).item() == eager(x) and step.replays == 5
    finally:
        _SCALE, _MASK = 1.0, bp.ones(3)


_TEMPERATURE = 1.0


class _Scaled(bp.nn.Module):
    """A user module whose forward reads a module-level constant (not an attribute the module guard sees)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = bp.nn.Linear(3, 2)

    def forward(self, x: Any) -> Any:
        return self.lin(x) / _TEMPERATURE


def _loss_maker() -> tuple[Callable[[Any], Any], Callable[[float], None]]:
    weight = 1.0

    def set_weight(w: float) -> None:
        nonlocal weight
        weight = w

    def loss(out: Any) -> Any:
        return (out * weight).square().mean()

    return loss, set_weight


def test_rebinding_a_global_or_closure_variable_a_called_function_reads_records_again() -> None:
    """Globals read by the functions the step calls (a model's ``forward``, a loss helper) and their closure
    variables were not guarded: ``_TEMPERATURE = 2.0`` or a ``nonlocal`` rebinding between calls replayed the
    old value silently (torch.compile guards the globals of every frame it inlines)."""
    global _TEMPERATURE
    model = _Scaled()
    loss_fn, set_weight = _loss_maker()
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    ref = _Scaled()
    ref.load_state_dict(model.state_dict())
    ref_opt = bp.optim.SGD(ref.parameters(), lr=0.1)

    def train(m: Any, o: Any, x: Any) -> Any:
        o.zero_grad()
        loss = loss_fn(m(x))
        loss.backward()
        o.step()
        return loss.detach()

    step = bp.compile(train)
    x = bp.randn(4, 3)
    served = []
    try:
        for temperature, weight in [(1.0, 1.0)] * 3 + [(2.0, 1.0)] * 3 + [(2.0, 0.5)] * 3 + [(2.0, 0.5)]:
            _TEMPERATURE = temperature
            set_weight(weight)
            assert step(model, opt, x).item() == train(ref, ref_opt, x).item()
            served.append(step.replays)
        assert np.array_equal(model.lin.weight.detach().numpy(), ref.lin.weight.detach().numpy())
        assert served == [0, 0, 1, 1, 1, 2, 2, 2, 3, 4]  # (each change records twice, then replays)
    finally:
        _TEMPERATURE = 1.0


def test_of_a_factorys_closures_the_one_the_step_calls_is_guarded() -> None:
    """Two closures of one factory share their code: the guard follows the cells of the one that ran (a change
    to the other's variable keeps replaying; a change to its own records again)."""
    lin = bp.nn.Linear(3, 2)
    _, set_other = _loss_maker()
    loss_fn, set_weight = _loss_maker()
    keep = {"other": loss_fn}  # (both closures reachable from here: the frame's own values pick the right one)

    def train(x: Any) -> Any:
        lin.zero_grad()
        loss = keep["other"](lin(x))
        loss.backward()
        return loss.detach()

    step = bp.compile(train)
    x = bp.ones(2, 3)
    for _ in range(3):
        assert step(x).item() == train(x).item()
    set_other(3.0)
    assert step(x).item() == train(x).item() and step.replays == 2
    set_weight(2.0)
    assert step(x).item() == train(x).item() and step.replays == 2


def test_a_transposed_or_expanded_argument_records_again() -> None:
    """The key held shapes but not strides: after records with a contiguous ``x``, ``step(x.t())`` replayed the
    record's ``view(-1)`` where eager raises (torch refuses ``view`` across non-contiguous dimensions)."""
    w = bp.arange(9.0, requires_grad=True)

    def step(x: Any) -> Any:
        w.grad = None
        y = (x.view(-1) * w).sum()
        y.backward()
        return y.detach()

    fn = bp.compile(step)
    x = bp.arange(9.0).reshape(3, 3)
    for _ in range(3):
        assert fn(x).item() == step(x).item()
    for bad in (x.t(), bp.arange(3.0).expand(3, 3)):
        with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's size and stride"):
            fn(bad)
    assert fn.replays == 1
    assert fn(x.t().contiguous()).item() == step(x.t().contiguous()).item() and fn.replays == 2


_ARGS = types.SimpleNamespace(alpha=1.0, mode="sum")
_CFG = {"beta": 1.0}
_EXTRA: list = []
_HISTORY: list = []
_CALLS = 0


def test_config_objects_dicts_and_lists_changed_in_place_between_calls_record_again() -> None:
    """``args.alpha = 2.0`` (a config object), ``CFG["beta"] = 2.0`` (a dict) or ``EXTRA[0] = other`` (a list of
    tensors) between calls kept the global's identity, so the replay used the baked-in old number or read the old
    tensor silently; their contents are now part of the guard (as a module's config attributes already were)."""
    lin = bp.nn.Linear(3, 1)
    _EXTRA[:] = [bp.ones(1)]

    def train(x: Any) -> Any:
        lin.zero_grad()
        y = lin(x) * _ARGS.alpha * _CFG["beta"] + _EXTRA[0]
        loss = y.sum() if _ARGS.mode == "sum" else y.mean()
        loss.backward()
        return loss.detach()

    step = bp.compile(train)
    x = bp.ones(2, 3)
    served = []
    try:
        for change in [None, None, None, "alpha", None, None, "beta", None, None, "extra", None, None, "mode", None]:
            if change == "alpha":
                _ARGS.alpha = 2.0
            elif change == "beta":
                _CFG["beta"] = 3.0
            elif change == "extra":
                _EXTRA[0] = bp.full((1,), 5.0)
            elif change == "mode":
                _ARGS.mode = "mean"
            assert step(x).item() == train(x).item()
            served.append(step.replays)
        assert served == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    finally:
        _ARGS.alpha, _ARGS.mode, _CFG["beta"] = 1.0, "sum", 1.0


def test_a_step_with_python_side_effects_on_globals_runs_eagerly() -> None:
    """A replay runs none of the step's Python: ``HISTORY.append(loss)`` or ``global CALLS; CALLS += 1`` in the
    step stopped happening after two calls, silently. Such a step now runs eagerly, with the warning."""
    global _CALLS
    w = bp.ones(3, requires_grad=True)

    def appending(x: Any) -> Any:
        w.grad = None
        loss = (x * w).sum()
        loss.backward()
        _HISTORY.append(loss.detach())
        return loss.detach()

    def counting(x: Any) -> Any:
        global _CALLS
        w.grad = None
        (x * w).sum().backward()
        _CALLS += 1
        return w.grad * 1.0

    x = bp.ones(3)
    try:
        _, fn, msgs = _fallback(appending, x)
        assert fn.replays == 0 and len(_HISTORY) == 4
        assert len(msgs) == 1 and "the step changes global '_HISTORY' from Python" in msgs[0]
        _, fn, msgs = _fallback(counting, x)
        assert fn.replays == 0 and _CALLS == 4
        assert len(msgs) == 1 and "the step changes global '_CALLS' from Python" in msgs[0]
    finally:
        _HISTORY.clear()
        _CALLS = 0


def test_a_compiled_method_whose_python_changes_its_object_runs_eagerly() -> None:
    """``@bp.compile`` on a trainer's method that keeps a history (``self.history.append(loss)``, ``self.steps +=
    1``): a replay runs none of that Python, so the history stopped growing after two calls, silently. Such a
    step now runs eagerly with the warning; one that only reads its object's settings replays, and records
    again when a setting changes."""

    class Trainer:
        def __init__(self, keep: bool) -> None:
            self.lin = bp.nn.Linear(3, 1)
            self.opt = bp.optim.SGD(self.lin.parameters(), lr=0.1)
            self.history: list = []
            self.keep = keep
            self.alpha = 1.0

        @bp.compile
        def step(self, x: Any) -> Any:
            self.opt.zero_grad()
            loss = self.lin(x).square().mean() * self.alpha
            loss.backward()
            self.opt.step()
            if self.keep:
                self.history.append(loss.detach())
            return loss.detach()

    x = bp.ones(2, 3)
    keeping = Trainer(keep=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            keeping.step(x)
    assert len(keeping.history) == 4 and Trainer.step.replays == 0
    assert any("the step changes argument 0 (Trainer) from Python" in str(w.message) for w in caught)

    reading = Trainer(keep=False)
    ref = Trainer(keep=False)
    ref.lin.load_state_dict(reading.lin.state_dict())
    eager = Trainer.step.fn
    for i in range(6):
        if i == 3:
            reading.alpha = ref.alpha = 0.5  # (a setting of the object: records again)
        assert reading.step(x).item() == eager(ref, x).item()
    assert Trainer.step.replays == 2


def test_hooks_and_lambdas_run_by_calls_replayed_whole_may_change_their_state() -> None:
    """A step hook or an LR lambda runs again at every replay (inside ``opt.step()``/``sched.step()``, replayed
    whole), so what it changes (a hook's list of seen steps) does not make the step eager, and keeps changing."""
    lin = bp.nn.Linear(3, 1)
    opt = bp.optim.SGD(lin.parameters(), lr=0.1)
    seen: list = []
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(len(seen)))
    sched = bp.optim.lr_scheduler.LambdaLR(opt, lambda epoch: seen.append(-1) or 0.5**epoch)

    @bp.compile
    def step(x: Any) -> Any:
        opt.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        opt.step()
        sched.step()
        return loss.detach()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "runs eagerly" warning)
        for _ in range(5):
            step(bp.ones(2, 3))
    assert step.replays == 3 and seen.count(-1) == 6 and [s for s in seen if s >= 0] == [1, 3, 5, 7, 9]


def test_a_user_optimizer_subclass_counting_its_steps_replays() -> None:
    """An optimizer passed as an argument whose own ``step`` (replayed whole) counts calls in an attribute: the
    change happens again at every replay, so it does not make the step eager (its object is not fingerprinted)."""

    class Counting(bp.optim.Optimizer):
        def __init__(self, params: Any, lr: float = 0.1) -> None:
            super().__init__(params, {"lr": lr})
            self.count = 0

        def step(self, closure: Any = None) -> None:
            self.count += 1
            for group in self.param_groups:
                for p in group["params"]:
                    p.data.add_(p.grad, alpha=-group["lr"])

    lin = bp.nn.Linear(3, 1)
    opt = Counting(lin.parameters())

    def train(o: Any, x: Any) -> Any:
        o.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        o.step()
        return loss.detach()

    step = bp.compile(train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            step(opt, bp.ones(2, 3))
    assert step.replays == 2 and opt.count == 4


_COLLECTIONS = 0


def _count_collections(phase: str, info: dict) -> None:
    global _COLLECTIONS
    _COLLECTIONS += 1


def test_a_garbage_collector_callback_that_runs_during_the_step_is_not_followed() -> None:
    """A gc callback (hypothesis installs one that times collections in a module global) runs whenever a
    collection happens, also during a record: its global's change is not the step's side effect."""
    lin = bp.nn.Linear(3, 1)

    @bp.compile
    def step(x: Any) -> Any:
        lin.zero_grad()
        loss = lin(x).sum()
        gc.collect()  # (a collection during the step, as an allocation may trigger)
        loss.backward()
        return loss.detach()

    gc.callbacks.append(_count_collections)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(3):
                step(bp.ones(2, 3))
    finally:
        gc.callbacks.remove(_count_collections)
    assert step.replays == 1 and _COLLECTIONS >= 4


def test_a_module_config_object_changed_in_place_records_again() -> None:
    """A module attribute holding a config object (``self.cfg = Namespace(scale=1.0)``) was guarded by identity
    only: ``model.cfg.scale = 2.0`` replayed the old scale."""

    class Scaled(bp.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = bp.nn.Linear(3, 1)
            self.cfg = types.SimpleNamespace(scale=1.0)

        def forward(self, x: Any) -> Any:
            return self.lin(x) * self.cfg.scale

    model = Scaled()

    def train(x: Any) -> Any:
        model.zero_grad()
        loss = model(x).sum()
        loss.backward()
        return loss.detach()

    step = bp.compile(train)
    x = bp.ones(2, 3)
    for _ in range(3):
        assert step(x).item() == train(x).item()
    model.cfg.scale = 2.0
    assert step(x).item() == train(x).item() and step.replays == 1


def test_autocast_and_anomaly_mode_around_a_replayed_step() -> None:
    """A record made outside autocast replayed float32 kernels inside ``autocast`` (eager gives bfloat16), and one
    made inside replayed bfloat16 outside it; anomaly detection runs the step eagerly (every op checked)."""
    lin = bp.nn.Linear(4, 4)

    @bp.compile
    def step(x: Any) -> Any:
        lin.zero_grad()
        y = lin(x)
        y.float().sum().backward()
        return y.detach()

    x = bp.randn(2, 4)
    for _ in range(3):
        assert step(x).dtype == bp.float32
    for _ in range(3):
        with bp.autocast("cpu", dtype=bp.bfloat16):
            out = step(x)
            assert out.dtype == bp.bfloat16
            assert np.array_equal(out.float().numpy(), lin(x).float().detach().numpy())
    assert step(x).dtype == bp.float32 and step.replays == 3
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"), bp.autograd.detect_anomaly():
        with pytest.warns(RuntimeWarning, match="anomaly detection is on"):
            step(x)
    assert step.replays == 3


@pytest.mark.parametrize("how", ["manual_seed", "generator", "set_rng_state", "fork_rng"])
def test_a_step_that_reseeds_runs_eagerly(how: str) -> None:
    """Seeding from Python is not a kernel: a replay kept drawing from the running stream where eager starts over
    (every call of this step gives the same numbers in eager runs)."""
    lin = bp.nn.Linear(3, 3)
    gen = bp.Generator().manual_seed(5)
    start = bp.get_rng_state()

    @bp.compile
    def step(x: Any) -> Any:
        lin.zero_grad()
        if how == "manual_seed":
            bp.manual_seed(0)
            noise = bp.randn(3)
        elif how == "generator":
            gen.manual_seed(0)
            noise = bp.randn(3, generator=gen)
        elif how == "set_rng_state":
            bp.set_rng_state(start)
            noise = bp.randn(3)
        else:
            with bp.random.fork_rng():
                bp.manual_seed(0)
                noise = bp.randn(3)
        y = F.dropout(lin(x) + noise, 0.5)
        y.sum().backward()
        return y.detach()

    x = bp.ones(2, 3)
    with pytest.warns(RuntimeWarning, match="seeds or restores a random generator"):
        outs = [step(x).numpy() for _ in range(4)]
    if how in ("manual_seed", "set_rng_state"):  # (else dropout's draws from the default stream differ per call)
        assert all(np.array_equal(outs[0], o) for o in outs[1:])
    assert step.replays == 0


class _Configured(bp.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = bp.nn.Linear(3, 3)
        self.mask = bp.ones(3)  # (a plain tensor attribute, not a buffer)
        self.cfg = {"scale": 1.0}
        self.act = bp.relu

    def forward(self, x: Any) -> Any:
        return self.act(self.lin(x) * self.mask * self.cfg["scale"])


@pytest.mark.parametrize("change", ["tensor", "dict", "function"])
def test_a_modules_other_attributes_changed_between_calls_record_again(change: str) -> None:
    """Module guards saw numbers and the parameter/submodule objects only: rebinding a plain tensor or function
    attribute, or changing a config dict's entry, replayed the recorded ones."""
    m = _Configured()

    @bp.compile
    def step(x: Any) -> Any:
        m.zero_grad()
        y = m(x)
        y.sum().backward()
        return y.detach()

    x = bp.ones(2, 3)
    for _ in range(3):
        step(x)
    if change == "tensor":
        m.mask = bp.full((3,), 0.5)
    elif change == "dict":
        m.cfg["scale"] = 0.5
    else:
        m.act = bp.tanh
    for _ in range(3):
        assert np.array_equal(step(x).numpy(), m(x).detach().numpy())
    assert step.replays == 2


def test_a_step_that_rebinds_a_module_attribute_runs_eagerly() -> None:
    """A forward keeping its attention map (``self.last = ...``) or counting calls changes the module from Python:
    a replay would leave the attribute as the record left it."""

    class Keeps(bp.nn.Linear):
        def forward(self, x: Any) -> Any:
            y = super().forward(x)
            self.last = y.detach()
            self.calls = getattr(self, "calls", 0) + 1
            return y

    m = Keeps(3, 3)
    m.last, m.calls = None, 0

    @bp.compile
    def step(x: Any) -> Any:
        m.zero_grad()
        m(x).sum().backward()

    with pytest.warns(RuntimeWarning, match=r"the step changes Keeps\.(last|calls) \(a module attribute\)"):
        for _ in range(4):
            step(bp.ones(2, 3))
    assert m.calls == 4 and step.replays == 0


class _ClassScaled(bp.nn.Module):
    scale = 1.0  # (a class attribute: ``self.scale`` reads the class's)

    def __init__(self) -> None:
        super().__init__()
        self.lin = bp.nn.Linear(3, 2)

    def forward(self, x: Any) -> Any:
        return self.lin(x) * self.scale


class _Knobs:
    gain = 1.0  # (read as ``_Knobs.gain``: a global class's attribute)


def test_class_attributes_changed_between_calls_record_again() -> None:
    """``Net.scale = 2.0`` (a class attribute the forward reads as ``self.scale``), ``Knobs.gain = 3.0`` (a global
    class's attribute) or a method patched at run time (``Net.forward = other``) between calls kept every guarded
    object's identity, so the replay used the baked-in old number or the old kernels silently."""
    m = _ClassScaled()

    def train(x: Any) -> Any:
        m.zero_grad()
        loss = (m(x) * _Knobs.gain).sum()
        loss.backward()
        return m.lin.weight.grad * 1.0

    step = bp.compile(train)
    x = bp.ones(2, 3)
    original = _ClassScaled.forward
    served = []
    try:
        for change in [None, None, None, "scale", None, None, "gain", None, None, "forward", None, None]:
            if change == "scale":
                _ClassScaled.scale = 2.0
            elif change == "gain":
                _Knobs.gain = 3.0
            elif change == "forward":
                _ClassScaled.forward = lambda self, x: self.lin(x).tanh() * self.scale  # type: ignore[method-assign]
            assert np.array_equal(step(x).numpy(), train(x).numpy()), change
            served.append(step.replays)
        assert served == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    finally:
        _ClassScaled.scale, _Knobs.gain, _ClassScaled.forward = 1.0, 1.0, original  # type: ignore[method-assign]


def test_a_step_changing_a_class_attribute_runs_eagerly() -> None:
    """``Counter.calls += 1`` in the step (a class attribute as a counter) would stop counting in a replay."""

    class Counter:
        calls = 0

    w = bp.ones(3, requires_grad=True)

    def counting(x: Any) -> Any:
        w.grad = None
        (x * w).sum().backward()
        Counter.calls += 1
        return w.grad * 1.0

    _, fn, msgs = _fallback(counting, bp.ones(3))
    assert fn.replays == 0 and Counter.calls == 4
    assert len(msgs) == 1 and "the step changes closure variable 'Counter' from Python" in msgs[0]


def _logged_forward(w: Any, x: Any) -> Any:
    logging.getLogger("test_compile_step").info("forward")  # (a helper the step calls: followed while recording)
    return x * w


@pytest.mark.parametrize("call", ["print", "stdout", "logging", "clock", "random", "numpy-random", "numpy-generator"])
def test_a_step_that_prints_logs_reads_the_clock_or_draws_python_random_numbers_runs_eagerly(
    call: str, capsys: pytest.CaptureFixture
) -> None:
    """A replay runs none of the step's Python: ``print``/``logging`` inside the step (or a function it calls)
    stopped after two calls, and ``time.time()``, ``random.random()`` or ``np.random.rand()`` feeding the math
    were baked into the record as the first draw, silently. Such a step now runs eagerly, naming the call."""
    import random
    import sys
    import time

    w = bp.ones(3, requires_grad=True)
    rng = np.random.default_rng(0)
    logging.getLogger("test_compile_step").setLevel(logging.INFO)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("test_compile_step").addHandler(handler)

    def step(x: Any) -> Any:
        w.grad = None
        scale = 1.0
        if call == "print":
            print("step")
        elif call == "stdout":
            sys.stdout.write("step\n")
        elif call == "clock":
            scale = 1.0 + time.perf_counter() % 1.0
        elif call == "random":
            scale = random.random()
        elif call == "numpy-random":
            scale = float(np.random.rand())
        elif call == "numpy-generator":
            scale = float(rng.random())
        y = _logged_forward(w, x) if call == "logging" else x * w
        (y * scale).sum().backward()
        return w.grad * 1.0

    try:
        outs, fn, msgs = _fallback(step, bp.ones(3))
    finally:
        logging.getLogger("test_compile_step").removeHandler(handler)
    assert fn.replays == 0 and len(msgs) == 1 and "eagerly" in msgs[0], msgs
    if call in ("print", "stdout"):
        assert capsys.readouterr().out == "step\n" * 4
        assert "print()" in msgs[0] or "write()" in msgs[0]
    elif call == "logging":
        assert seen == ["forward"] * 4 and "logs" in msgs[0]
    elif call == "clock":
        assert "perf_counter() (reads the clock)" in msgs[0]
    elif call == "numpy-generator":
        assert "the step changes closure variable 'rng'" in msgs[0]
    else:
        assert "random numbers" in msgs[0]
        assert len({tuple(o.tolist()) for o in outs}) == 4  # (each call its own draw)


def test_an_lr_the_step_reads_from_the_param_groups_is_guarded() -> None:
    """``loss * opt.param_groups[0]["lr"]`` or ``sched.get_last_lr()[0]`` in the step's own code bakes the rate
    into the record; a StepLR moving it every few steps then replayed the old rate silently. The groups' keys the
    code names are now guarded (a changed rate records again), and a step setting the rate itself from an
    argument replays with the rate eager execution sets."""

    def run(compiled: bool, how: str) -> tuple[list[np.ndarray], Any]:
        bp.manual_seed(0)
        lin = bp.nn.Linear(3, 1)
        opt = bp.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
        sched = bp.optim.lr_scheduler.StepLR(opt, 3, 0.5)

        def train(x: Any, lr: float) -> Any:
            opt.zero_grad()
            loss = lin(x).square().mean()
            if how == "groups":
                loss = loss * (1.0 / opt.param_groups[0]["lr"])
            elif how == "last_lr":
                loss = loss * (1.0 / sched.get_last_lr()[0])
            else:
                for g in opt.param_groups:
                    g["lr"] = lr
            loss.backward()
            opt.step()
            if how != "sets":
                sched.step()
            return loss.detach()

        fn = bp.compile(train) if compiled else train
        x = bp.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        lrs = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05]
        outs = [fn(x, lr).numpy() for lr in lrs]
        return [*outs, lin.weight.detach().numpy()], fn

    for how in ("groups", "last_lr", "sets"):
        eager, _ = run(False, how)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (two records of different rates: eager, with the warning)
            compiled, fn = run(True, how)
        assert all(np.array_equal(a, b) for a, b in zip(eager, compiled)), how
        assert fn.replays > 0 if how == "sets" else True


def test_a_step_naming_the_param_groups_without_reading_rates_still_replays() -> None:
    """Per-group clipping (``for g in opt.param_groups: clip_grad_norm_(g["params"], 1.0)``) with a scheduler
    stepped inside: the rates change every call, but the code reads none of them, so nothing is guarded on them."""
    model = _mlp()
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    sched = bp.optim.lr_scheduler.ExponentialLR(opt, 0.9)

    def train(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for g in opt.param_groups:
            bp.nn.utils.clip_grad_norm_(g["params"], 1.0)
        opt.step()
        sched.step()
        return loss.detach()

    fn = bp.compile(train)
    for x, y in _batches(6):
        fn(x, y)
    assert fn.replays == 4
