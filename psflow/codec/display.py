"""Codec text -> plain JSON data for people to read, without building the value it stands for.

Read-only commands (`psflow job --json`) show stored values this way: no user object is
made and nothing is imported, whatever the row says. Plain JSON values show as themselves.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from psflow.codec import stdlib_types
from psflow.codec.tags import TAG, ints, loads, plain, untagged, want


def to_display(text: str) -> object:
    """Tags become readable values (a datetime its ISO text) or {"__kind__": …} objects (a
    dataclass {"__dataclass__": "mod.Cls", field: …}); a tag it cannot read is shown as stored.
    Raises ValueError only for text that is not JSON."""
    try:
        if untagged(text):
            return plain(text)
        return loads(_DISPLAY, text)
    except RecursionError:
        raise ValueError("cannot display: nested too deeply") from None


def _hook(d: dict[str, Any]) -> object:
    tag = d.get(TAG)
    show = _SHOW.get(tag) if type(tag) is str and len(d) == 2 and "v" in d else None
    if show is None:
        return d
    try:
        return show(d["v"])
    except Exception:  # forged, or written by a newer psflow
        return d


def _datetime(kind: type[dt.datetime | dt.time], v: Any) -> str:
    """ISO 8601; a zone by name in brackets (RFC 9557), as finding its offset would read files."""
    if type(v) is str:
        return v
    iso, zone, _ = want(v, list)
    if type(zone) is str:
        return f"{want(iso, str)}[{zone}]"
    offset = dt.timezone(dt.timedelta(microseconds=want(zone, int)))
    return kind.fromisoformat(want(iso, str)).replace(tzinfo=offset).isoformat()


def _class(v: Any) -> str:
    return f"{want(v[0], str)}.{want(v[1], str)}"


def _dataclass(v: Any) -> dict[str, Any]:
    fields, *extras = want(v, list)[2:]
    return {"__dataclass__": _class(v), **want(fields, dict), **(want(extras[0], dict) if extras else {})}


def _dict(v: Any) -> dict[str, Any]:
    pairs = [want(pair, list) for pair in want(v, list)]
    return dict(pairs) if all(type(key) is str for key, _ in pairs) else {"__dict__": pairs}


def _str(v: Any) -> str:
    return "".join(piece if type(piece) is str else f"\\u{want(piece, int):04x}" for piece in want(v, list))


def _marker(name: str) -> Callable[[Any], dict[str, Any]]:
    return lambda v: {name: v}


_SHOW: dict[str, Callable[[Any], object]] = {
    "tuple": lambda v: want(v, list),
    "set": _marker("__set__"),
    "frozenset": _marker("__frozenset__"),
    "dict": _dict,
    "int": _marker("__int__"),
    "float": _marker("__float__"),
    "bytes": _marker("__bytes__"),
    "bytearray": _marker("__bytearray__"),
    "datetime": lambda v: _datetime(dt.datetime, v),
    "date": lambda v: want(v, str),
    "time": lambda v: _datetime(dt.time, v),
    "timedelta": lambda v: str(dt.timedelta(*ints(v, 3))),
    "decimal": lambda v: want(v, str),
    "uuid": lambda v: want(v, str),
    "complex": _marker("__complex__"),
    "range": _marker("__range__"),
    "path": lambda v: want(want(v, list)[1], str),
    "str": _str,
    "enum": lambda v: {"__enum__": f"{_class(v)}.{want(v[2], str)}"},
    "module": lambda v: {"__module__": want(v, str)},
    "namedtuple": lambda v: {"__namedtuple__": _class(v), "items": want(v[2], list)},
    "dataclass": _dataclass,
    "shared": lambda v: {"__shared__": want(v[0], int), "value": v[1]},
    "ref": lambda v: {"__ref__": want(v, int)},
}
_SHOW.update(stdlib_types.SHOW)
_DISPLAY = json.JSONDecoder(object_hook=_hook)
