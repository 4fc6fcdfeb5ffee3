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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from psflow.errors import StoreError

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
_TRUE = ("true", "yes", "1", "sspi")
_FALSE = ("false", "no", "0")
_FORMS = (
    "Data Source=FILE (SQLite), Server=HOST,PORT;Database=DB;User Id=USER;Password=PASSWORD (SQL Server), "
    "Host=HOST;Database=DB;Username=USER;Password=PASSWORD (PostgreSQL), or a URL "
    "(sqlite:///PATH, postgresql://…, mssql://…)"
)


class ConnectionStringError(StoreError):
    """A connection string psflow cannot read, or one for a database it does not support."""


@dataclass(frozen=True)
class Connection:
    """What a connection string names: the psflow URL, the backend, and the keys left unused."""

    url: str
    backend: str  # "sqlite", "postgres" or "mssql"
    ignored: tuple[str, ...] = ()  # keys as the user wrote them, with no meaning for psflow


def to_url(text: str, backend: str | None = None) -> Connection:
    """The psflow URL for `text`; `backend` (from --sqlite/--postgres/--mssql) or detection says which."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    text = text.strip()
    if not text.strip(";"):
        raise ConnectionStringError(f"empty connection string; give {_FORMS}")
    scheme = _URL.match(text)
    if scheme:
        return _from_url(text, scheme.group(1).lower(), backend)
    if backend == "sqlite" and not written_as_pairs(text):
        return _sqlite({"datasource": ("Data Source", text)})
    if "=" not in text:
        raise ConnectionStringError(
            "not a connection string or URL (no KEY=VALUE, no scheme://)"
            + ("; for a SQLite file use --sqlite PATH" if backend is None else f"; give {_FORMS}")
        )
    pairs = parse_pairs(text)
    found = detect(pairs)
    if backend is not None and found is not None and found != backend:
        raise ConnectionStringError(
            f"--{backend} was given a {_NAMES[found]} connection string: use --{found} or --connection-string"
        )
    backend = backend or found
    if backend is None:
        raise ConnectionStringError(f"cannot tell which database this connection string is for; give {_FORMS}")
    keys: dict[str, tuple[str, str]] = {}
    for key, value in pairs:  # a key given twice: the last one wins, as in ADO.NET
        keys[normalize_key(key)] = (key, value)
    return {"sqlite": _sqlite, "postgres": _postgres, "mssql": _mssql}[backend](keys)


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


# ---- reading KEY=VALUE;KEY=VALUE ------------------------------------------------


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """`Key=Value;…` as (key, value) pairs, keys as written. Values may be quoted:
    '…' or "…" (the quote doubled inside) or ODBC {…} (`}}` inside); a bare value ends at `;`."""
    pairs: list[tuple[str, str]] = []
    position, size = 0, len(text)
    while position < size:
        while position < size and (text[position].isspace() or text[position] == ";"):
            position += 1
        if position >= size:
            break
        equals = text.find("=", position)
        stop = text.find(";", position)
        if equals < 0 or (0 <= stop < equals):
            raise ConnectionStringError(
                f"cannot read the connection string: part {len(pairs) + 1}{_after(pairs)} is not KEY=VALUE "
                "(a value that contains ';' must be quoted: Password='a;b')"
            )
        key = text[position:equals].strip()
        if not key:
            raise ConnectionStringError(f"cannot read the connection string: part {len(pairs) + 1} has no key before '='")
        value, position = _value(text, equals + 1, key)
        pairs.append((key, value))
    if not pairs:
        raise ConnectionStringError(f"empty connection string; give {_FORMS}")
    return pairs


def _after(pairs: list[tuple[str, str]]) -> str:
    return f" (after {pairs[-1][0]}=…)" if pairs else ""


def _value(text: str, position: int, key: str) -> tuple[str, int]:
    """The value starting at `position` (spaces before it skipped) and where the next part starts."""
    size = len(text)
    while position < size and text[position] in " \t":
        position += 1
    if position >= size or text[position] not in "'\"{":
        stop = text.find(";", position)
        stop = size if stop < 0 else stop
        return text[position:stop].strip(), stop + 1
    opening = text[position]
    closing = "}" if opening == "{" else opening
    chars: list[str] = []
    position += 1
    while True:
        if position >= size:
            raise ConnectionStringError(f"cannot read the connection string: the value of {key} has no closing {closing}")
        char = text[position]
        if char == closing:
            if position + 1 < size and text[position + 1] == closing:  # doubled: the character itself
                chars.append(char)
                position += 2
                continue
            position += 1
            break
        chars.append(char)
        position += 1
    while position < size and text[position] in " \t":
        position += 1
    if position < size and text[position] != ";":
        raise ConnectionStringError(
            f"cannot read the connection string: text after the quoted value of {key} (missing ';'?)"
        )
    return "".join(chars), position + 1


def normalize_key(key: str) -> str:
    """`User Id`, `UserID`, `user_id` → `userid`: how keys are compared."""
    return re.sub(r"[\s_]+", "", key).lower()


def written_as_pairs(text: str) -> bool:
    """Whether `text` begins `Key=` for a key some connection string has (else it is a path)."""
    first, equals, _ = text.partition("=")
    return bool(equals) and normalize_key(first) in _KNOWN_KEYS


# ---- which database --------------------------------------------------------------

_MSSQL_MARKERS = {
    "initialcatalog", "database", "userid", "uid", "user", "integratedsecurity",
    "trustedconnection", "encrypt", "trustservercertificate", "multipleactiveresultsets", "applicationname",
    "app", "connecttimeout", "connectiontimeout", "server", "address", "addr", "networkaddress",
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
        raise ConnectionStringError(f"--{backend} was given a {_NAMES[found]} URL: use --{found} or --connection-string")
    return Connection(text, found)


# ---- SQLite ----------------------------------------------------------------------

_SQLITE_IGNORED = {
    "version", "journalmode", "pooling", "cache", "foreignkeys", "failifmissing", "defaulttimeout",
    "busytimeout", "datetimeformat", "datetimekind", "legacyformat", "pagesize", "cachesize", "maxpoolsize",
    "readonly",
}


def _sqlite(keys: dict[str, tuple[str, str]]) -> Connection:
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
        elif name == "readonly" and value.lower() in _TRUE:
            raise ConnectionStringError("Read Only=True is not supported: psflow writes to its database")
        elif name == "password":
            raise ConnectionStringError("encrypted SQLite files (Password=…) are not supported")
        elif name in _SQLITE_IGNORED:
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


# ---- SQL Server ------------------------------------------------------------------

_MSSQL_IGNORED = {
    "multipleactiveresultsets", "persistsecurityinfo", "pooling", "minpoolsize", "maxpoolsize",
    "connectionlifetime", "loadbalancetimeout", "enlist", "packetsize", "workstationid", "wsid",
    "multisubnetfailover", "applicationintent", "connectretrycount", "connectretryinterval",
    "poolblockingperiod", "typesystemversion", "transactionbinding", "ipaddresspreference",
    "currentlanguage", "language", "failoverpartner", "hostnameincertificate", "serverspn",
    "provider",
}
_MSSQL_KEYS = (
    "Server (or Data Source, Address), Database (or Initial Catalog), User Id (or UID), Password (or PWD), "
    "Encrypt, TrustServerCertificate, Connect Timeout, Command Timeout, Application Name, Driver"
)


def _mssql(keys: dict[str, tuple[str, str]]) -> Connection:
    found: dict[str, str] = {}
    ignored: list[str] = []
    for name, (key, value) in keys.items():
        role = _MSSQL_ROLES.get(name)
        if role is not None:
            found[role] = value
        elif name in ("integratedsecurity", "trustedconnection"):
            if value.lower() not in _FALSE:
                raise ConnectionStringError(
                    f"{key}={value}: integrated (Windows) authentication is not supported; "
                    "give a SQL Server login with User Id=…;Password=…"
                )
            ignored.append(key)
        elif name == "authentication":
            if value.lower().replace(" ", "") not in ("sqlpassword", "sqlserverauthentication"):
                raise ConnectionStringError(
                    f"Authentication={value} is not supported; give a SQL Server login with User Id=…;Password=…"
                )
        elif name in _MSSQL_IGNORED:
            ignored.append(key)
        else:
            raise ConnectionStringError(
                f"unknown key {key!r} in a SQL Server connection string (psflow reads {_MSSQL_KEYS})"
            )
    driver = found.get("driver")
    host, port, instance = _server(found.get("server", ""), found.get("port"))
    database = found.get("database")
    if not database:
        raise ConnectionStringError("the SQL Server connection string names no database: add Database=NAME")
    user = found.get("user")
    if not user:
        raise ConnectionStringError(
            "the SQL Server connection string names no login: add User Id=…;Password=… "
            "(integrated Windows authentication is not supported)"
        )
    options: dict[str, str] = {}
    if driver is not None:
        options["driver"] = driver
    if instance:
        options["instance"] = instance
    options.update(_encryption(found, pytds=driver is None, ignored=ignored, keys=keys))
    for role, option in (("login_timeout", "login_timeout"), ("timeout", "timeout")):
        if role in found:
            seconds = found[role]
            if not re.fullmatch(r"\d+(\.\d+)?", seconds):
                raise ConnectionStringError(f"{_key_of(keys, role)} must be a number of seconds, not {seconds!r}")
            if seconds not in ("0", "0.0"):  # 0 means "wait forever" in ADO.NET: the driver's default
                options[option] = seconds
    if "appname" in found:
        options["appname"] = found["appname"]
    scheme = "mssql+pyodbc" if driver is not None else "mssql"
    netloc = f"{_q(user)}:{_q(found.get('password', ''))}@{_host(host)}" + (f":{port}" if port else "")
    query = "&".join(f"{name}={_q(value)}" for name, value in options.items())
    url = f"{scheme}://{netloc}/{_q(database)}" + (f"?{query}" if query else "")
    return Connection(url, "mssql", tuple(ignored))


_MSSQL_ROLES = {
    "server": "server", "datasource": "server", "address": "server", "addr": "server", "networkaddress": "server",
    "port": "port",
    "database": "database", "initialcatalog": "database",
    "userid": "user", "uid": "user", "user": "user", "username": "user",
    "password": "password", "pwd": "password",
    "encrypt": "encrypt", "trustservercertificate": "trust",
    "connecttimeout": "login_timeout", "connectiontimeout": "login_timeout", "timeout": "login_timeout",
    "logintimeout": "login_timeout", "commandtimeout": "timeout",
    "applicationname": "appname", "app": "appname",
    "driver": "driver",
}


def _key_of(keys: dict[str, tuple[str, str]], role: str) -> str:
    for name, (key, _) in keys.items():
        if _MSSQL_ROLES.get(name) == role:
            return key
    return role


def _server(server: str, port_key: str | None) -> tuple[str, int | None, str | None]:
    """`tcp:host\\instance,port` → (host, port, instance)."""
    server = server.strip()
    if not server:
        raise ConnectionStringError("the SQL Server connection string names no server: add Server=HOST[,PORT]")
    protocol, colon, rest = server.partition(":")
    if colon and protocol.lower() in ("tcp", "np", "lpc", "admin"):
        if protocol.lower() != "tcp":
            raise ConnectionStringError(f"Server={server}: psflow connects over TCP only (tcp:HOST,PORT)")
        server = rest.strip()
    host, comma, port_text = server.partition(",")
    host = host.strip()
    port = None
    if comma or port_key is not None:
        text = port_text.strip() if comma else (port_key or "").strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ConnectionStringError(f"bad port {text!r} for SQL Server: write Server=HOST,PORT (a number up to 65535)")
        if comma and port_key is not None and port_key.strip() != text:
            raise ConnectionStringError(f"two ports given for SQL Server ({text} and Port={port_key}): give one")
        port = int(text)
    host, backslash, instance = host.partition("\\")
    if host.lower().startswith("(localdb)"):
        raise ConnectionStringError("LocalDB is not reachable over TCP: run psflow against a SQL Server instance")
    if host in (".", "(local)", ""):
        host = "localhost"
    if re.search(r"[\s/@?#]", host):
        raise ConnectionStringError(f"Server={server}: {host!r} is not a host name")
    if backslash and not instance:
        raise ConnectionStringError(f"Server={server}: no instance name after '\\'")
    if instance and port is not None:
        instance = ""  # a port reaches the instance directly, as in ADO.NET: the name is not needed
    return host, port, instance or None


def _encryption(
    found: dict[str, str], *, pytds: bool, ignored: list[str], keys: dict[str, tuple[str, str]]
) -> dict[str, str]:
    """Encrypt and TrustServerCertificate as the driver's URL options."""
    options: dict[str, str] = {}
    encrypt = found.get("encrypt", "").lower()
    trust = found.get("trust", "").lower()
    if encrypt:
        if encrypt in _TRUE or encrypt == "mandatory":
            encrypt = "yes"
        elif encrypt in _FALSE or encrypt == "optional":
            encrypt = "no"
        elif encrypt != "strict":
            raise ConnectionStringError(
                f"Encrypt must be True, False, Mandatory, Optional or Strict, not {found['encrypt']!r}"
            )
        if pytds and encrypt == "strict":
            raise ConnectionStringError(
                "Encrypt=Strict (TDS 8) needs the ODBC driver: add Driver={ODBC Driver 18 for SQL Server}"
            )
        options["encrypt"] = encrypt
    if trust:
        if trust not in _TRUE and trust not in _FALSE:
            raise ConnectionStringError(f"TrustServerCertificate must be True or False, not {found['trust']!r}")
        trusted = trust in _TRUE
        if not pytds:
            options["trust_server_certificate"] = "yes" if trusted else "no"
        elif trusted and options.get("encrypt", "no") != "no":
            raise ConnectionStringError(
                "TrustServerCertificate=True: python-tds always checks the server's certificate; add "
                "Driver={ODBC Driver 18 for SQL Server} to use pyodbc, or give the server's CA file "
                "in a URL (mssql://…?encrypt=yes&cafile=/path/ca.pem)"
            )
        else:
            ignored.append(_key_of(keys, "trust"))  # without encryption there is no certificate to trust
    return options


