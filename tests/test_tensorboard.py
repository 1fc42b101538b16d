"""``bp.utils.tensorboard.SummaryWriter`` against ``torch.utils.tensorboard.SummaryWriter``: the same calls
write the same events (read back from both event files, wall times aside), the same per-tag run
directories and projector files; plus closed-form checks that run without torch (the values written come
back through TensorBoard's own ``EventAccumulator``). Skipped without the optional ``tensorboard``."""

from __future__ import annotations

import glob
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tensorboard = pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader  # noqa: E402
from tensorboard.compat.proto.event_pb2 import Event  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

import backprop as bp  # noqa: E402
from backprop.utils.tensorboard import SummaryWriter  # noqa: E402

try:
    import torch
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
except ImportError:  # pragma: no cover - torch is optional
    torch = None
    TorchWriter = None

try:
    from PIL import Image
except ImportError:  # pragma: no cover - Pillow comes with matplotlib
    Image = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
needs_pil = pytest.mark.skipif(Image is None, reason="Pillow not installed")

ROOT = Path(__file__).resolve().parents[1]
WALL = 1234.5


def _event_file(logdir: Path) -> str:
    files = sorted(glob.glob(str(logdir / "events.out.tfevents.*")))
    assert len(files) == 1, files
    return files[0]


def _events(logdir: Path) -> list[Event]:
    """Every event of the one event file in ``logdir`` after its file-version header, wall time zeroed."""
    header, *events = (Event.FromString(raw) for raw in RawEventFileLoader(_event_file(logdir)).Load())
    assert header.file_version == "brain.Event:2"
    for ev in events:
        ev.wall_time = 0
    return events


def _acc(logdir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={k: 0 for k in ("scalars", "histograms", "images", "tensors")})
    acc.Reload()
    return acc


class _Lib:
    """Makes tensors of one library from NumPy arrays, so one test body drives both writers."""

    def __init__(self, mod: Any) -> None:
        self.mod = mod

    def __call__(self, a: Any, requires_grad: bool = False) -> Any:
        t = self.mod.tensor(np.asarray(a))
        if requires_grad:
            t.requires_grad_(True)
        return t


def _write_both(tmp_path: Path, body: Any) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "bp", tmp_path / "torch"
    with SummaryWriter(ours) as w:
        body(w, _Lib(bp))
    with TorchWriter(theirs) as w:
        body(w, _Lib(torch))
    return ours, theirs


RNG = np.random.default_rng(0)
DATA = RNG.standard_normal(1000).astype(np.float32)
IMG_CHW = RNG.random((3, 10, 13)).astype(np.float32)
IMG_HWC_U8 = RNG.integers(0, 256, (7, 5, 3), dtype=np.uint8)
BATCH = RNG.random((10, 1, 6, 4)).astype(np.float32)  # 10 gray images: a 2-row grid, 8 a row
LABELS = RNG.integers(0, 2, 200)
PREDS = RNG.random(200).astype(np.float32)
VERTS = RNG.random((1, 6, 3)).astype(np.float32)


def _scalars(w: Any, T: Any) -> None:
    w.add_scalar("loss", 0.25, 0, walltime=WALL)
    w.add_scalar("loss", T(np.float32(1.5), requires_grad=True) * 2, 1, walltime=WALL)  # grad-requiring: detached
    w.add_scalar("loss", np.float64(3.0), 2, walltime=WALL)
    w.add_scalar("acc", T(np.array([0.75])), 3, walltime=WALL, new_style=True)
    w.add_scalar("acc", 0.1 + 1e-12, 4, walltime=WALL, new_style=True, double_precision=True)


def _histograms(w: Any, T: Any) -> None:
    w.add_histogram("tf", T(DATA), 0, walltime=WALL)
    w.add_histogram("tf_maxbins", DATA, 1, walltime=WALL, max_bins=30)
    w.add_histogram("auto", T(DATA), 2, bins="auto", walltime=WALL)
    w.add_histogram("fd_max", DATA.astype(np.float64), 3, bins="fd", max_bins=7, walltime=WALL)
    w.add_histogram("ten", T(np.arange(20.0).reshape(4, 5)), 4, bins=10, walltime=WALL)
    w.add_histogram("const", np.full(5, 2.0), 5, walltime=WALL)
    w.add_histogram("zeros", T(np.zeros(4)), 6, walltime=WALL)
    w.add_histogram_raw("raw", 0, 3, 6, 7.5, 12.5, [1.0, 2.0, 3.0], [1, 2, 3], 7, walltime=WALL)


