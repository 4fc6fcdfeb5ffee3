"""Every statement psflow issues on MS SQL Server, captured and checked offline.

No SQL Server runs here, so this is a capture harness, not a behaviour test
(tests/store/test_mssql_live.py is that, given a server). The real Store and
schema code run through MssqlDatabase over a small fake DB-API connection that
records each statement exactly as the driver would send it (python-tds: `%s`
turned into @P1…, None inlined as NULL, like pytds itself; pyodbc: `?`) and answers
with plausible rows and rowcounts. Each captured statement then has its
parameters replaced by T-SQL literals and must

* parse with sqlglot's T-SQL dialect into real statements (no `Command` fallback)
  and parse back to the same tree from sqlglot's own rendering (round trip);
* parse with sqlfluff's tsql dialect without an unparsable section;
* contain none of the tokens T-SQL does not have (LIMIT, RETURNING, ON CONFLICT,
  CREATE ... IF NOT EXISTS, TEXT, …) and no EXISTS used as a value.

Run `python tests/store/test_mssql_sql.py` to print the inventory of statements.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    DoubleField,
    FloatField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
    TimeField,
    UUIDField,
)

from psflow.domain import JobStatus, Runner
from psflow.errors import AmbiguousJob, StoreError, UnknownJob
from psflow.store import Store
from psflow.store.backends import mssql, mssql_connect, tsql
from psflow.store.blocks import run_id
from psflow.store.migrations import schema_migrator, upgrade
from psflow.store.schema import ensure_schema, initialize
from psflow.store.tables import SCHEMA_VERSION, bind_tables
from psflow.store.urls import open_database
from psflow.store.views import AttemptView, BlockRecord, BlockRun, InputView, JobView, QueueView, WorkflowView
from support.clock import FakeClock

sqlglot = pytest.importorskip("sqlglot")
sqlfluff = pytest.importorskip("sqlfluff")
exp = sqlglot.exp
TokenType = sqlglot.tokens.TokenType

URL = "mssql://psflow:s3cr%3Bt@db.example:1433/psflow"
PASSWORD = "s3cr;t"
JOB_ID = "abc_123def"  # `_` is a LIKE wildcard: find_job must escape it
TABLES = [
    "psflow_attempt",
    "psflow_block",
    "psflow_job",
    "psflow_queue",
    "psflow_schema_version",
    "psflow_signal",
    "psflow_workflow",
]
TABLES_V1 = ["psflow_attempt", "psflow_block", "psflow_job", "psflow_schema_version"]
NOW = 1_767_225_600.25
SIGNATURE = "ed25519:0123456789abcdef:" + "A" * 86 + "=="  # the form psflow.signing writes


# ---- the fake connection -------------------------------------------------------


class IntegrityError(Exception):
    """What the drivers raise for a duplicate key; peewee maps it by this class name."""


@dataclass
class Statement:
    """One statement as psflow handed it to the driver."""

    template: str  # with the driver's placeholders (%s or ?)
    params: tuple
    style: str  # "pytds" or "pyodbc"
    sent: str  # what goes over the wire (pytds: @P1 names and inlined NULLs)

    @property
    def literal(self) -> str:
        """The statement with its parameters as T-SQL literals, for the validators."""
        values = [tsql_literal(value) for value in self.params]
        if self.style == "pytds":
            return self.template % tuple(values)
        pieces = _split_outside_quotes(self.template, "?")
        assert len(pieces) == len(values) + 1, (self.template, self.params)
        return "".join(piece + value for piece, value in zip(pieces, [*values, ""], strict=True))


def tsql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "N'" + value.replace("'", "''") + "'"
    raise TypeError(f"no T-SQL literal for {value!r}")


def _split_outside_quotes(sql: str, mark: str) -> list[str]:
    """`sql` split at `mark` where it is not inside '…' or […]."""
    pieces, current, closing = [], [], None
    for char in sql:
        if closing:
            closing = None if char == closing else closing
        elif char in "'[":
            closing = "'" if char == "'" else "]"
        elif char == mark:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    return [*pieces, "".join(current)]


def pytds_operation(sql: str, params: tuple | None) -> str:
    """What python-tds does to a statement before sending it (pytds/tds_session.py, execute)."""
    if params is None:
        return sql
    names, number = [], 1
    for value in params:
        if value is None:
            names.append("NULL")
        else:
            names.append(f"@P{number}")
            number += 1
    return sql % names[0] if len(names) == 1 else sql % tuple(names)


JOB_ROW = {
    "id": JOB_ID,
    "name": "flow",
    "script": "/srv/flow.py",
    "source": "print('hi')\n",
    "source_sha256": "0" * 64,
    "args": "[]",
    "status": "Waiting",
    "reason": None,
    "created_at": NOW,
    "updated_at": NOW,
    "owner_host": "server1",
    "owner_pid": 4242,
    "owner_started": NOW - 5,
    "lease_until": None,
    "attempts": 1,
    "due_at": None,
    "waits_for": None,
    "waiting_since": None,
    "workflow": None,
    "workflow_version": None,
    "cwd": "/srv",
    "live_output": "2 of 3 rows\n",
    "env": '["API_TOKEN"]',
    "signature": SIGNATURE,
    "queue": "default",
    "priority": 0,
    "parent": None,
    "awaited": False,
    "result": None,
}
ROWS = {
    "psflow_job": JOB_ROW,
    "psflow_attempt": {
        "id": 1,
        "job_id": JOB_ID,
        "number": 1,
        "host": "server1",
        "pid": 4242,
        "source_sha256": "0" * 64,
        "started_at": NOW,
        "ended_at": NOW + 1,
        "outcome": "Waiting",
        "reason": "approval pending",
        "output": "done\n",
        "error": None,
    },
    "psflow_block": {
        "id": run_id(1, 1),
        "job_id": JOB_ID,
        "name": "Step1",
        "status": "Completed",
        "saved": '{"rows": 3}',
        "mutated": None,
        "exit_kind": "normal",
        "returned": None,
        "output": "3 rows\n",
        "error": None,
        "started_at": NOW,
        "ended_at": NOW + 0.5,
        "attempt": 1,
        "host": "server1",
        "pid": 4242,
        "tries": 1,
        "fingerprint": None,
        "lead": "starting\n",
    },
    "psflow_schema_version": {"id": 1, "version": SCHEMA_VERSION},
    "psflow_signal": {
        "id": 1,
        "job_id": JOB_ID,
        "name": "approved",
        "value": "true",
        "host": "server1",
        "user": "ops",
        "created_at": NOW,
    },
    "psflow_workflow": {
        "id": 1,
        "name": "nightly",
        "version": 1,
        "source": "print('hi')\n",
        "source_sha256": "0" * 64,
        "script": "/srv/nightly.py",
        "created_at": NOW,
        "host": "server1",
        "user": "ops",
        "signature": SIGNATURE,
        # list_workflows joins its rows to their grouped versions: the derived table's columns
        "versions": 1,
        "first": NOW,
    },
    "psflow_queue": {"name": "deploy", "max_running": 2, "updated_at": NOW},
}


@dataclass
class FakeServer:
    """Records statements and answers them plausibly. Not a database: it keeps no data."""

    style: str
    tables: list[str] = field(default_factory=lambda: list(TABLES))
    version: int | None = 16  # SQL Server 2022
    select_rows: list[int] = field(default_factory=list)  # rows for the next SELECTs (default 1)
    rowcount: int = 1  # for UPDATE and MERGE
    rowcounts: list[int] = field(default_factory=list)  # for the next writes (then `rowcount`)
    fail: tuple[str, Exception, str] | None = None  # (statement start, error, "execute" or "fetch")
    applock: str = "Exclusive"
    schema_version: int = SCHEMA_VERSION  # what psflow_schema_version says
    log: list[Statement] = field(default_factory=list)

    def connect(self) -> FakeConnection:
        return FakeConnection(self)

    def answer(self, statement: Statement) -> tuple[list[str] | None, list[tuple], int]:
        """(column names or None, rows, rowcount) for a statement."""
        sql = statement.template
        if sql.startswith("SELECT CAST(SERVERPROPERTY('ProductMajorVersion')"):
            return ["major"], [(self.version,)], -1
        if sql.startswith("SELECT OBJECT_ID("):
            table = statement.params[0].strip("[]")
            return ["object_id"], [(1000 + TABLES.index(table) if table in self.tables else None,)], -1
        if "[INFORMATION_SCHEMA].[TABLES]" in sql:
            return ["TABLE_NAME"], [(name,) for name in self.tables], -1
        if sql.startswith("SELECT APPLOCK_MODE("):
            return ["mode"], [(self.applock,)], -1
        if sql.startswith("SELECT CASE WHEN EXISTS("):
            return ["exists"], [(int("psflow_schema_version" in self.tables),)], -1
        if sql.startswith("SELECT "):
            tree = sqlglot.parse_one(statement.sent if self.style == "pytds" else statement.literal, read="tsql")
            table = tree.find(exp.Table).name
            count = self.select_rows.pop(0) if self.select_rows else 1
            rows = [_row(table, tree.selects, number, self.schema_version) for number in range(count)]
            return [column.alias_or_name for column in tree.selects], rows, -1
        if sql.startswith("INSERT ") and " OUTPUT INSERTED." in sql:
            table = re.match(r"INSERT INTO \[(\w+)\]", sql).group(1)
            return ["id"], [(ROWS[table]["id"],)], 1
        if sql.startswith(("UPDATE ", "MERGE ", "DELETE ", "INSERT ")):
            # a fenced INSERT ... SELECT inserts 1 row, or none
            return None, [], self.rowcounts.pop(0) if self.rowcounts else self.rowcount
        return None, [], -1  # DDL, transactions, EXEC


def _row(table: str, selects: list[exp.Expression], number: int, schema_version: int) -> tuple:
    values = dict(ROWS[table], version=schema_version) if table == "psflow_schema_version" else dict(ROWS[table])
    if number and table == "psflow_job":
        values["id"] = f"{JOB_ID}{number}"
    # A column is answered from its table's row (a name the row lacks is a KeyError: the fake must
    # know every column psflow selects); COUNT(...) is 1, another aggregate (MIN, MAX) its column's value.
    # A joined table's column (`[t2].[error]` of a child's last attempt) comes from that table's row.
    if table == "psflow_job":
        values = {**ROWS["psflow_attempt"], **values}
    return tuple(
        1 if isinstance(select, exp.Count) else values[select.alias_or_name or select.find(exp.Column).name]
        for select in selects
    )


class FakeConnection:
    """Just enough of a DB-API connection for peewee: cursors and close."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.server)

    def close(self) -> None:
        self.closed = True


class FakeCursor:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.description = None
        self.rowcount = -1
        self._rows: list[tuple] = []
        self._fail_on_fetch: Exception | None = None

    def execute(self, sql: str, params: tuple | list | None = None) -> FakeCursor:
        params = tuple(params) if params is not None else ()
        if self.server.style == "pytds":
            sent = pytds_operation(sql, params)  # raises as pytds would on a stray % or a count mismatch
        else:
            assert len(_split_outside_quotes(sql, "?")) == len(params) + 1, (sql, params)
            sent = sql
        statement = Statement(sql, params, self.server.style, sent)
        self.server.log.append(statement)
        if self.server.fail and sql.startswith(self.server.fail[0]):
            _, error, when = self.server.fail
            self.server.fail = None
            if when == "execute":
                raise error
            self._fail_on_fetch = error
        names, self._rows, self.rowcount = self.server.answer(statement)
        self.description = [(name, None, None, None, None, None, None) for name in names] if names else None
        return self

    def fetchone(self) -> tuple | None:
        if self._fail_on_fetch is not None:
            error, self._fail_on_fetch = self._fail_on_fetch, None
            raise error
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> FakeCursor:  # both drivers' cursors iterate over their rows (fetchone until None)
        return self

    def __next__(self) -> tuple:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def close(self) -> None:
        pass


# ---- validation --------------------------------------------------------------------

#: Words T-SQL does not have, or that psflow must not use on SQL Server.
FORBIDDEN_WORDS = {
    "LIMIT": "paging is OFFSET … FETCH NEXT",
    "RETURNING": "T-SQL returns rows with OUTPUT INSERTED.…",
    "CONFLICT": "no INSERT … ON CONFLICT (psflow does not upsert)",
    "EXCLUDED": "no EXCLUDED pseudo-table",
    "AUTOINCREMENT": "IDENTITY(1,1)",
    "AUTO_INCREMENT": "IDENTITY(1,1)",
    "SERIAL": "IDENTITY(1,1)",
    "BOOLEAN": "BIT",
    "TEXT": "TEXT is deprecated: NVARCHAR(MAX)",
    "NTEXT": "NTEXT is deprecated: NVARCHAR(MAX)",
    "REAL": "REAL is 4 bytes: FLOAT",
    "DATETIME": "DATETIME2",
    "VARCHAR": "NVARCHAR (Unicode)",
    "ILIKE": "LIKE",
    "SAVEPOINT": "SAVE TRANSACTION",
    "RELEASE": "T-SQL has no RELEASE SAVEPOINT",
    "TRUE": "no boolean literals: 1",
    "FALSE": "no boolean literals: 0",
}
_NOT_WORDS = (TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.IDENTIFIER)


@dataclass(frozen=True)
class Verdict:
    sqlglot_kinds: tuple[str, ...]
    sqlfluff_kinds: tuple[str, ...]


def words(sql: str) -> list[str]:
    """The statement's keywords and bare names, upper-cased; strings and [quoted] names left out."""
    tokens = sqlglot.Dialect.get_or_raise("tsql").tokenize(sql)
    return [token.text.upper() for token in tokens if token.token_type not in _NOT_WORDS]


def forbidden(sql: str) -> list[str]:
    """Why `sql` is not T-SQL as psflow means to write it; empty when it is fine."""
    found = [f"{word}: {FORBIDDEN_WORDS[word]}" for word in words(sql) if word in FORBIDDEN_WORDS]
    sequence = " ".join(words(sql))
    if re.search(r"\bCREATE (UNIQUE )?(TABLE|INDEX) IF\b", sequence):
        found.append("CREATE … IF NOT EXISTS: guard with IF OBJECT_ID(…) / IF NOT EXISTS (… sys.indexes …)")
    if re.search(r"\bBEGIN\b(?! TRAN)", sequence):
        found.append("bare BEGIN: BEGIN TRANSACTION")
    outside_strings = re.sub(r"N?'(?:[^']|'')*'", "''", sql)
    for mark, why in (
        ("`", "backtick quoting"),
        ('"', "double-quoted names: psflow uses [brackets]"),
        ("||", "|| is not concatenation"),
    ):
        if mark in outside_strings:
            found.append(why)
    return found


@functools.cache
def validate(sql: str, *, sqlglot_gap: bool = False, sqlfluff_gap: bool = False) -> Verdict:
    """Check one statement with sqlglot, sqlfluff and the token list; the kinds each parser saw.

    A gap is a statement one parser does not know (sqlglot: SAVE TRANSACTION; sqlfluff: `]]`
    inside a bracketed name): the other parser and the token check judge it alone.
    """
    problems = forbidden(sql)
    assert not problems, f"{sql}\n  " + "\n  ".join(problems)
    assert "%s" not in sql and not re.search(r"\?(?![^\[]*\])", sql.replace("N'?'", "")), f"placeholder left: {sql}"

    glot_kinds: tuple[str, ...] = ()
    if not sqlglot_gap:
        trees = sqlglot.parse(sql, read="tsql")
        assert trees and all(tree is not None for tree in trees), sql
        for tree in trees:
            fallbacks = list(tree.find_all(exp.Command))
            assert not fallbacks, f"sqlglot could not parse (fell back to Command): {sql}"
            for select in tree.find_all(exp.Select):
                assert not any(isinstance(e.unalias(), exp.Exists) for e in select.expressions), (
                    f"EXISTS is a predicate in T-SQL, not a value: {sql}"
                )
            again = sqlglot.parse_one(tree.sql(dialect="tsql"), read="tsql")
            assert again == tree, f"sqlglot round trip changed the statement:\n{sql}\n{tree.sql(dialect='tsql')}"
        glot_kinds = tuple(type(tree).__name__ for tree in trees)

    if sqlfluff_gap:
        return Verdict(glot_kinds, ())
    return Verdict(glot_kinds, _fluff_kinds_of(_shape(sql)))


_STRING, _NUMBER = re.compile(r"N?'(?:[^']|'')*'"), re.compile(r"\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")


def _shape(sql: str) -> str:
    """`sql` with every string and number literal the same: statements that differ only in values
    parse alike, and sqlfluff (~0.1 s a statement) parses each shape once."""
    return _NUMBER.sub("0", _STRING.sub("N'v'", sql))


