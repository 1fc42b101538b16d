"""torch.utils.tensorboard.summary: functions that build the ``Summary`` protocol buffers
(``tensorboard.compat.proto``) one ``add_*`` call writes: scalars, histograms, images, text, hparams,
PR curves, custom-scalar layouts, audio, video, tensors and meshes. Values may be backprop tensors, NumPy
arrays or Python numbers."""

from __future__ import annotations

import io
import json
import wave
from typing import Any

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from backprop.utils.tensorboard._convert import convert_to_HWC, make_np, prepare_video, to_uint8

__all__ = [
    "audio",
    "compute_curve",
    "custom_scalars",
    "draw_boxes",
    "histogram",
    "histogram_raw",
    "hparams",
    "image",
    "image_boxes",
    "make_histogram",
    "make_image",
    "make_video",
    "mesh",
    "pr_curve",
    "pr_curve_raw",
    "scalar",
    "tensor_proto",
    "text",
    "video",
]


def _plugin_metadata(plugin_name: str, content: bytes = b"") -> SummaryMetadata:
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin_name, content=content))


def _shape(dims: Any) -> TensorShapeProto:
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(d)) for d in dims])


# ---------------------------------------------------------------------------------------------- scalars


def scalar(
    name: str, tensor: Any, collections: Any = None, new_style: bool = False, double_precision: bool = False
) -> Summary:
    """One scalar: the classic ``simple_value`` (a float32 in the proto), or with ``new_style`` a tensor
    under the ``scalars`` plugin, float32 or with ``double_precision`` float64."""
    arr = make_np(tensor).squeeze()
    if arr.ndim != 0:
        raise AssertionError(
            f"Tensor should contain one element (0 dimensions). Was given size: {arr.size} and {arr.ndim} dimensions."
        )
    value = float(arr)
    if not new_style:
        return Summary(value=[Summary.Value(tag=name, simple_value=value)])
    if double_precision:
        proto = TensorProto(dtype="DT_DOUBLE", double_val=[value])
    else:
        proto = TensorProto(dtype="DT_FLOAT", float_val=[value])
    return Summary(value=[Summary.Value(tag=name, tensor=proto, metadata=_plugin_metadata("scalars"))])


# ------------------------------------------------------------------------------------------- histograms


def histogram_raw(
    name: str,
    min: float,
    max: float,
    num: int,
    sum: float,
    sum_squares: float,
    bucket_limits: Any,
    bucket_counts: Any,
) -> Summary:
    """A histogram from its statistics: ``bucket_limits`` are the right edges of the buckets."""
    hist = HistogramProto(
        min=float(min),
        max=float(max),
        num=float(num),
        sum=float(sum),
        sum_squares=float(sum_squares),
        bucket_limit=[float(v) for v in make_np(bucket_limits).reshape(-1)],
        bucket=[float(v) for v in make_np(bucket_counts).reshape(-1)],
    )
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def make_histogram(values: np.ndarray, bins: Any, max_bins: int | None = None) -> HistogramProto:
    """``np.histogram(values, bins)`` as a ``HistogramProto``, as torch builds it: with ``max_bins``, runs of
    adjacent buckets are merged; then the buckets are cut to the span of the non-empty ones, keeping one
    bucket to the left (empty, or the one before the first non-empty bucket) since TensorBoard stores
    right edges only."""
    values = np.asarray(values).reshape(-1)
    if values.size == 0:
        raise ValueError("The input has no element.")
    counts, edges = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        group = len(counts) // max_bins
        short = len(counts) % group
        if short:
            counts = np.concatenate([counts, np.zeros(group - short, dtype=counts.dtype)])
        counts = counts.reshape(-1, group).sum(axis=1)
        edges = np.concatenate([edges[:-1:group], edges[-1:]])
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        raise ValueError("The histogram is empty, please file a bug report.")
    first, last = int(nonzero[0]), int(nonzero[-1])
    if first > 0:
        kept = counts[first - 1 : last + 1]
    else:
        kept = np.concatenate([[0], counts[: last + 1]])
    limits = edges[first : last + 2]
    return HistogramProto(
        min=float(values.min()),
        max=float(values.max()),
        num=float(values.size),
        sum=float(values.sum()),
        sum_squares=float(values.dot(values)),
        bucket_limit=limits.tolist(),
        bucket=np.asarray(kept, dtype=np.float64).tolist(),
    )


def histogram(name: str, values: Any, bins: Any, max_bins: int | None = None) -> Summary:
    """A histogram of ``values`` (any shape) with ``bins`` as ``np.histogram`` takes them."""
    hist = make_histogram(make_np(values).astype(np.float64), bins, max_bins)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


