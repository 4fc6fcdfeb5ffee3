"""What the commands do, as plain functions: run a script as a job, resume jobs, list them.

The CLI only parses arguments, calls these, and prints what they return; other
tools can call them directly (`psflow.run`, `psflow.resume`, `psflow.jobs`).
"""

from __future__ import annotations

import hashlib
import json
import math
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
from psflow.errors import UsageError
from psflow.durations import describe_duration, describe_time
from psflow.script.inputs import InputError
from psflow.runtime import EXIT_COMPLETED, EXIT_USAGE, run_attempt
from psflow.store import FINAL_STATUSES, JobStore, StoreError, open_store
from psflow.store.models import Job, Workflow

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


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
    due: float | None = None  # it stopped on a durable timer (sleep): not to be taken before this time


def new_job_id() -> str:
    """Short, random, URL-safe: 10 characters of base32, 50 bits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def connect(db: str | None) -> JobStore:
    """The store for `db`, else PSFLOW_DB, else the config file, else the default SQLite file (psflow.settings)."""
    from psflow.settings import SettingsError, database_setting

    try:
        url = database_setting(db).url
    except SettingsError as error:
        raise UsageError(str(error)) from None
    return open_store(url)


def run(
    script: str | Path,
    args: Iterable[str] = (),
    *,
    job_id: str | None = None,
    db: str | None = None,
    announce: Callable[[str], None] | None = None,
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> RunResult:
    """Run `script` as a new job, or as job `job_id` (created if new, continued if not).

    `script` given as a str that is no file but a registered workflow's name runs
    that workflow's newest version (`announce` is told which, before it runs).
    With `replay_output`, a replayed block prints the output it recorded again.
    With `rerun_changed`, a completed block whose code changed since runs again.
    `announce` is also told the script's warnings (`psflow check`) before it runs.
    """
    if isinstance(script, str) and not Path(script).is_file() and _WORKFLOW_NAME.fullmatch(script):
        return _run_workflow(
            script, list(args), job_id=job_id, db=db, announce=announce, replay_output=replay_output,
            rerun_changed=rerun_changed,
        )
    path = Path(script)
    loaded = _load(path)
    _announce_warnings(loaded, announce)
    store = connect(db)
    job_id = job_id or os.environ.get("PSFLOW_JOB_ID") or None
    args = list(args)
    if job_id is not None:
        _check_job_id(job_id)
        existing = store.get_job(job_id)
        if existing is not None:
            _check_same_script(existing, loaded)
            return _continue(store, existing, loaded, args, replay_output=replay_output, rerun_changed=rerun_changed)
    return _start(store, job_id or new_job_id(), loaded, args, replay_output=replay_output, rerun_changed=rerun_changed)


def resume(
    *,
    statuses: Iterable[str] = ("Waiting",),
    job_ids: Iterable[str] = (),
    limit: int | None = None,
    db: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    parallel: int | None = None,
    latest: bool = False,
    on_total: Callable[[int], None] | None = None,
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> list[RunResult]:
    """Run again every job in `statuses` (or the jobs named), each claimed by one conditional UPDATE.

    With `parallel`, the jobs run in that many worker processes (psflow.workers).
    With `latest`, a job of a registered workflow moves to its newest version first.
    `on_total` is told how many jobs this will go through (not with `parallel`).
    With `replay_output`, a replayed block prints the output it recorded again.
    With `rerun_changed`, a completed block whose code changed since runs again.
    """
    if parallel is not None and not job_ids:
        from psflow.workers import run_pool

        return run_pool(
            db=db, statuses=statuses, processes=parallel, limit=limit, on_result=on_result, latest=latest,
            replay_output=replay_output, rerun_changed=rerun_changed,
        )
    store = connect(db)
    named = [store.find_job(job_id) for job_id in job_ids]
    candidates = named or store.list_jobs(list(statuses), order="oldest")
    if on_total is not None:
        on_total(len(candidates) if limit is None else min(limit, len(candidates)))
    results = []
    for job in candidates:
        if limit is not None and len(results) >= limit:
            break
        result = _resume_one(store, job, latest=latest, replay_output=replay_output, rerun_changed=rerun_changed)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def due_job_ids(
    store: JobStore,
    statuses: Iterable[str],
    limit: int | None,
    *,
    exclude: set[str],
    on_skip: Callable[[RunResult], None] | None = None,
) -> list[str]:
    """Ids of jobs to take now, oldest first: in `statuses`, and if Running, with a lapsed lease.

    A job sleeping on a timer that is not due yet is left out, and told to `on_skip`.
    """
    now = time.time()
    due = []
    for job in store.list_jobs(list(statuses), order="oldest"):
        if job.id in exclude or (job.status == "Running" and (job.lease_until or 0) >= now):
            continue
        sleeping = _sleeping_note(job, now)
        if sleeping is not None:
            if on_skip is not None:
                on_skip(_skipped(job, sleeping))
            continue
        due.append(job.id)
    return due if limit is None else due[:limit]


def resume_job(
    store: JobStore, job_id: str, *, latest: bool = False, replay_output: bool = False, rerun_changed: bool = False
) -> RunResult:
    """Claim and run one job by id (for worker processes)."""
    job = store.get_job(job_id)
    if job is None:
        return RunResult(job_id, "", "unknown", None, EXIT_COMPLETED, 0, note="skipped: the job is gone", skipped=True)
    return _resume_one(store, job, latest=latest, replay_output=replay_output, rerun_changed=rerun_changed)


def _resume_one(
    store: JobStore, job: Job, *, latest: bool = False, replay_output: bool = False, rerun_changed: bool = False
) -> RunResult:
    skipped = _skip_reason(job)
    if skipped is not None:
        return _skipped(job, skipped)
    if job.workflow is not None:
        return _resume_workflow_job(store, job, latest=latest, replay_output=replay_output, rerun_changed=rerun_changed)
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
    return _claim_and_run(
        store, job, loaded, json.loads(job.args), note=note, replay_output=replay_output, rerun_changed=rerun_changed
    )


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
    return _sleeping_note(job, time.time())


def _sleeping_note(job: Job, now: float) -> str | None:
    """Why a job sleeping on a timer is not taken yet (None once it is due)."""
    if job.due_at is None or job.due_at <= now or job.status == "Running":
        return None
    left = describe_duration(math.ceil(job.due_at - now))
    return f"skipped: sleeping until {describe_time(job.due_at)} (in {left})"


def _skipped(job: Job, note: str) -> RunResult:
    return RunResult(
        job.id, job.script, job.status, job.reason, EXIT_COMPLETED, job.attempts, note=note, skipped=True,
        due=job.due_at,
    )


def _start(
    store: JobStore,
    job_id: str,
    loaded: LoadedScript,
    args: list[str],
    *,
    workflow: Workflow | None = None,
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> RunResult:
    host, pid = socket.gethostname(), os.getpid()
    seconds = lease_seconds()
    created = store.create_job(
        job_id,
        name=workflow.name if workflow is not None else loaded.path.stem,
        script=str(loaded.path),
        source=loaded.source,
        source_sha256=loaded.sha256,
        args=args,
        host=host,
        pid=pid,
        lease_seconds=seconds,
        workflow=workflow.name if workflow is not None else None,
        workflow_version=workflow.version if workflow is not None else None,
    )
    if created is None:  # someone created it a moment ago
        return _continue(
            store, store.get_job(job_id), loaded, args, replay_output=replay_output, rerun_changed=rerun_changed
        )
    return _attempt(
        store, created, loaded, args, number=1, host=host, pid=pid, seconds=seconds, replay_output=replay_output,
        rerun_changed=rerun_changed,
    )


def _continue(
    store: JobStore, job: Job, loaded: LoadedScript, args: list[str], *, replay_output: bool = False,
    rerun_changed: bool = False,
) -> RunResult:
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
    return _claim_and_run(
        store, job, loaded, stored_args, note=_changed_note(job, loaded), replay_output=replay_output,
        rerun_changed=rerun_changed,
    )


def _claim_and_run(
    store: JobStore,
    job: Job,
    loaded: LoadedScript,
    args: list[str],
    *,
    note: str | None,
    workflow_version: int | None = None,
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> RunResult:
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
    if workflow_version is not None and workflow_version != job.workflow_version:
        store.move_to_version(job.id, version=workflow_version, script=str(loaded.path))
        job.script, job.workflow_version = str(loaded.path), workflow_version
    return _attempt(
        store, job, loaded, args, number=job.attempts + 1, host=host, pid=pid, seconds=seconds, note=note,
        replay_output=replay_output, rerun_changed=rerun_changed,
    )


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
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> RunResult:
    store.start_attempt(job.id, number, host=host, pid=pid, source_sha256=loaded.sha256)
    handback = job.status if job.status != "Running" else "Waiting"  # where a worker shutdown leaves it
    with Heartbeat(store, job.id, pid, seconds):
        outcome = run_attempt(
            store, job.id, number, loaded.code, script=job.script, argv=args, host=host, pid=pid,
            handback_status=handback, replay_output=replay_output, rerun_changed=rerun_changed,
        )
    return RunResult(
        job.id, job.script, outcome.status, outcome.reason, outcome.exit_code, number,
        outcome.ran, outcome.replayed, note, due=outcome.due,
    )


def _announce_warnings(loaded: LoadedScript, announce: Callable[[str], None] | None) -> None:
    """Tell `announce` what `psflow check` warns about (found when the script was compiled, kept in its code)."""
    if announce is None:
        return
    for warning in loaded.report.warnings:
        announce(warning.format())


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
    detail["inputs"] = [_input_row(row) for row in store.inputs(job.id)]
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
        "fingerprint": row.fingerprint,  # of the block's code when it ran (None for @block functions, old runs)
    }


def _input_row(row) -> dict:
    from psflow import codec

    value = codec.decode(row.value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        value = repr(value)  # sent through the Python API as a value JSON cannot show
    return {"name": row.name, "value": value, "host": row.host, "user": row.user, "received": row.created_at}


# ---- input for waiting jobs (wait_for) --------------------------------------


@dataclass(frozen=True)
class SendResult:
    """Input stored for one job."""

    job_id: str
    status: str
    names: list[str]
    received: float
    already_read: dict[str, int]  # names the job read before (wait_for keeps that value): attempt


def parse_inputs(assignments: Iterable[str] = (), json_text: str | None = None) -> dict:
    """Inputs as people type them: `name=value` (JSON if it parses, else text) and a JSON object."""
    from psflow.script import inputs

    try:
        given = inputs.parse_assignments(assignments)
        if json_text is not None:
            given = inputs.merge(given, inputs.parse_json_object(json_text))
    except InputError as error:
        raise UsageError(str(error)) from None
    if not given:
        raise UsageError("nothing to send: give NAME=VALUE (for example approval=yes) or --json '{\"NAME\": VALUE}'")
    return given


def send(job_ids: str | Iterable[str], values: dict, *, db: str | None = None) -> list[SendResult]:
    """Store input `values` ({name: value}) for the jobs (ids or unique prefixes), for `wait_for` to read.

    All or nothing: every job must exist and not be Completed or Cancelled. The
    jobs are not run; `resume` (or a worker) runs them next.
    """
    import getpass

    from psflow import codec
    from psflow.script.inputs import check_name

    if not values:
        raise UsageError("nothing to send")
    encoded = {}
    for name, value in values.items():
        try:
            encoded[check_name(name)] = codec.encode(value)
        except InputError as error:
            raise UsageError(str(error)) from None
        except codec.UnsupportedValue as error:
            raise UsageError(f"input {name!r} cannot be stored: {error}") from None
    store = connect(db)
    named = [store.find_job(job_id) for job_id in ([job_ids] if isinstance(job_ids, str) else job_ids)]
    found = list({job.id: job for job in named}.values())
    for job in found:
        if job.status in FINAL_STATUSES:
            raise UsageError(f"job {job.id} is {job.status}: it takes no more input")
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    received = store.add_inputs([job.id for job in found], encoded, host=socket.gethostname(), user=user)
    results = []
    for job in found:
        read = store.completed_wait_names(job.id)
        already = {name: read[name] for name in encoded if name in read}
        results.append(SendResult(job.id, job.status, list(encoded), received, already))
    return results


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



# ---- registered workflows ---------------------------------------------------

_WORKFLOW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


@dataclass(frozen=True)
class Registration:
    """What `register` did: the version that now holds the source, and whether it is new."""

    name: str
    version: int
    created: bool  # False: the newest version already had this source, nothing was written
    source_sha256: str
    same_as: int | None = None  # an older version with the same source (registering it again)


def workflow_label(name: str, version: int) -> str:
    """The file name a registered workflow's code runs under (tracebacks, `jobs`, sys.argv[0])."""
    return f"<workflow {name} v{version}>"


