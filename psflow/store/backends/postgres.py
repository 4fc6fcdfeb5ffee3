"""PostgreSQL: the shared database for many servers, and its quirks.

* PostgreSQL text cannot hold NUL characters; captured output and error text can.
  They are stored as U+FFFD instead of failing the block's write.
* Servers creating the schema at the same moment take turns (`lock_schema`):
  concurrent CREATE TABLE IF NOT EXISTS fails on PostgreSQL's catalog.
* Which errors pass (`trouble`): a connection the server dropped (restart, failover,
  admin shutdown, reset) or a server not taking connections yet is DISCONNECTED; a
  serialization failure, deadlock or lock timeout is BUSY. The store tries the whole
  call again on a new connection (psflow.store.retry).
* A failed connection is explained in one line: what went wrong and what to check.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from peewee import OperationalError, PostgresqlDatabase

from psflow.errors import StoreError
from psflow.store.retry import BUSY, DISCONNECTED, driver_error
from psflow.store.urls import mask_password

CONNECT_TIMEOUT_SECONDS = 10
_SCHEMA_LOCK_KEY = 0x7073666C6F77  # "psflow"
_URL_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def open_postgres(url: str) -> PostgresDatabase:
    """A PostgresDatabase for a `postgresql://user:pass@host:port/db?option=value` URL (not yet connected)."""
    try:
        import psycopg2  # noqa: F401 - only to say which extra is missing
    except ImportError:
        raise StoreError("PostgreSQL needs the psycopg2 driver: pip install 'psflow[postgres]'") from None
    from playhouse.db_url import parse

    try:
        urlparse(url).port  # noqa: B018 - raises on a port that is not a number in 0-65535
        params = parse(url, unquote_password=True, unquote_user=True)
    except ValueError as error:
        raise StoreError(f"bad PostgreSQL URL {mask_password(url)!r}: {error}; use {_URL_FORM}") from None
    database = params.pop("database")
    if not database:
        raise StoreError(f"PostgreSQL URL {mask_password(url)!r} names no database; use {_URL_FORM}")
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)  # a dropped packet must not hang for minutes
    params.setdefault("application_name", "psflow")  # so a DBA can tell psflow's sessions apart
    return PostgresDatabase(database, **params)


class ConnectFailed(OperationalError):
    """No connection could be made (explained in one line)."""


_BUSY_CODES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_GONE_CODES = {"57P01", "57P02", "57P03"}  # admin shutdown, crash shutdown, cannot connect now


class PostgresDatabase(PostgresqlDatabase):
    """peewee's PostgresqlDatabase with NUL handling, the errors that pass, and readable connect errors."""

    def _connect(self) -> Any:
        import psycopg2

        try:
            return super()._connect()
        except psycopg2.OperationalError as error:
            raise ConnectFailed(explain_connect_error(str(error), self.connect_params)) from None

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        if params and any(isinstance(value, str) and "\x00" in value for value in params):
            params = [value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in params]
        return super().execute_sql(sql, params)

    def trouble(self, error: BaseException) -> str | None:
        """DISCONNECTED, BUSY or None (see the module's docstring)."""
        original = driver_error(error)
        if isinstance(original, ConnectFailed):
            return DISCONNECTED
        code = getattr(original, "pgcode", None) or ""
        if code in _BUSY_CODES:
            return BUSY
        if code.startswith("08") or code in _GONE_CODES or self._disconnected():
            return DISCONNECTED
        return None

    def _disconnected(self) -> bool:
        connection = self._state.conn
        return connection is not None and bool(getattr(connection, "closed", False))

    data_modifying_with = True  # WITH x AS (UPDATE … RETURNING …) INSERT …: a claim begins its attempt in one statement

    def claim_transaction(self) -> Any:
        """The transaction of a claim that counts its queue's Running jobs first (see `locked`)."""
        return self.atomic()

    def locked(self, query: Any) -> Any:
        """`query` with FOR UPDATE: the rows it reads stay locked until the transaction ends. Under READ
        COMMITTED each later statement sees what the transaction that held the lock committed."""
        return query.for_update()

    def lock_schema(self) -> None:
        """Wait for any other process creating or upgrading the schema; held until this transaction ends."""
        self.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))


def explain_connect_error(message: str, params: dict[str, Any]) -> str:
    """libpq's (multi-line, `FATAL:  `-prefixed) message as one line that says what to check."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else "connection failed"
    # `connection to server at "h" (1.2.3.4), port 5432 failed: X`: the URL in front already says where.
    first = re.sub(r"^connection to server (at|on) .*? failed: ", "", first)
    first = re.sub(r"^(FATAL|ERROR):\s+", "", first).rstrip(".")
    password = params.get("password")
    if password:
        first = first.replace(str(password), "***")
    where = str(params.get("host") or "the local socket") + (f" port {params['port']}" if params.get("port") else "")
    for pattern, hint in _HINTS:
        if re.search(pattern, first):
            return hint.format(message=first, where=where, timeout=params.get("connect_timeout"), url=_URL_FORM)
    return first


_HINTS = (
    (
        r"Connection refused",
        "connection refused: is a PostgreSQL server running at {where} and accepting TCP/IP connections?",
    ),
    (
        r"^No such file or directory",
        "no PostgreSQL server listens on {where}: is it running? (or give host and port in the URL)",
    ),
    (r"timeout expired", "no answer from {where} within {timeout} s: check the host, the port and any firewall"),
    (r"password authentication failed", "{message}: check the user and password in the URL"),
    (r"no password supplied", "{message}: the server wants a password, give it in the URL ({url})"),
    (r"^database .* does not exist", "{message}: create it first (createdb NAME), or fix the URL"),
    (r"^role .* does not exist", "{message}: check the user name in the URL"),
    (r"no pg_hba\.conf entry", "{message}: the server does not let this user in from here; ask its administrator"),
)
