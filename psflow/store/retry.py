"""Database trouble that passes: a Store call is tried again, whole, until a deadline.

A SQLite file locked by another process beyond the busy timeout, a PostgreSQL server
restarting, a connection reset: each Store method is one unit (one statement, or one
transaction that its `atomic()` rolled back), so trying the whole call again is safe and
every write is fenced again when it runs again. The backend says which of its errors
pass (`trouble`: BUSY or DISCONNECTED, None for the rest). A lost connection is retried
only once the store had one: a server that never answered is refused at once. Anything
else (disk full, a corrupt file, a read-only database) is not retried.

How long: PSFLOW_DB_RETRY_SECONDS (default 30), counted from the call's start.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Protocol, TypeVar

from peewee import DatabaseError, InterfaceError

from psflow.clock import Clock
from psflow.errors import StoreError

ENV_RETRY = "PSFLOW_DB_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 30.0
BUSY = "locked"  # another session holds what this one needs: the same connection may try again
DISCONNECTED = "unreachable"  # the connection is gone: open a new one and try again
_FIRST_DELAY, _MAX_DELAY = 0.05, 2.0  # seconds: backoff doubles between these

_Result = TypeVar("_Result")


class TroubledDatabase(Protocol):
    def trouble(self, error: BaseException) -> str | None: ...
    def in_transaction(self) -> bool: ...
    def close(self) -> bool: ...


def configured_seconds() -> float:
    """PSFLOW_DB_RETRY_SECONDS, or the default; a value that is not a number ≥ 0 is refused."""
    text = os.environ.get(ENV_RETRY, "").strip()
    if not text:
        return DEFAULT_RETRY_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise StoreError(f"{ENV_RETRY} must be a number of seconds (0 or more), not {text!r}")
    return seconds


def retrying(
    unit: Callable[[], _Result],
    db: TroubledDatabase,
    *,
    where: str,
    seconds: float,
    clock: Clock,
    connected: Callable[[], bool],
    notice: Callable[[str], None] | None,
) -> _Result:
    """`unit()`, tried again with backoff while the database is in passing trouble, for at most
    `seconds`; then, or for any other database error, a one-line StoreError."""
    deadline = clock.monotonic() + seconds
    delay, noted = _FIRST_DELAY, False
    while True:
        try:
            return unit()
        except (DatabaseError, InterfaceError) as error:
            kind = db.trouble(error)
            if kind is None or db.in_transaction() or (kind == DISCONNECTED and not connected()):
                raise database_error(where, error) from None
            left = deadline - clock.monotonic()
            if left <= 0:
                raise StoreError(
                    f"database {where} stayed {kind} for {seconds:g} s ({first_line(error)}): "
                    f"{_ADVICE[kind]}; psflow waits up to {ENV_RETRY} seconds"
                ) from None
            if notice is not None and not noted:
                notice(f"database {where} is {kind} ({first_line(error)}); trying again for up to {seconds:g} s")
                noted = True
            if kind == DISCONNECTED:
                _drop_connection(db)
            clock.sleep(min(delay, left))
            delay = min(delay * 2, _MAX_DELAY)


_ADVICE = {
    BUSY: "another process holds it; try again when it is done",
    DISCONNECTED: "check the server; a job it was running can be resumed once it is back",
}


def database_error(where: str, error: BaseException) -> StoreError:
    """The driver's error as a StoreError: which database, and the first line of what it said."""
    return StoreError(f"cannot use database {where}: {first_line(error)}")


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def driver_error(error: BaseException) -> BaseException:
    """The driver's own exception under peewee's (peewee keeps it as `orig`, and may wrap its own
    error again: a failed connect inside a statement)."""
    while getattr(error, "orig", None) is not None:
        error = error.orig
    return error


def _drop_connection(db: TroubledDatabase) -> None:
    """Close the dead connection; peewee opens a new one for the next statement. Closing a
    connection the server already dropped may fail: it is gone either way."""
    with contextlib.suppress(Exception):
        db.close()
