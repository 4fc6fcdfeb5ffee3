"""MS SQL Server: a peewee Database that writes T-SQL, over python-tds (default) or pyodbc.

Where peewee's generic SQL is not T-SQL, this module renders it differently, only for
this Database (peewee's own classes are never patched):

* identifiers in [brackets] (`]` doubled), which do not depend on QUOTED_IDENTIFIER;
* paging as `ORDER BY ... OFFSET n ROWS FETCH NEXT m ROWS ONLY` (ORDER BY (SELECT NULL)
  when the query has none), never LIMIT;
* the new row's key as `INSERT ... OUTPUT INSERTED.[id] VALUES ...`, never RETURNING;
* CREATE TABLE / CREATE INDEX guarded by `IF OBJECT_ID(...) IS NULL` and
  `IF NOT EXISTS (SELECT ... FROM sys.indexes ...)`, never `IF NOT EXISTS` in the DDL;
* text as NVARCHAR with a binary collation, so ids and block names compare exactly
  (case-sensitive) as on SQLite and PostgreSQL, whatever the database's default;
* schema upgrades through `MssqlMigrator` (playhouse.migrate has no SQL Server migrator):
  `ALTER TABLE ... ADD` without COLUMN, NOT NULL set with the column's full type, and
  `DROP INDEX name ON table`;
* `BEGIN TRANSACTION` / `COMMIT TRANSACTION` / `SAVE TRANSACTION`, on a connection in
  autocommit mode like every peewee 4 backend.
* which errors pass (`trouble`, psflow.store.retry): a deadlock (1205) or lock timeout
  (1222) is tried again; Azure SQL's transient errors (40613, 40197, 40501, 4060, …), a
  reset connection (10053, 10054) or SQLSTATE 08xxx are tried again on a new connection.
  A connection that cannot be opened again is a StoreError at once (not retried yet).

SQL Server 2012 or newer is required (OFFSET/FETCH); the version is checked on connect.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from peewee import (
    SQL,
    Case,
    CommaNodeList,
    Context,
    Database,
    Delete,
    EnclosedNodeList,
    Entity,
    ForeignKeyField,
    Function,
    Insert,
    NodeList,
    SchemaManager,
    Select,
    SelectBase,
    Update,
    _savepoint,
    sort_models,
)
from peewee import DatabaseError as PeeweeDatabaseError
from peewee import InterfaceError as PeeweeInterfaceError
from peewee import __exception_wrapper__ as _exception_wrapper
from playhouse.migrate import SchemaMigrator, operation

from psflow.errors import StoreError
from psflow.store.backends.mssql_connect import (
    DRIVER_EXTRAS,
    MssqlTarget,
    check_version,
    connect_error,
    connect_pyodbc,
    connect_pytds,
    driver_message,
    parse_mssql_url,
)
from psflow.store.retry import BUSY, DISCONNECTED, driver_error

#: Case- and accent-sensitive, compared by code point: `Step1` and `step1` are two blocks.
COLLATION = "Latin1_General_100_BIN2"
#: OFFSET ... FETCH arrived in SQL Server 2012 (major version 11).
SCHEMA_LOCK_TIMEOUT_SECONDS = 60
_SCHEMA_LOCK = "psflow_schema"

FIELD_TYPES = {
    "AUTO": "INT IDENTITY(1,1)",
    "BIGAUTO": "BIGINT IDENTITY(1,1)",
    "BIGINT": "BIGINT",
    "BLOB": "VARBINARY(MAX)",
    "BOOL": "BIT",
    "CHAR": "NCHAR",
    "DATE": "DATE",
    "DATETIME": "DATETIME2",
    "DECIMAL": "DECIMAL",
    "DOUBLE": "FLOAT",
    "FLOAT": "FLOAT",  # T-SQL FLOAT is FLOAT(53): a Python float, exactly
    "INT": "INT",
    "SMALLINT": "SMALLINT",
    "TEXT": "NVARCHAR(MAX)",
    "TIME": "TIME",
    "UUID": "NVARCHAR(40)",  # peewee stores UUIDs as 32 hex digits, which UNIQUEIDENTIFIER refuses
    "UUIDB": "BINARY(16)",
    "VARCHAR": "NVARCHAR",
}
_TEXT_TYPES = ("CHAR", "TEXT", "UUID", "VARCHAR")


def quote(name: str) -> str:
    """`[name]`, with `]` doubled: T-SQL's own quoting, whatever QUOTED_IDENTIFIER says."""
    return "[" + name.replace("]", "]]") + "]"


