"""T-SQL: how peewee's statements are written for MS SQL Server (psflow.store.backends.mssql).

Where peewee's generic SQL is not T-SQL, it is rendered differently, only for
MssqlDatabase (peewee's own classes are never patched):

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
  `DROP INDEX name ON table`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peewee import (
    SQL,
    Case,
    CommaNodeList,
    Context,
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
)
from playhouse.migrate import SchemaMigrator, operation

#: Case- and accent-sensitive, compared by code point: `Step1` and `step1` are two blocks.
COLLATION = "Latin1_General_100_BIN2"

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


def nstring(text: str) -> str:
    """A Unicode string literal: N'text' with quotes doubled."""
    return "N'" + text.replace("'", "''") + "'"


def _table_name(model) -> str:
    meta = model._meta
    return ".".join(quote(part) for part in (meta.schema, meta.table_name) if part)


# ---- rendering -------------------------------------------------------------


class TsqlContext(Context):
    """Renders the few peewee nodes whose generic SQL is not T-SQL."""

    __slots__ = ("_output",)

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._output: Sequence | None = None  # OUTPUT columns waiting for their place

    def as_new(self) -> TsqlContext:
        return TsqlContext(**self.state.settings)

    def sql(self, obj: Any) -> TsqlContext:
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

    def _insert_output(self, query: Insert) -> TsqlContext:
        """INSERT INTO t (cols) OUTPUT INSERTED.[pk] VALUES (...): the OUTPUT clause goes before VALUES."""
        plain = query.clone()
        plain._returning = None
        self._output = query._returning
        super().sql(plain)
        if self._output is not None:
            raise ValueError("T-SQL OUTPUT clause found no VALUES to precede (INSERT ... SELECT with RETURNING?)")
        return self

    def literal(self, keyword: str) -> TsqlContext:
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


class TsqlSchema(SchemaManager):
    """CREATE TABLE and CREATE INDEX for T-SQL: guarded by existence tests, text with COLLATION."""

    def _create_table(self, safe: bool = True, **options: Any) -> Context:
        if options:
            raise ValueError(f"table options are not supported on MS SQL Server: {sorted(options)}")
        meta = self.model._meta
        ctx = self._create_context()
        if safe:
            ctx.literal(f"IF OBJECT_ID({nstring(_table_name(self.model))}, N'U') IS NULL ")
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
                f"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = {nstring(index._name)} "
                f"AND object_id = OBJECT_ID({nstring(_table_name(self.model))})) "
            )
        return ctx.sql(index)


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
        return self._alter_table(ctx, table).literal(" ADD ").sql(TsqlSchema._column(column, ctx))

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
                .sql(NodeList(TsqlSchema._column(column, ctx).nodes[1:]))
            )
            operations += [self.apply_default(table, column_name, field), not_null]
        if field.index or field.unique:
            operations.append(self.add_index(table, (column_name,), field.unique))
        return operations

    @operation
    def rename_table(self, old_name: str, new_name: str) -> Context:
        """EXEC sp_rename N'old', N'new': T-SQL has no ALTER TABLE … RENAME TO."""
        return self.make_context().literal(f"EXEC sp_rename {nstring(old_name)}, {nstring(new_name)}")

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
