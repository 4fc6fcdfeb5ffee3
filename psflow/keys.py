"""The keys block records are stored under, known here and nowhere else.

* a block: its name (`Step1`, `deploy-web1`);
* a call of an `@block` function: `Name`, then `Name#2`, `Name#3`, … in call order;
* an input read by `wait_for(NAME)`: `wait_for:NAME`;
* a durable timer: `sleep`, `sleep#2`, … or, inside block B, `B/sleep`, `B/sleep#2`.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 255  # the block name column's width on every backend
WAIT_PREFIX = "wait_for:"
TIMER = "sleep"
_MARKER = re.compile(r"wait_for:.*|(?:.*/)?sleep(?:#\d+)?", re.DOTALL)
_OCCURRENCE = re.compile(r"#\d+$")


def nth(name: str, count: int) -> str:
    """The key of the `count`-th occurrence of `name` in one attempt: `name`, `name#2`, …"""
    return name if count == 1 else f"{name}#{count}"


def base_name(key: str) -> str:
    """`Fetch` for `Fetch#3`: the name an occurrence key was made from."""
    return _OCCURRENCE.sub("", key)


def wait_key(input_name: str) -> str:
    return WAIT_PREFIX + input_name


def input_of(key: str) -> str | None:
    """The input name a `wait_for:NAME` key records, or None for any other key."""
    return key[len(WAIT_PREFIX) :] if key.startswith(WAIT_PREFIX) else None


def timer_scope(enclosing_block: str | None) -> str:
    """`sleep` at top level, `NAME/sleep` inside block NAME (a long NAME shortened with a hash, so the key fits)."""
    if enclosing_block is None:
        return TIMER
    if len(enclosing_block) <= MAX_NAME_LENGTH - 32:
        return f"{enclosing_block}/{TIMER}"
    digest = hashlib.sha256(enclosing_block.encode()).hexdigest()[:12]
    return f"{enclosing_block[: MAX_NAME_LENGTH - 48]}~{digest}/{TIMER}"


def is_marker(key: str) -> bool:
    """Is `key` a wait_for or timer record rather than a block's?"""
    return _MARKER.fullmatch(key) is not None
