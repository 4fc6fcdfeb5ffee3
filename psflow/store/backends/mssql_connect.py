"""MS SQL Server connections: the URL read into an MssqlTarget, the two drivers (python-tds,
pyodbc) opened with TLS and timeouts, the server's version checked, and connect errors told in one
line without the password. psflow.store.backends.mssql builds the Database on top."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from psflow.errors import StoreError

MIN_MAJOR_VERSION = 11
DEFAULT_PORT = 1433
DEFAULT_ODBC_DRIVER = "ODBC Driver 18 for SQL Server"


@dataclass(frozen=True)
class MssqlTarget:
    """Where to connect and how, as read from a URL."""

    driver: str  # "pytds" or "pyodbc"
    host: str
    port: int | None
    database: str
    user: str
    password: str = field(repr=False)
    options: dict[str, str] = field(default_factory=dict)
    where: str = ""  # the URL with its password masked, for messages


# ---- drivers -----------------------------------------------------------------

_VERSION_SQL = "SELECT CAST(SERVERPROPERTY('ProductMajorVersion') AS INT)"
_LOGIN_ERRORS = (18456, 18486, 18487, 18488, 18452, 4060)  # login failed, locked, expired, …, no such database


def check_version(conn, target: MssqlTarget) -> int:
    """The server's major version, refusing one older than 2012. Also makes sure UPDATE reports
    its rowcount (claims depend on it), even where the server's `user options` turn NOCOUNT on."""
    cursor = conn.cursor()
    cursor.execute("SET NOCOUNT OFF")
    cursor.execute(_VERSION_SQL)
    row = cursor.fetchone()
    major = row[0] if row else None
    if major is None or major < MIN_MAJOR_VERSION:
        found = f"major version {major}" if major is not None else "a version older than 2012"
        raise StoreError(f"{target.where} is SQL Server {found}: psflow needs SQL Server 2012 (11) or newer")
    return major


def connect_pytds(target: MssqlTarget):
    import pytds

    options = target.options
    kwargs: dict[str, Any] = {
        "dsn": target.host + (f"\\{options['instance']}" if "instance" in options else ""),
        "port": target.port,
        "database": target.database,
        "user": target.user,
        "password": target.password,
        "autocommit": True,  # peewee 4 runs every backend in autocommit mode
        "appname": options.get("appname", "psflow"),
        "login_timeout": float(options.get("login_timeout", 15)),
        "timeout": float(options["timeout"]) if "timeout" in options else None,
    }
    encrypt = options.get("encrypt", "no")
    if encrypt != "no":
        kwargs["cafile"] = options.get("cafile") or _default_cafile(target)
        if not Path(kwargs["cafile"]).is_file():
            raise StoreError(f"{target.where}: cafile {kwargs['cafile']} is not a file")
        kwargs["enc_login_only"] = encrypt == "login"
        kwargs["validate_host"] = options.get("validate_host", "yes") == "yes"
        try:
            import OpenSSL  # noqa: F401 - python-tds encrypts through pyOpenSSL
        except ImportError:
            raise StoreError(f"encrypt={encrypt} with python-tds needs pyOpenSSL: pip install pyOpenSSL") from None
    return pytds.connect(**kwargs)


def _default_cafile(target: MssqlTarget) -> str:
    import ssl

    cafile = ssl.get_default_verify_paths().cafile
    if cafile and Path(cafile).is_file():
        return cafile
    raise StoreError(f"{target.where}: encrypt needs the server's CA certificates: add cafile=/path/to/ca.pem")


def odbc_connection_string(target: MssqlTarget) -> str:
    """The ODBC connection string for `target` (values in braces, `}` doubled)."""
    options = target.options
    server = target.host + (f"\\{options['instance']}" if "instance" in options else "")
    if target.port is not None:
        server += f",{target.port}"
    parts = {
        "DRIVER": options.get("driver", DEFAULT_ODBC_DRIVER),
        "SERVER": server,
        "DATABASE": target.database,
        "UID": target.user,
        "PWD": target.password,
        "APP": options.get("appname", "psflow"),
    }
    if "encrypt" in options:
        parts["Encrypt"] = options["encrypt"]
    if "trust_server_certificate" in options:
        parts["TrustServerCertificate"] = options["trust_server_certificate"]
    return ";".join(f"{key}={{{value.replace('}', '}}')}}}" for key, value in parts.items())


def connect_pyodbc(target: MssqlTarget):
    import pyodbc

    options = target.options
    conn = pyodbc.connect(
        odbc_connection_string(target), autocommit=True, timeout=int(float(options.get("login_timeout", 15)))
    )
    if "timeout" in options:
        conn.timeout = int(float(options["timeout"]))
    return conn


