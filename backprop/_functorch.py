"""vmap and what torch.func's transforms share: pytrees (dicts, lists, tuples of leaves) and the
randomness scope that vmap and jacfwd run ``func`` in. ``bp.func`` re-exports ``vmap``.

``vmap`` calls ``func`` once per slice in a Python loop and stacks the results (torch batches the kernels
with BatchedTensors instead: the values are the same, the cost here is one call per slice).
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterable
from typing import Any

from backprop import creation
from backprop.autograd.functional import functorch_transform
from backprop.backends import registered_backends, torch_rng
from backprop.functions import stack
from backprop.tensor import Tensor

__all__ = ["vmap"]


# ---------------------------------------------------------------- pytrees (dicts, lists, tuples of leaves)
def _flatten(tree: Any) -> tuple[list[Any], Any]:
    """The leaves of ``tree`` in order, and a spec that ``_unflatten`` rebuilds it from (None: a leaf)."""
    leaves: list[Any] = []

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            keys = tuple(node)
            return (type(node), keys, tuple(walk(node[k]) for k in keys))
        if isinstance(node, (list, tuple)):
            return (type(node), len(node), tuple(walk(c) for c in node))
        leaves.append(node)
        return None

    return leaves, walk(tree)


def _unflatten(leaves: Iterable[Any], spec: Any) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s is None:
            return next(it)
        cls, keys, children = s
        values = [build(c) for c in children]
        if issubclass(cls, dict):
            return cls(zip(keys, values)) if cls is not dict else dict(zip(keys, values))
        if hasattr(cls, "_fields"):  # a namedtuple
            return cls(*values)
        return cls(values)

    return build(spec)


def _spec_repr(spec: Any, indent: int = 0) -> str:
    """``spec`` written as torch's ``TreeSpec.__repr__`` (``*`` a leaf), for error messages that read as torch's."""
    if spec is None:
        return "*"
    cls, keys, children = spec
    context = list(keys) if issubclass(cls, dict) else cls if hasattr(cls, "_fields") else None
    inner = ""
    if children:
        indent += 2
        inner = _spec_repr(children[0], indent) + ("," if len(children) > 1 else "")
        inner += ",".join("\n" + " " * indent + _spec_repr(c, indent) for c in children[1:])
    return f"TreeSpec({cls.__name__}, {context}, [{inner}])"


class _Star:
    def __repr__(self) -> str:
        return "*"


def _spec_pprint(spec: Any) -> str:
    """The tree of ``spec`` with ``*`` for each leaf, as torch's ``treespec_pprint``."""
    return repr(_unflatten(iter(_Star, None), spec))


def _broadcast_prefix(prefix: Any, tree: Any) -> list[Any] | None:
    """One entry of ``prefix`` per leaf of ``tree`` (an int or None applies to a whole subtree), or None
    when the structures do not match."""
    out: list[Any] = []

    def walk(p: Any, t: Any) -> bool:
        if not isinstance(p, (dict, list, tuple)):
            out.extend([p] * len(_flatten(t)[0]))
            return True
        if isinstance(p, dict):
            return isinstance(t, dict) and set(p) == set(t) and all(walk(p[k], t[k]) for k in t)
        return isinstance(t, (list, tuple)) and len(p) == len(t) and all(walk(a, b) for a, b in zip(p, t))

    return out if walk(prefix, tree) else None


def _name(func: Any) -> str:
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return getattr(func, "__name__", repr(func))


# ---------------------------------------------------------------- randomness inside vmap
_RANDOM_ERROR = (
    "vmap: called random operation while in randomness error mode. Please either use the 'same' or 'different' "
    "randomness flags on vmap or perform the randomness operation out of vmap"
)


