"""The shape of stored values: `{"$t": tag, "v": payload}`, and checks on payloads read back."""

from __future__ import annotations

import json
from typing import Any

TAG = "$t"
MISSING: Any = object()
_PLAIN = json.JSONDecoder()


def tag(name: str, payload: object) -> dict[str, object]:
    return {TAG: name, "v": payload}


def untagged(text: str) -> bool:
    """Whether `text` cannot hold a tag (a \\u escape could spell "$t"), so it needs no object hook."""
    return TAG not in text and "\\u" not in text


def loads(decoder: json.JSONDecoder, text: str) -> object:
    """decoder.decode(text), without json's two whitespace matches when there is no whitespace
    around the value (as encode writes it): decoding is on the replay hot path."""
    try:
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
    except StopIteration:  # leading whitespace, or not JSON: json says which
        end = -1
    return value if end == len(text) else decoder.decode(text)


def plain(text: str) -> object:
    return loads(_PLAIN, text)


def want(value: Any, kind: type) -> Any:
    """Forged payloads of the wrong type fail here, before anything uses them."""
    if type(value) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def ints(value: Any, count: int) -> list[int]:
    if len(want(value, list)) != count or any(type(x) is not int for x in value):
        raise TypeError(f"expected a list of {count} ints")
    return value  # type: ignore[no-any-return]


def has_surrogate(value: str) -> bool:
    """Whether `value` holds a lone surrogate (os.listdir's stand-in for a byte that is not UTF-8):
    it is not valid Unicode, and database drivers refuse it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text(value: str) -> object:
    """A str as stored: itself, or, with a lone surrogate, text pieces and code points
    ("caf\\udce9" -> ["caf", 56553]) that any database stores."""
    if value.isascii() or not has_surrogate(value):
        return value
    pieces: list[str | int] = []
    start = 0
    for i, char in enumerate(value):
        if "\ud800" <= char <= "\udfff":
            pieces.extend([value[start:i], ord(char)] if start < i else [ord(char)])
            start = i + 1
    if start < len(value):
        pieces.append(value[start:])
    return tag("str", pieces)
