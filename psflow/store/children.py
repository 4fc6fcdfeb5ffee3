"""Child jobs: what a parent's `start()` and `wait_jobs()` need, and the wake-up of a waiting parent.

A parent that waits (wait_jobs) is Waiting with `waits_for` WAITS_FOR_CHILDREN and its
children marked `awaited`. It becomes due in the same transaction that ends its last
awaited child: every transaction that ends a job (an attempt's end, cancel, a dead runner's
job failed, `psflow rm`) calls `_wake_parents`. That first locks the parent's row (a no-op
UPDATE), so the ends of two children of one parent are serialized, and only then asks, in a
new statement (a new snapshot under READ COMMITTED), whether an awaited child has not ended.
The parent's own wait does the same check after it marks its children, in its transaction:
whichever commits last sees the other's write, so a parent never sleeps forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peewee import JOIN, Case, chunked, fn

from psflow.domain import ENDED_STATUSES, FINAL_STATUSES, WAITS_FOR_CHILDREN, JobStatus
from psflow.store.prebuilt import slot
from psflow.store.queries import AGAIN, Queries
from psflow.store.tables import unended

if TYPE_CHECKING:
    from peewee import Select, Update

    from psflow.store.tables import Tables

_CHUNK = 200  # ids per IN list (MS SQL Server takes at most 2,100 parameters)


@dataclass(frozen=True, slots=True)
class ChildView:
    """A child job as its parent (wait_jobs) and `psflow job` see it: `result` is codec text;
    `error` the traceback of its last attempt's uncaught exception, if any."""

    id: str
    name: str
    script: str
    args: tuple[str, ...]
    status: str
    reason: str | None
    result: str | None
    error: str | None
    parent: str | None
    awaited: bool
    workflow: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES


