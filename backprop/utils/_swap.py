"""``bp.utils.swap_tensors`` (torch.utils.swap_tensors): two Tensor objects exchange everything they hold."""

from __future__ import annotations

import weakref

from backprop.tensor import Tensor

_SWAPPED = ("_data", "device", "_grad", "grad_fn", "_requires_grad", "_vc", "_hooks")


def swap_tensors(t1: Tensor, t2: Tensor) -> None:
    """Swap the two tensors' contents in place: data, device, grad, grad_fn, requires_grad, version,
    hooks, class (Tensor/Parameter) and instance ``__dict__``; each object keeps its identity, so every
    reference to ``t1`` now sees what ``t2`` was. Refused, as in torch, when either has weak references."""
    if not isinstance(t1, Tensor) or not isinstance(t2, Tensor):
        raise TypeError(f"swap_tensors expects two Tensors, got {type(t1).__name__} and {type(t2).__name__}")
    for name, t in (("t1", t1), ("t2", t2)):
        if weakref.getweakrefs(t):
            raise RuntimeError(f"Cannot swap {name} because it has weakref associated with it")
    if t1 is t2:
        return
    bases = (t1._vbase, t2._vbase)
    for attr in _SWAPPED:
        a, b = getattr(t1, attr), getattr(t2, attr)
        object.__setattr__(t1, attr, b)
        object.__setattr__(t2, attr, a)
    # a tensor that is its own base (it has views) stays its own base; a view keeps pointing at its base
    t1._vbase = t1 if bases[1] is t2 else bases[1]
    t2._vbase = t2 if bases[0] is t1 else bases[0]
    c1, c2 = type(t1), type(t2)
    if c1 is not c2:
        t1.__class__, t2.__class__ = c2, c1
    d1, d2 = getattr(t1, "__dict__", None), getattr(t2, "__dict__", None)
    if d1 is not None and d2 is not None:
        s1, s2 = dict(d1), dict(d2)
        d1.clear()
        d1.update(s2)
        d2.clear()
        d2.update(s1)