def _text_and_custom(w: Any, T: Any) -> None:
    w.add_text("notes", "**bold** text, ünïcode", 0, walltime=WALL)
    w.add_text("notes", "second", 1, walltime=WALL)
    w.add_custom_scalars(
        {"Training": {"loss": ["Multiline", ["loss/a", "loss/b"]], "m": ["Margin", ["x", "lo", "hi"]]}}
    )
    w.add_custom_scalars_multilinechart(["a", "b"], category="cat", title="ml")
    w.add_custom_scalars_marginchart(["v", "l", "u"], title="mg")


def _images(w: Any, T: Any) -> None:
    w.add_image("chw", T(IMG_CHW), 0, walltime=WALL)
    w.add_image("hwc_u8", IMG_HWC_U8, 1, walltime=WALL, dataformats="HWC")
    w.add_image("hw", T(IMG_CHW[0]), 2, walltime=WALL, dataformats="HW")
    w.add_image("hwc_gray", IMG_CHW[:1].transpose(1, 2, 0), 3, walltime=WALL, dataformats="HWC")
    w.add_image("out_of_range", T(IMG_CHW * 3 - 1), 4, walltime=WALL)  # clipped to 0..1
    w.add_images("batch", T(BATCH), 5, walltime=WALL)
    w.add_images("nhwc", BATCH.transpose(0, 2, 3, 1), 6, walltime=WALL, dataformats="NHWC")
    w.add_image_with_boxes(
        "boxes", T(IMG_CHW), T(np.array([[1.0, 1.0, 8.0, 6.0], [2, 3, 12, 9]])), 7, walltime=WALL, labels=["a", "b"]
    )


def _pr_audio_tensor_mesh(w: Any, T: Any) -> None:
    w.add_pr_curve("pr", T(LABELS), T(PREDS), 0, walltime=WALL)
    w.add_pr_curve("pr_small", LABELS, PREDS, 1, num_thresholds=11, walltime=WALL)
    w.add_pr_curve("pr_capped", LABELS, PREDS, 2, num_thresholds=500, walltime=WALL)
    n = 5
    vals = [np.arange(n, dtype=np.float64) + i for i in range(4)]
    w.add_pr_curve_raw("prraw", *vals, np.linspace(0, 1, n), np.linspace(1, 0, n), 3, num_thresholds=n, walltime=WALL)
    w.add_audio("snd", T(np.sin(np.linspace(0, 20, 400)).astype(np.float32)), 4, sample_rate=8000, walltime=WALL)
    w.add_tensor("t32", T(np.arange(6, dtype=np.float32).reshape(2, 3)), 5, walltime=WALL)
    w.add_tensor("t64", T(np.arange(-3, 3, dtype=np.int64)), 6, walltime=WALL)
    verts = VERTS
    faces = np.array([[[0, 1, 2], [3, 4, 5]]])
    colors = np.full((1, 6, 3), 128)
    w.add_mesh("mesh", T(verts), colors=T(colors), faces=T(faces), config_dict={"camera": {"fov": 75}}, global_step=7)


CASES = {
    "scalars": _scalars,
    "histograms": _histograms,
    "text": _text_and_custom,
    "pr_audio_tensor_mesh": _pr_audio_tensor_mesh,
}


@needs_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_events_as_torch(tmp_path: Path, case: str) -> None:
    ours, theirs = _write_both(tmp_path, CASES[case])
    a, b = _events(ours), _events(theirs)
    assert len(a) == len(b) > 0
    for ea, eb in zip(a, b):
        assert ea == eb, f"\nbackprop:\n{ea}\ntorch:\n{eb}"


