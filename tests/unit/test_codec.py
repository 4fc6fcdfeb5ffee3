"""Round trips and refusals of psflow.codec on real values: what goes into the shared DB must come back exactly."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import os
import os.path
import pathlib
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
import zoneinfo
from typing import Any, NamedTuple

import pytest

from psflow.codec import UnsupportedValue, decode, encode


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Perm(enum.Flag):
    R = 1
    W = 2


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int
    y: Any = 0.0
    tags: list[str] = dataclasses.field(default_factory=list)
    label: str = dataclasses.field(default="", init=False)


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: tuple[int, ...]
    note: str = dataclasses.field(default="", init=False)


class Pair(NamedTuple):
    a: Any
    b: Any = None


Coord = collections.namedtuple("Coord", "x y")


class Thing:
    pass


class MyDict(dict):  # type: ignore[type-arg]
    pass


class Trap:
    """A class a forged tag may name: decoding must not call it."""

    calls: list[str] = []

    def __new__(cls, *args: object, **kwargs: object) -> Trap:
        Trap.calls.append("new")
        return super().__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        Trap.calls.append("init")


def same(a: object, b: object) -> bool:
    """Equal, with the same exact type at every level (== alone would accept 1 for True, a list for a tuple)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, (set, frozenset)):
        by_value = {x: x for x in b}
        return a == b and all(same(x, by_value[x]) for x in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (decimal.Decimal, pathlib.PurePath)):
        return str(a) == str(b)
    if isinstance(a, (dt.datetime, dt.time)):  # fold only changes the instant with a ZoneInfo
        fold_ok = a.fold == b.fold or not isinstance(a.tzinfo, zoneinfo.ZoneInfo)
        return a == b and a.isoformat() == b.isoformat() and repr(a.tzinfo) == repr(b.tzinfo) and fold_ok
    return a == b


def roundtrip(value: object) -> object:
    back = decode(encode(value))
    assert same(value, back), (value, back)
    return back


paris = zoneinfo.ZoneInfo("Europe/Paris")
ROUND_TRIPS = {
    "tuple": (1, "a", None),
    "empty tuple": (),
    "tuple in list and dict": [(1, 2), {"k": (3, (4,))}],
    "set": {1, "a", (2, 3)},
    "frozenset": frozenset({1, frozenset({2})}),
    "empty set": set(),
    "bytes": b"\x00\xffabc",
    "bytearray": bytearray(b"\x01\x02"),
    "datetime": dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
    "datetime utc": dt.datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=dt.UTC),
    "datetime offset": dt.datetime(2024, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    "datetime zoneinfo": dt.datetime(2024, 5, 6, 12, tzinfo=paris),
    "datetime zoneinfo fold": dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris),
    "date": dt.date(1999, 12, 31),
    "time": dt.time(23, 59, 59, 999999),
    "time offset": dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=3))),
    "sub-second offsets": [
        dt.datetime(2000, 1, 1, tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
        dt.time(tzinfo=dt.timezone(dt.timedelta(seconds=-1, microseconds=500))),
    ],
    "timedelta": dt.timedelta(days=-3, seconds=5, microseconds=7),
    "decimal": decimal.Decimal("1.10"),
    "decimal exponent": decimal.Decimal("-1E+30"),
    "decimal nan": decimal.Decimal("NaN"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "pure posix path": pathlib.PurePosixPath("/a/b.txt"),
    "pure windows path": pathlib.PureWindowsPath(r"C:\Users\x"),
    "path": pathlib.Path("rel/x.py"),
    "complex": 1.5 - 2j,
    "complex nan": complex(math.nan, math.inf),
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "-0.0": -0.0,
    "enum": Color.GREEN,
    "flag": Perm.R,
    "composite flag": Perm.R | Perm.W,
    "empty flag": Perm(0),
    "int enum": Level.LOW,
    "module": json,
    "dotted module": os.path,
    "dataclass": Point(1, (2, 3), ["t"]),
    "frozen dataclass": Frozen((1, 2)),
    "dataclasses nested": [Point(1, Point(2)), {"p": Frozen(())}],
    "namedtuple": Pair((1,), {2}),
    "collections namedtuple": Coord(1, [Coord(2, 3)]),
    "range": range(1, 10, 3),
    "big range": range(-(10**700), 10**700),
    "big int": 10**5000,
    "negative big int": -(2**2000),
    "dict with $t key": {"$t": "tuple", "v": [1]},
    "int keys": {1: "a", 2: "b"},
    "mixed keys": {"a": 1, 2: 2, (3, 4): 3, None: 4, True: 5, Color.RED: 6, frozenset({1}): 7},
    "deep mix": {"a": [1, {"b": ({2}, b"c")}], "d": [[dt.date(2020, 1, 1)]]},
}


@pytest.mark.parametrize("value", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip_keeps_value_and_exact_type(value: object) -> None:
    roundtrip(value)


def test_non_init_dataclass_fields_are_restored() -> None:
    p = Point(1)
    p.label = "set later"
    f = Frozen((1,))
    object.__setattr__(f, "note", "n")
    assert roundtrip(p).label == "set later"  # type: ignore[attr-defined]
    assert roundtrip(f).note == "n"  # type: ignore[attr-defined]


def test_path_restores_as_pathlib_path() -> None:
    assert type(decode(encode(pathlib.Path("x")))) is type(pathlib.Path("x"))
    assert json.loads(encode(pathlib.Path("x"))) == {"$t": "path", "v": ["Path", "x"]}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([1, "a"], '[1,"a"]'),
        ({"a": 1, "b": [None, True, 1.5]}, '{"a":1,"b":[null,true,1.5]}'),
        ("é✓", '"é✓"'),
        (None, "null"),
        (False, "false"),
        (-7, "-7"),
        (10**600, "1" + "0" * 600),
    ],
)
def test_json_native_values_are_stored_as_plain_readable_json(value: object, text: str) -> None:
    assert encode(value) == text
    roundtrip(value)


