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
from psflow.runtime import process_state
from psflow.script.scope import scope_values

_MUTABLE = (list, dict, set, bytearray)

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
        return codec.encode(values)
    except codec.UnsupportedValue:
        pass
    kept = {
        key: value for key, value in values.items() if encode_value(repr(key), value, consequence, warn) is not None
    }
    return codec.encode(kept) if kept else None


def encode_value(label: str, value: Any, consequence: str, warn: Warn) -> str | None:
    try:
        return codec.encode(value)
    except codec.UnsupportedValue as error:
        warn(f"cannot save {label} ({error.type_name}): {label} {consequence}")
        return None


def encode_mutations(frame: FrameType, names: tuple[str, ...], process: dict[str, Any], warn: Warn) -> str | None:
    """Outer lists, dicts, sets and dataclasses the body changed in place, and what it changed in the
    process (psflow.runtime.process_state), to redo on replay."""
    values = {
        key: value
        for key, value in scope_values(frame, names).items()
        if isinstance(value, _MUTABLE) or (dataclasses.is_dataclass(value) and not isinstance(value, type))
    }
    values.update(process)
    if not values:
        return None
    return encode_values(values, "changes will be lost on replay", warn)


def redo_mutations(frame: FrameType, mutated: str) -> None:
    """Make each outer object the block changed equal to what it was after the block, in place, and
    redo what it changed in the process."""
    recorded = cast(dict[str, Any], codec.decode(mutated))
    process_state.redo(recorded)
    targets = scope_values(frame, [key for key in recorded if not key.startswith("@")])
    for key, target in targets.items():
        _restore_in_place(target, recorded[key])


def _restore_in_place(target: Any, value: Any) -> None:
    """Make `target` equal to `value` without rebinding it (other names may share it)."""
    if isinstance(target, (list, bytearray)):
        target[:] = value
    elif isinstance(target, (dict, set)):
        target.clear()
        target.update(value)
    elif dataclasses.is_dataclass(target) and not isinstance(target, type):
        target.__dict__.update(value.__dict__)
