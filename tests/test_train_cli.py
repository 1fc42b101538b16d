"""train-lm, eval and generate end to end: metrics, resume, Ctrl-C, atomic checkpoints, errors."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import importlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from backprop import cli
from backprop.data import corpus
from backprop.lm import checkpoint
from backprop.lm.config import DEFAULT_LR, DEVICES
from backprop.lm.model import ACTIVATIONS, FeedForwardLM
from backprop.lm.train import Interrupted, TrainConfig, train

train_module = importlib.import_module("backprop.lm.train")  # ``backprop.lm.train`` is also the function
SMALL = dict(context=2, embed_dim=8, hidden_dim=16, batch_size=64, progress=False, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("corpus")
    splits = corpus.generate(n_train=1500, n_valid=150, n_test=150, seed=3)
    paths = {}
    for name, lines in splits.items():
        paths[name] = str(d / f"{name}.txt")
        Path(paths[name]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _cfg(data: dict[str, str], out: Path, **kw) -> TrainConfig:
    return TrainConfig(train=data["train"], valid=data["valid"], test=data["test"], out=str(out), **{**SMALL, **kw})


@pytest.fixture(scope="module")
def two_epochs(data: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("two_epochs")
    return train(_cfg(data, out, epochs=2, ngram=True)), out


def test_train_writes_metrics_and_checkpoint(two_epochs: tuple[dict, Path]) -> None:
    m, out = two_epochs
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("valid_ppl", "test_ppl", "steps", "tokens_per_s", "seconds"):
        assert saved[key] is not None, key
    assert len(saved["valid_ppl"]) == 2 and saved["steps"] == m["steps"] > 0
    assert saved["valid_ppl"][1] < saved["valid_ppl"][0] < 80
    assert saved["ngram"]["test_ppl"] > 0
    assert (out / "checkpoint.json").is_file()


def test_train_writes_the_loss_plot(two_epochs: tuple[dict, Path]) -> None:
    assert (two_epochs[1] / "loss.png").stat().st_size > 1000


def test_train_works_without_matplotlib(data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # ``import matplotlib`` raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    m = train(_cfg(data, tmp_path, epochs=1, max_steps=3, ngram=False))
    assert m["steps"] == 3 and (tmp_path / "metrics.json").is_file()
    assert not (tmp_path / "loss.png").exists()


def test_resume_reproduces_the_uninterrupted_loss_sequence(data: dict[str, str], tmp_path: Path) -> None:
    kw = dict(epochs=3, log_every=1, dropout=0.2, ngram=False, lr_decay=0.5)
    full = train(_cfg(data, tmp_path / "full", **kw))
    part = train(_cfg(data, tmp_path / "part", **kw, max_steps=37))
    assert part["steps"] == 37 and not part["finished"] and part["stopped"] == "max_steps"
    # a capped run still evaluates its final weights (mid-epoch: never validated) on valid and test
    assert part["final_valid_ppl"] > 1 and part["test_ppl"] > 1 and part["test_weights"] == "final"
    assert part["valid_ppl"] == [] and json.loads((tmp_path / "part" / "metrics.json").read_text())["test_ppl"]
    again = train(TrainConfig(resume=str(tmp_path / "part"), progress=False), given={"progress"})
    assert again["steps"] == 37 and again["test_ppl"] == part["test_ppl"]  # still capped: not one step more
    part = train(
        TrainConfig(resume=str(tmp_path / "part"), max_steps=200, epochs=3, log_every=1, progress=False, ngram=False)
    )  # a second interruption, after an epoch boundary (lr decayed)
    assert part["steps"] == 200 and not part["finished"]
    rest = train(  # max_steps=None must be said explicitly: a default value alone keeps the checkpoint's 200
        TrainConfig(resume=str(tmp_path / "part"), progress=False), given={"max_steps", "progress"}
    )
    assert rest["train_loss"] == full["train_loss"]  # every logged loss, bit for bit
    assert rest["valid_ppl"] == full["valid_ppl"] and rest["test_ppl"] == full["test_ppl"]
    assert full["stopped"] == rest["stopped"] == "epochs" and "final_valid_ppl" not in rest
    # the metrics files are equal, but for timings, paths and the cap (evaluating at a cap changes nothing)
    files = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("full", "part")]
    for m in files:
        m["config"].pop("max_steps")
    assert _comparable(files[0]) == _comparable(files[1])


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(
    data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backprop.optim import adam

    calls = {"n": 0}
    original = adam.Adam._update

    def interrupting(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4 * 5 + 1:  # 5 parameters (E, W, b, U, c) per step: interrupt in step 5
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(adam.Adam, "_update", interrupting)
    with pytest.raises(Interrupted):
        train(_cfg(data, tmp_path, epochs=1, ngram=False))
    monkeypatch.setattr(adam.Adam, "_update", original)
    ck = checkpoint.load(tmp_path)
    assert ck["progress"]["step"] == 4  # the interrupted step was not counted
    stopped = json.loads((tmp_path / "metrics.json").read_text())
    assert stopped["stopped"] == "interrupted" and stopped["steps"] == 4 and "test_ppl" not in stopped
    m = train(TrainConfig(resume=str(tmp_path), epochs=1, progress=False, ngram=False))
    assert m["finished"] and m["steps"] > 4


@pytest.mark.parametrize("fail_at", [0, 1, 2])  # writing the weights, the best weights, checkpoint.json
def test_full_disk_during_a_save_leaves_previous_checkpoint_intact(
    fail_at: int, data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC simulated by patching the write (a real full tmpfs needs root): part of the file is written,
    then the write fails; the save raises a one-line CheckpointError and the old checkpoint still loads."""
    train(_cfg(data, tmp_path, epochs=1, max_steps=3, ngram=False))
    before, listing = checkpoint.load(tmp_path), sorted(os.listdir(tmp_path))
    writes = {"n": 0}
    original = checkpoint._write_file

    def filling_disk(path, data: bytes) -> None:
        writes["n"] += 1
        if writes["n"] <= fail_at:
            return original(path, data)
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoint, "_write_file", filling_disk)
    state = {k: v + 1 for k, v in before["model_state"].items()}
    with pytest.raises(checkpoint.CheckpointError, match="No space left on device") as err:
        checkpoint.save(tmp_path, step=999, model_state=state, optimizer_state=None, meta={}, best_state=state)
    assert "previous checkpoint" in str(err.value) and len(str(err.value).splitlines()) == 1
    monkeypatch.setattr(checkpoint, "_write_file", original)
    after = checkpoint.load(tmp_path)
    assert after["step"] == before["step"] == 3
    for k, v in before["model_state"].items():
        np.testing.assert_array_equal(after["model_state"][k], v)
    leftover = sorted(os.listdir(tmp_path))  # no temporary files; complete new data files may remain (unnamed)
    assert not [p for p in leftover if p.endswith(".tmp")] and set(listing) <= set(leftover)


