"""Tagged JSON text -> value. Never imports, never calls a class: the text may be forged."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
import pathlib
import reprlib
import types
import uuid
from collections.abc import Callable
from typing import Any

from psflow.codec import stdlib_types
from psflow.codec.lookup import Kind, enum_member, find_class, find_module, find_zone, kind_of
from psflow.codec.tags import MISSING, TAG, ints, loads, plain, untagged, want


def decode(text: str) -> object:
    """JSON text produced by encode -> equal value. Raises ValueError for anything else."""
    try:
        if untagged(text):
            return plain(text)
        try:
            decoding = _IDLE.pop()
        except IndexError:
            decoding = _Decoding()
        try:
            return decoding.decode(text)
        finally:
            _IDLE.append(decoding)
    except RecursionError:
        raise ValueError("cannot decode: nested too deeply") from None


class _Decoding:
    """One decode call at a time: the shared objects numbered so far, and the classes looked up
    (forgotten after each call: the next attempt's `__main__` is another module)."""

    __slots__ = ("json", "kinds", "shared")

    def __init__(self) -> None:
        self.shared: dict[int, object] = {}
        self.kinds: dict[tuple[str, str], tuple[type, Kind]] = {}
        self.json = json.JSONDecoder(object_hook=self.hook)  # made once: it costs more than a small decode

    def decode(self, text: str) -> object:
        try:
            return loads(self.json, text)
        finally:
            self.shared.clear()
            self.kinds.clear()

    def hook(self, d: dict[str, Any]) -> object:
        if TAG not in d:
            return d
        tag = d[TAG]
        decoder = _DECODERS.get(tag) if type(tag) is str else None
        if decoder is None:
            raise ValueError(f"unknown codec tag {reprlib.repr(tag)}: written by a newer psflow, or not by psflow")
        if len(d) != 2 or "v" not in d:
            raise ValueError(f"malformed {tag!r} value: expected exactly the keys '$t' and 'v'")
        try:
            return decoder(self, d["v"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"cannot decode {tag!r} value: {e}") from e
        except Exception as e:  # e.g. a __hash__ of the script's class, rebuilding a set
            raise ValueError(f"cannot decode {tag!r} value: {type(e).__name__}: {e}") from e

    def kind(self, payload: Any, tag: str) -> tuple[type, Kind, list[Any]]:
        """The class a payload [module, qualname, …] names, checked to be stored as `tag`; the rest."""
        module, qualname, *rest = want(payload, list)
        key = (want(module, str), want(qualname, str))
        if key not in self.kinds:
            cls = find_class(module, qualname)
            self.kinds[key] = (cls, kind_of(cls))
        cls, kind = self.kinds[key]
        if kind.tag != tag:
            raise ValueError(
                f"{module}.{qualname} is not {'an' if tag == 'enum' else 'a'} {tag}: {kind.reason or kind.tag}"
            )
        return cls, kind, rest


_IDLE: list[_Decoding] = []  # reused, one per thread decoding at the same time


def _datetime(kind: type[dt.datetime | dt.time], v: Any) -> object:
    if type(v) is str:
        return kind.fromisoformat(v)
    iso, zone, fold = want(v, list)
    tz = find_zone(zone) if type(zone) is str else dt.timezone(dt.timedelta(microseconds=want(zone, int)))
    return kind.fromisoformat(want(iso, str)).replace(tzinfo=tz, fold=want(fold, int))


def _enum(dec: _Decoding, v: Any) -> enum.Enum:
    cls, _, (name,) = dec.kind(v, "enum")
    return enum_member(cls, want(name, str), create=True)


def _namedtuple(dec: _Decoding, v: Any) -> tuple[Any, ...]:
    cls, kind, (items,) = dec.kind(v, "namedtuple")
    if len(want(items, list)) != len(kind.fields):
        raise ValueError(f"{kind.qualname} has {len(kind.fields)} fields, got {len(items)} values")
    return tuple.__new__(cls, items)


def _dataclass(dec: _Decoding, v: Any) -> object:
    """object.__new__ plus the stored attributes, written where the class keeps them: no
    __init__, __post_init__ or __setattr__ runs, so frozen, slots and InitVar make no difference."""
    cls, kind, (fields, *others) = dec.kind(v, "dataclass")
    if not kind.field_set.issuperset(want(fields, dict)):
        raise ValueError(f"{kind.qualname} has no fields {sorted(set(fields) - kind.field_set)}")
    if others and (len(others) > 1 or not kind.field_set.isdisjoint(want(others[0], dict))):
        raise ValueError(f"malformed {kind.qualname} attributes: expected one object of attributes that are not fields")
    obj: object = object.__new__(cls)
    own = kind.attrs.__get__(obj, cls) if kind.attrs is not None else None
    for attrs in (fields, *others):
        if own is not None and not kind.slots:
            own.update(attrs)
            continue
        for name, x in attrs.items():
            if name in kind.slots:
                kind.slots[name].__set__(obj, x)
            elif own is not None:
                own[name] = x
            else:
                raise ValueError(f"{kind.qualname} has no slot {name!r}")
    return obj


def _str(dec: _Decoding, v: Any) -> str:
    pieces = want(v, list)
    return "".join(chr(x) if type(x) is int and 0xD800 <= x <= 0xDFFF else want(x, str) for x in pieces)


def _shared(dec: _Decoding, v: Any) -> object:
    number, value = want(v, list)
    if want(number, int) in dec.shared:
        raise ValueError(f"object {number} is stored twice")
    dec.shared[number] = value
    return value


def _ref(dec: _Decoding, v: Any) -> object:
    found = dec.shared.get(want(v, int), MISSING)
    if found is MISSING:  # also a forged cycle: an object is numbered only once it is whole
        raise ValueError(f"reference to object {v} before it is stored")
    return found


def _module(dec: _Decoding, v: Any) -> types.ModuleType:
    return find_module(want(v, str))


def _pairs(dec: _Decoding, v: Any) -> dict[Any, Any]:
    if any(type(pair) is not list or len(pair) != 2 for pair in want(v, list)):
        raise TypeError("expected [key, value] pairs")
    return dict(v)


def _path(dec: _Decoding, v: Any) -> pathlib.PurePath:
    kind, text = want(v, list)
    return _PATHS[want(kind, str)](want(text, str))


_PATHS: dict[str, type[pathlib.PurePath]] = {
    "Path": pathlib.Path,
    "PurePosixPath": pathlib.PurePosixPath,
    "PureWindowsPath": pathlib.PureWindowsPath,
}
_DECODERS: dict[str, Callable[[_Decoding, Any], object]] = {
    "tuple": lambda dec, v: tuple(want(v, list)),
    "set": lambda dec, v: set(want(v, list)),
    "frozenset": lambda dec, v: frozenset(want(v, list)),
    "dict": _pairs,
    "int": lambda dec, v: int(want(v, str), 16),
    "float": lambda dec, v: float(want(v, str)),
    "bytes": lambda dec, v: base64.b64decode(want(v, str), validate=True),
    "bytearray": lambda dec, v: bytearray(base64.b64decode(want(v, str), validate=True)),
    "datetime": lambda dec, v: _datetime(dt.datetime, v),
    "date": lambda dec, v: dt.date.fromisoformat(want(v, str)),
    "time": lambda dec, v: _datetime(dt.time, v),
    "timedelta": lambda dec, v: dt.timedelta(*ints(v, 3)),
    "decimal": lambda dec, v: decimal.Decimal(want(v, str)),
    "uuid": lambda dec, v: uuid.UUID(want(v, str)),
    "complex": lambda dec, v: complex(*(want(x, float) for x in want(v, list))),
    "range": lambda dec, v: range(*ints(v, 3)),
    "path": _path,
    "str": _str,
    "enum": _enum,
    "module": _module,
    "namedtuple": _namedtuple,
    "dataclass": _dataclass,
    "shared": _shared,
    "ref": _ref,
}


def _from_payload(make: Callable[[Any], object]) -> Callable[[_Decoding, Any], object]:
    return lambda dec, v: make(v)


_DECODERS.update({name: _from_payload(make) for name, make in stdlib_types.DECODERS.items()})