@needs_torch
@needs_pil
def test_same_images_as_torch(tmp_path: Path) -> None:
    ours, theirs = _write_both(tmp_path, _images)
    a, b = _events(ours), _events(theirs)
    assert len(a) == len(b) == 8
    for ea, eb in zip(a, b):
        (va,), (vb,) = ea.summary.value, eb.summary.value
        assert (va.tag, ea.step) == (vb.tag, eb.step)
        ia, ib = va.image, vb.image
        assert (ia.height, ia.width, ia.colorspace) == (ib.height, ib.width, ib.colorspace)
        pa = np.asarray(Image.open(io.BytesIO(ia.encoded_image_string)))
        pb = np.asarray(Image.open(io.BytesIO(ib.encoded_image_string)))
        np.testing.assert_array_equal(pa, pb)
        assert ia.encoded_image_string == ib.encoded_image_string  # same pixels, same Pillow: same PNG
    # through the accumulator: tags and decoded sizes
    acc_a, acc_b = _acc(ours), _acc(theirs)
    assert sorted(acc_a.Tags()["images"]) == sorted(acc_b.Tags()["images"])
    for tag in acc_a.Tags()["images"]:
        (x,), (y,) = acc_a.Images(tag), acc_b.Images(tag)
        assert (x.step, x.width, x.height, x.encoded_image_string) == (
            y.step,
            y.width,
            y.height,
            y.encoded_image_string,
        )


@needs_torch
def test_accumulator_view_matches_torch(tmp_path: Path) -> None:
    def body(w: Any, T: Any) -> None:
        _scalars(w, T)
        _histograms(w, T)
        _text_and_custom(w, T)

    ours, theirs = _write_both(tmp_path, body)
    acc_a, acc_b = _acc(ours), _acc(theirs)
    ta, tb = acc_a.Tags(), acc_b.Tags()
    for kind in ("scalars", "histograms", "tensors"):
        assert sorted(ta[kind]) == sorted(tb[kind]), kind
    for tag in ta["scalars"]:
        assert [(e.step, e.value) for e in acc_a.Scalars(tag)] == [(e.step, e.value) for e in acc_b.Scalars(tag)]
    for tag in ta["histograms"]:
        for x, y in zip(acc_a.Histograms(tag), acc_b.Histograms(tag), strict=True):
            hx, hy = x.histogram_value, y.histogram_value
            assert x.step == y.step
            assert (hx.min, hx.max, hx.num, hx.sum, hx.sum_squares) == (hy.min, hy.max, hy.num, hy.sum, hy.sum_squares)
            assert hx.bucket_limit == hy.bucket_limit and hx.bucket == hy.bucket
    for tag in ta["tensors"]:
        for x, y in zip(acc_a.Tensors(tag), acc_b.Tensors(tag), strict=True):
            assert x.step == y.step
            np.testing.assert_array_equal(
                tensor_util.make_ndarray(x.tensor_proto), tensor_util.make_ndarray(y.tensor_proto)
            )
    assert acc_a.PluginTagToContent("text") == acc_b.PluginTagToContent("text")
    assert acc_a.PluginTagToContent("custom_scalars") == acc_b.PluginTagToContent("custom_scalars")


@needs_torch
def test_add_scalars_per_tag_runs_like_torch(tmp_path: Path) -> None:
    def body(w: Any, T: Any) -> None:
        for step in range(3):
            w.add_scalars("loss/split", {"train": T(np.float32(step)), "val": 2.0 * step + 0.5}, step, walltime=WALL)
        w.add_scalars("lr", {"g0": 0.1}, 0)

    ours, theirs = _write_both(tmp_path, body)
    subdirs = sorted(p.name for p in ours.iterdir() if p.is_dir())
    assert subdirs == sorted(p.name for p in theirs.iterdir() if p.is_dir())
    assert subdirs == ["loss_split_train", "loss_split_val", "lr_g0"]
    assert _events(ours) == _events(theirs) == []  # nothing in the main run
    for name in subdirs:
        assert _events(ours / name) == _events(theirs / name)
    acc = _acc(ours / "loss_split_val")
    assert [(e.step, e.value) for e in acc.Scalars("loss/split")] == [(0, 0.5), (1, 2.5), (2, 4.5)]


def _hparams_data(logdir: Path) -> dict[str, Any]:
    acc = _acc(logdir)
    content = acc.PluginTagToContent("hparams")
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(raw) for tag, raw in content.items()}


