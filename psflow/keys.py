"""The keys block records are stored under, known here and nowhere else.

* a block: its name (`Step1`, `deploy-web1`);
* a call of an `@block` function: its name and arguments, `Fetch(1)`, `Fetch('web1', retries=3)`,
  or `Fetch(#3f2a9c1b5e6d7a80)` (a digest) when they are not a few short literals; identical calls
  are `Fetch(1)#2`, `Fetch(1)#3`, … and a call inside block B is `B/Fetch(1)`. Counts are kept per
  enclosing block, so a replayed block (whose body, calls included, does not run) never shifts
  another call's key;
* a call made by `Deploy.map(items)`: `Deploy[web1]` (its item, when every item of the map is a
  short str or int), `Deploy[3]` (its position, otherwise) or what `key=` gives; scoped and counted
  like other calls (`B/Deploy[web1]`, `Deploy[web1]#2`);
* an input read by `wait_for(NAME)`: `wait_for:NAME`;
* a durable timer: `sleep`, `sleep#2`, … or, inside block B, `B/sleep`, `B/sleep#2`;
* a child job begun by `start()`: `job:start`, `job:start#2`, … (inside block B `B/job:start#2`);
  its default id is `<parent>.<n>` (`child_id`);
* a `wait_jobs()` that returned: `job:wait`, `job:wait#2`, … (inside block B `B/job:wait`).

Jobs begun before calls were keyed by their arguments have `Fetch`, `Fetch#2`, … (call order):
see `order_keyed`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from psflow.domain import ExitKind

MAX_NAME_LENGTH = 255  # the block name column's width on every backend
MAX_CALLABLE_NAME = 160  # an `@block` name: room left for the arguments, a scope and `#N`
WAIT_PREFIX = "wait_for:"
TIMER = "sleep"
START = "job:start"
WAIT_JOBS = "job:wait"
_MARKER = re.compile(r"wait_for:.*|(?:.*/)?(?:sleep|job:start|job:wait)(?:#\d+)?", re.DOTALL)
MAX_JOB_ID = 64  # the job id column's width
_CALL_SHAPED = re.compile(r".*\)(?:#\d+)?", re.DOTALL)  # every call key ends so; no `with block` name may
_MAP_SHAPED = re.compile(r".*\[[^/()\[\]#]+\](?:#\d+)?", re.DOTALL)  # nor end as a map's call key
_NOT_IN_CALLABLE_NAME = "/()[]"
_NOT_IN_ITEM = "/()[]#"  # a mapped item shown in a key: nothing that reads as a scope, a call or a count
_SHOWN_ARGUMENTS = 60  # longer argument lists are shown as a digest
_SHOWN_STR = 40
_DIGEST = 16  # hex digits: 64 bits, so that distinct calls of one function do not meet in practice
_ROOM = 26  # kept free at the end of a scoped key for `#N`


def nth(name: str, count: int) -> str:
    """The key of the `count`-th occurrence of `name` in one attempt: `name`, `name#2`, …"""
    return name if count == 1 else f"{name}#{count}"


def wait_key(input_name: str) -> str:
    return WAIT_PREFIX + input_name


def input_of(key: str) -> str | None:
    """The input name a `wait_for:NAME` key records, or None for any other key."""
    return key[len(WAIT_PREFIX) :] if key.startswith(WAIT_PREFIX) else None


def scoped(enclosing_block: str | None, leaf: str) -> str:
    """`leaf` at top level, `NAME/leaf` inside block NAME (a long NAME shortened with a hash, so the
    key and a `#N` fit)."""
    if enclosing_block is None:
        return leaf
    if len(enclosing_block) + 1 + len(leaf) <= MAX_NAME_LENGTH - _ROOM:
        return f"{enclosing_block}/{leaf}"
    digest = hashlib.sha256(enclosing_block.encode()).hexdigest()[:12]
    return f"{enclosing_block[: MAX_NAME_LENGTH - 43 - len(leaf)]}~{digest}/{leaf}"


def timer_scope(enclosing_block: str | None) -> str:
    """`sleep` at top level, `NAME/sleep` inside block NAME."""
    return scoped(enclosing_block, TIMER)


def start_scope(enclosing_block: str | None) -> str:
    """`job:start` at top level, `NAME/job:start` inside block NAME (counted like timers: `#2`, …)."""
    return scoped(enclosing_block, START)


def wait_jobs_scope(enclosing_block: str | None) -> str:
    """`job:wait` at top level, `NAME/job:wait` inside block NAME."""
    return scoped(enclosing_block, WAIT_JOBS)


def child_id(parent: str, key: str) -> str:
    """The default id of the child job that `start()` record `key` begins: `<parent>.<n>` for the n-th
    start() at top level, `<parent>.<digest>-<n>` inside a block (a replayed block's start() calls do
    not run, so counts are kept per block); shortened with a digest to fit MAX_JOB_ID."""
    scope, _, count = key.rpartition("#")
    if not count.isdigit():
        scope, count = key, "1"
    leaf = count if scope == START else f"{hashlib.sha256(scope.encode()).hexdigest()[:8]}-{count}"
    chosen = f"{parent}.{leaf}"
    if len(chosen) <= MAX_JOB_ID:
        return chosen
    digest = hashlib.sha256(chosen.encode()).hexdigest()[:12]
    return f"{parent[: MAX_JOB_ID - 14]}.{digest}"


def is_marker(key: str) -> bool:
    """Is `key` a wait_for, timer, start or wait_jobs record rather than a block's?"""
    return _MARKER.fullmatch(key) is not None


