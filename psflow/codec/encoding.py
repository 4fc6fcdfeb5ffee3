"""Value -> tagged JSON text, reading state as the interpreter stores it: saving runs no user code."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import itertools
import json
import pathlib
import reprlib
import sys
import types
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from psflow.codec import stdlib_types
from psflow.codec.decoding import decode
from psflow.codec.lookup import MODULE_DICT, Kind, enum_member, find_zone, instance_dict, kind_of, slot_value, type_name
from psflow.codec.tags import MISSING, TAG, has_surrogate, tag, text

# Larger ints are tagged as hex: JSON int text is capped by sys.set_int_max_str_digits (>= 640).
_BIG = 1 << 2000
# check_circular is off because the walk already refused cycles.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"))
_OPEN = object()


class UnsupportedValue(TypeError):
    """A value the codec cannot save."""

    def __init__(self, message: str, type_name: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name


class _Fail(Exception):
    """Unwinds the walk; each container on the way out adds where it was."""

    def __init__(self, type_name: str, reason: str = "") -> None:
        self.type_name = type_name
        self.reason = reason or f"cannot encode {type_name}"
        self.path: list[str] = []


def encode(value: object, *, check: bool = True) -> str:
    """Value -> compact JSON text. Raises UnsupportedValue for what cannot be saved and, with
    `check`, for what would not come back the same (see _check_round_trip)."""
    try:
        text, needs_check = _encode(value)
    except _Fail as e:
        where = " -> ".join(reversed(e.path))
        raise UnsupportedValue(f"{where}: {e.reason}" if where else e.reason, e.type_name) from None
    except RecursionError:
        name = type_name(type(value))
        raise UnsupportedValue(f"{name} is nested too deeply to encode", name) from None
    except Exception as e:  # e.g. a dict changed size while another thread saved it
        name = type_name(type(value))
        raise UnsupportedValue(f"cannot encode {name}: {type(e).__name__}: {e}", name) from None
    if check and needs_check:
        _check_round_trip(value, text)
    return text


def _encode(value: object) -> tuple[str, bool]:
    """The text, and whether its round trip depends on the script's own code (see _check_round_trip)."""
    walk = _Walk()
    data = walk.enc(value)
    if walk.again:  # an object was reached twice: a second walk numbers it
        data = _Walk(walk.again, walk.orders).enc(value)
    return _JSON.encode(data), walk.needs_check


def _check_round_trip(value: object, text: str) -> None:
    """Decode `text` and encode the copy: the same text means the same structure, types and sharing,
    compared without calling anyone's __eq__.

    Everything is rebuilt from exactly the state that was read, so only one thing can differ: a
    set or dict key holding an object of the script's classes is rebuilt with that class's __hash__
    and __eq__ (a key mutated after it went in, a hash of id()). Only such values are checked;
    checking all would cost a decode and an encode more on every save."""
    name = type_name(type(value))
    try:
        again, _ = _encode(decode(text))
    except ValueError as e:  # decoding failed (e.g. a __hash__ that fails on the copy)
        raise UnsupportedValue(f"cannot save {name}: it would not come back: {e}", name) from None
    except _Fail as e:
        raise UnsupportedValue(f"cannot save {name}: it would not come back: {e.reason}", name) from None
    if again != text:
        at = next((i for i, (a, b) in enumerate(zip(text, again, strict=False)) if a != b), min(len(text), len(again)))
        start = max(at - 20, 0)
        raise UnsupportedValue(
            f"cannot save {name}: it would not come back equal (saved {text[start : at + 40]!r}, "
            f"restored {again[start : at + 40]!r}): its __hash__ or __eq__ is not decided by its state",
            name,
        )


