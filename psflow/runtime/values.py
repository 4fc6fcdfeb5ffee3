"""Saving what a block bound and changed, and giving it back on replay.

Values go through psflow.codec. What the codec cannot save is left out, and the
user is told which name, which type, and what that means on replay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, cast

from psflow import codec
from psflow.codec.lookup import type_name
from psflow.runtime import patches, process_state
from psflow.script.scope import MISSING, scope_values

# Keys in a block's record of changes (never Python names): its patches, and where the names it
# bound to outer objects find them.
PATCHES, REFERENCES = "@patches", "@references"

Warn = Callable[[str], None]  # tells the user something about the block being saved


def saved_values(text: str) -> Mapping[str, Any]:
    """A replayed block's saved values: decoded now (a plain dict, the fast path), or, when that
    fails, when the transformed code first reads them, after the block's own imports ran again
    (a value may refer to a module only they load; the codec never imports one)."""
    try:
        return cast(dict[str, Any], codec.decode(text))
    except ValueError:
        return SavedValues(text)


class SavedValues(Mapping[str, Any]):
    """A replayed block's saved values, decoded when the transformed code first reads them: after
    the block's own imports ran again, so a module a value refers to is loaded (the codec never
    imports one)."""

    __slots__ = ("_text", "_values")

    def __init__(self, text: str) -> None:
        self._text = text
        self._values: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._values is None:
            self._values = cast(dict[str, Any], codec.decode(self._text))
        return self._values

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._decoded()

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def encode_values(values: dict[str, Any], consequence: str, warn: Warn) -> str | None:
    """Codec text for `values`; what cannot be saved is dropped, and the user is told."""
    try:
        return codec.encode(values)  # the usual case: one encoding
    except codec.UnsupportedValue:
        kept = _kept(values, consequence, warn)
    return codec.encode(kept) if kept else None


def _saveable(values: dict[str, Any], consequence: str, warn: Warn) -> dict[str, Any]:
    """`values` without what cannot be saved (the user is told of each)."""
    try:
        codec.encode(values)
    except codec.UnsupportedValue:
        return _kept(values, consequence, warn)
    return values


def _kept(values: dict[str, Any], consequence: str, warn: Warn) -> dict[str, Any]:
    return {
        key: value for key, value in values.items() if encode_value(repr(key), value, consequence, warn) is not None
    }


def encode_value(label: str, value: Any, consequence: str, warn: Warn) -> str | None:
    try:
        return codec.encode(value)
    except codec.UnsupportedValue as error:
        warn(f"cannot save {label} ({error.type_name}): {label} {consequence}")
        return None


Watched = tuple[dict[str, Any], patches.Images]  # the outer objects a block may change, and their images


def watch(
    frame: FrameType, mutates: tuple[str, ...], given: tuple[str, ...], warn: Warn, told: set[tuple[str, type]]
) -> Watched | None:
    """The outer objects `mutates` and `given` hold as the block begins, imaged (psflow.runtime.patches).
    One the block assigns items or attributes of, or calls methods of, that psflow cannot read (an
    extension type without a dict or slots, such as a memoryview) is told of, once an attempt per
    name and type (`told`): its changes will be lost on replay."""
    roots = {name: value for name, value in scope_values(frame, mutates + given).items() if patches.changeable(value)}
    if not roots:  # the usual case of a name only given to a call: a str or a number
        return None
    images = patches.Images()
    for name, value in list(roots.items()):
        if name in mutates and not patches.readable(value) and (name, type(value)) not in told:
            told.add((name, type(value)))
            warn(
                f"cannot watch {name!r} ({type_name(type(value))}): psflow cannot read its state, so what the "
                "block changes in it is not redone on replay (a change outside Python, like a database write, "
                "needs nothing)"
            )
        try:
            images.take(value)
        except patches.TooLarge:
            warn(
                f"cannot watch {name!r} ({type_name(type(value))}): it reaches over {patches.LIMIT:,} objects; "
                "changes the block makes to it will be lost on replay"
            )
            del roots[name]
    return (roots, images) if roots else None


def encode_mutations(
    frame: FrameType, watched: Watched | None, process: dict[str, Any], bound: dict[str, Any], warn: Warn
) -> str | None:
    """What the body changed in the outer objects it may change, as patches, and in the process
    (psflow.runtime.process_state), to redo on replay; and where each name it `bound` to one of
    those objects finds it (a replay gives the name that object, not a copy)."""
    record = dict(process)
    if watched is not None:
        roots, images = watched
        now = scope_values(frame, tuple(roots))
        places = patches.references(images, now, bound)
        if places:
            record[REFERENCES] = places
        changes = {}
        for name, value in roots.items():
            if now.get(name, MISSING) is value:  # not rebound meanwhile (`del` in the body)
                try:
                    patch = images.patch(value)
                except RecursionError:
                    warn(f"cannot record the changes to {name!r}: it is nested too deeply; they will be lost on replay")
                    continue
                if patch:
                    changes[name] = patch
        kept = _saveable(changes, "changes will be lost on replay", warn)
        if kept:
            record[PATCHES] = kept
    return codec.encode(record) if record else None


def redo_mutations(frame: FrameType, mutated: str, warn: Warn) -> dict[str, Any]:
    """Redo on the outer objects there now what the block changed in them, in place, and what it
    changed in the process. Returns the objects the names it bound to outer objects refer to now.
    A record not shaped as psflow writes it (a row edited by hand) is a ValueError saying so."""
    recorded = codec.decode(mutated)
    try:
        return _redo(frame, cast(dict[str, Any], recorded), warn)
    except (LookupError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(
            f"cannot redo the block's recorded changes: they are not as psflow writes them ({type(error).__name__}: "
            f"{error}); was the row edited?"
        ) from None


def _redo(frame: FrameType, recorded: dict[str, Any], warn: Warn) -> dict[str, Any]:
    process_state.redo(recorded)
    changes, places = recorded.get(PATCHES, {}), recorded.get(REFERENCES, {})
    roots = {*changes, *(path[0] for path in places.values())}
    targets = scope_values(frame, [key for key in recorded if not key.startswith("@")] + sorted(roots))
    for key, patch in changes.items():
        if key in targets:
            patches.apply(targets[key], patch, repr(key), warn)
    for key, value in recorded.items():  # a record of psflow before patches: each object as the block left it
        if not key.startswith("@") and key in targets:
            _restore_in_place(targets[key], value)
    referred = {}
    for name, path in places.items():
        try:
            referred[name] = patches.resolve(targets, path)
        except LookupError:
            warn(f"{name!r} is given back as a copy: the object it named ({_place(path)}) is not there now")
    return referred


def _place(path: list[Any]) -> str:
    return f"{path[0]}" + "".join(f"[{step!r}]" for step in path[1:])


def _restore_in_place(target: Any, value: Any) -> None:
    """Make `target` equal to `value` without rebinding it (other names may share it)."""
    if isinstance(target, (list, bytearray)):
        target[:] = value
    elif isinstance(target, (dict, set)):
        target.clear()
        target.update(value)
    elif dataclasses.is_dataclass(target) and not isinstance(target, type):
        target.__dict__.update(value.__dict__)