class ChildQueries(Queries):
    def children(self, parent: str) -> list[ChildView]:
        """The jobs `parent` started, in the order they were created."""
        return self.children_of([parent])

    def children_of(self, parents: Sequence[str]) -> list[ChildView]:
        """The jobs any of `parents` started, in the order they were created."""
        Job = self.tables.job
        found: list[ChildView] = []
        for chunk in chunked(list(dict.fromkeys(parents)), _CHUNK):
            found += self._child_views(Job.parent.in_(chunk), order=(Job.created_at, Job.id))
        return found

    def child_jobs(self, job_ids: Sequence[str]) -> dict[str, ChildView]:
        """The jobs `job_ids` that exist, by id (a removed one is missing)."""
        Job = self.tables.job
        found: dict[str, ChildView] = {}
        for chunk in chunked(list(dict.fromkeys(job_ids)), _CHUNK):
            found.update((child.id, child) for child in self._child_views(Job.id.in_(chunk)))
        return found

    def _child_views(self, condition: Any, order: tuple[Any, ...] = ()) -> list[ChildView]:
        import json

        Job, Attempt = self.tables.job, self.tables.attempt
        last = (Attempt.job == Job.id) & (Attempt.number == Job.attempts)
        query = (
            Job.select(
                Job.id,
                Job.name,
                Job.script,
                Job.args,
                Job.status,
                Job.reason,
                Job.result,
                Attempt.error,
                Job.parent,
                Job.awaited,
                Job.workflow,
            )
            .join(Attempt, JOIN.LEFT_OUTER, on=last)
            .where(condition)
        )
        if order:
            query = query.order_by(*order)
        return [
            ChildView(
                id=row[0],
                name=row[1],
                script=row[2],
                args=tuple(json.loads(row[3])),
                status=row[4],
                reason=row[5],
                result=row[6],
                error=row[7],
                parent=row[8],
                awaited=bool(row[9]),
                workflow=row[10],
            )
            for row in query.tuples()
        ]

    def awaited_counts(self, parents: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Per parent: (awaited children not ended, awaited children), for "waiting for 3 of 8 child jobs"."""
        Job = self.tables.job
        open_ = fn.SUM(Case(None, ((Job.status.not_in(list(ENDED_STATUSES)), 1),), 0))
        counts: dict[str, tuple[int, int]] = {}
        for chunk in chunked(list(dict.fromkeys(parents)), _CHUNK):
            query = (
                Job.select(Job.parent, open_, fn.COUNT(Job.id))
                .where(Job.parent.in_(chunk) & (Job.awaited == True))  # noqa: E712 (SQL, not Python)
                .group_by(Job.parent)
            )
            counts.update((parent, (int(left or 0), int(total))) for parent, left, total in query.tuples())
        return counts

    def job_result(self, job_id: str) -> str | None:
        """The job's `job.result` (codec text), or None."""
        Job = self.tables.job
        return Job.select(Job.result).where(Job.id == job_id).scalar()

    def cancel_children(self, parents: Sequence[str], reason: str) -> list[str]:
        """Cancel the children of `parents` that have not ended (Running ones too: their runner's next
        fenced write fails, and it stops), in one transaction; their ids."""
        Job, Attempt = self.tables.job, self.tables.attempt
        now, kept = self._now(), self._kept()
        if kept.get(AGAIN) and "cancelled" in kept and self._changed_at(kept["cancelled"], now):
            return list(kept["cancelled"])  # the first try committed; only its answer was lost
        unended = Job.status.not_in(list(ENDED_STATUSES))
        ids: list[str] = []
        with self.db.atomic():
            for chunk in chunked(list(dict.fromkeys(parents)), _CHUNK):
                ids += [job_id for (job_id,) in Job.select(Job.id).where(Job.parent.in_(chunk) & unended).tuples()]
            for chunk in chunked(ids, _CHUNK):
                Job.update(
                    status=JobStatus.CANCELLED,
                    reason=reason,
                    updated_at=now,
                    lease_until=None,
                    due_at=None,
                    waits_for=None,
                    waiting_since=None,
                    live_output=None,
                ).where(Job.id.in_(chunk) & unended).execute()
                Attempt.update(ended_at=now, outcome=JobStatus.CANCELLED, reason=reason).where(
                    Attempt.job.in_(chunk) & Attempt.ended_at.is_null()
                ).execute()
            kept["cancelled"] = ids
        return ids


# ---- inside the transactions that end jobs, or make a parent wait ----------------------


def await_children(queries: Queries, parent: str, child_ids: Sequence[str]) -> None:
    """Mark exactly `child_ids` as what `parent` waits for (it has just become Waiting, its row
    locked by that update), then wake it at once if none of them is left (they ended meanwhile)."""
    Job = queries.tables.job
    Job.update(awaited=False).where((Job.parent == parent) & (Job.awaited == True)).execute()  # noqa: E712
    for chunk in chunked(list(dict.fromkeys(child_ids)), _CHUNK):
        Job.update(awaited=True).where((Job.parent == parent) & Job.id.in_(chunk)).execute()
    _wake_if_done(queries, parent)


def awaiting_parents(queries: Queries, job_ids: Sequence[str]) -> list[str]:
    """The parents that wait for one of `job_ids` (read before those jobs end or go)."""
    Job = queries.tables.job
    parents: set[str] = set()
    for chunk in chunked(list(job_ids), _CHUNK):
        query = Job.select(Job.parent).where(
            Job.id.in_(chunk) & (Job.awaited == True) & Job.parent.is_null(False)  # noqa: E712
        )
        parents.update(parent for (parent,) in query.tuples() if parent)
    return sorted(parents)


def wake_parents(queries: Queries, job_ids: Sequence[str], parents: Sequence[str] | None = None) -> None:
    """Jobs `job_ids` just ended (or went) in this transaction: wake each parent that waited for
    them and now has no awaited child left. `parents`: as read before the jobs were deleted."""
    for parent in awaiting_parents(queries, job_ids) if parents is None else parents:
        queries.prebuilt.run(_lock_parent, parent=parent)  # children's ends queue here
        _wake_if_done(queries, parent)


def wake_parent_of(queries: Queries, job_id: str) -> None:
    """wake_parents for one job that just ended (every attempt's end): two prebuilt statements, the
    parent named by a subquery, instead of reading it first."""
    if queries.prebuilt.run(lock_parent_of, id=job_id).rowcount:
        wake_locked_parent_of(queries, job_id)


def wake_locked_parent_of(queries: Queries, job_id: str) -> None:
    """The second half of wake_parent_of, for a caller whose statement locked the parent already."""
    queries.prebuilt.run(wake_parent_of_if_done, id=job_id, now=queries.clock.now())


def _wake_if_done(queries: Queries, parent: str) -> None:
    """Make `parent` due now if it waits for child jobs and none of those it awaits is left unended."""
    queries.prebuilt.run(_wake_parent, parent=parent, now=queries.clock.now())


# ---- prebuilt (psflow.store.prebuilt): `parent` is a slot, or the parent of the job `id` ----------


def _parent_awaiting(tables: Tables) -> Select:
    """The parent of job `id`, if that waits for it."""
    Ended = tables.job.alias("ended")
    return Ended.select(Ended.parent).where((Ended.id == slot("id")) & (Ended.awaited == True))  # noqa: E712


def _lock(tables: Tables, parent: Any) -> Update:
    """A no-op UPDATE of the parent's row: it stays locked until the transaction ends."""
    Job = tables.job
    return Job.update(awaited=Job.awaited).where(Job.id == parent)


def _wake(tables: Tables, parent: Any) -> Update:
    """The parent due now, if it waits for child jobs and none it awaits is left unended (asked in
    this statement: a new snapshot under READ COMMITTED, taken after the lock)."""
    Job = tables.job
    Child = Job.alias("child")
    left = Child.select(Child.id).where(  # one probe of psflow_job_unended_children, whose predicate it states
        (Child.parent == Job.id) & (Child.awaited == True) & unended(Child.status)  # noqa: E712
    )
    return Job.update(due_at=slot("now")).where(
        (Job.id == parent)
        & (Job.waits_for == WAITS_FOR_CHILDREN)
        & Job.status.not_in([JobStatus.RUNNING, *FINAL_STATUSES])
        & (Job.due_at.is_null() | (Job.due_at > slot("now")))
        & ~fn.EXISTS(left)
    )


def _lock_parent(tables: Tables) -> Update:
    return _lock(tables, slot("parent"))


def lock_parent_of(tables: Tables) -> Update:
    return _lock(tables, _parent_awaiting(tables))


def _wake_parent(tables: Tables) -> Update:
    return _wake(tables, slot("parent"))


def wake_parent_of_if_done(tables: Tables) -> Update:
    return _wake(tables, _parent_awaiting(tables))
