"""What identifies a call of an `@block` function: its name and its arguments as the codec encodes
them, made canonical so that equal arguments give the same key in every process and Python version."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psflow import codec, keys
from psflow.codec.lookup import type_name

if TYPE_CHECKING:
    from psflow.runtime.lanes import Lanes
    from psflow.store import BlockRecord

_UNENCODABLE = "unencodable"  # a tag the codec never writes: an argument known only by its type


def call_leaf(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, list[str]]:
    """The call's key without scope or `#N` (`Fetch(1)`, `Fetch(#3f2a…)`), and the type names of the
    arguments the codec cannot encode: calls are told apart by their type only."""
    unencodable: list[str] = []

    def canonical() -> str:  # json.dumps of {"args": [...], "kwargs": {...}} with sorted keys, built from parts
        positional = ",".join(_argument(value, unencodable) for value in args)
        named = ",".join(f"{_text(key)}:{_argument(kwargs[key], unencodable)}" for key in sorted(kwargs))
        return f'{{"args":[{positional}],"kwargs":{{{named}}}}}'

    return keys.call_leaf(name, args, kwargs, canonical), unencodable


class CallKeys:
    """The keys of an Attempt's `@block` calls (a mixin: the attempt provides its records and lanes)."""

    completed: dict[str, BlockRecord]
    lanes: Lanes
    _order_keyed: dict[str, bool]
    _warned_calls: set[str]

    if TYPE_CHECKING:

        def _tell(self, kind: str, where: tuple[str, int], message: str) -> None: ...

    def call_key(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], where: tuple[str, int]) -> str:
        """The key of a call of `@block` `name`: `Fetch(1)`, `B/Fetch(1)` inside block B, `#2`, … for
        identical calls in one block (psflow.keys) — or, in a job begun by an earlier psflow, `Fetch#2`."""
        order_keyed = self._order_keyed.get(name)
        if order_keyed is None:
            order_keyed = self._order_keyed[name] = keys.order_keyed(name, self.completed)
            if order_keyed:
                self._tell(
                    "note",
                    where,
                    f"@block {name!r}: this job's calls were recorded by an earlier psflow in call order "
                    f"({name!r}, {name + '#2'!r}, …): they keep that order here; new jobs key calls by their arguments",
                )
        if order_keyed:
            base = name
        else:
            leaf, unencodable = call_leaf(name, args, kwargs)
            if unencodable and name not in self._warned_calls:
                self._warned_calls.add(name)
                self._tell(
                    "warning",
                    where,
                    f"@block {name!r}: an argument of type {', '.join(dict.fromkeys(unencodable))} cannot "
                    "be encoded, so calls are told apart by its type only: calls alike but for it are matched "
                    "in call order on replay",
                )
            base = keys.scoped(self.lanes.scope(), leaf)
        calls = self.lanes.current().calls
        count = calls.get(base, 0) + 1
        calls[base] = count
        return keys.nth(base, count)

    def map_keys(self, leaves: list[str]) -> list[str]:
        """The keys of a map's calls, scoped and counted in the calling thread like other calls."""
        lane, scope = self.lanes.current(), self.lanes.scope()
        found = []
        for leaf in leaves:
            base = keys.scoped(scope, leaf)
            count = lane.calls.get(base, 0) + 1
            lane.calls[base] = count
            found.append(keys.nth(base, count))
        return found


def _argument(value: Any, unencodable: list[str]) -> str:
    """The argument's canonical JSON text (for one the codec cannot encode: its type's name)."""
    try:
        text = codec.encode(value, check=False)
    except codec.UnsupportedValue:
        unencodable.append(type_name(type(value)))
        return _text({codec.TAG: _UNENCODABLE, "v": type_name(type(value))})
    if "{" not in text and text.isascii():  # no dict, no tag: already what _text would write
        return text
    data = json.loads(text)
    return _text(_Canonical().walk(data) if codec.TAG in text else data)


class _Canonical:
    """The codec's data made canonical: dicts by key, sets and tagged dicts by item, and shared
    objects written out in full, so equal arguments give equal data however they were built."""

    def __init__(self) -> None:
        self.shared: dict[int, object] = {}  # `shared` objects by number, for the `ref`s after them

    def walk(self, data: object) -> object:
        if type(data) is list:
            return [self.walk(item) for item in data]
        if type(data) is not dict:
            return data
        if codec.TAG not in data:
            return {key: self.walk(value) for key, value in data.items()}
        label, payload = data[codec.TAG], data["v"]
        if label == "shared":
            number, inner = payload
            self.shared[number] = out = self.walk(inner)
            return out
        if label == "ref":
            return self.shared[payload]
        out = self.walk(payload)
        if label in ("set", "frozenset", "dict") and isinstance(out, list):  # order is not part of their value
            out = sorted(out, key=_text)
        return {codec.TAG: label, "v": out}


def _text(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