class _Walk:
    """One walk over a value, returning JSON-ready data (the value itself where nothing needs a tag).

    The first walk notes what it made of every mutable container and object, by id (the value
    holds them all, so ids stay unique meanwhile); one met again gives the same result, and makes a
    second walk that stores it in full where it first appears, numbered, and as a reference after.
    """

    __slots__ = ("again", "hashed", "kinds", "met", "needs_check", "numbers", "orders", "shared")

    def __init__(self, shared: set[int] | None = None, orders: dict[int, list[Any]] | None = None) -> None:
        self.shared = shared  # ids met more than once (second walk); None in the first walk
        self.met: dict[int, object] = {}  # id -> its encoding (_OPEN while it is being encoded)
        self.again: set[int] = set()
        self.numbers: dict[int, int] = {}
        self.orders: dict[int, list[Any]] = {} if orders is None else orders  # a set's items, stored order
        self.kinds: dict[int, tuple[type, Kind]] = {}
        self.hashed = 0  # > 0 inside a set item or a dict key
        self.needs_check = False

    def enc(self, v: Any) -> object:
        t = type(v)
        if t is str:
            return v if v.isascii() else text(v)
        if t is int:
            return v if -_BIG < v < _BIG else tag("int", hex(v))
        if t is float:
            return v if v - v == 0.0 else tag("float", repr(v))  # nan/inf are not strict JSON
        if t is bool or v is None:
            return v
        if t is list or t is dict:
            key = id(v)
            if self.shared is None and key not in self.met:  # memo()'s usual case, inline: it is the hot path
                self.met[key] = _OPEN
                out = self.met[key] = self.enc_seq(v, "list") if t is list else self.enc_dict(v)
                return out
            return self.memo(v, self.enc_list if t is list else self.enc_dict)
        encoder = _ENCODERS.get(t) if type(t) is type else None  # a metaclass's __hash__ is user code
        return encoder(self, v) if encoder is not None else self.enc_other(v, t)

    def memo(self, v: Any, encode: Callable[[Any], object]) -> object:
        """Encode a mutable container or object once; number it if it is reached again."""
        key = id(v)
        if self.shared is None:
            out = self.met.get(key, MISSING)
            if out is _OPEN:
                name = type_name(type(v))
                raise _Fail(name, f"cycle: the {name} contains itself")
            if out is not MISSING:
                self.again.add(key)
                return out  # the same text as before, so sets sort the same whatever was met first
            self.met[key] = _OPEN
            out = self.met[key] = encode(v)
            return out
        if key not in self.shared:
            return encode(v)
        number = self.numbers.get(key)
        if number is not None:
            return tag("ref", number)
        number = self.numbers[key] = len(self.numbers)
        return tag("shared", [number, encode(v)])

    def enc_list(self, v: list[Any]) -> object:
        return self.enc_seq(v, "list")

    def enc_seq(self, v: list[Any] | tuple[Any, ...], label: str) -> object:
        out: list[object] | None = None
        i = 0
        try:
            for i, x in enumerate(v):
                y = self.enc(x)
                if out is not None:
                    out.append(y)
                elif y is not x:
                    out = list(v[:i])
                    out.append(y)
        except _Fail as e:
            e.path.append(f"{label} index {i}")
            raise
        return v if out is None else out  # json writes tuples as arrays too

    def enc_dict(self, v: dict[Any, Any]) -> object:
        """A JSON object while keys are plain str; from the first other key on, [key, value] pairs
        (the values already encoded are reused: encoding one twice would count it as shared)."""
        i, k, in_key = 0, None, False
        out: dict[str, object] | None = None
        try:
            if TAG not in v:  # a plain dict with a "$t" key would read back as a tag
                for i, (k, x) in enumerate(v.items()):
                    if type(k) is not str or not (k.isascii() or not has_surrogate(k)):
                        break
                    y = self.enc(x)
                    if out is not None:
                        out[k] = y
                    elif y is not x:
                        out = dict(itertools.islice(v.items(), i))
                        out[k] = y
                else:
                    return v if out is None else out
            done = v if out is None else out
            start = i
            pairs: list[list[object]] = [[key, done[key]] for key in itertools.islice(v, start)]
            for i, (k, x) in enumerate(itertools.islice(v.items(), start, None), start):  # noqa: B007 (read on failure)
                in_key = True
                self.hashed += 1
                key = self.enc(k)
                self.hashed -= 1
                in_key = False
                pairs.append([key, self.enc(x)])
        except _Fail as e:
            if in_key:
                e.path.append(f"dict key at position {i}")
            else:  # a key of another type is not shown: its repr would be user code
                e.path.append(
                    f"dict key {reprlib.repr(k)}" if type(k) is str or type(k) is int else f"dict value at position {i}"
                )
            raise
        return tag("dict", pairs)

    def enc_set(self, v: set[Any] | frozenset[Any]) -> object:
        """Items in one order whatever the set's history: sorted by their text in the first walk,
        and walked in that order by the second, so the numbers of shared objects follow the text."""
        label = "set" if type(v) is set else "frozenset"
        order = self.orders.get(id(v))
        self.hashed += 1
        try:
            if order is not None:
                return tag(label, [self.enc(x) for x in order])
            items = list(v)
            encoded = [self.enc(x) for x in items]
        except _Fail as e:
            e.path.append(f"{label} item")
            raise
        finally:
            self.hashed -= 1
        texts = [_JSON.encode(x) for x in encoded]
        ranks = sorted(range(len(items)), key=texts.__getitem__)
        self.orders[id(v)] = [items[r] for r in ranks]
        return tag(label, [encoded[r] for r in ranks])

    def enc_other(self, v: Any, t: type) -> object:
        """Modules, enums, dataclasses, namedtuples: matched by kind, read without running their code."""
        lazy = stdlib_types.encoder_for(t)
        if lazy is not None:
            return lazy(self, v)
        cached = self.kinds.get(id(t))
        if cached is None:
            cached = self.kinds[id(t)] = (t, kind_of(t))  # t is kept alive so its id stays its own
        kind = cached[1]
        if kind.tag is None:
            raise _Fail(type_name(t), kind.reason)
        try:
            if kind.tag == "module":
                return _enc_module(v, t)
            self.needs_check = self.needs_check or self.hashed > 0
            if kind.tag == "enum":
                return _enc_enum(v, t, kind)
            if kind.tag == "namedtuple":
                return self.enc_namedtuple(v, t, kind)
            return self.memo(v, lambda obj: self.enc_dataclass(obj, t, kind))
        except (_Fail, RecursionError):
            raise
        except Exception as e:  # an object odd enough that reading its state fails
            name = type_name(t)
            raise _Fail(name, f"cannot encode {name}: {type(e).__name__} reading it: {e}") from None

    def enc_namedtuple(self, v: tuple[Any, ...], t: type, kind: Kind) -> object:
        name = type_name(t)
        if instance_dict(v, t) or any(slot_value(v, t, member) is not MISSING for member in kind.slots.values()):
            raise _Fail(name, f"cannot encode {name}: its attributes besides the fields would be lost")
        items = tuple.__getitem__(v, slice(None))  # a plain tuple, not through a user __iter__
        if len(items) != len(kind.fields):
            raise _Fail(name, f"cannot encode {name}: {len(items)} values for {len(kind.fields)} fields")
        return tag("namedtuple", [text(kind.module), text(kind.qualname), self.enc_seq(items, kind.qualname)])

    def enc_dataclass(self, v: Any, t: type, kind: Kind) -> object:
        """Fields, then other attributes (instance dict and slots): all that object.__new__ plus
        setting them needs to give the object back."""
        state = dict(kind.attrs.__get__(v, t)) if kind.attrs is not None else {}
        for name, member in kind.slots.items():
            value = slot_value(v, t, member)
            if value is not MISSING:
                state[name] = value
        fields = {name: state.pop(name) for name in kind.fields if name in state}
        payload = [text(kind.module), text(kind.qualname), self.enc_attrs(fields, kind.qualname, "field")]
        if state:
            payload.append(self.enc_attrs(state, kind.qualname, "attribute"))
        return tag("dataclass", payload)

    def enc_attrs(self, attrs: dict[Any, Any], owner: str, label: str) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, x in attrs.items():
            if type(name) is not str or name == TAG or has_surrogate(name):
                shown = reprlib.repr(name) if type(name) is str else "that is not a str"
                raise _Fail(owner, f"cannot encode {owner}: attribute name {shown} cannot be stored")
            try:
                out[name] = self.enc(x)
            except _Fail as e:
                e.path.append(f"{owner} {label} {name!r}")
                raise
        return out


