"""The Store's contract, in-process, on every backend: what each method reads and writes.

Every test runs on SQLite and on a real PostgreSQL server (and on MS SQL Server
when PSFLOW_TEST_MSSQL names one); the statements psflow sends to SQL Server are
checked offline by tests/store/test_mssql_sql.py. Time comes from a fake clock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import PostgresqlDatabase

from psflow.domain import WAITS_FOR_CHILDREN, JobStatus, Runner, RunStatus
from psflow.errors import AmbiguousJob, EditedRow, NotOwned, StoreError, UnknownJob
from psflow.store import BlockRecord, JobView, Store, children, open_store
from psflow.store.blocks import PLACES, run_id
from psflow.store.prebuilt import Prebuilt, prebuild
from support.clock import FakeClock
from support.database import plant

HERE = Runner("server1", 100, 60.0)
THERE = Runner("server2", 200, 60.0)


def _job(store: Store, job_id: str = "job-1", *, args: tuple[str, ...] = ("a",), runner: Runner = HERE) -> JobView:
    created = store.create_job(
        job_id,
        name="flow",
        script="/srv/flow.py",
        source="print(1)\n",
        source_sha256="f" * 64,
        args=list(args),
        runner=runner,
    )
    assert created is not None
    return created


def _record(name: str, attempt: int = 1, *, status: str = RunStatus.COMPLETED, **changes) -> BlockRecord:
    values = {
        "name": name,
        "status": status,
        "saved": '{"x":1}',
        "mutated": None,
        "exit_kind": "normal",
        "returned": None,
        "output": "out\n",
        "error": None,
        "started_at": 10.0,
        "ended_at": 11.0,
        "attempt": attempt,
        "host": "server1",
        "pid": 100,
        "tries": 1,
        "fingerprint": "ab" * 8,
    }
    values.update(changes)
    return BlockRecord(**values)


# ---- jobs ----------------------------------------------------------------------------


def test_a_new_job_is_running_under_its_creator_s_lease(store: Store, clock: FakeClock) -> None:
    job = _job(store)

    assert job == store.get_job("job-1")
    assert (job.status, job.attempts, job.owner_host, job.owner_pid) == (JobStatus.RUNNING, 1, "server1", 100)
    assert (job.created_at, job.lease_until, job.args) == (clock.now(), clock.now() + 60, ("a",))
    assert store.job_source("job-1") == "print(1)\n"


def test_creating_a_taken_id_gives_none_and_changes_nothing(store: Store) -> None:
    first = _job(store)

    assert (
        store.create_job(
            "job-1", name="other", script="/x.py", source="", source_sha256="0" * 64, args=[], runner=THERE
        )
        is None
    )
    assert store.get_job("job-1") == first


def test_jobs_are_found_by_id_or_unique_prefix(store: Store) -> None:
    for job_id in ("abc_1", "abd", "xyz"):
        _job(store, job_id)

    assert store.find_job("xy").id == "xyz"
    assert store.find_job("abc_1").id == "abc_1"
    with pytest.raises(AmbiguousJob, match="ambiguous"):
        store.find_job("ab")
    with pytest.raises(UnknownJob, match="no job with id 'abc%'"):
        store.find_job("abc%")  # LIKE wildcards are not wildcards here
    with pytest.raises(UnknownJob):
        store.find_job("ABC")  # ids are case-sensitive on every backend
    assert store.get_job("nope") is None and store.job_source("nope") is None


def test_jobs_are_listed_by_last_update(store: Store, clock: FakeClock) -> None:
    for job_id in ("old", "mid", "new"):
        _job(store, job_id)
        clock.advance(10)
    store.finish_attempt("mid", 1, status=JobStatus.WAITING, reason=None)

    assert [job.id for job in store.list_jobs()] == ["mid", "new", "old"]
    assert [job.id for job in store.list_jobs(order="oldest", limit=2)] == ["old", "new"]
    assert [job.id for job in store.list_jobs([JobStatus.WAITING])] == ["mid"]


def test_a_job_and_its_snapshot_are_read_in_one_query(store: Store) -> None:
    job = _job(store)

    assert store.job_and_source(job.id) == (job, "print(1)\n")
    assert store.job_and_source("nope") is None


def test_a_claim_is_one_conditional_update(store: Store, clock: FakeClock) -> None:
    job = _job(store)
    store.finish_attempt(job.id, 1, status=JobStatus.WAITING, reason="later")
    waiting = store.get_job(job.id)

    assert store.claim_job(waiting, THERE) is True
    assert store.claim_job(waiting, HERE) is False  # the status it was read with is gone
    claimed = store.get_job(job.id)
    assert (claimed.status, claimed.attempts, claimed.owner_host) == (JobStatus.RUNNING, 2, "server2")
    assert claimed.due_at == claimed.lease_until == clock.now() + 60  # due again when the lease runs out


def test_a_claim_given_the_source_begins_its_attempt_in_the_same_transaction(store: Store, clock: FakeClock) -> None:
    job = _job(store)
    store.start_attempt(job.id, 1, HERE, source_sha256="f" * 64)
    store.finish_attempt(job.id, 1, status=JobStatus.WAITING, reason="later")
    waiting = store.get_job(job.id)

    assert store.claim_job(waiting, THERE, source_sha256="2" * 64) is True
    assert store.claim_job(waiting, HERE, source_sha256="3" * 64) is False  # a lost claim begins nothing
    begun = [(a.number, a.host, a.source_sha256, a.started_at, a.ended_at) for a in store.attempts(job.id)]
    assert begun[1:] == [(2, "server2", "2" * 64, clock.now(), None)]
    limited = _job(store, "job-2", runner=None)
    store.set_queue_limit("default", 2)  # job-1 runs: room for one more
    assert store.claim_job(limited, HERE, source_sha256="4" * 64) is True  # a claim that counts the queue first
    assert [(a.number, a.source_sha256) for a in store.attempts("job-2")] == [(1, "4" * 64)]


def test_on_postgresql_a_claim_begins_its_attempt_in_the_same_statement(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL has data-modifying WITH: the claim and the new attempt's row are one round trip (a worker's
    every job takes it); elsewhere they are two statements in one transaction."""
    job = _job(store)
    store.finish_attempt(job.id, 1, status=JobStatus.WAITING, reason="later")
    waiting = store.get_job(job.id)
    sent: list[str] = []
    execute = store.db.execute_sql
    monkeypatch.setattr(store.db, "execute_sql", lambda sql, params=None: sent.append(sql) or execute(sql, params))

    assert store.claim_job(waiting, THERE, source_sha256="2" * 64) is True

    if isinstance(store.db, PostgresqlDatabase):
        assert len(sent) == 1 and sent[0].startswith('WITH "claimed" AS (UPDATE "psflow_job" ')
    else:
        assert [sql.split()[0] for sql in sent] == ["UPDATE", "INSERT"]
    assert [(a.number, a.host, a.ended_at) for a in store.attempts(job.id)] == [(2, "server2", None)]


