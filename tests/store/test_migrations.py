"""Upgrading a database made by psflow's first released schema, with data in it.

Each test makes a real version-1 database (tests/store/schema_v1.py) on SQLite and
PostgreSQL, fills it, and upgrades it the way a user would: `psflow init --upgrade`
through the real console script. Then nothing may be missing, the schema must be the
one a new database gets, and the jobs must go on where they stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from peewee import Database
from playhouse.db_url import connect as connect_url
from schema_v1 import V1Data, create_v1_database, insert_rows, job_row, table_rows

from psflow import codec
from psflow.errors import StoreError
from psflow.store import migrations
from psflow.store.blocks import run_id
from psflow.store.schema import initialize
from psflow.store.tables import SCHEMA_VERSION, TEMPLATES
from support.cli import PSFLOW

V1_COLUMNS = {
    "psflow_job": [
        "id",
        "name",
        "script",
        "source",
        "source_sha256",
        "args",
        "status",
        "reason",
        "created_at",
        "updated_at",
        "owner_host",
        "owner_pid",
        "lease_until",
        "attempts",
    ],
    "psflow_attempt": [
        "id",
        "job_id",
        "number",
        "host",
        "pid",
        "source_sha256",
        "started_at",
        "ended_at",
        "outcome",
        "reason",
    ],
    "psflow_block": [
        "id",
        "job_id",
        "name",
        "status",
        "saved",
        "mutated",
        "exit_kind",
        "returned",
        "output",
        "error",
        "started_at",
        "ended_at",
        "attempt",
        "host",
        "pid",
    ],
}

FLOW = """\
import pathlib

log = pathlib.Path(__file__).with_name("side_effects.log")

with block("Step1"):
    with log.open("a") as file:
        file.write("Step1\\n")
    rows = 3

with block("Approval"):
    if not pathlib.Path(__file__).with_name("approved.flag").exists():
        stop("Waiting", reason="approval pending")

with block("Finish"):
    with log.open("a") as file:
        file.write("Finish\\n")
    total = rows * 2

print(f"total={total}")
"""


# ---- helpers -----------------------------------------------------------------------------


def open_raw(url: str) -> Database:
    """The database behind `url`, through peewee alone: what the test reads, not what psflow reads."""
    db = connect_url(url)
    db.connect(reuse_if_open=True)
    return db


def backend_option(url: str) -> list[str]:
    """`psflow init`'s option for this test's database."""
    return ["--sqlite", url[len("sqlite:///") :]] if url.startswith("sqlite:") else ["--postgres", url]


def make_v1(url: str, data: V1Data | None = None) -> None:
    db = open_raw(url)
    try:
        create_v1_database(db)
        if data is not None:
            insert_rows(db, data)
    finally:
        db.close()


def snapshot(url: str) -> dict[str, list[dict]]:
    """Every version-1 column of every row, and the schema version history."""
    db = open_raw(url)
    try:
        rows = {table: table_rows(db, table, columns) for table, columns in V1_COLUMNS.items()}
        rows["versions"] = [row["version"] for row in table_rows(db, "psflow_schema_version", ["id", "version"])]
        return rows
    finally:
        db.close()


def structure(url: str) -> dict[str, tuple]:
    """Each psflow table's columns (in order), indexes and foreign keys, as the database reports them."""
    db = open_raw(url)
    try:
        shape = {}
        for model in TEMPLATES:
            table = model._meta.table_name
            columns = tuple((c.name, c.data_type.upper(), c.null, c.primary_key) for c in db.get_columns(table))
            indexes = tuple(sorted((i.name, tuple(i.columns), i.unique) for i in db.get_indexes(table)))
            keys = tuple(sorted((k.column, k.dest_table, k.dest_column) for k in db.get_foreign_keys(table)))
            shape[table] = (columns, indexes, keys)
        return shape
    finally:
        db.close()


@pytest.fixture
def other_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest):
    """A second fresh database of the same backend as db_url."""
    if db_url.startswith("sqlite:"):
        yield f"sqlite:///{tmp_path / 'other.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"psflow_other_{os.getpid()}_{abs(hash(request.node.name)) % 10**8}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
