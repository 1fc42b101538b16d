"""``Optimizer``: parameter groups, per-parameter state and torch-format state dicts.

Updates run on raw arrays (``p._data``, ``p.grad._data``) under no graph, in place, so a step
builds nothing and allocates little. Subclasses implement ``_update(p, g, state, group)``.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import itertools
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from backprop import registry
from backprop.autograd.function import bump_version
from backprop.autograd.grad_mode import enable_grad, no_grad, set_grad_enabled
from backprop.autograd.trace import replayed_whole
from backprop.devices import device
from backprop.nn.module_hooks import RemovableHandle
from backprop.tensor import Tensor

_HOOK_KINDS = (
    "step_pre",
    "step_post",
    "state_dict_pre",
    "state_dict_post",
    "load_state_dict_pre",
    "load_state_dict_post",
)
_hook_ids = itertools.count()
_CPU = device("cpu")

# torch.optim.optimizer's global step hooks: every optimizer's step runs them (pre-hooks before its own,
# post-hooks after its own, as torch's)
_global_optimizer_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``hook(optimizer, args, kwargs)`` before every optimizer's ``step`` (torch's global hook); it may
    return new ``(args, kwargs)``. ``handle.remove()`` unregisters it."""
    handle = RemovableHandle(_global_optimizer_pre_hooks, next(_hook_ids))
    _global_optimizer_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``hook(optimizer, args, kwargs)`` after every optimizer's ``step`` (torch's global hook)."""
    handle = RemovableHandle(_global_optimizer_post_hooks, next(_hook_ids))
    _global_optimizer_post_hooks[handle.id] = hook
    return handle


def _with_step_hooks(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (an optimizer's ``step``) with the step pre- and post-hooks around it, as torch's."""

    @functools.wraps(fn)
    def step(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        hooks = self.__dict__.get("_hooks")
        if (
            not (hooks and (hooks.get("step_pre") or hooks.get("step_post")))
            and not (_global_optimizer_pre_hooks or _global_optimizer_post_hooks)
        ) or self.__dict__.get("_in_step"):
            return fn(self, *args, **kwargs)
        full: tuple[Any, ...] = (self, *args)
        for hook in [*_global_optimizer_pre_hooks.values(), *self._hooks_of("step_pre")]:
            result = hook(self, full, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{fn} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
                full, kwargs = result
        self._in_step = True
        try:
            out = fn(*full, **kwargs)
        finally:
            self._in_step = False
        for hook in [*self._hooks_of("step_post"), *_global_optimizer_post_hooks.values()]:
            hook(self, full, kwargs)
        return out

    return step


class Optimizer:
    """Base class; ``defaults`` are the hyper-parameters each param group inherits."""

    # a subclass's param-group keys in torch's order (``state_dict()``, ``param_groups`` print as torch's)
    _group_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if self._group_keys:
            order = [k for k in self._group_keys if k in defaults]
            defaults = {**{k: defaults[k] for k in order}, **{k: v for k, v in defaults.items() if k not in order}}
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: ParamState = ParamState()  # opt.state[p], as torch's (stored by id(p))
        self._fused_cache: dict[tuple[str, str], Any] = {}  # (backend, key) -> fused update or None
        self._work: dict[tuple[Any, ...], Any] = {}  # (shape, dtype, device) -> an update's work array (scratch)
        self._hooks: dict[str, OrderedDict[int, Callable[..., Any]]] = {k: OrderedDict() for k in _HOOK_KINDS}
        self._in_step = False  # (a subclass's step calling super().step() runs the step hooks once)
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + params.type()
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]  # (tensors, or (name, tensor) pairs as named_parameters() gives)
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):  # (torch's refusal: a set's order, hence the state dict's indices, varies)
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead."
            )
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        named = [isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in group["params"]]
        if any(named):  # named_parameters(): the names go to group["param_names"], as in torch
            if not all(named):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            group["param_names"] = [name for name, _ in group["params"]]
            group["params"] = [p for _, p in group["params"]]
        for p in group["params"]:
            if not isinstance(p, Tensor):
                kind = type(p)
                what = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {what}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {k}")
            group.setdefault(k, v)
        ids = {id(p) for p in group["params"]}
        if len(ids) != len(group["params"]):  # torch warns (and updates such a parameter once per mention)
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        for g in self.param_groups:
            if ("param_names" in group) != ("param_names" in g):
                raise ValueError(
                    "all optimizer param groups should be with/without names. cannot add param group "
                    + ("with names" if "param_names" in group else "without names")
                    + " to the optimizer"
                )
        if any(id(q) in ids for g in self.param_groups for q in g["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def __getstate__(self) -> dict[str, Any]:
        """What ``copy.deepcopy`` and pickle keep: everything but the hooks (torch drops them too), the
        fused-kernel cache and the work arrays, with the state keyed by the parameter's position in
        ``param_groups`` (its key here, ``id(p)``, would not name the copied parameter)."""
        out = dict(self.__dict__)
        position: dict[int, int] = {}
        for i, p in enumerate(p for g in self.param_groups for p in g["params"]):
            position.setdefault(id(p), i)
        out["_state_by_position"] = {position[k]: v for k, v in dict.items(self.state) if k in position}
        del out["state"]
        out["_fused_cache"] = {}
        out["_work"] = {}
        out["_hooks"] = {k: OrderedDict() for k in _HOOK_KINDS}
        out.pop("_opt_called", None)  # (a scheduler's step tracking: its hook is not copied)
        return out

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        by_position = state.pop("_state_by_position", None)
        self.__dict__.update(state)
        if by_position is not None:
            params = [p for g in self.param_groups for p in g["params"]]
            self.state = ParamState()
            for i, v in by_position.items():
                dict.__setitem__(self.state, id(params[i]), v)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's own ``step`` runs its step hooks and is replayed whole by ``bp.compile``, as the
        base class's (unless the subclass sets ``_replayed_whole = False``: its step then checks itself)."""
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            step = _with_step_hooks(cls.__dict__["step"])
            cls.step = replayed_whole(step) if cls.__dict__.get("_replayed_whole", True) else step  # type: ignore[method-assign]
        if "zero_grad" in cls.__dict__:
            cls.zero_grad = replayed_whole(cls.__dict__["zero_grad"])  # type: ignore[method-assign]

    # ------------------------------------------------------------ hooks (torch's six kinds)
    def _add_hook(self, kind: str, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register_{kind}_hook expects a callable, got {type(hook).__name__}")
        table = self.__dict__.setdefault("_hooks", {k: OrderedDict() for k in _HOOK_KINDS})[kind]
        handle = RemovableHandle(table, next(_hook_ids))
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def _hooks_of(self, kind: str) -> list[Callable[..., Any]]:
        return list(self.__dict__.get("_hooks", {}).get(kind, {}).values())

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` before each ``step``; it may return new ``(args, kwargs)``."""
        return self._add_hook("step_pre", hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` after each ``step``."""
        return self._add_hook("step_post", hook)

    def register_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` before ``state_dict()`` builds the dict."""
        return self._add_hook("state_dict_pre", hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` after ``state_dict()``; it may return a new state dict."""
        return self._add_hook("state_dict_post", hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` before ``load_state_dict``; it may return the dict to load instead."""
        return self._add_hook("load_state_dict_pre", hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` after ``load_state_dict``."""
        return self._add_hook("load_state_dict_post", hook, prepend)

    @replayed_whole
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (``None`` by default, as torch; zeros in place otherwise)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    g = p.grad
                    if g.requires_grad:  # (a gradient made with create_graph=True leaves its graph, as torch's)
                        g.detach_()
                    if g.is_sparse:  # (no entries left, as torch's zero_())
                        g.zero_()
                        continue
                    g._data[...] = 0
                    bump_version(g)

    @replayed_whole
    @_with_step_hooks
    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                found = dict.get(self.state, id(p))  # (the int key: ParamState's lookup skipped)
                state: dict[str, Any] = {} if found is None else found
                if grad.__class__ is not Tensor and grad.is_sparse:  # (F.embedding(..., sparse=True)'s gradient)
                    self._sparse_update(p, -grad if group.get("maximize") else grad, state, group)
                    if found is None and state:
                        dict.__setitem__(self.state, id(p), state)
                    bump_version(p)
                    continue
                g = grad._data
                if group.get("maximize"):  # (torch: grad = -grad; a 0-d array stays an array, not a NumPy scalar)
                    g = -g if g.ndim else p.device.xp.negative(g, out=p.device.xp.empty_like(g))
                update = self._update_as_real if g.dtype.kind == "c" else self._update
                if p.device.index:  # cuda:N: its kernels launch with device N current
                    with p.device.backend.use_device(p.device.index):
                        update(p, g, state, group)
                else:
                    update(p, g, state, group)
                if found is None and state:  # (kept once the update stored something: plain SGD keeps none)
                    dict.__setitem__(self.state, id(p), state)
                bump_version(p)
        return loss

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _sparse_update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """The update for a sparse COO gradient (``SGD``, ``Adagrad``, ``SparseAdam``); torch's refusal otherwise."""
        raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")

    def _update_as_real(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """A complex parameter's update, as torch's optimizers make it: on ``view_as_real`` of the parameter,
        its gradient and its state (every moment, step size and sign is per real and imaginary part, not of
        the complex number). The state keeps complex Tensors (torch's state dict): the update sees real views
        of them, and a buffer it creates is made complex (``buffer``), its fill value in both parts, as torch
        fills them (Adagrad's ``complex(v, v)``, Rprop's step sizes)."""
        data = p._data if p._data.flags.c_contiguous else p._data.copy()
        pr = Tensor._wrap(_real_view(data), p.device, None)
        views: dict[str, Tensor] = {}
        rstate: dict[str, Any] = {}
        for k, v in state.items():
            if isinstance(v, Tensor) and v._data.dtype.kind == "c" and v._data.shape == data.shape:
                if not v._data.flags.c_contiguous:
                    v = state[k] = Tensor._wrap(v._data.copy(), v.device, None)
                views[k] = rstate[k] = Tensor._wrap(_real_view(v._data), v.device, None)
            else:
                rstate[k] = v
        _COMPLEX_OF[id(pr)] = p
        try:
            self._update(pr, _real_view(g if g.flags.c_contiguous else g.copy()), rstate, group)
        finally:
            del _COMPLEX_OF[id(pr)]
        for k, v in rstate.items():
            if views.get(k) is v:
                continue
            if isinstance(v, Tensor) and v._data.shape == pr._data.shape and v._data.dtype.kind == "f":
                v = Tensor._wrap(v._data.copy().view(data.dtype).reshape(data.shape), v.device, None)
            state[k] = v
        if data is not p._data:
            p._data[...] = data

    def _fused(self, p: Tensor, key: str) -> Any:
        """The backend's fused update kernel ``key`` (e.g. ``"optim.adam"``), or None."""
        backend = p.device.backend
        cache = self._fused_cache
        if (backend.name, key) not in cache:
            cache[backend.name, key] = registry.backend_overrides(backend).get(key)
        return cache[backend.name, key]

    # ------------------------------------------------------------ state dicts (torch format)
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: Tensor|number}}, "param_groups": [{..., "params": [index]}]}``."""
        for hook in self._hooks_of("state_dict_pre"):
            hook(self)
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            g["params"] = ids
            groups.append(g)
        state = {}
        for pid, i in index.items():
            if pid in self.state:
                state[i] = {k: _to_host(v) for k, v in self.state[pid].items()}
        out = {"state": state, "param_groups": groups}
        for hook in self._hooks_of("state_dict_post"):
            out = hook(self, out) or out
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s state and hyper-parameters (torch's layout) onto these parameters."""
        for hook in self._hooks_of("load_state_dict_pre"):
            state_dict = hook(self, state_dict) or state_dict
        groups = copy.deepcopy(state_dict["param_groups"])  # (torch's: the loaded dict stays the caller's)
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(mine["params"]) != len(theirs["params"]) for mine, theirs in zip(self.param_groups, groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        params = [p for group in self.param_groups for p in group["params"]]
        for mine, theirs in zip(self.param_groups, groups):
            # torch's group: the saved one (its keys in its order) holding these parameters (and their names
            # where the saved group has none); a key it lacks keeps this group's value, as torch's
            # __setstate__ fills its defaults. Updated in place: whoever holds the group sees the new values.
            old = dict(mine)
            theirs["params"] = mine["params"]
            if "param_names" in mine and "param_names" not in theirs:
                theirs["param_names"] = mine["param_names"]
            mine.clear()
            mine.update(theirs)
            for k, v in old.items():
                mine.setdefault(k, v)
        self.state = ParamState()
        for i, st in state_dict["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {k: _step_from_host(v) if k == "step" else _from_host(v, p) for k, v in st.items()}
        for hook in self._hooks_of("load_state_dict_post"):
            hook(self)

    def __repr__(self) -> str:
        # torch's layout: each group starts on a new line, after a blank one from the second group on
        text = f"{type(self).__name__} ("
        for i, g in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {k}: {v}\n" for k, v in sorted(g.items()) if k != "params")
        return text + ")"


class ParamState(dict):
    """An optimizer's state per parameter: ``opt.state[p]`` takes the parameter itself (as torch's, a
    missing one gives a new empty dict); entries are stored under ``id(p)``, which the optimizers use."""

    @staticmethod
    def _key(key: Any) -> Any:
        return id(key) if isinstance(key, Tensor) else key

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __missing__(self, key: Any) -> dict[str, Any]:
        value: dict[str, Any] = {}
        super().__setitem__(key, value)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._key(key))

    def __contains__(self, key: Any) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return super().setdefault(self._key(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        return super().pop(self._key(key), *default)


def _to_host(v: Any) -> Any:
    """A state value for ``state_dict``: the state's own Tensors, as torch's (not copies: deep-copy the
    dict to keep a snapshot), raw device arrays as host arrays, lists element-wise."""
    if isinstance(v, Tensor):
        return v
    if isinstance(v, (list, tuple)):
        return type(v)(_to_host(x) for x in v)
    if hasattr(v, "__cuda_array_interface__") and hasattr(v, "get"):  # a CuPy array kept raw (LBFGS)
        return v.get()
    return copy.copy(v)


def _step_from_host(v: Any) -> Any:
    """A loaded step count: a Tensor stays a 0-d float32 Tensor on the CPU (a copy), as torch keeps it; a
    number stays a number (the next step makes it a Tensor)."""
    if isinstance(v, Tensor):
        return scalar_state(float(v.item()))
    if isinstance(v, np.ndarray) or hasattr(v, "shape"):  # (a device array, or a checkpoint's 1-element array)
        return scalar_state(float(np.asarray(v.get() if hasattr(v, "get") else v).reshape(-1)[0]))
    return v


def _from_host(v: Any, p: Tensor) -> Any:
    """A loaded state value: arrays become Tensors on ``p``'s device, in its dtype where ``p`` is real floating
    (torch's rule: a complex or integer parameter's state keeps its own dtype); lists element-wise."""
    if isinstance(v, (list, tuple)):
        return type(v)(_from_host(x, p) for x in v)
    if isinstance(v, np.ndarray) or hasattr(v, "shape"):  # (a copy: the source keeps its own state, as torch's)
        arr = p.device.backend.from_host(np.array(v, copy=True), p.device.index)
        if np.dtype(p.dtype).kind == "f":
            arr = arr.astype(p.dtype, copy=False)
        return Tensor._wrap(arr, p.device, None)
    return v


def scalar_state(value: float, p: Tensor | None = None) -> Tensor:
    """A 0-d float32 Tensor (torch's default scalar dtype) holding ``value``: how torch keeps a scalar of
    an optimizer's state (``step``; ASGD's ``eta`` and ``mu``), on the CPU unless ``p`` is given."""
    if p is None or p.device.type == "cpu":
        return Tensor._wrap(np.array(value, dtype=np.float32), _CPU, None)
    arr = p.device.backend.from_host(np.array(value, dtype=np.float32), p.device.index)
    return Tensor._wrap(arr, p.device, None)


def count_step(state: dict[str, Any]) -> float:
    """Advance ``state["step"]`` and return the new count, as torch's optimizers keep it: a 0-d float32
    Tensor on the CPU (torch's non-capturable, non-fused layout), so ``state_dict()`` and
    ``opt.state[p]["step"]`` are torch's. A number there (an older state dict) is taken over."""
    s = state.get("step")
    if not (isinstance(s, Tensor) and type(s._data) is np.ndarray and s._data.dtype == np.float32):
        s = scalar_state(0.0 if s is None else float(s))
        state["step"] = s
    a = s._data
    a += 1
    return float(a)


def _real_view(a: Any) -> Any:
    """``view_as_real`` of a C-contiguous complex array: shape (..., 2), the same memory."""
    return a.reshape(*a.shape, 1).view(a.real.dtype)


# id of the real view a complex parameter's update sees -> the parameter (``Optimizer._update_as_real``)
_COMPLEX_OF: dict[int, Tensor] = {}


def buffer(state: dict[str, Any], name: str, p: Tensor, fill: float = 0.0) -> Any:
    """The array ``state[name]`` (a Tensor kept for state dicts), created like ``p`` on first use."""
    t = state.get(name)
    if t is None and _COMPLEX_OF and id(p) in _COMPLEX_OF:  # like the complex parameter, seen as real
        c = _COMPLEX_OF[id(p)]
        t = Tensor._wrap(p.device.xp.full(c._data.shape, complex(fill, fill), dtype=c.dtype), p.device, None)
        state[name] = t
        return _real_view(t._data)
    if t is None:
        t = Tensor._wrap(p.device.xp.full(p._data.shape, fill, dtype=p.dtype), p.device, None)
        state[name] = t
    return t._data


def scratch(work: dict[tuple[Any, ...], Any], p: Tensor) -> Any:
    """A work array shaped like ``p`` from the optimizer's ``_work``: one per shape, dtype and device, shared by
    the updates (each fills it before reading it) and never in ``opt.state[p]``, which holds only what torch's
    does (a ``"_scratch"`` key there showed in ``print(opt.state[p])`` and ``len(opt.state[p])``)."""
    key = (p._data.shape, p.dtype, str(p.device))
    buf = work.get(key)
    if buf is None:
        buf = work[key] = p.device.xp.empty_like(p._data)
    return buf


# Elements per chunk in ``add_scaled_``'s NumPy fallback: the (alpha x) temporary stays small (512 KB
# of float32) and few ufunc calls are made. Measured on a 2-core VM (2026-12-06, one thread), us per
# update of a float32 table: 2000x128: 76.6 with chunks of 2**14, 52.5 with 2**17, 47.4 in one go;
# 10000x256: 1430 / 871 / 885; 10000x512: 3209 / 2048 / 2187.
_CHUNK = 1 << 17


def _numpy_blas_axpy() -> dict[Any, Any]:
    """NumPy's own OpenBLAS ``saxpy``/``daxpy`` by dtype ({} where NumPy has none we can find).

    Why BLAS and why this copy of it: ``y += alpha * x`` in NumPy is two passes and two roundings
    per element, while torch's ``add_(x, alpha=)`` (every SGD update, momentum and weight-decay term)
    is one fused multiply-add: OpenBLAS's axpy computes exactly torch's bits (checked on 10^6
    elements and odd tails) in one pass, on the BLAS threads. Called through ctypes on the library
    NumPy's matmul already loaded (wheels ship it as ``libscipy_openblas*``), so both share one
    thread pool; scipy's BLAS wrappers are a second OpenBLAS whose pool fought NumPy's for the cores.
    Measured (2 threads, after the step's matmuls read the parameters): the small MLP's eight SGD
    updates 92 us against 223 us for NumPy's two passes (73 vs 73 us at one thread)."""
    import glob
    import os

    here = os.path.dirname(np.__file__)
    paths = glob.glob(os.path.join(here, os.pardir, "numpy.libs", "libscipy_openblas*"))
    paths += glob.glob(os.path.join(here, ".dylibs", "libscipy_openblas*"))
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix, index in (("64_", ctypes.c_int64), ("", ctypes.c_int32)):
            found = {}
            for dtype, letter, scalar in ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double)):
                fn = getattr(lib, f"scipy_cblas_{letter}axpy{suffix}", None)
                if fn is None:
                    break
                fn.restype = None
                fn.argtypes = [index, scalar, ctypes.c_void_p, index, ctypes.c_void_p, index]
                found[np.dtype(dtype)] = fn
            if len(found) == 2:
                return found
    return {}


_AXPY = _numpy_blas_axpy()


def _address(a: Any) -> int:
    """The data address of a writable NumPy array, through the buffer protocol (about a third of
    ``a.ctypes.data``'s cost, which builds a helper object each time: the updates run per parameter)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(a))


def add_scaled_(xp: Any, y: Any, x: Any, alpha: float) -> None:
    """y += alpha * x, in place: one fused multiply-add per element through NumPy's BLAS (torch's
    bits, see ``_numpy_blas_axpy``); elsewhere (CuPy, other dtypes, strided or overlapping arrays,
    NumPy without that BLAS) two roundings, without a temporary the size of ``y``."""
    if xp is np:
        if not y.size:
            return
        axpy = _AXPY.get(y.dtype)
        if axpy is not None and x.dtype == y.dtype and x.shape == y.shape:
            y_flags, x_flags = y.flags, x.flags  # (each .flags builds an object: read them once)
            if y_flags.c_contiguous and x_flags.c_contiguous and y_flags.writeable:
                px = _address(x) if x_flags.writeable else x.ctypes.data
                py, nbytes = _address(y), y.nbytes
                if px + nbytes <= py or py + nbytes <= px:  # (contiguous: disjoint address ranges)
                    axpy(y.size, float(alpha), px, 1, py, 1)  # (alpha in y's dtype, as torch)
                    return
    if xp is not np or y.size <= _CHUNK or x.shape != y.shape or not (y.flags.c_contiguous and x.flags.c_contiguous):
        y += alpha * x
        return
    yf, xf = y.reshape(-1), x.reshape(-1)
    for i in range(0, yf.size, _CHUNK):
        yf[i : i + _CHUNK] += alpha * xf[i : i + _CHUNK]


def plus_scaled(xp: Any, a: Any, x: Any, alpha: float) -> Any:
    """A new array ``a + alpha * x``, rounded as ``add_scaled_`` (torch's ``a.add(x, alpha=)``)."""
    out = xp.array(a, dtype=xp.result_type(a, x), copy=True)  # (an array even for a NumPy scalar)
    add_scaled_(xp, out, x, alpha)
    return out


_NO_FUSED: Any = object()  # (the optimizer has no ``fused`` option: its groups have no such key, as torch's)


def torch_options(
    name: str,
    maximize: bool = False,
    foreach: bool | None = None,
    differentiable: bool = False,
    fused: bool | None = _NO_FUSED,
    capturable: bool | None = None,
) -> dict[str, Any]:
    """Torch's keyword-only optimizer options, as param-group defaults (torch keeps them there too).

    ``maximize`` ascends (the gradient is negated first, as torch). ``foreach`` and ``fused`` choose
    among torch's implementations of the same update; there is one here, so they change nothing
    (``fused`` is a group key only where the optimizer takes it, as torch's).
    ``differentiable`` (autograd through ``step()``) and ``capturable`` (CUDA-graph capture of the
    optimizer) are not supported: ``True`` raises (``bp.compile`` replays whole steps instead)."""
    if differentiable:
        raise NotImplementedError(
            f"{name}(differentiable=True): steps run under no_grad; autograd through them is not supported"
        )
    if capturable:
        raise NotImplementedError(
            f"{name}(capturable=True): CUDA-graph capture of the optimizer is not supported "
            "(bp.compile replays the whole step)"
        )
    out: dict[str, Any] = dict(maximize=bool(maximize), foreach=foreach, differentiable=False)
    if fused is not _NO_FUSED:
        out["fused"] = fused
    if capturable is not None:
        out["capturable"] = False
    return out


def check_nonnegative(name: str, **values: float) -> None:
    """Torch's hyper-parameter checks: each of ``values`` must be >= 0 (and a number); torch's messages
    ("Invalid learning rate: -1", "Invalid epsilon value: ...", "Invalid <key> value: ..."); ``name`` is kept for
    the callers (torch's message does not name the optimizer)."""
    if "lr" in values:
        check_lr(values["lr"])
    for key, value in values.items():
        if not value >= 0:  # also NaN
            what = {"lr": "learning rate", "eps": "epsilon value"}.get(key, f"{key} value")
            raise ValueError(f"Invalid {what}: {value}")


def check_lr(lr: Any, foreach: bool | None = None) -> None:
    """Torch's checks of a Tensor learning rate: one element, and not with ``foreach=True`` (Adam, AdamW)."""
    if isinstance(lr, Tensor):
        if foreach:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")


# ---- torch.optim.optimizer's helpers that optimizers written outside torch import (timm's, for one)
class _RequiredParameter:
    """The default of a hyper-parameter that has none (``lr=required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()
ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]  # (what ``params`` may be)


def _use_grad_for_differentiable(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``step`` with grad mode as ``self.defaults["differentiable"]`` says (off for ordinary optimizers)."""

    @functools.wraps(func)
    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        with set_grad_enabled(bool(self.defaults.get("differentiable", False))):
            return func(self, *args, **kwargs)

    return step


def _default_to_fused_or_foreach(
    params: list[Tensor], differentiable: bool, use_fused: bool = False
) -> tuple[bool, bool]:
    """(fused, foreach): neither here, where updates run per parameter on NumPy or CuPy."""
    return False, False


def _get_capturable_supported_devices(supports_xla: bool = True) -> list[str]:
    """The device types torch's ``capturable=True`` accepts."""
    return ["cuda", "xla"] if supports_xla else ["cuda"]


def _get_value(x: Any) -> Any:
    """A step count as a Python number (backprop keeps it one already; a tensor gives its item)."""
    return x.item() if isinstance(x, Tensor) else x


def _to_scalar(x: Any) -> Any:
    """A one-element tensor hyper-parameter as a 0-d tensor; anything else as it is."""
    return x.squeeze() if isinstance(x, Tensor) and x.dim() != 0 else x


def _get_scalar_dtype(is_fused: bool | None = None) -> Any:
    """The dtype of step counters: float64 when that is the default dtype, else float32."""
    from backprop import dtypes

    return dtypes.float64 if is_fused is not True and dtypes.get_default_dtype() == dtypes.float64 else dtypes.float32


def _stack_if_compiling(x: Any) -> Any:
    return x


def _disable_dynamo_if_unsupported(single_tensor_fn: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A decorator that changes nothing here (there is no dynamo to keep away)."""
    return lambda fn: fn


def _group_tensors_by_device_and_dtype(
    tensorlistlist: list[list[Any]], with_indices: bool = False
) -> dict[tuple[Any, Any], tuple[list[list[Any]], list[int]]]:
    """torch's grouping for foreach updates: the lists' entries by the (device, dtype) of the first list's
    tensor at the same index, in order of first appearance, with their indices."""
    groups: dict[tuple[Any, Any], tuple[list[list[Any]], list[int]]] = {}
    for i, t in enumerate(tensorlistlist[0]):
        key = (t.device, t.dtype)
        if key not in groups:
            groups[key] = ([[] for _ in tensorlistlist], [])
        lists, indices = groups[key]
        for k, tl in enumerate(tensorlistlist):
            lists[k].append(tl[i])
        indices.append(i)
    return groups


Optimizer._group_tensors_by_device_and_dtype = staticmethod(_group_tensors_by_device_and_dtype)  # type: ignore[attr-defined]