def test_on_postgresql_an_attempt_ends_in_one_statement_then_wakes_its_parent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the job released (fenced), its attempt ended and a waiting parent locked are one
    statement; whether the parent has an awaited child left is asked in the next (a new snapshot)."""
    _job(store, "p")
    child = {"name": "c", "script": "/c.py", "source": "", "source_sha256": "0" * 64, "args": []}
    store.create_job("p.1", **child, runner=THERE, parent="p", parent_attempt=1)
    store.start_attempt("p.1", 1, THERE, source_sha256="0" * 64)
    store.finish_attempt("p", 1, status=JobStatus.WAITING, reason="w", waits_for=WAITS_FOR_CHILDREN, awaits=("p.1",))
    sent: list[str] = []
    execute = store.db.execute_sql
    monkeypatch.setattr(store.db, "execute_sql", lambda sql, params=None: sent.append(sql) or execute(sql, params))

    assert store.finish_attempt("p.1", 2, status=JobStatus.COMPLETED, reason=None) is False  # not its attempt
    assert store.finish_attempt("p.1", 1, status=JobStatus.COMPLETED, reason=None) is True
    statements = list(sent)

    assert store.get_job("p").due_at is not None  # its last child ended: due now
    assert [a.outcome for a in store.attempts("p.1")] == [JobStatus.COMPLETED]
    if isinstance(store.db, PostgresqlDatabase):
        assert [sql.split()[0] for sql in statements] == ["WITH", "WITH", "UPDATE"]  # lost: nothing more
        assert '"parent_locked" AS (UPDATE "psflow_job"' in statements[1]


def test_a_job_edited_to_be_its_own_waiting_parent_still_ends(store: Store) -> None:
    """A hostile row: the job names itself as the parent that waits for it. Its end is recorded all the same."""
    _job(store)
    store.start_attempt("job-1", 1, HERE, source_sha256="f" * 64)
    Job = store.tables.job
    Job.update(parent="job-1", awaited=True, waits_for=WAITS_FOR_CHILDREN).where(Job.id == "job-1").execute()

    assert store.finish_attempt("job-1", 1, status=JobStatus.COMPLETED, reason=None) is True

    assert store.get_job("job-1").status == JobStatus.COMPLETED
    assert [a.outcome for a in store.attempts("job-1")] == [JobStatus.COMPLETED]


def test_the_end_of_a_child_finds_unended_siblings_through_their_index(store: Store) -> None:
    """Whether a waiting parent has an awaited child left is one probe of psflow_job_unended_children
    (a partial index), not a walk through every child it had: SQLite's plan names it."""
    _job(store)  # the schema is there
    assert "psflow_job_unended_children" in {index.name for index in store.db.get_indexes("psflow_job")}
    if isinstance(store.db, PostgresqlDatabase):
        return  # its planner weighs row counts: which index it takes depends on the data
    wake = prebuild(store.db, children.wake_parent_of_if_done(store.tables))
    explain = Prebuilt("EXPLAIN QUERY PLAN " + wake.sql, wake.params)
    plan = " | ".join(row[-1] for row in explain.run(store.db, {"id": "p.1", "now": 0.0}).fetchall())
    assert "SEARCH child USING INDEX psflow_job_unended_children (parent=? AND awaited=?)" in plan, plan


