"""Upgrading a database from an older psflow schema, one version at a time.

Each step takes the schema from version N to N + 1 with peewee's playhouse.migrate
operations and is registered under N in STEPS; a schema 3 is one more function
decorated `@step(2)`. A step names tables and columns itself and freezes any table
it creates (as that version created it) instead of using psflow.store.tables, which
will have moved on by the time an old database is upgraded.

`upgrade` runs every step needed and then records the new version, all in one
transaction (SQLite, PostgreSQL and SQL Server all have transactional DDL), while
holding the backend's schema lock, so a failed or concurrent upgrade leaves the
database as it was. playhouse.migrate has no SQL Server migrator: MssqlDatabase
supplies its own (`schema_migrator`, psflow/store/backends/mssql.py).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

from peewee import (
    SQL,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    Database,
    DoubleField,
    Entity,
    ForeignKeyField,
    Index,
    IntegerField,
    Model,
    PostgresqlDatabase,
    SqliteDatabase,
    Table,
    TextField,
)
from playhouse.migrate import SchemaMigrator

from psflow.errors import StoreError
from psflow.store.tables import SCHEMA_VERSION, Tables

Step = Callable[[SchemaMigrator], None]
STEPS: dict[int, Step] = {}  # version N → the step from N to N + 1


def step(version: int) -> Callable[[Step], Step]:
    """Register the step that upgrades schema `version` to `version + 1`."""

    def register(function: Step) -> Step:
        if version in STEPS:
            raise ValueError(f"two migration steps from schema {version}")
        STEPS[version] = function
        return function

    return register


def upgrade(db: Database, tables: Tables) -> tuple[int, int]:
    """Migrate `db` to SCHEMA_VERSION; (version found, version now). Nothing changes if any step fails.

    The version is read again under the schema lock: a second `psflow init --upgrade`
    running at the same moment finds the work done and changes nothing.
    """
    migrator = schema_migrator(db)
    with migrator.migration_context(atomic=False), _transaction(db):
        lock = getattr(db, "lock_schema", None)
        if lock is not None:
            lock()
        from psflow.store.schema import read_version

        found = read_version(db, tables)
        if found is None:
            raise StoreError("the database has no psflow schema to upgrade: run `psflow init` to create it")
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the database has psflow schema {found}, newer than this psflow's {SCHEMA_VERSION}: "
                "upgrade psflow on this server"
            )
        for version in range(found, SCHEMA_VERSION):
            if version not in STEPS:
                raise StoreError(f"this psflow cannot upgrade schema {version}: upgrade through an older psflow first")
            STEPS[version](migrator)
        if found < SCHEMA_VERSION:
            tables.schema_version.insert(version=SCHEMA_VERSION).as_rowcount().execute()
    return found, SCHEMA_VERSION


def schema_migrator(db: Database) -> SchemaMigrator:
    """playhouse's migrator for `db`, or the one the Database supplies itself (SQL Server)."""
    own = getattr(db, "schema_migrator", None)
    return own() if own is not None else SchemaMigrator.from_database(db)


