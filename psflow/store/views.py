"""What the store hands out: frozen views of its rows, never peewee rows.

Each view has `to_json()`, the stable shape `--json` prints and the Python API
returns. `BlockRecord` is the one record a block run is written and replayed
from; it is built with keywords.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from psflow.errors import EditedRow
from psflow.store.tables import DEFAULT_QUEUE


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as last read (without its source: `Store.job_source` reads that)."""

    id: str
    name: str
    script: str
    source_sha256: str
    args: tuple[str, ...]
    status: str
    reason: str | None
    created_at: float
    updated_at: float
    owner_host: str | None
    owner_pid: int | None
    owner_started: float | None
    lease_until: float | None
    attempts: int
    due_at: float | None
    waits_for: str | None
    waiting_since: float | None
    workflow: str | None
    workflow_version: int | None
    cwd: str | None
    env: tuple[str, ...] = ()  # environment variables every attempt needs (names; values are never stored)
    signature: str | None = None  # psflow.service.trust checks it before anything runs
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    parent: str | None = None  # the job whose start() created it

    COLUMNS = (
        "id",
        "name",
        "script",
        "source_sha256",
        "args",
        "status",
        "reason",
        "created_at",
        "updated_at",
        "owner_host",
        "owner_pid",
        "owner_started",
        "lease_until",
        "attempts",
        "due_at",
        "waits_for",
        "waiting_since",
        "workflow",
        "workflow_version",
        "cwd",
        "env",
        "signature",
        "queue",
        "priority",
        "parent",
    )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> JobView:
        """The view of a job's row; EditedRow if a column holds what psflow never writes there (SQLite
        keeps any value in any column): the job is refused in words, not a traceback further on."""
        values = dict(zip(cls.COLUMNS, row, strict=True))
        for column, kind in _JOB_KINDS.items():
            if not _holds(kind, values[column], optional=column in _OPTIONAL):
                raise edited_value(values["id"], column, values[column])
        values["args"] = _names(values, "args", values["args"])
        values["env"] = _names(values, "env", values["env"]) if values["env"] else ()
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "script": self.script,
            "status": self.status,
            "reason": self.reason,
            "attempts": self.attempts,
            "args": list(self.args),
            "created": self.created_at,
            "updated": self.updated_at,
            "host": self.owner_host,
            "pid": self.owner_pid,
            "lease_until": self.lease_until,
            "due": self.due_at,
            "waits_for": self.waits_for,
            "waiting_since": self.waiting_since,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "cwd": self.cwd,
            "env": list(self.env),
            "signed": self.signature is not None,
            "queue": self.queue,
            "priority": self.priority,
            "parent": self.parent,
        }


_TIME = (-62_135_596_800.0, 253_402_300_799.0)  # seconds since 1970 a datetime can show: years 1 to 9999
_JOB_KINDS: dict[str, type | tuple[float, float]] = {
    **dict.fromkeys(("id", "name", "script", "source_sha256", "status", "queue", "args"), str),
    **dict.fromkeys(("reason", "owner_host", "waits_for", "workflow", "cwd", "env", "signature", "parent"), str),
    **dict.fromkeys(("attempts", "priority", "owner_pid", "workflow_version"), int),
    **dict.fromkeys(("created_at", "updated_at", "owner_started", "lease_until", "due_at", "waiting_since"), _TIME),
}
_OPTIONAL = frozenset(("reason", "owner_host", "waits_for", "workflow", "cwd", "env", "signature", "parent"))
_OPTIONAL |= {"owner_pid", "workflow_version", "owner_started", "lease_until", "due_at", "waiting_since"}


def _holds(kind: type | frozenset[type] | tuple[float, float], value: Any, *, optional: bool) -> bool:
    """Is `value` what psflow writes in a column of `kind` (str, int, those types, or a time in that range)?"""
    if value is None:
        return optional
    if isinstance(kind, tuple):
        return type(value) in (int, float) and kind[0] <= value <= kind[1]  # NaN is in no range
    if isinstance(kind, frozenset):
        return type(value) in kind
    return type(value) is kind


def _names(values: dict[str, Any], column: str, text: str) -> tuple[str, ...]:
    """A JSON list of str (the job's arguments, or the environment variables it needs)."""
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(type(name) is str for name in names):
        raise edited_value(values["id"], column, text)
    return tuple(names)


def edited_value(job_id: Any, column: str, value: Any) -> EditedRow:
    """EditedRow for a job's column holding `value`, which psflow never writes there."""
    job = job_id if type(job_id) is str else repr(job_id)
    return EditedRow(
        f"job {job}: {column} is {value!r:.60}, which psflow never writes there; was the job's row edited?", job_id
    )


_TEXT, _NUMBER, _WHOLE = frozenset((str,)), frozenset((int, float)), frozenset((int,))
_MAYBE_TEXT, _MAYBE_NUMBER = _TEXT | {type(None)}, _NUMBER | {type(None)}
_TIMES = frozenset(("started_at", "ended_at", "received", "created_at"))


