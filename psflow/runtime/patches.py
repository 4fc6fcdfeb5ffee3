"""What a block changed in the objects it did not bind, as a patch, and that patch redone on replay.

At block entry each outer object the block may change (what psflow.transform passes as `mutates`,
the roots of attribute and item assignments and of method calls, and as `given`, the roots of call
arguments and of what names are bound to or iterate over) is imaged: a shallow copy of
its state, and of the state of every container and object reachable from it. At block end the
objects are compared with their images, by identity, and what changed becomes a patch: items and
keys set, deleted, appended or dropped; attributes set or deleted; changes inside a child that is
still the same object. A replay applies the patch to the object there now, in place, so what this
attempt computed before the block is kept, and a change to any object is redone, not only to the
list, dict, set or dataclass a snapshot could restore.

Images and patches read and write state as the interpreter stores it (the built-in types' own
methods, instance dicts and slots), so no user `__setattr__`, property or overridden method runs.
"""

from __future__ import annotations

import array
import collections
import operator
import types
from collections.abc import Callable
from typing import Any

from psflow.codec.lookup import CLASS_DICT, instance_dict, slot_value, slots
from psflow.codec.tags import MISSING

Patch = dict[str, Any]  # JSON-shaped, values as the block left them: encoded by psflow.codec
Warn = Callable[[str], None]

# Nothing inside these can change in place (or psflow leaves it alone: code, modules).
_FIXED = (
    *(int, float, complex, str, bytes, bool, type(None), range, frozenset),
    *(types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, types.CodeType),
)
_FIXED_TYPES = frozenset(_FIXED)
# Objects imaged per block at most: an outer object reaching past it is not watched, and the user is told.
LIMIT = 1_000_000


class TooLarge(Exception):
    """An outer object reaches more than LIMIT objects: its changes are not recorded."""


class Images:
    """The state at block entry of every object reachable from some roots, by id (kept alive, so
    ids stay unique until the block ends)."""

    def __init__(self) -> None:
        # id -> (the object, its kind, its state, whether it holds objects imaged too)
        self.state: dict[int, tuple[object, str, Any, bool]] = {}

    def take(self, obj: object) -> None:
        """Image `obj` and what it reaches (iteratively: a deep structure is not a deep recursion)."""
        pending = [obj]
        while pending:
            current = pending.pop()
            if issubclass(type(current), _FIXED) or id(current) in self.state:
                continue
            kind, state, children = _read(current)
            if kind is None:
                continue
            if len(self.state) >= LIMIT:
                raise TooLarge
            if set(map(type, children)) <= _FIXED_TYPES:  # the usual list of numbers or strings: at C speed
                children = []
            self.state[id(current)] = (current, kind, state, bool(children))
            pending.extend(children)

    def holds(self, obj: object) -> bool:
        """Whether `obj` was imaged (so it existed before the block)."""
        entry = self.state.get(id(obj))
        return entry is not None and entry[0] is obj

    def patch(self, obj: object) -> Patch | None:
        """What changed in `obj` since its image, recursively; None if nothing did."""
        return self._patch(obj, set())

    def _patch(self, obj: object, seen: set[int]) -> Patch | None:
        if not self.holds(obj) or id(obj) in seen:
            return None
        seen.add(id(obj))
        _, kind, before, nested = self.state[id(obj)]
        _, now, _ = _read(obj)
        patch: Patch = _DIFFERS[kind](before, now)
        if nested:
            inner = [[where, sub] for where, child in _children_at(kind, now) if (sub := self._patch(child, seen))]
            if inner:
                patch["at"] = inner
        return {"kind": kind, **patch} if patch else None


def changeable(obj: object) -> bool:
    """Whether `obj` may change in place (not a number, a str, a function, …): else nothing to watch."""
    return not issubclass(type(obj), _FIXED)


def readable(obj: object) -> bool:
    """Whether psflow can image `obj` (or it cannot change): what a patch of it would be made of."""
    return not changeable(obj) or _kind(obj) is not None


def _kind(obj: object) -> str | None:
    """How `obj` is imaged and patched; None for what psflow cannot read. (The type is tested with
    issubclass: isinstance would read the object's `__class__`, through its class's `__getattribute__`.)"""
    cls = type(obj)
    for base, kind in _KINDS:
        if issubclass(cls, base):
            return kind
    return "attrs" if instance_dict(obj, cls) is not None or slots(cls) else None


_KINDS = (
    (list, "list"),
    (dict, "dict"),
    (set, "set"),
    (bytearray, "bytes"),
    (tuple, "tuple"),
    (collections.deque, "deque"),
    (array.array, "array"),
    (type, "class"),
)


