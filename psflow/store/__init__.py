"""Everything SQL: connecting from a URL, the schema, and JobStore's reads and writes.

Knows nothing of libcst or of how scripts run.
"""

from __future__ import annotations

from peewee import DatabaseError, InterfaceError

from psflow.store.errors import AmbiguousJob, StoreError, UnknownJob
from psflow.store.jobs import FINAL_STATUSES, BlockRecord, JobStore
from psflow.store.models import database
from psflow.store.schema import ensure_schema
from psflow.store.urls import default_url, describe, mask_password, open_database

__all__ = [
    "FINAL_STATUSES",
    "AmbiguousJob",
    "BlockRecord",
    "JobStore",
    "StoreError",
    "UnknownJob",
    "default_url",
    "describe",
    "mask_password",
    "open_store",
]


def open_store(url: str | None) -> JobStore:
    """Connect to `url` (or the default SQLite file), make sure the schema fits, and wrap it."""
    url = url or default_url()
    db = open_database(url)
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
        ensure_schema(db)
    except (DatabaseError, InterfaceError) as error:
        db.close()
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(f"cannot use database {describe(url)}: {reason}") from None
    return JobStore(db)