# pytest's cache (.pytest_cache), once the session has begun: sqlfluff's verdict on a shape is a pure function of
# the shape and sqlfluff's version, so a verdict reached once is kept between runs and a second run parses only the
# shapes that changed (sqlfluff is most of this module's time). Verdicts of statements it cannot parse are not kept.
_KEPT: list[pytest.Cache] = []


@pytest.fixture(scope="session", autouse=True)
def _verdicts_kept_between_runs(pytestconfig: pytest.Config):
    cache = getattr(pytestconfig, "cache", None)  # None under `-p no:cacheprovider`
    _KEPT[:] = [cache] if cache is not None else []
    yield
    _KEPT.clear()


@functools.cache
def _fluff_kinds_of(sql: str) -> tuple[str, ...]:
    key = f"psflow/sqlfluff-{sqlfluff.__version__}/{hashlib.sha256(sql.encode()).hexdigest()[:40]}"
    kept = _KEPT[0].get(key, None) if _KEPT else None
    if isinstance(kept, list) and all(isinstance(kind, str) for kind in kept):
        return tuple(kept)
    try:
        parsed = sqlfluff.parse(sql, config=_fluff_config())
    except sqlfluff.api.APIParsingError as error:
        raise AssertionError(f"sqlfluff (tsql) cannot parse:\n{sql}\n{error}") from None
    assert "unparsable" not in repr(parsed), sql
    kinds = tuple(_fluff_kinds(parsed))
    if _KEPT:
        _KEPT[0].set(key, list(kinds))
    return kinds


@functools.cache
def _fluff_config() -> sqlfluff.core.FluffConfig:
    """Built once: sqlfluff's simple API builds its config and dialect again at every call."""
    return sqlfluff.api.simple.get_simple_config(dialect="tsql")


def _fluff_kinds(parsed: dict) -> list[str]:
    batches = parsed["file"]["batch"] if isinstance(parsed["file"], dict) else []
    statements = batches.get("statement") if isinstance(batches, dict) else [b["statement"] for b in batches]
    statements = statements if isinstance(statements, list) else [statements]
    return [next(iter(statement)) for statement in statements]


#: What SQL Server takes in one statement: parameters of an RPC call, rows of a VALUES list.
MAX_PARAMETERS, MAX_VALUES_ROWS = 2100, 1000


def check_all(log: list[Statement], **options: bool) -> list[Verdict]:
    """Validate every captured statement: the literal form, and for pytds also the exact text sent;
    none binds more parameters, or inserts more VALUES rows, than SQL Server takes."""
    verdicts = []
    for statement in log:
        assert len(statement.params) <= MAX_PARAMETERS, f"{len(statement.params)} parameters: {statement.template}"
        assert statement.template.count("), (") < MAX_VALUES_ROWS, f"too many VALUES rows: {statement.template}"
        verdicts.append(validate(statement.literal, **options))
        if statement.style == "pytds":
            validate(statement.sent, **options)  # sp_executesql's text: @P1 … are T-SQL variables
    return verdicts


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(params=["pytds", "pyodbc"])
def server(request, monkeypatch) -> FakeServer:
    """A fake server that the driver's connect function reaches, in either driver's parameter style."""
    fake = FakeServer(request.param)
    monkeypatch.setattr(mssql, "connect_pytds", lambda target: fake.connect())
    monkeypatch.setattr(mssql, "connect_pyodbc", lambda target: fake.connect())
    return fake


def fake_url(server: FakeServer) -> str:
    """URL, naming the fake server's driver."""
    return URL if server.style == "pytds" else URL.replace("mssql", "mssql+pyodbc", 1)


def fake_database(server: FakeServer) -> mssql.MssqlDatabase:
    """What open_database does, without the driver import check: the Database, not yet connected."""
    return mssql.MssqlDatabase(mssql.parse_mssql_url(fake_url(server)))


def open_fake(server: FakeServer) -> mssql.MssqlDatabase:
    """The fake server's Database, connected (no tables bound: each test binds its own)."""
    db = fake_database(server)
    db.connect()
    return db


def fake_store(server: FakeServer) -> Store:
    """What open_store does, without the driver import check: a Store that has not connected yet."""
    return Store(fake_database(server), fake_url(server))


@pytest.fixture
def store(server: FakeServer) -> Store:
    """A Store on an existing psflow database, connected and its schema checked (it does both
    lazily, on first use); the log starts empty."""
    store = fake_store(server)
    store._ensure_ready()
    assert_statements(server.log, *_CONNECT, *_SCHEMA_CHECK)
    server.log.clear()
    return store


def starts(log: list[Statement]) -> list[str]:
    return [statement.template for statement in log]


def assert_statements(log: list[Statement], *expected: str) -> None:
    """The log, statement by statement, starts with each expected text (placeholders as {p})."""
    templates = starts(log)
    assert len(templates) == len(expected), "\n".join(templates)
    for template, start in zip(templates, expected, strict=True):
        style_free = template.replace("%s", "{p}").replace("?", "{p}")
        assert style_free.startswith(start), f"{template}\n  does not start with\n{start}"


# ---- schema -----------------------------------------------------------------------------

_CONNECT = ("SET NOCOUNT OFF", "SELECT CAST(SERVERPROPERTY('ProductMajorVersion') AS INT)")
_SCHEMA_CHECK = (
    "SELECT OBJECT_ID({p}, N'U')",
    (
        "SELECT [t1].[version] FROM [psflow_schema_version] AS [t1] ORDER BY [t1].[id] DESC "
        "OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY"
    ),
)


def test_schema_created_on_an_empty_database(server):
    server.tables = []
    db = open_fake(server)
    ensure_schema(db, bind_tables(db))
    created: list[str] = []
    for sql in starts(server.log):  # SQL Server refuses a FOREIGN KEY to a table not created yet
        table = re.search(r"CREATE TABLE \[(\w+)\]", sql)
        if table:
            for parent in re.findall(r"REFERENCES \[(\w+)\]", sql):
                assert parent in created, f"[{table.group(1)}] references [{parent}] before it is created"
            created.append(table.group(1))
    assert_statements(
        server.log,
        *_CONNECT,
        "SELECT OBJECT_ID({p}, N'U')",
        "BEGIN TRANSACTION",
        "EXEC sp_getapplock @Resource = N'psflow_schema'",
        "SELECT APPLOCK_MODE(N'public', N'psflow_schema', N'Transaction')",
        "IF OBJECT_ID(N'[psflow_job]', N'U') IS NULL CREATE TABLE [psflow_job] "
        f"([id] NVARCHAR(64) COLLATE {tsql.COLLATION} NOT NULL PRIMARY KEY, ",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_job_status' "
        "AND object_id = OBJECT_ID(N'[psflow_job]')) CREATE INDEX [psflow_job_status] ON [psflow_job] ([status])",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_job_parent' "
        "AND object_id = OBJECT_ID(N'[psflow_job]')) CREATE INDEX [psflow_job_parent] ON [psflow_job] ([parent])",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_job_status_due_at' "
        "AND object_id = OBJECT_ID(N'[psflow_job]')) CREATE INDEX [psflow_job_status_due_at] ON [psflow_job] "
        "([status], [due_at])",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_job_queue_status' "
        "AND object_id = OBJECT_ID(N'[psflow_job]')) CREATE INDEX [psflow_job_queue_status] ON [psflow_job] "
        "([queue], [status])",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_job_unended_children' "
        "AND object_id = OBJECT_ID(N'[psflow_job]')) " + _UNENDED_CHILDREN_INDEX,
        "IF OBJECT_ID(N'[psflow_attempt]', N'U') IS NULL CREATE TABLE [psflow_attempt] ",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_attempt_job_id' ",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_attempt_job_id_number' ",
        "IF OBJECT_ID(N'[psflow_block]', N'U') IS NULL CREATE TABLE [psflow_block] ",
        "IF OBJECT_ID(N'[psflow_queue]', N'U') IS NULL CREATE TABLE [psflow_queue] ",
        "IF OBJECT_ID(N'[psflow_schema_version]', N'U') IS NULL CREATE TABLE [psflow_schema_version] "
        "([id] INT IDENTITY(1,1) NOT NULL PRIMARY KEY, [version] INT NOT NULL)",
        "IF OBJECT_ID(N'[psflow_signal]', N'U') IS NULL CREATE TABLE [psflow_signal] ",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_signal_job_id' "
        "AND object_id = OBJECT_ID(N'[psflow_signal]')) "
        "CREATE INDEX [psflow_signal_job_id] ON [psflow_signal] ([job_id])",
        "IF OBJECT_ID(N'[psflow_workflow]', N'U') IS NULL CREATE TABLE [psflow_workflow] ",
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_workflow_name_version' "
        "AND object_id = OBJECT_ID(N'[psflow_workflow]')) CREATE UNIQUE INDEX [psflow_workflow_name_version] "
        "ON [psflow_workflow] ([name], [version])",
        "SELECT CASE WHEN EXISTS(SELECT ",
        "INSERT INTO [psflow_schema_version] ([version]) VALUES ({p})",
        "COMMIT TRANSACTION",
    )
    check_all(server.log)
    (block_table,) = [sql for sql in starts(server.log) if "CREATE TABLE [psflow_block]" in sql]
    for column in (
        "[saved] NVARCHAR(MAX)",
        "[started_at] FLOAT NOT NULL",
        "[pid] INT NOT NULL",
        "[error] NVARCHAR(MAX)",
        "[tries] INT NOT NULL",
        f"[fingerprint] NVARCHAR(64) COLLATE {tsql.COLLATION} NULL",
    ):
        assert column in block_table
    assert f"[error] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL" in block_table
    assert "FOREIGN KEY ([job_id]) REFERENCES [psflow_job] ([id]) ON DELETE CASCADE" in block_table


def test_schema_read_on_an_existing_database(server):
    db = open_fake(server)
    ensure_schema(db, bind_tables(db))
    assert_statements(server.log, *_CONNECT, *_SCHEMA_CHECK)
    check_all(server.log)


def test_store_connects_and_checks_the_schema_on_first_use_only(server):
    """A Store touches nothing until used; its first call connects and checks the schema, once."""
    store = fake_store(server)
    assert server.log == [] and store.db.is_closed()
    store.update_source(JOB_ID, 1, "x", "1" * 64, signature=SIGNATURE)
    store.update_source(JOB_ID, 1, "y", "2" * 64, signature=SIGNATURE)
    update = (
        "UPDATE [psflow_job] SET [source] = {p}, [source_sha256] = {p}, [signature] = {p} "
        "WHERE ((([psflow_job].[id] = {p}) "
    )
    assert_statements(server.log, *_CONNECT, *_SCHEMA_CHECK, update, update)
    check_all(server.log)


def test_store_creates_the_schema_on_first_use_of_an_empty_database(server):
    server.tables = []
    store = fake_store(server)
    assert store.get_job(JOB_ID).id == JOB_ID
    sqls = starts(server.log)
    assert sqls[: len(_CONNECT)] == list(_CONNECT)
    assert "IF OBJECT_ID(N'[psflow_job]', N'U') IS NULL CREATE TABLE [psflow_job] " in " ".join(sqls)
    assert sqls[-2] == "COMMIT TRANSACTION" and sqls[-1].startswith(_JOB_COLUMNS)
    check_all(server.log)


def test_a_store_that_only_reads_creates_nothing(server):
    """`psflow jobs`, `job`, `logs` … (create=False): an empty database is refused, never created."""
    server.tables = []
    reader = Store(fake_database(server), fake_url(server), create=False)
    with pytest.raises(StoreError, match=re.escape("psflow:***@db.example:1433/psflow (psflow init --mssql CONNSTR")):
        reader.list_jobs()
    assert_statements(server.log, *_CONNECT, "SELECT OBJECT_ID({p}, N'U')")  # and nothing else
    check_all(server.log)


def test_a_store_that_only_reads_checks_the_schema_like_any_other(server):
    reader = Store(fake_database(server), fake_url(server), create=False)
    assert reader.get_job(JOB_ID) == FAKE_JOB
    assert_statements(server.log, *_CONNECT, *_SCHEMA_CHECK, _JOB_COLUMNS)
    check_all(server.log)


def test_schema_lock_timeout_is_a_store_error(server):
    server.tables, server.applock = [], "NoLock"
    db = open_fake(server)
    with pytest.raises(StoreError, match="creating the psflow schema"):
        ensure_schema(db, bind_tables(db))
    assert starts(server.log)[-1] == "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"
    check_all(server.log)


def test_table_listing_for_peewee_tools(server):
    """Not used by psflow itself (table_exists asks OBJECT_ID), but part of the Database's API."""
    db = open_fake(server)
    server.log.clear()
    assert db.get_tables() == TABLES and db.get_tables(schema="dbo") == TABLES
    assert_statements(
        server.log,
        "SELECT [TABLE_NAME] FROM [INFORMATION_SCHEMA].[TABLES] WHERE [TABLE_TYPE] = N'BASE TABLE' "
        "AND [TABLE_SCHEMA] = SCHEMA_NAME() ORDER BY [TABLE_NAME]",
        "SELECT [TABLE_NAME] FROM [INFORMATION_SCHEMA].[TABLES] WHERE [TABLE_TYPE] = N'BASE TABLE' "
        "AND [TABLE_SCHEMA] = {p} ORDER BY [TABLE_NAME]",
    )
    check_all(server.log)


def test_server_older_than_2012_is_refused(server):
    server.version = None  # SERVERPROPERTY('ProductMajorVersion') is NULL before 2012
    db = mssql.MssqlDatabase(mssql.parse_mssql_url(URL))
    with pytest.raises(StoreError, match="needs SQL Server 2012"):
        db.connect()
    check_all(server.log)


# ---- schema upgrades ------------------------------------------------------------------------

