"""Whether a job may be taken now, and what it waits for if not: one rule for every command.

The rule is psflow.domain.is_due (the store asks the same in one indexed query,
Store.due_jobs). On top of it, a Running job whose runner was on this host and whose
process is gone is taken at once, without waiting for its lease to run out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from psflow.domain import FINAL_STATUSES, WAITS_FOR_CHILDREN, JobStatus, is_due, lease_holds
from psflow.durations import describe_duration, describe_time
from psflow.hosts import host_name, process_alive
from psflow.store import JobView, Store
from psflow.store.job_lookups import Edited


def runner_gone(job: JobView) -> bool:
    """Is `job` Running for a process of this host that no longer exists?"""
    return (
        job.status == JobStatus.RUNNING
        and job.owner_host == host_name()
        and job.owner_pid is not None
        and not process_alive(job.owner_pid, job.owner_started)
    )


def lease_holds_here(job: JobView, now: float) -> bool:
    """lease_holds, except that a runner known to be gone (on this host) holds nothing."""
    return lease_holds(job, now) and not runner_gone(job)


def takeable(job: JobView, now: float) -> bool:
    return is_due(job, now) or (job.status == JobStatus.RUNNING and runner_gone(job))


def due_jobs(
    store: Store,
    statuses: Iterable[str],
    *,
    limit: int | None = None,
    queues: Iterable[str] = (),
    skip_queues: Iterable[str] = (),
    edited: Edited | None = None,
) -> list[JobView]:
    """Jobs in `statuses` (and in `queues`, if any; not in `skip_queues`) that may be taken now:
    higher priority first, then longest due first. A Running job whose runner is gone is taken over
    whatever its queue's load (it is counted as Running already). `edited`: told of each job whose
    row a hand edit made unreadable, which is passed over (else: EditedRow)."""
    statuses, queues = list(statuses), list(queues)
    found = store.due_jobs(
        statuses, limit=limit, queues=queues or None, skip_queues=list(skip_queues) or None, edited=edited
    )
    if JobStatus.RUNNING in statuses:
        seen = {job.id for job in found}
        found += [
            job
            for job in store.running_on(host_name(), edited=edited)
            if job.id not in seen and runner_gone(job) and (not queues or job.queue in queues)
        ]
    return found if limit is None else found[:limit]


def not_due_reason(job: JobView, now: float) -> str | None:
    """Why `job` is not taken now, for the user; None when it may be."""
    if job.status in FINAL_STATUSES:
        return f"already {job.status}"
    if takeable(job, now):
        return None
    if job.status == JobStatus.RUNNING:
        return running_note(job, now)
    if job.waits_for == WAITS_FOR_CHILDREN and (job.due_at is None or job.due_at > now):
        note = "waiting for its child jobs to end"
        if job.due_at is not None:
            note += f", or its timeout at {describe_time(job.due_at)}"
        return f"{note} (`psflow job {job.id}` shows them); it is due when the last one ends"
    if job.waits_for is not None and (job.due_at is None or job.due_at > now):
        note = f"waiting for input {job.waits_for}"
        if job.waiting_since is not None:
            note += f" (since {describe_duration(math.floor(now - job.waiting_since))} ago)"
        if job.due_at is not None:
            note += f", or its timeout at {describe_time(job.due_at)}"
        return f"{note}: `psflow send {job.id} {job.waits_for}=…` gives it"
    if job.due_at is not None and job.due_at > now:
        return f"sleeping until {describe_time(job.due_at)} (in {describe_duration(math.ceil(job.due_at - now))})"
    return "not due"


def running_note(job: JobView, now: float) -> str:
    left = max(0.0, (job.lease_until or 0) - now)
    return (
        f"Running on {job.owner_host} (pid {job.owner_pid}); its lease runs out in {left:.0f}s if that runner is gone"
    )


def waits_note(job: JobView, now: float, children: tuple[int, int] | None = None) -> str:
    """What a non-final job waits for, in a few words (`psflow jobs`): `input approval since 2h`,
    `timer 06:00`, `lease until 08:12 on db01`, `3 of 8 child jobs` (`children`: how many of the
    child jobs it awaits have not ended, of how many); "" for a final or due job."""
    if job.status in FINAL_STATUSES:
        return ""
    if job.status == JobStatus.RUNNING:
        if runner_gone(job):
            return f"runner gone ({job.owner_host} pid {job.owner_pid})"
        return f"lease until {_clock(job.lease_until, now)} on {job.owner_host}"
    if job.waits_for == WAITS_FOR_CHILDREN:
        if job.due_at is not None and job.due_at <= now:
            return ""  # its last child ended: due
        left, total = children or (0, 0)
        note = f"{left} of {total} child job{'s' if total != 1 else ''}" if children else "child jobs"
        return note + (f", timeout {_clock(job.due_at, now)}" if job.due_at is not None else "")
    if job.waits_for is not None:
        since = f" since {describe_duration(math.floor(now - job.waiting_since))}" if job.waiting_since else ""
        return f"input {job.waits_for}{since}"
    if job.due_at is not None and job.due_at > now:
        return f"timer {_clock(job.due_at, now)}"
    return ""


def _clock(epoch: float | None, now: float) -> str:
    """A time of day when it is within a day, else the date and time."""
    if epoch is None:
        return "-"
    text = describe_time(epoch)
    return text[11:16] if abs(epoch - now) < 86400 else text[:16]