# ----------------------------------------------------------------------------------------------- images


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib, a backprop dependency
        raise ImportError(
            "TensorBoard images (add_image, add_images, add_figure, add_video, add_embedding's sprites) are "
            "encoded with Pillow, which is not installed: pip install pillow"
        ) from exc
    return Image


def _encode_png(pil_image: Any) -> bytes:
    with io.BytesIO() as buf:
        pil_image.save(buf, format="PNG")
        return buf.getvalue()


def draw_boxes(disp_image: Any, boxes: np.ndarray, labels: Any = None) -> Any:
    """Draw xyxy ``boxes`` (and their ``labels``) in red on a PIL image."""
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(disp_image)
    font = ImageFont.load_default()
    for i in range(boxes.shape[0]):
        left, top, right, bottom = (float(v) for v in boxes[i, :4])
        draw.line([(left, top), (left, bottom), (right, bottom), (right, top), (left, top)], width=2, fill="Red")
        label = None if labels is None else labels[i]
        if label:
            x0, y0, x1, y1 = font.getbbox(label)
            text_w, text_h = x1 - x0, y1 - y0
            margin = np.ceil(0.05 * text_h)
            draw.rectangle([(left, bottom - text_h - 2 * margin), (left + text_w, bottom)], fill="Red")
            draw.text((left + margin, bottom - text_h - margin), label, fill="black", font=font)
    return disp_image


def make_image(tensor: np.ndarray, rescale: float = 1, rois: Any = None, labels: Any = None) -> Summary.Image:
    """An H×W×C uint8 array as a PNG ``Summary.Image`` (resized by ``rescale``, boxes drawn if ``rois``)."""
    image_cls = _pil()
    height, width, channels = tensor.shape
    img = image_cls.fromarray(tensor)
    if rois is not None:
        img = draw_boxes(img, rois, labels=labels)
    new_size = (int(width * rescale), int(height * rescale))
    if new_size != (width, height):
        img = img.resize(new_size, image_cls.Resampling.LANCZOS)
    return Summary.Image(
        height=img.size[1], width=img.size[0], colorspace=channels, encoded_image_string=_encode_png(img)
    )


def image(tag: str, tensor: Any, rescale: float = 1, dataformats: str = "NCHW") -> Summary:
    """An image (or a batch, tiled 8 a row) in ``dataformats``: uint8 values are taken as they are, other
    dtypes as 0..1 and scaled by 255; out-of-range values are clipped."""
    hwc = convert_to_HWC(make_np(tensor), dataformats)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(to_uint8(hwc), rescale=rescale))])


def image_boxes(
    tag: str, tensor_image: Any, tensor_boxes: Any, rescale: float = 1, dataformats: str = "CHW", labels: Any = None
) -> Summary:
    """An image with boxes (N×4, xyxy pixel coordinates) drawn on it."""
    hwc = convert_to_HWC(make_np(tensor_image), dataformats)
    img = make_image(to_uint8(hwc), rescale=rescale, rois=make_np(tensor_boxes), labels=labels)
    return Summary(value=[Summary.Value(tag=tag, image=img)])


def make_video(tensor: np.ndarray, fps: float) -> Summary.Image:
    """T×H×W×C uint8 frames as an animated GIF (Pillow's encoder; torch goes through moviepy)."""
    image_cls = _pil()
    _, h, w, c = tensor.shape
    frames = [image_cls.fromarray(f[:, :, 0] if c == 1 else f) for f in tensor]
    with io.BytesIO() as buf:
        frames[0].save(
            buf,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=max(1, round(1000 / fps)),
            loop=0,
        )
        data = buf.getvalue()
    return Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=data)


def video(tag: str, tensor: Any, fps: float = 4) -> Summary:
    """A batch of videos (N×T×C×H×W) as one animated GIF, the batch on a grid in each frame."""
    frames = to_uint8(prepare_video(make_np(tensor)))
    return Summary(value=[Summary.Value(tag=tag, image=make_video(frames, fps))])


# ------------------------------------------------------------------------------------------------ audio


def audio(tag: str, tensor: Any, sample_rate: int = 44100) -> Summary:
    """Mono audio (values in -1..1, clipped with a warning otherwise) as a 16-bit WAV."""
    arr = make_np(tensor).squeeze()
    if arr.size and np.abs(arr).max() > 1:
        print("warning: audio amplitude out of range, auto clipped.")
        arr = arr.clip(-1, 1)
    if arr.ndim != 1:
        raise AssertionError("input tensor should be 1 dimensional.")
    pcm = (arr * np.iinfo(np.int16).max).astype("<i2")
    with io.BytesIO() as buf:
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm.tobytes())
        data = buf.getvalue()
    snd = Summary.Audio(
        sample_rate=sample_rate,
        num_channels=1,
        length_frames=pcm.shape[-1],
        encoded_audio_string=data,
        content_type="audio/wav",
    )
    return Summary(value=[Summary.Value(tag=tag, audio=snd)])


