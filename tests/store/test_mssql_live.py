"""The Store's behaviour on a real MS SQL Server, when one is given.

Skipped unless PSFLOW_TEST_MSSQL holds a URL, e.g.

    PSFLOW_TEST_MSSQL='mssql://sa:Passw0rd!@127.0.0.1:1433/psflow_test' python -m pytest tests/store -k mssql

(`mssql+pyodbc://…` runs the same tests through pyodbc.) The database must exist and be
a scratch one: every test drops psflow's tables in it before and after itself.
What the offline capture harness (test_mssql_sql.py) cannot show is checked here: that
the server accepts the statements and that they do what the Store promises.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from peewee import Database

from psflow.domain import JobStatus, Runner
from psflow.errors import AmbiguousJob, StoreError, UnknownJob
from psflow.store import BlockRecord, JobView, Store, open_store
from psflow.store.schema import ensure_schema
from psflow.store.tables import TEMPLATES, bind_tables
from psflow.store.urls import open_database
from support.cli import PSFLOW

URL = os.environ.get("PSFLOW_TEST_MSSQL", "")
pytestmark = pytest.mark.skipif(not URL, reason="PSFLOW_TEST_MSSQL names no MS SQL Server")
RUNNER = Runner("server1", 4242, 60)
SIGNATURE = "ed25519:0123456789abcdef:" + "A" * 86 + "=="  # the form psflow.signing writes


@pytest.fixture
def mssql_url(mssql_database: str) -> str:
    """The scratch database, without psflow's tables before and after the test (tests/conftest.py)."""
    return mssql_database


@pytest.fixture
def store(mssql_url: str) -> Store:
    """A Store on the scratch database, its schema created (a Store does that on first use)."""
    store = open_store(mssql_url)
    assert store.list_jobs() == []
    yield store
    store.close()


def create(store: Store, job_id: str, **changes) -> JobView | None:
    values = {
        "name": "flow",
        "script": "/srv/flow.py",
        "source": "print('hi')\n",
        "source_sha256": "0" * 64,
        "args": ["--day", "2026-01-01"],
        "runner": RUNNER,
    }
    return store.create_job(job_id, **{**values, **changes})


def record(name: str, **changes) -> BlockRecord:
    values = {
        "name": name,
        "status": "Completed",
        "saved": '{"rows": 3}',
        "mutated": None,
        "exit_kind": "normal",
        "returned": None,
        "output": "3 rows\n",
        "error": None,
        "started_at": 1_767_225_600.123456,
        "ended_at": 1_767_225_600.654321,
        "attempt": 1,
        "host": "server1",
        "pid": 4242,
    }
    return BlockRecord(**{**values, **changes})


def scalar(db: Database, sql: str, params: tuple = ()):
    row = db.execute_sql(sql, params).fetchone()
    return row[0] if row else None


# ---- schema -------------------------------------------------------------------------


def test_schema_is_created_once_with_tsql_types(mssql_url):
    first = open_store(mssql_url)
    assert first.db.is_closed()  # a Store connects, and creates the schema, on first use
    with first:
        assert first.list_jobs() == []
    store = open_store(mssql_url)  # a second start finds and checks it
    db = store.db
    try:
        assert store.list_jobs() == []
        assert {template._meta.table_name for template in TEMPLATES} <= set(db.get_tables())
        assert scalar(db, "SELECT COUNT(*) FROM [psflow_schema_version]") == 1
        columns = {
            name: (type_name, collation, identity)
            for name, type_name, collation, identity in db.execute_sql(
                "SELECT c.name, t.name, c.collation_name, c.is_identity FROM sys.columns AS c "
                "JOIN sys.types AS t ON t.user_type_id = c.user_type_id WHERE c.object_id = OBJECT_ID(N'psflow_block')"
            ).fetchall()
        }
        assert columns["name"] == ("nvarchar", "Latin1_General_100_BIN2", False)
        assert columns["saved"][0] == "nvarchar" and columns["started_at"][0] == "float"
        assert columns["id"] == ("bigint", None, False)  # given by the store (psflow.store.blocks.run_id)
        key = [
            name
            for (name,) in db.execute_sql(
                "SELECT c.name FROM sys.indexes AS i JOIN sys.index_columns AS ic "
                "ON ic.object_id = i.object_id AND ic.index_id = i.index_id JOIN sys.columns AS c "
                "ON c.object_id = ic.object_id AND c.column_id = ic.column_id "
                "WHERE i.is_primary_key = 1 AND i.object_id = OBJECT_ID(N'psflow_block') ORDER BY ic.key_ordinal"
            ).fetchall()
        ]
        assert key == ["job_id", "id"]
        due_index = scalar(
            db,
            "SELECT COUNT(*) FROM sys.index_columns AS ic JOIN sys.indexes AS i "
            "ON i.object_id = ic.object_id AND i.index_id = ic.index_id "
            "WHERE i.name = N'psflow_job_status_due_at' AND i.object_id = OBJECT_ID(N'psflow_job')",
        )
        assert due_index == 2  # (status, due_at): the one due query reads it
    finally:
        db.close()


