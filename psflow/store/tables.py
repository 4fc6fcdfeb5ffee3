"""The tables psflow keeps: jobs, their attempts, every run of their blocks, inputs sent
to them, and registered workflows.

The classes here are templates bound to no database. Each Store binds its own
copies to its own database (`bind_tables`), as peewee suggests for using one
schema on two databases: two stores in one process never share a connection.

Times are UTC epoch seconds in 8-byte floats (DoubleField: peewee's FloatField is a
4-byte REAL on PostgreSQL): the same on every backend and every server.
Values (`saved`, `mutated`, `returned`, `value`) are psflow.codec text, never pickle.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, NamedTuple

from peewee import (
    SQL,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    Database,
    DoubleField,
    Field,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
    make_snake_case,
)

from psflow.domain import DEFAULT_QUEUE, ENDED_STATUSES

SCHEMA_VERSION = 7  # psflow.store.migrations upgrades older databases


def _table_name(model: type[Model]) -> str:
    return f"psflow_{make_snake_case(model.__name__)}"


class _Table(Model):
    class Meta:
        legacy_table_names = False
        table_function = _table_name


class SchemaVersion(_Table):
    version = IntegerField()


class Job(_Table):
    id = CharField(max_length=64, primary_key=True)
    name = CharField(max_length=255)
    script = TextField()
    source = TextField()
    source_sha256 = CharField(max_length=64)
    args = TextField(default="[]")  # JSON list of str
    status = CharField(max_length=64, index=True)
    reason = TextField(null=True)
    created_at = DoubleField()
    updated_at = DoubleField()
    owner_host = CharField(max_length=255, null=True)
    owner_pid = IntegerField(null=True)
    lease_until = DoubleField(null=True)
    attempts = IntegerField(default=0)  # also the fencing token: a runner writes only while it is still this
    # When the job may be taken next (psflow.domain.is_due): now for a job that waits for nothing,
    # a timer's time, a wait_for's timeout, the lease's end for a Running job; NULL while it
    # waits for something that has no time (an input), and for a final job.
    due_at = DoubleField(null=True)
    workflow = CharField(max_length=255, null=True)  # registered workflow it runs, if any
    workflow_version = IntegerField(null=True)
    # Schema 3 (added last, in the order the upgrade adds them, so an upgraded table reads like a new one):
    owner_started = DoubleField(null=True)  # when the owner process started: a reused pid is another process
    waits_for = CharField(max_length=255, null=True)  # the input a wait_for is waiting for
    waiting_since = DoubleField(null=True)
    cwd = TextField(null=True)  # the working directory of its first attempt: every attempt runs there
    live_output = TextField(null=True)  # the running attempt's latest output, for `psflow logs --follow`
    # Schema 4:
    env = TextField(null=True)  # JSON list of the environment variables every attempt needs (names only)
    signature = TextField(null=True)  # the deployment key's signature of what it runs (psflow.service.trust)
    # Schema 5 (fan-out):
    queue = CharField(max_length=255, default=DEFAULT_QUEUE)  # the workers that may take it (`worker --queue`)
    priority = IntegerField(default=0)  # among due jobs of a queue, higher first
    parent = CharField(max_length=64, null=True, index=True)  # the job whose start() created it
    awaited = BooleanField(default=False)  # its parent waits for it (wait_jobs): its end may wake the parent
    result = TextField(null=True)  # codec text of what the script set as `job.result`

    class Meta:
        indexes = ((("status", "due_at"), False), (("queue", "status"), False))


def unended(status: Field) -> Any:
    """`status` is none of psflow.domain.ENDED_STATUSES, as literal comparisons: a partial index with
    this predicate serves a query that states it (SQLite and SQL Server match literal terms, never
    parameters; SQL Server's filtered indexes take no NOT IN)."""
    return functools.reduce(operator.and_, (status != SQL(f"'{name}'") for name in ENDED_STATUSES))


# The children not ended, by parent (schema 6): whether a waiting parent has an awaited child left is
# then one index probe, not a walk through every child it ever had (wake-up after each child's end).
# `awaited` in it too: a query on (parent, awaited) then prefers it to psflow_job_parent on SQLite.
_UNENDED_CHILD = Job.parent.is_null(False) & unended(Job.status)
Job.add_index(Job.index(Job.parent, Job.awaited, name="psflow_job_unended_children").where(_UNENDED_CHILD))


class Attempt(_Table):
    job = ForeignKeyField(Job, backref="+", on_delete="CASCADE")
    number = IntegerField()
    host = CharField(max_length=255)
    pid = IntegerField()
    source_sha256 = CharField(max_length=64)
    started_at = DoubleField()
    ended_at = DoubleField(null=True)
    outcome = CharField(max_length=64, null=True)
    reason = TextField(null=True)
    output = TextField(null=True)  # what it printed outside blocks, after its last block
    error = TextField(null=True)  # the traceback of an exception no block caught

    class Meta:
        indexes = ((("job", "number"), True),)


class Block(_Table):
    """One run of a block in one attempt; the job's Completed rows are what replay gives back.

    Keyed by (job, id), and on SQLite WITHOUT ROWID (bind_tables): recording a block inserts
    into one B-tree, at the end of its job's rows, instead of into a table and an index (schema 7).
    """

    job = ForeignKeyField(Job, backref="+", on_delete="CASCADE", index=False)  # the key's first column
    id = BigIntegerField()  # the run's place in its job, in the order recorded (psflow.store.blocks.run_id)
    name = CharField(max_length=255)
    status = CharField(max_length=32)
    saved = TextField(null=True)  # codec text of {name: value} the body bound
    mutated = TextField(null=True)  # codec text of {name: value} outer objects it changed
    exit_kind = CharField(max_length=16, null=True)  # normal, return, break, continue
    returned = TextField(null=True)  # codec text of the returned value
    output = TextField(null=True)  # captured stdout and stderr
    error = TextField(null=True)  # type, message and traceback of a failure
    started_at = DoubleField()
    ended_at = DoubleField()
    attempt = IntegerField()
    host = CharField(max_length=255)
    pid = IntegerField()
    tries = IntegerField(default=1)  # with retries: how many times the body ran in this attempt
    fingerprint = CharField(max_length=64, null=True)  # hash of the block's code, to notice edits
    lead = TextField(null=True)  # what the attempt printed outside blocks just before this block

    class Meta:
        primary_key = CompositeKey("job", "id")


class Signal(_Table):
    """Input sent to a job (`psflow send JOB name=value`), read by `wait_for(name)`."""

    job = ForeignKeyField(Job, backref="+", on_delete="CASCADE")
    name = CharField(max_length=255)
    value = TextField()  # codec text
    host = CharField(max_length=255)
    user = CharField(max_length=255)
    created_at = DoubleField()


class Workflow(_Table):
    """A registered script: each `psflow register` stores a new version of its source."""

    name = CharField(max_length=255)
    version = IntegerField()
    source = TextField()
    source_sha256 = CharField(max_length=64)
    script = TextField()  # where it was registered from
    created_at = DoubleField()
    host = CharField(max_length=255)
    user = CharField(max_length=255)
    signature = TextField(null=True)  # schema 4: the deployment key's signature of its source

    class Meta:
        indexes = ((("name", "version"), True),)


class Queue(_Table):
    """A queue's settings; a queue without a row (or with max_running NULL) has no global limit."""

    name = CharField(max_length=255, primary_key=True)
    max_running = IntegerField(null=True)  # at most this many of its jobs Running at once, on all servers
    updated_at = DoubleField()


class Tables(NamedTuple):
    """One database's copies of the tables, in the order they are created."""

    schema_version: type[SchemaVersion]
    job: type[Job]
    attempt: type[Attempt]
    block: type[Block]
    signal: type[Signal]
    workflow: type[Workflow]
    queue: type[Queue]


TEMPLATES = Tables(SchemaVersion, Job, Attempt, Block, Signal, Workflow, Queue)


def bind_tables(db: Database) -> Tables:
    """Copies of the tables bound to `db`. Their foreign keys point at each other, not at the
    templates: tables are created in dependency order, and a template keeps no reference to a copy."""
    copies = {
        template: type(
            template.__name__, (template,), {"__module__": __name__, "Meta": type("Meta", (), _options(template, db))}
        )
        for template in TEMPLATES
    }
    for copy in copies.values():
        for field in list(copy._meta.refs):
            template = field.rel_model
            copy._meta.remove_ref(field)
            template._meta.model_backrefs.pop(copy, None)  # remove_ref leaves the copy there as a key
            copy._meta.model_refs.pop(template, None)
            if field.backref not in ("+", "!"):  # binding the copy gave the template an accessor for it
                if field.backref in vars(template):
                    delattr(template, field.backref)
                field.backref = "+"
            field.rel_model = copies[template]
            field.rel_field = field.rel_model._meta.primary_key
            copy._meta.add_ref(field)
    return Tables(*copies.values())


def _options(template: type[Model], db: Database) -> dict[str, Any]:
    """The Meta of `template`'s copy for `db`. WITHOUT ROWID is SQLite's alone: peewee would write
    it into any database's CREATE TABLE."""
    return {"database": db, "without_rowid": template is Block and isinstance(db, SqliteDatabase)}
