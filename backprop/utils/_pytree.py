"""``bp.utils._pytree`` (torch.utils._pytree): flatten nested containers into leaves and a ``TreeSpec``.

Nodes are tuples, lists, dicts, ``OrderedDict``, ``defaultdict``, ``deque``, namedtuples and any class
given to ``register_pytree_node``; everything else (``None`` included, as torch's Python pytree) is a
leaf. Specs compare, hash and print as torch's (``TreeSpec(dict, ['a'], [*])``).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict, deque, namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LeafSpec",
    "PyTree",
    "TreeSpec",
    "is_namedtuple",
    "register_pytree_node",
    "tree_all",
    "tree_all_only",
    "tree_any",
    "tree_any_only",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_map_only",
    "tree_structure",
    "tree_unflatten",
]

PyTree = Any
Context = Any
FlattenFunc = Callable[[Any], tuple[list[Any], Context]]
UnflattenFunc = Callable[[Iterable[Any], Context], Any]


@dataclass(frozen=True)
class NodeDef:
    """How one registered container type splits into children and a context, and is rebuilt."""

    type: type
    flatten_fn: FlattenFunc
    unflatten_fn: UnflattenFunc


SUPPORTED_NODES: dict[type, NodeDef] = {}


def register_pytree_node(
    cls: type,
    flatten_fn: FlattenFunc,
    unflatten_fn: UnflattenFunc,
    *,
    serialized_type_name: str | None = None,
    **unused: Any,
) -> None:
    """Make ``cls`` a pytree node: ``flatten_fn(x) -> (children, context)``, ``unflatten_fn(children, context)``."""
    if not isinstance(cls, type):
        raise TypeError(f"register_pytree_node: expected a class, got {cls!r}")
    if cls in SUPPORTED_NODES:
        raise ValueError(f"{cls} is already registered as pytree node.")
    SUPPORTED_NODES[cls] = NodeDef(cls, flatten_fn, unflatten_fn)


def _dict_flatten(d: dict) -> tuple[list[Any], Context]:
    return list(d.values()), list(d.keys())


def _dict_unflatten(values: Iterable[Any], context: Context) -> dict:
    return dict(zip(context, values))


def _ordered_dict_unflatten(values: Iterable[Any], context: Context) -> OrderedDict:
    return OrderedDict(zip(context, values))


def _defaultdict_flatten(d: defaultdict) -> tuple[list[Any], Context]:
    return list(d.values()), [d.default_factory, list(d.keys())]


def _defaultdict_unflatten(values: Iterable[Any], context: Context) -> defaultdict:
    factory, keys = context
    return defaultdict(factory, zip(keys, values))


def _deque_unflatten(values: Iterable[Any], context: Context) -> deque:
    return deque(values, maxlen=context)


def _namedtuple_flatten(t: tuple) -> tuple[list[Any], Context]:
    return list(t), type(t)


def _namedtuple_unflatten(values: Iterable[Any], context: Context) -> tuple:
    return context(*values)


register_pytree_node(tuple, lambda t: (list(t), None), lambda v, c: tuple(v))
register_pytree_node(list, lambda t: (list(t), None), lambda v, c: list(v))
register_pytree_node(dict, _dict_flatten, _dict_unflatten)
register_pytree_node(OrderedDict, _dict_flatten, _ordered_dict_unflatten)
register_pytree_node(defaultdict, _defaultdict_flatten, _defaultdict_unflatten)
register_pytree_node(deque, lambda d: (list(d), d.maxlen), _deque_unflatten)
# every namedtuple class shares this entry (``namedtuple`` is a function, hence not through the public call)
SUPPORTED_NODES[namedtuple] = NodeDef(namedtuple, _namedtuple_flatten, _namedtuple_unflatten)  # type: ignore[index, arg-type]


def is_namedtuple(obj: object) -> bool:
    """True for a namedtuple instance or class (a tuple subclass with ``_fields``)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


def _node_type(tree: Any) -> Any:
    """The registry key of ``tree``'s node type: namedtuples share the key ``namedtuple``, as torch's."""
    return namedtuple if is_namedtuple(tree) else type(tree)


def _is_leaf(tree: Any, is_leaf: Callable[[Any], bool] | None) -> bool:
    return (is_leaf is not None and is_leaf(tree)) or _node_type(tree) not in SUPPORTED_NODES