_UPGRADE_1_TO_2 = (
    "DROP INDEX [psflow_block_job_id_name] ON [psflow_block]",
    "ALTER TABLE [psflow_block] ADD [tries] INT NULL",
    "UPDATE [psflow_block] SET [tries] = {p}",
    "ALTER TABLE [psflow_block] ALTER COLUMN [tries] INT NOT NULL",
    f"ALTER TABLE [psflow_block] ADD [fingerprint] NVARCHAR(64) COLLATE {tsql.COLLATION} NULL",
    "CREATE UNIQUE INDEX [psflow_block_job_id_name_attempt] ON [psflow_block] ([job_id], [name], [attempt])",
    "ALTER TABLE [psflow_job] ADD [due_at] FLOAT NULL",
    f"ALTER TABLE [psflow_job] ADD [workflow] NVARCHAR(255) COLLATE {tsql.COLLATION} NULL",
    "ALTER TABLE [psflow_job] ADD [workflow_version] INT NULL",
    "IF OBJECT_ID(N'[psflow_signal]', N'U') IS NULL CREATE TABLE [psflow_signal] ",
    "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_signal_job_id' ",
    "IF OBJECT_ID(N'[psflow_workflow]', N'U') IS NULL CREATE TABLE [psflow_workflow] ",
    "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'psflow_workflow_name_version' ",
)
_UPGRADE_2_TO_3 = (
    "ALTER TABLE [psflow_job] ADD [owner_started] FLOAT NULL",
    f"ALTER TABLE [psflow_job] ADD [waits_for] NVARCHAR(255) COLLATE {tsql.COLLATION} NULL",
    "ALTER TABLE [psflow_job] ADD [waiting_since] FLOAT NULL",
    f"ALTER TABLE [psflow_job] ADD [cwd] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    f"ALTER TABLE [psflow_job] ADD [live_output] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    "CREATE INDEX [psflow_job_status_due_at] ON [psflow_job] ([status], [due_at])",
    f"ALTER TABLE [psflow_attempt] ADD [output] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    f"ALTER TABLE [psflow_attempt] ADD [error] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    f"ALTER TABLE [psflow_block] ADD [lead] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    # Each its own batch (a statement of its own): SQL Server compiles a batch before running it,
    # so these could not name the columns the ALTER TABLEs above add in the same batch.
    "UPDATE psflow_job SET due_at = updated_at WHERE due_at IS NULL AND status NOT IN ({p}, {p}, {p})",
    "UPDATE psflow_job SET due_at = lease_until WHERE status = {p}",
)
_UPGRADE_3_TO_4 = (
    f"ALTER TABLE [psflow_job] ADD [env] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    f"ALTER TABLE [psflow_job] ADD [signature] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    f"ALTER TABLE [psflow_workflow] ADD [signature] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
)
_UPGRADE_4_TO_5 = (
    f"ALTER TABLE [psflow_job] ADD [queue] NVARCHAR(255) COLLATE {tsql.COLLATION} NULL",
    "UPDATE [psflow_job] SET [queue] = {p}",
    f"ALTER TABLE [psflow_job] ALTER COLUMN [queue] NVARCHAR(255) COLLATE {tsql.COLLATION} NOT NULL",
    "ALTER TABLE [psflow_job] ADD [priority] INT NULL",
    "UPDATE [psflow_job] SET [priority] = {p}",
    "ALTER TABLE [psflow_job] ALTER COLUMN [priority] INT NOT NULL",
    f"ALTER TABLE [psflow_job] ADD [parent] NVARCHAR(64) COLLATE {tsql.COLLATION} NULL",
    "ALTER TABLE [psflow_job] ADD [awaited] BIT NULL",
    "UPDATE [psflow_job] SET [awaited] = {p}",
    "ALTER TABLE [psflow_job] ALTER COLUMN [awaited] BIT NOT NULL",
    f"ALTER TABLE [psflow_job] ADD [result] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
    "CREATE INDEX [psflow_job_parent] ON [psflow_job] ([parent])",
    "CREATE INDEX [psflow_job_queue_status] ON [psflow_job] ([queue], [status])",
    (
        "IF OBJECT_ID(N'[psflow_queue]', N'U') IS NULL CREATE TABLE [psflow_queue] "
        f"([name] NVARCHAR(255) COLLATE {tsql.COLLATION} NOT NULL PRIMARY KEY, [max_running] INT NULL, "
        "[updated_at] FLOAT NOT NULL)"
    ),
)
#: A filtered index (no NOT IN: SQL Server's filters take comparisons joined by AND), with literals, as
#: the query it serves states them: a parameter would never match it.
_UNENDED_CHILDREN_INDEX = (
    "CREATE INDEX [psflow_job_unended_children] ON [psflow_job] ([parent], [awaited]) "
    "WHERE (([parent] IS NOT NULL) AND ((([status] != 'Completed') AND ([status] != 'Cancelled')) "
    "AND ([status] != 'Failed')))"
)
_UPGRADE_5_TO_6 = (_UNENDED_CHILDREN_INDEX,)
#: The block table made anew, keyed by (job_id, id), filled from the old one and renamed to its name.
_UPGRADE_6_TO_7 = (
    f"CREATE TABLE [psflow_block_v7] ([job_id] NVARCHAR(64) COLLATE {tsql.COLLATION} NOT NULL, [id] BIGINT NOT NULL, ",
    (
        "INSERT INTO [psflow_block_v7] ([job_id], [id], [name], [status], [saved], [mutated], [exit_kind], "
        "[returned], [output], [error], [started_at], [ended_at], [attempt], [host], [pid], [tries], [fingerprint], "
        "[lead]) SELECT [t1].[job_id], (([t1].[attempt] * {p}) + [t1].[id]), [t1].[name], "
    ),
    "DROP TABLE [psflow_block]",
    "EXEC sp_rename N'psflow_block_v7', N'psflow_block'",
)
_UNDER_THE_SCHEMA_LOCK = (
    "BEGIN TRANSACTION",
    "EXEC sp_getapplock @Resource = N'psflow_schema'",
    "SELECT APPLOCK_MODE(N'public', N'psflow_schema', N'Transaction')",
    "SELECT OBJECT_ID({p}, N'U')",
    "SELECT [t1].[version] FROM [psflow_schema_version] AS [t1] ORDER BY [t1].[id] DESC",
)


def _assert_upgraded(server: FakeServer, *steps: tuple[str, ...]) -> None:
    """The log: under the schema lock, each step's statements, then the new version, committed."""
    assert_statements(
        server.log,
        *_UNDER_THE_SCHEMA_LOCK,
        *(statement for step in steps for statement in step),
        "INSERT INTO [psflow_schema_version] ([version]) VALUES ({p})",
        "COMMIT TRANSACTION",
    )


def _opened_at(server: FakeServer, version: int) -> mssql.MssqlDatabase:
    """A connected database that says it has schema `version`; the log starts empty."""
    server.schema_version = version
    db = open_fake(server)
    server.log.clear()
    return db


@pytest.fixture
def v1_database(server: FakeServer) -> mssql.MssqlDatabase:
    """A connected database whose tables are psflow's first schema; the log starts empty."""
    server.tables = list(TABLES_V1)
    return _opened_at(server, 1)


@pytest.fixture
def v2_database(server: FakeServer) -> mssql.MssqlDatabase:
    """A connected database with schema 2's tables (all of today's, fewer columns); the log starts empty."""
    return _opened_at(server, 2)


@pytest.fixture
def v4_database(server: FakeServer) -> mssql.MssqlDatabase:
    """A connected database with schema 4's tables (no queues yet); the log starts empty."""
    server.tables.remove("psflow_queue")
    return _opened_at(server, 4)


@pytest.fixture
def v5_database(server: FakeServer) -> mssql.MssqlDatabase:
    """A connected database with schema 5's tables (no index of unended children); the log starts empty."""
    return _opened_at(server, 5)


@pytest.fixture
def v6_database(server: FakeServer) -> mssql.MssqlDatabase:
    """A connected database with schema 6's tables (blocks in a table of their own ids); the log starts empty."""
    return _opened_at(server, 6)


@pytest.fixture
def v3_database(server: FakeServer) -> mssql.MssqlDatabase:
    """A connected database with schema 3's tables (no signatures yet); the log starts empty."""
    return _opened_at(server, 3)


def test_every_command_refuses_schema_1_until_upgraded(v1_database, server: FakeServer):
    refused = re.escape(f"schema 1, this psflow needs {SCHEMA_VERSION}: run `psflow init --upgrade`")
    with pytest.raises(StoreError, match=refused):
        ensure_schema(v1_database, bind_tables(v1_database))
    store = Store(v1_database, fake_url(server))
    for command in (store.list_jobs, lambda: store.save_block(JOB_ID, RECORD)):
        with pytest.raises(StoreError, match=refused):
            command()
    assert_statements(server.log, *_SCHEMA_CHECK, *_SCHEMA_CHECK, *_SCHEMA_CHECK)  # and nothing else
    assert not any(sql.startswith(("ALTER", "CREATE", "DROP", "INSERT")) for sql in starts(server.log))


def test_a_newer_schema_is_refused(server: FakeServer):
    server.schema_version = 99
    db = open_fake(server)
    with pytest.raises(StoreError, match=f"schema 99, newer than this psflow's {SCHEMA_VERSION}"):
        ensure_schema(db, bind_tables(db))
    with pytest.raises(StoreError, match=f"schema 99, newer than this psflow's {SCHEMA_VERSION}"):
        fake_store(server).list_jobs()


def test_upgrade_from_schema_1_in_one_transaction(v1_database, server: FakeServer):
    """playhouse.migrate has no SQL Server migrator: MssqlMigrator's T-SQL, under the schema lock."""
    assert upgrade(v1_database, bind_tables(v1_database)) == (1, SCHEMA_VERSION)
    _assert_upgraded(
        server, _UPGRADE_1_TO_2, _UPGRADE_2_TO_3, _UPGRADE_3_TO_4, _UPGRADE_4_TO_5, _UPGRADE_5_TO_6, _UPGRADE_6_TO_7
    )
    default = next(statement for statement in server.log if statement.template.startswith("UPDATE [psflow_block]"))
    version = server.log[-2]
    assert default.params == (1,) and version.params == (SCHEMA_VERSION,)
    check_all(server.log)


def test_upgrade_from_schema_2_in_one_transaction(v2_database, server: FakeServer):
    """Schema 3's columns and index; jobs that waited for nothing become due since their last update,
    Running ones when their lease ends."""
    assert upgrade(v2_database, bind_tables(v2_database)) == (2, SCHEMA_VERSION)
    _assert_upgraded(server, _UPGRADE_2_TO_3, _UPGRADE_3_TO_4, _UPGRADE_4_TO_5, _UPGRADE_5_TO_6, _UPGRADE_6_TO_7)
    due_now, due_at_lease = (
        statement for statement in server.log if statement.template.startswith("UPDATE psflow_job")
    )
    assert due_now.params == ("Completed", "Cancelled", "Running") and due_at_lease.params == ("Running",)
    check_all(server.log)


def test_upgrade_from_schema_3_adds_the_signature_columns(v3_database, server: FakeServer):
    """Schema 4: nullable columns only (rows from before stay unsigned, and are refused until signed)."""
    assert upgrade(v3_database, bind_tables(v3_database)) == (3, SCHEMA_VERSION)
    _assert_upgraded(server, _UPGRADE_3_TO_4, _UPGRADE_4_TO_5, _UPGRADE_5_TO_6, _UPGRADE_6_TO_7)
    assert server.log[-2].params == (SCHEMA_VERSION,)
    check_all(server.log)


def test_upgrade_from_schema_4_adds_queues_children_and_results(v4_database, server: FakeServer):
    """Schema 5: a queue for every old job ("default"), priority 0, no parent, not awaited; psflow_queue."""
    assert upgrade(v4_database, bind_tables(v4_database)) == (4, SCHEMA_VERSION)
    _assert_upgraded(server, _UPGRADE_4_TO_5, _UPGRADE_5_TO_6, _UPGRADE_6_TO_7)
    defaults = [statement.params for statement in server.log if statement.template.startswith("UPDATE [psflow_job]")]
    assert defaults == [("default",), (0,), (False,)]
    check_all(server.log)


def test_upgrade_from_schema_5_adds_the_index_of_unended_children(v5_database, server: FakeServer):
    """Schema 6: one filtered index, nothing else."""
    assert upgrade(v5_database, bind_tables(v5_database)) == (5, SCHEMA_VERSION)
    _assert_upgraded(server, _UPGRADE_5_TO_6, _UPGRADE_6_TO_7)
    check_all(server.log)


def test_upgrade_from_schema_6_rebuilds_the_block_table(v6_database, server: FakeServer):
    """Schema 7: each old run's id becomes attempt * 2**32 + its old id, in a table keyed by (job_id, id)."""
    assert upgrade(v6_database, bind_tables(v6_database)) == (6, SCHEMA_VERSION)
    _assert_upgraded(server, _UPGRADE_6_TO_7)
    created, copied = (statement for statement in server.log if "psflow_block_v7]" in statement.template[:40])
    assert "PRIMARY KEY ([job_id], [id]), FOREIGN KEY ([job_id]) REFERENCES [psflow_job] ([id])" in created.template
    assert copied.params == (run_id(1, 0),)
    check_all(server.log)


def test_upgraded_schema_is_declared_as_a_fresh_one(v1_database, server: FakeServer):
    """Each added column and created table reads exactly as CREATE TABLE declares it in a new database
    (a table one step creates, with the columns later steps add to it: a fresh table declares those last)."""
    upgrade(v1_database, bind_tables(v1_database))
    upgraded = starts(server.log)
    server.log.clear()
    server.tables = []
    ensure_schema(v1_database, bind_tables(v1_database))
    fresh = " ".join(starts(server.log))
    created: dict[str, str] = {}
    # Schema 7 made the block table anew under another name: the old table's indexes went with it.
    dropped = upgraded.index("DROP TABLE [psflow_block]")
    upgraded = [
        sql for at, sql in enumerate(upgraded) if at > dropped or "INDEX" not in sql or "ON [psflow_block]" not in sql
    ]
    upgraded = [sql.replace("CREATE TABLE [psflow_block_v7]", "CREATE TABLE [psflow_block]") for sql in upgraded]
    for sql in upgraded:
        if added := re.match(r"ALTER TABLE \[(\w+)\] ADD (.*)", sql):
            table, column = added.groups()
            assert column.replace(" NULL", "") in fresh or column.replace(" NULL", " NOT NULL") in fresh, column
            if table in created:
                created[table] = f"{created[table][:-1]}, {column})"
        if new_table := re.match(r"IF OBJECT_ID\(N'\[(\w+)\]', N'U'\) IS NULL CREATE TABLE ", sql):
            created[new_table.group(1)] = sql
        if sql.startswith("CREATE "):
            assert sql in fresh, sql  # a fresh database guards the same CREATE with IF NOT EXISTS (… sys.indexes …)
    assert sorted(created) == ["psflow_queue", "psflow_signal", "psflow_workflow"]
    for sql in created.values():
        assert sql in fresh, sql
    assert "[tries] INT NOT NULL" in fresh


def test_upgrade_found_done_by_another_server_changes_nothing(server: FakeServer):
    """Two `psflow init --upgrade` at once: the second reads the current schema under the lock and stops there."""
    db = open_fake(server)
    server.log.clear()
    assert upgrade(db, bind_tables(db)) == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert_statements(server.log, *_UNDER_THE_SCHEMA_LOCK, "COMMIT TRANSACTION")


def test_failed_upgrade_rolls_everything_back(v1_database, server: FakeServer):
    pytds = pytest.importorskip("pytds")
    server.fail = (
        "ALTER TABLE [psflow_job] ADD [workflow]",
        pytds.OperationalError("The transaction log is full"),
        "execute",
    )
    with pytest.raises(Exception, match="transaction log is full"):
        upgrade(v1_database, bind_tables(v1_database))
    sqls = starts(server.log)
    assert sqls[-1] == "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"
    assert not any(sql.startswith("INSERT INTO [psflow_schema_version]") for sql in sqls)
    check_all(server.log)


def test_init_upgrades_through_the_url(monkeypatch, server: FakeServer):
    """`psflow init --upgrade --mssql …` end to end, as far as a fake server goes: schema.initialize."""
    pytest.importorskip("pytds")
    if server.style != "pytds":
        pytest.skip("one driver is enough for the path through the URL")
    server.tables, server.schema_version = list(TABLES_V1), 1
    with pytest.raises(StoreError, match=re.escape("run `psflow init --upgrade`")):
        initialize(URL)
    report = initialize(URL, upgrade=True)
    assert (report.action, report.found, report.version) == ("upgraded", 1, SCHEMA_VERSION)
    assert "DROP INDEX [psflow_block_job_id_name] ON [psflow_block]" in starts(server.log)
    check_all(server.log)


@pytest.mark.parametrize(("tables", "action"), [([], "created"), (TABLES, "current")])
def test_init_creates_the_schema_or_finds_it_current(server: FakeServer, tables: list[str], action: str):
    """`psflow init --mssql …` on an empty database and on a current one, as far as a fake server goes."""
    pytest.importorskip("pytds")
    if server.style != "pytds":
        pytest.skip("one driver is enough for the path through the URL")
    server.tables = list(tables)
    report = initialize(URL)
    assert (report.action, report.version) == (action, SCHEMA_VERSION)
    created = [sql for sql in starts(server.log) if sql.startswith("IF OBJECT_ID(")]
    assert len(created) == (len(TABLES) if action == "created" else 0)
    check_all(server.log)


def test_migrator_refuses_operations_without_tsql(server: FakeServer):
    """A later migration step must not send another dialect's DDL to SQL Server by accident."""
    migrator = schema_migrator(open_fake(server))
    assert isinstance(migrator, tsql.MssqlMigrator)
    for operation in (
        lambda: migrator.drop_column("psflow_job", "workflow"),
        lambda: migrator.rename_column("psflow_job", "workflow", "flow"),
        lambda: migrator.add_not_null("psflow_job", "workflow"),
        lambda: migrator.alter_column_type("psflow_job", "workflow", TextField()),
    ):
        with pytest.raises(NotImplementedError, match="has no T-SQL yet"):
            operation()


# ---- every public Store method -----------------------------------------------------------------