def test_dict_with_tag_key_is_escaped() -> None:
    assert encode({"$t": 1}) == '{"$t":"dict","v":[["$t",1]]}'
    assert decode(encode({"$t": "x", "v": 1})) == {"$t": "x", "v": 1}


def test_non_str_keys_keep_type_and_order() -> None:
    back = roundtrip({3: "c", 1: "a", (1, "x"): [2], 2.5: None})
    assert list(back) == [3, 1, (1, "x"), 2.5]  # type: ignore[call-overload]


def test_nonfinite_floats_use_a_tag_so_the_text_is_strict_json() -> None:
    text = encode([math.nan, math.inf, -math.inf])
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    back = decode(text)
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf]  # type: ignore[index]


def test_big_ints_survive_a_low_int_digit_limit() -> None:
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        for n in (10**700, -(10**700), 2**2000 - 1, 2**2000):
            assert roundtrip(n) == n
    finally:
        sys.set_int_max_str_digits(old)


def test_bool_stays_bool_and_int_stays_int() -> None:
    back = roundtrip([True, 1, 0, False, 1.0, {True: 1, 1.5: False}])
    assert [type(x) for x in back] == [bool, int, int, bool, float, dict]  # type: ignore[union-attr]


def test_sets_encode_the_same_whatever_their_insertion_order() -> None:
    a = {"b", "a", "c", (1,), 3}
    b = {3, (1,), "c", "a", "b"}
    assert encode(a) == encode(b) == encode(decode(encode(a)))


def test_set_text_does_not_depend_on_the_process_hash_seed() -> None:
    code = "from psflow.codec import encode; print(encode({'pear', 'apple', 'fig', b'x', ('t', 1)}))"
    root = pathlib.Path(__file__).resolve().parents[1]
    texts = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(texts) == 1


def test_shared_references_come_back_shared() -> None:
    shared = [1]
    back = roundtrip([shared, shared, {"x": shared}])
    assert back == [[1], [1], {"x": [1]}]
    assert back[0] is back[1] is back[2]["x"]  # type: ignore[index]


SURROGATES = {
    "undecodable file name": "caf\udce9",
    "lone high surrogate": "\ud800",
    "a pair as two code points": "\ud83d\ude00 and \udfff",
    "only surrogates": "\udc80\udcff",
}


@pytest.mark.parametrize("text", SURROGATES.values(), ids=SURROGATES.keys())
def test_a_str_with_lone_surrogates_round_trips_through_a_database(text: str) -> None:
    value = {"name": text, text: [text], "path": pathlib.Path(text), "set": {text}, "point": Point(1, text)}
    stored = encode(value)
    stored.encode("utf-8")  # what a database driver does first: it must not fail
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE t (saved TEXT)")
        db.execute("INSERT INTO t VALUES (?)", (stored,))
        [(read,)] = db.execute("SELECT saved FROM t")
    back = decode(read)
    assert same(value, back)
    assert back[text] == [text] and str(back["path"]) == text  # type: ignore[index]


def test_a_surrogate_str_is_stored_as_text_pieces_and_code_points() -> None:
    assert json.loads(encode("caf\udce9")) == {"$t": "str", "v": ["caf", 0xDCE9]}
    assert json.loads(encode({"caf\udce9": 1})) == {"$t": "dict", "v": [[{"$t": "str", "v": ["caf", 0xDCE9]}, 1]]}


