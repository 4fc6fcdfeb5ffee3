"""Reading jobs and their attempts: by id, the due ones, what `psflow status` asks; nothing here writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from peewee import fn

from psflow.domain import FINAL_STATUSES, JobStatus
from psflow.errors import AmbiguousJob, EditedRow, UnknownJob
from psflow.store.prebuilt import slot
from psflow.store.queries import Queries
from psflow.store.views import ATTEMPT_KINDS, AttemptView, JobView, check_rows, edited_value

if TYPE_CHECKING:
    from peewee import Query

    from psflow.store.tables import Tables


class JobLookups(Queries):
    def _job_columns(self) -> list[Any]:
        return job_columns(self.tables)

    def get_job(self, job_id: str) -> JobView | None:
        rows = self.prebuilt.run(_job_by_id, id=job_id).fetchall()  # one at most: by primary key
        return JobView.from_row(rows[0]) if rows else None

    def job_and_source(self, job_id: str) -> tuple[JobView, str] | None:
        """The job and the snapshot of its script (job_source), in one query: what a worker checks first."""
        rows = self.prebuilt.run(_job_and_source_by_id, id=job_id).fetchall()
        if not rows:
            return None
        job, source = JobView.from_row(rows[0][:-1]), rows[0][-1] or ""
        if type(source) is not str:
            raise edited_value(job.id, "source", source)
        return job, source

    def find_job(self, id_or_prefix: str) -> JobView:
        """The job with this id, or the only job whose id starts with it."""
        exact = self.get_job(id_or_prefix)
        if exact is not None:
            return exact
        Job = self.tables.job
        # LIKE is case-insensitive on some backends: keep only true prefixes.
        found = Job.select(Job.id).where(Job.id.startswith(id_or_prefix)).limit(50).tuples() if id_or_prefix else []
        matches = [job_id for (job_id,) in found if job_id.startswith(id_or_prefix)]
        if not matches:
            raise UnknownJob(f"no job with id {id_or_prefix!r}: `psflow jobs` lists them")
        if len(matches) > 1:
            raise AmbiguousJob(
                f"job id prefix {id_or_prefix!r} is ambiguous ({matches[0]}, {matches[1]}, …): give more characters"
            )
        found_job = self.get_job(matches[0])
        if found_job is None:  # deleted a moment ago
            raise UnknownJob(f"no job with id {id_or_prefix!r}: `psflow jobs` lists them")
        return found_job

    def job_source(self, job_id: str) -> str | None:
        """The snapshot of the script the job last ran (a server without the file runs it)."""
        Job = self.tables.job
        return Job.select(Job.source).where(Job.id == job_id).scalar()

    def list_jobs(
        self,
        statuses: list[str] | None = None,
        limit: int | None = None,
        *,
        order: str = "newest",
        edited: Edited | None = None,
    ) -> list[JobView]:
        """Jobs by last update: newest first (for people) or oldest first (for fair resuming).
        `edited`: see _views."""
        Job = self.tables.job
        updated = Job.updated_at.desc() if order == "newest" else Job.updated_at.asc()
        query = Job.select(*self._job_columns()).order_by(updated, Job.id)
        if statuses:
            query = query.where(Job.status.in_(statuses))
        if limit is not None:
            query = query.limit(limit)
        return _views(self.db.execute(query), edited)

    def due_jobs(
        self,
        statuses: list[str],
        *,
        limit: int | None = None,
        queues: list[str] | None = None,
        skip_queues: list[str] | None = None,
        edited: Edited | None = None,
    ) -> list[JobView]:
        """Jobs in `statuses` (and `queues`, if given; not in `skip_queues` unless Running) that may be taken now
        (psflow.domain.is_due): higher priority first, then longest due first; one indexed query.
        `edited`: see _views."""
        Job = self.tables.job
        condition = Job.status.in_(statuses) & (Job.due_at <= self.clock.now())
        if queues:
            condition &= Job.queue.in_(queues)
        if skip_queues:  # full queues: a Running job taken over adds nothing to its queue's count
            condition &= Job.queue.not_in(skip_queues) | (Job.status == JobStatus.RUNNING)
        query = Job.select(*self._job_columns()).where(condition).order_by(Job.priority.desc(), Job.due_at, Job.id)
        if limit is not None:
            query = query.limit(limit)
        return _views(self.db.execute(query), edited)

    def running_on(self, host: str, *, edited: Edited | None = None) -> list[JobView]:
        """Running jobs whose runner is on `host` (to tell at once which of them lost their process)."""
        Job = self.tables.job
        query = Job.select(*self._job_columns()).where((Job.status == JobStatus.RUNNING) & (Job.owner_host == host))
        return _views(self.db.execute(query), edited)

    def live_output(self, job_id: str) -> str | None:
        Job = self.tables.job
        return Job.select(Job.live_output).where(Job.id == job_id).scalar()

    def attempts(self, job_id: str, *, with_output: bool = True) -> list[AttemptView]:
        """The job's attempts in order; without what each printed after its last block unless asked
        for (`output` None then: it can be large, and only `logs` shows it)."""
        Attempt = self.tables.attempt
        names = [column for column in AttemptView.COLUMNS if with_output or column != "output"]
        query = Attempt.select(*(getattr(Attempt, name) for name in names)).where(Attempt.job == job_id)
        rows = list(query.order_by(Attempt.number).tuples())
        check_rows(f"job {job_id}", "an attempt", tuple(names), ATTEMPT_KINDS, rows)
        return [AttemptView(**{"output": None, **dict(zip(names, row, strict=True))}) for row in rows]

    def jobs_matching(
        self,
        *,
        statuses: list[str] | None = None,
        waiting_for_input: bool = False,
        due_between: tuple[float, float] | None = None,
        lease_before: float | None = None,
        updated_after: float | None = None,
        limit: int = 100,
    ) -> list[JobView]:
        """Jobs for `psflow status`: in `statuses`, and/or waiting for an input, due in a time window,
        Running with a lease that ended before a time, or updated after a time; soonest due first."""
        Job = self.tables.job
        condition = Job.id.is_null(False)
        if statuses:
            condition &= Job.status.in_(statuses)
        if waiting_for_input:
            condition &= Job.waits_for.is_null(False) & Job.status.not_in([*FINAL_STATUSES, JobStatus.RUNNING])
        if due_between is not None:
            condition &= (Job.due_at > due_between[0]) & (Job.due_at <= due_between[1])
        if lease_before is not None:
            condition &= (Job.status == JobStatus.RUNNING) & (Job.lease_until < lease_before)
        if updated_after is not None:
            condition &= Job.updated_at > updated_after
        query = Job.select(*self._job_columns()).where(condition).order_by(Job.due_at, Job.id).limit(limit)
        return _views(self.db.execute(query), None)

    def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status."""
        Job = self.tables.job
        return dict(Job.select(Job.status, fn.COUNT(Job.id)).group_by(Job.status).tuples())


def job_columns(tables: Tables) -> list[Any]:
    """The job table's columns a JobView is made of, in its order."""
    return [getattr(tables.job, column) for column in JobView.COLUMNS]


def _job_by_id(tables: Tables) -> Query:
    return tables.job.select(*job_columns(tables)).where(tables.job.id == slot("id"))


def _job_and_source_by_id(tables: Tables) -> Query:
    return tables.job.select(*job_columns(tables), tables.job.source).where(tables.job.id == slot("id"))


Edited = Callable[[EditedRow], None]


def _views(rows: Iterable[tuple[Any, ...]], edited: Edited | None) -> list[JobView]:
    """The views of the driver's rows as they come (peewee's conversions would hide an edit: 1.5 read
    as 1, for one). A row a hand edit made unreadable is told to `edited` and passed over: a worker
    goes on with the other jobs. Without `edited`, its EditedRow ends the read."""
    views = []
    for row in rows:
        try:
            views.append(JobView.from_row(row))
        except EditedRow as error:
            if edited is None:
                raise
            edited(error)
    return views