def run(tmp_path: Path):
    """run(*args): the real `psflow` command in tmp_path, with its own config file and no PSFLOW_DB."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {key: value for key, value in os.environ.items() if key not in ("PSFLOW_JOB_ID", "PSFLOW_DB")}
        environment.update({"PSFLOW_CONFIG": str(tmp_path / "config" / "config.toml"), "NO_COLOR": "1", **(env or {})})
        return subprocess.run(
            [PSFLOW, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    return run


def v1_data(tmp_path: Path) -> V1Data:
    """A Waiting job stopped at its approval gate after Step1, a Completed job, and a Failed job."""
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    (tmp_path / "side_effects.log").write_text("Step1\n")  # what attempt 1 of the Waiting job did
    sha = hashlib.sha256(FLOW.encode()).hexdigest()
    t0 = 1_767_225_600.123456
    waiting = job_row(
        "waitingjob1",
        name="flow",
        script=str(script),
        source=FLOW,
        source_sha256=sha,
        status="Waiting",
        reason="approval pending",
        created_at=t0,
        updated_at=t0 + 1.5,
        attempts=1,
        args=json.dumps(["--day", "2026-01-01"]),
    )
    done = job_row("donejob0002", status="Completed", attempts=2, created_at=t0 - 86400.25, updated_at=t0 - 3600.125)
    failed = job_row(
        "failedjob03",
        status="Failed",
        reason="ValueError: bad row",
        attempts=1,
        owner_pid=None,
        owner_host=None,
        lease_until=None,
    )
    block = {
        "mutated": None,
        "exit_kind": "normal",
        "returned": None,
        "error": None,
        "host": "server1",
        "pid": 4242,
    }
    blocks = [
        {
            **block,
            "job": "waitingjob1",
            "name": "Step1",
            "status": "Completed",
            "saved": codec.encode({"rows": 3}),
            "output": "",
            "started_at": t0 + 0.25,
            "ended_at": t0 + 0.75,
            "attempt": 1,
        },
        {
            **block,
            "job": "donejob0002",
            "name": "Extract",
            "status": "Completed",
            "saved": codec.encode({"rows": [1, 2, 3], "when": (2026, 1, 1)}),
            "output": "héllo ✓ wörld\n" * 2000,
            "started_at": t0 - 86000.5,
            "ended_at": t0 - 85000.25,
            "attempt": 1,
        },
        {
            **block,
            "job": "donejob0002",
            "name": "Load",
            "status": "Completed",
            "saved": None,
            "mutated": codec.encode({"seen": ["a", "b"]}),
            "exit_kind": "return",
            "returned": codec.encode(42),
            "output": None,
            "started_at": t0 - 4000.0,
            "ended_at": t0 - 3700.0,
            "attempt": 2,
        },
        {
            **block,
            "job": "failedjob03",
            "name": "Parse",
            "status": "Failed",
            "saved": None,
            "exit_kind": None,
            "output": "reading…\n",
            "error": "Traceback (most recent call last):\n  …\nValueError: bad row",
            "started_at": t0,
            "ended_at": t0 + 0.001,
            "attempt": 1,
        },
    ]
    attempts = [
        {
            "job": "waitingjob1",
            "number": 1,
            "host": "server1",
            "pid": 4242,
            "source_sha256": sha,
            "started_at": t0,
            "ended_at": t0 + 1.5,
            "outcome": "Waiting",
            "reason": "approval pending",
        },
        {
            "job": "donejob0002",
            "number": 1,
            "host": "server1",
            "pid": 11,
            "source_sha256": "0" * 64,
            "started_at": t0 - 86400.0,
            "ended_at": t0 - 80000.0,
            "outcome": "Failed",
            "reason": "timeout",
        },
        {
            "job": "donejob0002",
            "number": 2,
            "host": "server2",
            "pid": 22,
            "source_sha256": "0" * 64,
            "started_at": t0 - 4000.0,
            "ended_at": t0 - 3600.125,
            "outcome": "Completed",
            "reason": None,
        },
        {
            "job": "failedjob03",
            "number": 1,
            "host": "server1",
            "pid": 33,
            "source_sha256": "0" * 64,
            "started_at": t0,
            "ended_at": None,
            "outcome": None,
            "reason": None,
        },
    ]
    return V1Data(jobs=[waiting, done, failed], attempts=attempts, blocks=blocks)


# ---- the registry --------------------------------------------------------------------


def test_every_version_has_a_step_to_the_next():
    assert sorted(migrations.STEPS) == list(range(1, SCHEMA_VERSION))


def test_a_version_has_one_step():
    with pytest.raises(ValueError, match="two migration steps from schema 1"):
        migrations.step(1)(lambda migrator: None)


# ---- through the real command, with data ------------------------------------------------


@pytest.mark.e2e  # the real `psflow` command
def test_commands_refuse_schema_1_with_what_to_do(db_url, tmp_path, run):
    make_v1(db_url, v1_data(tmp_path))
    before = snapshot(db_url)

    for command in (["jobs", "--db", db_url], ["resume", "--db", db_url], ["init", *backend_option(db_url)]):
        result = run(*command)
        assert result.returncode == 2, result
        assert f"schema 1, this psflow needs {SCHEMA_VERSION}: run `psflow init --upgrade`" in result.stderr, (
            result.stderr
        )
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert snapshot(db_url) == before


@pytest.mark.e2e  # the real `psflow` command
def test_upgrade_keeps_every_row_and_value(db_url, tmp_path, run):
    make_v1(db_url, v1_data(tmp_path))
    before = snapshot(db_url)

    result = run("init", "--upgrade", *backend_option(db_url))

    assert result.returncode == 0, result.stderr
    assert f"from psflow schema 1 to {SCHEMA_VERSION}" in result.stderr
    after = snapshot(db_url)
    assert after["versions"] == [1, SCHEMA_VERSION]
    for table in ("psflow_job", "psflow_attempt"):
        assert after[table] == before[table], table  # every row, every value, every id
    # Schema 7 numbers a job's runs within it: attempt in the high bits, the old id below, so the
    # runs keep their order within each job.
    renumbered = [{**row, "id": run_id(row["attempt"], row["id"])} for row in before["psflow_block"]]
    assert sorted(after["psflow_block"], key=lambda row: row["id"]) == sorted(renumbered, key=lambda row: row["id"])
    db = open_raw(db_url)
    try:
        new_block_columns = table_rows(db, "psflow_block", ["id", "tries", "fingerprint"])
        new_job_columns = table_rows(
            db, "psflow_job", ["id", "status", "updated_at", "lease_until", "due_at", "waits_for", "workflow"]
        )
        assert {(row["tries"], row["fingerprint"]) for row in new_block_columns} == {(1, None)}
        assert {(row["waits_for"], row["workflow"]) for row in new_job_columns} == {(None, None)}
        for row in new_job_columns:  # due when schema 2 would have taken it: now, or when a lease runs out
            expected = {"Completed": None, "Cancelled": None, "Running": row["lease_until"]}.get(
                row["status"], row["updated_at"]
            )
            assert row["due_at"] == expected, row
        assert table_rows(db, "psflow_signal", ["id"]) == table_rows(db, "psflow_workflow", ["id"]) == []
    finally:
        db.close()


@pytest.mark.e2e  # the real `psflow` command
def test_upgraded_waiting_job_resumes_replaying_its_completed_blocks(db_url, tmp_path, run):
    make_v1(db_url, v1_data(tmp_path))
    assert run("init", "--upgrade", *backend_option(db_url)).returncode == 0
    (tmp_path / "approved.flag").write_text("yes")

    unsigned = run("resume", "--db", db_url)  # a job from before psflow signed jobs is never trusted silently
    signed = run("key", "sign", "--job", "waitingjob1", "--db", db_url)
    result = run("resume", "--db", db_url)

    assert unsigned.returncode == 4 and "refused to run job waitingjob1: it has no signature" in unsigned.stderr
    assert signed.returncode == 0 and "signed job waitingjob1: runs " in signed.stderr, signed.stderr
    assert result.returncode == 0, result.stderr
    assert "job waitingjob1: Completed" in result.stderr and "1 replayed" in result.stderr, result.stderr
    assert "total=6" in result.stdout  # `rows` came back from the version-1 row
    assert (tmp_path / "side_effects.log").read_text() == "Step1\nFinish\n"  # Step1 did not run again
    detail = json.loads(run("job", "waitingjob1", "--json", "--db", db_url).stdout)
    assert detail["status"] == "Completed" and detail["attempts"] == 2 and detail["args"] == ["--day", "2026-01-01"]
    assert [(block["name"], block["status"], block["attempt"]) for block in detail["blocks"]] == [
        ("Step1", "Completed", 1),
        ("Approval", "Completed", 2),
        ("Finish", "Completed", 2),
    ]
    listed = {job["id"]: job["status"] for job in json.loads(run("jobs", "--json", "--db", db_url).stdout)}
    assert listed == {"waitingjob1": "Completed", "donejob0002": "Completed", "failedjob03": "Failed"}


@pytest.mark.e2e  # the real `psflow` command
def test_upgrade_twice_says_current(db_url, tmp_path, run):
    make_v1(db_url)
    assert run("init", "--upgrade", *backend_option(db_url)).returncode == 0

    again = run("init", "--upgrade", *backend_option(db_url))

    assert again.returncode == 0 and f"psflow schema {SCHEMA_VERSION} in " in again.stderr
    assert "already current" in again.stderr
    assert snapshot(db_url)["versions"] == [1, SCHEMA_VERSION]


@pytest.mark.e2e  # the real `psflow` command
def test_upgrades_at_once_upgrade_once(db_url, tmp_path):
    """Servers running `psflow init --upgrade` together: one upgrades, the others find it done."""
    make_v1(db_url, v1_data(tmp_path))
    environment = {**os.environ, "PSFLOW_CONFIG": str(tmp_path / "none.toml")}
    environment.pop("PSFLOW_DB", None)
    processes = [
        subprocess.Popen(
            [PSFLOW, "init", "--upgrade", *backend_option(db_url)],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(process.wait(timeout=120), process.stderr.read()) for process in processes]

    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert sum("from psflow schema 1 to" in text for _, text in outcomes) == 1, outcomes
    assert snapshot(db_url)["versions"] == [1, SCHEMA_VERSION]


@pytest.mark.e2e  # the real `psflow` command
def test_schema_99_is_newer_and_refused(db_url, tmp_path, run):
    make_v1(db_url)
    db = open_raw(db_url)
    db.execute_sql("INSERT INTO psflow_schema_version (version) VALUES (99)")
    db.close()

    for command in (
        ["jobs", "--db", db_url],
        ["init", *backend_option(db_url)],
        ["init", "--upgrade", *backend_option(db_url)],
    ):
        result = run(*command)
        assert result.returncode == 2, result
        assert (
            f"schema 99, newer than this psflow's {SCHEMA_VERSION}: upgrade psflow on this server" in result.stderr
        ), result.stderr
        assert "Traceback" not in result.stderr
    assert snapshot(db_url)["versions"] == [1, 99]


# ---- the schema it leaves ----------------------------------------------------------------------


def test_upgraded_schema_is_a_fresh_schema(db_url, other_url):
    """Columns (types, nullability, order), index names and columns, foreign keys: as a new database's."""
    make_v1(db_url)
    assert initialize(db_url, upgrade=True).action == "upgraded"
    assert initialize(other_url).action == "created"

    assert structure(db_url) == structure(other_url)


