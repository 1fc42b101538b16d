"""torch.nn.utils.prune: zero parts of a parameter through a mask, with torch's mechanics.

Pruning ``module.<name>`` moves the parameter to ``<name>_orig``, stores the mask as the buffer
``<name>_mask`` and registers the pruning method as a forward pre-hook that recomputes the plain
tensor attribute ``module.<name> = <name>_orig * <name>_mask`` before every call (so gradients reach
``<name>_orig`` only where the mask is one). Pruning the same parameter again composes the masks
through a ``PruningContainer``, the new method acting only on what is still unpruned; ``remove``
makes the pruning permanent. ``state_dict`` keys are torch's (``weight_orig``, ``weight_mask``).

Masks are computed without autograd. ``L1Unstructured`` and ``LnStructured`` give torch's masks except
where scores tie at the cut: torch's ``topk`` leaves the order of ties open, ours takes the first index
first. The random methods draw from backprop's generator (same law, other numbers than torch's).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from backprop import creation
from backprop.autograd.grad_mode import no_grad
from backprop.nn.module import Module
from backprop.tensor import Tensor

__all__ = [
    "BasePruningMethod",
    "PruningContainer",
    "Identity",
    "RandomUnstructured",
    "L1Unstructured",
    "RandomStructured",
    "LnStructured",
    "CustomFromMask",
    "identity",
    "random_unstructured",
    "l1_unstructured",
    "random_structured",
    "ln_structured",
    "global_unstructured",
    "custom_from_mask",
    "remove",
    "is_pruned",
]

T_module = TypeVar("T_module", bound=Module)


def _pre_hooks(module: Module) -> Any:
    """The module's forward pre-hook table: {handle id: (hook, flags)} (empty when it has none)."""
    return module.__dict__.get("_hooks", {}).get("forward_pre", {})


class BasePruningMethod(ABC):
    """A pruning method: ``compute_mask`` says what to keep; it is also the forward pre-hook that
    recomputes ``module.<name>`` from ``<name>_orig`` and ``<name>_mask``."""

    _tensor_name: str
    PRUNING_TYPE: str = "unstructured"

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask (same shape as ``t``) that keeps what ``default_mask`` keeps, less what this method prunes."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_orig * <name>_mask`` (differentiable in ``<name>_orig``)."""
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(
        cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None, **kwargs: Any
    ) -> BasePruningMethod:
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)``, composed with any earlier pruning of it."""
        table = _pre_hooks(module)
        old = [(k, hook) for k, (hook, _) in table.items() if isinstance(hook, BasePruningMethod)]
        old = [(k, hook) for k, hook in old if hook._tensor_name == name]
        if len(old) > 1:
            raise RuntimeError(f"{cls.__name__}.apply: more than one pruning hook on the parameter {name!r}")
        for k, _ in old:
            del table[k]
        method: BasePruningMethod = cls(*args, **kwargs)
        method._tensor_name = name
        if old:
            previous = old[0][1]
            if isinstance(previous, PruningContainer):
                previous.add_pruning_method(method)
                method = previous
            else:
                container = PruningContainer(previous)
                container.add_pruning_method(method)
                method = container
        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise ValueError(
                    f"{cls.__name__}.apply: importance_scores should have the shape of parameter {name!r}, "
                    f"{tuple(orig.shape)}, got {tuple(importance_scores.shape)}"
                )
        else:
            importance_scores = orig
        first = not isinstance(method, PruningContainer)
        if first:
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = creation.ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with no_grad():
                mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if first:  # roll back: the parameter is restored under its own name
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None, importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask this method computes from ``importance_scores`` (default: ``t`` itself)."""
        if importance_scores is not None and tuple(importance_scores.shape) != tuple(t.shape):
            raise ValueError(
                f"{type(self).__name__}.prune: importance_scores should have the shape of t, {tuple(t.shape)}, "
                f"got {tuple(importance_scores.shape)}"
            )
        scores = t if importance_scores is None else importance_scores
        default_mask = default_mask if default_mask is not None else creation.ones_like(t)
        with no_grad():
            mask = self.compute_mask(scores, default_mask=default_mask)
        return t * mask

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes the parameter ``<name>_orig`` holding the pruned values."""
        name = self._tensor_name
        weight = self.apply_mask(module)
        if name in module.__dict__:
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.data
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """The pruning methods applied to one parameter in turn; each new one acts only on what is still kept."""

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod | None) -> None:
        """Append ``method`` (it must act on this container's parameter)."""
        if method is None:
            return
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if getattr(self, "_tensor_name", None) != method._tensor_name:
            raise ValueError(
                f"Can only add pruning methods acting on the parameter named '{getattr(self, '_tensor_name', None)}' "
                f"to PruningContainer {self}. Found '{method._tensor_name}'"
            )
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: int) -> BasePruningMethod:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask computed on the slice still kept by ``default_mask``, merged into it."""
        method = self._pruning_methods[-1]
        ndim = t.ndim
        kind = method.PRUNING_TYPE
        slc: Any
        if kind == "unstructured":
            slc = default_mask == 1
        elif kind == "structured":
            dim = method.dim  # type: ignore[attr-defined]
            if dim < 0:
                dim += ndim
            if dim < 0 or dim >= ndim:
                raise IndexError(f"Pruning dim {method.dim} is out of range for a tensor of {ndim} dims")  # type: ignore[attr-defined]
            others = [d for d in range(ndim) if d != dim]
            keep = default_mask.sum(dim=others) != 0 if others else default_mask != 0
            slc = tuple(keep if d == dim else slice(None) for d in range(ndim))
        elif kind == "global":
            slc = (slice(None),) * ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {kind}")
        partial = method.compute_mask(t[slc], default_mask=default_mask[slc])
        new_mask = default_mask.clone()
        new_mask[slc] = partial.to(dtype=new_mask.dtype)
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (the reparametrization without pruning)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` unchanged."""
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        """Reparametrize ``module.<name>`` with an all-ones mask."""
        return super().apply(module, name)


