"""The shape of stored values: `{"$t": tag, "v": payload}`, and checks on payloads read back."""

from __future__ import annotations

import json
import re
from typing import Any

TAG = "$t"
MISSING: Any = object()
# A lone surrogate (os.listdir's stand-in for a byte that is not UTF-8) is not valid Unicode:
# database drivers refuse it, so a str holding one is stored as text pieces and code points.
SURROGATE = re.compile("([\ud800-\udfff])")
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


def text(value: str) -> object:
    """A str as stored: itself, or, with a lone surrogate, text pieces and code points
    ("caf\\udce9" -> ["caf", 56553]) that any database stores."""
    if value.isascii() or SURROGATE.search(value) is None:
        return value
    return tag("str", [ord(piece) if i % 2 else piece for i, piece in enumerate(SURROGATE.split(value)) if piece])
