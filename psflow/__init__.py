"""psflow: make a plain Python script resumable.

Blocks run once per job; what they bind is saved and given back on later runs.
This module stays light: importing it loads neither the database layer nor libcst,
and the `psflow` command, which imports it first, not even what a script touches.
"""

from __future__ import annotations

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING

from psflow.errors import PsflowError, UsageError

__version__ = "0.1.0"

# Names loaded on first use (PEP 562). A script's names (psflow.script) load with the
# script's `from psflow import block`, not with every `psflow` command; the Python API
# for other tools loads when one is called, so `import psflow` in a script stays light:
# the database layer (peewee) and the rewriter (libcst) load only then.

_SCRIPT = (
    "BlockError",
    "BlockTimeout",
    "ChildJobError",
    "JobHandle",
    "Terminated",
    "WaitTimeout",
    "block",
    "job",
    "sleep",
    "sleep_until",
    "start",
    "stop",
    "wait_for",
    "wait_jobs",
)
_API = (
    "run",
    "resume",
    "jobs",
    "job_detail",
    "job_result",
    "register",
    "workflows",
    "submit",
    "queues",
    "set_queue_limit",
    "connect",
    "RunResult",
    "SendResult",
)
_LAZY = {**dict.fromkeys(_SCRIPT, "psflow.script"), **dict.fromkeys(_API, "psflow.api")}

__all__ = [
    "BlockError",
    "BlockTimeout",
    "PsflowError",
    "Terminated",
    "UsageError",
    "WaitTimeout",
    "__version__",
    "send",
    *_SCRIPT,
    *_API,
]

if _TYPE_CHECKING:
    from psflow.api import (
        RunResult,
        SendResult,
        connect,
        job_detail,
        job_result,
        jobs,
        queues,
        register,
        resume,
        run,
        set_queue_limit,
        submit,
        workflows,
    )
    from psflow.script import (
        BlockError,
        BlockTimeout,
        ChildJobError,
        JobHandle,
        Terminated,
        WaitTimeout,
        block,
        job,
        sleep,
        sleep_until,
        start,
        stop,
        wait_for,
        wait_jobs,
    )


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'psflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def send(job_id: str, inputs: dict | None = None, /, *, db: str | None = None, **values) -> SendResult:
    """Send input to job `job_id` (id or unique prefix) for its `wait_for(NAME)`.

    `psflow.send("7kq", approval="yes")`; names that are not identifiers (or `db`)
    go in a dict: `psflow.send("7kq", {"db": "main"})`. The job is not run: resume it.
    Defined here, not loaded with the API, so that naming it costs nothing.
    """
    from psflow import api

    return api.send([job_id], {**(inputs or {}), **values}, db=db)[0]