def _enc_module(v: types.ModuleType, t: type) -> object:
    name = MODULE_DICT(v).get("__name__")
    if type(name) is not str or sys.modules.get(name) is not v:
        raise _Fail(type_name(t), f"cannot encode module {reprlib.repr(name)}: not in sys.modules by that name")
    return tag("module", text(name))


def _enc_enum(v: enum.Enum, t: type, kind: Kind) -> object:
    name = type_name(t)
    member = (instance_dict(v, t) or {}).get("_name_") or ""  # None for an empty Flag
    try:  # pseudo-members (e.g. made by _missing_) may have no name that finds them again
        found = type(member) is str and enum_member(t, member, create=False) is v
    except ValueError:
        found = False
    if not found:
        raise _Fail(name, f"cannot encode {name} member {reprlib.repr(member)}: no member name finds it")
    return tag("enum", [text(kind.module), text(kind.qualname), text(member)])


def _enc_datetime(walk: _Walk, v: dt.datetime | dt.time) -> object:
    tz = v.tzinfo
    label = "datetime" if type(v) is dt.datetime else "time"
    if tz is None or (type(tz) is dt.timezone and not tz.utcoffset(None).microseconds):
        return tag(label, v.isoformat())
    zone: str | int
    if type(tz) is dt.timezone:  # 3.11's fromisoformat misreads sub-second offsets like +00:00:00.5
        zone = tz.utcoffset(None) // dt.timedelta(microseconds=1)
    elif type(tz) is zoneinfo.ZoneInfo and type(v) is dt.datetime and _restorable(tz):
        zone = tz.key
    else:
        name = type_name(type(tz))
        raise _Fail(name, f"cannot encode {label} with tzinfo {name}: only fixed offsets and installed ZoneInfo keys")
    return tag(label, [v.replace(tzinfo=None).isoformat(), zone, v.fold])


