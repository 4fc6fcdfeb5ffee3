"""psflow's vocabulary: job and block-run statuses, whether a lease holds, how a run is asked for, and who runs it.

Every layer speaks these words; none spells a status as a bare string.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Final, Protocol

DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_QUEUE: Final = "default"  # the queue of a job given none (`worker --queue` names others)


class JobStatus:
    """A job's status. A script may also stop with any word of its own (`stop("NeedsReview")`)."""

    RUNNING: Final = "Running"
    WAITING: Final = "Waiting"
    COMPLETED: Final = "Completed"
    FAILED: Final = "Failed"
    CANCELLED: Final = "Cancelled"
    INTERRUPTED: Final = "Interrupted"  # Ctrl-C or SIGTERM stopped it; resumable
    QUEUED: Final = "Queued"  # submitted (`psflow submit`), never run yet: due at once for a worker of its queue


FINAL_STATUSES: Final = (JobStatus.COMPLETED, JobStatus.CANCELLED)  # never run again
# A worker's by default: jobs waiting to run, and Running ones whose runner is gone or whose lease ran
# out (a server died), so that unattended workers finish what a dead server left.
WORKER_STATUSES: Final = (JobStatus.WAITING, JobStatus.INTERRUPTED, JobStatus.QUEUED, JobStatus.RUNNING)
RESUME_STATUSES: Final = (JobStatus.WAITING, JobStatus.QUEUED)  # what `psflow resume` takes unless told otherwise
# A child job has ended for the parent that waits for it (wait_jobs): final, or Failed (no worker
# takes a Failed job again; `psflow retry` would make it not ended again).
ENDED_STATUSES: Final = (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED)
# `waits_for` of a parent stopped in wait_jobs (never an input's name: those have no space): it
# becomes due in the transaction that ends its last awaited child (psflow.store.children).
WAITS_FOR_CHILDREN: Final = "child jobs"


class RunStatus:
    """How one run of a block ended (a row of the block table)."""

    COMPLETED: Final = "Completed"  # replayed by later attempts
    FAILED: Final = "Failed"
    STOPPED: Final = "Stopped"  # stop() (or a worker shutdown) ended the attempt inside it
    WAITING: Final = "Waiting"  # a wait_for still without its input
    RETRYING: Final = "Retrying"  # a try failed; another follows
    RERUN: Final = "Rerun"  # completed, but the user asked for it to run again: history only
    INTERRUPTED: Final = "Interrupted"  # Ctrl-C, SIGTERM or its time limit stopped it


LOST: Final = "Lost"  # how an attempt ended whose runner lost the job (its lease ran out, or its process died)


class ExitKind:
    """How a block's body was left."""

    NORMAL: Final = "normal"
    RETURN: Final = "return"
    BREAK: Final = "break"
    CONTINUE: Final = "continue"
    EXIT: Final = "exit"  # sys.exit() or sys.exit(0): a normal way out of the script, done again on replay


class LeasedJob(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def lease_until(self) -> float | None: ...
    @property
    def due_at(self) -> float | None: ...


def lease_holds(job: LeasedJob, now: float) -> bool:
    """Is `job` Running under a lease that has not run out (its runner may be alive)?"""
    return job.status == JobStatus.RUNNING and (job.lease_until or 0) >= now


def is_due(job: LeasedJob, now: float) -> bool:
    """May `job` be taken now? The one rule: its `due_at` has come (Store.due_jobs asks the same in SQL).

    due_at is set wherever a job changes: now for a job that waits for nothing, a timer's
    time, a wait_for's timeout, the end of a Running job's lease; NULL (never due) while it
    waits for an input without a timeout, and for a final job.
    """
    return job.status not in FINAL_STATUSES and job.due_at is not None and job.due_at <= now


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES


@dataclass(frozen=True)
class RunOptions:
    """How the user asked for jobs to run (`--replay-output`, `--rerun-changed`, `--latest`)."""

    replay_output: bool = False  # a replayed block prints the output it recorded again
    rerun_changed: bool = False  # a completed block whose code changed since runs again
    latest: bool = False  # a registered workflow's job moves to its newest version first


@dataclass(frozen=True)
class Runner:
    """Who runs an attempt: this host and process, and how long its lease lasts without a heartbeat."""

    host: str
    pid: int
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    started: float | None = None  # when the process started (to tell a reused pid from it)

    @classmethod
    def here(cls) -> Runner:
        from psflow.hosts import host_name, process_started

        return cls(host_name(), os.getpid(), lease_seconds(), process_started(os.getpid()))


def lease_seconds() -> float:
    """How long a claim lasts without a heartbeat (PSFLOW_LEASE_SECONDS, default 60, at least 1)."""
    try:
        return max(1.0, float(os.environ.get("PSFLOW_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))
    except ValueError:
        return DEFAULT_LEASE_SECONDS


def user_name() -> str:
    """Who runs this command (for `cancelled by`, inputs and registrations)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def storable(text: str) -> str:
    """`text` as a database can keep it: a lone surrogate (what os.listdir gives for a file name's
    undecodable byte) as its escape, `\\udcff`; any other text as it is. For what people read:
    reasons, tracebacks."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