def _read(obj: Any) -> tuple[str | None, Any, list[Any]]:
    """(kind, a shallow copy of its state, the objects it holds), read with the built-in types'
    own methods; kind None for what is not watched."""
    kind = _kind(obj)
    if kind in ("list", "deque"):
        items: list[Any] = list.copy(obj) if kind == "list" else list(collections.deque.__iter__(obj))
        return kind, items, items
    if kind in ("dict", "attrs"):
        entries: dict[Any, Any] = dict.copy(obj) if kind == "dict" else _attributes(obj)
        return kind, entries, list(entries.values())
    if kind == "tuple":
        fixed = tuple.__getitem__(obj, slice(None))
        return kind, fixed, list(fixed)
    if kind == "class":
        namespace = dict(CLASS_DICT(obj))
        return kind, namespace, [value for value in namespace.values() if type(value) in (list, dict, set)]
    whole = _WHOLE.get(kind or "")
    return (kind, whole(obj), []) if whole is not None else (None, None, [])


_WHOLE: dict[str, Callable[[Any], Any]] = {"set": set.copy, "bytes": bytes, "array": array.array.tolist}


def _attributes(obj: object) -> dict[str, Any]:
    """An object's attributes as stored: its instance dict and its slots that are set."""
    cls = type(obj)
    stored = instance_dict(obj, cls)
    members = slots(cls)
    found = dict.copy(stored) if stored is not None else {}
    for name, member in members.items():
        value = slot_value(obj, cls, member)
        if value is not MISSING:
            found[name] = value
    return found


def _children_at(kind: str, now: Any) -> list[tuple[Any, Any]]:
    if kind in _SEQUENCES:
        return list(enumerate(now))
    if kind in ("dict", "attrs", "class"):
        return list(now.items())
    return []


def _diff_items(before: list[Any], now: list[Any]) -> Patch:
    common = min(len(before), len(now))
    same = all(map(operator.is_, before[:common], now[:common]))
    if same and len(now) == len(before):
        return {}
    if same and len(now) > len(before):
        return {"extend": now[len(before) :]}
    if same:
        return {"drop": len(before) - len(now)}
    index: dict[int, int] = {}
    for position, item in enumerate(before):
        index.setdefault(id(item), position)
    # each item: the position it had (an int), or [the value] for one new to the list
    items = [index.get(id(item), [item]) for item in now]
    return {"length": len(before), "items": items}


def _diff_mapping(before: dict[Any, Any], now: dict[Any, Any]) -> Patch:
    patch: Patch = {}
    deleted = [key for key in before if key not in now]
    changed = [[key, value] for key, value in now.items() if key not in before or before[key] is not value]
    if deleted:
        patch["del"] = deleted
    if changed:
        patch["set"] = changed
    kept = [key for key in now if key in before]
    if kept != [key for key in before if key in now]:  # the order of keys changed: say it whole
        patch["order"] = list(now)
    return patch


def _diff_set(before: set[Any], now: set[Any]) -> Patch:
    patch: Patch = {}
    if now - before:
        patch["add"] = list(now - before)
    if before - now:
        patch["discard"] = list(before - now)
    return patch


def _diff_whole(before: Any, now: Any) -> Patch:
    """A bytearray's or an array's contents, given whole when they changed."""
    return {} if before == now else {"value": now}


_DIFFERS: dict[str, Callable[[Any, Any], Patch]] = {
    "list": _diff_items,
    "deque": _diff_items,
    "array": _diff_whole,
    "tuple": lambda before, now: {},  # its items are fixed; only changes inside them count
    "dict": _diff_mapping,
    "attrs": _diff_mapping,
    "class": _diff_mapping,
    "set": _diff_set,
    "bytes": _diff_whole,
}


def apply(target: object, patch: Patch, label: str, warn: Warn) -> None:
    """Redo `patch` on `target`, in place; what cannot be redone (the object is of another kind
    now, or a list of another length than the patch was made against) is told, not guessed."""
    kind = patch["kind"]
    if _kind(target) != kind:
        warn(f"cannot redo the changes to {label}: it was a {_NAMES[kind]} when the block ran, not now")
        return
    _APPLIERS[kind](target, patch, label, warn)
    for where, sub in patch.get("at", ()):
        child = _child(target, kind, where)
        if child is not MISSING:
            apply(child, sub, f"{label}[{where!r}]" if kind != "attrs" else f"{label}.{where}", warn)


_NAMES = {"list": "list", "tuple": "tuple", "dict": "dict", "attrs": "object", "class": "class", "set": "set"}
_NAMES |= {"bytes": "bytearray", "deque": "deque", "array": "array"}
_SEQUENCES: dict[str, Any] = {"list": list, "tuple": tuple, "deque": collections.deque}  # read by position


def _child(target: Any, kind: str, where: Any) -> Any:
    if kind in _SEQUENCES:
        cls = _SEQUENCES[kind]
        size = cls.__len__(target)
        return cls.__getitem__(target, where) if -size <= where < size else MISSING
    if kind == "dict":
        return dict.get(target, where, MISSING)
    if kind == "class":
        return CLASS_DICT(target).get(where, MISSING)
    return _attributes(target).get(where, MISSING)