def _nstring(text: str) -> str:
    """A Unicode string literal: N'text' with quotes doubled."""
    return "N'" + text.replace("'", "''") + "'"


def _table_name(model) -> str:
    meta = model._meta
    return ".".join(quote(part) for part in (meta.schema, meta.table_name) if part)


# ---- rendering -------------------------------------------------------------


class _TsqlContext(Context):
    """Renders the few peewee nodes whose generic SQL is not T-SQL."""

    __slots__ = ("_output",)

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._output: Sequence | None = None  # OUTPUT columns waiting for their place

    def as_new(self) -> _TsqlContext:
        return _TsqlContext(**self.state.settings)

    def sql(self, obj: Any) -> _TsqlContext:
        if isinstance(obj, Entity):
            return self.literal(".".join(quote(part) for part in obj._path))
        if isinstance(obj, SelectBase) and (obj._limit is not None or obj._offset is not None):
            return super().sql(_offset_fetch(obj))
        if isinstance(obj, Insert) and obj._returning:
            return self._insert_output(obj)
        if isinstance(obj, (Update, Delete)) and (obj._limit is not None or obj._offset is not None):
            raise ValueError("T-SQL UPDATE and DELETE take no LIMIT/OFFSET")
        if isinstance(obj, Function) and (obj.name or "").upper() == "EXISTS" and self.state.in_projection:
            # EXISTS is a predicate in T-SQL, not a value: SELECT CASE WHEN EXISTS(...) THEN 1 ELSE 0 END.
            with self(in_projection=False):
                return super().sql(Case(None, ((obj, SQL("1")),), SQL("0")))
        return super().sql(obj)

    def _insert_output(self, query: Insert) -> _TsqlContext:
        """INSERT INTO t (cols) OUTPUT INSERTED.[pk] VALUES (...): the OUTPUT clause goes before VALUES."""
        plain = query.clone()
        plain._returning = None
        self._output = query._returning
        super().sql(plain)
        if self._output is not None:
            raise ValueError("T-SQL OUTPUT clause found no VALUES to precede (INSERT ... SELECT with RETURNING?)")
        return self

    def literal(self, keyword: str) -> _TsqlContext:
        if self._output is not None and keyword in (" VALUES ", "DEFAULT VALUES"):
            columns, self._output = self._output, None
            inserted = [NodeList((SQL("INSERTED"), Entity(column.column_name)), glue=".") for column in columns]
            super().literal(" OUTPUT " if keyword == " VALUES " else "OUTPUT ")
            self.sql(CommaNodeList(inserted))
            keyword = keyword if keyword == " VALUES " else " " + keyword
        return super().literal(keyword)


def _offset_fetch(query: SelectBase) -> SelectBase:
    """The same query, paged the T-SQL way: ORDER BY ... OFFSET n ROWS [FETCH NEXT m ROWS ONLY]."""
    limit, offset = query._limit, query._offset
    paged = query.clone()
    paged._limit = paged._offset = None
    if not getattr(query, "_from_list", True) and not offset and limit != 0:
        return paged  # SELECT without FROM: one row, which a limit of 1 or more keeps
    if limit == 0:  # T-SQL refuses FETCH NEXT 0 ROWS
        if not isinstance(paged, Select):
            raise ValueError("T-SQL cannot FETCH NEXT 0 ROWS of a compound query")
        return paged.where(SQL("1 = 0"))
    clause = [CommaNodeList(query._order_by or (SQL("(SELECT NULL)"),)), SQL("OFFSET"), offset or 0, SQL("ROWS")]
    if limit is not None:
        clause += [SQL("FETCH NEXT"), limit, SQL("ROWS ONLY")]
    paged._order_by = (NodeList(clause),)
    return paged