def check_rows(whose: str, what: str, columns: tuple[str, ...], kinds: dict[str, frozenset[type]], rows: list) -> None:
    """EditedRow if a column of `rows` (a job's block runs, attempts or inputs, a workflow's versions:
    `whose` they are) holds what psflow never writes there. Checked a column at a time: a job's history
    may hold 100,000 rows."""
    for index, column in enumerate(columns):
        kind = kinds[column]
        if {type(row[index]) for row in rows} <= kind and (
            column not in _TIMES or all(_TIME[0] <= row[index] <= _TIME[1] for row in rows if row[index] is not None)
        ):
            continue
        wanted, optional = _TIME if column in _TIMES else kind, type(None) in kind
        value = next(row[index] for row in rows if not _holds(wanted, row[index], optional=optional))
        raise EditedRow(
            f"{whose}: {what} has {column} {value!r:.60}, which psflow never writes there; was a row edited?"
        )


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One attempt of a job: where it ran, which source, how it ended (outcome None: not ended)."""

    number: int
    host: str
    pid: int
    source_sha256: str
    started_at: float
    ended_at: float | None
    outcome: str | None
    reason: str | None
    output: str | None  # printed outside blocks after its last block
    error: str | None  # the traceback of an exception no block caught

    COLUMNS = (
        "number",
        "host",
        "pid",
        "source_sha256",
        "started_at",
        "ended_at",
        "outcome",
        "reason",
        "output",
        "error",
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "host": self.host,
            "pid": self.pid,
            "source_sha256": self.source_sha256,
            "started": self.started_at,
            "ended": self.ended_at,
            "outcome": self.outcome,
            "reason": self.reason,
            "error": self.error,
        }


class BlockRun(NamedTuple):
    """One recorded run of a block, for history; `output` only when asked for (it can be large).

    A tuple, like `BlockRecord`: a job's history can hold 100,000 runs, and a frozen dataclass
    costs several times more to build per row."""

    id: int
    name: str
    status: str
    attempt: int
    host: str
    pid: int
    started_at: float
    ended_at: float
    exit_kind: str | None
    tries: int
    error: str | None
    fingerprint: str | None
    output: str | None = None
    lead: str | None = None  # printed outside blocks just before it

    COLUMNS = (
        "id",
        "name",
        "status",
        "attempt",
        "host",
        "pid",
        "started_at",
        "ended_at",
        "exit_kind",
        "tries",
        "error",
        "fingerprint",
    )

    @property
    def duration(self) -> float:
        return round(self.ended_at - self.started_at, 6)

    def to_json(self) -> dict[str, Any]:
        _, name, status, attempt, host, pid, started, ended, exit_kind, tries, error, fingerprint, _, _ = self
        return {  # from the unpacked tuple: built once per run of a 100,000-block job's history
            "name": name,
            "status": status,
            "attempt": attempt,
            "host": host,
            "pid": pid,
            "started": started,
            "ended": ended,
            "duration": round(ended - started, 6),
            "exit": exit_kind,
            "tries": tries,
            "error": error,
            "fingerprint": fingerprint,  # of the block's code when it ran (None for @block calls, old runs)
        }


class BlockRecord(NamedTuple):
    """One block run as written at its end and read back for replay (a tuple: the hot path binds it as is)."""

    name: str
    status: str
    saved: str | None  # codec text of {name: value} the body bound
    mutated: str | None  # codec text of {name: value} outer objects it changed
    exit_kind: str | None
    returned: str | None  # codec text of the returned value
    output: str | None
    error: str | None
    started_at: float
    ended_at: float
    attempt: int
    host: str
    pid: int
    tries: int = 1
    fingerprint: str | None = None
    lead: str | None = None  # what the attempt printed outside blocks just before this block


@dataclass(frozen=True, slots=True)
class InputView:
    """An input sent to a job (`value` is codec text)."""

    name: str
    value: str
    host: str
    user: str
    received: float

    COLUMNS = ("name", "value", "host", "user", "received")


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """One version of a registered workflow (`source` only when asked for)."""

    name: str
    version: int
    script: str
    source_sha256: str
    created_at: float
    host: str
    user: str
    signature: str | None = None
    source: str | None = None

    COLUMNS = ("name", "version", "script", "source_sha256", "created_at", "host", "user", "signature")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "script": self.script,
            "source_sha256": self.source_sha256,
            "registered": self.created_at,
            "user": self.user,
            "host": self.host,
            "signed": self.signature is not None,
        }


@dataclass(frozen=True, slots=True)
class QueueView:
    """A queue: its global limit (None: none), and how many of its jobs run, are due, and wait.

    `due` and `waiting` count the jobs waiting to run that a worker takes unless told otherwise
    (psflow.domain.WORKER_STATUSES, Running aside):
    due now, or not yet (a timer, an input). `other` counts its remaining unfinished jobs (Failed, a word
    given to stop()): `resume --status` takes those."""

    name: str
    max_running: int | None
    running: int = 0
    due: int = 0
    waiting: int = 0
    other: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": self.max_running,
            "running": self.running,
            "due": self.due,
            "waiting": self.waiting,
            "other": self.other,
        }


# What psflow writes in each column of the history views (check_rows): others were edited in by hand.
RUN_KINDS = {
    **dict.fromkeys(("id", "attempt", "pid", "tries"), _WHOLE),
    **dict.fromkeys(("name", "status", "host"), _TEXT),
    **dict.fromkeys(("started_at", "ended_at"), _NUMBER),
    **dict.fromkeys(("exit_kind", "error", "fingerprint", "output", "lead"), _MAYBE_TEXT),
}
ATTEMPT_KINDS = {
    **dict.fromkeys(("number", "pid"), _WHOLE),
    **dict.fromkeys(("host", "source_sha256"), _TEXT),
    "started_at": _NUMBER,
    "ended_at": _MAYBE_NUMBER,
    **dict.fromkeys(("outcome", "reason", "output", "error"), _MAYBE_TEXT),
}
INPUT_KINDS = {**dict.fromkeys(("name", "value", "host", "user"), _TEXT), "received": _NUMBER}
WORKFLOW_KINDS = {
    **dict.fromkeys(("name", "script", "source_sha256", "host", "user"), _TEXT),
    "version": _WHOLE,
    "created_at": _NUMBER,
    **dict.fromkeys(("signature", "source"), _MAYBE_TEXT),
}