class TreeSpec:
    """The structure of a pytree without its leaves: node type, context (keys, class) and children specs."""

    def __init__(self, type: Any, context: Context, children_specs: list[TreeSpec]) -> None:
        self.type, self._context, self._children = type, context, list(children_specs)
        self.num_children = len(self._children)
        self.num_leaves: int = 1 if type is None else sum(c.num_leaves for c in self._children)
        self.num_nodes: int = 1 + sum(c.num_nodes for c in self._children)

    @property
    def context(self) -> Context:
        """The node's context: dict keys, a namedtuple's class, a deque's maxlen, or None."""
        return self._context

    @property
    def children_specs(self) -> list[TreeSpec]:
        """The specs of the node's children, in order."""
        return self._children

    def children(self) -> list[TreeSpec]:
        """A copy of the children's specs."""
        return list(self._children)

    def child(self, index: int) -> TreeSpec:
        """The spec of child ``index``."""
        return self._children[index]

    def is_leaf(self) -> bool:
        """True for the spec of a single leaf (``*``)."""
        return self.type is None

    def __repr__(self, indent: int = 0) -> str:
        if self.is_leaf():
            return "*"
        name = getattr(self.type, "__name__", str(self.type))
        parts = ""
        if self._children:
            indent += 2
            parts = self._children[0].__repr__(indent)
            parts += "," if len(self._children) > 1 else ""
            parts += ",".join("\n" + " " * indent + c.__repr__(indent) for c in self._children[1:])
        return f"TreeSpec({name}, {self._context}, [{parts}])"

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, TreeSpec):
            return NotImplemented
        return self.type == other.type and self._context == other._context and self._children == other._children

    def __hash__(self) -> int:
        context = self._context
        try:
            hash(context)
        except TypeError:
            context = repr(context)
        return hash((self.type, context, tuple(self._children)))

    def flatten_up_to(self, tree: PyTree) -> list[PyTree]:
        """The subtrees of ``tree`` sitting where this spec has leaves (``tree`` must have this spec's prefix)."""
        out: list[PyTree] = []

        def walk(spec: TreeSpec, node: Any) -> None:
            if spec.is_leaf():
                out.append(node)
                return
            if _node_type(node) is not spec.type:
                raise ValueError(
                    f"flatten_up_to: expected a {getattr(spec.type, '__name__', spec.type)}, got {type(node).__name__}"
                )
            children, context = SUPPORTED_NODES[spec.type].flatten_fn(node)
            if len(children) != spec.num_children:
                raise ValueError(f"Node arity mismatch; expected {spec.num_children}, but got {len(children)}.")
            if spec.type is dict and context != spec._context and set(node) == set(spec._context):
                children, context = [node[k] for k in spec._context], spec._context  # same keys, other order
            if context != spec._context:
                raise ValueError(f"Node context mismatch; expected {spec._context!r}, but got {context!r}.")
            for c, s in zip(children, spec._children):
                walk(s, c)

        walk(self, tree)
        return out

    def unflatten(self, leaves: Iterable[Any]) -> PyTree:
        """The pytree of this structure holding ``leaves`` in order."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(
                f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} but the spec refers to a "
                f"pytree that holds {self.num_leaves} items ({self!r})."
            )
        it = iter(leaves)

        def build(spec: TreeSpec) -> Any:
            if spec.is_leaf():
                return next(it)
            return SUPPORTED_NODES[spec.type].unflatten_fn([build(c) for c in spec._children], spec._context)

        return build(self)


class LeafSpec(TreeSpec):
    """The spec of a single leaf; equal to any other leaf spec and printed as ``*``."""

    def __init__(self) -> None:
        super().__init__(None, None, [])


_LEAF = LeafSpec()


def tree_flatten(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeSpec]:
    """The leaves of ``tree`` in order (dicts in insertion order) and its ``TreeSpec``."""
    leaves: list[Any] = []

    def walk(node: Any) -> TreeSpec:
        if _is_leaf(node, is_leaf):
            leaves.append(node)
            return _LEAF
        kind = _node_type(node)
        children, context = SUPPORTED_NODES[kind].flatten_fn(node)
        return TreeSpec(kind, context, [walk(c) for c in children])

    return leaves, walk(tree)


def tree_unflatten(leaves: Iterable[Any], treespec: TreeSpec) -> PyTree:
    """Rebuild the pytree of ``treespec`` from ``leaves`` (the inverse of ``tree_flatten``)."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(
            f"tree_unflatten(leaves, treespec): Expected `treespec` to be instance of TreeSpec but got "
            f"item of type {type(treespec)}."
        )
    return treespec.unflatten(leaves)


def tree_leaves(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree`` in flattening order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> TreeSpec:
    """The ``TreeSpec`` of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def tree_map(
    func: Callable[..., Any], tree: PyTree, *rests: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> PyTree:
    """A pytree of ``tree``'s structure holding ``func(leaf, *matching leaves of rests)``."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(r) for r in rests]
    return spec.unflatten(map(func, leaves, *others))


def _type_pred(types_or_pred: Any) -> Callable[[Any], bool]:
    """A predicate from a type, a tuple of types, a ``X | Y`` union, or a predicate."""
    if isinstance(types_or_pred, type) or (
        isinstance(types_or_pred, tuple) and all(isinstance(t, type) for t in types_or_pred)
    ):
        return lambda x: isinstance(x, types_or_pred)
    if hasattr(types_or_pred, "__args__") and not callable(types_or_pred):  # types.UnionType
        return lambda x: isinstance(x, types_or_pred)
    if callable(types_or_pred):
        return types_or_pred
    raise TypeError(f"tree_map_only: expected a type, a tuple of types or a predicate, got {types_or_pred!r}")


def tree_map_only(
    type_or_types_or_pred: Any,
    /,
    func: Callable[[Any], Any],
    tree: PyTree,
    is_leaf: Callable[[Any], bool] | None = None,
) -> PyTree:
    """``tree_map`` applying ``func`` only to the leaves of the given type(s); others pass through."""
    pred = _type_pred(type_or_types_or_pred)
    return tree_map(lambda x: func(x) if pred(x) else x, tree, is_leaf=is_leaf)


def tree_all(pred: Callable[[Any], bool], tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True when ``pred`` holds for every leaf."""
    return all(map(pred, tree_leaves(tree, is_leaf)))


def tree_any(pred: Callable[[Any], bool], tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True when ``pred`` holds for some leaf."""
    return any(map(pred, tree_leaves(tree, is_leaf)))


def tree_all_only(
    type_or_types: Any, pred: Callable[[Any], bool], tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> bool:
    """True when ``pred`` holds for every leaf of the given type(s)."""
    only = _type_pred(type_or_types)
    return all(pred(x) for x in tree_leaves(tree, is_leaf) if only(x))


def tree_any_only(
    type_or_types: Any, pred: Callable[[Any], bool], tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> bool:
    """True when ``pred`` holds for some leaf of the given type(s)."""
    only = _type_pred(type_or_types)
    return any(pred(x) for x in tree_leaves(tree, is_leaf) if only(x))