def test_a_child_is_created_only_while_its_parent_s_attempt_holds_it(store: Store, clock: FakeClock) -> None:
    _job(store, "p")
    child = {"name": "c", "script": "/srv/c.py", "source": "", "source_sha256": "0" * 64, "args": [], "runner": None}

    assert store.create_job("p.1", **child, parent="p", parent_attempt=1) is not None
    clock.advance(61)
    assert store.claim_job(store.get_job("p"), THERE)  # attempt 2 takes the parent
    with pytest.raises(NotOwned):
        store.create_job("p.2", **child, parent="p", parent_attempt=1)
    assert store.get_job("p.2") is None
    assert store.create_job("p.2", **child, parent="p", parent_attempt=2) is not None


def test_a_running_job_is_claimed_only_once_its_lease_ran_out(store: Store, clock: FakeClock) -> None:
    running = _job(store)

    assert store.claim_job(running, THERE) is False
    clock.advance(61)
    assert store.claim_job(running, THERE) is True
    assert store.get_job(running.id).owner_host == "server2"


def test_a_lease_is_renewed_only_by_its_holder(store: Store, clock: FakeClock) -> None:
    _job(store)
    clock.advance(30)

    assert store.renew_lease("job-1", 1, 60.0) is True
    assert store.get_job("job-1").lease_until == clock.now() + 60
    assert store.renew_lease("job-1", 2, 60.0) is False  # not attempt 2's


def test_an_orphan_is_failed_only_if_still_that_runner_s(store: Store) -> None:
    _job(store)
    store.start_attempt("job-1", 1, HERE, source_sha256="f" * 64)

    assert store.fail_orphan("job-1", "server1", 999, "died") is False
    assert store.fail_orphan("job-1", "server1", HERE.pid, "died") is True
    assert (store.get_job("job-1").status, store.get_job("job-1").reason) == (JobStatus.FAILED, "died")
    assert [(a.outcome, a.reason) for a in store.attempts("job-1")] == [(JobStatus.FAILED, "died")]


def test_source_and_workflow_version_follow_the_job(store: Store) -> None:
    _job(store)
    store.update_source("job-1", 1, "print(2)\n", "2" * 64, signature="sig-2")
    assert (store.job_source("job-1"), store.get_job("job-1").signature) == ("print(2)\n", "sig-2")
    store.move_to_version(
        "job-1",
        1,
        version=3,
        script="<workflow flow v3>",
        source="print(3)\n",
        source_sha256="3" * 64,
        signature="sig-3",
    )

    job = store.get_job("job-1")
    assert (store.job_source("job-1"), job.source_sha256, job.workflow_version, job.script) == (
        "print(3)\n",
        "3" * 64,
        3,
        "<workflow flow v3>",
    )
    assert job.signature == "sig-3"


