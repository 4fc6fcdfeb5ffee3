"""The Python API for other tools: `psflow.run`, `resume`, `send`, `jobs`, `job_detail`, …

A thin facade over psflow.service. Every function takes `db=` (a URL, path or
connection string; default: PSFLOW_DB, the config file, then the user data
folder) or `store=` (a Store from `psflow.connect`, kept open by the caller).
Errors a caller can cause derive from psflow.PsflowError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psflow.domain import DEFAULT_QUEUE, RESUME_STATUSES, RunOptions
from psflow.errors import PsflowError, StoreError, UsageError
from psflow.service import control, exec_requests, history, inputs, preflight, running, transcripts
from psflow.service import workflows as workflow_service
from psflow.service.inputs import SendResult
from psflow.service.results import RunResult
from psflow.service.setup import config, connect, init
from psflow.store import Store

__all__ = [
    "PsflowError",
    "RunResult",
    "SendResult",
    "StoreError",
    "UsageError",
    "cancel",
    "check",
    "config",
    "connect",
    "init",
    "job_detail",
    "jobs",
    "queues",
    "register",
    "rerun",
    "resume",
    "retry",
    "run",
    "send",
    "set_queue_limit",
    "submit",
    "transcript",
    "transformed_source",
    "workflow_versions",
    "workflows",
]


@contextmanager
def _using(db: str | None, store: Store | None, *, create: bool = True) -> Iterator[Store]:
    """`store` as given (the caller closes it), or one opened for `db` and closed afterwards;
    `create=False` for what only reads (a database that does not exist is an error, not made)."""
    if store is not None:
        yield store
        return
    with connect(db, create=create) as opened:
        yield opened


@contextmanager
def _using_for(request: exec_requests.ExecRequest, db: str | None, store: Store | None) -> Iterator[Store]:
    """As `_using`, for running or submitting `request`: a database that cannot be used, asked for a
    workflow name, says first that no such file exists (exec_requests.connect_for)."""
    if store is not None:
        yield store
        return
    with exec_requests.connect_for(request, db) as opened:
        yield opened


def _at_least_one(name: str, value: int | None) -> None:
    """What the command line refuses (`--limit 0`), the API refuses too, rather than return nothing."""
    if value is not None and value < 1:
        raise UsageError(f"{name} must be 1 or more, not {value}")


def run(
    script: str | Path,
    args: Iterable[str] = (),
    *,
    job_id: str | None = None,
    db: str | None = None,
    store: Store | None = None,
    announce: Callable[[str], None] | None = None,
    replay_output: bool = False,
    rerun_changed: bool = False,
    env: Iterable[str] = (),
) -> RunResult:
    """Run `script` in this process as a new job, or as job `job_id` (created if new, continued if not).

    A str that is no file but a registered workflow's name runs that workflow's
    newest version. `announce` is told the script's warnings and which version runs.
    `env` names environment variables the job needs at every attempt (`psflow exec --env`).
    """
    request = exec_requests.exec_request(script, job_id, env)
    options = RunOptions(replay_output=replay_output, rerun_changed=rerun_changed)
    with _using_for(request, db, store) as opened:
        return running.run(opened, request, args, options=options, announce=announce)


def submit(
    script: str | Path,
    args: Iterable[str] = (),
    *,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    job_id: str | None = None,
    env: Iterable[str] = (),
    db: str | None = None,
    store: Store | None = None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Create a job as `run` would, but Queued for a `psflow worker` of `queue` instead of run here
    (`psflow submit`). The job as `jobs` shows it, and "created": False when `job_id` names the same
    submission already (nothing new was submitted)."""
    from psflow.service.submit import submit as submit_job

    request = exec_requests.exec_request(script, job_id, env)
    with _using_for(request, db, store) as opened:
        submitted = submit_job(opened, request, args, queue=queue, priority=priority, announce=announce)
    return {**submitted.job.to_json(), "created": submitted.created}


def queues(*, db: str | None = None, store: Store | None = None) -> list[dict[str, Any]]:
    """Every queue with a limit or an unfinished job: its limit, Running, due and waiting jobs
    (as `psflow queues --json`)."""
    with _using(db, store, create=False) as opened:
        return [queue.to_json() for queue in opened.queue_counts()]


def set_queue_limit(
    name: str, limit: int | None, *, db: str | None = None, store: Store | None = None
) -> dict[str, Any]:
    """At most `limit` of queue `name`'s jobs Running at once, on every server (None: no limit), as
    `psflow queue NAME --limit N`; the queue as `queues` shows it."""
    from psflow.service import queues as queue_service

    with _using(db, store) as opened:
        queue_service.set_limit(opened, name, limit)
        return queue_service.show(opened, name).to_json()


