"""``bp.utils.weak`` (torch.utils.weak): weak references and dictionaries keyed by object identity, for
tensors, whose ``==`` is elementwise and which therefore cannot key a ``weakref.WeakKeyDictionary``."""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from backprop.tensor import Tensor

__all__ = ["TensorWeakRef", "WeakIdKeyDictionary", "WeakIdRef", "WeakTensorKeyDictionary"]

WeakRef = weakref.ref
ref = weakref.ref


class WeakIdRef(weakref.ref):
    """A weak reference hashed and compared by its referent's identity (``id``), not its ``==``/``hash``:
    two refs are equal when they point to the same live object (or are the same ref once it is dead)."""

    __slots__ = ("_id",)

    def __init__(self, key: Any, callback: Callable[[Any], Any] | None = None) -> None:
        self._id = id(key)
        super().__init__(key, callback)  # type: ignore[call-arg]

    def __hash__(self) -> int:
        return self._id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeakIdRef):
            return NotImplemented
        a, b = self(), other()
        return a is b if a is not None and b is not None else self is other


class WeakIdKeyDictionary(MutableMapping):
    """A mapping whose keys are held weakly and matched by identity (an entry goes when its key is
    collected), as torch's; ``WeakTensorKeyDictionary`` is the same class."""

    def __init__(self, dict: Mapping[Any, Any] | None = None, ref_type: type = WeakIdRef) -> None:  # noqa: A002
        self.data: builtins.dict[Any, Any] = {}
        self.ref_type = ref_type
        self_ref = weakref.ref(self)

        def remove(k: Any) -> None:
            owner = self_ref()
            if owner is not None:
                owner.data.pop(k, None)

        self._remove = remove
        if dict is not None:
            self.update(dict)

    def __getitem__(self, key: Any) -> Any:
        return self.data[self.ref_type(key)]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[self.ref_type(key, self._remove)] = value

    def __delitem__(self, key: Any) -> None:
        del self.data[self.ref_type(key)]

    def __contains__(self, key: object) -> bool:
        try:
            wr = self.ref_type(key)
        except TypeError:
            return False
        return wr in self.data

    def __len__(self) -> int:
        return sum(1 for wr in list(self.data) if wr() is not None)

    def __iter__(self) -> Iterator[Any]:
        for wr in list(self.data):  # (a snapshot: a key collected meanwhile only drops out)
            obj = wr()
            if obj is not None:
                yield obj

    def keyrefs(self) -> list[Any]:
        """The weak references to the keys (some may be dead)."""
        return list(self.data)

    def copy(self) -> WeakIdKeyDictionary:
        """A new dictionary with the same (weakly held) keys and values."""
        return WeakIdKeyDictionary(builtins.dict(self.items()), self.ref_type)

    __copy__ = copy

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x}>"


WeakTensorKeyDictionary = WeakIdKeyDictionary


class TensorWeakRef:
    """A weak reference to a tensor: calling it gives the tensor, or None once it is collected."""

    __slots__ = ("ref",)

    def __init__(self, tensor: Tensor) -> None:
        if not isinstance(tensor, Tensor):
            raise AssertionError(f"TensorWeakRef expects a Tensor, got {type(tensor).__name__}")
        self.ref = weakref.ref(tensor)

    def __call__(self) -> Tensor | None:
        return self.ref()
