"""Jobs and their attempts: create, find, claim, keep the lease, record how an attempt ended."""

from __future__ import annotations

import json

from peewee import IntegrityError

from psflow.domain import JobStatus, Runner
from psflow.errors import AmbiguousJob, UnknownJob
from psflow.store.queries import Queries
from psflow.store.views import AttemptView, JobView


class JobQueries(Queries):
    def _job_columns(self):
        return [getattr(self.tables.job, column) for column in JobView.COLUMNS]

    def create_job(
        self,
        job_id: str,
        *,
        name: str,
        script: str,
        source: str,
        source_sha256: str,
        args: list[str],
        runner: Runner,
        workflow: str | None = None,
        workflow_version: int | None = None,
    ) -> JobView | None:
        """Insert a new job already claimed by `runner` (attempt 1 begins); None if the id is taken."""
        now = self.clock.now()
        job = JobView(
            id=job_id, name=name, script=script, source_sha256=source_sha256, args=tuple(args),
            status=JobStatus.RUNNING, reason=None, created_at=now, updated_at=now, owner_host=runner.host,
            owner_pid=runner.pid, lease_until=now + runner.lease_seconds, attempts=1, due_at=None,
            workflow=workflow, workflow_version=workflow_version,
        )
        row = {column: getattr(job, column) for column in JobView.COLUMNS}
        row.update(args=json.dumps(args), source=source)
        try:
            with self.db.atomic():
                self.tables.job.insert(row).as_rowcount().execute()
        except IntegrityError:
            return None
        return job

    def get_job(self, job_id: str) -> JobView | None:
        Job = self.tables.job
        row = Job.select(*self._job_columns()).where(Job.id == job_id).tuples().first()
        return JobView.from_row(row) if row is not None else None

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
        self, statuses: list[str] | None = None, limit: int | None = None, *, order: str = "newest"
    ) -> list[JobView]:
        """Jobs by last update: newest first (for people) or oldest first (for fair resuming)."""
        Job = self.tables.job
        updated = Job.updated_at.desc() if order == "newest" else Job.updated_at.asc()
        query = Job.select(*self._job_columns()).order_by(updated, Job.id)
        if statuses:
            query = query.where(Job.status.in_(statuses))
        if limit is not None:
            query = query.limit(limit)
        return [JobView.from_row(row) for row in query.tuples()]

    def claim_job(self, job: JobView, runner: Runner) -> bool:
        """Take `job` for `runner`: one conditional UPDATE, rowcount 1 means it is ours.

        A Running job can be taken only once its lease ran out (its runner died).
        """
        Job = self.tables.job
        now = self.clock.now()
        condition = (Job.id == job.id) & (Job.status == job.status)
        if job.status == JobStatus.RUNNING:
            condition &= Job.lease_until < now
        claimed = (
            Job.update(
                status=JobStatus.RUNNING,
                owner_host=runner.host,
                owner_pid=runner.pid,
                lease_until=now + runner.lease_seconds,
                attempts=Job.attempts + 1,
                updated_at=now,
                due_at=None,  # a timer it slept on is over; the attempt sets a new one if it sleeps again
            )
            .where(condition)
            .execute()
        )
        return claimed == 1

    def update_source(self, job_id: str, source: str, source_sha256: str) -> None:
        """Keep the job's snapshot of its script current (a server without the file runs it)."""
        Job = self.tables.job
        Job.update(source=source, source_sha256=source_sha256).where(Job.id == job_id).execute()

    def move_to_version(self, job_id: str, *, version: int, script: str) -> None:
        """Record that the job now runs version `version` of its workflow (`script` names it)."""
        Job = self.tables.job
        Job.update(workflow_version=version, script=script).where(Job.id == job_id).execute()

    def renew_lease(self, job_id: str, pid: int, lease_seconds: float) -> bool:
        """Push the lease forward; False if the job is no longer ours."""
        Job = self.tables.job
        renewed = (
            Job.update(lease_until=self.clock.now() + lease_seconds)
            .where((Job.id == job_id) & (Job.status == JobStatus.RUNNING) & (Job.owner_pid == pid))
            .execute()
        )
        return renewed == 1

    def fail_orphan(self, job_id: str, host: str, pid: int, reason: str) -> bool:
        """Mark a job Failed whose runner process (host, pid) died; False if it is no longer that runner's."""
        Job, Attempt = self.tables.job, self.tables.attempt
        now = self.clock.now()
        with self.db.atomic():
            failed = (
                Job.update(status=JobStatus.FAILED, reason=reason, lease_until=None, updated_at=now)
                .where(
                    (Job.id == job_id)
                    & (Job.status == JobStatus.RUNNING)
                    & (Job.owner_host == host)
                    & (Job.owner_pid == pid)
                )
                .execute()
            )
            if failed:
                Attempt.update(ended_at=now, outcome=JobStatus.FAILED, reason=reason).where(
                    (Attempt.job == job_id) & (Attempt.pid == pid) & (Attempt.ended_at.is_null())
                ).execute()
        return failed == 1

    # ---- attempts ---------------------------------------------------------

    def start_attempt(self, job_id: str, number: int, runner: Runner, *, source_sha256: str) -> None:
        self.tables.attempt.insert(
            job=job_id, number=number, host=runner.host, pid=runner.pid, source_sha256=source_sha256,
            started_at=self.clock.now(),
        ).as_rowcount().execute()

    def finish_attempt(
        self, job_id: str, number: int, *, status: str, reason: str | None, due_at: float | None = None
    ) -> None:
        """Record how the attempt ended and release the job, in one transaction.

        `due_at`: the job stopped on a durable timer and is not to be taken before then.
        """
        Job, Attempt = self.tables.job, self.tables.attempt
        now = self.clock.now()
        with self.db.atomic():
            Attempt.update(ended_at=now, outcome=status, reason=reason).where(
                (Attempt.job == job_id) & (Attempt.number == number)
            ).execute()
            Job.update(status=status, reason=reason, updated_at=now, lease_until=None, due_at=due_at).where(
                Job.id == job_id
            ).execute()

    def attempts(self, job_id: str) -> list[AttemptView]:
        Attempt = self.tables.attempt
        columns = [getattr(Attempt, column) for column in AttemptView.COLUMNS]
        query = Attempt.select(*columns).where(Attempt.job == job_id).order_by(Attempt.number).tuples()
        return [AttemptView(*row) for row in query]
