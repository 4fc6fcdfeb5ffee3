"""Tagged-JSON codec for the values blocks bind.

Values are saved to a database shared between servers and restored on later runs,
so restoring must never run arbitrary code: no pickle. JSON-native values are stored
as themselves so the stored text stays readable; anything else becomes
``{"$t": tag, "v": payload}``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import importlib
import itertools
import json
import operator
import pathlib
import reprlib
import sys
import types
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

__all__ = ["UnsupportedValue", "encode", "decode"]

TAG = "$t"
# Larger ints are tagged as hex: JSON int text is capped by sys.set_int_max_str_digits (>= 640).
_BIG = 1 << 2000
# check_circular is off because _enc already refused cycles.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"))


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


def _type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _tag(tag: str, payload: object) -> dict[str, object]:
    return {TAG: tag, "v": payload}


def encode(value: object) -> str:
    """Value -> compact JSON text (separators=(',', ':'), ensure_ascii=False). Raises UnsupportedValue."""
    try:
        return _JSON.encode(_enc(value, set()))
    except _Fail as e:
        where = " -> ".join(reversed(e.path))
        raise UnsupportedValue(f"{where}: {e.reason}" if where else e.reason, e.type_name) from None
    except RecursionError:
        name = _type_name(type(value))
        raise UnsupportedValue(f"{name} is nested too deeply to encode", name) from None


def _enc(v: Any, seen: set[int]) -> object:
    """One pass: returns a JSON-ready object, reusing `v` itself when nothing needs a tag."""
    t = type(v)
    if t is str or t is bool or v is None:  # bool first: it is an int subclass
        return v
    if t is int:
        return v if -_BIG < v < _BIG else _tag("int", hex(v))
    if t is float:
        return v if v - v == 0.0 else _tag("float", repr(v))  # nan/inf are not strict JSON
    if t is list:
        return _enc_seq(v, seen, "list")
    if t is dict:
        return _enc_dict(v, seen)
    encoder = _ENCODERS.get(t)
    return encoder(v, seen) if encoder is not None else _enc_other(v, seen)


def _enter(v: object, seen: set[int]) -> None:
    if id(v) in seen:
        name = _type_name(type(v))
        raise _Fail(name, f"cycle: the {name} contains itself")
    seen.add(id(v))


def _enc_seq(v: list[Any] | tuple[Any, ...], seen: set[int], label: str) -> object:
    _enter(v, seen)
    out: list[object] | None = None
    i = 0
    try:
        for i, x in enumerate(v):
            y = _enc(x, seen)
            if out is not None:
                out.append(y)
            elif y is not x:
                out = list(v[:i])
                out.append(y)
    except _Fail as e:
        e.path.append(f"{label} index {i}")
        raise
    seen.discard(id(v))
    return v if out is None else out  # json writes tuples as arrays too


def _enc_dict(v: dict[Any, Any], seen: set[int]) -> object:
    _enter(v, seen)
    i, k, in_key = 0, None, False
    try:
        if TAG not in v:  # a plain dict with a "$t" key would read back as a tag
            out: dict[str, object] | None = None
            for i, (k, x) in enumerate(v.items()):
                if type(k) is not str:
                    break
                y = _enc(x, seen)
                if out is not None:
                    out[k] = y
                elif y is not x:
                    out = dict(itertools.islice(v.items(), i))
                    out[k] = y
            else:
                seen.discard(id(v))
                return v if out is None else out
        pairs = []
        for i, (k, x) in enumerate(v.items()):
            in_key = True
            key = _enc(k, seen)
            in_key = False
            pairs.append([key, _enc(x, seen)])
    except _Fail as e:
        e.path.append(f"dict key at position {i}" if in_key else f"dict key {reprlib.repr(k)}")
        raise
    seen.discard(id(v))
    return _tag("dict", pairs)


def _enc_set(v: set[Any] | frozenset[Any], seen: set[int]) -> object:
    try:
        items = [_enc(x, seen) for x in v]
    except _Fail as e:
        e.path.append(f"{type(v).__name__} item")
        raise
    items.sort(key=_JSON.encode)  # set order varies between processes; stored text must not
    return _tag(type(v).__name__, items)


def _enc_datetime(v: dt.datetime | dt.time, seen: set[int]) -> object:
    tz = v.tzinfo
    if tz is None or (type(tz) is dt.timezone and not tz.utcoffset(None).microseconds):
        return _tag(type(v).__name__, v.isoformat())
    zone: str | int
    if type(tz) is dt.timezone:  # 3.11's fromisoformat misreads sub-second offsets like +00:00:00.5
        zone = tz.utcoffset(None) // dt.timedelta(microseconds=1)
    elif type(tz) is zoneinfo.ZoneInfo and tz.key and type(v) is dt.datetime:
        zone = tz.key
    else:
        name = _type_name(type(tz))
        raise _Fail(name, f"cannot encode {type(v).__name__} with tzinfo {name}")
    return _tag(type(v).__name__, [v.replace(tzinfo=None).isoformat(), zone, v.fold])


_ENCODERS: dict[type, Callable[[Any, set[int]], object]] = {
    tuple: lambda v, seen: _tag("tuple", _enc_seq(v, seen, "tuple")),
    set: _enc_set,
    frozenset: _enc_set,
    bytes: lambda v, seen: _tag("bytes", base64.b64encode(v).decode("ascii")),
    bytearray: lambda v, seen: _tag("bytearray", base64.b64encode(v).decode("ascii")),
    dt.datetime: _enc_datetime,
    dt.time: _enc_datetime,
    dt.date: lambda v, seen: _tag("date", v.isoformat()),
    dt.timedelta: lambda v, seen: _tag("timedelta", [v.days, v.seconds, v.microseconds]),
    decimal.Decimal: lambda v, seen: _tag("decimal", str(v)),
    uuid.UUID: lambda v, seen: _tag("uuid", str(v)),
    complex: lambda v, seen: _tag("complex", [_enc(v.real, seen), _enc(v.imag, seen)]),
    range: lambda v, seen: _tag("range", [_enc(x, seen) for x in (v.start, v.stop, v.step)]),
    pathlib.PurePosixPath: lambda v, seen: _tag("path", ["PurePosixPath", str(v)]),
    pathlib.PureWindowsPath: lambda v, seen: _tag("path", ["PureWindowsPath", str(v)]),
    # Concrete paths restore as the reading server's pathlib.Path.
    pathlib.PosixPath: lambda v, seen: _tag("path", ["Path", str(v)]),
    pathlib.WindowsPath: lambda v, seen: _tag("path", ["Path", str(v)]),
}


def _importable(t: type) -> bool:
    """Decode finds classes by module + qualname, so refuse ones that lookup won't find."""
    obj: object = sys.modules.get(t.__module__)
    for part in t.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is t