def resume(
    *,
    statuses: Iterable[str] = RESUME_STATUSES,
    job_ids: Iterable[str] = (),
    limit: int | None = None,
    latest: bool = False,
    parallel: int = 1,
    queues: Iterable[str] = (),
    on_result: Callable[[RunResult], None] | None = None,
    replay_output: bool = False,
    rerun_changed: bool = False,
    db: str | None = None,
    store: Store | None = None,
) -> list[RunResult]:
    """Run again every due job in `statuses` (default Waiting and Queued; of `queues`, if given) or the
    jobs named, each once, in `parallel` worker processes (a job that kills its process fails alone);
    one RunResult per job."""
    from psflow.service.workers import run_pool

    _at_least_one("limit", limit)
    _at_least_one("parallel", parallel)
    options = RunOptions(replay_output=replay_output, rerun_changed=rerun_changed, latest=latest)
    with _using(db, store) as opened:
        return run_pool(
            opened,
            statuses=statuses,
            job_ids=job_ids,
            processes=parallel,
            limit=limit,
            on_result=on_result,
            options=options,
            queues=queues,
        )


def send(
    job_ids: str | Iterable[str], values: dict[str, Any], *, db: str | None = None, store: Store | None = None
) -> list[SendResult]:
    """Give input `values` ({name: value}) to the jobs' `wait_for`; they are not run (resume them)."""
    with _using(db, store) as opened:
        return inputs.send(opened, job_ids, values)


def jobs(
    *, statuses: Iterable[str] = (), limit: int | None = None, db: str | None = None, store: Store | None = None
) -> list[dict[str, Any]]:
    """Jobs as `psflow jobs --json` shows them, most recently updated first."""
    _at_least_one("limit", limit)
    with _using(db, store, create=False) as opened:
        return history.jobs(opened, statuses=statuses, limit=limit)


def job_detail(job_id: str, *, db: str | None = None, store: Store | None = None) -> dict[str, Any]:
    """One job (id or unique prefix), as `psflow job ID --json` shows it."""
    with _using(db, store, create=False) as opened:
        return history.job_detail(opened, job_id)


def transcript(
    job_id: str,
    *,
    block: str | None = None,
    attempt: int | None = None,
    db: str | None = None,
    store: Store | None = None,
) -> list[dict[str, Any]]:
    """Every block run's captured output, in the order recorded (as `psflow logs ID --json`)."""
    with _using(db, store, create=False) as opened:
        return transcripts.transcript(opened, job_id, block=block, attempt=attempt)[1]


def rerun(
    job_id: str,
    *,
    from_block: str | None = None,
    only: Iterable[str] = (),
    db: str | None = None,
    store: Store | None = None,
) -> control.RerunResult:
    with _using(db, store) as opened:
        return control.rerun(opened, job_id, from_block=from_block, only=only)


def cancel(
    job_id: str,
    *,
    reason: str | None = None,
    keep_children: bool = False,
    db: str | None = None,
    store: Store | None = None,
) -> control.Change:
    with _using(db, store) as opened:
        return control.cancel(opened, job_id, reason=reason, keep_children=keep_children)


def job_result(job_id: str, *, db: str | None = None, store: Store | None = None) -> Any:
    """What job `job_id` (id or unique prefix) set as `job.result` (None if nothing): the value itself,
    decoded by psflow's codec (which never imports a module or runs code the data chooses)."""
    from psflow import codec

    with _using(db, store, create=False) as opened:
        text = opened.job_result(opened.find_job(job_id).id)
    return codec.decode(text) if text is not None else None


def retry(job_id: str, *, db: str | None = None, store: Store | None = None) -> control.Change:
    with _using(db, store) as opened:
        return control.retry(opened, job_id)


def register(
    name: str, script: str | Path, *, db: str | None = None, store: Store | None = None
) -> workflow_service.Registration:
    """Store `script`'s source as the next version of registered workflow `name`."""
    with _using(db, store) as opened:
        return workflow_service.register(opened, name, script)


def workflow_versions(name: str, *, db: str | None = None, store: Store | None = None) -> list[dict[str, Any]]:
    with _using(db, store, create=False) as opened:
        return workflow_service.workflow_versions(opened, name)


def workflows(*, db: str | None = None, store: Store | None = None) -> list[dict[str, Any]]:
    """Registered workflows by name: the newest version, how many versions, who registered it."""
    with _using(db, store, create=False) as opened:
        return workflow_service.workflows(opened)


def check(script: str | Path) -> preflight.CheckResult:
    """`psflow check`: the script's blocks and every error and warning; nothing runs."""
    return preflight.check(script)


def transformed_source(script: str | Path, *, diff: bool = False) -> str:
    """The source psflow runs for `script`, or a unified diff against the original."""
    return preflight.transformed_source(script, diff=diff)
