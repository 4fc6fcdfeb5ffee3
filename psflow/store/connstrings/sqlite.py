"""SQLite connection strings (System.Data.SQLite, Microsoft.Data.Sqlite) as psflow URLs."""

from __future__ import annotations

from psflow.store.connstrings.keywords import TRUE, Connection, ConnectionStringError

IGNORED = {
    "version",
    "journalmode",
    "pooling",
    "cache",
    "foreignkeys",
    "failifmissing",
    "defaulttimeout",
    "busytimeout",
    "datetimeformat",
    "datetimekind",
    "legacyformat",
    "pagesize",
    "cachesize",
    "maxpoolsize",
    "readonly",
}


def read(keys: dict[str, tuple[str, str]]) -> Connection:
    ignored: list[str] = []
    options: list[str] = []
    path = None
    for name, (key, value) in keys.items():
        if name in ("datasource", "filename"):
            path = value
        elif name == "synchronous":
            level = value.lower()
            if level not in ("full", "normal"):
                raise ConnectionStringError(
                    f"Synchronous={value} is not supported: psflow runs SQLite with Full (the default) or Normal"
                )
            if level == "normal":
                options.append("synchronous=normal")
        elif name == "mode":
            if value.lower().replace(" ", "") not in ("readwritecreate", "readwrite"):
                raise ConnectionStringError(f"Mode={value} is not supported: psflow writes to its database")
        elif name == "readonly" and value.lower() in TRUE:
            raise ConnectionStringError("Read Only=True is not supported: psflow writes to its database")
        elif name == "password":
            raise ConnectionStringError("encrypted SQLite files (Password=…) are not supported")
        elif name in IGNORED:
            ignored.append(key)
        else:
            raise ConnectionStringError(
                f"unknown key {key!r} in a SQLite connection string (psflow reads Data Source and Synchronous)"
            )
    if not path:
        raise ConnectionStringError("the SQLite connection string names no file: give Data Source=PATH")
    if path.lower() in (":memory:", "memory") or "|datadirectory|" in path.lower():
        raise ConnectionStringError(f"Data Source={path} is not a file psflow can keep jobs in: give a file path")
    query = f"?{'&'.join(options)}" if options else ""
    return Connection(f"sqlite:///{path}{query}", "sqlite", tuple(ignored))