@needs_torch
def test_add_hparams_like_torch(tmp_path: Path) -> None:
    hp = {"lr": 0.01, "layers": 3, "opt": "adam", "nesterov": True, "skipped": None}
    metrics = {"hparam/acc": 0.9, "hparam/loss": 0.3}
    domain = {"opt": ["adam", "sgd"], "layers": [2, 3, 4]}

    def body(w: Any, T: Any) -> None:
        w.add_hparams(hp, metrics, hparam_domain_discrete=domain, run_name="trial", global_step=5)
        w.add_hparams({"lr": T(np.array([0.5]))}, {"m": T(np.float32(2.0))}, run_name="tensor_hp")

    ours, theirs = _write_both(tmp_path, body)
    for run in ("trial", "tensor_hp"):
        assert _events(ours / run) == _events(theirs / run)
        assert _hparams_data(ours / run) == _hparams_data(theirs / run)
    data = _hparams_data(ours / "trial")
    assert set(data) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = data["_hparams_/session_start_info"].session_start_info.hparams
    assert start["lr"].number_value == 0.01 and start["layers"].number_value == 3
    assert start["opt"].string_value == "adam" and start["nesterov"].number_value == 1.0  # bool as number, as torch
    assert "skipped" not in start
    exp = data["_hparams_/experiment"].experiment
    assert [m.name.tag for m in exp.metric_infos] == ["hparam/acc", "hparam/loss"]
    infos = {h.name: h for h in exp.hparam_infos}
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert [v.number_value for v in infos["layers"].domain_discrete.values] == [2, 3, 4]
    acc = _acc(ours / "trial")
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("hparam/acc")] == [(5, 0.9)]


def test_add_hparams_default_run_name_and_errors(tmp_path: Path) -> None:
    before = time.time()
    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"lr": 0.1}, {"acc": 1.0})
        with pytest.raises(TypeError, match="should be dictionary"):
            w.add_hparams([("lr", 0.1)], {"acc": 1.0})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="value should be one of"):
            w.add_hparams({"lr": [0.1]}, {"acc": 1.0})
        with pytest.raises(TypeError, match="hparam_domain_discrete"):
            w.add_hparams({"lr": 0.1}, {"acc": 1.0}, hparam_domain_discrete={"lr": ["a"]})
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert before <= float(run.name) <= time.time()  # torch's run name: str(time.time())
    assert "_hparams_/session_start_info" in _hparams_data(run)


def test_scalars_come_back(tmp_path: Path) -> None:
    with SummaryWriter(tmp_path) as w:
        for step in range(5):
            w.add_scalar("x", bp.tensor(step * 0.5, requires_grad=True) + 1, step)
        w.add_scalar("d", 0.1 + 1e-12, 0, new_style=True, double_precision=True)
        with pytest.raises(AssertionError, match="one element"):
            w.add_scalar("bad", np.ones(3))
    acc = _acc(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("x")] == [(s, 1 + s * 0.5) for s in range(5)]
    (ev,) = acc.Tensors("d")
    assert tensor_util.make_ndarray(ev.tensor_proto).item() == 0.1 + 1e-12  # float64 kept


def test_histogram_closed_form(tmp_path: Path) -> None:
    values = np.array([0.5, 1.5, 1.5, 3.5])
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("h", bp.tensor(values), 3, bins=[0.0, 1.0, 2.0, 3.0, 4.0])
        w.add_histogram("tf", values, 4)
        with pytest.raises(ValueError, match="no element"):
            w.add_histogram("empty", np.zeros(0))
        with pytest.raises(ValueError, match="len"):
            w.add_histogram_raw("r", 0, 1, 1, 1, 1, [1.0, 2.0], [1])
    acc = _acc(tmp_path)
    (h,) = acc.Histograms("h")
    hv = h.histogram_value
    assert h.step == 3
    assert (hv.min, hv.max, hv.num, hv.sum, hv.sum_squares) == (0.5, 3.5, 4, 7.0, float(values @ values))
    # buckets [0,1) [1,2) [2,3) [3,4]: the first is non-empty, so an empty bucket ending at 0 leads
    assert list(hv.bucket_limit) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(hv.bucket) == [0, 1, 2, 0, 1]
    (t,) = acc.Histograms("tf")
    assert sum(t.histogram_value.bucket) == 4
    assert t.histogram_value.bucket_limit[-1] >= 3.5 and t.histogram_value.bucket[0] == 0


