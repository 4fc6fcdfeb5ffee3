"""Running and resuming jobs: `psflow exec`, `psflow resume`, and one job for a worker process.

Every run is claimed first (one conditional UPDATE; the attempt number comes
from the claimed row), then executed by psflow.runtime under a lease.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from psflow.domain import JobStatus, Runner, RunOptions
from psflow.errors import EXIT_USAGE, EditedRow, UntrustedError, UsageError
from psflow.loading import LoadedScript, load_source
from psflow.runtime import run_attempt
from psflow.service import trust
from psflow.service.children import ChildStarter
from psflow.service.due import not_due_reason, runner_gone
from psflow.service.exec_requests import (
    Announce,
    ExecRequest,
    announce_warnings,
    check_env,
    current_folder,
    new_job_id,
    registered_workflow,
)
from psflow.service.queues import held_note
from psflow.service.results import RunResult, not_run, skipped, taken_note
from psflow.service.sources import CHANGED, MOVED, Source, newer_note, resolve_source, workflow_label
from psflow.signing import own_signer, signer
from psflow.store import JobView, Store, WorkflowView
from psflow.store.tables import DEFAULT_QUEUE
from psflow.transform import TransformError


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
    announce_warnings(loaded, announce)
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
        check_env(job.env, f"job {job.id}")
    except TransformError as error:  # edited into a script that does not compile: leave the job as it is
        first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
        return not_run(job, first, EXIT_USAGE)
    except (UntrustedError, UsageError) as error:  # unsigned, no key here, or a variable missing: leave it as it is
        return not_run(job, str(error), error.exit_code)
    try:
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
    except EditedRow as error:  # its claim found an attempt count psflow never writes: leave it as it is
        return replace(not_run(job, str(error), error.exit_code), edited=True)


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
    return _attempt(store, created, loaded, args, runner, options, number=1, cwd=current_folder())


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
        cwd=current_folder(),
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
    check_env(job.env, f"job {job.id}")
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
    here = current_folder()
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
    announce_warnings(loaded, announce)
    return _start(store, job_id or new_job_id(), loaded, args, options, workflow=newest, env=request.env)