def _enum_member(cls: type[enum.Enum], name: str) -> enum.Enum:
    members = cls.__members__
    if name not in members and issubclass(cls, enum.Flag):  # composite flags are "A|B", empty is ""
        return functools.reduce(operator.or_, (members[n] for n in name.split("|") if n), cls(0))
    return members[name]


def _is_namedtuple(t: type) -> bool:
    return issubclass(t, tuple) and isinstance(getattr(t, "_fields", None), tuple)


def _enc_other(v: Any, seen: set[int]) -> object:
    """Types matched by kind rather than exact type: enums, modules, dataclasses, namedtuples."""
    t = type(v)
    name = _type_name(t)
    if isinstance(v, types.ModuleType):
        if sys.modules.get(v.__name__) is v:
            return _tag("module", v.__name__)
        raise _Fail(name, f"cannot encode module {v.__name__!r}: not in sys.modules")
    if isinstance(v, enum.Enum) or dataclasses.is_dataclass(t) or _is_namedtuple(t):
        if not _importable(t):
            raise _Fail(name, f"cannot encode {name}: the class is not importable by that name")
        ref = [t.__module__, t.__qualname__]
        if isinstance(v, enum.Enum):
            member = v._name_ or ""  # None for an empty Flag
            try:  # pseudo-members (e.g. made by _missing_) may have no name that finds them again
                found = _enum_member(t, member) is v
            except (KeyError, ValueError):
                found = False
            if not found:
                raise _Fail(name, f"cannot encode {name} member {v!r}: no member name finds it")
            return _tag("enum", [*ref, member])
        if _is_namedtuple(t):
            return _tag("namedtuple", [*ref, _enc_seq(v, seen, t.__qualname__)])
        _enter(v, seen)
        fields: dict[str, object] = {}
        try:
            for f in dataclasses.fields(v):
                fields[f.name] = _enc(getattr(v, f.name), seen)
        except _Fail as e:
            e.path.append(f"{t.__qualname__} field {f.name!r}")
            raise
        seen.discard(id(v))
        return _tag("dataclass", [*ref, fields])
    builtin = next((b for b in (dict, list, tuple, set, str, int, float) if isinstance(v, b)), None)
    if builtin is not None:
        raise _Fail(name, f"cannot encode {name}: a subclass of {builtin.__name__} would lose its type")
    raise _Fail(name)