def test_a_job_keeps_its_signature_and_the_names_of_its_variables(store: Store) -> None:
    created = store.create_job(
        "job-2",
        name="flow",
        script="/srv/flow.py",
        source="print(1)\n",
        source_sha256="1" * 64,
        args=["a"],
        runner=HERE,
        env=("TOKEN", "PASSWORD"),
        sign=lambda job, source: f"signed {job.id} {job.env} {source!r}",
    )

    assert created == store.get_job("job-2")
    assert (created.env, created.signature) == (
        ("TOKEN", "PASSWORD"),
        "signed job-2 ('TOKEN', 'PASSWORD') 'print(1)\\n'",
    )
    assert store.get_job("job-2").to_json()["env"] == ["TOKEN", "PASSWORD"]

    assert store.sign_job(created, "vouched", cwd="/srv") is True
    assert (store.get_job("job-2").signature, store.get_job("job-2").cwd) == ("vouched", "/srv")
    store.claim_job(store.get_job("job-2"), HERE, runner_gone=True)
    assert store.sign_job(created, "stale", cwd="/srv") is False  # it changed since it was read


# ---- attempts ---------------------------------------------------------------------------


def test_an_attempt_ends_and_releases_the_job_in_one_step(store: Store, clock: FakeClock) -> None:
    _job(store)
    store.start_attempt("job-1", 1, HERE, source_sha256="f" * 64)
    clock.advance(5)
    store.finish_attempt("job-1", 1, status=JobStatus.WAITING, reason="sleeping", due_at=clock.now() + 100)

    (attempt,) = store.attempts("job-1")
    assert (attempt.number, attempt.host, attempt.ended_at - attempt.started_at, attempt.outcome) == (
        1,
        "server1",
        5.0,
        JobStatus.WAITING,
    )
    job = store.get_job("job-1")
    assert (job.status, job.reason, job.lease_until, job.due_at) == (
        JobStatus.WAITING,
        "sleeping",
        None,
        clock.now() + 100,
    )


def test_a_result_is_kept_by_the_attempt_that_sets_it_and_only_while_it_holds_the_job(store: Store) -> None:
    """Each shape of an attempt's end (with a result or not; Waiting or ended), as each backend writes it."""
    _job(store)
    store.start_attempt("job-1", 1, HERE, source_sha256="f" * 64)
    assert store.finish_attempt("job-1", 1, status=JobStatus.WAITING, reason="w", result="[1, 2]", output="o\n")
    assert store.job_result("job-1") == "[1, 2]"
    assert store.claim_job(store.get_job("job-1"), HERE, source_sha256="f" * 64)
    assert store.finish_attempt("job-1", 1, status=JobStatus.COMPLETED, reason=None, result="[3]") is False  # stale
    assert store.finish_attempt("job-1", 2, status=JobStatus.COMPLETED, reason=None) is True  # no result: kept
    assert store.job_result("job-1") == "[1, 2]"
    assert [(a.number, a.outcome, a.output) for a in store.attempts("job-1")] == [
        (1, JobStatus.WAITING, "o\n"),
        (2, JobStatus.COMPLETED, None),
    ]
    assert store.get_job("job-1").status == JobStatus.COMPLETED


# ---- blocks -----------------------------------------------------------------------------


def _row(name: str, run: int) -> dict:
    """A block run's row as psflow writes it, for planting behind the store's back."""
    values = _record(name)._asdict()
    return {"job_id": "job-1", "id": run, **{key: value for key, value in values.items() if value is not None}}


def _next_attempt(store: Store, job_id: str = "job-1") -> int:
    """End the job's attempt (Waiting) and claim the next one; its number."""
    job = store.get_job(job_id)
    store.finish_attempt(job_id, job.attempts, status=JobStatus.WAITING, reason=None)
    assert store.claim_job(store.get_job(job_id), HERE)
    return job.attempts + 1


def test_replay_gets_the_latest_completed_run_of_each_block(store: Store) -> None:
    _job(store)
    store.save_block("job-1", _record("A", 1))
    store.save_block("job-1", _record("B", 1, status=RunStatus.FAILED, error="boom"))
    store.save_block("job-1", _record("A", _next_attempt(store), saved='{"x":2}'))

    completed = store.completed_blocks("job-1")

    assert list(completed) == ["A"]
    assert completed["A"] == _record("A", 2, saved='{"x":2}')