RECORD = BlockRecord(
    name="Step1",
    status="Completed",
    saved='{"rows": 3}',
    mutated=None,
    exit_kind="normal",
    returned=None,
    output="it's 100% done\n",  # a quote and a percent sign: parameters, never SQL text
    error=None,
    started_at=NOW,
    ended_at=NOW + 0.5,
    attempt=1,
    host="server1",
    pid=4242,
)
RUNNER = Runner("server1", 4242, 60, NOW - 5)
#: More jobs than one statement of add_inputs names (SQL Server takes 2100 parameters, six per input row).
MANY_JOBS = 201
OTHER_RUNNER = Runner("server2", 7, 60)
#: A job as the store reads it: its view's columns, never its source.
_JOB_COLUMNS = (
    "SELECT [t1].[id], [t1].[name], [t1].[script], [t1].[source_sha256], [t1].[args], [t1].[status], "
    "[t1].[reason], [t1].[created_at], [t1].[updated_at], [t1].[owner_host], [t1].[owner_pid], "
    "[t1].[owner_started], [t1].[lease_until], [t1].[attempts], [t1].[due_at], [t1].[waits_for], "
    "[t1].[waiting_since], [t1].[workflow], [t1].[workflow_version], [t1].[cwd], [t1].[env], [t1].[signature], "
    "[t1].[queue], [t1].[priority], [t1].[parent] FROM [psflow_job] AS [t1] "
)
#: A worker's first read: the job's view and its snapshot, in one row.
_JOB_AND_SOURCE = _JOB_COLUMNS.replace("[t1].[parent] FROM", "[t1].[parent], [t1].[source] FROM")
_WORKFLOW_COLUMNS = (
    "SELECT [t1].[name], [t1].[version], [t1].[script], [t1].[source_sha256], [t1].[created_at], "
    "[t1].[host], [t1].[user], [t1].[signature]"
)
_BLOCK_RUN_COLUMNS = (
    "SELECT [t1].[id], [t1].[name], [t1].[status], [t1].[attempt], [t1].[host], [t1].[pid], "
    "[t1].[started_at], [t1].[ended_at], [t1].[exit_kind], [t1].[tries], [t1].[error], [t1].[fingerprint]"
)
#: What the fake server answers, as views.
FAKE_JOB = JobView.from_row(tuple(JOB_ROW[column] for column in JobView.COLUMNS))
FAKE_ATTEMPT = AttemptView(1, "server1", 4242, "0" * 64, NOW, NOW + 1, "Waiting", "approval pending", "done\n", None)
FAKE_RUN = BlockRun(
    id=run_id(1, 1),
    name="Step1",
    status="Completed",
    attempt=1,
    host="server1",
    pid=4242,
    started_at=NOW,
    ended_at=NOW + 0.5,
    exit_kind="normal",
    tries=1,
    error=None,
    fingerprint=None,
)
FAKE_WORKFLOW = WorkflowView("nightly", 1, "/srv/nightly.py", "0" * 64, NOW, "server1", "ops", SIGNATURE)


def _job(status: str) -> JobView:
    return dataclasses.replace(FAKE_JOB, status=status, lease_until=NOW - 60 if status == JobStatus.RUNNING else None)


@dataclass(frozen=True)
class Scenario:
    """One Store call, the statements it must issue, and (for plausibility) what it returns."""

    id: str
    method: str
    call: Callable[[Store], Any]
    expect: tuple[str, ...]
    setup: Callable[[FakeServer], None] = lambda server: None
    returns: Callable[[Any], bool] = lambda result: True
    raises: type[Exception] | None = None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


def _create(store: Store) -> JobView | None:
    return store.create_job(
        JOB_ID,
        name="flow",
        script="/srv/flow.py",
        source="print('hi')\n",
        source_sha256="0" * 64,
        args=["--day", "2026-01-01"],
        runner=RUNNER,
    )


def _created(job: JobView | None) -> bool:
    return (
        job is not None
        and (job.id, job.status, job.args, job.owner_host, job.owner_pid, job.owner_started, job.attempts)
        == (JOB_ID, JobStatus.RUNNING, ("--day", "2026-01-01"), "server1", 4242, NOW - 5, 1)
        and job.lease_until == job.due_at == job.created_at + 60
    )


def _move_to_version_2(store: Store) -> bool:
    return store.move_to_version(
        JOB_ID,
        1,
        version=2,
        script="<workflow nightly v2>",
        source="print(2)\n",
        source_sha256="2" * 64,
        signature=SIGNATURE,
    )


def _fail(start: str, when: str) -> Callable[[FakeServer], None]:
    def setup(server: FakeServer) -> None:
        server.fail = (start, IntegrityError("Violation of PRIMARY KEY constraint"), when)

    return setup


def _rows(*counts: int, rowcount: int = 1, rowcounts: tuple[int, ...] = ()) -> Callable[[FakeServer], None]:
    def setup(server: FakeServer) -> None:
        server.select_rows = list(counts)
        server.rowcount = rowcount
        server.rowcounts = list(rowcounts)

    return setup


def _reconnects(store: Store) -> JobView | None:
    """close, then a read: the store connects again (it checked the schema already)."""
    assert store.close() is None and store.db.is_closed()
    return store.get_job(JOB_ID)


