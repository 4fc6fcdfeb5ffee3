"""SQL Server connection strings (SqlClient, ODBC, OLE DB) as psflow URLs."""

from __future__ import annotations

import re

from psflow.store.connstrings.keywords import FALSE, TRUE, Connection, ConnectionStringError, bracketed_host, quoted

IGNORED = {
    "multipleactiveresultsets",
    "persistsecurityinfo",
    "pooling",
    "minpoolsize",
    "maxpoolsize",
    "connectionlifetime",
    "loadbalancetimeout",
    "enlist",
    "packetsize",
    "workstationid",
    "wsid",
    "multisubnetfailover",
    "applicationintent",
    "connectretrycount",
    "connectretryinterval",
    "poolblockingperiod",
    "typesystemversion",
    "transactionbinding",
    "ipaddresspreference",
    "currentlanguage",
    "language",
    "failoverpartner",
    "hostnameincertificate",
    "serverspn",
    "provider",
}
KEYS_READ = (
    "Server (or Data Source, Address), Database (or Initial Catalog), User Id (or UID), Password (or PWD), "
    "Encrypt, TrustServerCertificate, Connect Timeout, Command Timeout, Application Name, Driver"
)


def read(keys: dict[str, tuple[str, str]]) -> Connection:
    found: dict[str, str] = {}
    ignored: list[str] = []
    for name, (key, value) in keys.items():
        role = ROLES.get(name)
        if role is not None:
            found[role] = value
        elif name in ("integratedsecurity", "trustedconnection"):
            if value.lower() not in FALSE:
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
        elif name in IGNORED:
            ignored.append(key)
        else:
            raise ConnectionStringError(
                f"unknown key {key!r} in a SQL Server connection string (psflow reads {KEYS_READ})"
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
    netloc = f"{quoted(user)}:{quoted(found.get('password', ''))}@{bracketed_host(host)}" + (f":{port}" if port else "")
    query = "&".join(f"{name}={quoted(value)}" for name, value in options.items())
    url = f"{scheme}://{netloc}/{quoted(database)}" + (f"?{query}" if query else "")
    return Connection(url, "mssql", tuple(ignored))


ROLES = {
    "server": "server",
    "datasource": "server",
    "address": "server",
    "addr": "server",
    "networkaddress": "server",
    "port": "port",
    "database": "database",
    "initialcatalog": "database",
    "userid": "user",
    "uid": "user",
    "user": "user",
    "username": "user",
    "password": "password",
    "pwd": "password",
    "encrypt": "encrypt",
    "trustservercertificate": "trust",
    "connecttimeout": "login_timeout",
    "connectiontimeout": "login_timeout",
    "timeout": "login_timeout",
    "logintimeout": "login_timeout",
    "commandtimeout": "timeout",
    "applicationname": "appname",
    "app": "appname",
    "driver": "driver",
}


def _key_of(keys: dict[str, tuple[str, str]], role: str) -> str:
    for name, (key, _) in keys.items():
        if ROLES.get(name) == role:
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
            raise ConnectionStringError(
                f"bad port {text!r} for SQL Server: write Server=HOST,PORT (a number up to 65535)"
            )
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
        if encrypt in TRUE or encrypt == "mandatory":
            encrypt = "yes"
        elif encrypt in FALSE or encrypt == "optional":
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
        if trust not in TRUE and trust not in FALSE:
            raise ConnectionStringError(f"TrustServerCertificate must be True or False, not {found['trust']!r}")
        trusted = trust in TRUE
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