def test_replace_updates_the_run_its_attempt_saved(store: Store) -> None:
    _job(store)
    run = store.save_block("job-1", _record("A", status=RunStatus.RETRYING, tries=1))
    store.save_block("job-1", _record("B"))

    assert store.replace_block("job-1", run, _record("A", tries=3))

    runs = store.block_runs("job-1")
    assert [(run.name, run.status, run.tries) for run in runs] == [("A", RunStatus.COMPLETED, 3), ("B", "Completed", 1)]


def test_runs_are_numbered_per_attempt_after_what_the_database_holds(store: Store) -> None:
    """A run's id: its attempt in the high bits, its place below. A store counts places itself,
    from the highest the attempt has in the database: a second store goes on after the first."""
    _job(store)
    store.save_block("job-1", _record("A"))
    store.save_block("job-1", _record("B"))
    other = open_store(store.url)
    other.save_block("job-1", _record("C"))
    store.save_block("job-1", _record("D", _next_attempt(store)))

    runs = store.block_runs("job-1")

    assert [(run.name, run.id) for run in runs] == [
        ("A", run_id(1, 1)),
        ("B", run_id(1, 2)),
        ("C", run_id(1, 3)),
        ("D", run_id(2, 1)),
    ]
    other.close()


def test_runs_of_an_attempt_no_id_can_hold_are_refused_in_words(store: Store) -> None:
    """An attempt number past 31 bits (a job row edited by hand), or a run planted at an attempt's
    last id: EditedRow, never the driver's OverflowError, and nothing written."""
    _job(store)
    with pytest.raises(EditedRow, match=r"job job-1 would be in attempt 2147483648: .* was the job's row edited\?"):
        store.save_block("job-1", _record("A", 2**31))
    plant(store.url, "psflow_block", **_row("Planted", run_id(1, PLACES[-1])))
    with pytest.raises(EditedRow, match="a run at the last id of attempt 1"):
        store.save_block("job-1", _record("B"))

    assert [run.name for run in store.block_runs("job-1")] == ["Planted"]


def test_blocks_saved_from_many_threads_at_once_each_get_a_run_of_their_own(store: Store) -> None:
    _job(store)
    barrier = threading.Barrier(6)

    def save(number: int) -> int | None:
        barrier.wait()
        try:
            return store.save_block("job-1", _record(f"Block{number}"))
        finally:
            store.close()  # this thread's connection

    with ThreadPoolExecutor(6) as pool:
        saved = list(pool.map(save, range(6)))

    runs = store.block_runs("job-1")
    assert sorted(saved) == sorted(run.id for run in runs) == [run_id(1, place) for place in range(1, 7)]


def test_a_run_at_the_id_a_store_gives_next_is_passed_over_not_overwritten(store: Store) -> None:
    """A row put at the attempt's next id meanwhile (by hand, or by another store): the save counts
    again from the database and goes after it; the row stays as it was."""
    _job(store)
    store.save_block("job-1", _record("A"))
    other = open_store(store.url)
    other.save_block("job-1", _record("Other", output="theirs\n"))

    assert store.save_block("job-1", _record("B")) == run_id(1, 3)

    runs = store.block_runs("job-1", with_output=True)
    assert [(run.name, run.output) for run in runs] == [("A", "out\n"), ("Other", "theirs\n"), ("B", "out\n")]
    other.close()


def test_block_runs_come_in_the_order_recorded_with_output_only_when_asked(store: Store) -> None:
    _job(store)
    for name in ("A", "B", "C"):
        store.save_block("job-1", _record(name))

    runs = store.block_runs("job-1")
    later = store.block_runs("job-1", after_id=runs[0].id, with_output=True)

    assert [run.name for run in runs] == ["A", "B", "C"] and runs[0].output is None
    assert [(run.name, run.output) for run in later] == [("B", "out\n"), ("C", "out\n")]
    assert runs[0].to_json()["duration"] == 1.0


def test_waits_are_found_by_their_key(store: Store) -> None:
    _job(store)
    store.save_block("job-1", _record("wait_for:approval", 1, status=RunStatus.WAITING, started_at=5.0))
    second = _next_attempt(store)
    store.save_block("job-1", _record("wait_for:approval", second, started_at=50.0))
    store.save_block("job-1", _record("WAIT_FOR:other", second))  # LIKE may ignore case: not a wait

    assert store.first_block_start("job-1", "wait_for:approval") == 5.0
    assert store.first_block_start("job-1", "wait_for:none") is None
    assert store.completed_wait_names("job-1") == {"approval": 2}


