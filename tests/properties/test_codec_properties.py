"""Property tests for psflow.codec: any mix of supported values comes back equal, with the same types
and the same sharing; and no JSON at all, however forged, makes decoding import or raise anything but
ValueError."""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import os.path
import pathlib
import sys
import zoneinfo
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psflow.codec import UnsupportedValue, decode, encode, to_display


class Color(enum.Enum):
    RED = 1
    BLUE = "b"


class Perm(enum.Flag):
    R = 1
    W = 2
    X = 4


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Box:
    item: Any
    extra: list[Any] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", init=False)


@dataclasses.dataclass(frozen=True)
class Key:
    a: Any
    b: Any = None


class Pair(NamedTuple):
    a: Any
    b: Any


def same(a: object, b: object) -> bool:
    """Equal with the same exact type at every level; nan equals nan, -0.0 differs from 0.0."""
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


def _box(item: Any, extra: list[Any], note: str) -> Box:
    box = Box(item, extra)
    box.note = note  # a non-init field must be restored too
    return box


offsets = st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59))
fixed_tz = offsets.map(dt.timezone)
enums = st.sampled_from([*Color, *Perm, Perm(0), Perm.R | Perm.W, Perm.R | Perm.W | Perm.X, *Level])
# Any str, lone surrogates included (os.listdir's stand-in for bytes that are not UTF-8).
texts = st.text(
    st.characters(codec=None, categories=["Cs"]) | st.characters(codec=None, categories=["L", "N", "P", "Zs"]),
    max_size=8,
)
big_ints = st.integers(min_value=2**1990, max_value=2**2010) | st.integers(min_value=-(2**2010), max_value=-(2**1990))
# Hashable and never nan, so usable as set items and dict keys with == intact.
hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    texts,
    st.binary(max_size=8),
    st.dates(),
    st.datetimes(timezones=st.none() | fixed_tz),
    st.timedeltas(),
    st.decimals(allow_nan=False, places=3),
    st.uuids(),
    enums,
)
hashables = st.recursive(
    hashable_leaves,
    lambda children: st.one_of(
        st.tuples(children, children),
        st.frozensets(children, max_size=3),
        st.builds(Pair, children, children),
        st.builds(Key, children, children),
    ),
    max_leaves=6,
)
leaves = st.one_of(
    hashable_leaves,
    big_ints,
    st.floats(),
    st.complex_numbers(),
    st.binary(max_size=8).map(bytearray),
    st.datetimes(timezones=st.none() | fixed_tz | st.timezones()),
    st.times(timezones=st.none() | fixed_tz),
    st.decimals(),
    st.builds(pathlib.PurePosixPath, texts),
    st.builds(pathlib.PureWindowsPath, texts),
    st.builds(pathlib.Path, texts),
    st.sampled_from([json, math, os.path, collections.abc]),
    st.builds(range, st.integers(), st.integers(), st.integers().filter(bool)),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(texts | st.just("$t"), children, max_size=4),
        st.dictionaries(hashables, children, max_size=4),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.builds(Pair, children, children),
        st.builds(_box, children, st.lists(children, max_size=2), texts),
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(values)
def test_decode_inverts_encode_with_exact_types(value: object) -> None:
    back = decode(encode(value))
    assert same(value, back), (value, back)


@settings(deadline=None)
@given(values)
def test_encoding_is_deterministic_and_canonical(value: object) -> None:
    text = encode(value)
    assert encode(value) == text
    assert encode(decode(text)) == text  # e.g. sets are stored in one order, whatever their history


@settings(deadline=None)
@given(values, st.sampled_from([print, lambda: None, object(), iter([])]))
def test_an_unsupported_value_anywhere_is_refused(value: object, bad: object) -> None:
    with pytest.raises(UnsupportedValue) as info:
        encode([value, {"k": bad}])
    assert info.value.type_name in str(info.value)


def _mutable(value: object) -> bool:
    return isinstance(value, (list, dict, set, bytearray, Box, Key))


@settings(deadline=None)
@given(st.lists(values, min_size=1, max_size=4), st.lists(st.integers(min_value=0, max_value=3), max_size=8))
def test_objects_reached_twice_come_back_as_one_object(pool: list[object], picks: list[int]) -> None:
    """`table = [row, row]`: positions holding one object hold one object after the round trip."""
    value = [pool[i % len(pool)] for i in picks] + [(pool[0],), {"k": pool[-1]}]
    back = decode(encode(value))
    assert same(value, back), (value, back)
    for i, a in enumerate(value[: len(picks)]):
        for j, b in enumerate(value[: len(picks)]):
            if _mutable(a):
                assert (back[i] is back[j]) == (a is b)  # type: ignore[index]
    if _mutable(pool[0]) and picks and picks[0] % len(pool) == 0:
        assert back[0] is back[-2][0]  # type: ignore[index]


@settings(deadline=None)
@given(values)
def test_the_stored_text_is_valid_unicode(value: object) -> None:
    encode(value).encode("utf-8")  # every database driver does this first


NAMES = st.sampled_from(
    [
        "psflow_never_loaded",
        "psflow_never_loaded.sub",
        "colorsys",
        "tabnanny",
        "os",
        "os.path",
        "__main__",
        "json",
        "builtins",
        "sys",
        __name__,
        "Box",
        "Pair",
        "Color",
        "Perm",
        "R|W",
        "system",
        "Path",
        "Europe/Paris",
        "Psflow/Nowhere",
        "../x",
        "",
    ]
)
modules = st.fixed_dictionaries({"$t": st.just("module"), "v": NAMES})
json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts | NAMES | modules
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(texts | NAMES, children, max_size=3)
        | st.fixed_dictionaries(
            {
                "$t": st.sampled_from(
                    [
                        "tuple",
                        "set",
                        "frozenset",
                        "dict",
                        "int",
                        "float",
                        "bytes",
                        "bytearray",
                        "datetime",
                        "date",
                        "time",
                        "timedelta",
                        "decimal",
                        "uuid",
                        "complex",
                        "range",
                        "path",
                        "str",
                        "enum",
                        "module",
                        "namedtuple",
                        "dataclass",
                        "shared",
                        "ref",
                        "nope",
                    ]
                ),
                "v": children,
            }
        )
        | st.fixed_dictionaries(
            {  # a class named by a forged row
                "$t": st.sampled_from(["enum", "dataclass", "namedtuple"]),
                "v": st.tuples(NAMES, NAMES, children).map(list),
            }
        )
    ),
    max_leaves=10,
)


@settings(deadline=None)
@given(json_values)
def test_decoding_any_json_imports_nothing_and_raises_only_value_error(data: object) -> None:
    text = json.dumps(data)
    before = set(sys.modules)
    with contextlib.suppress(ValueError):
        decode(text)
    assert set(sys.modules) == before


@settings(deadline=None)
@given(json_values)
def test_any_json_can_be_shown(data: object) -> None:
    before = set(sys.modules)
    shown = to_display(json.dumps(data))
    assert set(sys.modules) == before
    json.dumps(shown)