def _check_randomness(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")


def _copy_generator(gen: Any) -> Any:
    """An independent copy of a NumPy/CuPy generator, in the same state (for randomness='same')."""
    try:
        return copy.deepcopy(gen)
    except Exception as exc:  # a generator type that cannot be copied: say so rather than draw differently
        raise NotImplementedError(
            f"vmap(randomness='same'): cannot copy the random generator {type(gen).__name__} to give every slice "
            "the same draws; draw the random values outside vmap and pass them in with in_dims=None"
        ) from exc


class _RandomScope:
    """While active, every draw from a default (backend) generator or a ``bp.Generator`` goes through
    ``_source``: 'error' raises; 'same' hands each slice a copy of the generator as it was when the
    vmap began (the real one ends where one slice left it); 'different' changes nothing. The swap
    shadows the backends' ``rng`` and ``Generator._rng_for`` for the scope only, so ordinary draws pay
    nothing (the scope is process-wide, not per thread)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.undo: list[Callable[[], None]] = []
        self.getters: dict[Any, Callable[[], Any]] = {}
        self.snapshots: dict[Any, Any] = {}
        self.current: dict[Any, Any] = {}

    def _source(self, key: Any, get: Callable[[], Any]) -> Any:
        if self.mode == "error":
            raise RuntimeError(_RANDOM_ERROR)
        gen = self.current.get(key)
        if gen is None:
            if key not in self.snapshots:
                self.getters[key] = get
                self.snapshots[key] = _copy_generator(get())
            gen = self.current[key] = _copy_generator(self.snapshots[key])
        return gen

    def next_slice(self) -> None:
        self.current = {}

    def __enter__(self) -> _RandomScope:
        if self.mode == "different":
            return self
        for backend in registered_backends().values():
            orig = backend.rng
            had = "rng" in vars(backend)

            def rng(index: int = 0, _b: Any = backend, _orig: Any = orig) -> Any:
                return self._source(("backend", id(_b), index), lambda: _orig(index))

            backend.rng = rng  # type: ignore[method-assign]
            self.undo.append(functools.partial(self._restore_backend, backend, orig if had else None))
        orig_for = creation.Generator.__dict__["_rng_for"]

        def rng_for(gen: Any, dev: Any) -> Any:
            return self._source(("generator", id(gen), dev.type, dev.index), lambda: orig_for(gen, dev))

        setattr(creation.Generator, "_rng_for", rng_for)  # noqa: B010 - a class attribute, for the scope only
        self.undo.append(lambda: setattr(creation.Generator, "_rng_for", orig_for))
        return self

    @staticmethod
    def _restore_backend(backend: Any, previous: Any) -> None:
        if previous is None:
            del backend.rng
        else:
            backend.rng = previous

    def __exit__(self, *exc: Any) -> None:
        for undo in reversed(self.undo):
            undo()
        for key, gen in self.current.items():  # 'same': the real generators go on from one slice's draws
            real = self.getters[key]()
            if isinstance(real, torch_rng.CPUGenerator):  # its state includes the cached normal sample
                real.set_state(gen.get_state())
                continue
            with contextlib.suppress(AttributeError):
                real.bit_generator.state = gen.bit_generator.state


# ---------------------------------------------------------------- vmap
def _flat_in_dims(func: Any, in_dims: Any, args: tuple) -> tuple[list[Any], list[Any], Any, int]:
    """Validated per-leaf mapped dims (non-negative or None), the leaves, their spec and the batch size."""
    name = _name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a (potentially "
            f"nested) tuple matching the structure of inputs, got: {type(in_dims)}."
        )
    if not args:
        raise ValueError(
            f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying to vmap "
            "over a function with no inputs. The latter is unsupported."
        )
    flat_args, spec = _flatten(args)
    dims = _broadcast_prefix(in_dims, args)
    if dims is None:
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the structure of "
            f"`inputs`. in_dims has structure {_spec_repr(_flatten(in_dims)[1])} but inputs has structure "
            f"{_spec_repr(spec)}."
        )
    for k, (arg, d) in enumerate(zip(flat_args, dims)):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but in_dim must be "
                "either an integer dimension or None."
            )
        if not isinstance(arg, Tensor):
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but the input is of "
                f"type {type(arg)}. We cannot vmap over non-Tensor arguments, please use None as the respective in_dim"
            )
        if not -arg.ndim <= d < arg.ndim:
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some input, but that input is a "
                f"Tensor of dimensionality {arg.ndim} so expected in_dim to satisfy -{arg.ndim} <= in_dim < {arg.ndim}."
            )
        dims[k] = d % arg.ndim
    sizes = [arg.shape[d] for arg, d in zip(flat_args, dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes {sizes} for the "
            "mapped dimension"
        )
    return dims, flat_args, spec, sizes[0]


def _check_out_dims(func: Any, out_dims: Any) -> None:
    for d in _flatten(out_dims)[0]:
        if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
            raise ValueError(
                f"vmap({_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a python "
                "collection of ints representing where in the outputs the vmapped dimension should appear."
            )


def _same_value(a: Any, b: Any) -> bool:
    """Whether two slices' outputs are the same value (an out_dim-None output must not vary by slice)."""
    if a is b:
        return True
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        return not isinstance(a, Tensor) and not isinstance(b, Tensor) and bool(a == b)
    if tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype or a.device != b.device:
        return False
    nan = a._data.dtype.kind in "fc"
    return bool(a.device.xp.array_equal(a._data, b._data, equal_nan=nan))


def _storage(t: Any) -> int | None:
    return id(t if t._vbase is None else t._vbase) if isinstance(t, Tensor) else None


def _stack_outputs(func: Any, outputs: list[Any], out_dims: Any, mapped: set[Any], empty: bool = False) -> Any:
    """The slices' outputs stacked along their ``out_dims``; ``empty``: ``outputs`` is one output of a
    stand-in slice for a batch of size 0, and the mapped results are empty along their out_dim. An output
    with out_dim None must not depend on the batch (torch's error): it is refused when it differs between
    slices or is a view of a mapped input (``mapped``: their storages' ids)."""
    name = _name(func)
    flat0, spec = _flatten(outputs[0])
    flats = [flat0]
    for out in outputs[1:]:
        flat, s = _flatten(out)
        if s != spec:
            raise ValueError(
                f"vmap({name}, ...): `{name}` returned outputs of different structures for different slices"
            )
        flats.append(flat)
    if isinstance(outputs[0], Tensor):
        dims = [out_dims[0]] if isinstance(out_dims, tuple) and len(out_dims) == 1 else [out_dims]
        ok = isinstance(out_dims, int) or out_dims is None or (isinstance(out_dims, tuple) and len(out_dims) == 1)
    else:
        got = _broadcast_prefix(out_dims, outputs[0])
        ok, dims = got is not None, got or []
    if not ok:
        raise ValueError(
            f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with the structure of "
            f"`outputs`. out_dims has structure {_spec_repr(_flatten(out_dims)[1])} but outputs has structure "
            f"{_spec_repr(spec)}."
        )
    result = []
    for j, d in enumerate(dims):
        column = [f[j] for f in flats]
        if d is None:
            if _storage(column[0]) in mapped or not all(_same_value(column[0], c) for c in column[1:]):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None")
            result.append(column[0])
            continue
        if not isinstance(column[0], Tensor):
            raise ValueError(
                f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(column[0])}. Did you mean to "
                "set out_dims= to None for output?"
            )
        ndim = column[0].ndim + 1
        if not -ndim <= d < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {d})")
        out = stack(column, dim=d)
        result.append(out.narrow(d, 0, 0) if empty else out)
    return _unflatten(result, spec)


