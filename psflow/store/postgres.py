"""PostgreSQL: the shared database for many servers."""

from __future__ import annotations

from peewee import PostgresqlDatabase

from psflow.store.errors import StoreError


def open_postgres(url: str) -> PostgresqlDatabase:
    """A PostgresqlDatabase for a `postgresql://user:pass@host:port/db` URL."""
    try:
        import psycopg2  # noqa: F401 - only to say which extra is missing
    except ImportError:
        raise StoreError(
            "PostgreSQL needs the psycopg2 driver: pip install 'psflow[postgres]'"
        ) from None
    from playhouse.db_url import connect

    return connect(url)