def test_cli_train_eval_generate(data: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = cli.main(
        [
            "train-lm",
            "--train",
            data["train"],
            "--valid",
            data["valid"],
            "--epochs",
            "1",
            "--context",
            "2",
            "--embed-dim",
            "8",
            "--hidden-dim",
            "16",
            "--no-progress",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--no-ngram",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["steps"] > 0
    assert cli.main(["eval", str(out), data["test"], "--device", "cpu"]) == 0
    ppl = json.loads(capsys.readouterr().out)["perplexity"]
    assert 1 < ppl < 200
    assert cli.main(["generate", str(out), "--prompt", "the", "--seed", "1", "--device", "cpu"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["generate", str(out), "--prompt", "the", "--seed", "1", "--device", "cpu"]) == 0
    assert capsys.readouterr().out == first and first.startswith("the ")


@pytest.mark.parametrize("problem", ["missing", "empty", "latin1", "directory"])
def test_cli_bad_corpus_is_one_line_exit_2(problem: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "corpus.txt"
    if problem == "empty":
        path.write_text("\n\n", encoding="utf-8")
    elif problem == "latin1":
        path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    elif problem == "directory":
        path.mkdir()
    code = cli.main(["train-lm", "--train", str(path), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(path) in err and err.startswith("backprop: error:")
    expected = {"missing": "no such file", "empty": "empty", "latin1": "UTF-8", "directory": "directory"}
    assert expected[problem] in err


def test_cli_corrupt_truncated_or_mismatched_checkpoint(
    data: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    train(_cfg(data, tmp_path, epochs=1, ngram=False))
    capsys.readouterr()
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    weights = tmp_path / meta["files"]["best_weights"]
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    assert cli.main(["eval", str(tmp_path), data["test"], "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "corrupt or truncated" in err and weights.name in err and len(err.strip().splitlines()) == 1
    weights.write_bytes(good)
    meta["vocab"] = meta["vocab"][:-3]  # vocabulary no longer matches the weights
    (tmp_path / "checkpoint.json").write_text(json.dumps(meta))
    assert cli.main(["eval", str(tmp_path), data["test"], "--device", "cpu"]) == 2
    assert "vocabulary" in capsys.readouterr().err
    assert cli.main(["eval", str(tmp_path / "nope"), data["test"], "--device", "cpu"]) == 2
    assert "no such checkpoint directory" in capsys.readouterr().err


def test_cli_unusable_cuda_is_exit_2(capsys: pytest.CaptureFixture) -> None:
    import backprop as bp

    if bp.cuda.is_available():
        pytest.skip("CUDA is usable here; the error path needs a machine without it")
    assert cli.main(["train-lm", "--device", "cuda", "--no-progress"]) == 2
    assert "cuda" in capsys.readouterr().err


def test_cli_auto_device_says_which_device_once(
    data: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backprop as bp
    from backprop import devices as device_module

    monkeypatch.setattr(device_module, "_auto", None)  # as in a fresh process

    assert (
        cli.main(
            [
                "train-lm",
                "--train",
                data["train"],
                "--epochs",
                "1",
                "--max-steps",
                "3",
                "--context",
                "2",
                "--embed-dim",
                "4",
                "--hidden-dim",
                "4",
                "--no-progress",
                "--no-ngram",
                "--device",
                "auto",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    expected = "cuda:0" if bp.cuda.is_available() else "cpu (CUDA not usable"
    assert err.count("device auto -> ") == 1 and expected in err
    assert bp.device("auto") is bp.device("auto") and capsys.readouterr().err == ""  # decided once


# --- one source for the configuration: TrainConfig's fields are train-lm's options ---


def _train_lm_parser() -> argparse.ArgumentParser:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train-lm"]


def _actions() -> dict[str, argparse.Action]:
    return {a.dest: a for a in _train_lm_parser()._actions if a.dest != "help"}


def test_every_config_field_is_a_flag_and_every_flag_a_field() -> None:
    actions = _actions()
    assert set(actions) == {f.name for f in dataclasses.fields(TrainConfig)}
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        expected = "--no-" + flag[2:] if f.default is True else flag
        assert actions[f.name].option_strings == [expected], f.name
        assert f.metadata.get("help"), f"TrainConfig.{f.name} has no help text"


def test_parser_defaults_are_the_config_defaults() -> None:
    args = _train_lm_parser().parse_args([])
    assert not [f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)]  # untyped: absent
    defaults = cli.cli_defaults(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        assert defaults[f.name] == f.metadata.get("cli_default", f.default), f.name
    # the one deliberate difference: the library writes nothing unless told, the command writes runs/lm
    assert [f.name for f in dataclasses.fields(TrainConfig) if "cli_default" in f.metadata] == ["out"]
    assert TrainConfig().epochs == 15  # the README's main job (14 epochs, then early stopping) relies on it


def test_choices_come_from_their_single_definitions() -> None:
    actions = _actions()
    assert list(actions["activation"].choices) == list(ACTIVATIONS)
    assert list(actions["optimizer"].choices) == list(DEFAULT_LR)
    assert actions["device"].metavar == "{" + ",".join(DEVICES) + "}"  # checked by its type=, cuda:N included
    for name in ACTIVATIONS:  # every advertised activation builds a model, and trains through it
        assert isinstance(FeedForwardLM(10, 2, 4, 4, activation=name).activation, ACTIVATIONS[name])
    model = FeedForwardLM(10, 2, 4, 4)
    for name, lr in DEFAULT_LR.items():
        assert train_module._make_optimizer(TrainConfig(optimizer=name), model).param_groups[0]["lr"] == lr
    with pytest.raises(ValueError, match="activation must be one of"):
        FeedForwardLM(10, 2, 4, 4, activation="swish")


def test_readme_options_are_the_parsers() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    bullet = readme[readme.index("- **Options**") : readme.index("- **Outputs**")]
    documented = set(re.findall(r"--[a-z][a-z-]*", bullet))
    flags = {s for a in _train_lm_parser()._actions for s in a.option_strings}
    assert documented and documented <= flags, documented - flags
    for choices in re.findall(r"\{([a-zA-Z:,]+)\}", bullet):  # {sgd,adam,adamw}, {auto,cpu,cuda,cuda:N}
        assert any(
            (a.choices and list(a.choices) == choices.split(",")) or a.metavar == "{" + choices + "}"
            for a in _train_lm_parser()._actions
        ), choices


def test_cli_flags_reach_the_config(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    seen: list[TrainConfig] = []
    monkeypatch.setattr(train_module, "train", lambda cfg, given=None: seen.append(cfg) or {"steps": 0})
    assert cli.main(["train-lm"]) == 0
    assert seen[-1] == dataclasses.replace(TrainConfig(), out="runs/lm")
    argv = "--activation relu --tie-weights --no-ngram --lr 0.5 --max-steps 7 --optimizer sgd --epochs 2"
    assert cli.main(["train-lm", *argv.split()]) == 0
    expected = dict(activation="relu", tie_weights=True, ngram=False, lr=0.5, max_steps=7, optimizer="sgd", epochs=2)
    assert seen[-1] == TrainConfig(out="runs/lm", **expected)
    capsys.readouterr()


def test_dataclass_options_reject_types_argparse_cannot_parse() -> None:
    @dataclasses.dataclass
    class Odd:
        sizes: list = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="no command-line option"):
        cli.add_dataclass_options(argparse.ArgumentParser(), Odd)


def test_cli_resume_continues_the_checkpointed_run(
    data: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    common = ["--no-progress", "--no-ngram", "--device", "cpu", "--out", str(tmp_path)]
    small = ["--context", "2", "--embed-dim", "4", "--hidden-dim", "4", "--activation", "relu"]
    assert cli.main(["train-lm", "--train", data["train"], "--epochs", "1", "--max-steps", "5", *small, *common]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 5
    assert cli.main(["train-lm", "--resume", str(tmp_path), "--max-steps", "100000"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["finished"] and metrics["steps"] > 5
    assert metrics["config"]["activation"] == "relu" and metrics["config"]["context"] == 2  # from the checkpoint


def _comparable(metrics: dict) -> dict:
    """A metrics file without what legitimately differs between two runs: timings and paths."""
    config = {k: v for k, v in metrics["config"].items() if k not in ("out", "resume")}
    return {**{k: v for k, v in metrics.items() if k not in ("seconds", "tokens_per_s", "config")}, "config": config}


def test_cli_resume_alone_finishes_the_run_as_started(
    data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Interrupted with Ctrl-C, resumed with ``--resume DIR`` and no other flag: the metrics file equals the
    uninterrupted run's (epochs, every logged loss, test perplexity), though the parser's defaults differ
    from the run's settings (--epochs 15, --patience 3, --log-every 50, the n-gram baseline on)."""
    from backprop.optim import adam

    flags = ["--train", data["train"], "--valid", data["valid"], "--test", data["test"], "--no-progress"]
    flags += ["--context", "2", "--embed-dim", "8", "--hidden-dim", "8", "--device", "cpu", "--epochs", "2"]
    flags += ["--patience", "1", "--log-every", "3", "--no-ngram"]
    assert cli.main(["train-lm", *flags, "--out", str(tmp_path / "full")]) == 0
    calls = {"n": 0}
    original = adam.Adam._update

    def interrupting(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5 * 30 + 1:  # 5 parameters per step: Ctrl-C in step 31 (of the first epoch)
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(adam.Adam, "_update", interrupting)
    assert cli.main(["train-lm", *flags, "--out", str(tmp_path / "part")]) == 130
    monkeypatch.setattr(adam.Adam, "_update", original)
    assert checkpoint.load(tmp_path / "part")["progress"]["step"] == 30
    assert cli.main(["train-lm", "--resume", str(tmp_path / "part")]) == 0
    capsys.readouterr()
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert resumed["config"]["epochs"] == 2 and len(resumed["valid_ppl"]) == 2 and "ngram" not in resumed
    assert _comparable(resumed) == _comparable(full)


def test_resume_refuses_to_change_the_model(data: dict[str, str], tmp_path: Path) -> None:
    train(_cfg(data, tmp_path, epochs=1, max_steps=2, ngram=False))
    with pytest.raises(ValueError, match="--hidden-dim cannot change when resuming"):
        train(TrainConfig(resume=str(tmp_path), hidden_dim=99))


def test_non_finite_weights_are_never_checkpointed(
    data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step whose loss was finite can still leave NaN weights (its gradient was not): the epoch-end save
    refuses them, raises NonFiniteLoss naming the step, and the previous epoch's checkpoint stays."""
    from backprop.lm.train import NonFiniteLoss

    original = train_module._step

    def poisoning(run, ctx, tgt):
        loss = original(run, ctx, tgt)
        if run.prog.epoch == 1 and run.prog.batch == run.windows["train"].num_batches(run.cfg.batch_size) - 1:
            run.model.hidden.bias._data[...] = np.nan  # the last step of epoch 2
        return loss

    monkeypatch.setattr(train_module, "_step", poisoning)
    with pytest.raises(NonFiniteLoss, match="weights are not finite") as err:
        train(_cfg(data, tmp_path, epochs=3, ngram=False, log_every=10_000))
    ck = checkpoint.load(tmp_path)
    assert ck["progress"]["epoch"] == 1 and err.value.saved_step == ck["step"] < err.value.step
    assert all(np.isfinite(v).all() for v in ck["model_state"].values())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["stopped"] == "non_finite_loss" and metrics["notes"]  # valid_ppl[1] is NaN: written as null