# ---- fencing: a runner writes only while the job is still its attempt's ----------------


def test_a_runner_whose_job_was_taken_over_writes_nothing(store: Store, clock: FakeClock) -> None:
    _job(store)  # attempt 1 on server1
    clock.advance(61)  # its lease runs out (server1 paused, say)
    assert store.claim_job(store.get_job("job-1"), THERE)  # attempt 2 on server2
    before = (store.get_job("job-1"), store.block_runs("job-1"), store.attempts("job-1"))

    assert store.save_block("job-1", _record("A", 1)) is None
    assert store.replace_block("job-1", run_id(1, 1), _record("A", 1)) is False
    assert store.renew_lease("job-1", 1, 60) is False
    assert store.start_attempt("job-1", 1, HERE, source_sha256="0" * 64) is False
    assert store.update_source("job-1", 1, "x", "0" * 64, signature="s") is False
    assert store.set_live_output("job-1", 1, "late") is False
    assert store.finish_attempt("job-1", 1, status=JobStatus.COMPLETED, reason=None) is False

    assert (store.get_job("job-1"), store.block_runs("job-1"), store.attempts("job-1")) == before
    assert store.save_block("job-1", _record("A", 2)) == run_id(2, 1)  # the new owner writes


def test_a_claim_from_a_stale_read_fails(store: Store) -> None:
    """The attempt number comes from the claimed row: two claims from one read cannot both succeed."""
    job = _job(store)
    store.finish_attempt(job.id, 1, status=JobStatus.WAITING, reason=None)
    read = store.get_job(job.id)
    assert store.claim_job(read, HERE)
    store.finish_attempt(job.id, 2, status=JobStatus.WAITING, reason=None)  # Waiting again, as read

    assert store.claim_job(read, THERE) is False  # same status, but attempt 2 has been and gone


def test_a_running_job_of_a_gone_runner_is_claimed_at_once_when_asked(store: Store) -> None:
    running = _job(store)

    assert store.claim_job(running, THERE, runner_gone=True) is True
    assert store.get_job(running.id).owner_host == "server2"


# ---- due jobs ------------------------------------------------------------------------------


def test_due_jobs_is_the_one_rule_in_one_query(store: Store, clock: FakeClock) -> None:
    for job_id in ("plain", "timer", "input", "input-timeout", "failed", "done", "running"):
        _job(store, job_id)
    now = clock.now()
    store.finish_attempt("plain", 1, status=JobStatus.WAITING, reason=None)
    store.finish_attempt("timer", 1, status=JobStatus.WAITING, reason=None, due_at=now + 100)
    store.finish_attempt("input", 1, status=JobStatus.WAITING, reason=None, waits_for="approval")
    store.finish_attempt("input-timeout", 1, status=JobStatus.WAITING, reason=None, due_at=now + 50, waits_for="ok")
    store.finish_attempt("failed", 1, status=JobStatus.FAILED, reason="boom")
    store.finish_attempt("done", 1, status=JobStatus.COMPLETED, reason=None)

    def due(*statuses: str) -> list[str]:
        return [job.id for job in store.due_jobs(list(statuses))]

    assert due(JobStatus.WAITING) == ["plain"]
    assert set(due(JobStatus.WAITING, JobStatus.FAILED, JobStatus.COMPLETED)) == {"plain", "failed"}
    clock.advance(60)
    assert due(JobStatus.WAITING) == ["plain", "input-timeout"]  # longest due first
    clock.advance(60)
    assert due(JobStatus.RUNNING) == ["running"]  # its lease ran out
    assert set(due(JobStatus.WAITING)) == {"plain", "timer", "input-timeout"}
    waiting = store.get_job("input")
    assert (waiting.waits_for, waiting.due_at, waiting.waiting_since) == ("approval", None, now)


def test_an_input_makes_the_jobs_waiting_for_it_due_at_once(store: Store, clock: FakeClock) -> None:
    for job_id in ("a", "b"):
        _job(store, job_id)
        store.finish_attempt(job_id, 1, status=JobStatus.WAITING, reason=None, waits_for="approval")
    clock.advance(5)

    store.add_inputs(["a"], {"other": '"x"'}, host="h", user="u")
    assert store.due_jobs([JobStatus.WAITING]) == []
    store.add_inputs(["a"], {"approval": '"yes"'}, host="h", user="u")
    assert [job.id for job in store.due_jobs([JobStatus.WAITING])] == ["a"]