def register(name: str, script: str | Path, *, db: str | None = None) -> Registration:
    """Store `script`'s source as the next version of workflow `name` (1, 2, …).

    The script must compile (nothing is stored otherwise). If the newest version
    already has exactly this source, no version is created.
    """
    _check_workflow_name(name)
    loaded = _load(Path(script))  # missing file or syntax error: nothing is written
    sha256 = hashlib.sha256(loaded.source.encode()).hexdigest()  # of the text as stored and run
    store = connect(db)
    workflow, created = store.register_workflow(
        name, source=loaded.source, source_sha256=sha256, script=str(loaded.path),
        host=socket.gethostname(), user=_user_name(),
    )
    same_as = None
    if created:
        same_as = next(
            (row.version for row in store.workflow_versions(name)
             if row.source_sha256 == sha256 and row.version != workflow.version),
            None,
        )
    return Registration(name, workflow.version, created, sha256, same_as)


def workflows(*, db: str | None = None) -> list[dict]:
    """Registered workflows by name: the newest version, how many versions, and who registered it."""
    store = connect(db)
    return [
        {**_workflow_row(newest), "versions": count, "first_registered": first}
        for newest, count, first in store.list_workflows()
    ]


def workflow_versions(name: str, *, db: str | None = None) -> list[dict]:
    """Every version of workflow `name`, oldest first."""
    store = connect(db)
    rows = store.workflow_versions(name)
    if not rows:
        raise UsageError(f"no workflow named {name!r} is registered: `psflow workflows` lists them")
    return [_workflow_row(row) for row in rows]


