"""``torch.distributed.device_mesh``: ``DeviceMesh`` and ``init_device_mesh``, an n-d layout of the job's ranks.

A mesh is an integer array of global ranks (``init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))`` lays
ranks 0..3 out row-major); each of its dimensions gets one process group per line along it (``new_group``, called
collectively on every rank, as torch does), and ``mesh["dp"]`` slices out the sub-mesh of this rank's line. The
bookkeeping follows torch's layouts: a mesh is its root's flat rank map plus one ``(size, stride)`` per dimension,
so slices compare equal, hash and print as torch's.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from backprop import distributed as dist
from backprop.tensor import Tensor

__all__ = ["DeviceMesh", "init_device_mesh"]

_Axis = tuple[int, int]  # one dimension's (size, stride) over the root's flat rank map


def _norm(axis: _Axis) -> tuple[Any, Any]:
    """torch's canonical ``_FlatLayout`` of one axis: a size-1 axis has shape and stride ``()``."""
    size, stride = axis
    return ((), ()) if size == 1 else ((size,), (stride,))


def _remap(layout: tuple[_Axis, ...], rank_map: np.ndarray) -> np.ndarray:
    """torch's ``_MeshLayout.remap_to_tensor``: (number of copies of the layout, *sizes), the copies filling the rank
    map in row-major order of the strides the layout leaves out (its complement)."""
    axes = sorted((d, s) for s, d in layout if s > 1)
    gaps: list[_Axis] = []
    current = 1
    for stride, size in axes:
        if stride > current:
            gaps.append((stride // current, current))
        current = size * stride
    if rank_map.size > current:
        gaps.append((rank_map.size // current, current))
    gaps.sort(key=lambda a: -a[1])
    shape = tuple(s for s, _ in gaps) + tuple(s for s, _ in layout)
    strides = tuple(d for _, d in gaps) + tuple(d for _, d in layout)
    index = np.zeros(shape, dtype=np.int64)
    for axis, stride in enumerate(strides):
        view = [1] * len(shape)
        view[axis] = shape[axis]
        index = index + (np.arange(shape[axis]) * stride).reshape(view)
    return rank_map[index].reshape(-1, *(s for s, _ in layout))


def _row_major(shape: tuple[int, ...]) -> tuple[_Axis, ...]:
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    return tuple(zip(shape, strides))


class DeviceMesh:
    """An n-d array of global ranks with one process group per dimension (torch.distributed.DeviceMesh)."""

    def __init__(
        self,
        device_type: str,
        mesh: Any = None,
        *,
        mesh_dim_names: tuple[str, ...] | None = None,
        backend_override: tuple[Any, ...] | None = None,
        _init_backend: bool = True,
        _rank: int | None = None,
        _layout: tuple[_Axis, ...] | None = None,
        _rank_map: np.ndarray | None = None,
        _root_mesh: DeviceMesh | None = None,
    ) -> None:
        if mesh is not None:
            if _layout is not None or _rank_map is not None:
                raise TypeError("Cannot provide _layout and/or _rank_map if passing explicit mesh")
            arr = np.ascontiguousarray(mesh.numpy() if isinstance(mesh, Tensor) else np.asarray(mesh)).astype(np.int32)
            _layout, _rank_map = _row_major(arr.shape), arr.reshape(-1)
        elif _layout is None or _rank_map is None:
            raise TypeError("The mesh argument is required except for PRIVATE USAGE ONLY!")
        self._device_type = device_type
        self._layout = tuple(_layout)
        self._rank_map = _rank_map
        self._mesh_dim_names = tuple(mesh_dim_names) if mesh_dim_names else None
        self._root_mesh = _root_mesh
        if backend_override is None:
            backend_override = ((None, None),) * len(self._layout)
        elif len(backend_override) != len(self._layout):
            raise ValueError(
                "backend_override should have the same length as the number of mesh dimensions, "
                f"but got {len(backend_override)} and {len(self._layout)}."
            )
        self._flatten_rank_map = tuple(int(r) for r in self._rank_map)
        self._thread_id = None
        self._dim_groups: list[Any] = []
        if _init_backend:
            self._setup_world_group_and_device()
            self._dim_groups = self._init_process_groups(backend_override)
        self._rank = dist.get_rank() if _rank is None else _rank
        self._coordinate_on_dim = self._coordinates(self.mesh, self._rank)
        self._hash: int | None = None

    # ------------------------------------------------------------ setup
    def _setup_world_group_and_device(self) -> None:
        """Join the job if needed (``init_process_group()``), check the mesh fits in it, pick a CUDA device."""
        if not dist.is_initialized():
            dist.init_process_group()
        world_size = dist.get_world_size()
        n = self.size()
        if n > world_size:
            raise RuntimeError(f"Mesh should not be bigger than default world size {world_size}, but found {n} ranks!")
        if self._device_type == "cuda":
            from backprop import cuda

            count = cuda.device_count() if cuda.is_available() else 0
            if count == 0:
                return
            if world_size > count and world_size % count != 0 and "LOCAL_RANK" not in os.environ:
                raise RuntimeError(
                    f"DeviceMesh only support homogeneous hardware, but found {world_size} ranks and {count} "
                    f"{self._device_type} devices!"
                )
            local = int(os.environ.get("LOCAL_RANK", dist.get_local_rank()))
            cuda.set_device(local % count)

    def _init_process_groups(self, backend_override: tuple[Any, ...]) -> list[Any]:
        """One group per dimension holding this rank (``new_group`` for every line along it, on every rank)."""
        groups: list[Any] = []
        rank = dist.get_rank()
        for dim, axis in enumerate(self._layout):
            backend, _options = backend_override[dim]
            name = self._mesh_dim_names[dim] if self._mesh_dim_names else f"dim_{dim}"
            if axis[0] == dist.get_world_size() and backend is None:
                groups.append(dist.group.WORLD)
                continue
            mine = None
            for line in _remap((axis,), self._rank_map).tolist():
                made = dist.new_group(ranks=line, backend=backend, group_desc=f"mesh_{name}")
                if rank in line:
                    if mine is not None:
                        raise RuntimeError(
                            f"Each device mesh dimension should get only one process group, but got {rank} in {line}!"
                        )
                    mine = made
            if mine is not None:
                groups.append(mine)
        if groups and len(groups) != len(self._layout):
            raise AssertionError
        return groups

    @staticmethod
    def _coordinates(mesh: Tensor, rank: int) -> tuple[int, ...] | None:
        where = np.argwhere(mesh.numpy() == rank)
        if len(where) > 1:
            raise AssertionError(f"rank_coords.size(0) must be 0 or 1, got {len(where)}")
        return tuple(int(c) for c in where[0]) if len(where) else None

    # ------------------------------------------------------------ properties
    @property
    def device_type(self) -> str:
        """The device type of the mesh ("cpu" or "cuda")."""
        return self._device_type

    @property
    def mesh(self) -> Tensor:
        """The int32 tensor of global ranks (for a slice: the line holding this rank)."""
        full = _remap(self._layout, self._rank_map)
        if full.shape[0] == 1:
            return Tensor._of(full[0].astype(np.int32))
        rows = np.argwhere(full == dist.get_rank())
        if len(rows):
            return Tensor._of(full[rows[0, 0]].astype(np.int32))
        raise RuntimeError(
            "In order to get the mesh Tensor of a DeviceMesh it needs to either have all its original dimensions "
            "(e.g., no slicing) or it needs to contain the local rank"
        )

    @property
    def mesh_dim_names(self) -> tuple[str, ...] | None:
        """The names of the dimensions, or None."""
        return self._mesh_dim_names

    @property
    def ndim(self) -> int:
        """The number of mesh dimensions."""
        return len(self._layout)

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each mesh dimension."""
        return tuple(s for s, _ in self._layout)

    def size(self, mesh_dim: int | None = None) -> int:
        """The number of ranks in the mesh, or along ``mesh_dim``."""
        if mesh_dim is not None:
            return self._layout[mesh_dim][0]
        return math.prod(self.shape)

    def get_rank(self) -> int:
        """This process's global rank."""
        return dist.get_rank()

    def get_coordinate(self) -> tuple[int, ...] | None:
        """This rank's index along every dimension; None when it is not in the mesh."""
        return self._coordinate_on_dim

    def _get_root_mesh(self) -> DeviceMesh:
        return self._root_mesh if self._root_mesh is not None else self

    def _get_mesh_dim_by_name(self, mesh_dim_name: str) -> int:
        if not self._mesh_dim_names:
            raise KeyError("No `mesh_dim_names` found.")
        if mesh_dim_name not in self._mesh_dim_names:
            raise KeyError(
                f"Mesh dimension '{mesh_dim_name}' does not exist.",
                f"Available mesh dimensions are: mesh_dim_names={self._mesh_dim_names}",
            )
        return self._mesh_dim_names.index(mesh_dim_name)

    # ------------------------------------------------------------ groups
    def get_group(self, mesh_dim: int | str | None = None) -> Any:
        """The process group of ``mesh_dim`` (a name or index) holding this rank; needed when ``ndim > 1``."""
        if self.ndim > 1 and mesh_dim is None:
            raise RuntimeError(
                f"Found the DeviceMesh have {self.ndim} dimensions",
                "Optional kwarg `mesh_dim` needs to be specified when device_mesh.ndim > 1.",
                "If you want to get the list of all the ProcessGroups in the DeviceMesh,"
                "please use `get_all_groups()` instead.",
            )
        if mesh_dim is None:
            return self._dim_groups[0]
        index = self._get_mesh_dim_by_name(mesh_dim) if isinstance(mesh_dim, str) else mesh_dim
        return self._dim_groups[index]

    def get_all_groups(self) -> list[Any]:
        """The process group of every dimension, in order."""
        return [self.get_group(i) for i in range(self.ndim)]

    def get_local_rank(self, mesh_dim: int | str | None = None) -> int:
        """This rank's rank in the group of ``mesh_dim`` (its coordinate along it, for a row-major mesh)."""
        if self.ndim > 1 and mesh_dim is None:
            raise RuntimeError(
                f"Found the DeviceMesh have {self.ndim} dimensions",
                "Optional kwarg `mesh_dim` needs to be specified when device_mesh.ndim > 1.",
            )
        return dist.get_rank(self.get_group(0 if mesh_dim is None else mesh_dim))

    # ------------------------------------------------------------ slicing
    def __getitem__(self, mesh_dim_names: str | tuple[str, ...]) -> DeviceMesh:
        """The sub-mesh of the named dimensions (in mesh order) holding this rank, with their groups."""
        if not self._mesh_dim_names:
            raise RuntimeError("Cannot slice a DeviceMesh without mesh_dim_names!")
        names = (mesh_dim_names,) if isinstance(mesh_dim_names, str) else tuple(mesh_dim_names)
        if names == self._mesh_dim_names:
            return self
        valid = list(self._mesh_dim_names)
        if not all(n in valid for n in names):
            raise KeyError(f"Invalid mesh_dim_names {names} specified. Valid mesh_dim_names are {valid}.")
        dims = [valid.index(n) for n in names]
        layout = tuple(self._layout[d] for d in dims)
        strides = [d for s, d in layout if s > 1]
        if strides != sorted(strides, reverse=True):
            raise KeyError(f"Invalid mesh_dim_names {names} specified. Mesh dim indices should be in ascending order.")
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"Slicing overlapping dim_names {names} is not allowed.")
        root = self._get_root_mesh()
        sub = DeviceMesh(
            self._device_type, _layout=layout, _rank_map=root._rank_map, mesh_dim_names=names, _root_mesh=root,
            _init_backend=False,
        )  # fmt: skip
        if self._dim_groups:
            sub._dim_groups = [self._dim_groups[d] for d in dims]
        return sub

    @staticmethod
    def from_group(
        group: Any, device_type: str, mesh: Any = None, *, mesh_dim_names: tuple[str, ...] | None = None
    ) -> DeviceMesh:
        """A mesh over existing process groups: one group (1-D), or a list of them with ``mesh`` and names."""
        if not isinstance(group, (list, tuple)):
            ranks = dist.get_process_group_ranks(group)
            given = mesh.tolist() if isinstance(mesh, Tensor) else mesh
            if mesh is not None and (list(given) if isinstance(given, (list, tuple)) else given) != ranks:
                raise ValueError(f"Invalid mesh {mesh!s} for ProcessGroup with ranks {ranks}")
            made = DeviceMesh(device_type, ranks, mesh_dim_names=mesh_dim_names, _init_backend=False)
            made._dim_groups = [group]
            return made
        groups = list(group)
        if not groups:
            raise ValueError("Expects at least one ProcessGroup to be passed")
        if mesh is None:
            raise ValueError("Must pass mesh if passing multiple ProcessGroups")
        if mesh_dim_names is None:
            raise ValueError("Must pass mesh_dim_names if passing multiple ProcessGroups")
        arr = np.asarray(mesh.numpy() if isinstance(mesh, Tensor) else mesh, dtype=np.int32)
        if arr.ndim != len(groups):
            raise ValueError(
                "Expects mesh with ndim equal to number of ProcessGroups but got "
                f"mesh {arr.tolist()} and {len(groups)} ProcessGroups"
            )
        made = DeviceMesh(device_type, arr, mesh_dim_names=mesh_dim_names, _init_backend=False)
        made._dim_groups = groups
        return made

    # ------------------------------------------------------------ identity
    def __repr__(self) -> str:
        sizes = self.shape
        body = (
            f"({', '.join(f'{k}={v}' for k, v in zip(self._mesh_dim_names, sizes))})"
            if self._mesh_dim_names
            else f"{sizes}"
        )
        stride = tuple(d if s > 1 else () for s, d in self._layout)
        text = f"DeviceMesh({body}, '{self.device_type}', stride={stride}"
        if os.environ.get("TORCH_DISTRIBUTED_DEBUG", "") == "DETAIL":
            text += f", Mesh: {self.mesh.tolist()}"
        return f"{text})"

    def _hash_key(self) -> tuple[Any, ...]:
        layout = tuple(_norm(a) for a in self._layout)
        return (self._flatten_rank_map, layout, self._device_type, self._mesh_dim_names, self._thread_id)

    def __hash__(self) -> int:
        if not self._hash:
            self._hash = hash(self._hash_key())
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, DeviceMesh):
            return False
        return self._hash_key() == other._hash_key()

    def __enter__(self) -> DeviceMesh:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def init_device_mesh(
    device_type: str,
    mesh_shape: tuple[int, ...],
    *,
    mesh_dim_names: tuple[str, ...] | None = None,
    backend_override: dict[int | str, Any] | None = None,
) -> DeviceMesh:
    """A mesh of ``mesh_shape`` over ranks 0..n-1 in row-major order, its groups made (every rank must call it)."""
    if mesh_dim_names is not None:
        if len(set(mesh_dim_names)) != len(mesh_dim_names):
            raise RuntimeError(
                f"Each mesh_dim_name must be unique. Found repeated mesh_dim_name in mesh_dim_names {mesh_dim_names}"
            )
        if len(mesh_shape) != len(mesh_dim_names):
            raise RuntimeError(
                "mesh_shape and mesh_dim_names should have same length! "
                f"Found len(mesh_dim_names): {len(mesh_dim_names)} and len(mesh_shape):{len(mesh_shape)}."
            )
    overrides = None
    if backend_override is not None:
        overrides = tuple(_normalize_backend_override(dict(backend_override), len(mesh_shape), mesh_dim_names))
    if device_type and not device_type.isalpha():
        raise RuntimeError(
            f"Device type with index is not supported but got {device_type}. ",
            "If you maintained a 'torch.device' object, it's recommended to pass in 'device.type'.",
        )
    shape = tuple(int(s) for s in mesh_shape)
    return DeviceMesh(
        device_type, _layout=_row_major(shape), _rank_map=np.arange(math.prod(shape), dtype=np.int32),
        mesh_dim_names=mesh_dim_names, backend_override=overrides,
    )  # fmt: skip


def _normalize_backend_override(
    backend_override: dict[int | str, Any], ndim: int, mesh_dim_names: tuple[str, ...] | None
) -> list[tuple[Any, Any]]:
    """torch's: each dimension's ``(backend, options)``, keyed by index or name."""
    names = tuple(mesh_dim_names or ())
    out: list[tuple[Any, Any]] = []
    for dim in range(ndim):
        name = names[dim] if dim < len(names) else None
        if name is not None and name in backend_override:
            if dim in backend_override:
                raise RuntimeError(f"Found redundant dim index {dim} and name {name} in backend_override")
            val = backend_override.pop(name)
        elif dim in backend_override:
            val = backend_override.pop(dim)
        else:
            out.append((None, None))
            continue
        out.append((val, None) if isinstance(val, str) else tuple(val) if isinstance(val, tuple) else (None, val))
    if backend_override:
        raise RuntimeError(
            f"Found invalid keys in backend_override: got {list(backend_override.keys())}, "
            f"expected integers in range [0, {ndim}) or one of {mesh_dim_names or ()}"
        )
    return out
