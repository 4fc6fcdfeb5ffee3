"""Database trouble that passes, in-process: a Store call is tried again, whole, until PSFLOW_DB_RETRY_SECONDS.

Real trouble, no mocks: a second SQLite connection holding a write lock; a real PostgreSQL
server ending the store's session (what a restart or an admin does). The retry waits on
a fake clock, so nothing here sleeps for the backoff; SQLite's own busy timeout (the
setting, here a tenth of a second) is real.
"""

from __future__ import annotations

import sqlite3

import pytest

from psflow.domain import JobStatus, Runner, RunStatus
from psflow.errors import StoreError
from psflow.store import BlockRecord, Store, open_store
from psflow.store.retry import ENV_RETRY, configured_seconds
from support.clock import FakeClock

HERE = Runner("server1", 100, 60.0)
THERE = Runner("server2", 200, 60.0)


@pytest.fixture(autouse=True)
def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RETRY, "0.1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _opened(url: str, clock: FakeClock, told: list[str]) -> Store:
    store = open_store(url, clock=clock, notice=told.append)
    _new_job(store)
    return store


def _new_job(store: Store, job_id: str = "job-1") -> None:
    created = store.create_job(
        job_id, name="flow", script="/srv/flow.py", source="", source_sha256="f" * 64, args=[], runner=HERE
    )
    assert created is not None


def _record(name: str, attempt: int = 1) -> BlockRecord:
    return BlockRecord(
        name=name,
        status=RunStatus.COMPLETED,
        saved=None,
        mutated=None,
        exit_kind="normal",
        returned=None,
        output=None,
        error=None,
        started_at=10.0,
        ended_at=11.0,
        attempt=attempt,
        host="server1",
        pid=100,
    )


class _Locker:
    """Another connection to the SQLite file, holding its write lock until released."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def release(self, *_: object) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")


def test_a_lock_held_past_the_deadline_ends_the_call_in_one_line(sqlite_url, tmp_path, clock) -> None:
    told: list[str] = []
    store = _opened(sqlite_url, clock, told)
    locker = _Locker(str(tmp_path / "psflow.sqlite"))

    with pytest.raises(StoreError) as raised:
        store.save_block("job-1", _record("A"))

    message = str(raised.value)
    assert message.startswith(f"database {store.where} stayed locked for 0.1 s (database is locked)")
    assert ENV_RETRY in message and "\n" not in message
    assert len(told) == 1 and "trying again for up to 0.1 s" in told[0]
    assert clock.slept[0] == 0.05 and sum(clock.slept) == pytest.approx(0.1)  # backoff, up to the deadline
    locker.release()
    assert store.completed_blocks("job-1") == {}  # nothing half-written; the same call works once it is free
    assert store.save_block("job-1", _record("A"))


def test_a_lock_released_while_the_call_waits_lets_the_whole_transaction_through(sqlite_url, tmp_path, clock) -> None:
    store = open_store(sqlite_url, clock=clock)
    _new_job(store)
    locker = _Locker(str(tmp_path / "psflow.sqlite"))
    store.notice = locker.release  # the other process lets go as psflow says it tries again

    assert store.finish_attempt("job-1", 1, status=JobStatus.COMPLETED, reason=None)

    job = store.get_job("job-1")
    assert job is not None and (job.status, job.lease_until) == (JobStatus.COMPLETED, None)


def test_a_retried_write_is_fenced_again(sqlite_url, tmp_path, clock) -> None:
    store = open_store(sqlite_url, clock=clock)
    _new_job(store)
    locker = _Locker(str(tmp_path / "psflow.sqlite"))

    def taken_meanwhile(_: str) -> None:  # while psflow waits, the lock's holder takes the job
        locker.connection.execute("UPDATE psflow_job SET attempts = 2, owner_host = 'server2'")
        locker.connection.execute("COMMIT")

    store.notice = taken_meanwhile

    assert store.save_block("job-1", _record("A")) is None
    assert store.completed_blocks("job-1") == {}


def test_errors_that_do_not_pass_are_not_retried(sqlite_url, clock) -> None:
    store = open_store(sqlite_url, clock=clock)
    _new_job(store)
    store.db.execute_sql("DROP TABLE psflow_signal")

    with pytest.raises(StoreError, match=r"^cannot use database .+: no such table"):
        store.inputs("job-1")
    assert clock.slept == []


def test_a_damaged_file_says_what_to_do(tmp_path, clock) -> None:
    path = tmp_path / "damaged.sqlite"
    path.write_bytes(b"not a database at all" * 100)

    with pytest.raises(StoreError, match=r"file is not a database \(.*restore it from a backup") as raised:
        open_store(f"sqlite:///{path}", clock=clock).list_jobs()
    assert "\n" not in str(raised.value) and clock.slept == []


@pytest.mark.parametrize("text", ["soon", "-1", "inf", "nan"])
def test_a_retry_setting_that_is_not_seconds_is_refused(monkeypatch, text) -> None:
    monkeypatch.setenv(ENV_RETRY, text)

    with pytest.raises(StoreError, match=f"^{ENV_RETRY} must be a number of seconds"):
        configured_seconds()


def test_the_retry_setting_defaults_to_thirty_seconds(monkeypatch) -> None:
    monkeypatch.delenv(ENV_RETRY)

    assert configured_seconds() == 30


# ---- PostgreSQL: the server ends the session -------------------------------------------------------


def _end_sessions(postgres_server, url: str) -> None:
    """What a restart or `pg_terminate_backend` does to psflow's sessions (SQLSTATE 57P01)."""
    database = url.rsplit("/", 1)[1]
    ended = postgres_server.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    )
    assert ended, "psflow had no session to end"


def test_a_session_the_server_ended_is_opened_again_and_the_call_goes_through(
    postgres_server, postgres_database, clock
) -> None:
    told: list[str] = []
    store = _opened(postgres_database, clock, told)
    _end_sessions(postgres_server, postgres_database)

    assert store.save_block("job-1", _record("A"))

    assert list(store.completed_blocks("job-1")) == ["A"]
    assert len(told) == 1 and "unreachable" in told[0]


def test_after_a_reconnect_writes_are_still_fenced(postgres_server, postgres_database, clock) -> None:
    store = _opened(postgres_database, clock, [])
    clock.advance(61)  # the lease ran out: another server takes the job
    other = open_store(postgres_database, clock=clock)
    job = other.get_job("job-1")
    assert job is not None and other.claim_job(job, THERE)
    other.close()
    _end_sessions(postgres_server, postgres_database)

    assert store.save_block("job-1", _record("A")) is None
    assert store.finish_attempt("job-1", 1, status=JobStatus.COMPLETED, reason=None) is False
    assert store.get_job("job-1").owner_host == "server2"


def test_a_server_that_never_answered_is_refused_at_once(postgres_server, clock) -> None:
    url = postgres_server.url("psflow_no_such_database")

    with pytest.raises(StoreError, match="does not exist"):
        open_store(url, clock=clock).list_jobs()
    assert clock.slept == []