def _workflow_row(row: Workflow) -> dict:
    return {
        "name": row.name,
        "version": row.version,
        "script": row.script,
        "source_sha256": row.source_sha256,
        "registered": row.created_at,
        "user": row.user,
        "host": row.host,
    }


def _check_workflow_name(name: str) -> None:
    if not isinstance(name, str) or not _WORKFLOW_NAME.fullmatch(name):
        raise UsageError(
            f"workflow name {name!r} is not valid: use letters, digits, '_', '.' or '-' "
            "(at most 255, not starting with '.' or '-')"
        )


def _user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _run_workflow(
    name: str,
    args: list[str],
    *,
    job_id: str | None,
    db: str | None,
    announce: Callable[[str], None] | None,
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> RunResult:
    """`run` for a name that is no file here: the newest version of that registered workflow."""
    from psflow.loader import load_source

    store = _connect_for(name, db)
    newest = store.workflow(name)
    if newest is None:
        if Path(name).exists():  # a folder, say: the file error says what is wrong
            _load(Path(name))
        raise UsageError(
            f"script not found: {Path(name).resolve()}, and no workflow named {name!r} is registered: "
            "give a script's path, or one of the names `psflow workflows` lists"
        )
    job_id = job_id or os.environ.get("PSFLOW_JOB_ID") or None
    if job_id is not None:
        _check_job_id(job_id)
        existing = store.get_job(job_id)
        if existing is not None:
            if existing.workflow != name:
                raise UsageError(
                    f"job {existing.id} runs {existing.script}, not workflow {name}: choose another --job id, "
                    f"or `psflow resume --job {existing.id}` to continue it"
                )
            # A job keeps the version it started with; `resume --latest` moves it.
            loaded = load_source(workflow_label(name, existing.workflow_version), existing.source)
            if announce is not None:
                version = existing.workflow_version
                announce(f"job {existing.id} runs workflow {name} v{version}{_newer(newest, existing)}")
            return _continue(store, existing, loaded, args, replay_output=replay_output, rerun_changed=rerun_changed)
    loaded = load_source(workflow_label(name, newest.version), newest.source)
    if announce is not None:
        announce(f"no file {name!r} here: running registered workflow {name} v{newest.version} (its newest version)")
    _announce_warnings(loaded, announce)
    return _start(
        store, job_id or new_job_id(), loaded, args, workflow=newest, replay_output=replay_output,
        rerun_changed=rerun_changed,
    )


def _connect_for(name: str, db: str | None) -> JobStore:
    """The store, to look up workflow `name`; a file name mistyped is still said first."""
    try:
        return connect(db)
    except StoreError as error:
        raise UsageError(
            f"script not found: {Path(name).resolve()}, and cannot look for a workflow named {name!r}: {error}"
        ) from None


def _check_job_id(job_id: str) -> None:
    if not _ID_PATTERN.fullmatch(job_id):
        raise UsageError(f"job id {job_id!r} is not valid: use letters, digits, '.', '_', ':' or '-' (at most 64)")


def _newer(newest: Workflow | None, job: Job) -> str:
    if newest is None or newest.version == job.workflow_version:
        return ""
    return f"; v{newest.version} is the newest (`psflow resume --latest` moves it there)"


def _resume_workflow_job(
    store: JobStore, job: Job, *, latest: bool, replay_output: bool = False, rerun_changed: bool = False
) -> RunResult:
    """Resume a job of a registered workflow from the source stored with it: no file needed.

    It runs the version it started with, or with `latest` the workflow's newest.
    """
    from psflow.loader import load_source
    from psflow.transform import TransformError

    newest = store.workflow(job.workflow)
    version, source, note = job.workflow_version, job.source, None
    if latest and newest is not None and newest.version != job.workflow_version:
        version, source = newest.version, newest.source
        note = f"moved from workflow {job.workflow} v{job.workflow_version} to v{newest.version} (--latest)"
    elif newest is not None and newest.version != job.workflow_version:
        note = f"ran workflow {job.workflow} v{job.workflow_version}{_newer(newest, job)}"
    try:
        loaded = load_source(workflow_label(job.workflow, version), source)
    except TransformError as error:  # this psflow cannot compile that version: leave the job as it is
        first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
        return RunResult(job.id, job.script, job.status, job.reason, EXIT_USAGE, job.attempts, error=first)
    return _claim_and_run(
        store, job, loaded, json.loads(job.args), note=note, workflow_version=version, replay_output=replay_output,
        rerun_changed=rerun_changed,
    )


# ---- init and config ---------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    """What `psflow init` did: the database, its schema, and where the setting was saved."""

    url: str  # the psflow URL, password included (for the PSFLOW_DB lines): print `where` instead
    where: str  # the database, password masked
    action: str  # "created", "current" or "upgraded"
    version: int
    found: int | None  # the schema version it had
    ignored: tuple[str, ...] = ()  # connection string keys psflow has no use for
    settings: str | None = None  # "env", "file" or None
    config_file: str | None = None  # where --settings file saved it
    env_lines: tuple[str, ...] = ()  # for --settings env
    in_effect: bool = True  # whether later commands without --db use this database


SETTINGS_TARGETS = ("env", "file")


def init(
    *,
    sqlite: str | None = None,
    postgres: str | None = None,
    mssql: str | None = None,
    connection_string: str | None = None,
    upgrade: bool = False,
    settings: str | None = None,
) -> InitResult:
    """`psflow init`: create (or with `upgrade` migrate) the psflow schema in exactly one database,
    given as a path, URL or connection string; with `settings`, save it for later commands.

    Everything the user gave is checked before the database is touched, and the setting
    is saved only once the schema is in place: a mistake leaves nothing half-written.
    """
    from psflow.settings import SettingsError, check_config_writable, database_setting, env_lines, save_database_url
    from psflow.store.connstrings import absolute_sqlite_url, to_url
    from psflow.store.schema import initialize
    from psflow.store.urls import describe

    given = [
        (option, backend, value)
        for option, backend, value in (
            ("--sqlite", "sqlite", sqlite),
            ("--postgres", "postgres", postgres),
            ("--mssql", "mssql", mssql),
            ("--connection-string", None, connection_string),
        )
        if value is not None
    ]
    if len(given) != 1:
        which = "none was given" if not given else " and ".join(option for option, _, _ in given) + " were given"
        raise UsageError(
            "give exactly one database: --sqlite PATH, --postgres URL, --mssql CONNSTR or "
            f"--connection-string STR ({which}); `psflow config` shows the one in effect"
        )
    if settings is not None and settings not in SETTINGS_TARGETS:
        raise UsageError(f"--settings must be env or file, not {settings!r}")
    _, backend, text = given[0]
    connection = to_url(text, backend)
    url = connection.url
    if connection.backend == "sqlite":
        url = absolute_sqlite_url(url, Path.cwd())  # the same file from any folder, later
    try:
        config_file = check_config_writable() if settings == "file" else None
        report = initialize(url, upgrade=upgrade)
        if config_file is not None:
            save_database_url(url, config_file)
        in_effect = settings == "env" or database_setting(None).url == url
    except SettingsError as error:
        raise UsageError(str(error)) from None
    return InitResult(
        url=url,
        where=describe(url),
        action=report.action,
        version=report.version,
        found=report.found,
        ignored=connection.ignored,
        settings=settings,
        config_file=str(config_file) if config_file is not None else None,
        env_lines=tuple(env_lines(url)) if settings == "env" else (),
        in_effect=in_effect,
    )


def config(db: str | None = None) -> dict:
    """`psflow config`: the database in effect and where that came from (--db, PSFLOW_DB, the
    config file or the default), and every place psflow looks, passwords masked."""
    from psflow.settings import all_settings, config_path
    from psflow.store.urls import mask_password

    places = all_settings(db)
    effective = next(place for place in places if place.url)  # the default always names one
    path = config_path()
    return {
        "database": mask_password(effective.url),
        "source": effective.source,
        "where": effective.where,
        "config_file": str(path),
        "config_file_exists": path.is_file(),
        "settings": [
            {
                "source": place.source,
                "where": place.where,
                "database": mask_password(place.url) if place.url else None,
                "in_effect": place is effective,
                "error": place.error,
            }
            for place in places
        ],
    }


__all__ = [
    "InitResult",
    "config",
    "init",
    "Registration",
    "RunResult",
    "SendResult",
    "StoreError",
    "UsageError",
    "job_detail",
    "jobs",
    "parse_inputs",
    "register",
    "resume",
    "run",
    "send",
    "transformed_source",
    "workflow_versions",
    "workflows",
]
