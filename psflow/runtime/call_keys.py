"""What identifies a call of an `@block` function: its name and its arguments as the codec encodes
them, made canonical so that equal arguments give the same key in every process and Python version."""

from __future__ import annotations

import json
from typing import Any

from psflow import codec, keys
from psflow.codec.lookup import type_name

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
