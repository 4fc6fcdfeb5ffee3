"""Creating the tables, refusing a database whose schema this psflow does not speak, and
`psflow init`: create the schema, say it is current, or upgrade an older one.

Every command that writes goes through `ensure_schema`, which creates the schema on first use
but never upgrades: an older or newer schema stops the command with what to do. Commands
that only read go through `check_schema`, which creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import Database, DatabaseError, InterfaceError

from psflow.errors import StoreError
from psflow.store.tables import SCHEMA_VERSION, Tables, bind_tables


def ensure_schema(db: Database, tables: Tables) -> None:
    """Create the schema on first use; stop with a clear message on a version mismatch."""
    found = read_version(db, tables)
    if found is None:
        _create(db, tables)
        return
    _check_version(found)


def check_schema(db: Database, tables: Tables, url: str) -> None:
    """For a command that only reads: the schema must be there, and of this psflow's version."""
    from psflow.store.urls import describe, init_command

    found = read_version(db, tables)
    if found is None:
        raise StoreError(f"no psflow tables in {describe(url)} ({init_command(url)} creates them)")
    _check_version(found)


def _create(db: Database, tables: Tables) -> None:
    with db.atomic():
        _take_turns(db)
        db.create_tables(list(tables), safe=True)
        if not tables.schema_version.select().exists():
            tables.schema_version.insert(version=SCHEMA_VERSION).as_rowcount().execute()


def _check_version(found: int) -> None:
    if found < SCHEMA_VERSION:
        raise StoreError(
            f"the database has psflow schema {found}, this psflow needs {SCHEMA_VERSION}: "
            "run `psflow init --upgrade` (after a backup)"
        )
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the database has psflow schema {found}, newer than this psflow's {SCHEMA_VERSION}: "
            "upgrade psflow on this server"
        )


@dataclass(frozen=True)
class SchemaReport:
    """What `psflow init` did to one database."""

    action: str  # "created", "current" or "upgraded"
    version: int  # the schema it has now
    found: int | None = None  # the schema it had (None: none)


def initialize(url: str, *, upgrade: bool = False) -> SchemaReport:
    """Create the psflow schema in the database at `url`, or find it current, or with
    `upgrade` migrate an older one (psflow.store.migrations). Raises StoreError, having
    changed nothing, when the database cannot be used or its schema is older (without
    `upgrade`) or newer than this psflow's."""
    from psflow.store.retry import database_error
    from psflow.store.urls import describe, open_database

    db = open_database(url, folders=True)  # `psflow init` is the set-up command: it makes the folders
    tables = bind_tables(db)
    try:
        db.connect(reuse_if_open=True)
        found = read_version(db, tables)
        if found is None:
            _create(db, tables)
            return SchemaReport("created", SCHEMA_VERSION)
        if found == SCHEMA_VERSION:
            return SchemaReport("current", SCHEMA_VERSION, found)
        if found > SCHEMA_VERSION or not upgrade:
            _check_version(found)
        from psflow.store.migrations import upgrade as migrate

        found, now = migrate(db, tables)
        return SchemaReport("upgraded" if found < now else "current", now, found)
    except (DatabaseError, InterfaceError) as error:
        raise database_error(describe(url), error) from None
    finally:
        db.close()


def _take_turns(db: Database) -> None:
    """Processes creating the schema at once wait for each other where the backend needs it.

    On PostgreSQL two concurrent CREATE TABLE IF NOT EXISTS can fail on its catalog.
    """
    lock = getattr(db, "lock_schema", None)
    if lock is not None:
        lock()


def read_version(db: Database, tables: Tables) -> int | None:
    """The schema version the database has, or None when it has no psflow schema."""
    SchemaVersion = tables.schema_version
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    try:
        row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.id.desc()).first()
    except DatabaseError as error:
        raise StoreError(f"cannot read the psflow schema version: {error}") from None
    if row is None:
        return None
    if type(row.version) is not int:
        raise StoreError(
            f"the psflow schema version in the database is {row.version!r:.40}, not a number psflow writes: "
            "was psflow_schema_version edited?"
        )
    return int(row.version)
