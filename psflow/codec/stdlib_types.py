"""Value types of the standard library that scripts keep data in, each stored with a tag of its own:
Counter, OrderedDict, defaultdict (of a built-in factory), deque, Fraction and a fixed-offset
timezone. Read and rebuilt through the standard library's own code, never a script's: only these
exact classes are matched (a subclass is the script's class).
"""

from __future__ import annotations

import collections
import datetime as dt
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from psflow.codec.lookup import instance_dict, type_name
from psflow.codec.tags import tag, text, want

if TYPE_CHECKING:
    from psflow.codec.encoding import _Walk

# The factories a defaultdict may have to be stored: built-in types, by name.
_FACTORIES: dict[str, Any] = {"list": list, "dict": dict, "set": set, "int": int, "float": float, "str": str}
_MICROSECOND = dt.timedelta(microseconds=1)


class Unstorable(Exception):
    """This value of a supported class cannot be stored (e.g. a defaultdict of a lambda)."""


def _mapping(label: str) -> Callable[[_Walk, Any], object]:
    def encode(walk: _Walk, v: Any) -> object:
        _no_attributes(v)
        return walk.memo(v, lambda mapping: tag(label, walk.enc_dict(mapping)))

    return encode


def _no_attributes(v: Any) -> None:
    if instance_dict(v, type(v)):
        raise Unstorable(f"cannot encode {type_name(type(v))}: its attributes would be lost")


def _enc_defaultdict(walk: _Walk, v: collections.defaultdict[Any, Any]) -> object:
    factory = v.default_factory
    name = next((name for name, made in _FACTORIES.items() if made is factory), None)
    if factory is not None and name is None:
        raise Unstorable("cannot encode defaultdict: its default_factory is not a built-in type (list, dict, set, …)")
    return walk.memo(v, lambda mapping: tag("defaultdict", [name, walk.enc_dict(mapping)]))


def _enc_deque(walk: _Walk, v: collections.deque[Any]) -> object:
    return walk.memo(v, lambda queue: tag("deque", [walk.enc_seq(list(queue), "deque"), queue.maxlen]))


def _enc_timezone(walk: _Walk, v: dt.timezone) -> object:
    offset, *name = cast(tuple[dt.timedelta, ...], v.__reduce__()[1])  # (offset,) or (offset, name given)
    return tag("timezone", [offset // _MICROSECOND, *(text(cast(str, given)) for given in name)])


def _enc_fraction(walk: _Walk, v: Any) -> object:
    return tag("fraction", [walk.enc(v.numerator), walk.enc(v.denominator)])


ENCODERS: dict[type, Callable[[_Walk, Any], object]] = {
    collections.Counter: _mapping("counter"),
    collections.OrderedDict: _mapping("ordereddict"),
    collections.defaultdict: _enc_defaultdict,
    collections.deque: _enc_deque,
    dt.timezone: _enc_timezone,
}


def encoder_for(t: type) -> Callable[[_Walk, Any], object] | None:
    """The encoder of a class psflow does not import itself (fractions): matched once a script has."""
    fractions = sys.modules.get("fractions")
    return _enc_fraction if fractions is not None and t is fractions.Fraction else None


def _counter(v: Any) -> collections.Counter[Any]:
    counter: collections.Counter[Any] = collections.Counter()
    dict.update(counter, want(v, dict))  # Counter.update would add the counts to nothing: the same, but slower
    return counter


def _defaultdict(v: Any) -> collections.defaultdict[Any, Any]:
    name, items = want(v, list)
    if name is not None and want(name, str) not in _FACTORIES:
        raise ValueError(f"no default_factory named {name!r}")
    made: collections.defaultdict[Any, Any] = collections.defaultdict(_FACTORIES[name] if name else None)
    dict.update(made, want(items, dict))
    return made


def _deque(v: Any) -> collections.deque[Any]:
    items, maxlen = want(v, list)
    return collections.deque(want(items, list), None if maxlen is None else want(maxlen, int))


def _timezone(v: Any) -> dt.timezone:
    offset, *name = want(v, list)
    return dt.timezone(dt.timedelta(microseconds=want(offset, int)), *(want(given, str) for given in name))


def _fraction(v: Any) -> object:
    import fractions  # the standard library's, named here: never a module the stored text names

    numerator, denominator = want(v, list)
    return fractions.Fraction(want(numerator, int), want(denominator, int))


DECODERS: dict[str, Callable[[Any], object]] = {
    "counter": _counter,
    "ordereddict": lambda v: collections.OrderedDict(want(v, dict)),
    "defaultdict": _defaultdict,
    "deque": _deque,
    "timezone": _timezone,
    "fraction": _fraction,
}

# How `psflow job` and `logs` show them (stored JSON, never live objects).
SHOW: dict[str, Callable[[Any], object]] = {
    "counter": lambda v: {"__counter__": v},
    "ordereddict": lambda v: {"__ordereddict__": v},
    "defaultdict": lambda v: {"__defaultdict__": want(v, list)[1], "factory": v[0]},
    "deque": lambda v: {"__deque__": want(v, list)[0]},
    "timezone": lambda v: str(_timezone(v)),
    "fraction": lambda v: f"{want(v, list)[0]}/{v[1]}",
}