@needs_pil
def test_image_pixels_closed_form(tmp_path: Path) -> None:
    chw = np.linspace(0, 1, 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    with SummaryWriter(tmp_path) as w:
        w.add_image("f", bp.tensor(chw), 0)
        w.add_image("u8", (chw * 255).astype(np.uint8).transpose(1, 2, 0), 0, dataformats="HWC")
        w.add_images("grid", np.stack([chw] * 9), 0)
        w.add_image("rgba", np.ones((4, 2, 3), dtype=np.float32), 0)
    acc = _acc(tmp_path)

    def pixels(tag: str) -> np.ndarray:
        (ev,) = acc.Images(tag)
        return np.asarray(Image.open(io.BytesIO(ev.encoded_image_string)))

    expect = (chw * 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(pixels("f"), expect)
    np.testing.assert_array_equal(pixels("u8"), expect)
    grid = pixels("grid")  # 9 images, 8 a row: 2 rows, the last 7 cells black
    assert grid.shape == (8, 40, 3)
    np.testing.assert_array_equal(grid[4:, 5:], 0)
    np.testing.assert_array_equal(grid[4:, :5], expect)
    assert pixels("rgba").shape == (2, 3, 4)
    with SummaryWriter(tmp_path / "bad") as w, pytest.raises(AssertionError, match="input format"):
        w.add_image("x", np.zeros((3, 4)), dataformats="CHW")


@needs_pil
def test_figure_video_audio(tmp_path: Path) -> None:
    import wave

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1.5), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 0)
        w.add_video("vid", bp.rand(3, 5, 3, 4, 6), 0, fps=10)  # 3 videos: padded to 4, one row (torch's grid)
        w.add_audio("snd", np.linspace(-2, 2, 100), 0, sample_rate=1000)  # clipped to -1..1
    assert not plt.fignum_exists(fig.number)  # close=True
    acc = _acc(tmp_path)
    (f,) = acc.Images("fig")
    assert (f.width, f.height) == (100, 75)
    (v,) = acc.Images("vid")
    gif = Image.open(io.BytesIO(v.encoded_image_string))
    assert gif.format == "GIF" and gif.size == (24, 4) == (v.width, v.height) and gif.n_frames == 5
    (a,) = acc.Audio("snd")
    with wave.open(io.BytesIO(a.encoded_audio_string)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (1000, 1, 100)
        pcm = np.frombuffer(wav.readframes(100), dtype="<i2")
    assert pcm[0] == -32767 and pcm[-1] == 32767 and a.length_frames == 100


@needs_torch
@needs_pil
def test_add_embedding_like_torch(tmp_path: Path) -> None:
    mat = RNG.standard_normal((4, 3)).astype(np.float32)
    imgs = RNG.random((4, 3, 5, 5)).astype(np.float32)

    def body(w: Any, T: Any) -> None:
        w.add_embedding(T(mat), metadata=["a", "b", "c", "d"], label_img=T(imgs), global_step=2, tag="my/emb")
        w.add_embedding(mat, metadata=[[1, "x"], [2, "y"], [3, "z"], [4, "w"]], metadata_header=["id", "name"])

    ours, theirs = _write_both(tmp_path, body)
    files = sorted(str(p.relative_to(ours)) for p in ours.rglob("*") if p.is_file() and "tfevents" not in p.name)
    assert files == sorted(
        str(p.relative_to(theirs)) for p in theirs.rglob("*") if p.is_file() and "tfevents" not in p.name
    )
    assert "00002/my%2femb/sprite.png" in files
    for name in files:
        if name.endswith(".png"):
            pa, pb = (np.asarray(Image.open(d / name)) for d in (ours, theirs))
            np.testing.assert_array_equal(pa, pb)
        else:
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    rows = (ours / "00000/default/tensors.tsv").read_text().splitlines()
    np.testing.assert_allclose(np.array([r.split("\t") for r in rows], dtype=np.float32), mat)


@needs_torch
def test_purge_step_and_reopen_like_torch(tmp_path: Path) -> None:
    for lib, cls in (("bp", SummaryWriter), ("torch", TorchWriter)):
        w = cls(tmp_path / lib, purge_step=7)
        w.add_scalar("x", 1.0, 7, walltime=WALL)
        w.close()
        w.close()  # a second close is a no-op
    a, b = _events(tmp_path / "bp"), _events(tmp_path / "torch")
    assert a == b
    assert [e.step for e in a] == [7, 7, 7]
    assert a[0].file_version == "brain.Event:2" and a[1].session_log.status == a[1].session_log.START


def test_writer_lifecycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1", filename_suffix=".v1")
    logdir = w.get_logdir()
    parent, name = os.path.split(logdir)
    assert parent == "runs" and name.endswith("_" + socket.gethostname() + "_lr0.1")
    time.strptime(name[: len("Jan01_00-00-00")], "%b%d_%H-%M-%S")
    w.add_scalar("a", 1, 0)
    w.flush()
    (first,) = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert first.endswith(".v1")
    w.close()
    w.add_scalar("a", 2, 1)  # after close: a new event file, as torch
    w.close()
    assert len(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))) == 2
    assert [e.value for e in _acc(Path(logdir)).Scalars("a")] == [1, 2]
    with SummaryWriter(tmp_path / "p") as w2:  # a Path log_dir is kept as given
        assert w2.get_logdir() == tmp_path / "p"