# Text the codec wrote before shared references, surrogates and stored attributes ("MOD" stands for
# this module): old databases hold it, and it must still decode to the same values.
OLD_TEXT = (
    '{"tuple":{"$t":"tuple","v":[1,"a"]},"set":{"$t":"set","v":[1,2]},"frozenset":{"$t":"frozenset","v":[3]},'
    '"dict":{"$t":"dict","v":[[1,"a"],["$t",2]]},"int":{"$t":"int","v":"0x1' + "0" * 500 + '"},'
    '"float":[{"$t":"float","v":"inf"},{"$t":"float","v":"-inf"}],"bytes":{"$t":"bytes","v":"AP8="},'
    '"bytearray":{"$t":"bytearray","v":"YWI="},"datetime":[{"$t":"datetime","v":"2024-05-06T07:08:09.000010"},'
    '{"$t":"datetime","v":"2024-05-06T00:00:00+00:00"},{"$t":"datetime","v":["2024-05-06T00:00:00",1,0]},'
    '{"$t":"datetime","v":["2024-10-27T02:30:00","Europe/Paris",1]}],"date":{"$t":"date","v":"2020-02-29"},'
    '"time":[{"$t":"time","v":"01:02:03"},{"$t":"time","v":"01:00:00+02:00"}],"timedelta":{"$t":"timedelta","v":[-1,5,6]},'
    '"decimal":{"$t":"decimal","v":"1.10"},"uuid":{"$t":"uuid","v":"00000000-0000-0000-0000-000000000005"},'
    '"complex":{"$t":"complex","v":[1.5,-2.0]},"range":{"$t":"range","v":[1,10,3]},'
    '"path":[{"$t":"path","v":["Path","a/b"]},{"$t":"path","v":["PurePosixPath","/x"]},{"$t":"path","v":["PureWindowsPath","C:\\\\y"]}],'
    '"enum":[{"$t":"enum","v":["MOD","Color","RED"]},{"$t":"enum","v":["MOD","Perm","R|W"]},{"$t":"enum","v":["MOD","Perm",""]}],'
    '"module":[{"$t":"module","v":"json"},{"$t":"module","v":"posixpath"}],'
    '"namedtuple":{"$t":"namedtuple","v":["MOD","Pair",[1,{"$t":"tuple","v":[2]}]]},'
    '"dataclass":{"$t":"dataclass","v":["MOD","Point",{"x":1,"y":[2],"tags":[],"label":"l"}]}}'
)


def test_text_written_by_the_previous_codec_still_decodes() -> None:
    point = Point(1, [2])
    point.label = "l"
    expected = {
        "tuple": (1, "a"),
        "set": {1, 2},
        "frozenset": frozenset({3}),
        "dict": {1: "a", "$t": 2},
        "int": 1 << 2000,
        "float": [math.inf, -math.inf],
        "bytes": b"\x00\xff",
        "bytearray": bytearray(b"ab"),
        "datetime": [
            dt.datetime(2024, 5, 6, 7, 8, 9, 10),
            dt.datetime(2024, 5, 6, tzinfo=dt.UTC),
            dt.datetime(2024, 5, 6, tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
            dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris),
        ],
        "date": dt.date(2020, 2, 29),
        "time": [dt.time(1, 2, 3), dt.time(1, tzinfo=dt.timezone(dt.timedelta(hours=2)))],
        "timedelta": dt.timedelta(days=-1, seconds=5, microseconds=6),
        "decimal": decimal.Decimal("1.10"),
        "uuid": uuid.UUID(int=5),
        "complex": complex(1.5, -2),
        "range": range(1, 10, 3),
        "path": [pathlib.Path("a/b"), pathlib.PurePosixPath("/x"), pathlib.PureWindowsPath("C:/y")],
        "enum": [Color.RED, Perm.R | Perm.W, Perm(0)],
        "module": [json, os.path],
        "namedtuple": Pair(1, (2,)),
        "dataclass": point,
    }
    back = decode(OLD_TEXT.replace('"MOD"', json.dumps(__name__)))
    assert same(expected, back)
    assert back["dataclass"].label == "l"  # type: ignore[index]


def _cycles() -> dict[str, object]:
    lst: list[object] = [1]
    lst.append(lst)
    dct: dict[str, object] = {}
    dct["me"] = [dct]
    via_tuple: list[object] = []
    via_tuple.append((via_tuple,))
    node = Point(1)
    node.y = [node]
    return {"list": lst, "dict": dct, "via tuple": via_tuple, "dataclass": node}


