"""torch.utils.tensorboard: ``SummaryWriter`` writes TensorBoard event files (scalars, histograms,
images, text, hparams, PR curves, embeddings…) through the ``tensorboard`` package's own event-file
writer and protos. ``tensorboard`` is an optional dependency (``pip install backprop[tensorboard]``), as
it is for torch: without it (or with one older than 1.15) importing this package raises ImportError.

``from backprop.utils.tensorboard import SummaryWriter`` is the line that replaces torch's; the
``writer`` and ``summary`` submodules carry torch's names (``FileWriter``, ``summary.scalar``…).
``add_graph`` raises NotImplementedError: torch traces the model with ``torch.jit``, and backprop has no
graph tracer for TensorBoard."""

try:
    import tensorboard as _tensorboard
except ImportError as _exc:  # torch's package fails here too (``import tensorboard`` is its first line)
    raise ModuleNotFoundError(
        "TensorBoard logging requires TensorBoard version 1.15 or above "
        f"(importing it failed: {_exc}); install it with `pip install tensorboard`",
        name="tensorboard",
    ) from _exc


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


if not hasattr(_tensorboard, "__version__") or _version_tuple(_tensorboard.__version__) < (1, 15):
    raise ImportError("TensorBoard logging requires TensorBoard version 1.15 or above")

del _tensorboard

from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402

from backprop.utils.tensorboard import summary, writer  # noqa: E402
from backprop.utils.tensorboard.writer import FileWriter, SummaryWriter  # noqa: E402

__all__ = ["FileWriter", "RecordWriter", "SummaryWriter", "summary", "writer"]