# ---- calls of @block functions ------------------------------------------------------


def callable_name_problem(name: str) -> str | None:
    """Why `name` cannot name an `@block` function (its keys would be ambiguous or too long), or None."""
    if len(name) > MAX_CALLABLE_NAME:
        return f"is longer than {MAX_CALLABLE_NAME} characters: its calls' keys add their arguments"
    if any(char in name for char in _NOT_IN_CALLABLE_NAME):
        return (
            "contains '/', '(', ')', '[' or ']': its calls are keyed `Name(arguments)` (`Name[item]` by map), "
            "inside block B `B/Name(arguments)`"
        )
    return None


def block_name_problem(name: str) -> str | None:
    """Why `name` cannot name a `with block` (it would look like a call's key), or None."""
    if name.endswith(")") or (")#" in name and _CALL_SHAPED.fullmatch(name)):  # the regex only when it may match
        return "ends in ')' or ')#N': that form is kept for the keys of @block calls (`Fetch(1)`, `Fetch(1)#2`)"
    if (name.endswith("]") or "]#" in name) and _MAP_SHAPED.fullmatch(name):
        return "ends in '[item]' or '[item]#N': that form is kept for the keys of map calls (`Deploy[web1]`)"
    return None


def call_leaf(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], canonical: Callable[[], str]) -> str:
    """`Fetch(1)`, `Fetch('web1', retries=3)` when the arguments are a few short literals, else
    `Fetch(#<digest of canonical()>)`: the text of the arguments as psflow.runtime.call_keys encodes them."""
    shown = _literals(args, kwargs)
    if shown is not None and len(shown) <= _SHOWN_ARGUMENTS:
        return f"{name}({shown})"
    return f"{name}(#{hashlib.sha256(canonical().encode()).hexdigest()[:_DIGEST]})"


def is_call_of(key: str, name: str) -> bool:
    """Could `key` be the key of a call of `@block` `name`, in any scope (or from an earlier psflow
    that keyed calls `name`, `name#2`, …)?"""
    return re.fullmatch(rf"(?:.*/)?{re.escape(name)}(?:\(.*\)|\[.*\])?(?:#\d+)?", key, re.DOTALL) is not None


def map_leaves(name: str, labels: list[Any] | None, size: int) -> list[str]:
    """The keys of a map's calls without scope or `#N`: `Deploy[web1]` by label (`key=`'s, or the
    items themselves), else `Deploy[0]`, `Deploy[1]`, … by position. Labels that are not all short
    str/int or not all distinct key by position; see map_label_problem for `key=`'s own."""
    if labels is not None:
        shown = [_item_text(label) for label in labels]
        if None not in shown and len(set(shown)) == len(shown):
            return [f"{name}[{text}]" for text in shown]
    return [f"{name}[{index}]" for index in range(size)]


def map_label_problem(labels: list[Any]) -> str | None:
    """Why the labels `key=` gave cannot key a map's calls (one is not a short str/int, or two are
    the same), or None."""
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        text = _item_text(label)
        if text is None:
            return (
                f"key= gave {label!r} for item {index}: a key must be an int, or a str of 1 to {_SHOWN_STR} "
                f"printable characters without any of {_NOT_IN_ITEM!r}"
            )
        if text in seen:
            return f"key= gave {text!r} for items {seen[text]} and {index}: each call needs its own key"
        seen[text] = index
    return None


def _item_text(value: Any) -> str | None:
    """How a map item (or key= label) is shown in its call's key: `web1`, `3`; None if it cannot be."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is not str or not 0 < len(value) <= _SHOWN_STR or not value.isprintable() or value != value.strip():
        return None
    return None if any(char in value for char in _NOT_IN_ITEM) else value


def order_keyed(name: str, completed: dict[str, Any]) -> bool:
    """Was this job begun by a psflow that keyed calls of `@block` `name` in call order (`name`,
    `name#2`, …)? Its first call's record is named `name` then: a call record (no fingerprint, a
    return). Such a job keeps order keys for `name` (a new key would run its calls again)."""
    record = completed.get(name)
    return (
        record is not None
        and record.fingerprint is None
        and record.exit_kind == ExitKind.RETURN
        and not is_marker(name)
    )


def _literals(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """`1, 'web1', retries=3` when every argument is a short str, int, bool or None; else None."""
    parts: list[str] = []
    for value in (*args, *kwargs.values()):
        kind = type(value)
        if kind is str:
            if len(value) > _SHOWN_STR or not value.isprintable():
                return None
        elif value is not None and kind is not int and kind is not bool:
            return None
        parts.append(repr(value))
    named = sorted(f"{key}={part}" for key, part in zip(kwargs, parts[len(args) :], strict=True))
    return ", ".join(parts[: len(args)] + named)