class _TsqlSchema(SchemaManager):
    """CREATE TABLE and CREATE INDEX for T-SQL: guarded by existence tests, text with COLLATION."""

    def _create_table(self, safe: bool = True, **options: Any) -> Context:
        if options:
            raise ValueError(f"table options are not supported on MS SQL Server: {sorted(options)}")
        meta = self.model._meta
        ctx = self._create_context()
        if safe:
            ctx.literal(f"IF OBJECT_ID({_nstring(_table_name(self.model))}, N'U') IS NULL ")
        columns = [self._column(field, ctx) for field in meta.sorted_fields]
        constraints = []
        if meta.composite_key:
            keys = [meta.fields[name].column for name in meta.primary_key.field_names]
            constraints.append(NodeList((SQL("PRIMARY KEY"), EnclosedNodeList(keys))))
        constraints += [
            field.foreign_key_constraint()
            for field in meta.sorted_fields
            if isinstance(field, ForeignKeyField) and not field.deferred
        ]
        constraints += list(meta.constraints or ())
        return ctx.literal("CREATE TABLE ").sql(self.model).literal(" ").sql(EnclosedNodeList(columns + constraints))

    @staticmethod
    def _column(field, ctx: Context) -> NodeList:
        """peewee's column DDL, with COLLATE right after a text type (where T-SQL wants it), and
        NULL said explicitly: a session with ANSI_NULL_DFLT_OFF would make a bare column NOT NULL."""
        nodes = list(field.ddl(ctx).nodes)
        after_type = 2
        if field.field_type in _TEXT_TYPES and not field.collation:
            nodes.insert(after_type, SQL(f"COLLATE {COLLATION}"))
            after_type += 1
        if field.null and not field.primary_key:
            nodes.insert(after_type, SQL("NULL"))
        return NodeList(nodes)

    def _create_index(self, index, safe: bool = True) -> Context:
        ctx = self._create_context()
        index = index.safe(False)
        if safe:
            ctx.literal(
                f"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = {_nstring(index._name)} "
                f"AND object_id = OBJECT_ID({_nstring(_table_name(self.model))})) "
            )
        return ctx.sql(index)


class _Savepoint(_savepoint):
    """T-SQL savepoints: SAVE TRANSACTION name (at most 32 characters), no RELEASE."""

    def __init__(self, db: Database, sid: str | None = None) -> None:
        super().__init__(db, sid or "s" + uuid.uuid4().hex[:31])

    def _begin(self) -> None:
        self.db.execute_sql(f"SAVE TRANSACTION {self.sid}")

    def commit(self, begin: bool = True) -> None:
        if begin:
            self._begin()

    def rollback(self, begin: bool = True) -> None:
        self.db.execute_sql(f"ROLLBACK TRANSACTION {self.sid}")
        if begin:
            self._begin()


# ---- the database ------------------------------------------------------------


_BUSY_ERRORS = {1205, 1222}  # chosen as deadlock victim; lock request timed out
# Azure SQL's documented transient errors, and the network's: the connection must be opened again.
_GONE_ERRORS = {40613, 40197, 40501, 49918, 49919, 49920, 4060, 4221, 233, 64, 10053, 10054, 10060}


