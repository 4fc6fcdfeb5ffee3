"""psflow.codec.to_display: stored values as plain JSON for people (`psflow job --json`), built
without decoding: plain JSON values show as themselves, tags as readable values or markers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import os.path
import pathlib
import uuid
import zoneinfo
from typing import Any, NamedTuple

import pytest

from psflow.codec import encode, to_display


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: Any = None


class Pair(NamedTuple):
    a: Any
    b: Any


@pytest.mark.parametrize("value", ["text", 3, -1.5, True, None, [1, "a"], {"k": [None, {"n": 2}]}, []])
def test_plain_json_shows_as_itself(value: object) -> None:
    assert to_display(encode(value)) == value


def _shared() -> list[object]:
    row = [1]
    return [row, row]


point = Point(1, (2, 3))
point.note = "extra"  # type: ignore[attr-defined]
SHOWN = {
    "tuple": ((1, "a"), [1, "a"]),
    "set": ({2, 1}, {"__set__": [1, 2]}),
    "frozenset": (frozenset({"a"}), {"__frozenset__": ["a"]}),
    "dict with other keys": ({1: "a", "b": 2}, {"__dict__": [[1, "a"], ["b", 2]]}),
    "dict with a $t key": ({"$t": 1}, {"$t": 1}),
    "big int": (1 << 2000, {"__int__": hex(1 << 2000)}),
    "nan": (math.nan, {"__float__": "nan"}),
    "bytes": (b"\x00\xff", {"__bytes__": "AP8="}),
    "bytearray": (bytearray(b"ab"), {"__bytearray__": "YWI="}),
    "datetime": (dt.datetime(2024, 5, 6, 7, 8), "2024-05-06T07:08:00"),
    "datetime utc": (dt.datetime(2024, 5, 6, tzinfo=dt.UTC), "2024-05-06T00:00:00+00:00"),
    "datetime sub-second offset": (
        dt.datetime(2024, 5, 6, tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
        "2024-05-06T00:00:00+00:00:00.000001",
    ),
    "datetime zone": (
        dt.datetime(2024, 5, 6, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        "2024-05-06T12:00:00[Europe/Paris]",
    ),
    "date": (dt.date(2020, 2, 29), "2020-02-29"),
    "time": (dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=3))), "01:02:00+03:00"),
    "timedelta": (dt.timedelta(days=1, seconds=5), "1 day, 0:00:05"),
    "decimal": (decimal.Decimal("1.10"), "1.10"),
    "uuid": (uuid.UUID(int=5), "00000000-0000-0000-0000-000000000005"),
    "complex": (1.5 - 2j, {"__complex__": [1.5, -2.0]}),
    "range": (range(1, 10, 3), {"__range__": [1, 10, 3]}),
    "path": (pathlib.PurePosixPath("/a/b"), "/a/b"),
    "surrogates": ("caf\udce9", "caf\\udce9"),
    "enum": (Color.RED, {"__enum__": f"{__name__}.Color.RED"}),
    "module": (os.path, {"__module__": os.path.__name__}),
    "namedtuple": (Pair(1, "b"), {"__namedtuple__": f"{__name__}.Pair", "items": [1, "b"]}),
    "dataclass": (point, {"__dataclass__": f"{__name__}.Point", "x": 1, "y": [2, 3], "note": "extra"}),
    "shared": (_shared(), [{"__shared__": 0, "value": [1]}, {"__ref__": 0}]),
}


@pytest.mark.parametrize(("value", "shown"), SHOWN.values(), ids=SHOWN.keys())
def test_tags_show_readably(value: object, shown: object) -> None:
    display = to_display(encode(value))
    assert display == shown
    json.dumps(display, allow_nan=False)


@pytest.mark.parametrize(
    "text",
    [
        '{"$t":"pickle","v":"gASV"}',
        '{"$t":"tuple","v":1}',
        '{"$t":"tuple"}',
        '{"$t":"dataclass","v":[1]}',
        '{"$t":"enum","v":"x"}',
        '{"$t":"str","v":[{"a":1}]}',
        '{"$t":7,"v":1}',
    ],
)
def test_what_it_cannot_read_shows_as_stored(text: str) -> None:
    assert to_display(text) == json.loads(text)


def test_text_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        to_display("{not json")
    with pytest.raises(ValueError, match="nested too deeply"):
        to_display('{"$t":"tuple","v":' + "[" * 100_000 + "]" * 100_000 + "}")
