"""Jobs and their attempts as they change: create, claim, keep the lease, record how an attempt ended.

A runner's writes are fenced by the attempt number it claimed: they change the job
only while `attempts` is still that number and the job is Running, in the same
statement. A runner whose lease ran out and whose job someone else took writes nothing.
Reading them is psflow.store.job_lookups.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from peewee import IntegrityError, Value

from psflow.domain import ENDED_STATUSES, FINAL_STATUSES, LOST, JobStatus, Runner
from psflow.errors import NotOwned
from psflow.store.blocks import check_attempt
from psflow.store.children import await_children, wake_locked_parent_of, wake_parent_of, wake_parents
from psflow.store.job_statements import (
    RELEASE_AND_END,
    attempt_fields,
    claim_and_begin,
    claim_as_read,
    claim_from_gone_runner,
    claim_lease_ended,
    claim_unless_limited,
    end_attempt,
    fence,
    insert_attempt,
    release,
    release_with_result,
)
from psflow.store.prebuilt import Builder
from psflow.store.queries import AGAIN, Queries
from psflow.store.queues import claim_within_limit
from psflow.store.tables import DEFAULT_QUEUE
from psflow.store.views import JobView


class JobQueries(Queries):
    def _owned(self, job_id: str, number: int) -> Any:
        return fence(self.tables, job_id, number)

    def create_job(
        self,
        job_id: str,
        *,
        name: str,
        script: str,
        source: str,
        source_sha256: str,
        args: list[str],
        runner: Runner | None,
        cwd: str | None = None,
        workflow: str | None = None,
        workflow_version: int | None = None,
        env: tuple[str, ...] = (),
        sign: Callable[[JobView, str], str] | None = None,
        queue: str | None = None,
        priority: int = 0,
        parent: str | None = None,
        parent_attempt: int | None = None,
    ) -> JobView | None:
        """Insert a new job already claimed by `runner` (attempt 1 begins); None if the id is taken.
        Without a runner the job is Queued: due at once, for a worker of its `queue` (`psflow submit`,
        and `start()` in a script).

        `sign(job, source)` gives the signature stored with it (the store only keeps it);
        `parent`: the job whose start() creates it; `queue`: the workers that may take it;
        `parent_attempt`: the attempt of `parent` that creates it, which must still hold the parent, as
        for its other writes (NotOwned, nothing written, if not): its row is locked meanwhile."""
        now = self._now()
        lease = now + runner.lease_seconds if runner is not None else None
        job = JobView(
            id=job_id,
            name=name,
            script=script,
            source_sha256=source_sha256,
            args=tuple(args),
            status=JobStatus.RUNNING if runner is not None else JobStatus.QUEUED,
            reason=None,
            created_at=now,
            updated_at=now,
            owner_host=runner.host if runner is not None else None,
            owner_pid=runner.pid if runner is not None else None,
            owner_started=runner.started if runner is not None else None,
            lease_until=lease,
            attempts=1 if runner is not None else 0,
            due_at=lease if lease is not None else now,
            waits_for=None,
            waiting_since=None,
            workflow=workflow,
            workflow_version=workflow_version,
            cwd=cwd,
            env=tuple(env),
            queue=queue or DEFAULT_QUEUE,
            priority=priority,
            parent=parent,
        )
        if sign is not None:
            job = replace(job, signature=sign(job, source))
        return job if self._insert_job(job, source, parent_attempt) else None

    def _job_as_created(self, job: JobView) -> bool:
        Job = self.tables.job
        created = (Job.id == job.id) & (Job.created_at == job.created_at) & (Job.source_sha256 == job.source_sha256)
        return bool(Job.select(Job.id).where(created).exists())

    def _insert_job(self, job: JobView, source: str, parent_attempt: int | None) -> bool:
        """Insert `job`'s row with its script's source; False if the id is taken. Given `parent_attempt`,
        only while that attempt still holds `job.parent` (NotOwned otherwise), whose row it locks."""
        if self._kept().get(AGAIN) and self._job_as_created(job):
            return True  # the first try committed; only its answer was lost
        row = {column: getattr(job, column) for column in JobView.COLUMNS}
        row.update(args=json.dumps(list(job.args)), env=json.dumps(list(job.env)) if job.env else None, source=source)
        Job, parent = self.tables.job, job.parent
        try:
            with self.db.atomic():
                fenced = parent is not None and parent_attempt is not None
                if fenced and not Job.update(awaited=Job.awaited).where(self._owned(parent, parent_attempt)).execute():
                    raise NotOwned(f"job {parent} is no longer attempt {parent_attempt}'s: child {job.id} not created")
                Job.insert(row).as_rowcount().execute()
        except IntegrityError:
            return False
        return True

    def claim_job(
        self, job: JobView, runner: Runner, *, runner_gone: bool = False, source_sha256: str | None = None
    ) -> bool:
        """Take `job` for `runner`: one conditional UPDATE, rowcount 1 means it is ours.

        It must still be as it was read (status and attempt count: the new attempt's number is
        `job.attempts + 1`). A Running job can be taken once its lease ran out, or at once when
        `runner_gone` (its runner's process on this host is gone: it must still be that runner's).
        A job of a queue with a limit is taken only while fewer than that many of its jobs run
        (psflow.store.queues); False, nothing written, when it is at its limit.
        `source_sha256`: the new attempt begins in the claim's own transaction, running that source
        (as start_attempt would after it: one commit less per job).
        """
        now = self.clock.now()
        number = job.attempts + 1
        check_attempt(job.id, number)  # before anything runs: its runs could not be recorded
        if self._kept().get(AGAIN) and self._held_by(job.id, number, runner):
            return True  # the first try committed; only its answer was lost
        values = {
            "id": job.id,
            "status": job.status,
            "attempts": job.attempts,
            "queue": job.queue,
            "owner_host": job.owner_host,
            "owner_pid": job.owner_pid,
            "host": runner.host,
            "pid": runner.pid,
            "started": runner.started,
            "lease": now + runner.lease_seconds,
            "now": now,
        }

        def take(claim: Builder) -> int:
            claimed: int = self.prebuilt.run(claim, **values).rowcount
            if claimed and job.status == JobStatus.RUNNING:  # the attempt it takes over ends here, as lost
                Attempt = self.tables.attempt
                Attempt.update(
                    ended_at=now, outcome=LOST, reason=f"its runner was gone; attempt {number} took the job"
                ).where(
                    (Attempt.job == job.id) & (Attempt.number == job.attempts) & Attempt.ended_at.is_null()
                ).execute()
            if claimed and source_sha256 is not None:
                self._insert_attempt(job.id, number, runner, source_sha256, now)
            return claimed

        if job.status != JobStatus.RUNNING:  # one more Running job in its queue: unless it has a limit
            if source_sha256 is not None and getattr(self.db, "data_modifying_with", False):
                begun = {"job": job.id, "number": number, "source_sha256": source_sha256, "started_at": now}
                claimed = self.prebuilt.run(claim_and_begin, **values, **begun).rowcount
            else:
                with self.db.atomic():
                    claimed = take(claim_unless_limited)
            if not claimed:  # taken by another runner, or its queue has a limit: count first
                claimed = claim_within_limit(self, job.queue, lambda: take(claim_as_read))
            return claimed == 1
        with self.db.atomic():
            return take(claim_from_gone_runner if runner_gone else claim_lease_ended) == 1

    def _held_by(self, job_id: str, number: int, runner: Runner) -> bool:
        """Does `runner` (this very process) hold the job in attempt `number`?"""
        Job = self.tables.job
        held = (
            (Job.id == job_id)
            & (Job.attempts == number)
            & (Job.status == JobStatus.RUNNING)
            & (Job.owner_host == runner.host)
            & (Job.owner_pid == runner.pid)
            & (Job.owner_started == runner.started)
        )
        return bool(Job.select(Job.id).where(held).exists())

    def update_source(self, job_id: str, number: int, source: str, source_sha256: str, *, signature: str) -> bool:
        """Keep the job's snapshot of its script current (a server without the file runs it), signed anew; fenced."""
        Job = self.tables.job
        return (
            Job.update(source=source, source_sha256=source_sha256, signature=signature)
            .where(self._owned(job_id, number))
            .execute()
            == 1
        )

    def move_to_version(
        self, job_id: str, number: int, *, version: int, script: str, source: str, source_sha256: str, signature: str
    ) -> bool:
        """Record that the job now runs version `version` of its workflow (`script` names it), signed anew; fenced."""
        Job = self.tables.job
        return (
            Job.update(
                workflow_version=version,
                script=script,
                source=source,
                source_sha256=source_sha256,
                signature=signature,
            )
            .where(self._owned(job_id, number))
            .execute()
            == 1
        )

    def sign_job(self, job: JobView, signature: str, *, cwd: str) -> bool:
        """Store an admin's signature of `job` as read (`psflow key sign`); False, nothing written, if it
        changed meanwhile. `cwd` fills in the folder of a job from before psflow kept it."""
        Job = self.tables.job
        unchanged = (Job.id == job.id) & (Job.attempts == job.attempts) & (Job.status == job.status)
        return Job.update(signature=signature, cwd=cwd).where(unchanged).execute() == 1

    def renew_lease(self, job_id: str, number: int, lease_seconds: float) -> bool:
        """Push the lease of attempt `number` forward; False if the job is no longer that attempt's."""
        Job = self.tables.job
        lease = self.clock.now() + lease_seconds
        return Job.update(lease_until=lease, due_at=lease).where(self._owned(job_id, number)).execute() == 1

    def set_live_output(self, job_id: str, number: int, text: str) -> bool:
        """The running attempt's latest output (for `psflow logs --follow`); fenced."""
        Job = self.tables.job
        return Job.update(live_output=text).where(self._owned(job_id, number)).execute() == 1

    def fail_orphan(self, job_id: str, host: str, pid: int, reason: str) -> bool:
        """Mark a job Failed whose runner process (host, pid) died; False if it is no longer that runner's."""
        Job, Attempt = self.tables.job, self.tables.attempt
        now = self.clock.now()
        with self.db.atomic():
            failed = (
                Job.update(
                    status=JobStatus.FAILED,
                    reason=reason,
                    lease_until=None,
                    due_at=now,
                    updated_at=now,
                    live_output=None,
                )
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
                wake_parents(self, [job_id])
        return failed == 1

    # ---- attempts ---------------------------------------------------------

    def start_attempt(self, job_id: str, number: int, runner: Runner, *, source_sha256: str) -> bool:
        """Record that attempt `number` began (only while it owns the job)."""
        Attempt, Job = self.tables.attempt, self.tables.job
        if self._kept().get(AGAIN) and self._attempt_row(job_id, number, runner.host, runner.pid):
            return True  # the first try committed; only its answer was lost
        values = Job.select(
            Value(job_id),
            Value(number),
            Value(runner.host),
            Value(runner.pid),
            Value(source_sha256),
            Value(self.clock.now()),
        ).where(self._owned(job_id, number))
        return Attempt.insert_from(values, attempt_fields(self.tables)).as_rowcount().execute() == 1

    def _attempt_row(self, job_id: str, number: int, host: str, pid: int) -> bool:
        """Is attempt `number`'s row there, begun by (host, pid)?"""
        Attempt = self.tables.attempt
        row = (Attempt.job == job_id) & (Attempt.number == number) & (Attempt.host == host) & (Attempt.pid == pid)
        return bool(Attempt.select(Attempt.id).where(row).exists())

    def _insert_attempt(self, job_id: str, number: int, runner: Runner, source_sha256: str, now: float) -> None:
        """Attempt `number`'s row, in the transaction that claimed the job for it."""
        self.prebuilt.run(
            insert_attempt,
            job=job_id,
            number=number,
            host=runner.host,
            pid=runner.pid,
            source_sha256=source_sha256,
            started_at=now,
        )

    def finish_attempt(
        self,
        job_id: str,
        number: int,
        *,
        status: str,
        reason: str | None,
        due_at: float | None = None,
        waits_for: str | None = None,
        output: str | None = None,
        error: str | None = None,
        awaits: tuple[str, ...] = (),
        result: str | None = None,
    ) -> bool:
        """Record how attempt `number` ended and release the job, in one transaction; False, nothing
        written, if the attempt no longer owns the job.

        The job is due again at `due_at` (a timer, or a wait_for's timeout), or when input
        `waits_for` arrives, or — with neither — at once; never when `status` is final.
        `awaits`: the child jobs it now waits for (wait_jobs): due when the last of them ends;
        `result`: codec text of the `job.result` it set (None: it set none, the stored one stays).
        A job that ends (psflow.domain.ENDED_STATUSES) wakes its parent if that waited for it last.
        """
        now = self._now()
        if self._kept().get(AGAIN) and self._ended_at(job_id, number, now, status):
            return True  # the first try committed; only its answer was lost
        if status in FINAL_STATUSES:
            due_at = None
        elif due_at is None and waits_for is None:
            due_at = now
        values = {"id": job_id, "number": number, "status": status, "reason": reason, "now": now, "due_at": due_at}
        values.update(waits_for=waits_for, waiting_since=now if waits_for else None, result=result)
        values.update(output=output, error=error)
        with self.db.atomic():
            if not awaits and getattr(self.db, "data_modifying_with", False):  # one statement (PostgreSQL)
                statement = RELEASE_AND_END[(result is not None, status in ENDED_STATUSES)]
                released, locked = self.prebuilt.run(statement, **values).fetchone()
                if locked:
                    wake_locked_parent_of(self, job_id)
                return bool(released == 1)
            released = self.prebuilt.run(release if result is None else release_with_result, **values).rowcount
            if released:
                self.prebuilt.run(end_attempt, **values)
                if awaits:
                    await_children(self, job_id, awaits)
                if status in ENDED_STATUSES:
                    wake_parent_of(self, job_id)
        return bool(released == 1)

    def _ended_at(self, job_id: str, number: int, now: float, status: str) -> bool:
        """Did attempt `number` end at `now` with `status`?"""
        Attempt = self.tables.attempt
        ended = (Attempt.job == job_id) & (Attempt.number == number) & (Attempt.ended_at == now)
        return bool(Attempt.select(Attempt.id).where(ended & (Attempt.outcome == status)).exists())
