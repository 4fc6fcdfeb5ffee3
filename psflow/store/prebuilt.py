"""Statements built once per store and run many times: the ones every job's run takes.

peewee builds a statement's SQL anew each time it runs: about 0.3 ms of Python for a
one-row UPDATE, more than a local database takes to run it. A worker runs a handful of
such statements per job, so building them was most of its time per child job. A prebuilt
statement is built once, in the store's dialect, from the same peewee query, with named
slots (`slot("job_id")`) where its values go; running it fills them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peewee import Value

if TYPE_CHECKING:
    from peewee import Database, Query

    from psflow.store.tables import Tables

Builder = Callable[["Tables"], "Query | Prebuilt"]  # a query, or SQL a backend alone takes, built from queries


class _Slot:
    """Where a named value goes in a prebuilt statement's parameters."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"slot({self.name!r})"


def slot(name: str) -> Value:
    """A parameter filled in each time the statement runs: given as is to the driver (no field converter),
    so its value must be what the column takes (str, int, float, bool or None)."""
    return Value(_Slot(name), converter=False, unpack=False)


@dataclass(frozen=True, slots=True)
class Prebuilt:
    """A statement's SQL, and its parameters: constants, and slots to fill in."""

    sql: str
    params: tuple[Any, ...]

    def run(self, db: Database, values: dict[str, Any]) -> Any:
        """Execute with `values` in the slots; the driver's cursor."""
        return db.execute_sql(self.sql, [values[p.name] if type(p) is _Slot else p for p in self.params])


def prebuild(db: Database, query: Query) -> Prebuilt:
    """`query` as SQL in `db`'s dialect, once."""
    sql, params = db.get_sql_context().sql(query).query()
    return Prebuilt(sql, tuple(params))


def prebuild_with(db: Database, statements: list[tuple[str, Query]], then: Query | str) -> Prebuilt:
    """`WITH "name" AS (statement), … then`: PostgreSQL's data-modifying WITH, several writes in one round
    trip. `then` (a query, or SQL text) reads what they return by their names."""
    built = [(name, prebuild(db, statement)) for name, statement in statements]
    last = Prebuilt(then, ()) if isinstance(then, str) else prebuild(db, then)
    return Prebuilt(
        "WITH " + ", ".join(f'"{name}" AS ({statement.sql})' for name, statement in built) + " " + last.sql,
        tuple(param for _, statement in built for param in statement.params) + last.params,
    )


class PrebuiltStatements:
    """A store's prebuilt statements, each built on first use from its builder (`builder(tables)`)."""

    def __init__(self, db: Database, tables: Tables) -> None:
        self.db, self.tables = db, tables
        self._built: dict[Builder, Prebuilt] = {}

    def run(self, builder: Builder, **values: Any) -> Any:
        """Run the statement `builder` makes with `values` in its slots; the driver's cursor."""
        statement = self._built.get(builder)
        if statement is None:
            built = builder(self.tables)
            statement = self._built[builder] = built if isinstance(built, Prebuilt) else prebuild(self.db, built)
        return statement.run(self.db, values)
