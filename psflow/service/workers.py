"""Run jobs in worker processes: `psflow resume --parallel N` and `psflow worker`.

The parent finds due jobs and hands their ids to N child processes through a
queue; each child claims a job (one conditional UPDATE), runs it in a fresh
`__main__`, reports, and takes the next — many jobs per process, so start-up is
paid once. A child that dies (os._exit, a segfault) costs only its current job,
which the parent marks Failed so it can be resumed; a new child takes its place.
SIGTERM/SIGINT: no new claims; a running job stops before its next block and is
handed back with the status it had.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from psflow.domain import JobStatus, RunOptions
from psflow.script import recorder
from psflow.service.running import RunResult, due_job_ids, resume_job
from psflow.store import Store, open_store

_DONE = None  # queue sentinel: no more work


@dataclass
class _Child:
    process: multiprocessing.process.BaseProcess
    job_id: str | None = None  # the job it is running now


def run_pool(
    store: Store,
    *,
    statuses: Iterable[str],
    processes: int,
    limit: int | None = None,
    forever: bool = False,
    poll: float = 5.0,
    on_result: Callable[[RunResult], None] | None = None,
    shutdown: threading.Event | None = None,
    options: RunOptions = RunOptions(),
) -> list[RunResult]:
    """Run due jobs in `processes` children: one sweep, or with `forever` until `shutdown` is set."""
    statuses = list(statuses)
    # A fresh interpreter per child: no database connection is carried across fork.
    context = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
    tasks, events = context.Queue(), context.Queue()
    shutdown = shutdown or threading.Event()
    children: list[_Child] = []
    results: list[RunResult] = []
    queued: set[str] = set()
    sleeping: dict[str, RunResult] = {}  # jobs whose timer is not due yet: told once, taken when due

    def start_child() -> None:
        process = context.Process(
            target=_child_main, args=(store.url, tasks, events, options), daemon=True
        )
        process.start()
        children.append(_Child(process))

    def report(result: RunResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)
        if forever and result.due is not None and not result.skipped:
            queued.discard(result.job_id)  # it sleeps on a timer: take it again once it is due

    def skip(result: RunResult) -> None:
        if result.job_id not in sleeping:
            sleeping[result.job_id] = result
            if on_result is not None:
                on_result(result)

    for _ in range(max(1, processes)):
        start_child()
    next_poll = 0.0
    try:
        while not shutdown.is_set():
            if time.monotonic() >= next_poll and (forever or not queued):
                remaining = None if limit is None else limit - len(queued)
                if remaining is None or remaining > 0:
                    for job_id in due_job_ids(store, statuses, remaining, exclude=queued, on_skip=skip):
                        queued.add(job_id)
                        sleeping.pop(job_id, None)
                        tasks.put(job_id)
                next_poll = time.monotonic() + poll
            _drain(events, children, report, timeout=0.1)
            _replace_dead(children, store, report, start_child)
            if not forever and len(results) >= len(queued):
                break
        else:  # shutting down: children finish their block, hand their job back, and exit
            for child in children:
                if child.process.is_alive():
                    os.kill(child.process.pid, signal.SIGTERM)
    finally:
        for _ in children:
            tasks.put(_DONE)
        for child in children:
            child.process.join(timeout=60)
        _drain(events, children, report, timeout=0)
    return list(sleeping.values()) + results


def _drain(events, children: list[_Child], report, *, timeout: float) -> None:
    """Take every message the children sent: ("claimed", pid, job id) or ("result", pid, RunResult)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            kind, pid, payload = events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return
        child = next((c for c in children if c.process.pid == pid), None)
        if kind == "claimed" and child is not None:
            child.job_id = payload
        elif kind == "result":
            if child is not None:
                child.job_id = None
            report(payload)


def _replace_dead(children: list[_Child], store, report, start_child) -> None:
    """A child that died takes only its current job with it: that job is marked Failed, a new child starts."""
    for child in list(children):
        code = child.process.exitcode
        if code is None:
            continue
        children.remove(child)
        if child.job_id is not None:
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            reason = f"worker process {child.process.pid} died ({how}) while running the job"
            marked = store.fail_orphan(child.job_id, socket.gethostname(), child.process.pid, reason)
            status = JobStatus.FAILED if marked else "unknown"
            report(RunResult(job_id=child.job_id, script="", status=status, reason=reason, exit_code=1, attempt=0))
        start_child()


def _child_main(url: str, tasks, events, options: RunOptions) -> None:
    """A worker process: claim and run jobs from the queue until told to stop."""
    for stream in (sys.stdout, sys.stderr):  # whole lines at a time, even under PYTHONUNBUFFERED:
        if isinstance(stream, io.TextIOWrapper):  # the children's lines then never tear each other apart
            stream.reconfigure(line_buffering=True, write_through=False)
    signal.signal(signal.SIGINT, _hand_back)
    signal.signal(signal.SIGTERM, _hand_back)
    store = open_store(url)
    pid = os.getpid()
    while not recorder.shutdown_requested():
        job_id = tasks.get()
        if job_id is _DONE:
            break
        events.put(("claimed", pid, job_id))
        result = resume_job(store, job_id, options)
        events.put(("result", pid, result))
    store.close()


def _hand_back(signum, frame) -> None:
    """First signal: finish the current block, then hand the job back. Second: stop now."""
    if recorder.shutdown_requested():
        raise KeyboardInterrupt
    recorder.request_shutdown()
