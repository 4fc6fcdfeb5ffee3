"""MS SQL Server: a peewee Database that writes T-SQL, over python-tds (default) or pyodbc.

The statements themselves (quoting, paging, INSERT ... OUTPUT, guarded DDL, schema
upgrades) are written by psflow.store.backends.tsql; this module keeps the connection:

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
from typing import Any, ClassVar

from peewee import SQL, Context, Database, Function, NodeList, Select, _savepoint, sort_models
from peewee import DatabaseError as PeeweeDatabaseError
from peewee import InterfaceError as PeeweeInterfaceError
from peewee import __exception_wrapper__ as _exception_wrapper

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
from psflow.store.backends.tsql import FIELD_TYPES, MssqlMigrator, TsqlContext, TsqlSchema, nstring, quote
from psflow.store.retry import BUSY, DISCONNECTED, driver_error

#: How long lock_schema waits for another process creating or upgrading the schema.
SCHEMA_LOCK_TIMEOUT_SECONDS = 60
_SCHEMA_LOCK = "psflow_schema"


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


_BUSY_ERRORS = {1205, 1222}  # chosen as deadlock victim; lock request timed out
# Azure SQL's documented transient errors, and the network's: the connection must be opened again.
_GONE_ERRORS = {40613, 40197, 40501, 49918, 49919, 49920, 4060, 4221, 233, 64, 10053, 10054, 10060}


class MssqlDatabase(Database):
    """A peewee Database for MS SQL Server 2012+ (and Azure SQL), in T-SQL."""

    context_class = TsqlContext
    field_types = FIELD_TYPES
    operations: ClassVar[dict[str, str]] = {"ILIKE": "LIKE", "NOT ILIKE": "NOT LIKE", "CONCAT": "+"}
    use_concat_function = True
    quote = "[]"
    returning_clause = True  # rendered as OUTPUT INSERTED.<pk> by TsqlContext
    safe_create_index = False  # no CREATE INDEX IF NOT EXISTS: TsqlSchema guards instead
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
            f"EXEC sp_getapplock @Resource = {nstring(_SCHEMA_LOCK)}, @LockMode = N'Exclusive', "
            f"@LockOwner = N'Transaction', @LockTimeout = {SCHEMA_LOCK_TIMEOUT_SECONDS * 1000}"
        )
        # sp_getapplock reports failure in its return status, which the drivers do not all expose:
        # ask for the lock's mode instead (NoLock when it timed out).
        mode = self.execute_sql(f"SELECT APPLOCK_MODE(N'public', {nstring(_SCHEMA_LOCK)}, N'Transaction')").fetchone()
        if not mode or mode[0] != "Exclusive":
            raise StoreError(
                f"{self.target.where}: another process has been creating the psflow schema for over "
                f"{SCHEMA_LOCK_TIMEOUT_SECONDS} s; try again"
            )

    def create_tables(self, models, **options: Any) -> None:
        for model in sort_models(models):
            TsqlSchema(model, database=self).create_all(**options)

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
