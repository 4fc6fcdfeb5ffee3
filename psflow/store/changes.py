"""Changing what happens to jobs: rerun blocks, move a job to a status, delete jobs.

Each change is one transaction, conditional on the job being as it was read
(status and attempt count): a job that moved on meanwhile is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peewee import chunked, fn

from psflow.domain import ENDED_STATUSES, JobStatus, RunStatus, is_final
from psflow.store.children import awaiting_parents, wake_parents
from psflow.store.queries import AGAIN, Queries
from psflow.store.views import JobView


class _JobChanged(Exception):
    """A job changed between reading it and changing it: the change is rolled back."""

    def __init__(self, job: JobView) -> None:
        super().__init__(job.id)
        self.job = job


class ChangeQueries(Queries):
    def mark_rerun(
        self,
        job: JobView,
        runs: list[int],
        *,
        changes: dict[str, Any],
        check_lease: bool = True,
        end_attempts: str | None = None,
    ) -> bool:
        """Set the job's Completed runs with ids `runs` to Rerun (replay skips them; history keeps them)
        and apply `changes` to the job, in one transaction (with `end_attempts`, unfinished attempts
        end with that outcome). False, nothing written, if the job changed since `job` was read."""
        Block, Attempt = self.tables.block, self.tables.attempt
        now = self._now()
        if self._kept().get(AGAIN) and self._changed_at([job.id], now):
            return True  # the first try committed; only its answer was lost
        try:
            with self.db.atomic():
                self._update_if_unchanged(job, changes, now=now, check_lease=check_lease)
                if end_attempts is not None:
                    Attempt.update(ended_at=now, outcome=end_attempts, reason=changes.get("reason")).where(
                        (Attempt.job == job.id) & Attempt.ended_at.is_null()
                    ).execute()
                statements: dict[int, tuple[str, list[Any]]] = {}  # by chunk size: built once, not per chunk
                for chunk in chunked(runs, 200):  # each run found by its key, (job, id)
                    if len(chunk) not in statements:
                        query = Block.update(status=RunStatus.RERUN).where(
                            (Block.job == job.id) & (Block.status == RunStatus.COMPLETED) & Block.id.in_(chunk)
                        )
                        sql, params = self.db.get_sql_context().sql(query).query()
                        statements[len(chunk)] = sql, params[: -len(chunk)]  # the ids are the last parameters
                    sql, fixed = statements[len(chunk)]
                    self.db.execute_sql(sql, [*fixed, *chunk])
        except _JobChanged:
            return False
        return True

    def set_status(
        self, job: JobView, *, status: str, reason: str | None, end_attempts: bool = False, check_lease: bool = True
    ) -> bool:
        """Move `job` to `status` in one transaction (with `end_attempts`, unfinished attempts end so too).
        False, nothing written, if the job changed since it was read (or, with `check_lease`, a Running
        one holds its lease: without it, the caller knows its runner is gone)."""
        Attempt = self.tables.attempt
        now = self._now()
        if self._kept().get(AGAIN) and self._changed_at([job.id], now):
            return True  # the first try committed; only its answer was lost
        changes = {
            "status": status,
            "reason": reason,
            "lease_until": None,
            "due_at": None if is_final(status) else now,
            "waits_for": None,
            "waiting_since": None,
        }
        try:
            with self.db.atomic():
                self._update_if_unchanged(job, changes, now=now, check_lease=check_lease)
                if end_attempts:
                    Attempt.update(ended_at=now, outcome=status, reason=reason).where(
                        (Attempt.job == job.id) & Attempt.ended_at.is_null()
                    ).execute()
                if status in ENDED_STATUSES:
                    wake_parents(self, [job.id])
        except _JobChanged:
            return False
        return True

    def delete_jobs(
        self, jobs: list[JobView], *, force: bool = False, unread: Sequence[str] = ()
    ) -> dict[str, int] | JobView:
        """Delete `jobs` with their attempts, block runs and inputs in one transaction; how many rows
        of each. If one changed since it was read (or, unless `force`, is Running with its lease
        held), nothing is deleted and that job is returned. `unread`: ids of jobs whose rows could not
        be read (EditedRow), deleted as they are, in the same transaction."""
        ids = [job.id for job in jobs] + list(unread)
        kept = self._kept()
        if kept.get(AGAIN) and "deleted" in kept and not self._any_of(ids):
            return dict(kept["deleted"])  # the first try committed; only its answer was lost
        try:
            with self.db.atomic():
                for job in jobs:
                    self._update_if_unchanged(job, {}, check_lease=not force)  # also locks the row
                parents = awaiting_parents(self, ids)
                counts = kept["deleted"] = self._delete_ids(ids)
                wake_parents(self, ids, parents)  # a removed child has ended for its parent
                return counts
        except _JobChanged as changed:
            return changed.job

    def prunable_jobs(self, statuses: list[str], updated_before: float) -> list[JobView]:
        """Jobs in `statuses` last updated before `updated_before`, oldest first."""
        Job = self.tables.job
        columns = [getattr(Job, column) for column in JobView.COLUMNS]
        condition = Job.status.in_(statuses) & (Job.updated_at < updated_before)
        query = Job.select(*columns).where(condition).order_by(Job.updated_at, Job.id).tuples()
        return [JobView.from_row(row) for row in self.db.execute(query)]

    def prune_jobs(
        self, statuses: list[str], updated_before: float, *, limit: int, after: str = ""
    ) -> tuple[list[str], dict[str, int], str | None]:
        """Look at the next `limit` jobs by id after id `after`, and delete those in `statuses` last updated
        before `updated_before`, with their history, in one short transaction: (their ids in order, rows
        deleted per table, the id to go on after; None once there is no job left to look at).

        Called again from where it stopped until that is None, it prunes every such job without ever
        holding the write lock for long, and each call reads only its own stretch of the primary key
        (choosing by status first would sort every remaining match on each call). Any change to a job
        moves its `updated_at` on, so a job resumed meanwhile no longer matches."""
        Job, kept = self.tables.job, self._kept()
        if kept.get(AGAIN) and "pruned" in kept and not self._any_of(kept["pruned"][0]):
            return kept["pruned"]  # the first try committed; only its answer was lost
        stretch = Job.select(Job.id, Job.status, Job.updated_at).where(Job.id > after).order_by(Job.id).limit(limit)
        rows = list(stretch.tuples())
        if not rows:
            return [], dict.fromkeys(("jobs", "attempts", "blocks", "inputs"), 0), None
        candidates = [job_id for job_id, status, updated in rows if status in statuses and updated < updated_before]
        condition = Job.status.in_(statuses) & (Job.updated_at < updated_before)
        with self.db.atomic():
            for chunk in chunked(candidates, 200):  # lock them first (the write lock on SQLite, rows elsewhere)
                Job.update(updated_at=Job.updated_at).where(Job.id.in_(chunk) & condition).execute()
            ids = sorted(
                job_id
                for chunk in chunked(candidates, 200)
                for (job_id,) in Job.select(Job.id).where(Job.id.in_(chunk) & condition).tuples()
            )
            # Jobs that had not ended (`--status Waiting`, say): a parent may wait for one of them.
            ended = set(statuses) <= set(ENDED_STATUSES)
            parents = [] if ended else awaiting_parents(self, ids)
            counts = self._delete_ids(ids, condition)
            wake_parents(self, ids, parents)
            kept["pruned"] = (ids, counts, rows[-1][0])
        return ids, counts, rows[-1][0]

    def count_jobs(self, statuses: list[str] | None = None, *, updated_before: float | None = None) -> int:
        """How many jobs are in `statuses` (all if none), last updated before `updated_before` if given."""
        Job = self.tables.job
        condition = Job.id.is_null(False)
        if statuses:
            condition &= Job.status.in_(statuses)
        if updated_before is not None:
            condition &= Job.updated_at < updated_before
        return Job.select(fn.COUNT(Job.id)).where(condition).scalar()

    def _update_if_unchanged(
        self, job: JobView, changes: dict[str, Any], *, now: float | None = None, check_lease: bool = True
    ) -> None:
        """Apply `changes` (and a new updated_at) to `job` if its status and attempt count are still
        what was read, and a Running job's lease ran out (if `check_lease`); else raise
        _JobChanged, which rolls the enclosing transaction back."""
        Job = self.tables.job
        now = self.clock.now() if now is None else now
        condition = (Job.id == job.id) & (Job.status == job.status) & (Job.attempts == job.attempts)
        if job.status == JobStatus.RUNNING and check_lease:
            condition &= Job.lease_until.is_null() | (Job.lease_until < now)
        if Job.update(updated_at=now, **changes).where(condition).execute() != 1:
            raise _JobChanged(job)

    def _any_of(self, ids: list[str]) -> bool:
        Job = self.tables.job
        return any(Job.select(Job.id).where(Job.id.in_(chunk)).exists() for chunk in chunked(ids, 200))

    def _delete_ids(self, ids: list[str], condition: Any = None) -> dict[str, int]:
        """Delete the jobs `ids` (that still match `condition`) and all their rows; counts per table.
        Children first: it does not rely on ON DELETE CASCADE, which older tables may lack."""
        tables = self.tables
        counts = dict.fromkeys(("jobs", "attempts", "blocks", "inputs"), 0)
        for chunk in chunked(ids, 200):
            counts["inputs"] += tables.signal.delete().where(tables.signal.job.in_(chunk)).execute()
            counts["blocks"] += tables.block.delete().where(tables.block.job.in_(chunk)).execute()
            counts["attempts"] += tables.attempt.delete().where(tables.attempt.job.in_(chunk)).execute()
            jobs = tables.job.id.in_(chunk) if condition is None else tables.job.id.in_(chunk) & condition
            counts["jobs"] += tables.job.delete().where(jobs).execute()
        return counts
