"""A pool's worker process: spawned in its own session, it runs the jobs its parent sends through its pipe."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection

from psflow.domain import RunOptions
from psflow.errors import EditedRow, PsflowError
from psflow.runtime.signals import GRACEFUL
from psflow.script import recorder
from psflow.service.results import RunResult, edited_not_run
from psflow.service.running import resume_job
from psflow.service.setup import tell_trouble
from psflow.store import open_store

# A fresh interpreter per child: no database connection carried across fork, and the child
# writes to this process's descriptors as they are now (a forkserver's would be from its start).
_SPAWN = multiprocessing.get_context("spawn")


@dataclass
class WorkerProcess:
    """A worker process as its parent sees it: the process, its pipe, and the job it runs now."""

    process: multiprocessing.process.BaseProcess
    pid: int  # of the started process (also its process group)
    conn: Connection
    job_id: str | None = None  # the job it runs now
    signalled: int = 0  # how many of the parent's signals were passed on to it


def start_worker_process(url: str, options: RunOptions, prefix: bool) -> WorkerProcess:
    """A new worker process for the database at `url`, waiting for its first job; `prefix`: as run_pool's."""
    parent_end, child_end = _SPAWN.Pipe()
    process = _SPAWN.Process(target=_child_main, args=(url, child_end, options, prefix), daemon=True)
    with _group_signals_ignored(), _main_left_out():  # nor must the resource tracker die of our group's signals
        process.start()
    child_end.close()
    assert process.pid is not None  # started
    return WorkerProcess(process, process.pid, parent_end)


def _die_with_parent() -> None:
    """If the parent is killed (SIGKILL, the OOM killer), the running job gets SIGTERM and is recorded
    Interrupted, instead of running on as an orphan nobody waits for (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        return
    if os.getppid() == 1:  # the parent died before that took effect
        os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def _group_signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while helper processes start: they inherit that, so a signal to
    the process group reaches the parent alone (the parent passes it on to the children itself)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextmanager
def _main_left_out() -> Iterator[None]:
    """The child needs nothing from this process's `__main__`. Left in, spawn would run the caller's
    main script again in the child: a program calling psflow.resume without an `if __name__ ==
    "__main__":` guard would run twice (and psflow's own console script be loaded for nothing)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _child_main(url: str, conn: Connection, options: RunOptions, prefix: bool) -> None:
    """A worker process: run the jobs the parent sends until it sends None."""
    os.setsid()  # a signal to the parent's process group is for the parent to pass on, not for us
    _die_with_parent()
    for signum in (signal.SIGINT, signal.SIGTERM, GRACEFUL):
        signal.signal(signum, signal.SIG_IGN)  # between jobs; while one runs, the attempt handles them
    for stream in (sys.stdout, sys.stderr):  # whole lines at a time, even under PYTHONUNBUFFERED:
        if isinstance(stream, io.TextIOWrapper):  # the children's lines then never tear each other apart
            stream.reconfigure(line_buffering=True, write_through=False)
    store = open_store(url, notice=tell_trouble)
    while True:
        try:
            job_id = conn.recv()
        except (EOFError, OSError):
            break
        if job_id is None:
            break
        recorder.reset_shutdown()
        try:
            result = resume_job(store, job_id, options, output_prefix=f"[{job_id}] " if prefix else None)
        except EditedRow as error:  # that job's row, edited by hand: the next job may run here
            result = edited_not_run(job_id, error)
        except PsflowError as error:  # the database stayed unusable: say so, and end this process, so
            conn.send(_not_run(job_id, error))  # a job it held is seen at once as its runner gone
            break
        conn.send(result)
    store.close()


def _not_run(job_id: str, error: PsflowError) -> RunResult:
    return RunResult(
        job_id=job_id, script="", status="unknown", reason=None, exit_code=error.exit_code, attempt=0, error=str(error)
    )