def test_newer_schema_is_refused(store):
    store.tables.schema_version.insert(version=99).execute()
    store.close()
    later = open_store(URL)  # refused on first use, not when opened
    with pytest.raises(StoreError, match="newer than this psflow"):
        later.list_jobs()
    later.close()


def test_processes_creating_the_schema_at_once_all_succeed(mssql_url):
    """The first takes psflow's schema lock (sp_getapplock); the others wait, then find the tables."""
    db = open_database(mssql_url)  # one Database, one connection per thread
    tables = bind_tables(db)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        try:
            barrier.wait()
            ensure_schema(db, tables)
        except BaseException as error:
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == []
        assert scalar(db, "SELECT COUNT(*) FROM [psflow_schema_version]") == 1
    finally:
        db.close()


# ---- jobs ----------------------------------------------------------------------------------


def test_create_get_and_a_taken_id(store):
    job = create(store, "nightly-2026-01-01")
    assert job is not None and job.status == JobStatus.RUNNING and job.attempts == 1
    assert create(store, "nightly-2026-01-01") is None  # the duplicate key is caught, not raised
    assert scalar(store.db, "SELECT @@TRANCOUNT") == 0  # and its transaction was rolled back
    found = store.get_job("nightly-2026-01-01")
    assert found == job  # what create_job returned is what was written (floats exactly)
    assert found.args == ("--day", "2026-01-01") and found.lease_until > time.time()
    assert store.job_source("nightly-2026-01-01") == "print('hi')\n"
    assert store.get_job("NIGHTLY-2026-01-01") is None  # ids are case-sensitive
    assert store.job_source("NIGHTLY-2026-01-01") is None


def test_find_job_by_prefix_escapes_like_wildcards_and_respects_case(store):
    # Job ids are letters, digits, '.', '_', ':' and '-' (psflow.api): `[`, a LIKE character
    # class in T-SQL, cannot occur in one.
    for job_id in ("ab_1", "abx1", "AB_2", "a%b.c:d-1"):
        create(store, job_id)
    assert store.find_job("ab_").id == "ab_1"  # `_` is not a wildcard: abx1 does not match
    assert store.find_job("AB").id == "AB_2"  # case-sensitive, whatever the database collation
    assert store.find_job("a%").id == "a%b.c:d-1"
    with pytest.raises(AmbiguousJob):
        store.find_job("ab")
    with pytest.raises(UnknownJob):
        store.find_job("nope")


def test_list_jobs_orders_filters_and_limits(store):
    Job = store.tables.job
    for number, job_id in enumerate(("j1", "j2", "j3")):
        create(store, job_id)
        Job.update(updated_at=1000.0 + number, status="Waiting" if number else "Failed").where(
            Job.id == job_id
        ).execute()
    assert [job.id for job in store.list_jobs()] == ["j3", "j2", "j1"]
    assert [job.id for job in store.list_jobs(order="oldest")] == ["j1", "j2", "j3"]
    assert [job.id for job in store.list_jobs(["Waiting"], limit=1)] == ["j3"]
    assert [job.id for job in store.list_jobs(["Waiting"], limit=1, order="oldest")] == ["j2"]
    assert [job.id for job in store.list_jobs(["Failed", "Waiting"], limit=5)] == ["j3", "j2", "j1"]
    assert store.list_jobs(limit=0) == []


def test_claim_is_one_conditional_update(store):
    create(store, "c1")
    store.finish_attempt("c1", 1, status="Waiting", reason="approval pending")
    waiting = store.get_job("c1")
    second, third = Runner("server2", 7, 60), Runner("server3", 8, 60)
    assert store.claim_job(waiting, second) is True
    assert store.claim_job(waiting, third) is False  # it is Running now
    running = store.get_job("c1")
    assert (running.status, running.owner_host, running.owner_pid, running.attempts) == ("Running", "server2", 7, 2)
    assert store.claim_job(running, third) is False  # lease still live
    Job = store.tables.job
    Job.update(lease_until=time.time() - 1).where(Job.id == "c1").execute()
    assert store.claim_job(store.get_job("c1"), third) is True