def _validate_amount_init(amount: Any) -> None:
    if not isinstance(amount, numbers.Real) or isinstance(amount, bool):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
        not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0
    ):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _nparams_toprune(amount: float, size: int) -> int:
    """``amount`` itself when an int (at most ``size``), else round(amount * size) (Python's rounding, as torch)."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={size}")
        return int(amount)
    return round(amount * size)


def _structured_checks(t: Tensor, dim: int, who: str) -> int:
    """The size of ``t`` along ``dim``, after torch's checks for structured pruning."""
    if t.ndim <= 1:
        raise ValueError(
            f"{who}: structured pruning can only be applied to multidimensional tensors. Found tensor of "
            f"shape {tuple(t.shape)} with {t.ndim} dims"
        )
    if dim >= t.ndim or dim < -t.ndim:
        raise IndexError(f"{who}: invalid index {dim} for tensor of size {tuple(t.shape)}")
    return int(t.shape[dim])


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` (a count, or a fraction) of the kept entries, drawn uniformly at random."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: float) -> None:
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """Zero the entries with the largest uniform draws (``amount`` of them)."""
        k = _nparams_toprune(self.amount, t.numel())
        mask = default_mask.clone()
        if k:
            prob = creation.rand_like(t, dtype=_float_dtype(t))
            mask.reshape(-1)[prob.reshape(-1).topk(k).indices] = 0
        return mask

    @classmethod
    def apply(cls, module: Module, name: str, amount: float) -> BasePruningMethod:  # type: ignore[override]
        """Prune ``module.<name>`` at random."""
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the ``amount`` (a count, or a fraction) entries of smallest absolute value."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: float) -> None:
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """Zero the ``amount`` entries of smallest |t|."""
        k = _nparams_toprune(self.amount, t.numel())
        mask = default_mask.clone()
        if k:
            mask.reshape(-1)[t.abs().reshape(-1).topk(k, largest=False).indices] = 0
        return mask

    @classmethod
    def apply(  # type: ignore[override]
        cls, module: Module, name: str, amount: float, importance_scores: Tensor | None = None
    ) -> BasePruningMethod:
        """Prune ``module.<name>`` by magnitude (of ``importance_scores`` when given)."""
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` whole channels along ``dim``, drawn uniformly at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: float, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """Keep the channels whose uniform draw is above the ``amount``-th smallest."""
        n = _structured_checks(t, self.dim, "RandomStructured")
        k = _nparams_toprune(self.amount, n)
        if k == 0:
            return default_mask
        prob = creation.rand(n, device=t.device)
        keep = prob > prob.kthvalue(k).values
        mask = creation.zeros_like(t)
        mask[tuple(keep if d == self.dim % t.ndim else slice(None) for d in range(t.ndim))] = 1
        return mask * default_mask.to(dtype=mask.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, amount: float, dim: int = -1) -> BasePruningMethod:  # type: ignore[override]
        """Prune random channels of ``module.<name>`` along ``dim``."""
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` channels along ``dim`` of smallest L``n`` norm (``n``: an int or float, inf, -inf,
    or 'fro')."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: float, n: Any, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """Keep the channels of largest norm (over every other dim)."""
        size = _structured_checks(t, self.dim, "LnStructured")
        k = _nparams_toprune(self.amount, size)
        if k == 0:
            return default_mask
        dim = self.dim % t.ndim
        norm = t.norm(p=self.n, dim=[d for d in range(t.ndim) if d != dim])
        kept = norm.topk(size - k).indices
        mask = creation.zeros_like(t)
        mask[tuple(kept if d == dim else slice(None) for d in range(t.ndim))] = 1
        return mask * default_mask.to(dtype=mask.dtype)

    @classmethod
    def apply(  # type: ignore[override]
        cls, module: Module, name: str, amount: float, n: Any, dim: int, importance_scores: Tensor | None = None
    ) -> BasePruningMethod:
        """Prune the channels of ``module.<name>`` of smallest norm (of ``importance_scores`` when given)."""
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where the given ``mask`` is zero."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask * mask``."""
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise ValueError(
                f"CustomFromMask: the mask has shape {tuple(self.mask.shape)}, the parameter "
                f"{tuple(default_mask.shape)}; they must be equal"
            )
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor) -> BasePruningMethod:  # type: ignore[override]
        """Prune ``module.<name>`` where ``mask`` is zero."""
        return super().apply(module, name, mask=mask)


def _float_dtype(t: Tensor) -> Any:
    from backprop import dtypes

    return t.dtype if dtypes.kind(t.dtype) == "f" else dtypes.get_default_dtype()


def identity(module: T_module, name: str) -> T_module:
    """Reparametrize ``module.<name>`` as ``<name>_orig * <name>_mask`` with a mask of ones."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: T_module, name: str, amount: float) -> T_module:
    """Prune ``amount`` (count or fraction) random entries of ``module.<name>``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: T_module, name: str, amount: float, importance_scores: Tensor | None = None) -> T_module:
    """Prune the ``amount`` (count or fraction) entries of ``module.<name>`` of smallest magnitude."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: T_module, name: str, amount: float, dim: int) -> T_module:
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(
    module: T_module, name: str, amount: float, n: Any, dim: int, importance_scores: Tensor | None = None
) -> T_module:
    """Prune the ``amount`` channels of ``module.<name>`` along ``dim`` of smallest L``n`` norm."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: T_module, name: str, mask: Tensor) -> T_module:
    """Prune ``module.<name>`` where ``mask`` is zero."""
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(
    parameters: Iterable[tuple[Module, str]],
    pruning_method: type[BasePruningMethod],
    importance_scores: dict[tuple[Module, str], Tensor] | None = None,
    **kwargs: Any,
) -> None:
    """Prune the (module, name) parameters together, as one vector: e.g. the globally smallest
    ``amount`` entries with ``L1Unstructured``; each gets its slice of the mask via ``custom_from_mask``."""
    from backprop.functions import cat

    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    with no_grad():
        scores = cat([importance_scores.get((m, n), getattr(m, n)).reshape(-1) for m, n in parameters])
        default_mask = cat(
            [getattr(m, n + "_mask", creation.ones_like(getattr(m, n))).reshape(-1) for m, n in parameters]
        )
        method = pruning_method(**kwargs)
        method._tensor_name = "temp"
        if method.PRUNING_TYPE != "unstructured":
            raise TypeError(
                'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                f"{pruning_method} of type {method.PRUNING_TYPE}"
            )
        container = PruningContainer()
        container._tensor_name = "temp"
        container.add_pruning_method(method)
        final_mask = container.compute_mask(scores, default_mask)
    start = 0
    for m, n in parameters:
        param = getattr(m, n)
        size = param.numel()
        custom_from_mask(m, n, mask=final_mask[start : start + size].reshape(param.shape))
        start += size


def remove(module: T_module, name: str) -> T_module:
    """Make the pruning of ``module.<name>`` permanent: drop ``<name>_orig``, ``<name>_mask`` and the hook."""
    table = _pre_hooks(module)
    for k, (hook, _) in list(table.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del table[k]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or any of its submodules carries a pruning hook."""
    for sub in module.modules():
        for hook, _ in _pre_hooks(sub).values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False
