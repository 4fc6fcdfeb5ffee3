"""psflow's first released schema (version 1), frozen for upgrade tests.

The models are psflow/store/models.py (now tables.py) as of commit c62cc74 (the last with
SCHEMA_VERSION = 1), with their own database binding instead of psflow's proxy, so
a test can make a version-1 database with real data in it next to today's code.
Do not edit them to follow models.py: they are what old databases look like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from peewee import CharField, Database, DoubleField, ForeignKeyField, IntegerField, Model, TextField, make_snake_case

SCHEMA_VERSION = 1


class _Table(Model):
    class Meta:
        database = None  # bound per test: create_v1_database
        legacy_table_names = False
        table_function = staticmethod(lambda model: f"psflow_{make_snake_case(model.__name__[:-2])}")


class SchemaVersionV1(_Table):
    version = IntegerField()


class JobV1(_Table):
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
    attempts = IntegerField(default=0)


class AttemptV1(_Table):
    job = ForeignKeyField(JobV1, backref="attempt_rows", on_delete="CASCADE")
    number = IntegerField()
    host = CharField(max_length=255)
    pid = IntegerField()
    source_sha256 = CharField(max_length=64)
    started_at = DoubleField()
    ended_at = DoubleField(null=True)
    outcome = CharField(max_length=64, null=True)
    reason = TextField(null=True)

    class Meta:
        indexes = ((("job", "number"), True),)


class BlockV1(_Table):
    job = ForeignKeyField(JobV1, backref="block_rows", on_delete="CASCADE", index=False)  # (job, name) indexes it
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

    class Meta:
        indexes = ((("job", "name"), True),)


MODELS_V1 = (SchemaVersionV1, JobV1, AttemptV1, BlockV1)


def create_v1_database(db: Database) -> None:
    """Give `db` (connected, empty) the version-1 tables and its version row, as psflow 1 did."""
    with db.bind_ctx(MODELS_V1), db.atomic():
        db.create_tables(MODELS_V1)
        SchemaVersionV1.create(version=SCHEMA_VERSION)


@dataclass(frozen=True)
class V1Data:
    """Rows of every kind a version-1 database holds, by table, as inserted."""

    jobs: list[dict]
    attempts: list[dict]
    blocks: list[dict]


def insert_rows(db: Database, data: V1Data) -> None:
    """Insert `data` through the version-1 models (each row a dict of column values)."""
    with db.bind_ctx(MODELS_V1), db.atomic():
        for row in data.jobs:
            JobV1.insert(row).execute()
        for row in data.attempts:
            AttemptV1.insert(row).execute()
        for row in data.blocks:
            BlockV1.insert(row).execute()


def table_rows(db: Database, table: str, columns: list[str]) -> list[dict]:
    """Every row of `table` (these columns), ordered by its first column: for before/after comparisons."""
    quoted = ", ".join(f'"{column}"' for column in columns)
    cursor = db.execute_sql(f'SELECT {quoted} FROM "{table}" ORDER BY "{columns[0]}"')
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def job_row(job_id: str, **values) -> dict:
    """A version-1 psflow_job row with plausible values."""
    row = {
        "id": job_id,
        "name": "flow",
        "script": "/srv/flow.py",
        "source": "print('hi')\n",
        "source_sha256": "0" * 64,
        "args": json.dumps([]),
        "status": "Waiting",
        "reason": None,
        "created_at": 1_767_225_600.125,
        "updated_at": 1_767_225_700.5,
        "owner_host": "server1",
        "owner_pid": 4242,
        "lease_until": None,
        "attempts": 1,
    }
    row.update(values)
    return row