def _stand_in(a: Tensor, d: int) -> Tensor:
    """A slice of zeros for ``a``, mapped over its size-0 dim ``d`` (func still runs once, as torch's does, to
    give the outputs' shapes), connected to ``a``'s graph when it requires grad."""
    shape = tuple(a.shape[:d]) + tuple(a.shape[d + 1 :])
    z = creation.zeros(shape, dtype=a.dtype, device=a.device)
    return z + a.sum() * 0 if a.requires_grad else z


# The ids of the tensors each running vmap hands its function (the mapped slices), innermost last: batch_norm
# refuses to update running statistics that are not among them, as torch (the loop would update them per slice).
_MAPPED_SLICES: list[set[int]] = []


def mapped_slice(t: Any) -> bool | None:
    """None outside vmap; inside, whether ``t`` is one of the slices a running vmap mapped."""
    if not _MAPPED_SLICES:
        return None
    return any(id(t) in ids for ids in _MAPPED_SLICES)


def vmap(
    func: Callable[..., Any],
    in_dims: int | tuple[Any, ...] = 0,
    out_dims: int | tuple[Any, ...] = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable:
    """``func`` mapped over dim ``in_dims`` of its inputs (None: not mapped; pytrees of dims for pytrees
    of inputs), results stacked along ``out_dims``. Loops in Python: ``func`` runs once per slice and the
    outputs are stacked (torch batches the kernels instead; values are the same, the cost is B calls).
    Gradients flow through the slicing and stacking, so it composes with ``grad`` both ways.
    ``randomness``: 'error' raises on any random op inside, 'different' draws anew per slice, 'same'
    gives every slice the same draws. ``chunk_size`` is checked and changes nothing. A batch of size 0 runs
    ``func`` once on a zero stand-in slice for the outputs' shapes (torch runs it on the empty batch)."""
    _check_randomness(randomness)
    _check_out_dims(func, out_dims)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        dims, flat_args, spec, size = _flat_in_dims(func, in_dims, args)
        if size == 0:  # no slice to run: one stand-in slice gives the outputs' structure and shapes
            slices = [None if d is None else (_stand_in(a, d),) for a, d in zip(flat_args, dims)]
        else:
            slices = [None if d is None else a.unbind(d) for a, d in zip(flat_args, dims)]
        outputs = []
        with _RandomScope(randomness) as scope, functorch_transform("vmap"):
            for i in range(max(size, 1)):
                scope.next_slice()
                leaves = [a if s is None else s[i] for a, s in zip(flat_args, slices)]
                _MAPPED_SLICES.append({id(x) for x, s in zip(leaves, slices) if s is not None})
                try:
                    outputs.append(func(*_unflatten(leaves, spec), **kwargs))
                finally:
                    _MAPPED_SLICES.pop()
        mapped = {_storage(a) for a, d in zip(flat_args, dims) if d is not None}
        return _stack_outputs(func, outputs, out_dims, mapped, empty=size == 0)

    return wrapped
