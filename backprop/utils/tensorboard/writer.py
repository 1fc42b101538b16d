"""torch.utils.tensorboard.writer: ``SummaryWriter``, which writes TensorBoard event files, and
``FileWriter``, its one-directory writer over tensorboard's ``EventFileWriter``."""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from datetime import datetime
from typing import Any

import numpy as np
from tensorboard.compat import tf
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from backprop.utils.tensorboard import summary as S
from backprop.utils.tensorboard._convert import figure_to_image, make_grid, make_np, scale_factor

__all__ = ["FileWriter", "SummaryWriter"]


def _tensorflow_bins() -> list[float]:
    """TensorFlow's default histogram buckets: ±1e-12·1.1^k up to 1e20, and 0."""
    pos = []
    v = 1e-12
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-x for x in reversed(pos)] + [0.0] + pos


_DEFAULT_BINS = _tensorflow_bins()


class FileWriter:
    """Writes ``Event`` protos to one event file in ``log_dir`` (asynchronously, through tensorboard's
    ``EventFileWriter``: queued up to ``max_queue`` events, flushed every ``flush_secs`` seconds)."""

    def __init__(self, log_dir: Any, max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "") -> None:
        self.event_writer = EventFileWriter(str(log_dir), max_queue, flush_secs, filename_suffix)

    def get_logdir(self) -> str:
        return self.event_writer.get_logdir()

    def add_event(self, event: Event, step: Any = None, walltime: float | None = None) -> None:
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary: Summary, global_step: Any = None, walltime: float | None = None) -> None:
        self.add_event(Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile: Any, walltime: float | None = None) -> None:
        """A ``(GraphDef, RunMetadata)`` pair as torch's tracer makes them (backprop has no tracer)."""
        graph, stepstats = graph_profile
        self.add_event(Event(graph_def=graph.SerializeToString()), None, walltime)
        from tensorboard.compat.proto.event_pb2 import TaggedRunMetadata

        trm = TaggedRunMetadata(tag="step1", run_metadata=stepstats.SerializeToString())
        self.add_event(Event(tagged_run_metadata=trm), None, walltime)

    def add_onnx_graph(self, graph: Any, walltime: float | None = None) -> None:
        self.add_event(Event(graph_def=graph.SerializeToString()), None, walltime)

    def flush(self) -> None:
        self.event_writer.flush()

    def close(self) -> None:
        self.event_writer.close()

    def reopen(self) -> None:
        self.event_writer.reopen()


