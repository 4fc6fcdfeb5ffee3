"""Running and resuming jobs: `psflow exec`, `psflow resume`, and one job for a worker process.

Every run is claimed first (one conditional UPDATE; the attempt number comes
from the claimed row), then executed by psflow.runtime under a lease.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from psflow.domain import JobStatus, Runner, RunOptions
from psflow.errors import EXIT_COMPLETED, EXIT_USAGE, UntrustedError, UsageError
from psflow.loading import LoadedScript, load_script, load_source
from psflow.runtime import run_attempt
from psflow.service import trust
from psflow.service.children import ChildStarter
from psflow.service.due import not_due_reason, runner_gone, running_note
from psflow.service.queues import held_note
from psflow.service.sources import CHANGED, MOVED, Source, newer_note, resolve_source, workflow_label
from psflow.signing import own_signer, signer
from psflow.store import JobView, Store, WorkflowView
from psflow.store.tables import DEFAULT_QUEUE
from psflow.transform import TransformError

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
WORKFLOW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

Announce = Callable[[str], None]


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


@dataclass(frozen=True)
class ExecRequest:
    """What `psflow exec` was asked to run, checked before any database is opened."""

    job_id: str | None  # --job or PSFLOW_JOB_ID
    loaded: LoadedScript | None = None  # a script file, compiled
    workflow: str | None = None  # else the name of a registered workflow
    env: tuple[str, ...] = ()  # --env: variables every attempt needs (the names are stored, never the values)


def new_job_id() -> str:
    """Short, random, URL-safe: 10 characters of base32, 50 bits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def check_job_id(job_id: str) -> str:
    if not _ID_PATTERN.fullmatch(job_id):
        raise UsageError(f"job id {job_id!r} is not valid: use letters, digits, '.', '_', ':' or '-' (at most 64)")
    return job_id


def exec_request(script: str | Path, job_id: str | None = None, env: Iterable[str] = ()) -> ExecRequest:
    """Check what `psflow exec SCRIPT [--job ID] [--env NAME]` names: a script file (compiled now: a syntax
    error stops here) or, when no such file exists, a registered workflow's name; variables that are set."""
    job_id = job_id or os.environ.get("PSFLOW_JOB_ID") or None
    if job_id is not None:
        check_job_id(job_id)
    names = tuple(dict.fromkeys(env))
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise UsageError(f"--env {name!r} is not a variable's name: give the NAME only, never its value")
    _check_env(names, "this job")
    if isinstance(script, str) and not Path(script).is_file() and WORKFLOW_NAME.fullmatch(script):
        return ExecRequest(job_id, workflow=script, env=names)
    return ExecRequest(job_id, loaded=load_script(Path(script)), env=names)


def _check_env(names: Iterable[str], what: str) -> None:
    """UsageError naming those of `names` this process's environment lacks: the job is not run without them."""
    missing = [name for name in names if name not in os.environ]
    if missing:
        raise UsageError(
            f"{what} needs environment variable {', '.join(missing)} (psflow exec --env), which is not set here: "
            "set it in this command's environment and run it again"
        )


def connect_for(request: ExecRequest, db: str | None) -> Store:
    """The store to run `request` in; for a workflow name, a database that cannot be used
    still says first that no such file exists (the user may have mistyped a file name)."""
    from psflow.errors import StoreError
    from psflow.service.setup import connect

    try:
        return connect(db)
    except StoreError as error:
        if request.workflow is None:
            raise
        raise UsageError(
            f"script not found: {Path(request.workflow).resolve()}, and cannot look for a workflow named "
            f"{request.workflow!r}: {error}"
        ) from None


def run(
    store: Store,
    request: ExecRequest,
    args: Iterable[str] = (),
    *,
    options: RunOptions = RunOptions(),
    announce: Announce | None = None,
) -> RunResult:
    """Run the request as a new job, or as its job id (created if new, continued if not).

    `announce` is told the script's warnings (`psflow check`) and, for a workflow,
    which version runs, before anything runs.
    """
    if request.workflow is not None:
        return _run_workflow(store, request, list(args), options, announce)
    loaded = request.loaded
    assert loaded is not None
    _announce_warnings(loaded, announce)
    if request.job_id is not None:
        existing = store.get_job(request.job_id)
        if existing is not None:
            _check_same_script(existing, loaded)
            return _continue(store, existing, loaded, list(args), options, env=request.env)
    return _start(store, request.job_id or new_job_id(), loaded, list(args), options, env=request.env)


def resume_job(
    store: Store, job_id: str, options: RunOptions = RunOptions(), *, output_prefix: str | None = None
) -> RunResult:
    """Claim and run one job by id (for worker processes)."""
    found = store.job_and_source(job_id)
    if found is None:
        return RunResult(
            job_id=job_id,
            script="",
            status="unknown",
            reason=None,
            attempt=0,
            note="skipped: the job is gone",
            skipped=True,
        )
    job, snapshot = found
    return resume_one(store, job, options, output_prefix=output_prefix, snapshot=snapshot)


