"""`job`: what a script can know about the job it runs as."""

from __future__ import annotations

import os
from typing import Any

from psflow.domain import JobStatus
from psflow.script import recorder


class _Job:
    """`job.id`, `job.attempt`, `job.status` of the running job (None/0 outside psflow), and
    `job.result`, what the job gives back: its parent's `wait_jobs`, `psflow job` and the API show it."""

    @property
    def id(self) -> str | None:
        return recorder.current.job_id if recorder.current is not None else os.environ.get("PSFLOW_JOB_ID")

    @property
    def attempt(self) -> int:
        return recorder.current.number if recorder.current is not None else 0

    @property
    def status(self) -> str | None:
        return JobStatus.RUNNING if recorder.current is not None else None

    @property
    def result(self) -> Any:
        if recorder.current is not None:
            return recorder.current.result()
        return self.__dict__.get("_result")

    @result.setter
    def result(self, value: Any) -> None:
        """Stored with the job at once (any value psflow's codec saves); set again, the last value counts."""
        if recorder.current is not None:
            recorder.current.set_result(value)
        else:
            self.__dict__["_result"] = value

    def __repr__(self) -> str:
        return f"<psflow job id={self.id!r} attempt={self.attempt}>"


job = _Job()