def _transaction(db: Database):
    """One transaction for the whole upgrade. SQLite takes its write lock at BEGIN, so a second
    upgrader waits for the busy timeout instead of failing later on a stale snapshot."""
    if isinstance(db, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


# ---- 1 → 2 ---------------------------------------------------------------------------
# Blocks: a row per run of a block (unique (job_id, name, attempt) instead of (job_id, name)),
# with `tries` and `fingerprint`. Jobs: `due_at`, `workflow`, `workflow_version`.
# New tables: psflow_signal, psflow_workflow.


class _Frozen(Model):
    class Meta:
        legacy_table_names = False  # index names start with the table's name, as psflow's models do


class _JobKey(_Frozen):
    """Only what a foreign key to psflow_job needs."""

    id = CharField(max_length=64, primary_key=True)

    class Meta:
        table_name = "psflow_job"


class _SignalV2(_Frozen):
    job = ForeignKeyField(_JobKey, on_delete="CASCADE")
    name = CharField(max_length=255)
    value = TextField()
    host = CharField(max_length=255)
    user = CharField(max_length=255)
    created_at = DoubleField()

    class Meta:
        table_name = "psflow_signal"


class _WorkflowV2(_Frozen):
    name = CharField(max_length=255)
    version = IntegerField()
    source = TextField()
    source_sha256 = CharField(max_length=64)
    script = TextField()
    created_at = DoubleField()
    host = CharField(max_length=255)
    user = CharField(max_length=255)

    class Meta:
        table_name = "psflow_workflow"
        indexes = ((("name", "version"), True),)


@step(1)
def _blocks_per_run_timers_signals_workflows(migrator: SchemaMigrator) -> None:
    block, job = "psflow_block", "psflow_job"
    migrator.migrate(
        # Old rows keep their attempt number: one row per (job, name) is unique per (job, name, attempt) too.
        migrator.drop_index(block, "psflow_block_job_id_name"),
        migrator.add_column(block, "tries", IntegerField(default=1)),  # every old run ran its body once
        migrator.add_column(block, "fingerprint", CharField(max_length=64, null=True)),
        migrator.add_index(block, ("job_id", "name", "attempt"), unique=True),
        migrator.add_column(job, "due_at", DoubleField(null=True)),
        migrator.add_column(job, "workflow", CharField(max_length=255, null=True)),
        migrator.add_column(job, "workflow_version", IntegerField(null=True)),
    )
    new_tables = [_JobKey, _SignalV2, _WorkflowV2]
    with migrator.database.bind_ctx(new_tables):
        migrator.database.create_tables(new_tables[1:], safe=True)


# ---- 2 → 3 ---------------------------------------------------------------------------
# Jobs: when each is due (due_at now means "may be taken from then on", NULL "waits for an
# input"), what it waits for and since when, its owner process's start time, its working
# folder and its running attempt's output. Attempts: their own output and traceback. Blocks:
# the output printed just before them. An index on (status, due_at) for the one due query.


@step(2)
def _due_jobs_fencing_and_transcripts(migrator: SchemaMigrator) -> None:
    job, attempt, block = "psflow_job", "psflow_attempt", "psflow_block"
    migrator.migrate(
        migrator.add_column(job, "owner_started", DoubleField(null=True)),
        migrator.add_column(job, "waits_for", CharField(max_length=255, null=True)),
        migrator.add_column(job, "waiting_since", DoubleField(null=True)),
        migrator.add_column(job, "cwd", TextField(null=True)),
        migrator.add_column(job, "live_output", TextField(null=True)),
        migrator.add_index(job, ("status", "due_at"), unique=False),
        migrator.add_column(attempt, "output", TextField(null=True)),
        migrator.add_column(attempt, "error", TextField(null=True)),
        migrator.add_column(block, "lead", TextField(null=True)),
    )
    # Schema 2 kept due_at NULL for a job that waited for nothing: it is due since it was last updated.
    # A Running job is due when its lease runs out.
    db = migrator.database
    db.execute_sql(
        "UPDATE psflow_job SET due_at = updated_at WHERE due_at IS NULL AND status NOT IN (%s, %s, %s)".replace(
            "%s", db.param
        ),
        ("Completed", "Cancelled", "Running"),
    )
    db.execute_sql("UPDATE psflow_job SET due_at = lease_until WHERE status = %s".replace("%s", db.param), ("Running",))


# ---- 3 → 4 ---------------------------------------------------------------------------
# Signed source (psflow.service.trust): jobs and workflow versions get a signature, jobs the
# names of the environment variables they need. Rows from before stay unsigned, and so are
# refused until an admin signs them (`psflow key sign`).


@step(3)
def _signatures_and_environment_names(migrator: SchemaMigrator) -> None:
    job, workflow = "psflow_job", "psflow_workflow"
    migrator.migrate(
        migrator.add_column(job, "env", TextField(null=True)),
        migrator.add_column(job, "signature", TextField(null=True)),
        migrator.add_column(workflow, "signature", TextField(null=True)),
    )


# ---- 4 → 5 ---------------------------------------------------------------------------
# Fan-out: each job gets a queue (old jobs: "default"), a priority, the parent that
# started it, whether that parent waits for it, and its result. New table: psflow_queue.


class _QueueV5(_Frozen):
    name = CharField(max_length=255, primary_key=True)
    max_running = IntegerField(null=True)
    updated_at = DoubleField()

    class Meta:
        table_name = "psflow_queue"


@step(4)
def _queues_children_and_results(migrator: SchemaMigrator) -> None:
    job = "psflow_job"
    migrator.migrate(
        migrator.add_column(job, "queue", CharField(max_length=255, default="default")),
        migrator.add_column(job, "priority", IntegerField(default=0)),
        migrator.add_column(job, "parent", CharField(max_length=64, null=True)),
        migrator.add_column(job, "awaited", BooleanField(default=False)),
        migrator.add_column(job, "result", TextField(null=True)),
        migrator.add_index(job, ("parent",), unique=False),
        migrator.add_index(job, ("queue", "status"), unique=False),
    )
    with migrator.database.bind_ctx([_QueueV5]):
        migrator.database.create_tables([_QueueV5], safe=True)


# ---- 5 → 6 ---------------------------------------------------------------------------
# The children not ended, by parent: a partial (SQL Server: filtered) index, so that the end of
# each child asks in one probe whether its waiting parent has an awaited child left.


@step(5)
def _unended_children_index(migrator: SchemaMigrator) -> None:
    job = Table("psflow_job")
    status, ended = Entity("status"), ("Completed", "Cancelled", "Failed")
    where = Entity("parent").is_null(False) & functools.reduce(
        operator.and_, (status != SQL(f"'{name}'") for name in ended)
    )
    columns = [Entity("parent"), Entity("awaited")]
    migrator.database.execute(Index("psflow_job_unended_children", job, columns, where=where))


# ---- 6 → 7 ---------------------------------------------------------------------------
# Blocks keyed by (job_id, id), WITHOUT ROWID on SQLite: recording a block inserts into one
# B-tree instead of a table and its (job_id, name, attempt) index. A run's id is its attempt in
# the high 32 bits and its place in the attempt below (psflow.store.blocks.run_id); an old row's
# place is its old id, so every job's runs keep their order. The table is made anew under
# another name, filled, and renamed: none of the three databases changes a primary key in place
# the same way, and SQLite cannot make a table WITHOUT ROWID after the fact.

_PLACES = 2**32  # ids per attempt, as schema 7 has it (psflow.store.blocks.PLACE_BITS)


class _BlockV7(_Frozen):
    job = ForeignKeyField(_JobKey, on_delete="CASCADE", index=False)
    id = BigIntegerField()
    name = CharField(max_length=255)
    status = CharField(max_length=32)
    saved = TextField(null=True)
    mutated = TextField(null=True)
    exit_kind = CharField(max_length=16, null=True)
    returned = TextField(null=True)
    output = TextField(null=True)
    error = TextField(null=True)
    started_at = DoubleField()
    ended_at = DoubleField()
    attempt = IntegerField()
    host = CharField(max_length=255)
    pid = IntegerField()
    tries = IntegerField(default=1)
    fingerprint = CharField(max_length=64, null=True)
    lead = TextField(null=True)

    class Meta:
        table_name = "psflow_block_v7"
        primary_key = CompositeKey("job", "id")


class _BlockV6(_Frozen):
    """Only the old table's name, to drop it."""

    class Meta:
        table_name = "psflow_block"


@step(6)
def _blocks_keyed_by_job_and_run(migrator: SchemaMigrator) -> None:
    db = migrator.database
    with db.bind_ctx([_JobKey, _BlockV7, _BlockV6]):
        _BlockV7._meta.without_rowid = isinstance(db, SqliteDatabase)
        db.create_tables([_BlockV7], safe=False)
        old = Table("psflow_block")
        fields = _BlockV7._meta.sorted_fields
        copied = [
            old.c.attempt * _PLACES + old.c.id if field.name == "id" else getattr(old.c, field.column_name)
            for field in fields
        ]
        _BlockV7.insert_from(old.select(*copied), fields).as_rowcount().execute()
        db.drop_tables([_BlockV6], safe=False)
    migrator.migrate(migrator.rename_table("psflow_block_v7", "psflow_block"))
    if isinstance(db, PostgresqlDatabase):  # PostgreSQL named the key's index after the table it was made as
        db.execute_sql('ALTER INDEX "psflow_block_v7_pkey" RENAME TO "psflow_block_pkey"')
