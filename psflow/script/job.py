"""`job`: what a script can know about the job it runs as."""

from __future__ import annotations

import os

from psflow.domain import JobStatus
from psflow.script import recorder


class _Job:
    """`job.id`, `job.attempt`, `job.status` of the running job (None/0 outside psflow)."""

    @property
    def id(self) -> str | None:
        return recorder.current.job_id if recorder.current is not None else os.environ.get("PSFLOW_JOB_ID")

    @property
    def attempt(self) -> int:
        return recorder.current.number if recorder.current is not None else 0

    @property
    def status(self) -> str | None:
        return JobStatus.RUNNING if recorder.current is not None else None

    def __repr__(self) -> str:
        return f"<psflow job id={self.id!r} attempt={self.attempt}>"


job = _Job()
