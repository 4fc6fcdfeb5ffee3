"""Reading `Key=Value;Key=Value`, and what the three backends' readers share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from psflow.errors import StoreError

TRUE = ("true", "yes", "1", "sspi")
FALSE = ("false", "no", "0")
#: The forms a connection string can take, for messages.
FORMS = (
    "Data Source=FILE (SQLite), Server=HOST,PORT;Database=DB;User Id=USER;Password=PASSWORD (SQL Server), "
    "Host=HOST;Database=DB;Username=USER;Password=PASSWORD (PostgreSQL), or a URL "
    "(sqlite:///PATH, postgresql://…, mssql://…)"
)


class ConnectionStringError(StoreError):
    """A connection string psflow cannot read, or one for a database it does not support."""


@dataclass(frozen=True)
class Connection:
    """What a connection string names: the psflow URL, the backend, and the keys left unused."""

    url: str
    backend: str  # "sqlite", "postgres" or "mssql"
    ignored: tuple[str, ...] = ()  # keys as the user wrote them, with no meaning for psflow


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """`Key=Value;…` as (key, value) pairs, keys as written. Values may be quoted:
    '…' or "…" (the quote doubled inside) or ODBC {…} (`}}` inside); a bare value ends at `;`."""
    pairs: list[tuple[str, str]] = []
    position, size = 0, len(text)
    while position < size:
        while position < size and (text[position].isspace() or text[position] == ";"):
            position += 1
        if position >= size:
            break
        equals = text.find("=", position)
        stop = text.find(";", position)
        if equals < 0 or (0 <= stop < equals):
            raise ConnectionStringError(
                f"cannot read the connection string: part {len(pairs) + 1}{_after(pairs)} is not KEY=VALUE "
                "(a value that contains ';' must be quoted: Password='a;b')"
            )
        key = text[position:equals].strip()
        if not key:
            raise ConnectionStringError(
                f"cannot read the connection string: part {len(pairs) + 1} has no key before '='"
            )
        value, position = _value(text, equals + 1, key)
        pairs.append((key, value))
    if not pairs:
        raise ConnectionStringError(f"empty connection string; give {FORMS}")
    return pairs


def _after(pairs: list[tuple[str, str]]) -> str:
    return f" (after {pairs[-1][0]}=…)" if pairs else ""


def _value(text: str, position: int, key: str) -> tuple[str, int]:
    """The value starting at `position` (spaces before it skipped) and where the next part starts."""
    size = len(text)
    while position < size and text[position] in " \t":
        position += 1
    if position >= size or text[position] not in "'\"{":
        stop = text.find(";", position)
        stop = size if stop < 0 else stop
        return text[position:stop].strip(), stop + 1
    opening = text[position]
    closing = "}" if opening == "{" else opening
    chars: list[str] = []
    position += 1
    while True:
        if position >= size:
            raise ConnectionStringError(
                f"cannot read the connection string: the value of {key} has no closing {closing}"
            )
        char = text[position]
        if char == closing:
            if position + 1 < size and text[position + 1] == closing:  # doubled: the character itself
                chars.append(char)
                position += 2
                continue
            position += 1
            break
        chars.append(char)
        position += 1
    while position < size and text[position] in " \t":
        position += 1
    if position < size and text[position] != ";":
        raise ConnectionStringError(
            f"cannot read the connection string: text after the quoted value of {key} (missing ';'?)"
        )
    return "".join(chars), position + 1


def normalize_key(key: str) -> str:
    """`User Id`, `UserID`, `user_id` → `userid`: how keys are compared."""
    return re.sub(r"[\s_]+", "", key).lower()


def quoted(text: str) -> str:
    """Percent-encode everything but unreserved characters: safe in any URL part."""
    return quote(text, safe="")


def bracketed_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