def test_two_servers_claiming_at_once_one_wins(store):
    create(store, "race")
    store.finish_attempt("race", 1, status="Waiting", reason=None)
    job = store.get_job("race")
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def claim(pid: int) -> None:
        barrier.wait()
        results.append(store.claim_job(job, Runner("server", pid, 60)))
        store.db.close()  # this thread's own connection

    threads = [threading.Thread(target=claim, args=(pid,)) for pid in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [False] * 7 + [True]
    assert store.get_job("race").attempts == 2


def test_lease_and_source_updates_are_fenced_by_the_attempt(store):
    create(store, "l1", runner=Runner("server1", 11, 60))
    assert store.renew_lease("l1", 1, 600) is True
    assert store.get_job("l1").lease_until > time.time() + 500
    assert store.renew_lease("l1", 2, 600) is False  # not the attempt that holds the job
    assert store.update_source("l1", 1, "print('v2')\n", "1" * 64, signature=SIGNATURE) is True
    assert store.update_source("l1", 2, "print('v3')\n", "2" * 64, signature="forged") is False
    assert store.job_source("l1") == "print('v2')\n"
    assert (store.get_job("l1").source_sha256, store.get_job("l1").signature) == ("1" * 64, SIGNATURE)
    moved = {"script": "<workflow nightly v2>", "source": "print(2)\n", "source_sha256": "2" * 64}
    assert store.move_to_version("l1", 2, version=2, **moved, signature="forged") is False
    assert store.move_to_version("l1", 1, version=2, **moved, signature=SIGNATURE + "2") is True
    job = store.get_job("l1")
    assert (job.workflow_version, job.script, job.source_sha256, job.signature) == (
        2,
        "<workflow nightly v2>",
        "2" * 64,
        SIGNATURE + "2",
    )
    assert store.job_source("l1") == "print(2)\n"


# ---- signatures (schema 4) ---------------------------------------------------------------------


def test_a_job_keeps_its_variable_names_and_signature_and_an_admin_signs_it_as_read(store):
    job = create(store, "s1", env=("API_TOKEN", "DB_PASSWORD"), sign=lambda job, source: SIGNATURE)
    assert (job.env, job.signature) == (("API_TOKEN", "DB_PASSWORD"), SIGNATURE)
    assert store.get_job("s1") == job
    unsigned = create(store, "s2")
    assert store.get_job("s2") == unsigned and (unsigned.env, unsigned.signature) == ((), None)
    assert scalar(store.db, "SELECT [env] FROM [psflow_job] WHERE [id] = N's2'") is None
    store.finish_attempt("s2", 1, status="Waiting", reason=None)
    read = store.get_job("s2")
    assert store.sign_job(unsigned, SIGNATURE, cwd="/srv") is False  # it changed since: nothing written
    assert store.get_job("s2").signature is None
    assert store.sign_job(read, SIGNATURE, cwd="/srv") is True
    assert (store.get_job("s2").signature, store.get_job("s2").cwd) == (SIGNATURE, "/srv")


def test_a_workflow_version_keeps_its_signature(store):
    first, _ = store.register_workflow(
        "nightly", source="print(1)\n", source_sha256="1" * 64, script="/srv/nightly.py", host="server1", user="ops"
    )
    second, _ = store.register_workflow(
        "nightly",
        source="print(2)\n",
        source_sha256="2" * 64,
        script="/srv/nightly.py",
        host="server1",
        user="ops",
        sign=lambda name, version, source: f"{SIGNATURE}|{name} v{version}",
    )
    assert (first.signature, second.signature) == (None, f"{SIGNATURE}|nightly v2")
    assert store.workflow("nightly") == second
    assert store.sign_workflow("nightly", 1, SIGNATURE) is True
    assert store.sign_workflow("nightly", 9, SIGNATURE) is False
    assert [version.signature for version in store.workflow_versions("nightly")] == [
        SIGNATURE,
        f"{SIGNATURE}|nightly v2",
    ]


# ---- attempts -------------------------------------------------------------------------------


def test_attempts_start_and_finish_in_one_transaction(store):
    create(store, "a1")
    assert store.start_attempt("a1", 1, RUNNER, source_sha256="0" * 64) is True
    assert store.start_attempt("a1", 2, RUNNER, source_sha256="0" * 64) is False  # INSERT ... SELECT: no row
    assert store.finish_attempt("a1", 1, status="Waiting", reason="sleeping") is True
    second = Runner("server2", 7, 60)
    assert store.claim_job(store.get_job("a1"), second) is True
    assert store.start_attempt("a1", 2, second, source_sha256="1" * 64) is True
    assert store.finish_attempt("a1", 1, status="Failed", reason="late") is False  # attempt 1 lost the job
    assert (
        store.finish_attempt("a1", 2, status="Waiting", reason="approval pending", waits_for="approved", output="bye\n")
        is True
    )
    first, last = store.attempts("a1")
    assert (first.number, first.outcome, first.reason) == (1, "Waiting", "sleeping")
    assert (last.number, last.outcome, last.reason, last.host, last.pid, last.source_sha256, last.output) == (
        2,
        "Waiting",
        "approval pending",
        "server2",
        7,
        "1" * 64,
        "bye\n",
    )
    assert last.ended_at >= last.started_at
    job = store.get_job("a1")
    assert (job.status, job.reason, job.lease_until, job.waits_for, job.due_at) == (
        "Waiting",
        "approval pending",
        None,
        "approved",
        None,
    )
    assert store.attempts("nope") == []


def test_nested_atomic_rolls_back_only_the_inner_part(store):
    create(store, "n1")
    with store.db.atomic():
        store.update_source("n1", 1, "outer", "1" * 64, signature=SIGNATURE)
        with pytest.raises(RuntimeError), store.db.atomic():
            store.update_source("n1", 1, "inner", "2" * 64, signature=SIGNATURE)
            raise RuntimeError
    assert store.job_source("n1") == "outer"


# ---- blocks -----------------------------------------------------------------------------------


def test_save_block_inserts_replace_block_updates_and_replay_reads_it_back_exactly(store):
    create(store, "b1")
    big = "x" * 100_000 + " ünïcødé 🎉 it's 100% done\n"
    run = store.save_block("b1", record("Step1", status="Retrying", error="ValueError: boom", tries=1))
    store.replace_block("b1", run, record("Step1", output=big, tries=2))  # the same block's next try: updated
    store.save_block("b1", record("step1", saved=None))  # another block: names are case-sensitive
    store.save_block("b1", record("Pending", status="Failed"))
    completed = store.completed_blocks("b1")
    assert sorted(completed) == ["Step1", "step1"]
    assert completed["Step1"] == record("Step1", output=big, tries=2)  # floats, NULLs and text come back exactly
    assert completed["step1"].saved is None
    runs = store.block_runs("b1")
    assert [(run.name, run.status, run.tries) for run in runs] == [
        ("Step1", "Completed", 2),
        ("step1", "Completed", 1),
        ("Pending", "Failed", 1),
    ]
    assert all(run.output is None for run in runs)  # not read unless asked for
    assert [run.output for run in store.block_runs("b1", with_output=True)] == [big, "3 rows\n", "3 rows\n"]
    assert [run.name for run in store.block_runs("b1", after_id=runs[0].id)] == ["step1", "Pending"]
    assert scalar(store.db, "SELECT COUNT(*) FROM [psflow_block] WHERE [job_id] = N'b1'") == 3


def test_blocks_saved_from_many_connections_at_once_each_get_a_row_of_their_own(store):
    create(store, "b2")
    barrier = threading.Barrier(6)
    saved: list[int] = []
    errors: list[BaseException] = []

    def save(number: int) -> None:
        try:
            barrier.wait()
            store.save_block("b2", record(f"Block{number}", pid=number))
            saved.append(number)
        except BaseException as error:
            errors.append(error)
        finally:
            store.db.close()

    threads = [threading.Thread(target=save, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(saved) == list(range(6)) and errors == []
    runs = store.block_runs("b2")
    assert len({run.id for run in runs}) == 6 and sorted(run.name for run in runs) == [f"Block{n}" for n in range(6)]


# ---- connecting -----------------------------------------------------------------------------


def test_a_wrong_password_is_a_store_error_without_the_password(mssql_url):
    scheme, rest = mssql_url.split("://", 1)
    credentials, _at, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    wrong = f"{scheme}://{user}:Wr0ng-pa55word@{host}"
    with pytest.raises(StoreError) as caught:
        open_store(wrong).list_jobs()  # a Store connects on first use
    message = str(caught.value)
    assert "refused the login" in message and "Wr0ng-pa55word" not in message and "\n" not in message


# ---- end to end ---------------------------------------------------------------------------------


def test_a_script_stops_and_resumes_replaying_its_block(mssql_url, tmp_path):
    counter, approval = tmp_path / "count", tmp_path / "approved"
    script = tmp_path / "flow.py"
    script.write_text(
        "from pathlib import Path\n"
        "from psflow import block, stop\n"
        f"counter, approval = Path({str(counter)!r}), Path({str(approval)!r})\n"
        'with block("Count"):\n'
        "    n = int(counter.read_text()) + 1 if counter.exists() else 1\n"
        "    counter.write_text(str(n))\n"
        'with block("Approve"):\n'
        "    if not approval.exists():\n"
        '        stop("Waiting", reason="approval pending")\n'
        'print("done", n)\n'
    )
    environment = {**os.environ, "PSFLOW_DB": mssql_url, "NO_COLOR": "1"}
    environment.pop("PSFLOW_JOB_ID", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PSFLOW, *args], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
        )

    first = run("exec", str(script))
    assert first.returncode == 3, first.stderr
    approval.write_text("yes")
    second = run("resume")
    assert second.returncode == 0, second.stderr
    assert "done 1" in second.stdout and counter.read_text() == "1"  # Count ran once, was replayed