@pytest.mark.parametrize("value", _cycles().values(), ids=_cycles().keys())
def test_cycles_are_refused_not_recursed(value: object) -> None:
    with pytest.raises(UnsupportedValue, match="cycle"):
        encode(value)


def test_too_deep_nesting_is_unsupported_not_a_crash() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(UnsupportedValue, match="nested too deeply"):
        encode(deep)


def _generator() -> Any:
    yield 1


def _function() -> None:
    pass


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (lambda: _function, "function"),
        (lambda: lambda: None, "function"),
        (lambda: open(__file__), "_io.TextIOWrapper"),
        (threading.Lock, "_thread.lock"),
        (_generator, "generator"),
        (Thing, f"{__name__}.Thing"),
        (lambda: MyDict(a=1), f"{__name__}.MyDict"),
        (lambda: collections.ChainMap({"a": 1}), "collections.ChainMap"),
        (lambda: Thing, "type"),
        (socket.socket, "socket.socket"),
    ],
    ids=[
        "function",
        "lambda",
        "open file",
        "lock",
        "generator",
        "object",
        "dict subclass",
        "ChainMap",
        "class",
        "socket",
    ],
)
def test_unsupported_values_name_their_type(make: Any, type_name: str) -> None:
    value = make()
    try:
        for wrapped in (value, [value], {"k": (1, value)}):
            with pytest.raises(UnsupportedValue) as info:
                encode(wrapped)
            assert info.value.type_name == type_name
            assert type_name in str(info.value)
            assert isinstance(info.value, TypeError)
    finally:
        if hasattr(value, "close"):
            value.close()


def test_unsupported_message_says_where() -> None:
    with pytest.raises(UnsupportedValue) as info:
        encode({"a": [0, 1, 2, _function]})
    assert str(info.value) == "dict key 'a' -> list index 3: cannot encode function"
    with pytest.raises(UnsupportedValue, match=r"dict key at position 1 -> tuple index 0: cannot encode generator"):
        encode({1: 1, (_generator(),): 2})
    with pytest.raises(UnsupportedValue, match=r"Point field 'y' -> set item: cannot encode"):
        encode(Point(1, {Thing()}))


def test_classes_that_decode_could_not_find_are_unsupported() -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    LocalEnum = enum.Enum("LocalEnum", "A")
    for value in (Local(1), LocalEnum.A, collections.namedtuple("LocalNT", "a")(1)):
        with pytest.raises(UnsupportedValue, match="not importable"):
            encode(value)


def test_other_tzinfo_is_unsupported() -> None:
    class Custom(dt.tzinfo):
        def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
            return dt.timedelta(0)

    with pytest.raises(UnsupportedValue, match="tzinfo") as info:
        encode(dt.datetime(2024, 1, 1, tzinfo=Custom()))
    assert info.value.type_name.endswith("Custom")


@pytest.mark.parametrize(
    "text",
    [
        '{"$t":"pickle","v":"gASVAAAA"}',
        '[{"$t":7,"v":1}]',
        '{"$t":"tuple"}',
        '{"$t":"tuple","v":1}',
        '{"$t":"int","v":"zz"}',
    ],
)
def test_unknown_or_malformed_tags_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"tag|tuple|int"):
        decode(text)


def test_unknown_tag_message_names_it() -> None:
    with pytest.raises(ValueError, match="unknown codec tag 'pickle'"):
        decode('{"$t":"pickle","v":"x"}')


@pytest.mark.parametrize(
    "payload",
    [
        {"$t": "enum", "v": [__name__, "Trap", "x"]},
        {"$t": "dataclass", "v": [__name__, "Trap", {}]},
        {"$t": "namedtuple", "v": [__name__, "Trap", []]},
        {"$t": "enum", "v": [__name__, "Point", "x"]},
        {"$t": "dataclass", "v": [__name__, "Pair", {"a": 1}]},
        {"$t": "namedtuple", "v": [__name__, "Color", [1]]},
        {"$t": "dataclass", "v": ["os", "system", {"command": "echo hi"}]},
        {"$t": "enum", "v": ["builtins", "eval", "1"]},
        {"$t": "dataclass", "v": [__name__, "Point", {"nope": 1}]},
    ],
    ids=[
        "enum->Trap",
        "dataclass->Trap",
        "namedtuple->Trap",
        "enum->dataclass",
        "dataclass->namedtuple",
        "namedtuple->enum",
        "os.system",
        "eval",
        "unknown field",
    ],
)
def test_forged_tags_are_refused_without_calling_anything(payload: dict[str, object]) -> None:
    Trap.calls.clear()
    with pytest.raises(ValueError):
        decode(json.dumps(payload))
    assert Trap.calls == []
