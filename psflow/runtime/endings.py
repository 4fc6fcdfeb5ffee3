"""How an attempt ended: the script's last exception turned into a status, a reason and an exit code."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from psflow.domain import JobStatus, storable
from psflow.errors import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_STOPPED,
    EXIT_TERMINATED,
    BlockError,
    StoreError,
)
from psflow.script.recorder import DatabaseTrouble, RecordError, Stop, Terminated
from psflow.script.waiting import WaitTimeout

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


@dataclass(frozen=True, kw_only=True)
class AttemptResult:
    """How one attempt ended."""

    status: str
    reason: str | None
    exit_code: int
    ran: int
    replayed: int
    due: float | None = None  # stopped by a durable timer: not to be run again before this time
    lost: bool = False  # another runner took the job meanwhile: nothing about this ending was recorded


@dataclass(frozen=True)
class Ending:
    status: str
    reason: str | None
    exit_code: int
    due: float | None = None
    waits_for: str | None = None
    error: str | None = None  # the traceback of an exception no block caught
    awaits: tuple[str, ...] = ()  # the child jobs it waits for (wait_jobs)
    trouble: bool = False  # ended by database trouble, already told: its end may not be recordable either


COMPLETED = Ending(JobStatus.COMPLETED, None, EXIT_COMPLETED)


def ending_of(error: BaseException, stderr: TextIO) -> Ending:
    """How the script ended by raising `error`; what the user must see is written to `stderr`."""
    if isinstance(error, Stop):
        exit_code = {JobStatus.COMPLETED: EXIT_COMPLETED, JobStatus.FAILED: EXIT_FAILED}.get(error.status, EXIT_STOPPED)
        reason = storable(error.reason) if error.reason is not None else None
        return Ending(error.status, reason, exit_code, error.due, error.waits_for, awaits=error.awaits)
    if isinstance(error, SystemExit):
        if error.code in (None, 0):
            return COMPLETED
        reason = storable(error.code) if isinstance(error.code, str) else f"exit status {error.code}"
        if isinstance(error.code, str):
            print(error.code, file=stderr)
        return Ending(JobStatus.FAILED, reason, EXIT_FAILED)
    if isinstance(error, DatabaseTrouble):  # not the script's fault: resumable, with the database's exit code
        print(f"psflow: error: {error}", file=stderr)
        return Ending(JobStatus.INTERRUPTED, str(error), StoreError.exit_code, trouble=True)
    if isinstance(error, (RecordError, WaitTimeout, BlockError)):  # psflow's own words: one line, no traceback
        print(f"psflow: error: {error}", file=stderr)
        exit_code = error.exit_code if isinstance(error, BlockError) else EXIT_FAILED
        return Ending(JobStatus.FAILED, str(error), exit_code)
    if isinstance(error, KeyboardInterrupt):
        return Ending(JobStatus.INTERRUPTED, "interrupted by Ctrl-C (SIGINT)", EXIT_INTERRUPTED)
    if isinstance(error, Terminated):
        return Ending(JobStatus.INTERRUPTED, "terminated (SIGTERM)", EXIT_TERMINATED)
    report = user_traceback(error)
    print(report, end="", file=stderr)
    return Ending(JobStatus.FAILED, one_line(error), EXIT_FAILED, error=report)


def one_line(error: BaseException) -> str:
    """`Type: first line of the message` (for SyntaxError, the line that says what is wrong)."""
    lines = traceback.format_exception_only(type(error), error)
    text = lines[-1] if isinstance(error, SyntaxError) else lines[0]
    return storable(text.strip().splitlines()[0]) if text.strip() else type(error).__name__


def user_traceback(error: BaseException) -> str:
    """The traceback as the user would see it from plain Python: psflow's own frames left out."""
    report = traceback.TracebackException.from_exception(error)
    seen: set[int] = set()
    pending = [report]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if not _is_machinery(frame.filename)]
        )
        pending.extend(chained for chained in (current.__cause__, current.__context__) if chained)
        pending.extend(current.exceptions or ())  # an ExceptionGroup's (a map's failed calls)
    return storable("".join(report.format()))


def _is_machinery(filename: str) -> bool:
    """psflow's own frames, and the import system's (Python hides those from users too)."""
    return filename.startswith((PACKAGE_DIR, "<frozen importlib"))