def test_add_graph_not_supported(tmp_path: Path) -> None:
    with SummaryWriter(tmp_path) as w, pytest.raises(NotImplementedError, match="no graph tracer for TensorBoard"):
        w.add_graph(bp.nn.Linear(2, 2), bp.randn(1, 2))


def test_public_names() -> None:
    import backprop.utils.tensorboard as tb
    from backprop.utils.tensorboard import FileWriter, RecordWriter, summary, writer

    assert bp.utils.tensorboard is tb
    assert writer.SummaryWriter is tb.SummaryWriter is SummaryWriter and writer.FileWriter is FileWriter
    assert RecordWriter.__module__.startswith("tensorboard.")
    assert summary.scalar("s", 2.0).value[0].simple_value == 2.0
    if torch is not None:
        import torch.utils.tensorboard as ttb

        assert set(ttb.__all__) <= set(tb.__all__)
        assert {n for n in dir(TorchWriter) if n.startswith("add_")} <= {n for n in dir(SummaryWriter)}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_import_without_tensorboard_raises() -> None:
    code = (
        "import sys\n"
        "sys.modules['tensorboard'] = None\n"
        "import backprop as bp\n"
        "try:\n"
        "    from backprop.utils.tensorboard import SummaryWriter\n"
        "except ModuleNotFoundError as e:\n"
        "    print('ERR', e.name, '|', e)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ERR tensorboard | TensorBoard logging requires TensorBoard version 1.15 or above")
    assert "pip install tensorboard" in out.stdout


def test_importing_backprop_does_not_import_tensorboard() -> None:
    out = _run(
        "import sys, backprop as bp\nprint('tensorboard' in sys.modules, 'backprop.utils.tensorboard' in sys.modules)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_half_precision_values(tmp_path: Path) -> None:
    """float16 tensors are stored as their 16-bit patterns (what TensorBoard decodes; torch stores float32
    bit patterns there); bfloat16, which NumPy lacks, is logged through float32."""
    half = np.array([[0.5, -2.0], [65504.0, 1e-3]], dtype=np.float16)
    with SummaryWriter(tmp_path) as w:
        w.add_tensor("h", bp.tensor(half), 0)
        w.add_scalar("s", bp.tensor(1.5, dtype=bp.bfloat16), 1)
        w.add_histogram("b", bp.tensor([1.0, 2.0, 3.0]).to(bp.bfloat16), 2, bins=3)
    acc = _acc(tmp_path)
    (t,) = acc.Tensors("h")
    got = tensor_util.make_ndarray(t.tensor_proto)
    assert got.dtype == np.float16 and np.array_equal(got, half)
    assert [(e.step, e.value) for e in acc.Scalars("s")] == [(1, 1.5)]
    (h,) = acc.Histograms("b")
    assert list(h.histogram_value.bucket) == [0, 1, 1, 1] and h.histogram_value.sum == 6.0
