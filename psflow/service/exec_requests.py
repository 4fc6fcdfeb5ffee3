"""What `psflow exec` and `psflow submit` are asked to run, checked before any job is created or run."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from psflow.errors import UsageError
from psflow.loading import LoadedScript, load_script
from psflow.store import Store, WorkflowView

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
WORKFLOW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

Announce = Callable[[str], None]


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


def current_folder() -> str:
    """This process's working folder (where a new job's attempts run); UsageError if it was deleted."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise UsageError("the current folder was deleted: cd to a folder that exists and run it again") from None


def exec_request(script: str | Path, job_id: str | None = None, env: Iterable[str] = ()) -> ExecRequest:
    """Check what `psflow exec SCRIPT [--job ID] [--env NAME]` names: a script file (compiled now: a syntax
    error stops here) or, when no such file exists, a registered workflow's name; variables that are set."""
    current_folder()  # a relative path, and the job's folder, need one
    job_id = job_id or os.environ.get("PSFLOW_JOB_ID") or None
    if job_id is not None:
        check_job_id(job_id)
    names = tuple(dict.fromkeys(env))
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise UsageError(f"--env {name!r} is not a variable's name: give the NAME only, never its value")
    check_env(names, "this job")
    if isinstance(script, str) and not Path(script).is_file() and WORKFLOW_NAME.fullmatch(script):
        return ExecRequest(job_id, workflow=script, env=names)
    return ExecRequest(job_id, loaded=load_script(Path(script)), env=names)


def check_env(names: Iterable[str], what: str) -> None:
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


def announce_warnings(loaded: LoadedScript, announce: Announce | None) -> None:
    """Tell `announce` what `psflow check` warns about (found when the script was compiled, kept in its code)."""
    if announce is None:
        return
    for warning in loaded.report.warnings:
        announce(warning.format())


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
