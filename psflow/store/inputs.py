"""Inputs sent to jobs (`psflow send`), read by `wait_for`."""

from __future__ import annotations

from peewee import chunked

from psflow.domain import FINAL_STATUSES, JobStatus
from psflow.store.queries import AGAIN, Queries
from psflow.store.views import INPUT_KINDS, InputView, check_rows

#: Rows per INSERT and jobs per UPDATE: SQL Server takes at most 2100 parameters in one statement.
_ROWS_PER_INSERT, _JOBS_PER_UPDATE = 100, 200


class InputQueries(Queries):
    def add_inputs(self, job_ids: list[str], inputs: dict[str, str], *, host: str, user: str) -> float:
        """Store `inputs` ({name: codec text}) for every job in `job_ids`, and make each job that waits
        for one of them due at once: one transaction. The time."""
        Job, Signal = self.tables.job, self.tables.signal
        now = self._now()
        if self._kept().get(AGAIN) and job_ids and inputs:
            sent = (Signal.job == job_ids[0]) & (Signal.name == next(iter(inputs))) & (Signal.created_at == now)
            if Signal.select(Signal.id).where(sent).exists():
                return now  # the first try committed; only its answer was lost
        rows = [
            {"job": job_id, "name": name, "value": value, "host": host, "user": user, "created_at": now}
            for job_id in job_ids
            for name, value in inputs.items()
        ]
        with self.db.atomic():
            for chunk in chunked(rows, _ROWS_PER_INSERT):
                Signal.insert_many(chunk).as_rowcount().execute()  # no ids wanted
            for ids in chunked(job_ids, _JOBS_PER_UPDATE):
                Job.update(due_at=now, updated_at=now).where(
                    Job.id.in_(ids)
                    & Job.waits_for.in_(list(inputs))
                    & Job.status.not_in(FINAL_STATUSES)
                    & (Job.status != JobStatus.RUNNING)
                ).execute()
        return now

    def latest_inputs(self, job_id: str) -> dict[str, str]:
        """The job's received inputs, {name: codec text}; the last one sent wins. One query."""
        Signal = self.tables.signal
        return dict(Signal.select(Signal.name, Signal.value).where(Signal.job == job_id).order_by(Signal.id).tuples())

    def inputs(self, job_id: str) -> list[InputView]:
        """Every input sent to the job, in the order it arrived."""
        Signal = self.tables.signal
        query = Signal.select(Signal.name, Signal.value, Signal.host, Signal.user, Signal.created_at)
        rows = list(query.where(Signal.job == job_id).order_by(Signal.id).tuples())
        check_rows(f"job {job_id}", "an input", InputView.COLUMNS, INPUT_KINDS, rows)
        return [InputView(*row) for row in rows]
