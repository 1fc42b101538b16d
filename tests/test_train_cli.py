"""train-lm, eval and generate end to end: metrics, resume, Ctrl-C, atomic checkpoints, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from backprop import cli
from backprop.data import corpus
from backprop.lm import checkpoint
from backprop.lm.train import Interrupted, TrainConfig, train

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


def test_train_writes_metrics_checkpoint_and_plot(data: dict[str, str], tmp_path: Path) -> None:
    m = train(_cfg(data, tmp_path, epochs=2, ngram=True))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("valid_ppl", "test_ppl", "steps", "tokens_per_s", "seconds"):
        assert saved[key] is not None, key
    assert len(saved["valid_ppl"]) == 2 and saved["steps"] == m["steps"] > 0
    assert saved["valid_ppl"][1] < saved["valid_ppl"][0] < 80
    assert saved["ngram"]["test_ppl"] > 0
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert (tmp_path / "checkpoint.json").is_file()


def test_resume_reproduces_the_uninterrupted_loss_sequence(data: dict[str, str], tmp_path: Path) -> None:
    kw = dict(epochs=3, log_every=1, dropout=0.2, ngram=False, lr_decay=0.5)
    full = train(_cfg(data, tmp_path / "full", **kw))
    part = train(_cfg(data, tmp_path / "part", **kw, max_steps=37))
    assert part["steps"] == 37 and not part["finished"]
    part = train(
        TrainConfig(resume=str(tmp_path / "part"), max_steps=200, epochs=3, log_every=1, progress=False, ngram=False)
    )  # a second interruption, after an epoch boundary (lr decayed)
    assert part["steps"] == 200 and not part["finished"]
    rest = train(TrainConfig(resume=str(tmp_path / "part"), epochs=3, log_every=1, progress=False, ngram=False))
    assert rest["train_loss"] == full["train_loss"]  # every logged loss, bit for bit
    assert rest["valid_ppl"] == full["valid_ppl"] and rest["test_ppl"] == full["test_ppl"]


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
    m = train(TrainConfig(resume=str(tmp_path), epochs=1, progress=False, ngram=False))
    assert m["finished"] and m["steps"] > 4


def test_interrupted_save_leaves_previous_checkpoint_intact(
    data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(_cfg(data, tmp_path, epochs=1, ngram=False))
    before = checkpoint.load(tmp_path)

    def failing_save(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path, step=999, model_state={"w": np.ones(3, np.float32)}, optimizer_state=None, meta={})
    after = checkpoint.load(tmp_path)
    assert after["step"] == before["step"]
    for k, v in before["model_state"].items():
        np.testing.assert_array_equal(after["model_state"][k], v)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


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
