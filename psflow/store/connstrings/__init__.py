"""Connection strings as PowerShell and .NET users write them, turned into psflow URLs.

Accepted, and what each becomes:

* URLs: `sqlite:///path`, `postgresql://…` (or `postgres://`), `mssql://…`
  (`mssql+pytds://`, `mssql+pyodbc://`): kept as they are.
* ADO.NET / ODBC keyword strings (`Key=Value;Key=Value`, keys case-insensitive and
  blind to spaces and underscores, values in '…', "…" or ODBC {…} when they hold `;`):
  - SQLite (System.Data.SQLite, Microsoft.Data.Sqlite): `Data Source=./bin/SQLDb.sqlite;`
    → `sqlite:///./bin/SQLDb.sqlite`;
  - SQL Server (SqlClient, ODBC, OLE DB): `Server=host,1433;Database=psflow;User Id=u;
    Password=p;Encrypt=True` → `mssql://u:p@host:1433/psflow?encrypt=yes`
    (`mssql+pyodbc://…` when the string names an ODBC `Driver`);
  - PostgreSQL (Npgsql): `Host=h;Port=5432;Database=d;Username=u;Password=p`
    → `postgresql://u:p@h:5432/d`.
* A bare path, only where the caller says it is SQLite (`psflow init --sqlite PATH`).

Pure text in, text out: nothing here opens a database. Keys psflow has no use for
(connection pooling, MARS, …) are returned as `ignored` so the caller can say so;
unknown keys are errors, so a misspelt `Pasword` is not silently dropped.
Messages never repeat a value, since it may be a password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from psflow.store.connstrings import postgres, sqlite, sqlserver
from psflow.store.connstrings.keywords import FORMS, Connection, ConnectionStringError, normalize_key, parse_pairs

__all__ = [
    "BACKENDS",
    "Connection",
    "ConnectionStringError",
    "absolute_sqlite_url",
    "detect",
    "normalize_key",
    "parse_pairs",
    "to_url",
    "written_as_pairs",
]

BACKENDS = ("sqlite", "postgres", "mssql")
_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mssql": "SQL Server"}
_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mssql": "mssql",
    "mssql+pytds": "mssql",
    "mssql+pyodbc": "mssql",
}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".db3", ".s3db", ".sl3")


def to_url(text: str, backend: str | None = None) -> Connection:
    """The psflow URL for `text`; `backend` (from --sqlite/--postgres/--mssql) or detection says which."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    text = text.strip()
    if not text.strip(";"):
        raise ConnectionStringError(f"empty connection string; give {FORMS}")
    scheme = _URL.match(text)
    if scheme:
        return _from_url(text, scheme.group(1).lower(), backend)
    if backend == "sqlite" and not written_as_pairs(text):
        return sqlite.read({"datasource": ("Data Source", text)})
    if "=" not in text:
        raise ConnectionStringError(
            "not a connection string or URL (no KEY=VALUE, no scheme://)"
            + ("; for a SQLite file use --sqlite PATH" if backend is None else f"; give {FORMS}")
        )
    pairs = parse_pairs(text)
    found = detect(pairs)
    if backend is not None and found is not None and found != backend:
        raise ConnectionStringError(
            f"--{backend} was given a {_NAMES[found]} connection string: use --{found} or --connection-string"
        )
    backend = backend or found
    if backend is None:
        raise ConnectionStringError(f"cannot tell which database this connection string is for; give {FORMS}")
    keys: dict[str, tuple[str, str]] = {}
    for key, value in pairs:  # a key given twice: the last one wins, as in ADO.NET
        keys[normalize_key(key)] = (key, value)
    return {"sqlite": sqlite.read, "postgres": postgres.read, "mssql": sqlserver.read}[backend](keys)


