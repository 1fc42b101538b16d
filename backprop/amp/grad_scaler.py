"""``bp.amp.GradScaler``: loss scaling for float16 training, with torch.amp.GradScaler's semantics.

``scale(loss)`` multiplies by the scale (a float32 scalar on the loss's device), ``unscale_(opt)``
divides the gradients back and notes whether any is inf/NaN, ``step(opt)`` skips the step when one
was, and ``update()`` backs the scale off after a skipped step or grows it after ``growth_interval``
clean ones. The inf/NaN check and the scale update stay on the device: a step reads one value back
to the host (the skip decision), as torch's does.
"""

from __future__ import annotations

import warnings
from collections import abc, defaultdict
from enum import Enum
from typing import Any

import numpy as np

from backprop.autograd import trace
from backprop.autograd.grad_mode import no_grad
from backprop.backends import get_backend
from backprop.devices import Device
from backprop.tensor import Tensor

__all__ = ["GradScaler", "OptState"]

_FIX = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


def _scalar(value: Any, dtype: Any, device: Device) -> Tensor:
    """A 0-d tensor made without a factory (the scaler's state outlives any one traced step), allocated on
    ``device`` whichever device is current."""
    with device.backend.use_device(device.index):
        return Tensor._wrap(device.xp.asarray(value, dtype=dtype), device, None)


class _MultiDeviceReplicator:
    """torch's helper (GradScaler subclasses use it): one tensor, copied to each device the first time it is
    asked for there; ``_per_device_tensors`` holds the copies."""

    def __init__(self, master_tensor: Tensor) -> None:
        self.master = master_tensor
        self._per_device_tensors: dict[Device, Tensor] = {}

    def get(self, device: Device) -> Tensor:
        found = self._per_device_tensors.get(device)
        if found is None:
            src = self.master
            with device.backend.use_device(device.index):
                data = src._data.copy() if src.device is device else device.transfer(src._data, src.device)
            found = _scalar(data, src._data.dtype, device)
            self._per_device_tensors[device] = found
        return found


def _amp_foreach_non_finite_check_and_unscale_(
    scaled_grads: list[Tensor], found_inf: Tensor, inv_scale: Tensor
) -> None:
    """torch's kernel: every gradient times ``inv_scale`` and ``found_inf`` set to 1.0 when one of them held an
    inf or NaN, all on their device (no host read). The gradients are computed out of place and rebound (one
    may be a read-only broadcast view); their dtype is kept."""
    if not scaled_grads:
        return
    dev = found_inf.device
    xp = dev.xp
    with dev.backend.use_device(dev.index):  # (the kernels run on the gradients' device, whichever is current)
        finite = xp.stack([xp.isfinite(g._data).all() for g in scaled_grads]).all()
        xp.maximum(found_inf._data, xp.logical_not(finite).astype(found_inf._data.dtype), out=found_inf._data)
        inv = inv_scale._data
        for g in scaled_grads:
            g._data = (g._data * inv).astype(g._data.dtype, copy=False)


def _amp_update_scale_(
    scale: Tensor, growth_tracker: Tensor, found_inf: Tensor, scale_growth_factor: float,
    scale_backoff_factor: float, growth_interval: int,
) -> Tensor:  # fmt: skip
    """torch's kernel, in place: after an inf/NaN the scale backs off and the tracker restarts; otherwise the
    tracker counts, and at ``growth_interval`` clean steps the scale grows (if that stays finite). The float
    scale is multiplied by the factors as doubles, as torch's."""
    dev = scale.device
    xp = dev.xp
    with dev.backend.use_device(dev.index):
        s = scale._data.astype(np.float64)
        inf = found_inf._data > 0
        successful = growth_tracker._data + 1
        grow = xp.logical_and(xp.logical_not(inf), successful == growth_interval)
        grown = (s * scale_growth_factor).astype(np.float32)
        keep_or_grow = xp.where(xp.logical_and(grow, xp.isfinite(grown)), grown, scale._data)
        scale._data = xp.where(inf, (s * scale_backoff_factor).astype(np.float32), keep_or_grow).astype(np.float32)
        growth_tracker._data = xp.where(xp.logical_or(inf, grow), 0, successful).astype(np.int32)
    return scale


