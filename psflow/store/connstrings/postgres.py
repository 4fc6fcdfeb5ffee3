"""PostgreSQL connection strings (Npgsql) as psflow URLs."""

from __future__ import annotations

from psflow.store.connstrings.keywords import Connection, ConnectionStringError, bracketed_host, quoted

ROLES = {
    "host": "host",
    "server": "host",
    "port": "port",
    "database": "database",
    "db": "database",
    "username": "user",
    "userid": "user",
    "user": "user",
    "uid": "user",
    "password": "password",
    "pwd": "password",
    "sslmode": "sslmode",
    "timeout": "connect_timeout",
    "applicationname": "application_name",
}
IGNORED = {
    "pooling",
    "minimumpoolsize",
    "maximumpoolsize",
    "minpoolsize",
    "maxpoolsize",
    "connectionidlelifetime",
    "connectionpruninginterval",
    "keepalive",
    "commandtimeout",
    "includeerrordetail",
    "includeerrordetails",
    "enlist",
    "trustservercertificate",
    "provider",
    "driver",
}
SSLMODES = {
    "disable": "disable",
    "allow": "allow",
    "prefer": "prefer",
    "require": "require",
    "verifyca": "verify-ca",
    "verify-ca": "verify-ca",
    "verifyfull": "verify-full",
    "verify-full": "verify-full",
}


def read(keys: dict[str, tuple[str, str]]) -> Connection:
    found: dict[str, str] = {}
    ignored: list[str] = []
    for name, (key, value) in keys.items():
        role = ROLES.get(name)
        if role is not None:
            found[role] = value
        elif name in IGNORED:
            ignored.append(key)
        else:
            raise ConnectionStringError(
                f"unknown key {key!r} in a PostgreSQL connection string "
                "(psflow reads Host, Port, Database, Username, Password, SSL Mode, Timeout, Application Name)"
            )
    host = found.get("host", "").strip()
    if not host or "," in host:
        raise ConnectionStringError("the PostgreSQL connection string needs one Host=NAME")
    database = found.get("database")
    if not database:
        raise ConnectionStringError("the PostgreSQL connection string names no database: add Database=NAME")
    port = found.get("port", "").strip()
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ConnectionStringError(f"bad port {port!r} for PostgreSQL: a number up to 65535")
    options: dict[str, str] = {}
    if "sslmode" in found:
        mode = SSLMODES.get(found["sslmode"].lower().replace(" ", ""))
        if mode is None:
            raise ConnectionStringError(
                f"SSL Mode must be one of Disable, Prefer, Require, VerifyCA, VerifyFull, not {found['sslmode']!r}"
            )
        options["sslmode"] = mode
    if "connect_timeout" in found:
        if not found["connect_timeout"].isdigit():
            raise ConnectionStringError(f"Timeout must be a whole number of seconds, not {found['connect_timeout']!r}")
        options["connect_timeout"] = found["connect_timeout"]
    if "application_name" in found:
        options["application_name"] = found["application_name"]
    credentials = ""
    if found.get("user"):
        credentials = quoted(found["user"]) + (f":{quoted(found['password'])}" if "password" in found else "") + "@"
    netloc = credentials + bracketed_host(host) + (f":{port}" if port else "")
    query = "&".join(f"{name}={quoted(value)}" for name, value in options.items())
    url = f"postgresql://{netloc}/{quoted(database)}" + (f"?{query}" if query else "")
    return Connection(url, "postgres", tuple(ignored))