def _restorable(tz: zoneinfo.ZoneInfo) -> bool:
    """Restoring uses ZoneInfo(key): a zone from from_file or no_cache would come back different."""
    try:
        return find_zone(tz.key) is tz
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False


def _b64(v: bytes | bytearray) -> str:
    return base64.b64encode(v).decode("ascii")


def _path(kind: str) -> Callable[[_Walk, pathlib.PurePath], object]:
    return lambda walk, v: tag("path", [kind, text(str(v))])


_ENCODERS: dict[type, Callable[[_Walk, Any], object]] = {
    tuple: lambda walk, v: tag("tuple", walk.enc_seq(v, "tuple")),
    set: lambda walk, v: walk.memo(v, walk.enc_set),
    frozenset: lambda walk, v: walk.enc_set(v),
    bytes: lambda walk, v: tag("bytes", _b64(v)),
    bytearray: lambda walk, v: walk.memo(v, lambda b: tag("bytearray", _b64(b))),
    dt.datetime: _enc_datetime,
    dt.time: _enc_datetime,
    dt.date: lambda walk, v: tag("date", v.isoformat()),
    dt.timedelta: lambda walk, v: tag("timedelta", [v.days, v.seconds, v.microseconds]),
    decimal.Decimal: lambda walk, v: tag("decimal", str(v)),
    uuid.UUID: lambda walk, v: tag("uuid", str(v)),
    complex: lambda walk, v: tag("complex", [walk.enc(v.real), walk.enc(v.imag)]),
    range: lambda walk, v: tag("range", [walk.enc(x) for x in (v.start, v.stop, v.step)]),
    pathlib.PurePosixPath: _path("PurePosixPath"),
    pathlib.PureWindowsPath: _path("PureWindowsPath"),
    # Concrete paths restore as the reading server's pathlib.Path.
    pathlib.PosixPath: _path("Path"),
    pathlib.WindowsPath: _path("Path"),
}


def _told(encode: Callable[[_Walk, Any], object]) -> Callable[[_Walk, Any], object]:
    def encoding(walk: _Walk, v: Any) -> object:
        try:
            return encode(walk, v)
        except stdlib_types.Unstorable as e:
            raise _Fail(type_name(type(v)), str(e)) from None

    return encoding


_ENCODERS.update({cls: _told(encode) for cls, encode in stdlib_types.ENCODERS.items()})
