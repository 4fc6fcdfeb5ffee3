"""Store: one database, its own connection and its own copies of psflow's tables.

Everything psflow reads or writes goes through a Store; what comes out are views
(psflow.store.views), never peewee rows. Every public method is one unit of work:
here, in one place, it is tried again while the database is in passing trouble
(psflow.store.retry), and the database's own errors become StoreError, with the
database named and the driver's first line of explanation.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from peewee import Database, DatabaseError, InterfaceError

from psflow.clock import SYSTEM_CLOCK, Clock
from psflow.errors import EditedRow, StoreError
from psflow.store.blocks import BlockQueries
from psflow.store.changes import ChangeQueries
from psflow.store.children import ChildQueries
from psflow.store.inputs import InputQueries
from psflow.store.job_lookups import JobLookups
from psflow.store.jobs import JobQueries
from psflow.store.prebuilt import PrebuiltStatements
from psflow.store.queries import AGAIN
from psflow.store.queues import QueueQueries
from psflow.store.retry import DEFAULT_RETRY_SECONDS, first_line, retrying
from psflow.store.tables import bind_tables
from psflow.store.urls import describe
from psflow.store.workflows import WorkflowQueries

_Method = TypeVar("_Method", bound=Callable[..., Any])
_UNDECODABLE = "Could not decode to UTF-8"  # what the sqlite3 module says of such text as it reads it


class Store(
    JobQueries, JobLookups, BlockQueries, InputQueries, WorkflowQueries, ChangeQueries, QueueQueries, ChildQueries
):
    """psflow's jobs, attempts, block runs, inputs and workflows in one database.

    It connects, and checks (or on first use creates) the schema, when it is first
    used: whatever is refused before that never touches the database. Use it as a
    context manager (or call `close`) to close its connection.

    `retry_seconds`: how long a call is tried again while the database is locked or
    unreachable; `notice` is told, once per call, that it is being tried again.
    """

    def __init__(
        self,
        db: Database,
        url: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        create: bool = True,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.url, self.clock, self.create = db, url, clock, create
        self.retry_seconds, self.notice = retry_seconds, notice
        self.tables = bind_tables(db)
        self.prebuilt = PrebuiltStatements(db, self.tables)
        self._prepare_block_statements()
        self._ready = False
        self._calling = threading.local()  # set while this thread is inside a public method

    def _ensure_ready(self) -> None:
        """Connect and make sure the schema fits (once), creating it unless this store only
        reads (`create=False`); StoreError says what to do if not."""
        if self._ready:
            return
        from psflow.store.schema import check_schema, ensure_schema

        self.db.connect(reuse_if_open=True)
        if self.create:
            ensure_schema(self.db, self.tables)
        else:
            check_schema(self.db, self.tables, self.url)
        self._ready = True

    @functools.cached_property
    def where(self) -> str:
        """The database for messages: a path for SQLite, a URL with its password masked otherwise
        (worked out once: every call passes it along in case it fails)."""
        return describe(self.url)

    def close(self) -> None:
        """Close this thread's connection (a closed store reconnects if used again)."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<psflow Store {self.where}>"


def _translated(method: _Method) -> _Method:
    """The public method as one unit: the outermost call in a thread retries and translates."""

    @functools.wraps(method)
    def call(self: Store, *args: Any, **kwargs: Any) -> Any:
        calling = self._calling
        if getattr(calling, "active", False):  # called by another public method: that one retries
            return method(self, *args, **kwargs)
        kept: dict[str, Any] = {}  # what the call's tries keep between them (Queries._kept)

        def unit() -> Any:
            if not self._ready:
                self._ensure_ready()
            try:
                return method(self, *args, **kwargs)
            except (DatabaseError, InterfaceError):
                kept[AGAIN] = True  # if tried again, the next try is a later one
                raise

        calling.active, calling.kept = True, kept
        try:
            return retrying(
                unit,
                self.db,
                where=self.where,
                seconds=self.retry_seconds,
                clock=self.clock,
                connected=lambda: self._ready,
                notice=self.notice,
            )
        except UnicodeEncodeError as error:  # a lone surrogate: a file or folder name's byte that is not UTF-8
            text = error.object if isinstance(error.object, str) else str(error.object)
            raise StoreError(
                f"cannot store {text[:80]!r}: it holds a character no database keeps (a file or folder name's "
                "byte that is not UTF-8); rename it, or give psflow another"
            ) from None
        except Exception as error:  # bytes in a text column, that SQLite keeps whatever anyone put there
            if not isinstance(error, UnicodeDecodeError) and _UNDECODABLE not in str(error):
                raise
            raise EditedRow(
                f"database {self.where} holds text that is not UTF-8 ({first_line(error)}): was a row edited?"
            ) from None
        finally:
            calling.active = False

    return call


for _name, _method in inspect.getmembers(Store, inspect.isfunction):
    if not _name.startswith("_") and _name != "close":
        setattr(Store, _name, _translated(_method))
