"""psflow's vocabulary: job and block-run statuses, whether a lease holds, how a run is asked for, and who runs it.

Every layer speaks these words; none spells a status as a bare string.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from typing import Final, Protocol

DEFAULT_LEASE_SECONDS = 60.0


class JobStatus:
    """A job's status. A script may also stop with any word of its own (`stop("NeedsReview")`)."""

    RUNNING: Final = "Running"
    WAITING: Final = "Waiting"
    COMPLETED: Final = "Completed"
    FAILED: Final = "Failed"
    CANCELLED: Final = "Cancelled"


FINAL_STATUSES: Final = (JobStatus.COMPLETED, JobStatus.CANCELLED)  # never run again


class RunStatus:
    """How one run of a block ended (a row of the block table)."""

    COMPLETED: Final = "Completed"  # replayed by later attempts
    FAILED: Final = "Failed"
    STOPPED: Final = "Stopped"  # stop() (or a worker shutdown) ended the attempt inside it
    WAITING: Final = "Waiting"  # a wait_for still without its input
    RETRYING: Final = "Retrying"  # a try failed; another follows
    RERUN: Final = "Rerun"  # completed, but the user asked for it to run again: history only


class ExitKind:
    """How a block's body was left."""

    NORMAL: Final = "normal"
    RETURN: Final = "return"
    BREAK: Final = "break"
    CONTINUE: Final = "continue"


class LeasedJob(Protocol):
    status: str
    lease_until: float | None


def lease_holds(job: LeasedJob, now: float) -> bool:
    """Is `job` Running under a lease that has not run out (its runner may be alive)?"""
    return job.status == JobStatus.RUNNING and (job.lease_until or 0) >= now


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

    @classmethod
    def here(cls) -> Runner:
        return cls(socket.gethostname(), os.getpid(), lease_seconds())


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