class SummaryWriter:
    """Writes TensorBoard summaries (``torch.utils.tensorboard.SummaryWriter``).

    ``log_dir`` defaults to ``runs/<Mon>DD_HH-MM-SS_<hostname><comment>``. ``purge_step`` makes
    TensorBoard discard the events of an earlier (crashed) run at or after that step. ``add_scalars``
    writes each sub-tag to its own run directory ``<log_dir>/<main_tag>_<tag>``; ``add_hparams`` writes
    to ``<log_dir>/<run_name>`` (the current time by default). Values may be backprop tensors (those that
    require grad are detached), NumPy arrays or Python numbers."""

    def __init__(
        self,
        log_dir: Any = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.default_bins = list(_DEFAULT_BINS)
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] | None = None
        self._get_file_writer()

    def _get_file_writer(self) -> FileWriter:
        """The main writer, (re)opened on first use, after ``close()`` too."""
        if self.all_writers is None or self.file_writer is None:
            fw = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.file_writer = fw
            self.all_writers = {fw.get_logdir(): fw}
            if self.purge_step is not None:
                fw.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
                fw.add_event(Event(step=self.purge_step, session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def _write(self, summary: Summary, global_step: Any = None, walltime: float | None = None) -> None:
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def get_logdir(self) -> Any:
        return self.log_dir

    # ------------------------------------------------------------------------------------------ scalars

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: Any = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        self._write(
            S.scalar(tag, scalar_value, new_style=new_style, double_precision=double_precision), global_step, walltime
        )

    def add_scalars(
        self, main_tag: str, tag_scalar_dict: dict[str, Any], global_step: Any = None, walltime: float | None = None
    ) -> None:
        """Each ``tag`` of the dict goes to its own writer in ``<log_dir>/<main_tag with / as _>_<tag>``,
        under the tag ``main_tag``, so that TensorBoard draws them as runs on one chart."""
        walltime = time.time() if walltime is None else walltime
        base = self._get_file_writer().get_logdir()
        assert self.all_writers is not None
        for tag, value in tag_scalar_dict.items():
            path = base + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(path)
            if fw is None:
                fw = self.all_writers[path] = FileWriter(path, self.max_queue, self.flush_secs, self.filename_suffix)
            fw.add_summary(S.scalar(main_tag, value), global_step, walltime)

    def add_tensor(self, tag: str, tensor: Any, global_step: Any = None, walltime: float | None = None) -> None:
        self._write(S.tensor_proto(tag, tensor), global_step, walltime)

    # --------------------------------------------------------------------------------------- histograms

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: Any = None,
        bins: Any = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        """``bins``: ``'tensorflow'`` (TensorFlow's ±1e-12·1.1^k buckets), or anything ``np.histogram``
        takes (``'auto'``, ``'fd'``, ``'sqrt'``…, a count, or the edges)."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._write(S.histogram(tag, values, bins, max_bins=max_bins), global_step, walltime)

    def add_histogram_raw(
        self,
        tag: str,
        min: float,
        max: float,
        num: int,
        sum: float,
        sum_squares: float,
        bucket_limits: Any,
        bucket_counts: Any,
        global_step: Any = None,
        walltime: float | None = None,
    ) -> None:
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        self._write(
            S.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts), global_step, walltime
        )

    # ------------------------------------------------------------------------------------------- images

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: Any = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        self._write(S.image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: Any = None,
        walltime: float | None = None,
        dataformats: str = "NCHW",
    ) -> None:
        self._write(S.image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_image_with_boxes(
        self,
        tag: str,
        img_tensor: Any,
        box_tensor: Any,
        global_step: Any = None,
        walltime: float | None = None,
        rescale: float = 1,
        dataformats: str = "CHW",
        labels: Any = None,
    ) -> None:
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            if len(labels) != box_tensor.shape[0]:
                labels = None
        summary = S.image_boxes(tag, img_tensor, box_tensor, rescale=rescale, dataformats=dataformats, labels=labels)
        self._write(summary, global_step, walltime)

    def add_figure(
        self, tag: str, figure: Any, global_step: Any = None, close: bool = True, walltime: float | None = None
    ) -> None:
        """A matplotlib figure (or a list of them, tiled) rendered to an image."""
        fmt = "NCHW" if isinstance(figure, list) else "CHW"
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime, dataformats=fmt)

    def add_video(
        self, tag: str, vid_tensor: Any, global_step: Any = None, fps: float = 4, walltime: float | None = None
    ) -> None:
        """N×T×C×H×W video(s), written as an animated GIF (encoded with Pillow rather than moviepy)."""
        self._write(S.video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(
        self,
        tag: str,
        snd_tensor: Any,
        global_step: Any = None,
        sample_rate: int = 44100,
        walltime: float | None = None,
    ) -> None:
        self._write(S.audio(tag, snd_tensor, sample_rate=sample_rate), global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step: Any = None, walltime: float | None = None) -> None:
        self._write(S.text(tag, text_string), global_step, walltime)

    # ------------------------------------------------------------------------------------------ hparams

    def add_hparams(
        self,
        hparam_dict: dict[str, Any],
        metric_dict: dict[str, Any],
        hparam_domain_discrete: dict[str, list[Any]] | None = None,
        run_name: str | None = None,
        global_step: Any = None,
    ) -> None:
        """Hyperparameters and their metrics, in the run ``<log_dir>/<run_name>`` (``str(time.time())`` by
        default), as torch lays it out: the hparams plugin's three summaries, then each metric as a scalar."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        exp, ssi, sei = S.hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name or str(time.time()))
        with SummaryWriter(log_dir=logdir) as w:
            fw = w._get_file_writer()
            for s in (exp, ssi, sei):
                fw.add_summary(s, global_step)
            for k, v in metric_dict.items():
                w.add_scalar(k, v, global_step)

    # ---------------------------------------------------------------------------------------- PR curves

    def add_pr_curve(
        self,
        tag: str,
        labels: Any,
        predictions: Any,
        global_step: Any = None,
        num_thresholds: int = 127,
        weights: Any = None,
        walltime: float | None = None,
    ) -> None:
        """Labels (0/1) and predicted probabilities in 0..1; ``num_thresholds`` is capped at 127 as torch."""
        self._write(
            S.pr_curve(tag, make_np(labels), make_np(predictions), num_thresholds, weights), global_step, walltime
        )

    def add_pr_curve_raw(
        self,
        tag: str,
        true_positive_counts: Any,
        false_positive_counts: Any,
        true_negative_counts: Any,
        false_negative_counts: Any,
        precision: Any,
        recall: Any,
        global_step: Any = None,
        num_thresholds: int = 127,
        weights: Any = None,
        walltime: float | None = None,
    ) -> None:
        summary = S.pr_curve_raw(
            tag,
            true_positive_counts,
            false_positive_counts,
            true_negative_counts,
            false_negative_counts,
            precision,
            recall,
            num_thresholds,
            weights,
        )
        self._write(summary, global_step, walltime)

    # ----------------------------------------------------------------------------------- custom scalars

    def add_custom_scalars_multilinechart(
        self, tags: list[str], category: str = "default", title: str = "untitled"
    ) -> None:
        self._write(S.custom_scalars({category: {title: ["Multiline", tags]}}))

    def add_custom_scalars_marginchart(
        self, tags: list[str], category: str = "default", title: str = "untitled"
    ) -> None:
        if len(tags) != 3:
            raise AssertionError(f"Expected 3 tags, got {len(tags)}.")
        self._write(S.custom_scalars({category: {title: ["Margin", tags]}}))

    def add_custom_scalars(self, layout: dict[str, dict[str, Any]]) -> None:
        """``{category: {chart title: ["Multiline", [tags]] or ["Margin", [value, lower, upper]]}}``."""
        self._write(S.custom_scalars(layout))

    def add_mesh(
        self,
        tag: str,
        vertices: Any,
        colors: Any = None,
        faces: Any = None,
        config_dict: Any = None,
        global_step: Any = None,
        walltime: float | None = None,
    ) -> None:
        self._write(S.mesh(tag, vertices, colors, faces, config_dict), global_step, walltime)

    # ------------------------------------------------------------------------------------------- graphs

    def add_graph(
        self, model: Any, input_to_model: Any = None, verbose: bool = False, use_strict_trace: bool = True
    ) -> None:
        """Not available: torch builds the graph by tracing the model with ``torch.jit.trace``; backprop
        has no graph tracer for TensorBoard."""
        raise NotImplementedError(
            "SummaryWriter.add_graph is not supported: torch traces the model with torch.jit.trace to build "
            "the graph, and backprop has no graph tracer for TensorBoard. Log scalars, histograms, images "
            "and text instead."
        )

    def add_onnx_graph(self, prototxt: Any) -> None:
        """Not available: it needs the ``onnx`` package's graph conversion, which backprop does not ship."""
        raise NotImplementedError(
            "SummaryWriter.add_onnx_graph is not supported by backprop (it has no ONNX graph conversion)."
        )

    # ---------------------------------------------------------------------------------------- embedding

    @staticmethod
    def _encode(rawstr: str) -> str:
        return rawstr.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")

    def add_embedding(
        self,
        mat: Any,
        metadata: Any = None,
        label_img: Any = None,
        global_step: Any = None,
        tag: str = "default",
        metadata_header: Any = None,
    ) -> None:
        """Projector data, as torch lays it out: ``<log_dir>/<step:05>/<tag>/`` holds ``tensors.tsv`` (the
        N×D matrix), ``metadata.tsv`` (labels) and ``sprite.png`` (``label_img``, N×C×H×W, tiled into a
        square); ``<log_dir>/projector_config.pbtxt`` lists every embedding written so far."""
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo, ProjectorConfig

        mat = make_np(mat)
        step = 0 if global_step is None else int(global_step)
        subdir = f"{str(step).zfill(5)}/{self._encode(tag)}"
        logdir = self._get_file_writer().get_logdir()
        save_path = os.path.join(logdir, subdir)
        fs = tf.io.gfile
        if fs.exists(save_path):
            if not fs.isdir(save_path):
                raise NotADirectoryError(f"Path: `{save_path}` exists, but is a file. Cannot proceed.")
            warnings.warn("Embedding dir exists, did you set global_step for add_embedding()?", stacklevel=2)
        else:
            fs.makedirs(save_path)

        def put(name: str, data: bytes) -> None:
            with fs.GFile(os.path.join(save_path, name), "wb") as f:
                f.write(data)

        if metadata is not None:
            if mat.shape[0] != len(metadata):
                raise AssertionError("#labels should equal with #data points")
            if metadata_header:
                if len(metadata_header) != len(metadata[0]):
                    raise AssertionError("len of header must be equal to the number of columns in metadata")
                lines = ["\t".join(str(e) for e in row) for row in [metadata_header, *metadata]]
            else:
                lines = [str(x) for x in metadata]
            put("metadata.tsv", ("\n".join(lines) + "\n").encode("utf-8"))

        info = EmbeddingInfo(tensor_name=f"{tag}:{str(step).zfill(5)}", tensor_path=f"{subdir}/tensors.tsv")
        if metadata is not None:
            info.metadata_path = f"{subdir}/metadata.tsv"
        if label_img is not None:
            imgs = make_np(label_img)
            if mat.shape[0] != imgs.shape[0]:
                raise AssertionError("#images should equal with #data points")
            put("sprite.png", _sprite(imgs))
            info.sprite.image_path = f"{subdir}/sprite.png"
            info.sprite.single_image_dim.extend([imgs.shape[3], imgs.shape[2]])

        if mat.ndim != 2:
            raise AssertionError("mat should be 2D, where mat.size(0) is the number of data points")
        put("tensors.tsv", "".join("\t".join(str(v) for v in row.tolist()) + "\n" for row in mat).encode("utf-8"))

        if not hasattr(self, "_projector_config"):
            self._projector_config = ProjectorConfig()
        self._projector_config.embeddings.extend([info])
        with fs.GFile(os.path.join(logdir, "projector_config.pbtxt"), "wb") as f:
            f.write(text_format.MessageToString(self._projector_config).encode("utf-8"))

    # ---------------------------------------------------------------------------------------- lifecycle

    def flush(self) -> None:
        for w in (self.all_writers or {}).values():
            w.flush()

    def close(self) -> None:
        """Flush and close every writer; a later ``add_*`` opens a new event file (a second close is a no-op)."""
        if self.all_writers is None:
            return
        for w in self.all_writers.values():
            w.flush()
            w.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()


def _sprite(imgs: np.ndarray) -> bytes:
    """The projector's sprite: N×C×H×W images tiled ceil(√N) a row onto a square canvas, as a PNG."""
    ncols = math.ceil(imgs.shape[0] ** 0.5)
    grid = make_grid(imgs, ncols=ncols).transpose(1, 2, 0)  # H'×W'×C
    side = grid.shape[1]
    square = np.zeros((side, side, grid.shape[2]), dtype=np.float64)
    square[: grid.shape[0]] = grid
    pixels = (square * scale_factor(imgs)).clip(0, 255).astype(np.uint8)
    return S._encode_png(S._pil().fromarray(pixels))