def test_running_jobs_of_a_host_and_counts_per_status(store: Store) -> None:
    _job(store, "here")
    _job(store, "there", runner=THERE)
    store.finish_attempt("there", 1, status=JobStatus.FAILED, reason=None)

    assert [job.id for job in store.running_on("server1")] == ["here"]
    assert store.status_counts() == {JobStatus.RUNNING: 1, JobStatus.FAILED: 1}


def test_live_output_is_the_running_attempt_s(store: Store) -> None:
    _job(store)
    store.start_attempt("job-1", 1, HERE, source_sha256="f" * 64)
    store.set_live_output("job-1", 1, "so far\n")
    assert store.live_output("job-1") == "so far\n"
    store.finish_attempt("job-1", 1, status=JobStatus.COMPLETED, reason=None, output="tail\n", error=None)
    assert store.live_output("job-1") is None
    assert store.attempts("job-1")[0].output == "tail\n"
    assert store.attempts("job-1", with_output=False)[0].output is None  # `psflow job` never reads it


# ---- inputs -------------------------------------------------------------------------------


def test_inputs_are_kept_in_order_and_the_last_of_a_name_wins(store: Store, clock: FakeClock) -> None:
    _job(store, "job-1")
    _job(store, "job-2")
    when = store.add_inputs(["job-1", "job-2"], {"approval": '"alice"'}, host="h", user="ops")
    store.add_inputs(["job-1"], {"approval": '"bob"'}, host="h", user="ops")

    assert when == clock.now()
    assert store.latest_inputs("job-1") == {"approval": '"bob"'}
    assert [(sent.name, sent.value, sent.user) for sent in store.inputs("job-2")] == [("approval", '"alice"', "ops")]


def test_an_input_sent_to_more_jobs_than_one_statement_names_reaches_each(store: Store) -> None:
    """SQL Server binds at most 2100 parameters in a statement: 250 jobs × 2 inputs are 3000 of them."""
    job_ids = [f"job-{number:03}" for number in range(250)]
    for job_id in job_ids:
        _job(store, job_id)
        store.finish_attempt(job_id, 1, status=JobStatus.WAITING, reason=None, waits_for="approval")

    store.add_inputs(job_ids, {"approval": '"yes"', "by": '"ops"'}, host="h", user="u")
    assert [job.id for job in store.due_jobs([JobStatus.WAITING])] == job_ids
    assert store.latest_inputs("job-000") == store.latest_inputs("job-249") == {"approval": '"yes"', "by": '"ops"'}


# ---- workflows ------------------------------------------------------------------------------


def test_workflow_versions_count_up_and_the_same_source_makes_none(store: Store) -> None:
    first, created = store.register_workflow(
        "nightly", source="a", source_sha256="a" * 64, script="/a.py", host="h", user="u"
    )
    again, created_again = store.register_workflow(
        "nightly", source="a", source_sha256="a" * 64, script="/a.py", host="h", user="u"
    )
    second, _ = store.register_workflow(
        "nightly", source="b", source_sha256="b" * 64, script="/b.py", host="h", user="u"
    )
    store.register_workflow("other", source="c", source_sha256="c" * 64, script="/c.py", host="h", user="u")

    assert (first.version, created, again.version, created_again, second.version) == (1, True, 1, False, 2)
    assert store.workflow("nightly").source == "b" and store.workflow("nightly", 1).source == "a"
    assert [view.version for view in store.workflow_versions("nightly")] == [1, 2]
    assert [(view.name, view.version, count) for view, count, _ in store.list_workflows()] == [
        ("nightly", 2, 2),
        ("other", 1, 1),
    ]
    assert store.workflow("none") is None


# ---- changing jobs ------------------------------------------------------------------------


def test_changes_apply_only_to_the_job_as_it_was_read(store: Store) -> None:
    job = _job(store)
    store.finish_attempt(job.id, 1, status=JobStatus.FAILED, reason="boom")
    failed = store.get_job(job.id)

    assert store.set_status(failed, status=JobStatus.WAITING, reason="retry") is True
    assert store.set_status(failed, status=JobStatus.CANCELLED, reason="late") is False  # it moved on
    assert store.get_job(job.id).status == JobStatus.WAITING


