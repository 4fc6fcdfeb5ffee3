"""The wake-up of a parent that waits for child jobs, under real concurrency (PostgreSQL, READ COMMITTED):
its last two children end at the same moment on two servers. Each end asks "is an awaited child left
unended?"; without a lock each would see the other still running and the parent would sleep forever.
The end of a child locks the parent's row first, so the second waits for the first to commit and
then sees it ended. Deterministic: the test waits until the server reports the second transaction
waiting for a lock (pg_stat_activity), then commits the first."""

from __future__ import annotations

import threading
import time

import pytest

from psflow.domain import WAITS_FOR_CHILDREN, Runner
from psflow.store import Store, open_store

pytestmark = pytest.mark.other_backends


def _job(store: Store, job_id: str, *, runner: Runner | None, parent: str | None = None) -> None:
    created = store.create_job(
        job_id,
        name=job_id,
        script=f"/srv/{job_id}.py",
        source="pass\n",
        source_sha256="0" * 64,
        args=[],
        runner=runner,
        parent=parent,
    )
    assert created is not None


def _lock_waiters(store: Store) -> int:
    cursor = store.db.execute_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return int(cursor.fetchone()[0])


def test_two_last_children_ending_at_once_wake_their_parent(db_url: str) -> None:
    if not db_url.startswith("postgres"):
        pytest.skip("PostgreSQL's READ COMMITTED is where the two ends can overlap")
    first, second, observer = open_store(db_url), open_store(db_url), open_store(db_url)
    try:
        _job(first, "p", runner=Runner("server1", 1, 600.0))
        for child in ("p.1", "p.2"):
            _job(first, child, runner=None, parent="p")
            job = first.get_job(child)
            assert job is not None and first.claim_job(job, Runner("server2", 2, 600.0))
        assert first.finish_attempt(
            "p",
            1,
            status="Waiting",
            reason="waiting for 2 of 2 child jobs",
            waits_for=WAITS_FOR_CHILDREN,
            awaits=("p.1", "p.2"),
        )
        assert first.get_job("p").due_at is None  # type: ignore[union-attr]

        ended: list[bool] = []
        with first.db.atomic():  # the first child's end, not committed yet
            assert first.finish_attempt("p.1", 1, status="Completed", reason=None)
            thread = threading.Thread(
                target=lambda: ended.append(second.finish_attempt("p.2", 1, status="Completed", reason=None))
            )
            thread.start()
            deadline = time.monotonic() + 30
            while _lock_waiters(observer) == 0:  # the second end now waits for the parent's row
                assert time.monotonic() < deadline, "the second child's end never waited for the parent's row"
                time.sleep(0.01)
        thread.join(30)

        assert ended == [True]
        parent = observer.get_job("p")
        assert parent is not None and parent.due_at is not None and parent.due_at <= observer.clock.now()
    finally:
        for store in (first, second, observer):
            store.close()