class GradScaler:
    """Dynamic loss scaling: ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``.

    ``enabled=False`` makes every method a pass-through (``step`` just calls ``opt.step()``); with
    ``device="cuda"`` and no usable GPU the scaler warns and disables itself, as torch's.
    """

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = device
        self._enabled = enabled
        if self._device == "cuda" and enabled and not get_backend("cuda").is_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: Tensor | None = None
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: Tensor | None = None
            self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(_refresh_per_optimizer_state)

    def _check_scale_growth_tracker(self, funcname: str) -> tuple[Tensor, Tensor]:
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + _FIX)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + _FIX)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, dev: Device) -> None:
        self._scale = _scalar(self._init_scale, np.float32, dev)
        self._growth_tracker = _scalar(self._init_growth_tracker, np.int32, dev)

    def _scale_on(self, dev: Device) -> Tensor:
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(dev)
        assert self._scale is not None
        scale = self._scale
        return scale if scale.device is dev else _scalar(dev.transfer(scale._data, scale.device), np.float32, dev)

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or a list/tuple/iterable of them, nested) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale_on(outputs.device)

        def apply_scale(val: Any) -> Any:
            if isinstance(val, Tensor):
                return val * self._scale_on(val.device)
            if isinstance(val, abc.Iterable):
                iterable = map(apply_scale, val)
                if isinstance(val, (list, tuple)):
                    return type(val)(iterable)
                return iterable
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _unscale_grads_(
        self, optimizer: Any, inv_scale: Tensor, found_inf: Tensor, allow_fp16: bool
    ) -> dict[Device, Tensor]:
        """torch's method (subclasses override it): every gradient times ``inv_scale``, grouped by device and
        dtype; returns, per device, ``found_inf``'s copy there, 1.0 when a gradient there had an inf or NaN."""
        per_device_inv_scale = _MultiDeviceReplicator(inv_scale)
        per_device_found_inf = _MultiDeviceReplicator(found_inf)
        grads: dict[Device, dict[Any, list[Tensor]]] = defaultdict(lambda: defaultdict(list))
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if not isinstance(param, Tensor):
                        raise AssertionError(f"expected param to be a Tensor, got {type(param).__name__}")
                    grad = param.grad
                    if grad is None:
                        continue
                    if not allow_fp16 and grad.dtype == np.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    grads[grad.device][grad.dtype].append(grad)
            for dev, per_dtype in grads.items():
                for gs in per_dtype.values():
                    _amp_foreach_non_finite_check_and_unscale_(
                        gs, per_device_found_inf.get(dev), per_device_inv_scale.get(dev)
                    )
        return per_device_found_inf._per_device_tensors

    @trace.replayed_whole
    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s gradients by the scale in place (once per step, before clipping)."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if optimizer_state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        assert self._scale is not None
        dev = self._scale.device
        with dev.backend.use_device(dev.index):
            inv = _scalar(dev.xp.reciprocal(self._scale._data.astype(np.float64)).astype(np.float32), np.float32, dev)
        found_inf = _scalar(0.0, np.float32, self._scale.device)
        optimizer_state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv, found_inf, False)
        optimizer_state["stage"] = OptState.UNSCALED

    @trace.replayed_whole
    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step(*args, **kwargs)`` unless a gradient had an inf/NaN (then None); unscales
        first when ``unscale_`` was not called."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if optimizer_state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(optimizer_state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(float(v._data.item()) for v in optimizer_state["found_inf_per_device"].values()):  # the host read
            retval = optimizer.step(*args, **kwargs)
        optimizer_state["stage"] = OptState.STEPPED
        return retval

    @trace.replayed_whole
    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Set the scale for the next step: ``new_scale``, or backoff after an inf/NaN and growth after
        ``growth_interval`` clean steps (torch's ``_amp_update_scale_``, on the device)."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        dev = scale.device
        xp = dev.xp
        with dev.backend.use_device(dev.index):  # (the scale's device, whichever is current)
            if new_scale is not None:
                if isinstance(new_scale, (int, float)):
                    scale._data = xp.asarray(new_scale, dtype=np.float32)
                else:
                    reason = (
                        "new_scale should be a float or a 1-element torch.cuda.FloatTensor or torch.FloatTensor with "
                        "requires_grad=False."
                    )
                    if new_scale.device.type != self._device:
                        raise AssertionError(reason)
                    if new_scale.numel() != 1:
                        raise AssertionError(reason)
                    if new_scale.requires_grad is True:
                        raise AssertionError(reason)
                    scale._data = dev.transfer(new_scale._data, new_scale.device).reshape(()).astype(np.float32)
            else:
                found_infs = [
                    v._data if d is dev else dev.transfer(v._data, d)
                    for state in self._per_optimizer_states.values()
                    for d, v in state["found_inf_per_device"].items()
                ]
                if len(found_infs) == 0:
                    raise AssertionError("No inf checks were recorded prior to update.")
                found = found_infs[0]
                for f in found_infs[1:]:
                    found = found + f
                _amp_update_scale_(
                    scale, tracker, _scalar(found, np.float32, dev), self._growth_factor, self._backoff_factor,
                    self._growth_interval,
                )  # fmt: skip
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def _get_scale_async(self) -> Tensor | None:
        return self._scale

    def get_scale(self) -> float:
        """The current scale as a Python float (1.0 when disabled); reads it back to the host."""
        if not self._enabled:
            return 1.0
        if self._scale is None:
            return self._init_scale
        trace.host_read("GradScaler.get_scale()")
        return float(self._scale._data.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        if self._growth_tracker is None:
            return self._init_growth_tracker
        return int(self._growth_tracker._data.item())

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """torch's keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker ({} when disabled)."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._get_growth_tracker(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale._data = self._scale.device.xp.asarray(state_dict["scale"], dtype=np.float32)
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker._data = self._growth_tracker.device.xp.asarray(
                state_dict["_growth_tracker"], dtype=np.int32
            )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError(
                    "A GradScaler instance may only be pickled at the beginning of an iteration, or at the end "
                    "after scaler.update()."
                )
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
