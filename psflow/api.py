"""What the commands do, as plain functions: run a script as a job, resume jobs, list them.

The CLI only parses arguments, calls these, and prints what they return; other
tools can call them directly (`psflow.run`, `psflow.resume`, `psflow.jobs`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from psflow.lease import Heartbeat, lease_seconds
from psflow.loader import LoadedScript, ScriptError, load_script
from psflow.runtime import EXIT_COMPLETED, EXIT_USAGE, run_attempt
from psflow.store import FINAL_STATUSES, JobStore, StoreError, open_store
from psflow.store.models import Job

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class UsageError(Exception):
    """Bad input from the user: exit code 2, nothing written."""


@dataclass(frozen=True)
class RunResult:
    """One job's run: how it ended, and what the user should be told."""

    job_id: str
    script: str
    status: str
    reason: str | None
    exit_code: int
    attempt: int
    ran: int = 0
    replayed: int = 0
    note: str | None = None
    skipped: bool = False  # nothing ran: the job was final, or another runner had it
    error: str | None = None  # nothing ran: the script does not compile now (`resume` counts it as failed)


def new_job_id() -> str:
    """Short, random, URL-safe: 10 characters of base32, 50 bits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def connect(db: str | None) -> JobStore:
    """The store for `db` (then PSFLOW_DB, then the default SQLite file)."""
    return open_store(db or os.environ.get("PSFLOW_DB") or None)


def run(script: str | Path, args: Iterable[str] = (), *, job_id: str | None = None, db: str | None = None) -> RunResult:
    """Run `script` as a new job, or as job `job_id` (created if new, continued if not)."""
    path = Path(script)
    loaded = _load(path)
    store = connect(db)
    job_id = job_id or os.environ.get("PSFLOW_JOB_ID") or None
    args = list(args)
    if job_id is not None:
        if not _ID_PATTERN.fullmatch(job_id):
            raise UsageError(f"job id {job_id!r} is not valid: use letters, digits, '.', '_', ':' or '-' (at most 64)")
        existing = store.get_job(job_id)
        if existing is not None:
            _check_same_script(existing, loaded)
            return _continue(store, existing, loaded, args)
    return _start(store, job_id or new_job_id(), loaded, args)


def resume(
    *,
    statuses: Iterable[str] = ("Waiting",),
    job_ids: Iterable[str] = (),
    limit: int | None = None,
    db: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    parallel: int | None = None,
) -> list[RunResult]:
    """Run again every job in `statuses` (or the jobs named), each claimed by one conditional UPDATE.

    With `parallel`, the jobs run in that many worker processes (psflow.workers).
    """
    if parallel is not None and not job_ids:
        from psflow.workers import run_pool

        return run_pool(db=db, statuses=statuses, processes=parallel, limit=limit, on_result=on_result)
    store = connect(db)
    named = [store.find_job(job_id) for job_id in job_ids]
    candidates = named or store.list_jobs(list(statuses), order="oldest")
    results = []
    for job in candidates:
        if limit is not None and len(results) >= limit:
            break
        result = _resume_one(store, job)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def due_job_ids(store: JobStore, statuses: Iterable[str], limit: int | None, *, exclude: set[str]) -> list[str]:
    """Ids of jobs to take now, oldest first: in `statuses`, and if Running, with a lapsed lease."""
    now = time.time()
    due = [
        job.id
        for job in store.list_jobs(list(statuses), order="oldest")
        if job.id not in exclude and (job.status != "Running" or (job.lease_until or 0) < now)
    ]
    return due if limit is None else due[:limit]


def resume_job(store: JobStore, job_id: str) -> RunResult:
    """Claim and run one job by id (for worker processes)."""
    job = store.get_job(job_id)
    if job is None:
        return RunResult(job_id, "", "unknown", None, EXIT_COMPLETED, 0, note="skipped: the job is gone", skipped=True)
    return _resume_one(store, job)


def _resume_one(store: JobStore, job: Job) -> RunResult:
    skipped = _skip_reason(job)
    if skipped is not None:
        return RunResult(
            job.id, job.script, job.status, job.reason, EXIT_COMPLETED, job.attempts, note=skipped, skipped=True
        )
    from psflow.transform import TransformError

    try:
        loaded = _load(Path(job.script))
        note = _changed_note(job, loaded)
    except TransformError as error:
        # Edited into a script that does not compile: leave the job as it is, go on with the others.
        first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
        return RunResult(job.id, job.script, job.status, job.reason, EXIT_USAGE, job.attempts, error=first)
    except (ScriptError, UsageError):
        # The file is gone (or moved) here: run the snapshot the job was started with.
        loaded = load_script(Path(job.script), job.source)
        note = "script file not found here: ran the source stored with the job"
    return _claim_and_run(store, job, loaded, json.loads(job.args), note=note)


def _changed_note(job: Job, loaded: LoadedScript) -> str | None:
    if loaded.sha256 == job.source_sha256:
        return None
    return "the script changed since the last attempt; blocks are matched by name"


def _check_same_script(job: Job, loaded: LoadedScript) -> None:
    """A chosen job id belongs to one script: running another one under it is a mistake.

    Compared by file name, so the same script checked out elsewhere on another
    server still continues the job; a leaked PSFLOW_JOB_ID in a child `psflow exec`
    of another script does not hijack its parent's job.
    """
    if Path(job.script).name != loaded.path.name:
        raise UsageError(
            f"job {job.id} runs {job.script}, not {loaded.path}: choose another --job id, "
            f"or `psflow resume --job {job.id}` to continue it"
        )


def _skip_reason(job: Job) -> str | None:
    if job.status in FINAL_STATUSES:
        return f"skipped: already {job.status}"
    return None


def _start(store: JobStore, job_id: str, loaded: LoadedScript, args: list[str]) -> RunResult:
    host, pid = socket.gethostname(), os.getpid()
    seconds = lease_seconds()
    created = store.create_job(
        job_id,
        name=loaded.path.stem,
        script=str(loaded.path),
        source=loaded.source,
        source_sha256=loaded.sha256,
        args=args,
        host=host,
        pid=pid,
        lease_seconds=seconds,
    )
    if created is None:  # someone created it a moment ago
        return _continue(store, store.get_job(job_id), loaded, args)
    return _attempt(store, created, loaded, args, number=1, host=host, pid=pid, seconds=seconds)


def _continue(store: JobStore, job: Job, loaded: LoadedScript, args: list[str]) -> RunResult:
    if job.status == "Completed":
        return RunResult(
            job.id, job.script, job.status, job.reason, EXIT_COMPLETED, job.attempts,
            note="already Completed: nothing to run", skipped=True,
        )
    if job.status == "Cancelled":
        raise UsageError(f"job {job.id} was cancelled; start a new job instead")
    stored_args = json.loads(job.args)
    if args and args != stored_args:
        raise UsageError(
            f"job {job.id} was started with arguments {stored_args}; run it without arguments to continue it"
        )
    return _claim_and_run(store, job, loaded, stored_args, note=_changed_note(job, loaded))


def _claim_and_run(store: JobStore, job: Job, loaded: LoadedScript, args: list[str], *, note: str | None) -> RunResult:
    host, pid = socket.gethostname(), os.getpid()
    seconds = lease_seconds()
    if not store.claim_job(job, host=host, pid=pid, lease_seconds=seconds):
        current = store.get_job(job.id)
        return RunResult(
            job.id, job.script, current.status if current else job.status, job.reason, EXIT_COMPLETED,
            job.attempts, note=_taken_note(current), skipped=True,
        )
    if loaded.sha256 != job.source_sha256:
        store.update_source(job.id, loaded.source, loaded.sha256)
    return _attempt(store, job, loaded, args, number=job.attempts + 1, host=host, pid=pid, seconds=seconds, note=note)


def _taken_note(current: Job | None) -> str:
    """Why a claim failed: someone else runs the job (and until when its lease holds)."""
    if current is None or current.status != "Running":
        return f"skipped: taken by another runner (now {current.status if current else 'gone'})"
    note = f"skipped: Running on {current.owner_host} (pid {current.owner_pid})"
    if current.lease_until is not None:
        left = max(0.0, current.lease_until - time.time())
        note += f"; its lease runs out in {left:.0f}s if that runner is gone"
    return note


def _attempt(
    store: JobStore,
    job: Job,
    loaded: LoadedScript,
    args: list[str],
    *,
    number: int,
    host: str,
    pid: int,
    seconds: float,
    note: str | None = None,
) -> RunResult:
    store.start_attempt(job.id, number, host=host, pid=pid, source_sha256=loaded.sha256)
    handback = job.status if job.status != "Running" else "Waiting"  # where a worker shutdown leaves it
    with Heartbeat(store, job.id, pid, seconds):
        outcome = run_attempt(
            store, job.id, number, loaded.code, script=job.script, argv=args, host=host, pid=pid,
            handback_status=handback,
        )
    return RunResult(
        job.id, job.script, outcome.status, outcome.reason, outcome.exit_code, number,
        outcome.ran, outcome.replayed, note,
    )


def _load(path: Path) -> LoadedScript:
    try:
        return load_script(path)
    except ScriptError as error:
        raise UsageError(str(error)) from None


def transformed_source(script: str | Path, *, diff: bool = False) -> str:
    """The source psflow runs for `script`, or a unified diff against the original."""
    from psflow.loader import read_source
    from psflow.transform import compile_script

    path = Path(script).resolve()
    try:
        _, source = read_source(path)
    except ScriptError as error:
        raise UsageError(str(error)) from None
    text = compile_script(source, str(path)).text
    if not diff:
        return text
    import difflib

    return "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True), text.splitlines(keepends=True), str(script), f"{script} (as run)"
        )
    )


def jobs(*, statuses: Iterable[str] = (), limit: int | None = None, db: str | None = None) -> list[dict]:
    """Jobs as plain dicts, most recently updated first."""
    store = connect(db)
    return [job_summary(job) for job in store.list_jobs(list(statuses), limit=limit)]


def job_detail(job_id: str, *, db: str | None = None) -> dict:
    """One job (id or unique prefix): its blocks in the order they first ran, each with its
    latest state (`blocks`); every recorded run of a block (`runs`); and its attempts."""
    store = connect(db)
    job = store.find_job(job_id)
    detail = job_summary(job)
    runs = [_block_run(row) for row in store.blocks(job.id)]
    latest: dict[str, dict] = {}
    for run in runs:  # in the order they ran: a name keeps its first place, and its last state
        latest[run["name"]] = run
    detail["blocks"] = list(latest.values())
    detail["runs"] = runs
    detail["attempt_history"] = [
        {
            "number": row.number,
            "host": row.host,
            "pid": row.pid,
            "source_sha256": row.source_sha256,
            "started": row.started_at,
            "ended": row.ended_at,
            "outcome": row.outcome,
            "reason": row.reason,
        }
        for row in store.attempts(job.id)
    ]
    return detail


def _block_run(row) -> dict:
    return {
        "name": row.name,
        "status": row.status,
        "attempt": row.attempt,
        "host": row.host,
        "pid": row.pid,
        "started": row.started_at,
        "ended": row.ended_at,
        "duration": round(row.ended_at - row.started_at, 6),
        "exit": row.exit_kind,
        "tries": row.tries,
        "error": row.error,
    }


def job_summary(job: Job) -> dict:
    return {
        "id": job.id,
        "name": job.name,
        "script": job.script,
        "status": job.status,
        "reason": job.reason,
        "attempts": job.attempts,
        "args": json.loads(job.args),
        "created": job.created_at,
        "updated": job.updated_at,
        "host": job.owner_host,
        "pid": job.owner_pid,
        "lease_until": job.lease_until,
        "due": job.due_at,
        "workflow": job.workflow,
        "workflow_version": job.workflow_version,
    }


__all__ = ["RunResult", "StoreError", "UsageError", "job_detail", "jobs", "resume", "run", "transformed_source"]