#: The fence every write of a runner carries: the job is still Running in the attempt it claimed.
_OWNED = "WHERE ((([psflow_job].[id] = {p}) AND ([psflow_job].[attempts] = {p})) AND ([psflow_job].[status] = {p}))"
_OWNED_T1 = "WHERE ((([t1].[id] = {p}) AND ([t1].[attempts] = {p})) AND ([t1].[status] = {p}))"
#: A claim: the job becomes this runner's, in a new attempt, due when the new lease runs out.
_CLAIM = (
    "UPDATE [psflow_job] SET [status] = {p}, [updated_at] = {p}, [owner_host] = {p}, [owner_pid] = {p}, "
    "[lease_until] = {p}, [attempts] = ([psflow_job].[attempts] + {p}), [due_at] = {p}, [owner_started] = {p}, "
    "[waits_for] = {p}, [waiting_since] = {p}, [live_output] = {p} "
)
#: A claim of a job that is not Running yet: only while its queue has no limit (else counted first).
_UNLIMITED = (
    "NOT EXISTS(SELECT 1 FROM [psflow_queue] AS [t1] WHERE (([t1].[name] = {p}) AND ([t1].[max_running] IS NOT NULL))))"
)
#: A claim that takes a Running job over ends the attempt it took over.
_LOST_ATTEMPT = (
    "UPDATE [psflow_attempt] SET [ended_at] = {p}, [outcome] = {p}, [reason] = {p} "
    "WHERE ((([psflow_attempt].[job_id] = {p}) AND ([psflow_attempt].[number] = {p})) "
    "AND ([psflow_attempt].[ended_at] IS NULL))"
)
_START_ATTEMPT = (
    "INSERT INTO [psflow_attempt] ([job_id], [number], [host], [pid], [source_sha256], [started_at]) "
    "SELECT {p}, {p}, {p}, {p}, {p}, {p} FROM [psflow_job] AS [t1] " + _OWNED_T1
)
_SAVE_BLOCK = (
    "INSERT INTO [psflow_block] ([job_id], [id], [name], [status], [saved], [mutated], [exit_kind], [returned], "
    "[output], [error], [started_at], [ended_at], [attempt], [host], [pid], [tries], [fingerprint], [lead]) "
    "SELECT " + ", ".join(["{p}"] * 18) + " FROM [psflow_job] AS [t1] " + _OWNED_T1
)
#: Where an attempt's ids go on: read once, before its first run is saved.
_HIGHEST_PLACE = (
    "SELECT MAX([t1].[id]) FROM [psflow_block] AS [t1] "
    "WHERE (([t1].[job_id] = {p}) AND ([t1].[id] BETWEEN {p} AND {p}))"
)
#: An attempt's end releases its job first, fenced; only if that worked does the attempt record its end.
_RELEASE = (
    "UPDATE [psflow_job] SET [status] = {p}, [reason] = {p}, [updated_at] = {p}, [lease_until] = {p}, "
    "[due_at] = {p}, [waits_for] = {p}, [waiting_since] = {p}, [live_output] = {p} " + _OWNED
)
_END_ATTEMPT = (
    "UPDATE [psflow_attempt] SET [ended_at] = {p}, [outcome] = {p}, [reason] = {p}, [output] = {p}, [error] = {p} "
    "WHERE (([psflow_attempt].[job_id] = {p}) AND ([psflow_attempt].[number] = {p}))"
)
_JOB_SOURCE = (
    "SELECT [t1].[source] FROM [psflow_job] AS [t1] WHERE ([t1].[id] = {p}) "
    "ORDER BY (SELECT NULL) OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY"
)
_INSERT_JOB = (
    "INSERT INTO [psflow_job] ([id], [name], [script], [source], [source_sha256], [args], [status], [reason], "
    "[created_at], [updated_at], [owner_host], [owner_pid], [lease_until], [attempts], [due_at], [workflow], "
    "[workflow_version], [owner_started], [waits_for], [waiting_since], [cwd], [env], [signature], [queue], "
    "[priority], [parent], [awaited]) "
)
#: One query however many workflows: no list of names as parameters (SQL Server takes at most 2,100).
_LIST_WORKFLOWS = (
    _WORKFLOW_COLUMNS.replace(" FROM", "")
    + ", [stats].[versions], [stats].[first] FROM [psflow_workflow] AS [t1] INNER JOIN (SELECT [every].[name] AS [name], "
    "MAX([every].[version]) AS [newest], COUNT([every].[id]) AS [versions], MIN([every].[created_at]) AS [first] "
    "FROM [psflow_workflow] AS [every] GROUP BY [every].[name]) AS [stats] "
    "ON (([t1].[name] = [stats].[name]) AND ([t1].[version] = [stats].[newest])) ORDER BY [t1].[name]"
)
_INSERT_WORKFLOW = (
    "INSERT INTO [psflow_workflow] ([name], [version], [source], [source_sha256], [script], [created_at], "
    "[host], [user], [signature]) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
#: prune_jobs looks at one stretch of the primary key per call, after the id it stopped at.
_PRUNE_STRETCH = (
    "SELECT [t1].[id], [t1].[status], [t1].[updated_at] FROM [psflow_job] AS [t1] WHERE ([t1].[id] > {p}) "
    "ORDER BY [t1].[id] OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY"
)
_COUNT_JOBS = "SELECT COUNT([t1].[id]) FROM [psflow_job] AS [t1] "
#: A job that ends looks for a parent waiting for it (psflow.store.children), in the same transaction.
_AWAITING_PARENTS = (
    "SELECT [t1].[parent] FROM [psflow_job] AS [t1] WHERE ((([t1].[id] IN ({p})) AND ([t1].[awaited] = {p})) "
    "AND ([t1].[parent] IS NOT NULL))"
)
#: Then it locks that parent's row (the ends of two children of one parent queue here) ...
_LOCK_PARENT = "UPDATE [psflow_job] SET [awaited] = [psflow_job].[awaited] WHERE ([psflow_job].[id] = {p})"
#: ... and, in a new statement, makes it due if it waits for child jobs and none it awaits is left.
_WAKE = (
    "UPDATE [psflow_job] SET [due_at] = {p} WHERE ((((([psflow_job].[id] = PARENT) AND ([psflow_job].[waits_for] = {p})) "
    "AND ([psflow_job].[status] NOT IN ({p}, {p}, {p}))) AND (([psflow_job].[due_at] IS NULL) OR "
    "([psflow_job].[due_at] > {p}))) AND NOT EXISTS(SELECT [child].[id] FROM [psflow_job] AS [child] WHERE "
    "((([child].[parent] = [psflow_job].[id]) AND ([child].[awaited] = {p})) AND ((([child].[status] != 'Completed') "
    "AND ([child].[status] != 'Cancelled')) AND ([child].[status] != 'Failed')))))"
)
_WAKE_PARENT = _WAKE.replace("PARENT", "{p}")
#: An attempt's end names its job's parent (if that waits for it) by a subquery instead of reading it first.
_PARENT_OF = (
    "(SELECT [ended].[parent] FROM [psflow_job] AS [ended] WHERE (([ended].[id] = {p}) AND ([ended].[awaited] = {p})))"
)
_LOCK_PARENT_OF = _LOCK_PARENT.replace("{p})", _PARENT_OF + ")")
_WAKE_PARENT_OF = _WAKE.replace("PARENT", _PARENT_OF)
_CHILD_COLUMNS = (
    "SELECT [t1].[id], [t1].[name], [t1].[script], [t1].[args], [t1].[status], [t1].[reason], [t1].[result], "
    "[t2].[error], [t1].[parent], [t1].[awaited], [t1].[workflow] FROM [psflow_job] AS [t1] "
    "LEFT OUTER JOIN [psflow_attempt] AS [t2] ON (([t2].[job_id] = [t1].[id]) AND ([t2].[number] = [t1].[attempts])) "
)
SCENARIOS = [
    Scenario(
        "close-and-reconnect",
        "close",
        _reconnects,
        (*_CONNECT, _JOB_COLUMNS),
        returns=lambda job: job == FAKE_JOB,
    ),
    Scenario(
        "register_workflow-new",
        "register_workflow",
        lambda store: store.register_workflow(
            "nightly", source="print(1)\n", source_sha256="1" * 64, script="/srv/nightly.py", host="server1", user="ops"
        ),
        (
            _WORKFLOW_COLUMNS + ", [t1].[source] FROM [psflow_workflow] AS [t1] WHERE ([t1].[name] = {p}) "
            "ORDER BY [t1].[version] DESC OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
            "BEGIN TRANSACTION",
            _INSERT_WORKFLOW,
            "COMMIT TRANSACTION",
        ),
        setup=_rows(0),
        returns=lambda result: (
            result[1] is True
            and (result[0].name, result[0].version, result[0].source, result[0].user)
            == ("nightly", 1, "print(1)\n", "ops")
        ),
    ),
    Scenario(
        "register_workflow-next-version",
        "register_workflow",
        lambda store: store.register_workflow(
            "nightly", source="print(2)\n", source_sha256="2" * 64, script="/srv/nightly.py", host="server1", user="ops"
        ),
        (_WORKFLOW_COLUMNS, "BEGIN TRANSACTION", _INSERT_WORKFLOW, "COMMIT TRANSACTION"),
        returns=lambda result: result[1] is True and result[0].version == 2,
    ),
    Scenario(
        "register_workflow-unchanged",
        "register_workflow",
        lambda store: store.register_workflow(
            "nightly",
            source="print('hi')\n",
            source_sha256="0" * 64,
            script="/srv/nightly.py",
            host="server1",
            user="ops",
        ),
        (_WORKFLOW_COLUMNS,),
        returns=lambda result: result == (dataclasses.replace(FAKE_WORKFLOW, source="print('hi')\n"), False),
    ),
    Scenario(
        "register_workflow-version-taken",
        "register_workflow",
        lambda store: store.register_workflow(
            "nightly", source="print(1)\n", source_sha256="1" * 64, script="/srv/nightly.py", host="server1", user="ops"
        ),
        (
            _WORKFLOW_COLUMNS,
            "BEGIN TRANSACTION",
            _INSERT_WORKFLOW,
            "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION",
            _WORKFLOW_COLUMNS,
            "BEGIN TRANSACTION",
            _INSERT_WORKFLOW,
            "COMMIT TRANSACTION",
        ),
        setup=_fail("INSERT INTO [psflow_workflow]", "execute"),
        returns=lambda result: result[1] is True and result[0].version == 2,
    ),
    Scenario(
        "register_workflow-signed",
        "register_workflow",
        lambda store: store.register_workflow(
            "nightly",
            source="print(2)\n",
            source_sha256="2" * 64,
            script="/srv/nightly.py",
            host="server1",
            user="ops",
            sign=lambda name, version, source: f"{SIGNATURE}|{name} v{version}",
        ),
        (_WORKFLOW_COLUMNS, "BEGIN TRANSACTION", _INSERT_WORKFLOW, "COMMIT TRANSACTION"),
        returns=lambda result: result[1] is True and result[0].signature == f"{SIGNATURE}|nightly v2",
    ),
    Scenario(
        "sign_workflow",
        "sign_workflow",
        lambda store: store.sign_workflow("nightly", 1, SIGNATURE),
        (
            (
                "UPDATE [psflow_workflow] SET [signature] = {p} "
                "WHERE (([psflow_workflow].[name] = {p}) AND ([psflow_workflow].[version] = {p}))"
            ),
        ),
        returns=lambda signed: signed is True,
    ),
    Scenario(
        "sign_workflow-unknown-version",
        "sign_workflow",
        lambda store: store.sign_workflow("nightly", 9, SIGNATURE),
        ("UPDATE [psflow_workflow] SET [signature] = {p} WHERE ",),
        setup=_rows(rowcount=0),
        returns=lambda signed: signed is False,
    ),
    Scenario(
        "workflow-newest",
        "workflow",
        lambda store: store.workflow("nightly"),
        (
            _WORKFLOW_COLUMNS + ", [t1].[source] FROM [psflow_workflow] AS [t1] WHERE ([t1].[name] = {p}) "
            "ORDER BY [t1].[version] DESC OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        returns=lambda found: found == dataclasses.replace(FAKE_WORKFLOW, source="print('hi')\n"),
    ),
    Scenario(
        "workflow-version",
        "workflow",
        lambda store: store.workflow("nightly", 1),
        (
            _WORKFLOW_COLUMNS + ", [t1].[source] FROM [psflow_workflow] AS [t1] "
            "WHERE (([t1].[name] = {p}) AND ([t1].[version] = {p})) "
            "ORDER BY [t1].[version] DESC OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        setup=_rows(0),
        returns=lambda found: found is None,
    ),
    Scenario(
        "workflow_versions",
        "workflow_versions",
        lambda store: store.workflow_versions("nightly"),
        (_WORKFLOW_COLUMNS + " FROM [psflow_workflow] AS [t1] WHERE ([t1].[name] = {p}) ORDER BY [t1].[version]",),
        setup=_rows(2),
        returns=lambda found: found == [FAKE_WORKFLOW, FAKE_WORKFLOW],  # without their source
    ),
    Scenario(
        "list_workflows-none",
        "list_workflows",
        lambda store: store.list_workflows(),
        (_LIST_WORKFLOWS,),
        setup=_rows(0),
        returns=lambda found: found == [],
    ),
    Scenario(
        "list_workflows-one",
        "list_workflows",
        lambda store: store.list_workflows(),
        (_LIST_WORKFLOWS,),
        returns=lambda found: found == [(FAKE_WORKFLOW, 1, NOW)],
    ),
    Scenario(
        "move_to_version",
        "move_to_version",
        _move_to_version_2,
        (
            "UPDATE [psflow_job] SET [script] = {p}, [source] = {p}, [source_sha256] = {p}, [workflow_version] = {p}, "
            "[signature] = {p} " + _OWNED,
        ),
        returns=lambda moved: moved is True,
    ),
    Scenario(
        "move_to_version-lost",
        "move_to_version",
        _move_to_version_2,
        ("UPDATE [psflow_job] SET [script] = {p}, ",),
        setup=_rows(rowcount=0),
        returns=lambda moved: moved is False,
    ),
    Scenario(
        "create_job",
        "create_job",
        _create,
        ("BEGIN TRANSACTION", _INSERT_JOB + "VALUES (" + ", ".join(["{p}"] * 27) + ")", "COMMIT TRANSACTION"),
        returns=_created,
        absent=("OUTPUT",),  # no key to read back: a duplicate key can only fail the execute
    ),
    Scenario(
        "create_job-signed-with-env",
        "create_job",
        lambda store: store.create_job(
            JOB_ID,
            name="flow",
            script="/srv/flow.py",
            source="print('hi')\n",
            source_sha256="0" * 64,
            args=[],
            runner=RUNNER,
            cwd="/srv",
            env=("API_TOKEN", "DB_PASSWORD"),
            sign=lambda job, source: SIGNATURE,
        ),
        ("BEGIN TRANSACTION", _INSERT_JOB + "VALUES (" + ", ".join(["{p}"] * 27) + ")", "COMMIT TRANSACTION"),
        returns=lambda job: job.env == ("API_TOKEN", "DB_PASSWORD") and job.signature == SIGNATURE,
    ),
    Scenario(
        "create_job-taken",
        "create_job",
        _create,
        ("BEGIN TRANSACTION", _INSERT_JOB, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"),
        setup=_fail("INSERT INTO [psflow_job]", "execute"),
        returns=lambda job: job is None,
    ),
    Scenario(
        "get_job",
        "get_job",
        lambda store: store.get_job(JOB_ID),
        (_JOB_COLUMNS + "WHERE ([t1].[id] = {p})",),
        returns=lambda job: job == FAKE_JOB,
    ),
    Scenario(
        "get_job-none",
        "get_job",
        lambda store: store.get_job("nope"),
        (_JOB_COLUMNS,),
        setup=_rows(0),
        returns=lambda job: job is None,
    ),
    Scenario(
        "job_source",
        "job_source",
        lambda store: store.job_source(JOB_ID),
        (_JOB_SOURCE,),
        returns=lambda source: source == "print('hi')\n",
    ),
    Scenario(
        "job_source-unknown",
        "job_source",
        lambda store: store.job_source("nope"),
        (_JOB_SOURCE,),
        setup=_rows(0),
        returns=lambda source: source is None,
    ),
    Scenario(
        "job_and_source",
        "job_and_source",
        lambda store: store.job_and_source(JOB_ID),
        (_JOB_AND_SOURCE + "WHERE ([t1].[id] = {p})",),
        returns=lambda found: found == (FAKE_JOB, "print('hi')\n"),
    ),
    Scenario(
        "job_and_source-unknown",
        "job_and_source",
        lambda store: store.job_and_source("nope"),
        (_JOB_AND_SOURCE,),
        setup=_rows(0),
        returns=lambda found: found is None,
    ),
    Scenario(
        "find_job-exact",
        "find_job",
        lambda store: store.find_job(JOB_ID),
        (_JOB_COLUMNS,),
        returns=lambda job: job == FAKE_JOB,
    ),
    Scenario(
        "find_job-prefix",
        "find_job",
        lambda store: store.find_job("abc_1"),
        (
            _JOB_COLUMNS,
            "SELECT [t1].[id] FROM [psflow_job] AS [t1] WHERE ([t1].[id] LIKE {p} ESCAPE {p})",
            _JOB_COLUMNS,
        ),
        setup=_rows(0, 1, 1),
        returns=lambda job: job == FAKE_JOB,
        contains=("ORDER BY (SELECT NULL) OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",),
    ),
    Scenario(
        "find_job-prefix-deleted-meanwhile",
        "find_job",
        lambda store: store.find_job("abc_1"),
        (
            _JOB_COLUMNS,
            "SELECT [t1].[id] FROM [psflow_job] AS [t1] WHERE ([t1].[id] LIKE {p} ESCAPE {p})",
            _JOB_COLUMNS,
        ),
        setup=_rows(0, 1, 0),
        raises=UnknownJob,
    ),
    Scenario(
        "find_job-ambiguous",
        "find_job",
        lambda store: store.find_job("abc"),
        (_JOB_COLUMNS, "SELECT [t1].[id] FROM [psflow_job] AS [t1] WHERE ([t1].[id] LIKE {p})"),
        setup=_rows(0, 2),
        raises=AmbiguousJob,
    ),
    Scenario(
        "find_job-unknown",
        "find_job",
        lambda store: store.find_job("zzz"),
        (_JOB_COLUMNS, "SELECT [t1].[id] FROM [psflow_job] AS [t1] WHERE ([t1].[id] LIKE {p})"),
        setup=_rows(0, 0),
        raises=UnknownJob,
    ),
    Scenario(
        "list_jobs-all",
        "list_jobs",
        lambda store: store.list_jobs(),
        (_JOB_COLUMNS + "ORDER BY [t1].[updated_at] DESC, [t1].[id]",),
        setup=_rows(2),
        returns=lambda jobs: jobs == [FAKE_JOB, dataclasses.replace(FAKE_JOB, id=JOB_ID + "1")],
    ),
    Scenario(
        "list_jobs-status-limit-newest",
        "list_jobs",
        lambda store: store.list_jobs(["Waiting", "Failed"], limit=10),
        (_JOB_COLUMNS,),
        contains=(
            (
                "WHERE ([t1].[status] IN ({p}, {p})) ORDER BY [t1].[updated_at] DESC, [t1].[id] "
                "OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY"
            ),
        ),
    ),
    Scenario(
        "list_jobs-status-oldest",
        "list_jobs",
        lambda store: store.list_jobs(["Waiting"], order="oldest"),
        (_JOB_COLUMNS,),
        contains=("WHERE ([t1].[status] IN ({p})) ORDER BY [t1].[updated_at] ASC, [t1].[id]",),
    ),
    Scenario(
        "list_jobs-limit-oldest",
        "list_jobs",
        lambda store: store.list_jobs(limit=3, order="oldest"),
        (_JOB_COLUMNS,),
        contains=("ORDER BY [t1].[updated_at] ASC, [t1].[id] OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",),
    ),
    Scenario(
        "list_jobs-limit-0",
        "list_jobs",
        lambda store: store.list_jobs(limit=0),
        (_JOB_COLUMNS,),
        setup=_rows(0),
        returns=lambda jobs: jobs == [],
        contains=("WHERE 1 = 0 ORDER BY [t1].[updated_at] DESC, [t1].[id]",),  # T-SQL refuses FETCH NEXT 0 ROWS
    ),
    Scenario(
        "due_jobs",
        "due_jobs",
        lambda store: store.due_jobs(["Waiting", "Failed"], limit=10),
        (
            _JOB_COLUMNS + "WHERE (([t1].[status] IN ({p}, {p})) AND ([t1].[due_at] <= {p})) "
            "ORDER BY [t1].[priority] DESC, [t1].[due_at], [t1].[id] OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        setup=_rows(2),
        returns=lambda jobs: jobs == [FAKE_JOB, dataclasses.replace(FAKE_JOB, id=JOB_ID + "1")],
    ),
    Scenario(
        "due_jobs-no-limit",
        "due_jobs",
        lambda store: store.due_jobs(["Waiting"]),
        (
            _JOB_COLUMNS + "WHERE (([t1].[status] IN ({p})) AND ([t1].[due_at] <= {p})) "
            "ORDER BY [t1].[priority] DESC, [t1].[due_at], [t1].[id]",
        ),
        setup=_rows(0),
        returns=lambda jobs: jobs == [],
        absent=("OFFSET",),
    ),
    Scenario(
        "due_jobs-of-queues-but-full-ones",
        "due_jobs",
        lambda store: store.due_jobs(["Queued", "Running"], queues=["deploy", "build"], skip_queues=["deploy"]),
        (
            _JOB_COLUMNS + "WHERE (((([t1].[status] IN ({p}, {p})) AND ([t1].[due_at] <= {p})) "
            "AND ([t1].[queue] IN ({p}, {p}))) "
            "AND (([t1].[queue] NOT IN ({p})) OR ([t1].[status] = {p}))) "  # a take-over adds no Running job
            "ORDER BY [t1].[priority] DESC, [t1].[due_at], [t1].[id]",
        ),
        returns=lambda jobs: jobs == [FAKE_JOB],
    ),
    Scenario(
        "running_on",
        "running_on",
        lambda store: store.running_on("server1"),
        (_JOB_COLUMNS + "WHERE (([t1].[status] = {p}) AND ([t1].[owner_host] = {p}))",),
        returns=lambda jobs: jobs == [FAKE_JOB],
    ),
    Scenario(
        "jobs_matching-every-condition",
        "jobs_matching",
        lambda store: store.jobs_matching(
            statuses=["Waiting"],
            waiting_for_input=True,
            due_between=(NOW, NOW + 3600),
            lease_before=NOW,
            updated_after=NOW - 86400,
            limit=20,
        ),
        (
            _JOB_COLUMNS + "WHERE (((((([t1].[id] IS NOT NULL) AND ([t1].[status] IN ({p}))) "
            "AND (([t1].[waits_for] IS NOT NULL) AND ([t1].[status] NOT IN ({p}, {p}, {p})))) "
            "AND (([t1].[due_at] > {p}) AND ([t1].[due_at] <= {p}))) "
            "AND (([t1].[status] = {p}) AND ([t1].[lease_until] < {p}))) AND ([t1].[updated_at] > {p})) "
            "ORDER BY [t1].[due_at], [t1].[id] OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        returns=lambda jobs: jobs == [FAKE_JOB],
    ),
    Scenario(
        "jobs_matching-any",
        "jobs_matching",
        lambda store: store.jobs_matching(),
        (
            _JOB_COLUMNS + "WHERE ([t1].[id] IS NOT NULL) "
            "ORDER BY [t1].[due_at], [t1].[id] OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        setup=_rows(0),
        returns=lambda jobs: jobs == [],
    ),
    Scenario(
        "status_counts",
        "status_counts",
        lambda store: store.status_counts(),
        ("SELECT [t1].[status], COUNT([t1].[id]) FROM [psflow_job] AS [t1] GROUP BY [t1].[status]",),
        returns=lambda counts: counts == {"Waiting": 1},
    ),
    Scenario(
        "claim_job-waiting",
        "claim_job",
        lambda store: store.claim_job(_job("Waiting"), OTHER_RUNNER),
        (
            "BEGIN TRANSACTION",
            _CLAIM + "WHERE (((([psflow_job].[id] = {p}) AND ([psflow_job].[status] = {p})) "
            "AND ([psflow_job].[attempts] = {p})) AND " + _UNLIMITED,
            "COMMIT TRANSACTION",
        ),
        returns=lambda claimed: claimed is True,
    ),
    Scenario(
        "claim_job-limited-queue",
        "claim_job",
        lambda store: store.claim_job(_job("Waiting"), OTHER_RUNNER),
        (
            "BEGIN TRANSACTION",
            _CLAIM + "WHERE (((([psflow_job].[id] = {p}) AND ([psflow_job].[status] = {p})) "
            "AND ([psflow_job].[attempts] = {p})) AND " + _UNLIMITED,
            "COMMIT TRANSACTION",
            # Not claimed: taken, or its queue has a limit. Lock the queue's row, count, claim.
            "BEGIN TRANSACTION",
            "SELECT [t1].[max_running] FROM [psflow_queue] AS [t1] WITH (UPDLOCK, HOLDLOCK) WHERE ([t1].[name] = {p})",
            "SELECT COUNT([t1].[id]) FROM [psflow_job] AS [t1] WHERE (([t1].[queue] = {p}) AND ([t1].[status] = {p}))",
            _CLAIM + "WHERE ((([psflow_job].[id] = {p}) AND ([psflow_job].[status] = {p})) "
            "AND ([psflow_job].[attempts] = {p}))",
            "COMMIT TRANSACTION",
        ),
        setup=_rows(1, 1, rowcount=0),  # the fake: limit 2, 1 Running; the claim finds it taken meanwhile
        returns=lambda claimed: claimed is False,
    ),
    Scenario(
        "claim_job-lost-unlimited",
        "claim_job",
        lambda store: store.claim_job(_job("Waiting"), OTHER_RUNNER),
        (
            "BEGIN TRANSACTION",
            _CLAIM,
            "COMMIT TRANSACTION",
            "BEGIN TRANSACTION",
            "SELECT [t1].[max_running] FROM [psflow_queue] AS [t1] WITH (UPDLOCK, HOLDLOCK)",
            "COMMIT TRANSACTION",  # no row: no limit, so another runner took it; nothing counted
        ),
        setup=_rows(0, rowcount=0),
        returns=lambda claimed: claimed is False,
    ),
    Scenario(
        "claim_job-expired-lease",
        "claim_job",
        lambda store: store.claim_job(_job("Running"), OTHER_RUNNER),
        ("BEGIN TRANSACTION", _CLAIM, _LOST_ATTEMPT, "COMMIT TRANSACTION"),
        returns=lambda claimed: claimed is True,
        contains=("AND ([psflow_job].[attempts] = {p})) AND ([psflow_job].[lease_until] < {p}))",),
    ),
    Scenario(
        "claim_job-runner-gone",
        "claim_job",
        lambda store: store.claim_job(_job("Running"), OTHER_RUNNER, runner_gone=True),
        ("BEGIN TRANSACTION", _CLAIM, _LOST_ATTEMPT, "COMMIT TRANSACTION"),
        returns=lambda claimed: claimed is True,
        contains=("AND (([psflow_job].[owner_host] = {p}) AND ([psflow_job].[owner_pid] = {p})))",),
        absent=("[lease_until] <",),  # its runner's process is gone: the lease need not have run out
    ),
    Scenario(
        "claim_job-lost",
        "claim_job",
        lambda store: store.claim_job(_job("Running"), OTHER_RUNNER),
        ("BEGIN TRANSACTION", _CLAIM, "COMMIT TRANSACTION"),  # the attempt it did not take goes on
        setup=_rows(rowcount=0),
        returns=lambda claimed: claimed is False,
    ),
    Scenario(
        "renew_lease",
        "renew_lease",
        lambda store: store.renew_lease(JOB_ID, 1, 60),
        ("UPDATE [psflow_job] SET [lease_until] = {p}, [due_at] = {p} " + _OWNED,),
        returns=lambda renewed: renewed is True,
    ),
    Scenario(
        "renew_lease-lost",
        "renew_lease",
        lambda store: store.renew_lease(JOB_ID, 1, 60),
        ("UPDATE [psflow_job] SET [lease_until] = {p}, [due_at] = {p} " + _OWNED,),
        setup=_rows(rowcount=0),
        returns=lambda renewed: renewed is False,
    ),
    Scenario(
        "update_source",
        "update_source",
        lambda store: store.update_source(JOB_ID, 1, "print('v2')\n", "1" * 64, signature=SIGNATURE),
        ("UPDATE [psflow_job] SET [source] = {p}, [source_sha256] = {p}, [signature] = {p} " + _OWNED,),
        returns=lambda updated: updated is True,
    ),
    Scenario(
        "update_source-lost",
        "update_source",
        lambda store: store.update_source(JOB_ID, 1, "print('v2')\n", "1" * 64, signature=SIGNATURE),
        ("UPDATE [psflow_job] SET [source] = {p}, [source_sha256] = {p}, [signature] = {p} " + _OWNED,),
        setup=_rows(rowcount=0),
        returns=lambda updated: updated is False,
    ),
    Scenario(
        "sign_job",
        "sign_job",
        lambda store: store.sign_job(_job("Waiting"), SIGNATURE, cwd="/srv"),
        # the job as the admin read it: same attempt, same status (not a runner's fence: any status)
        (
            (
                "UPDATE [psflow_job] SET [cwd] = {p}, [signature] = {p} "
                "WHERE ((([psflow_job].[id] = {p}) AND ([psflow_job].[attempts] = {p})) "
                "AND ([psflow_job].[status] = {p}))"
            ),
        ),
        returns=lambda signed: signed is True,
    ),
    Scenario(
        "sign_job-job-changed",
        "sign_job",
        lambda store: store.sign_job(_job("Waiting"), SIGNATURE, cwd="/srv"),
        ("UPDATE [psflow_job] SET [cwd] = {p}, [signature] = {p} WHERE ",),
        setup=_rows(rowcount=0),
        returns=lambda signed: signed is False,
    ),
    Scenario(
        "set_live_output",
        "set_live_output",
        lambda store: store.set_live_output(JOB_ID, 1, "2 of 3 rows\n"),
        ("UPDATE [psflow_job] SET [live_output] = {p} " + _OWNED,),
        returns=lambda updated: updated is True,
    ),
    Scenario(
        "set_live_output-lost",
        "set_live_output",
        lambda store: store.set_live_output(JOB_ID, 1, "2 of 3 rows\n"),
        ("UPDATE [psflow_job] SET [live_output] = {p} " + _OWNED,),
        setup=_rows(rowcount=0),
        returns=lambda updated: updated is False,
    ),
    Scenario(
        "live_output",
        "live_output",
        lambda store: store.live_output(JOB_ID),
        (
            (
                "SELECT [t1].[live_output] FROM [psflow_job] AS [t1] WHERE ([t1].[id] = {p}) "
                "ORDER BY (SELECT NULL) OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY"
            ),
        ),
        returns=lambda text: text == "2 of 3 rows\n",
    ),
    Scenario(
        "fail_orphan",
        "fail_orphan",
        lambda store: store.fail_orphan(JOB_ID, "server1", 4242, "runner died"),
        (
            "BEGIN TRANSACTION",
            (
                "UPDATE [psflow_job] SET [status] = {p}, [reason] = {p}, [updated_at] = {p}, [lease_until] = {p}, "
                "[due_at] = {p}, [live_output] = {p} "
                "WHERE (((([psflow_job].[id] = {p}) AND ([psflow_job].[status] = {p})) "
                "AND ([psflow_job].[owner_host] = {p})) AND ([psflow_job].[owner_pid] = {p}))"
            ),
            (
                "UPDATE [psflow_attempt] SET [ended_at] = {p}, [outcome] = {p}, [reason] = {p} "
                "WHERE ((([psflow_attempt].[job_id] = {p}) AND ([psflow_attempt].[pid] = {p})) "
                "AND ([psflow_attempt].[ended_at] IS NULL))"
            ),
            _AWAITING_PARENTS,
            "COMMIT TRANSACTION",
        ),
        returns=lambda failed: failed is True,
    ),
    Scenario(
        "fail_orphan-not-that-runner",
        "fail_orphan",
        lambda store: store.fail_orphan(JOB_ID, "server1", 4242, "runner died"),
        ("BEGIN TRANSACTION", "UPDATE [psflow_job] SET [status] = {p}, ", "COMMIT TRANSACTION"),
        setup=_rows(rowcount=0),
        returns=lambda failed: failed is False,
    ),
    Scenario(
        "start_attempt",
        "start_attempt",
        lambda store: store.start_attempt(JOB_ID, 2, RUNNER, source_sha256="0" * 64),
        (_START_ATTEMPT,),
        returns=lambda started: started is True,
        absent=("OUTPUT",),
    ),
    Scenario(
        "start_attempt-lost",
        "start_attempt",
        lambda store: store.start_attempt(JOB_ID, 2, RUNNER, source_sha256="0" * 64),
        (_START_ATTEMPT,),
        setup=_rows(rowcount=0),  # the job is no longer Running in attempt 2: no row to insert
        returns=lambda started: started is False,
    ),
    Scenario(
        "finish_attempt",
        "finish_attempt",
        lambda store: store.finish_attempt(
            JOB_ID, 2, status="Waiting", reason="sleeping", due_at=NOW + 60, output="bye\n", error=None
        ),
        ("BEGIN TRANSACTION", _RELEASE, _END_ATTEMPT, "COMMIT TRANSACTION"),
        returns=lambda released: released is True,
    ),
    Scenario(
        "finish_attempt-waits-for-input",
        "finish_attempt",
        lambda store: store.finish_attempt(
            JOB_ID, 2, status="Waiting", reason="approval pending", waits_for="approved"
        ),
        ("BEGIN TRANSACTION", _RELEASE, _END_ATTEMPT, "COMMIT TRANSACTION"),
        returns=lambda released: released is True,
    ),
    Scenario(
        "finish_attempt-waits-for-child-jobs",
        "finish_attempt",
        lambda store: store.finish_attempt(
            JOB_ID,
            2,
            status="Waiting",
            reason="waiting for 2 of 2 child jobs",
            waits_for="child jobs",
            awaits=("a", "b"),
        ),
        (
            "BEGIN TRANSACTION",
            _RELEASE,
            _END_ATTEMPT,
            (
                "UPDATE [psflow_job] SET [awaited] = {p} WHERE (([psflow_job].[parent] = {p}) "
                "AND ([psflow_job].[awaited] = {p}))"
            ),
            (
                "UPDATE [psflow_job] SET [awaited] = {p} WHERE (([psflow_job].[parent] = {p}) "
                "AND ([psflow_job].[id] IN ({p}, {p})))"
            ),
            _WAKE_PARENT,  # its children may all have ended already: due at once then
            "COMMIT TRANSACTION",
        ),
        returns=lambda released: released is True,
    ),
    Scenario(
        "finish_attempt-with-a-result",
        "finish_attempt",
        lambda store: store.finish_attempt(JOB_ID, 2, status="Waiting", reason="w", result="[1, 2]"),
        (
            "BEGIN TRANSACTION",
            _RELEASE.replace("[live_output] = {p} ", "[live_output] = {p}, [result] = {p} "),
            _END_ATTEMPT,
            "COMMIT TRANSACTION",
        ),
        returns=lambda released: released is True,
    ),
    Scenario(
        "finish_attempt-ends-the-job",
        "finish_attempt",
        lambda store: store.finish_attempt(JOB_ID, 2, status="Completed", reason=None),
        ("BEGIN TRANSACTION", _RELEASE, _END_ATTEMPT, _LOCK_PARENT_OF, "COMMIT TRANSACTION"),
        setup=_rows(rowcounts=(1, 1, 0)),  # no parent waits for it: nothing locked, nothing to wake
        returns=lambda released: released is True,
    ),
    Scenario(
        "finish_attempt-lost",
        "finish_attempt",
        lambda store: store.finish_attempt(JOB_ID, 2, status="Failed", reason="ValueError", error="Traceback …"),
        ("BEGIN TRANSACTION", _RELEASE, "COMMIT TRANSACTION"),  # not its job any more: its attempt is not ended
        setup=_rows(rowcount=0),
        returns=lambda released: released is False,
    ),
    Scenario(
        "attempts",
        "attempts",
        lambda store: store.attempts(JOB_ID),
        (
            (
                "SELECT [t1].[number], [t1].[host], [t1].[pid], [t1].[source_sha256], [t1].[started_at], "
                "[t1].[ended_at], [t1].[outcome], [t1].[reason], [t1].[output], [t1].[error] "
                "FROM [psflow_attempt] AS [t1] "
                "WHERE ([t1].[job_id] = {p}) ORDER BY [t1].[number]"
            ),
        ),
        setup=_rows(2),
        returns=lambda attempts: attempts == [FAKE_ATTEMPT, FAKE_ATTEMPT],
    ),
    Scenario(
        "attempts-without-output",
        "attempts",
        lambda store: store.attempts(JOB_ID, with_output=False),
        (
            (
                "SELECT [t1].[number], [t1].[host], [t1].[pid], [t1].[source_sha256], [t1].[started_at], "
                "[t1].[ended_at], [t1].[outcome], [t1].[reason], [t1].[error] FROM [psflow_attempt] AS [t1] "
                "WHERE ([t1].[job_id] = {p}) ORDER BY [t1].[number]"
            ),
        ),
        returns=lambda attempts: attempts == [dataclasses.replace(FAKE_ATTEMPT, output=None)],
        absent=("[output]",),
    ),
    Scenario(
        "completed_blocks",
        "completed_blocks",
        lambda store: store.completed_blocks(JOB_ID),
        (
            (
                "SELECT [t1].[name], [t1].[status], [t1].[saved], [t1].[mutated], [t1].[exit_kind], [t1].[returned], "
                "[t1].[output], [t1].[error], [t1].[started_at], [t1].[ended_at], [t1].[attempt], [t1].[host], "
                "[t1].[pid], [t1].[tries], [t1].[fingerprint], [t1].[lead] FROM [psflow_block] AS [t1] "
                "WHERE (([t1].[job_id] = {p}) AND ([t1].[status] = {p})) ORDER BY [t1].[id]"
            ),
        ),
        # the fake row: Step1 as RECORD, with its own output and lead
        returns=lambda blocks: blocks == {"Step1": RECORD._replace(output="3 rows\n", lead="starting\n")},
    ),
    Scenario(
        "save_block",
        "save_block",
        lambda store: store.save_block(JOB_ID, RECORD),
        (_HIGHEST_PLACE, _SAVE_BLOCK),
        returns=lambda saved: saved == run_id(RECORD.attempt, 2),  # after the fake MAX, the attempt's first id
    ),
    Scenario(
        "save_block-lost",
        "save_block",
        lambda store: store.save_block(JOB_ID, RECORD),
        (_HIGHEST_PLACE, _SAVE_BLOCK),
        setup=_rows(rowcount=0),  # the job is no longer Running in attempt 1: nothing is written
        returns=lambda saved: saved is None,
    ),
    Scenario(
        "replace_block",
        "replace_block",
        lambda store: store.replace_block(JOB_ID, run_id(RECORD.attempt, 1), RECORD),
        (
            "UPDATE [psflow_block] SET [name] = {p}, [status] = {p}, [saved] = {p}, [mutated] = {p}, "
            "[exit_kind] = {p}, [returned] = {p}, [output] = {p}, [error] = {p}, [started_at] = {p}, "
            "[ended_at] = {p}, [attempt] = {p}, [host] = {p}, [pid] = {p}, [tries] = {p}, [fingerprint] = {p}, "
            "[lead] = {p} WHERE ((([psflow_block].[job_id] = {p}) AND ([psflow_block].[id] = {p})) "
            "AND EXISTS(SELECT [t1].[id] FROM [psflow_job] AS [t1] " + _OWNED_T1 + "))",
        ),
        returns=lambda replaced: replaced is True,
    ),
    Scenario(
        "replace_block-lost",
        "replace_block",
        lambda store: store.replace_block(JOB_ID, run_id(RECORD.attempt, 1), RECORD),
        ("UPDATE [psflow_block] SET [name] = {p}, [status] = {p}, ",),
        setup=_rows(rowcount=0),
        returns=lambda replaced: replaced is False,
    ),
    Scenario(
        "block_runs",
        "block_runs",
        lambda store: store.block_runs(JOB_ID),
        (
            _BLOCK_RUN_COLUMNS + " FROM [psflow_block] AS [t1] WHERE (([t1].[job_id] = {p}) AND ([t1].[id] > {p})) "
            "ORDER BY [t1].[id]",
        ),
        returns=lambda runs: runs == [FAKE_RUN],  # output None: not read unless asked for
        absent=("[output]", "[lead]"),
    ),
    Scenario(
        "block_runs-after-with-output",
        "block_runs",
        lambda store: store.block_runs(JOB_ID, after_id=5, with_output=True),
        (
            _BLOCK_RUN_COLUMNS + ", [t1].[output], [t1].[lead] FROM [psflow_block] AS [t1] "
            "WHERE (([t1].[job_id] = {p}) AND ([t1].[id] > {p})) ORDER BY [t1].[id]",
        ),
        returns=lambda runs: runs == [FAKE_RUN._replace(output="3 rows\n", lead="starting\n")],
    ),
    Scenario(
        "block_runs-after-limit",
        "block_runs",
        lambda store: store.block_runs(JOB_ID, after_id=5, limit=100),
        (
            _BLOCK_RUN_COLUMNS + " FROM [psflow_block] AS [t1] WHERE (([t1].[job_id] = {p}) AND ([t1].[id] > {p})) "
            "ORDER BY [t1].[id] OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        setup=_rows(2),
        returns=lambda runs: runs == [FAKE_RUN, FAKE_RUN],
        absent=("[output]", "[lead]"),
    ),
    Scenario(
        "block_names",
        "block_names",
        lambda store: store.block_names(JOB_ID),
        (
            (
                "SELECT [t1].[name] FROM [psflow_block] AS [t1] WHERE ([t1].[job_id] = {p}) "
                "GROUP BY [t1].[name] ORDER BY MIN([t1].[id])"
            ),
        ),
        returns=lambda names: names == ["Step1"],
    ),
    Scenario(
        "first_block_start",
        "first_block_start",
        lambda store: store.first_block_start(JOB_ID, "wait_for:approved"),
        (
            (
                "SELECT MIN([t1].[started_at]) FROM [psflow_block] AS [t1] "
                "WHERE (([t1].[job_id] = {p}) AND ([t1].[name] = {p}))"
            ),
        ),
        returns=lambda started: started == NOW,
    ),
    Scenario(
        "completed_wait_names",
        "completed_wait_names",
        lambda store: store.completed_wait_names(JOB_ID),
        ("SELECT [t1].[name], [t1].[attempt] FROM [psflow_block] AS [t1] ",),
        returns=lambda names: names == {},  # the fake row's block is Step1, not a wait_for
        contains=("AND ([t1].[name] LIKE {p} ESCAPE {p}))",),
    ),
    Scenario(
        "add_inputs",
        "add_inputs",
        lambda store: store.add_inputs([JOB_ID], {"approved": "true", "by": '"ops"'}, host="server1", user="ops"),
        (
            "BEGIN TRANSACTION",
            (
                "INSERT INTO [psflow_signal] ([job_id], [name], [value], [host], [user], [created_at]) "
                "VALUES ({p}, {p}, {p}, {p}, {p}, {p}), ({p}, {p}, {p}, {p}, {p}, {p})"
            ),
            # the jobs that wait for one of these inputs are due now, in the same transaction
            (
                "UPDATE [psflow_job] SET [updated_at] = {p}, [due_at] = {p} WHERE (((([psflow_job].[id] IN ({p})) "
                "AND ([psflow_job].[waits_for] IN ({p}, {p}))) AND ([psflow_job].[status] NOT IN ({p}, {p}))) "
                "AND ([psflow_job].[status] != {p}))"
            ),
            "COMMIT TRANSACTION",
        ),
        absent=("OUTPUT",),
    ),
    Scenario(
        "add_inputs-to-many-jobs",
        "add_inputs",
        lambda store: store.add_inputs(
            [f"job-{number}" for number in range(MANY_JOBS)], {"approved": "true"}, host="server1", user="ops"
        ),
        (
            "BEGIN TRANSACTION",
            *["INSERT INTO [psflow_signal] ([job_id], [name], [value], [host], [user], [created_at]) VALUES "] * 3,
            *["UPDATE [psflow_job] SET [updated_at] = {p}, [due_at] = {p} WHERE "] * 2,
            "COMMIT TRANSACTION",
        ),
    ),
    Scenario(
        "latest_inputs",
        "latest_inputs",
        lambda store: store.latest_inputs(JOB_ID),
        (
            (
                "SELECT [t1].[name], [t1].[value] FROM [psflow_signal] AS [t1] "
                "WHERE ([t1].[job_id] = {p}) ORDER BY [t1].[id]"
            ),
        ),
        returns=lambda inputs: inputs == {"approved": "true"},
    ),
    Scenario(
        "inputs",
        "inputs",
        lambda store: store.inputs(JOB_ID),
        (
            (
                "SELECT [t1].[name], [t1].[value], [t1].[host], [t1].[user], [t1].[created_at] "
                "FROM [psflow_signal] AS [t1] WHERE ([t1].[job_id] = {p}) ORDER BY [t1].[id]"
            ),
        ),
        returns=lambda inputs: inputs == [InputView("approved", "true", "server1", "ops", NOW)],
    ),
    # ---- history: changing it (psflow.service: rerun, cancel, retry, rm, prune) ----
    Scenario(
        "mark_rerun",
        "mark_rerun",
        lambda store: store.mark_rerun(
            _job("Completed"),
            [run_id(1, 1), run_id(1, 2)],
            changes={"status": "Waiting", "reason": "rerun", "due_at": None},
        ),
        (
            "BEGIN TRANSACTION",
            (
                "UPDATE [psflow_job] SET [status] = {p}, [reason] = {p}, [updated_at] = {p}, [due_at] = {p} "
                "WHERE ((([psflow_job].[id] = {p}) AND ([psflow_job].[status] = {p})) "
                "AND ([psflow_job].[attempts] = {p}))"
            ),
            (
                "UPDATE [psflow_block] SET [status] = {p} WHERE ((([psflow_block].[job_id] = {p}) "
                "AND ([psflow_block].[status] = {p})) AND ([psflow_block].[id] IN ({p}, {p})))"
            ),
            "COMMIT TRANSACTION",
        ),
        returns=lambda marked: marked is True,
    ),
    Scenario(
        "mark_rerun-ending-attempts",
        "mark_rerun",
        lambda store: store.mark_rerun(
            _job("Running"),
            [run_id(1, 1)],
            changes={"status": "Waiting", "reason": "rerun"},
            check_lease=False,
            end_attempts="Cancelled",
        ),
        (
            "BEGIN TRANSACTION",
            (
                "UPDATE [psflow_job] SET [status] = {p}, [reason] = {p}, [updated_at] = {p} "
                "WHERE ((([psflow_job].[id] = {p}) "
                "AND ([psflow_job].[status] = {p})) AND ([psflow_job].[attempts] = {p}))"
            ),
            (
                "UPDATE [psflow_attempt] SET [ended_at] = {p}, [outcome] = {p}, [reason] = {p} "
                "WHERE (([psflow_attempt].[job_id] = {p}) AND ([psflow_attempt].[ended_at] IS NULL))"
            ),
            "UPDATE [psflow_block] SET [status] = {p} WHERE ",
            "COMMIT TRANSACTION",
        ),
        returns=lambda marked: marked is True,
        absent=("[lease_until]",),  # without check_lease: the caller knows its runner is gone
    ),
    Scenario(
        "mark_rerun-job-changed",
        "mark_rerun",
        lambda store: store.mark_rerun(_job("Waiting"), [run_id(1, 1)], changes={}),
        (
            "BEGIN TRANSACTION",
            "UPDATE [psflow_job] SET [updated_at] = {p} WHERE ",
            "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION",
        ),
        setup=_rows(rowcount=0),
        returns=lambda marked: marked is False,
    ),
    Scenario(
        "set_status-lapsed-lease",
        "set_status",
        lambda store: store.set_status(_job("Running"), status="Cancelled", reason="runner died", end_attempts=True),
        (
            "BEGIN TRANSACTION",
            (
                "UPDATE [psflow_job] SET [status] = {p}, [reason] = {p}, [updated_at] = {p}, [lease_until] = {p}, "
                "[due_at] = {p}, [waits_for] = {p}, [waiting_since] = {p} WHERE"
            ),
            (
                "UPDATE [psflow_attempt] SET [ended_at] = {p}, [outcome] = {p}, [reason] = {p} "
                "WHERE (([psflow_attempt].[job_id] = {p}) AND ([psflow_attempt].[ended_at] IS NULL))"
            ),
            _AWAITING_PARENTS,
            "COMMIT TRANSACTION",
        ),
        returns=lambda changed: changed is True,
        contains=("AND (([psflow_job].[lease_until] IS NULL) OR ([psflow_job].[lease_until] < {p})))",),
    ),
    Scenario(
        "set_status-job-changed",
        "set_status",
        lambda store: store.set_status(_job("Failed"), status="Waiting", reason="retry"),
        ("BEGIN TRANSACTION", "UPDATE [psflow_job] SET [status] = {p}, ", "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"),
        setup=_rows(rowcount=0),
        returns=lambda changed: changed is False,
    ),
    Scenario(
        "delete_jobs",
        "delete_jobs",
        lambda store: store.delete_jobs([_job("Completed")]),
        (
            "BEGIN TRANSACTION",
            "UPDATE [psflow_job] SET [updated_at] = {p} WHERE ",
            _AWAITING_PARENTS,  # read before the rows go: a removed child has ended for its parent
            "DELETE FROM [psflow_signal] WHERE ([psflow_signal].[job_id] IN ({p}))",
            "DELETE FROM [psflow_block] WHERE ([psflow_block].[job_id] IN ({p}))",
            "DELETE FROM [psflow_attempt] WHERE ([psflow_attempt].[job_id] IN ({p}))",
            "DELETE FROM [psflow_job] WHERE ([psflow_job].[id] IN ({p}))",
            "COMMIT TRANSACTION",
        ),
        returns=lambda counts: counts == {"jobs": 1, "attempts": 1, "blocks": 1, "inputs": 1},
    ),
    Scenario(
        "delete_jobs-job-changed",
        "delete_jobs",
        lambda store: store.delete_jobs([_job("Completed")]),
        (
            "BEGIN TRANSACTION",
            "UPDATE [psflow_job] SET [updated_at] = {p} WHERE ",
            "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION",
        ),
        setup=_rows(rowcount=0),
        returns=lambda changed: changed == _job("Completed"),
    ),
    Scenario(
        "prunable_jobs",
        "prunable_jobs",
        lambda store: store.prunable_jobs(["Completed", "Cancelled"], NOW),
        (
            _JOB_COLUMNS + "WHERE (([t1].[status] IN ({p}, {p})) AND ([t1].[updated_at] < {p})) "
            "ORDER BY [t1].[updated_at], [t1].[id]",
        ),
        returns=lambda jobs: jobs == [FAKE_JOB],
    ),
    Scenario(
        "prune_jobs",
        "prune_jobs",
        lambda store: store.prune_jobs(["Waiting", "Failed"], NOW + 1, limit=500),
        (
            _PRUNE_STRETCH,
            "BEGIN TRANSACTION",
            (
                "UPDATE [psflow_job] SET [updated_at] = [psflow_job].[updated_at] "
                "WHERE (([psflow_job].[id] IN ({p})) AND (([psflow_job].[status] IN ({p}, {p})) "
                "AND ([psflow_job].[updated_at] < {p})))"
            ),
            (
                "SELECT [t1].[id] FROM [psflow_job] AS [t1] "
                "WHERE (([t1].[id] IN ({p})) AND (([t1].[status] IN ({p}, {p})) AND ([t1].[updated_at] < {p})))"
            ),
            _AWAITING_PARENTS,  # Waiting jobs go: a parent may wait for one (the fake answers none)
            "DELETE FROM [psflow_signal] WHERE ([psflow_signal].[job_id] IN ({p}))",
            "DELETE FROM [psflow_block] WHERE ([psflow_block].[job_id] IN ({p}))",
            "DELETE FROM [psflow_attempt] WHERE ([psflow_attempt].[job_id] IN ({p}))",
            "DELETE FROM [psflow_job] WHERE (([psflow_job].[id] IN ({p})) AND (([psflow_job].[status] IN ({p}, {p})) ",
            "COMMIT TRANSACTION",
        ),
        returns=lambda result: result == ([JOB_ID], {"jobs": 1, "attempts": 1, "blocks": 1, "inputs": 1}, JOB_ID),
    ),
    Scenario(
        "prune_jobs-after-none-matching",
        "prune_jobs",
        lambda store: store.prune_jobs(["Completed", "Cancelled"], NOW, limit=500, after="abc"),
        (_PRUNE_STRETCH, "BEGIN TRANSACTION", "COMMIT TRANSACTION"),  # the stretch's job is Waiting: kept
        returns=lambda result: result == ([], {"jobs": 0, "attempts": 0, "blocks": 0, "inputs": 0}, JOB_ID),
    ),
    Scenario(
        "prune_jobs-after-last",
        "prune_jobs",
        lambda store: store.prune_jobs(["Completed", "Cancelled"], NOW, limit=500, after=JOB_ID),
        (_PRUNE_STRETCH,),  # no job left to look at: no transaction
        setup=_rows(0),
        returns=lambda result: result == ([], {"jobs": 0, "attempts": 0, "blocks": 0, "inputs": 0}, None),
    ),
    Scenario(
        "count_jobs-all",
        "count_jobs",
        lambda store: store.count_jobs(),
        (
            _COUNT_JOBS
            + "WHERE ([t1].[id] IS NOT NULL) ORDER BY (SELECT NULL) OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        returns=lambda count: count == 1,
    ),
    Scenario(
        "count_jobs-status-updated-before",
        "count_jobs",
        lambda store: store.count_jobs(["Completed", "Failed"], updated_before=NOW),
        (
            _COUNT_JOBS + "WHERE ((([t1].[id] IS NOT NULL) AND ([t1].[status] IN ({p}, {p}))) "
            "AND ([t1].[updated_at] < {p})) ORDER BY (SELECT NULL) OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY",
        ),
        returns=lambda count: count == 1,
    ),
    Scenario(
        "queue",
        "queue",
        lambda store: store.queue("deploy"),
        (
            (
                "SELECT [t1].[name], [t1].[max_running] FROM [psflow_queue] AS [t1] WHERE ([t1].[name] = {p}) "
                "ORDER BY (SELECT NULL) OFFSET {p} ROWS FETCH NEXT {p} ROWS ONLY"
            ),
        ),
        returns=lambda queue: queue == QueueView("deploy", 2),
    ),
    Scenario(
        "set_queue_limit",
        "set_queue_limit",
        lambda store: store.set_queue_limit("deploy", 3),
        (
            "BEGIN TRANSACTION",
            "UPDATE [psflow_queue] SET [max_running] = {p}, [updated_at] = {p} WHERE ([psflow_queue].[name] = {p})",
            "COMMIT TRANSACTION",
        ),
        returns=lambda queue: queue == QueueView("deploy", 3),
    ),
    Scenario(
        "set_queue_limit-new-queue",
        "set_queue_limit",
        lambda store: store.set_queue_limit("deploy", None),
        (
            "BEGIN TRANSACTION",
            "UPDATE [psflow_queue] SET [max_running] = {p}, [updated_at] = {p} WHERE ([psflow_queue].[name] = {p})",
            "INSERT INTO [psflow_queue] ([name], [max_running], [updated_at]) VALUES ({p}, {p}, {p})",
            "COMMIT TRANSACTION",
        ),
        setup=_rows(rowcount=0),
        returns=lambda queue: queue == QueueView("deploy", None),
        absent=("OUTPUT",),
    ),
    Scenario(
        "queue_loads",
        "queue_loads",
        lambda store: store.queue_loads(),
        (
            (
                "SELECT [t1].[name], [t1].[max_running], COUNT([t2].[id]) FROM [psflow_queue] AS [t1] "
                "LEFT OUTER JOIN [psflow_job] AS [t2] ON (([t2].[queue] = [t1].[name]) AND ([t2].[status] = {p})) "
                "WHERE ([t1].[max_running] IS NOT NULL) GROUP BY [t1].[name], [t1].[max_running]"
            ),
        ),
        returns=lambda loads: loads == {"deploy": (2, 1)},
    ),
    Scenario(
        "queue_counts",
        "queue_counts",
        lambda store: store.queue_counts(),
        (
            "SELECT [t1].[queue], COUNT(CASE WHEN ([t1].[status] = {p}) THEN {p} END), ",
            "SELECT [t1].[name], [t1].[max_running] FROM [psflow_queue] AS [t1]",
        ),
        returns=lambda queues: queues == [QueueView("default", None, 1, 1, 1, 1), QueueView("deploy", 2)],
        contains=("GROUP BY [t1].[queue]",),
    ),
    Scenario(
        "children",
        "children",
        lambda store: store.children(JOB_ID),
        (_CHILD_COLUMNS + "WHERE ([t1].[parent] IN ({p})) ORDER BY [t1].[created_at], [t1].[id]",),
        returns=lambda found: [child.id for child in found] == [JOB_ID] and found[0].error is None,
    ),
    Scenario(
        "children_of",
        "children_of",
        lambda store: store.children_of([JOB_ID, "other"]),
        (_CHILD_COLUMNS + "WHERE ([t1].[parent] IN ({p}, {p})) ORDER BY [t1].[created_at], [t1].[id]",),
        returns=lambda found: len(found) == 1,
    ),
    Scenario(
        "child_jobs",
        "child_jobs",
        lambda store: store.child_jobs([JOB_ID, "gone"]),
        (_CHILD_COLUMNS + "WHERE ([t1].[id] IN ({p}, {p}))",),
        returns=lambda found: list(found) == [JOB_ID] and found[JOB_ID].status == "Waiting",
    ),
    Scenario(
        "awaited_counts",
        "awaited_counts",
        lambda store: store.awaited_counts([JOB_ID]),
        (
            (
                "SELECT [t1].[parent], SUM(CASE WHEN ([t1].[status] NOT IN ({p}, {p}, {p})) THEN {p} ELSE {p} END), "
                "COUNT([t1].[id]) FROM [psflow_job] AS [t1] WHERE (([t1].[parent] IN ({p})) "
                "AND ([t1].[awaited] = {p})) GROUP BY [t1].[parent]"
            ),
        ),
        setup=_rows(0),
        returns=lambda counts: counts == {},
    ),
    Scenario(
        "job_result",
        "job_result",
        lambda store: store.job_result(JOB_ID),
        ("SELECT [t1].[result] FROM [psflow_job] AS [t1] WHERE ([t1].[id] = {p})",),
        returns=lambda result: result is None,
    ),
    Scenario(
        "cancel_children",
        "cancel_children",
        lambda store: store.cancel_children([JOB_ID], "cancelled with its parent"),
        (
            "BEGIN TRANSACTION",
            (
                "SELECT [t1].[id] FROM [psflow_job] AS [t1] WHERE (([t1].[parent] IN ({p})) "
                "AND ([t1].[status] NOT IN ({p}, {p}, {p})))"
            ),
            (
                "UPDATE [psflow_job] SET [status] = {p}, [reason] = {p}, [updated_at] = {p}, [lease_until] = {p}, "
                "[due_at] = {p}, [waits_for] = {p}, [waiting_since] = {p}, [live_output] = {p} "
                "WHERE (([psflow_job].[id] IN ({p})) AND ([psflow_job].[status] NOT IN ({p}, {p}, {p})))"
            ),
            (
                "UPDATE [psflow_attempt] SET [ended_at] = {p}, [outcome] = {p}, [reason] = {p} "
                "WHERE (([psflow_attempt].[job_id] IN ({p})) AND ([psflow_attempt].[ended_at] IS NULL))"
            ),
            "COMMIT TRANSACTION",
        ),
        returns=lambda ids: ids == [JOB_ID],
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.id for scenario in SCENARIOS])
def test_statements_of(scenario: Scenario, store: Store, server: FakeServer):
    scenario.setup(server)
    if scenario.raises:
        with pytest.raises(scenario.raises):
            scenario.call(store)
    else:
        assert scenario.returns(scenario.call(store))
    assert_statements(server.log, *scenario.expect)
    text = " ".join(starts(server.log)).replace("%s", "{p}").replace("?", "{p}")
    for fragment in scenario.contains:
        assert fragment in text, f"{fragment}\n  not in\n{text}"
    for fragment in scenario.absent:
        assert fragment not in text, f"{fragment}\n  in\n{text}"
    check_all(server.log)


def test_every_store_method_has_a_scenario():
    """A new public Store method must come with its statements checked here."""
    public = {name for name, _ in inspect.getmembers(Store, inspect.isfunction) if not name.startswith("_")}
    assert public == {scenario.method for scenario in SCENARIOS}


def test_the_end_of_an_awaited_child_locks_its_parent_then_wakes_it(store: Store, server: FakeServer):
    """The wake-up of a parent that waits for child jobs, in the transaction that ends the child: the
    parent's row is locked first, then a new statement asks whether an awaited child is left."""
    assert store.finish_attempt(JOB_ID, 2, status="Failed", reason="ValueError") is True
    assert_statements(
        server.log, "BEGIN TRANSACTION", _RELEASE, _END_ATTEMPT, _LOCK_PARENT_OF, _WAKE_PARENT_OF, "COMMIT TRANSACTION"
    )
    check_all(server.log)


def test_save_block_is_one_prebuilt_statement(store: Store, server: FakeServer):
    """The hot path: a fenced INSERT ... SELECT built once (no OUTPUT: its id is given), one parameter
    per column and three for the fence (the job, the attempt, Running). Only an attempt's first save
    reads where its ids go on (the fake's highest is run_id(1, 1))."""
    sql = store._save_block_sql
    assert sql.startswith("INSERT INTO [psflow_block] ") and "OUTPUT" not in sql
    assert sql.count(store.db.param) == 2 + len(BlockRecord._fields) + 3
    failed = RECORD._replace(status="Failed", error="ValueError: x")
    store.save_block(JOB_ID, RECORD)
    store.save_block(JOB_ID, failed)
    assert [statement.template for statement in server.log][1:] == [sql, sql]
    assert [statement.params for statement in server.log][1:] == [
        (JOB_ID, run_id(1, place), *record, JOB_ID, record.attempt, JobStatus.RUNNING)
        for place, record in ((2, RECORD), (3, failed))
    ]


def _sent_job_rows(log: list[Statement]) -> list[dict[str, Any]]:
    """Each INSERT INTO [psflow_job] in `log` as {column: parameter sent}."""
    rows = []
    for statement in log:
        if statement.template.startswith("INSERT INTO [psflow_job]"):
            columns = re.search(r"\(\[(.*?)\]\)", statement.template).group(1).split("], [")
            rows.append(dict(zip(columns, statement.params, strict=True)))
    return rows


def test_a_new_job_sends_its_variable_names_as_json_and_the_signature_of_what_it_stores(store, server):
    """`env` is one JSON text (names only); `sign` sees the job as inserted, with its snapshot."""
    seen: list[tuple[JobView, str]] = []

    def sign(job: JobView, source: str) -> str:
        seen.append((job, source))
        return SIGNATURE

    new = {"name": "flow", "script": "/srv/flow.py", "source_sha256": "0" * 64, "args": [], "runner": RUNNER}
    signed = store.create_job(JOB_ID, source="print('hi')\n", env=("API_TOKEN",), sign=sign, **new)
    unsigned = store.create_job("j2", source="", **new)
    first, second = _sent_job_rows(server.log)
    assert (first["env"], first["signature"], first["source"]) == ('["API_TOKEN"]', SIGNATURE, "print('hi')\n")
    assert seen == [(dataclasses.replace(signed, signature=None), "print('hi')\n")]
    assert (second["env"], second["signature"], unsigned.env, unsigned.signature) == (None, None, (), None)
    check_all(server.log)


def test_a_duplicate_key_found_while_fetching_the_new_key_is_an_integrity_error(server: FakeServer):
    """The Store's inserts read no key back, but an insert that does (OUTPUT INSERTED.[id]) can get
    its duplicate-key error after the row's metadata, while fetching: still peewee's IntegrityError,
    and the transaction is rolled back."""
    from peewee import IntegrityError as PeeweeIntegrityError

    db = open_fake(server)
    attempt = bind_tables(db).attempt
    server.log.clear()
    server.fail = ("INSERT INTO [psflow_attempt]", IntegrityError("Violation of UNIQUE KEY constraint"), "fetch")
    with pytest.raises(PeeweeIntegrityError), db.atomic():
        attempt.insert(job=JOB_ID, number=1, host="server1", pid=1, source_sha256="0" * 64, started_at=NOW).execute()
    assert_statements(
        server.log,
        "BEGIN TRANSACTION",
        "INSERT INTO [psflow_attempt] ([job_id], [number], [host], [pid], [source_sha256], [started_at]) "
        "OUTPUT INSERTED.[id] VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
        "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION",
    )
    check_all(server.log)


# ---- transactions and rendering details ------------------------------------------------------------


def test_nested_atomic_uses_tsql_savepoints(store: Store, server: FakeServer):
    """psflow does not nest transactions today; if it does, T-SQL gets SAVE TRANSACTION, not SAVEPOINT."""
    db = store.db
    with db.atomic():
        with pytest.raises(RuntimeError), db.atomic():
            store.update_source(JOB_ID, 1, "x", "1" * 64, signature=SIGNATURE)
            raise RuntimeError
        with db.atomic():
            store.update_source(JOB_ID, 1, "y", "2" * 64, signature=SIGNATURE)
    sqls = starts(server.log)
    assert sqls[0] == "BEGIN TRANSACTION" and sqls[-1] == "COMMIT TRANSACTION"
    saves = [sql for sql in sqls if sql.startswith("SAVE TRANSACTION ")]
    assert len(saves) == 2 and all(len(sql.split()[-1]) <= 32 for sql in saves)
    assert f"ROLLBACK TRANSACTION {saves[0].split()[-1]}" in sqls
    # sqlglot 30 does not parse SAVE TRANSACTION: sqlfluff and the token check judge those alone.
    for statement in server.log:
        validate(statement.literal, sqlglot_gap=statement.template.startswith(("SAVE ", "ROLLBACK TRANSACTION s")))


class _Everything(Model):
    auto = AutoField()
    name = CharField(max_length=40, index=True)
    body = TextField(null=True)
    flag = BooleanField(default=False)
    ratio = FloatField()
    precise = DoubleField()
    count = IntegerField()
    big = BigIntegerField()
    small = SmallIntegerField()
    amount = DecimalField(max_digits=12, decimal_places=2)
    when = DateTimeField()
    day = DateField()
    at = TimeField()
    blob = BlobField(null=True)
    token = UUIDField(null=True)

    class Meta:
        table_name = "psflow_everything"


def test_every_field_type_renders_as_tsql(server):
    db = open_fake(server)
    server.tables, server.log[:] = [], []
    with db.bind_ctx([_Everything]):
        db.create_tables([_Everything])
    table = server.log[0].template
    for column in (
        "[auto] INT IDENTITY(1,1) NOT NULL PRIMARY KEY",
        f"[name] NVARCHAR(40) COLLATE {tsql.COLLATION} NOT NULL",
        f"[body] NVARCHAR(MAX) COLLATE {tsql.COLLATION} NULL",
        "[flag] BIT NOT NULL",
        "[ratio] FLOAT NOT NULL",
        "[precise] FLOAT NOT NULL",
        "[count] INT NOT NULL",
        "[big] BIGINT NOT NULL",
        "[small] SMALLINT NOT NULL",
        "[amount] DECIMAL(12, 2) NOT NULL",
        "[when] DATETIME2 NOT NULL",
        "[day] DATE NOT NULL",
        "[at] TIME NOT NULL",
        "[blob] VARBINARY(MAX) NULL",
        f"[token] NVARCHAR(40) COLLATE {tsql.COLLATION} NULL",
    ):
        assert column in table, f"{column}\n  not in\n{table}"
    check_all(server.log)


def test_identifiers_are_bracketed_with_closing_brackets_doubled():
    assert tsql.quote("psflow_job") == "[psflow_job]"
    assert tsql.quote("odd]name") == "[odd]]name]"
    db = mssql.MssqlDatabase(mssql.parse_mssql_url(URL))
    from peewee import Table

    sql, _ = db.get_sql_context().sql(Table("odd]table").select(Table("odd]table").c.id)).query()
    assert sql == "SELECT [t1].[id] FROM [odd]]table] AS [t1]"
    tree = sqlglot.parse_one(sql, read="tsql")
    assert tree.find(exp.Table).name == "odd]table"
    validate(sql, sqlfluff_gap=True)  # sqlfluff 4.5 does not know `]]` in a bracketed name


def test_no_backend_upserts_blocks(tmp_path):
    """Each block run is its own row (schema 2): SQLite's hot path is a plain INSERT too, and the
    SQL Server MERGE hook is gone; INSERT ... ON CONFLICT is refused rather than mistranslated."""
    url = f"sqlite:///{tmp_path / 'psflow.sqlite'}"
    with Store(open_database(url), url) as store:
        sql = store._save_block_sql
    assert sql.startswith('INSERT INTO "psflow_block"') and "ON CONFLICT" not in sql and "RETURNING" not in sql
    assert not hasattr(mssql.MssqlDatabase, "upsert_sql")
    mssql_db = mssql.MssqlDatabase(mssql.parse_mssql_url(URL))
    job = bind_tables(mssql_db).job
    with pytest.raises(NotImplementedError, match="never upserts"):
        mssql_db.get_sql_context().sql(job.insert(id="x").on_conflict_replace()).query()


# ---- the validators catch what they must --------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "SELECT [id] FROM [psflow_job] LIMIT 1",
        "INSERT INTO [t] ([a]) VALUES (1) RETURNING [id]",
        "INSERT INTO [t] ([a]) VALUES (1) ON CONFLICT ([a]) DO UPDATE SET [a] = EXCLUDED.[a]",
        "CREATE TABLE IF NOT EXISTS [t] ([a] INT)",
        "CREATE TABLE [t] ([a] TEXT)",
        "CREATE TABLE [t] ([a] VARCHAR(10))",
        "CREATE TABLE [t] ([a] REAL)",
        "CREATE TABLE [t] ([a] BOOLEAN)",
        "CREATE TABLE `t` (`a` INT)",
        'SELECT "id" FROM "psflow_job"',
        "BEGIN",
        "SAVEPOINT s1",
        "SELECT EXISTS(SELECT 1 FROM [t])",
        "SELECT [a] FROM [t] WHERE [a] = %s",
    ],
)
def test_validators_reject_what_is_not_tsql(bad):
    with pytest.raises(AssertionError):
        validate.__wrapped__(bad)


# ---- URLs, drivers and connection errors -----------------------------------------------------------------


def test_url_is_read_with_options_and_a_masked_password():
    target = mssql.parse_mssql_url(URL + "?encrypt=YES&cafile=/etc/ca.pem&login_timeout=5")
    assert (target.driver, target.host, target.port, target.database, target.user) == (
        "pytds",
        "db.example",
        1433,
        "psflow",
        "psflow",
    )
    assert target.password == PASSWORD and target.options["encrypt"] == "yes"
    assert PASSWORD not in repr(target) and target.where.startswith("mssql://psflow:***@db.example")
    odbc = mssql.parse_mssql_url("mssql+pyodbc://sa:pw@host/db?trust_server_certificate=yes")
    assert (odbc.driver, odbc.port) == ("pyodbc", 1433)


def test_odbc_connection_string_braces_every_value():
    target = mssql.parse_mssql_url("mssql+pyodbc://sa:p%7Dw%3Bx@host:1444/db?encrypt=strict")
    assert mssql_connect.odbc_connection_string(target) == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER={host,1444};DATABASE={db};UID={sa};"
        "PWD={p}}w;x};APP={psflow};Encrypt={strict}"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mssql://u:p@host", "write mssql://USER:PASSWORD@HOST:PORT/DATABASE"),
        ("mssql://host/db", "names no user"),
        ("mssql://u:p@host:notaport/db", "bad port"),
        ("mssql://u:p@host/db?colour=blue", "unknown MS SQL Server URL option(s) for pytds: colour"),
        ("mssql://u:p@host/db?encrypt=maybe", "encrypt must be one of no, yes, login"),
        ("mssql://u:p@host:1433/db?instance=SQLEXPRESS", "a port or an instance name, not both"),
        ("mssql://u:p@host/db?login_timeout=soon", "login_timeout must be a number of seconds"),
    ],
)
def test_bad_urls_are_store_errors_without_the_password(url, message):
    with pytest.raises(StoreError, match=re.escape(message)) as caught:
        open_database(url)
    assert ":p@" not in str(caught.value)


@pytest.mark.parametrize(
    ("scheme", "module", "extra"),
    [("mssql", "pytds", "pip install 'psflow[mssql]'"), ("mssql+pyodbc", "pyodbc", "pip install 'psflow[mssql-odbc]'")],
)
def test_missing_driver_names_the_extra(monkeypatch, scheme, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails as if not installed
    with pytest.raises(StoreError, match=re.escape(extra)):
        open_database(f"{scheme}://u:secret@host/db")


def test_open_database_gives_an_unconnected_mssql_database():
    pytest.importorskip("pytds")
    db = open_database(URL)
    assert isinstance(db, mssql.MssqlDatabase) and db.is_closed() and db.param == "%s"


def _login_failed() -> Exception:
    pytds = pytest.importorskip("pytds")
    error = pytds.LoginError(f"Login failed for user 'psflow'. (password {PASSWORD})")
    error.msg_no = 18456
    return error


class OdbcError(Exception):
    """pyodbc's errors: (SQLSTATE, decorated message)."""


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            lambda: ConnectionRefusedError(111, "Connection refused"),
            "cannot reach SQL Server mssql://psflow:***@db.example",
        ),
        (TimeoutError, "cannot reach SQL Server mssql://psflow:***@db.example:1433/psflow: no answer within 15 s"),
        (_login_failed, "SQL Server mssql://psflow:***@db.example:1433/psflow refused the login: Login failed"),
        (
            lambda: OdbcError(
                "28000",
                "[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'psflow'. "
                "(18456) (SQLDriverConnect)",
            ),
            "refused the login: Login failed for user 'psflow'.",
        ),
    ],
    ids=["refused", "timeout", "pytds-login", "pyodbc-login"],
)
def test_connect_errors_are_one_line_store_errors_without_the_password(monkeypatch, error, expected):
    error = error()

    def fail(target):
        raise error

    monkeypatch.setattr(mssql, "connect_pytds", fail)
    db = mssql.MssqlDatabase(mssql.parse_mssql_url(URL))
    with pytest.raises(StoreError) as caught:
        db.connect()
    message = str(caught.value)
    assert expected in message and PASSWORD not in message and "\n" not in message


def test_query_errors_say_the_server_message(store: Store, server: FakeServer):
    """The Store turns the driver's error into a one-line StoreError naming the database, password masked."""
    pytds = pytest.importorskip("pytds")

    server.fail = ("UPDATE", pytds.OperationalError("Lock request time out period exceeded."), "execute")
    with pytest.raises(StoreError) as caught:
        store.update_source(JOB_ID, 1, "x", "1" * 64, signature=SIGNATURE)
    where = (
        "mssql://psflow:***@db.example:1433/psflow"
        if server.style == "pytds"
        else "mssql+pyodbc://psflow:***@db.example:1433/psflow"
    )
    assert str(caught.value) == f"cannot use database {where}: Lock request time out period exceeded."
    assert PASSWORD not in str(caught.value) and caught.value.__suppress_context__


def test_cli_unreachable_server_is_one_line_and_masked(tmp_path):
    pytest.importorskip("pytds")
    psflow = Path(sys.executable).with_name("psflow")
    if not psflow.exists():
        pytest.skip("the psflow console script is not installed")
    url = "mssql://psflow:hunter2@127.0.0.1:9/psflow?login_timeout=1"  # port 9 (discard): refused
    result = subprocess.run(
        [str(psflow), "jobs", "--db", url], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot reach SQL Server mssql://psflow:***@127.0.0.1:9/psflow" in result.stderr, result.stderr
    assert "hunter2" not in result.stderr


# ---- inventory ------------------------------------------------------------------------------------------


def _inventory() -> None:  # pragma: no cover - a report for people
    """Print every distinct statement the scenarios capture (python-tds style), with the kinds
    sqlglot and sqlfluff parsed it as."""
    seen: dict[str, Verdict] = {}
    server = FakeServer("pytds", tables=[])
    mssql.connect_pytds = lambda target: server.connect()
    store = fake_store(server)
    runs = [store._ensure_ready] + [functools.partial(_run_quietly, scenario, store, server) for scenario in SCENARIOS]
    for run in runs:
        run()
        for statement in server.log:
            seen.setdefault(statement.literal, validate(statement.literal))
        server.log.clear()
        server.tables, server.rowcount, server.select_rows = list(TABLES), 1, []
    for number, (sql, verdict) in enumerate(seen.items(), 1):
        glot, fluff = ", ".join(verdict.sqlglot_kinds), ", ".join(verdict.sqlfluff_kinds)
        print(f"{number:2}. {sql}\n    sqlglot: {glot}; sqlfluff: {fluff}")


def _run_quietly(scenario: Scenario, store: Store, server: FakeServer) -> None:  # pragma: no cover
    scenario.setup(server)
    with contextlib.suppress(AmbiguousJob, UnknownJob):
        scenario.call(store)


if __name__ == "__main__":  # pragma: no cover
    _inventory()


def test_a_block_record_tried_again_after_a_lost_connection_is_looked_for_by_the_id_it_kept(
    store: Store, server: FakeServer
):
    """The connection was lost as the INSERT ran: its commit may have landed. The next try looks
    for the run by the id the first one gave it (T-SQL has EXISTS only in a CASE), finds it (the fake
    server says it exists), and writes nothing again."""
    pytds = pytest.importorskip("pytds")
    server.fail = ("INSERT INTO [psflow_block]", pytds.tds_base.ClosedConnectionError(), "execute")
    store.clock = FakeClock()

    run = store.save_block(JOB_ID, RECORD)

    assert run == run_id(RECORD.attempt, 2)  # the id of the first try: its commit is the one that landed
    assert_statements(
        server.log,
        *(_HIGHEST_PLACE, _SAVE_BLOCK),  # the first try, its connection lost
        *_CONNECT,
        "SELECT CASE WHEN EXISTS(SELECT [t1].[id] FROM [psflow_block] AS [t1] WHERE ((([t1].[job_id] = {p}) "
        "AND ([t1].[id] = {p})) AND ([t1].[name] = {p}))) THEN 1 ELSE 0 END",
    )
