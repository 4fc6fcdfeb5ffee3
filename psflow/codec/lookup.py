"""Finding classes, modules, time zones and object state without running any code.

Everything here reads what the interpreter stores (class dicts, the MRO, an instance's
dict and slots) through the built-in descriptors, so no metaclass `__getattr__`, user
`__getattribute__`, property or PEP 562 module `__getattr__` runs, and nothing is
imported: a class is found only in a module already in sys.modules.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import sys
import types
import zoneinfo
from collections.abc import Callable
from typing import Any

from psflow.codec.tags import MISSING, TAG, has_surrogate

CLASS_DICT = type.__dict__["__dict__"].__get__
CLASS_MRO = type.__dict__["__mro__"].__get__
CLASS_BASE = type.__dict__["__base__"].__get__
CLASS_MODULE = type.__dict__["__module__"].__get__
CLASS_QUALNAME = type.__dict__["__qualname__"].__get__
MODULE_DICT: Callable[[types.ModuleType], dict[str, Any]] = types.ModuleType.__dict__["__dict__"].__get__  # type: ignore[index]
BUILTIN_BASES = (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float, complex)


def type_name(t: type) -> str:
    module, qualname = CLASS_MODULE(t), CLASS_QUALNAME(t)
    return qualname if type(module) is not str or module == "builtins" else f"{module}.{qualname}"


def lookup(cls: type, name: str) -> Any:
    """`name` as the class's MRO defines it, read from the class dicts."""
    for base in CLASS_MRO(cls):
        namespace = CLASS_DICT(base)
        if name in namespace:
            return namespace[name]
    return MISSING


def find_module(name: str) -> types.ModuleType:
    found = sys.modules.get(name)
    if not issubclass(type(found), types.ModuleType):
        raise ValueError(
            f"module {name!r} is not loaded (psflow never imports while restoring): "
            "import it in the script before the block"
        )
    return found  # type: ignore[return-value]


def find_class(module: str, qualname: str) -> type:
    """The class `module`.`qualname` among the modules already loaded (ValueError if none)."""
    namespace = MODULE_DICT(find_module(module))
    found: Any = None
    for part in qualname.split("."):
        found = namespace.get(part, MISSING)
        if not issubclass(type(found), type):
            raise ValueError(f"{module}.{qualname} does not name a class in the loaded module {module!r}")
        namespace = CLASS_DICT(found)
    return found  # type: ignore[no-any-return]


def dict_descriptor(cls: type) -> Any:
    """The `__dict__` descriptor type() made for the class's instances (a `__dict__` property is
    skipped); None if its instances have no dict."""
    for base in CLASS_MRO(cls):
        descriptor = CLASS_DICT(base).get("__dict__")
        if type(descriptor) is types.GetSetDescriptorType:
            return descriptor
    return None


def instance_dict(obj: object, cls: type) -> dict[str, Any] | None:
    descriptor = dict_descriptor(cls)
    return None if descriptor is None else descriptor.__get__(obj, cls)


def slots(cls: type) -> dict[str, Any]:
    """Every `__slots__` member of the class and its bases: name -> its C member descriptor."""
    found: dict[str, Any] = {}
    for base in CLASS_MRO(cls):
        for name, member in CLASS_DICT(base).items():
            if type(member) is types.MemberDescriptorType and name not in found:
                found[name] = member
    return found


def slot_value(obj: object, cls: type, member: Any) -> Any:
    try:
        return member.__get__(obj, cls)
    except AttributeError:  # an unset slot
        return MISSING


def _plain_new(cls: type, base: type) -> bool:
    """Whether `base.__new__(cls)` is allowed: the first C `__new__` up the layout chain is base's own."""
    klass: type | None = cls
    while klass is not None:
        if type(CLASS_DICT(klass).get("__new__")) is types.BuiltinFunctionType:
            return klass is base
        klass = CLASS_BASE(klass)
    return False


