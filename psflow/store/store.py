"""Store: one database, its own connection and its own copies of psflow's tables.

Everything psflow reads or writes goes through a Store; what comes out are views
(psflow.store.views), never peewee rows. Every public method turns the
database's own errors into StoreError here, in one place, with the database
named and the driver's first line of explanation.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from peewee import Database, DatabaseError, InterfaceError

from psflow.clock import SYSTEM_CLOCK, Clock
from psflow.errors import StoreError
from psflow.store.blocks import BlockQueries
from psflow.store.changes import ChangeQueries
from psflow.store.inputs import InputQueries
from psflow.store.jobs import JobQueries
from psflow.store.tables import bind_tables
from psflow.store.urls import describe
from psflow.store.workflows import WorkflowQueries

_Method = TypeVar("_Method", bound=Callable[..., Any])


class Store(JobQueries, BlockQueries, InputQueries, WorkflowQueries, ChangeQueries):
    """psflow's jobs, attempts, block runs, inputs and workflows in one database.

    It connects, and checks (or on first use creates) the schema, when it is first
    used: whatever is refused before that never touches the database. Use it as a
    context manager (or call `close`) to close its connection.
    """

    def __init__(self, db: Database, url: str, *, clock: Clock = SYSTEM_CLOCK, create: bool = True) -> None:
        self.db, self.url, self.clock, self.create = db, url, clock, create
        self.tables = bind_tables(db)
        self._prepare_block_statements()
        self._ready = False

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

    @property
    def where(self) -> str:
        """The database for messages: a path for SQLite, a URL with its password masked otherwise."""
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


def database_error(where: str, error: BaseException) -> StoreError:
    """The driver's error as a StoreError: which database, and the first line of what it said."""
    text = str(error).strip()
    return StoreError(f"cannot use database {where}: {text.splitlines()[0] if text else type(error).__name__}")


def _translated(method: _Method) -> _Method:
    @functools.wraps(method)
    def call(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            if not self._ready:
                self._ensure_ready()
            return method(self, *args, **kwargs)
        except (DatabaseError, InterfaceError) as error:
            raise database_error(self.where, error) from None

    return call


for _name, _method in inspect.getmembers(Store, inspect.isfunction):
    if not _name.startswith("_") and _name != "close":
        setattr(Store, _name, _translated(_method))
