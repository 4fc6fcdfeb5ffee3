"""What running one job gives back (RunResult), the runs that did not happen and why included."""

from __future__ import annotations

from dataclasses import dataclass

from psflow.domain import JobStatus
from psflow.errors import EXIT_COMPLETED, EditedRow
from psflow.service.due import not_due_reason, running_note
from psflow.store import JobView


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One job's run: how it ended, and what the user should be told."""

    job_id: str
    script: str
    status: str
    reason: str | None
    exit_code: int = EXIT_COMPLETED
    attempt: int
    ran: int = 0
    replayed: int = 0
    note: str | None = None
    skipped: bool = False  # nothing ran: the job was final, or another runner had it
    error: str | None = None  # nothing ran: the script does not compile now (`resume` counts it as failed)
    due: float | None = None  # it stopped on a durable timer (sleep): not to be taken before this time
    edited: bool = False  # nothing ran: its row holds what psflow never writes (EditedRow)


def edited_not_run(job_id: str, error: EditedRow) -> RunResult:
    """Nothing ran: the job's row holds what psflow never writes (edited by hand)."""
    return RunResult(
        job_id=job_id,
        script="",
        status="unknown",
        reason=None,
        exit_code=error.exit_code,
        attempt=0,
        error=str(error),
        edited=True,
    )


def not_run(job: JobView, error: str, exit_code: int) -> RunResult:
    """Nothing ran and nothing was written: why, and the exit code it gives."""
    return RunResult(
        job_id=job.id,
        script=job.script,
        status=job.status,
        reason=job.reason,
        exit_code=exit_code,
        attempt=job.attempts,
        error=error,
    )


def skip_reason(job: JobView, now: float) -> str | None:
    """Why `job` is not run now (final, or not due), or None."""
    waiting = not_due_reason(job, now)
    return f"skipped: {waiting}" if waiting is not None else None


def taken_note(current: JobView | None, now: float) -> str:
    """Why a claim failed: someone else runs the job (and until when its lease holds)."""
    if current is None or current.status != JobStatus.RUNNING:
        return f"skipped: taken by another runner (now {current.status if current else 'gone'})"
    return f"skipped: {running_note(current, now)}"


def skipped(job: JobView, note: str) -> RunResult:
    return RunResult(
        job_id=job.id,
        script=job.script,
        status=job.status,
        reason=job.reason,
        attempt=job.attempts,
        note=note,
        skipped=True,
        due=job.due_at,
    )