def _dataclass_fields(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (not its InitVar or ClassVar pseudo-fields); None if not a dataclass."""
    fields = lookup(cls, "__dataclass_fields__")
    if type(fields) is not dict:
        return None
    real = dataclasses._FIELD  # type: ignore[attr-defined]  # what dataclasses.fields() keeps
    return tuple(f.name for f in fields.values() if type(f) is dataclasses.Field and f._field_type is real)  # type: ignore[attr-defined]


def _namedtuple_fields(cls: type) -> tuple[str, ...] | None:
    fields = lookup(cls, "_fields")
    if issubclass(cls, tuple) and type(fields) is tuple and all(type(f) is str for f in fields):
        return fields
    return None


@functools.lru_cache(maxsize=256)
def _zone_installed(key: str) -> bool:
    """Whether TZPATH has `key`: for any other key ZoneInfo(key) would import the tzdata package."""
    if os.path.isabs(key) or os.path.normpath(key) != key or ".." in key.split("/") or "\0" in key:
        return False
    return any(os.path.isfile(os.path.join(folder, key)) for folder in zoneinfo.TZPATH)


def find_zone(key: object) -> zoneinfo.ZoneInfo:
    if type(key) is not str or not _zone_installed(key):
        raise ValueError(
            f"time zone {key!r} is not in this server's time zone database ({os.pathsep.join(zoneinfo.TZPATH)})"
        )
    return zoneinfo.ZoneInfo(key)


class Kind:
    """How instances of one class are stored: as `tag`, or not at all (`reason` says why).
    (A plain class: a dataclass here would cost more start-up than the rest of the codec.)"""

    __slots__ = ("attrs", "field_set", "fields", "module", "qualname", "reason", "slots", "tag")

    def __init__(self, tag: str | None, reason: str = "", t: type | None = None, fields: tuple[str, ...] = ()) -> None:
        self.tag = tag
        self.reason = reason
        self.module: str = CLASS_MODULE(t) if t is not None else ""
        self.qualname: str = CLASS_QUALNAME(t) if t is not None else ""
        self.fields = fields
        self.field_set = frozenset(fields)
        self.slots: dict[str, Any] = slots(t) if t is not None else {}
        self.attrs: Any = dict_descriptor(t) if t is not None else None  # the instance dict's descriptor


def kind_of(t: type) -> Kind:
    """What the codec does with values of class `t`, decided from the class dicts alone."""
    if issubclass(t, types.ModuleType):
        return Kind("module")
    if issubclass(t, enum.Enum):
        return _by_name(t, "enum", ())
    fields = _dataclass_fields(t)
    if fields is not None:
        return _by_name(t, "dataclass", fields)
    fields = _namedtuple_fields(t)
    if fields is not None:
        return _by_name(t, "namedtuple", fields)
    name = type_name(t)
    builtin = next((b for b in BUILTIN_BASES if issubclass(t, b)), None)
    if builtin is not None:
        return Kind(None, f"cannot encode {name}: a subclass of {builtin.__name__} would lose its type")
    return Kind(None, f"cannot encode {name}")


def _by_name(t: type, tag: str, fields: tuple[str, ...]) -> Kind:
    """Enums, dataclasses and namedtuples are stored by class name and rebuilt without a call, so
    refuse a class that name does not find, or whose copies would run code or lose state."""
    name, module, qualname = type_name(t), CLASS_MODULE(t), CLASS_QUALNAME(t)
    try:
        found = type(module) is str and find_class(module, qualname) is t
    except ValueError:
        found = False
    if not found:
        return Kind(None, f"cannot encode {name}: the class is not importable by that name")
    if tag != "enum" and lookup(t, "__del__") is not MISSING:
        return Kind(None, f"cannot encode {name}: it has a finalizer (__del__), which a restored copy would run")
    if tag != "enum" and not _plain_new(t, tuple if tag == "namedtuple" else object):
        return Kind(None, f"cannot encode {name}: the state of its built-in base class would be lost")
    bad = next((f for f in fields if f == TAG or has_surrogate(f)), None)
    if bad is not None:
        return Kind(None, f"cannot encode {name}: field name {bad!r} cannot be stored")
    return Kind(tag, "", t, fields)


def enum_member(cls: type, name: str, *, create: bool) -> enum.Enum:
    """The member `name` names (a composite flag is "A|B", the empty one ""), found without
    calling the class; an uncached composite is made by the stdlib's Flag._missing_ if `create`."""
    members = lookup(cls, "_member_map_")
    if type(members) is not dict:
        raise ValueError(f"{type_name(cls)} has no member map")
    member = members.get(name, MISSING)
    if member is not MISSING:
        return member  # type: ignore[no-any-return]
    if not issubclass(cls, enum.Flag):
        raise ValueError(f"{type_name(cls)} has no member {name!r}")
    value = 0
    for part in name.split("|") if name else ():
        bits = (instance_dict(members[part], cls) or {}).get("_value_") if part in members else None
        if type(bits) is not int:
            raise ValueError(f"{type_name(cls)} has no flag {part!r}")
        value |= bits
    member = lookup(cls, "_value2member_map_").get(value, MISSING)
    if member is not MISSING:
        return member  # type: ignore[no-any-return]
    member_type = lookup(cls, "_member_type_")
    if not create or not (member_type is object or member_type is int):
        raise ValueError(f"{type_name(cls)} has no composite flag {name!r}")
    return enum.Flag._missing_.__func__(cls, value)  # type: ignore[attr-defined,no-any-return]
