"""What a block changes in the process itself that a replay must redo: the environment and the working folder.

`os.environ[...] = …` or `os.chdir(...)` in a block are changes like any other outer
mutation: recorded when the block completes, redone when it is replayed. Read through
`os.environ._data`, the raw mapping behind os.environ, because copying os.environ
itself decodes every variable (~100 µs, on every block) while this costs about 1 µs.
"""

from __future__ import annotations

import os
from typing import Any

ENVIRON, CWD = "@environ", "@cwd"  # keys in a block's recorded changes: never a Python name


def snapshot() -> tuple[dict[Any, Any], str | None]:
    return dict(os.environ._data), _folder()  # type: ignore[attr-defined]


def _folder() -> str | None:
    """The working folder; None if it was deleted (a block may remove the folder it runs in)."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        return None


def changes_since(before: tuple[dict[Any, Any], str | None]) -> dict[str, Any]:
    """{"@environ": {"set": {...}, "unset": [...]}, "@cwd": path}, with only what changed."""
    data, cwd = before
    now = os.environ._data  # type: ignore[attr-defined]
    found: dict[str, Any] = {}
    if now != data:
        decode_key, decode_value = os.environ.decodekey, os.environ.decodevalue
        found[ENVIRON] = {
            "set": {decode_key(key): decode_value(value) for key, value in now.items() if data.get(key) != value},
            "unset": [decode_key(key) for key in data if key not in now],
        }
    here = _folder()
    if here != cwd and here is not None:  # a folder deleted since: nothing a replay could go back to
        found[CWD] = here
    return found


def redo(recorded: dict[str, Any]) -> None:
    """Apply what a completed block changed in the process (its record's ENVIRON and CWD entries)."""
    environ = recorded.get(ENVIRON)
    if environ:
        os.environ.update(environ["set"])
        for name in environ["unset"]:
            os.environ.pop(name, None)
    folder = recorded.get(CWD)
    if folder and os.path.isdir(folder):
        os.chdir(folder)
