"""Queues: each one's global limit, how loaded they are, and the claim that keeps a limit.

A queue's limit (psflow_queue.max_running) is kept at claim time, inside the claiming
transaction: the queue's row is locked (the backend's `locked`: FOR UPDATE on PostgreSQL,
WITH (UPDLOCK, HOLDLOCK) on SQL Server; on SQLite the transaction is BEGIN IMMEDIATE), its
Running jobs are counted, and the job is claimed only if fewer than the limit run. Two claims
of one limited queue therefore take turns, on every server; claims of other queues do not wait.

A job of a queue without a limit is claimed as before, by one conditional UPDATE (which also
checks that its queue has no limit now). Taking over a Running job whose runner is gone adds
nothing to the count, so it needs no check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peewee import JOIN, Case, IntegrityError, fn

from psflow.domain import FINAL_STATUSES, WORKER_STATUSES, JobStatus
from psflow.errors import EditedRow
from psflow.store.queries import Queries
from psflow.store.views import QueueView


class QueueQueries(Queries):
    def queue(self, name: str) -> QueueView | None:
        """The queue's settings (no counts), or None when it has no row (no limit)."""
        Queue = self.tables.queue
        row = Queue.select(Queue.name, Queue.max_running).where(Queue.name == name).tuples().first()
        return QueueView(*row) if row is not None else None

    def set_queue_limit(self, name: str, max_running: int | None) -> QueueView:
        """At most `max_running` jobs of queue `name` Running at once, on every server (None: no limit)."""
        Queue = self.tables.queue
        now = self.clock.now()
        try:
            with self.db.atomic():
                changed = Queue.update(max_running=max_running, updated_at=now).where(Queue.name == name).execute()
                if not changed:
                    Queue.insert(name=name, max_running=max_running, updated_at=now).as_rowcount().execute()
        except IntegrityError:  # another process made its row a moment ago: set it there
            Queue.update(max_running=max_running, updated_at=now).where(Queue.name == name).execute()
        return QueueView(name, max_running)

    def queue_loads(self) -> dict[str, tuple[int, int]]:
        """Each queue with a limit: (its limit, how many of its jobs are Running now). One query."""
        Queue, Job = self.tables.queue, self.tables.job
        running = (Job.queue == Queue.name) & (Job.status == JobStatus.RUNNING)
        query = (
            Queue.select(Queue.name, Queue.max_running, fn.COUNT(Job.id))
            .join(Job, JOIN.LEFT_OUTER, on=running)
            .where(Queue.max_running.is_null(False))
            .group_by(Queue.name, Queue.max_running)
        )
        loads = {name: (limit, count) for name, limit, count in query.tuples()}
        for name, (limit, _) in loads.items():
            if type(limit) is not int:
                raise EditedRow(
                    f"queue {name}: max_running is {limit!r:.60}, which psflow never writes there; "
                    "was the queue's row edited? (`psflow queue NAME --limit N` sets it again)"
                )
        return loads

    def queue_counts(self) -> list[QueueView]:
        """Every queue that has a row or an unfinished job, by name, with its counts (QueueView): one
        grouped query over the jobs, one over the queues' rows."""
        Queue, Job = self.tables.queue, self.tables.job
        now = self.clock.now()
        takes = Job.status.in_(WORKER_STATUSES) & (Job.status != JobStatus.RUNNING)  # waiting to run
        query = (
            Job.select(
                Job.queue,
                _count(Job.status == JobStatus.RUNNING),
                _count(takes & (Job.due_at <= now)),
                _count(takes & (Job.due_at.is_null() | (Job.due_at > now))),
                _count(Job.status.not_in(WORKER_STATUSES)),
            )
            .where(Job.status.not_in(FINAL_STATUSES))
            .group_by(Job.queue)
        )
        counts = {row[0]: tuple(int(value or 0) for value in row[1:]) for row in query.tuples()}
        limits: dict[str, int | None] = dict(Queue.select(Queue.name, Queue.max_running).tuples())
        return [
            QueueView(name, limits.get(name), *counts.get(name, (0, 0, 0, 0)))
            for name in sorted(set(counts) | set(limits))
        ]


def claim_within_limit(queries: Queries, queue: str, claim: Callable[[], int]) -> int:
    """Run `claim` (of a job of `queue`: it gives its rowcount) if the queue has a limit and fewer than
    that many of its jobs are Running, in one transaction holding the queue's row locked; its rowcount, or 0.
    A queue without a limit claims nothing here (the unlimited claim was tried first, and lost)."""
    db, Queue, Job = queries.db, queries.tables.queue, queries.tables.job
    with db.claim_transaction():  # each backend has it (psflow.store.backends)
        locked = db.locked(Queue.select(Queue.max_running).where(Queue.name == queue))
        limit = locked.scalar()
        if limit is None:
            return 0
        running = Job.select(fn.COUNT(Job.id)).where((Job.queue == queue) & (Job.status == JobStatus.RUNNING))
        if running.scalar() >= limit:
            return 0
        return claim()


def _count(condition: Any) -> Any:
    """How many rows of the group meet `condition` (COUNT skips the NULL of CASE without ELSE)."""
    return fn.COUNT(Case(None, ((condition, 1),)))
