"""torch.nn.utils.convert_parameters: all parameters as one vector, and back."""

from __future__ import annotations

from collections.abc import Iterable

from backprop.ops._util import ShapeError
from backprop.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor] | Tensor) -> Tensor:
    """All parameters flattened into one vector, in order (torch.nn.utils.parameters_to_vector;
    differentiable: a concatenation of views)."""
    from backprop.functions import cat

    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter")
    devices = {p.device for p in params}
    if len(devices) > 1:
        raise RuntimeError(f"parameters_to_vector: parameters on several devices ({sorted(map(str, devices))})")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor] | Tensor) -> None:
    """Set each parameter's data to its slice of ``vec`` (torch.nn.utils.vector_to_parameters: the
    parameters then share ``vec``'s memory, as in torch)."""
    if not isinstance(vec, Tensor):
        kind = type(vec)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"expected torch.Tensor, but got: {name}")  # (torch.typename's spelling)
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:  # (torch's view raises RuntimeError)
        raise ShapeError(
            f"vector_to_parameters: expected a vector of {total} elements (the parameters' total), "
            f"got shape {tuple(vec.shape)}"
        )
    start = 0
    for p in params:
        if p.device != vec.device:
            raise RuntimeError(f"vector_to_parameters: vector on {vec.device}, a parameter on {p.device}")
        n = p.numel()
        p._data = vec._data[start : start + n].reshape(p.shape).astype(p.dtype, copy=False)
        p._version += 1
        start += n
