"""Creating the tables, and refusing a database whose schema this psflow does not speak."""

from __future__ import annotations

from peewee import Database, DatabaseError

from psflow.store.errors import StoreError
from psflow.store.models import MODELS, SCHEMA_VERSION, SchemaVersion


def ensure_schema(db: Database) -> None:
    """Create the schema on first use; stop with a clear message on a version mismatch."""
    found = _read_version(db)
    if found is None:
        with db.atomic():
            _take_turns(db)
            db.create_tables(MODELS, safe=True)
            if not SchemaVersion.select().exists():
                SchemaVersion.create(version=SCHEMA_VERSION)
        return
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


def _take_turns(db: Database) -> None:
    """Processes creating the schema at once wait for each other where the backend needs it.

    On PostgreSQL two concurrent CREATE TABLE IF NOT EXISTS can fail on its catalog.
    """
    lock = getattr(db, "lock_schema", None)
    if lock is not None:
        lock()


def _read_version(db: Database) -> int | None:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    try:
        row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.id.desc()).first()
    except DatabaseError as error:
        raise StoreError(f"cannot read the psflow schema version: {error}") from None
    return row.version if row else None
