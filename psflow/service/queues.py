"""Queues and their global limits: `psflow queue`, `psflow queues`, and why a job of a full queue waits.

A limit is kept by the claim itself (psflow.store.queues), on every server; what is here
checks what the user typed and says, for a job that was not taken, that its queue is full.
"""

from __future__ import annotations

import re

from psflow.errors import UsageError
from psflow.store import JobView, QueueView, Store

QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
PRIORITY_RANGE = (-1_000_000, 1_000_000)


def check_queue_name(name: str) -> str:
    if not QUEUE_NAME.fullmatch(name):
        raise UsageError(
            f"queue name {name!r} is not valid: use letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit (at most 64)"
        )
    return name


def check_priority(priority: int) -> int:
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise UsageError(f"--priority {priority} is out of range: give a whole number from {low} to {high}")
    return priority


def set_limit(store: Store, name: str, limit: int | None) -> QueueView:
    """At most `limit` jobs of queue `name` Running at once on every server (None: no limit)."""
    check_queue_name(name)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit} is not a limit: give 1 or more (--no-limit removes the limit)")
    return store.set_queue_limit(name, limit)


def show(store: Store, name: str) -> QueueView:
    """Queue `name` with its counts (a queue nobody named yet: no limit, nothing in it)."""
    check_queue_name(name)
    return next((queue for queue in store.queue_counts() if queue.name == name), QueueView(name, None))


def full_queues(store: Store) -> dict[str, tuple[int, int]]:
    """The queues at their limit now: name -> (Running, limit). One query."""
    return {name: (running, limit) for name, (limit, running) in store.queue_loads().items() if running >= limit}


def full_note(queue: str, running: int, limit: int) -> str:
    return f"queue {queue} is at its limit ({running} of {limit} running)"


def limit_reason(store: Store, job: JobView) -> str | None:
    """Why a due `job` was not taken: its queue is at its limit; None if it is not."""
    load = store.queue_loads().get(job.queue)
    if load is None:
        return None
    limit, running = load
    return full_note(job.queue, running, limit) if running >= limit else None


def held_note(store: Store, job: JobView, current: JobView | None) -> str | None:
    """After a failed claim of `job`: `skipped: queue … is at its limit …` when nobody took it
    (`current` is as `job` was read) and its queue is full; None otherwise."""
    if current is None or (current.status, current.attempts) != (job.status, job.attempts):
        return None
    reason = limit_reason(store, current)
    return f"skipped: {reason}" if reason is not None else None