def resume_one(
    store: Store, job: JobView, options: RunOptions, *, output_prefix: str | None = None, snapshot: str | None = None
) -> RunResult:
    """Run `job` again if it may be taken now (psflow.service.due): the source `resolve_source`
    chooses, claimed first. `snapshot`: the job's stored source, as read with `job`."""
    waiting = not_due_reason(job, store.clock.now())
    if waiting is not None:
        return skipped(job, f"skipped: {waiting}")
    try:
        source = resolve_source(store, job, latest=options.latest, snapshot=snapshot)
        if source.why == MOVED:
            signer(create=False)  # moving a job is signing it anew: only where the private key is
        _check_env(job.env, f"job {job.id}")
    except TransformError as error:  # edited into a script that does not compile: leave the job as it is
        first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
        return not_run(job, first, EXIT_USAGE)
    except (UntrustedError, UsageError) as error:  # unsigned, no key here, or a variable missing: leave it as it is
        return not_run(job, str(error), error.exit_code)
    return _claim_and_run(
        store,
        job,
        source.loaded,
        list(job.args),
        options,
        note=source.note(job),
        workflow_version=source.version,
        output_prefix=output_prefix,
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


# ---- starting, continuing, claiming ----------------------------------------------


def _start(
    store: Store,
    job_id: str,
    loaded: LoadedScript,
    args: list[str],
    options: RunOptions,
    *,
    workflow: WorkflowView | None = None,
    env: tuple[str, ...] = (),
) -> RunResult:
    runner = Runner.here()
    created = create_job(store, job_id, loaded, args, runner, workflow=workflow, env=env)
    if created is None:  # someone created it a moment ago
        existing = store.get_job(job_id)
        if existing is None:
            raise UsageError(f"job {job_id} was created and deleted meanwhile: run it again")
        return _continue(store, existing, loaded, args, options, env=env)
    return _attempt(store, created, loaded, args, runner, options, number=1, cwd=os.getcwd())


def create_job(
    store: Store,
    job_id: str,
    loaded: LoadedScript,
    args: list[str],
    runner: Runner | None,
    *,
    workflow: WorkflowView | None = None,
    env: tuple[str, ...] = (),
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
) -> JobView | None:
    """The new job, signed, claimed by `runner` (or Queued without one); None if its id is taken."""
    key = trust.job_signer()  # before anything is written: a server with only the public key creates no job
    return store.create_job(
        job_id,
        name=workflow.name if workflow is not None else loaded.path.stem,
        script=str(loaded.path),
        source=loaded.source,
        source_sha256=loaded.sha256,
        args=args,
        runner=runner,
        cwd=os.getcwd(),
        workflow=workflow.name if workflow is not None else None,
        workflow_version=workflow.version if workflow is not None else None,
        env=env,
        sign=lambda job, source: trust.sign_job(key, job, source),
        queue=queue,
        priority=priority,
    )


def _continue(
    store: Store, job: JobView, loaded: LoadedScript, args: list[str], options: RunOptions, *, env: tuple[str, ...] = ()
) -> RunResult:
    """Run an existing job again from `psflow exec` (its file, or its workflow version, given as `loaded`)."""
    if job.status == JobStatus.COMPLETED:
        return RunResult(
            job_id=job.id,
            script=job.script,
            status=job.status,
            reason=job.reason,
            attempt=job.attempts,
            note="already Completed: nothing to run",
            skipped=True,
        )
    if job.status == JobStatus.CANCELLED:
        raise UsageError(f"job {job.id} was cancelled; start a new job instead")
    if args and args != list(job.args):
        raise UsageError(
            f"job {job.id} was started with arguments {list(job.args)}; run it without arguments to continue it"
        )
    if env and set(env) != set(job.env):
        raise UsageError(f"job {job.id} was started with --env {' '.join(job.env) or '(none)'}; it keeps them")
    trust.verified_job(store, job)  # its arguments, folder and variables come from the database
    _check_env(job.env, f"job {job.id}")
    note = Source(loaded, why=CHANGED if loaded.sha256 != job.source_sha256 else None).note(job)
    return _claim_and_run(store, job, loaded, list(job.args), options, note=note)


def _claim_and_run(
    store: Store,
    job: JobView,
    loaded: LoadedScript,
    args: list[str],
    options: RunOptions,
    *,
    note: str | None,
    workflow_version: int | None = None,
    output_prefix: str | None = None,
) -> RunResult:
    runner = Runner.here()
    number = job.attempts + 1
    if not store.claim_job(job, runner, runner_gone=runner_gone(job), source_sha256=loaded.sha256):
        current = store.get_job(job.id)
        return RunResult(
            job_id=job.id,
            script=job.script,
            status=current.status if current else job.status,
            reason=job.reason,
            attempt=job.attempts,
            note=held_note(store, job, current) or taken_note(current, store.clock.now()),
            skipped=True,
        )
    if workflow_version is not None and workflow_version != job.workflow_version:
        job = replace(job, script=str(loaded.path), workflow_version=workflow_version, source_sha256=loaded.sha256)
        signature = trust.sign_job(signer(create=False), job, loaded.source)
        store.move_to_version(
            job.id,
            number,
            version=workflow_version,
            script=job.script,
            source=loaded.source,
            source_sha256=loaded.sha256,
            signature=signature,
        )
    elif loaded.sha256 != job.source_sha256 and (key := own_signer()) is not None:
        # The file here changed: its new text becomes the signed snapshot. A server with only
        # the public key runs the file (the user's own) and leaves the signed snapshot as it was.
        signature = trust.sign_job(key, replace(job, source_sha256=loaded.sha256), loaded.source)
        store.update_source(job.id, number, loaded.source, loaded.sha256, signature=signature)
    cwd, cwd_note = _working_directory(job)
    note = "; ".join(part for part in (note, cwd_note) if part) or None
    return _attempt(
        store,
        job,
        loaded,
        args,
        runner,
        options,
        number=number,
        note=note,
        cwd=cwd,
        output_prefix=output_prefix,
        begun=True,
    )


def _working_directory(job: JobView) -> tuple[str, str | None]:
    """Where the attempt runs: the folder of the job's first attempt when it exists here, else this one
    (a job made without one runs here: its folder is signed with it, so it is never filled in later)."""
    here = os.getcwd()
    if job.cwd is None or os.path.isdir(job.cwd):
        return job.cwd or here, None
    return here, f"its folder {job.cwd} does not exist here: ran in {here}"


def _attempt(
    store: Store,
    job: JobView,
    loaded: LoadedScript,
    args: list[str],
    runner: Runner,
    options: RunOptions,
    *,
    number: int,
    cwd: str,
    note: str | None = None,
    output_prefix: str | None = None,
    begun: bool = False,
) -> RunResult:
    """Run attempt `number` of `job`, which `runner` holds; `begun`: its claim recorded its start already."""
    if not begun and not store.start_attempt(job.id, number, runner, source_sha256=loaded.sha256):
        return RunResult(
            job_id=job.id,
            script=job.script,
            status=job.status,
            reason=job.reason,
            attempt=job.attempts,
            note=taken_note(store.get_job(job.id), store.clock.now()),
            skipped=True,
        )
    # Where a shutdown leaves it: the status it had, but Waiting for a job that has run now (Queued never has).
    handback = job.status if job.status not in (JobStatus.RUNNING, JobStatus.QUEUED) else JobStatus.WAITING
    outcome = run_attempt(
        store,
        job.id,
        number,
        loaded.code,
        script=job.script,
        argv=args,
        runner=runner,
        options=options,
        handback_status=handback,
        clock=store.clock,
        cwd=cwd,
        output_prefix=output_prefix,
        starter=ChildStarter(store, job, cwd, number),
    )
    if outcome.lost:
        note = outcome.reason
    return RunResult(
        job_id=job.id,
        script=job.script,
        status=outcome.status,
        reason=outcome.reason,
        exit_code=outcome.exit_code,
        attempt=number,
        ran=outcome.ran,
        replayed=outcome.replayed,
        note=note,
        due=outcome.due,
    )


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


def _check_same_script(job: JobView, loaded: LoadedScript) -> None:
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


def _announce_warnings(loaded: LoadedScript, announce: Announce | None) -> None:
    """Tell `announce` what `psflow check` warns about (found when the script was compiled, kept in its code)."""
    if announce is None:
        return
    for warning in loaded.report.warnings:
        announce(warning.format())


def _run_workflow(
    store: Store, request: ExecRequest, args: list[str], options: RunOptions, announce: Announce | None
) -> RunResult:
    """`run` for a name that is no file here: the newest version of that registered workflow, once its
    signature holds (a job continued: the version it started with, once the job's holds)."""
    name, job_id = request.workflow or "", request.job_id
    newest = registered_workflow(store, name)
    if job_id is not None:
        existing = store.get_job(job_id)
        if existing is not None:
            if existing.workflow != name:
                raise UsageError(
                    f"job {existing.id} runs {existing.script}, not workflow {name}: choose another --job id, "
                    f"or `psflow resume --job {existing.id}` to continue it"
                )
            # A job keeps the version it started with; `resume --latest` moves it.
            version = existing.workflow_version
            loaded = load_source(workflow_label(name, version), trust.verified_job(store, existing))
            if announce is not None:
                announce(f"job {existing.id} runs workflow {name} v{version}{newer_note(newest.version, existing)}")
            return _continue(store, existing, loaded, args, options, env=request.env)
    loaded = load_source(workflow_label(name, newest.version), trust.verified_workflow(newest))
    if announce is not None:
        announce(f"no file {name!r} here: running registered workflow {name} v{newest.version} (its newest version)")
    _announce_warnings(loaded, announce)
    return _start(store, job_id or new_job_id(), loaded, args, options, workflow=newest, env=request.env)


def registered_workflow(store: Store, name: str) -> WorkflowView:
    """The newest version of workflow `name`; UsageError (no such file, no such workflow) if none."""
    newest = store.workflow(name)
    if newest is None:
        if Path(name).exists():  # a folder, say: the file error says what is wrong
            load_script(Path(name))
        raise UsageError(
            f"script not found: {Path(name).resolve()}, and no workflow named {name!r} is registered: "
            "give a script's path, or one of the names `psflow workflows` lists"
        )
    return newest