# ------------------------------------------------------------------------------------------ text, hparams


def text(tag: str, text: str) -> Summary:
    """A string (Markdown) for the text plugin, under the tag ``<tag>/text_summary`` as torch writes it."""
    proto = TensorProto(dtype="DT_STRING", string_val=[text.encode("utf_8")], tensor_shape=_shape([1]))
    smd = _plugin_metadata("text", TextPluginData(version=0).SerializeToString())
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=smd, tensor=proto)])


def hparams(
    hparam_dict: Any = None, metric_dict: Any = None, hparam_domain_discrete: Any = None
) -> tuple[Summary, Summary, Summary]:
    """The hparams plugin's three summaries: the experiment (hyperparameter and metric names), the
    session start (the values) and the session end (success). Values may be int, float, bool (stored as
    numbers, as torch does), str, or a one-element tensor/array; ``None`` values are left out."""
    from tensorboard.plugins.hparams import api_pb2, metadata
    from tensorboard.plugins.hparams import plugin_data_pb2 as pd

    if not isinstance(hparam_dict, dict):
        raise TypeError("parameter: hparam_dict should be a dictionary, nothing logged.")
    if not isinstance(metric_dict, dict):
        raise TypeError("parameter: metric_dict should be a dictionary, nothing logged.")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(
                f"parameter: hparam_domain_discrete[{k}] should be a list of same type as hparam_dict[{k}]."
            )

    start = pd.SessionStartInfo()
    infos = []
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):  # bool is an int: a number, as in torch
            start.hparams[k].number_value = float(v)
            kind, field = "DATA_TYPE_FLOAT64", "number_value"
        elif isinstance(v, str):
            start.hparams[k].string_value = v
            kind, field = "DATA_TYPE_STRING", "string_value"
        elif isinstance(v, np.ndarray) or hasattr(v, "detach"):
            start.hparams[k].number_value = float(make_np(v).reshape(-1)[0])
            infos.append(api_pb2.HParamInfo(name=k, type=api_pb2.DataType.Value("DATA_TYPE_FLOAT64")))
            continue
        else:
            raise ValueError("value should be one of int, float, str, bool, or torch.Tensor")
        domain = None
        if k in domains:
            domain = struct_pb2.ListValue(
                values=[struct_pb2.Value(**{field: float(d) if field == "number_value" else d}) for d in domains[k]]
            )
        infos.append(api_pb2.HParamInfo(name=k, type=api_pb2.DataType.Value(kind), domain_discrete=domain))

    def wrap(tag: str, **content: Any) -> Summary:
        data = pd.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content)
        smd = _plugin_metadata(metadata.PLUGIN_NAME, data.SerializeToString())
        return Summary(value=[Summary.Value(tag=tag, metadata=smd)])

    experiment = api_pb2.Experiment(
        hparam_infos=infos, metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict]
    )
    end = pd.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return (
        wrap(metadata.EXPERIMENT_TAG, experiment=experiment),
        wrap(metadata.SESSION_START_INFO_TAG, session_start_info=start),
        wrap(metadata.SESSION_END_INFO_TAG, session_end_info=end),
    )


def custom_scalars(layout: dict[str, dict[str, Any]]) -> Summary:
    """The custom-scalars plugin's layout: ``{category: {chart title: ["Multiline", [tags]] or
    ["Margin", [value, lower, upper]]}}``."""
    categories = []
    for category, charts in layout.items():
        built = []
        for title, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise AssertionError("len(tags) != 3")
                series = layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])
                built.append(layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series])))
            else:
                built.append(layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags)))
        categories.append(layout_pb2.Category(title=category, chart=built))
    proto = TensorProto(
        dtype="DT_STRING",
        string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
        tensor_shape=TensorShapeProto(),
    )
    smd = _plugin_metadata("custom_scalars")
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=proto, metadata=smd)])


# -------------------------------------------------------------------------------------------- PR curves


def _pr_summary(tag: str, data: np.ndarray, num_thresholds: int) -> Summary:
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    proto = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(), tensor_shape=_shape(data.shape[:2]))
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("pr_curves", content), tensor=proto)])