def _apply_items(target: list[Any], patch: Patch, label: str, warn: Warn) -> None:
    if "extend" in patch:
        list.extend(target, patch["extend"])
    elif "drop" in patch:
        list.__delitem__(target, slice(max(list.__len__(target) - patch["drop"], 0), None))
    elif "items" in patch:
        if list.__len__(target) != patch["length"]:
            warn(
                f"cannot redo the changes to {label}: the block changed a list of {patch['length']} items, "
                f"it has {list.__len__(target)} now"
            )
            return
        before = list.copy(target)
        items = [before[item] if type(item) is int else item[0] for item in patch["items"]]
        list.__setitem__(target, slice(None), items)


def _apply_mapping(patch: Patch, write: Callable[[str, Any], None], drop: Callable[[str], None]) -> None:
    for key in patch.get("del", ()):
        drop(key)
    for key, value in patch.get("set", ()):
        write(key, value)


def _apply_dict(target: dict[Any, Any], patch: Patch, label: str, warn: Warn) -> None:
    _apply_mapping(
        patch, lambda key, value: dict.__setitem__(target, key, value), lambda key: dict.pop(target, key, None)
    )
    if "order" in patch:
        entries = dict.copy(target)
        order = [key for key in patch["order"] if key in entries]
        dict.clear(target)
        dict.update(target, {key: entries[key] for key in order})
        dict.update(target, entries)  # keys the patch did not know of stay, after


def _apply_attrs(target: object, patch: Patch, label: str, warn: Warn) -> None:
    cls = type(target)
    stored = instance_dict(target, cls)
    members = slots(cls)

    def write(name: str, value: Any) -> None:
        if name in members:
            members[name].__set__(target, value)
        elif stored is not None:
            stored[name] = value

    def drop(name: str) -> None:
        if name in members:
            if slot_value(target, cls, members[name]) is not MISSING:
                members[name].__delete__(target)
        elif stored is not None:
            stored.pop(name, None)

    _apply_mapping(patch, write, drop)


def _apply_class(target: type, patch: Patch, label: str, warn: Warn) -> None:
    _apply_mapping(patch, lambda name, value: type.__setattr__(target, name, value), lambda name: _unset(target, name))


def _unset(target: type, name: str) -> None:
    if name in CLASS_DICT(target):
        type.__delattr__(target, name)


def _apply_set(target: set[Any], patch: Patch, label: str, warn: Warn) -> None:
    set.difference_update(target, patch.get("discard", ()))
    set.update(target, patch.get("add", ()))


def _apply_bytes(target: bytearray, patch: Patch, label: str, warn: Warn) -> None:
    bytearray.__setitem__(target, slice(None), patch["value"])


def _apply_deque(target: collections.deque[Any], patch: Patch, label: str, warn: Warn) -> None:
    items = list(collections.deque.__iter__(target))
    _apply_items(items, patch, label, warn)
    collections.deque.clear(target)
    collections.deque.extend(target, items)


def _apply_array(target: array.array[Any], patch: Patch, label: str, warn: Warn) -> None:
    typecode = array.array.typecode.__get__(target)
    array.array.__setitem__(target, slice(None), array.array(typecode, patch["value"]))


_APPLIERS: dict[str, Callable[[Any, Patch, str, Warn], None]] = {
    "list": _apply_items,
    "deque": _apply_deque,
    "array": _apply_array,
    "tuple": lambda target, patch, label, warn: None,
    "dict": _apply_dict,
    "attrs": _apply_attrs,
    "class": _apply_class,
    "set": _apply_set,
    "bytes": _apply_bytes,
}


def references(images: Images, roots: dict[str, Any], bound: dict[str, Any]) -> dict[str, list[Any]]:
    """For each value in `bound` that is an object the block watched (imaged from `roots`, the
    outer objects), where it is as the block ends: [root name, key, index or attribute, ...]. A
    replay gives such a name the object at that place then, not a copy (`x = outer`, `for row in
    rows: ...`, `node = tree["left"]`). Values made in the block are not looked for."""
    wanted = {id(value): name for name, value in bound.items() if images.holds(value)}
    found: dict[str, list[Any]] = {}
    pending = collections.deque((value, [name]) for name, value in roots.items())
    seen: set[int] = set()
    while wanted and pending and len(found) < len(wanted) and len(seen) < LIMIT:
        current, path = pending.popleft()
        if id(current) in seen or not changeable(current):
            continue
        seen.add(id(current))
        name = wanted.get(id(current))
        if name is not None and name not in found:
            found[name] = path
        kind, state, _ = _read(current)
        if kind is not None:
            pending.extend((child, [*path, where]) for where, child in _children_at(kind, state))
    return found


def resolve(roots: dict[str, Any], path: list[Any]) -> Any:
    """The object at `path` (see references) among `roots`; LookupError if it is not there now."""
    current = roots.get(path[0], MISSING)
    for where in path[1:]:
        kind = _kind(current) if current is not MISSING else None
        if kind is None or kind in ("set", "bytes", "array"):
            raise LookupError(path)
        try:
            current = _child(current, kind, where)
        except TypeError:  # an index that is not an int, for a list there now
            raise LookupError(path) from None
    if current is MISSING:
        raise LookupError(path)
    return current