# ---- PostgreSQL (Npgsql) ---------------------------------------------------------

_POSTGRES_ROLES = {
    "host": "host", "server": "host", "port": "port",
    "database": "database", "db": "database",
    "username": "user", "userid": "user", "user": "user", "uid": "user",
    "password": "password", "pwd": "password",
    "sslmode": "sslmode", "timeout": "connect_timeout", "applicationname": "application_name",
}
_POSTGRES_IGNORED = {
    "pooling", "minimumpoolsize", "maximumpoolsize", "minpoolsize", "maxpoolsize", "connectionidlelifetime",
    "connectionpruninginterval", "keepalive", "commandtimeout", "includeerrordetail", "includeerrordetails",
    "enlist", "trustservercertificate", "provider", "driver",
}
_SSLMODES = {
    "disable": "disable", "allow": "allow", "prefer": "prefer", "require": "require",
    "verifyca": "verify-ca", "verify-ca": "verify-ca", "verifyfull": "verify-full", "verify-full": "verify-full",
}


def _postgres(keys: dict[str, tuple[str, str]]) -> Connection:
    found: dict[str, str] = {}
    ignored: list[str] = []
    for name, (key, value) in keys.items():
        role = _POSTGRES_ROLES.get(name)
        if role is not None:
            found[role] = value
        elif name in _POSTGRES_IGNORED:
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
        mode = _SSLMODES.get(found["sslmode"].lower().replace(" ", ""))
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
        credentials = _q(found["user"]) + (f":{_q(found['password'])}" if "password" in found else "") + "@"
    netloc = credentials + _host(host) + (f":{port}" if port else "")
    query = "&".join(f"{name}={_q(value)}" for name, value in options.items())
    url = f"postgresql://{netloc}/{_q(database)}" + (f"?{query}" if query else "")
    return Connection(url, "postgres", tuple(ignored))


# ---- helpers ---------------------------------------------------------------------


def _q(text: str) -> str:
    """Percent-encode everything but unreserved characters: safe in any URL part."""
    return quote(text, safe="")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


_KNOWN_KEYS = (
    {"datasource", "filename", "provider", "driver", "synchronous", "mode", "password", "integratedsecurity",
     "trustedconnection", "authentication"}
    | _MSSQL_MARKERS | _POSTGRES_MARKERS | _SQLITE_ONLY | _SQLITE_IGNORED
    | set(_MSSQL_ROLES) | _MSSQL_IGNORED | set(_POSTGRES_ROLES) | _POSTGRES_IGNORED
)