def compute_curve(labels: Any, predictions: Any, num_thresholds: int = 127, weights: Any = None) -> np.ndarray:
    """TensorBoard's PR-curve table, 6×num_thresholds: TP, FP, TN, FN, precision, recall at thresholds
    i/(num_thresholds-1) (predictions bucketed by floor(p·(num_thresholds-1)))."""
    labels, predictions = make_np(labels), make_np(predictions)
    w = 1.0 if weights is None else make_np(weights)
    buckets = np.floor(predictions * (num_thresholds - 1)).astype(np.int32)
    pos = labels.astype(np.float64)
    span = (0, num_thresholds - 1)
    tp_b, _ = np.histogram(buckets, bins=num_thresholds, range=span, weights=pos * w)
    fp_b, _ = np.histogram(buckets, bins=num_thresholds, range=span, weights=(1.0 - pos) * w)
    tp = np.cumsum(tp_b[::-1])[::-1]
    fp = np.cumsum(fp_b[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def pr_curve(tag: str, labels: Any, predictions: Any, num_thresholds: int = 127, weights: Any = None) -> Summary:
    num_thresholds = min(num_thresholds, 127)  # torch's cap
    return _pr_summary(tag, compute_curve(labels, predictions, num_thresholds, weights), num_thresholds)


def pr_curve_raw(
    tag: str,
    tp: Any,
    fp: Any,
    tn: Any,
    fn: Any,
    precision: Any,
    recall: Any,
    num_thresholds: int = 127,
    weights: Any = None,
) -> Summary:
    num_thresholds = min(num_thresholds, 127)
    data = np.stack([make_np(a).reshape(-1) for a in (tp, fp, tn, fn, precision, recall)])
    return _pr_summary(tag, data, num_thresholds)


# ---------------------------------------------------------------------------------------- tensors, mesh

_TENSOR_FIELDS = {
    "float16": ("DT_HALF", "half_val"),
    "bfloat16": ("DT_BFLOAT16", "half_val"),
    "float32": ("DT_FLOAT", "float_val"),
    "float64": ("DT_DOUBLE", "double_val"),
    "int8": ("DT_INT8", "int_val"),
    "uint8": ("DT_UINT8", "int_val"),
    "int16": ("DT_INT16", "int_val"),
    "int32": ("DT_INT32", "int_val"),
    "int64": ("DT_INT64", "int64_val"),
    "bool": ("DT_BOOL", "bool_val"),
    "complex64": ("DT_COMPLEX64", "scomplex_val"),
    "complex128": ("DT_COMPLEX128", "dcomplex_val"),
}


def tensor_proto(tag: str, tensor: Any) -> Summary:
    """The whole tensor as a ``TensorProto`` under the ``tensor`` plugin (what ``add_tensor`` writes).
    Half-precision values are stored as their 16-bit patterns, which is how TensorBoard reads them."""
    if isinstance(tensor, np.ndarray) or hasattr(tensor, "detach"):
        arr = np.asarray(tensor.detach().cpu().numpy()) if hasattr(tensor, "detach") else tensor
    else:
        arr = np.asarray(tensor)
    if arr.nbytes >= 1 << 31:
        raise ValueError("tensor is bigger than protocol buffer's hard limit of 2GB in size")
    if arr.dtype.name not in _TENSOR_FIELDS:
        raise ValueError(f"{tag} has unsupported tensor dtype {arr.dtype}")
    dtype, field = _TENSOR_FIELDS[arr.dtype.name]
    flat = arr.reshape(-1)
    values: list[Any]
    if field == "half_val":
        values = flat.view(np.uint16).tolist()
    elif field in ("scomplex_val", "dcomplex_val"):
        values = np.stack([flat.real, flat.imag], axis=1).reshape(-1).tolist()
    else:
        values = flat.tolist()
    proto = TensorProto(dtype=dtype, tensor_shape=_shape(arr.shape), **{field: values})
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("tensor"), tensor=proto)])


def mesh(
    tag: str,
    vertices: Any,
    colors: Any,
    faces: Any,
    config_dict: Any,
    display_name: str | None = None,
    description: str | None = None,
) -> Summary:
    """A mesh or point cloud for the mesh plugin: vertices, faces and colors (each B×N×3; faces and colors
    optional), one summary value each."""
    from tensorboard.plugins.mesh import metadata
    from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData

    json_config = "{}" if config_dict is None else json.dumps(config_dict, sort_keys=True)
    parts = [
        (make_np(t), kind)
        for t, kind in ((vertices, MeshPluginData.VERTEX), (faces, MeshPluginData.FACE), (colors, MeshPluginData.COLOR))
        if t is not None
    ]
    components = metadata.get_components_bitmask([kind for _, kind in parts])
    values = []
    for arr, kind in parts:
        smd = metadata.create_summary_metadata(
            tag, display_name, kind, components, arr.shape, description, json_config=json_config
        )
        proto = TensorProto(dtype="DT_FLOAT", float_val=arr.reshape(-1).tolist(), tensor_shape=_shape(arr.shape[:3]))
        values.append(Summary.Value(tag=metadata.get_instance_name(tag, kind), tensor=proto, metadata=smd))
    return Summary(value=values)