class MssqlDatabase(Database):
    """A peewee Database for MS SQL Server 2012+ (and Azure SQL), in T-SQL."""

    context_class = _TsqlContext
    field_types = FIELD_TYPES
    operations: ClassVar[dict[str, str]] = {"ILIKE": "LIKE", "NOT ILIKE": "NOT LIKE", "CONCAT": "+"}
    use_concat_function = True
    quote = "[]"
    returning_clause = True  # rendered as OUTPUT INSERTED.<pk> by _TsqlContext
    safe_create_index = False  # no CREATE INDEX IF NOT EXISTS: _TsqlSchema guards instead
    safe_drop_index = False
    for_update = False
    limit_max = None

    def __init__(self, target: MssqlTarget, **kwargs: Any) -> None:
        self.target = target
        super().__init__(target.database, **kwargs)
        self.param = "%s" if target.driver == "pytds" else "?"

    # -- connections

    def _connect(self):
        connect = connect_pytds if self.target.driver == "pytds" else connect_pyodbc
        try:
            conn = connect(self.target)
        except StoreError:
            raise
        except Exception as error:  # the drivers raise many kinds: socket, login, TLS, ODBC
            raise connect_error(self.target, error) from None
        try:
            self.server_version = check_version(conn, self.target)
        except StoreError:
            conn.close()
            raise
        except Exception as error:
            conn.close()
            raise StoreError(
                f"{self.target.where}: cannot read the server's version: {driver_message(error)}"
            ) from None
        return conn

    def _set_server_version(self, conn) -> None:
        pass  # done by _connect, which refuses servers older than 2012

    def execute_sql(self, sql: str, params: Any = None):
        try:
            return super().execute_sql(sql, params)
        except (PeeweeDatabaseError, PeeweeInterfaceError) as error:
            # peewee keeps the driver's args, which python-tds and pyodbc fill with tuples:
            # say just the server's message.
            error.args = (driver_message(getattr(error, "orig", error)),)
            raise

    def trouble(self, error: BaseException) -> str | None:
        """Which errors pass (psflow.store.retry): a deadlock or lock timeout is BUSY; Azure SQL's
        transient errors, a reset connection or a lost link is DISCONNECTED; None for the rest."""
        original = driver_error(error)
        number = getattr(original, "msg_no", None) or getattr(original, "number", None)
        args = getattr(original, "args", ())
        state = args[0] if args and isinstance(args[0], str) else ""
        if number in _BUSY_ERRORS or state == "40001":
            return BUSY
        if number in _GONE_ERRORS or state.startswith("08") or type(original).__name__ == "ClosedConnectionError":
            return DISCONNECTED
        return None

    # -- transactions

    def begin(self) -> None:
        self.execute_sql("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.execute_sql("COMMIT TRANSACTION")

    def rollback(self) -> None:
        # Some errors (deadlock victim, XACT_ABORT) have rolled back already.
        self.execute_sql("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")

    def savepoint(self) -> _Savepoint:
        return _Savepoint(self)

    # -- statements

    def last_insert_id(self, cursor, query_type=None):
        # An error (a duplicate key) can come after the OUTPUT row's metadata: read to the end
        # inside peewee's wrapper, so it surfaces as peewee's IntegrityError.
        with _exception_wrapper:
            cursor.fill_cache()
        return super().last_insert_id(cursor, query_type)

    def conflict_statement(self, on_conflict, query):
        raise NotImplementedError("MS SQL Server has no INSERT ... ON CONFLICT (psflow never upserts)")

    def conflict_update(self, on_conflict, query):
        raise NotImplementedError("MS SQL Server has no INSERT ... ON CONFLICT (psflow never upserts)")

    def schema_migrator(self) -> MssqlMigrator:
        """What playhouse's SchemaMigrator.from_database would give, had it a SQL Server migrator."""
        return MssqlMigrator(self)

    def claim_transaction(self) -> Any:
        """The transaction of a claim that counts its queue's Running jobs first (see `locked`)."""
        return self.atomic()

    def locked(self, query: Select) -> Select:
        """`query` reading its table WITH (UPDLOCK, HOLDLOCK): the rows it reads (or their absence)
        stay locked against other writers until the transaction ends (T-SQL has no FOR UPDATE)."""
        return query.from_(NodeList((query.model, SQL("WITH (UPDLOCK, HOLDLOCK)"))))

    def lock_schema(self) -> None:
        """Wait for any other process creating or upgrading the schema; held until this transaction ends.

        Without it, two servers creating the schema at once can both pass IF OBJECT_ID(...) IS NULL
        and the second CREATE TABLE fails. ensure_schema and migrations.upgrade call this inside
        their transaction.
        """
        self.execute_sql(
            f"EXEC sp_getapplock @Resource = {_nstring(_SCHEMA_LOCK)}, @LockMode = N'Exclusive', "
            f"@LockOwner = N'Transaction', @LockTimeout = {SCHEMA_LOCK_TIMEOUT_SECONDS * 1000}"
        )
        # sp_getapplock reports failure in its return status, which the drivers do not all expose:
        # ask for the lock's mode instead (NoLock when it timed out).
        mode = self.execute_sql(f"SELECT APPLOCK_MODE(N'public', {_nstring(_SCHEMA_LOCK)}, N'Transaction')").fetchone()
        if not mode or mode[0] != "Exclusive":
            raise StoreError(
                f"{self.target.where}: another process has been creating the psflow schema for over "
                f"{SCHEMA_LOCK_TIMEOUT_SECONDS} s; try again"
            )

    def create_tables(self, models, **options: Any) -> None:
        for model in sort_models(models):
            _TsqlSchema(model, database=self).create_all(**options)

    def table_exists(self, table_name, schema: str | None = None) -> bool:
        """Whether the name resolves to a table the way psflow's unqualified queries resolve it
        (the user's default schema, then dbo)."""
        if isinstance(table_name, type):  # a model
            table_name, schema = table_name._meta.table_name, table_name._meta.schema
        name = ".".join(quote(part) for part in (schema, table_name) if part)
        row = self.execute_sql(f"SELECT OBJECT_ID({self.param}, N'U')", (name,)).fetchone()
        return bool(row) and row[0] is not None

    def get_tables(self, schema: str | None = None) -> list[str]:
        """Tables in `schema`, or in the schema unqualified names resolve to (the user's default)."""
        where, params = ("SCHEMA_NAME()", ()) if schema is None else (self.param, (schema,))
        cursor = self.execute_sql(
            "SELECT [TABLE_NAME] FROM [INFORMATION_SCHEMA].[TABLES] "
            f"WHERE [TABLE_TYPE] = N'BASE TABLE' AND [TABLE_SCHEMA] = {where} ORDER BY [TABLE_NAME]",
            params,
        )
        return [row[0] for row in cursor.fetchall()]

    def get_binary_type(self) -> type:
        return bytes  # both drivers send bytes as VARBINARY

    def default_values_insert(self, ctx: Context) -> Context:
        return ctx.literal("DEFAULT VALUES")

    def get_noop_select(self, ctx: Context) -> Context:
        return ctx.literal("SELECT 0 WHERE 1 = 0")

    def random(self):
        return Function("NEWID", ())


# ---- schema upgrades ------------------------------------------------------------


class MssqlMigrator(SchemaMigrator):
    """The playhouse.migrate operations psflow's migrations use, written in T-SQL.

    DDL is transactional on SQL Server, so migrations.upgrade runs them all in one
    transaction. Operations whose T-SQL is not written (and checked in
    tests/store/test_mssql_sql.py) raise instead of sending another dialect's SQL.
    """

    @operation
    def alter_add_column(self, table: str, column_name: str, field, allow_not_null: bool = False) -> Context:
        """ALTER TABLE [t] ADD [c] TYPE [COLLATE ...] NULL: no COLUMN keyword in T-SQL."""
        column = field.clone()
        column.name = column.column_name = column_name
        column.null = column.null or not allow_not_null
        ctx = self.make_context()
        return self._alter_table(ctx, table).literal(" ADD ").sql(_TsqlSchema._column(column, ctx))

    @operation
    def add_column(self, table: str, column_name: str, field, allow_not_null: bool = False):
        """Added as NULL, filled with the default, then NOT NULL: what playhouse does, except that
        T-SQL's ALTER COLUMN restates the whole type (with its collation)."""
        if isinstance(field, ForeignKeyField):
            raise NotImplementedError("MssqlMigrator.add_column: foreign keys are not written in T-SQL yet")
        if not field.null and field.default is None and not allow_not_null:
            raise ValueError(f"{column_name} is not null but has no default")
        operations = [self.alter_add_column(table, column_name, field, allow_not_null)]
        if not field.null and not allow_not_null:
            column = field.clone()
            column.name = column.column_name = column_name
            ctx = self.make_context()
            not_null = (
                self._alter_column(ctx, table, column_name)
                .literal(" ")
                .sql(NodeList(_TsqlSchema._column(column, ctx).nodes[1:]))
            )
            operations += [self.apply_default(table, column_name, field), not_null]
        if field.index or field.unique:
            operations.append(self.add_index(table, (column_name,), field.unique))
        return operations

    @operation
    def drop_index(self, table: str, index_name: str) -> Context:
        """DROP INDEX [name] ON [table]: T-SQL index names belong to their table."""
        return (
            self.make_context().literal("DROP INDEX ").sql(Entity(index_name)).literal(" ON ").sql(self._table(table))
        )


def _not_in_tsql(name: str):
    def refuse(self, *args: Any, **kwargs: Any):
        raise NotImplementedError(
            f"MssqlMigrator.{name} has no T-SQL yet: write it here and check it in tests/store/test_mssql_sql.py"
        )

    refuse.__name__ = name
    return refuse


for _name in (
    "add_not_null",
    "drop_not_null",
    "drop_column",
    "rename_column",
    "rename_table",
    "alter_column_type",
    "add_column_default",
    "drop_column_default",
    "add_constraint",
    "drop_constraint",
    "add_unique",
    "add_foreign_key_constraint",
    "drop_foreign_key_constraint",
    "drop_table",
):
    setattr(MssqlMigrator, _name, _not_in_tsql(_name))
del _name


def open_mssql(url: str) -> MssqlDatabase:
    """An MssqlDatabase for `url`; says which extra to install when the driver is missing."""
    target = parse_mssql_url(url)
    module, extra = DRIVER_EXTRAS[target.driver]
    try:
        __import__("pytds" if target.driver == "pytds" else "pyodbc")
    except ModuleNotFoundError:
        raise StoreError(
            f"MS SQL Server through {target.driver} needs the {module} driver: pip install 'psflow[{extra}]'"
        ) from None
    except ImportError as error:  # pyodbc without the unixODBC library
        raise StoreError(f"the {module} driver cannot load ({error}): install unixODBC and an ODBC driver") from None
    return MssqlDatabase(target)