def absolute_sqlite_url(url: str, base: Path | str) -> str:
    """A SQLite URL (or path) whose file is given relative to `base` made absolute; other URLs unchanged.

    A setting saved for every later command, from any folder, must not depend on the folder it was made in.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() != "sqlite":
        return url
    path, _, query = (rest[1:] if sep else url).partition("?")
    file = os.path.normpath(os.path.join(str(base), os.path.expanduser(path)))
    return f"sqlite:///{file}" + (f"?{query}" if query else "")


def written_as_pairs(text: str) -> bool:
    """Whether `text` begins `Key=` for a key some connection string has (else it is a path)."""
    first, equals, _ = text.partition("=")
    return bool(equals) and normalize_key(first) in _KNOWN_KEYS


# ---- which database --------------------------------------------------------------

_MSSQL_MARKERS = {
    "initialcatalog",
    "database",
    "userid",
    "uid",
    "user",
    "integratedsecurity",
    "trustedconnection",
    "encrypt",
    "trustservercertificate",
    "multipleactiveresultsets",
    "applicationname",
    "app",
    "connecttimeout",
    "connectiontimeout",
    "server",
    "address",
    "addr",
    "networkaddress",
}
_POSTGRES_MARKERS = {"host", "username", "sslmode", "searchpath"}
_SQLITE_ONLY = {"version", "journalmode", "synchronous", "cache", "mode", "foreignkeys", "failifmissing", "filename"}


def detect(pairs: list[tuple[str, str]]) -> str | None:
    """Which backend a keyword string is for, or None when it cannot tell. Raises for an unknown provider."""
    keys = {normalize_key(key): value for key, value in pairs}
    provider = keys.get("provider")
    if provider is not None:
        return _from_provider(provider, "Provider")
    driver = keys.get("driver")
    if driver is not None:
        return _from_provider(driver, "Driver")
    if keys.keys() & _POSTGRES_MARKERS:
        return "postgres"
    if keys.keys() & _MSSQL_MARKERS:
        return "mssql"
    source = keys.get("datasource", keys.get("filename"))
    if source is not None and (keys.keys() & _SQLITE_ONLY or _looks_like_file(source)):
        return "sqlite"
    return None


def _from_provider(name: str, key: str) -> str:
    lowered = name.lower()
    if any(word in lowered for word in ("sql server", "sqloledb", "msoledbsql", "sqlncli", "sqlclient")):
        return "mssql"
    if "postgres" in lowered or "npgsql" in lowered:
        return "postgres"
    if "sqlite" in lowered:
        return "sqlite"
    raise ConnectionStringError(
        f"the connection string is for {key}={name}, which psflow does not support: "
        "psflow stores jobs in SQLite, PostgreSQL or MS SQL Server"
    )


def _looks_like_file(source: str) -> bool:
    return source.lower().endswith(_SQLITE_SUFFIXES) or "/" in source or source.lower() == ":memory:"


# ---- URLs ------------------------------------------------------------------------


def _from_url(text: str, scheme: str, backend: str | None) -> Connection:
    found = _SCHEMES.get(scheme)
    if found is None:
        raise ConnectionStringError(
            f"{scheme}:// databases are not supported: psflow stores jobs in SQLite (sqlite:///PATH), "
            "PostgreSQL (postgresql://…) or MS SQL Server (mssql://…)"
        )
    if backend is not None and found != backend:
        raise ConnectionStringError(
            f"--{backend} was given a {_NAMES[found]} URL: use --{found} or --connection-string"
        )
    return Connection(text, found)


_KNOWN_KEYS = (
    {
        "datasource",
        "filename",
        "provider",
        "driver",
        "synchronous",
        "mode",
        "password",
        "integratedsecurity",
        "trustedconnection",
        "authentication",
    }
    | _MSSQL_MARKERS
    | _POSTGRES_MARKERS
    | _SQLITE_ONLY
    | sqlite.IGNORED
    | set(sqlserver.ROLES)
    | sqlserver.IGNORED
    | set(postgres.ROLES)
    | postgres.IGNORED
)
