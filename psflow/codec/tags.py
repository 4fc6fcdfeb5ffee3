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
# No dict in a plain text can be a tag: such text needs no object hook (a \u escape could spell "$t").
PLAIN = json.JSONDecoder()


def tag(name: str, payload: object) -> dict[str, object]:
    return {TAG: name, "v": payload}


def untagged(text: str) -> bool:
    """Whether `text` cannot hold a tag, so plain JSON decoding gives the value."""
    return TAG not in text and "\\u" not in text


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