def test_sqlite_file_is_intact_after_the_table_rebuild(sqlite_url, tmp_path):
    """SQLite cannot add NOT NULL to a column: playhouse rebuilds psflow_block, with foreign keys off."""
    make_v1(sqlite_url, v1_data(tmp_path))
    initialize(sqlite_url, upgrade=True)
    db = open_raw(sqlite_url)
    try:
        assert db.execute_sql("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        names = [row[0] for row in db.execute_sql("SELECT name FROM sqlite_master").fetchall()]
        assert not [name for name in names if "tmp" in name]
    finally:
        db.close()


def test_failed_upgrade_leaves_schema_1(db_url, tmp_path, monkeypatch):
    make_v1(db_url, v1_data(tmp_path))
    before, shape = snapshot(db_url), structure_v1(db_url)
    step = migrations.STEPS[1]

    def fail_half_way(migrator):
        step(migrator)
        raise StoreError("disk full, say")

    monkeypatch.setitem(migrations.STEPS, 1, fail_half_way)
    with pytest.raises(StoreError, match="disk full"):
        initialize(db_url, upgrade=True)

    assert snapshot(db_url) == before and structure_v1(db_url) == shape


def structure_v1(url: str) -> dict:
    db = open_raw(url)
    try:
        return {
            table: (
                [column.name for column in db.get_columns(table)],
                sorted(index.name for index in db.get_indexes(table)),
            )
            for table in [*V1_COLUMNS, "psflow_schema_version"]
        } | {"tables": sorted(db.get_tables())}
    finally:
        db.close()


def test_upgrade_needs_a_schema_to_upgrade(db_url):
    """`init --upgrade` on an empty database simply creates the current schema."""
    report = initialize(db_url, upgrade=True)
    assert (report.action, report.version) == ("created", SCHEMA_VERSION)
