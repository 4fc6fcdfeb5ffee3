"""The statements every run of a job takes (claim, begin, end), prebuilt once per store (psflow.store.prebuilt).

Each is a function of the store's tables returning the query; its values come in slots.
A runner's writes carry the fence (`fence`): the job is still Running in the attempt it claimed.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from peewee import SQL, Select, fn

from psflow.domain import JobStatus
from psflow.store.children import lock_parent_of
from psflow.store.prebuilt import Prebuilt, prebuild_with, slot

if TYPE_CHECKING:
    from peewee import Insert, Update

    from psflow.store.tables import Tables


def _claimed(tables: Tables) -> Update:
    """What a claim writes: the job Running for the runner (host, pid, started) until `lease`."""
    Job = tables.job
    return Job.update(
        status=JobStatus.RUNNING,
        owner_host=slot("host"),
        owner_pid=slot("pid"),
        owner_started=slot("started"),
        lease_until=slot("lease"),
        due_at=slot("lease"),
        attempts=Job.attempts + 1,
        updated_at=slot("now"),
        waits_for=None,
        waiting_since=None,
        live_output=None,
    )


def _as_read(tables: Tables) -> Any:
    """The job is still as the claimer read it (its status and attempt count)."""
    Job = tables.job
    return (Job.id == slot("id")) & (Job.status == slot("status")) & (Job.attempts == slot("attempts"))


def claim_unless_limited(tables: Tables) -> Update:
    Queue = tables.queue
    limited = Queue.select(SQL("1")).where((Queue.name == slot("queue")) & Queue.max_running.is_null(False))
    return _claimed(tables).where(_as_read(tables) & ~fn.EXISTS(limited))


def claim_as_read(tables: Tables) -> Update:
    return _claimed(tables).where(_as_read(tables))


def claim_lease_ended(tables: Tables) -> Update:
    return _claimed(tables).where(_as_read(tables) & (tables.job.lease_until < slot("now")))


def claim_from_gone_runner(tables: Tables) -> Update:
    Job = tables.job
    return _claimed(tables).where(
        _as_read(tables) & ((Job.owner_host == slot("owner_host")) & (Job.owner_pid == slot("owner_pid")))
    )


_ATTEMPT_FIELDS = ("job", "number", "host", "pid", "source_sha256", "started_at")


def attempt_fields(tables: Tables) -> list[Any]:
    """The columns an attempt begins with, in the order of _ATTEMPT_FIELDS."""
    return [getattr(tables.attempt, field) for field in _ATTEMPT_FIELDS]


def insert_attempt(tables: Tables) -> Insert:
    return tables.attempt.insert(dict(zip(attempt_fields(tables), map(slot, _ATTEMPT_FIELDS), strict=True))).returning()


def claim_and_begin(tables: Tables) -> Prebuilt:
    """claim_unless_limited and the new attempt's row as one statement, where the backend has data-modifying
    WITH (PostgreSQL): one round trip, where a transaction of the two statements takes four."""
    claim = claim_unless_limited(tables).returning(tables.job.id)
    each_claimed = Select([claim.cte("claimed")], [slot(field) for field in _ATTEMPT_FIELDS])
    begin = tables.attempt.insert_from(each_claimed, attempt_fields(tables)).returning()
    return prebuild_with(tables.job._meta.database, [("claimed", claim)], begin)


def fence(tables: Tables, job_id: Any, number: Any) -> Any:
    """The fence: job `job_id` is still Running in attempt `number` (values, or slots)."""
    Job = tables.job
    return (Job.id == job_id) & (Job.attempts == number) & (Job.status == JobStatus.RUNNING)


def release(tables: Tables, **more: Any) -> Update:
    """How an attempt ends, on its job: the job released with its new status (fenced)."""
    return tables.job.update(
        status=slot("status"),
        reason=slot("reason"),
        updated_at=slot("now"),
        lease_until=None,
        due_at=slot("due_at"),
        waits_for=slot("waits_for"),
        waiting_since=slot("waiting_since"),
        live_output=None,
        **more,
    ).where(fence(tables, slot("id"), slot("number")))


def release_with_result(tables: Tables) -> Update:
    return release(tables, result=slot("result"))


def end_attempt(tables: Tables) -> Update:
    Attempt = tables.attempt
    return Attempt.update(
        ended_at=slot("now"), outcome=slot("status"), reason=slot("reason"), output=slot("output"), error=slot("error")
    ).where((Attempt.job == slot("id")) & (Attempt.number == slot("number")))


def release_and_end(tables: Tables, *, with_result: bool, ending: bool) -> Prebuilt:
    """Where the backend has data-modifying WITH (PostgreSQL): `release` (or `release_with_result`), the
    attempt's end and, for a job that `ending`, the lock of a parent that waits for it, as one statement:
    one round trip where the three statements took three. The attempt's end and the lock happen only if the job was
    released (the fence). Its one row: (jobs released, parents locked); the caller then asks whether
    the locked parent has an awaited child left, in a statement of its own (a new snapshot)."""
    was_released = fn.EXISTS(SQL('SELECT 1 FROM "released"'))
    parts = [("released", (release_with_result if with_result else release)(tables).returning(tables.job.id))]
    parts.append(("attempt_ended", end_attempt(tables).where(was_released)))
    if ending:
        # Not the job itself (a row edited to be its own parent): one statement must not update a row twice.
        not_itself = tables.job.id != slot("id")
        parts.append(
            ("parent_locked", lock_parent_of(tables).where(was_released & not_itself).returning(tables.job.id))
        )
    locked = '(SELECT COUNT(*) FROM "parent_locked")' if ending else "0"
    return prebuild_with(tables.job._meta.database, parts, f'SELECT (SELECT COUNT(*) FROM "released"), {locked}')


# Built once per store like any other: the builder of each of the four shapes is one object.
RELEASE_AND_END = {
    (with_result, ending): functools.partial(release_and_end, with_result=with_result, ending=ending)
    for with_result in (False, True)
    for ending in (False, True)
}