def decode(text: str) -> object:
    """JSON text produced by encode -> equal value."""
    return _DECODER.decode(text)


def _hook(d: dict[str, Any]) -> object:
    if TAG not in d:
        return d
    tag = d[TAG]
    decoder = _DECODERS.get(tag) if type(tag) is str else None
    if decoder is None:
        raise ValueError(f"unknown codec tag {tag!r}: written by a newer psflow, or not by psflow")
    if len(d) != 2 or "v" not in d:
        raise ValueError(f"malformed {tag!r} value: expected exactly the keys '$t' and 'v'")
    try:
        return decoder(d["v"])
    except Exception as e:
        raise ValueError(f"cannot decode {tag!r} value: {e}") from e


def _items(v: Any, kind: type = list) -> Any:
    """Forged payloads of the wrong JSON type fail here instead of being coerced."""
    if type(v) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {type(v).__name__}")
    return v


def _resolve(module: str, qualname: str, kind: str, check: Callable[[type], bool]) -> Any:
    """The only code decoding runs: importing a module, then checking the class before any call."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and check(obj)):
        raise ValueError(f"{module}.{qualname} is not {kind}")
    return obj


def _dec_datetime(kind: type[dt.datetime] | type[dt.time], v: str | list[Any]) -> object:
    if type(v) is str:
        return kind.fromisoformat(v)
    iso, zone, fold = _items(v)
    tz = zoneinfo.ZoneInfo(zone) if type(zone) is str else dt.timezone(dt.timedelta(microseconds=zone))
    return kind.fromisoformat(iso).replace(tzinfo=tz, fold=fold)


def _dec_enum(v: list[Any]) -> enum.Enum:
    module, qualname, name = _items(v)
    return _enum_member(_resolve(module, qualname, "an Enum", lambda c: issubclass(c, enum.Enum)), name)


def _dec_namedtuple(v: list[Any]) -> tuple[Any, ...]:
    module, qualname, items = _items(v)
    cls = _resolve(module, qualname, "a namedtuple", _is_namedtuple)
    if len(_items(items)) != len(cls._fields):
        raise ValueError(f"{qualname} has {len(cls._fields)} fields, got {len(items)} values")
    return tuple.__new__(cls, items)  # no user __new__: the values are all there is


def _dec_dataclass(v: list[Any]) -> object:
    module, qualname, values = _items(v)
    cls = _resolve(module, qualname, "a dataclass", dataclasses.is_dataclass)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if unknown := set(values) - fields.keys():
        raise ValueError(f"{qualname} has no fields {sorted(unknown)}")
    obj = cls(**{n: x for n, x in values.items() if fields[n].init})
    for n, x in values.items():
        if not fields[n].init:
            object.__setattr__(obj, n, x)  # also works for frozen dataclasses
    return obj


_PATHS = {"Path": pathlib.Path, "PurePosixPath": pathlib.PurePosixPath, "PureWindowsPath": pathlib.PureWindowsPath}
_DECODERS: dict[str, Callable[[Any], object]] = {
    "tuple": lambda v: tuple(_items(v)),
    "set": lambda v: set(_items(v)),
    "frozenset": lambda v: frozenset(_items(v)),
    "dict": lambda v: dict(_items(v)),
    "int": lambda v: int(_items(v, str), 16),
    "float": lambda v: float(_items(v, str)),
    "bytes": lambda v: base64.b64decode(v, validate=True),
    "bytearray": lambda v: bytearray(base64.b64decode(v, validate=True)),
    "datetime": lambda v: _dec_datetime(dt.datetime, v),
    "date": lambda v: dt.date.fromisoformat(v),
    "time": lambda v: _dec_datetime(dt.time, v),
    "timedelta": lambda v: dt.timedelta(*_items(v)),
    "decimal": lambda v: decimal.Decimal(_items(v, str)),
    "uuid": lambda v: uuid.UUID(v),
    "complex": lambda v: complex(*_items(v)),
    "range": lambda v: range(*_items(v)),
    "path": lambda v: _PATHS[v[0]](_items(v[1], str)),
    "enum": _dec_enum,
    "module": lambda v: importlib.import_module(v),
    "namedtuple": _dec_namedtuple,
    "dataclass": _dec_dataclass,
}
_DECODER = json.JSONDecoder(object_hook=_hook)