def test_rerun_marks_completed_runs_and_moves_the_job(store: Store) -> None:
    job = _job(store)
    store.save_block(job.id, _record("A"))
    store.save_block(job.id, _record("B"))
    store.finish_attempt(job.id, 1, status=JobStatus.COMPLETED, reason=None)

    b = store.block_runs(job.id)[1].id
    assert store.mark_rerun(store.get_job(job.id), [b], changes={"status": JobStatus.WAITING}) is True
    assert [(run.name, run.status) for run in store.block_runs(job.id)] == [("A", "Completed"), ("B", "Rerun")]
    assert list(store.completed_blocks(job.id)) == ["A"]
    assert store.get_job(job.id).status == JobStatus.WAITING


def test_a_running_job_whose_lease_holds_is_deleted_only_when_forced(store: Store, clock: FakeClock) -> None:
    job = _job(store)
    store.save_block(job.id, _record("A"))
    store.add_inputs([job.id], {"x": "1"}, host="h", user="u")

    assert store.delete_jobs([job]) == job
    assert store.delete_jobs([job], force=True) == {"jobs": 1, "attempts": 0, "blocks": 1, "inputs": 1}
    assert store.get_job(job.id) is None


def test_prune_deletes_only_old_jobs_in_the_statuses(store: Store, clock: FakeClock) -> None:
    for job_id in ("done", "failed", "recent"):
        _job(store, job_id)
    store.finish_attempt("done", 1, status=JobStatus.COMPLETED, reason=None)
    store.finish_attempt("failed", 1, status=JobStatus.FAILED, reason=None)
    clock.advance(3600)
    store.finish_attempt("recent", 1, status=JobStatus.COMPLETED, reason=None)
    before = clock.now() - 10

    assert [job.id for job in store.prunable_jobs([JobStatus.COMPLETED], before)] == ["done"]
    assert store.count_jobs([JobStatus.COMPLETED], updated_before=before) == 1
    ids, counts, _ = store.prune_jobs([JobStatus.COMPLETED], before, limit=10)
    assert (ids, counts["jobs"]) == (["done"], 1)
    assert sorted(job.id for job in store.list_jobs()) == ["failed", "recent"]


def test_prune_jobs_deletes_a_batch_after_an_id(store: Store, clock: FakeClock) -> None:
    for job_id in ("first", "second", "third"):
        _job(store, job_id)
        store.finish_attempt(job_id, 1, status=JobStatus.COMPLETED, reason=None)
        clock.advance(60)

    _job(store, "unfinished")  # Running: looked at, not deleted

    assert store.prune_jobs([JobStatus.COMPLETED], clock.now(), limit=1, after="first")[::2] == (["second"], "second")
    assert store.prune_jobs([JobStatus.COMPLETED], clock.now(), limit=2)[::2] == (["first", "third"], "third")
    assert store.prune_jobs([JobStatus.COMPLETED], clock.now(), limit=3)[::2] == ([], "unfinished")
    assert store.prune_jobs([JobStatus.COMPLETED], clock.now(), limit=3, after="unfinished") == (
        [],
        dict.fromkeys(("jobs", "attempts", "blocks", "inputs"), 0),
        None,  # nothing left to look at
    )
    assert [job.id for job in store.list_jobs()] == ["unfinished"]


# ---- the store itself ------------------------------------------------------------------------


def test_a_store_touches_its_database_only_when_first_used(tmp_path) -> None:
    path = tmp_path / "lazy.sqlite"
    store = open_store(f"sqlite:///{path}")

    assert not path.exists()
    assert store.list_jobs() == [] and path.exists()
    store.close()


def test_database_errors_come_out_as_store_errors_naming_the_database(store: Store) -> None:
    _job(store)
    store.db.execute_sql("DROP TABLE psflow_signal")

    with pytest.raises(StoreError, match=r"^cannot use database .+: .*psflow_signal"):
        store.inputs("job-1")


def test_a_workflow_version_keeps_its_signature(store: Store) -> None:
    created, _ = store.register_workflow(
        "nightly",
        source="a",
        source_sha256="a" * 64,
        script="/a.py",
        host="h",
        user="u",
        sign=lambda name, version, source: f"{name} v{version} {source}",
    )

    assert created.signature == store.workflow("nightly", 1).signature == "nightly v1 a"
    assert store.sign_workflow("nightly", 1, "again") is True
    assert [view.signature for view in store.workflow_versions("nightly")] == ["again"]
