"""Which database a URL (or a bare path) names, and the default one."""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from psflow.errors import StoreError

SCHEMES = (
    "sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DB, "
    "mssql://USER:PASSWORD@HOST:PORT/DB, or a file path"
)


def default_url() -> str:
    """The embedded default: a SQLite file in the user's data folder."""
    from platformdirs import user_data_path

    folder = user_data_path("psflow", appauthor=False, ensure_exists=True)
    return f"sqlite:///{folder / 'psflow.sqlite'}"


def open_database(url: str) -> Database:
    """A peewee Database for `url`; raises StoreError with what to write instead."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not url.strip():
            raise StoreError(f"empty database URL; use {SCHEMES}")
        from psflow.store.backends.sqlite import open_sqlite

        return open_sqlite(url)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"bad SQLite URL {url!r}: write sqlite:///relative/path or sqlite:////absolute/path")
        from psflow.store.backends.sqlite import open_sqlite

        path, _, query = rest[1:].partition("?")
        return open_sqlite(path, query)
    if scheme in ("postgresql", "postgres"):
        from psflow.store.backends.postgres import open_postgres

        return open_postgres(url)
    if scheme in ("mssql", "mssql+pytds", "mssql+pyodbc"):
        from psflow.store.backends.mssql import open_mssql

        return open_mssql(url)
    raise StoreError(f"unsupported database URL {mask_password(url)!r}; use {SCHEMES}")


def mask_password(url: str) -> str:
    """`scheme://user:***@host/db`: safe to print."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not (sep and at and ":" in credentials):
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def describe(url: str) -> str:
    """Where the data is, for messages: a path for SQLite, a masked URL otherwise."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return str(Path(url).expanduser())
    if scheme.lower() == "sqlite":
        return rest[1:].partition("?")[0]
    return mask_password(url)
