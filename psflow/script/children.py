"""Child jobs: `start` another script (or registered workflow) as a job any worker may run, and
`wait_jobs` for their results.

Under psflow, `start` is recorded in the parent like a block (a resumed parent gets the same
handle back and never starts the child twice), and `wait_jobs` stops the parent's attempt,
Waiting, until its last child ends — no process waits. Under plain `python`, `start` runs the
child script at once in this process and `wait_jobs` gives what it set as `job.result`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psflow.errors import PsflowError, StartError
from psflow.script import recorder

if TYPE_CHECKING:
    from datetime import timedelta

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_QUEUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


@dataclass(frozen=True)
class JobHandle:
    """What `start()` returns: the child job's id (give it to `wait_jobs`; `psflow job ID` shows it)."""

    id: str
    script: str = ""
    outcome: Any = None  # plain Python only: the child's result (or ChildJobError), as it ran at once

    def __repr__(self) -> str:
        return f"<psflow child job {self.id}>"


class ChildJobError(PsflowError):
    """A child job that `wait_jobs` waited for failed, was cancelled or was removed. `job_id`,
    `status`, `reason` and `error` (the traceback of its uncaught exception, if any) say how."""

    exit_code = 1
    __module__ = "psflow"  # as the script imports it; tracebacks and reasons say psflow.ChildJobError

    def __init__(self, job_id: str, status: str, reason: str | None = None, error: str | None = None) -> None:
        self.job_id, self.status, self.reason, self.error = job_id, status, reason, error
        last = error.strip().splitlines()[-1] if error and error.strip() else None
        detail = "; ".join(part for part in (reason, last if last != reason else None) if part)
        super().__init__(f"child job {job_id} {status}" + (f": {detail}" if detail else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return ChildJobError, (self.job_id, self.status, self.reason, self.error)


def start(script_or_workflow: str, *args: Any, job_id: str | None = None, queue: str | None = None) -> JobHandle:
    """Start a child job running `script_or_workflow` (a script's path, relative to this script's
    folder, or a registered workflow's name) with `args` (each given to it as str, as on a command
    line); any worker on any server that shares the database may run it.

    Recorded like a block: a resumed parent gets the same handle back and never starts it again.
    Its id is `<this job>.<n>` unless `job_id` is given, which is then an idempotency key (a job
    with that id that this job started for the same script and arguments is reused).
    """
    if not isinstance(script_or_workflow, str) or not script_or_workflow:
        raise StartError(f"start() needs a script path or workflow name (a str), not {script_or_workflow!r}")
    if job_id is not None and (not isinstance(job_id, str) or not _ID.fullmatch(job_id)):
        raise StartError(
            f"start() job_id {job_id!r} is not valid: use letters, digits, '.', '_', ':' or '-' (at most 64)"
        )
    if queue is not None and (not isinstance(queue, str) or not _QUEUE.fullmatch(queue)):
        raise StartError(f"start() queue {queue!r} is not valid: use letters, digits, '_', '.' or '-'")
    texts = [_arg(value) for value in args]
    if recorder.current is None:
        return _run_here(script_or_workflow, texts, job_id)
    return JobHandle(recorder.current.start_child(script_or_workflow, texts, job_id, queue), script_or_workflow)


def wait_jobs(
    handles: Iterable[JobHandle], timeout: float | timedelta | None = None, return_exceptions: bool = False
) -> list[Any]:
    """The results (`job.result`) of the child jobs `handles`, in order, once every one has ended.

    Until then the attempt stops with status Waiting ("waiting for 3 of 8 child jobs"); the job
    becomes due again when the last of them ends. A child that failed, was cancelled or removed
    raises ChildJobError (with `return_exceptions=True`, it stands in its place in the list). With
    `timeout`, a parent still waiting that long after it first waited raises WaitTimeout.
    """
    from psflow.durations import to_seconds

    if isinstance(handles, (str, bytes, JobHandle)) or not isinstance(handles, Iterable):
        raise StartError(f"wait_jobs() needs a list of what start() returned, not {_kind(handles)}")
    handles = list(handles)
    for handle in handles:
        if not isinstance(handle, JobHandle):
            raise StartError(f"wait_jobs() needs what start() returned, not {_kind(handle)}")
    try:
        seconds = None if timeout is None else to_seconds(timeout, "wait_jobs() timeout")
    except (TypeError, ValueError) as error:
        raise StartError(str(error)) from None
    if recorder.current is None:
        outcomes = [handle.outcome for handle in handles]
    else:
        outcomes = recorder.current.wait_jobs([handle.id for handle in handles], seconds, return_exceptions)
    if not return_exceptions:
        for outcome in outcomes:
            if isinstance(outcome, ChildJobError):
                raise outcome
    return outcomes


def _arg(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise StartError(f"start() arguments are given to the child as text: a str, int or float, not {_kind(value)}")


def _kind(value: Any) -> str:
    return f"a {type(value).__name__} ({value!r:.40})"


def _run_here(script: str, args: list[str], job_id: str | None) -> JobHandle:
    """Plain Python: run the child script now, in this process, as `python SCRIPT ARGS` would."""
    import runpy
    import sys
    from pathlib import Path

    from psflow.script.job import job

    main = sys.modules.get("__main__")
    folder = Path(getattr(main, "__file__", None) or ".").resolve().parent
    path = Path(script) if Path(script).is_absolute() else folder / script
    if not path.is_file():
        raise StartError(f"start(): script not found: {path} (under plain Python, start() runs a script file)")
    saved_argv, saved_result = sys.argv, job.__dict__.pop("_result", None)
    sys.argv = [str(path), *args]
    outcome: Any
    try:
        runpy.run_path(str(path), run_name="__main__")
        outcome = job.result
    except SystemExit as ended:
        outcome = job.result if ended.code in (None, 0) else ChildJobError(path.name, "Failed", f"exit {ended.code}")
    except Exception as error:  # the child's own failure: its parent sees it as wait_jobs would
        outcome = ChildJobError(path.name, "Failed", f"{type(error).__name__}: {error}")
    finally:
        sys.argv = saved_argv
        job.__dict__.pop("_result", None)
        if saved_result is not None:
            job.__dict__["_result"] = saved_result
    return JobHandle(job_id or path.stem, script, outcome)