def driver_message(error: BaseException) -> str:
    """The server's or driver's message on one line, without the drivers' decorations."""
    text = getattr(error, "text", None)  # python-tds: the server's message
    if not isinstance(text, str):
        args = getattr(error, "args", ())
        if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            text = args[1]  # pyodbc: (SQLSTATE, "[Microsoft][ODBC ...][SQL Server]message (2627) (SQLExecDirectW)")
            text = re.sub(r"^(\[[^\]]*\]\s*)+", "", text)
            text = re.sub(r"(\s*\(\d+\))?(\s*\(SQL\w+\))+\s*$", "", text)
        else:
            text = str(error)
    return " ".join(text.split()) or type(error).__name__


def connect_error(target: MssqlTarget, error: Exception) -> StoreError:
    """A one-line StoreError saying whether the server was unreachable or refused the login."""
    text = driver_message(error)
    if target.password:
        text = text.replace(target.password, "***")
    number = getattr(error, "msg_no", None) or getattr(error, "number", None)
    state = error.args[0] if getattr(error, "args", None) and isinstance(error.args[0], str) else ""
    if number in _LOGIN_ERRORS or state == "28000" or "login failed" in text.lower():
        return StoreError(f"SQL Server {target.where} refused the login: {text}")
    if isinstance(error, TimeoutError) or state == "HYT00":  # python-tds retries until login_timeout
        seconds = target.options.get("login_timeout", "15")
        return StoreError(
            f"cannot reach SQL Server {target.where}: no answer within {seconds} s "
            "(check host, port, firewall, and that the server accepts TCP)"
        )
    return StoreError(
        f"cannot reach SQL Server {target.where}: {text} (check host, port and that the server accepts TCP)"
    )


# ---- URLs --------------------------------------------------------------------

_DRIVERS = {"mssql": "pytds", "mssql+pytds": "pytds", "mssql+pyodbc": "pyodbc"}
_OPTIONS = {
    "pytds": {"encrypt", "cafile", "validate_host", "login_timeout", "timeout", "appname", "instance"},
    "pyodbc": {"driver", "encrypt", "trust_server_certificate", "login_timeout", "timeout", "appname", "instance"},
}
_CHOICES = {
    ("pytds", "encrypt"): ("no", "yes", "login"),
    ("pytds", "validate_host"): ("yes", "no"),
    ("pyodbc", "encrypt"): ("no", "yes", "strict", "optional", "mandatory"),
    ("pyodbc", "trust_server_certificate"): ("yes", "no"),
}
DRIVER_EXTRAS = {
    "pytds": ("python-tds", "mssql"),
    "pyodbc": ("pyodbc", "mssql-odbc"),
}


def parse_mssql_url(url: str) -> MssqlTarget:
    """`mssql://user:password@host[:1433]/database[?option=value&...]` (mssql+pyodbc:// for pyodbc)."""
    from psflow.store.urls import mask_password

    where = mask_password(url)
    parts = urlsplit(url)
    driver = _DRIVERS.get(parts.scheme.lower())
    if driver is None:
        raise StoreError(f"unknown MS SQL Server URL scheme in {where!r}: use mssql:// or mssql+pyodbc://")
    try:
        port = parts.port
    except ValueError:
        raise StoreError(f"bad port in {where!r}") from None
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise StoreError(f"bad MS SQL Server URL {where!r}: write mssql://USER:PASSWORD@HOST:PORT/DATABASE")
    if not parts.username:
        raise StoreError(f"MS SQL Server URL {where!r} names no user: write mssql://USER:PASSWORD@HOST/DATABASE")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - _OPTIONS[driver])
    if unknown:
        raise StoreError(
            f"unknown MS SQL Server URL option(s) for {driver}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_OPTIONS[driver]))})"
        )
    for name, value in options.items():
        choices = _CHOICES.get((driver, name))
        if choices and value.lower() not in choices:
            raise StoreError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        if choices:
            options[name] = value.lower()
    for name in ("login_timeout", "timeout"):
        if name in options and not re.fullmatch(r"\d+(\.\d+)?", options[name]):
            raise StoreError(f"{name} must be a number of seconds, not {options[name]!r}")
    if driver == "pytds" and "cafile" in options:
        options.setdefault("encrypt", "yes")  # a CA file is only for TLS
    if "instance" in options and port is not None:
        raise StoreError(f"{where!r}: give a port or an instance name, not both")
    return MssqlTarget(
        driver=driver,
        host=parts.hostname,
        port=port if port is not None or "instance" in options else DEFAULT_PORT,
        database=database,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        options=options,
        where=where,
    )
